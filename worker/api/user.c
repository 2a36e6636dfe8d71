/*
 * user.c - the /api/user routes: sessions.  POST /api/user/session, GET
 * and DELETE /api/user/session/{id}, GET /api/user/sessions (admin).
 *
 * PostgreSQL (user_sessions) is the truth; Redis keeps a copy of each
 * session document under "<cache.namespace>:session:<id>" for
 * sessions.cache_ttl seconds.  A read tries Redis first and falls back to
 * PostgreSQL (refilling Redis); a write goes to PostgreSQL first, then to
 * Redis; a delete removes both.  Redis is waited for (at most its command
 * timeout) before the reply, so the next request sees it, but its failure
 * never fails a session call.
 *
 * A session is active while is_active is set and its last activity is
 * within sessions.active_window seconds.
 *
 * A client key owns the sessions it creates (their user_id is the key's
 * id) and sees and deletes only those: another's is "not found".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "worker/api/api.h"
#include "worker/api/dbreq.h"
#include "worker/reqlog/reqlog.h"

#define USER_ID_MAX 255       /* user_sessions.user_id */
#define PREFERENCES_MAX 16384 /* bytes of metadata (stored as preferences) */
#define SESSIONS_LIST_DEFAULT 100
#define SESSIONS_LIST_MAX 1000
#define SESSIONS_OFFSET_MAX 100000000

/* The session document of row "s". */
#define SESSION_DOC                                                                                          \
    "json_build_object('session_id', s.session_id, 'user_id', s.user_id,"                                    \
    " 'created_at', to_char(s.created_at AT TIME ZONE 'UTC', " ORC_SQL_ISO "),"                              \
    " 'last_activity', to_char(s.last_activity AT TIME ZONE 'UTC', " ORC_SQL_ISO "),"                        \
    " 'preferences', s.preferences, 'is_active', s.is_active)"

/* $1 id, $2 user id, $3 preferences */
static const char CREATE_SQL[] = "INSERT INTO user_sessions AS s (session_id, user_id, preferences)"
                                 " VALUES ($1, $2, $3::jsonb) RETURNING " SESSION_DOC "::text";
/* $1 id, $2 owner or NULL */
static const char GET_SQL[] = "SELECT " SESSION_DOC "::text FROM user_sessions s WHERE s.session_id = $1"
                              " AND ($2::text IS NULL OR s.user_id = $2::text)";
static const char DELETE_SQL[] = "DELETE FROM user_sessions WHERE session_id = $1"
                                 " AND ($2::text IS NULL OR user_id = $2::text) RETURNING 1";

#define ACTIVE_ONLY                                                                                          \
    "(NOT $1::boolean OR (is_active AND last_activity > now() - make_interval(secs => $4::int)))"
/* $1 active only, $2 limit, $3 offset, $4 active window (s) */
static const char LIST_SQL[] =
    "SELECT json_build_object("
    " 'sessions', COALESCE((SELECT json_agg(" SESSION_DOC " ORDER BY s.last_activity DESC, s.session_id)"
    "   FROM (SELECT * FROM user_sessions WHERE " ACTIVE_ONLY
    "         ORDER BY last_activity DESC, session_id LIMIT $2::int OFFSET $3::int) s), '[]'::json),"
    " 'total', (SELECT count(*) FROM user_sessions WHERE " ACTIVE_ONLY "),"
    " 'limit', $2::int, 'offset', $3::int, 'active_only', $1::boolean)::text";

typedef struct {
    orc_dbreq_t *d; /* the request context holding this session */
    char id[ORC_REQLOG_SESSION_MAX + 1];
    char key[160];     /* "<namespace>:session:<id>" */
    const char *owner; /* the client key's id, NULL when the caller sees every session */
    int status;
} session_t;

/* ---- steps shared by the routes ---------------------------------------------- */

static session_t *session_start(orc_dbreq_t *d, const char *id)
{
    session_t *s = d->data;
    s->d = d;
    size_t n = strnlen(id, ORC_REQLOG_SESSION_MAX); /* validated: at most that long */
    memcpy(s->id, id, n);
    s->id[n] = '\0';
    snprintf(s->key, sizeof(s->key), "%.64s:session:%s", orc_api_env(d->rq)->cfg->cache_namespace, s->id);
    s->owner = orc_auth_sees_all(d->rq) ? NULL : orc_auth_key(d->rq)->id;
    return s;
}

