/*
 * upstream.h - HTTP calls to LLM providers: libcurl's multi-socket API
 * driven by the worker's libevent loop, one multi handle per worker so
 * connections to a provider are reused across requests.
 *
 * A call reports, in this order: on_response once (status known, at the
 * end of the final response headers), on_data for each piece of the body,
 * on_done exactly once - unless the caller cancels it first, after which
 * no callback runs.  The call is freed by the upstream module after
 * on_done returns.
 */
#ifndef ORC_UPSTREAM_H
#define ORC_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/llm/providers/provider.h"

struct event_base;
typedef struct orc_upstream_s orc_upstream_t;
typedef struct orc_call_s orc_call_t;

typedef struct {
    int connect_timeout_ms;
    int first_byte_timeout_ms; /* from start to the end of the response headers */
    int idle_timeout_ms;       /* longest gap between two pieces of the body */
    int total_timeout_ms;
    bool fresh_connection; /* do not reuse a pooled connection */
} orc_call_timeouts_t;

typedef struct {
    int status;              /* HTTP status; 0 when no response arrived */
    orc_fail_class_t fail;   /* transport failure class; NONE when the exchange completed */
    char error[256];         /* transport failure text */
    int64_t retry_after_ms;  /* retry-after-ms or retry-after (seconds or HTTP date); -1 none */
    bool should_retry_false; /* x-should-retry: false */
    bool reused_dead;        /* a reused connection died before any byte: safe to resend at once */
    uint64_t ttfb_us;        /* start to response headers */
    uint64_t total_us;
    size_t bytes;
} orc_call_result_t;

typedef struct {
    int (*on_response)(void *arg, int status);               /* ORC_ERR aborts the call */
    int (*on_data)(void *arg, const char *data, size_t len); /* ORC_ERR aborts the call */
    void (*on_done)(void *arg, const orc_call_result_t *res);
} orc_call_cbs_t;

orc_upstream_t *orc_upstream_new(struct event_base *base);
void orc_upstream_free(orc_upstream_t *u); /* cancels every call still running */

/* Starts a POST of REQ, taking REQ's body (set to NULL); the URL and
 * headers are copied.  NULL when the call cannot be created. */
orc_call_t *orc_call_start(orc_upstream_t *u, orc_http_out_t *req, const orc_call_timeouts_t *t,
                           const orc_call_cbs_t *cbs, void *arg);
/* Stops the call; no callback runs afterwards.  Safe inside its callbacks. */
void orc_call_cancel(orc_call_t *c);

#endif
