/*
 * redis.c - hiredis 0.14 async on the worker's libevent loop.
 *
 * Connection states: DOWN (reconnect timer armed) -> RESOLVING (evdns;
 * skipped for an IP literal) -> CONNECTING (hiredis context; AUTH, SELECT
 * or PING pipelined behind the connect) -> READY.  One connect timer
 * covers RESOLVING and CONNECTING.  Any failure goes back to DOWN and
 * reconnects after a backoff (reconnect_min_ms doubling to
 * reconnect_max_ms) or, when the breaker opened, after its cooldown; the
 * first attempt after a cooldown is the breaker's probe.
 *
 * A command is an entry (cmd_t) on one of two FIFO lists while its
 * callback has not run: SENT (handed to hiredis, with a deadline) or
 * FAILING (failed from a zero timer, so never inside orc_redis_command).
 * Invariants:
 * - a callback runs only from cmd_finish, which first takes the entry off
 *   its list: at most once.  Every listed entry is finished by its reply, by
 *   a teardown (which empties SENT) or by orc_redis_free: at least once.
 * - hiredis keeps its own pointer to a sent entry (in_hiredis) and calls
 *   back once, with NULL when the context dies.  An entry is freed only
 *   when it is on no list and not in hiredis, so a teardown that already
 *   ran the callback leaves hiredis a valid pointer to ignore.
 * - r->ac is cleared before any callback runs in a teardown: callbacks see
 *   a disconnected client, and callbacks from a detached context
 *   (ac != r->ac) are ignored.
 * - we free a context only from our own timers and calls, or from a reply
 *   callback (hiredis defers that free); never from the connect and
 *   disconnect callbacks, after which hiredis frees the context itself.
 * - commands are sent only when READY, so the watchdog (a timer on the
 *   oldest deadline in SENT) never kills a connection being set up.
 * The password lives only in the options copy; it is never logged.
 */
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "common/assert.h"
#include "common/breaker.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/url.h"
#include "common/util.h"
#include "worker/store/redis.h"

typedef enum { CONN_DOWN, CONN_RESOLVING, CONN_CONNECTING, CONN_READY } conn_state_t;

typedef struct cmd_s cmd_t;
typedef struct {
    cmd_t *head, *tail;
    uint32_t n;
} cmd_list_t;

struct cmd_s {
    orc_redis_t *r;
    orc_redis_cb cb;
    void *arg;
    int id;
    orc_redis_rc_t rc;    /* FAILING: the failure to report */
    uint64_t deadline_us; /* SENT: when it times out */
    uint64_t batch;       /* FAILING: the zero-timer run that reports it */
    cmd_list_t *list;     /* SENT, FAILING, or NULL once finished or cancelled */
    bool in_hiredis;      /* hiredis holds it as privdata */
    cmd_t *prev, *next;
};

/* A lookup outlives the client when cancelled: libevent reports the
 * cancellation later, from the loop; the callback then only frees this. */
typedef struct {
    orc_redis_t *r; /* NULL once abandoned */
    struct evdns_getaddrinfo_request *req;
} lookup_t;

struct orc_redis_s {
    struct event_base *base;
    orc_redis_options_t opt; /* url is not kept */
    orc_redis_url_t url;     /* holds the password */
    char where[272];         /* "host:port" for messages */
    bool disabled, numeric_host, closing;

    conn_state_t state;
    redisAsyncContext *ac;
    lookup_t *lookup;
    char addr[64]; /* the address connected to */
    int handshake_left;
    bool probing; /* this attempt is the breaker's probe */
    bool ever_ready;
    uint64_t backoff_ms;
    orc_breaker_t breaker;
    orc_breaker_config_t breaker_cfg;

    struct event *reconnect_ev, *connect_ev, *watchdog_ev, *defer_ev;
    cmd_list_t sent, failing;
    uint64_t batch;
    int last_id;
    char error[512];
    uint64_t n_commands, n_failures, n_timeouts, n_cancelled, n_connects, n_reconnects;
};

static void conn_start(orc_redis_t *r);

/* ---- small helpers ------------------------------------------------------ */

static void timer_arm_us(struct event *ev, uint64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(ev, &tv);
}

