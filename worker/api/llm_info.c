/*
 * llm_info.c - GET /api/llm/providers and GET /api/llm/stats: the
 * configured providers and their fleet-wide call statistics (all workers,
 * live and retired, from shared memory).
 */
#include <stdlib.h>

#include "common/url.h"
#include "common/json.h"
#include "common/orc.h"
#include "common/shm.h"
#include "worker/api/api.h"
#include "worker/llm/llm.h"

static int64_t inflight_of(const orc_shm_t *shm, int idx)
{
    int64_t n = 0;
    for (uint32_t s = 0; s < shm->nslots; s++)
        if (atomic_load(&shm->slots[s].state) != ORC_SLOT_FREE)
            n += atomic_load(&shm->slots[s].provider_inflight[idx]);
    return n;
}

static uint64_t last_success_of(const orc_shm_t *shm, int idx)
{
    uint64_t best = 0;
    for (uint32_t s = 0; s < shm->nslots; s++)
        best = ORC_MAX(best, atomic_load(&shm->slots[s].provider_last_success_ms[idx]));
    return best;
}

static json_object *stats_json(const orc_shm_t *shm, const orc_counters_t *c, int idx)
{
    const orc_provider_counters_t *p = &c->providers[idx];
    json_object *o = json_object_new_object(), *by = json_object_new_object();
    uint64_t failures = 0;
    for (int k = 1; k < ORC_FAIL_CLASSES; k++) {
        failures += p->failures[k];
        orc_json_add_int(by, orc_fail_class_name((orc_fail_class_t)k), (int64_t)p->failures[k]);
    }
    orc_json_add_int(o, "requests", (int64_t)p->calls);
    orc_json_add_int(o, "successes", (int64_t)p->successes);
    orc_json_add_int(o, "failures", (int64_t)failures);
    json_object_object_add(o, "failures_by_class", by);
    orc_json_add_double(o, "success_rate", p->calls ? (double)p->successes / (double)p->calls : 0.0);
    orc_json_add_double(o, "average_response_time",
                        p->successes ? (double)p->latency_us_sum / (double)p->successes / 1e6 : 0.0);
    orc_json_add_double(o, "average_time_to_first_byte",
                        p->successes ? (double)p->ttft_us_sum / (double)p->successes / 1e6 : 0.0);
    orc_json_add_int(o, "tokens_in", (int64_t)p->tokens_in);
    orc_json_add_int(o, "tokens_out", (int64_t)p->tokens_out);
    orc_json_add_double(o, "cost_usd", (double)p->cost_nano_usd / 1e9);
    orc_json_add_int(o, "retries", (int64_t)p->retries);
    orc_json_add_int(o, "fallbacks", (int64_t)p->fallbacks);
    orc_json_add_int(o, "in_flight", inflight_of(shm, idx));
    uint64_t last = last_success_of(shm, idx);
    json_object_object_add(o, "last_success_time",
                           last ? json_object_new_double((double)(last / 1000)) : NULL);
    return o;
}

static json_object *provider_json(const orc_provider_rt_t *p, const orc_shm_t *shm, const orc_counters_t *c)
{
    json_object *o = json_object_new_object(), *models = json_object_new_array();
    orc_json_add_str(o, "name", p->cfg->name);
    orc_json_add_str(o, "type", p->cfg->type);
    orc_json_add_bool(o, "configured", p->cfg->configured);
    orc_json_add_bool(o, "available", p->cfg->configured && p->inflight < p->cfg->max_inflight);
    orc_json_add_bool(o, "enabled", p->cfg->enabled);
    char url[1024];
    orc_url_redacted(p->cfg->base_url, url, sizeof(url));
    orc_json_add_str(o, "base_url", url); /* never a password or a key written in the URL */
    orc_json_add_str(o, "default_model", p->cfg->default_model);
    for (int m = 0; m < p->cfg->nmodels; m++)
        json_object_array_add(models, json_object_new_string(p->cfg->models[m].id));
    json_object_object_add(o, "models", models);
    json_object_object_add(o, "stats", stats_json(shm, c, p->shm_index));
    return o;
}

static void add_system(json_object *o, const orc_config_t *cfg)
{
    orc_json_add_str(o, "routing_strategy", cfg->routing_strategy);
    orc_json_add_int(o, "max_concurrent_requests", cfg->max_concurrent_requests);
    orc_json_add_bool(o, "enable_caching", cfg->enable_caching);
}

static orc_counters_t *sum(orc_req_t *rq)
{
    orc_counters_t *c = malloc(sizeof(*c));
    if (c == NULL)
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot build the statistics now");
    else
        orc_shm_sum(orc_api_env(rq)->shm, c);
    return c;
}

void orc_api_llm_providers(orc_req_t *rq)
{
    orc_llm_t *llm = orc_api_env(rq)->llm;
    orc_counters_t *c = sum(rq);
    if (c == NULL)
        return;
    json_object *o = json_object_new_object(), *list = json_object_new_array();
    for (int i = 0; i < llm->n; i++)
        json_object_array_add(list, provider_json(&llm->providers[i], orc_api_env(rq)->shm, c));
    json_object_object_add(o, "providers", list);
    add_system(o, orc_api_env(rq)->cfg);
    free(c);
    orc_http_reply_json(rq, 200, o);
}

void orc_api_llm_stats(orc_req_t *rq)
{
    orc_llm_t *llm = orc_api_env(rq)->llm;
    orc_counters_t *c = sum(rq);
    if (c == NULL)
        return;
    json_object *o = json_object_new_object(), *stats = json_object_new_object();
    json_object *sys = json_object_new_object();
    for (int i = 0; i < llm->n; i++)
        json_object_object_add(stats, llm->providers[i].cfg->name,
                               stats_json(orc_api_env(rq)->shm, c, llm->providers[i].shm_index));
    json_object_object_add(o, "provider_stats", stats);
    add_system(sys, orc_api_env(rq)->cfg);
    orc_json_add_bool(sys, "lightweight_mode", false);
    json_object_object_add(o, "system_info", sys);
    free(c);
    orc_http_reply_json(rq, 200, o);
}
