/*
 * pg.h - one PostgreSQL connection on a worker's event loop: libpq in
 * non-blocking mode, the host name resolved with evdns (libpq would block
 * in getaddrinfo), a connect timeout of our own (libpq ignores
 * connect_timeout in PQconnectPoll), per-query timeouts, reconnection
 * with backoff, and recycling after DB_POOL_RECYCLE seconds.
 *
 * One query at a time per connection.  Contract of orc_pg_query: when it
 * returns ORC_OK, CB runs exactly once - with the result or a failure -
 * and never inside orc_pg_query itself.  The result is owned by the
 * connection and valid only during the callback.  A query that times out
 * drops the connection (libpq 15 has no non-blocking cancel), which then
 * reconnects.
 *
 * The master never holds a connection: each worker connects after fork.
 */
#ifndef ORC_PG_H
#define ORC_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg_url.h"

struct event_base;
struct evdns_base;
typedef struct orc_pg_s orc_pg_t;

#define ORC_PG_PARAMS_MAX 16

typedef enum {
    ORC_PG_OK = 0,          /* RES is set: PGRES_TUPLES_OK or PGRES_COMMAND_OK */
    ORC_PG_SQL_ERROR,       /* the server refused the statement: RES and ERROR say why */
    ORC_PG_NOT_CONNECTED,   /* connecting or waiting to reconnect */
    ORC_PG_TIMEOUT,         /* no answer in time: the connection was dropped */
    ORC_PG_CONNECTION_LOST, /* the connection died before the answer */
    ORC_PG_CLOSED,          /* the connection was freed */
} orc_pg_rc_t;

/* RES is NULL unless RC is ORC_PG_OK or ORC_PG_SQL_ERROR; ERROR is "" on
 * success.  Both are valid only during the call. */
typedef void (*orc_pg_cb)(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error);

typedef struct {
    const char *url;              /* DATABASE_URL (see pg_url.h) */
    struct evdns_base *dns;       /* for a host name (borrowed) */
    const char *application_name; /* shown in pg_stat_activity */
    int connect_timeout_ms;       /* resolve + connect + authenticate (default 2000) */
    int reconnect_min_ms;         /* first delay after a failure (default 100), doubling ... */
    int reconnect_max_ms;         /* ... up to this (default 2000) */
    int recycle_s;                /* reconnect when idle and older than this; 0 never */
    bool echo;                    /* log each statement's text and duration (never its parameters) */
    void (*on_up)(void *arg);     /* the connection is (again) usable */
    void *arg;
} orc_pg_options_t;

typedef struct {
    const char *status; /* "healthy", "unhealthy" or "disabled" */
    const char *error;  /* why unhealthy ("" otherwise); valid until the loop runs again */
    bool connected;
    bool busy; /* a query is in flight */
    uint64_t queries, failures, timeouts, connects, reconnects;
} orc_pg_status_t;

void orc_pg_options_defaults(orc_pg_options_t *opt);

/* Starts connecting at once (from the loop).  NULL on a bad URL (logged). */
orc_pg_t *orc_pg_new(struct event_base *base, const orc_pg_options_t *opt);
/* Every pending callback runs once with ORC_PG_CLOSED.  Not from a callback. */
void orc_pg_free(orc_pg_t *pg);

/* Connected and no query in flight. */
bool orc_pg_idle(const orc_pg_t *pg);
bool orc_pg_connected(const orc_pg_t *pg);

/* Sends SQL with NPARAMS text parameters (NULL values are SQL NULLs) and
 * waits at most TIMEOUT_MS for the whole answer.  NPARAMS 0 sends SQL with
 * the simple protocol (several statements allowed: migrations).  ORC_ERR,
 * without calling CB, when the connection is not idle. */
int orc_pg_query(orc_pg_t *pg, const char *sql, int nparams, const char *const *values, int timeout_ms,
                 orc_pg_cb cb, void *arg);

orc_pg_status_t orc_pg_status(const orc_pg_t *pg);
const char *orc_pg_rc_name(orc_pg_rc_t rc);

#endif
