/*
 * orchestrator.h - one LLM request's journey through the providers: try
 * each target in order, retry retryable failures with jittered exponential
 * backoff (never before Retry-After, within the request's deadline), fall
 * back to the next target, never retry a client error, and never retry
 * once stream chunks have reached the caller.
 *
 * The request is canonical (OpenAI Chat Completions JSON).  A job calls
 * on_chunk for each canonical stream chunk and on_done exactly once,
 * asynchronously (never from inside orc_job_start), unless cancelled.
 */
#ifndef ORC_ORCHESTRATOR_H
#define ORC_ORCHESTRATOR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "worker/llm/llm.h"

#define ORC_JOB_ATTEMPTS_MAX 12

typedef struct orc_job_s orc_job_t;

typedef struct {
    orc_provider_rt_t *provider;
    char model[ORC_MODEL_ID_MAX];
} orc_target_t;

typedef struct {
    json_object *request; /* borrowed; the job keeps its own reference */
    orc_target_t targets[ORC_PROVIDERS_MAX];
    int ntargets;
    bool stream;
    bool include_usage;     /* stream: pass the usage chunk on */
    uint64_t deadline_ms;   /* CLOCK_MONOTONIC; 0: llm.request_timeout from now */
    const char *request_id; /* for quality feedback; must outlive the job */
} orc_job_spec_t;

typedef struct {
    const char *provider; /* name */
    char model[ORC_MODEL_ID_MAX];
    int status;
    orc_fail_class_t cls;
    char error[200];
    uint64_t latency_us;
    bool retry;
} orc_attempt_t;

typedef struct orc_job_result_s {
    bool ok;
    const orc_provider_rt_t *provider; /* the one that answered, or the last one tried */
    char model[ORC_MODEL_ID_MAX];
    json_object *response; /* non-stream success: canonical chat.completion, borrowed */
    const char *text;      /* the assistant's text (both modes), borrowed */
    orc_usage_t usage;
    double cost_usd;
    char finish_reason[32];
    uint64_t latency_us;
    uint64_t ttft_us;
    bool streamed;    /* chunks reached the caller: an error after that is mid-stream */
    bool bad_request; /* the failure is the request's fault (400) */
    orc_failure_t failure;
    orc_attempt_t attempts[ORC_JOB_ATTEMPTS_MAX];
    int nattempts;
} orc_job_result_t;

typedef struct {
    void (*on_chunk)(void *arg, json_object *chunk); /* borrowed chunk */
    void (*on_done)(void *arg, const orc_job_result_t *res);
} orc_job_cbs_t;

orc_job_t *orc_job_start(orc_llm_t *llm, const orc_job_spec_t *spec, const orc_job_cbs_t *cbs, void *arg);
void orc_job_cancel(orc_job_t *job);
/* The target being tried now (for tagging stream chunks). */
const orc_target_t *orc_job_target(const orc_job_t *job);

#endif
