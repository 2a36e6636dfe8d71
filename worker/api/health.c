/*
 * health.c - /api/health and its sub-routes, and the root document.
 *
 * Overall status: "unhealthy" (503) when this worker is draining or no
 * worker serves; "degraded" when a configured service is down, workers
 * are missing or no LLM provider is configured; else "healthy".
 * Services that are not configured report {"status": "disabled"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/api/cache_api.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/llm.h"
#include "worker/store/probe.h"
#include "worker/reqlog/reqlog.h"
#include "worker/store/redis.h"
#include "common/sysinfo.h"
#include "worker/store/db.h"

typedef json_object *(*service_fn)(orc_api_env_t *env);

/* This worker drains: its slot says so (worker.c sets both at once). */
static bool draining(const orc_api_env_t *env)
{
    return atomic_load(&env->slot->state) == ORC_SLOT_DRAINING;
}

static json_object *status_only(const char *status)
{
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "status", status);
    return o;
}

static void count_workers(const orc_shm_t *shm, int *serving, int *draining)
{
    *serving = *draining = 0;
    for (uint32_t i = 0; i < shm->nslots; i++) {
        uint32_t st = atomic_load_explicit(&shm->slots[i].state, memory_order_relaxed);
        *serving += st == ORC_SLOT_SERVING;
        *draining += st == ORC_SLOT_DRAINING;
    }
}

static json_object *svc_workers(orc_api_env_t *env)
{
    int serving, draining;
    count_workers(env->shm, &serving, &draining);
    const char *st = serving == 0 ? "unhealthy" : serving < env->cfg->workers ? "degraded" : "healthy";
    json_object *o = status_only(st);
    orc_json_add_int(o, "serving", serving);
    orc_json_add_int(o, "draining", draining);
    orc_json_add_int(o, "configured", env->cfg->workers);
    orc_json_add_int(o, "restarts", (int64_t)atomic_load(&env->shm->worker_restarts));
    orc_json_add_int(o, "generation", atomic_load(&env->shm->generation));
    return o;
}

static json_object *probe_service(const orc_probe_t *p)
{
    if (p == NULL)
        return status_only("disabled");
    const char *error = NULL;
    json_object *o = status_only(orc_probe_status(p, &error));
    if (error != NULL)
        orc_json_add_str(o, "error", error);
    return o;
}

static json_object *svc_database(orc_api_env_t *env)
{
    return orc_db_health(env->db);
}

/* The worker's own Redis client: what requests actually see. */
static json_object *svc_cache(orc_api_env_t *env)
{
    if (env->redis == NULL)
        return probe_service(env->probe_cache);
    orc_redis_status_t st = orc_redis_status(env->redis);
    json_object *o = status_only(st.status), *g = orc_api_cache_gateway_stats(env), *hr = NULL;
    if (st.error[0] != '\0')
        orc_json_add_str(o, "error", st.error);
    orc_json_add_bool(o, "enabled", env->cfg->enable_caching);
    orc_json_add_bool(o, "breaker_open", st.breaker_open);
    json_object_object_get_ex(g, "hit_rate", &hr);
    json_object_object_add(o, "hit_rate", json_object_get(hr));
    json_object_put(g);
    return o;
}

static json_object *svc_dwa(orc_api_env_t *env)
{
    orc_llm_t *llm = env->llm;
    int active = 0;
    for (int i = 0; i < llm->n; i++)
        active += llm->dwa->view[i].input.available;
    json_object *o = status_only(active > 0 ? "healthy" : "degraded");
    orc_json_add_int(o, "active_providers", active);
    orc_json_add_int(o, "total_providers", llm->n);
    orc_json_add_int(o, "configured_providers", orc_llm_configured_count(llm));
    orc_json_add_str(o, "selection_policy", orc_dwa_policy_name(llm->dwa->policy));
    orc_json_add_str(o, "routing_strategy", orc_dwa_strategy_name(llm->dwa->strategy));
    if (active == 0)
        orc_json_add_str(o, "detail",
                         orc_llm_configured_count(llm) ? "every configured provider is unavailable"
                                                       : "no LLM provider key is configured");
    return o;
}

static json_object *svc_llm_providers(orc_api_env_t *env)
{
    json_object *list = json_object_new_array();
    for (int i = 0; i < env->llm->n; i++) {
        const orc_provider_rt_t *p = &env->llm->providers[i];
        const orc_dwa_view_t *v = &env->llm->dwa->view[i];
        json_object *o = json_object_new_object();
        orc_json_add_str(o, "provider", p->cfg->name);
        orc_json_add_bool(o, "configured", p->cfg->configured);
        orc_json_add_str(o, "status",
                         !p->cfg->configured  ? "not_configured"
                         : v->input.available ? "available"
                                              : "unavailable");
        orc_json_add_str(o, "breaker", orc_breaker_state_name(v->breaker));
        json_object_array_add(list, o);
    }
    return list;
}

