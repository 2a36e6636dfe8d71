/*
 * control.c - the request recording and the /_mock control endpoints.
 *
 * Every chat request gets a sequence number (1, 2, ...) when it arrives.
 * The most recent --record N requests are kept in a ring indexed by
 * seq % N; a slot belongs to a request only while its seq matches, so a
 * request that outlives its slot (ring wrapped, or DELETE) just is not
 * recorded any more.  The in-flight count is the number of requests
 * begun and not yet ended.
 *
 * POST /_mock/config changes the run-wide faults (latency, gap, jitter,
 * error rate and status, down, seed) between two requests: a request
 * takes the values in force when it arrives.  A body is checked whole
 * before anything changes, so a bad one changes nothing.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "tests/mockllm/mock.h"

typedef struct {
    uint64_t seq; /* 0 = empty */
    mock_dialect_t dialect;
    const char *method;
    char *uri;     /* path with query */
    char *headers; /* "name\0value\0" pairs, names lower-case */
    size_t headers_len;
    char *body;
    size_t body_len;
    int64_t started_ms;
    int64_t ended_ms;
    int status;
    const char *outcome; /* NULL while in flight */
} mock_rec_t;

static mock_rec_t *ring;
static size_t ring_cap;
static uint64_t next_seq = 1;
static uint64_t total_requests;
static int64_t in_flight;
static uint64_t injected_errors; /* answered with --error-status by --error-rate */
static uint64_t down_closes;     /* closed without an answer while down */

#define MOCK_CONFIG_MAX_MS 100000000

int64_t mock_ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mock_ctl_init(int capacity)
{
    ring_cap = capacity > 0 ? (size_t)capacity : 0;
    if (ring_cap == 0)
        return MOCK_OK;
    ring = calloc(ring_cap, sizeof(*ring));
    return ring ? MOCK_OK : MOCK_ERR;
}

static void rec_clear(mock_rec_t *r)
{
    free(r->uri);
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static const char *method_name(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_HEAD: return "HEAD";
    default: return "OTHER";
    }
}

/* Copies the request headers as "name\0value\0" pairs with lower-case names. */
static void rec_headers(mock_rec_t *r, struct evkeyvalq *h)
{
    struct evkeyval *kv;
    size_t len = 0, off = 0;

    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        len += strlen(kv->key) + strlen(kv->value) + 2;
    r->headers = malloc(len ? len : 1);
    if (r->headers == NULL)
        return;
    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        size_t kl = strlen(kv->key) + 1, vl = strlen(kv->value) + 1;
        for (size_t i = 0; i < kl; i++)
            r->headers[off + i] = (char)tolower((unsigned char)kv->key[i]);
        memcpy(r->headers + off + kl, kv->value, vl);
        off += kl + vl;
    }
    r->headers_len = len;
}

/* A new chat request: returns its sequence number and records it. */
uint64_t mock_ctl_begin(struct evhttp_request *req, mock_dialect_t d, const char *body, size_t len)
{
    uint64_t seq = next_seq++;
    mock_rec_t *r;

    total_requests++;
    in_flight++;
    if (ring_cap == 0)
        return seq;
    r = &ring[seq % ring_cap];
    rec_clear(r);
    r->seq = seq;
    r->dialect = d;
    r->method = method_name(req);
    r->uri = strdup(evhttp_request_get_uri(req));
    rec_headers(r, evhttp_request_get_input_headers(req));
    r->body = malloc(len + 1);
    if (r->body != NULL) {
        memcpy(r->body, body, len);
        r->body[len] = '\0';
        r->body_len = len;
    }
    r->started_ms = mock_ctl_now_ms();
    return seq;
}

static void log_end(uint64_t seq, const mock_rec_t *r, const char *outcome, int status)
{
    if (r != NULL)
        fprintf(stderr, "mockllm: #%" PRIu64 " %s %s %s -> %d %s %" PRId64 " ms\n", seq,
                mock_dialect_name(r->dialect), r->method, r->uri ? r->uri : "", status, outcome,
                r->ended_ms - r->started_ms);
    else
        fprintf(stderr, "mockllm: #%" PRIu64 " -> %d %s\n", seq, status, outcome);
}

/* The request SEQ ended with OUTCOME (completed, client_closed, cut). */
void mock_ctl_end(uint64_t seq, const char *outcome, int status)
{
    mock_rec_t *r = ring_cap ? &ring[seq % ring_cap] : NULL;

    in_flight--;
    if (r != NULL && r->seq != seq)
        r = NULL;
    if (r != NULL) {
        r->outcome = outcome;
        r->status = status;
        r->ended_ms = mock_ctl_now_ms();
    }
    if (mock_opts.verbose)
        log_end(seq, r, outcome, status);
}

