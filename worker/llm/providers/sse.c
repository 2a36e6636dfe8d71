/*
 * sse.c - incremental text/event-stream parser.
 *
 * Lines end with \n, \r\n or \r; a \r that ends one feed and a \n that
 * starts the next are one line end (pending_cr).  Complete lines are
 * parsed where they lie in the caller's bytes; only a line cut by the end
 * of a feed is copied (into p->line), and data lines are copied once into
 * p->data, which the callback receives.  Line ends are found with memchr,
 * each byte scanned once.  Once an event exceeds max_event the parser
 * stays failed: the rest of the stream cannot be framed reliably.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "worker/llm/providers/sse.h"

void orc_sse_init(orc_sse_t *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    p->max_event = max_event ? max_event : SIZE_MAX - 1;
}

void orc_sse_free(orc_sse_t *p)
{
    if (p == NULL)
        return;
    free(p->line.buf);
    free(p->data.buf);
    free(p->event.buf);
    memset(p, 0, sizeof(*p));
}

/* Appends N bytes and keeps the buffer NUL-terminated. */
static int buf_put(orc_sse_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return ORC_ERR;
        b->buf = nb;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return ORC_OK;
}

static void dispatch(orc_sse_t *p, orc_sse_fn cb, void *arg)
{
    if (p->has_data) {
        const char *event = p->event.len ? p->event.buf : NULL;
        cb(arg, event, p->data.buf ? p->data.buf : "", p->data.len);
    }
    p->data.len = 0;
    p->event.len = 0;
    p->has_data = false;
}

static void add_data(orc_sse_t *p, const char *v, size_t n)
{
    size_t sep = p->has_data ? 1 : 0;
    if (n + sep > p->max_event - p->data.len) {
        p->failed = true;
        return;
    }
    if ((sep && buf_put(&p->data, "\n", 1) != ORC_OK) || buf_put(&p->data, v, n) != ORC_OK)
        p->failed = true;
    p->has_data = true;
}

static void process_line(orc_sse_t *p, const char *s, size_t len, orc_sse_fn cb, void *arg)
{
    if (!p->started) {
        p->started = true;
        if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            len -= 3;
        }
    }
    if (len == 0) {
        dispatch(p, cb, arg);
        return;
    }
    if (s[0] == ':')
        return; /* comment, e.g. ": keep-alive" */
    const char *colon = memchr(s, ':', len);
    size_t flen = colon ? (size_t)(colon - s) : len;
    const char *v = colon ? colon + 1 : s + len;
    size_t vlen = (size_t)(s + len - v);
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        add_data(p, v, vlen);
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        p->event.len = 0;
        if (buf_put(&p->event, v, vlen) != ORC_OK)
            p->failed = true;
    }
    /* "id", "retry" and unknown fields: nothing the gateway needs */
}

/* A complete line of LEN bytes at S, maybe continuing a cut one. */
static void line_end(orc_sse_t *p, const char *s, size_t len, orc_sse_fn cb, void *arg)
{
    if (p->line.len == 0) {
        if (len > p->max_event)
            p->failed = true;
        else
            process_line(p, s, len, cb, arg);
        return;
    }
    if (len > p->max_event - p->line.len || buf_put(&p->line, s, len) != ORC_OK) {
        p->failed = true;
        return;
    }
    len = p->line.len;
    p->line.len = 0; /* the buffer stays valid until the next buf_put */
    process_line(p, p->line.buf, len, cb, arg);
}

/* The first \r or \n at or after S; *CR and *LF cache the last search. */
static const char *next_eol(const char *s, const char *end, const char **cr, const char **lf)
{
    if (*cr == NULL || *cr < s) {
        *cr = memchr(s, '\r', (size_t)(end - s));
        *cr = *cr ? *cr : end;
    }
    if (*lf == NULL || *lf < s) {
        *lf = memchr(s, '\n', (size_t)(end - s));
        *lf = *lf ? *lf : end;
    }
    return *cr < *lf ? *cr : *lf;
}

int orc_sse_feed(orc_sse_t *p, const char *bytes, size_t n, orc_sse_fn cb, void *arg)
{
    if (p->failed)
        return ORC_ERR;
    const char *s = bytes, *end = bytes + n, *cr = NULL, *lf = NULL;
    if (p->pending_cr && s < end) {
        p->pending_cr = false;
        if (*s == '\n')
            s++;
    }
    while (s < end && !p->failed) {
        const char *eol = next_eol(s, end, &cr, &lf);
        if (eol == end) {
            size_t rest = (size_t)(end - s);
            if (rest > p->max_event - p->line.len || buf_put(&p->line, s, rest) != ORC_OK)
                p->failed = true;
            break;
        }
        line_end(p, s, (size_t)(eol - s), cb, arg);
        s = eol + 1;
        if (*eol == '\r') {
            if (s == end)
                p->pending_cr = true;
            else if (*s == '\n')
                s++;
        }
    }
    return p->failed ? ORC_ERR : ORC_OK;
}
