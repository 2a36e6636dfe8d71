/*
 * http.h - the worker's HTTP server: evhttp on the inherited listening
 * sockets, one request context per request, replies and errors in the
 * documented formats, metrics and the access log.
 *
 * A request context is allocated when evhttp hands us a request and freed
 * by orc_http_reply*, which also does the accounting: exactly once per
 * request.
 *
 * The server knows neither its routes nor what else watches a request:
 * the worker gives it the route table, an opaque pointer for the handlers
 * (rq->app) and hooks (the request log registers them).
 */
#ifndef ORC_HTTP_H
#define ORC_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/shm.h"
#include "common/util.h"
#include "worker/http/router.h"

struct event;
struct event_base;
struct evbuffer;
struct evhttp_request;
struct json_object;

typedef struct orc_http_s orc_http_t;

typedef struct orc_req_s {
    struct evhttp_request *req;
    orc_http_t *http;
    void *app; /* what the worker gave the handlers (orc_http_env_t.app) */
    uint64_t start_us;
    int route;
    unsigned method;
    const char *path;  /* decoded path, owned by the context */
    const char *query; /* raw query string or NULL */
    char id[ORC_REQUEST_ID_SIZE];
    orc_route_match_t match;
    char *path_buf;
    /* asynchronous requests */
    void (*gone_cb)(void *arg);
    void *gone_arg;
    struct event *peek_ev;
    bool watching;
    bool client_gone;
    bool streaming;
    int stream_status;
    size_t stream_bytes;
    void *hook_data; /* the hooks' state of this request (the request-log record), theirs to free */
    void *principal; /* who the authorizer found calling (its own type), released by it */
    /* what the request used upstream, added by the handlers for the authorizer's limits */
    int64_t usage_input_tokens;
    int64_t usage_output_tokens;
    double usage_cost_usd;
    bool limited; /* the authorizer counted it against a key's limits */
} orc_req_t;

/* Called around each request, in this order; each may be NULL.  BEGIN
 * runs when a route matched, before its handler; BODY when the handler
 * parsed the body as JSON; FINISH before the reply (BODY NULL for a
 * stream) is handed to the client; RELEASE just before the context is
 * freed, also for requests that never reached FINISH. */
typedef struct {
    void (*begin)(void *arg, orc_req_t *rq, const orc_route_t *route);
    void (*body)(void *arg, orc_req_t *rq, struct json_object *body);
    void (*finish)(void *arg, orc_req_t *rq, int status, struct evbuffer *body);
    void (*release)(void *arg, orc_req_t *rq);
    void *arg;
} orc_http_hooks_t;

/* What the authorizer decided about a request whose route matched. */
typedef enum {
    ORC_AUTH_PASS,    /* run the handler now */
    ORC_AUTH_PENDING, /* the authorizer calls orc_http_resume() or refuses the request later */
    ORC_AUTH_DONE,    /* the authorizer has answered the request (refused it) */
} orc_auth_verdict_t;

/* The authorizer: CHECK runs for every request whose route matched, before
 * the BEGIN hook; RELEASE frees rq->principal when the context goes. */
typedef struct {
    orc_auth_verdict_t (*check)(void *arg, orc_req_t *rq, const orc_route_t *route);
    void (*release)(void *arg, orc_req_t *rq);
    void *arg;
} orc_http_auth_t;

typedef struct {
    struct event_base *base;
    const orc_config_t *cfg; /* limits, timeouts, the master key */
    orc_slot_t *slot;        /* this worker's counters and gauges */
    int worker_index;        /* for the access log */
    uint32_t generation;
    const orc_route_t *routes; /* borrowed, static */
    size_t nroutes;
    orc_http_hooks_t hooks;
    orc_http_auth_t auth; /* NULL check: every route is open */
    void *app;
} orc_http_env_t;

/* Serves ENV's routes on the listening sockets FDS. */
orc_http_t *orc_http_new(const orc_http_env_t *env, const int *fds, int nfds);
void orc_http_free(orc_http_t *h);
/* The worker drains: no new connections, and every reply from now on
 * closes its connection. */
void orc_http_stop_accepting(orc_http_t *h);
int64_t orc_http_inflight(const orc_http_t *h);
uint64_t orc_http_last_input_ms(const orc_http_t *h);
uint64_t orc_http_last_reply_ms(const orc_http_t *h);

/* Runs the handler of a request the authorizer had left PENDING. */
void orc_http_resume(orc_req_t *rq);

/* The route a request matched, NULL before matching. */
const orc_route_t *orc_http_route(const orc_req_t *rq);
/* The client's address ("" if unknown) and whether it is a loopback one. */
const char *orc_http_peer(const orc_req_t *rq);
bool orc_http_peer_is_loopback(const orc_req_t *rq);
/* The size of the request body in bytes. */
size_t orc_http_body_size(const orc_req_t *rq);
/* A request header, NULL if absent. */
const char *orc_http_header(const orc_req_t *rq, const char *name);

/* Why a request is refused; each has its status (401, 403, 429, 429, 503). */
typedef enum {
    ORC_REFUSE_UNAUTHENTICATED, /* no key, or not one the gateway accepts */
    ORC_REFUSE_FORBIDDEN,       /* a valid key that may not do this */
    ORC_REFUSE_RATE_LIMITED,    /* over a rate limit: with Retry-After */
    ORC_REFUSE_QUOTA,           /* over a budget */
    ORC_REFUSE_UNAVAILABLE,     /* cannot decide now (the key store is unreachable) */
} orc_refusal_t;

/* Answers a refusal in the error format of the route's API (OpenAI,
 * Anthropic or Orchesity) with the matching type and code. */
void orc_http_refuse(orc_req_t *rq, orc_refusal_t why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a response header (before the reply). */
void orc_http_set_header(orc_req_t *rq, const char *name, const char *value);

/* Replies; each one finishes and frees RQ. */
void orc_http_reply_json(orc_req_t *rq, int status, struct json_object *body); /* takes body */
void orc_http_reply_buffer(orc_req_t *rq, int status, const char *content_type,
                           struct evbuffer *body); /* takes body */
void orc_http_reply_text(orc_req_t *rq, int status, const char *content_type, const char *body, size_t len);
void orc_http_error(orc_req_t *rq, int status, const char *error_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void orc_http_verror(orc_req_t *rq, int status, const char *error_code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Calls GONE once if the client disconnects before the request is
 * finished.  The handler must still finish the request (reply or end its
 * stream); it may do so from inside GONE. */
int orc_http_watch_client(orc_req_t *rq, void (*gone)(void *arg), void *arg);

/* A streamed reply: begin (status and headers), write pieces, end.  End
 * finishes and frees RQ, whether or not the client is still there. */
void orc_http_stream_begin(orc_req_t *rq, int status, const char *content_type);
void orc_http_stream_write(orc_req_t *rq, const char *data, size_t len);
void orc_http_stream_end(orc_req_t *rq);

/* Parses the request body as JSON.  ORC_OK with *out (NULL for an empty
 * body), or ORC_ERR after answering 400 with the parser's reason. */
int orc_http_read_json(orc_req_t *rq, struct json_object **out);
/* The same without replying: ORC_ERR with the reason in ERR. */
int orc_http_body_json(orc_req_t *rq, struct json_object **out, char *err, size_t errlen);

const char *orc_http_query_get(orc_req_t *rq, const char *key, char *buf, size_t size);

#endif
