/*
 * openai.c - adapters for the OpenAI Chat Completions wire: OpenAI itself,
 * xAI Grok and OpenAI-compatible servers (vLLM, llama.cpp, Ollama).
 *
 * The canonical form is this wire, so requests and answers pass through;
 * what changes (docs/providers.md §1, §4):
 *  - requests get the upstream model id and, when streaming, stream:true
 *    with stream_options.include_usage:true forced (cost accounting); the
 *    usage chunk is dropped towards the client unless it asked for it;
 *  - xAI's completion_tokens exclude reasoning: it is added back, so every
 *    usage this file reports has completion including reasoning and
 *    total = prompt + completion;
 *  - xAI chunks omit finish_reason/logprobs until the end: set to null;
 *  - error bodies are {"error":{...}} or xAI's {"code","error":"text"}.
 * The request passed in is never modified: the body shares its members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "worker/llm/providers/provider.h"

typedef enum { WIRE_OPENAI, WIRE_XAI, WIRE_COMPAT } wire_t;

static bool str_is(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

static void copy_members(json_object *dst, json_object *src)
{
    json_object_object_foreach(src, key, val)
    {
        if (strcmp(key, "model") != 0 && strcmp(key, "stream") != 0 && strcmp(key, "stream_options") != 0)
            json_object_object_add(dst, key, json_object_get(val));
    }
}

static json_object *stream_options(json_object *request)
{
    json_object *so = json_object_new_object(),
                *client = orc_json_get(request, "stream_options", json_type_object);
    if (client != NULL) {
        json_object_object_foreach(client, key, val)
        {
            json_object_object_add(so, key, json_object_get(val));
        }
    }
    json_object_object_add(so, "include_usage", json_object_new_boolean(1));
    return so;
}

static int build(wire_t wire, const orc_endpoint_t *ep, const char *model, json_object *request, bool stream,
                 orc_http_out_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!json_object_is_type(request, json_type_object)) {
        snprintf(err, errlen, "the request must be a JSON object");
        return ORC_ERR;
    }
    json_object *body = json_object_new_object();
    json_object_object_add(body, "model", json_object_new_string(model));
    copy_members(body, request);
    if (stream) {
        json_object_object_add(body, "stream", json_object_new_boolean(1));
        json_object_object_add(body, "stream_options", stream_options(request));
    }
    const char *key = ep->api_key ? ep->api_key : "";
    int rc = orc_http_out_url(out, ep->base_url, "/chat/completions", NULL);
    if (rc == ORC_OK && !(wire == WIRE_COMPAT && *key == '\0'))
        rc = orc_http_out_header(out, "Authorization: Bearer %s", key);
    if (rc == ORC_OK)
        rc = orc_http_out_header(out, "Content-Type: application/json");
    if (rc == ORC_OK)
        rc = orc_http_out_body(out, body);
    json_object_put(body);
    if (rc != ORC_OK) {
        orc_http_out_free(out);
        snprintf(err, errlen, "out of memory");
    }
    return rc;
}

/* Reads PARENT.usage into U and rewrites it in the normalised view. */
static void usage_normalise(wire_t wire, json_object *parent, orc_usage_t *u)
{
    json_object *uo = orc_json_get(parent, "usage", json_type_object);
    memset(u, 0, sizeof(*u));
    if (uo == NULL)
        return;
    u->known = true;
    u->prompt_tokens = orc_json_get_int(uo, "prompt_tokens", 0);
    u->completion_tokens = orc_json_get_int(uo, "completion_tokens", 0);
    u->cached_tokens =
        orc_json_get_int(orc_json_get(uo, "prompt_tokens_details", json_type_object), "cached_tokens", 0);
    u->reasoning_tokens = orc_json_get_int(orc_json_get(uo, "completion_tokens_details", json_type_object),
                                           "reasoning_tokens", 0);
    if (wire == WIRE_XAI)
        u->completion_tokens += u->reasoning_tokens;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    json_object_object_add(uo, "completion_tokens", json_object_new_int64(u->completion_tokens));
    json_object_object_add(uo, "total_tokens", json_object_new_int64(u->total_tokens));
}

