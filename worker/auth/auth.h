/*
 * auth.h - access control: who is calling, and may they call this route
 * with this model.
 *
 * With a master key (security.master_key) every route but the public ones
 * needs a key: the master key, which may do everything, or a client key
 * (keystore.h), which may call the routes of its scopes and the models and
 * providers its patterns allow.  Without a master key the LLM routes are
 * open to everyone, as in the quick start, and the routes that return
 * prompts, answers or sessions, or change the gateway, answer loopback
 * clients only.  /metrics and health details follow security.observability.
 *
 * Keys are read from "Authorization: Bearer", "x-api-key" or "api-key".  A
 * refusal says neither which part of a key was wrong nor whether it
 * exists.  Failed authentications are counted per client address: past
 * security.auth_failures_per_minute, keys the worker does not already know
 * are refused with 429 without being looked up.
 */
#ifndef ORC_AUTH_H
#define ORC_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/auth/keystore.h"
#include "worker/auth/limits.h"
#include "worker/http/http.h"
#include "worker/llm/model_route.h"

typedef struct orc_auth_s orc_auth_t;

typedef struct {
    const orc_config_t *cfg;
    orc_keystore_t *keys; /* borrowed */
    orc_limits_t *limits; /* borrowed */
} orc_auth_env_t;

orc_auth_t *orc_auth_new(const orc_auth_env_t *env);
void orc_auth_free(orc_auth_t *a);

/* The authorizer to give the HTTP server. */
orc_http_auth_t orc_auth_http(orc_auth_t *a);

/* Who called RQ: NULL on a public route. */
const orc_key_t *orc_auth_caller(const orc_req_t *rq);
/* The client key that called RQ, NULL for anyone else. */
const orc_key_t *orc_auth_key(const orc_req_t *rq);
/* May RQ's caller see every key's requests and sessions (master key, an
 * admin key, a loopback client without a master key)? */
bool orc_auth_sees_all(const orc_req_t *rq);

/* May RQ's caller use MODEL of PROVIDER, asked for as REQUESTED (the
 * client's name for it: an alias, "auto", "provider/model" or the model)? */
bool orc_auth_allows(const orc_req_t *rq, const char *provider, const char *requested, const char *model);

/* Keeps in ROUTE only the providers and models RQ's caller may use for
 * the model it asked for (REQUESTED).  ORC_ERR, with a message in ERR,
 * when none remains: answer 403 (ORC_REFUSE_FORBIDDEN). */
int orc_auth_filter_route(const orc_req_t *rq, const orc_providers_config_t *pc, const char *requested,
                          orc_model_route_t *route, char *err, size_t errlen);

/* RQ's upstream calls used INPUT_TOKENS and OUTPUT_TOKENS more tokens and
 * cost COST_USD: counted for its key (limits, budget, metrics) when the
 * request ends. */
void orc_auth_usage(orc_req_t *rq, long input_tokens, long output_tokens, double cost_usd);

/* The route access as a scope bit (ORC_SCOPE_*), 0 for public routes. */
unsigned orc_auth_scope_of(orc_access_t access);

#endif
