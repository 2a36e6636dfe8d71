/*
 * master.c - the master's loop, its state machine, reload and stop.
 *
 * States (changed only through orc_master_set_state, which logs):
 *   STARTING  first generation forked, waiting for every READY
 *   RUNNING   serving; respawning crashed workers with backoff
 *   RELOADING a new generation forked, waiting for its READY; the old one
 *             still serves.  All READY -> old one told to QUIT.  A new
 *             worker dying or a timeout -> new one stopped, old one kept.
 *   STOPPING  every worker told to QUIT; TERM/INT add a deadline after
 *             which SIGKILL; a second TERM/INT kills at once.
 * Signals arrive through a signalfd and are handled in the loop.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/channel.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "master/master.h"
#include "master/notify.h"

#define TICK_MS 100
#define RELOAD_READY_TIMEOUT_MS 30000
#define STOP_KILL_WAIT_MS 500

static const char *state_names[] = {"starting", "running", "reloading", "stopping"};

void orc_master_set_state(orc_master_t *m, orc_master_state_t state, const char *why)
{
    if (m->state == state)
        return;
    orc_log_info("state %s -> %s (%s)", state_names[m->state], state_names[state], why);
    m->state = state;
    atomic_store(&m->shm->master_state, (uint32_t)state);
}

/* ---- logs -------------------------------------------------------------- */

static void apply_log_settings(const orc_config_t *cfg)
{
    orc_log_set_level(cfg->log_level);
    if (orc_log_open(cfg->error_log) != ORC_OK)
        orc_log_error("cannot open error log %s: %s", cfg->error_log, strerror(errno));
    if (orc_accesslog_open(cfg->access_log) != ORC_OK)
        orc_log_error("cannot open access log %s: %s", cfg->access_log, strerror(errno));
}

static void reopen_logs(orc_master_t *m)
{
    orc_log_info("reopening log files");
    if (orc_log_reopen() != ORC_OK || orc_accesslog_reopen() != ORC_OK)
        orc_log_error("reopening log files failed: %s", strerror(errno));
    orc_proc_send_all(m, 0, ORC_MSG_REOPEN, true);
}

/* ---- workers ----------------------------------------------------------- */

void orc_master_worker_ready(orc_master_t *m, orc_proc_t *p)
{
    if (p->state != ORC_PROC_STARTING)
        return;
    p->state = ORC_PROC_READY;
    orc_log_debug("worker#%d/g%u (pid %d) is ready", p->index, p->generation, (int)p->pid);
    if (p->generation == m->generation && p->index < ORC_WORKERS_MAX &&
        orc_now_ms() - p->spawned_ms > ORC_BACKOFF_STABLE_MS)
        orc_backoff_reset(&m->backoff[p->index]);
}

