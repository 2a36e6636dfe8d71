/*
 * keystore.c - client key records in a worker: the memory table, lookups
 * through Redis and PostgreSQL, background refreshes and the poll of
 * changed keys (see keystore.h for the contract).
 *
 * The table holds at most security.key_cache_size entries in chained
 * buckets; when it is full, unknown-key entries go first, then a whole
 * bucket.  An entry being fetched holds the callbacks waiting for it, so
 * concurrent requests with one key cause one fetch.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/auth/keystore.h"
#include "worker/store/db.h"
#include "worker/store/redis.h"

#define BUCKETS 4096
#define POLL_MS 1000
#define POLL_OVERLAP_S 5   /* changes re-read: a commit may land after a later updated_at was seen */
#define POLL_MAX_ROWS 1000 /* per poll; more are read on the next ones */
#define FETCH_TIMEOUT_MS 1000

static const char lookup_sql[] = "SELECT " ORC_KEY_JSON_SQL " FROM api_keys WHERE key_hash = $1";
static const char changes_sql[] = "SELECT key_hash, " ORC_KEY_JSON_SQL " FROM api_keys "
                                  "WHERE updated_at > clock_timestamp() - make_interval(secs => $1::float8) "
                                  "ORDER BY updated_at LIMIT 1000";

typedef struct waiter_s {
    orc_key_cb cb;
    void *arg;
    struct waiter_s *next;
} waiter_t;

typedef enum { ENTRY_LOADING, ENTRY_FOUND, ENTRY_UNKNOWN } entry_state_t;

typedef struct entry_s {
    char hash[ORC_APIKEY_HASH_SIZE];
    entry_state_t state;
    orc_key_t *key; /* ENTRY_FOUND: one reference */
    uint64_t fetched_ms;
    bool refreshing; /* a background fetch runs for it */
    waiter_t *waiters;
    struct entry_s *next;
} entry_t;

struct orc_keystore_s {
    orc_keystore_env_t env;
    entry_t *buckets[BUCKETS];
    size_t entries;
    struct event *poll_ev;
    uint64_t last_poll_ok_ms;
    int poll_id;             /* the poll's query in flight, 0 if none */
    struct fetch_s *fetches; /* in flight */
    orc_keystore_stats_t stats;
};

/* A fetch in flight (Redis, then PostgreSQL) for one entry, found again
 * by its hash when it completes: the entry may have gone meanwhile. */
typedef struct fetch_s {
    orc_keystore_t *ks; /* NULL once the store is freed: the callbacks then only free the fetch */
    char hash[ORC_APIKEY_HASH_SIZE];
    struct fetch_s *prev, *next;
} fetch_t;

static void poll_changes(evutil_socket_t fd, short what, void *arg);

/* ---- the table ------------------------------------------------------------ */

static size_t bucket_of(const char *hash)
{
    return strtoul((char[9]){hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7], 0}, NULL,
                   16) %
           BUCKETS;
}

static entry_t *entry_find(orc_keystore_t *ks, const char *hash)
{
    for (entry_t *e = ks->buckets[bucket_of(hash)]; e != NULL; e = e->next)
        if (strcmp(e->hash, hash) == 0)
            return e;
    return NULL;
}

static void entry_free(entry_t *e)
{
    orc_key_unref(e->key);
    free(e);
}

/* Drops entries that nobody waits for: unknown ones, or with ALL, any. */
static void evict_bucket(orc_keystore_t *ks, size_t b, bool all)
{
    entry_t **pp = &ks->buckets[b];
    while (*pp != NULL) {
        entry_t *e = *pp;
        if (e->waiters == NULL && !e->refreshing && (all || e->state == ENTRY_UNKNOWN)) {
            *pp = e->next;
            entry_free(e);
            ks->entries--;
        } else {
            pp = &e->next;
        }
    }
}

static void make_room(orc_keystore_t *ks, size_t b)
{
    if (ks->entries < (size_t)ks->env.cfg->key_cache_size)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        evict_bucket(ks, i, false);
    for (size_t i = 1; i < BUCKETS && ks->entries >= (size_t)ks->env.cfg->key_cache_size; i++)
        evict_bucket(ks, (b + i) % BUCKETS, true);
}

