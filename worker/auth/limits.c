/*
 * limits.c - rate limits, parallel requests and budgets of client keys
 * (see limits.h for what is promised).
 *
 * Shared memory holds one orc_keylimit_t per key (and per team with a
 * budget), found by a hash of its name with linear probing.  This worker
 * keeps, per entry, the Redis key names, what it has counted but not yet
 * sent to Redis, the admissions waiting for a slice or for the spend, and
 * whether it is asking Redis for either.
 */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/auth/limits.h"
#include "worker/store/db.h"
#include "worker/store/redis.h"

#define PROBES 16
#define IDLE_MS 120000      /* an entry unused this long (and idle) may be taken by another key */
#define SLICES 50           /* a minute's allowance is granted in this many slices */
#define FLUSH_MS 1000       /* counts sent to Redis this often */
#define RETRY_MS 1000       /* after Redis or PostgreSQL failed, they are not asked for this long */
#define MINUTE_TTL_S 120    /* Redis keys of one minute */
#define SPEND_TTL_S 3456000 /* 40 days: a month's spend outlives its month */
#define NAME_SIZE 160

/* INCRBY that sets an expiry on the key it creates; returns the total. */
static const char add_script[] = "local t = redis.call('INCRBY', KEYS[1], ARGV[1]) "
                                 "if t == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
                                 "return t";
