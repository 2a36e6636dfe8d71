/*
 * anthropic.c - adapter for the Anthropic Messages API (docs/providers.md §2,
 * mapping tables §5, §6.1-6.3).
 *
 * Requests: system/developer messages become the top-level "system"
 * string; every turn is sent as an array of content blocks and
 * consecutive turns of one role are merged (tool results of parallel
 * calls form one user turn, as the API requires).  What Anthropic cannot
 * take is refused with a message for a 400 rather than silently changed:
 * n > 1, temperature > 1 (OpenAI allows up to 2; clamping would change
 * the sampling the client asked for), non-function tools, content parts
 * other than text and images.
 *
 * Usage: prompt_tokens = input + cache writes + cache reads (§6.2); the
 * stream keeps the raw parts in orc_usage_t (cache_write_tokens,
 * cached_tokens) so message_delta can override any of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/orc.h"
#include "worker/llm/providers/provider.h"

#define DEFAULT_VERSION "2023-06-01"
#define DEFAULT_MAX_TOKENS 4096

static bool str_is(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

static json_object *block_new(const char *type)
{
    json_object *b = json_object_new_object();
    json_object_object_add(b, "type", json_object_new_string(type));
    return b;
}

static void add_text(json_object *blocks, const char *text)
{
    if (text == NULL || *text == '\0')
        return; /* the API rejects empty text blocks */
    json_object *b = block_new("text");
    json_object_object_add(b, "text", json_object_new_string(text));
    json_object_array_add(blocks, b);
}

/* --- request ------------------------------------------------------------- */

static int add_image(json_object *blocks, json_object *part, char *err, size_t errlen)
{
    json_object *iu = NULL;
    json_object_object_get_ex(part, "image_url", &iu);
    const char *url =
        json_object_is_type(iu, json_type_string) ? json_object_get_string(iu) : orc_json_get_str(iu, "url");
    char mime[128];
    const char *data;
    json_object *src = json_object_new_object(), *b = block_new("image");
    if (orc_data_uri_split(url, mime, sizeof(mime), &data) == ORC_OK) {
        orc_json_add_str(src, "type", "base64");
        orc_json_add_str(src, "media_type", mime);
        orc_json_add_str(src, "data", data);
    } else if (url != NULL && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0)) {
        orc_json_add_str(src, "type", "url");
        orc_json_add_str(src, "url", url);
    } else {
        json_object_put(src);
        json_object_put(b);
        snprintf(err, errlen, "image_url must be a base64 data URI or an http(s) URL");
        return ORC_ERR;
    }
    json_object_object_add(b, "source", src);
    json_object_array_add(blocks, b);
    return ORC_OK;
}

static int user_blocks(json_object *content, json_object *blocks, char *err, size_t errlen)
{
    if (content == NULL)
        return ORC_OK;
    if (json_object_is_type(content, json_type_string)) {
        add_text(blocks, json_object_get_string(content));
        return ORC_OK;
    }
    if (!json_object_is_type(content, json_type_array)) {
        snprintf(err, errlen, "message content must be a string or an array of parts");
        return ORC_ERR;
    }
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *type = orc_json_get_str(part, "type");
        if (str_is(type, "text")) {
            add_text(blocks, orc_json_get_str(part, "text"));
        } else if (str_is(type, "image_url")) {
            if (add_image(blocks, part, err, errlen) != ORC_OK)
                return ORC_ERR;
        } else {
            snprintf(err, errlen, "content part type '%.32s' is not supported for anthropic",
                     type ? type : "");
            return ORC_ERR;
        }
    }
    return ORC_OK;
}

static int assistant_blocks(json_object *msg, json_object *blocks, char *err, size_t errlen)
{
    json_object *content = NULL, *calls = orc_json_get(msg, "tool_calls", json_type_array);
    json_object_object_get_ex(msg, "content", &content);
    char *text = orc_content_text(content);
    add_text(blocks, text);
    free(text);
    for (size_t i = 0; calls != NULL && i < json_object_array_length(calls); i++) {
        json_object *call = json_object_array_get_idx(calls, i), *input = NULL;
        json_object *fn = orc_json_get(call, "function", json_type_object);
        const char *id = orc_json_get_str(call, "id"), *name = orc_json_get_str(fn, "name");
        if (id == NULL || name == NULL ||
            orc_tool_args_parse(orc_json_get_str(fn, "arguments"), &input) != ORC_OK) {
            snprintf(err, errlen, "tool_calls[%zu] needs an id, a name and arguments holding a JSON object",
                     i);
            return ORC_ERR;
        }
        json_object *b = block_new("tool_use");
        orc_json_add_str(b, "id", id);
        orc_json_add_str(b, "name", name);
        json_object_object_add(b, "input", input);
        json_object_array_add(blocks, b);
    }
    return ORC_OK;
}

