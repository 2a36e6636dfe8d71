/*
 * chat.c - what the OpenAI- and Anthropic-compatible endpoints share:
 * turning a model route into job targets, the served-by headers, the
 * status and headers of a failed job, and the SSE keep-alive timer.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/orc.h"
#include "worker/api/api.h"
#include "worker/api/chat.h"
#include "worker/llm/dwa_select.h"

void orc_api_route_targets(orc_llm_t *llm, const orc_model_route_t *route, orc_job_spec_t *spec)
{
    orc_model_route_t ranked = *route;
    if (ranked.automatic) /* "auto": the DWA orders the providers */
        orc_dwa_rank(llm->dwa, ranked.providers, ranked.models, ranked.n);
    for (int i = 0; i < ranked.n; i++) {
        spec->targets[i].provider = &llm->providers[ranked.providers[i]];
        snprintf(spec->targets[i].model, ORC_MODEL_ID_MAX, "%s", ranked.models[i]);
    }
    spec->ntargets = ranked.n;
}

void orc_api_served_by(orc_req_t *rq, const char *provider, const char *model)
{
    orc_http_set_header(rq, "x-orchesity-provider", provider);
    orc_http_set_header(rq, "x-orchesity-model", model);
}

/* The HTTP status and OpenAI error type of a failed job. */
int orc_api_failure_status(const orc_job_result_t *r, const char **type)
{
    const orc_failure_t *f = &r->failure;
    *type = "server_error";
    if (r->bad_request) {
        *type = "invalid_request_error";
        return f->status >= 400 && f->status < 500 ? f->status : 400;
    }
    switch (f->cls) {
    case ORC_FAIL_RATE_LIMITED: *type = "rate_limit_error"; return 429;
    case ORC_FAIL_OVERLOADED: return 503;
    case ORC_FAIL_TIMEOUT: return 504;
    case ORC_FAIL_CLIENT:
        *type = "invalid_request_error";
        return f->status == 404 || f->status == 429 ? f->status : f->status == 0 ? 503 : 502;
    default: return 502;
    }
}

int orc_api_failure_reply(orc_req_t *rq, const orc_job_result_t *r, const char **openai_type, char *message,
                          size_t len)
{
    int status = orc_api_failure_status(r, openai_type);
    char ra[32];
    snprintf(message, len, "%s%s%s", r->provider ? r->provider->cfg->name : "", r->provider ? ": " : "",
             r->failure.message[0] ? r->failure.message : "the provider did not answer");
    if (status == 429 && r->failure.retry_after_ms >= 0) {
        snprintf(ra, sizeof(ra), "%lld", (long long)((r->failure.retry_after_ms + 999) / 1000));
        orc_http_set_header(rq, "retry-after", ra);
    }
    if (r->provider)
        orc_api_served_by(rq, r->provider->cfg->name, r->model);
    return status;
}

struct event *orc_api_keepalive_start(orc_req_t *rq, event_callback_fn cb, void *arg)
{
    struct timeval every = {orc_api_env(rq)->cfg->llm_stream_keepalive, 0};
    struct event *ev = event_new(orc_api_env(rq)->base, -1, EV_PERSIST, cb, arg);
    if (ev != NULL && event_add(ev, &every) != 0) {
        event_free(ev);
        ev = NULL;
    }
    return ev;
}

/* ---- the response cache ------------------------------------------------- */

void orc_api_route_scope(orc_llm_t *llm, const orc_model_route_t *route, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s", route->automatic ? "auto:" : "");
    for (int i = 0; i < route->n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s/%s", i ? "," : "",
                                 llm->providers[route->providers[i]].cfg->name, route->models[i]);
}

int orc_api_cache_prepare(orc_req_t *rq, orc_cache_req_t *cr, const char *scope, json_object *request,
                          char *err, size_t errlen)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(rq->req);
    return orc_cache_prepare(orc_api_env(rq)->cache, cr, evhttp_find_header(in, "Cache-Control"),
                             evhttp_find_header(in, ORC_CACHE_TTL_HEADER), scope, request, err, errlen);
}

void orc_api_cache_header(orc_req_t *rq, const orc_cache_req_t *cr)
{
    orc_http_set_header(rq, ORC_CACHE_HEADER, orc_cache_result_name(cr->result));
    if (cr->result == ORC_CACHE_BYPASS && cr->reason != NULL)
        orc_http_set_header(rq, "x-orchesity-cache-reason", cr->reason);
}

void orc_api_cache_store(orc_cache_req_t *cr, orc_cache_collect_t *collect, const orc_job_result_t *r)
{
    if (!cr->store || !r->ok || r->provider == NULL)
        return;
    json_object *completion = orc_cache_completion(collect, r);
    if (completion == NULL)
        return;
    const char *provider = r->provider->cfg->name, *model = r->model;
    json_object *entry = orc_cache_entry_new(1, &provider, &model, &completion);
    orc_cache_store(cr, entry);
    json_object_put(entry);
}

int orc_api_cache_answer(json_object *entry, const char **provider, const char **model,
                         json_object **completion)
{
    if (orc_cache_entry_count(entry) != 1 ||
        orc_cache_entry_answer(entry, 0, provider, model, completion) != ORC_OK) {
        orc_log_warn("a cache entry of an unexpected shape: answered from the provider instead");
        return ORC_ERR;
    }
    return ORC_OK;
}
