/*
 * routes.c - the route table: method, path pattern, handler, metrics
 * label, who may call it and its error format.  Entries 0 and 1 only name the metrics of requests
 * that never reached a handler.
 */
#include "common/orc.h"
#include "common/shm.h"
#include "worker/api/api.h"
#include "worker/api/cache_api.h"
#include "worker/api/llm_async.h"

#define GET ORC_METHOD_GET | ORC_METHOD_HEAD
#define POST ORC_METHOD_POST
#define DELETE ORC_METHOD_DELETE
#define PATCH ORC_METHOD_PATCH
#define PUT ORC_METHOD_PUT

/* A route of the Orchesity API; OPENAI and ANTHROPIC routes answer errors in
 * those APIs' formats; LOGGED routes are LLM calls with a request-log record. */
#define ROUTE(m, path, fn, label, who)                                                                       \
    {                                                                                                        \
        .methods = m, .pattern = path, .handler = fn, .name = label, .access = who                           \
    }
#define LOGGED(m, path, fn, label, fmt)                                                                      \
    {                                                                                                        \
        .methods = m, .pattern = path, .handler = fn, .name = label, .access = ORC_ACCESS_LLM,               \
        .dialect = fmt, .logged = true                                                                       \
    }
#define PUBLIC ORC_ACCESS_PUBLIC
#define OBSERVE ORC_ACCESS_OBSERVE
#define LLM ORC_ACCESS_LLM
#define HISTORY ORC_ACCESS_HISTORY
#define ADMIN ORC_ACCESS_ADMIN

const orc_route_t orc_api_routes[] = {
    [ORC_ROUTE_UNMATCHED] = {.name = "unmatched"},
    [ORC_ROUTE_PROTOCOL] = {.name = "protocol_error"},
    ROUTE(GET, "/", orc_api_root, "root", PUBLIC),
    ROUTE(GET, "/api/health/live", orc_api_health_live, "health_live", PUBLIC),
    ROUTE(GET, "/api/health/ready", orc_api_health_ready, "health_ready", PUBLIC),
    ROUTE(GET, "/api/health", orc_api_health, "health", OBSERVE),
    ROUTE(GET, "/api/health/detailed", orc_api_health_detailed, "health_detailed", OBSERVE),
    ROUTE(GET, "/api/health/service/{name}", orc_api_health_service, "health_service", OBSERVE),
    ROUTE(GET, "/metrics", orc_api_metrics, "metrics", OBSERVE),
    ROUTE(GET, "/api/admin/config", orc_api_admin_config, "admin_config", ADMIN),
    ROUTE(POST, "/api/admin/reload", orc_api_admin_reload, "admin_reload", ADMIN),
    LOGGED(POST, "/api/llm/orchestrate", orc_api_llm_orchestrate, "llm_orchestrate", ORC_DIALECT_ORCHESITY),
    {.methods = POST,
     .pattern = "/api/llm/test/{provider}",
     .handler = orc_api_llm_test,
     .name = "llm_test",
     .access = ADMIN,
     .logged = true},
    ROUTE(GET, "/api/llm/status/{request_id}", orc_api_llm_status, "llm_status", LLM),
    ROUTE(GET, "/api/llm/providers", orc_api_llm_providers, "llm_providers", LLM),
    ROUTE(GET, "/api/llm/stats", orc_api_llm_stats, "llm_stats", LLM),
    ROUTE(GET, "/api/llm/dwa/stats", orc_api_dwa_stats, "dwa_stats", LLM),
    ROUTE(POST, "/api/llm/dwa/reset", orc_api_dwa_reset, "dwa_reset", ADMIN),
    ROUTE(GET, "/api/llm/dwa/best-provider", orc_api_dwa_best, "dwa_best_provider", LLM),
    {.methods = POST,
     .pattern = "/api/llm/feedback",
     .handler = orc_api_feedback,
     .name = "llm_feedback",
     .access = LLM,
     .local_when_open = true},
    LOGGED(POST, "/v1/chat/completions", orc_api_openai_chat, "v1_chat_completions", ORC_DIALECT_OPENAI),
    {.methods = GET,
     .pattern = "/v1/models",
     .handler = orc_api_openai_models,
     .name = "v1_models",
     .access = LLM,
     .dialect = ORC_DIALECT_OPENAI},
    LOGGED(POST, "/v1/messages", orc_api_anthropic_messages, "v1_messages", ORC_DIALECT_ANTHROPIC),
    ROUTE(GET, "/api/db/cache/stats", orc_api_cache_stats, "db_cache_stats", OBSERVE),
    ROUTE(DELETE | POST, "/api/db/cache/clear", orc_api_cache_clear, "db_cache_clear", ADMIN),
    ROUTE(DELETE, "/api/db/cache/clear/{pattern}", orc_api_cache_clear_pattern, "db_cache_clear_pattern",
          ADMIN),
    ROUTE(GET, "/api/db/stats", orc_api_db_stats, "db_stats", OBSERVE),
    ROUTE(GET, "/api/db/requests", orc_api_db_requests, "db_requests", HISTORY),
    ROUTE(GET, "/api/db/requests/recent", orc_api_db_requests_recent, "db_requests_recent", HISTORY),
    ROUTE(GET, "/api/db/provider-metrics", orc_api_db_provider_metrics, "db_provider_metrics", OBSERVE),
    ROUTE(GET, "/api/db/health", orc_api_db_health, "db_health", OBSERVE),
    ROUTE(POST, "/api/user/session", orc_api_user_session_create, "user_session_create", HISTORY),
    ROUTE(GET, "/api/user/session/{id}", orc_api_user_session_get, "user_session_get", HISTORY),
    ROUTE(DELETE, "/api/user/session/{id}", orc_api_user_session_delete, "user_session_delete", HISTORY),
    ROUTE(GET, "/api/user/sessions", orc_api_user_sessions, "user_sessions", ADMIN),
    /* client keys, team budgets and spend (keys_api.c) */
    ROUTE(POST, "/api/admin/keys", orc_api_keys_create, "admin_keys_create", ADMIN),
    ROUTE(GET, "/api/admin/keys", orc_api_keys_list, "admin_keys_list", ADMIN),
    ROUTE(GET, "/api/admin/keys/{id}", orc_api_keys_get, "admin_keys_get", ADMIN),
    ROUTE(PATCH, "/api/admin/keys/{id}", orc_api_keys_update, "admin_keys_update", ADMIN),
    ROUTE(DELETE, "/api/admin/keys/{id}", orc_api_keys_revoke, "admin_keys_delete", ADMIN),
    ROUTE(POST, "/api/admin/keys/{id}/revoke", orc_api_keys_revoke, "admin_keys_revoke", ADMIN),
    ROUTE(POST, "/api/admin/keys/{id}/rotate", orc_api_keys_rotate, "admin_keys_rotate", ADMIN),
    ROUTE(GET, "/api/admin/keys/{id}/spend", orc_api_keys_spend, "admin_keys_spend", ADMIN),
    ROUTE(GET, "/api/admin/teams", orc_api_teams_list, "admin_teams_list", ADMIN),
    ROUTE(PUT, "/api/admin/teams/{team}", orc_api_teams_put, "admin_teams_put", ADMIN),
    ROUTE(GET, "/api/admin/spend", orc_api_spend, "admin_spend", ADMIN),
};

const size_t orc_api_nroutes = ORC_ARRAY_LEN(orc_api_routes);

_Static_assert(ORC_ARRAY_LEN(orc_api_routes) <= ORC_ROUTES_MAX, "raise ORC_ROUTES_MAX");