static void log_exit(const orc_proc_t *p, int status, bool expected)
{
    orc_log_level_t level = expected ? ORC_LOG_INFO : ORC_LOG_ERROR;
    if (WIFEXITED(status))
        orc_log(level, "worker#%d/g%u (pid %d) exited with code %d", p->index, p->generation, (int)p->pid,
                WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        orc_log(level, "worker#%d/g%u (pid %d) was killed by signal %d (%s)%s", p->index, p->generation,
                (int)p->pid, WTERMSIG(status), strsignal(WTERMSIG(status)),
                WCOREDUMP(status) ? ", core dumped" : "");
}

/* A worker that was serving and was killed from outside (SIGKILL we did
 * not send: an operator, the OOM killer) did not crash by itself: it is
 * replaced at once and does not count towards a crash loop. */
static bool killed_from_outside(const orc_proc_t *p, int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && p->state == ORC_PROC_READY && !p->kill_sent;
}

static void schedule_respawn(orc_master_t *m, const orc_proc_t *p, int status, uint64_t now)
{
    int i = p->index;
    if (killed_from_outside(p, status)) {
        m->respawn_at[i] = now;
        atomic_fetch_add(&m->shm->worker_restarts, 1);
        orc_log_info("worker#%d was killed while serving: replacing it now", i);
        return;
    }
    uint64_t delay = orc_backoff_crash(&m->backoff[i], now, now - p->spawned_ms);
    m->respawn_at[i] = now + delay;
    atomic_fetch_add(&m->shm->worker_restarts, 1);
    if (orc_backoff_crashloop(&m->backoff[i], now))
        orc_log_crit("worker#%d is crash-looping (%d crashes within %d s): next start in %llu ms", i,
                     ORC_CRASHLOOP_CRASHES, ORC_CRASHLOOP_WINDOW_MS / 1000, (unsigned long long)delay);
    else
        orc_log_info("worker#%d will be replaced in %llu ms", i, (unsigned long long)delay);
}

static void abort_reload(orc_master_t *m, const char *why);

void orc_master_worker_exited(orc_master_t *m, orc_proc_t *p, int status)
{
    bool expected = p->state == ORC_PROC_DRAINING || m->state == ORC_MASTER_STOPPING;
    log_exit(p, status, expected);
    if (expected)
        return;
    bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == ORC_EXIT_FATAL_CONFIG;
    if (m->state == ORC_MASTER_RELOADING && p->generation == m->next_generation) {
        p->state = ORC_PROC_FREE; /* not counted among the new generation any more */
        abort_reload(m, "a worker of the new generation exited before it was ready");
        return;
    }
    if (p->generation != m->generation)
        return;
    if (fatal) {
        m->fatal[p->index] = true;
        orc_log_crit("worker#%d exited with the fatal-configuration code: it will not be respawned",
                     p->index);
        return;
    }
    schedule_respawn(m, p, status, orc_now_ms());
}

static void spawn_missing(orc_master_t *m, uint64_t now)
{
    if (m->state == ORC_MASTER_STOPPING)
        return;
    int live = ORC_PROC_MASK(ORC_PROC_STARTING) | ORC_PROC_MASK(ORC_PROC_READY);
    for (int i = 0; i < m->cfg->workers; i++) {
        if (m->fatal[i] || now < m->respawn_at[i])
            continue;
        bool present = false;
        for (uint32_t s = 0; s < m->nprocs && !present; s++) {
            const orc_proc_t *p = &m->procs[s];
            present = p->state != ORC_PROC_FREE && (live & ORC_PROC_MASK(p->state)) &&
                      p->generation == m->generation && p->index == i;
        }
        if (!present && orc_proc_spawn(m, m->generation, i, m->cfg, &m->listeners) != ORC_OK)
            m->respawn_at[i] = now + 1000;
    }
}

static bool all_fatal(const orc_master_t *m)
{
    for (int i = 0; i < m->cfg->workers; i++)
        if (!m->fatal[i])
            return false;
    return true;
}

/* ---- reload ------------------------------------------------------------ */

/* Gives every configured provider its stable statistics index in shm. */
static int register_providers(orc_master_t *m, const orc_config_t *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->providers.n; i++) {
        if (orc_shm_provider_register(m->shm, cfg->providers.list[i].name) < 0) {
            snprintf(err, errlen, "more than %d distinct provider names since the master started; restart it",
                     ORC_SHM_PROVIDERS);
            return ORC_ERR;
        }
    }
    return ORC_OK;
}

static int free_slots(const orc_master_t *m)
{
    int n = 0;
    for (uint32_t i = 0; i < m->nprocs; i++)
        n += m->procs[i].state == ORC_PROC_FREE;
    return n;
}

static void reload_failed(orc_master_t *m, const char *why)
{
    atomic_fetch_add(&m->shm->reload_failures, 1);
    orc_log_error("reload failed: %s; still serving generation %u", why, m->generation);
}

