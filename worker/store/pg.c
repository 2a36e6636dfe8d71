/*
 * pg.c - one non-blocking PostgreSQL connection on a worker's loop.
 *
 * States: DOWN (reconnect timer armed) -> RESOLVING (evdns; skipped for an
 * IP literal or a socket directory) -> CONNECTING (PQconnectPoll driven by
 * socket events) -> UP.  One timer serves three purposes, one at a time:
 * the connect deadline (RESOLVING, CONNECTING), the query deadline (UP and
 * busy) and the reconnect delay (DOWN).  Any failure drops the connection
 * (PQfinish), fails the query in flight and goes DOWN; the next attempt
 * comes after reconnect_min_ms, doubling to reconnect_max_ms.
 *
 * Invariants: a query callback runs only from query_finish, which clears
 * the query first (at most once); every query is finished by its last
 * result, a teardown or orc_pg_free (at least once).  The socket event is
 * re-created at every connect step because PQsocket may change.  The
 * password lives only in the parsed URL; it is never logged.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/store/pg.h"
#include "worker/store/resolve.h"

typedef enum { PG_DOWN, PG_RESOLVING, PG_CONNECTING, PG_UP } pg_state_t;

struct orc_pg_s {
    struct event_base *base;
    orc_pg_options_t opt; /* url not kept */
    orc_pg_url_t url;     /* holds the password */
    char where[280];      /* "host:port/db" for messages */
    char app_name[64];
    bool numeric_host;

    pg_state_t state;
    PGconn *conn;
    orc_resolve_t *lookup;
    struct event *sock_ev, *write_ev, *timer_ev;
    uint64_t backoff_ms;
    uint64_t up_since_ms;
    bool ever_up;

    /* the query in flight */
    orc_pg_cb cb;
    void *arg;
    PGresult *result; /* the one reported: the last, or the first error */
    uint64_t query_started_us;
    const char *echo_sql;

    char error[512];
    uint64_t n_queries, n_failures, n_timeouts, n_connects, n_reconnects;
};

static void conn_start(orc_pg_t *pg);
static void on_socket(evutil_socket_t fd, short what, void *arg);

/* ---- timers and events -------------------------------------------------- */

static void timer_arm_ms(orc_pg_t *pg, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_add(pg->timer_ev, &tv);
}

static void sock_events_free(orc_pg_t *pg)
{
    if (pg->sock_ev)
        event_free(pg->sock_ev);
    if (pg->write_ev)
        event_free(pg->write_ev);
    pg->sock_ev = pg->write_ev = NULL;
}

/* Watches the connection's socket for WHAT (EV_READ|EV_PERSIST when up). */
static int sock_watch(orc_pg_t *pg, short what)
{
    sock_events_free(pg);
    pg->sock_ev = event_new(pg->base, PQsocket(pg->conn), what, on_socket, pg);
    return pg->sock_ev && event_add(pg->sock_ev, NULL) == 0 ? ORC_OK : ORC_ERR;
}

/* ---- queries ------------------------------------------------------------- */

static void query_finish(orc_pg_t *pg, orc_pg_rc_t rc, const char *error)
{
    orc_pg_cb cb = pg->cb;
    void *arg = pg->arg;
    PGresult *res = pg->result;
    if (cb == NULL)
        return;
    pg->cb = NULL;
    pg->result = NULL;
    if (rc != ORC_PG_OK)
        pg->n_failures++;
    if (pg->opt.echo && pg->echo_sql)
        orc_log_info("database: %.200s -> %s (%.1f ms)", pg->echo_sql, orc_pg_rc_name(rc),
                     (double)(orc_now_us() - pg->query_started_us) / 1000.0);
    cb(arg, rc, rc == ORC_PG_OK || rc == ORC_PG_SQL_ERROR ? res : NULL, error ? error : "");
    PQclear(res);
}

/* ---- connection teardown ------------------------------------------------ */

static void conn_close(orc_pg_t *pg)
{
    sock_events_free(pg);
    orc_resolve_abandon(pg->lookup);
    pg->lookup = NULL;
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
}

