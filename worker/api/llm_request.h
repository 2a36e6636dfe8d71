/*
 * llm_request.h - validation of POST /api/llm/orchestrate bodies and
 * their translation into canonical (OpenAI-format) chat requests and the
 * list of providers to ask.  Pure: tested without a server.
 */
#ifndef ORC_LLM_REQUEST_H
#define ORC_LLM_REQUEST_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/provider_config.h"

#define ORC_PROMPT_MAX 200000 /* characters */
#define ORC_MAX_TOKENS_MAX 1000000

typedef struct {
    json_object *request;             /* canonical chat request (owned) */
    int providers[ORC_PROVIDERS_MAX]; /* indexes into the provider configuration */
    int nproviders;
    bool explicit_providers; /* the client named them: fan out, no fallback */
    char model[128];         /* "" : each provider's default_model */
    bool stream;
    bool async; /* "mode": "async": answered 202 at once, the result lands in Redis */
    char session_id[129];
} orc_orchestration_t;

/* ORC_OK, or ORC_ERR with a message for a 400. */
int orc_orchestration_parse(json_object *body, const orc_providers_config_t *pc, orc_orchestration_t *out,
                            char *err, size_t errlen);
void orc_orchestration_free(orc_orchestration_t *o);

#endif
