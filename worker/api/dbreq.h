/*
 * dbreq.h - one HTTP request's asynchronous steps against PostgreSQL (the
 * worker's pool, worker/store/db.h) and Redis (worker/store/redis.h), for the /api/db
 * and /api/user handlers.
 *
 * A step is pending at most one at a time.  When the client leaves, the
 * pending query or command is cancelled and the request is answered 499.
 * A database that is disabled, down, frozen or too busy answers 503
 * (DATABASE_UNAVAILABLE) in the documented error format; a statement the
 * server refuses answers 400 for a data exception (bad input that reached
 * SQL as a parameter) and 500 otherwise.  Redis is a cache in front of
 * PostgreSQL: its failures are never the client's (the callback gets
 * NULL).
 *
 * Ownership: orc_dbreq_new takes the request; every path ends in exactly
 * one reply (orc_dbreq_reply, orc_dbreq_error, or a failure answered
 * here), which frees the dbreq and its data.
 */
#ifndef ORC_DBREQ_H
#define ORC_DBREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "worker/http/http.h"

typedef struct orc_dbreq_s orc_dbreq_t;

/* RES is a successful result, valid during the call.  CB must reply or
 * start the next step. */
typedef void (*orc_dbreq_pg_cb)(orc_dbreq_t *d, const PGresult *res);
/* REPLY is NULL when Redis is absent or failed; valid during the call. */
typedef void (*orc_dbreq_redis_cb)(orc_dbreq_t *d, const redisReply *reply);

struct orc_dbreq_s {
    orc_req_t *rq;
    void *data; /* DATA_SIZE zeroed bytes for the handler, freed with D */
    char *doc;  /* a document kept between steps (malloc'ed), freed with D */
    size_t doclen;
    int pg_id, redis_id;
    orc_dbreq_pg_cb pg_cb;
    orc_dbreq_redis_cb redis_cb;
    /* When set, a database that is unavailable calls this (WHY says how)
     * instead of answering 503; it must reply. */
    void (*unavailable_cb)(orc_dbreq_t *d, const char *why);
};

/* NULL after answering 503 (no memory). */
orc_dbreq_t *orc_dbreq_new(orc_req_t *rq, size_t data_size);

/* Sends SQL (a string literal) with NPARAMS text parameters.  On failure
 * the request is answered and D freed: do nothing with D after this call. */
void orc_dbreq_query(orc_dbreq_t *d, const char *sql, int nparams, const char *const *values,
                     orc_dbreq_pg_cb cb);

/* Sends a Redis command (ARGVLEN NULL: NUL-terminated strings).  CB runs
 * once, possibly before this returns: do nothing with D after this call. */
void orc_dbreq_redis(orc_dbreq_t *d, orc_dbreq_redis_cb cb, int argc, const char **argv,
                     const size_t *argvlen);

/* Keeps a copy of the first column of the first row of RES in D->doc;
 * ORC_ERR (answered, D freed) when there is none or memory is short. */
int orc_dbreq_keep_value(orc_dbreq_t *d, const PGresult *res);

/* Answers STATUS with JSON text and frees D. */
void orc_dbreq_reply(orc_dbreq_t *d, int status, const char *json, size_t len);
/* Answers the first column of the first row of RES (JSON built in SQL). */
void orc_dbreq_reply_value(orc_dbreq_t *d, int status, const PGresult *res);
void orc_dbreq_error(orc_dbreq_t *d, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Query-string parameters: ORC_OK with *OUT (DEF when absent), or
 * ORC_ERR after answering 400 INVALID_PARAMETER.  Call before
 * orc_dbreq_new. */
int orc_dbreq_param_int(orc_req_t *rq, const char *key, long def, long min, long max, long *out);
int orc_dbreq_param_bool(orc_req_t *rq, const char *key, bool def, bool *out);

/* ?limit= (1..LIMIT_MAX, default LIMIT_DEF) and ?offset= (0..OFFSET_MAX)
 * as the text of two query parameters; ORC_ERR after answering 400. */
typedef struct {
    char limit[24], offset[24];
} orc_dbreq_page_t;
int orc_dbreq_param_page(orc_req_t *rq, long limit_def, long limit_max, long offset_max, orc_dbreq_page_t *p);

/* Session ids: 1 to 64 bytes (user_sessions.session_id), no control
 * character.  Anything else is matched as plain data. */
#define ORC_SESSION_ID_MAX 64

/* SQL: "to_char(COL AT TIME ZONE 'UTC', " ORC_SQL_ISO ")" is a timestamptz
 * column as "2026-11-26T10:30:45.123Z". */
#define ORC_SQL_ISO "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
bool orc_dbreq_session_id_valid(const char *id);

#endif
