/*
 * dwa_select.c - snapshot, ranking and breaker glue of the DWA.
 *
 * The snapshot is rebuilt every 250 ms from shared memory (every worker's
 * window and decayed statistics, the breakers, in-flight gauges); ranking
 * reads only the snapshot, and the live breaker words, which it must read
 * fresh so that one probe and one Retry-After hold fleet-wide.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/llm/dwa_select.h"

#define REFRESH_MS 250

/* Every configured provider can be a candidate of one ranking. */
_Static_assert(ORC_DWA_CANDIDATES >= ORC_PROVIDERS_MAX, "raise ORC_DWA_CANDIDATES");
#define DEFAULT_TOKENS_IN 500 /* cost estimate before any call */
#define DEFAULT_TOKENS_OUT 200

static uint64_t rng(void *arg)
{
    (void)arg;
    return orc_random_u64();
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    orc_dwa_refresh(arg);
}

static void configure(orc_dwa_t *d, const orc_config_t *c)
{
    d->params.window_ms = (uint64_t)c->dwa_window_s * 1000u;
    d->params.half_life_ms = (uint64_t)c->dwa_half_life_s * 1000u;
    d->breaker = (orc_breaker_config_t){.failure_threshold = (uint32_t)c->dwa_failure_threshold,
                                        .failure_rate = c->dwa_failure_rate,
                                        .min_calls = (uint32_t)c->dwa_min_calls,
                                        .cooldown_ms = (uint32_t)c->dwa_cooldown_ms,
                                        .cooldown_max_ms = (uint32_t)c->dwa_cooldown_max_ms,
                                        .probe_timeout_ms = (uint32_t)c->dwa_probe_timeout_ms};
    d->weights = (orc_dwa_weights_t){c->dwa_w_accuracy,     c->dwa_w_latency, c->dwa_w_cost,
                                     c->dwa_w_availability, c->dwa_w_load,    c->dwa_exploration};
    if (orc_dwa_policy_parse(c->selection_policy, &d->policy) != ORC_OK)
        d->policy = ORC_DWA_WEIGHTED_COMPOSITE;
    if (orc_dwa_strategy_parse(c->routing_strategy, &d->strategy) != ORC_OK)
        d->strategy = ORC_DWA_LOAD_BALANCED;
}

orc_dwa_t *orc_dwa_new(struct event_base *base, const orc_config_t *cfg, orc_shm_t *shm, orc_slot_t *slot,
                       const orc_provider_rt_t *providers, int n)
{
    orc_dwa_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->providers = providers;
    d->n = n;
    d->shm = shm;
    d->slot = slot;
    configure(d, cfg);
    d->timer = event_new(base, -1, EV_PERSIST, on_refresh, d);
    struct timeval every = {0, REFRESH_MS * 1000};
    if (d->timer == NULL || event_add(d->timer, &every) != 0) {
        orc_dwa_free(d);
        return NULL;
    }
    orc_dwa_refresh(d);
    return d;
}

void orc_dwa_free(orc_dwa_t *d)
{
    if (d == NULL)
        return;
    if (d->timer)
        event_free(d->timer);
    free(d);
}

/* Expected USD of one call: average tokens so far (or a guess) at the default model's prices. */
static double cost_per_call(const orc_provider_rt_t *p, const orc_provider_counters_t *c)
{
    orc_usage_t u = {.known = true};
    u.prompt_tokens = c->successes ? (int64_t)(c->tokens_in / c->successes) : DEFAULT_TOKENS_IN;
    u.completion_tokens = c->successes ? (int64_t)(c->tokens_out / c->successes) : DEFAULT_TOKENS_OUT;
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    if (orc_provider_config_model(p->cfg, p->cfg->default_model) == NULL)
        return -1.0; /* no price configured: the DWA treats the cost as unknown */
    return orc_llm_cost(p, p->cfg->default_model, &u);
}

static void view_one(orc_dwa_t *d, const orc_counters_t *sum, int i, uint64_t now)
{
    const orc_provider_rt_t *p = &d->providers[i];
    orc_dwa_view_t *v = &d->view[i];
    orc_shm_t *shm = d->shm;
    orc_dwa_snapshot(shm, sum, p->shm_index, &d->params, now, &v->snap);
    orc_breaker_t *b = &shm->breakers[p->shm_index];
    v->breaker = orc_breaker_state(b, &v->open_until_ms, &v->openings);
    v->consecutive_failures = atomic_load(&b->consecutive_failures);
    bool open =
        v->breaker != ORC_BREAKER_CLOSED && !(v->breaker == ORC_BREAKER_OPEN && now >= v->open_until_ms);
    bool waiting = atomic_load(&b->not_before_ms) > now;
    orc_dwa_input_t *in = &v->input;
    in->available = p->cfg->configured && !open && !waiting && p->inflight < p->cfg->max_inflight;
    in->window_calls = v->snap.window_calls;
    in->success_rate =
        v->snap.window_calls ? (double)v->snap.window_successes / v->snap.window_calls : v->snap.success_rate;
    in->feedback = v->snap.feedback;
    in->latency_ms = v->snap.latency_ms;
    in->ttft_ms = v->snap.ttft_ms;
    in->p95_ms = v->snap.p95_ms;
    in->cost_per_call = cost_per_call(p, &sum->providers[p->shm_index]);
    in->load = p->cfg->max_inflight ? (double)v->snap.inflight / (double)p->cfg->max_inflight : 0.0;
}

