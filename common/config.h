/*
 * config.h - one configuration generation: the libconfig file, embedded
 * defaults and the environment variables of the Docker documentation.
 *
 * A generation is built by the master, validated completely, and then
 * inherited read-only by the workers it forks.  It is never modified in
 * place: a reload builds a new one.
 */
#ifndef ORC_CONFIG_H
#define ORC_CONFIG_H

#include <stdbool.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/provider_config.h"

#define ORC_LISTEN_MAX 8
#define ORC_WORKERS_MAX 64
#define ORC_CONFIG_ERR_SIZE 512

typedef struct {
    char text[80]; /* as written: "0.0.0.0:8000", "[::]:8000" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} orc_listen_t;

typedef struct {
    char *path; /* NULL: embedded defaults */

    /* server */
    orc_listen_t listen[ORC_LISTEN_MAX];
    int nlisten;
    int backlog;
    int workers; /* resolved: "auto" becomes the CPU count */
    bool workers_auto;
    int worker_connections;
    int keepalive_timeout; /* s, idle keep-alive connection */
    int read_timeout;      /* s, between bytes of a request or response */
    int max_header_size;   /* bytes, request line and headers */
    int max_body_size;     /* bytes */
    int shutdown_timeout;  /* s, TERM/INT and reload drain deadline */
    int drain_grace;       /* ms, idle keep-alive connections kept open while draining */
    int heartbeat_timeout; /* s, worker_heartbeat_timeout */
    int shm_slots;         /* resolved slot count; fixed for the master's life */
    int shm_slots_setting; /* as configured: 0 = auto (4 x workers, at least 16) */
    char *user;            /* workers switch to it when started as root; fixed */

    /* log */
    orc_log_level_t log_level;
    char *error_log;
    char *access_log;

    /* security: access control (worker/auth) */
    char *master_key;
    char *observability;          /* open|keyed: /metrics and health details */
    int key_cache_ttl;            /* s a worker uses a client key's settings before refreshing them */
    int key_cache_size;           /* client keys (and unknown ones) a worker remembers */
    int auth_failures_per_minute; /* failed authentications from one address before 429, per worker */

    /* services (clients arrive with their issues; here: settings and health) */
    char *database_url;
    bool database_echo;
    int db_pool_size;
    int db_pool_timeout;
    int db_pool_recycle;
    int db_max_overflow;
    /* request log: spool and what records keep (worker/reqlog/reqlog.c) */
    bool reqlog_enabled;
    char *reqlog_spool_dir;
    int reqlog_spool_max_mb; /* per worker */
    bool reqlog_fsync;
    char *reqlog_prompts; /* full|truncated|off */
    char *reqlog_answers;
    int reqlog_truncate_bytes;
    char *redis_url;
    int redis_db;
    int redis_pool_size;
    int redis_max_connections;
    int cache_expire_seconds;
    bool enable_caching;
    char *cache_namespace;     /* every Redis key starts with "<namespace>:" */
    int cache_timeout_ms;      /* per Redis command: the most a request waits for the cache */
    int cache_max_ttl;         /* s, bound of the per-request x-orchesity-cache-ttl header */
    int cache_async_ttl;       /* s, lifetime of an asynchronous orchestration's result */
    int cache_max_entry_bytes; /* answers larger than this are not stored */
    int session_cache_ttl;     /* s a session stays cached in Redis */
    int session_active_window; /* s of inactivity after which a session no longer counts as active */
    char *routing_strategy;
    char *selection_policy;
    int max_concurrent_requests;
    int request_timeout; /* s, deadline of one LLM request across retries and fallbacks */
    int llm_max_retries; /* retries of a retryable failure on one provider */
    int llm_retry_base_ms;
    int llm_retry_max_ms;
    int llm_stream_keepalive;         /* s of silence before an SSE keep-alive comment */
    int llm_retry_fallback_budget_ms; /* longest back-off before a same-provider retry when another could
                                         answer */
    /* dwa: statistics, weights, circuit breaker */
    int dwa_window_s;
    int dwa_half_life_s;
    double dwa_exploration;
    double dwa_w_accuracy, dwa_w_latency, dwa_w_cost, dwa_w_availability, dwa_w_load;
    int dwa_failure_threshold;
    double dwa_failure_rate;
    int dwa_min_calls;
    int dwa_cooldown_ms;
    int dwa_cooldown_max_ms;
    int dwa_probe_timeout_ms;
    orc_providers_config_t providers;
    int health_check_interval;
    int metrics_collection_interval;
    bool debug;
} orc_config_t;

/* Builds a generation from FILE (NULL: embedded defaults) and the
 * environment.  On error returns NULL and writes "file:line: reason". */
orc_config_t *orc_config_load(const char *path, char *err, size_t errlen);
void orc_config_free(orc_config_t *cfg);

/* Keeps the settings that cannot change while the master runs; logs each. */
void orc_config_keep_fixed(orc_config_t *next, const orc_config_t *current);

int orc_config_parse_listen(const char *text, orc_listen_t *out);

int orc_config_cpu_count(void);

#endif