static json_object *svc_cpu(orc_api_env_t *env)
{
    double pct = orc_sysinfo_cpu_percent(env->sys);
    json_object *o = status_only(pct > 95.0 ? "degraded" : "healthy");
    orc_json_add_double(o, "usage_percent", pct);
    orc_json_add_int(o, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
    return o;
}

static json_object *svc_memory(orc_api_env_t *env)
{
    (void)env;
    uint64_t total, avail;
    if (orc_sysinfo_memory(&total, &avail) != ORC_OK)
        return status_only("unknown");
    double used = 100.0 * (double)(total - avail) / (double)total;
    json_object *o = status_only(used > 95.0 ? "degraded" : "healthy");
    orc_json_add_double(o, "usage_percent", used);
    orc_json_add_int(o, "available_mb", (int64_t)(avail / 1024));
    return o;
}

static json_object *svc_request_log(orc_api_env_t *env)
{
    return orc_reqlog_health(env->reqlog);
}

/* Client keys and their limits: "per gateway" while Redis cannot hold them
 * across replicas (degraded when Redis is configured but unreachable). */
static json_object *svc_limits(orc_api_env_t *env)
{
    orc_limits_stats_t l = orc_limits_stats(env->limits);
    orc_keystore_stats_t k = orc_keystore_stats(env->keys);
    bool redis_configured = env->cfg->redis_url[0] != '\0';
    json_object *o = status_only(l.fleet || !redis_configured ? "healthy" : "degraded");
    orc_json_add_str(o, "mode", l.fleet ? "fleet" : "per gateway");
    orc_json_add_int(o, "slices_asked", (int64_t)l.leases);
    orc_json_add_int(o, "counts_sent", (int64_t)l.flushes);
    orc_json_add_int(o, "spends_rebuilt", (int64_t)l.rebuilds);
    orc_json_add_int(o, "untracked_admissions", (int64_t)l.untracked);
    orc_json_add_int(o, "keys_cached", (int64_t)k.entries);
    orc_json_add_int(o, "key_lookups_redis", (int64_t)k.redis_hits);
    orc_json_add_int(o, "key_lookups_database", (int64_t)k.db_reads);
    orc_json_add_int(o, "key_changes_applied", (int64_t)k.changes_applied);
    orc_json_add_bool(o, "change_poll_ok", k.change_poll_ok);
    return o;
}

static const struct {
    const char *name;
    service_fn fn;
} services[] = {
    {"workers", svc_workers}, {"database", svc_database},           {"cache", svc_cache},
    {"dwa", svc_dwa},         {"llm_providers", svc_llm_providers}, {"cpu", svc_cpu},
    {"memory", svc_memory},   {"request_log", svc_request_log},     {"limits", svc_limits},
};

static const char *service_status(json_object *svc)
{
    json_object *st;
    if (!json_object_is_type(svc, json_type_object) || !json_object_object_get_ex(svc, "status", &st))
        return "healthy";
    return json_object_get_string(st);
}

/* Folds one service's status into the overall one. */
static const char *worse(const char *overall, const char *name, const char *st)
{
    if (strcmp(st, "unhealthy") == 0 && strcmp(name, "workers") == 0)
        return "unhealthy";
    if ((strcmp(st, "unhealthy") == 0 || strcmp(st, "degraded") == 0) && strcmp(overall, "unhealthy") != 0)
        return "degraded";
    return overall;
}

static json_object *health_document(orc_api_env_t *env, const char **overall)
{
    char ts[32];
    json_object *o = json_object_new_object(), *svcs = json_object_new_object();
    /* A worker draining for a reload still belongs to a healthy service. */
    bool stopping = atomic_load(&env->shm->master_state) == ORC_MASTER_STOPPING || env->master_gone;
    *overall = draining(env) && stopping ? "unhealthy" : "healthy";
    for (size_t i = 0; i < ORC_ARRAY_LEN(services); i++) {
        json_object *svc = services[i].fn(env);
        *overall = worse(*overall, services[i].name, service_status(svc));
        json_object_object_add(svcs, services[i].name, svc);
    }
    uint64_t now = orc_wall_ms();
    orc_iso8601(ts, sizeof(ts), now);
    orc_json_add_str(o, "status", *overall);
    orc_json_add_str(o, "timestamp", ts);
    orc_json_add_str(o, "version", ORC_VERSION);
    orc_json_add_double(o, "uptime", (double)(now - atomic_load(&env->shm->started_wall_ms)) / 1000.0);
    json_object_object_add(o, "services", svcs);
    return o;
}

void orc_api_health(orc_req_t *rq)
{
    const char *overall;
    json_object *o = health_document(orc_api_env(rq), &overall);
    orc_http_reply_json(rq, strcmp(overall, "unhealthy") == 0 ? 503 : 200, o);
}

void orc_api_health_live(orc_req_t *rq)
{
    char ts[32];
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    json_object *o = status_only("alive");
    orc_json_add_str(o, "timestamp", ts);
    orc_http_reply_json(rq, 200, o);
}

void orc_api_health_ready(orc_req_t *rq)
{
    orc_api_env_t *env = orc_api_env(rq);
    uint32_t ms = atomic_load(&env->shm->master_state);
    const char *why = draining(env)               ? "draining"
                      : ms == ORC_MASTER_STARTING ? "starting"
                      : ms == ORC_MASTER_STOPPING ? "stopping"
                                                  : NULL;
    if (why == NULL) {
        orc_http_reply_json(rq, 200, status_only("ready"));
        return;
    }
    json_object *o = status_only("not_ready");
    orc_json_add_str(o, "reason", why);
    orc_http_reply_json(rq, 503, o);
}

static json_object *worker_entry(const orc_slot_t *s, uint64_t now_wall, uint64_t now_mono)
{
    static const char *states[] = {"free", "starting", "serving", "draining"};
    json_object *o = json_object_new_object();
    uint32_t st = atomic_load(&s->state);
    orc_json_add_int(o, "pid", atomic_load(&s->pid));
    orc_json_add_int(o, "worker", atomic_load(&s->index));
    orc_json_add_int(o, "generation", atomic_load(&s->generation));
    orc_json_add_str(o, "state", st < ORC_ARRAY_LEN(states) ? states[st] : "?");
    orc_json_add_double(o, "uptime", (double)(now_wall - atomic_load(&s->started_wall_ms)) / 1000.0);
    orc_json_add_int(o, "requests_served", (int64_t)atomic_load(&s->served));
    orc_json_add_int(o, "in_flight", atomic_load(&s->inflight));
    orc_json_add_int(o, "rss_bytes", (int64_t)atomic_load(&s->rss_kb) * 1024);
    orc_json_add_double(o, "heartbeat_age", (double)(now_mono - atomic_load(&s->heartbeat_ms)) / 1000.0);
    return o;
}

void orc_api_health_detailed(orc_req_t *rq)
{
    orc_api_env_t *env = orc_api_env(rq);
    const char *overall;
    json_object *o = health_document(env, &overall);
    json_object *workers = json_object_new_array();
    uint64_t now_wall = orc_wall_ms(), now_mono = orc_now_ms();
    for (uint32_t i = 0; i < env->shm->nslots; i++)
        if (atomic_load(&env->shm->slots[i].state) != ORC_SLOT_FREE)
            json_object_array_add(workers, worker_entry(&env->shm->slots[i], now_wall, now_mono));
    json_object *master = json_object_new_object();
    orc_json_add_int(master, "pid", atomic_load(&env->shm->master_pid));
    orc_json_add_int(master, "generation", atomic_load(&env->shm->generation));
    orc_json_add_int(master, "reloads", (int64_t)atomic_load(&env->shm->reloads));
    orc_json_add_int(master, "reload_failures", (int64_t)atomic_load(&env->shm->reload_failures));
    orc_json_add_int(master, "worker_restarts", (int64_t)atomic_load(&env->shm->worker_restarts));
    json_object_object_add(o, "master", master);
    json_object_object_add(o, "workers", workers);
    json_object *me = json_object_new_object();
    orc_json_add_int(me, "pid", getpid());
    orc_json_add_int(me, "worker", env->index);
    orc_json_add_int(me, "generation", env->generation);
    json_object_object_add(o, "served_by", me);
    orc_http_reply_json(rq, strcmp(overall, "unhealthy") == 0 ? 503 : 200, o);
}

json_object *orc_api_health_of(orc_api_env_t *env, const char *name)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(services); i++)
        if (strcmp(services[i].name, name) == 0)
            return services[i].fn(env);
    return NULL;
}

void orc_api_health_service(orc_req_t *rq)
{
    const char *name = rq->match.params[0];
    json_object *health = orc_api_health_of(orc_api_env(rq), name);
    if (health != NULL) {
        json_object *o = json_object_new_object();
        orc_json_add_str(o, "service", name);
        json_object_object_add(o, "health", health);
        orc_http_reply_json(rq, 200, o);
        return;
    }
    orc_http_error(rq, 404, "SERVICE_NOT_FOUND",
                   "unknown service '%.64s' (known: workers, database, cache, dwa, llm_providers, cpu, "
                   "memory, request_log)",
                   name);
}

void orc_api_root(orc_req_t *rq)
{
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "name", "Orchesity");
    orc_json_add_str(o, "version", ORC_VERSION);
    orc_json_add_str(o, "health", "/api/health");
    orc_json_add_str(o, "metrics", "/metrics");
    orc_http_reply_json(rq, 200, o);
}
