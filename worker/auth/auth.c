/*
 * auth.c - the authorizer of every request whose route matched (auth.h):
 * the caller from the request's credential, the route's access rule, the
 * key's scopes, and the failed-authentication count per client address.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/auth/auth.h"

#define FAILURE_SLOTS 1024
#define FAILURE_WINDOW_MS 60000
#define DIGEST_SLOTS 256 /* recent credentials and their SHA-256 */

/* A client sends the same key with every request: its digest is kept. */
typedef struct {
    char credential[ORC_APIKEY_SIZE];
    char hash[ORC_APIKEY_HASH_SIZE];
} digest_slot_t;

typedef struct {
    uint64_t addr_hash;
    uint64_t window_start_ms;
    int failures;
} failure_slot_t;

struct orc_auth_s {
    orc_auth_env_t env;
    char master_hash[ORC_APIKEY_HASH_SIZE]; /* of the master key, "" without one */
    bool observe_open;                      /* security.observability = "open" */
    digest_slot_t digests[DIGEST_SLOTS];
    failure_slot_t failures[FAILURE_SLOTS];
};

/* The callers that need no record: static, never counted. */
static orc_key_t master_caller = {.caller = ORC_CALLER_MASTER, .scopes = ORC_SCOPE_ALL, .budget_usd = -1};
static orc_key_t loopback_caller = {.caller = ORC_CALLER_LOOPBACK, .scopes = ORC_SCOPE_ALL, .budget_usd = -1};
static orc_key_t anonymous_caller = {
    .caller = ORC_CALLER_ANONYMOUS, .scopes = ORC_SCOPE_LLM, .budget_usd = -1};

static const char invalid_key[] = "invalid key: send a valid key as Authorization: Bearer <key> or x-api-key";

unsigned orc_auth_scope_of(orc_access_t access)
{
    switch (access) {
    case ORC_ACCESS_OBSERVE: return ORC_SCOPE_METRICS;
    case ORC_ACCESS_LLM: return ORC_SCOPE_LLM;
    case ORC_ACCESS_HISTORY: return ORC_SCOPE_HISTORY;
    case ORC_ACCESS_ADMIN: return ORC_SCOPE_ADMIN;
    default: return 0;
    }
}

/* ---- failed authentications per address ----------------------------------- */

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h | 1; /* never 0: 0 marks a free slot */
}

static failure_slot_t *failure_slot(orc_auth_t *a, const orc_req_t *rq)
{
    uint64_t h = hash_text(orc_http_peer(rq));
    failure_slot_t *s = &a->failures[h % FAILURE_SLOTS];
    uint64_t now = orc_now_ms();
    if (s->addr_hash != h || now - s->window_start_ms >= FAILURE_WINDOW_MS) {
        s->addr_hash = h;
        s->window_start_ms = now;
        s->failures = 0;
    }
    return s;
}

static bool too_many_failures(orc_auth_t *a, const orc_req_t *rq)
{
    return failure_slot(a, rq)->failures >= a->env.cfg->auth_failures_per_minute;
}

static void refuse_unauthenticated(orc_auth_t *a, orc_req_t *rq, const char *message)
{
    failure_slot(a, rq)->failures++;
    orc_log_info("request %s: authentication failed from %s", rq->id, orc_http_peer(rq));
    orc_http_refuse(rq, ORC_REFUSE_UNAUTHENTICATED, "%s", message);
}

static void refuse_throttled(orc_auth_t *a, orc_req_t *rq)
{
    failure_slot_t *s = failure_slot(a, rq);
    char retry[24];
    uint64_t left_ms = FAILURE_WINDOW_MS - (orc_now_ms() - s->window_start_ms);
    snprintf(retry, sizeof(retry), "%llu", (unsigned long long)(left_ms + 999) / 1000);
    orc_http_set_header(rq, "Retry-After", retry);
    orc_http_refuse(rq, ORC_REFUSE_RATE_LIMITED, "too many failed authentications from this address");
}

/* ---- deciding ------------------------------------------------------------- */

/* The SHA-256 of CREDENTIAL, from the memo when it is a recent key (compared
 * in constant time), computed and remembered otherwise. */