static void begin_reload(orc_master_t *m)
{
    char err[ORC_CONFIG_ERR_SIZE] = "";
    if (m->state != ORC_MASTER_RUNNING) {
        m->reload_pending = m->state != ORC_MASTER_STOPPING;
        orc_log_info("reload requested while %s: %s", state_names[m->state],
                     m->reload_pending ? "it will follow" : "ignored");
        return;
    }
    orc_log_info("reloading configuration from %s", m->cfg->path ? m->cfg->path : "(embedded defaults)");
    orc_config_t *next = orc_config_load(m->cfg->path, err, sizeof(err));
    if (next == NULL) {
        reload_failed(m, err);
        return;
    }
    orc_config_keep_fixed(next, m->cfg);
    if (register_providers(m, next, err, sizeof(err)) != ORC_OK) {
        orc_config_free(next);
        reload_failed(m, err);
        return;
    }
    if (free_slots(m) < next->workers) {
        snprintf(err, sizeof(err), "%d workers need %d free shm slots, %d are free (server.shm_slots is %u)",
                 next->workers, next->workers, free_slots(m), m->nprocs);
        orc_config_free(next);
        reload_failed(m, err);
        return;
    }
    if (orc_listeners_open(&m->next_listeners, next, &m->listeners, err, sizeof(err)) != ORC_OK) {
        orc_config_free(next);
        reload_failed(m, err);
        return;
    }
    m->next_cfg = next;
    m->next_generation = m->generation + 1;
    m->reload_started_ms = orc_now_ms();
    orc_master_set_state(m, ORC_MASTER_RELOADING, "SIGHUP");
    orc_notify_reloading();
    orc_log_set_level(next->log_level);
    for (int i = 0; i < next->workers; i++)
        if (orc_proc_spawn(m, m->next_generation, i, next, &m->next_listeners) != ORC_OK) {
            abort_reload(m, "cannot start the new workers");
            return;
        }
}

void orc_master_request_reload(orc_master_t *m, const orc_proc_t *from)
{
    orc_log_info("reload requested through the admin API (worker#%d/g%u)", from->index, from->generation);
    m->reload_requested = true;
}

static void stop_generation(orc_master_t *m, uint32_t generation, int msg)
{
    uint64_t deadline = orc_now_ms() + (uint64_t)m->cfg->shutdown_timeout * 1000u;
    for (uint32_t i = 0; i < m->nprocs; i++)
        if (m->procs[i].state != ORC_PROC_FREE && m->procs[i].generation == generation)
            m->procs[i].drain_deadline_ms = deadline;
    orc_proc_send_all(m, generation, msg, false);
}

static void abort_reload(orc_master_t *m, const char *why)
{
    stop_generation(m, m->next_generation, ORC_MSG_TERMINATE);
    orc_listeners_close(&m->next_listeners, &m->listeners);
    orc_log_set_level(m->cfg->log_level);
    orc_config_free(m->next_cfg);
    m->next_cfg = NULL;
    reload_failed(m, why);
    orc_master_set_state(m, ORC_MASTER_RUNNING, "reload aborted");
    orc_notify("READY=1");
}

static void commit_reload(orc_master_t *m)
{
    uint32_t old = m->generation;
    stop_generation(m, old, ORC_MSG_QUIT);
    orc_listeners_close(&m->listeners, &m->next_listeners);
    m->listeners = m->next_listeners;
    m->next_listeners.n = 0;
    orc_config_free(m->cfg);
    m->cfg = m->next_cfg;
    m->next_cfg = NULL;
    m->generation = m->next_generation;
    memset(m->backoff, 0, sizeof(m->backoff));
    memset(m->respawn_at, 0, sizeof(m->respawn_at));
    memset(m->fatal, 0, sizeof(m->fatal));
    apply_log_settings(m->cfg);
    atomic_store(&m->shm->generation, m->generation);
    atomic_fetch_add(&m->shm->reloads, 1);
    orc_master_set_state(m, ORC_MASTER_RUNNING, "new generation ready");
    orc_log_notice("reload complete: generation %u serving with %d workers, generation %u draining",
                   m->generation, m->cfg->workers, old);
    orc_notify("READY=1");
}

