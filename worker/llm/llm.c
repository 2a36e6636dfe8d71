/*
 * llm.c - providers at run time: built once per worker from its
 * configuration generation, read-only afterwards except for the in-flight
 * counts and the shm statistics this worker alone writes.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/orc.h"
#include "common/shm.h"
#include "common/util.h"
#include "worker/llm/llm.h"

static int provider_init(orc_llm_t *llm, int i)
{
    const orc_provider_config_t *c = &llm->cfg->providers.list[i];
    orc_provider_rt_t *p = &llm->providers[i];
    orc_provider_type_t type;
    if (orc_provider_type_parse(c->type, &type) != ORC_OK) {
        orc_log_crit("provider %s: unknown type %s", c->name, c->type);
        return ORC_ERR;
    }
    p->cfg = c;
    p->adapter = orc_adapter_for(type);
    p->index = i;
    p->shm_index = orc_shm_provider_find(llm->shm, c->name);
    p->endpoint = (orc_endpoint_t){.type = type,
                                   .base_url = c->base_url,
                                   .api_key = c->api_key,
                                   .anthropic_version = c->anthropic_version,
                                   .default_max_tokens = c->default_max_tokens};
    if (p->adapter == NULL || p->shm_index < 0) {
        orc_log_crit("provider %s: no adapter or statistics slot", c->name);
        return ORC_ERR;
    }
    return ORC_OK;
}

orc_llm_t *orc_llm_new(struct event_base *base, const orc_config_t *cfg, orc_shm_t *shm, orc_slot_t *slot)
{
    orc_llm_t *llm = calloc(1, sizeof(*llm));
    if (llm == NULL)
        return NULL;
    llm->base = base;
    llm->cfg = cfg;
    llm->shm = shm;
    llm->slot = slot;
    llm->upstream = orc_upstream_new(base);
    if (llm->upstream == NULL)
        goto fail;
    for (int i = 0; i < cfg->providers.n; i++, llm->n++)
        if (provider_init(llm, i) != ORC_OK)
            goto fail;
    return llm;
fail:
    orc_llm_free(llm);
    return NULL;
}

void orc_llm_free(orc_llm_t *llm)
{
    if (llm == NULL)
        return;
    orc_upstream_free(llm->upstream);
    free(llm);
}

orc_provider_rt_t *orc_llm_provider(orc_llm_t *llm, const char *name)
{
    for (int i = 0; i < llm->n; i++)
        if (strcmp(llm->providers[i].cfg->name, name) == 0)
            return &llm->providers[i];
    return NULL;
}

int orc_llm_configured_count(const orc_llm_t *llm)
{
    int n = 0;
    for (int i = 0; i < llm->n; i++)
        n += llm->providers[i].cfg->configured;
    return n;
}

double orc_llm_cost(const orc_provider_rt_t *p, const char *model, const orc_usage_t *u)
{
    const orc_model_config_t *m = orc_provider_config_model(p->cfg, model);
    if (m == NULL || !u->known)
        return 0.0;
    int64_t fresh = u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
    double usd = (double)ORC_MAX(fresh, 0) * m->input + (double)u->cached_tokens * m->cached_input +
                 (double)u->cache_write_tokens * (m->cache_write > 0 ? m->cache_write : m->input) +
                 (double)u->completion_tokens * m->output;
    return usd / 1e6;
}

void orc_llm_count_attempt(orc_llm_t *llm, const orc_provider_rt_t *p, orc_fail_class_t cls,
                           uint64_t latency_us, uint64_t ttfb_us, const orc_usage_t *usage, double cost,
                           bool retry)
{
    orc_slot_t *slot = llm->slot;
    orc_provider_counters_t *c = &slot->counters.providers[p->shm_index];
    orc_counter_add(&c->calls, 1);
    if (retry)
        orc_counter_add(&c->retries, 1);
    if (cls != ORC_FAIL_NONE) {
        orc_counter_add(&c->failures[cls < ORC_SHM_FAIL_CLASSES ? cls : 0], 1);
        return;
    }
    orc_counter_add(&c->successes, 1);
    orc_counter_add(&c->latency_us_sum, latency_us);
    orc_counter_add(&c->ttft_us_sum, ttfb_us);
    if (usage != NULL && usage->known) {
        orc_counter_add(&c->tokens_in, (uint64_t)ORC_MAX(usage->prompt_tokens, 0));
        orc_counter_add(&c->tokens_out, (uint64_t)ORC_MAX(usage->completion_tokens, 0));
    }
    orc_counter_add(&c->cost_nano_usd, (uint64_t)(cost * 1e9));
    atomic_store_explicit(&slot->provider_last_success_ms[p->shm_index], orc_wall_ms(), memory_order_relaxed);
}

void orc_llm_count_fallback(orc_llm_t *llm, const orc_provider_rt_t *p)
{
    orc_counter_add(&llm->slot->counters.providers[p->shm_index].fallbacks, 1);
}

void orc_llm_inflight(orc_llm_t *llm, orc_provider_rt_t *p, int delta)
{
    p->inflight += delta;
    atomic_store_explicit(&llm->slot->provider_inflight[p->shm_index], p->inflight, memory_order_relaxed);
}