static void conn_fail(orc_pg_t *pg, orc_pg_rc_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_fail(orc_pg_t *pg, orc_pg_rc_t rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pg->error, sizeof(pg->error), fmt, ap);
    va_end(ap);
    bool was_up = pg->state == PG_UP;
    conn_close(pg);
    pg->state = PG_DOWN;
    event_del(pg->timer_ev);
    if (was_up || pg->backoff_ms == 0)
        orc_log_warn("database %s: %s", pg->where, pg->error);
    else
        orc_log_debug("database %s: %s", pg->where, pg->error);
    pg->backoff_ms = pg->backoff_ms == 0 ? (uint64_t)pg->opt.reconnect_min_ms
                                         : ORC_MIN(pg->backoff_ms * 2, (uint64_t)pg->opt.reconnect_max_ms);
    timer_arm_ms(pg, pg->backoff_ms);
    query_finish(pg, rc, pg->error);
}

/* The server's message without libpq's trailing newline. */
static const char *conn_message(PGconn *c)
{
    static char buf[400];
    snprintf(buf, sizeof(buf), "%s", c ? PQerrorMessage(c) : "out of memory");
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* ---- connecting ---------------------------------------------------------- */

static void conn_up(orc_pg_t *pg)
{
    event_del(pg->timer_ev);
    if (PQsetnonblocking(pg->conn, 1) != 0 || sock_watch(pg, EV_READ | EV_PERSIST) != ORC_OK) {
        conn_fail(pg, ORC_PG_CONNECTION_LOST, "cannot watch the connection: %s", conn_message(pg->conn));
        return;
    }
    pg->state = PG_UP;
    pg->backoff_ms = 0;
    pg->error[0] = '\0';
    pg->up_since_ms = orc_now_ms();
    if (pg->ever_up) {
        pg->n_reconnects++;
        orc_log_info("database %s: connected again", pg->where);
    }
    pg->ever_up = true;
    if (pg->opt.on_up)
        pg->opt.on_up(pg->opt.arg);
}

static void conn_poll(orc_pg_t *pg)
{
    switch (PQconnectPoll(pg->conn)) {
    case PGRES_POLLING_READING:
        if (sock_watch(pg, EV_READ) != ORC_OK)
            conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot watch the connection");
        return;
    case PGRES_POLLING_WRITING:
        if (sock_watch(pg, EV_WRITE) != ORC_OK)
            conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot watch the connection");
        return;
    case PGRES_POLLING_OK: conn_up(pg); return;
    default: conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot connect: %s", conn_message(pg->conn));
    }
}

static void on_notice(void *arg, const char *message)
{
    orc_pg_t *pg = arg;
    orc_log_debug("database %s: %.*s", pg->where, (int)strcspn(message, "\n"), message);
}

static void conn_open(orc_pg_t *pg, const char *addr)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", pg->url.port);
    const char *keys[] = {"host",
                          "port",
                          "user",
                          "password",
                          "dbname",
                          "sslmode",
                          "application_name",
                          "keepalives",
                          "keepalives_idle",
                          "tcp_user_timeout",
                          "hostaddr",
                          NULL};
    const char *vals[] = {pg->url.host,   port,
                          pg->url.user,   pg->url.password,
                          pg->url.dbname, pg->url.sslmode[0] ? pg->url.sslmode : "prefer",
                          pg->app_name,   "1",
                          "10",           "10000",
                          addr,           NULL};
    if (addr == NULL) /* a socket directory: no hostaddr */
        keys[10] = NULL;
    pg->state = PG_CONNECTING;
    pg->conn = PQconnectStartParams(keys, vals, 0);
    if (pg->conn == NULL || PQstatus(pg->conn) == CONNECTION_BAD) {
        conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot connect: %s", conn_message(pg->conn));
        return;
    }
    PQsetNoticeProcessor(pg->conn, on_notice, pg);
    if (sock_watch(pg, EV_WRITE) != ORC_OK) /* as if PQconnectPoll had said WRITING */
        conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot watch the connection");
}

static void on_resolved(void *arg, const char *addr, const char *error)
{
    orc_pg_t *pg = arg;
    pg->lookup = NULL;
    if (addr == NULL)
        conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot resolve %s: %s", pg->url.host, error);
    else
        conn_open(pg, addr);
}

static void conn_start(orc_pg_t *pg)
{
    pg->n_connects++;
    pg->state = PG_RESOLVING;
    timer_arm_ms(pg, (uint64_t)pg->opt.connect_timeout_ms);
    if (pg->url.host[0] == '/')
        conn_open(pg, NULL);
    else if (pg->numeric_host)
        conn_open(pg, pg->url.host);
    else if (pg->opt.dns == NULL)
        conn_fail(pg, ORC_PG_NOT_CONNECTED, "the host name %s needs a resolver", pg->url.host);
    else
        pg->lookup = orc_resolve_start(pg->opt.dns, pg->url.host, on_resolved, pg);
}