static int tool_result_block(json_object *msg, json_object *blocks, char *err, size_t errlen)
{
    const char *id = orc_json_get_str(msg, "tool_call_id");
    json_object *content = NULL;
    if (id == NULL) {
        snprintf(err, errlen, "a tool message needs a tool_call_id");
        return ORC_ERR;
    }
    json_object_object_get_ex(msg, "content", &content);
    char *text = orc_content_text(content);
    json_object *b = block_new("tool_result");
    orc_json_add_str(b, "tool_use_id", id);
    if (text != NULL && *text != '\0')
        orc_json_add_str(b, "content", text);
    free(text);
    json_object_array_add(blocks, b);
    return ORC_OK;
}

static int convert_message(json_object *msg, json_object *turns, char *err, size_t errlen)
{
    const char *role = orc_json_get_str(msg, "role");
    json_object *blocks = json_object_new_array(), *content = NULL;
    json_object_object_get_ex(msg, "content", &content);
    int rc = ORC_ERR;
    if (str_is(role, "system") || str_is(role, "developer"))
        rc = ORC_OK; /* collected into "system" */
    else if (str_is(role, "user"))
        rc = user_blocks(content, blocks, err, errlen);
    else if (str_is(role, "assistant"))
        rc = assistant_blocks(msg, blocks, err, errlen);
    else if (str_is(role, "tool"))
        rc = tool_result_block(msg, blocks, err, errlen);
    else
        snprintf(err, errlen, "message role '%.32s' is not supported for anthropic", role ? role : "");
    if (rc != ORC_OK) {
        json_object_put(blocks);
        return ORC_ERR;
    }
    orc_turn_append(turns, str_is(role, "assistant") ? "assistant" : "user", "content", blocks);
    return ORC_OK;
}

/* System and developer messages, in order, joined with "\n". */
static void add_system(json_object *messages, json_object *body)
{
    json_object *sys = NULL;
    for (size_t i = 0; i < json_object_array_length(messages); i++) {
        json_object *msg = json_object_array_get_idx(messages, i), *content = NULL;
        const char *role = orc_json_get_str(msg, "role");
        if (!str_is(role, "system") && !str_is(role, "developer"))
            continue;
        json_object_object_get_ex(msg, "content", &content);
        char *text = orc_content_text(content);
        if (text != NULL && *text != '\0') {
            const char *prev = sys ? json_object_get_string(sys) : NULL;
            char *joined = NULL;
            if (prev == NULL || asprintf(&joined, "%s\n%s", prev, text) < 0)
                joined = NULL;
            json_object_put(sys);
            sys = json_object_new_string(joined ? joined : text);
            free(joined);
        }
        free(text);
    }
    if (sys != NULL)
        json_object_object_add(body, "system", sys);
}

static int add_messages(json_object *request, json_object *body, char *err, size_t errlen)
{
    json_object *messages = orc_json_get(request, "messages", json_type_array);
    if (messages == NULL) {
        snprintf(err, errlen, "messages must be an array");
        return ORC_ERR;
    }
    add_system(messages, body);
    json_object *turns = json_object_new_array();
    json_object_object_add(body, "messages", turns);
    for (size_t i = 0; i < json_object_array_length(messages); i++) {
        if (convert_message(json_object_array_get_idx(messages, i), turns, err, errlen) != ORC_OK)
            return ORC_ERR;
    }
    return ORC_OK;
}

