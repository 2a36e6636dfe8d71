/*
 * llm_async.h - asynchronous orchestrations: their state and result in
 * Redis under "<namespace>:workflow_result:<request id>", readable from
 * any worker (and any replica sharing the Redis).
 */
#ifndef ORC_API_LLM_ASYNC_H
#define ORC_API_LLM_ASYNC_H

#include <json-c/json.h>

#include "worker/api/api.h"

/* OWNER is the id of the client key that asked ("" for none): only that
 * key (or a caller who sees everything) reads the state back.
 *
 * Writes the "processing" state of ID (only if ID is new).  DONE runs once,
 * later, with 201 (written), 409 (ID already used) or 503 (Redis
 * unavailable); ORC_ERR when it will not run. */
int orc_async_begin(orc_api_env_t *env, const char *id, const char *owner,
                    void (*done)(void *arg, int status), void *arg);
/* Stores RESULT (taken), the orchestration's document, as the final state
 * of ID; tried again while Redis is away, a few times.  The worker's drain
 * waits for it. */
void orc_async_finish(orc_api_env_t *env, const char *id, const char *owner, json_object *result);

/* GET /api/llm/status/{request_id} */
void orc_api_llm_status(orc_req_t *rq);

#endif
