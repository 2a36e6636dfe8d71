/*
 * shm.h - layout of the one shared-memory segment.
 *
 * Made by the master before the first fork; it survives reloads.  Who
 * writes what (docs/architecture.md section 2 has the full table):
 *   - a slot: its worker, while the slot is claimed; the master only
 *     claims a free slot before the fork (pid, state, generation, index)
 *     and retires it after waitpid, folding its counters into the retired
 *     totals under a sequence counter, so readers never see a total go
 *     backwards;
 *   - the header: the master, except the fleet-wide words every worker
 *     changes with compare-and-swap or a single store: the breakers and
 *     dwa_reset_ms.
 * There is no lock anywhere: a process killed at any instruction cannot
 * wedge the others.
 */
#ifndef ORC_SHM_H
#define ORC_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/breaker.h"

#define ORC_SHM_MAGIC 0x3130484d5343524fULL /* "ORCSHM01" */
#define ORC_SHM_LAYOUT 5
#define ORC_ROUTES_MAX 48
#define ORC_STATUS_MAX 24
#define ORC_SHM_PROVIDERS 32 /* distinct provider names over the master's life */
#define ORC_SHM_PROVIDER_NAME 32
#define ORC_SHM_FAIL_CLASSES 8 /* indexed by orc_fail_class_t */
#define ORC_SHM_KEYS 1024      /* client keys (and teams with a budget) tracked at once by one gateway */
#define ORC_SHM_KEY_LABEL 64   /* bytes of a key's name kept for metrics labels */

/* Response status codes counted one by one; the rest are "other". */
#define ORC_STATUS_CODES                                                                                     \
    200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 501, 502, \
        503, 504

/* Request latency histogram upper bounds in microseconds (+Inf is implicit). */
#define ORC_LATENCY_BOUNDS_US                                                                                \
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, \
        30000000, 60000000
#define ORC_LATENCY_BUCKETS 17

typedef enum {
    ORC_SLOT_FREE = 0,
    ORC_SLOT_STARTING,
    ORC_SLOT_SERVING,
    ORC_SLOT_DRAINING,
} orc_slot_state_t;

typedef enum {
    ORC_MASTER_STARTING = 0,
    ORC_MASTER_RUNNING,
    ORC_MASTER_RELOADING,
    ORC_MASTER_STOPPING,
} orc_master_state_t;

/* Upstream calls to one provider (by its stable shm index). */
typedef struct {
    _Atomic uint64_t calls;     /* attempts sent upstream */
    _Atomic uint64_t successes; /* attempts answered successfully */
    _Atomic uint64_t failures[ORC_SHM_FAIL_CLASSES];
    _Atomic uint64_t latency_us_sum; /* of successful attempts */
    _Atomic uint64_t ttft_us_sum;    /* time to first byte, successful attempts */
    _Atomic uint64_t tokens_in;
    _Atomic uint64_t tokens_out;
    _Atomic uint64_t cost_nano_usd;
    _Atomic uint64_t retries;        /* attempts that were retries on the same provider */
    _Atomic uint64_t fallbacks;      /* requests that moved on to the next provider */
    _Atomic uint64_t feedback_milli; /* sum of quality feedback scores x 1000 */
    _Atomic uint64_t feedback_count;
} orc_provider_counters_t;

/* DWA statistics of one worker slot for one provider.  Written only by the
 * slot's worker; kept when the worker dies, so its replacement in the slot
 * carries on and the fleet's sliding window never loses a dead worker's
 * calls.  Readers tolerate a bucket being recycled under them. */
#define ORC_DWA_BUCKETS 12 /* the window is 12 buckets of window/12 each */
#define ORC_DWA_HIST 20    /* latency histogram bins, for p95 */
#define ORC_DWA_RING 256   /* request id -> provider, for feedback */

typedef struct {
    _Atomic uint64_t epoch; /* bucket number since the epoch (ms / bucket width); 0: empty */
    _Atomic uint32_t calls;
    _Atomic uint32_t successes;
    _Atomic uint32_t failures;
    _Atomic uint32_t hist[ORC_DWA_HIST];
} orc_dwa_bucket_t;

