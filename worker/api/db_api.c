/*
 * db_api.c - the /api/db routes on PostgreSQL: GET /api/db/stats,
 * /api/db/requests, /api/db/requests/recent, /api/db/provider-metrics and
 * /api/db/health.  (The /api/db/cache routes are the response cache's.)
 *
 * Each route is one parameterised statement that builds its whole JSON
 * document in SQL (json_build_object, json_agg), passed through as it
 * comes: numbers stay numbers, timestamps are ISO 8601 in UTC with
 * milliseconds.  Live provider state (circuit breakers, consecutive
 * failures) comes from shared memory and enters the statement as a JSON
 * parameter.  Every list is bounded by a validated limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/orc.h"
#include "worker/api/api.h"
#include "worker/api/dbreq.h"
#include "worker/store/db.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/llm.h"
#include "worker/reqlog/reqlog.h"

#define ORC_DB_LIST_DEFAULT 50
#define ORC_DB_LIST_MAX 1000
#define ORC_DB_OFFSET_MAX 100000000

/* $1 active window (s), $2 provider health {NAME: bool} */
static const char STATS_SQL[] =
    "SELECT json_build_object("
    " 'total_requests', r.n, 'active_sessions', s.n, 'total_workflows', w.n,"
    " 'cache_hit_rate', r.hit_rate, 'average_response_time', r.avg_rt,"
    " 'provider_health', $2::json)::text"
    " FROM (SELECT count(*) AS n, COALESCE(avg(cache_hit::int), 0)::float8 AS hit_rate,"
    "        COALESCE(avg(total_response_time) FILTER (WHERE status = 'completed'), 0)::float8 AS avg_rt"
    "       FROM orchestration_requests) r,"
    "      (SELECT count(*) AS n FROM user_sessions"
    "       WHERE is_active AND last_activity > now() - make_interval(secs => $1::int)) s,"
    "      (SELECT count(*) AS n FROM workflows) w";

/* $1 limit, $2 offset, $3 key id or NULL */
static const char REQUESTS_SQL[] =
    "SELECT json_build_object("
    " 'requests', COALESCE((SELECT json_agg(json_build_object("
    "     'id', r.id, 'request_id', r.request_id, 'prompt', r.prompt, 'providers', r.providers,"
    "     'model', r.model, 'status', r.status, 'key_id', r.key_id, 'team', r.team,"
    "     'created_at', to_char(r.created_at AT TIME ZONE 'UTC', " ORC_SQL_ISO "),"
    "     'response_count', (SELECT count(*) FROM orchestration_results x"
    "                        WHERE x.request_id = r.request_id))"
    "   ORDER BY r.created_at DESC, r.id DESC)"
    "   FROM (SELECT * FROM orchestration_requests WHERE $3::text IS NULL OR key_id = $3::text"
    "         ORDER BY created_at DESC, id DESC LIMIT $1::int OFFSET $2::int) r), '[]'::json),"
    " 'total', (SELECT count(*) FROM orchestration_requests WHERE $3::text IS NULL OR key_id = $3::text),"
    " 'limit', $1::int, 'offset', $2::int)::text";

/* $1 limit, $2 session id or NULL, $3 key id or NULL */
static const char RECENT_SQL[] =
    "SELECT COALESCE(json_agg(json_build_object("
    "  'id', r.id, 'request_id', r.request_id, 'prompt', r.prompt, 'providers', r.providers,"
    "  'model', r.model, 'status', r.status, 'session_id', r.session_id, 'key_id', r.key_id, 'team', r.team,"
    "  'created_at', to_char(r.created_at AT TIME ZONE 'UTC', " ORC_SQL_ISO "),"
    "  'total_response_time', r.total_response_time, 'tokens_used', r.tokens_used,"
    "  'results', COALESCE((SELECT json_agg(json_build_object("
    "      'provider', x.provider, 'model', x.model, 'response', x.response,"
    "      'response_time', x.response_time, 'tokens_used', x.tokens_used,"
    "      'status', x.status, 'error', x.error) ORDER BY x.attempt)"
    "    FROM orchestration_results x WHERE x.request_id = r.request_id), '[]'::json),"
    "  'errors', COALESCE(r.errors, '[]'::jsonb))"
    " ORDER BY r.created_at DESC, r.id DESC), '[]'::json)::text"
    " FROM (SELECT * FROM orchestration_requests WHERE ($2::text IS NULL OR session_id = $2::text)"
    "       AND ($3::text IS NULL OR key_id = $3::text)"
    "       ORDER BY created_at DESC, id DESC LIMIT $1::int) r";