static void timer_stop(struct event *ev)
{
    if (ev != NULL)
        evtimer_del(ev);
}

static bool breaker_is_open(const orc_redis_t *r)
{
    return orc_breaker_state(&r->breaker, NULL, NULL) != ORC_BREAKER_CLOSED;
}

/* Records why Redis is unavailable; logs it once, not on every retry. */
static void set_error(orc_redis_t *r, const char *msg)
{
    if (strcmp(r->error, msg) != 0)
        orc_log_warn("redis: %s", msg);
    snprintf(r->error, sizeof(r->error), "%s", msg);
}

/* ---- command entries ---------------------------------------------------- */

static void list_push(cmd_list_t *l, cmd_t *c)
{
    ORC_ASSERT(c->list == NULL); /* on one list at a time */
    c->list = l;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static void list_unlink(cmd_t *c)
{
    cmd_list_t *l = c->list;
    ORC_ASSERT(l != NULL && l->n > 0);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    l->n--;
    c->list = NULL;
    c->prev = c->next = NULL;
}

static cmd_t *list_find(const cmd_list_t *l, int id)
{
    for (cmd_t *c = l->head; c != NULL; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void cmd_release(cmd_t *c)
{
    if (c->list == NULL && !c->in_hiredis)
        free(c);
}

/* The only place a callback runs.  C may be freed on return. */
static void cmd_finish(cmd_t *c, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_redis_t *r = c->r;
    ORC_ASSERT(c->list != NULL); /* listed until finished: at most one callback */
    list_unlink(c);
    if (rc != ORC_REDIS_OK)
        r->n_failures++;
    if (rc == ORC_REDIS_TIMEOUT)
        r->n_timeouts++;
    c->cb(c->arg, rc, reply);
    cmd_release(c);
}

static void fail_sent(orc_redis_t *r, orc_redis_rc_t rc)
{
    cmd_t *c;
    while ((c = r->sent.head) != NULL) /* callbacks may cancel others: re-read the head */
        cmd_finish(c, rc, NULL);
}

static void cmd_fail_later(orc_redis_t *r, cmd_t *c, orc_redis_rc_t rc)
{
    c->rc = rc;
    c->batch = r->batch;
    list_push(&r->failing, c);
    if (!evtimer_pending(r->defer_ev, NULL))
        timer_arm_us(r->defer_ev, 0);
}

/* Reports the failures queued before this run; those that callbacks queue
 * meanwhile wait for the next loop pass, so a retry loop cannot starve it. */
static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    orc_redis_t *r = arg;
    uint64_t batch = r->batch++;
    cmd_t *c;
    (void)fd;
    (void)what;
    while ((c = r->failing.head) != NULL && c->batch <= batch)
        cmd_finish(c, c->rc, NULL);
    if (r->failing.head != NULL)
        timer_arm_us(r->defer_ev, 0);
}

/* ---- connection teardown ------------------------------------------------ */

static void lookup_abandon(orc_redis_t *r)
{
    lookup_t *l = r->lookup;
    if (l == NULL)
        return;
    r->lookup = NULL;
    l->r = NULL;
    evdns_getaddrinfo_cancel(l->req); /* the callback frees L later */
}

/* After a failed attempt, a timeout or a lost connection: tell the breaker
 * and schedule the next attempt. */
static void after_failure(orc_redis_t *r)
{
    uint64_t now = orc_now_ms(), until = 0, delay_ms;
    bool was_open = breaker_is_open(r);
    orc_breaker_failure(&r->breaker, &r->breaker_cfg, r->probing, now, 0, 0);
    r->probing = false;
    if (orc_breaker_state(&r->breaker, &until, NULL) == ORC_BREAKER_OPEN) {
        delay_ms = until > now ? until - now : 0;
        if (!was_open)
            orc_log_warn("redis: %d consecutive failures, skipping %s for %llu ms", r->opt.breaker_failures,
                         r->where, (unsigned long long)delay_ms);
    } else {
        delay_ms = r->backoff_ms;
        r->backoff_ms = ORC_MIN(r->backoff_ms * 2, (uint64_t)r->opt.reconnect_max_ms);
    }
    timer_arm_us(r->reconnect_ev, delay_ms * 1000);
}

/* Ends the connection or the attempt.  FREE_AC: we free the context (from
 * our timers and calls, or a reply callback); otherwise hiredis is freeing
 * it.  MSG is NULL when the client is being freed. */
static void conn_end(orc_redis_t *r, orc_redis_rc_t rc, bool free_ac, const char *msg)
{
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->state = CONN_DOWN;
    r->handshake_left = 0;
    timer_stop(r->connect_ev);
    timer_stop(r->watchdog_ev);
    lookup_abandon(r);
    if (msg != NULL) {
        set_error(r, msg);
        after_failure(r);
    }
    fail_sent(r, rc); /* before freeing AC: its NULL replies then find them finished */
    ORC_ASSERT(r->sent.n == 0 && r->sent.head == NULL);
    if (ac != NULL && free_ac)
        redisAsyncFree(ac);
}

static void conn_fail(orc_redis_t *r, orc_redis_rc_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_fail(orc_redis_t *r, orc_redis_rc_t rc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    conn_end(r, rc, true, msg);
}

/* hiredis reports the death of AC (it frees AC itself afterwards).  The
 * error is read from the inner context: on a failed connect, hiredis calls
 * back before copying it to ac->err. */
static void conn_lost(orc_redis_t *r, const redisAsyncContext *ac)
{
    char msg[512];
    if (r->ac != ac)
        return; /* a context we already dropped */
    snprintf(msg, sizeof(msg), "%s %s: %s",
             r->state == CONN_READY ? "lost the connection to" : "cannot connect to", r->where,
             ac->c.err ? ac->c.errstr : "connection closed");
    conn_end(r, ORC_REDIS_CONNECTION_LOST, false, msg);
}

/* ---- hiredis callbacks -------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    cmd_t *c = privdata;
    orc_redis_t *r = c->r;
    c->in_hiredis = false;
    if (c->list == NULL) { /* cancelled, or failed by a teardown */
        cmd_release(c);
        return;
    }
    if (reply != NULL) {
        orc_breaker_success(&r->breaker, false, 0);
        cmd_finish(c, ORC_REDIS_OK, reply);
    } else if (r->ac == ac) {
        conn_lost(r, ac); /* finishes every sent command, C included */
    } else {
        cmd_finish(c, ORC_REDIS_CONNECTION_LOST, NULL); /* not expected: a teardown empties SENT */
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK)
        conn_lost(ac->data, ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    conn_lost(ac->data, ac);
}

static void conn_ready(orc_redis_t *r)
{
    r->state = CONN_READY;
    timer_stop(r->connect_ev);
    r->backoff_ms = (uint64_t)r->opt.reconnect_min_ms;
    if (r->probing)
        orc_breaker_success(&r->breaker, true, orc_now_ms());
    r->probing = false;
    if (r->ever_ready)
        r->n_reconnects++;
    r->ever_ready = true;
    r->error[0] = '\0';
    orc_log_info("redis: connected to %s (%s), database %d", r->where, r->addr, r->url.db);
}

/* AUTH, SELECT and PING replies; PRIVDATA names the step. */
static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    orc_redis_t *r = ac->data;
    const redisReply *rep = reply;
    if (r == NULL || r->ac != ac)
        return;
    if (rep == NULL) {
        conn_lost(r, ac);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "%s failed on %s: %s", (const char *)privdata, r->where,
                  rep->str ? rep->str : "error");
        return;
    }
    if (--r->handshake_left == 0)
        conn_ready(r);
}