static json_object *headers_json(const mock_rec_t *r)
{
    json_object *o = json_object_new_object();

    for (size_t off = 0; r->headers != NULL && off < r->headers_len;) {
        const char *k = r->headers + off, *v = k + strlen(k) + 1;
        json_object *old = NULL;
        char *joined;

        off += strlen(k) + strlen(v) + 2;
        if (json_object_object_get_ex(o, k, &old) &&
            asprintf(&joined, "%s, %s", json_object_get_string(old), v) >= 0) {
            mock_json_add_str(o, k, joined);
            free(joined);
        } else {
            mock_json_add_str(o, k, v);
        }
    }
    return o;
}

static json_object *rec_json(const mock_rec_t *r, bool brief)
{
    json_object *o = json_object_new_object();

    mock_json_add_int(o, "seq", (int64_t)r->seq);
    mock_json_add_str(o, "dialect", mock_dialect_name(r->dialect));
    mock_json_add_str(o, "method", r->method);
    mock_json_add_str(o, "path", r->uri);
    if (!brief)
        mock_json_add(o, "headers", headers_json(r));
    mock_json_add(o, "body", json_object_new_string_len(r->body ? r->body : "", (int)r->body_len));
    mock_json_add_str(o, "outcome", r->outcome ? r->outcome : "in_flight");
    mock_json_add(o, "status", r->outcome ? json_object_new_int(r->status) : NULL);
    mock_json_add_int(o, "started_ms", r->started_ms);
    mock_json_add(o, "ended_ms", r->outcome ? json_object_new_int64(r->ended_ms) : NULL);
    mock_json_add(o, "duration_ms", r->outcome ? json_object_new_int64(r->ended_ms - r->started_ms) : NULL);
    return o;
}

static json_object *requests_json(bool brief)
{
    json_object *o = json_object_new_object(), *list = json_object_new_array();
    uint64_t first = next_seq > ring_cap ? next_seq - ring_cap : 1;

    for (uint64_t s = first; ring_cap && s < next_seq; s++) {
        const mock_rec_t *r = &ring[s % ring_cap];
        if (r->seq == s)
            json_object_array_add(list, rec_json(r, brief));
    }
    mock_json_add(o, "requests", list);
    return o;
}

static int clear_all(void)
{
    int n = 0;

    for (size_t i = 0; i < ring_cap; i++) {
        n += ring[i].seq != 0;
        rec_clear(&ring[i]);
    }
    mock_answer_reset_times();
    return n;
}

void mock_ctl_count_fault(const mock_fault_t *f)
{
    injected_errors += f->injected;
    down_closes += f->down;
}

static void reply_json(struct evhttp_request *req, int status, json_object *o)
{
    struct evbuffer *buf = evbuffer_new();
    char *s = mock_json_str(o);

    if (buf != NULL && s != NULL)
        evbuffer_add(buf, s, strlen(s));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, mock_status_reason(status), buf);
    free(s);
    if (buf != NULL)
        evbuffer_free(buf);
}

/* ---- run-time configuration -------------------------------------------------------- */

static json_object *config_json(void)
{
    json_object *o = json_object_new_object();

    mock_json_add_int(o, "latency_ms", mock_opts.latency_ms);
    mock_json_add_int(o, "gap_ms", mock_opts.gap_ms);
    mock_json_add_int(o, "jitter_ms", mock_opts.jitter_ms);
    mock_json_add(o, "error_rate", json_object_new_double(mock_opts.error_rate));
    mock_json_add_int(o, "error_status", mock_opts.error_status);
    mock_json_add(o, "down", json_object_new_boolean(mock_opts.down));
    mock_json_add_int(o, "seed", (int64_t)mock_opts.seed);
    return o;
}

static bool int_in(json_object *v, int64_t min, int64_t max)
{
    int64_t n = json_object_get_int64(v);

    return json_object_is_type(v, json_type_int) && n >= min && n <= max;
}

/* Why the value V of KEY is refused, or NULL. */
static const char *config_check(const char *key, json_object *v)
{
    if (strcmp(key, "latency_ms") == 0 || strcmp(key, "gap_ms") == 0 || strcmp(key, "jitter_ms") == 0)
        return int_in(v, 0, MOCK_CONFIG_MAX_MS) ? NULL : "an integer 0..100000000";
    if (strcmp(key, "error_rate") == 0) {
        double p = json_object_get_double(v);
        bool num = json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int);
        return num && p >= 0 && p <= 1 ? NULL : "a number 0..1";
    }
    if (strcmp(key, "error_status") == 0)
        return int_in(v, 400, 599) ? NULL : "an integer 400..599";
    if (strcmp(key, "down") == 0)
        return json_object_is_type(v, json_type_boolean) ? NULL : "true or false";
    if (strcmp(key, "seed") == 0)
        return int_in(v, 0, INT64_MAX) ? NULL : "a non-negative integer";
    return "not a setting";
}

