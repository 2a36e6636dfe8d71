/*
 * dbreq.c - one HTTP request's asynchronous steps against PostgreSQL and
 * Redis (see dbreq.h), and the query-string parameters of the /api/db and
 * /api/user routes.
 *
 * Invariant: while a step is pending its id is in pg_id or redis_id, so a
 * departing client cancels exactly that step; a callback clears the id
 * before anything else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/api/dbreq.h"
#include "worker/store/db.h"
#include "worker/store/redis.h"

static void dbreq_free(orc_dbreq_t *d)
{
    free(d->doc);
    free(d->data);
    free(d);
}

static void on_client_gone(void *arg)
{
    orc_dbreq_t *d = arg;
    orc_api_env_t *env = orc_api_env(d->rq);
    if (d->pg_id > 0)
        orc_db_cancel(env->db, d->pg_id);
    if (d->redis_id > 0 && env->redis != NULL)
        orc_redis_cancel(env->redis, d->redis_id);
    d->pg_id = d->redis_id = 0;
    orc_log_info("request %s: the client left; its database step is cancelled", d->rq->id);
    orc_dbreq_error(d, 499, "CLIENT_CLOSED_REQUEST", "the client closed the connection");
}

orc_dbreq_t *orc_dbreq_new(orc_req_t *rq, size_t data_size)
{
    orc_dbreq_t *d = calloc(1, sizeof(*d));
    if (d != NULL && (d->data = calloc(1, data_size ? data_size : 1)) == NULL) {
        free(d);
        d = NULL;
    }
    if (d == NULL) {
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot serve this request now");
        return NULL;
    }
    d->rq = rq;
    orc_http_watch_client(rq, on_client_gone, d);
    return d;
}

/* A statement the server refused: a data exception (SQLSTATE class 22)
 * comes from a value the client sent; anything else is ours. */
static void sql_error(orc_dbreq_t *d, const PGresult *res, const char *error)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (state != NULL && strncmp(state, "22", 2) == 0) {
        orc_dbreq_error(d, 400, "INVALID_VALUE", "the database refused a value: %s",
                        primary ? primary : "invalid value");
        return;
    }
    orc_log_error("request %s: SQL error %s: %s", d->rq->id, state ? state : "?", error);
    orc_dbreq_error(d, 500, "DATABASE_ERROR", "the database refused the statement");
}

static void unavailable(orc_dbreq_t *d, const char *why)
{
    if (d->unavailable_cb != NULL)
        d->unavailable_cb(d, why);
    else
        orc_dbreq_error(d, 503, "DATABASE_UNAVAILABLE", "the database is unavailable (%s)", why);
}

static void on_pg(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    orc_dbreq_t *d = arg;
    ORC_ASSERT(d->pg_id > 0 && d->redis_id == 0);
    d->pg_id = 0;
    if (rc == ORC_PG_CLOSED) { /* the worker is exiting: its HTTP server is gone */
        dbreq_free(d);
        return;
    }
    if (rc == ORC_PG_OK) {
        d->pg_cb(d, res);
        return;
    }
    if (rc == ORC_PG_SQL_ERROR) {
        sql_error(d, res, error);
        return;
    }
    unavailable(d, orc_pg_rc_name(rc));
}

void orc_dbreq_query(orc_dbreq_t *d, const char *sql, int nparams, const char *const *values,
                     orc_dbreq_pg_cb cb)
{
    orc_db_t *db = orc_api_env(d->rq)->db;
    ORC_ASSERT(d->pg_id == 0 && d->redis_id == 0); /* one step at a time */
    d->pg_cb = cb;
    int id = orc_db_query(db, sql, nparams, values, on_pg, d);
    if (id > 0) {
        d->pg_id = id;
        return;
    }
    unavailable(d, !orc_db_enabled(db)       ? "no database is configured: database.url"
                   : orc_db_schema_ready(db) ? "not connected"
                                             : "schema not ready");
}

