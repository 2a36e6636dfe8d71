/*
 * llm_api.c - POST /api/llm/orchestrate and POST /api/llm/test/{provider}.
 *
 * An orchestration owns its request context until it replies, and one job
 * per provider it asks (several named providers: called concurrently, to
 * compare answers; none named: the configured providers in order, the
 * first answering and the others as fallbacks).  It replies when the last
 * job is done, or streams tagged SSE events as they arrive.  A client
 * that leaves cancels every job and so every upstream call.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/api/chat.h"
#include "worker/api/llm_async.h"
#include "worker/api/llm_request.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/orchestrator.h"
#include "worker/reqlog/reqlog.h"
#include "worker/llm/providers/provider.h"

typedef struct {
    orc_job_t *job;
    orc_provider_rt_t *provider;
    char model[ORC_MODEL_ID_MAX];
    struct orchestration_s *owner;
    json_object *result;     /* the entry of "results" once done */
    json_object *completion; /* its answer, for the cache */
    bool ok, bad_request;
    orc_failure_t failure;
} entry_t;

typedef struct orchestration_s {
    orc_req_t *rq;         /* NULL once an asynchronous orchestration has answered 202 */
    orc_reqlog_rec_t *log; /* an asynchronous orchestration's record, spooled when it ends */
    orc_api_env_t *env;
    char id[ORC_REQUEST_ID_SIZE];
    char owner[ORC_APIKEY_ID_SIZE];
    orc_key_t *key;
    /* the client key that asked (a reference), NULL for none: charged after the request */ /* the client
                                                                                             * key that
                                                                                             * asked, ""
                                                                                             * for none:
                                                                                             * it alone
                                                                                             * reads an
                                                                                             * async
                                                                                             * result
                                                                                             */
    orc_orchestration_t spec;
    orc_cache_req_t cache;
    entry_t entries[ORC_PROVIDERS_MAX];
    int nentries, pending;
    bool test_mode; /* /api/llm/test/{provider} */
    struct event *heartbeat;
    uint64_t started_us;
} orch_t;

/* An asynchronous orchestration's status: 200 when a provider answered. */
static int async_status(const orch_t *o)
{
    for (int i = 0; i < o->nentries; i++)
        if (o->entries[i].ok)
            return 200;
    return 502;
}

static void orch_free(orch_t *o)
{
    orc_cache_lookup_cancel(&o->cache);
    orc_reqlog_finish_detached(o->env->reqlog, o->log, async_status(o));
    for (int i = 0; i < o->nentries; i++) {
        orc_job_cancel(o->entries[i].job);
        json_object_put(o->entries[i].result);
        json_object_put(o->entries[i].completion);
    }
    if (o->heartbeat)
        event_free(o->heartbeat);
    orc_orchestration_free(&o->spec);
    orc_key_unref(o->key);
    free(o);
}

/* ---- results ----------------------------------------------------------- */

static json_object *usage_json(const orc_usage_t *u)
{
    json_object *o = json_object_new_object();
    orc_json_add_int(o, "prompt_tokens", u->prompt_tokens);
    orc_json_add_int(o, "completion_tokens", u->completion_tokens);
    orc_json_add_int(o, "total_tokens", u->total_tokens);
    return o;
}

static const char *failure_text(const orc_job_result_t *r)
{
    return r->failure.message[0] ? r->failure.message : "the provider did not answer";
}

