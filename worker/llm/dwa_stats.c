/*
 * dwa_stats.c - window buckets, decayed sums, p95, feedback ring.
 *
 * Writer (the slot's worker only): bucket = now / (window / 12); a bucket
 * holding an older epoch is cleared before use.  Decayed sums S are kept
 * as of updated_ms: on a new sample S = S * 2^(-dt / half_life) + x.
 * Readers decay every slot's sums to now and add them, and add the buckets
 * whose epoch lies in the window.  A reset stores a time; writers and
 * readers ignore anything recorded before it.  No lock anywhere: a reader
 * racing a writer sees a slightly stale or partial bucket, never garbage
 * that outlives the window.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "common/util.h"
#include "worker/llm/dwa_stats.h"

static const uint32_t hist_bounds_ms[ORC_DWA_HIST - 1] = {50,    100,   200,   300,   400,  500,  750,
                                                          1000,  1500,  2000,  3000,  4000, 5000, 7500,
                                                          10000, 15000, 20000, 30000, 60000};

static double get_d(const _Atomic uint64_t *w)
{
    uint64_t bits = atomic_load_explicit(w, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static void set_d(_Atomic uint64_t *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    atomic_store_explicit(w, bits, memory_order_relaxed);
}

static uint64_t bucket_ms(const orc_dwa_params_t *p)
{
    return ORC_MAX(p->window_ms / ORC_DWA_BUCKETS, 1);
}

static int hist_bin(uint64_t ms)
{
    for (int i = 0; i < ORC_DWA_HIST - 1; i++)
        if (ms <= hist_bounds_ms[i])
            return i;
    return ORC_DWA_HIST - 1;
}

static orc_dwa_bucket_t *current_bucket(orc_dwa_slot_t *d, const orc_dwa_params_t *p, uint64_t now_ms)
{
    uint64_t epoch = now_ms / bucket_ms(p) + 1;
    orc_dwa_bucket_t *b = &d->buckets[epoch % ORC_DWA_BUCKETS];
    if (atomic_load_explicit(&b->epoch, memory_order_relaxed) != epoch) {
        atomic_store(&b->epoch, 0); /* readers skip it while it is cleared */
        atomic_store(&b->calls, 0);
        atomic_store(&b->successes, 0);
        atomic_store(&b->failures, 0);
        for (int i = 0; i < ORC_DWA_HIST; i++)
            atomic_store(&b->hist[i], 0);
        atomic_store(&b->epoch, epoch);
    }
    return b;
}

static void decay_to(orc_dwa_slot_t *d, const orc_dwa_params_t *p, uint64_t now_ms, uint64_t reset_ms)
{
    uint64_t then = atomic_load(&d->updated_ms);
    double f = 0.0;
    if (then >= reset_ms && then != 0)
        f = exp2(-(double)(now_ms > then ? now_ms - then : 0) / (double)ORC_MAX(p->half_life_ms, 1));
    set_d(&d->latency_sum, get_d(&d->latency_sum) * f);
    set_d(&d->ttft_sum, get_d(&d->ttft_sum) * f);
    set_d(&d->success_sum, get_d(&d->success_sum) * f);
    set_d(&d->weight_sum, get_d(&d->weight_sum) * f);
    atomic_store(&d->updated_ms, now_ms);
}

void orc_dwa_record(orc_shm_t *shm, orc_slot_t *slot, int idx, const orc_dwa_params_t *p, uint64_t now_ms,
                    bool success, uint64_t latency_us, uint64_t ttft_us, const char *error)
{
    if (idx < 0 || idx >= ORC_SHM_PROVIDERS)
        return;
    orc_dwa_slot_t *d = &slot->dwa[idx];
    orc_dwa_bucket_t *b = current_bucket(d, p, now_ms);
    atomic_fetch_add_explicit(&b->calls, 1, memory_order_relaxed);
    if (success) {
        atomic_fetch_add_explicit(&b->successes, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->hist[hist_bin(latency_us / 1000)], 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&b->failures, 1, memory_order_relaxed);
    }
    decay_to(d, p, now_ms, atomic_load(&shm->dwa_reset_ms[idx]));
    set_d(&d->weight_sum, get_d(&d->weight_sum) + 1.0);
    if (success) {
        set_d(&d->success_sum, get_d(&d->success_sum) + 1.0);
        set_d(&d->latency_sum, get_d(&d->latency_sum) + (double)latency_us / 1000.0);
        set_d(&d->ttft_sum, get_d(&d->ttft_sum) + (double)ttft_us / 1000.0);
    } else if (error != NULL) {
        snprintf(d->last_error, sizeof(d->last_error), "%s", error);
        atomic_store(&d->last_error_ms, orc_wall_ms());
    }
}

