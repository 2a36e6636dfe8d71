/*
 * reply.c - sends a mock_out_t with its faults applied.
 *
 * One mock_req_t per chat request, from mock_reply_send() until finish(),
 * which is reached exactly once on every path (completed, client_closed,
 * cut) and frees the timers, the buffer and the context.  Rules of
 * libevent's evhttp that this relies on:
 *   - before anything is written evhttp does not read the socket, so a
 *     client that leaves during latency or hang is found by polling the
 *     fd every 20 ms (recv MSG_PEEK); the request is then answered with
 *     "Connection: close" so that evhttp frees the connection itself;
 *   - once the reply has started, evhttp notices the close and calls the
 *     closecb with the request detached: finish, then reply_end frees it;
 *   - the closecb is cleared whenever the request finishes, because the
 *     connection outlives it on keep-alive;
 *   - a cut is shutdown(fd, SHUT_RDWR) once the output buffer is empty;
 *     evhttp then sees the EOF and runs the same closecb path.  Server
 *     connections are never freed here.
 * A reply without latency, drip or cut is sent at once with
 * evhttp_send_reply (or streamed in one go when there is no gap).  A
 * request that finds the mock down (POST /_mock/config) takes the cut path
 * with nothing written: the client sees the connection close without a
 * byte of an answer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "tests/mockllm/mock.h"

#define MOCK_POLL_MS 20
#define MOCK_CUT_GRACE_MS 1000

typedef enum { ST_WAIT, ST_SEND, ST_CUT, ST_CUT_DONE } mock_state_t;

typedef struct mock_req_s {
    struct evhttp_request *req;
    struct evhttp_connection *evcon; /* NULL once evhttp has freed it */
    uint64_t seq;
    mock_out_t out;
    mock_fault_t f;
    mock_state_t state;
    bool cutting;      /* end with a cut instead of the normal end */
    size_t part;       /* next part to send */
    size_t off;        /* bytes of that part already sent */
    size_t body_limit; /* non-stream: bytes of the body to send */
    struct evbuffer *buf;
    struct event *timer;
    struct event *poll;
    struct mock_req_s *prev, *next;
} mock_req_t;

static mock_req_t *live;

static void step(mock_req_t *c);
static void begin(mock_req_t *c);

/* ---- lifetime ---------------------------------------------------------------------- */

static void unlink_req(mock_req_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        live = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void release(mock_req_t *c)
{
    if (c->evcon != NULL)
        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    if (c->timer)
        event_free(c->timer);
    if (c->poll)
        event_free(c->poll);
    if (c->buf)
        evbuffer_free(c->buf);
    unlink_req(c);
    mock_out_free(&c->out);
    free(c);
}

/* The one exit of a request: records OUTCOME and frees the context. */
static void finish(mock_req_t *c, const char *outcome, int status)
{
    mock_ctl_end(c->seq, outcome, status);
    release(c);
}

static void complete(mock_req_t *c)
{
    struct evhttp_request *req = c->req;

    finish(c, "completed", c->out.status);
    evhttp_send_reply_end(req);
}

static int arm(mock_req_t *c, int ms, event_callback_fn cb)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (c->timer == NULL)
        c->timer = evtimer_new(mock_base, cb, c);
    return c->timer ? evtimer_add(c->timer, &tv) : MOCK_ERR;
}

/* ---- client gone ----------------------------------------------------------------- */

/* The end of a cut request: "down" when nothing was to be sent. */
static void finish_cut(mock_req_t *c)
{
    finish(c, c->f.down ? "down" : "cut", c->out.status);
}

/* closecb: evhttp saw the peer close (or our cut); the request is detached. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    mock_req_t *c = arg;
    struct evhttp_request *req = c->req;
    bool cut = c->state == ST_CUT || c->state == ST_CUT_DONE;

    (void)evcon;
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    c->evcon = NULL;
    if (cut)
        finish_cut(c);
    else
        finish(c, "client_closed", 499);
    evhttp_send_reply_end(req);
}

static evutil_socket_t conn_fd(mock_req_t *c)
{
    struct bufferevent *bev = c->evcon ? evhttp_connection_get_bufferevent(c->evcon) : NULL;
    return bev ? bufferevent_getfd(bev) : -1;
}

static bool peer_closed(evutil_socket_t fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};

    if (n == 0)
        return true;
    if (n < 0)
        return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Poll while nothing was written: evhttp itself would not notice the close. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    mock_req_t *c = arg;
    struct evhttp_request *req = c->req;
    evutil_socket_t sock = conn_fd(c);

    (void)fd;
    (void)what;
    if (sock >= 0 && !peer_closed(sock))
        return;
    finish(c, "client_closed", 499);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    evhttp_send_reply(req, 499, mock_status_reason(499), NULL);
}

static void watch(mock_req_t *c)
{
    struct timeval tv = {0, MOCK_POLL_MS * 1000};

    c->poll = event_new(mock_base, -1, EV_PERSIST, on_poll, c);
    if (c->poll != NULL)
        event_add(c->poll, &tv);
}

/* ---- cut ------------------------------------------------------------------------- */

