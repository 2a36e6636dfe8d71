/*
 * sse.h - incremental parser of a text/event-stream body (WHATWG rules,
 * as the OpenAI and Anthropic SDKs apply them; docs/providers.md §10).
 *
 * Bytes arrive in pieces cut anywhere; each complete event (terminated by
 * a blank line) is handed to the callback with its "event:" name (NULL
 * when it had none) and its "data:" lines joined with "\n".  Both strings
 * are NUL-terminated and valid only during the call.  An event without
 * data lines is not dispatched; an unterminated event at the end of the
 * body is dropped (the caller simply stops feeding).
 */
#ifndef ORC_SSE_H
#define ORC_SSE_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*orc_sse_fn)(void *arg, const char *event, const char *data, size_t len);

typedef struct {
    char *buf;
    size_t len, cap;
} orc_sse_buf_t;

typedef struct {
    size_t max_event;    /* longest line and longest joined data; 0: no limit */
    orc_sse_buf_t line;  /* a line cut by the end of a feed */
    orc_sse_buf_t data;  /* data lines of the current event, joined */
    orc_sse_buf_t event; /* event name of the current event */
    bool has_data;       /* the current event had a data line (maybe empty) */
    bool pending_cr;     /* the last feed ended in \r: skip one leading \n */
    bool started;        /* the first line was seen (a BOM is only skipped there) */
    bool failed;         /* an event was too large or memory ran out: sticky */
} orc_sse_t;

void orc_sse_init(orc_sse_t *p, size_t max_event);
int orc_sse_feed(orc_sse_t *p, const char *bytes, size_t n, orc_sse_fn cb, void *arg); /* ORC_OK/ORC_ERR */
void orc_sse_free(orc_sse_t *p);

#endif