void orc_dwa_refresh(orc_dwa_t *d)
{
    orc_counters_t *sum = malloc(sizeof(*sum));
    if (sum == NULL)
        return;
    uint64_t now = orc_now_ms();
    orc_dwa_input_t in[ORC_DWA_CANDIDATES];
    double score[ORC_DWA_CANDIDATES], total = 0;
    int n = ORC_MIN(d->n, ORC_DWA_CANDIDATES);
    orc_shm_sum(d->shm, sum);
    for (int i = 0; i < n; i++) {
        view_one(d, sum, i, now);
        in[i] = d->view[i].input;
    }
    orc_dwa_score(in, n, d->policy, &d->weights, score);
    for (int i = 0; i < n; i++)
        total += score[i];
    for (int i = 0; i < n; i++) {
        d->view[i].score = score[i];
        d->view[i].share = total > 0 ? score[i] / total : 0.0;
    }
    d->refreshed_ms = now;
    free(sum);
}

void orc_dwa_rank(orc_dwa_t *d, int *providers, char (*models)[128], int n)
{
    orc_dwa_input_t in[ORC_DWA_CANDIDATES] = {0};
    double score[ORC_DWA_CANDIDATES] = {0};
    int order[ORC_DWA_CANDIDATES], keep[ORC_DWA_CANDIDATES];
    char keep_models[ORC_DWA_CANDIDATES][128];
    n = ORC_MIN(n, ORC_DWA_CANDIDATES);
    for (int i = 0; i < n; i++) {
        ORC_ASSERT(providers[i] >= 0 && providers[i] < (int)ORC_ARRAY_LEN(d->view));
        in[i] = d->view[providers[i]].input;
        score[i] = d->view[providers[i]].score;
        keep[i] = providers[i];
        memcpy(keep_models[i], models[i], sizeof(keep_models[i]));
    }
    orc_dwa_order(in, score, n, d->strategy, d->weights.exploration, rng, NULL, d->rr++, order);
    for (int i = 0; i < n; i++) {
        providers[i] = keep[order[i]];
        memcpy(models[i], keep_models[order[i]], sizeof(keep_models[0]));
    }
}

static orc_breaker_t *breaker_of(orc_dwa_t *d, int idx)
{
    return &d->shm->breakers[d->providers[idx].shm_index];
}

orc_admit_t orc_dwa_admit(orc_dwa_t *d, int idx, char *why, size_t whylen, int64_t *wait_ms, bool *limited)
{
    uint64_t now = orc_now_ms();
    orc_breaker_t *b = breaker_of(d, idx);
    orc_admit_t a = orc_breaker_admit(b, &d->breaker, now);
    if (a == ORC_ADMIT_NO) {
        uint64_t until = 0, not_before = atomic_load(&b->not_before_ms);
        uint32_t openings;
        orc_breaker_state_t st = orc_breaker_state(b, &until, &openings);
        *limited = not_before > now;
        *wait_ms = *limited ? (int64_t)(not_before - now) : until > now ? (int64_t)(until - now) : -1;
        if (*limited)
            snprintf(why, whylen, "rate limited: no call before its Retry-After (%llu ms)",
                     (unsigned long long)(not_before - now));
        else
            snprintf(why, whylen, "circuit %s", orc_breaker_state_name(st));
    }
    return a;
}

void orc_dwa_outcome(orc_dwa_t *d, int idx, bool probe, orc_fail_class_t cls, int64_t retry_after_ms,
                     uint64_t latency_us, uint64_t ttfb_us, const char *error)
{
    const orc_provider_rt_t *p = &d->providers[idx];
    orc_breaker_t *b = breaker_of(d, idx);
    uint64_t now = orc_now_ms();
    if (cls == ORC_FAIL_CLIENT) { /* the provider answered: it is up */
        orc_breaker_success(b, probe, now);
        return;
    }
    orc_dwa_record(d->shm, d->slot, p->shm_index, &d->params, now, cls == ORC_FAIL_NONE, latency_us, ttfb_us,
                   error);
    if (cls == ORC_FAIL_NONE) {
        orc_breaker_success(b, probe, now);
        return;
    }
    if (retry_after_ms > 0)
        orc_breaker_retry_after(b, now + (uint64_t)retry_after_ms);
    orc_dwa_snapshot_t s;
    orc_dwa_snapshot(d->shm, NULL, p->shm_index, &d->params, now, &s);
    orc_breaker_failure(b, &d->breaker, probe, now, s.window_calls, s.window_failures);
}

void orc_dwa_probe_abandoned(orc_dwa_t *d, int idx)
{
    orc_breaker_probe_abandoned(breaker_of(d, idx));
}
