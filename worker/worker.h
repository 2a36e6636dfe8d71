/*
 * worker.h - one worker process: its event loop, its slot in shared
 * memory, its channel to the master, and its drain.  The master calls
 * orc_worker_run in the child after fork.
 */
#ifndef ORC_WORKER_H
#define ORC_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/shm.h"

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

/* Runs the worker until it has drained; returns the process exit code. */
int orc_worker_run(const orc_worker_args_t *args);

#endif
