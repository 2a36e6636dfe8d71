/*
 * keystore.h - a worker's view of the client keys: records looked up by
 * the SHA-256 of the key, remembered in memory, shared between replicas
 * through Redis, read from PostgreSQL (the only source of truth).
 *
 * Lookup order: memory, then Redis ("<namespace>:key:<hash>", the record
 * as JSON), then PostgreSQL (which refills Redis).  Keys a worker knows
 * are served from memory without waiting; one older than
 * security.key_cache_ttl is refreshed in the background while it keeps
 * being served, and stays usable when both Redis and PostgreSQL are down.
 * A hash PostgreSQL does not know is remembered as unknown for the same
 * time.  Every second the worker asks PostgreSQL which keys changed
 * (updated_at) and replaces what it holds of them, in memory and in Redis:
 * a revocation reaches every worker of every replica within about 2 s.
 *
 * Records are reference-counted: a request keeps the record it was
 * authorized with even when a change replaces it in the store.
 */
#ifndef ORC_KEYSTORE_H
#define ORC_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/apikey.h"
#include "common/config.h"

struct event_base;
typedef struct orc_redis_s orc_redis_t;
typedef struct orc_db_s orc_db_t;
typedef struct orc_keystore_s orc_keystore_t;

/* Who calls: a client key, or one of the principals that need none. */
typedef enum {
    ORC_CALLER_KEY,       /* a client key (the record below) */
    ORC_CALLER_MASTER,    /* the master key */
    ORC_CALLER_LOOPBACK,  /* a loopback client of a gateway without a master key */
    ORC_CALLER_ANONYMOUS, /* anyone, on a route open without a master key */
} orc_caller_t;

typedef struct orc_key_s {
    orc_caller_t caller;
    int refs;
    char id[ORC_APIKEY_ID_SIZE];
    char name[ORC_APIKEY_NAME_MAX + 1];
    char team[ORC_APIKEY_NAME_MAX + 1]; /* "" without a team */
    unsigned scopes;                    /* ORC_SCOPE_* bits */
    char **models;                      /* glob patterns; none: every model */
    int nmodels;
    char **providers; /* glob patterns; none: every provider */
    int nproviders;
    long rpm, tpm, max_parallel; /* 0: unlimited */
    double budget_usd;           /* < 0: no budget */
    char budget_period[8];       /* day|month|total */
    double team_budget_usd;      /* the team's budget (api_teams), < 0: none */
    char team_budget_period[8];
    int64_t expires_ms; /* wall clock; 0: never */
    bool revoked;
} orc_key_t;

/* The record of a key as PostgreSQL builds it (ORC_KEY_JSON_SQL) and Redis
 * keeps it.  NULL when TEXT is not such a record. */
orc_key_t *orc_key_parse(const char *text, size_t len);
orc_key_t *orc_key_ref(orc_key_t *k);
void orc_key_unref(orc_key_t *k);
/* Not revoked and not expired at WALL_MS. */
bool orc_key_active(const orc_key_t *k, uint64_t wall_ms);

typedef struct {
    struct event_base *base;
    const orc_config_t *cfg;
    orc_redis_t *redis; /* borrowed; may be disabled */
    orc_db_t *db;       /* borrowed; may be disabled */
} orc_keystore_env_t;

orc_keystore_t *orc_keystore_new(const orc_keystore_env_t *env);
/* Pending lookups complete with ORC_KEY_UNAVAILABLE before it returns. */
void orc_keystore_free(orc_keystore_t *ks);

typedef enum {
    ORC_KEY_FOUND,       /* a record (which may be revoked or expired) */
    ORC_KEY_UNKNOWN,     /* no such key */
    ORC_KEY_UNAVAILABLE, /* neither Redis nor PostgreSQL could answer */
    ORC_KEY_PENDING,     /* asked; CB runs later, exactly once */
} orc_key_result_t;

/* KEY is borrowed: take a reference to keep it. */
typedef void (*orc_key_cb)(void *arg, orc_key_result_t result, orc_key_t *key);

/* Looks up the key whose SHA-256 is HASH.  Answers at once from memory
 * (FOUND with *OUT, or UNKNOWN) when it can; else PENDING, and CB(ARG)
 * runs later from the loop.  FETCH_ALLOWED false refuses to ask Redis
 * and PostgreSQL (UNKNOWN): for clients that failed too often. */
orc_key_result_t orc_keystore_lookup(orc_keystore_t *ks, const char *hash, bool fetch_allowed,
                                     orc_key_t **out, orc_key_cb cb, void *arg);

typedef struct {
    uint64_t hits, misses, redis_hits, db_reads, unknown, unavailable, refreshes, changes_applied;
    size_t entries;
    bool change_poll_ok; /* the last poll of changed keys succeeded */
} orc_keystore_stats_t;

orc_keystore_stats_t orc_keystore_stats(const orc_keystore_t *ks);

/* The columns of a key record as JSON text, for SELECTs on api_keys. */
#define ORC_KEY_JSON_SQL                                                                                     \
    "json_build_object('id', id, 'name', name, 'team', team, 'models', models, 'providers', providers, "     \
    "'scopes', scopes, 'rpm', rpm, 'tpm', tpm, 'max_parallel', max_parallel, 'budget_usd', budget_usd, "     \
    "'budget_period', budget_period, 'expires_ms', (extract(epoch FROM expires_at) * 1000)::bigint, "        \
    "'revoked', revoked_at IS NOT NULL, "                                                                    \
    "'team_budget_usd', (SELECT t.budget_usd FROM api_teams t WHERE t.team = api_keys.team), "               \
    "'team_budget_period', (SELECT t.budget_period FROM api_teams t WHERE t.team = api_keys.team))::text"

#endif