static entry_t *entry_add(orc_keystore_t *ks, const char *hash)
{
    size_t b = bucket_of(hash);
    make_room(ks, b);
    entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    snprintf(e->hash, sizeof(e->hash), "%s", hash);
    e->state = ENTRY_LOADING;
    e->next = ks->buckets[b];
    ks->buckets[b] = e;
    ks->entries++;
    return e;
}

static void entry_remove(orc_keystore_t *ks, entry_t *gone)
{
    for (entry_t **pp = &ks->buckets[bucket_of(gone->hash)]; *pp != NULL; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            entry_free(gone);
            ks->entries--;
            return;
        }
}

/* ---- completing a fetch ----------------------------------------------------- */

static void notify_waiters(entry_t *e, orc_key_result_t result)
{
    waiter_t *w = e->waiters;
    e->waiters = NULL;
    orc_key_t *key = orc_key_ref(e->key); /* a waiter's callback may cause the entry's removal */
    while (w != NULL) {
        waiter_t *next = w->next;
        w->cb(w->arg, result, key);
        free(w);
        w = next;
    }
    orc_key_unref(key);
}

static void entry_set(entry_t *e, orc_key_t *key)
{
    orc_key_unref(e->key);
    e->key = key;
    e->state = key != NULL ? ENTRY_FOUND : ENTRY_UNKNOWN;
    e->fetched_ms = orc_now_ms();
}

/* KEY (taken) is the record, NULL for an unknown key; UNAVAILABLE when
 * nothing could answer. */
static void fetch_forget(fetch_t *f)
{
    if (f->ks != NULL) {
        if (f->prev != NULL)
            f->prev->next = f->next;
        else
            f->ks->fetches = f->next;
        if (f->next != NULL)
            f->next->prev = f->prev;
    }
    free(f);
}

static void fetch_done(fetch_t *f, orc_key_t *key, bool unavailable)
{
    orc_keystore_t *ks = f->ks;
    entry_t *e = ks != NULL ? entry_find(ks, f->hash) : NULL;
    fetch_forget(f);
    if (e == NULL) {
        orc_key_unref(key);
        return;
    }
    e->refreshing = false;
    if (unavailable) {
        ks->stats.unavailable++;
        if (e->state != ENTRY_LOADING)
            return; /* a refresh failed: the record stays in use */
        notify_waiters(e, ORC_KEY_UNAVAILABLE);
        entry_remove(ks, e);
        return;
    }
    if (key == NULL)
        ks->stats.unknown++;
    entry_set(e, key);
    notify_waiters(e, key != NULL ? ORC_KEY_FOUND : ORC_KEY_UNKNOWN);
}

/* ---- Redis, then PostgreSQL ----------------------------------------------- */

static void redis_key(const orc_keystore_t *ks, const char *hash, char *buf, size_t size)
{
    snprintf(buf, size, "%s:key:%s", ks->env.cfg->cache_namespace, hash);
}

static void ignore_reply(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    (void)arg;
    (void)rc;
    (void)reply;
}

static void redis_store(orc_keystore_t *ks, const char *hash, const char *json, size_t len)
{
    char name[320], ttl[16];
    redis_key(ks, hash, name, sizeof(name));
    snprintf(ttl, sizeof(ttl), "%d", ks->env.cfg->key_cache_ttl * 5);
    const char *argv[] = {"SET", name, json, "EX", ttl};
    size_t argvlen[] = {3, strlen(name), len, 2, strlen(ttl)};
    orc_redis_command(ks->env.redis, ignore_reply, NULL, 5, argv, argvlen);
}

