/*
 * worker.c - one worker process: set up, serve, drain, exit.
 *
 * The loop owns everything the worker uses (event base, HTTP server,
 * timers, channel).  Three things start a drain: QUIT from the master,
 * SIGTERM/SIGQUIT sent to the worker itself, and EOF on the channel (the
 * master died).  Draining stops accepting, answers requests on open
 * connections with "Connection: close", keeps idle keep-alive connections
 * for drain_grace so clients in the middle of sending are not reset, and
 * exits once nothing is in flight.  TERMINATE exits at once.
 */
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/channel.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/sysinfo.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/auth/auth.h"
#include "worker/auth/keystore.h"
#include "worker/cache/cache.h"
#include "worker/http/http.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/llm.h"
#include "worker/reqlog/reqlog.h"
#include "worker/reqlog/spool.h"
#include "worker/store/db.h"
#include "worker/store/probe.h"
#include "worker/store/redis.h"
#include "worker/worker.h"

#define HEARTBEAT_MS 1000
#define DRAIN_CHECK_MS 50
/* A reply handed to evhttp is written on a later pass of the loop: a
 * draining worker that exited right after its last request was released
 * dropped that answer.  It waits this long after the last reply. */
#define DRAIN_FLUSH_MS 200

typedef struct {
    orc_api_env_t svc; /* the services, created and freed here; the handlers see them */
    bool draining;
    int slot_index;
    orc_http_t *http;
    orc_dwa_t *dwa;
    orc_auth_t *auth;
    struct evdns_base *dns;
    struct event *channel_ev;
    struct event *heartbeat_ev;
    struct event *drain_ev;
    struct event *signal_ev[3];
    uint8_t channel_buf[64];
    size_t channel_len;
    uint64_t drain_started_ms;
    int exit_code;
} orc_worker_t;

static void heartbeat(orc_worker_t *w)
{
    ORC_ASSERT(atomic_load(&w->svc.slot->pid) == (int32_t)getpid()); /* the master never reuses a live slot */
    atomic_store_explicit(&w->svc.slot->heartbeat_ms, orc_now_ms(), memory_order_relaxed);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    orc_worker_t *w = arg;
    (void)fd;
    (void)what;
    heartbeat(w);
    orc_sysinfo_sample(w->svc.sys);
    atomic_store_explicit(&w->svc.slot->rss_kb, orc_sysinfo_rss_kb(), memory_order_relaxed);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    orc_worker_t *w = arg;
    (void)fd;
    (void)what;
    uint64_t now = orc_now_ms();
    uint64_t grace = w->svc.master_gone ? 0 : (uint64_t)w->svc.cfg->drain_grace;
    if (orc_http_inflight(w->http) > 0 || w->svc.background > 0 || now - w->drain_started_ms < grace)
        return;
    if (!w->svc.master_gone && now - orc_http_last_input_ms(w->http) < grace)
        return; /* a request is still arriving */
    if (!orc_reqlog_drained(w->svc.reqlog, w->drain_started_ms))
        return; /* the request log is still shipping */
    if (now - orc_http_last_reply_ms(w->http) < DRAIN_FLUSH_MS)
        return; /* the last replies may still be on their way out */
    orc_log_info("drained: exiting");
    event_base_loopexit(w->svc.base, NULL);
}

static void drain(orc_worker_t *w, const char *why)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_started_ms = orc_now_ms();
    atomic_store(&w->svc.slot->state, ORC_SLOT_DRAINING);
    orc_log_info("draining (%s): %lld requests in flight", why, (long long)orc_http_inflight(w->http));
    orc_http_stop_accepting(w->http);
    orc_reqlog_drain(w->svc.reqlog);
    struct timeval tv = {0, DRAIN_CHECK_MS * 1000};
    event_add(w->drain_ev, &tv);
}