/* INCRBY only of a spend that exists (else nil: it must be rebuilt first). */
static const char spend_script[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return false end "
                                   "return redis.call('INCRBY', KEYS[1], ARGV[1])";
static const char spend_key_sql[] =
    "SELECT (coalesce(sum(cost_usd), 0) * 1000000000)::bigint FROM orchestration_requests "
    "WHERE key_id = $1 AND created_at >= to_timestamp($2::float8)";
static const char spend_team_sql[] =
    "SELECT (coalesce(sum(cost_usd), 0) * 1000000000)::bigint FROM orchestration_requests "
    "WHERE team = $1 AND created_at >= to_timestamp($2::float8)";

typedef struct waiter_s {
    orc_key_t *key; /* one reference */
    long tokens;
    uint64_t queued_ms; /* a Redis answer about parallel slots after this decides */
    int slots_idx;      /* the entry whose parallel_waiting counts it, -1 if none */
    orc_limit_cb cb;
    void *arg;
    struct waiter_s *next;
} waiter_t;

/* This worker's view of one shared-memory entry. */
typedef struct {
    char name[NAME_SIZE]; /* "key_..." or "team:<name>" */
    bool team;
    long tokens_delta; /* counted, not yet sent to Redis */
    uint64_t tokens_minute;
    long spend_delta; /* nano-dollars */
    uint64_t spend_period;
    bool leasing, loading, flushing, holding;
    uint64_t slots_answered_ms; /* when Redis last answered about parallel slots */
    long parallel_max;          /* the key's max_parallel, for renewing its holding */
    bool dirty;
} local_t;

struct orc_limits_s {
    orc_limits_env_t env;
    char gateway[96]; /* this gateway's name in the Redis holdings: host, master pid, start time */
    local_t local[ORC_SHM_KEYS];
    waiter_t *waiters; /* admissions waiting for a slice or a spend */
    struct event *flush_ev;
    uint64_t redis_failed_ms; /* when Redis last failed us (monotonic) */
    uint64_t spend_failed_ms; /* when the spend could last not be read */
    orc_limits_stats_t stats;
};

typedef enum { NEED_NOTHING, NEED_SLICE, NEED_SPEND, NEED_SLOTS } need_t;

static void retry_waiters(orc_limits_t *l);
static void count_request(orc_limits_t *l, int idx, const orc_key_t *key);

/* ---- time ------------------------------------------------------------------- */

static uint64_t minute_now(void)
{
    return orc_wall_ms() / 60000;
}

uint64_t orc_limits_period(const char *period, uint64_t wall_ms)
{
    /* The calendar of the last minute asked about: one gmtime_r a minute. */
    static uint64_t memo_minute = UINT64_MAX, memo_day, memo_month;
    if (wall_ms / 60000 != memo_minute) {
        time_t t = (time_t)(wall_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        memo_month = (uint64_t)(tm.tm_year + 1900) * 100 + (uint64_t)tm.tm_mon + 1;
        memo_day = memo_month * 100 + (uint64_t)tm.tm_mday;
        memo_minute = wall_ms / 60000;
    }
    if (strcmp(period, "day") == 0)
        return memo_day;
    return strcmp(period, "month") == 0 ? memo_month : 1;
}

/* When PERIOD (a number of orc_limits_period) began, in Unix seconds. */
static long period_start(uint64_t period)
{
    if (period < 100000)
        return 0; /* total */
    struct tm tm = {0};
    bool day = period > 1000000;
    uint64_t month = day ? period / 100 : period;
    tm.tm_year = (int)(month / 100) - 1900;
    tm.tm_mon = (int)(month % 100) - 1;
    tm.tm_mday = day ? (int)(period % 100) : 1;
    return (long)timegm(&tm);
}

/* ---- entries -------------------------------------------------------------------- */

static uint64_t name_tag(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *name != '\0'; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ULL;
    return h | 1;
}

static void entry_reset(orc_keylimit_t *e, uint64_t tag)
{
    atomic_store(&e->minute, 0);
    atomic_store(&e->requests, 0);
    atomic_store(&e->request_grant, 0);
    atomic_store(&e->fleet_exhausted, 0);
    atomic_store(&e->tokens_unsent, 0);
    atomic_store(&e->fleet_tokens, 0);
    atomic_store(&e->inflight, 0);
    atomic_store(&e->spend_period, 0);
    atomic_store(&e->spend_unsent, 0);
    atomic_store(&e->fleet_spend, 0);
    atomic_store(&e->spend_known, 0);
    atomic_store(&e->tag, tag);
}

/* A free entry, or one idle long enough, becomes NAME's. */
static bool claim(orc_keylimit_t *e, uint64_t tag, uint64_t now)
{
    uint64_t old = atomic_load(&e->tag);
    bool idle = old != 0 && now - atomic_load(&e->last_use_ms) > IDLE_MS && atomic_load(&e->inflight) == 0;
    if (old != 0 && !idle)
        return false;
    if (!atomic_compare_exchange_strong(&e->tag, &old, tag))
        return atomic_load(&e->tag) == tag;
    entry_reset(e, tag);
    return true;
}

/* The index of NAME's entry, -1 when every probed entry is busy. */
static int entry_of(orc_limits_t *l, const char *name, bool team)
{
    uint64_t tag = name_tag(name), now = orc_now_ms();
    for (int i = 0; i < PROBES; i++) {
        int idx = (int)((tag + (uint64_t)i) % ORC_SHM_KEYS);
        orc_keylimit_t *e = &l->env.shm->keylimits[idx];
        if (atomic_load(&e->tag) == tag || claim(e, tag, now)) {
            atomic_store(&e->last_use_ms, now);
            local_t *loc = &l->local[idx];
            if (strcmp(loc->name, name) != 0) {
                snprintf(loc->name, sizeof(loc->name), "%s", name);
                loc->team = team;
            }
            return idx;
        }
    }
    l->stats.untracked++;
    return -1;
}

/* The counts of a new minute start from zero (the first worker to see it resets them). */
static void roll_minute(orc_keylimit_t *e, uint64_t minute)
{
    uint64_t m = atomic_load(&e->minute);
    if (m != minute && m < minute && atomic_compare_exchange_strong(&e->minute, &m, minute)) {
        atomic_store(&e->requests, 0);
        atomic_store(&e->request_grant, 0);
        atomic_store(&e->tokens_unsent, 0);
        atomic_store(&e->fleet_tokens, 0);
    }
}

static void roll_period(orc_keylimit_t *e, uint64_t period)
{
    uint64_t p = atomic_load(&e->spend_period);
    if (p != period && atomic_compare_exchange_strong(&e->spend_period, &p, period)) {
        atomic_store(&e->spend_known, 0);
        atomic_store(&e->fleet_spend, 0);
        atomic_store(&e->spend_unsent, 0);
    }
}

static bool fleet(const orc_limits_t *l)
{
    orc_redis_status_t s = orc_redis_status(l->env.redis);
    return s.connected && !s.breaker_open && orc_now_ms() - l->redis_failed_ms >= RETRY_MS;
}

/* ---- Redis: slices, counts, spends ----------------------------------------------- */

/* Workers' answers from Redis arrive in any order: the fleet's count only grows. */
static void store_max(_Atomic int64_t *v, int64_t n)
{
    int64_t old = atomic_load(v);
    while (old < n && !atomic_compare_exchange_weak(v, &old, n))
        ;
}

static void redis_name(const orc_limits_t *l, const char *kind, const char *name, uint64_t n, char *buf,
                       size_t size)
{
    snprintf(buf, size, "%s:%s:%s:%llu", l->env.cfg->cache_namespace, kind, name, (unsigned long long)n);
}

typedef struct {
    orc_limits_t *l;
    int idx;
    uint64_t n;  /* the minute or period asked about */
    long amount; /* added */
    long limit;  /* the allowance a slice is cut from */
} ask_t;

static ask_t *ask_new(orc_limits_t *l, int idx, uint64_t n, long amount, long limit)
{
    ask_t *a = calloc(1, sizeof(*a));
    if (a != NULL)
        *a = (ask_t){l, idx, n, amount, limit};
    return a;
}

/* Sends SCRIPT about the entry's KIND counter; frees A when it cannot. */
static int ask_redis(orc_limits_t *l, ask_t *a, const char *script, const char *kind, long ttl,
                     orc_redis_cb cb)
{
    char key[256], amount[24], ttls[24];
    redis_name(l, kind, l->local[a->idx].name, a->n, key, sizeof(key));
    snprintf(amount, sizeof(amount), "%ld", a->amount);
    snprintf(ttls, sizeof(ttls), "%ld", ttl);
    const char *argv[] = {"EVAL", script, "1", key, amount, ttls};
    int id = orc_redis_command(l->env.redis, cb, a, 6, argv, NULL);
    if (id <= 0) {
        free(a);
        l->redis_failed_ms = orc_now_ms();
    }
    return id > 0 ? ORC_OK : ORC_ERR;
}

static void on_slice(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    ask_t *a = arg;
    orc_limits_t *l = a->l;
    orc_keylimit_t *e = &l->env.shm->keylimits[a->idx];
    if (rc == ORC_REDIS_CLOSED) {
        free(a);
        return;
    }
    l->local[a->idx].leasing = false;
    if (rc != ORC_REDIS_OK || reply->type != REDIS_REPLY_INTEGER) {
        l->redis_failed_ms = orc_now_ms();
    } else if (atomic_load(&e->minute) == a->n) {
        long before = (long)reply->integer - a->amount;
        long granted = ORC_MAX(0, ORC_MIN(a->amount, a->limit - before));
        atomic_fetch_add(&e->request_grant, granted);
        if (granted < a->amount)
            atomic_store(&e->fleet_exhausted, a->n + 1);
    }
    free(a);
    retry_waiters(l);
}

/* Asks Redis for the next slice of the entry's minute allowance RPM. */
static void ask_slice(orc_limits_t *l, int idx, long rpm)
{
    if (l->local[idx].leasing)
        return;
    ask_t *a =
        ask_new(l, idx, atomic_load(&l->env.shm->keylimits[idx].minute), ORC_MAX(1, rpm / SLICES), rpm);
    if (a == NULL)
        return;
    l->local[idx].leasing = true;
    l->stats.leases++;
    if (ask_redis(l, a, add_script, "rl", MINUTE_TTL_S, on_slice) != ORC_OK)
        l->local[idx].leasing = false;
}

/* ---- parallel requests across replicas: holdings in Redis ------------------------ */

#define HOLD_TTL_MS 5000         /* a gateway that stops renewing its holding loses it */
#define HOLD_MAX ((1 << 20) - 1) /* slots a holding can say */

static long held_slots(const orc_keylimit_t *e)
{
    return (long)(atomic_load(&e->parallel_grant) & HOLD_MAX);
}

/* Sets this gateway's holding of a key's parallel slots to ARGV[2] as far
 * as the others leave room under ARGV[3]; holdings not renewed within the
 * TTL are dropped.  Returns the holding. */
static const char hold_script[] =
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "local ttl = tonumber(ARGV[4]) "
    "local h = redis.call('HGETALL', KEYS[1]) local others = 0 "
    "for i = 1, #h, 2 do "
    "  local n, exp = string.match(h[i + 1], '(%d+):(%d+)') "
    "  if tonumber(exp) < now then redis.call('HDEL', KEYS[1], h[i]) "
    "  elseif h[i] ~= ARGV[1] then others = others + tonumber(n) end "
    "end "
    "local hold = math.max(0, math.min(tonumber(ARGV[2]), tonumber(ARGV[3]) - others)) "
    "if hold > 0 then redis.call('HSET', KEYS[1], ARGV[1], hold .. ':' .. (now + ttl)) "
    "else redis.call('HDEL', KEYS[1], ARGV[1]) end "
    "redis.call('PEXPIRE', KEYS[1], ttl) return {hold, now}";

static void on_hold(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    ask_t *a = arg;
    if (rc == ORC_REDIS_CLOSED) {
        free(a);
        return;
    }
    orc_limits_t *l = a->l;
    l->local[a->idx].holding = false;
    l->local[a->idx].slots_answered_ms = orc_now_ms();
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[1]->type == REDIS_REPLY_INTEGER) {
        int64_t hold = ORC_MIN(reply->element[0]->integer, HOLD_MAX);
        store_max(&l->env.shm->keylimits[a->idx].parallel_grant, (reply->element[1]->integer << 20) | hold);
    } else {
        l->redis_failed_ms = orc_now_ms();
    }
    free(a);
    retry_waiters(l);
}

/* Asks Redis for a holding of TARGET of the entry's MAX parallel slots. */
static void ask_hold(orc_limits_t *l, int idx, long target, long max)
{
    char key[256], t[24], m[24], ttl[24];
    if (l->local[idx].holding)
        return;
    ask_t *a = ask_new(l, idx, 0, target, max);
    if (a == NULL)
        return;
    redis_name(l, "par", l->local[idx].name, 0, key, sizeof(key));
    snprintf(t, sizeof(t), "%ld", target);
    snprintf(m, sizeof(m), "%ld", max);
    snprintf(ttl, sizeof(ttl), "%d", HOLD_TTL_MS);
    const char *argv[] = {"EVAL", hold_script, "1", key, l->gateway, t, m, ttl};
    l->local[idx].holding = true;
    if (orc_redis_command(l->env.redis, on_hold, a, 8, argv, NULL) <= 0) {
        l->local[idx].holding = false;
        l->redis_failed_ms = orc_now_ms();
        free(a);
    }
}

/* The holding a gateway asks for: what runs now, what waits for a slot,
 * and a little room, so that most requests need no round trip. */
static long wanted_hold(const orc_keylimit_t *e, long max)
{
    return ORC_MIN(max, atomic_load(&e->inflight) + atomic_load(&e->parallel_waiting) + ORC_MAX(1, max / 10));
}

/* Once a second: renews the holdings of keys in use, gives back idle ones. */
static void renew_hold(orc_limits_t *l, int idx, const orc_keylimit_t *e)
{
    local_t *loc = &l->local[idx];
    if (held_slots(e) <= 0 || loc->holding || loc->name[0] == '\0' || loc->team)
        return;
    bool idle = atomic_load(&e->inflight) == 0 && orc_now_ms() - atomic_load(&e->parallel_used_ms) > 1000;
    long max = loc->parallel_max;
    ask_hold(l, idx, idle ? 0 : wanted_hold(e, max), max);
}

/* ---- the spend of a period: Redis, else rebuilt from the request log -------- */

static void spend_loaded(orc_limits_t *l, int idx, uint64_t period, long nano, bool ok)
{
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    l->local[idx].loading = false;
    if (!ok) {
        l->spend_failed_ms = orc_now_ms();
        orc_log_warn(
            "client keys: the spend of %s cannot be read (Redis and the request log are unavailable): "
            "its budget is not enforced for now",
            l->local[idx].name);
    } else if (atomic_load(&e->spend_period) == period) {
        atomic_store(&e->fleet_spend, nano);
        atomic_store(&e->spend_known, 1);
    }
    retry_waiters(l);
}

static void on_spend_stored(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    ask_t *a = arg;
    if (rc == ORC_REDIS_CLOSED) {
        free(a);
        return;
    }
    /* SET NX then GET: another replica may have stored its rebuild first */
    long nano = a->amount;
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        nano = atol(reply->element[1]->str);
    spend_loaded(a->l, a->idx, a->n, nano, true);
    free(a);
}

static void store_rebuilt_spend(orc_limits_t *l, ask_t *a)
{
    static const char script[] = "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) "
                                 "return {1, redis.call('GET', KEYS[1])}";
    if (!fleet(l) || ask_redis(l, a, script, "spend", SPEND_TTL_S, on_spend_stored) != ORC_OK) {
        if (a != NULL && !fleet(l)) { /* without Redis the rebuilt spend is this gateway's */
            spend_loaded(l, a->idx, a->n, a->amount, true);
            free(a);
        }
    }
}

static void on_spend_rows(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    ask_t *a = arg;
    (void)error;
    if (rc == ORC_PG_CLOSED || rc != ORC_PG_OK || PQntuples(res) != 1) {
        if (rc != ORC_PG_CLOSED)
            spend_loaded(a->l, a->idx, a->n, 0, false);
        free(a);
        return;
    }
    a->l->stats.rebuilds++;
    a->amount = atol(PQgetvalue(res, 0, 0));
    store_rebuilt_spend(a->l, a);
}

static void rebuild_spend(orc_limits_t *l, ask_t *a)
{
    char since[24];
    local_t *loc = &l->local[a->idx];
    if (!orc_db_enabled(l->env.db)) { /* no request log: spend counts from zero */
        store_rebuilt_spend(l, a);
        return;
    }
    snprintf(since, sizeof(since), "%ld", period_start(a->n));
    const char *values[] = {loc->team ? loc->name + 5 : loc->name, since};
    if (orc_db_query(l->env.db, loc->team ? spend_team_sql : spend_key_sql, 2, values, on_spend_rows, a) <=
        0) {
        spend_loaded(l, a->idx, a->n, 0, false);
        free(a);
    }
}

static void on_spend_read(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    ask_t *a = arg;
    if (rc == ORC_REDIS_CLOSED) {
        free(a);
        return;
    }
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_STRING) {
        spend_loaded(a->l, a->idx, a->n, atol(reply->str), true);
        free(a);
        return;
    }
    if (rc != ORC_REDIS_OK)
        a->l->redis_failed_ms = orc_now_ms();
    rebuild_spend(a->l, a);
}

