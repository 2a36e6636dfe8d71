/*
 * breaker.c - the fleet-wide circuit breaker: a few atomic words in shared
 * memory, changed only by compare-and-swap, never under a lock.
 *
 * WORD packs, from the least significant bit:
 *   bits 0..1   state (closed, open, half-open)
 *   bits 2..7   consecutive openings, saturating at 63
 *   bits 8..63  a time in ms: open-until while open, the probe's lease
 *               (deadline) while half-open, 0 while closed
 *
 * Invariants:
 * - Every state change is one CAS on WORD, so a change is all or nothing
 *   and a process killed at any instruction leaves a valid word.
 * - The single probe: "open and now >= open-until" and "half-open and
 *   now >= lease" are the same transition, a CAS to half-open with a new
 *   lease (now + probe_timeout_ms, at least 1 ms).  Only one caller can win
 *   it for a given word, so at most one PROBE is outstanding per lease.
 *   The lease lives in WORD rather than in a second atomic so that the
 *   state and the lease can never be seen half-updated; probe_deadline_ms
 *   is only a copy for display.
 * - Openings grow only on closed -> open and on a failed probe; a
 *   non-probe failure reported while open or half-open changes nothing,
 *   so late callers cannot extend or double a cooldown.
 * - not_before_ms only moves forward (CAS max), except on reset.
 */
#include "common/assert.h"
#include "common/breaker.h"

#define STATE_MASK 0x3ULL
#define OPENINGS_SHIFT 2
#define OPENINGS_MAX 63U
#define TIME_SHIFT 8
#define TIME_MAX ((1ULL << (64 - TIME_SHIFT)) - 1)

static uint64_t word_pack(orc_breaker_state_t s, uint32_t openings, uint64_t time_ms)
{
    if (openings > OPENINGS_MAX)
        openings = OPENINGS_MAX;
    if (time_ms > TIME_MAX)
        time_ms = TIME_MAX;
    return (uint64_t)s | (uint64_t)openings << OPENINGS_SHIFT | time_ms << TIME_SHIFT;
}

static orc_breaker_state_t word_state(uint64_t w)
{
    uint64_t s = w & STATE_MASK;
    return s == ORC_BREAKER_OPEN || s == ORC_BREAKER_HALF_OPEN ? (orc_breaker_state_t)s : ORC_BREAKER_CLOSED;
}

static uint32_t word_openings(uint64_t w)
{
    return (uint32_t)(w >> OPENINGS_SHIFT) & OPENINGS_MAX;
}

static uint64_t word_time(uint64_t w)
{
    return w >> TIME_SHIFT;
}

/* A word that word_pack() can produce here: closed is all zero (no
 * openings, no time); open and half-open have had at least one opening. */
__attribute__((unused)) static bool word_valid(uint64_t w)
{
    uint64_t s = w & STATE_MASK;
    if (s == ORC_BREAKER_CLOSED)
        return w == 0;
    return (s == ORC_BREAKER_OPEN || s == ORC_BREAKER_HALF_OPEN) && word_openings(w) >= 1;
}

/* The transitions of breaker.h: closed -> open and half-open -> open count
 * one more opening; open -> half-open and half-open -> half-open (a new or
 * an abandoned lease) keep them; half-open -> closed forgets them. */
__attribute__((unused)) static bool transition_legal(uint64_t from, uint64_t to)
{
    uint32_t n = word_openings(from), grown = n < OPENINGS_MAX ? n + 1 : OPENINGS_MAX;
    if (!word_valid(from) || !word_valid(to))
        return false;
    switch (word_state(from)) {
    case ORC_BREAKER_CLOSED: return word_state(to) == ORC_BREAKER_OPEN && word_openings(to) == grown;
    case ORC_BREAKER_OPEN: return word_state(to) == ORC_BREAKER_HALF_OPEN && word_openings(to) == n;
    case ORC_BREAKER_HALF_OPEN:
        return word_state(to) == ORC_BREAKER_CLOSED ||
               (word_state(to) == ORC_BREAKER_HALF_OPEN && word_openings(to) == n) ||
               (word_state(to) == ORC_BREAKER_OPEN && word_openings(to) == grown);
    }
    return false;
}

static uint64_t word_load(const orc_breaker_t *b)
{
    /* C11 atomic_load takes a non-const pointer; reading does not modify. */
    uint64_t w = atomic_load((_Atomic uint64_t *)&b->word);
    ORC_ASSERT(word_valid(w));
    return w;
}

/* Every state change: one CAS from *W, the word last read, to NW. */
static bool word_cas(orc_breaker_t *b, uint64_t *w, uint64_t nw)
{
    ORC_ASSERT(transition_legal(*w, nw));
    return atomic_compare_exchange_strong(&b->word, w, nw);
}

/* cooldown_ms * 2^(openings-1), capped at cooldown_max_ms. */
static uint64_t breaker_cooldown(const orc_breaker_config_t *c, uint32_t openings)
{
    uint64_t d = c->cooldown_ms;
    for (uint32_t i = 1; i < openings && d < c->cooldown_max_ms; i++)
        d *= 2;
    return d < c->cooldown_max_ms ? d : c->cooldown_max_ms;
}