static int handshake_send(orc_redis_t *r, const char *step, int argc, const char **argv)
{
    if (redisAsyncCommandArgv(r->ac, on_handshake, (void *)step, argc, argv, NULL) != REDIS_OK)
        return ORC_ERR;
    r->handshake_left++;
    return ORC_OK;
}

/* Pipelined behind the connect; commands wait for READY, so nothing of the
 * caller's can slip in before them. */
static int handshake(orc_redis_t *r)
{
    char db[16];
    const char *argv[3];
    int rc = ORC_OK;
    if (r->url.password[0] != '\0') {
        int argc = 0;
        argv[argc++] = "AUTH";
        if (r->url.user[0] != '\0')
            argv[argc++] = r->url.user;
        argv[argc++] = r->url.password;
        rc = handshake_send(r, "AUTH", argc, argv);
    }
    if (rc == ORC_OK && r->url.db != 0) {
        snprintf(db, sizeof(db), "%d", r->url.db);
        argv[0] = "SELECT";
        argv[1] = db;
        rc = handshake_send(r, "SELECT", 2, argv);
    }
    if (rc == ORC_OK && r->handshake_left == 0) {
        argv[0] = "PING";
        rc = handshake_send(r, "PING", 1, argv);
    }
    return rc;
}

/* ---- connecting --------------------------------------------------------- */

