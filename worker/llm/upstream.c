/*
 * upstream.c - libcurl multi-socket on the worker's event loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to wake
 * it (timer callback); libevent events call curl_multi_socket_action, and
 * every such call is followed by reading curl's finished transfers.  Our
 * own timers add what curl lacks: a first-byte timeout and an idle timeout
 * with millisecond granularity.
 *
 * Invariants: curl is never called from inside its own callbacks (a
 * cancel requested there only sets a flag; the write callback then fails
 * the transfer); a call's on_done runs exactly once, outside curl
 * callbacks, and the call is freed right after it.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/llm/upstream.h"

#define EASY_POOL_MAX 64 /* idle easy handles kept for reuse */

struct orc_upstream_s {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    orc_call_t *calls; /* doubly linked list of live calls */
    CURL *pool[EASY_POOL_MAX];
    int npool;
    int in_curl; /* inside curl_multi_socket_action, where curl runs our callbacks */
};

struct orc_call_s {
    orc_upstream_t *up;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    orc_call_cbs_t cbs;
    void *arg;
    struct event *first_byte_ev;
    struct event *idle_ev;
    int idle_timeout_ms;
    bool responded;
    bool in_callback;
    bool cancelled;
    orc_call_result_t res;
    uint64_t started_us;
    orc_call_t *prev, *next;
};

static void check_done(orc_upstream_t *u);

/* ---- curl <-> libevent ------------------------------------------------- */

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    orc_upstream_t *u = arg;
    int running = 0;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    u->in_curl++;
    curl_multi_socket_action(u->multi, fd, flags, &running);
    u->in_curl--;
    check_done(u);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
    orc_upstream_t *u = arg;
    int running = 0;
    (void)fd;
    (void)what;
    u->in_curl++;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    u->in_curl--;
    check_done(u);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
    orc_upstream_t *u = arg;
    struct event *ev = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (ev != NULL) {
            event_free(ev);
            curl_multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (ev == NULL) {
        ev = event_new(u->base, s, kind, on_socket_event, u);
        if (ev == NULL)
            return -1;
        curl_multi_assign(u->multi, s, ev);
    } else {
        event_del(ev);
        event_assign(ev, u->base, s, kind, on_socket_event, u);
    }
    event_add(ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long ms, void *arg)
{
    orc_upstream_t *u = arg;
    (void)multi;
    if (ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
    return 0;
}

orc_upstream_t *orc_upstream_new(struct event_base *base)
{
    orc_upstream_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->base = base;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_curl_timer, u);
    if (u->multi == NULL || u->timer == NULL) {
        orc_upstream_free(u);
        return NULL;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
    return u;
}

/* ---- call lifetime ----------------------------------------------------- */

static void call_free(orc_call_t *c)
{
    orc_upstream_t *u = c->up;
    ORC_ASSERT(u->in_curl == 0 && !c->in_callback); /* curl is never called from inside its callbacks */
    if (c->easy != NULL) {
        curl_multi_remove_handle(u->multi, c->easy);
        if (u->npool < EASY_POOL_MAX) { /* reuse saves an allocation of several KiB per call */
            curl_easy_reset(c->easy);
            u->pool[u->npool++] = c->easy;
        } else {
            curl_easy_cleanup(c->easy);
        }
    }
    if (c->first_byte_ev)
        event_free(c->first_byte_ev);
    if (c->idle_ev)
        event_free(c->idle_ev);
    curl_slist_free_all(c->headers);
    free(c->body);
    if (c->prev)
        c->prev->next = c->next;
    else
        u->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

void orc_upstream_free(orc_upstream_t *u)
{
    if (u == NULL)
        return;
    while (u->calls != NULL)
        call_free(u->calls);
    while (u->npool > 0)
        curl_easy_cleanup(u->pool[--u->npool]);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    if (u->timer)
        event_free(u->timer);
    free(u);
}

void orc_call_cancel(orc_call_t *c)
{
    if (c == NULL || c->cancelled)
        return;
    c->cancelled = true;
    if (!c->in_callback)
        call_free(c); /* inside a curl callback the write callback fails the transfer instead */
}

static void finish(orc_call_t *c)
{
    ORC_ASSERT(c->up->in_curl == 0); /* on_done runs outside curl's callbacks */
    c->res.total_us = orc_now_us() - c->started_us;
    if (!c->cancelled)
        c->cbs.on_done(c->arg, &c->res);
    call_free(c);
}

/* Our timers: stop the transfer and report a timeout. */
static void fail_now(orc_call_t *c, const char *why)
{
    c->res.fail = ORC_FAIL_TIMEOUT;
    snprintf(c->res.error, sizeof(c->res.error), "%s", why);
    finish(c);
}

static void on_first_byte_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail_now(arg, "no response headers within first_byte_timeout");
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail_now(arg, "no data within idle_timeout");
}

static void arm(struct event *ev, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* ---- curl callbacks ---------------------------------------------------- */

static int64_t parse_retry_after(const char *v)
{
    char *end = NULL;
    double secs = strtod(v, &end);
    if (end != v && (*end == '\0' || *end == '\r' || *end == '\n' || *end == ' '))
        return secs < 0 ? -1 : (int64_t)(secs * 1000.0);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
        return -1;
    int64_t at_ms = (int64_t)timegm(&tm) * 1000, now = (int64_t)orc_wall_ms();
    return at_ms > now ? at_ms - now : 0;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = n - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    snprintf(out, outlen, "%.*s", (int)ORC_MIN(vl, outlen - 1), v);
}

static int respond(orc_call_t *c)
{
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    c->responded = true;
    c->res.status = (int)status;
    c->res.ttfb_us = orc_now_us() - c->started_us;
    evtimer_del(c->first_byte_ev);
    arm(c->idle_ev, c->idle_timeout_ms);
    return c->cbs.on_response ? c->cbs.on_response(c->arg, (int)status) : ORC_OK;
}

static size_t header_cb(char *line, size_t size, size_t n, void *arg)
{
    orc_call_t *c = arg;
    size_t len = size * n;
    char v[64] = "";
    if (c->cancelled)
        return 0;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response (after 100, redirects) */
        c->res.retry_after_ms = -1;
        c->res.should_retry_false = false;
        return len;
    }
    header_value(line, len, "retry-after-ms", v, sizeof(v));
    if (v[0]) {
        c->res.retry_after_ms = (int64_t)strtoll(v, NULL, 10);
        return len;
    }
    header_value(line, len, "retry-after", v, sizeof(v));
    if (v[0] && c->res.retry_after_ms < 0)
        c->res.retry_after_ms = parse_retry_after(v);
    header_value(line, len, "x-should-retry", v, sizeof(v));
    if (v[0])
        c->res.should_retry_false = strcasecmp(v, "false") == 0;
    if ((len == 2 && line[0] == '\r') || (len == 1 && line[0] == '\n')) {
        long status = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && !c->responded) {
            c->in_callback = true;
            int rc = respond(c);
            c->in_callback = false;
            if (rc != ORC_OK || c->cancelled)
                return 0;
        }
    }
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
    orc_call_t *c = arg;
    size_t len = size * n;
    if (c->cancelled)
        return CURL_WRITEFUNC_ERROR;
    c->in_callback = true;
    int rc = c->responded ? ORC_OK : respond(c);
    c->res.bytes += len;
    if (rc == ORC_OK && !c->cancelled) {
        arm(c->idle_ev, c->idle_timeout_ms);
        rc = c->cbs.on_data ? c->cbs.on_data(c->arg, data, len) : ORC_OK;
    }
    c->in_callback = false;
    return (rc != ORC_OK || c->cancelled) ? CURL_WRITEFUNC_ERROR : len;
}

/* ---- completion -------------------------------------------------------- */

static orc_fail_class_t classify_curl(CURLcode code, bool got_bytes)
{
    switch (code) {
    case CURLE_OK: return ORC_FAIL_NONE;
    case CURLE_OPERATION_TIMEDOUT: return ORC_FAIL_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR: return ORC_FAIL_CONNECT;
    default: return got_bytes ? ORC_FAIL_SERVER : ORC_FAIL_CONNECT;
    }
}

static void transfer_done(orc_call_t *c, CURLcode code)
{
    if (code != CURLE_OK && c->res.fail == ORC_FAIL_NONE) {
        long connects = 0;
        curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects);
        c->res.fail = classify_curl(code, c->res.bytes > 0 || c->responded);
        c->res.reused_dead =
            connects == 0 && !c->responded && c->res.bytes == 0 &&
            (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING);
        snprintf(c->res.error, sizeof(c->res.error), "%s", curl_easy_strerror(code));
    }
    if (code == CURLE_OK && !c->responded && !c->cancelled)
        respond(c); /* a response without a body */
    finish(c);
}

