/*
 * dwa.c - the Dynamic Weight Algorithm: scores in (0, 1] per available
 * candidate, then an order (the first is called, the rest are fallbacks).
 *
 * Metrics of a candidate (all deterministic, computed over the AVAILABLE
 * candidates only):
 *   accuracy  A = orc_dwa_accuracy(): 0.8 with no window calls and no
 *               feedback, else the success rate, averaged 50/50 with the
 *               feedback when there is some.
 *   reliability R = success_rate, clamped to 0..1; 1.0 (the original's
 *               starting availability) when the window is empty and the
 *               rate is 0, i.e. when nothing is known.
 *   latency   L = p95_ms when known with window_calls >= 20, else
 *               latency_ms; <= 0 is unknown.  Score Ls = min(L) / L.
 *   cost      C = cost_per_call + 1e-6 USD (so a free candidate scores 1
 *               and nothing divides by 0); negative or NaN is unknown.
 *               Score Cs = min(C) / C.
 *   For Ls and Cs an unknown value takes the median of the known ones; when
 *   none is known every candidate gets the neutral 0.5.
 *   load      1 - load, with load clamped to 0..1.
 *
 * Policies:
 *   max_accuracy        A
 *   min_cost            Cs*A / max(Cs*A): the cost per successful call, so
 *                       equal prices are ordered by accuracy and a
 *                       candidate failing half its calls costs double
 *   min_latency         Ls*A / max(Ls*A): likewise per successful call
 *   weighted_composite  A^ea * Ls^el * Cs^ec * R^ev * (1-load)^en with
 *                       e_x = w_x / max(w): a weighted product.  Every
 *                       term is a ratio to the best candidate, so the
 *                       score does not depend on units, and a candidate 30
 *                       times dearer (or failing half its calls) is
 *                       scaled down by that factor to the power of its
 *                       weight instead of losing a few points of a sum:
 *                       cost and quality trade off as they do on a bill.
 *                       (Negative weights count as 0; all zero means equal
 *                       weights; the load term is floored at 0.01.)
 *   round_robin         1 for every available candidate
 * Every available score is then clamped to [0.01, 1] (the floor keeps
 * weighted random from starving anyone); unavailable ones score 0.
 *
 * Invariants: no state, no allocation, no clock; randomness only through
 * the caller's RNG, so equal inputs and RNG streams give equal outputs.
 * orc_dwa_order() always writes a permutation of 0..N-1.
 */
#include <math.h>
#include <stddef.h>
#include <strings.h>

#include "common/assert.h"
#include "common/orc.h"
#include "worker/llm/dwa.h"

#define DWA_FLOOR 0.01
#define DWA_NEUTRAL 0.5
#define DWA_DEFAULT_ACCURACY 0.8
#define DWA_P95_MIN_CALLS 20
#define DWA_COST_EPSILON 1e-6

/* Lower-is-better metric normalised as best / value. */
typedef struct {
    double best; /* the smallest known value */
    double fill; /* the median of the known values, for unknown ones */
    int known;
} dwa_norm_t;

typedef double (*dwa_metric_fn)(const orc_dwa_input_t *in); /* < 0: unknown */

static const char *const policy_names[] = {"max_accuracy", "min_cost", "min_latency", "weighted_composite",
                                           "round_robin"};
static const char *const strategy_names[] = {"load_balanced", "round_robin", "random", "priority"};

static double clamp01(double x)
{
    if (!(x > 0)) /* also NaN */
        return 0;
    return x > 1 ? 1 : x;
}

static double latency_value(const orc_dwa_input_t *in)
{
    if (in->p95_ms > 0 && in->window_calls >= DWA_P95_MIN_CALLS)
        return in->p95_ms;
    return in->latency_ms > 0 ? in->latency_ms : -1;
}

static double cost_value(const orc_dwa_input_t *in)
{
    return in->cost_per_call >= 0 ? in->cost_per_call + DWA_COST_EPSILON : -1;
}

static double reliability(const orc_dwa_input_t *in)
{
    if (in->window_calls == 0 && !(in->success_rate > 0))
        return 1.0;
    return clamp01(in->success_rate);
}

/* The K-th smallest (from 0) known value among the available candidates. */
static double kth_known(const orc_dwa_input_t *in, int n, dwa_metric_fn value, int k)
{
    for (int i = 0; i < n; i++) {
        double v = value(&in[i]);
        if (!in[i].available || v < 0)
            continue;
        int below = 0, upto = 0;
        for (int j = 0; j < n; j++) {
            double u = value(&in[j]);
            if (!in[j].available || u < 0)
                continue;
            below += u < v;
            upto += u <= v;
        }
        if (below <= k && k < upto)
            return v;
    }
    return -1; /* not reached when K < the number of known values */
}

static dwa_norm_t norm_make(const orc_dwa_input_t *in, int n, dwa_metric_fn value)
{
    dwa_norm_t m = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        double v = value(&in[i]);
        if (!in[i].available || v < 0)
            continue;
        if (m.known == 0 || v < m.best)
            m.best = v;
        m.known++;
    }
    if (m.known > 0)
        m.fill = (kth_known(in, n, value, (m.known - 1) / 2) + kth_known(in, n, value, m.known / 2)) / 2;
    return m;
}

