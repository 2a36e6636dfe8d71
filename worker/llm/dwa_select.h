/*
 * dwa_select.h - the worker's side of the DWA: a snapshot of the fleet's
 * provider statistics refreshed on a timer (off the request path), the
 * ranking of providers for "auto" requests and fallbacks, and the circuit
 * breaker checks and reports around each upstream call.
 */
#ifndef ORC_DWA_SELECT_H
#define ORC_DWA_SELECT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/breaker.h"
#include "worker/llm/dwa.h"
#include "worker/llm/dwa_stats.h"
#include "worker/llm/llm.h"
#include "worker/llm/providers/provider.h"

struct event;
struct event_base;

typedef struct {
    orc_dwa_snapshot_t snap;
    orc_dwa_input_t input;
    double score;
    double share; /* chance of being picked first, from the scores */
    orc_breaker_state_t breaker;
    uint64_t open_until_ms;
    uint32_t openings;
    uint32_t consecutive_failures;
} orc_dwa_view_t;

typedef struct orc_dwa_s {
    const orc_provider_rt_t *providers; /* the worker's providers (their in-flight counts are read live) */
    int n;
    orc_shm_t *shm;   /* the fleet's statistics and breakers */
    orc_slot_t *slot; /* this worker's statistics, written by it alone */
    orc_dwa_params_t params;
    orc_breaker_config_t breaker;
    orc_dwa_weights_t weights;
    orc_dwa_policy_t policy;
    orc_dwa_strategy_t strategy;
    uint64_t rr;
    struct event *timer;
    orc_dwa_view_t view[ORC_PROVIDERS_MAX]; /* by provider configuration index */
    uint64_t refreshed_ms;
} orc_dwa_t;

/* Ranks PROVIDERS (N of them, borrowed) from the statistics in SHM; this
 * worker's outcomes go to SLOT.  Refreshes on BASE every 250 ms. */
orc_dwa_t *orc_dwa_new(struct event_base *base, const orc_config_t *cfg, orc_shm_t *shm, orc_slot_t *slot,
                       const orc_provider_rt_t *providers, int n);
void orc_dwa_free(orc_dwa_t *d);
void orc_dwa_refresh(orc_dwa_t *d); /* also runs every 250 ms */

/* Orders the configuration indexes in PROVIDERS (N of them) for a request
 * that did not pin a provider; MODELS follow their providers. */
void orc_dwa_rank(orc_dwa_t *d, int *providers, char (*models)[128], int n);

/* Around one upstream call to provider IDX (configuration index). */
/* ORC_ADMIT_NO also says why, how long to wait, and whether it is a Retry-After. */
orc_admit_t orc_dwa_admit(orc_dwa_t *d, int idx, char *why, size_t whylen, int64_t *wait_ms, bool *limited);
void orc_dwa_outcome(orc_dwa_t *d, int idx, bool probe, orc_fail_class_t cls, int64_t retry_after_ms,
                     uint64_t latency_us, uint64_t ttfb_us, const char *error);
void orc_dwa_probe_abandoned(orc_dwa_t *d, int idx);

#endif