static void reply_doc(orc_dbreq_t *d, const redisReply *reply)
{
    session_t *s = d->data;
    if (reply == NULL && orc_api_env(d->rq)->redis != NULL)
        orc_log_debug("request %s: session %s not cached (Redis unavailable)", d->rq->id, s->id);
    orc_dbreq_reply(d, 200, d->doc, d->doclen);
}

/* Keeps the session document of RES, caches it, then answers it. */
static void cache_and_reply(orc_dbreq_t *d, const PGresult *res)
{
    session_t *s = d->data;
    char ttl[16];
    if (orc_dbreq_keep_value(d, res) != ORC_OK)
        return;
    snprintf(ttl, sizeof(ttl), "%d", orc_api_env(d->rq)->cfg->session_cache_ttl);
    const char *argv[] = {"SET", s->key, d->doc, "EX", ttl};
    orc_dbreq_redis(d, reply_doc, 5, argv, NULL);
}

static bool id_or_404(orc_req_t *rq, const char *id)
{
    if (orc_reqlog_session_valid(id))
        return true;
    orc_http_error(rq, 404, "SESSION_NOT_FOUND", "Session not found");
    return false;
}

/* The session named by the route, with its request context; NULL after
 * answering (unknown id or out of memory). */
static session_t *session_of_route(orc_req_t *rq)
{
    const char *id = rq->match.params[0];
    if (!id_or_404(rq, id))
        return NULL;
    orc_dbreq_t *d = orc_dbreq_new(rq, sizeof(session_t));
    return d ? session_start(d, id) : NULL;
}

/* ---- POST /api/user/session ---------------------------------------------------- */

/* USER_ID and PREFS (owned by BODY) from the optional body; ORC_ERR after answering 400. */
static int parse_create(orc_req_t *rq, json_object *body, const char **user_id, const char **prefs)
{
    json_object *u = NULL, *m = NULL;
    *user_id = "anonymous";
    *prefs = "{}";
    if (body != NULL && !json_object_is_type(body, json_type_object)) {
        orc_http_error(rq, 400, "BAD_REQUEST", "the body, when present, must be a JSON object");
        return ORC_ERR;
    }
    if (body != NULL && json_object_object_get_ex(body, "user_id", &u) && u != NULL) {
        const char *v = json_object_get_string(u);
        size_t n = json_object_get_string_len(u);
        if (!json_object_is_type(u, json_type_string) || n == 0 || n > USER_ID_MAX || strlen(v) != n) {
            orc_http_error(rq, 400, "INVALID_PARAMETER",
                           "user_id must be a string of 1 to %d bytes without NUL characters", USER_ID_MAX);
            return ORC_ERR;
        }
        *user_id = v;
    }
    if (body != NULL && json_object_object_get_ex(body, "metadata", &m) && m != NULL) {
        size_t n = 0;
        const char *text = json_object_to_json_string_length(m, JSON_C_TO_STRING_PLAIN, &n);
        if (!json_object_is_type(m, json_type_object) || n > PREFERENCES_MAX) {
            orc_http_error(rq, 400, "INVALID_PARAMETER", "metadata must be a JSON object of at most %d bytes",
                           PREFERENCES_MAX);
            return ORC_ERR;
        }
        *prefs = text;
    }
    return ORC_OK;
}

void orc_api_user_session_create(orc_req_t *rq)
{
    json_object *body = NULL;
    const char *user_id, *prefs;
    uuid_t uu;
    char id[37];
    if (orc_http_read_json(rq, &body) != ORC_OK)
        return;
    if (parse_create(rq, body, &user_id, &prefs) != ORC_OK) {
        json_object_put(body);
        return;
    }
    uuid_generate_random(uu);
    uuid_unparse_lower(uu, id);
    orc_dbreq_t *d = orc_dbreq_new(rq, sizeof(session_t));
    if (d != NULL) {
        session_t *s = session_start(d, id);
        const char *values[] = {id, s->owner != NULL ? s->owner : user_id, prefs};
        orc_dbreq_query(d, CREATE_SQL, 3, values, cache_and_reply); /* copies the values */
    }
    json_object_put(body);
}

