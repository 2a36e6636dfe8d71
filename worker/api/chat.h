/*
 * chat.h - pieces shared by the OpenAI- and Anthropic-compatible endpoints.
 */
#ifndef ORC_API_CHAT_H
#define ORC_API_CHAT_H

#include <event2/util.h>

#include "worker/cache/cache.h"
#include "worker/http/http.h"
#include "worker/llm/model_route.h"
#include "worker/llm/orchestrator.h"

/* Fills SPEC's targets from ROUTE; an "auto" route is ordered by the DWA. */
void orc_api_route_targets(orc_llm_t *llm, const orc_model_route_t *route, orc_job_spec_t *spec);
void orc_api_served_by(orc_req_t *rq, const char *provider, const char *model);
/* HTTP status (and OpenAI error type) for a failed LLM job. */
int orc_api_failure_status(const orc_job_result_t *r, const char **openai_type);
/* The same, plus MESSAGE and the retry-after and served-by headers on RQ. */
int orc_api_failure_reply(orc_req_t *rq, const orc_job_result_t *r, const char **openai_type, char *message,
                          size_t len);
/* The cache's part of a chat request: SCOPE is the route before the DWA
 * orders it ("openai/gpt-4o-mini", "auto:openai/gpt-4o-mini,...").
 * ORC_ERR after answering nothing: ERR holds the 400's message. */
void orc_api_route_scope(orc_llm_t *llm, const orc_model_route_t *route, char *buf, size_t len);
int orc_api_cache_prepare(orc_req_t *rq, orc_cache_req_t *cr, const char *scope, json_object *request,
                          char *err, size_t errlen);
/* Sets x-orchesity-cache (and, for a BYPASS, x-orchesity-cache-reason). */
void orc_api_cache_header(orc_req_t *rq, const orc_cache_req_t *cr);
/* Stores a successful single-provider answer (COLLECT: its stream, or NULL). */
void orc_api_cache_store(orc_cache_req_t *cr, orc_cache_collect_t *collect, const orc_job_result_t *r);
/* Answer 0 of a cache ENTRY; ORC_ERR when malformed. */
int orc_api_cache_answer(json_object *entry, const char **provider, const char **model,
                         json_object **completion);

/* A persistent timer every llm.stream_keepalive seconds, or NULL. */
struct event *orc_api_keepalive_start(orc_req_t *rq, event_callback_fn cb, void *arg);

#endif