static void conn_open(orc_redis_t *r, const char *ip)
{
    snprintf(r->addr, sizeof(r->addr), "%s", ip);
    redisAsyncContext *ac = redisAsyncConnect(ip, r->url.port);
    if (ac == NULL || ac->err) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac); /* never attached, never connected: no callback runs */
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot connect to %s: %s", r->where, msg);
        return;
    }
    ac->data = r;
    r->ac = ac;
    r->state = CONN_CONNECTING;
    if (redisLibeventAttach(ac, r->base) != REDIS_OK ||
        redisAsyncSetConnectCallback(ac, on_connect) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disconnect) != REDIS_OK || handshake(r) != ORC_OK)
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot connect to %s: out of memory", r->where);
}

static void on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
    lookup_t *l = arg;
    orc_redis_t *r = l->r;
    const struct evutil_addrinfo *pick = ai;
    char ip[64];
    free(l);
    if (r == NULL) { /* abandoned */
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        return;
    }
    r->lookup = NULL;
    if (result != 0 || ai == NULL) {
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot resolve %s: %s", r->url.host,
                  evutil_gai_strerror(result));
        return;
    }
    for (const struct evutil_addrinfo *p = ai; p != NULL; p = p->ai_next)
        if (p->ai_family == AF_INET) { /* Redis is most often bound to IPv4 only */
            pick = p;
            break;
        }
    const void *sa = pick->ai_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr;
    const char *ok = evutil_inet_ntop(pick->ai_family, sa, ip, sizeof(ip));
    evutil_freeaddrinfo(ai);
    if (ok == NULL)
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot resolve %s: bad address", r->url.host);
    else
        conn_open(r, ip);
}

static void resolve(orc_redis_t *r)
{
    struct evutil_addrinfo hints;
    lookup_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot resolve %s: out of memory", r->url.host);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    l->r = r;
    r->lookup = l;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(r->opt.dns, r->url.host, NULL, &hints, on_resolved, l);
    if (req != NULL) /* NULL: answered at once; the callback ran and freed L */
        l->req = req;
}

static void conn_start(orc_redis_t *r)
{
    r->n_connects++;
    r->state = CONN_RESOLVING;
    timer_arm_us(r->connect_ev, (uint64_t)r->opt.connect_timeout_ms * 1000);
    if (r->numeric_host)
        conn_open(r, r->url.host);
    else
        resolve(r);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    orc_redis_t *r = arg;
    uint64_t now = orc_now_ms(), until = 0;
    (void)fd;
    (void)what;
    orc_admit_t a = orc_breaker_admit(&r->breaker, &r->breaker_cfg, now);
    if (a == ORC_ADMIT_NO) { /* still cooling down */
        orc_breaker_state(&r->breaker, &until, NULL);
        timer_arm_us(r->reconnect_ev, (until > now ? until - now : 1) * 1000);
        return;
    }
    r->probing = a == ORC_ADMIT_PROBE;
    if (r->probing)
        orc_log_info("redis: cooldown over, trying %s again", r->where);
    conn_start(r);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    orc_redis_t *r = arg;
    (void)fd;
    (void)what;
    if (r->state == CONN_RESOLVING)
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot resolve %s within %d ms", r->url.host,
                  r->opt.connect_timeout_ms);
    else
        conn_fail(r, ORC_REDIS_NOT_CONNECTED, "cannot connect to %s: no answer within %d ms", r->where,
                  r->opt.connect_timeout_ms);
}