static void credential_hash(orc_auth_t *a, const char *credential, char hash[ORC_APIKEY_HASH_SIZE])
{
    size_t len = strlen(credential);
    if (len != ORC_APIKEY_LEN) { /* the master key, or not a key: not remembered */
        orc_apikey_hash(credential, hash);
        return;
    }
    digest_slot_t *s = &a->digests[hash_text(credential) % DIGEST_SLOTS];
    if (CRYPTO_memcmp(s->credential, credential, ORC_APIKEY_LEN) == 0 && s->hash[0] != '\0') {
        memcpy(hash, s->hash, ORC_APIKEY_HASH_SIZE);
        return;
    }
    orc_apikey_hash(credential, hash);
    memcpy(s->credential, credential, ORC_APIKEY_LEN + 1);
    memcpy(s->hash, hash, ORC_APIKEY_HASH_SIZE);
}

/* The key a request carries, NULL if none. */
static const char *credential_of(const orc_req_t *rq)
{
    const char *auth = orc_http_header(rq, "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
        return auth + 7 + strspn(auth + 7, " ");
    const char *key = orc_http_header(rq, "x-api-key");
    return key != NULL ? key : orc_http_header(rq, "api-key");
}

static void admit(orc_req_t *rq, orc_key_t *caller)
{
    rq->principal = orc_key_ref(caller);
}

/* ---- limits and budgets ----------------------------------------------------- */

/* VALUE (>= 0) and UNIT as a header: digits by hand, six of these per answer. */
static void set_header_long(orc_req_t *rq, const char *name, long value, const char *unit)
{
    char text[32], *p = text + sizeof(text) - 1;
    size_t ulen = strlen(unit);
    *p = '\0';
    p -= ulen;
    memcpy(p, unit, ulen);
    unsigned long v = value > 0 ? (unsigned long)value : 0;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0 && p > text);
    orc_http_set_header(rq, name, p);
}

/* The x-ratelimit-* headers of the OpenAI API, on answers and refusals. */
static void ratelimit_headers(orc_req_t *rq, const orc_limit_info_t *info)
{
    if (info->limit > 0) {
        set_header_long(rq, "x-ratelimit-limit-requests", info->limit, "");
        set_header_long(rq, "x-ratelimit-remaining-requests", info->remaining, "");
        set_header_long(rq, "x-ratelimit-reset-requests", info->reset_s, "s");
    }
    if (info->tokens_limit > 0) {
        set_header_long(rq, "x-ratelimit-limit-tokens", info->tokens_limit, "");
        set_header_long(rq, "x-ratelimit-remaining-tokens", info->tokens_remaining, "");
        set_header_long(rq, "x-ratelimit-reset-tokens", info->reset_s, "s");
    }
}

/* Refusals carry the x-ratelimit-* headers; admitted requests do not (six
 * headers on every answer cost more than the checks themselves). */
static orc_auth_verdict_t limit_verdict(orc_req_t *rq, orc_limit_verdict_t v, const orc_limit_info_t *info)
{
    if (v == ORC_LIMIT_ADMITTED) {
        rq->limited = true;
        return ORC_AUTH_PASS;
    }
    ratelimit_headers(rq, info);
    if (v == ORC_LIMIT_OVER_BUDGET) {
        orc_http_refuse(rq, ORC_REFUSE_QUOTA, "this key's %s is spent", info->what);
        return ORC_AUTH_DONE;
    }
    set_header_long(rq, "Retry-After", ORC_MAX(1, info->retry_after_s), "");
    orc_http_refuse(rq, ORC_REFUSE_RATE_LIMITED, "rate limit of this key reached: %s; try again in %ld s",
                    info->what, ORC_MAX(1, info->retry_after_s));
    return ORC_AUTH_DONE;
}

static void on_limit(void *arg, orc_limit_verdict_t v, const orc_limit_info_t *info)
{
    orc_req_t *rq = arg;
    if (limit_verdict(rq, v, info) == ORC_AUTH_PASS)
        orc_http_resume(rq);
}

/* LLM calls of a key with limits or a budget are counted; input tokens
 * are estimated as a quarter of the body's bytes. */