static void load_spend(orc_limits_t *l, int idx, uint64_t period)
{
    if (l->local[idx].loading)
        return;
    ask_t *a = ask_new(l, idx, period, 0, 0);
    if (a == NULL)
        return;
    l->local[idx].loading = true;
    if (!fleet(l)) {
        rebuild_spend(l, a);
        return;
    }
    char key[256];
    redis_name(l, "spend", l->local[idx].name, period, key, sizeof(key));
    const char *argv[] = {"GET", key};
    if (orc_redis_command(l->env.redis, on_spend_read, a, 2, argv, NULL) <= 0)
        rebuild_spend(l, a);
}

/* ---- admission ---------------------------------------------------------------- */

static long seconds_to_next_minute(void)
{
    return 60 - (long)(orc_wall_ms() / 1000 % 60);
}

/* Over BUDGET (USD) in its PERIOD?  NEED_SPEND while the spend is unknown. */
static need_t spend_state(orc_limits_t *l, const char *name, bool team, double budget, const char *period,
                          bool *over)
{
    *over = false;
    if (budget < 0)
        return NEED_NOTHING;
    int idx = entry_of(l, name, team);
    if (idx < 0)
        return NEED_NOTHING;
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    uint64_t p = orc_limits_period(period, orc_wall_ms());
    roll_period(e, p);
    if (!atomic_load(&e->spend_known) && orc_now_ms() - l->spend_failed_ms >= RETRY_MS)
        load_spend(l, idx, p); /* may complete at once (no Redis, PostgreSQL refusing) */
    if (!atomic_load(&e->spend_known))
        return l->local[idx].loading ? NEED_SPEND : NEED_NOTHING; /* unknown: not enforced (logged) */
    *over = atomic_load(&e->fleet_spend) + atomic_load(&e->spend_unsent) >= llround(budget * 1e9);
    return NEED_NOTHING;
}