/* ---- reading answers ------------------------------------------------------ */

static void keep_result(orc_pg_t *pg, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    bool is_error = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY;
    ORC_ASSERT(pg->cb != NULL); /* results belong to the query in flight */
    bool have_error = pg->result && PQresultStatus(pg->result) != PGRES_COMMAND_OK &&
                      PQresultStatus(pg->result) != PGRES_TUPLES_OK &&
                      PQresultStatus(pg->result) != PGRES_EMPTY_QUERY;
    if (have_error && !is_error) { /* the first error wins */
        PQclear(r);
        return;
    }
    PQclear(pg->result);
    pg->result = r;
}

static void query_answered(orc_pg_t *pg)
{
    event_del(pg->timer_ev);
    PGresult *r = pg->result;
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        query_finish(pg, ORC_PG_OK, "");
    } else {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : "no result");
        msg[strcspn(msg, "\n")] = '\0';
        query_finish(pg, ORC_PG_SQL_ERROR, msg);
    }
    if (pg->state == PG_UP && pg->cb == NULL && pg->opt.recycle_s > 0 &&
        orc_now_ms() - pg->up_since_ms >= (uint64_t)pg->opt.recycle_s * 1000) {
        orc_log_debug("database %s: recycling the connection", pg->where);
        conn_close(pg);
        pg->state = PG_DOWN;
        conn_start(pg);
    }
}

static void read_results(orc_pg_t *pg)
{
    if (PQconsumeInput(pg->conn) == 0) {
        conn_fail(pg, ORC_PG_CONNECTION_LOST, "connection lost: %s", conn_message(pg->conn));
        return;
    }
    for (PGnotify *n; (n = PQnotifies(pg->conn)) != NULL;)
        PQfreemem(n);
    while (pg->cb != NULL && !PQisBusy(pg->conn)) {
        PGresult *r = PQgetResult(pg->conn);
        if (r == NULL) {
            query_answered(pg);
            return;
        }
        keep_result(pg, r);
    }
    if (pg->cb == NULL && PQstatus(pg->conn) == CONNECTION_BAD)
        conn_fail(pg, ORC_PG_CONNECTION_LOST, "connection lost: %s", conn_message(pg->conn));
}