static bool breaker_should_open(const orc_breaker_config_t *c, uint32_t consecutive, uint32_t window_calls,
                                uint32_t window_failures)
{
    if (c->failure_threshold > 0 && consecutive >= c->failure_threshold)
        return true;
    if (c->failure_rate <= 0 || window_calls == 0 || window_calls < c->min_calls)
        return false;
    return (double)window_failures >= c->failure_rate * (double)window_calls;
}

void orc_breaker_config_defaults(orc_breaker_config_t *c)
{
    c->failure_threshold = 5;
    c->failure_rate = 0.5;
    c->min_calls = 20;
    c->cooldown_ms = 5000;
    c->cooldown_max_ms = 60000;
    c->probe_timeout_ms = 30000;
}

orc_admit_t orc_breaker_admit(orc_breaker_t *b, const orc_breaker_config_t *c, uint64_t now_ms)
{
    if (now_ms < atomic_load(&b->not_before_ms))
        return ORC_ADMIT_NO;
    uint64_t lease = now_ms + (c->probe_timeout_ms > 0 ? c->probe_timeout_ms : 1);
    uint64_t w = word_load(b);
    for (;;) {
        if (word_state(w) == ORC_BREAKER_CLOSED)
            return ORC_ADMIT_YES;
        if (now_ms < word_time(w))
            return ORC_ADMIT_NO; /* cooling down, or another caller holds the probe */
        uint64_t nw = word_pack(ORC_BREAKER_HALF_OPEN, word_openings(w), lease);
        if (word_cas(b, &w, nw)) {
            atomic_store(&b->probe_deadline_ms, word_time(nw));
            return ORC_ADMIT_PROBE;
        }
        /* W now holds the word another caller wrote: decide again. */
    }
}

void orc_breaker_success(orc_breaker_t *b, bool probe, uint64_t now_ms)
{
    (void)now_ms;
    atomic_store(&b->consecutive_failures, 0);
    if (!probe)
        return;
    uint64_t w = word_load(b);
    while (word_state(w) == ORC_BREAKER_HALF_OPEN) {
        if (word_cas(b, &w, word_pack(ORC_BREAKER_CLOSED, 0, 0))) {
            atomic_store(&b->probe_deadline_ms, 0);
            return;
        }
    }
}

void orc_breaker_failure(orc_breaker_t *b, const orc_breaker_config_t *c, bool probe, uint64_t now_ms,
                         uint32_t window_calls, uint32_t window_failures)
{
    uint32_t consecutive = atomic_fetch_add(&b->consecutive_failures, 1) + 1;
    uint64_t w = word_load(b);
    for (;;) {
        orc_breaker_state_t s = word_state(w);
        if (s == ORC_BREAKER_OPEN)
            return; /* already open: never extends the cooldown */
        if (s == ORC_BREAKER_HALF_OPEN && !probe)
            return; /* a call admitted before the opening: only the probe decides */
        if (s == ORC_BREAKER_CLOSED && !breaker_should_open(c, consecutive, window_calls, window_failures))
            return;
        uint32_t openings = word_openings(w) < OPENINGS_MAX ? word_openings(w) + 1 : OPENINGS_MAX;
        uint64_t nw = word_pack(ORC_BREAKER_OPEN, openings, now_ms + breaker_cooldown(c, openings));
        if (word_cas(b, &w, nw)) {
            if (s == ORC_BREAKER_HALF_OPEN)
                atomic_store(&b->probe_deadline_ms, 0);
            return;
        }
    }
}

void orc_breaker_probe_abandoned(orc_breaker_t *b)
{
    uint64_t w = word_load(b);
    while (word_state(w) == ORC_BREAKER_HALF_OPEN) {
        /* A lease that ended at time 0: the next admit takes the probe. */
        if (word_cas(b, &w, word_pack(ORC_BREAKER_HALF_OPEN, word_openings(w), 0))) {
            atomic_store(&b->probe_deadline_ms, 0);
            return;
        }
    }
}

void orc_breaker_retry_after(orc_breaker_t *b, uint64_t until_ms)
{
    uint64_t cur = atomic_load(&b->not_before_ms);
    while (cur < until_ms && !atomic_compare_exchange_strong(&b->not_before_ms, &cur, until_ms))
        ;
}

void orc_breaker_reset(orc_breaker_t *b)
{
    atomic_store(&b->word, word_pack(ORC_BREAKER_CLOSED, 0, 0));
    atomic_store(&b->consecutive_failures, 0);
    atomic_store(&b->probe_deadline_ms, 0);
    atomic_store(&b->not_before_ms, 0);
}

orc_breaker_state_t orc_breaker_state(const orc_breaker_t *b, uint64_t *open_until_ms, uint32_t *openings)
{
    uint64_t w = word_load(b);
    if (open_until_ms)
        *open_until_ms = word_time(w);
    if (openings)
        *openings = word_openings(w);
    return word_state(w);
}

const char *orc_breaker_state_name(orc_breaker_state_t s)
{
    switch (s) {
    case ORC_BREAKER_CLOSED: return "closed";
    case ORC_BREAKER_OPEN: return "open";
    case ORC_BREAKER_HALF_OPEN: return "half_open";
    }
    return "unknown";
}