static void on_db_row(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    fetch_t *f = arg;
    (void)error;
    if (rc != ORC_PG_OK || f->ks == NULL) {
        fetch_done(f, NULL, true);
        return;
    }
    f->ks->stats.db_reads++;
    if (PQntuples(res) == 0) {
        fetch_done(f, NULL, false);
        return;
    }
    const char *json = PQgetvalue(res, 0, 0);
    size_t len = (size_t)PQgetlength(res, 0, 0);
    orc_key_t *key = orc_key_parse(json, len);
    if (key == NULL)
        orc_log_error("client keys: the stored record of a key is not valid; refusing it");
    else
        redis_store(f->ks, f->hash, json, len);
    fetch_done(f, key, false);
}

static void fetch_from_db(fetch_t *f)
{
    const char *values[] = {f->hash};
    if (!orc_db_enabled(f->ks->env.db)) { /* without a database there are no client keys */
        fetch_done(f, NULL, false);
        return;
    }
    if (orc_db_query(f->ks->env.db, lookup_sql, 1, values, on_db_row, f) <= 0)
        fetch_done(f, NULL, true);
}

static void on_redis_reply(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    fetch_t *f = arg;
    if (f->ks == NULL || rc == ORC_REDIS_CLOSED) {
        fetch_done(f, NULL, true);
        return;
    }
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_STRING) {
        orc_key_t *key = orc_key_parse(reply->str, reply->len);
        if (key != NULL) {
            f->ks->stats.redis_hits++;
            fetch_done(f, key, false);
            return;
        }
    }
    fetch_from_db(f);
}

static void fetch_start(orc_keystore_t *ks, const char *hash)
{
    fetch_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        entry_t *e = entry_find(ks, hash);
        if (e != NULL && e->state == ENTRY_LOADING) {
            notify_waiters(e, ORC_KEY_UNAVAILABLE);
            entry_remove(ks, e);
        }
        return;
    }
    f->ks = ks;
    snprintf(f->hash, sizeof(f->hash), "%s", hash);
    f->next = ks->fetches;
    if (ks->fetches != NULL)
        ks->fetches->prev = f;
    ks->fetches = f;
    char name[320];
    redis_key(ks, hash, name, sizeof(name));
    const char *argv[] = {"GET", name};
    if (orc_redis_command(ks->env.redis, on_redis_reply, f, 2, argv, NULL) <= 0)
        fetch_from_db(f);
}

/* ---- lookups ---------------------------------------------------------------- */

static bool stale(const orc_keystore_t *ks, const entry_t *e)
{
    return orc_now_ms() - e->fetched_ms >= (uint64_t)ks->env.cfg->key_cache_ttl * 1000;
}

static orc_key_result_t wait_for(entry_t *e, orc_key_cb cb, void *arg)
{
    waiter_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ORC_KEY_UNAVAILABLE;
    w->cb = cb;
    w->arg = arg;
    w->next = e->waiters;
    e->waiters = w;
    return ORC_KEY_PENDING;
}

orc_key_result_t orc_keystore_lookup(orc_keystore_t *ks, const char *hash, bool fetch_allowed,
                                     orc_key_t **out, orc_key_cb cb, void *arg)
{
    entry_t *e = entry_find(ks, hash);
    *out = NULL;
    if (e != NULL && e->state == ENTRY_FOUND) {
        ks->stats.hits++;
        if (stale(ks, e) && !e->refreshing && fetch_allowed) {
            e->refreshing = true;
            ks->stats.refreshes++;
            fetch_start(ks, hash);
        }
        *out = e->key;
        return ORC_KEY_FOUND;
    }
    if (e != NULL && e->state == ENTRY_UNKNOWN && (!stale(ks, e) || !fetch_allowed)) {
        ks->stats.hits++;
        return ORC_KEY_UNKNOWN;
    }
    if (!fetch_allowed)
        return ORC_KEY_UNKNOWN;
    ks->stats.misses++;
    if (e != NULL && e->state == ENTRY_LOADING)
        return wait_for(e, cb, arg); /* joins the fetch in flight */
    if (e == NULL && (e = entry_add(ks, hash)) == NULL)
        return ORC_KEY_UNAVAILABLE;
    e->state = ENTRY_LOADING; /* new, or a stale unknown entry fetched again */
    fetch_start(ks, hash);
    /* The fetch may have ended at once (no Redis, and PostgreSQL refused or
     * is not configured): answer now, as the callback must not run here. */
    e = entry_find(ks, hash);
    if (e == NULL)
        return ORC_KEY_UNAVAILABLE;
    if (e->state == ENTRY_UNKNOWN)
        return ORC_KEY_UNKNOWN;
    if (e->state == ENTRY_FOUND) {
        *out = e->key;
        return ORC_KEY_FOUND;
    }
    return wait_for(e, cb, arg);
}