/* hiredis 0.14 has no command timeout: replies come in order, so when the
 * oldest command is late, every later one is too.  Drop the connection. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    orc_redis_t *r = arg;
    const cmd_t *oldest = r->sent.head;
    (void)fd;
    (void)what;
    if (oldest == NULL)
        return;
    uint64_t now = orc_now_us();
    if (now < oldest->deadline_us) { /* the one this timer was armed for has finished */
        timer_arm_us(r->watchdog_ev, oldest->deadline_us - now);
        return;
    }
    conn_fail(r, ORC_REDIS_TIMEOUT, "no reply from %s within %d ms", r->where, r->opt.command_timeout_ms);
}

/* ---- URL and options ---------------------------------------------------- */

static int url_scheme(const char *url, char *err, size_t errlen)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL) {
        snprintf(err, errlen, "not a redis:// URL (expected redis://[[user]:password@]host[:port][/db])");
        return ORC_ERR;
    }
    size_t n = (size_t)(sep - url);
    if (n == 6 && strncasecmp(url, "rediss", 6) == 0) {
        snprintf(err, errlen,
                 "rediss:// (Redis over TLS) is not supported: hiredis 0.14 has no TLS; "
                 "use redis:// (through a TLS tunnel such as stunnel if the link needs it)");
        return ORC_ERR;
    }
    if (n != 5 || strncasecmp(url, "redis", 5) != 0) {
        snprintf(err, errlen, "unsupported URL scheme \"%.*s\" (expected redis://)", (int)ORC_MIN(n, 20),
                 url);
        return ORC_ERR;
    }
    return ORC_OK;
}

static int url_db(const char *path, int *db, char *err, size_t errlen)
{
    long v = 0;
    if (path[0] == '\0' || strcmp(path, "/") == 0) {
        *db = 0;
        return ORC_OK;
    }
    if (path[0] != '/' || orc_parse_int(path + 1, 0, INT_MAX, &v) != ORC_OK) {
        snprintf(err, errlen, "the URL's path must be a database number (/0, /1, ...)");
        return ORC_ERR;
    }
    *db = (int)v;
    return ORC_OK;
}

static int url_fields(CURLU *u, void *arg, char *err, size_t errlen)
{
    orc_redis_url_t *out = arg;
    char port[16], path[64], query[8];
    bool has_host, has_port, has_user, has_pass, has_path, has_query;
    long p = 0;
    if (orc_url_get(u, CURLUPART_HOST, 0, out->host, sizeof(out->host), &has_host) != ORC_OK || !has_host ||
        out->host[0] == '\0') {
        snprintf(err, errlen, "the URL has no host (or it is too long)");
        return ORC_ERR;
    }
    if (orc_url_get(u, CURLUPART_USER, CURLU_URLDECODE, out->user, sizeof(out->user), &has_user) != ORC_OK ||
        orc_url_get(u, CURLUPART_PASSWORD, CURLU_URLDECODE, out->password, sizeof(out->password),
                    &has_pass) != ORC_OK) {
        snprintf(err, errlen, "the URL's user name or password is too long");
        return ORC_ERR;
    }
    if (out->user[0] != '\0' && out->password[0] == '\0') {
        snprintf(err, errlen, "the URL has a user name but no password (redis://user:password@host)");
        return ORC_ERR;
    }
    orc_url_get(u, CURLUPART_PORT, 0, port, sizeof(port), &has_port);
    if (has_port && orc_parse_int(port, 1, 65535, &p) != ORC_OK) {
        snprintf(err, errlen, "the URL's port must be 1..65535");
        return ORC_ERR;
    }
    out->port = has_port ? (int)p : ORC_REDIS_DEFAULT_PORT;
    orc_url_get(u, CURLUPART_QUERY, 0, query, sizeof(query), &has_query);
    if (has_query) {
        snprintf(err, errlen, "URL query parameters are not supported");
        return ORC_ERR;
    }
    if (orc_url_get(u, CURLUPART_PATH, 0, path, sizeof(path), &has_path) != ORC_OK)
        snprintf(path, sizeof(path), "x"); /* too long: rejected below */
    return url_db(path, &out->db, err, errlen);
}

