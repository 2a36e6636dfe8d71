/*
 * cache_api.h - the cache's routes (/api/db/cache/...) and its share of
 * /metrics and /api/health.
 */
#ifndef ORC_API_CACHE_API_H
#define ORC_API_CACHE_API_H

#include <json-c/json.h>

#include "common/shm.h"
#include "worker/api/api.h"

struct evbuffer;

void orc_api_cache_stats(orc_req_t *rq);         /* GET /api/db/cache/stats */
void orc_api_cache_clear(orc_req_t *rq);         /* DELETE|POST /api/db/cache/clear (admin) */
void orc_api_cache_clear_pattern(orc_req_t *rq); /* DELETE /api/db/cache/clear/{pattern} (admin) */

void orc_api_cache_metrics(struct evbuffer *b, const orc_counters_t *c);
/* {hits, misses, bypasses, stores, errors, hit_rate} of the whole fleet. */
json_object *orc_api_cache_gateway_stats(const orc_api_env_t *env);

#endif
