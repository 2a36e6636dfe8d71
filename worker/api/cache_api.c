/*
 * cache_api.c - /api/db/cache/...: Redis and response-cache statistics,
 * and clearing the gateway's keys.
 *
 * A clear walks "<namespace>:<pattern>" with SCAN (COUNT 500) and removes
 * each batch with UNLINK (freed in the background by Redis), one command
 * at a time, never KEYS or FLUSH*: Redis keeps serving others between
 * batches.  Every key is checked to start with "<namespace>:" before it
 * is unlinked.  A clear is bounded (CLEAR_MAX_MS, CLEAR_MAX_SCANS); one
 * cut short says so with "complete": false and can be repeated.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/api/cache_api.h"
#include "worker/cache/cache.h"
#include "worker/store/redis.h"

#define SCAN_COUNT "500"
#define CLEAR_MAX_MS 10000
#define CLEAR_MAX_SCANS 100000

/* ---- statistics -------------------------------------------------------- */

typedef struct {
    uint64_t hits, misses, bypasses, stores, errors;
} totals_t;

static totals_t totals(const orc_api_env_t *env)
{
    orc_counters_t *c = malloc(sizeof(*c));
    totals_t t = {0};
    if (c == NULL)
        return t;
    orc_shm_sum(env->shm, c);
    t = (totals_t){c->cache_hits, c->cache_misses, c->cache_bypasses, c->cache_stores, c->cache_errors};
    free(c);
    return t;
}

static double hit_rate(const totals_t *t)
{
    return t->hits + t->misses ? (double)t->hits / (double)(t->hits + t->misses) : 0.0;
}

json_object *orc_api_cache_gateway_stats(const orc_api_env_t *env)
{
    totals_t t = totals(env);
    json_object *o = json_object_new_object();
    orc_json_add_int(o, "hits", (int64_t)t.hits);
    orc_json_add_int(o, "misses", (int64_t)t.misses);
    orc_json_add_int(o, "bypasses", (int64_t)t.bypasses);
    orc_json_add_int(o, "stores", (int64_t)t.stores);
    orc_json_add_int(o, "errors", (int64_t)t.errors);
    orc_json_add_double(o, "hit_rate", hit_rate(&t));
    return o;
}

void orc_api_cache_metrics(struct evbuffer *b, const orc_counters_t *c)
{
    evbuffer_add_printf(b,
                        "# HELP orchesity_cache_lookups_total Response cache outcomes: hit, miss, or bypass "
                        "(not looked up).\n# TYPE orchesity_cache_lookups_total counter\n"
                        "orchesity_cache_lookups_total{result=\"hit\"} %llu\n"
                        "orchesity_cache_lookups_total{result=\"miss\"} %llu\n"
                        "orchesity_cache_lookups_total{result=\"bypass\"} %llu\n",
                        (unsigned long long)c->cache_hits, (unsigned long long)c->cache_misses,
                        (unsigned long long)c->cache_bypasses);
    evbuffer_add_printf(b,
                        "# HELP orchesity_cache_stores_total Answers written to the response cache.\n"
                        "# TYPE orchesity_cache_stores_total counter\norchesity_cache_stores_total %llu\n"
                        "# HELP orchesity_cache_errors_total Failed or timed-out response cache commands.\n"
                        "# TYPE orchesity_cache_errors_total counter\norchesity_cache_errors_total %llu\n",
                        (unsigned long long)c->cache_stores, (unsigned long long)c->cache_errors);
}

static const char *info_fields[] = {"connected_clients", "used_memory",     "used_memory_human",
                                    "keyspace_hits",     "keyspace_misses", "total_commands_processed"};