static orc_limit_verdict_t check_budgets(orc_limits_t *l, const orc_key_t *key, orc_limit_info_t *info,
                                         need_t *need)
{
    char team[NAME_SIZE];
    bool over = false;
    *need = spend_state(l, key->id, false, key->budget_usd, key->budget_period, &over);
    if (*need == NEED_NOTHING && over) {
        info->what = "budget";
        return ORC_LIMIT_OVER_BUDGET;
    }
    snprintf(team, sizeof(team), "team:%s", key->team);
    need_t team_need = key->team[0]
                           ? spend_state(l, team, true, key->team_budget_usd, key->team_budget_period, &over)
                           : NEED_NOTHING;
    if (team_need == NEED_NOTHING && over && key->team[0]) {
        info->what = "team budget";
        return ORC_LIMIT_OVER_BUDGET;
    }
    if (team_need != NEED_NOTHING)
        *need = team_need;
    return ORC_LIMIT_ADMITTED;
}

static orc_limit_verdict_t check_tokens(orc_keylimit_t *e, const orc_key_t *key, orc_limit_info_t *info)
{
    if (key->tpm <= 0)
        return ORC_LIMIT_ADMITTED;
    long used = atomic_load(&e->fleet_tokens) + atomic_load(&e->tokens_unsent);
    info->tokens_limit = key->tpm;
    info->tokens_remaining = ORC_MAX(0, key->tpm - used);
    if (used < key->tpm)
        return ORC_LIMIT_ADMITTED;
    info->what = "tokens";
    info->retry_after_s = seconds_to_next_minute();
    return ORC_LIMIT_RATE_LIMITED;
}

