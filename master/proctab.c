/*
 * proctab.c - the process table: fork a worker into a shm slot, read its
 * channel, reap it, watch its heartbeat.
 *
 * Entry i of the table and slot i of shared memory belong to the same
 * worker.  A slot is freed (its counters folded into the retired totals)
 * only after waitpid() returned its pid, so nothing is counted twice.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/channel.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "master/master.h"
#include "worker/worker.h"

#define ABORT_GRACE_MS 2000 /* after SIGABRT, wait this long before SIGKILL */

/* In the child: drop what belongs to the master and to other workers. */
static void child_close_inherited(orc_master_t *m, int keep_index)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (m->sigfd >= 0)
        close(m->sigfd);
    for (uint32_t i = 0; i < m->nprocs; i++)
        if ((int)i != keep_index && m->procs[i].state != ORC_PROC_FREE && m->procs[i].channel_fd >= 0)
            close(m->procs[i].channel_fd);
}

static bool has_fd(const orc_listeners_t *set, int fd)
{
    for (int i = 0; i < set->n; i++)
        if (set->fds[i] == fd)
            return true;
    return false;
}

/* A worker keeps only its own generation's listening sockets, so a socket
 * the master closes is really closed. */
static void child_close_listeners(orc_master_t *m, const orc_listeners_t *mine)
{
    const orc_listeners_t *sets[] = {&m->listeners, &m->next_listeners};
    for (size_t s = 0; s < ORC_ARRAY_LEN(sets); s++)
        for (int i = 0; i < sets[s]->n; i++)
            if (sets[s] != mine && !has_fd(mine, sets[s]->fds[i]))
                close(sets[s]->fds[i]);
}

static void child_run(orc_master_t *m, int slot, int fd, uint32_t generation, int index,
                      const orc_config_t *cfg, const orc_listeners_t *listeners)
{
    child_close_inherited(m, -1);
    child_close_listeners(m, listeners);
    orc_worker_args_t args = {
        .cfg = cfg,
        .shm = m->shm,
        .slot = slot,
        .generation = generation,
        .index = index,
        .channel_fd = fd,
        .listen_fds = listeners->fds,
        .nlisten = listeners->n,
        .drop_privileges = m->drop_privileges,
        .uid = m->uid,
        .gid = m->gid,
    };
    exit(orc_worker_run(&args)); /* exit, not _exit: sanitizers check for leaks at exit */
}

int orc_proc_spawn(orc_master_t *m, uint32_t generation, int index, const orc_config_t *cfg,
                   const orc_listeners_t *listeners)
{
    int sv[2];
    int slot = orc_shm_slot_claim(m->shm, generation, (uint32_t)index);
    if (slot < 0) {
        orc_log_error("no free shared-memory slot for worker#%d/g%u", index, generation);
        return ORC_ERR;
    }
    ORC_CHECK((uint32_t)slot < m->nprocs);
    ORC_ASSERT(m->procs[slot].state == ORC_PROC_FREE); /* entry i and slot i belong to the same worker */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        orc_log_error("socketpair: %s", strerror(errno));
        orc_shm_slot_retire(m->shm, slot);
        return ORC_ERR;
    }
    pid_t pid = fork();
    if (pid < 0) {
        orc_log_error("fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        orc_shm_slot_retire(m->shm, slot);
        return ORC_ERR;
    }
    if (pid == 0) {
        close(sv[0]);
        child_run(m, slot, sv[1], generation, index, cfg, listeners);
    }
    close(sv[1]);
    atomic_store(&m->shm->slots[slot].pid, (int32_t)pid);
    orc_proc_t *p = &m->procs[slot];
    *p = (orc_proc_t){.pid = pid,
                      .state = ORC_PROC_STARTING,
                      .generation = generation,
                      .index = index,
                      .channel_fd = sv[0],
                      .spawned_ms = orc_now_ms()};
    orc_log_info("started worker#%d/g%u (pid %d)", index, generation, (int)pid);
    return ORC_OK;
}

static orc_proc_t *find_pid(orc_master_t *m, pid_t pid)
{
    for (uint32_t i = 0; i < m->nprocs; i++)
        if (m->procs[i].state != ORC_PROC_FREE && m->procs[i].pid == pid)
            return &m->procs[i];
    return NULL;
}

