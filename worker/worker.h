/*
 * worker.h - one worker process: its event loop, its slot in shared
 * memory, its channel to the master, and its drain.
 */
#ifndef ORC_WORKER_H
#define ORC_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/shm.h"

struct event_base;
struct evhttp;

typedef struct {
    const orc_config_t *cfg;
    orc_shm_t *shm;
    int slot;
    uint32_t generation;
    int index;
    int channel_fd;
    const int *listen_fds;
    int nlisten;
    bool drop_privileges;
    uid_t uid;
    gid_t gid;
} orc_worker_args_t;

typedef struct orc_worker_s orc_worker_t;

struct orc_worker_s {
    const orc_config_t *cfg;
    orc_shm_t *shm;
    orc_slot_t *slot;
    int slot_index;
    uint32_t generation;
    int index;
    struct event_base *base;
    struct orc_http_s *http;
    struct orc_llm_s *llm;
    int channel_fd;
    struct event *channel_ev;
    struct event *heartbeat_ev;
    struct event *drain_ev;
    struct event *signal_ev[3];
    uint8_t channel_buf[64];
    size_t channel_len;
    bool draining;
    bool master_gone;
    uint64_t drain_started_ms;
    uint64_t started_wall_ms;
    int exit_code;
    struct orc_sysinfo_s *sys;
    struct evdns_base *dns;
    struct orc_probe_s *probe_cache;
    struct orc_redis_s *redis;   /* NULL without cache.redis_url */
    struct orc_cache_s *cache;   /* the response cache on REDIS (NULL with it) */
    int background;              /* work without a client (async orchestrations): a drain waits for it */
    struct orc_db_s *db;         /* disabled without database.url */
    struct orc_reqlog_s *reqlog; /* NULL when requests are not logged */
};

/* Runs the worker until it has drained; returns the process exit code. */
int orc_worker_run(const orc_worker_args_t *args);

void orc_worker_drain(orc_worker_t *w, const char *why);

#endif
