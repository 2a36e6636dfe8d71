/*
 * dwa.h - the Dynamic Weight Algorithm: score each candidate provider from
 * the fleet-wide statistics snapshot, then order the candidates (the first
 * is called, the rest are its fallbacks).
 *
 * Pure: the snapshot, the random source and the round-robin counter are
 * passed in, so every policy and strategy is unit-tested.
 */
#ifndef ORC_DWA_H
#define ORC_DWA_H

#include <stdbool.h>
#include <stdint.h>

#define ORC_DWA_CANDIDATES 16

typedef enum {
    ORC_DWA_MAX_ACCURACY = 0,
    ORC_DWA_MIN_COST,
    ORC_DWA_MIN_LATENCY,
    ORC_DWA_WEIGHTED_COMPOSITE,
    ORC_DWA_POLICY_ROUND_ROBIN,
} orc_dwa_policy_t;

typedef enum {
    ORC_DWA_LOAD_BALANCED = 0, /* weighted random in proportion to score, plus exploration */
    ORC_DWA_ROUND_ROBIN,
    ORC_DWA_RANDOM,
    ORC_DWA_PRIORITY, /* configuration order */
} orc_dwa_strategy_t;

/* What selection knows about one candidate (a provider with its model). */
typedef struct {
    bool available;       /* configured, breaker admits, Retry-After passed, below its in-flight cap */
    double success_rate;  /* 0..1 over the window (decayed average when the window is empty) */
    double feedback;      /* 0..1 mean quality feedback, < 0 when none */
    double latency_ms;    /* decayed average total latency of successful calls */
    double ttft_ms;       /* decayed average time to first byte */
    double p95_ms;        /* window p95 latency, 0 when unknown */
    double cost_per_call; /* USD, expected from the price table and the average tokens */
    double load;          /* in flight / cap, 0..1 */
    uint32_t window_calls;
} orc_dwa_input_t;

typedef struct {
    double accuracy, latency, cost, availability, load; /* weighted_composite weights, >= 0 */
    double exploration; /* share of load_balanced picks made uniformly among available candidates (default
                           0.05) */
} orc_dwa_weights_t;

void orc_dwa_weights_defaults(orc_dwa_weights_t *w); /* 0.3, 0.2, 0.3, 0.15, 0.05; exploration 0.05 */
int orc_dwa_policy_parse(const char *name, orc_dwa_policy_t *out);
int orc_dwa_strategy_parse(const char *name, orc_dwa_strategy_t *out);
const char *orc_dwa_policy_name(orc_dwa_policy_t p);
const char *orc_dwa_strategy_name(orc_dwa_strategy_t s);

/* Accuracy as the original reported it: success rate blended with feedback
 * (0.8 with no calls and no feedback yet). */
double orc_dwa_accuracy(const orc_dwa_input_t *in);

/* Scores in (0, 1] for available candidates, 0 for unavailable ones. */
void orc_dwa_score(const orc_dwa_input_t *in, int n, orc_dwa_policy_t policy, const orc_dwa_weights_t *w,
                   double *score);

/* Writes a permutation of the N candidates (at most ORC_DWA_CANDIDATES)
 * into ORDER: available ones first (chosen by STRATEGY: load_balanced
 * picks the first by weighted random on SCORE, with probability
 * EXPLORATION uniformly; the rest follow by descending score), unavailable
 * ones last (still tried as a last resort).  RNG returns uniform 64-bit
 * numbers; RR is a counter the caller increments per request.  Returns the
 * number of available candidates. */
int orc_dwa_order(const orc_dwa_input_t *in, const double *score, int n, orc_dwa_strategy_t strategy,
                  double exploration, uint64_t (*rng)(void *arg), void *rng_arg, uint64_t rr, int *order);

#endif