static json_object *parse(wire_t wire, const char *body, size_t len, const char *model, orc_usage_t *usage,
                          orc_failure_t *fail)
{
    json_object *o = orc_json_parse_len(body, len);
    memset(usage, 0, sizeof(*usage));
    orc_fail_set(fail, ORC_FAIL_NONE, 0, NULL, NULL, NULL);
    if (orc_json_get(o, "choices", json_type_array) == NULL) {
        json_object_put(o);
        orc_fail_set(fail, ORC_FAIL_SERVER, 0, "malformed upstream response", "server_error", NULL);
        return NULL;
    }
    usage_normalise(wire, o, usage);
    if (orc_json_get_str(o, "model") == NULL)
        json_object_object_add(o, "model", json_object_new_string(model ? model : ""));
    return o;
}

/* "code" may be a string, a number or null. */
static void scalar_text(json_object *v, char *buf, size_t size)
{
    buf[0] = '\0';
    if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int))
        snprintf(buf, size, "%s", json_object_get_string(v));
}

/* {"error":{"message","type","code"}} or xAI {"code":"...","error":"text"}. */
static void error_fields(json_object *body, const char **msg, const char **type, char *code, size_t codelen)
{
    json_object *e = NULL, *c = NULL;
    *msg = *type = NULL;
    code[0] = '\0';
    if (!json_object_is_type(body, json_type_object) || !json_object_object_get_ex(body, "error", &e))
        return;
    if (json_object_is_type(e, json_type_string)) {
        *msg = json_object_get_string(e);
        json_object_object_get_ex(body, "code", &c);
    } else if (json_object_is_type(e, json_type_object)) {
        *msg = orc_json_get_str(e, "message");
        *type = orc_json_get_str(e, "type");
        json_object_object_get_ex(e, "code", &c);
    }
    scalar_text(c, code, codelen);
}

static void classify(int status, const char *body, size_t len, int64_t retry_after_ms, orc_failure_t *fail)
{
    json_object *o = body ? orc_json_parse_len(body, len) : NULL;
    const char *msg, *type;
    char code[64], fallback[64];
    error_fields(o, &msg, &type, code, sizeof(code));
    orc_fail_class_t cls = orc_fail_class_for_status(status);
    if (status == 429 && (str_is(type, "insufficient_quota") || str_is(code, "insufficient_quota")))
        cls = ORC_FAIL_CLIENT; /* billing, not a wait: never retried */
    snprintf(fallback, sizeof(fallback), "upstream answered HTTP %d", status);
    orc_fail_set(fail, cls, status, msg ? msg : fallback, type, code);
    fail->retry_after_ms = retry_after_ms;
    json_object_put(o);
}

/* Every choice gets finish_reason and logprobs (null until known), the
 * first chunk delta.role. */
static void fix_choices(orc_stream_t *st, json_object *choices)
{
    size_t n = json_object_array_length(choices);
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(choices, i), *v = NULL;
        if (!json_object_is_type(c, json_type_object))
            continue;
        if (!json_object_object_get_ex(c, "logprobs", &v))
            json_object_object_add(c, "logprobs", NULL);
        const char *finish = orc_json_get_str(c, "finish_reason");
        if (finish == NULL)
            json_object_object_add(c, "finish_reason", NULL);
        if (finish != NULL) {
            st->finished = true;
            snprintf(st->finish_reason, sizeof(st->finish_reason), "%s", finish);
        }
        json_object *delta = orc_json_get(c, "delta", json_type_object);
        if (!st->role_sent && delta != NULL && orc_json_get_str(delta, "role") == NULL)
            json_object_object_add(delta, "role", json_object_new_string("assistant"));
    }
    if (n > 0)
        st->role_sent = true;
}

static void remember(orc_stream_t *st, json_object *chunk)
{
    const char *id = orc_json_get_str(chunk, "id"), *model = orc_json_get_str(chunk, "model");
    if (st->id[0] != '\0')
        return;
    snprintf(st->id, sizeof(st->id), "%s", id ? id : "");
    if (model != NULL)
        snprintf(st->model, sizeof(st->model), "%s", model);
    st->created = orc_json_get_int(chunk, "created", st->created);
}