void orc_proc_reap(orc_master_t *m)
{
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        orc_proc_t *p = find_pid(m, pid);
        if (p == NULL) {
            orc_log_debug("reaped process %d (not a worker)", (int)pid);
            continue;
        }
        int slot = (int)(p - m->procs);
        ORC_ASSERT(atomic_load(&m->shm->slots[slot].pid) == (int32_t)pid); /* the slot is this worker's */
        close(p->channel_fd);
        p->channel_fd = -1;
        orc_shm_slot_retire(m->shm, slot);
        orc_master_worker_exited(m, p, status);
        p->state = ORC_PROC_FREE;
        p->pid = 0;
    }
}

void orc_proc_send_all(orc_master_t *m, uint32_t generation, int type, bool all_generations)
{
    for (uint32_t i = 0; i < m->nprocs; i++) {
        orc_proc_t *p = &m->procs[i];
        if (p->state == ORC_PROC_FREE || (!all_generations && p->generation != generation))
            continue;
        if (orc_channel_send(p->channel_fd, type) != ORC_OK)
            orc_log_warn("cannot send %s to worker#%d/g%u (pid %d): %s", orc_channel_type_name(type),
                         p->index, p->generation, (int)p->pid, strerror(errno));
        if (type == ORC_MSG_QUIT || type == ORC_MSG_TERMINATE)
            p->state = ORC_PROC_DRAINING;
    }
}

void orc_proc_read_channel(orc_master_t *m, orc_proc_t *p)
{
    ssize_t n = recv(p->channel_fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
    if (n <= 0)
        return; /* EOF: the worker is exiting; waitpid tells the rest */
    p->len += (size_t)n;
    for (;;) {
        orc_msg_t msg;
        size_t used = 0;
        int rc = orc_channel_decode(p->buf, p->len, &msg, &used);
        if (rc == ORC_AGAIN)
            return;
        if (rc == ORC_ERR) {
            orc_log_alert("malformed frame from worker pid %d", (int)p->pid);
            p->len = 0;
            return;
        }
        if (msg.type == ORC_MSG_READY)
            orc_master_worker_ready(m, p);
        else if (msg.type == ORC_MSG_RELOAD)
            orc_master_request_reload(m, p);
        memmove(p->buf, p->buf + used, p->len - used);
        p->len -= used;
    }
}

void orc_proc_check_heartbeats(orc_master_t *m, uint64_t now)
{
    uint64_t timeout = (uint64_t)m->cfg->heartbeat_timeout * 1000u;
    for (uint32_t i = 0; i < m->nprocs; i++) {
        orc_proc_t *p = &m->procs[i];
        if (p->state == ORC_PROC_FREE || p->kill_sent)
            continue;
        uint64_t beat = atomic_load(&m->shm->slots[i].heartbeat_ms);
        uint64_t last = ORC_MAX(beat, p->spawned_ms);
        if (now - last <= timeout)
            continue;
        if (p->abort_sent_ms == 0) {
            orc_log_error("worker#%d/g%u (pid %d) missed its heartbeat for %.1f s: sending SIGABRT", p->index,
                          p->generation, (int)p->pid, (double)(now - last) / 1000.0);
            kill(p->pid, SIGABRT);
            p->abort_sent_ms = now;
        } else if (now - p->abort_sent_ms >= ABORT_GRACE_MS) {
            orc_log_error("worker#%d/g%u (pid %d) still alive after SIGABRT: sending SIGKILL", p->index,
                          p->generation, (int)p->pid);
            kill(p->pid, SIGKILL);
            p->kill_sent = true;
        }
    }
}

void orc_proc_kill_all(orc_master_t *m, int sig)
{
    for (uint32_t i = 0; i < m->nprocs; i++)
        if (m->procs[i].state != ORC_PROC_FREE && m->procs[i].pid > 0)
            kill(m->procs[i].pid, sig);
}

int orc_proc_count(const orc_master_t *m, uint32_t generation, bool any_generation, int state_mask)
{
    int n = 0;
    for (uint32_t i = 0; i < m->nprocs; i++) {
        const orc_proc_t *p = &m->procs[i];
        if (p->state == ORC_PROC_FREE || !(state_mask & ORC_PROC_MASK(p->state)))
            continue;
        if (any_generation || p->generation == generation)
            n++;
    }
    return n;
}