static void advance_reload(orc_master_t *m, uint64_t now)
{
    int ready = orc_proc_count(m, m->next_generation, false, ORC_PROC_MASK(ORC_PROC_READY));
    if (ready >= m->next_cfg->workers)
        commit_reload(m);
    else if (now - m->reload_started_ms > RELOAD_READY_TIMEOUT_MS)
        abort_reload(m, "the new workers did not become ready in time");
}

/* ---- stop -------------------------------------------------------------- */

static void begin_stop(orc_master_t *m, int sig, const char *why)
{
    m->stop_requests += sig != SIGQUIT;
    if (m->state == ORC_MASTER_STOPPING && sig != SIGQUIT && m->stop_requests > 1) {
        orc_log_warn("second %s: stopping at once", strsignal(sig));
        orc_proc_send_all(m, 0, ORC_MSG_TERMINATE, true);
        orc_proc_kill_all(m, SIGKILL);
        return;
    }
    if (m->state == ORC_MASTER_STOPPING) {
        if (sig != SIGQUIT && m->stop_deadline_ms == 0) /* TERM after QUIT adds the deadline */
            m->stop_deadline_ms = orc_now_ms() + (uint64_t)m->cfg->shutdown_timeout * 1000u;
        return;
    }
    if (m->next_cfg != NULL)
        abort_reload(m, "stopping");
    uint64_t now = orc_now_ms();
    m->stop_deadline_ms = sig == SIGQUIT ? 0 : now + (uint64_t)m->cfg->shutdown_timeout * 1000u;
    orc_master_set_state(m, ORC_MASTER_STOPPING, why);
    orc_notify("STOPPING=1");
    orc_proc_send_all(m, 0, ORC_MSG_QUIT, true);
    /* Draining workers close their copies: once ours is closed too, a new
     * connection is refused at once (a proxy tries another replica)
     * instead of waiting in the backlog to be reset when we exit. */
    orc_listeners_close(&m->listeners, NULL);
    if (m->stop_deadline_ms)
        orc_log_notice("graceful stop: in-flight work has %d s", m->cfg->shutdown_timeout);
    else
        orc_log_notice("graceful stop: waiting for in-flight work to finish");
}

static void advance_stop(orc_master_t *m, uint64_t now)
{
    if (orc_proc_count(m, 0, true, ~0) == 0) {
        m->done = true;
        return;
    }
    if (m->stop_deadline_ms && now >= m->stop_deadline_ms) {
        orc_log_warn("shutdown_timeout reached with %d workers left: SIGKILL",
                     orc_proc_count(m, 0, true, ~0));
        orc_proc_kill_all(m, SIGKILL);
        m->stop_deadline_ms = now + STOP_KILL_WAIT_MS;
    }
}

/* ---- loop -------------------------------------------------------------- */

static void handle_signal(orc_master_t *m, int sig)
{
    switch (sig) {
    case SIGHUP: begin_reload(m); break;
    case SIGQUIT:
    case SIGTERM:
    case SIGINT: begin_stop(m, sig, strsignal(sig)); break;
    case SIGUSR1: reopen_logs(m); break;
    default: /* SIGCHLD: reaped every pass */ break;
    }
}

static void read_signals(orc_master_t *m)
{
    struct signalfd_siginfo si;
    while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        handle_signal(m, (int)si.ssi_signo);
}

static void drain_deadlines(orc_master_t *m, uint64_t now)
{
    for (uint32_t i = 0; i < m->nprocs; i++) {
        orc_proc_t *p = &m->procs[i];
        if (p->state == ORC_PROC_DRAINING && p->drain_deadline_ms && now >= p->drain_deadline_ms &&
            !p->kill_sent) {
            orc_log_warn("worker#%d/g%u (pid %d) did not drain within shutdown_timeout: SIGKILL", p->index,
                         p->generation, (int)p->pid);
            kill(p->pid, SIGKILL);
            p->kill_sent = true;
        }
    }
}

