/*
 * chat.h - pieces shared by the OpenAI- and Anthropic-compatible endpoints.
 */
#ifndef ORC_API_CHAT_H
#define ORC_API_CHAT_H

#include <event2/util.h>

#include "worker/http.h"
#include "worker/model_route.h"
#include "worker/orchestrator.h"

/* Fills SPEC's targets from ROUTE; an "auto" route is ordered by the DWA. */
void orc_api_route_targets(orc_llm_t *llm, const orc_model_route_t *route, orc_job_spec_t *spec);
void orc_api_served_by(orc_req_t *rq, const char *provider, const char *model);
/* HTTP status (and OpenAI error type) for a failed LLM job. */
int orc_api_failure_status(const orc_job_result_t *r, const char **openai_type);
/* The same, plus MESSAGE and the retry-after and served-by headers on RQ. */
int orc_api_failure_reply(orc_req_t *rq, const orc_job_result_t *r, const char **openai_type, char *message,
                          size_t len);
/* A persistent timer every llm.stream_keepalive seconds, or NULL. */
struct event *orc_api_keepalive_start(orc_req_t *rq, event_callback_fn cb, void *arg);

#endif