static void on_cut_timer(evutil_socket_t fd, short what, void *arg)
{
    mock_req_t *c = arg;
    struct bufferevent *bev = c->evcon ? evhttp_connection_get_bufferevent(c->evcon) : NULL;

    (void)fd;
    (void)what;
    if (bev == NULL) {
        finish_cut(c);
        return;
    }
    if (c->state == ST_CUT && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        arm(c, 1, on_cut_timer);
        return;
    }
    if (c->state == ST_CUT) {
        shutdown(bufferevent_getfd(bev), SHUT_RDWR);
        c->state = ST_CUT_DONE;
        arm(c, c->f.down ? 0 : MOCK_CUT_GRACE_MS, on_cut_timer); /* down: nothing sent, nothing to wait for */
        return;
    }
    /* ST_CUT_DONE and still no closecb: make evhttp read the EOF. */
    bufferevent_enable(bev, EV_READ);
    arm(c, MOCK_CUT_GRACE_MS, on_cut_timer);
}

/* Waits until the sent bytes left the output buffer, then shuts the socket. */
static void start_cut(mock_req_t *c)
{
    c->state = ST_CUT;
    if (arm(c, 0, on_cut_timer) != MOCK_OK)
        complete(c);
}

/* ---- sending --------------------------------------------------------------------- */

static void on_step_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    step(arg);
}

static void on_latency_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    begin(arg);
}

static void send_bytes(mock_req_t *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    evbuffer_add(c->buf, p, n);
    evhttp_send_reply_chunk(c->req, c->buf);
}

static size_t part_len(const mock_req_t *c)
{
    return c->out.stream ? strlen(c->out.parts.v[c->part]) : c->body_limit;
}

/* Sends one byte; returns the wait before the next one, or -1 if the part is done. */
static int drip_one(mock_req_t *c)
{
    size_t len = part_len(c);

    if (c->off < len)
        send_bytes(c, c->out.parts.v[c->part] + c->off++, 1);
    if (c->off < len)
        return c->f.drip_ms;
    c->part++;
    c->off = 0;
    if (c->part >= c->out.parts.n)
        return -1;
    return c->f.gap_ms > 0 && c->out.stream ? c->f.gap_ms : c->f.drip_ms;
}

/* Sends parts until a wait is needed or all are out; then ends or cuts. */
static void step(mock_req_t *c)
{
    c->state = ST_SEND;
    while (c->part < c->out.parts.n) {
        int wait = -1;

        if (c->f.drip_ms >= 0) {
            wait = drip_one(c);
        } else {
            send_bytes(c, c->out.parts.v[c->part], part_len(c));
            c->part++;
            if (c->part < c->out.parts.n && c->out.stream && c->f.gap_ms > 0)
                wait = c->f.gap_ms;
        }
        if (wait >= 0) {
            if (arm(c, wait, on_step_timer) != MOCK_OK)
                break;
            return;
        }
    }
    if (c->cutting)
        start_cut(c);
    else
        complete(c);
}

