/*
 * test_dwa.c - DWA scoring policies on hand-made statistics, the floor
 * that keeps every available candidate reachable, and each ordering
 * strategy with a deterministic random source (shares over 100k draws).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "common/orc.h"
#include "worker/llm/dwa.h"

TestSuite(dwa, .timeout = 10);

#define DRAWS 100000
#define EPS 1e-6 /* the cost epsilon of dwa.c, USD */

static uint64_t splitmix64(void *arg)
{
    uint64_t *x = arg;
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static orc_dwa_input_t cand(double success_rate, double latency_ms, double cost)
{
    orc_dwa_input_t in;
    memset(&in, 0, sizeof(in));
    in.available = true;
    in.success_rate = success_rate;
    in.feedback = -1;
    in.latency_ms = latency_ms;
    in.ttft_ms = latency_ms / 2;
    in.cost_per_call = cost;
    in.window_calls = 100;
    return in;
}

static void score(const orc_dwa_input_t *in, int n, orc_dwa_policy_t p, double *s)
{
    orc_dwa_weights_t w;
    orc_dwa_weights_defaults(&w);
    orc_dwa_score(in, n, p, &w, s);
}

/* Share of each candidate as the first of the order over DRAWS requests. */
static void first_shares(const orc_dwa_input_t *in, const double *s, int n, orc_dwa_strategy_t strategy,
                         double exploration, double *share)
{
    uint64_t seed = 42;
    int order[ORC_DWA_CANDIDATES];
    for (int i = 0; i < n; i++)
        share[i] = 0;
    for (int d = 0; d < DRAWS; d++) {
        orc_dwa_order(in, s, n, strategy, exploration, splitmix64, &seed, (uint64_t)d, order);
        share[order[0]] += 1.0 / DRAWS;
    }
}

static void assert_permutation(const int *order, int n)
{
    bool seen[ORC_DWA_CANDIDATES] = {false};
    for (int i = 0; i < n; i++) {
        cr_assert(order[i] >= 0 && order[i] < n, "order[%d] = %d out of range", i, order[i]);
        cr_assert_not(seen[order[i]], "candidate %d twice", order[i]);
        seen[order[i]] = true;
    }
}

/* ---- names and defaults ------------------------------------------------ */

Test(dwa, weights_defaults)
{
    orc_dwa_weights_t w;
    memset(&w, 0xFF, sizeof(w));
    orc_dwa_weights_defaults(&w);
    cr_assert_float_eq(w.accuracy, 0.3, 1e-12);
    cr_assert_float_eq(w.latency, 0.2, 1e-12);
    cr_assert_float_eq(w.cost, 0.3, 1e-12);
    cr_assert_float_eq(w.availability, 0.15, 1e-12);
    cr_assert_float_eq(w.load, 0.05, 1e-12);
    cr_assert_float_eq(w.exploration, 0.05, 1e-12);
}

Test(dwa, policy_parse_and_name)
{
    static const char *names[] = {"max_accuracy", "min_cost", "min_latency", "weighted_composite",
                                  "round_robin"};
    for (int i = 0; i < (int)ORC_ARRAY_LEN(names); i++) {
        orc_dwa_policy_t p = (orc_dwa_policy_t)99;
        cr_assert_eq(orc_dwa_policy_parse(names[i], &p), ORC_OK, "%s", names[i]);
        cr_assert_eq((int)p, i);
        cr_assert_str_eq(orc_dwa_policy_name(p), names[i]);
    }
    orc_dwa_policy_t p = ORC_DWA_MIN_COST;
    cr_assert_eq(orc_dwa_policy_parse("MIN_LATENCY", &p), ORC_OK);
    cr_assert_eq(p, ORC_DWA_MIN_LATENCY);
    cr_assert_eq(orc_dwa_policy_parse("cheapest", &p), ORC_ERR);
    cr_assert_eq(orc_dwa_policy_parse("", &p), ORC_ERR);
    cr_assert_eq(orc_dwa_policy_parse(NULL, &p), ORC_ERR);
    cr_assert_eq(p, ORC_DWA_MIN_LATENCY, "a failed parse changed the output");
    cr_assert_str_eq(orc_dwa_policy_name((orc_dwa_policy_t)17), "unknown");
}

Test(dwa, strategy_parse_and_name)
{
    static const char *names[] = {"load_balanced", "round_robin", "random", "priority"};
    for (int i = 0; i < (int)ORC_ARRAY_LEN(names); i++) {
        orc_dwa_strategy_t s = (orc_dwa_strategy_t)99;
        cr_assert_eq(orc_dwa_strategy_parse(names[i], &s), ORC_OK, "%s", names[i]);
        cr_assert_eq((int)s, i);
        cr_assert_str_eq(orc_dwa_strategy_name(s), names[i]);
    }
    orc_dwa_strategy_t s = ORC_DWA_RANDOM;
    cr_assert_eq(orc_dwa_strategy_parse("Priority", &s), ORC_OK);
    cr_assert_eq(s, ORC_DWA_PRIORITY);
    cr_assert_eq(orc_dwa_strategy_parse("least_loaded", &s), ORC_ERR);
    cr_assert_eq(orc_dwa_strategy_parse(NULL, &s), ORC_ERR);
    cr_assert_eq(s, ORC_DWA_PRIORITY);
    cr_assert_str_eq(orc_dwa_strategy_name((orc_dwa_strategy_t)-1), "unknown");
}

/* ---- accuracy and policies ---------------------------------------------- */

Test(dwa, accuracy_as_the_original)
{
    orc_dwa_input_t in = cand(0.3, 100, 0.01);
    in.window_calls = 0;
    cr_assert_float_eq(orc_dwa_accuracy(&in), 0.8, 1e-12, "no calls, no feedback: 0.8");
    in.window_calls = 10;
    cr_assert_float_eq(orc_dwa_accuracy(&in), 0.3, 1e-12);
    in.feedback = 0.9;
    cr_assert_float_eq(orc_dwa_accuracy(&in), 0.6, 1e-12, "50/50 with feedback");
    in.window_calls = 0;
    in.success_rate = 0.4;
    in.feedback = 0.8;
    cr_assert_float_eq(orc_dwa_accuracy(&in), 0.6, 1e-12);
    in.feedback = 0;
    cr_assert_float_eq(orc_dwa_accuracy(&in), 0.2, 1e-12, "feedback 0 is feedback");
}

Test(dwa, max_accuracy_scores_accuracy)
{
    orc_dwa_input_t in[3] = {cand(0.9, 100, 0.01), cand(0.5, 50, 0.001), cand(0.99, 900, 0.1)};
    in[1].feedback = 0.7; /* (0.5 + 0.7) / 2 */
    double s[3];
    score(in, 3, ORC_DWA_MAX_ACCURACY, s);
    cr_assert_float_eq(s[0], 0.9, 1e-12);
    cr_assert_float_eq(s[1], 0.6, 1e-12);
    cr_assert_float_eq(s[2], 0.99, 1e-12);
    int order[3];
    uint64_t seed = 1;
    cr_assert_eq(orc_dwa_order(in, s, 3, ORC_DWA_LOAD_BALANCED, 0, splitmix64, &seed, 0, order), 3);
    assert_permutation(order, 3);
    for (int i = 2; i < 3; i++)
        cr_assert_geq(s[order[i - 1]], s[order[i]], "fallbacks not by descending score");
}

Test(dwa, min_cost_is_min_over_value)
{
    orc_dwa_input_t in[3] = {cand(1, 100, 0.004), cand(1, 900, 0.001), cand(1, 100, 0.002)};
    double s[3];
    score(in, 3, ORC_DWA_MIN_COST, s);
    cr_assert_float_eq(s[1], 1.0, 1e-12);
    cr_assert_float_eq(s[2], (0.001 + EPS) / (0.002 + EPS), 1e-9);
    cr_assert_float_eq(s[0], (0.001 + EPS) / (0.004 + EPS), 1e-9);
}

Test(dwa, min_cost_ties_broken_by_accuracy)
{
    orc_dwa_input_t in[2] = {cand(0.9, 100, 0.002), cand(1.0, 100, 0.002)};
    double s[2];
    score(in, 2, ORC_DWA_MIN_COST, s);
    cr_assert_float_eq(s[1], 1.0, 1e-12);
    cr_assert_float_eq(s[0], 0.9, 1e-12);
    int order[2];
    cr_assert_eq(orc_dwa_order(in, s, 2, ORC_DWA_PRIORITY, 0, splitmix64, &(uint64_t){1}, 0, order), 2);
    cr_assert_eq(order[0], 0, "priority keeps configuration order whatever the scores");
}

Test(dwa, min_cost_free_and_unknown_prices)
{
    /* unknown (negative) takes the median of the known ones: 0.002 */
    orc_dwa_input_t in[3] = {cand(1, 100, 0.001), cand(1, 100, -1), cand(1, 100, 0.003)};
    double s[3];
    score(in, 3, ORC_DWA_MIN_COST, s);
    cr_assert_float_eq(s[1], (0.001 + EPS) / (0.002 + EPS), 1e-9);
    in[1].cost_per_call = NAN;
    score(in, 3, ORC_DWA_MIN_COST, s);
    cr_assert_float_eq(s[1], (0.001 + EPS) / (0.002 + EPS), 1e-9, "NaN is unknown");
    /* a free candidate is the cheapest and nothing divides by zero */
    in[1].cost_per_call = 0;
    score(in, 3, ORC_DWA_MIN_COST, s);
    cr_assert_float_eq(s[1], 1.0, 1e-12);
    cr_assert_float_eq(s[0], 0.01, 1e-12, "EPS / (0.001 + EPS) is floored");
    /* no price known at all: neutral, ordered by accuracy */
    orc_dwa_input_t u[2] = {cand(0.5, 100, -1), cand(1, 100, -1)};
    score(u, 2, ORC_DWA_MIN_COST, s);
    cr_assert_float_eq(s[0], 0.5, 1e-12);
    cr_assert_float_eq(s[1], 1.0, 1e-12);
}

Test(dwa, min_latency_uses_p95_with_enough_calls)
{
    orc_dwa_input_t in[3] = {cand(1, 100, 0.01), cand(1, 200, 0.01), cand(1, 400, 0.01)};
    double s[3];
    score(in, 3, ORC_DWA_MIN_LATENCY, s);
    cr_assert_float_eq(s[0], 1.0, 1e-12);
    cr_assert_float_eq(s[1], 0.5, 1e-12);
    cr_assert_float_eq(s[2], 0.25, 1e-12);
    in[0].p95_ms = 800; /* 20 calls: p95 counts */
    in[0].window_calls = 20;
    in[1].p95_ms = 1000; /* 19 calls: the average counts */
    in[1].window_calls = 19;
    score(in, 3, ORC_DWA_MIN_LATENCY, s);
    cr_assert_float_eq(s[1], 1.0, 1e-12);
    cr_assert_float_eq(s[2], 0.5, 1e-12);
    cr_assert_float_eq(s[0], 0.25, 1e-12);
}

Test(dwa, min_latency_unknown_values)
{
    /* unknown takes the median of the known ones: (100 + 300) / 2 */
    orc_dwa_input_t in[4] = {cand(1, 100, 0.01), cand(1, 0, 0.01), cand(1, 300, 0.01), cand(1, 0, 0.01)};
    in[3].available = false;
    double s[4];
    score(in, 4, ORC_DWA_MIN_LATENCY, s);
    cr_assert_float_eq(s[1], 0.5, 1e-12);
    cr_assert_float_eq(s[3], 0.0, 1e-12);
    /* unavailable candidates do not set the scale */
    in[3] = cand(1, 10, 0.01);
    in[3].available = false;
    score(in, 4, ORC_DWA_MIN_LATENCY, s);
    cr_assert_float_eq(s[0], 1.0, 1e-12);
    /* none known: equal, so accuracy decides */
    orc_dwa_input_t u[2] = {cand(1, 0, 0.01), cand(0.8, -5, 0.01)};
    score(u, 2, ORC_DWA_MIN_LATENCY, s);
    cr_assert_float_eq(s[0], 1.0, 1e-12);
    cr_assert_float_eq(s[1], 0.8, 1e-12);
}

Test(dwa, weighted_composite_formula)
{
    orc_dwa_input_t in[2] = {cand(1, 100, 0.001), cand(0.8, 200, 0.004)};
    in[1].load = 0.5;
    double s[2];
    score(in, 2, ORC_DWA_WEIGHTED_COMPOSITE, s);
    cr_assert_float_eq(s[0], 1.0, 1e-12);
    double cs = (0.001 + EPS) / (0.004 + EPS);
    /* default weights 0.3 0.2 0.3 0.15 0.05: exponents weight / 0.3 */
    double want = 0.8 * pow(0.5, 0.2 / 0.3) * cs * pow(0.8, 0.15 / 0.3) * pow(0.5, 0.05 / 0.3);
    cr_assert_float_eq(s[1], want, 1e-12);
    /* custom weights: only latency counts */
    orc_dwa_weights_t w = {0, 1, 0, 0, 0, 0};
    orc_dwa_score(in, 2, ORC_DWA_WEIGHTED_COMPOSITE, &w, s);
    cr_assert_float_eq(s[0], 1.0, 1e-12);
    cr_assert_float_eq(s[1], 0.5, 1e-12);
    /* all-zero weights: equal weights */
    orc_dwa_weights_t z = {0, 0, 0, 0, 0, 0};
    orc_dwa_score(in, 2, ORC_DWA_WEIGHTED_COMPOSITE, &z, s);
    cr_assert_float_eq(s[1], 0.8 * 0.5 * cs * 0.8 * 0.5, 1e-12);
}

Test(dwa, composite_no_history_is_not_penalised)
{
    /* a provider never called yet: success rate 0 with an empty window */
    orc_dwa_input_t in[2] = {cand(1, 500, 0.002), cand(0, 0, 0.002)};
    in[0].window_calls = 0;
    in[1].window_calls = 0;
    double s[2];
    score(in, 2, ORC_DWA_WEIGHTED_COMPOSITE, s);
    cr_assert_float_eq(s[0], s[1], 1e-12, "%f vs %f", s[0], s[1]);
    cr_assert_gt(s[1], 0.5);
}

Test(dwa, round_robin_policy_is_equal)
{
    orc_dwa_input_t in[3] = {cand(0.1, 100, 0.5), cand(1, 1, 0), cand(0.5, 9000, 0.01)};
    in[2].available = false;
    double s[3];
    score(in, 3, ORC_DWA_POLICY_ROUND_ROBIN, s);
    cr_assert_float_eq(s[0], 1.0, 1e-12);
    cr_assert_float_eq(s[1], 1.0, 1e-12);
    cr_assert_float_eq(s[2], 0.0, 1e-12);
}

Test(dwa, every_available_candidate_scores_above_zero)
{
    orc_dwa_input_t in[6] = {cand(0, 1e9, 1e6),  cand(1, 1, 0),        cand(0.001, 0, -1),
                             cand(1, 100, 0.01), cand(NAN, NAN, 0.01), cand(1, 100, 0.01)};
    in[0].load = 1;
    in[4].load = NAN;
    in[5].available = false;
    for (int p = ORC_DWA_MAX_ACCURACY; p <= ORC_DWA_POLICY_ROUND_ROBIN; p++) {
        double s[6];
        score(in, 6, (orc_dwa_policy_t)p, s);
        for (int i = 0; i < 5; i++)
            cr_assert(s[i] >= 0.01 && s[i] <= 1.0, "policy %s candidate %d: score %f",
                      orc_dwa_policy_name((orc_dwa_policy_t)p), i, s[i]);
        cr_assert_float_eq(s[5], 0.0, 1e-12, "unavailable scores 0");
    }
    double s[6];
    score(in, 6, ORC_DWA_MAX_ACCURACY, s);
    cr_assert_float_eq(s[0], 0.01, 1e-12, "the floor");
}

/* ---- strategies ----------------------------------------------------------- */

/* Available 0, 2, 4; unavailable 1, 3. */
static void mixed(orc_dwa_input_t *in, double *s)
{
    for (int i = 0; i < 5; i++) {
        in[i] = cand(1, 100, 0.01);
        in[i].available = i % 2 == 0;
    }
    s[0] = 0.2, s[1] = 0, s[2] = 0.5, s[3] = 0, s[4] = 0.3;
}

Test(dwa, unavailable_last_in_configuration_order)
{
    orc_dwa_input_t in[5];
    double s[5];
    mixed(in, s);
    uint64_t seed = 7;
    for (int st = ORC_DWA_LOAD_BALANCED; st <= ORC_DWA_PRIORITY; st++) {
        for (int d = 0; d < 200; d++) {
            int order[5] = {-1, -1, -1, -1, -1};
            int k =
                orc_dwa_order(in, s, 5, (orc_dwa_strategy_t)st, 0.3, splitmix64, &seed, (uint64_t)d, order);
            cr_assert_eq(k, 3);
            assert_permutation(order, 5);
            for (int i = 0; i < 3; i++)
                cr_assert(in[order[i]].available, "%s: unavailable in front",
                          orc_dwa_strategy_name((orc_dwa_strategy_t)st));
            cr_assert_eq(order[3], 1);
            cr_assert_eq(order[4], 3);
        }
    }
}

Test(dwa, nothing_available)
{
    orc_dwa_input_t in[3] = {cand(1, 1, 1), cand(1, 1, 1), cand(1, 1, 1)};
    for (int i = 0; i < 3; i++)
        in[i].available = false;
    double s[3] = {0, 0, 0};
    int order[3];
    cr_assert_eq(orc_dwa_order(in, s, 3, ORC_DWA_LOAD_BALANCED, 0.05, splitmix64, &(uint64_t){1}, 0, order),
                 0);
    cr_assert_eq(order[0], 0);
    cr_assert_eq(order[1], 1);
    cr_assert_eq(order[2], 2);
    cr_assert_eq(orc_dwa_order(in, s, 0, ORC_DWA_RANDOM, 0.05, splitmix64, &(uint64_t){1}, 0, order), 0);
    in[2].available = true;
    s[2] = 0.5;
    cr_assert_eq(orc_dwa_order(in, s, 3, ORC_DWA_RANDOM, 0.05, splitmix64, &(uint64_t){1}, 0, order), 1);
    cr_assert_eq(order[0], 2);
}

Test(dwa, priority_is_configuration_order)
{
    orc_dwa_input_t in[5];
    double s[5];
    mixed(in, s);
    int order[5];
    for (int d = 0; d < 10; d++) {
        orc_dwa_order(in, s, 5, ORC_DWA_PRIORITY, 0.5, splitmix64, &(uint64_t){(uint64_t)d}, (uint64_t)d,
                      order);
        int expect[5] = {0, 2, 4, 1, 3};
        cr_assert_arr_eq(order, expect, sizeof(expect));
    }
}

Test(dwa, round_robin_rotates_available)
{
    orc_dwa_input_t in[5];
    double s[5];
    mixed(in, s);
    static const int expect[4][5] = {{0, 2, 4, 1, 3}, {2, 4, 0, 1, 3}, {4, 0, 2, 1, 3}, {0, 2, 4, 1, 3}};
    for (uint64_t rr = 0; rr < 4; rr++) {
        int order[5];
        orc_dwa_order(in, s, 5, ORC_DWA_ROUND_ROBIN, 0.05, splitmix64, &(uint64_t){1}, rr, order);
        cr_assert_arr_eq(order, expect[rr], sizeof(expect[rr]), "rr %llu", (unsigned long long)rr);
    }
    int order[5];
    orc_dwa_order(in, s, 5, ORC_DWA_ROUND_ROBIN, 0.05, splitmix64, &(uint64_t){1}, UINT64_MAX, order);
    cr_assert_eq(order[0], (int)(UINT64_MAX % 3) * 2);
}

Test(dwa, random_is_uniform)
{
    orc_dwa_input_t in[5];
    double s[5], share[5];
    mixed(in, s);
    first_shares(in, s, 5, ORC_DWA_RANDOM, 0, share);
    for (int i = 0; i < 5; i += 2)
        cr_assert_float_eq(share[i], 1.0 / 3, 0.01, "candidate %d: %f", i, share[i]);
    cr_assert_float_eq(share[1] + share[3], 0.0, 1e-12);
    /* every position, not only the first */
    uint64_t seed = 3;
    double last[5] = {0};
    for (int d = 0; d < DRAWS; d++) {
        int order[5];
        orc_dwa_order(in, s, 5, ORC_DWA_RANDOM, 0, splitmix64, &seed, 0, order);
        last[order[2]] += 1.0 / DRAWS;
    }
    for (int i = 0; i < 5; i += 2)
        cr_assert_float_eq(last[i], 1.0 / 3, 0.01, "last place %d: %f", i, last[i]);
}

Test(dwa, load_balanced_share_proportional_to_score)
{
    orc_dwa_input_t in[5];
    double s[5], share[5];
    mixed(in, s);
    first_shares(in, s, 5, ORC_DWA_LOAD_BALANCED, 0, share);
    for (int i = 0; i < 5; i += 2)
        cr_assert(fabs(share[i] / s[i] - 1) <= 0.02, "candidate %d: share %f for score %f", i, share[i],
                  s[i]);
    /* the fallbacks follow by descending score */
    uint64_t seed = 9;
    for (int d = 0; d < 1000; d++) {
        int order[5];
        orc_dwa_order(in, s, 5, ORC_DWA_LOAD_BALANCED, 0.05, splitmix64, &seed, 0, order);
        cr_assert_geq(s[order[1]], s[order[2]]);
    }
}

Test(dwa, load_balanced_exploration_share)
{
    orc_dwa_input_t in[2] = {cand(1, 100, 0.01), cand(1, 100, 0.01)};
    double s[2] = {1.0, 0.01}, share[2];
    first_shares(in, s, 2, ORC_DWA_LOAD_BALANCED, 0, share);
    cr_assert_float_eq(share[1], 0.01 / 1.01, 0.002);
    first_shares(in, s, 2, ORC_DWA_LOAD_BALANCED, 0.2, share);
    double expect = 0.2 / 2 + 0.8 * 0.01 / 1.01;
    cr_assert(fabs(share[1] / expect - 1) <= 0.05, "exploration share %f, expected %f", share[1], expect);
}

/* ---- policies and strategies together ------------------------------------ */

/* Three realistic providers with equal success: the cheapest is not the
 * fastest, and still gets the largest share. */
Test(dwa, cheapest_good_provider_gets_the_largest_share)
{
    orc_dwa_input_t in[3] = {cand(0.98, 800, 0.0025), cand(0.98, 1200, 0.0060), cand(0.98, 950, 0.0004)};
    static const orc_dwa_policy_t policies[] = {ORC_DWA_MIN_COST, ORC_DWA_WEIGHTED_COMPOSITE};
    for (size_t p = 0; p < ORC_ARRAY_LEN(policies); p++) {
        double s[3], share[3];
        score(in, 3, policies[p], s);
        first_shares(in, s, 3, ORC_DWA_LOAD_BALANCED, 0.05, share);
        cr_assert(share[2] > share[0] && share[2] > share[1], "%s: shares %f %f %f",
                  orc_dwa_policy_name(policies[p]), share[0], share[1], share[2]);
        cr_assert_gt(share[0], 0.01, "%s: no share left for the others", orc_dwa_policy_name(policies[p]));
        if (policies[p] == ORC_DWA_MIN_COST)
            cr_assert_gt(share[2], 0.7, "min_cost: cheapest only %f", share[2]);
    }
}

Test(dwa, half_failing_provider_gets_much_less_traffic)
{
    orc_dwa_input_t in[2] = {cand(1.0, 500, 0.002), cand(0.5, 500, 0.002)};
    for (int p = ORC_DWA_MAX_ACCURACY; p <= ORC_DWA_WEIGHTED_COMPOSITE; p++) {
        double s[2], share[2];
        score(in, 2, (orc_dwa_policy_t)p, s);
        first_shares(in, s, 2, ORC_DWA_LOAD_BALANCED, 0.05, share);
        cr_assert_lt(share[1], 0.55 * share[0], "%s: failing %f vs healthy %f",
                     orc_dwa_policy_name((orc_dwa_policy_t)p), share[1], share[0]);
    }
    double s[2], share[2];
    score(in, 2, ORC_DWA_WEIGHTED_COMPOSITE, s);
    first_shares(in, s, 2, ORC_DWA_LOAD_BALANCED, 0.05, share);
    cr_assert_lt(share[1], 0.3, "composite: failing provider still gets %f", share[1]);
    /* and one that fails almost always gets about its exploration share */
    in[1].success_rate = 0.01;
    score(in, 2, ORC_DWA_WEIGHTED_COMPOSITE, s);
    first_shares(in, s, 2, ORC_DWA_LOAD_BALANCED, 0.05, share);
    cr_assert_lt(share[1], 0.04, "%f", share[1]);
    cr_assert_gt(share[1], 0.02, "exploration keeps it visible: %f", share[1]);
}