/* One more request of this minute: granted, refused, or NEED_SLICE. */
static orc_limit_verdict_t take_request(orc_limits_t *l, int idx, const orc_key_t *key,
                                        orc_limit_info_t *info, need_t *need)
{
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    if (key->rpm <= 0)
        return ORC_LIMIT_ADMITTED;
    bool shared = fleet(l);
    long r = atomic_fetch_add(&e->requests, 1) + 1;
    long cap = shared ? atomic_load(&e->request_grant) : key->rpm;
    info->limit = key->rpm;
    info->remaining = ORC_MAX(0, key->rpm - r);
    if (r <= cap) {
        if (shared && cap - r < ORC_MAX(1, key->rpm / SLICES) / 2 + 1 &&
            atomic_load(&e->fleet_exhausted) != atomic_load(&e->minute) + 1)
            ask_slice(l, idx, key->rpm); /* the next slice before this one runs out */
        return ORC_LIMIT_ADMITTED;
    }
    atomic_fetch_sub(&e->requests, 1);
    if (shared && atomic_load(&e->fleet_exhausted) != atomic_load(&e->minute) + 1) {
        ask_slice(l, idx, key->rpm);
        if (l->local[idx].leasing) {
            *need = NEED_SLICE;
            return ORC_LIMIT_ADMITTED;
        }
        return take_request(l, idx, key, info, need); /* Redis failed at once: on our own now */
    }
    info->what = "requests";
    info->remaining = 0;
    info->retry_after_s = seconds_to_next_minute();
    return ORC_LIMIT_RATE_LIMITED;
}

/* One more request in progress: within the gateway's holding (across
 * replicas) or within the limit (on its own).  Past it, Redis is asked for
 * a larger holding once per request (NEED_SLOTS); then it is refused. */
