/*
 * openai_api.c - the OpenAI-compatible API: POST /v1/chat/completions and
 * GET /v1/models, so existing OpenAI clients only change their base URL.
 *
 * The request body is already canonical; "model" picks the provider (see
 * model_route.h).  A streamed answer starts when the first chunk arrives,
 * so a failure before it is still an ordinary HTTP error the client's SDK
 * raises as its own error type; after 10 s without a chunk the stream is
 * started anyway and kept alive with SSE comments.  A failure after the
 * start is an error event, never followed by [DONE].
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
#include "worker/llm/dwa_select.h"
#include "worker/llm/model_route.h"
#include "worker/llm/orchestrator.h"
#include "worker/reqlog/reqlog.h"

typedef struct {
    orc_req_t *rq;
    orc_job_t *job;
    json_object *body;
    bool stream;
    bool started;
    struct event *keepalive;
    orc_model_route_t route;
    orc_cache_req_t cache;
    orc_cache_collect_t *collect; /* a streamed answer, for the cache */
} chat_t;

static const char *roles[] = {"system", "developer", "user", "assistant", "tool", "function"};

void orc_openai_error(orc_req_t *rq, int status, const char *type, const char *param, const char *code,
                      const char *message)
{
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    orc_json_add_str(e, "message", message);
    orc_json_add_str(e, "type", type);
    orc_json_add_str(e, "param", param);
    orc_json_add_str(e, "code", code);
    json_object_object_add(o, "error", e);
    orc_http_reply_json(rq, status, o);
}

static void chat_free(chat_t *c)
{
    orc_cache_lookup_cancel(&c->cache);
    orc_cache_collect_free(c->collect);
    orc_job_cancel(c->job);
    if (c->keepalive)
        event_free(c->keepalive);
    json_object_put(c->body);
    free(c);
}

/* ---- answers ----------------------------------------------------------- */

static void begin_stream(chat_t *c, const char *provider, const char *model)
{
    orc_api_served_by(c->rq, provider, model);
    orc_http_stream_begin(c->rq, 200, "text/event-stream; charset=utf-8");
    c->started = true;
}

static void start_stream(chat_t *c)
{
    const orc_target_t *t = orc_job_target(c->job);
    begin_stream(c, t->provider->cfg->name, t->model);
}

static void write_event(chat_t *c, json_object *o)
{
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    orc_http_stream_write(c->rq, "data: ", 6);
    orc_http_stream_write(c->rq, text, len);
    orc_http_stream_write(c->rq, "\n\n", 2);
}

static void on_chunk(void *arg, json_object *chunk)
{
    chat_t *c = arg;
    if (!c->started)
        start_stream(c);
    orc_cache_collect_chunk(c->collect, chunk);
    write_event(c, chunk);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    chat_t *c = arg;
    (void)fd;
    (void)what;
    if (!c->started)
        start_stream(c);
    orc_http_stream_write(c->rq, ": keep-alive\n\n", 14);
}

static void reply_failure(chat_t *c, const orc_job_result_t *r)
{
    const char *type;
    char message[600];
    int status = orc_api_failure_reply(c->rq, r, &type, message, sizeof(message));
    const char *code = r->failure.code[0] ? r->failure.code : orc_fail_class_name(r->failure.cls);
    orc_openai_error(c->rq, status, type, NULL, code, message);
}

static void on_done(void *arg, const orc_job_result_t *r)
{
    chat_t *c = arg;
    c->job = NULL;
    orc_reqlog_job(orc_api_env(c->rq)->reqlog, c->rq, c->body, r);
    orc_auth_usage(c->rq, r->usage.prompt_tokens, r->usage.completion_tokens, r->cost_usd);
    orc_api_cache_store(&c->cache, c->collect, r);
    if (c->stream && (c->started || r->ok)) {
        if (!c->started)
            start_stream(c);
        if (r->ok)
            orc_http_stream_write(c->rq, "data: [DONE]\n\n", 14);
        orc_http_stream_end(c->rq);
    } else if (r->ok) {
        orc_api_served_by(c->rq, r->provider->cfg->name, r->model);
        orc_http_reply_json(c->rq, 200, json_object_get(r->response));
    } else {
        reply_failure(c, r);
    }
    chat_free(c);
}