typedef struct {
    orc_dwa_bucket_t buckets[ORC_DWA_BUCKETS];
    /* time-decayed sums (doubles stored as bits), decayed to updated_ms */
    _Atomic uint64_t latency_sum, ttft_sum, success_sum, weight_sum;
    _Atomic uint64_t updated_ms;
    _Atomic uint64_t last_error_ms; /* wall clock */
    char last_error[96];
} orc_dwa_slot_t;

typedef struct {
    char request_id[56];
    _Atomic int32_t provider; /* shm index, -1 empty */
} orc_dwa_ring_entry_t;

/* Monotonic counters: only ever added to.  Summed across slots by readers. */
typedef struct {
    _Atomic uint64_t requests[ORC_ROUTES_MAX][ORC_STATUS_MAX];
    _Atomic uint64_t latency_bucket[ORC_LATENCY_BUCKETS];
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t latency_count;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t shed;            /* requests refused with 503 above worker_connections */
    _Atomic uint64_t bad_requests;    /* rejected by the HTTP parser before routing */
    _Atomic uint64_t connections;     /* client connections accepted */
    _Atomic uint64_t reqlog_spooled;  /* request-log records written to the spool */
    _Atomic uint64_t reqlog_shipped;  /* records stored in PostgreSQL (or already there) */
    _Atomic uint64_t reqlog_rejected; /* records PostgreSQL refused, set aside */
    _Atomic uint64_t reqlog_lost;     /* records that could not be spooled */
    _Atomic uint64_t cache_hits;      /* response cache: answered from Redis */
    _Atomic uint64_t cache_misses;    /* looked up, not found */
    _Atomic uint64_t cache_bypasses; /* not looked up: not cacheable, no-cache, disabled, Redis unavailable */
    _Atomic uint64_t cache_stores;   /* answers written */
    _Atomic uint64_t cache_errors;   /* Redis failures and timeouts of cache commands */
    orc_provider_counters_t providers[ORC_SHM_PROVIDERS];
} orc_counters_t;

#define ORC_COUNTERS_WORDS (sizeof(orc_counters_t) / sizeof(uint64_t))

typedef struct {
    _Atomic int32_t pid;
    _Atomic uint32_t state;
    _Atomic uint32_t generation;
    _Atomic uint32_t index; /* worker number within its generation */
    _Atomic uint64_t started_wall_ms;
    _Atomic uint64_t heartbeat_ms; /* CLOCK_MONOTONIC */
    _Atomic int64_t inflight;
    _Atomic uint64_t rss_kb;
    _Atomic uint64_t served;               /* requests completed, any route */
    _Atomic uint64_t reqlog_spool_bytes;   /* size of the spool files this worker holds */
    _Atomic uint64_t reqlog_backlog_bytes; /* of which not yet in PostgreSQL */
    _Atomic int64_t provider_inflight[ORC_SHM_PROVIDERS];
    _Atomic uint64_t provider_last_success_ms[ORC_SHM_PROVIDERS]; /* wall clock; readers take the max */
    orc_dwa_slot_t dwa[ORC_SHM_PROVIDERS];
    orc_dwa_ring_entry_t ring[ORC_DWA_RING];
    _Atomic uint32_t ring_next;
    /* requests of each client key (keylimits index) in progress in this
     * worker: taken back from keylimits[].inflight when it dies */
    _Atomic uint16_t key_inflight[ORC_SHM_KEYS];
    orc_counters_t counters;
} __attribute__((aligned(64))) orc_slot_t;

/* The usage of one client key across the workers of a gateway (its rate
 * limits, parallel requests and budget: worker/auth/limits.c).  Counts
 * are of one wall-clock minute, spend of one budget period. */