static double norm_score(const dwa_norm_t *m, double v)
{
    if (m->known == 0)
        return DWA_NEUTRAL;
    if (v < 0)
        v = m->fill;
    return m->best / v;
}

void orc_dwa_weights_defaults(orc_dwa_weights_t *w)
{
    w->accuracy = 0.3;
    w->latency = 0.2;
    w->cost = 0.3;
    w->availability = 0.15;
    w->load = 0.05;
    w->exploration = 0.05;
}

int orc_dwa_policy_parse(const char *name, orc_dwa_policy_t *out)
{
    for (size_t i = 0; name && i < ORC_ARRAY_LEN(policy_names); i++) {
        if (strcasecmp(name, policy_names[i]) == 0) {
            *out = (orc_dwa_policy_t)i;
            return ORC_OK;
        }
    }
    return ORC_ERR;
}

int orc_dwa_strategy_parse(const char *name, orc_dwa_strategy_t *out)
{
    for (size_t i = 0; name && i < ORC_ARRAY_LEN(strategy_names); i++) {
        if (strcasecmp(name, strategy_names[i]) == 0) {
            *out = (orc_dwa_strategy_t)i;
            return ORC_OK;
        }
    }
    return ORC_ERR;
}

const char *orc_dwa_policy_name(orc_dwa_policy_t p)
{
    return (size_t)p < ORC_ARRAY_LEN(policy_names) ? policy_names[p] : "unknown";
}

const char *orc_dwa_strategy_name(orc_dwa_strategy_t s)
{
    return (size_t)s < ORC_ARRAY_LEN(strategy_names) ? strategy_names[s] : "unknown";
}

double orc_dwa_accuracy(const orc_dwa_input_t *in)
{
    if (in->window_calls == 0 && in->feedback < 0)
        return DWA_DEFAULT_ACCURACY;
    double a = clamp01(in->success_rate);
    if (in->feedback >= 0)
        a = 0.5 * a + 0.5 * clamp01(in->feedback);
    return a;
}

static double composite(const orc_dwa_input_t *in, const orc_dwa_weights_t *w, const dwa_norm_t *lat,
                        const dwa_norm_t *cost)
{
    double e[5] = {ORC_MAX(w->accuracy, 0), ORC_MAX(w->latency, 0), ORC_MAX(w->cost, 0),
                   ORC_MAX(w->availability, 0), ORC_MAX(w->load, 0)};
    double top = 0;
    for (int i = 0; i < 5; i++)
        top = ORC_MAX(top, e[i]);
    for (int i = 0; i < 5; i++)
        e[i] = top > 0 ? e[i] / top : 1.0;
    double term[5] = {orc_dwa_accuracy(in), norm_score(lat, latency_value(in)),
                      norm_score(cost, cost_value(in)), reliability(in),
                      ORC_MAX(1 - clamp01(in->load), 0.01)};
    double score = 1.0;
    for (int i = 0; i < 5; i++)
        score *= e[i] > 0 ? pow(ORC_MAX(term[i], 1e-9), e[i]) : 1.0;
    return score;
}

/* Raw (unfloored) score of one available candidate. */
static double raw_score(const orc_dwa_input_t *in, orc_dwa_policy_t policy, const orc_dwa_weights_t *w,
                        const dwa_norm_t *lat, const dwa_norm_t *cost)
{
    switch (policy) {
    case ORC_DWA_MAX_ACCURACY: return orc_dwa_accuracy(in);
    case ORC_DWA_MIN_COST: return norm_score(cost, cost_value(in)) * orc_dwa_accuracy(in);
    case ORC_DWA_MIN_LATENCY: return norm_score(lat, latency_value(in)) * orc_dwa_accuracy(in);
    case ORC_DWA_WEIGHTED_COMPOSITE: return composite(in, w, lat, cost);
    case ORC_DWA_POLICY_ROUND_ROBIN: break;
    }
    return 1;
}