static orc_auth_verdict_t admit_limits(orc_auth_t *a, orc_req_t *rq, const orc_key_t *key)
{
    const orc_route_t *route = orc_http_route(rq);
    if (!route->logged)
        return ORC_AUTH_PASS;
    orc_limit_info_t info;
    long tokens = (long)(orc_http_body_size(rq) / 4);
    orc_limit_verdict_t v = orc_limits_admit(a->env.limits, key, tokens, &info, on_limit, rq);
    return v == ORC_LIMIT_PENDING ? ORC_AUTH_PENDING : limit_verdict(rq, v, &info);
}

void orc_auth_usage(orc_req_t *rq, long input_tokens, long output_tokens, double cost_usd)
{
    rq->usage_input_tokens += input_tokens > 0 ? input_tokens : 0;
    rq->usage_output_tokens += output_tokens > 0 ? output_tokens : 0;
    rq->usage_cost_usd += cost_usd > 0 ? cost_usd : 0;
}

/* A client key's record decides: ORC_AUTH_PASS, or the request is refused. */
static orc_auth_verdict_t decide_key(orc_auth_t *a, orc_req_t *rq, orc_key_result_t result, orc_key_t *key)
{
    const orc_route_t *route = orc_http_route(rq);
    if (result == ORC_KEY_UNAVAILABLE) {
        orc_http_set_header(rq, "Retry-After", "1");
        orc_http_refuse(rq, ORC_REFUSE_UNAVAILABLE, "cannot verify the key now: try again shortly");
        return ORC_AUTH_DONE;
    }
    if (result != ORC_KEY_FOUND || !orc_key_active(key, orc_wall_ms())) {
        if (too_many_failures(a, rq))
            refuse_throttled(a, rq);
        else
            refuse_unauthenticated(a, rq, invalid_key);
        return ORC_AUTH_DONE;
    }
    unsigned needed = orc_auth_scope_of(route->access);
    if ((key->scopes & (needed | ORC_SCOPE_ADMIN)) == 0) {
        orc_http_refuse(rq, ORC_REFUSE_FORBIDDEN, "this key may not call %s", rq->path);
        return ORC_AUTH_DONE;
    }
    admit(rq, key);
    return admit_limits(a, rq, key);
}

static void on_key(void *arg, orc_key_result_t result, orc_key_t *key)
{
    orc_req_t *rq = arg;
    orc_auth_t *a = rq->principal; /* check_key left the authorizer there while the lookup ran */
    rq->principal = NULL;
    if (decide_key(a, rq, result, key) == ORC_AUTH_PASS)
        orc_http_resume(rq);
}

static orc_auth_verdict_t check_key(orc_auth_t *a, orc_req_t *rq, const char *credential, const char *hash)
{
    if (!orc_apikey_well_formed(credential)) {
        if (too_many_failures(a, rq))
            refuse_throttled(a, rq);
        else
            refuse_unauthenticated(a, rq, invalid_key);
        return ORC_AUTH_DONE;
    }
    orc_key_t *key = NULL;
    bool may_fetch = !too_many_failures(a, rq);
    orc_key_result_t r = orc_keystore_lookup(a->env.keys, hash, may_fetch, &key, on_key, rq);
    if (r != ORC_KEY_PENDING)
        return decide_key(a, rq, r, key);
    rq->principal = a; /* until on_key: the authorizer, which release() knows is no caller */
    return ORC_AUTH_PENDING;
}

/* Without a master key: LLM routes are open, the others loopback-only. */
static orc_auth_verdict_t check_open_gateway(orc_req_t *rq, const orc_route_t *route)
{
    if (route->access == ORC_ACCESS_LLM && !route->local_when_open) {
        admit(rq, &anonymous_caller);
        return ORC_AUTH_PASS;
    }
    if (orc_http_peer_is_loopback(rq)) {
        admit(rq, &loopback_caller);
        return ORC_AUTH_PASS;
    }
    orc_http_refuse(rq, ORC_REFUSE_FORBIDDEN,
                    "no master key is configured: this route answers loopback clients only");
    return ORC_AUTH_DONE;
}