/* "name:value" lines of INFO -> numbers (strings for *_human). */
static void add_info(json_object *o, const char *info)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(info_fields); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "\n%s:", info_fields[i]);
        const char *p = strstr(info, needle);
        if (p == NULL)
            continue;
        p += strlen(needle);
        size_t n = strcspn(p, "\r\n");
        char value[64];
        snprintf(value, sizeof(value), "%.*s", (int)ORC_MIN(n, sizeof(value) - 1), p);
        if (strstr(info_fields[i], "human") != NULL)
            orc_json_add_str(o, info_fields[i], value);
        else
            orc_json_add_int(o, info_fields[i], strtoll(value, NULL, 10));
    }
}

static void stats_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_req_t *rq = arg;
    orc_api_env_t *env = orc_api_env(rq);
    json_object *o = json_object_new_object();
    bool ok = rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_STRING;
    orc_redis_status_t st = orc_redis_status(env->redis);
    if (ok)
        add_info(o, reply->str);
    orc_json_add_bool(o, "is_connected", ok);
    if (!ok)
        orc_json_add_str(o, "error",
                         rc == ORC_REDIS_OK ? "unexpected reply to INFO"
                         : st.error[0]      ? st.error
                                            : orc_redis_rc_name(rc));
    orc_json_add_str(o, "namespace", env->cfg->cache_namespace);
    orc_json_add_bool(o, "enabled", env->cfg->enable_caching);
    orc_json_add_int(o, "default_ttl", env->cfg->cache_expire_seconds);
    json_object *g = orc_api_cache_gateway_stats(env);
    json_object *hr = NULL;
    json_object_object_get_ex(g, "hit_rate", &hr);
    json_object_object_add(o, "hit_rate", json_object_get(hr));
    json_object_object_add(o, "gateway", g);
    orc_json_add_int(o, "connections", env->cfg->workers);
    orc_json_add_int(o, "max_connections", env->cfg->redis_max_connections);
    orc_http_reply_json(rq, 200, o);
}

static void no_op_gone(void *arg)
{
    (void)arg; /* a short, bounded command: its reply finishes the request */
}

void orc_api_cache_stats(orc_req_t *rq)
{
    if (orc_api_env(rq)->redis == NULL) {
        json_object *o = json_object_new_object();
        orc_json_add_str(o, "status", "disabled");
        orc_http_reply_json(rq, 200, o);
        return;
    }
    const char *argv[] = {"INFO"};
    orc_http_watch_client(rq, no_op_gone, rq);
    if (orc_redis_command(orc_api_env(rq)->redis, stats_done, rq, 1, argv, NULL) <= 0)
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot read the statistics now");
}

/* ---- clearing ---------------------------------------------------------- */

typedef struct {
    orc_req_t *rq;
    char match[ORC_CACHE_PATTERN_MAX + 80];
    char prefix[80];     /* "<namespace>:" */
    const char *pattern; /* as given, NULL for the whole namespace */
    char cursor[32];
    int cmd;
    long long cleared;
    int scans;
    uint64_t started_ms;
} clear_t;

static void clear_scan(clear_t *c);

static void clear_reply(clear_t *c, bool complete)
{
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "message", complete ? "cache cleared" : "cache partly cleared: repeat to go on");
    if (c->pattern != NULL)
        orc_json_add_str(o, "pattern", c->pattern);
    orc_json_add_int(o, "cleared_count", c->cleared);
    orc_json_add_bool(o, "complete", complete);
    orc_log_info("cache: cleared %lld keys matching %s%s", c->cleared, c->match,
                 complete ? "" : " (cut short)");
    orc_http_reply_json(c->rq, 200, o);
    free(c);
}

static void clear_fail(clear_t *c, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_http_error(c->rq, 503, "CACHE_UNAVAILABLE", "Redis failed after %lld keys were cleared: %s",
                   c->cleared,
                   rc != ORC_REDIS_OK                 ? orc_redis_rc_name(rc)
                   : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                      : "unexpected reply");
    free(c);
}

static void clear_next(clear_t *c)
{
    if (strcmp(c->cursor, "0") == 0) {
        clear_reply(c, true);
        return;
    }
    if (orc_now_ms() - c->started_ms > CLEAR_MAX_MS || c->scans >= CLEAR_MAX_SCANS) {
        clear_reply(c, false);
        return;
    }
    clear_scan(c);
}

