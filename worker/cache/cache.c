/*
 * cache.c - the worker's response cache on its Redis client.
 *
 * Every request ends with exactly one of HIT, MISS or BYPASS counted in
 * the worker's shm slot; stores and Redis errors are counted too.  The
 * cache's own commands in flight are bounded by cache.pool_size per
 * worker (they are pipelined on the worker's one connection): beyond it a
 * request bypasses the cache instead of queueing behind Redis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/orc.h"
#include "worker/cache/cache.h"
#include "worker/store/redis.h"

struct orc_cache_s {
    orc_redis_t *redis; /* NULL without cache.redis_url */
    const orc_config_t *cfg;
    orc_counters_t *counters;
    int inflight; /* this worker's cache commands in flight */
};

orc_cache_t *orc_cache_new(orc_redis_t *redis, const orc_config_t *cfg, orc_counters_t *counters)
{
    orc_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->redis = redis;
    c->cfg = cfg;
    c->counters = counters;
    return c;
}

void orc_cache_free(orc_cache_t *c)
{
    free(c);
}

const char *orc_cache_result_name(orc_cache_result_t r)
{
    return r == ORC_CACHE_HIT ? "HIT" : r == ORC_CACHE_MISS ? "MISS" : "BYPASS";
}

static void count_result(orc_cache_req_t *cr, orc_cache_result_t r, const char *reason)
{
    orc_counters_t *c = cr->cache->counters;
    cr->result = r;
    cr->reason = reason;
    orc_counter_add(r == ORC_CACHE_HIT    ? &c->cache_hits
                    : r == ORC_CACHE_MISS ? &c->cache_misses
                                          : &c->cache_bypasses,
                    1);
}

static bool usable(const orc_cache_t *c)
{
    return c->redis != NULL && c->cfg->enable_caching;
}

int orc_cache_prepare(orc_cache_t *c, orc_cache_req_t *cr, const char *cache_control, const char *ttl,
                      const char *scope, json_object *request, char *err, size_t errlen)
{
    const orc_config_t *cfg = c->cfg;
    memset(cr, 0, sizeof(*cr));
    cr->cache = c;
    cr->reason = "disabled";
    if (orc_cache_controls(cache_control, ttl, cfg->cache_expire_seconds, cfg->cache_max_ttl, &cr->lookup,
                           &cr->store, &cr->ttl, err, errlen) != ORC_OK)
        return ORC_ERR;
    const char *why = orc_cache_uncacheable(request);
    if (!usable(c) || why != NULL ||
        orc_cache_key(cfg->cache_namespace, scope, request, cr->key, sizeof(cr->key)) != ORC_OK) {
        cr->key[0] = '\0';
        cr->lookup = cr->store = false;
        cr->reason = usable(c) ? "not cacheable" : "disabled";
    }
    return ORC_OK;
}

static void lookup_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_cache_req_t *cr = arg;
    json_object *entry = NULL;
    cr->cmd = 0;
    cr->cache->inflight--;
    if (rc != ORC_REDIS_OK || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        if (rc == ORC_REDIS_OK || rc == ORC_REDIS_TIMEOUT || rc == ORC_REDIS_CONNECTION_LOST)
            orc_counter_add(&cr->cache->counters->cache_errors, 1);
        count_result(cr, ORC_CACHE_BYPASS, rc == ORC_REDIS_TIMEOUT ? "redis timeout" : "redis unavailable");
    } else if (reply->type == REDIS_REPLY_NIL) {
        count_result(cr, ORC_CACHE_MISS, NULL);
    } else {
        entry = json_tokener_parse(reply->str); /* stored by us: one NUL-free JSON document */
        if (entry == NULL || orc_cache_entry_count(entry) < 1) {
            orc_log_warn("cache entry %s is not readable: treated as a miss", cr->key);
            json_object_put(entry);
            entry = NULL;
            count_result(cr, ORC_CACHE_MISS, NULL);
        } else {
            count_result(cr, ORC_CACHE_HIT, NULL);
        }
    }
    cr->cb(cr->arg, entry);
    json_object_put(entry);
}

static bool admit(orc_cache_req_t *cr)
{
    orc_cache_t *c = cr->cache;
    if (c->inflight >= c->cfg->redis_pool_size)
        return false;
    c->inflight++;
    return true;
}

bool orc_cache_lookup(orc_cache_req_t *cr, orc_cache_lookup_cb cb, void *arg)
{
    if (!cr->lookup) {
        count_result(cr, ORC_CACHE_BYPASS, cr->key[0] ? "no-cache" : cr->reason);
        return false;
    }
    if (!admit(cr)) {
        count_result(cr, ORC_CACHE_BYPASS, "busy");
        return false;
    }
    const char *argv[] = {"GET", cr->key};
    cr->cb = cb;
    cr->arg = arg;
    cr->cmd = orc_redis_command(cr->cache->redis, lookup_done, cr, 2, argv, NULL);
    if (cr->cmd <= 0) {
        cr->cmd = 0;
        cr->cache->inflight--;
        count_result(cr, ORC_CACHE_BYPASS, "redis unavailable");
        return false;
    }
    return true;
}

void orc_cache_lookup_cancel(orc_cache_req_t *cr)
{
    if (cr->cmd > 0 && orc_redis_cancel(cr->cache->redis, cr->cmd) == ORC_OK)
        cr->cache->inflight--;
    cr->cmd = 0;
}

static void store_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_cache_t *c = arg;
    c->inflight--;
    bool ok = rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_STATUS;
    orc_counter_add(ok ? &c->counters->cache_stores : &c->counters->cache_errors, 1);
    if (rc == ORC_REDIS_OK && !ok)
        orc_log_warn("cache: SET failed: %s",
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
}

void orc_cache_store(orc_cache_req_t *cr, json_object *entry)
{
    char ttl[16];
    size_t len = 0;
    if (!cr->store || cr->key[0] == '\0' || entry == NULL)
        return;
    const char *text = json_object_to_json_string_length(
        entry, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (text == NULL || len > (size_t)cr->cache->cfg->cache_max_entry_bytes || !admit(cr))
        return;
    snprintf(ttl, sizeof(ttl), "%d", cr->ttl);
    const char *argv[] = {"SET", cr->key, text, "EX", ttl};
    size_t lens[] = {3, strlen(cr->key), len, 2, strlen(ttl)};
    if (orc_redis_command(cr->cache->redis, store_done, cr->cache, 5, argv, lens) <= 0)
        cr->cache->inflight--;
}