static void check_done(orc_upstream_t *u)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        orc_call_t *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (c != NULL)
            transfer_done(c, msg->data.result);
    }
}

/* ---- starting a call --------------------------------------------------- */

static int add_headers(orc_call_t *c, char *const *headers)
{
    for (int i = 0; headers && headers[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(c->headers, headers[i]);
        if (l == NULL)
            return ORC_ERR;
        c->headers = l;
    }
    struct curl_slist *l = curl_slist_append(c->headers, "Expect:"); /* no 100-continue round trip */
    if (l == NULL)
        return ORC_ERR;
    c->headers = l;
    return ORC_OK;
}

static void set_options(orc_call_t *c, const char *url, const orc_call_timeouts_t *t)
{
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "orchesity/" ORC_VERSION);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, t->fresh_connection ? 1L : 0L);
}

static orc_call_t *call_new(orc_upstream_t *u, char *const *headers, const orc_call_timeouts_t *t,
                            const orc_call_cbs_t *cbs, void *arg)
{
    orc_call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->up = u;
    c->cbs = *cbs;
    c->arg = arg;
    c->res.retry_after_ms = -1;
    c->idle_timeout_ms = t->idle_timeout_ms;
    c->started_us = orc_now_us();
    c->next = u->calls;
    if (u->calls)
        u->calls->prev = c;
    u->calls = c;
    c->easy = u->npool > 0 ? u->pool[--u->npool] : curl_easy_init();
    c->first_byte_ev = evtimer_new(u->base, on_first_byte_timeout, c);
    c->idle_ev = evtimer_new(u->base, on_idle_timeout, c);
    if (c->easy == NULL || c->first_byte_ev == NULL || c->idle_ev == NULL ||
        add_headers(c, headers) != ORC_OK) {
        call_free(c);
        return NULL;
    }
    return c;
}

static orc_call_t *launch(orc_call_t *c, const char *url, const orc_call_timeouts_t *t)
{
    set_options(c, url, t);
    arm(c->first_byte_ev, t->first_byte_timeout_ms);
    ORC_ASSERT(c->up->in_curl == 0);
    if (curl_multi_add_handle(c->up->multi, c->easy) != CURLM_OK) {
        call_free(c);
        return NULL;
    }
    return c;
}

orc_call_t *orc_call_start(orc_upstream_t *u, orc_http_out_t *req, const orc_call_timeouts_t *t,
                           const orc_call_cbs_t *cbs, void *arg)
{
    orc_call_t *c = call_new(u, req->headers, t, cbs, arg);
    if (c == NULL)
        return NULL;
    c->body = req->body; /* taken, not copied */
    req->body = NULL;
    curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    return launch(c, req->url, t);
}