static void config_apply(const char *key, json_object *v)
{
    if (strcmp(key, "latency_ms") == 0)
        mock_opts.latency_ms = json_object_get_int(v);
    else if (strcmp(key, "gap_ms") == 0)
        mock_opts.gap_ms = json_object_get_int(v);
    else if (strcmp(key, "jitter_ms") == 0)
        mock_opts.jitter_ms = json_object_get_int(v);
    else if (strcmp(key, "error_rate") == 0)
        mock_opts.error_rate = json_object_get_double(v);
    else if (strcmp(key, "error_status") == 0)
        mock_opts.error_status = json_object_get_int(v);
    else if (strcmp(key, "down") == 0)
        mock_opts.down = json_object_get_boolean(v);
    else if (strcmp(key, "seed") == 0)
        mock_answer_seed(mock_opts.seed = (uint64_t)json_object_get_int64(v));
}

/* POST /_mock/config: a JSON object of settings; all are checked before any is applied. */
static void config_post(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *text = malloc(len + 1);
    json_object *body = NULL, *err = json_object_new_object();
    char msg[256] = "";

    if (text != NULL) {
        evbuffer_copyout(in, text, len);
        text[len] = '\0';
        body = json_tokener_parse(text);
        free(text);
    }
    if (!json_object_is_type(body, json_type_object)) {
        snprintf(msg, sizeof(msg), "the body must be a JSON object");
    } else {
        json_object_object_foreach(body, key, v)
        {
            const char *why = config_check(key, v);
            if (why != NULL && msg[0] == '\0')
                snprintf(msg, sizeof(msg), "%s: %s", key, why);
        }
    }
    if (msg[0] != '\0') {
        mock_json_add_str(err, "error", msg);
        reply_json(req, 400, err);
    } else {
        json_object_object_foreach(body, key, v) config_apply(key, v);
        json_object_put(err);
        reply_json(req, 200, config_json());
    }
    json_object_put(body);
}

/* ---- routes -------------------------------------------------------------------------- */

/* Whether the query string of REQ has the parameter NAME, with or without a value. */
static bool query_flag(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *p = uri ? evhttp_uri_get_query(uri) : NULL;
    size_t n = strlen(name);

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == '&' || p[n] == '='))
            return true;
        p = strchr(p, '&');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* /_mock/requests, /health, /stats, /config; PATH starts after /_mock. */
void mock_ctl_handle(struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    json_object *o = json_object_new_object();

    if (strcmp(path, "/requests") == 0 && m == EVHTTP_REQ_GET) {
        json_object_put(o);
        reply_json(req, 200, requests_json(query_flag(req, "brief")));
    } else if (strcmp(path, "/requests") == 0 && m == EVHTTP_REQ_DELETE) {
        mock_json_add_int(o, "cleared", clear_all());
        reply_json(req, 200, o);
    } else if (strcmp(path, "/health") == 0 && m == EVHTTP_REQ_GET) {
        mock_json_add_str(o, "status", "ok");
        reply_json(req, 200, o);
    } else if (strcmp(path, "/stats") == 0 && m == EVHTTP_REQ_GET) {
        mock_json_add_int(o, "requests", (int64_t)total_requests);
        mock_json_add_int(o, "in_flight", in_flight);
        mock_json_add_int(o, "injected_errors", (int64_t)injected_errors);
        mock_json_add_int(o, "down_closes", (int64_t)down_closes);
        reply_json(req, 200, o);
    } else if (strcmp(path, "/config") == 0 && m == EVHTTP_REQ_GET) {
        json_object_put(o);
        reply_json(req, 200, config_json());
    } else if (strcmp(path, "/config") == 0 && m == EVHTTP_REQ_POST) {
        json_object_put(o);
        config_post(req);
    } else {
        mock_json_add_str(o, "error", "unknown control endpoint");
        reply_json(req, 404, o);
    }
}

void mock_ctl_cleanup(void)
{
    for (size_t i = 0; i < ring_cap; i++)
        rec_clear(&ring[i]);
    free(ring);
    ring = NULL;
    ring_cap = 0;
}