static void on_redis(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_dbreq_t *d = arg;
    ORC_ASSERT(d->redis_id > 0 && d->pg_id == 0);
    d->redis_id = 0;
    if (rc == ORC_REDIS_CLOSED) { /* the worker is exiting */
        dbreq_free(d);
        return;
    }
    d->redis_cb(d, rc == ORC_REDIS_OK && reply->type != REDIS_REPLY_ERROR ? reply : NULL);
}

void orc_dbreq_redis(orc_dbreq_t *d, orc_dbreq_redis_cb cb, int argc, const char **argv,
                     const size_t *argvlen)
{
    orc_redis_t *r = orc_api_env(d->rq)->redis;
    ORC_ASSERT(d->pg_id == 0 && d->redis_id == 0); /* one step at a time */
    d->redis_cb = cb;
    int id = r != NULL ? orc_redis_command(r, on_redis, d, argc, argv, argvlen) : ORC_ERR;
    if (id > 0) {
        d->redis_id = id;
        return;
    }
    cb(d, NULL);
}

void orc_dbreq_reply(orc_dbreq_t *d, int status, const char *json, size_t len)
{
    orc_http_reply_text(d->rq, status, "application/json", json, len); /* JSON may live in D */
    dbreq_free(d);
}

static bool has_value(orc_dbreq_t *d, const PGresult *res)
{
    if (PQntuples(res) >= 1 && PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0))
        return true;
    orc_log_error("request %s: the database returned no document", d->rq->id);
    orc_dbreq_error(d, 500, "DATABASE_ERROR", "the database returned no document");
    return false;
}

void orc_dbreq_reply_value(orc_dbreq_t *d, int status, const PGresult *res)
{
    if (has_value(d, res))
        orc_dbreq_reply(d, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

int orc_dbreq_keep_value(orc_dbreq_t *d, const PGresult *res)
{
    if (!has_value(d, res))
        return ORC_ERR;
    size_t len = (size_t)PQgetlength(res, 0, 0);
    free(d->doc);
    d->doc = malloc(len + 1);
    if (d->doc == NULL) {
        orc_dbreq_error(d, 503, "OUT_OF_MEMORY", "cannot serve this request now");
        return ORC_ERR;
    }
    memcpy(d->doc, PQgetvalue(res, 0, 0), len + 1);
    d->doclen = len;
    return ORC_OK;
}

void orc_dbreq_error(orc_dbreq_t *d, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    orc_http_verror(d->rq, status, code, fmt, ap);
    va_end(ap);
    dbreq_free(d);
}

/* ---- query-string parameters ------------------------------------------------ */

int orc_dbreq_param_int(orc_req_t *rq, const char *key, long def, long min, long max, long *out)
{
    char buf[64];
    const char *v = orc_http_query_get(rq, key, buf, sizeof(buf));
    if (v == NULL) {
        *out = def;
        return ORC_OK;
    }
    if (strlen(v) < sizeof(buf) - 1 && orc_parse_int(v, min, max, out) == ORC_OK)
        return ORC_OK;
    orc_http_error(rq, 400, "INVALID_PARAMETER", "%s must be an integer from %ld to %ld", key, min, max);
    return ORC_ERR;
}

int orc_dbreq_param_page(orc_req_t *rq, long limit_def, long limit_max, long offset_max, orc_dbreq_page_t *p)
{
    long limit, offset;
    if (orc_dbreq_param_int(rq, "limit", limit_def, 1, limit_max, &limit) != ORC_OK ||
        orc_dbreq_param_int(rq, "offset", 0, 0, offset_max, &offset) != ORC_OK)
        return ORC_ERR;
    snprintf(p->limit, sizeof(p->limit), "%ld", limit);
    snprintf(p->offset, sizeof(p->offset), "%ld", offset);
    return ORC_OK;
}

int orc_dbreq_param_bool(orc_req_t *rq, const char *key, bool def, bool *out)
{
    char buf[16];
    const char *v = orc_http_query_get(rq, key, buf, sizeof(buf));
    if (v == NULL) {
        *out = def;
        return ORC_OK;
    }
    if (strlen(v) < sizeof(buf) - 1 && orc_parse_bool(v, out) == ORC_OK)
        return ORC_OK;
    orc_http_error(rq, 400, "INVALID_PARAMETER", "%s must be true or false", key);
    return ORC_ERR;
}
