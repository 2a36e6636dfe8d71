/*
 * routes.c - the route table: method, path pattern, handler, metrics
 * label, admin flag.  Entries 0 and 1 only name the metrics of requests
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

const orc_route_t orc_api_routes[] = {
    [ORC_ROUTE_UNMATCHED] = {0, NULL, NULL, "unmatched", false},
    [ORC_ROUTE_PROTOCOL] = {0, NULL, NULL, "protocol_error", false},
    {GET, "/", orc_api_root, "root", false},
    {GET, "/api/health", orc_api_health, "health", false},
    {GET, "/api/health/live", orc_api_health_live, "health_live", false},
    {GET, "/api/health/ready", orc_api_health_ready, "health_ready", false},
    {GET, "/api/health/detailed", orc_api_health_detailed, "health_detailed", false},
    {GET, "/api/health/service/{name}", orc_api_health_service, "health_service", false},
    {GET, "/metrics", orc_api_metrics, "metrics", false},
    {GET, "/api/admin/config", orc_api_admin_config, "admin_config", true},
    {POST, "/api/admin/reload", orc_api_admin_reload, "admin_reload", true},
    {POST, "/api/llm/orchestrate", orc_api_llm_orchestrate, "llm_orchestrate", false, true},
    {POST, "/api/llm/test/{provider}", orc_api_llm_test, "llm_test", false, true},
    {GET, "/api/llm/status/{request_id}", orc_api_llm_status, "llm_status", false},
    {GET, "/api/llm/providers", orc_api_llm_providers, "llm_providers", false},
    {GET, "/api/llm/stats", orc_api_llm_stats, "llm_stats", false},
    {GET, "/api/llm/dwa/stats", orc_api_dwa_stats, "dwa_stats", false},
    {POST, "/api/llm/dwa/reset", orc_api_dwa_reset, "dwa_reset", true},
    {GET, "/api/llm/dwa/best-provider", orc_api_dwa_best, "dwa_best_provider", false},
    {POST, "/api/llm/feedback", orc_api_feedback, "llm_feedback", false},
    {POST, "/v1/chat/completions", orc_api_openai_chat, "v1_chat_completions", false, true},
    {GET, "/v1/models", orc_api_openai_models, "v1_models", false},
    {POST, "/v1/messages", orc_api_anthropic_messages, "v1_messages", false, true},
    {GET, "/api/db/cache/stats", orc_api_cache_stats, "db_cache_stats", false},
    {ORC_METHOD_DELETE | POST, "/api/db/cache/clear", orc_api_cache_clear, "db_cache_clear", true},
    {ORC_METHOD_DELETE, "/api/db/cache/clear/{pattern}", orc_api_cache_clear_pattern,
     "db_cache_clear_pattern", true},
    {GET, "/api/db/stats", orc_api_db_stats, "db_stats", false},
    {GET, "/api/db/requests", orc_api_db_requests, "db_requests", false},
    {GET, "/api/db/requests/recent", orc_api_db_requests_recent, "db_requests_recent", false},
    {GET, "/api/db/provider-metrics", orc_api_db_provider_metrics, "db_provider_metrics", false},
    {GET, "/api/db/health", orc_api_db_health, "db_health", false},
    {POST, "/api/user/session", orc_api_user_session_create, "user_session_create", false},
    {GET, "/api/user/session/{id}", orc_api_user_session_get, "user_session_get", false},
    {DELETE, "/api/user/session/{id}", orc_api_user_session_delete, "user_session_delete", false},
    {GET, "/api/user/sessions", orc_api_user_sessions, "user_sessions", true},
    /* client keys, team budgets and spend (keys_api.c) */
    {POST, "/api/admin/keys", orc_api_keys_create, "admin_keys_create", true},
    {GET, "/api/admin/keys", orc_api_keys_list, "admin_keys_list", true},
    {GET, "/api/admin/keys/{id}", orc_api_keys_get, "admin_keys_get", true},
    {ORC_METHOD_PATCH, "/api/admin/keys/{id}", orc_api_keys_update, "admin_keys_update", true},
    {DELETE, "/api/admin/keys/{id}", orc_api_keys_revoke, "admin_keys_delete", true},
    {POST, "/api/admin/keys/{id}/revoke", orc_api_keys_revoke, "admin_keys_revoke", true},
    {POST, "/api/admin/keys/{id}/rotate", orc_api_keys_rotate, "admin_keys_rotate", true},
    {GET, "/api/admin/keys/{id}/spend", orc_api_keys_spend, "admin_keys_spend", true},
    {GET, "/api/admin/teams", orc_api_teams_list, "admin_teams_list", true},
    {ORC_METHOD_PUT, "/api/admin/teams/{team}", orc_api_teams_put, "admin_teams_put", true},
    {GET, "/api/admin/spend", orc_api_spend, "admin_spend", true},
};

const size_t orc_api_nroutes = ORC_ARRAY_LEN(orc_api_routes);

_Static_assert(ORC_ARRAY_LEN(orc_api_routes) <= ORC_ROUTES_MAX, "raise ORC_ROUTES_MAX");