static json_object *result_json(const entry_t *e, const orc_job_result_t *r)
{
    json_object *o = json_object_new_object(), *attempts = json_object_new_array();
    orc_json_add_str(o, "provider", (r->provider ? r->provider : e->provider)->cfg->name);
    orc_json_add_str(o, "model", r->model[0] ? r->model : e->model);
    orc_json_add_str(o, "response", r->ok ? r->text : NULL);
    orc_json_add_int(o, "tokens_used", r->ok ? r->usage.total_tokens : 0);
    orc_json_add_double(o, "response_time", (double)r->latency_us / 1e6);
    orc_json_add_str(o, "error", r->ok ? NULL : failure_text(r));
    orc_json_add_str(o, "error_class", r->ok ? NULL : orc_fail_class_name(r->failure.cls));
    orc_json_add_str(o, "finish_reason", r->ok ? r->finish_reason : NULL);
    json_object_object_add(o, "usage", r->ok ? usage_json(&r->usage) : NULL);
    char cost[32];
    snprintf(cost, sizeof(cost), "%.8f", r->cost_usd);
    json_object_object_add(o, "cost", json_object_new_double_s(r->cost_usd, cost));
    for (int i = 0; i < r->nattempts; i++) {
        const orc_attempt_t *a = &r->attempts[i];
        json_object *j = json_object_new_object();
        orc_json_add_str(j, "provider", a->provider);
        orc_json_add_str(j, "model", a->model);
        orc_json_add_int(j, "status", a->status);
        orc_json_add_str(j, "outcome", a->cls == ORC_FAIL_NONE ? "success" : orc_fail_class_name(a->cls));
        if (a->error[0])
            orc_json_add_str(j, "error", a->error);
        orc_json_add_double(j, "response_time", (double)a->latency_us / 1e6);
        json_object_array_add(attempts, j);
    }
    json_object_object_add(o, "attempts", attempts);
    return o;
}

static int count_ok(const orch_t *o)
{
    int n = 0;
    for (int i = 0; i < o->nentries; i++)
        n += o->entries[i].ok;
    return n;
}

static json_object *document(orch_t *o)
{
    char ts[32];
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    json_object *doc = json_object_new_object(), *results = json_object_new_array();
    json_object *errors = json_object_new_array();
    int64_t tokens = 0;
    for (int i = 0; i < o->nentries; i++) {
        entry_t *e = &o->entries[i];
        json_object *tu, *err;
        json_object_array_add(results, json_object_get(e->result));
        if (json_object_object_get_ex(e->result, "tokens_used", &tu))
            tokens += json_object_get_int64(tu);
        if (!e->ok && json_object_object_get_ex(e->result, "error", &err)) {
            json_object *x = json_object_new_object();
            orc_json_add_str(x, "provider", e->provider->cfg->name);
            json_object_object_add(x, "error", json_object_get(err));
            orc_json_add_str(x, "timestamp", ts);
            json_object_array_add(errors, x);
        }
    }
    orc_json_add_str(doc, "request_id", o->id);
    orc_json_add_str(doc, "status", count_ok(o) > 0 ? "completed" : "failed");
    json_object_object_add(doc, "results", results);
    json_object_object_add(doc, "errors", errors);
    orc_json_add_double(doc, "total_response_time", (double)(orc_now_us() - o->started_us) / 1e6);
    orc_json_add_int(doc, "tokens_used", tokens);
    return doc;
}

/* All failed: the status says why (400 the request, 429 rate limits, else 502). */
static int failure_status(const orch_t *o, int64_t *retry_after_ms)
{
    bool all_bad = true, all_limited = true;
    *retry_after_ms = -1;
    for (int i = 0; i < o->nentries; i++) {
        const entry_t *e = &o->entries[i];
        all_bad &= e->bad_request;
        all_limited &= e->failure.cls == ORC_FAIL_RATE_LIMITED;
        if (e->failure.retry_after_ms > *retry_after_ms)
            *retry_after_ms = e->failure.retry_after_ms;
    }
    return all_bad ? 400 : all_limited ? 429 : 502;
}

static void reply_sync(orch_t *o)
{
    json_object *doc = document(o);
    int status = 200;
    if (count_ok(o) == 0) {
        int64_t retry_ms;
        char ts[32], ra[32];
        status = failure_status(o, &retry_ms);
        orc_iso8601(ts, sizeof(ts), orc_wall_ms());
        orc_json_add_str(doc, "detail",
                         status == 400   ? "the request was refused by every provider asked"
                         : status == 429 ? "every provider asked is rate limiting"
                                         : "no provider asked could answer");
        orc_json_add_str(doc, "error_code",
                         status == 400   ? "BAD_REQUEST"
                         : status == 429 ? "RATE_LIMITED"
                                         : "UPSTREAM_FAILED");
        orc_json_add_str(doc, "timestamp", ts);
        if (status == 429 && retry_ms >= 0) {
            snprintf(ra, sizeof(ra), "%lld", (long long)((retry_ms + 999) / 1000));
            orc_http_set_header(o->rq, "Retry-After", ra);
        }
    }
    orc_http_reply_json(o->rq, status, doc);
}

