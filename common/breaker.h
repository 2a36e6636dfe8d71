/*
 * breaker.h - a circuit breaker shared by every worker through a few
 * atomic words in shared memory, changed only by compare-and-swap.
 *
 * closed -> open      failure_threshold consecutive failures, or a failure
 *                     rate over failure_rate with at least min_calls in the
 *                     window; open for a cooldown that doubles with each
 *                     consecutive opening (cooldown_ms .. cooldown_max_ms)
 * open -> half-open   the first admit after the cooldown: exactly one
 *                     caller in the whole fleet gets ORC_ADMIT_PROBE
 * half-open -> closed the probe succeeded
 * half-open -> open   the probe failed (longer cooldown)
 * A probe whose owner died (kill -9) expires after probe_timeout_ms and
 * another caller may probe.  A Retry-After sets a not-before time that
 * every admit honours.  No lock: a process killed at any instruction
 * leaves only words that the others can still change.
 *
 * Pure: time is passed in, so the state machine is tested with a fake clock.
 */
#ifndef ORC_BREAKER_H
#define ORC_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    _Atomic uint64_t word;                 /* packed state, consecutive openings, open-until (ms) or,
                                              half-open, the probe's lease (see breaker.c) */
    _Atomic uint32_t consecutive_failures; /* reset by any success */
    _Atomic uint64_t probe_deadline_ms;    /* copy of the half-open probe's lease, for display */
    _Atomic uint64_t not_before_ms;        /* Retry-After: no call before this time */
} orc_breaker_t;

/* The defaults below are orc_breaker_config_defaults' (the Redis client
 * uses them); the DWA's breakers take theirs from the dwa.* settings. */
typedef struct {
    uint32_t failure_threshold; /* consecutive failures that open it (default 5) */
    double failure_rate;        /* window failure rate that opens it (default 0.5) ... */
    uint32_t min_calls;         /* ... with at least this many calls in the window (default 20) */
    uint32_t cooldown_ms;       /* first open period (default 5000) */
    uint32_t cooldown_max_ms;   /* longest open period (default 60000) */
    uint32_t probe_timeout_ms;  /* a probe not reported by then is given to another caller (default 30000) */
} orc_breaker_config_t;

typedef enum {
    ORC_BREAKER_CLOSED = 0,
    ORC_BREAKER_OPEN = 1,
    ORC_BREAKER_HALF_OPEN = 2,
} orc_breaker_state_t;

typedef enum {
    ORC_ADMIT_NO = 0,    /* do not call: open, probing elsewhere, or before Retry-After */
    ORC_ADMIT_YES = 1,   /* closed: call */
    ORC_ADMIT_PROBE = 2, /* this call is the fleet's single half-open probe: report its outcome */
} orc_admit_t;

void orc_breaker_config_defaults(orc_breaker_config_t *c);

orc_admit_t orc_breaker_admit(orc_breaker_t *b, const orc_breaker_config_t *c, uint64_t now_ms);
/* Outcome of an admitted call.  WINDOW_* are the fleet's calls and
 * failures in the sliding window, this one included. */
void orc_breaker_success(orc_breaker_t *b, bool probe, uint64_t now_ms);
void orc_breaker_failure(orc_breaker_t *b, const orc_breaker_config_t *c, bool probe, uint64_t now_ms,
                         uint32_t window_calls, uint32_t window_failures);
/* A probe that ended without an outcome (cancelled): another caller may probe. */
void orc_breaker_probe_abandoned(orc_breaker_t *b);
void orc_breaker_retry_after(orc_breaker_t *b, uint64_t until_ms); /* keeps the later of two times */
void orc_breaker_reset(orc_breaker_t *b);

orc_breaker_state_t orc_breaker_state(const orc_breaker_t *b, uint64_t *open_until_ms, uint32_t *openings);
const char *orc_breaker_state_name(orc_breaker_state_t s);

#endif