/* $1 live provider state {NAME: {is_healthy, consecutive_failures}} */
static const char METRICS_SQL[] =
    "SELECT COALESCE(json_agg(json_build_object("
    "  'provider', m.provider, 'model', m.model, 'total_requests', m.total_requests,"
    "  'success_rate', CASE WHEN m.total_requests > 0"
    "                  THEN m.successful_requests::float8 / m.total_requests ELSE 0 END,"
    "  'average_response_time', m.average_response_time, 'total_tokens_used', m.total_tokens_used,"
    "  'estimated_cost', m.estimated_cost,"
    "  'is_healthy', COALESCE(($1::jsonb -> m.provider ->> 'is_healthy')::boolean, m.is_healthy),"
    "  'consecutive_failures',"
    "    COALESCE(($1::jsonb -> m.provider ->> 'consecutive_failures')::int, m.consecutive_failures),"
    "  'last_updated', to_char(m.last_updated AT TIME ZONE 'UTC', " ORC_SQL_ISO "))"
    " ORDER BY m.provider, m.model), '[]'::json)::text"
    " FROM (SELECT * FROM provider_metrics ORDER BY provider, model LIMIT 10000) m";

static const char PING_SQL[] = "SELECT 1";

/* ---- live provider state from shared memory --------------------------------- */

/* A provider is healthy when it is configured and its breaker is not open. */
static json_object *live_providers(orc_api_env_t *env, bool detailed)
{
    orc_llm_t *llm = env->llm;
    json_object *o = json_object_new_object();
    orc_dwa_refresh(llm->dwa);
    for (int i = 0; i < llm->n; i++) {
        const orc_dwa_view_t *v = &llm->dwa->view[i];
        bool healthy = llm->providers[i].cfg->configured && v->breaker != ORC_BREAKER_OPEN;
        json_object *p = json_object_new_boolean(healthy);
        if (detailed) {
            json_object_put(p);
            p = json_object_new_object();
            orc_json_add_bool(p, "is_healthy", healthy);
            orc_json_add_int(p, "consecutive_failures", v->consecutive_failures);
        }
        json_object_object_add(o, llm->providers[i].cfg->name, p);
    }
    return o;
}