/* ---- streaming --------------------------------------------------------- */

static void sse_send(orch_t *o, const char *event, json_object *data)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char head[64];
    int hl = snprintf(head, sizeof(head), "event: %s\ndata: ", event);
    orc_http_stream_write(o->rq, head, (size_t)hl);
    orc_http_stream_write(o->rq, text, len);
    orc_http_stream_write(o->rq, "\n\n", 2);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    orch_t *o = arg;
    (void)fd;
    (void)what;
    orc_http_stream_write(o->rq, ": keep-alive\n\n", 14);
}

static void stream_begin(orch_t *o)
{
    orc_http_stream_begin(o->rq, 200, "text/event-stream; charset=utf-8");
    json_object *start = json_object_new_object(), *names = json_object_new_array();
    orc_json_add_str(start, "request_id", o->id);
    for (int i = 0; i < o->nentries; i++)
        json_object_array_add(names, json_object_new_string(o->entries[i].provider->cfg->name));
    json_object_object_add(start, "providers", names);
    sse_send(o, "start", start);
    json_object_put(start);
    o->heartbeat = orc_api_keepalive_start(o->rq, on_heartbeat, o);
}

static void stream_end(orch_t *o)
{
    json_object *end = json_object_new_object();
    orc_json_add_str(end, "request_id", o->id);
    orc_json_add_str(end, "status", count_ok(o) > 0 ? "completed" : "failed");
    sse_send(o, "end", end);
    json_object_put(end);
    orc_http_stream_end(o->rq);
}

static void send_chunk(orch_t *o, const char *provider, const char *model, json_object *content)
{
    json_object *ev = json_object_new_object();
    orc_json_add_str(ev, "provider", provider);
    orc_json_add_str(ev, "model", model);
    json_object_object_add(ev, "delta", json_object_get(content));
    sse_send(o, "chunk", ev);
    json_object_put(ev);
}

static void on_chunk(void *arg, json_object *chunk)
{
    entry_t *e = arg;
    orch_t *o = e->owner;
    json_object *error, *choices;
    if (!o->spec.stream)
        return;
    if (json_object_object_get_ex(chunk, "error", &error))
        return; /* reported by on_done with the provider's name */
    if (!json_object_object_get_ex(chunk, "choices", &choices) || json_object_array_length(choices) == 0)
        return;
    json_object *c0 = json_object_array_get_idx(choices, 0), *delta, *content;
    if (!json_object_object_get_ex(c0, "delta", &delta) ||
        !json_object_object_get_ex(delta, "content", &content) ||
        !json_object_is_type(content, json_type_string) || json_object_get_string_len(content) == 0)
        return;
    const orc_target_t *t = orc_job_target(e->job);
    send_chunk(o, t->provider->cfg->name, t->model, content);
}

static void stream_result(orch_t *o, entry_t *e, const orc_job_result_t *r)
{
    json_object *ev = json_object_new_object();
    orc_json_add_str(ev, "provider", (r->provider ? r->provider : e->provider)->cfg->name);
    orc_json_add_str(ev, "model", r->model[0] ? r->model : e->model);
    if (r->ok) {
        orc_json_add_str(ev, "finish_reason", r->finish_reason);
        json_object_object_add(ev, "usage", usage_json(&r->usage));
        orc_json_add_double(ev, "response_time", (double)r->latency_us / 1e6);
        sse_send(o, "done", ev);
    } else {
        orc_json_add_str(ev, "error", failure_text(r));
        orc_json_add_str(ev, "error_class", orc_fail_class_name(r->failure.cls));
        sse_send(o, "error", ev);
    }
    json_object_put(ev);
}

/* ---- jobs -------------------------------------------------------------- */

static void reply_test(orch_t *o);
static void cache_store(orch_t *o);