static orc_auth_verdict_t check(void *arg, orc_req_t *rq, const orc_route_t *route)
{
    orc_auth_t *a = arg;
    const char *master = a->env.cfg->master_key;
    if (route->access == ORC_ACCESS_PUBLIC || (route->access == ORC_ACCESS_OBSERVE && a->observe_open))
        return ORC_AUTH_PASS;
    if (master[0] == '\0')
        return check_open_gateway(rq, route);
    const char *credential = credential_of(rq);
    if (credential == NULL || credential[0] == '\0') {
        orc_http_refuse(rq, ORC_REFUSE_UNAUTHENTICATED,
                        "this route needs a key: Authorization: Bearer <key> or x-api-key");
        return ORC_AUTH_DONE;
    }
    char hash[ORC_APIKEY_HASH_SIZE]; /* one digest serves both comparisons */
    credential_hash(a, credential, hash);
    if (orc_apikey_hash_equal(hash, a->master_hash)) {
        admit(rq, &master_caller);
        return ORC_AUTH_PASS;
    }
    return check_key(a, rq, credential, hash);
}

static void release(void *arg, orc_req_t *rq)
{
    orc_auth_t *a = arg;
    if (rq->principal != arg) { /* not a lookup in flight */
        if (rq->limited)
            orc_limits_end(a->env.limits, rq->principal, (long)rq->usage_input_tokens,
                           (long)rq->usage_output_tokens, rq->usage_cost_usd);
        orc_key_unref(rq->principal);
    }
    rq->principal = NULL;
}

orc_http_auth_t orc_auth_http(orc_auth_t *a)
{
    return (orc_http_auth_t){.check = check, .release = release, .arg = a};
}

/* ---- for the handlers ---------------------------------------------------- */

const orc_key_t *orc_auth_caller(const orc_req_t *rq)
{
    return rq->principal;
}

const orc_key_t *orc_auth_key(const orc_req_t *rq)
{
    const orc_key_t *k = rq->principal;
    return k != NULL && k->caller == ORC_CALLER_KEY ? k : NULL;
}

bool orc_auth_sees_all(const orc_req_t *rq)
{
    const orc_key_t *k = rq->principal;
    return k == NULL || k->caller != ORC_CALLER_KEY || (k->scopes & ORC_SCOPE_ADMIN) != 0;
}

static bool any_match(char *const *patterns, int n, const char *a, const char *b, const char *c)
{
    if (n == 0)
        return true;
    for (int i = 0; i < n; i++)
        if (orc_glob_match(patterns[i], a) || orc_glob_match(patterns[i], b) ||
            orc_glob_match(patterns[i], c))
            return true;
    return false;
}

bool orc_auth_allows(const orc_req_t *rq, const char *provider, const char *requested, const char *model)
{
    const orc_key_t *k = orc_auth_key(rq);
    if (k == NULL || (k->nmodels == 0 && k->nproviders == 0))
        return true;
    char full[320];
    snprintf(full, sizeof(full), "%s/%s", provider, model);
    return any_match(k->providers, k->nproviders, provider, provider, provider) &&
           any_match(k->models, k->nmodels, requested, model, full);
}

int orc_auth_filter_route(const orc_req_t *rq, const orc_providers_config_t *pc, const char *requested,
                          orc_model_route_t *route, char *err, size_t errlen)
{
    int kept = 0;
    for (int i = 0; i < route->n; i++) {
        if (!orc_auth_allows(rq, pc->list[route->providers[i]].name, requested, route->models[i]))
            continue;
        route->providers[kept] = route->providers[i];
        memmove(route->models[kept], route->models[i], sizeof(route->models[kept]));
        kept++;
    }
    route->n = kept;
    if (kept > 0)
        return ORC_OK;
    snprintf(err, errlen, "this key may not use the model '%.200s'", requested);
    return ORC_ERR;
}

/* ---- life ---------------------------------------------------------------- */

orc_auth_t *orc_auth_new(const orc_auth_env_t *env)
{
    orc_auth_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->env = *env;
    a->observe_open = strcmp(env->cfg->observability, "open") == 0;
    if (env->cfg->master_key[0] != '\0')
        orc_apikey_hash(env->cfg->master_key, a->master_hash);
    return a;
}

void orc_auth_free(orc_auth_t *a)
{
    free(a);
}
