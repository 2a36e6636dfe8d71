/*
 * anthropic_api.c - the Anthropic-compatible API: POST /v1/messages, so the
 * Anthropic SDK can use any provider behind the gateway.
 *
 * The request is translated to the canonical form, routed like
 * /v1/chat/completions, and every answer translated back: a message, or
 * the exact Anthropic event sequence (message_start ... message_stop).
 * The client's key (x-api-key or Authorization) is never forwarded.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/orc.h"
#include "worker/api/api.h"
#include "worker/api/chat.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/model_route.h"
#include "worker/llm/orchestrator.h"
#include "worker/api/messages_in.h"
#include "worker/reqlog/reqlog.h"

typedef struct {
    orc_req_t *rq;
    orc_job_t *job;
    json_object *canonical;
    char model[128];
    bool stream;
    bool started;
    orc_messages_stream_t ms;
    struct event *keepalive;
    orc_model_route_t route;
    orc_cache_req_t cache;
    orc_cache_collect_t *collect; /* a streamed answer, for the cache */
} msg_t;

static void anthropic_error(orc_req_t *rq, int status, const char *message)
{
    json_object *o = orc_messages_error_new(status, message);
    orc_json_add_str(o, "request_id", rq->id);
    orc_http_set_header(rq, "request-id", rq->id);
    orc_http_reply_json(rq, status, o);
}

static void msg_free(msg_t *m)
{
    orc_cache_lookup_cancel(&m->cache);
    orc_cache_collect_free(m->collect);
    orc_job_cancel(m->job);
    if (m->keepalive)
        event_free(m->keepalive);
    json_object_put(m->canonical);
    free(m);
}

static void begin_stream(msg_t *m, const char *provider, const char *model)
{
    orc_api_served_by(m->rq, provider, model);
    orc_http_set_header(m->rq, "request-id", m->rq->id);
    orc_messages_stream_init(&m->ms, model, NULL); /* the model that answers, as without streaming */
    orc_http_stream_begin(m->rq, 200, "text/event-stream; charset=utf-8");
    m->started = true;
}

static void start_stream(msg_t *m)
{
    const orc_target_t *t = orc_job_target(m->job);
    begin_stream(m, t->provider->cfg->name, t->model);
}

static void write_event(void *arg, const char *event, json_object *data)
{
    msg_t *m = arg;
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char head[64];
    int hl = snprintf(head, sizeof(head), "event: %s\ndata: ", event);
    orc_http_stream_write(m->rq, head, (size_t)hl);
    orc_http_stream_write(m->rq, text, len);
    orc_http_stream_write(m->rq, "\n\n", 2);
}

static void on_chunk(void *arg, json_object *chunk)
{
    msg_t *m = arg;
    if (!m->started)
        start_stream(m);
    orc_cache_collect_chunk(m->collect, chunk);
    orc_messages_stream_chunk(&m->ms, chunk, write_event, m);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    msg_t *m = arg;
    (void)fd;
    (void)what;
    if (!m->started)
        start_stream(m);
    orc_http_stream_write(m->rq, ": keep-alive\n\n", 14);
}

static void reply_failure(msg_t *m, const orc_job_result_t *r)
{
    const char *type;
    char message[600];
    int status = orc_api_failure_reply(m->rq, r, &type, message, sizeof(message));
    anthropic_error(m->rq, r->failure.cls == ORC_FAIL_OVERLOADED ? 529 : status, message);
}

static void on_done(void *arg, const orc_job_result_t *r)
{
    msg_t *m = arg;
    m->job = NULL;
    orc_reqlog_job(orc_api_env(m->rq)->reqlog, m->rq, m->canonical, r);
    orc_auth_usage(m->rq, r->usage.prompt_tokens, r->usage.completion_tokens, r->cost_usd);
    orc_api_cache_store(&m->cache, m->collect, r);
    if (m->stream && (m->started || r->ok)) {
        if (!m->started)
            start_stream(m);
        orc_messages_stream_finish(&m->ms, r->ok, write_event, m);
        orc_http_stream_end(m->rq);
    } else if (r->ok) {
        orc_api_served_by(m->rq, r->provider->cfg->name, r->model);
        orc_http_set_header(m->rq, "request-id", m->rq->id);
        orc_http_reply_json(m->rq, 200, orc_messages_from_canonical(r->response, r->model));
    } else {
        reply_failure(m, r);
    }
    msg_free(m);
}

static void on_client_gone(void *arg)
{
    msg_t *m = arg;
    orc_job_cancel(m->job);
    m->job = NULL;
    if (m->started)
        orc_http_stream_end(m->rq);
    else
        anthropic_error(m->rq, 499, "the client left");
    msg_free(m);
}