static void tick(orc_master_t *m)
{
    uint64_t now = orc_now_ms();
    orc_proc_reap(m);
    orc_proc_check_heartbeats(m, now);
    drain_deadlines(m, now);
    if (m->watchdog_interval_ms && now >= m->watchdog_next_ms) {
        orc_notify("WATCHDOG=1");
        m->watchdog_next_ms = now + m->watchdog_interval_ms;
    }
    if (m->state == ORC_MASTER_STOPPING) {
        advance_stop(m, now);
        return;
    }
    if (m->state == ORC_MASTER_RELOADING)
        advance_reload(m, now);
    if (m->state == ORC_MASTER_STARTING &&
        orc_proc_count(m, m->generation, false, ORC_PROC_MASK(ORC_PROC_READY)) >= m->cfg->workers) {
        orc_master_set_state(m, ORC_MASTER_RUNNING, "all workers ready");
        orc_notify("READY=1");
    }
    if (all_fatal(m)) {
        orc_log_crit("every worker failed with a fatal configuration error: exiting");
        m->exit_code = ORC_EXIT_FAILURE;
        begin_stop(m, SIGTERM, "no worker can run");
        return;
    }
    if (m->reload_requested) {
        m->reload_requested = false;
        begin_reload(m);
    }
    if (m->state == ORC_MASTER_RUNNING && m->reload_pending) {
        m->reload_pending = false;
        begin_reload(m);
    }
    spawn_missing(m, now);
}

static void wait_for_events(orc_master_t *m)
{
    struct pollfd fds[1 + 1024];
    orc_proc_t *owners[1 + 1024];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
    for (uint32_t i = 0; i < m->nprocs && n < ORC_ARRAY_LEN(fds); i++) {
        if (m->procs[i].state == ORC_PROC_FREE || m->procs[i].channel_fd < 0)
            continue;
        owners[n] = &m->procs[i];
        fds[n++] = (struct pollfd){.fd = m->procs[i].channel_fd, .events = POLLIN};
    }
    if (poll(fds, n, TICK_MS) <= 0)
        return;
    if (fds[0].revents & POLLIN)
        read_signals(m);
    for (nfds_t i = 1; i < n; i++)
        if ((fds[i].revents & (POLLIN | POLLHUP)) && owners[i]->state != ORC_PROC_FREE)
            orc_proc_read_channel(m, owners[i]);
}

/* ---- set-up ------------------------------------------------------------ */