static void on_job_done(void *arg, const orc_job_result_t *r)
{
    entry_t *e = arg;
    orch_t *o = e->owner;
    e->job = NULL;
    orc_reqlog_detached_job(o->env->reqlog, o->rq ? orc_reqlog_record(o->rq) : o->log, o->spec.request, r);
    if (o->rq != NULL)
        orc_auth_usage(o->rq, r->usage.prompt_tokens, r->usage.completion_tokens, r->cost_usd);
    else /* an asynchronous orchestration: its request has ended */
        orc_limits_charge(o->env->limits, o->key, r->usage.prompt_tokens, r->usage.completion_tokens,
                          r->cost_usd);
    e->ok = r->ok;
    e->bad_request = r->bad_request;
    e->failure = r->failure;
    e->result = result_json(e, r);
    if (r->ok)
        orc_log_debug("request %s: %s/%s answered in %.3f s", o->id, e->provider->cfg->name, r->model,
                      (double)r->latency_us / 1e6);
    if (o->cache.store)
        e->completion = orc_cache_completion(NULL, r);
    if (o->spec.stream)
        stream_result(o, e, r);
    if (--o->pending > 0)
        return;
    cache_store(o);
    if (o->spec.async) {
        orc_async_finish(o->env, o->id, o->owner, document(o));
        o->env->background--;
    } else if (o->test_mode) {
        reply_test(o);
    } else if (o->spec.stream) {
        stream_end(o);
    } else {
        reply_sync(o);
    }
    orch_free(o);
}

static void on_client_gone(void *arg)
{
    orch_t *o = arg;
    for (int i = 0; i < o->nentries; i++) {
        orc_job_cancel(o->entries[i].job);
        o->entries[i].job = NULL;
    }
    orc_log_info("request %s: the client left; its upstream calls are cancelled", o->id);
    if (o->spec.stream)
        orc_http_stream_end(o->rq);
    else
        orc_http_error(o->rq, 499, "CLIENT_CLOSED_REQUEST", "the client closed the connection");
    orch_free(o);
}

static void add_entry(orch_t *o, orc_llm_t *llm, int provider_index)
{
    entry_t *e = &o->entries[o->nentries++];
    e->owner = o;
    e->provider = &llm->providers[provider_index];
    const char *model = o->spec.model[0] ? o->spec.model : e->provider->cfg->default_model;
    snprintf(e->model, sizeof(e->model), "%s", model);
}

/* One job per named provider, or one job over every provider in order. */
static int start_jobs(orch_t *o, orc_llm_t *llm)
{
    static const orc_job_cbs_t cbs = {on_chunk, on_job_done};
    int njobs = o->spec.explicit_providers ? o->spec.nproviders : 1;
    for (int j = 0; j < njobs; j++) {
        entry_t *e = &o->entries[j];
        orc_job_spec_t spec = {
            .request = o->spec.request, .stream = o->spec.stream, .include_usage = true, .request_id = o->id};
        int first = o->spec.explicit_providers ? j : 0,
            last = o->spec.explicit_providers ? j : o->nentries - 1;
        for (int k = first; k <= last; k++) {
            spec.targets[spec.ntargets].provider = o->entries[k].provider;
            snprintf(spec.targets[spec.ntargets].model, ORC_MODEL_ID_MAX, "%s", o->entries[k].model);
            spec.ntargets++;
        }
        e->job = orc_job_start(llm, &spec, &cbs, e);
        if (e->job == NULL)
            return ORC_ERR;
        o->pending++;
    }
    o->nentries = njobs;
    return ORC_OK;
}

static orch_t *orch_new(orc_req_t *rq)
{
    orch_t *o = calloc(1, sizeof(*o));
    if (o != NULL) {
        o->rq = rq;
        o->env = orc_api_env(rq);
        snprintf(o->id, sizeof(o->id), "%s", rq->id);
        const orc_key_t *key = orc_auth_key(rq);
        snprintf(o->owner, sizeof(o->owner), "%s", key != NULL ? key->id : "");
        o->key = orc_key_ref((orc_key_t *)key);
        o->started_us = orc_now_us();
    }
    return o;
}

/* ---- the response cache ------------------------------------------------- */

/* The providers and models asked, in configuration order for a chain (the
 * DWA's order changes from request to request), and whether they fan out. */
