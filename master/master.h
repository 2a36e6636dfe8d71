/*
 * master.h - the master process: state, process table, supervision.
 *
 * The master never serves HTTP.  Its loop waits on a signalfd and the
 * workers' channels, and each pass starts what is missing, reaps what
 * died, enforces heartbeats and deadlines, and advances a reload or a
 * stop.  Signals only mark work for the loop.
 */
#ifndef ORC_MASTER_H
#define ORC_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/shm.h"
#include "master/listener.h"

typedef enum {
    ORC_PROC_FREE = 0,
    ORC_PROC_STARTING, /* forked, READY not yet received */
    ORC_PROC_READY,
    ORC_PROC_DRAINING, /* told to quit */
} orc_proc_state_t;

typedef struct {
    pid_t pid;
    orc_proc_state_t state;
    uint32_t generation;
    int index;
    int channel_fd;
    uint64_t spawned_ms;
    uint64_t drain_deadline_ms; /* 0: no deadline */
    uint64_t abort_sent_ms;
    bool kill_sent;
    uint8_t buf[64];
    size_t len;
} orc_proc_t;

typedef struct {
    orc_config_t *cfg;      /* the serving generation's */
    orc_config_t *next_cfg; /* while a reload waits for READY */
    orc_listeners_t listeners, next_listeners;
    uint32_t generation, next_generation;
    orc_shm_t *shm;
    orc_proc_t *procs; /* one per shm slot, same index */
    uint32_t nprocs;
    orc_backoff_t backoff[ORC_WORKERS_MAX];
    uint64_t respawn_at[ORC_WORKERS_MAX];
    bool fatal[ORC_WORKERS_MAX];
    orc_master_state_t state;
    int sigfd;
    uint64_t reload_started_ms;
    bool reload_pending;       /* asked while busy: runs when RUNNING again */
    bool reload_requested;     /* asked through the admin API */
    uint64_t stop_deadline_ms; /* 0: wait for in-flight work as long as it takes */
    int stop_requests;
    uint64_t watchdog_interval_ms, watchdog_next_ms;
    bool drop_privileges;
    uid_t uid;
    gid_t gid;
    int exit_code;
    bool done;
} orc_master_t;

int orc_master_run(orc_config_t *cfg);

/* proctab.c */
int orc_proc_spawn(orc_master_t *m, uint32_t generation, int index, const orc_config_t *cfg,
                   const orc_listeners_t *listeners);
void orc_proc_reap(orc_master_t *m);
void orc_proc_send_all(orc_master_t *m, uint32_t generation, int type, bool all_generations);
void orc_proc_read_channel(orc_master_t *m, orc_proc_t *p);
void orc_proc_check_heartbeats(orc_master_t *m, uint64_t now);
void orc_proc_kill_all(orc_master_t *m, int sig);
int orc_proc_count(const orc_master_t *m, uint32_t generation, bool any_generation, int state_mask);

/* master.c, called back by proctab.c */
void orc_master_set_state(orc_master_t *m, orc_master_state_t state, const char *why);
void orc_master_worker_ready(orc_master_t *m, orc_proc_t *p);
void orc_master_worker_exited(orc_master_t *m, orc_proc_t *p, int status);
void orc_master_request_reload(orc_master_t *m, const orc_proc_t *from);

#define ORC_PROC_MASK(s) (1 << (s))

#endif