typedef struct {
    _Atomic uint64_t tag;             /* which key (a hash of its id); 0: free */
    _Atomic uint64_t last_use_ms;     /* CLOCK_MONOTONIC: idle entries are reused */
    _Atomic uint64_t minute;          /* the wall-clock minute of the counts below */
    _Atomic int64_t requests;         /* admitted by this gateway in that minute */
    _Atomic int64_t request_grant;    /* of the key's per-minute allowance, granted to this gateway */
    _Atomic uint64_t fleet_exhausted; /* minute + 1 once Redis granted the last of the allowance */
    _Atomic int64_t tokens_unsent;    /* counted by this gateway in that minute, not yet added in Redis */
    _Atomic int64_t fleet_tokens;     /* the fleet's count in that minute, as Redis last said */
    _Atomic int64_t inflight;         /* requests in progress */
    _Atomic int64_t parallel_grant; /* this gateway's holding of the key's parallel slots in Redis, as (Redis
                                       time in ms << 20) | slots: the latest answer wins */
    _Atomic int64_t parallel_waiting;  /* requests waiting for Redis to grant more slots */
    _Atomic uint64_t parallel_used_ms; /* when a request last ran (monotonic): idle holdings are given back */
    _Atomic uint64_t spend_period;     /* budget period of the spend below (orc_limits_period) */
    _Atomic int64_t spend_unsent;      /* nano-dollars spent by this gateway, not yet added in Redis */
    _Atomic int64_t fleet_spend;       /* nano-dollars spent in the period, as Redis or the log said */
    _Atomic uint32_t spend_known;      /* fleet_spend was loaded for spend_period */
    /* for /metrics: totals since the entry was taken, and its labels */
    _Atomic uint64_t requests_total;
    _Atomic uint64_t tokens_total;
    _Atomic uint64_t cost_nano_total;
    char label[ORC_SHM_KEY_LABEL];      /* the key's name (or the team's), truncated */
    char team_label[ORC_SHM_KEY_LABEL]; /* the key's team, "" for none */
} __attribute__((aligned(64))) orc_keylimit_t;

typedef struct {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t nslots;
    uint64_t size;
    uint32_t nproviders; /* unused: kept so the layout does not change */
    _Atomic int32_t master_pid;
    _Atomic uint32_t master_state;
    _Atomic uint32_t generation;
    _Atomic uint64_t started_wall_ms;
    _Atomic uint64_t worker_restarts;
    _Atomic uint64_t reloads;
    _Atomic uint64_t reload_failures;
    _Atomic uint32_t fold_seq;        /* odd while the master folds a slot */
    _Atomic uint32_t nprovider_names; /* entries below are written once, before this grows */
    char provider_names[ORC_SHM_PROVIDERS][ORC_SHM_PROVIDER_NAME];
    orc_breaker_t breakers[ORC_SHM_PROVIDERS];        /* fleet-wide, CAS only */
    _Atomic uint64_t dwa_reset_ms[ORC_SHM_PROVIDERS]; /* statistics older than this are ignored */
    orc_keylimit_t keylimits[ORC_SHM_KEYS]; /* client keys' usage, for every worker of the gateway */
    orc_counters_t retired;
    orc_slot_t slots[] __attribute__((aligned(64)));
} orc_shm_t;

orc_shm_t *orc_shm_create(uint32_t nslots);
void orc_shm_destroy(orc_shm_t *shm);
int orc_shm_valid(const orc_shm_t *shm);

int orc_shm_slot_claim(orc_shm_t *shm, uint32_t generation, uint32_t index);
void orc_shm_slot_retire(orc_shm_t *shm, int slot);
void orc_shm_sum(const orc_shm_t *shm, orc_counters_t *out);

/* Master only: the stable index of provider NAME, assigned on first use. */
int orc_shm_provider_register(orc_shm_t *shm, const char *name);
/* Any process: the index of NAME, or ORC_ERR. */
int orc_shm_provider_find(const orc_shm_t *shm, const char *name);

int orc_shm_status_index(int status);
int orc_shm_status_code(int index); /* 0 for "other" */
int orc_shm_latency_bucket(uint64_t us);
uint64_t orc_shm_latency_bound_us(int bucket); /* UINT64_MAX for +Inf */

static inline void orc_counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif
