/*
 * http.c - the worker's HTTP server.
 *
 * evhttp parses; gencb turns each request into an orc_req_t, applies
 * load shedding, routing and admin checks, and calls the handler.  Every
 * reply goes through finish_reply(), which adds the common headers,
 * counts the request in this worker's shm slot, writes the access log
 * line and frees the context: one owner, one exit.
 *
 * Invariant: the in-flight count equals the number of live contexts.
 * Above worker_connections in flight, the worker stops accepting (other
 * workers take the shared accept queue) and answers 503 to requests that
 * still arrive on its open connections; it accepts again below 90 %.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/shm.h"
#include "worker/http/http.h"

struct orc_http_s {
    orc_http_env_t env;
    struct evhttp *evhttp;
    struct evhttp_bound_socket *bound[ORC_LISTEN_MAX];
    int nbound;
    int64_t inflight;
    bool paused;
    bool draining;
    uint64_t last_input_ms; /* when any connection last received bytes */
    uint64_t last_reply_ms; /* when a reply was last handed to evhttp (written later) */
};

/* The one server of this process; evhttp_send_error() below needs it. */
static orc_http_t *current_http;

static void on_request(struct evhttp_request *req, void *arg);

static void set_accepting(orc_http_t *h, bool on)
{
    if (h->paused == !on)
        return;
    for (int i = 0; i < h->nbound; i++) {
        struct evconnlistener *l = evhttp_bound_socket_get_listener(h->bound[i]);
        if (on)
            evconnlistener_enable(l);
        else
            evconnlistener_disable(l);
    }
    h->paused = !on;
    orc_log_info("%s accepting new connections (%lld requests in flight)", on ? "resumed" : "paused",
                 (long long)h->inflight);
}

/* Notes the arrival of request bytes, so a drain waits for requests that
 * are still being received (a slow upload) before closing connections. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    orc_http_t *h = arg;
    (void)buf;
    if (info->n_added > 0)
        h->last_input_ms = orc_now_ms();
}

/* evhttp asks for each accepted connection's bufferevent here. */
static struct bufferevent *make_connection(struct event_base *base, void *arg)
{
    orc_http_t *h = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL;
    evbuffer_add_cb(bufferevent_get_input(bev), on_input, h);
    orc_counter_add(&h->env.slot->counters.connections, 1);
    h->last_input_ms = orc_now_ms();
    return bev;
}

uint64_t orc_http_last_input_ms(const orc_http_t *h)
{
    return h->last_input_ms;
}

uint64_t orc_http_last_reply_ms(const orc_http_t *h)
{
    return h->last_reply_ms;
}

orc_http_t *orc_http_new(const orc_http_env_t *env, const int *fds, int nfds)
{
    orc_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->env = *env;
    h->evhttp = evhttp_new(env->base);
    if (h->evhttp == NULL)
        goto fail;
    const orc_config_t *cfg = env->cfg;
    evhttp_set_max_headers_size(h->evhttp, (ev_ssize_t)cfg->max_header_size);
    evhttp_set_max_body_size(h->evhttp, (ev_ssize_t)cfg->max_body_size);
    evhttp_set_timeout(h->evhttp, cfg->read_timeout);
    evhttp_set_default_content_type(h->evhttp, NULL);
    evhttp_set_allowed_methods(h->evhttp, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                              EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_gencb(h->evhttp, on_request, h);
    evhttp_set_bevcb(h->evhttp, make_connection, h);
    for (int i = 0; i < nfds; i++) {
        h->bound[i] = evhttp_accept_socket_with_handle(h->evhttp, fds[i]);
        if (h->bound[i] == NULL) {
            orc_log_error("evhttp_accept_socket_with_handle(fd %d) failed", fds[i]);
            goto fail;
        }
        h->nbound++;
    }
    current_http = h;
    return h;
fail:
    orc_http_free(h);
    return NULL;
}

void orc_http_stop_accepting(orc_http_t *h)
{
    h->draining = true;
    for (int i = 0; i < h->nbound; i++)
        evhttp_del_accept_socket(h->evhttp, h->bound[i]);
    h->nbound = 0;
}

void orc_http_free(orc_http_t *h)
{
    if (h == NULL)
        return;
    if (h->evhttp != NULL)
        evhttp_free(h->evhttp);
    if (current_http == h)
        current_http = NULL;
    free(h);
}

int64_t orc_http_inflight(const orc_http_t *h)
{
    return h->inflight;
}

static unsigned method_bit(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return ORC_METHOD_GET;
    case EVHTTP_REQ_POST: return ORC_METHOD_POST;
    case EVHTTP_REQ_PUT: return ORC_METHOD_PUT;
    case EVHTTP_REQ_DELETE: return ORC_METHOD_DELETE;
    case EVHTTP_REQ_PATCH: return ORC_METHOD_PATCH;
    case EVHTTP_REQ_HEAD: return ORC_METHOD_HEAD;
    case EVHTTP_REQ_OPTIONS: return ORC_METHOD_OPTIONS;
    default: return ORC_METHOD_OTHER;
    }
}

static const char *method_name(unsigned bit)
{
    static const char *names[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(names); i++)
        if (bit == (1u << i))
            return names[i];
    return "OTHER";
}

/* ---- accounting ------------------------------------------------------ */

static void count_request(orc_http_t *h, int route, int status, uint64_t latency_us, size_t bytes)
{
    orc_counters_t *c = &h->env.slot->counters;
    int r = (route >= 0 && route < ORC_ROUTES_MAX) ? route : ORC_ROUTE_UNMATCHED;
    orc_counter_add(&c->requests[r][orc_shm_status_index(status)], 1);
    orc_counter_add(&c->latency_bucket[orc_shm_latency_bucket(latency_us)], 1);
    orc_counter_add(&c->latency_sum_us, latency_us);
    orc_counter_add(&c->latency_count, 1);
    orc_counter_add(&c->bytes_out, bytes);
    orc_counter_add(&h->env.slot->served, 1);
}

static void access_log(const orc_http_t *h, const char *id, const char *method, const char *path, int status,
                       size_t bytes, uint64_t latency_us, struct evhttp_request *req)
{
    if (!orc_accesslog_enabled())
        return;
    char ts[32], epath[1100], line[1600];
    const char *peer = "";
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *peer_buf = NULL;
    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &peer_buf, &port);
    peer = peer_buf ? peer_buf : "";
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    orc_json_escape(epath, sizeof(epath), path ? path : "");
    int n = snprintf(line, sizeof(line),
                     "{\"time\":\"%s\",\"request_id\":\"%s\",\"method\":\"%s\",\"path\":%s,"
                     "\"status\":%d,\"bytes\":%zu,\"latency_ms\":%.3f,\"remote\":\"%s\","
                     "\"worker\":%d,\"generation\":%u,\"pid\":%d}\n",
                     ts, id, method, epath, status, bytes, (double)latency_us / 1000.0, peer,
                     h->env.worker_index, h->env.generation, (int)getpid());
    if (n > 0)
        orc_accesslog_write(line, ORC_MIN((size_t)n, sizeof(line) - 1));
}

/* Stops watching for the client's departure (closecb and peek timer). */
static void unwatch(orc_req_t *rq)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    if (rq->watching && evcon != NULL)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    rq->watching = false;
    if (rq->peek_ev != NULL) {
        event_free(rq->peek_ev);
        rq->peek_ev = NULL;
    }
}

static void add_common_headers(orc_req_t *rq)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(rq->req);
    evhttp_add_header(out, "X-Request-ID", rq->id);
    if (rq->http->draining)
        evhttp_add_header(out, "Connection", "close");
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    if (evcon != NULL) /* from now on the connection idles between requests */
        evhttp_connection_set_timeout(evcon, rq->http->env.cfg->keepalive_timeout);
}

/* Accounting of a request: exactly once, before evhttp may free it. */
static void account(orc_req_t *rq, int status, size_t bytes)
{
    uint64_t latency = orc_now_us() - rq->start_us;
    count_request(rq->http, rq->route, status, latency, bytes);
    access_log(rq->http, rq->id, method_name(rq->method), rq->path, status, bytes, latency, rq->req);
}

/* Frees the context once evhttp has the reply. */
static void release(orc_req_t *rq)
{
    orc_http_t *h = rq->http;
    if (h->env.hooks.release != NULL)
        h->env.hooks.release(h->env.hooks.arg, rq);
    if (rq->principal != NULL && h->env.auth.release != NULL)
        h->env.auth.release(h->env.auth.arg, rq);
    free(rq->path_buf);
    free(rq);
    ORC_ASSERT(h->inflight > 0); /* this context was one of them */
    h->inflight--;
    h->last_reply_ms = orc_now_ms();
    atomic_store_explicit(&h->env.slot->inflight, h->inflight, memory_order_relaxed);
    if (h->paused && h->inflight < (int64_t)h->env.cfg->worker_connections * 9 / 10 && !h->draining)
        set_accepting(h, true);
}

static void run_finish_hook(orc_req_t *rq, int status, struct evbuffer *body)
{
    const orc_http_hooks_t *hooks = &rq->http->env.hooks;
    if (hooks->finish != NULL)
        hooks->finish(hooks->arg, rq, status, body);
}

static void finish_reply(orc_req_t *rq, int status, struct evbuffer *body)
{
    unwatch(rq);
    add_common_headers(rq);
    run_finish_hook(rq, status, body); /* the request log spools before the client has the reply */
    account(rq, status, evbuffer_get_length(body));
    evhttp_send_reply(rq->req, status, NULL, body);
    evbuffer_free(body);
    release(rq);
}

/* ---- streaming and client departure ------------------------------------ */

static void client_gone(orc_req_t *rq, const char *how)
{
    if (rq->client_gone)
        return;
    rq->client_gone = true;
    orc_log_debug("request %s: the client went away (%s)", rq->id, how);
    if (rq->peek_ev != NULL)
        event_del(rq->peek_ev);
    if (rq->gone_cb != NULL)
        rq->gone_cb(rq->gone_arg);
}

static void on_connection_close(struct evhttp_connection *evcon, void *arg)
{
    orc_req_t *rq = arg;
    (void)evcon;
    rq->watching = false; /* the connection is being freed: its closecb is spent */
    client_gone(rq, "connection closed");
}

/* Before the first byte of the reply evhttp does not read the socket, so
 * a departed client is noticed by peeking at it. */
static void on_peek(evutil_socket_t fd, short what, void *arg)
{
    orc_req_t *rq = arg;
    char c;
    (void)fd;
    (void)what;
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t sock = bev ? bufferevent_getfd(bev) : -1;
    ssize_t n = sock >= 0 ? recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        client_gone(rq, "peer closed");
}

int orc_http_watch_client(orc_req_t *rq, void (*gone)(void *arg), void *arg)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    struct timeval every = {0, 200 * 1000};
    rq->gone_cb = gone;
    rq->gone_arg = arg;
    if (evcon == NULL)
        return ORC_ERR;
    evhttp_connection_set_closecb(evcon, on_connection_close, rq);
    rq->watching = true;
    rq->peek_ev = event_new(rq->http->env.base, -1, EV_PERSIST, on_peek, rq);
    if (rq->peek_ev == NULL || event_add(rq->peek_ev, &every) != 0)
        return ORC_ERR;
    return ORC_OK;
}

void orc_http_stream_begin(orc_req_t *rq, int status, const char *content_type)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(rq->req);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Accel-Buffering", "no");
    add_common_headers(rq);
    if (rq->peek_ev != NULL)
        event_del(rq->peek_ev); /* from now on evhttp itself notices a departure */
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int one = 1;
    if (bev != NULL) /* many small writes follow: do not let Nagle hold them back */
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rq->streaming = true;
    rq->stream_status = status;
    evhttp_send_reply_start(rq->req, status, NULL);
}

void orc_http_stream_write(orc_req_t *rq, const char *data, size_t len)
{
    if (rq->client_gone || len == 0)
        return;
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return;
    evbuffer_add(b, data, len);
    evhttp_send_reply_chunk(rq->req, b);
    evbuffer_free(b);
    rq->stream_bytes += len;
}

void orc_http_stream_end(orc_req_t *rq)
{
    unwatch(rq);
    run_finish_hook(rq, rq->stream_status, NULL);
    account(rq, rq->stream_status, rq->stream_bytes);
    evhttp_send_reply_end(rq->req); /* also frees a request whose client left */
    release(rq);
}

void orc_http_set_header(orc_req_t *rq, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), name, value);
}

void orc_http_reply_buffer(orc_req_t *rq, int status, const char *content_type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Content-Type", content_type);
    if (rq->method == ORC_METHOD_HEAD)
        evbuffer_drain(body, evbuffer_get_length(body));
    finish_reply(rq, status, body);
}

void orc_http_reply_text(orc_req_t *rq, int status, const char *content_type, const char *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Content-Type", content_type);
    if (buf != NULL && rq->method != ORC_METHOD_HEAD)
        evbuffer_add(buf, body, len);
    finish_reply(rq, status, buf ? buf : evbuffer_new());
}

void orc_http_reply_json(orc_req_t *rq, int status, json_object *body)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    orc_http_reply_text(rq, status, "application/json", text, len);
    json_object_put(body);
}