void orc_dwa_score(const orc_dwa_input_t *in, int n, orc_dwa_policy_t policy, const orc_dwa_weights_t *w,
                   double *score)
{
    orc_dwa_weights_t defaults;
    if (!w) {
        orc_dwa_weights_defaults(&defaults);
        w = &defaults;
    }
    dwa_norm_t lat = norm_make(in, n, latency_value);
    dwa_norm_t cost = norm_make(in, n, cost_value);
    double top = 0;
    for (int i = 0; i < n; i++) {
        score[i] = in[i].available ? raw_score(&in[i], policy, w, &lat, &cost) : 0;
        if (score[i] > top)
            top = score[i];
    }
    /* min_cost and min_latency are relative to the best per-success value. */
    bool relative = policy == ORC_DWA_MIN_COST || policy == ORC_DWA_MIN_LATENCY;
    for (int i = 0; i < n; i++) {
        if (!in[i].available)
            continue;
        double s = relative && top > 0 ? score[i] / top : score[i];
        score[i] = s > DWA_FLOOR ? ORC_MIN(s, 1.0) : DWA_FLOOR; /* NaN gets the floor */
    }
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double rng_unit(uint64_t (*rng)(void *arg), void *rng_arg)
{
    return (double)(rng(rng_arg) >> 11) * 0x1.0p-53;
}

static int rng_below(uint64_t (*rng)(void *arg), void *rng_arg, int k)
{
    int i = (int)(rng_unit(rng, rng_arg) * k);
    return i < k ? i : k - 1;
}

static void swap_int(int *a, int *b)
{
    int t = *a;
    *a = *b;
    *b = t;
}

static double weight(double s)
{
    return s > 0 ? s : 0; /* also NaN */
}

/* Index in ORDER[0..K) of the pick in proportion to score; U in [0, 1). */
static int pick_weighted(const double *score, const int *order, int k, double u)
{
    double total = 0;
    for (int i = 0; i < k; i++)
        total += weight(score[order[i]]);
    if (!(total > 0))
        return ORC_MIN((int)(u * k), k - 1);
    double target = u * total, acc = 0;
    for (int i = 0; i < k; i++) {
        acc += weight(score[order[i]]);
        if (target < acc)
            return i;
    }
    return k - 1; /* rounding */
}

/* Stable insertion sort of ORDER[0..K) by descending score. */
static void sort_by_score(const double *score, int *order, int k)
{
    for (int i = 1; i < k; i++) {
        int v = order[i], j = i;
        for (; j > 0 && score[order[j - 1]] < score[v]; j--)
            order[j] = order[j - 1];
        order[j] = v;
    }
}

static void order_load_balanced(const double *score, int *order, int k, double exploration,
                                uint64_t (*rng)(void *arg), void *rng_arg)
{
    int first;
    if (exploration > 0 && rng_unit(rng, rng_arg) < exploration)
        first = rng_below(rng, rng_arg, k);
    else
        first = pick_weighted(score, order, k, rng_unit(rng, rng_arg));
    /* Move the pick to the front, keeping the others in their order. */
    for (int i = first; i > 0; i--)
        swap_int(&order[i], &order[i - 1]);
    sort_by_score(score, order + 1, k - 1);
}

static void reverse(int *order, int from, int to)
{
    for (to--; from < to; from++, to--)
        swap_int(&order[from], &order[to]);
}

/* Rotate ORDER[0..K) left by RR places (three reversals). */
static void order_rotate(int *order, int k, uint64_t rr)
{
    int r = (int)(rr % (uint64_t)k);
    reverse(order, 0, r);
    reverse(order, r, k);
    reverse(order, 0, k);
}

static int dwa_order(const orc_dwa_input_t *in, const double *score, int n, orc_dwa_strategy_t strategy,
                     double exploration, uint64_t (*rng)(void *arg), void *rng_arg, uint64_t rr, int *order)
{
    int k = 0;
    for (int i = 0; i < n; i++) /* available ones first, in configuration order */
        if (in[i].available)
            order[k++] = i;
    for (int i = 0, u = k; i < n; i++) /* then the unavailable ones */
        if (!in[i].available)
            order[u++] = i;
    if (k < 2)
        return k;
    switch (strategy) {
    case ORC_DWA_LOAD_BALANCED: order_load_balanced(score, order, k, exploration, rng, rng_arg); break;
    case ORC_DWA_ROUND_ROBIN: order_rotate(order, k, rr); break;
    case ORC_DWA_RANDOM:
        for (int i = k - 1; i > 0; i--) /* Fisher-Yates */
            swap_int(&order[i], &order[rng_below(rng, rng_arg, i + 1)]);
        break;
    case ORC_DWA_PRIORITY: break;
    }
    return k;
}

_Static_assert(ORC_DWA_CANDIDATES <= 32, "the permutation check keeps one bit per candidate in 32");

/* ORDER[0..N) holds each of 0..N-1 exactly once.  O(N), on the request
 * path of checked builds. */
__attribute__((unused)) static bool is_permutation(const int *order, int n)
{
    uint32_t seen = 0;
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || (seen & (1u << order[i])))
            return false;
        seen |= 1u << order[i];
    }
    return true;
}

/* The K available candidates come first, the unavailable ones after. */
__attribute__((unused)) static bool available_first(const orc_dwa_input_t *in, const int *order, int n, int k)
{
    for (int i = 0; i < n; i++)
        if (in[order[i]].available != (i < k))
            return false;
    return true;
}

int orc_dwa_order(const orc_dwa_input_t *in, const double *score, int n, orc_dwa_strategy_t strategy,
                  double exploration, uint64_t (*rng)(void *arg), void *rng_arg, uint64_t rr, int *order)
{
    ORC_ASSERT(n >= 0 && n <= ORC_DWA_CANDIDATES);
    int k = dwa_order(in, score, n, strategy, exploration, rng, rng_arg, rr, order);
    ORC_ASSERT(k >= 0 && k <= n && is_permutation(order, n));
    ORC_ASSERT(available_first(in, order, n, k));
    return k;
}