int orc_redis_parse_url(const char *url, orc_redis_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL) {
        snprintf(err, errlen, "no URL");
        return ORC_ERR;
    }
    if (url_scheme(url, err, errlen) != ORC_OK)
        return ORC_ERR;
    int rc = orc_url_parse(url, "redis://[[user]:password@]host[:port][/db]", url_fields, out, err, errlen);
    if (rc == ORC_OK)
        orc_url_unbracket(out->host);
    if (rc != ORC_OK)
        explicit_bzero(out, sizeof(*out));
    return rc;
}

void orc_redis_options_defaults(orc_redis_options_t *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->db = -1;
    opt->connect_timeout_ms = 1000;
    opt->command_timeout_ms = 20;
    opt->reconnect_min_ms = 100;
    opt->reconnect_max_ms = 5000;
    opt->breaker_failures = 5;
    opt->breaker_cooldown_ms = 5000;
    opt->breaker_cooldown_max_ms = 30000;
}

static void options_normalize(orc_redis_options_t *o, const orc_redis_options_t *in)
{
    orc_redis_options_t d;
    orc_redis_options_defaults(&d);
    *o = *in;
    o->url = NULL;
#define DEFAULT_IF_UNSET(f)                                                                                  \
    if (o->f <= 0)                                                                                           \
    o->f = d.f
    DEFAULT_IF_UNSET(connect_timeout_ms);
    DEFAULT_IF_UNSET(command_timeout_ms);
    DEFAULT_IF_UNSET(reconnect_min_ms);
    DEFAULT_IF_UNSET(reconnect_max_ms);
    DEFAULT_IF_UNSET(breaker_failures);
    DEFAULT_IF_UNSET(breaker_cooldown_ms);
    DEFAULT_IF_UNSET(breaker_cooldown_max_ms);
#undef DEFAULT_IF_UNSET
    o->reconnect_max_ms = ORC_MAX(o->reconnect_max_ms, o->reconnect_min_ms);
    o->breaker_cooldown_max_ms = ORC_MAX(o->breaker_cooldown_max_ms, o->breaker_cooldown_ms);
}

/* ---- the client --------------------------------------------------------- */

static int configure(orc_redis_t *r, const orc_redis_options_t *opt, char *err, size_t errlen)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (orc_redis_parse_url(opt->url, &r->url, err, errlen) != ORC_OK)
        return ORC_ERR;
    if (opt->db >= 0)
        r->url.db = opt->db;
    r->numeric_host = evutil_inet_pton(AF_INET, r->url.host, buf) == 1;
    bool v6 = !r->numeric_host && evutil_inet_pton(AF_INET6, r->url.host, buf) == 1;
    r->numeric_host = r->numeric_host || v6;
    if (!r->numeric_host && opt->dns == NULL) {
        snprintf(err, errlen, "the host name %s needs a resolver (evdns base)", r->url.host);
        return ORC_ERR;
    }
    snprintf(r->where, sizeof(r->where), v6 ? "[%s]:%d" : "%s:%d", r->url.host, r->url.port);
    orc_breaker_config_defaults(&r->breaker_cfg);
    r->breaker_cfg.failure_threshold = (uint32_t)r->opt.breaker_failures;
    r->breaker_cfg.failure_rate = 0; /* consecutive failures only */
    r->breaker_cfg.cooldown_ms = (uint32_t)r->opt.breaker_cooldown_ms;
    r->breaker_cfg.cooldown_max_ms = (uint32_t)r->opt.breaker_cooldown_max_ms;
    r->breaker_cfg.probe_timeout_ms = (uint32_t)r->opt.connect_timeout_ms + 1000;
    orc_breaker_reset(&r->breaker);
    r->backoff_ms = (uint64_t)r->opt.reconnect_min_ms;
    return ORC_OK;
}

orc_redis_t *orc_redis_new(struct event_base *base, const orc_redis_options_t *opt)
{
    char err[256];
    orc_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->base = base;
    options_normalize(&r->opt, opt);
    r->disabled = opt->url == NULL || opt->url[0] == '\0';
    if (!r->disabled && configure(r, opt, err, sizeof(err)) != ORC_OK) {
        orc_log_error("redis: %s", err);
        orc_redis_free(r);
        return NULL;
    }
    r->reconnect_ev = evtimer_new(base, on_reconnect, r);
    r->connect_ev = evtimer_new(base, on_connect_timeout, r);
    r->watchdog_ev = evtimer_new(base, on_watchdog, r);
    r->defer_ev = evtimer_new(base, on_defer, r);
    if (!r->reconnect_ev || !r->connect_ev || !r->watchdog_ev || !r->defer_ev) {
        orc_redis_free(r);
        return NULL;
    }
    if (!r->disabled)
        timer_arm_us(r->reconnect_ev, 0); /* connect from the loop */
    return r;
}