static json_object *error_body(const char *detail, const char *code, const char *id)
{
    char ts[32];
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "detail", detail);
    orc_json_add_str(o, "error_code", code);
    orc_json_add_str(o, "timestamp", ts);
    orc_json_add_str(o, "request_id", id);
    return o;
}

void orc_http_verror(orc_req_t *rq, int status, const char *error_code, const char *fmt, va_list ap)
{
    char detail[512];
    vsnprintf(detail, sizeof(detail), fmt, ap);
    orc_http_reply_json(rq, status, error_body(detail, error_code, rq->id));
}

void orc_http_error(orc_req_t *rq, int status, const char *error_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    orc_http_verror(rq, status, error_code, fmt, ap);
    va_end(ap);
}

int orc_http_body_json(orc_req_t *rq, json_object **out, char *err, size_t errlen)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
    size_t len = evbuffer_get_length(in);
    *out = NULL;
    if (len == 0)
        return ORC_OK;
    const char *text = (const char *)evbuffer_pullup(in, -1);
    json_tokener *tok = json_tokener_new();
    if (tok == NULL || text == NULL) {
        json_tokener_free(tok);
        snprintf(err, errlen, "out of memory while parsing the request body");
        return ORC_ERR;
    }
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (obj != NULL && used < len &&
           (text[used] == ' ' || text[used] == '\n' || text[used] == '\r' || text[used] == '\t'))
        used++;
    if (obj == NULL || jerr != json_tokener_success || used != len) {
        json_object_put(obj);
        snprintf(err, errlen, "the request body is not valid JSON: %s at byte %zu",
                 obj == NULL && jerr == json_tokener_continue ? "unexpected end of input"
                 : jerr != json_tokener_success               ? json_tokener_error_desc(jerr)
                                                              : "trailing characters",
                 used);
        return ORC_ERR;
    }
    *out = obj;
    const orc_http_hooks_t *hooks = &rq->http->env.hooks;
    if (hooks->body != NULL)
        hooks->body(hooks->arg, rq, obj);
    return ORC_OK;
}

int orc_http_read_json(orc_req_t *rq, json_object **out)
{
    char err[256];
    if (orc_http_body_json(rq, out, err, sizeof(err)) == ORC_OK)
        return ORC_OK;
    orc_http_error(rq, 400, "INVALID_JSON", "%s", err);
    return ORC_ERR;
}

const char *orc_http_query_get(orc_req_t *rq, const char *key, char *buf, size_t size)
{
    struct evkeyvalq q;
    const char *result = NULL;
    if (rq->query == NULL || evhttp_parse_query_str(rq->query, &q) != 0)
        return NULL;
    const char *v = evhttp_find_header(&q, key);
    if (v != NULL) {
        snprintf(buf, size, "%s", v);
        result = buf;
    }
    evhttp_clear_headers(&q);
    return result;
}

/* ---- the client ---------------------------------------------------------- */

const char *orc_http_peer(const orc_req_t *rq)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    char *addr = NULL;
    ev_uint16_t port;
    if (evcon == NULL)
        return "";
    evhttp_connection_get_peer(evcon, &addr, &port);
    return addr != NULL ? addr : "";
}

bool orc_http_peer_is_loopback(const orc_req_t *rq)
{
    const char *addr = orc_http_peer(rq);
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0;
}

const char *orc_http_header(const orc_req_t *rq, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(rq->req), name);
}

size_t orc_http_body_size(const orc_req_t *rq)
{
    return evbuffer_get_length(evhttp_request_get_input_buffer(rq->req));
}

const orc_route_t *orc_http_route(const orc_req_t *rq)
{
    return rq->route >= 0 && (size_t)rq->route < rq->http->env.nroutes ? &rq->http->env.routes[rq->route]
                                                                       : NULL;
}

/* ---- dispatch ---------------------------------------------------------- */

static void take_request_id(orc_req_t *rq)
{
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "X-Request-ID");
    if (given != NULL && orc_request_id_valid(given))
        snprintf(rq->id, sizeof(rq->id), "%s", given);
    else
        orc_request_id_new(rq->id, sizeof(rq->id));
}

static int parse_target(orc_req_t *rq)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(rq->req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    if (raw == NULL || raw[0] == '\0')
        raw = "/";
    size_t len = 0;
    rq->path_buf = evhttp_uridecode(raw, 0, &len);
    if (rq->path_buf == NULL || strlen(rq->path_buf) != len)
        return ORC_ERR; /* an encoded NUL byte */
    rq->path = rq->path_buf;
    rq->query = uri ? evhttp_uri_get_query(uri) : NULL;
    return ORC_OK;
}