static void flush_output(orc_pg_t *pg)
{
    int rc = PQflush(pg->conn);
    if (rc < 0) {
        conn_fail(pg, ORC_PG_CONNECTION_LOST, "cannot send: %s", conn_message(pg->conn));
        return;
    }
    if (rc == 0 && pg->write_ev)
        event_del(pg->write_ev);
    else if (rc == 1 && pg->write_ev)
        event_add(pg->write_ev, NULL);
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    orc_pg_t *pg = arg;
    (void)fd;
    if (pg->state != PG_UP) {
        conn_poll(pg);
        return;
    }
    if (what & EV_WRITE) {
        flush_output(pg);
        return;
    }
    if (pg->write_ev && event_pending(pg->write_ev, EV_WRITE, NULL))
        flush_output(pg); /* the server reads only once we read (libpq-async) */
    if (pg->state == PG_UP)
        read_results(pg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    orc_pg_t *pg = arg;
    (void)fd;
    (void)what;
    switch (pg->state) {
    case PG_DOWN: conn_start(pg); break;
    case PG_RESOLVING:
    case PG_CONNECTING:
        conn_fail(pg, ORC_PG_NOT_CONNECTED, "cannot connect within %d ms", pg->opt.connect_timeout_ms);
        break;
    case PG_UP:
        pg->n_timeouts++;
        conn_fail(pg, ORC_PG_TIMEOUT, "no answer within the query timeout");
        break;
    }
}

int orc_pg_query(orc_pg_t *pg, const char *sql, int nparams, const char *const *values, int timeout_ms,
                 orc_pg_cb cb, void *arg)
{
    if (pg == NULL || !orc_pg_idle(pg) || cb == NULL || nparams < 0)
        return ORC_ERR;
    int sent = nparams == 0 ? PQsendQuery(pg->conn, sql)
                            : PQsendQueryParams(pg->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    if (!sent) {
        orc_log_warn("database %s: cannot send a query: %s", pg->where, conn_message(pg->conn));
        return ORC_ERR; /* a broken connection is noticed by its read event */
    }
    ORC_ASSERT(pg->result == NULL); /* the previous query's result went with its callback */
    pg->n_queries++;
    pg->cb = cb;
    pg->arg = arg;
    pg->echo_sql = sql;
    pg->query_started_us = orc_now_us();
    if (pg->write_ev == NULL)
        pg->write_ev = event_new(pg->base, PQsocket(pg->conn), EV_WRITE, on_socket, pg);
    timer_arm_ms(pg, (uint64_t)(timeout_ms > 0 ? timeout_ms : 5000));
    flush_output(pg);
    return ORC_OK;
}

/* ---- life cycle ------------------------------------------------------------ */

void orc_pg_options_defaults(orc_pg_options_t *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->connect_timeout_ms = 2000;
    opt->reconnect_min_ms = 100;
    opt->reconnect_max_ms = 2000;
}

static void options_normalize(orc_pg_options_t *o)
{
    orc_pg_options_t d;
    orc_pg_options_defaults(&d);
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = d.connect_timeout_ms;
    if (o->reconnect_min_ms <= 0)
        o->reconnect_min_ms = d.reconnect_min_ms;
    if (o->reconnect_max_ms < o->reconnect_min_ms)
        o->reconnect_max_ms = ORC_MAX(d.reconnect_max_ms, o->reconnect_min_ms);
}

orc_pg_t *orc_pg_new(struct event_base *base, const orc_pg_options_t *opt)
{
    char err[300];
    orc_pg_t *pg = calloc(1, sizeof(*pg));
    if (pg == NULL)
        return NULL;
    if (orc_pg_parse_url(opt->url, &pg->url, err, sizeof(err)) != ORC_OK) {
        orc_log_error("database.url: %s", err);
        free(pg);
        return NULL;
    }
    pg->base = base;
    pg->opt = *opt;
    pg->opt.url = NULL;
    options_normalize(&pg->opt);
    snprintf(pg->app_name, sizeof(pg->app_name), "%s",
             opt->application_name ? opt->application_name : "orchesity");
    snprintf(pg->where, sizeof(pg->where), "%s:%d/%s", pg->url.host, pg->url.port, pg->url.dbname);
    struct in6_addr a6;
    pg->numeric_host =
        inet_pton(AF_INET, pg->url.host, &a6) == 1 || inet_pton(AF_INET6, pg->url.host, &a6) == 1;
    pg->timer_ev = event_new(base, -1, 0, on_timer, pg);
    if (pg->timer_ev == NULL) {
        free(pg);
        return NULL;
    }
    pg->state = PG_DOWN;
    timer_arm_ms(pg, 0);
    return pg;
}

void orc_pg_free(orc_pg_t *pg)
{
    if (pg == NULL)
        return;
    conn_close(pg);
    event_free(pg->timer_ev);
    query_finish(pg, ORC_PG_CLOSED, "the connection was closed");
    PQclear(pg->result);
    explicit_bzero(&pg->url, sizeof(pg->url));
    free(pg);
}

bool orc_pg_connected(const orc_pg_t *pg)
{
    return pg != NULL && pg->state == PG_UP;
}

bool orc_pg_idle(const orc_pg_t *pg)
{
    return orc_pg_connected(pg) && pg->cb == NULL;
}

orc_pg_status_t orc_pg_status(const orc_pg_t *pg)
{
    orc_pg_status_t s = {.status = "disabled", .error = ""};
    if (pg == NULL)
        return s;
    s.connected = pg->state == PG_UP;
    s.busy = pg->cb != NULL;
    s.status = s.connected ? "healthy" : "unhealthy";
    s.error = s.connected ? "" : (pg->error[0] ? pg->error : "connecting");
    s.queries = pg->n_queries;
    s.failures = pg->n_failures;
    s.timeouts = pg->n_timeouts;
    s.connects = pg->n_connects;
    s.reconnects = pg->n_reconnects;
    return s;
}

const char *orc_pg_rc_name(orc_pg_rc_t rc)
{
    static const char *names[] = {"ok", "sql_error", "not_connected", "timeout", "connection_lost", "closed"};
    return (unsigned)rc < ORC_ARRAY_LEN(names) ? names[rc] : "unknown";
}