static int setup_signals(orc_master_t *m)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGCHLD};
    for (size_t i = 0; i < ORC_ARRAY_LEN(sigs); i++) {
        signal(sigs[i], SIG_DFL); /* an ignored signal would never reach the signalfd */
        sigaddset(&set, sigs[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return ORC_ERR;
    m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return m->sigfd < 0 ? ORC_ERR : ORC_OK;
}

static int resolve_user(orc_master_t *m)
{
    const char *user = m->cfg->user;
    if (user[0] == '\0')
        return ORC_OK;
    if (geteuid() != 0) {
        orc_log_warn("server.user \"%s\" ignored: the master is not running as root", user);
        return ORC_OK;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        orc_log_crit("server.user: no such user \"%s\"", user);
        return ORC_ERR;
    }
    m->drop_privileges = true;
    m->uid = pw->pw_uid;
    m->gid = pw->pw_gid;
    return ORC_OK;
}

static void raise_fd_limit(const orc_config_t *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->worker_connections * 2 + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : ORC_MIN(want, rl.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        orc_log_warn("open files limit is %llu, below the %llu that worker_connections %d wants",
                     (unsigned long long)rl.rlim_cur, (unsigned long long)want, cfg->worker_connections);
}

/* Which routes the gateway exposes to whom (worker/auth/auth.h). */
static void log_access(const orc_config_t *c)
{
    bool open_observe = strcmp(c->observability, "open") == 0;
    if (c->master_key[0] == '\0') {
        orc_log_warn(
            "no master key (SECRET_KEY) is set: LLM routes (/v1/*, /api/llm/*) are open to every client "
            "and client keys are not checked; request history, sessions, feedback and admin routes "
            "answer loopback clients only; /metrics and health details are %s",
            open_observe ? "open" : "loopback only");
        return;
    }
    orc_log_notice("access: every LLM, history and admin route needs the master key or a client key "
                   "(Authorization: Bearer, x-api-key or api-key); /metrics and health details are %s; "
                   "/, /api/health/live and /api/health/ready are open",
                   open_observe ? "open" : "keyed (metrics scope)");
}

static void log_startup(const orc_master_t *m)
{
    const orc_config_t *c = m->cfg;
    orc_log_notice("orchesity %s starting: %d workers%s, config %s", ORC_VERSION, c->workers,
                   c->workers_auto ? " (auto)" : "", c->path ? c->path : "(embedded defaults)");
    log_access(c);
    if (getpid() == 1)
        orc_log_info("running as PID 1: reaping orphaned processes");
    int configured = 0;
    for (int i = 0; i < c->providers.n; i++) {
        const orc_provider_config_t *p = &c->providers.list[i];
        configured += p->configured;
        orc_log_notice("provider %s (%s) at %s: %s", p->name, p->type, p->base_url,
                       p->configured ? "configured"
                       : !p->enabled ? "disabled"
                                     : "not configured (no key)");
    }
    if (configured == 0)
        orc_log_warn("no LLM provider is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY "
                     "or GROK_API_KEY (or point a provider's base_url at an OpenAI-compatible server)");
}

static void cleanup(orc_master_t *m)
{
    orc_listeners_close(&m->listeners, NULL);
    orc_listeners_close(&m->next_listeners, NULL);
    orc_config_free(m->next_cfg);
    orc_config_free(m->cfg);
    free(m->procs);
    orc_shm_destroy(m->shm);
    if (m->sigfd >= 0)
        close(m->sigfd);
}

int orc_master_run(orc_config_t *cfg)
{
    char err[ORC_CONFIG_ERR_SIZE];
    orc_master_t m = {.cfg = cfg, .sigfd = -1, .generation = 1, .exit_code = ORC_EXIT_OK};
    orc_log_set_role("master");
    apply_log_settings(cfg);
    log_startup(&m);
    raise_fd_limit(cfg);
    m.shm = orc_shm_create((uint32_t)cfg->shm_slots);
    m.nprocs = (uint32_t)cfg->shm_slots;
    m.procs = calloc(m.nprocs, sizeof(*m.procs));
    if (m.shm == NULL || m.procs == NULL || setup_signals(&m) != ORC_OK || resolve_user(&m) != ORC_OK)
        goto fail;
    if (register_providers(&m, cfg, err, sizeof(err)) != ORC_OK ||
        orc_listeners_open(&m.listeners, cfg, NULL, err, sizeof(err)) != ORC_OK) {
        orc_log_crit("%s", err);
        goto fail;
    }
    atomic_store(&m.shm->master_pid, (int32_t)getpid());
    atomic_store(&m.shm->started_wall_ms, orc_wall_ms());
    atomic_store(&m.shm->generation, m.generation);
    m.watchdog_interval_ms = orc_notify_watchdog_interval_ms();
    while (!m.done) {
        tick(&m);
        if (!m.done)
            wait_for_events(&m);
    }
    orc_log_notice("stopped");
    orc_notify("STOPPING=1");
    cleanup(&m);
    return m.exit_code;
fail:
    orc_log_crit("cannot start: %s", errno ? strerror(errno) : "see above");
    cleanup(&m);
    return ORC_EXIT_FAILURE;
}