static uint64_t bucket_sum_window(const orc_shm_t *shm, int idx, const orc_dwa_params_t *p, uint64_t now_ms,
                                  orc_dwa_snapshot_t *out, uint64_t *hist)
{
    uint64_t now_epoch = now_ms / bucket_ms(p) + 1;
    uint64_t first = now_epoch >= ORC_DWA_BUCKETS ? now_epoch - ORC_DWA_BUCKETS + 1 : 1;
    uint64_t reset_ms = atomic_load(&((orc_shm_t *)shm)->dwa_reset_ms[idx]);
    uint64_t successes = 0;
    if (reset_ms != 0) /* the bucket holding the reset also holds calls from before it */
        first = ORC_MAX(first, reset_ms / bucket_ms(p) + 2);
    for (uint32_t s = 0; s < shm->nslots; s++) {
        const orc_dwa_slot_t *d = &shm->slots[s].dwa[idx];
        for (int i = 0; i < ORC_DWA_BUCKETS; i++) {
            const orc_dwa_bucket_t *b = &d->buckets[i];
            uint64_t e = atomic_load_explicit(&b->epoch, memory_order_relaxed);
            if (e == 0 || e < first || e > now_epoch)
                continue;
            out->window_calls += atomic_load_explicit(&b->calls, memory_order_relaxed);
            out->window_successes += atomic_load_explicit(&b->successes, memory_order_relaxed);
            out->window_failures += atomic_load_explicit(&b->failures, memory_order_relaxed);
            for (int h = 0; h < ORC_DWA_HIST; h++)
                hist[h] += atomic_load_explicit(&b->hist[h], memory_order_relaxed);
        }
    }
    for (int h = 0; h < ORC_DWA_HIST; h++)
        successes += hist[h];
    return successes;
}

static double p95_of(const uint64_t *hist, uint64_t total)
{
    uint64_t seen = 0, want = (total * 95 + 99) / 100;
    for (int h = 0; h < ORC_DWA_HIST; h++) {
        seen += hist[h];
        if (seen >= want && total > 0)
            return h < ORC_DWA_HIST - 1 ? (double)hist_bounds_ms[h] : 120000.0;
    }
    return 0.0;
}

static void decayed(const orc_shm_t *shm, int idx, const orc_dwa_params_t *p, uint64_t now_ms,
                    orc_dwa_snapshot_t *out)
{
    double lat = 0, ttft = 0, succ = 0, weight = 0;
    uint64_t reset_ms = atomic_load(&((orc_shm_t *)shm)->dwa_reset_ms[idx]);
    for (uint32_t s = 0; s < shm->nslots; s++) {
        const orc_dwa_slot_t *d = &shm->slots[s].dwa[idx];
        uint64_t then = atomic_load(&d->updated_ms);
        if (then == 0 || then < reset_ms)
            continue;
        double f = exp2(-(double)(now_ms > then ? now_ms - then : 0) / (double)ORC_MAX(p->half_life_ms, 1));
        lat += get_d(&d->latency_sum) * f;
        ttft += get_d(&d->ttft_sum) * f;
        succ += get_d(&d->success_sum) * f;
        weight += get_d(&d->weight_sum) * f;
        uint64_t err_ms = atomic_load(&d->last_error_ms);
        if (err_ms > out->last_error_ms) {
            out->last_error_ms = err_ms;
            snprintf(out->last_error, sizeof(out->last_error), "%.*s", (int)sizeof(d->last_error) - 1,
                     d->last_error);
        }
        uint64_t ok_ms = atomic_load(&shm->slots[s].provider_last_success_ms[idx]);
        out->last_success_ms = ORC_MAX(out->last_success_ms, ok_ms);
        if (atomic_load(&shm->slots[s].state) != ORC_SLOT_FREE)
            out->inflight += atomic_load(&shm->slots[s].provider_inflight[idx]);
    }
    out->decayed_known = weight > 1e-9;
    out->success_rate = out->decayed_known ? succ / weight : 1.0;
    out->latency_ms = succ > 1e-9 ? lat / succ : 0.0;
    out->ttft_ms = succ > 1e-9 ? ttft / succ : 0.0;
}

void orc_dwa_snapshot(const orc_shm_t *shm, const orc_counters_t *sum, int idx, const orc_dwa_params_t *p,
                      uint64_t now_ms, orc_dwa_snapshot_t *out)
{
    uint64_t hist[ORC_DWA_HIST] = {0};
    memset(out, 0, sizeof(*out));
    out->feedback = -1.0;
    if (idx < 0 || idx >= ORC_SHM_PROVIDERS)
        return;
    uint64_t successes = bucket_sum_window(shm, idx, p, now_ms, out, hist);
    out->p95_ms = p95_of(hist, successes);
    decayed(shm, idx, p, now_ms, out);
    if (sum != NULL && sum->providers[idx].feedback_count > 0)
        out->feedback =
            (double)sum->providers[idx].feedback_milli / 1000.0 / (double)sum->providers[idx].feedback_count;
}

void orc_dwa_reset(orc_shm_t *shm, int idx, uint64_t now_ms)
{
    if (idx >= 0 && idx < ORC_SHM_PROVIDERS)
        atomic_store(&shm->dwa_reset_ms[idx], now_ms);
}

void orc_dwa_ring_put(orc_slot_t *slot, const char *request_id, int idx)
{
    uint32_t n = atomic_fetch_add_explicit(&slot->ring_next, 1, memory_order_relaxed) % ORC_DWA_RING;
    orc_dwa_ring_entry_t *e = &slot->ring[n];
    atomic_store(&e->provider, -1); /* readers skip the entry while its id changes */
    snprintf(e->request_id, sizeof(e->request_id), "%s", request_id);
    atomic_store(&e->provider, idx);
}

int orc_dwa_ring_find(const orc_shm_t *shm, const char *request_id)
{
    for (uint32_t s = 0; s < shm->nslots; s++) {
        for (int i = 0; i < ORC_DWA_RING; i++) {
            const orc_dwa_ring_entry_t *e = &shm->slots[s].ring[i];
            int32_t p = atomic_load(&e->provider);
            if (p >= 0 && strncmp(e->request_id, request_id, sizeof(e->request_id)) == 0 &&
                atomic_load(&e->provider) == p)
                return p;
        }
    }
    return -1;
}