static void scope_of(const orch_t *o, char *buf, size_t len)
{
    size_t used =
        (size_t)snprintf(buf, len, "orchestrate:%s:", o->spec.explicit_providers ? "fanout" : "chain");
    for (int idx = 0, k = 0; idx < ORC_PROVIDERS_MAX * 4 && used < len; idx++) {
        for (int i = 0; i < o->nentries && used < len; i++) {
            const entry_t *e = &o->entries[i];
            bool next = o->spec.explicit_providers ? i == idx : e->provider->index == idx;
            if (next)
                used += (size_t)snprintf(buf + used, len - used, "%s%s/%s", k++ ? "," : "",
                                         e->provider->cfg->name, e->model);
        }
    }
}

static void cache_store(orch_t *o)
{
    const char *providers[ORC_PROVIDERS_MAX], *models[ORC_PROVIDERS_MAX];
    json_object *completions[ORC_PROVIDERS_MAX];
    if (!o->cache.store || count_ok(o) != o->nentries)
        return; /* only answers every provider gave completely */
    for (int i = 0; i < o->nentries; i++)
        if (o->entries[i].completion == NULL)
            return;
    for (int i = 0; i < o->nentries; i++) {
        json_object *p, *m;
        json_object_object_get_ex(o->entries[i].result, "provider", &p);
        json_object_object_get_ex(o->entries[i].result, "model", &m);
        providers[i] = json_object_get_string(p);
        models[i] = json_object_get_string(m);
        completions[i] = o->entries[i].completion;
        o->entries[i].completion = NULL;
    }
    json_object *entry = orc_cache_entry_new(o->nentries, providers, models, completions);
    orc_cache_store(&o->cache, entry);
    json_object_put(entry);
}

/* The job result a cached answer stands for: no latency, no cost. */
static void cached_result(orc_job_result_t *r, orc_provider_rt_t *p, const char *model,
                          json_object *completion)
{
    json_object *usage = orc_json_get(completion, "usage", json_type_object);
    json_object *choices = orc_json_get(completion, "choices", json_type_array);
    const char *finish = orc_json_get_str(json_object_array_get_idx(choices, 0), "finish_reason");
    memset(r, 0, sizeof(*r));
    r->ok = true;
    r->provider = p;
    snprintf(r->model, sizeof(r->model), "%s", model);
    r->text = orc_cache_completion_text(completion);
    snprintf(r->finish_reason, sizeof(r->finish_reason), "%s", finish ? finish : "stop");
    r->usage.known = usage != NULL;
    r->usage.prompt_tokens = orc_json_get_int(usage, "prompt_tokens", 0);
    r->usage.completion_tokens = orc_json_get_int(usage, "completion_tokens", 0);
    r->usage.total_tokens = orc_json_get_int(usage, "total_tokens", 0);
}

/* Replaces the entries with the cached answers; ORC_ERR (nothing changed)
 * when the entry names a provider this configuration lacks. */
static int replay_entries(orch_t *o, json_object *entry)
{
    int n = orc_cache_entry_count(entry);
    orc_provider_rt_t *ps[ORC_PROVIDERS_MAX];
    const char *p, *m;
    json_object *c;
    if (n < 1 || n > ORC_PROVIDERS_MAX)
        return ORC_ERR;
    for (int i = 0; i < n; i++)
        if (orc_cache_entry_answer(entry, i, &p, &m, &c) != ORC_OK ||
            (ps[i] = orc_llm_provider(o->env->llm, p)) == NULL)
            return ORC_ERR;
    for (int i = 0; i < n; i++) {
        entry_t *e = &o->entries[i];
        orc_job_result_t r;
        orc_cache_entry_answer(entry, i, &p, &m, &c);
        e->provider = ps[i];
        snprintf(e->model, sizeof(e->model), "%s", m);
        cached_result(&r, ps[i], m, c);
        orc_reqlog_cache_hit(o->env->reqlog, o->rq, p, m, c);
        e->ok = true;
        e->result = result_json(e, &r);
        orc_json_add_bool(e->result, "cached", true);
    }
    o->nentries = n;
    return ORC_OK;
}