/* ---- GET /api/user/session/{id} ------------------------------------------------ */

static void on_session_row(orc_dbreq_t *d, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        orc_dbreq_error(d, 404, "SESSION_NOT_FOUND", "Session not found");
        return;
    }
    cache_and_reply(d, res);
}

/* The cached document belongs to S's caller. */
static bool owned(const session_t *s, const char *doc, size_t len)
{
    if (s->owner == NULL)
        return true;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, doc, (int)len) : NULL;
    const char *user = orc_json_get_str(o, "user_id");
    bool mine = user != NULL && strcmp(user, s->owner) == 0;
    json_object_put(o);
    json_tokener_free(tok);
    return mine;
}

static void on_cached(orc_dbreq_t *d, const redisReply *reply)
{
    session_t *s = d->data;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        if (owned(s, reply->str, reply->len))
            orc_dbreq_reply(d, 200, reply->str, reply->len);
        else
            orc_dbreq_error(d, 404, "SESSION_NOT_FOUND", "Session not found");
        return;
    }
    const char *values[] = {s->id, s->owner};
    orc_dbreq_query(d, GET_SQL, 2, values, on_session_row);
}

void orc_api_user_session_get(orc_req_t *rq)
{
    session_t *s = session_of_route(rq);
    if (s == NULL)
        return;
    const char *argv[] = {"GET", s->key};
    orc_dbreq_redis(s->d, on_cached, 2, argv, NULL);
}

/* ---- DELETE /api/user/session/{id} --------------------------------------------- */

static void on_uncached(orc_dbreq_t *d, const redisReply *reply)
{
    session_t *s = d->data;
    if (reply == NULL && orc_api_env(d->rq)->redis != NULL)
        orc_log_warn("request %s: session %s deleted, but its cached copy could not be removed: it may be "
                     "served for up to sessions.cache_ttl seconds",
                     d->rq->id, s->id);
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "message", "Session deleted");
    orc_json_add_str(o, "session_id", s->id);
    size_t len = 0;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    orc_dbreq_reply(d, 200, text, len);
    json_object_put(o);
}

static void on_deleted(orc_dbreq_t *d, const PGresult *res)
{
    session_t *s = d->data;
    s->status = PQntuples(res) > 0 ? 200 : 404;
    if (s->status == 404) { /* nothing deleted: the cached copy, if any, is someone else's */
        orc_dbreq_error(d, 404, "SESSION_NOT_FOUND", "Session not found");
        return;
    }
    const char *argv[] = {"UNLINK", s->key};
    orc_dbreq_redis(d, on_uncached, 2, argv, NULL);
}

void orc_api_user_session_delete(orc_req_t *rq)
{
    session_t *s = session_of_route(rq);
    if (s == NULL)
        return;
    const char *values[] = {s->id, s->owner};
    orc_dbreq_query(s->d, DELETE_SQL, 2, values, on_deleted);
}

/* ---- GET /api/user/sessions (admin) ------------------------------------------- */

static void on_list(orc_dbreq_t *d, const PGresult *res)
{
    orc_dbreq_reply_value(d, 200, res);
}

void orc_api_user_sessions(orc_req_t *rq)
{
    bool active_only;
    orc_dbreq_page_t page;
    char window[16];
    if (orc_dbreq_param_bool(rq, "active_only", true, &active_only) != ORC_OK ||
        orc_dbreq_param_page(rq, SESSIONS_LIST_DEFAULT, SESSIONS_LIST_MAX, SESSIONS_OFFSET_MAX, &page) !=
            ORC_OK)
        return;
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    snprintf(window, sizeof(window), "%d", orc_api_env(rq)->cfg->session_active_window);
    const char *values[] = {active_only ? "true" : "false", page.limit, page.offset, window};
    orc_dbreq_query(d, LIST_SQL, 4, values, on_list);
}
