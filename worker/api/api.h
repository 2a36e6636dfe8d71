/*
 * api.h - the route handlers, one file per route family.
 */
#ifndef ORC_API_H
#define ORC_API_H

#include "worker/http/http.h"

void orc_api_root(orc_req_t *rq);
void orc_api_health(orc_req_t *rq);
void orc_api_health_live(orc_req_t *rq);
void orc_api_health_ready(orc_req_t *rq);
void orc_api_health_detailed(orc_req_t *rq);
void orc_api_health_service(orc_req_t *rq);
/* The entry NAME ("database", "cache", ...) of /api/health's services, or NULL. */
struct json_object *orc_api_health_of(orc_worker_t *w, const char *name);
void orc_api_metrics(orc_req_t *rq);
void orc_api_admin_config(orc_req_t *rq);
void orc_api_admin_reload(orc_req_t *rq);
void orc_api_llm_orchestrate(orc_req_t *rq);
void orc_api_llm_test(orc_req_t *rq);
void orc_api_llm_providers(orc_req_t *rq);
void orc_api_llm_stats(orc_req_t *rq);
void orc_api_openai_chat(orc_req_t *rq);
void orc_api_dwa_stats(orc_req_t *rq);
void orc_api_dwa_reset(orc_req_t *rq);
void orc_api_dwa_best(orc_req_t *rq);
void orc_api_feedback(orc_req_t *rq);
void orc_api_openai_models(orc_req_t *rq);
void orc_api_anthropic_messages(orc_req_t *rq);
void orc_api_db_stats(orc_req_t *rq);
void orc_api_db_requests(orc_req_t *rq);
void orc_api_db_requests_recent(orc_req_t *rq);
void orc_api_db_provider_metrics(orc_req_t *rq);
void orc_api_db_health(orc_req_t *rq);
void orc_api_user_session_create(orc_req_t *rq);
void orc_api_user_session_get(orc_req_t *rq);
void orc_api_user_session_delete(orc_req_t *rq);
void orc_api_user_sessions(orc_req_t *rq);
void orc_openai_error(orc_req_t *rq, int status, const char *type, const char *param, const char *code,
                      const char *message);

#endif
