/*
 * limits.h - a client key's limits and budget, held across the workers of
 * a gateway (shared memory) and across replicas (Redis).
 *
 * Requests per minute: each gateway is granted slices of a key's minute
 * allowance by Redis (one INCRBY per slice, a fiftieth of the allowance),
 * and its workers admit requests from the granted slices through shared
 * memory; the next slice is asked for before the last one runs out, so a
 * request waits for Redis only at the start of a minute.  The fleet admits
 * at most the allowance per minute; a slice granted but unused when the
 * minute ends is lost, which only ever admits less.
 *
 * Tokens per minute and spend: counted in shared memory and added to
 * Redis by each worker once a second; a request is refused once the
 * fleet's count as Redis last said, plus what this gateway has not sent
 * yet, reaches the limit.  Input tokens are counted when the request is
 * admitted (estimated from its size), output tokens and the cost when its
 * answer ends: the overshoot is bounded by what is in flight and by one
 * second of the other replicas' traffic.
 *
 * Parallel requests: each gateway holds some of a key's slots in Redis
 * (renewed every second, dropped when not renewed for 5 s) and admits
 * within its holding through shared memory; past it, one round trip asks
 * for a larger holding, which the other gateways' holdings bound.
 *
 * Spend per period (day and month in UTC, or total) is kept in Redis;
 * when Redis has no count for a key's period (first use, or Redis lost
 * it), it is rebuilt from the request log in PostgreSQL.
 *
 * Without Redis (not configured, or down) each gateway enforces the limits
 * on its own, with its shared-memory counts, and reports it in
 * /api/health.  Without the spend (Redis and PostgreSQL both down) budgets
 * are not enforced until it can be read (logged).
 */
#ifndef ORC_LIMITS_H
#define ORC_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/shm.h"
#include "worker/auth/keystore.h"

struct event_base;
typedef struct orc_limits_s orc_limits_t;

typedef struct {
    struct event_base *base;
    const orc_config_t *cfg;
    orc_shm_t *shm;
    orc_slot_t *slot;   /* this worker's: its share of the requests in progress */
    orc_redis_t *redis; /* borrowed; NULL or down: each gateway on its own */
    orc_db_t *db;       /* borrowed: the request log, to rebuild spend */
} orc_limits_env_t;

orc_limits_t *orc_limits_new(const orc_limits_env_t *env);
/* Waiting admissions complete (refused as unavailable) before it returns. */
void orc_limits_free(orc_limits_t *l);

typedef enum {
    ORC_LIMIT_ADMITTED,
    ORC_LIMIT_PENDING,      /* CB runs later with the verdict */
    ORC_LIMIT_RATE_LIMITED, /* over requests, tokens or parallel requests per minute */
    ORC_LIMIT_OVER_BUDGET,  /* the key's or its team's budget is spent */
} orc_limit_verdict_t;

/* What a verdict was about, for the x-ratelimit-* headers and messages. */
typedef struct {
    const char *what;   /* "requests", "tokens", "parallel requests", "budget", "team budget" */
    long limit;         /* requests or tokens per minute (0: none) */
    long remaining;     /* of the limit, this minute */
    long reset_s;       /* seconds to the end of the minute */
    long retry_after_s; /* when a refused request may succeed */
    long tokens_limit;  /* tokens per minute (0: none) */
    long tokens_remaining;
} orc_limit_info_t;

typedef void (*orc_limit_cb)(void *arg, orc_limit_verdict_t verdict, const orc_limit_info_t *info);

/* Every client key's requests are counted (for /metrics); those of a key
 * with limits are also checked.
 *
 * Admits one request of KEY with about TOKENS input tokens: its minute
 * allowance, tokens, parallel requests and budgets.  An admitted request
 * must be ended with orc_limits_end() once.  PENDING: CB(ARG) decides
 * later (never from inside this call). */
orc_limit_verdict_t orc_limits_admit(orc_limits_t *l, const orc_key_t *key, long tokens,
                                     orc_limit_info_t *info, orc_limit_cb cb, void *arg);
/* Cancels a PENDING admission: CB will not run. */
void orc_limits_cancel(orc_limits_t *l, void *arg);
/* An admitted request ended: it used INPUT and OUTPUT tokens and cost
 * COST_USD (its input was estimated at admission for the tokens limit). */
void orc_limits_end(orc_limits_t *l, const orc_key_t *key, long input_tokens, long output_tokens,
                    double cost_usd);
/* Work of KEY done after its request ended (an asynchronous orchestration):
 * counted like orc_limits_end but holds no parallel request. */
void orc_limits_charge(orc_limits_t *l, const orc_key_t *key, long input_tokens, long output_tokens,
                       double cost_usd);

/* Has KEY any limit or budget at all? */
bool orc_limits_apply(const orc_key_t *key);

/* The period number of WALL_MS for a budget period name: 20261206 (day),
 * 202612 (month), 1 (total). */
uint64_t orc_limits_period(const char *period, uint64_t wall_ms);

typedef struct {
    bool fleet;         /* limits held across replicas through Redis */
    uint64_t leases;    /* slices asked for */
    uint64_t flushes;   /* counts added in Redis */
    uint64_t untracked; /* admissions with no shared-memory entry free (not limited) */
    uint64_t rebuilds;  /* spends rebuilt from the request log */
} orc_limits_stats_t;

orc_limits_stats_t orc_limits_stats(const orc_limits_t *l);

#endif
