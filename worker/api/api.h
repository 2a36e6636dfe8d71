/*
 * api.h - the route handlers, one file per route family, and what they
 * work with.
 *
 * The worker (worker.c) builds every service, owns it, and hands the
 * handlers an orc_api_env_t through the HTTP server: a handler reaches
 * it as orc_api_env(rq).
 */
#ifndef ORC_API_H
#define ORC_API_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/shm.h"
#include "common/sysinfo.h"
#include "worker/auth/auth.h"
#include "worker/auth/keystore.h"
#include "worker/cache/cache.h"
#include "worker/http/http.h"
#include "worker/llm/llm.h"
#include "worker/reqlog/reqlog.h"
#include "worker/store/db.h"
#include "worker/store/probe.h"
#include "worker/store/redis.h"

typedef struct orc_api_env_s {
    const orc_config_t *cfg; /* the generation this worker serves */
    orc_shm_t *shm;
    orc_slot_t *slot; /* this worker's, written by it alone */
    struct event_base *base;
    int index; /* this worker's number and generation */
    uint32_t generation;
    int channel_fd; /* to the master */
    uint64_t started_wall_ms;
    orc_llm_t *llm;
    orc_cache_t *cache;       /* always; it bypasses without Redis */
    orc_redis_t *redis;       /* NULL without cache.redis_url */
    orc_db_t *db;             /* disabled without database.url */
    orc_reqlog_t *reqlog;     /* NULL when requests are not logged */
    orc_keystore_t *keys;     /* client keys (worker/auth) */
    orc_limits_t *limits;     /* their limits and budgets */
    orc_probe_t *probe_cache; /* reachability of the cache's Redis */
    orc_sysinfo_t *sys;
    bool master_gone; /* set by the worker (draining is in the slot's state) */
    /* set by the handlers: work without a client (asynchronous
     * orchestrations) that a drain waits for */
    int background;
} orc_api_env_t;

static inline orc_api_env_t *orc_api_env(const orc_req_t *rq)
{
    return rq->app;
}

/* The route table (routes.c), given to the HTTP server by the worker. */
extern const orc_route_t orc_api_routes[];
extern const size_t orc_api_nroutes;

void orc_api_root(orc_req_t *rq);
void orc_api_health(orc_req_t *rq);
void orc_api_health_live(orc_req_t *rq);
void orc_api_health_ready(orc_req_t *rq);
void orc_api_health_detailed(orc_req_t *rq);
void orc_api_health_service(orc_req_t *rq);
/* The entry NAME ("database", "cache", ...) of /api/health's services, or NULL. */
struct json_object *orc_api_health_of(orc_api_env_t *env, const char *name);
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
/* client keys, team budgets and spend (keys_api.c) */
void orc_api_keys_create(orc_req_t *rq);
void orc_api_keys_list(orc_req_t *rq);
void orc_api_keys_get(orc_req_t *rq);
void orc_api_keys_update(orc_req_t *rq);
void orc_api_keys_revoke(orc_req_t *rq);
void orc_api_keys_rotate(orc_req_t *rq);
void orc_api_keys_spend(orc_req_t *rq);
void orc_api_teams_list(orc_req_t *rq);
void orc_api_teams_put(orc_req_t *rq);
void orc_api_spend(orc_req_t *rq);
void orc_openai_error(orc_req_t *rq, int status, const char *type, const char *param, const char *code,
                      const char *message);

#endif