/* ---- the poll of changed keys ------------------------------------------------ */

static void apply_change(orc_keystore_t *ks, const char *hash, const char *json, size_t len)
{
    redis_store(ks, hash, json, len);
    entry_t *e = entry_find(ks, hash);
    if (e == NULL || e->state == ENTRY_LOADING)
        return;
    orc_key_t *key = orc_key_parse(json, len);
    if (key == NULL)
        return;
    entry_set(e, key);
    ks->stats.changes_applied++;
}

static void on_changes(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    orc_keystore_t *ks = arg;
    (void)error;
    ks->poll_id = 0;
    ks->stats.change_poll_ok = rc == ORC_PG_OK;
    if (rc != ORC_PG_OK)
        return;
    ks->last_poll_ok_ms = orc_now_ms();
    for (int i = 0; i < PQntuples(res) && i < POLL_MAX_ROWS; i++)
        apply_change(ks, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
}

static void poll_changes(evutil_socket_t fd, short what, void *arg)
{
    orc_keystore_t *ks = arg;
    (void)fd;
    (void)what;
    if (ks->poll_id > 0 || !orc_db_enabled(ks->env.db) || !orc_db_schema_ready(ks->env.db))
        return;
    /* Since the last poll that succeeded, plus an overlap, at most a day:
     * after a longer outage every remembered record is old anyway. */
    uint64_t since_s = (orc_now_ms() - ks->last_poll_ok_ms) / 1000 + POLL_OVERLAP_S;
    char secs[24];
    snprintf(secs, sizeof(secs), "%llu", (unsigned long long)ORC_MIN(since_s, 86400));
    const char *values[] = {secs};
    int id = orc_db_query(ks->env.db, changes_sql, 1, values, on_changes, ks);
    ks->poll_id = id > 0 ? id : 0;
}

/* ---- life ------------------------------------------------------------------- */

orc_keystore_t *orc_keystore_new(const orc_keystore_env_t *env)
{
    orc_keystore_t *ks = calloc(1, sizeof(*ks));
    if (ks == NULL)
        return NULL;
    ks->env = *env;
    ks->last_poll_ok_ms = orc_now_ms();
    ks->poll_ev = event_new(env->base, -1, EV_PERSIST, poll_changes, ks);
    struct timeval every = {POLL_MS / 1000, (POLL_MS % 1000) * 1000};
    if (ks->poll_ev == NULL || event_add(ks->poll_ev, &every) != 0) {
        orc_keystore_free(ks);
        return NULL;
    }
    return ks;
}

void orc_keystore_free(orc_keystore_t *ks)
{
    if (ks == NULL)
        return;
    if (ks->poll_ev != NULL)
        event_free(ks->poll_ev);
    if (ks->poll_id > 0) /* the poll's callback must not find the store */
        orc_db_cancel(ks->env.db, ks->poll_id);
    for (fetch_t *f = ks->fetches; f != NULL; f = f->next)
        f->ks = NULL;
    for (size_t b = 0; b < BUCKETS; b++)
        while (ks->buckets[b] != NULL) {
            entry_t *e = ks->buckets[b];
            ks->buckets[b] = e->next;
            notify_waiters(e, ORC_KEY_UNAVAILABLE);
            entry_free(e);
        }
    free(ks);
}

orc_keystore_stats_t orc_keystore_stats(const orc_keystore_t *ks)
{
    orc_keystore_stats_t s = ks->stats;
    s.entries = ks->entries;
    return s;
}