static const char *json_text(json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- routes ------------------------------------------------------------------ */

static void on_document(orc_dbreq_t *d, const PGresult *res)
{
    orc_dbreq_reply_value(d, 200, res);
}

void orc_api_db_stats(orc_req_t *rq)
{
    char window[16];
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    json_object *health = live_providers(orc_api_env(rq), false);
    snprintf(window, sizeof(window), "%d", orc_api_env(rq)->cfg->session_active_window);
    const char *values[] = {window, json_text(health)};
    orc_dbreq_query(d, STATS_SQL, 2, values, on_document); /* copies the values */
    json_object_put(health);
}

/* Whose requests RQ may list: a client key sees its own; the others all,
 * or those of ?key_id=.  ORC_ERR after answering 400. */
static int key_filter(orc_req_t *rq, char *buf, size_t size, const char **out)
{
    const orc_key_t *k = orc_auth_key(rq);
    *out = NULL;
    if (!orc_auth_sees_all(rq)) {
        *out = k->id;
        return ORC_OK;
    }
    const char *given = orc_http_query_get(rq, "key_id", buf, size);
    if (given == NULL || given[0] == '\0')
        return ORC_OK;
    if (!orc_apikey_id_valid(given)) {
        orc_http_error(rq, 400, "INVALID_PARAMETER", "key_id must be a key id (key_ and 16 hex digits)");
        return ORC_ERR;
    }
    *out = given;
    return ORC_OK;
}

void orc_api_db_requests(orc_req_t *rq)
{
    orc_dbreq_page_t page;
    char kbuf[64];
    const char *key_id;
    if (orc_dbreq_param_page(rq, ORC_DB_LIST_DEFAULT, ORC_DB_LIST_MAX, ORC_DB_OFFSET_MAX, &page) != ORC_OK ||
        key_filter(rq, kbuf, sizeof(kbuf), &key_id) != ORC_OK)
        return;
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    const char *values[] = {page.limit, page.offset, key_id};
    orc_dbreq_query(d, REQUESTS_SQL, 3, values, on_document);
}

void orc_api_db_requests_recent(orc_req_t *rq)
{
    long limit;
    char l[24], sid[1024], kbuf[64];
    const char *key_id;
    if (orc_dbreq_param_int(rq, "limit", ORC_DB_LIST_DEFAULT, 1, ORC_DB_LIST_MAX, &limit) != ORC_OK ||
        key_filter(rq, kbuf, sizeof(kbuf), &key_id) != ORC_OK)
        return;
    const char *session = orc_http_query_get(rq, "session_id", sid, sizeof(sid));
    if (session != NULL && session[0] == '\0')
        session = NULL; /* "?session_id=" is no filter */
    if (session != NULL && !orc_reqlog_session_valid(session)) {
        orc_http_error(rq, 400, "INVALID_PARAMETER", "session_id must be 1 to %d printable ASCII characters",
                       ORC_REQLOG_SESSION_MAX);
        return;
    }
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    snprintf(l, sizeof(l), "%ld", limit);
    const char *values[] = {l, session, key_id};
    orc_dbreq_query(d, RECENT_SQL, 3, values, on_document);
}

void orc_api_db_provider_metrics(orc_req_t *rq)
{
    orc_dbreq_t *d = orc_dbreq_new(rq, 0);
    if (d == NULL)
        return;
    json_object *live = live_providers(orc_api_env(rq), true);
    const char *values[] = {json_text(live)};
    orc_dbreq_query(d, METRICS_SQL, 1, values, on_document);
    json_object_put(live);
}

/* ---- health -------------------------------------------------------------------- */

/* Answers the health document once the database answered (or not). */
static void health_reply(orc_dbreq_t *d, const char *db_error)
{
    orc_api_env_t *env = orc_api_env(d->rq);
    uint64_t *started = d->data;
    json_object *o = json_object_new_object(), *svcs = json_object_new_object();
    json_object *db = orc_api_health_of(env, "database"), *cache = orc_api_health_of(env, "cache");
    if (db_error != NULL) {
        json_object_object_add(db, "status", json_object_new_string("unhealthy"));
        json_object_object_add(db, "error", json_object_new_string(db_error));
    } else {
        orc_json_add_double(db, "latency_ms", (double)(orc_now_us() - *started) / 1000.0);
    }
    const char *dbst = json_object_get_string(json_object_object_get(db, "status"));
    const char *cst = json_object_get_string(json_object_object_get(cache, "status"));
    bool healthy = strcmp(dbst, "healthy") == 0;
    orc_json_add_str(o, "status", !healthy ? dbst : strcmp(cst, "unhealthy") == 0 ? "degraded" : "healthy");
    json_object_object_add(svcs, "database", db);
    json_object_object_add(svcs, "cache", cache);
    json_object_object_add(o, "services", svcs);
    size_t len = 0;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    orc_dbreq_reply(d, healthy ? 200 : 503, text, len);
    json_object_put(o);
}

static void on_ping(orc_dbreq_t *d, const PGresult *res)
{
    (void)res;
    health_reply(d, NULL);
}

static void on_ping_failed(orc_dbreq_t *d, const char *why)
{
    health_reply(d, why);
}

void orc_api_db_health(orc_req_t *rq)
{
    orc_api_env_t *env = orc_api_env(rq);
    orc_dbreq_t *d = orc_dbreq_new(rq, sizeof(uint64_t));
    if (d == NULL)
        return;
    *(uint64_t *)d->data = orc_now_us();
    if (!orc_db_enabled(env->db)) {
        health_reply(d, NULL); /* reports "disabled" */
        return;
    }
    d->unavailable_cb = on_ping_failed;
    orc_dbreq_query(d, PING_SQL, 0, NULL, on_ping);
}