static int replay(orch_t *o, json_object *entry)
{
    if (replay_entries(o, entry) != ORC_OK)
        return ORC_ERR;
    if (!o->spec.stream) {
        reply_sync(o);
        return ORC_OK;
    }
    stream_begin(o);
    for (int i = 0; i < o->nentries; i++) {
        entry_t *e = &o->entries[i];
        orc_job_result_t r;
        const char *p, *m;
        json_object *c;
        orc_cache_entry_answer(entry, i, &p, &m, &c);
        cached_result(&r, e->provider, m, c);
        if (r.text[0] != '\0') {
            json_object *content = json_object_new_string(r.text);
            send_chunk(o, p, m, content);
            json_object_put(content);
        }
        stream_result(o, e, &r);
    }
    stream_end(o);
    return ORC_OK;
}

/* ---- running ----------------------------------------------------------- */

static void start(orch_t *o)
{
    if (start_jobs(o, o->env->llm) != ORC_OK) {
        orc_http_error(o->rq, 503, "OUT_OF_MEMORY", "cannot start the request now");
        orch_free(o);
        return;
    }
    if (o->spec.stream)
        stream_begin(o);
}

static void on_lookup(void *arg, json_object *entry)
{
    orch_t *o = arg;
    orc_api_cache_header(o->rq, &o->cache);
    if (entry != NULL && replay(o, entry) == ORC_OK) {
        orch_free(o);
        return;
    }
    start(o);
}

/* The processing state is in Redis: answer 202, then run detached. */
static void on_async_begun(void *arg, int status)
{
    orch_t *o = arg;
    if (status != 201) {
        orc_http_error(o->rq, status, status == 409 ? "CONFLICT" : "ASYNC_UNAVAILABLE",
                       status == 409
                           ? "request id %s is already in use"
                           : "the result store (Redis) is unavailable: try again, or use mode \"sync\"",
                       o->id);
        orch_free(o);
        return;
    }
    json_object *doc = json_object_new_object();
    orc_json_add_str(doc, "request_id", o->id);
    orc_json_add_str(doc, "status", "processing");
    o->log = orc_reqlog_detach(o->rq);
    orc_http_reply_json(o->rq, 202, doc);
    o->rq = NULL;
    if (start_jobs(o, o->env->llm) != ORC_OK) { /* jobs started before the failure still finish */
        orc_log_error("request %s: cannot start the asynchronous orchestration: out of memory", o->id);
        if (o->pending == 0) {
            orc_async_finish(o->env, o->id, o->owner, document(o));
            orch_free(o);
            return;
        }
    }
    o->env->background++;
}

static void run_async(orch_t *o)
{
    if (o->env->redis == NULL) {
        orc_http_error(o->rq, 503, "ASYNC_UNAVAILABLE",
                       "asynchronous orchestration needs Redis (REDIS_URL): without it the result could not "
                       "be read from another worker");
        orch_free(o);
        return;
    }
    if (orc_async_begin(o->env, o->id, o->owner, on_async_begun, o) != ORC_OK) {
        orc_http_error(o->rq, 503, "OUT_OF_MEMORY", "cannot start the request now");
        orch_free(o);
    }
}

static void add_entries(orch_t *o, orc_llm_t *llm)
{
    if (!o->spec.explicit_providers) { /* every configured provider, in DWA order: first answers, others fall
                                          back */
        int order[ORC_PROVIDERS_MAX], n = 0;
        char models[ORC_PROVIDERS_MAX][128];
        for (int i = 0; i < llm->n && n < ORC_PROVIDERS_MAX; i++)
            if (llm->providers[i].cfg->configured) {
                snprintf(models[n], sizeof(models[n]), "%s", llm->providers[i].cfg->default_model);
                order[n++] = i;
            }
        orc_dwa_rank(llm->dwa, order, models, n);
        for (int i = 0; i < n; i++)
            add_entry(o, llm, order[i]);
    }
    for (int i = 0; o->spec.explicit_providers && i < o->spec.nproviders; i++)
        add_entry(o, llm, o->spec.providers[i]);
}

/* Drops the providers the caller's key may not use; ORC_ERR when it named
 * one (or none remains). */
static int keep_allowed(orch_t *o)
{
    int kept = 0, asked = o->nentries;
    const char *requested = o->spec.model[0] ? o->spec.model : "auto";
    for (int i = 0; i < o->nentries; i++) {
        entry_t *e = &o->entries[i];
        if (orc_auth_allows(o->rq, e->provider->cfg->name, requested, e->model))
            o->entries[kept++] = *e;
        else if (o->spec.explicit_providers)
            return ORC_ERR;
    }
    o->nentries = kept;
    return kept > 0 || asked == 0 ? ORC_OK : ORC_ERR;
}

