/*
 * dwa_stats.h - the fleet-wide provider statistics the DWA selects on:
 * a sliding window of time buckets and time-decayed averages per worker
 * slot and provider in shared memory (single writer each), aggregated by
 * any worker.  Also the request-id ring that lets quality feedback find
 * the provider that answered.
 */
#ifndef ORC_DWA_STATS_H
#define ORC_DWA_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/shm.h"

typedef struct {
    uint64_t window_ms;    /* sliding window (default 60 s) */
    uint64_t half_life_ms; /* of the decayed averages (default 30 s) */
} orc_dwa_params_t;

typedef struct {
    uint32_t window_calls, window_successes, window_failures;
    double p95_ms;          /* 0 when the window has no success */
    bool decayed_known;     /* any call recorded since the last reset */
    double success_rate;    /* decayed */
    double latency_ms;      /* decayed average of successful calls */
    double ttft_ms;         /* decayed average time to first byte */
    double feedback;        /* mean 0..1, -1 when none */
    uint64_t last_error_ms; /* wall clock, 0 when none */
    char last_error[96];
    uint64_t last_success_ms; /* wall clock */
    int64_t inflight;
} orc_dwa_snapshot_t;

/* The worker of SLOT records one finished call to provider IDX. */
void orc_dwa_record(orc_shm_t *shm, orc_slot_t *slot, int idx, const orc_dwa_params_t *p, uint64_t now_ms,
                    bool success, uint64_t latency_us, uint64_t ttft_us, const char *error);

/* Fleet view of provider IDX (SUM: the summed counters, for feedback). */
void orc_dwa_snapshot(const orc_shm_t *shm, const orc_counters_t *sum, int idx, const orc_dwa_params_t *p,
                      uint64_t now_ms, orc_dwa_snapshot_t *out);

/* Statistics of IDX recorded before now stop counting (POST /api/llm/dwa/reset). */
void orc_dwa_reset(orc_shm_t *shm, int idx, uint64_t now_ms);

void orc_dwa_ring_put(orc_slot_t *slot, const char *request_id, int idx);
int orc_dwa_ring_find(const orc_shm_t *shm, const char *request_id); /* provider index, or -1 */

#endif
