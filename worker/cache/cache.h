/*
 * cache.h - the response cache in Redis, fail-open.
 *
 * Keys: "<namespace>:llm_response:<sha256 hex>" over the canonical request
 * (object keys sorted, 1 and 1.0 the same number, "stream",
 * "stream_options" and "model" left out) and a scope naming the providers
 * and models the request was routed to.  An entry is one JSON document:
 *   {"v": 1, "created": <unix s>, "answers": [{"provider", "model",
 *    "completion": <canonical chat.completion with usage>}]}
 * (one answer per provider asked; the OpenAI and Anthropic endpoints ask
 * one), so every endpoint replays it as JSON or as its own stream.
 *
 * A lookup never waits longer than cache.timeout_ms: the Redis client
 * drops a connection whose reply is late and then fails commands at once
 * until it has reconnected, so a slow, frozen or absent Redis turns a
 * lookup into BYPASS and the request goes on.  Stores are fire and forget.
 */
#ifndef ORC_CACHE_H
#define ORC_CACHE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/llm/orchestrator.h"

#include "common/config.h"
#include "common/shm.h"

struct orc_redis_s;
typedef struct orc_cache_s orc_cache_t;

#define ORC_CACHE_KEY_MAX 160
#define ORC_CACHE_PATTERN_MAX 128 /* user part of a clear pattern */
#define ORC_CACHE_TTL_HEADER "x-orchesity-cache-ttl"
#define ORC_CACHE_HEADER "x-orchesity-cache"

typedef enum { ORC_CACHE_BYPASS = 0, ORC_CACHE_MISS, ORC_CACHE_HIT } orc_cache_result_t;

typedef void (*orc_cache_lookup_cb)(void *arg, json_object *entry); /* entry: borrowed, NULL unless HIT */

/* One request's dealings with the cache; lives in the endpoint's context. */
typedef struct {
    char key[ORC_CACHE_KEY_MAX]; /* "" when the request is not cacheable */
    bool lookup;                 /* consult the cache (not for no-cache) */
    bool store;                  /* store a complete successful answer (not for no-store) */
    int ttl;                     /* s */
    orc_cache_result_t result;
    const char *reason; /* why BYPASS (static text) */
    int cmd;            /* the lookup in flight, 0 none */
    orc_cache_t *cache;
    orc_cache_lookup_cb cb;
    void *arg;
} orc_cache_req_t;

/* ---- pure helpers (no Redis) -------------------------------------------- */

/* SHA-256 hex (64 characters + NUL) of SCOPE and the canonical REQUEST. */
void orc_cache_hash(const char *scope, json_object *request, char hex[65]);
int orc_cache_key(const char *ns, const char *scope, json_object *request, char *out, size_t outlen);
/* NULL when REQUEST may be cached, else why not. */
const char *orc_cache_uncacheable(json_object *request);
/* Cache-Control and the TTL header (NULL: absent).  ORC_ERR with ERR for a
 * TTL header that is not an integer in 1..MAX_TTL. */
int orc_cache_controls(const char *cache_control, const char *ttl, int default_ttl, int max_ttl, bool *lookup,
                       bool *store, int *ttl_out, char *err, size_t errlen);
/* The SCAN MATCH pattern for a clear of PATTERN (NULL: the whole namespace).
 * PATTERN is a literal key suffix of letters, digits and "_-.:", optionally
 * ending in one "*"; anything else is refused with ERR (a 400). */
int orc_cache_pattern(const char *ns, const char *pattern, char *out, size_t outlen, char *err,
                      size_t errlen);

/* Stream chunks -> the completion to store. */
typedef struct orc_cache_collect_s orc_cache_collect_t;
orc_cache_collect_t *orc_cache_collect_new(void);
void orc_cache_collect_free(orc_cache_collect_t *c);
void orc_cache_collect_chunk(orc_cache_collect_t *c, json_object *chunk);
/* The completion of a successful job (new reference), or NULL when there is
 * nothing complete to store (failure, error chunk, no finish reason).  C
 * NULL for a stream: its text only (r->text). */
json_object *orc_cache_completion(orc_cache_collect_t *c, const orc_job_result_t *r);

/* An entry holding COMPLETIONS[i] answered by PROVIDERS[i]/MODELS[i] (taken). */
json_object *orc_cache_entry_new(int n, const char *const *providers, const char *const *models,
                                 json_object **completions);
/* Answer I of ENTRY (borrowed parts), ORC_ERR when malformed. */
int orc_cache_entry_answer(json_object *entry, int i, const char **provider, const char **model,
                           json_object **completion);
int orc_cache_entry_count(json_object *entry);
/* COMPLETION with a fresh ID and created time (new object). */
json_object *orc_cache_fresh_completion(json_object *completion, const char *id);
/* Replays COMPLETION as canonical stream chunks: role, text, tool calls,
 * finish, and the usage chunk when INCLUDE_USAGE. */
void orc_cache_replay(json_object *completion, const char *id, bool include_usage,
                      void (*emit)(void *arg, json_object *chunk), void *arg);
/* The assistant's text of a completion ("" when none). */
const char *orc_cache_completion_text(json_object *completion);

/* ---- the worker's cache ------------------------------------------------- */

/* The cache on REDIS (borrowed; NULL: every request bypasses it), counted
 * in this worker's COUNTERS. */
orc_cache_t *orc_cache_new(struct orc_redis_s *redis, const orc_config_t *cfg, orc_counters_t *counters);
void orc_cache_free(orc_cache_t *c);

/* Decides what REQUEST may do with the cache, from the request headers
 * CACHE_CONTROL and TTL.  ORC_ERR with ERR for a bad TTL header (a 400). */
int orc_cache_prepare(orc_cache_t *c, orc_cache_req_t *cr, const char *cache_control, const char *ttl,
                      const char *scope, json_object *request, char *err, size_t errlen);
/* Looks CR up when it may be (cr->lookup): CB runs once, later, with the
 * entry or NULL.  Returns false (CB will not run; cr->result is BYPASS)
 * when no lookup was made. */
bool orc_cache_lookup(orc_cache_req_t *cr, orc_cache_lookup_cb cb, void *arg);
void orc_cache_lookup_cancel(orc_cache_req_t *cr);
/* Stores ENTRY (borrowed) under CR's key when it may be. */
void orc_cache_store(orc_cache_req_t *cr, json_object *entry);
const char *orc_cache_result_name(orc_cache_result_t r);

#endif
