/*
 * llm.h - the worker's runtime view of its configured LLM providers:
 * adapter, endpoint, statistics index in shared memory, in-flight count,
 * and the upstream client they share.
 */
#ifndef ORC_LLM_H
#define ORC_LLM_H

#include "common/config.h"
#include "common/provider_config.h"
#include "common/shm.h"
#include "worker/llm/providers/provider.h"
#include "worker/llm/upstream.h"

struct event_base;

typedef struct {
    const orc_provider_config_t *cfg;
    const orc_adapter_t *adapter;
    orc_endpoint_t endpoint;
    int index;     /* in the configuration's provider list */
    int shm_index; /* stable statistics index */
    int inflight;  /* calls of this worker now */
} orc_provider_rt_t;

struct orc_dwa_s;

typedef struct orc_llm_s {
    struct event_base *base;
    const orc_config_t *cfg; /* the generation this worker serves */
    orc_shm_t *shm;          /* the fleet's statistics and breakers */
    orc_slot_t *slot;        /* this worker's counters, written by it alone */
    orc_upstream_t *upstream;
    struct orc_dwa_s *dwa; /* borrowed: the selection over these providers, set by the worker */
    orc_provider_rt_t providers[ORC_PROVIDERS_MAX];
    int n;
} orc_llm_t;

orc_llm_t *orc_llm_new(struct event_base *base, const orc_config_t *cfg, orc_shm_t *shm, orc_slot_t *slot);
void orc_llm_free(orc_llm_t *llm);

orc_provider_rt_t *orc_llm_provider(orc_llm_t *llm, const char *name);
int orc_llm_configured_count(const orc_llm_t *llm);

/* USD cost of USAGE on MODEL with the configured prices (0 for an unpriced model). */
double orc_llm_cost(const orc_provider_rt_t *p, const char *model, const orc_usage_t *usage);

/* Statistics of one upstream attempt, in this worker's shm slot. */
void orc_llm_count_attempt(orc_llm_t *llm, const orc_provider_rt_t *p, orc_fail_class_t cls,
                           uint64_t latency_us, uint64_t ttfb_us, const orc_usage_t *usage, double cost,
                           bool retry);
void orc_llm_count_fallback(orc_llm_t *llm, const orc_provider_rt_t *p);
void orc_llm_inflight(orc_llm_t *llm, orc_provider_rt_t *p, int delta);

#endif