/* The whole reply at once: the fast path. */
static void send_whole(mock_req_t *c)
{
    struct evhttp_request *req = c->req;
    struct evbuffer *buf = evbuffer_new();
    int status = c->out.status;

    if (buf != NULL && c->out.parts.n > 0)
        evbuffer_add(buf, c->out.parts.v[0], strlen(c->out.parts.v[0]));
    finish(c, "completed", status);
    evhttp_send_reply(req, status, mock_status_reason(status), buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

static void begin(mock_req_t *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    char len[32];

    if (c->poll != NULL) {
        event_free(c->poll);
        c->poll = NULL;
    }
    c->state = ST_SEND;
    if (!c->out.stream && c->f.drip_ms < 0 && !c->cutting) {
        send_whole(c);
        return;
    }
    c->buf = evbuffer_new();
    if (c->buf == NULL) {
        send_whole(c);
        return;
    }
    if (c->out.stream) {
        evhttp_add_header(h, "Cache-Control", "no-cache");
    } else {
        snprintf(len, sizeof(len), "%zu", c->out.parts.n ? strlen(c->out.parts.v[0]) : (size_t)0);
        evhttp_add_header(h, "Content-Length", len);
    }
    evhttp_connection_set_closecb(c->evcon, on_close, c);
    evhttp_send_reply_start(c->req, c->out.status, mock_status_reason(c->out.status));
    step(c);
}

/* ---- preparing ------------------------------------------------------------------- */

/* Makes PART invalid JSON: its last '}' becomes ,"oops":} */
static void corrupt(char **part)
{
    char *s = *part, *brace = strrchr(s, '}'), *bad = NULL;
    int n;

    if (brace != NULL)
        n = asprintf(&bad, "%.*s,\"oops\":}%s", (int)(brace - s), s, brace + 1);
    else
        n = asprintf(&bad, "%s{\"oops\":", s);
    if (n < 0)
        return;
    free(s);
    *part = bad;
}

static void truncate_parts(mock_out_t *out, size_t n)
{
    while (out->parts.n > n)
        free(out->parts.v[--out->parts.n]);
}

/* Applies malformed, error_event and cut to the parts; sets the headers. */
static void prepare(mock_req_t *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    mock_out_t *out = &c->out;
    size_t n = out->parts.n;

    if (out->content_type != NULL)
        evhttp_add_header(h, "Content-Type", out->content_type);
    for (size_t i = 0; i + 1 < out->headers.n; i += 2)
        evhttp_add_header(h, out->headers.v[i], out->headers.v[i + 1]);
    if (out->status == 200 && c->f.malformed && n > 0)
        corrupt(&out->parts.v[out->stream && n > 1 ? 1 : 0]);
    if (out->stream && c->f.error_event && out->error_event != NULL && n > 0) {
        truncate_parts(out, 1);
        mock_strv_push(&out->parts, out->error_event);
        out->error_event = NULL;
        n = out->parts.n;
    }
    if (c->f.cut >= 0 && n > 0) {
        c->cutting = true;
        if (out->stream)
            truncate_parts(out, (size_t)c->f.cut < n ? (size_t)c->f.cut : n - 1);
    }
    c->body_limit = !out->stream && n > 0 ? strlen(out->parts.v[0]) : 0;
    if (!out->stream && c->cutting)
        c->body_limit /= 2;
}

/* Takes OUT (left empty) and sends it for request SEQ with the faults F. */
void mock_reply_send(struct evhttp_request *req, uint64_t seq, mock_out_t *out, const mock_fault_t *f)
{
    mock_req_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        mock_out_free(out);
        mock_ctl_end(seq, "completed", 503);
        evhttp_send_reply(req, 503, mock_status_reason(503), NULL);
        return;
    }
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    c->seq = seq;
    c->out = *out;
    memset(out, 0, sizeof(*out));
    c->f = *f;
    c->next = live;
    if (live)
        live->prev = c;
    live = c;
    prepare(c);
    c->state = ST_WAIT;
    if (c->f.down) {
        evhttp_connection_set_closecb(c->evcon, on_close, c);
        start_cut(c);
    } else if (c->f.hang) {
        watch(c);
    } else if (c->f.latency_ms > 0) {
        watch(c);
        arm(c, c->f.latency_ms, on_latency_timer);
    } else {
        begin(c);
    }
}

/* At exit: forget every request; evhttp_free() frees the requests themselves. */
void mock_reply_shutdown(void)
{
    while (live != NULL) {
        mock_ctl_end(live->seq, "client_closed", 499);
        release(live);
    }
}

/* Sends OUT at once, without recording or faults (model lists, unknown routes). */
void mock_reply_plain(struct evhttp_request *req, mock_out_t *out)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *buf = evbuffer_new();

    if (out->content_type != NULL)
        evhttp_add_header(h, "Content-Type", out->content_type);
    for (size_t i = 0; i + 1 < out->headers.n; i += 2)
        evhttp_add_header(h, out->headers.v[i], out->headers.v[i + 1]);
    if (buf != NULL && out->parts.n > 0)
        evbuffer_add(buf, out->parts.v[0], strlen(out->parts.v[0]));
    evhttp_send_reply(req, out->status, mock_status_reason(out->status), buf);
    if (buf != NULL)
        evbuffer_free(buf);
    mock_out_free(out);
}