static void stream_error(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    const char *msg, *type;
    char code[64];
    error_fields(o, &msg, &type, code, sizeof(code));
    orc_fail_class_t cls = orc_fail_class_for_type(type);
    if (cls == ORC_FAIL_SERVER && strstr(code, "rate_limit") != NULL)
        cls = ORC_FAIL_RATE_LIMITED;
    orc_stream_fail(st, cls, msg ? msg : "upstream stream error", type, code, emit, arg);
}

static void stream_event(wire_t wire, orc_stream_t *st, const char *data, size_t len, orc_chunk_fn emit,
                         void *arg)
{
    if (st->failed || st->done)
        return;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        st->done = true;
        return;
    }
    json_object *o = orc_json_parse_len(data, len), *e = NULL, *choices;
    if (json_object_object_get_ex(o, "error", &e) && e != NULL) {
        stream_error(st, o, emit, arg);
    } else if ((choices = orc_json_get(o, "choices", json_type_array)) == NULL) {
        orc_stream_fail(st, ORC_FAIL_SERVER, "malformed event in the upstream stream", NULL, NULL, emit, arg);
    } else {
        remember(st, o);
        if (orc_json_get(o, "usage", json_type_object) != NULL)
            usage_normalise(wire, o, &st->usage);
        if (!st->include_usage)
            json_object_object_del(o, "usage");
        json_object_object_del(o, "obfuscation");
        if (json_object_array_length(choices) > 0 || st->include_usage) {
            fix_choices(st, choices);
            emit(arg, o);
        }
    }
    json_object_put(o);
}

/* Clean when [DONE] came, or at least a finish_reason: the answer is then
 * complete even if a proxy dropped the last bytes. */
static int stream_end(orc_stream_t *st, orc_chunk_fn emit, void *arg)
{
    if (st->failed)
        return ORC_ERR;
    if (st->done || st->finished)
        return ORC_OK;
    orc_stream_fail(st, ORC_FAIL_SERVER, "upstream stream ended before it was complete", NULL, NULL, emit,
                    arg);
    return ORC_ERR;
}

/* --- the three adapters ------------------------------------------------- */

static int openai_build(const orc_endpoint_t *ep, const char *model, json_object *request, bool stream,
                        orc_http_out_t *out, char *err, size_t errlen)
{
    return build(WIRE_OPENAI, ep, model, request, stream, out, err, errlen);
}

static int xai_build(const orc_endpoint_t *ep, const char *model, json_object *request, bool stream,
                     orc_http_out_t *out, char *err, size_t errlen)
{
    return build(WIRE_XAI, ep, model, request, stream, out, err, errlen);
}

static int compat_build(const orc_endpoint_t *ep, const char *model, json_object *request, bool stream,
                        orc_http_out_t *out, char *err, size_t errlen)
{
    return build(WIRE_COMPAT, ep, model, request, stream, out, err, errlen);
}

static json_object *openai_parse(const char *body, size_t len, const char *model, orc_usage_t *usage,
                                 orc_failure_t *fail)
{
    return parse(WIRE_OPENAI, body, len, model, usage, fail);
}

static json_object *xai_parse(const char *body, size_t len, const char *model, orc_usage_t *usage,
                              orc_failure_t *fail)
{
    return parse(WIRE_XAI, body, len, model, usage, fail);
}

static void openai_event(orc_stream_t *st, const char *event, const char *data, size_t len, orc_chunk_fn emit,
                         void *arg)
{
    (void)event;
    stream_event(WIRE_OPENAI, st, data, len, emit, arg);
}

static void xai_event(orc_stream_t *st, const char *event, const char *data, size_t len, orc_chunk_fn emit,
                      void *arg)
{
    (void)event;
    stream_event(WIRE_XAI, st, data, len, emit, arg);
}

const orc_adapter_t orc_adapter_openai = {
    ORC_PROVIDER_OPENAI, "openai", openai_build, openai_parse, openai_event, stream_end, classify,
};

const orc_adapter_t orc_adapter_grok = {
    ORC_PROVIDER_GROK, "grok", xai_build, xai_parse, xai_event, stream_end, classify,
};

const orc_adapter_t orc_adapter_openai_compatible = {
    ORC_PROVIDER_OPENAI_COMPATIBLE,
    "openai-compatible",
    compat_build,
    openai_parse,
    openai_event,
    stream_end,
    classify,
};