static void unlink_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    clear_t *c = arg;
    c->cmd = 0;
    if (rc != ORC_REDIS_OK || reply->type != REDIS_REPLY_INTEGER) {
        clear_fail(c, rc, reply);
        return;
    }
    c->cleared += reply->integer;
    clear_next(c);
}

/* UNLINK the keys of a SCAN batch that are in the namespace; ORC_AGAIN when none. */
static int clear_unlink(clear_t *c, const redisReply *keys)
{
    const char **argv = malloc((keys->elements + 1) * sizeof(*argv));
    size_t *lens = malloc((keys->elements + 1) * sizeof(*lens)), n = 1, plen = strlen(c->prefix);
    int rc = ORC_ERR;
    if (argv != NULL && lens != NULL) {
        argv[0] = "UNLINK";
        lens[0] = 6;
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            if (k->type == REDIS_REPLY_STRING && (size_t)k->len >= plen &&
                memcmp(k->str, c->prefix, plen) == 0) {
                argv[n] = k->str;
                lens[n++] = (size_t)k->len;
            }
        }
        rc = n == 1 ? ORC_AGAIN
             : (c->cmd = orc_redis_command(orc_api_env(c->rq)->redis, unlink_done, c, (int)n, argv, lens)) > 0
                 ? ORC_OK
                 : ORC_ERR;
    }
    free(argv);
    free(lens);
    return rc;
}

static void scan_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    clear_t *c = arg;
    c->cmd = 0;
    if (rc != ORC_REDIS_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
        clear_fail(c, rc, reply);
        return;
    }
    snprintf(c->cursor, sizeof(c->cursor), "%s", reply->element[0]->str);
    int u = clear_unlink(c, reply->element[1]);
    if (u == ORC_AGAIN)
        clear_next(c);
    else if (u != ORC_OK)
        clear_fail(c, ORC_REDIS_CLOSED, NULL);
}

static void clear_scan(clear_t *c)
{
    const char *argv[] = {"SCAN", c->cursor, "MATCH", c->match, "COUNT", SCAN_COUNT};
    c->scans++;
    c->cmd = orc_redis_command(orc_api_env(c->rq)->redis, scan_done, c, 6, argv, NULL);
    if (c->cmd <= 0) {
        c->cmd = 0;
        clear_fail(c, ORC_REDIS_CLOSED, NULL);
    }
}

static void clear_gone(void *arg)
{
    clear_t *c = arg;
    if (c->cmd > 0)
        orc_redis_cancel(orc_api_env(c->rq)->redis, c->cmd);
    orc_http_error(c->rq, 499, "CLIENT_CLOSED_REQUEST", "the client closed the connection");
    free(c);
}

static void clear_start(orc_req_t *rq, const char *pattern)
{
    char err[300];
    const char *ns = orc_api_env(rq)->cfg->cache_namespace;
    if (orc_api_env(rq)->redis == NULL) {
        orc_http_error(rq, 503, "CACHE_DISABLED", "no cache is configured (REDIS_URL)");
        return;
    }
    clear_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot clear the cache now");
        return;
    }
    if (orc_cache_pattern(ns, pattern, c->match, sizeof(c->match), err, sizeof(err)) != ORC_OK) {
        free(c);
        orc_http_error(rq, 400, "INVALID_PATTERN", "%s", err);
        return;
    }
    c->rq = rq;
    c->pattern = pattern;
    snprintf(c->prefix, sizeof(c->prefix), "%s:", ns);
    snprintf(c->cursor, sizeof(c->cursor), "0");
    c->started_ms = orc_now_ms();
    orc_http_watch_client(rq, clear_gone, c);
    clear_scan(c);
}

void orc_api_cache_clear(orc_req_t *rq)
{
    clear_start(rq, NULL);
}

void orc_api_cache_clear_pattern(orc_req_t *rq)
{
    clear_start(rq, rq->match.params[0]);
}