static orc_limit_verdict_t take_parallel(orc_limits_t *l, int idx, const orc_key_t *key,
                                         orc_limit_info_t *info, need_t *need, uint64_t queued_ms,
                                         int *waiting_idx)
{
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    if (key->max_parallel <= 0)
        return ORC_LIMIT_ADMITTED;
    bool shared = fleet(l);
    long cap = shared ? ORC_MIN(key->max_parallel, held_slots(e)) : key->max_parallel;
    l->local[idx].parallel_max = key->max_parallel;
    if (atomic_fetch_add(&e->inflight, 1) < cap) {
        atomic_fetch_add(&l->env.slot->key_inflight[idx],
                         1); /* given back by the master if this worker dies */
        atomic_store(&e->parallel_used_ms, orc_now_ms());
        return ORC_LIMIT_ADMITTED;
    }
    atomic_fetch_sub(&e->inflight, 1);
    if (shared && cap < key->max_parallel && l->local[idx].slots_answered_ms <= queued_ms) {
        atomic_fetch_add(&e->parallel_waiting, 1); /* until decided: in every worker's holding asked for */
        ask_hold(l, idx, wanted_hold(e, key->max_parallel), key->max_parallel);
        if (l->local[idx].holding) {
            *need = NEED_SLOTS;
            *waiting_idx = idx;
            return ORC_LIMIT_ADMITTED;
        }
        atomic_fetch_sub(&e->parallel_waiting, 1);
    }
    info->what = "parallel requests";
    info->retry_after_s = 1;
    return ORC_LIMIT_RATE_LIMITED;
}

static void count_tokens(orc_limits_t *l, int idx, long tokens)
{
    if (tokens <= 0)
        return;
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    local_t *loc = &l->local[idx];
    uint64_t minute = atomic_load(&e->minute);
    atomic_fetch_add(&e->tokens_unsent, tokens);
    if (loc->tokens_minute != minute)
        loc->tokens_delta = 0; /* what was not sent belongs to a minute that is over */
    loc->tokens_minute = minute;
    loc->tokens_delta += tokens;
    loc->dirty = true;
}

static orc_limit_verdict_t try_admit(orc_limits_t *l, const orc_key_t *key, long tokens,
                                     orc_limit_info_t *info, need_t *need, uint64_t queued_ms,
                                     int *waiting_idx)
{
    *need = NEED_NOTHING;
    memset(info, 0, sizeof(*info));
    info->reset_s = seconds_to_next_minute();
    orc_limit_verdict_t v = check_budgets(l, key, info, need);
    if (v != ORC_LIMIT_ADMITTED || *need != NEED_NOTHING)
        return v;
    int idx = entry_of(l, key->id, false);
    if (idx < 0)
        return ORC_LIMIT_ADMITTED;
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    roll_minute(e, minute_now());
    if ((v = check_tokens(e, key, info)) != ORC_LIMIT_ADMITTED)
        return v;
    if ((v = take_request(l, idx, key, info, need)) != ORC_LIMIT_ADMITTED || *need != NEED_NOTHING)
        return v;
    v = take_parallel(l, idx, key, info, need, queued_ms, waiting_idx);
    if (v != ORC_LIMIT_ADMITTED || *need != NEED_NOTHING) {
        if (key->rpm > 0)
            atomic_fetch_sub(&e->requests, 1);
        return v;
    }
    if (key->tpm > 0)
        count_tokens(l, idx, tokens);
    count_request(l, idx, key);
    return ORC_LIMIT_ADMITTED;
}

bool orc_limits_apply(const orc_key_t *key)
{
    return key != NULL && key->caller == ORC_CALLER_KEY &&
           (key->rpm > 0 || key->tpm > 0 || key->max_parallel > 0 || key->budget_usd >= 0 ||
            (key->team[0] && key->team_budget_usd >= 0));
}

/* One more request of KEY in its entry's totals, under its current labels. */
static void count_request(orc_limits_t *l, int idx, const orc_key_t *key)
{
    if (idx < 0)
        return;
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    if (strncmp(e->label, key->name, sizeof(e->label) - 1) != 0 ||
        strncmp(e->team_label, key->team, sizeof(e->team_label) - 1) != 0) {
        snprintf(e->label, sizeof(e->label), "%.*s", (int)sizeof(e->label) - 1, key->name);
        snprintf(e->team_label, sizeof(e->team_label), "%.*s", (int)sizeof(e->team_label) - 1, key->team);
    }
    atomic_fetch_add(&e->requests_total, 1);
}

orc_limit_verdict_t orc_limits_admit(orc_limits_t *l, const orc_key_t *key, long tokens,
                                     orc_limit_info_t *info, orc_limit_cb cb, void *arg)
{
    need_t need;
    memset(info, 0, sizeof(*info));
    if (key == NULL || key->caller != ORC_CALLER_KEY)
        return ORC_LIMIT_ADMITTED;
    if (!orc_limits_apply(key)) {
        count_request(l, entry_of(l, key->id, false), key);
        return ORC_LIMIT_ADMITTED;
    }
    uint64_t now = orc_now_ms();
    int waiting_idx = -1;
    orc_limit_verdict_t v = try_admit(l, key, tokens, info, &need, now, &waiting_idx);
    if (need == NEED_NOTHING)
        return v;
    waiter_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ORC_LIMIT_ADMITTED; /* out of memory: not limited rather than refused */
    *w = (waiter_t){orc_key_ref((orc_key_t *)key), tokens, now, waiting_idx, cb, arg, l->waiters};
    l->waiters = w;
    return ORC_LIMIT_PENDING;
}

static void stop_waiting(orc_limits_t *l, waiter_t *w)
{
    if (w->slots_idx >= 0)
        atomic_fetch_sub(&l->env.shm->keylimits[w->slots_idx].parallel_waiting, 1);
    w->slots_idx = -1;
}

/* Decides again for every waiting admission; those still waiting stay. */
static void retry_waiters(orc_limits_t *l)
{
    waiter_t *list = l->waiters, *still = NULL;
    l->waiters = NULL;
    while (list != NULL) {
        waiter_t *w = list;
        list = w->next;
        need_t need;
        orc_limit_info_t info;
        stop_waiting(l, w);
        orc_limit_verdict_t v = try_admit(l, w->key, w->tokens, &info, &need, w->queued_ms, &w->slots_idx);
        if (need != NEED_NOTHING) {
            w->next = still;
            still = w;
            continue;
        }
        w->cb(w->arg, v, &info);
        orc_key_unref(w->key);
        free(w);
    }
    /* callbacks may have added waiters meanwhile */
    waiter_t **tail = &l->waiters;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = still;
}

void orc_limits_cancel(orc_limits_t *l, void *arg)
{
    for (waiter_t **pp = &l->waiters; *pp != NULL;) {
        waiter_t *w = *pp;
        if (w->arg == arg) {
            *pp = w->next;
            stop_waiting(l, w);
            orc_key_unref(w->key);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

static void count_spend(orc_limits_t *l, const char *name, bool team, long nano)
{
    int idx = entry_of(l, name, team);
    if (idx < 0 || nano <= 0)
        return;
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    local_t *loc = &l->local[idx];
    uint64_t period = atomic_load(&e->spend_period);
    atomic_fetch_add(&e->spend_unsent, nano);
    if (loc->spend_period != period)
        loc->spend_delta = 0;
    loc->spend_period = period;
    loc->spend_delta += nano;
    loc->dirty = true;
}

static void charge(orc_limits_t *l, const orc_key_t *key, long input_tokens, long output_tokens,
                   double cost_usd, bool ended)
{
    if (key == NULL || key->caller != ORC_CALLER_KEY)
        return;
    int idx = entry_of(l, key->id, false);
    if (idx < 0)
        return;
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    long nano = cost_usd > 0 ? llround(cost_usd * 1e9) : 0;
    atomic_fetch_add(&e->tokens_total,
                     (uint64_t)ORC_MAX(0, input_tokens) + (uint64_t)ORC_MAX(0, output_tokens));
    atomic_fetch_add(&e->cost_nano_total, (uint64_t)nano);
    if (!orc_limits_apply(key))
        return;
    if (ended && key->max_parallel > 0 && atomic_load(&l->env.slot->key_inflight[idx]) > 0) {
        atomic_fetch_sub(&l->env.slot->key_inflight[idx], 1);
        atomic_fetch_sub(&e->inflight, 1);
    }
    if (key->tpm > 0 && atomic_load(&e->minute) == minute_now())
        count_tokens(l, idx, output_tokens);
    if (key->budget_usd >= 0)
        count_spend(l, key->id, false, nano);
    if (key->team[0] && key->team_budget_usd >= 0) {
        char team[NAME_SIZE];
        snprintf(team, sizeof(team), "team:%s", key->team);
        count_spend(l, team, true, nano);
    }
}

void orc_limits_end(orc_limits_t *l, const orc_key_t *key, long input_tokens, long output_tokens,
                    double cost_usd)
{
    charge(l, key, input_tokens, output_tokens, cost_usd, true);
}

void orc_limits_charge(orc_limits_t *l, const orc_key_t *key, long input_tokens, long output_tokens,
                       double cost_usd)
{
    charge(l, key, input_tokens, output_tokens, cost_usd, false);
}

/* ---- sending counts to Redis, once a second ------------------------------------ */

/* The local state of the entry an answered count was about; NULL (and A
 * freed) when the client closed before the answer. */
static local_t *count_answered(ask_t *a, orc_redis_rc_t rc)
{
    if (rc == ORC_REDIS_CLOSED) {
        free(a);
        return NULL;
    }
    a->l->local[a->idx].flushing = false;
    return &a->l->local[a->idx];
}

/* Redis added AMOUNT to the fleet's count: its total replaces what this
 * gateway had not sent (raised first, so the sum is never undercounted). */
static void count_accepted(_Atomic int64_t *fleet, _Atomic int64_t *unsent, const redisReply *reply,
                           long amount)
{
    store_max(fleet, (int64_t)reply->integer);
    atomic_fetch_sub(unsent, amount);
}

static void on_tokens_sent(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    ask_t *a = arg;
    local_t *loc = count_answered(a, rc);
    if (loc == NULL)
        return;
    orc_keylimit_t *e = &a->l->env.shm->keylimits[a->idx];
    if (rc != ORC_REDIS_OK || reply->type != REDIS_REPLY_INTEGER) {
        a->l->redis_failed_ms = orc_now_ms();
        if (loc->tokens_minute == a->n) /* sent again next time */
            loc->tokens_delta += a->amount;
    } else if (atomic_load(&e->minute) == a->n) {
        count_accepted(&e->fleet_tokens, &e->tokens_unsent, reply, a->amount);
    }
    free(a);
}

static void on_spend_sent(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    ask_t *a = arg;
    local_t *loc = count_answered(a, rc);
    if (loc == NULL)
        return;
    orc_keylimit_t *e = &a->l->env.shm->keylimits[a->idx];
    bool same = atomic_load(&e->spend_period) == a->n;
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_INTEGER && same) {
        count_accepted(&e->fleet_spend, &e->spend_unsent, reply, a->amount);
    } else if (same) {
        loc->spend_delta += a->amount; /* sent again once the spend is known again */
        if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_NIL)
            atomic_store(&e->spend_known, 0); /* Redis lost it: rebuilt on the next admission */
        else
            a->l->redis_failed_ms = orc_now_ms();
    }
    free(a);
}

static void flush_entry(orc_limits_t *l, int idx)
{
    local_t *loc = &l->local[idx];
    if (loc->tokens_delta > 0) {
        ask_t *a = ask_new(l, idx, loc->tokens_minute, loc->tokens_delta, 0);
        if (a != NULL && ask_redis(l, a, add_script, "tpm", MINUTE_TTL_S, on_tokens_sent) == ORC_OK) {
            loc->tokens_delta = 0;
            loc->flushing = true;
            l->stats.flushes++;
        }
    }
    orc_keylimit_t *e = &l->env.shm->keylimits[idx];
    if (loc->spend_delta > 0 && atomic_load(&e->spend_known)) {
        ask_t *a = ask_new(l, idx, loc->spend_period, loc->spend_delta, 0);
        if (a != NULL && ask_redis(l, a, spend_script, "spend", SPEND_TTL_S, on_spend_sent) == ORC_OK) {
            loc->spend_delta = 0;
            loc->flushing = true;
            l->stats.flushes++;
        }
    }
    loc->dirty = loc->tokens_delta > 0 || loc->spend_delta > 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    orc_limits_t *l = arg;
    (void)fd;
    (void)what;
    if (l->waiters != NULL) /* a backstop: an answer that never came does not hold a request longer */
        retry_waiters(l);
    if (!fleet(l))
        return; /* on its own: the counts stay in shared memory */
    for (int idx = 0; idx < ORC_SHM_KEYS; idx++) {
        if (l->local[idx].dirty && !l->local[idx].flushing)
            flush_entry(l, idx);
        renew_hold(l, idx, &l->env.shm->keylimits[idx]);
    }
}

/* ---- life ------------------------------------------------------------------------ */

orc_limits_t *orc_limits_new(const orc_limits_env_t *env)
{
    orc_limits_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->env = *env;
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(l->gateway, sizeof(l->gateway), "%.63s:%d:%llu", host, (int)atomic_load(&env->shm->master_pid),
             (unsigned long long)atomic_load(&env->shm->started_wall_ms));
    l->redis_failed_ms = orc_now_ms() - RETRY_MS;
    l->spend_failed_ms = orc_now_ms() - RETRY_MS;
    l->flush_ev = event_new(env->base, -1, EV_PERSIST, on_flush, l);
    struct timeval every = {FLUSH_MS / 1000, (FLUSH_MS % 1000) * 1000};
    if (l->flush_ev == NULL || event_add(l->flush_ev, &every) != 0) {
        orc_limits_free(l);
        return NULL;
    }
    return l;
}

void orc_limits_free(orc_limits_t *l)
{
    if (l == NULL)
        return;
    if (l->flush_ev != NULL)
        event_free(l->flush_ev);
    while (l->waiters != NULL) {
        waiter_t *w = l->waiters;
        l->waiters = w->next;
        orc_limit_info_t info = {.what = "requests", .retry_after_s = 1};
        stop_waiting(l, w);
        w->cb(w->arg, ORC_LIMIT_RATE_LIMITED, &info);
        orc_key_unref(w->key);
        free(w);
    }
    free(l);
}

orc_limits_stats_t orc_limits_stats(const orc_limits_t *l)
{
    orc_limits_stats_t s = l->stats;
    s.fleet = fleet(l);
    return s;
}