static bool is_number(json_object *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* max_tokens (required), sampling, stop, user; refuses n > 1 and T > 1. */
static int add_params(const orc_endpoint_t *ep, json_object *request, json_object *body, char *err,
                      size_t errlen)
{
    json_object *v = NULL, *t = NULL;
    if (orc_json_get_int(request, "n", 1) > 1) {
        snprintf(err, errlen, "n > 1 is not supported for anthropic");
        return ORC_ERR;
    }
    if (json_object_object_get_ex(request, "temperature", &t) && is_number(t) &&
        json_object_get_double(t) > 1) {
        snprintf(err, errlen, "temperature must be between 0 and 1 for anthropic");
        return ORC_ERR;
    }
    int64_t dflt = ep->default_max_tokens > 0 ? ep->default_max_tokens : DEFAULT_MAX_TOKENS;
    int64_t max =
        orc_json_get_int(request, "max_completion_tokens", orc_json_get_int(request, "max_tokens", dflt));
    json_object_object_add(body, "max_tokens", json_object_new_int64(max));
    orc_json_copy(body, "temperature", request, "temperature");
    orc_json_copy(body, "top_p", request, "top_p");
    if (json_object_object_get_ex(request, "stop", &v) && json_object_is_type(v, json_type_string)) {
        json_object *arr = json_object_new_array();
        json_object_array_add(arr, json_object_get(v));
        json_object_object_add(body, "stop_sequences", arr);
    } else if (json_object_is_type(v, json_type_array)) {
        json_object_object_add(body, "stop_sequences", json_object_get(v));
    }
    const char *user = orc_json_get_str(request, "user");
    if (user != NULL) {
        json_object *meta = json_object_new_object();
        orc_json_add_str(meta, "user_id", user);
        json_object_object_add(body, "metadata", meta);
    }
    return ORC_OK;
}

static int add_tools(json_object *tools, json_object *body, char *err, size_t errlen)
{
    json_object *out = json_object_new_array();
    json_object_object_add(body, "tools", out);
    for (size_t i = 0; i < json_object_array_length(tools); i++) {
        json_object *tool = json_object_array_get_idx(tools, i);
        json_object *fn = orc_json_get(tool, "function", json_type_object), *params = NULL;
        const char *name = orc_json_get_str(fn, "name");
        if (!str_is(orc_json_get_str(tool, "type"), "function") || name == NULL) {
            snprintf(err, errlen, "tools[%zu]: only function tools with a name are supported for anthropic",
                     i);
            return ORC_ERR;
        }
        json_object *t = json_object_new_object();
        orc_json_add_str(t, "name", name);
        orc_json_copy(t, "description", fn, "description");
        if (json_object_object_get_ex(fn, "parameters", &params) && params != NULL) {
            json_object_object_add(t, "input_schema", json_object_get(params));
        } else {
            json_object *schema = json_object_new_object();
            orc_json_add_str(schema, "type", "object");
            json_object_object_add(schema, "properties", json_object_new_object());
            json_object_object_add(t, "input_schema", schema);
        }
        json_object_array_add(out, t);
    }
    return ORC_OK;
}

/* tool_choice and parallel_tool_calls (§5); only sent along with tools. */
static int add_tool_choice(json_object *request, json_object *body, char *err, size_t errlen)
{
    json_object *tc = NULL, *choice = json_object_new_object(), *par = NULL;
    json_object_object_get_ex(request, "tool_choice", &tc);
    const char *s = json_object_is_type(tc, json_type_string) ? json_object_get_string(tc) : NULL;
    const char *name = orc_json_get_str(orc_json_get(tc, "function", json_type_object), "name");
    const char *type = tc == NULL || str_is(s, "auto") ? "auto"
                       : str_is(s, "none")             ? "none"
                       : str_is(s, "required")         ? "any"
                       : name != NULL                  ? "tool"
                                                       : NULL;
    if (type == NULL) {
        json_object_put(choice);
        snprintf(err, errlen, "tool_choice must be auto, none, required or a function");
        return ORC_ERR;
    }
    orc_json_add_str(choice, "type", type);
    if (str_is(type, "tool"))
        orc_json_add_str(choice, "name", name);
    bool serial = json_object_object_get_ex(request, "parallel_tool_calls", &par) &&
                  json_object_is_type(par, json_type_boolean) && !json_object_get_boolean(par);
    if (serial && !str_is(type, "none"))
        json_object_object_add(choice, "disable_parallel_tool_use", json_object_new_boolean(1));
    if (tc != NULL || serial)
        json_object_object_add(body, "tool_choice", choice);
    else
        json_object_put(choice);
    return ORC_OK;
}

static json_object *request_body(const orc_endpoint_t *ep, const char *model, json_object *request,
                                 bool stream, char *err, size_t errlen)
{
    json_object *body = json_object_new_object();
    json_object *tools = orc_json_get(request, "tools", json_type_array);
    orc_json_add_str(body, "model", model);
    int rc = add_params(ep, request, body, err, errlen);
    if (rc == ORC_OK)
        rc = add_messages(request, body, err, errlen);
    if (rc == ORC_OK && tools != NULL && json_object_array_length(tools) > 0) {
        rc = add_tools(tools, body, err, errlen);
        if (rc == ORC_OK)
            rc = add_tool_choice(request, body, err, errlen);
    }
    if (stream)
        json_object_object_add(body, "stream", json_object_new_boolean(1));
    if (rc != ORC_OK) {
        json_object_put(body);
        return NULL;
    }
    return body;
}

static int build_request(const orc_endpoint_t *ep, const char *model, json_object *request, bool stream,
                         orc_http_out_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!json_object_is_type(request, json_type_object)) {
        snprintf(err, errlen, "the request must be a JSON object");
        return ORC_ERR;
    }
    json_object *body = request_body(ep, model, request, stream, err, errlen);
    if (body == NULL)
        return ORC_ERR;
    const char *version = ep->anthropic_version ? ep->anthropic_version : DEFAULT_VERSION;
    int rc = orc_http_out_url(out, ep->base_url, "/v1/messages", NULL);
    if (rc == ORC_OK)
        rc = orc_http_out_header(out, "x-api-key: %s", ep->api_key ? ep->api_key : "");
    if (rc == ORC_OK)
        rc = orc_http_out_header(out, "anthropic-version: %s", version);
    if (rc == ORC_OK)
        rc = orc_http_out_header(out, "content-type: application/json");
    if (rc == ORC_OK)
        rc = orc_http_out_body(out, body);
    json_object_put(body);
    if (rc != ORC_OK) {
        orc_http_out_free(out);
        snprintf(err, errlen, "out of memory");
    }
    return rc;
}