static void on_client_gone(void *arg)
{
    chat_t *c = arg;
    orc_job_cancel(c->job);
    c->job = NULL;
    if (c->started)
        orc_http_stream_end(c->rq);
    else
        orc_openai_error(c->rq, 499, "invalid_request_error", NULL, "client_closed", "the client left");
    chat_free(c);
}

/* ---- request ----------------------------------------------------------- */

static const char *check_messages(json_object *body, const char **param)
{
    json_object *msgs;
    *param = "messages";
    if (!json_object_object_get_ex(body, "messages", &msgs) || !json_object_is_type(msgs, json_type_array) ||
        json_object_array_length(msgs) == 0)
        return "messages must be a non-empty array";
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        json_object *m = json_object_array_get_idx(msgs, i), *role;
        bool ok = false;
        if (!json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, "role", &role) ||
            !json_object_is_type(role, json_type_string))
            return "each message must be an object with a string role";
        for (size_t r = 0; r < ORC_ARRAY_LEN(roles); r++)
            ok |= strcmp(json_object_get_string(role), roles[r]) == 0;
        if (!ok)
            return "message role must be system, developer, user, assistant or tool";
    }
    return NULL;
}

static const char *check_request(json_object *body, const char **param)
{
    json_object *v;
    *param = NULL;
    if (!json_object_is_type(body, json_type_object))
        return "the body must be a JSON object";
    *param = "model";
    if (!json_object_object_get_ex(body, "model", &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0 || json_object_get_string_len(v) > 255)
        return "model is required: a string such as \"openai/gpt-4o-mini\" or \"auto\"";
    *param = "stream";
    if (json_object_object_get_ex(body, "stream", &v) && v != NULL &&
        !json_object_is_type(v, json_type_boolean))
        return "stream must be a boolean";
    return check_messages(body, param);
}

static bool include_usage(json_object *body)
{
    json_object *so, *iu;
    return json_object_object_get_ex(body, "stream_options", &so) &&
           json_object_object_get_ex(so, "include_usage", &iu) && json_object_get_boolean(iu);
}

static int start_job(chat_t *c)
{
    static const orc_job_cbs_t cbs = {on_chunk, on_done};
    orc_llm_t *llm = orc_api_env(c->rq)->llm;
    orc_job_spec_t spec = {.request = c->body,
                           .stream = c->stream,
                           .include_usage = include_usage(c->body),
                           .request_id = c->rq->id};
    orc_api_route_targets(llm, &c->route, &spec);
    if (c->stream && c->cache.store)
        c->collect = orc_cache_collect_new();
    c->job = orc_job_start(llm, &spec, &cbs, c);
    if (c->job == NULL)
        return ORC_ERR;
    if (c->stream)
        c->keepalive = orc_api_keepalive_start(c->rq, on_keepalive, c);
    return ORC_OK;
}

static void replay_chunk(void *arg, json_object *chunk)
{
    write_event(arg, chunk);
}

/* A cache hit, as JSON or as the stream the provider's answer would be. */
static void replay(chat_t *c, json_object *entry)
{
    const char *provider, *model;
    json_object *completion;
    char id[ORC_REQUEST_ID_SIZE + 16];
    snprintf(id, sizeof(id), "chatcmpl-%s", c->rq->id);
    orc_api_cache_answer(entry, &provider, &model, &completion);
    orc_reqlog_cache_hit(orc_api_env(c->rq)->reqlog, c->rq, provider, model, completion);
    if (!c->stream) {
        orc_api_served_by(c->rq, provider, model);
        orc_http_reply_json(c->rq, 200, orc_cache_fresh_completion(completion, id));
    } else {
        begin_stream(c, provider, model);
        orc_cache_replay(completion, id, include_usage(c->body), replay_chunk, c);
        orc_http_stream_write(c->rq, "data: [DONE]\n\n", 14);
        orc_http_stream_end(c->rq);
    }
    chat_free(c);
}

static void on_lookup(void *arg, json_object *entry)
{
    chat_t *c = arg;
    const char *p, *m;
    json_object *x;
    orc_api_cache_header(c->rq, &c->cache);
    if (entry != NULL && orc_api_cache_answer(entry, &p, &m, &x) == ORC_OK) {
        replay(c, entry);
        return;
    }
    if (start_job(c) != ORC_OK) {
        orc_openai_error(c->rq, 503, "server_error", NULL, NULL, "cannot start the request now");
        chat_free(c);
    }
}

/* Looks the request up in the cache, or starts it at once. */
static void begin(chat_t *c)
{
    json_object *stream;
    c->stream = json_object_object_get_ex(c->body, "stream", &stream) && json_object_get_boolean(stream);
    orc_http_watch_client(c->rq, on_client_gone, c);
    if (!orc_cache_lookup(&c->cache, on_lookup, c))
        on_lookup(c, NULL);
}

void orc_api_openai_chat(orc_req_t *rq)
{
    json_object *body = NULL;
    const char *param = NULL, *problem, *code;
    char err[512];
    int status;
    orc_model_route_t route;
    if (orc_http_body_json(rq, &body, err, sizeof(err)) != ORC_OK) {
        orc_openai_error(rq, 400, "invalid_request_error", NULL, "invalid_json", err);
        return;
    }
    problem = body ? check_request(body, &param) : "the body must be a JSON object";
    if (problem != NULL) {
        json_object_put(body);
        orc_openai_error(rq, 400, "invalid_request_error", body ? param : NULL, NULL, problem);
        return;
    }
    json_object *model;
    json_object_object_get_ex(body, "model", &model);
    if (orc_model_route(&orc_api_env(rq)->cfg->providers, json_object_get_string(model), &route, &status,
                        &code, err, sizeof(err)) != ORC_OK) {
        json_object_put(body);
        orc_openai_error(rq, status, status == 503 ? "server_error" : "invalid_request_error", "model", code,
                         err);
        return;
    }
    if (orc_auth_filter_route(rq, &orc_api_env(rq)->cfg->providers, json_object_get_string(model), &route,
                              err, sizeof(err)) != ORC_OK) {
        json_object_put(body);
        orc_http_refuse(rq, ORC_REFUSE_FORBIDDEN, "%s", err);
        return;
    }
    chat_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_object_put(body);
        orc_openai_error(rq, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    c->rq = rq;
    c->body = body;
    c->route = route;
    char scope[2048];
    orc_api_route_scope(orc_api_env(rq)->llm, &route, scope, sizeof(scope));
    if (orc_api_cache_prepare(rq, &c->cache, scope, body, err, sizeof(err)) != ORC_OK) {
        chat_free(c);
        orc_openai_error(rq, 400, "invalid_request_error", NULL, "invalid_cache_ttl", err);
        return;
    }
    begin(c);
}

/* ---- GET /v1/models ---------------------------------------------------- */

static json_object *model_entry(const char *id, const char *owner)
{
    json_object *m = json_object_new_object();
    orc_json_add_str(m, "id", id);
    orc_json_add_str(m, "object", "model");
    orc_json_add_int(m, "created", 0);
    orc_json_add_str(m, "owned_by", owner);
    orc_json_add_str(m, "type", "model");
    orc_json_add_str(m, "display_name", id);
    orc_json_add_str(m, "created_at", "1970-01-01T00:00:00Z");
    return m;
}

void orc_api_openai_models(orc_req_t *rq)
{
    const orc_providers_config_t *pc = &orc_api_env(rq)->cfg->providers;
    json_object *o = json_object_new_object(), *data = json_object_new_array();
    char id[256];
    for (int i = 0; i < pc->n; i++) {
        const orc_provider_config_t *p = &pc->list[i];
        for (int m = 0; p->configured && m < p->nmodels; m++) {
            snprintf(id, sizeof(id), "%s/%s", p->name, p->models[m].id);
            json_object_array_add(data, model_entry(id, p->name));
        }
    }
    for (int a = 0; a < pc->naliases; a++)
        json_object_array_add(data, model_entry(pc->aliases[a].alias, "orchesity"));
    size_t n = json_object_array_length(data);
    orc_json_add_str(o, "object", "list");
    json_object_object_add(o, "data", data);
    orc_json_add_bool(o, "has_more", false);
    if (n > 0) {
        json_object *first = json_object_array_get_idx(data, 0),
                    *last = json_object_array_get_idx(data, n - 1), *v;
        json_object_object_get_ex(first, "id", &v);
        json_object_object_add(o, "first_id", json_object_get(v));
        json_object_object_get_ex(last, "id", &v);
        json_object_object_add(o, "last_id", json_object_get(v));
    }
    orc_http_reply_json(rq, 200, o);
}