static void run(orch_t *o)
{
    char scope[2048], err[256];
    add_entries(o, o->env->llm);
    if (keep_allowed(o) != ORC_OK) {
        orc_http_refuse(o->rq, ORC_REFUSE_FORBIDDEN, "this key may not use the providers or model asked for");
        orch_free(o);
        return;
    }
    if (o->nentries == 0) {
        orc_http_error(
            o->rq, 503, "NO_PROVIDER",
            "no LLM provider is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or "
            "GROK_API_KEY");
        orch_free(o);
        return;
    }
    if (o->spec.async) {
        run_async(o);
        return;
    }
    orc_http_watch_client(o->rq, on_client_gone, o);
    if (o->test_mode) { /* a test asks the provider, never the cache */
        start(o);
        return;
    }
    scope_of(o, scope, sizeof(scope));
    if (orc_api_cache_prepare(o->rq, &o->cache, scope, o->spec.request, err, sizeof(err)) != ORC_OK) {
        orc_http_error(o->rq, 400, "VALIDATION_ERROR", "%s", err);
        orch_free(o);
        return;
    }
    if (!orc_cache_lookup(&o->cache, on_lookup, o))
        on_lookup(o, NULL);
}

void orc_api_llm_orchestrate(orc_req_t *rq)
{
    json_object *body = NULL;
    char err[512];
    if (orc_http_read_json(rq, &body) != ORC_OK)
        return;
    orch_t *o = orch_new(rq);
    if (o == NULL) {
        json_object_put(body);
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot start the request now");
        return;
    }
    int rc = orc_orchestration_parse(body, &orc_api_env(rq)->cfg->providers, &o->spec, err, sizeof(err));
    json_object_put(body);
    if (rc != ORC_OK) {
        free(o);
        orc_http_error(rq, 400, "VALIDATION_ERROR", "%s", err);
        return;
    }
    run(o);
}

/* ---- /api/llm/test/{provider} ------------------------------------------ */

static void reply_test(orch_t *o)
{
    entry_t *e = &o->entries[0];
    json_object *doc = json_object_new_object(), *r = e->result, *v;
    orc_json_add_str(doc, "provider", e->provider->cfg->name);
    orc_json_add_str(doc, "status", e->ok ? "success" : "failed");
    if (e->ok && json_object_object_get_ex(r, "response", &v)) {
        char first[101];
        snprintf(first, sizeof(first), "%s", json_object_get_string(v));
        orc_json_add_str(doc, "response", first);
    }
    if (json_object_object_get_ex(r, "response_time", &v))
        json_object_object_add(doc, "response_time", json_object_get(v));
    if (json_object_object_get_ex(r, "tokens_used", &v))
        json_object_object_add(doc, "tokens_used", json_object_get(v));
    if (json_object_object_get_ex(r, "model", &v))
        json_object_object_add(doc, "model", json_object_get(v));
    if (!e->ok && json_object_object_get_ex(r, "error", &v)) {
        json_object *errors = json_object_new_array();
        json_object_array_add(errors, json_object_get(v));
        json_object_object_add(doc, "errors", errors);
    }
    orc_http_reply_json(o->rq, 200, doc);
}

void orc_api_llm_test(orc_req_t *rq)
{
    const char *name = rq->match.params[0];
    orc_llm_t *llm = orc_api_env(rq)->llm;
    orc_provider_rt_t *p = orc_llm_provider(llm, name);
    if (p == NULL) {
        orc_http_error(rq, 400, "INVALID_PROVIDER", "unknown provider '%.64s'", name);
        return;
    }
    orch_t *o = orch_new(rq);
    json_object *body =
        json_tokener_parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Reply with one word: pong\"}],"
                           "\"max_tokens\":16}");
    if (o == NULL || body == NULL) {
        free(o);
        json_object_put(body);
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot start the request now");
        return;
    }
    o->test_mode = true;
    o->spec.request = body;
    o->spec.explicit_providers = true;
    o->spec.nproviders = 1;
    o->spec.providers[0] = p->index;
    run(o);
}