static void handle_message(orc_worker_t *w, const orc_msg_t *msg)
{
    switch (msg->type) {
    case ORC_MSG_QUIT: drain(w, "asked by the master"); break;
    case ORC_MSG_TERMINATE:
        orc_log_info("terminating at once, as asked by the master");
        w->exit_code = ORC_EXIT_OK;
        event_base_loopbreak(w->svc.base);
        break;
    case ORC_MSG_REOPEN:
        if (orc_log_reopen() != ORC_OK || orc_accesslog_reopen() != ORC_OK)
            orc_log_error("reopening log files failed: %s", strerror(errno));
        break;
    default: orc_log_warn("ignoring channel message %s", orc_channel_type_name(msg->type));
    }
}

static void on_channel(evutil_socket_t fd, short what, void *arg)
{
    orc_worker_t *w = arg;
    (void)what;
    ssize_t n = recv(fd, w->channel_buf + w->channel_len, sizeof(w->channel_buf) - w->channel_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        event_del(w->channel_ev);
        w->svc.master_gone = true;
        orc_log_warn("the master is gone (channel closed): draining");
        drain(w, "master gone");
        return;
    }
    w->channel_len += (size_t)n;
    for (;;) {
        orc_msg_t msg;
        size_t used = 0;
        int rc = orc_channel_decode(w->channel_buf, w->channel_len, &msg, &used);
        if (rc == ORC_AGAIN)
            break;
        if (rc == ORC_ERR) {
            orc_log_alert("malformed frame on the master channel: dropping its buffer");
            w->channel_len = 0;
            break;
        }
        handle_message(w, &msg);
        memmove(w->channel_buf, w->channel_buf + used, w->channel_len - used);
        w->channel_len -= used;
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    orc_worker_t *w = arg;
    (void)what;
    if (sig == SIGUSR1) {
        orc_msg_t reopen = {.type = ORC_MSG_REOPEN};
        handle_message(w, &reopen);
        return;
    }
    drain(w, sig == SIGQUIT ? "SIGQUIT" : "SIGTERM");
}

/* The request log's spool directory, made (as root) before privileges go. */
static void prepare_spool_dir(const orc_worker_args_t *a)
{
    char err[512];
    const orc_config_t *c = a->cfg;
    if (c->database_url[0] == '\0' || !c->reqlog_enabled)
        return;
    if (orc_spool_dir_prepare(c->reqlog_spool_dir, a->drop_privileges, a->uid, a->gid, err, sizeof(err)) !=
        ORC_OK)
        orc_log_error("request log: %s", err);
}

static int drop_privileges(const orc_worker_args_t *a)
{
    if (!a->drop_privileges)
        return ORC_OK;
    if (setgroups(0, NULL) != 0 || setgid(a->gid) != 0 || setuid(a->uid) != 0) {
        orc_log_crit("cannot switch to server.user \"%s\": %s", a->cfg->user, strerror(errno));
        return ORC_ERR;
    }
    return ORC_OK;
}

/* One Redis connection per worker, shared by everything that uses Redis
 * (response cache, sessions, asynchronous results): commands are
 * pipelined on it, so the fleet holds server.workers connections. */
static int add_redis(orc_worker_t *w)
{
    orc_redis_options_t opt;
    const orc_config_t *c = w->svc.cfg;
    if (c->redis_url[0] == '\0')
        return ORC_OK;
    if (w->svc.index == 0 && c->workers > c->redis_max_connections)
        orc_log_warn("cache.max_connections (%d) is below server.workers (%d): each worker holds one Redis "
                     "connection",
                     c->redis_max_connections, c->workers);
    orc_redis_options_defaults(&opt);
    opt.url = c->redis_url;
    opt.db = c->redis_db > 0 ? c->redis_db : -1; /* 0: the URL's database */
    opt.dns = w->dns;
    opt.command_timeout_ms = c->cache_timeout_ms;
    w->svc.redis = orc_redis_new(w->svc.base, &opt);
    return w->svc.redis != NULL ? ORC_OK : ORC_ERR;
}

/* The backing services: the resolver they share, Redis, the database. */
static int add_services(orc_worker_t *w)
{
    const orc_config_t *c = w->svc.cfg;
    if (c->database_url[0] != '\0' || c->redis_url[0] != '\0') {
        w->dns = evdns_base_new(w->svc.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (w->dns == NULL)
            return ORC_ERR;
    }
    w->svc.probe_cache =
        orc_probe_new(w->svc.base, w->dns, "cache", c->redis_url, 6379, c->health_check_interval);
    w->svc.db = orc_db_new(w->svc.base, w->dns, c, w->svc.index);
    if (w->svc.db == NULL || add_redis(w) != ORC_OK)
        return ORC_ERR;
    w->svc.cache = orc_cache_new(w->svc.redis, c, &w->svc.slot->counters);
    orc_reqlog_env_t env = {w->svc.base, w->dns, c, w->svc.shm, w->svc.slot, w->svc.db};
    w->svc.reqlog = orc_reqlog_new(&env);
    orc_keystore_env_t keys = {w->svc.base, c, w->svc.redis, w->svc.db};
    w->svc.keys = orc_keystore_new(&keys);
    orc_limits_env_t limits = {w->svc.base, c, w->svc.shm, w->svc.slot, w->svc.redis, w->svc.db};
    w->svc.limits = orc_limits_new(&limits);
    orc_auth_env_t auth = {c, w->svc.keys, w->svc.limits};
    w->auth = w->svc.keys != NULL && w->svc.limits != NULL ? orc_auth_new(&auth) : NULL;
    return w->svc.cache != NULL && w->auth != NULL ? ORC_OK : ORC_ERR;
}

static int add_events(orc_worker_t *w)
{
    static const int sigs[] = {SIGTERM, SIGQUIT, SIGUSR1};
    struct timeval hb = {HEARTBEAT_MS / 1000, 0};
    w->channel_ev = event_new(w->svc.base, w->svc.channel_fd, EV_READ | EV_PERSIST, on_channel, w);
    w->heartbeat_ev = event_new(w->svc.base, -1, EV_PERSIST, on_heartbeat, w);
    w->drain_ev = event_new(w->svc.base, -1, EV_PERSIST, on_drain_check, w);
    if (!w->channel_ev || !w->heartbeat_ev || !w->drain_ev)
        return ORC_ERR;
    for (size_t i = 0; i < ORC_ARRAY_LEN(sigs); i++) {
        w->signal_ev[i] = evsignal_new(w->svc.base, sigs[i], on_signal, w);
        if (w->signal_ev[i] == NULL || event_add(w->signal_ev[i], NULL) != 0)
            return ORC_ERR;
    }
    if (event_add(w->channel_ev, NULL) != 0 || event_add(w->heartbeat_ev, &hb) != 0)
        return ORC_ERR;
    return add_services(w);
}

/* The providers, and the DWA that ranks them over the fleet's statistics. */
static int add_llm(orc_worker_t *w)
{
    orc_api_env_t *s = &w->svc;
    s->llm = orc_llm_new(s->base, s->cfg, s->shm, s->slot);
    if (s->llm == NULL)
        return ORC_ERR;
    w->dwa = orc_dwa_new(s->base, s->cfg, s->shm, s->slot, s->llm->providers, s->llm->n);
    s->llm->dwa = w->dwa;
    return w->dwa != NULL ? ORC_OK : ORC_ERR;
}

/* The HTTP server with the API's routes; the request log watches it. */
static int add_http(orc_worker_t *w, const orc_worker_args_t *a)
{
    orc_http_env_t env = {.base = w->svc.base,
                          .cfg = w->svc.cfg,
                          .slot = w->svc.slot,
                          .worker_index = w->svc.index,
                          .generation = w->svc.generation,
                          .routes = orc_api_routes,
                          .nroutes = orc_api_nroutes,
                          .hooks = orc_reqlog_http_hooks(w->svc.reqlog),
                          .auth = orc_auth_http(w->auth),
                          .app = &w->svc};
    w->http = orc_http_new(&env, a->listen_fds, a->nlisten);
    return w->http != NULL ? ORC_OK : ORC_ERR;
}

static void free_worker(orc_worker_t *w)
{
    orc_keystore_free(w->svc.keys); /* key lookups still waiting are refused through the server */
    orc_limits_free(w->svc.limits);
    orc_auth_free(w->auth);
    orc_http_free(w->http);
    orc_dwa_free(w->dwa);
    orc_llm_free(w->svc.llm);
    for (size_t i = 0; i < ORC_ARRAY_LEN(w->signal_ev); i++)
        if (w->signal_ev[i])
            event_free(w->signal_ev[i]);
    if (w->channel_ev)
        event_free(w->channel_ev);
    if (w->heartbeat_ev)
        event_free(w->heartbeat_ev);
    if (w->drain_ev)
        event_free(w->drain_ev);
    orc_reqlog_free(w->svc.reqlog);
    orc_db_free(w->svc.db);
    orc_probe_free(w->svc.probe_cache);
    if (w->svc.redis)
        orc_redis_free(w->svc.redis);
    orc_cache_free(w->svc.cache);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    orc_sysinfo_free(w->svc.sys);
    if (w->svc.base)
        event_base_free(w->svc.base);
}

static void init_worker(orc_worker_t *w, const orc_worker_args_t *a)
{
    memset(w, 0, sizeof(*w));
    w->svc.cfg = a->cfg;
    w->svc.shm = a->shm;
    w->slot_index = a->slot;
    ORC_CHECK(a->slot >= 0 && (uint32_t)a->slot < a->shm->nslots);
    w->svc.slot = &a->shm->slots[a->slot];
    /* Claimed by the master for this worker; the master writes our pid
     * after fork, so it may not be there yet. */
    ORC_CHECK(atomic_load(&w->svc.slot->state) == ORC_SLOT_STARTING &&
              atomic_load(&w->svc.slot->generation) == a->generation &&
              atomic_load(&w->svc.slot->index) == (uint32_t)a->index);
    ORC_ASSERT(atomic_load(&w->svc.slot->pid) == 0 || atomic_load(&w->svc.slot->pid) == (int32_t)getpid());
    w->svc.generation = a->generation;
    w->svc.index = a->index;
    w->svc.channel_fd = a->channel_fd;
    w->exit_code = ORC_EXIT_OK;
    w->svc.started_wall_ms = orc_wall_ms();
}

int orc_worker_run(const orc_worker_args_t *a)
{
    orc_worker_t w;
    init_worker(&w, a);
    orc_log_set_role("worker#%d/g%u", a->index, a->generation);
    orc_random_seed();
    /* Requests allocate and free the same sizes over and over: keep freed
     * memory in the heap instead of trimming it back to the system. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 4 << 20);
    orc_log_set_level(a->cfg->log_level);
    if (orc_log_open(a->cfg->error_log) != ORC_OK || orc_accesslog_open(a->cfg->access_log) != ORC_OK)
        orc_log_error("cannot open the log files: %s", strerror(errno));
    atomic_store(&w.svc.slot->pid, (int32_t)getpid());
    atomic_store(&w.svc.slot->started_wall_ms, w.svc.started_wall_ms);
    heartbeat(&w);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* a terminal's ^C reaches the master, which decides */
    signal(SIGHUP, SIG_IGN);
    int rc = ORC_EXIT_FAILURE;
    prepare_spool_dir(a);
    if (drop_privileges(a) != ORC_OK) {
        rc = ORC_EXIT_FATAL_CONFIG;
        goto out;
    }
    w.svc.base = event_base_new();
    w.svc.sys = orc_sysinfo_new();
    if (w.svc.base == NULL || w.svc.sys == NULL || add_events(&w) != ORC_OK) {
        orc_log_crit("cannot set up the event loop");
        goto out;
    }
    if (add_llm(&w) != ORC_OK) {
        rc = ORC_EXIT_FATAL_CONFIG;
        goto out;
    }
    if (add_http(&w, a) != ORC_OK)
        goto out;
    atomic_store(&w.svc.slot->state, ORC_SLOT_SERVING);
    if (orc_channel_send(w.svc.channel_fd, ORC_MSG_READY) != ORC_OK)
        orc_log_warn("cannot tell the master READY: %s", strerror(errno));
    orc_log_debug("serving");
    event_base_dispatch(w.svc.base);
    rc = w.exit_code;
out:
    free_worker(&w);
    return rc;
}