static int start_job(msg_t *m)
{
    static const orc_job_cbs_t cbs = {on_chunk, on_done};
    orc_llm_t *llm = orc_api_env(m->rq)->llm;
    orc_job_spec_t spec = {
        .request = m->canonical, .stream = m->stream, .include_usage = true, .request_id = m->rq->id};
    orc_api_route_targets(llm, &m->route, &spec);
    orc_messages_stream_init(&m->ms, m->model, NULL);
    if (m->stream && m->cache.store)
        m->collect = orc_cache_collect_new();
    m->job = orc_job_start(llm, &spec, &cbs, m);
    if (m->job == NULL)
        return ORC_ERR;
    if (m->stream)
        m->keepalive = orc_api_keepalive_start(m->rq, on_keepalive, m);
    return ORC_OK;
}

static void replay_chunk(void *arg, json_object *chunk)
{
    msg_t *m = arg;
    orc_messages_stream_chunk(&m->ms, chunk, write_event, m);
}

/* A cache hit, as a message or as the event sequence a live answer has. */
static void replay(msg_t *m, json_object *entry)
{
    const char *provider, *model;
    json_object *completion;
    char id[ORC_REQUEST_ID_SIZE + 16];
    snprintf(id, sizeof(id), "msg_%s", m->rq->id);
    orc_api_cache_answer(entry, &provider, &model, &completion);
    orc_reqlog_cache_hit(orc_api_env(m->rq)->reqlog, m->rq, provider, model, completion);
    if (!m->stream) {
        json_object *fresh = orc_cache_fresh_completion(completion, id);
        orc_api_served_by(m->rq, provider, model);
        orc_http_set_header(m->rq, "request-id", m->rq->id);
        orc_http_reply_json(m->rq, 200, orc_messages_from_canonical(fresh, model));
        json_object_put(fresh);
    } else {
        begin_stream(m, provider, model);
        orc_cache_replay(completion, id, true, replay_chunk, m);
        orc_messages_stream_finish(&m->ms, true, write_event, m);
        orc_http_stream_end(m->rq);
    }
    msg_free(m);
}

static void on_lookup(void *arg, json_object *entry)
{
    msg_t *m = arg;
    const char *p, *mo;
    json_object *x;
    orc_api_cache_header(m->rq, &m->cache);
    if (entry != NULL && orc_api_cache_answer(entry, &p, &mo, &x) == ORC_OK) {
        replay(m, entry);
        return;
    }
    if (start_job(m) != ORC_OK) {
        anthropic_error(m->rq, 503, "cannot start the request now");
        msg_free(m);
    }
}

static msg_t *prepare(orc_req_t *rq, orc_model_route_t *route)
{
    json_object *body = NULL, *v;
    char err[512] = "";
    int status = 400;
    const char *code;
    if (orc_http_body_json(rq, &body, err, sizeof(err)) != ORC_OK || body == NULL) {
        anthropic_error(rq, 400, body == NULL && err[0] == '\0' ? "the body must be a JSON object" : err);
        return NULL;
    }
    json_object *canonical = orc_messages_to_canonical(body, err, sizeof(err), &status);
    msg_t *m = canonical ? calloc(1, sizeof(*m)) : NULL;
    if (canonical == NULL || m == NULL) {
        json_object_put(body);
        json_object_put(canonical);
        anthropic_error(rq, canonical ? 503 : status, canonical ? "out of memory" : err);
        return NULL;
    }
    m->rq = rq;
    m->canonical = canonical;
    m->stream = json_object_object_get_ex(body, "stream", &v) && json_object_get_boolean(v);
    json_object_object_get_ex(body, "model", &v);
    snprintf(m->model, sizeof(m->model), "%s", json_object_get_string(v));
    json_object_put(body);
    if (orc_model_route(&orc_api_env(rq)->cfg->providers, m->model, route, &status, &code, err,
                        sizeof(err)) != ORC_OK) {
        msg_free(m);
        anthropic_error(rq, status, err);
        return NULL;
    }
    if (orc_auth_filter_route(rq, &orc_api_env(rq)->cfg->providers, m->model, route, err, sizeof(err)) !=
        ORC_OK) {
        msg_free(m);
        orc_http_refuse(rq, ORC_REFUSE_FORBIDDEN, "%s", err);
        return NULL;
    }
    char scope[2048];
    orc_api_route_scope(orc_api_env(rq)->llm, route, scope, sizeof(scope));
    if (orc_api_cache_prepare(rq, &m->cache, scope, m->canonical, err, sizeof(err)) != ORC_OK) {
        msg_free(m);
        anthropic_error(rq, 400, err);
        return NULL;
    }
    return m;
}

void orc_api_anthropic_messages(orc_req_t *rq)
{
    orc_model_route_t route;
    msg_t *m = prepare(rq, &route);
    if (m == NULL)
        return;
    m->route = route;
    orc_http_watch_client(rq, on_client_gone, m);
    if (!orc_cache_lookup(&m->cache, on_lookup, m))
        on_lookup(m, NULL);
}