/* --- response ------------------------------------------------------------ */

/* §6.1; a reason this table does not know ends the turn normally. */
static const char *finish_map(const char *stop_reason)
{
    if (str_is(stop_reason, "max_tokens") || str_is(stop_reason, "model_context_window_exceeded"))
        return "length";
    if (str_is(stop_reason, "tool_use"))
        return "tool_calls";
    if (str_is(stop_reason, "refusal"))
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

/* Merges the fields present in UO into U (message_delta may repeat any). */
static void usage_read(json_object *uo, orc_usage_t *u)
{
    if (uo == NULL)
        return;
    int64_t input = u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
    input = orc_json_get_int(uo, "input_tokens", input);
    u->cache_write_tokens = orc_json_get_int(uo, "cache_creation_input_tokens", u->cache_write_tokens);
    u->cached_tokens = orc_json_get_int(uo, "cache_read_input_tokens", u->cached_tokens);
    u->completion_tokens = orc_json_get_int(uo, "output_tokens", u->completion_tokens);
    u->prompt_tokens = input + u->cache_write_tokens + u->cached_tokens;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->known = true;
}

static json_object *message_from(json_object *content)
{
    json_object *msg = json_object_new_object(), *calls = json_object_new_array(), *text = NULL;
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *b = json_object_array_get_idx(content, i), *input = NULL;
        const char *type = orc_json_get_str(b, "type"), *t = orc_json_get_str(b, "text");
        if (str_is(type, "text") && t != NULL) {
            const char *prev = text ? json_object_get_string(text) : "";
            char *joined = NULL;
            if (asprintf(&joined, "%s%s", prev, t) >= 0) {
                json_object_put(text);
                text = json_object_new_string(joined);
                free(joined);
            }
        } else if (str_is(type, "tool_use")) {
            json_object_object_get_ex(b, "input", &input);
            const char *args = input ? json_object_to_json_string_ext(
                                           input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                     : "{}";
            json_object_array_add(
                calls, orc_tool_call_new(-1, orc_json_get_str(b, "id"), orc_json_get_str(b, "name"), args));
        } /* thinking and server-side blocks have no OpenAI counterpart */
    }
    orc_json_add_str(msg, "role", "assistant");
    if (text == NULL && json_object_array_length(calls) == 0)
        text = json_object_new_string("");
    json_object_object_add(msg, "content", text);
    json_object_object_add(msg, "refusal", NULL);
    if (json_object_array_length(calls) > 0)
        json_object_object_add(msg, "tool_calls", json_object_get(calls));
    json_object_put(calls);
    return msg;
}

static json_object *parse_response(const char *body, size_t len, const char *model, orc_usage_t *usage,
                                   orc_failure_t *fail)
{
    json_object *o = orc_json_parse_len(body, len), *content = orc_json_get(o, "content", json_type_array);
    memset(usage, 0, sizeof(*usage));
    orc_fail_set(fail, ORC_FAIL_NONE, 0, NULL, NULL, NULL);
    if (content == NULL) {
        json_object_put(o);
        orc_fail_set(fail, ORC_FAIL_SERVER, 0, "malformed upstream response", "server_error", NULL);
        return NULL;
    }
    const char *id = orc_json_get_str(o, "id"), *m = orc_json_get_str(o, "model");
    json_object *resp = orc_completion_new(id ? id : "", m ? m : (model ? model : "")), *choice;
    choice = json_object_new_object();
    json_object_object_add(choice, "index", json_object_new_int(0));
    json_object_object_add(choice, "message", message_from(content));
    json_object_object_add(choice, "logprobs", NULL);
    orc_json_add_str(choice, "finish_reason", finish_map(orc_json_get_str(o, "stop_reason")));
    json_object_array_add(orc_json_get(resp, "choices", json_type_array), choice);
    usage_read(orc_json_get(o, "usage", json_type_object), usage);
    orc_usage_to_json(usage, resp);
    json_object_put(o);
    return resp;
}

/* --- stream (§6.3) --------------------------------------------------------- */

static void emit_content(orc_stream_t *st, const char *text, orc_chunk_fn emit, void *arg)
{
    json_object *delta = json_object_new_object();
    orc_json_add_str(delta, "content", text);
    orc_stream_emit_delta(st, delta, NULL, emit, arg);
}

static void emit_tool(orc_stream_t *st, json_object *call, orc_chunk_fn emit, void *arg)
{
    json_object *delta = json_object_new_object(), *calls = json_object_new_array();
    json_object_array_add(calls, call);
    json_object_object_add(delta, "tool_calls", calls);
    orc_stream_emit_delta(st, delta, NULL, emit, arg);
}

static void on_message_start(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    json_object *msg = orc_json_get(o, "message", json_type_object);
    const char *id = orc_json_get_str(msg, "id"), *model = orc_json_get_str(msg, "model");
    if (id != NULL)
        snprintf(st->id, sizeof(st->id), "%s", id);
    if (model != NULL)
        snprintf(st->model, sizeof(st->model), "%s", model);
    usage_read(orc_json_get(msg, "usage", json_type_object), &st->usage);
    emit_content(st, "", emit, arg);
}

/* Block index -> slot in st->block_tool, or -1 (with a failure emitted). */
static int block_slot(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    int64_t i = orc_json_get_int(o, "index", -1);
    if (i < 0 || i >= (int64_t)ORC_ARRAY_LEN(st->block_tool)) {
        orc_stream_fail(st, ORC_FAIL_SERVER, "upstream content block index out of range", NULL, NULL, emit,
                        arg);
        return -1;
    }
    return (int)i;
}

static void on_block_start(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    int slot = block_slot(st, o, emit, arg);
    json_object *cb = orc_json_get(o, "content_block", json_type_object);
    if (slot < 0)
        return;
    st->block_tool[slot] = -1;
    if (!str_is(orc_json_get_str(cb, "type"), "tool_use"))
        return; /* text: its deltas carry the text; thinking: dropped */
    int k = st->next_tool_index++;
    st->block_tool[slot] = k;
    emit_tool(st, orc_tool_call_new(k, orc_json_get_str(cb, "id"), orc_json_get_str(cb, "name"), ""), emit,
              arg);
}

static void on_block_delta(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    int slot = block_slot(st, o, emit, arg);
    json_object *d = orc_json_get(o, "delta", json_type_object);
    const char *type = orc_json_get_str(d, "type");
    if (slot < 0)
        return;
    if (str_is(type, "text_delta")) {
        const char *text = orc_json_get_str(d, "text");
        if (text != NULL && *text != '\0')
            emit_content(st, text, emit, arg);
    } else if (str_is(type, "input_json_delta") && st->block_tool[slot] >= 0) {
        const char *part = orc_json_get_str(d, "partial_json");
        if (part != NULL && *part != '\0')
            emit_tool(st, orc_tool_call_new(st->block_tool[slot], NULL, NULL, part), emit, arg);
    } /* thinking_delta, signature_delta, citations_delta: dropped */
}

static void on_message_delta(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    const char *reason = orc_json_get_str(orc_json_get(o, "delta", json_type_object), "stop_reason");
    usage_read(orc_json_get(o, "usage", json_type_object), &st->usage);
    if (reason != NULL)
        orc_stream_emit_delta(st, json_object_new_object(), finish_map(reason), emit, arg);
}

static void on_error(orc_stream_t *st, json_object *o, orc_chunk_fn emit, void *arg)
{
    json_object *e = orc_json_get(o, "error", json_type_object);
    const char *type = orc_json_get_str(e, "type"), *msg = orc_json_get_str(e, "message");
    orc_stream_fail(st, orc_fail_class_for_type(type), msg ? msg : "upstream stream error", type, NULL, emit,
                    arg);
}

static void stream_event(orc_stream_t *st, const char *event, const char *data, size_t len, orc_chunk_fn emit,
                         void *arg)
{
    if (st->failed || st->done)
        return;
    json_object *o = orc_json_parse_len(data, len);
    const char *type = orc_json_get_str(o, "type");
    type = type ? type : event;
    if (!json_object_is_type(o, json_type_object) || type == NULL)
        orc_stream_fail(st, ORC_FAIL_SERVER, "malformed event in the upstream stream", NULL, NULL, emit, arg);
    else if (str_is(type, "error") || str_is(event, "error"))
        on_error(st, o, emit, arg);
    else if (str_is(type, "message_start"))
        on_message_start(st, o, emit, arg);
    else if (str_is(type, "content_block_start"))
        on_block_start(st, o, emit, arg);
    else if (str_is(type, "content_block_delta"))
        on_block_delta(st, o, emit, arg);
    else if (str_is(type, "message_delta"))
        on_message_delta(st, o, emit, arg);
    else if (str_is(type, "message_stop")) {
        st->done = true;
        orc_stream_emit_usage(st, emit, arg);
    } /* ping, content_block_stop and unknown events: nothing to say */
    json_object_put(o);
}

static int stream_end(orc_stream_t *st, orc_chunk_fn emit, void *arg)
{
    if (st->failed)
        return ORC_ERR;
    if (st->done)
        return ORC_OK;
    orc_stream_fail(st, ORC_FAIL_SERVER, "upstream stream ended before message_stop", NULL, NULL, emit, arg);
    return ORC_ERR;
}

/* --- errors (§2.5) ----------------------------------------------------- */

static void classify(int status, const char *body, size_t len, int64_t retry_after_ms, orc_failure_t *fail)
{
    json_object *o = body ? orc_json_parse_len(body, len) : NULL;
    json_object *e = orc_json_get(o, "error", json_type_object);
    const char *msg = orc_json_get_str(e, "message"), *type = orc_json_get_str(e, "type");
    const char *code = orc_json_get_str(orc_json_get(e, "details", json_type_object), "error_code");
    char fallback[64];
    orc_fail_class_t cls = orc_fail_class_for_status(status);
    if (status == 429 && str_is(code, "enforced_spend_limit_reached"))
        cls = ORC_FAIL_CLIENT; /* a spend cap the user set: waiting does not help */
    snprintf(fallback, sizeof(fallback), "upstream answered HTTP %d", status);
    orc_fail_set(fail, cls, status, msg ? msg : fallback, type, code);
    fail->retry_after_ms = retry_after_ms;
    json_object_put(o);
}

const orc_adapter_t orc_adapter_anthropic = {
    ORC_PROVIDER_ANTHROPIC, "anthropic", build_request, parse_response, stream_event, stream_end, classify,
};