void orc_redis_free(orc_redis_t *r)
{
    if (r == NULL)
        return;
    r->closing = true;
    conn_end(r, ORC_REDIS_CLOSED, true, NULL);
    while (r->failing.head != NULL)
        cmd_finish(r->failing.head, ORC_REDIS_CLOSED, NULL);
    struct event *evs[] = {r->reconnect_ev, r->connect_ev, r->watchdog_ev, r->defer_ev};
    for (size_t i = 0; i < ORC_ARRAY_LEN(evs); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    explicit_bzero(&r->url, sizeof(r->url));
    free(r);
}

int orc_redis_command(orc_redis_t *r, orc_redis_cb cb, void *arg, int argc, const char **argv,
                      const size_t *argvlen)
{
    if (r == NULL || cb == NULL || argc < 1 || argv == NULL || r->closing)
        return ORC_ERR;
    cmd_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ORC_ERR;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    c->id = r->last_id = r->last_id == INT_MAX ? 1 : r->last_id + 1;
    r->n_commands++;
    if (r->state != CONN_READY) {
        cmd_fail_later(r, c,
                       r->disabled          ? ORC_REDIS_DISABLED
                       : breaker_is_open(r) ? ORC_REDIS_BREAKER_OPEN
                                            : ORC_REDIS_NOT_CONNECTED);
        return c->id;
    }
    if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        cmd_fail_later(r, c, ORC_REDIS_CONNECTION_LOST);
        return c->id;
    }
    c->in_hiredis = true;
    c->deadline_us = orc_now_us() + (uint64_t)r->opt.command_timeout_ms * 1000;
    list_push(&r->sent, c);
    if (!evtimer_pending(r->watchdog_ev, NULL))
        timer_arm_us(r->watchdog_ev, (uint64_t)r->opt.command_timeout_ms * 1000);
    return c->id;
}

int orc_redis_cancel(orc_redis_t *r, int id)
{
    if (r == NULL || id <= 0)
        return ORC_ERR;
    cmd_t *c = list_find(&r->sent, id);
    if (c == NULL)
        c = list_find(&r->failing, id);
    if (c == NULL)
        return ORC_ERR;
    list_unlink(c);
    r->n_cancelled++;
    cmd_release(c); /* a sent one stays until hiredis lets go of it */
    return ORC_OK;
}

orc_redis_status_t orc_redis_status(const orc_redis_t *r)
{
    orc_redis_status_t s;
    memset(&s, 0, sizeof(s));
    s.status = "disabled";
    s.error = "";
    if (r == NULL || r->disabled)
        return s;
    s.connected = r->state == CONN_READY;
    s.breaker_open = breaker_is_open(r);
    s.status = s.connected ? "healthy" : "unhealthy";
    if (!s.connected)
        s.error = r->error[0] != '\0' ? r->error : "connecting";
    s.commands = r->n_commands;
    s.failures = r->n_failures;
    s.timeouts = r->n_timeouts;
    s.cancelled = r->n_cancelled;
    s.connects = r->n_connects;
    s.reconnects = r->n_reconnects;
    s.pending = r->sent.n + r->failing.n;
    return s;
}

const char *orc_redis_rc_name(orc_redis_rc_t rc)
{
    switch (rc) {
    case ORC_REDIS_OK: return "ok";
    case ORC_REDIS_DISABLED: return "disabled";
    case ORC_REDIS_NOT_CONNECTED: return "not connected";
    case ORC_REDIS_BREAKER_OPEN: return "breaker open";
    case ORC_REDIS_TIMEOUT: return "timeout";
    case ORC_REDIS_CONNECTION_LOST: return "connection lost";
    case ORC_REDIS_CLOSED: return "closed";
    }
    return "unknown";
}