static void dispatch(orc_req_t *rq)
{
    const orc_http_env_t *env = &rq->http->env;
    orc_router_match(env->routes, env->nroutes, rq->method, rq->path, &rq->match);
    if (rq->match.route < 0 && rq->match.allow != 0) {
        char allow[96];
        orc_router_allow_header(rq->match.allow, allow, sizeof(allow));
        evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Allow", allow);
        orc_http_error(rq, 405, "METHOD_NOT_ALLOWED", "method %s is not allowed on %s (allowed: %s)",
                       method_name(rq->method), rq->path, allow);
        return;
    }
    if (rq->match.route < 0) {
        orc_http_error(rq, 404, "NOT_FOUND", "no route for %s %s", method_name(rq->method), rq->path);
        return;
    }
    rq->route = rq->match.route;
    if (env->auth.check == NULL ||
        env->auth.check(env->auth.arg, rq, &env->routes[rq->route]) == ORC_AUTH_PASS)
        orc_http_resume(rq);
}

void orc_http_resume(orc_req_t *rq)
{
    const orc_http_env_t *env = &rq->http->env;
    const orc_route_t *route = &env->routes[rq->route];
    if (env->hooks.begin != NULL)
        env->hooks.begin(env->hooks.arg, rq, route);
    route->handler(rq);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    orc_http_t *h = arg;
    orc_req_t *rq = calloc(1, sizeof(*rq));
    if (rq == NULL) {
        evhttp_send_error(req, 503, NULL);
        return;
    }
    rq->req = req;
    rq->http = h;
    rq->app = h->env.app;
    rq->start_us = orc_now_us();
    rq->route = ORC_ROUTE_UNMATCHED;
    rq->method = method_bit(evhttp_request_get_command(req));
    h->inflight++;
    atomic_store_explicit(&h->env.slot->inflight, h->inflight, memory_order_relaxed);
    take_request_id(rq);
    if (parse_target(rq) != ORC_OK) {
        rq->path = "";
        orc_http_error(rq, 400, "BAD_REQUEST", "the request path is not valid");
        return;
    }
    if (h->inflight > h->env.cfg->worker_connections) {
        orc_counter_add(&h->env.slot->counters.shed, 1);
        set_accepting(h, false);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        orc_http_error(rq, 503, "OVERLOADED", "this worker is at its limit of %d requests in flight",
                       h->env.cfg->worker_connections);
        return;
    }
    dispatch(rq);
}

/*
 * libevent's HTTP parser reports the errors it finds before a request
 * reaches us (400 malformed request or headers over max_header_size, 413
 * body over max_body_size, 417) through evhttp_send_error(), which
 * libevent_extra calls through its PLT.  Defining it here replaces the
 * HTML page it would send with the gateway's JSON error format, counted
 * and logged like every other reply.  The gateway itself calls it only
 * when it cannot allocate a request context.
 */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    static const struct {
        int status;
        const char *code, *detail;
    } known[] = {
        {400, "BAD_REQUEST", "malformed HTTP request, or request line and headers over the size limit"},
        {413, "PAYLOAD_TOO_LARGE", "request body over the size limit"},
        {417, "EXPECTATION_FAILED", "unsupported Expect header"},
        {503, "SERVICE_UNAVAILABLE", "out of memory"},
    };
    const char *code = "HTTP_ERROR", *detail = reason ? reason : "HTTP protocol error";
    for (size_t i = 0; i < ORC_ARRAY_LEN(known); i++)
        if (known[i].status == error) {
            code = known[i].code;
            detail = known[i].detail;
        }
    char id[ORC_REQUEST_ID_SIZE];
    orc_request_id_new(id, sizeof(id));
    json_object *o = error_body(detail, code, id);
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Connection", "close");
    evhttp_add_header(out, "X-Request-ID", id);
    if (buf != NULL)
        evbuffer_add(buf, text, len);
    if (current_http != NULL) {
        orc_counter_add(&current_http->env.slot->counters.bad_requests, 1);
        count_request(current_http, ORC_ROUTE_PROTOCOL, error, 0, len);
        access_log(current_http, id, "-", "", error, len, 0, req);
    }
    evhttp_send_reply(req, error, reason, buf);
    if (buf != NULL)
        evbuffer_free(buf);
    json_object_put(o);
}
