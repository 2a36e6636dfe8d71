/*
 * gemini.c - adapter for the Gemini Developer API, v1beta REST
 * (docs/providers.md §3, mapping tables §5, §6.1, §6.2, §6.4, §6.7).
 *
 * Requests: system/developer text goes to systemInstruction, roles are
 * user/model, consecutive turns of one role are merged (the function
 * responses of parallel calls must share one user turn).  A tool message
 * carries no function name, so it is looked up from the earlier assistant
 * tool_calls by tool_call_id.  Gemini 3 needs the thoughtSignature of a
 * functionCall back in the next turn; OpenAI clients keep only the call
 * id, so the signature travels inside it: "call_<hex>__thought__<sig>".
 * Image parts must be data URIs (an adapter does no I/O to fetch URLs).
 * n > 1 maps to candidateCount, but not with stream (one choice only).
 *
 * Stream: every event is a whole response holding only new parts; the
 * finish reason is remembered and its chunk, then the usage chunk, are
 * emitted by stream_end: the end of the body is the only end marker, and
 * a body that ends before any finishReason was cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/llm/providers/provider.h"

#define THOUGHT_SEP "__thought__"
#define STOP_SEQUENCES_MAX 5

static bool str_is(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

static json_object *part_text(const char *text)
{
    json_object *p = json_object_new_object();
    orc_json_add_str(p, "text", text);
    return p;
}

/* --- request ------------------------------------------------------------- */

static int user_parts(json_object *content, json_object *parts, char *err, size_t errlen)
{
    if (json_object_is_type(content, json_type_string) && json_object_get_string_len(content) > 0)
        json_object_array_add(parts, part_text(json_object_get_string(content)));
    for (size_t i = 0; json_object_is_type(content, json_type_array) && i < json_object_array_length(content);
         i++) {
        json_object *part = json_object_array_get_idx(content, i), *iu = NULL;
        const char *type = orc_json_get_str(part, "type"), *text = orc_json_get_str(part, "text"), *data;
        char mime[128];
        if (str_is(type, "text")) {
            if (text != NULL && *text != '\0')
                json_object_array_add(parts, part_text(text));
            continue;
        }
        json_object_object_get_ex(part, "image_url", &iu);
        const char *url = json_object_is_type(iu, json_type_string) ? json_object_get_string(iu)
                                                                    : orc_json_get_str(iu, "url");
        if (!str_is(type, "image_url") || orc_data_uri_split(url, mime, sizeof(mime), &data) != ORC_OK) {
            snprintf(err, errlen, "gemini takes text parts and images as base64 data URIs only");
            return ORC_ERR;
        }
        json_object *p = json_object_new_object(), *inl = json_object_new_object();
        orc_json_add_str(inl, "mimeType", mime);
        orc_json_add_str(inl, "data", data);
        json_object_object_add(p, "inlineData", inl);
        json_object_array_add(parts, p);
    }
    return ORC_OK;
}

/* {"functionCall":{name,args}} plus the signature carried in the call id. */
static json_object *function_call_part(const char *id, const char *name, json_object *args)
{
    json_object *p = json_object_new_object(), *fc = json_object_new_object();
    orc_json_add_str(fc, "name", name);
    json_object_object_add(fc, "args", args);
    json_object_object_add(p, "functionCall", fc);
    const char *sig = id ? strstr(id, THOUGHT_SEP) : NULL;
    if (sig != NULL && sig[strlen(THOUGHT_SEP)] != '\0')
        orc_json_add_str(p, "thoughtSignature", sig + strlen(THOUGHT_SEP));
    return p;
}

static int model_parts(json_object *msg, json_object *parts, char *err, size_t errlen)
{
    json_object *content = NULL, *calls = orc_json_get(msg, "tool_calls", json_type_array);
    json_object_object_get_ex(msg, "content", &content);
    char *text = orc_content_text(content);
    if (text != NULL && *text != '\0')
        json_object_array_add(parts, part_text(text));
    free(text);
    for (size_t i = 0; calls != NULL && i < json_object_array_length(calls); i++) {
        json_object *call = json_object_array_get_idx(calls, i), *args = NULL;
        json_object *fn = orc_json_get(call, "function", json_type_object);
        const char *name = orc_json_get_str(fn, "name");
        if (name == NULL || orc_tool_args_parse(orc_json_get_str(fn, "arguments"), &args) != ORC_OK) {
            snprintf(err, errlen, "tool_calls[%zu] needs a name and arguments holding a JSON object", i);
            return ORC_ERR;
        }
        json_object_array_add(parts, function_call_part(orc_json_get_str(call, "id"), name, args));
    }
    return ORC_OK;
}

/* The function name of call ID among the assistant messages before BEFORE. */
static const char *tool_name(json_object *messages, size_t before, const char *id)
{
    for (size_t i = before; i-- > 0;) {
        json_object *calls =
            orc_json_get(json_object_array_get_idx(messages, i), "tool_calls", json_type_array);
        for (size_t j = 0; calls != NULL && j < json_object_array_length(calls); j++) {
            json_object *call = json_object_array_get_idx(calls, j);
            if (str_is(orc_json_get_str(call, "id"), id))
                return orc_json_get_str(orc_json_get(call, "function", json_type_object), "name");
        }
    }
    return NULL;
}

static int function_response_part(json_object *messages, size_t i, json_object *parts, char *err,
                                  size_t errlen)
{
    json_object *msg = json_object_array_get_idx(messages, i), *content = NULL;
    const char *id = orc_json_get_str(msg, "tool_call_id"), *name = id ? tool_name(messages, i, id) : NULL;
    if (name == NULL) {
        snprintf(err, errlen, "messages[%zu]: tool_call_id matches no earlier assistant tool call", i);
        return ORC_ERR;
    }
    json_object_object_get_ex(msg, "content", &content);
    char *text = orc_content_text(content);
    json_object *result = text ? orc_json_parse_len(text, strlen(text)) : NULL;
    if (result == NULL)
        result = json_object_new_string(text ? text : "");
    free(text);
    json_object *p = json_object_new_object(), *fr = json_object_new_object(),
                *resp = json_object_new_object();
    json_object_object_add(resp, "result", result);
    orc_json_add_str(fr, "name", name);
    json_object_object_add(fr, "response", resp);
    json_object_object_add(p, "functionResponse", fr);
    json_object_array_add(parts, p);
    return ORC_OK;
}

static int convert_message(json_object *messages, size_t i, json_object *contents, json_object *sys,
                           char *err, size_t errlen)
{
    json_object *msg = json_object_array_get_idx(messages, i), *content = NULL;
    json_object *parts = json_object_new_array();
    const char *role = orc_json_get_str(msg, "role");
    json_object_object_get_ex(msg, "content", &content);
    int rc = ORC_ERR;
    if (str_is(role, "system") || str_is(role, "developer"))
        rc = user_parts(content, sys, err, errlen); /* text parts only in practice */
    else if (str_is(role, "user"))
        rc = user_parts(content, parts, err, errlen);
    else if (str_is(role, "assistant"))
        rc = model_parts(msg, parts, err, errlen);
    else if (str_is(role, "tool"))
        rc = function_response_part(messages, i, parts, err, errlen);
    else
        snprintf(err, errlen, "message role '%.32s' is not supported for gemini", role ? role : "");
    if (rc != ORC_OK) {
        json_object_put(parts);
        return ORC_ERR;
    }
    orc_turn_append(contents, str_is(role, "assistant") ? "model" : "user", "parts", parts);
    return ORC_OK;
}

static int add_contents(json_object *request, json_object *body, char *err, size_t errlen)
{
    json_object *messages = orc_json_get(request, "messages", json_type_array);
    if (messages == NULL) {
        snprintf(err, errlen, "messages must be an array");
        return ORC_ERR;
    }
    json_object *contents = json_object_new_array(), *sys = json_object_new_array();
    json_object_object_add(body, "contents", contents);
    for (size_t i = 0; i < json_object_array_length(messages); i++) {
        if (convert_message(messages, i, contents, sys, err, errlen) != ORC_OK) {
            json_object_put(sys);
            return ORC_ERR;
        }
    }
    if (json_object_array_length(sys) > 0) {
        json_object *si = json_object_new_object();
        json_object_object_add(si, "parts", sys);
        json_object_object_add(body, "systemInstruction", si);
    } else {
        json_object_put(sys);
    }
    return ORC_OK;
}

static int add_stop(json_object *request, json_object *gc, char *err, size_t errlen)
{
    json_object *v = NULL;
    json_object_object_get_ex(request, "stop", &v);
    if (json_object_is_type(v, json_type_string)) {
        json_object *arr = json_object_new_array();
        json_object_array_add(arr, json_object_get(v));
        json_object_object_add(gc, "stopSequences", arr);
    } else if (json_object_is_type(v, json_type_array)) {
        if (json_object_array_length(v) > STOP_SEQUENCES_MAX) {
            snprintf(err, errlen, "gemini accepts at most %d stop sequences", STOP_SEQUENCES_MAX);
            return ORC_ERR;
        }
        json_object_object_add(gc, "stopSequences", json_object_get(v));
    }
    return ORC_OK;
}

static void add_response_format(json_object *request, json_object *gc)
{
    json_object *rf = orc_json_get(request, "response_format", json_type_object);
    const char *type = orc_json_get_str(rf, "type");
    json_object *schema =
        orc_json_get(orc_json_get(rf, "json_schema", json_type_object), "schema", json_type_object);
    if (str_is(type, "json_object") || str_is(type, "json_schema"))
        orc_json_add_str(gc, "responseMimeType", "application/json");
    if (str_is(type, "json_schema") && schema != NULL)
        json_object_object_add(gc, "responseJsonSchema", json_object_get(schema));
}

static int add_generation_config(json_object *request, bool stream, json_object *body, char *err,
                                 size_t errlen)
{
    json_object *gc = json_object_new_object(), *v = NULL;
    int64_t max =
        orc_json_get_int(request, "max_completion_tokens", orc_json_get_int(request, "max_tokens", -1));
    json_object_object_add(body, "generationConfig", gc);
    if (stream && orc_json_get_int(request, "n", 1) > 1) {
        snprintf(err, errlen, "n > 1 is not supported with stream for gemini");
        return ORC_ERR;
    }
    orc_json_copy(gc, "temperature", request, "temperature");
    orc_json_copy(gc, "topP", request, "top_p");
    if (max >= 0)
        orc_json_add_int(gc, "maxOutputTokens", max);
    if (add_stop(request, gc, err, errlen) != ORC_OK)
        return ORC_ERR;
    if (json_object_object_get_ex(request, "n", &v) && json_object_is_type(v, json_type_int))
        json_object_object_add(gc, "candidateCount", json_object_get(v));
    orc_json_copy(gc, "presencePenalty", request, "presence_penalty");
    orc_json_copy(gc, "frequencyPenalty", request, "frequency_penalty");
    orc_json_copy(gc, "seed", request, "seed");
    add_response_format(request, gc);
    if (json_object_object_length(gc) == 0)
        json_object_object_del(body, "generationConfig");
    return ORC_OK;
}

/* Gemini's OpenAPI-subset schemas reject these JSON-Schema keywords. */
static void schema_clean(json_object *s)
{
    static const char *const nested[] = {"items", "anyOf", "oneOf", "allOf"};
    if (json_object_is_type(s, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(s); i++)
            schema_clean(json_object_array_get_idx(s, i));
        return;
    }
    if (!json_object_is_type(s, json_type_object))
        return;
    json_object_object_del(s, "$schema");
    json_object_object_del(s, "additionalProperties");
    json_object *props = orc_json_get(s, "properties", json_type_object), *v = NULL;
    if (props != NULL) {
        json_object_object_foreach(props, key, val)
        {
            (void)key;
            schema_clean(val);
        }
    }
    for (size_t i = 0; i < ORC_ARRAY_LEN(nested); i++) {
        if (json_object_object_get_ex(s, nested[i], &v))
            schema_clean(v);
    }
}

static int add_tools(json_object *tools, json_object *body, char *err, size_t errlen)
{
    json_object *decls = json_object_new_array(), *wrap = json_object_new_object(),
                *list = json_object_new_array();
    json_object_object_add(wrap, "functionDeclarations", decls);
    json_object_array_add(list, wrap);
    json_object_object_add(body, "tools", list);
    for (size_t i = 0; i < json_object_array_length(tools); i++) {
        json_object *tool = json_object_array_get_idx(tools, i);
        json_object *fn = orc_json_get(tool, "function", json_type_object), *params = NULL;
        const char *name = orc_json_get_str(fn, "name");
        if (!str_is(orc_json_get_str(tool, "type"), "function") || name == NULL) {
            snprintf(err, errlen, "tools[%zu]: only function tools with a name are supported for gemini", i);
            return ORC_ERR;
        }
        json_object *d = json_object_new_object();
        orc_json_add_str(d, "name", name);
        orc_json_copy(d, "description", fn, "description");
        if (json_object_object_get_ex(fn, "parameters", &params) && params != NULL) {
            json_object *copy = NULL;
            if (json_object_deep_copy(params, &copy, NULL) == 0) {
                schema_clean(copy);
                json_object_object_add(d, "parameters", copy);
            }
        }
        json_object_array_add(decls, d);
    }
    return ORC_OK;
}

static int add_tool_config(json_object *request, json_object *body, char *err, size_t errlen)
{
    json_object *tc = NULL;
    if (!json_object_object_get_ex(request, "tool_choice", &tc) || tc == NULL)
        return ORC_OK;
    const char *s = json_object_is_type(tc, json_type_string) ? json_object_get_string(tc) : NULL;
    const char *name = orc_json_get_str(orc_json_get(tc, "function", json_type_object), "name");
    const char *mode = str_is(s, "auto")       ? "AUTO"
                       : str_is(s, "none")     ? "NONE"
                       : str_is(s, "required") ? "ANY"
                       : name != NULL          ? "ANY"
                                               : NULL;
    if (mode == NULL) {
        snprintf(err, errlen, "tool_choice must be auto, none, required or a function");
        return ORC_ERR;
    }
    json_object *cfg = json_object_new_object(), *fcc = json_object_new_object();
    orc_json_add_str(fcc, "mode", mode);
    if (s == NULL) {
        json_object *names = json_object_new_array();
        json_object_array_add(names, json_object_new_string(name));
        json_object_object_add(fcc, "allowedFunctionNames", names);
    }
    json_object_object_add(cfg, "functionCallingConfig", fcc);
    json_object_object_add(body, "toolConfig", cfg);
    return ORC_OK;
}

static json_object *request_body(json_object *request, bool stream, char *err, size_t errlen)
{
    json_object *body = json_object_new_object();
    json_object *tools = orc_json_get(request, "tools", json_type_array);
    int rc = add_contents(request, body, err, errlen);
    if (rc == ORC_OK)
        rc = add_generation_config(request, stream, body, err, errlen);
    if (rc == ORC_OK && tools != NULL && json_object_array_length(tools) > 0) {
        rc = add_tools(tools, body, err, errlen);
        if (rc == ORC_OK)
            rc = add_tool_config(request, body, err, errlen);
    }
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
    json_object *body = request_body(request, stream, err, errlen);
    if (body == NULL)
        return ORC_ERR;
    const char *suffix = stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    char path[ORC_MODEL_ID_MAX + 32];
    snprintf(path, sizeof(path), "/v1beta/models/%s", model);
    int rc = orc_http_out_url(out, ep->base_url, path, suffix);
    if (rc == ORC_OK)
        rc = orc_http_out_header(out, "x-goog-api-key: %s", ep->api_key ? ep->api_key : "");
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

/* --- response ------------------------------------------------------------ */

/* §6.1.  RECITATION counts as a filter: the text was cut for quoting. */
static const char *finish_map(const char *reason, bool has_calls)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    if (str_is(reason, "MAX_TOKENS"))
        return "length";
    for (size_t i = 0; reason != NULL && i < ORC_ARRAY_LEN(filtered); i++) {
        if (strcmp(reason, filtered[i]) == 0)
            return "content_filter";
    }
    if (has_calls && (reason == NULL || str_is(reason, "STOP")))
        return "tool_calls";
    return "stop"; /* STOP, OTHER, MALFORMED_FUNCTION_CALL, ..., unknown */
}

static void usage_read(json_object *um, orc_usage_t *u)
{
    if (um == NULL)
        return;
    int64_t thoughts = orc_json_get_int(um, "thoughtsTokenCount", 0);
    u->prompt_tokens =
        orc_json_get_int(um, "promptTokenCount", 0) + orc_json_get_int(um, "toolUsePromptTokenCount", 0);
    u->completion_tokens = orc_json_get_int(um, "candidatesTokenCount", 0) + thoughts;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->cached_tokens = orc_json_get_int(um, "cachedContentTokenCount", 0);
    u->reasoning_tokens = thoughts;
    u->cache_write_tokens = 0;
    u->known = true;
}

static void random_hex(char *buf, size_t nchars)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t r = 0;
    for (size_t i = 0; i < nchars; i++) {
        if (i % 16 == 0)
            r = orc_random_u64();
        buf[i] = hex[r & 15];
        r >>= 4;
    }
    buf[nchars] = '\0';
}

/* The canonical call for a functionCall part: Gemini's id if it sent one,
 * else call_<24 hex>, with the part's thoughtSignature appended. */
static json_object *tool_call_from(json_object *part, int index)
{
    json_object *fc = orc_json_get(part, "functionCall", json_type_object), *args = NULL;
    const char *given = orc_json_get_str(fc, "id"), *sig = orc_json_get_str(part, "thoughtSignature");
    char hex[25], *id = NULL;
    random_hex(hex, 24);
    if (asprintf(&id, "%s%s%s%s", given ? given : "call_", given ? "" : hex, sig ? THOUGHT_SEP : "",
                 sig ? sig : "") < 0)
        id = NULL;
    json_object_object_get_ex(fc, "args", &args);
    const char *json =
        args ? json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
             : "{}";
    json_object *call = orc_tool_call_new(index, id ? id : "call_", orc_json_get_str(fc, "name"), json);
    free(id);
    return call;
}

static json_object *choice_from(json_object *cand, size_t pos)
{
    json_object *parts =
        orc_json_get(orc_json_get(cand, "content", json_type_object), "parts", json_type_array);
    json_object *msg = json_object_new_object(), *calls = json_object_new_array(), *choice;
    char *text = NULL;
    for (size_t i = 0; parts != NULL && i < json_object_array_length(parts); i++) {
        json_object *p = json_object_array_get_idx(parts, i), *thought = NULL;
        const char *t = orc_json_get_str(p, "text");
        bool is_thought =
            json_object_object_get_ex(p, "thought", &thought) && json_object_get_boolean(thought);
        char *joined = NULL;
        if (orc_json_get(p, "functionCall", json_type_object) != NULL)
            json_object_array_add(calls, tool_call_from(p, -1));
        else if (t != NULL && !is_thought && asprintf(&joined, "%s%s", text ? text : "", t) >= 0) {
            free(text);
            text = joined;
        }
    }
    size_t ncalls = json_object_array_length(calls);
    orc_json_add_str(msg, "role", "assistant");
    json_object_object_add(msg, "content", text || !ncalls ? json_object_new_string(text ? text : "") : NULL);
    json_object_object_add(msg, "refusal", NULL);
    if (ncalls > 0)
        json_object_object_add(msg, "tool_calls", json_object_get(calls));
    json_object_put(calls);
    free(text);
    choice = json_object_new_object();
    orc_json_add_int(choice, "index", orc_json_get_int(cand, "index", (int64_t)pos));
    json_object_object_add(choice, "message", msg);
    json_object_object_add(choice, "logprobs", NULL);
    orc_json_add_str(choice, "finish_reason", finish_map(orc_json_get_str(cand, "finishReason"), ncalls > 0));
    return choice;
}

/* A prompt blocked before any candidate: one empty, filtered choice. */
static json_object *blocked_choice(void)
{
    json_object *msg = json_object_new_object(), *choice = json_object_new_object();
    orc_json_add_str(msg, "role", "assistant");
    orc_json_add_str(msg, "content", "");
    json_object_object_add(msg, "refusal", NULL);
    orc_json_add_int(choice, "index", 0);
    json_object_object_add(choice, "message", msg);
    json_object_object_add(choice, "logprobs", NULL);
    orc_json_add_str(choice, "finish_reason", "content_filter");
    return choice;
}

static void make_id(json_object *o, char *buf, size_t size)
{
    const char *rid = orc_json_get_str(o, "responseId");
    char hex[25];
    if (rid == NULL)
        random_hex(hex, 24);
    snprintf(buf, size, "chatcmpl-%s", rid ? rid : hex);
}

static json_object *parse_response(const char *body, size_t len, const char *model, orc_usage_t *usage,
                                   orc_failure_t *fail)
{
    json_object *o = orc_json_parse_len(body, len), *cands = orc_json_get(o, "candidates", json_type_array);
    const char *block = orc_json_get_str(orc_json_get(o, "promptFeedback", json_type_object), "blockReason");
    memset(usage, 0, sizeof(*usage));
    orc_fail_set(fail, ORC_FAIL_NONE, 0, NULL, NULL, NULL);
    if ((cands == NULL || json_object_array_length(cands) == 0) && block == NULL) {
        json_object_put(o);
        orc_fail_set(fail, ORC_FAIL_SERVER, 0, "malformed upstream response", "server_error", NULL);
        return NULL;
    }
    char id[96];
    const char *mv = orc_json_get_str(o, "modelVersion");
    make_id(o, id, sizeof(id));
    json_object *resp = orc_completion_new(id, mv ? mv : (model ? model : ""));
    json_object *choices = orc_json_get(resp, "choices", json_type_array);
    for (size_t i = 0; cands != NULL && i < json_object_array_length(cands); i++)
        json_object_array_add(choices, choice_from(json_object_array_get_idx(cands, i), i));
    if (json_object_array_length(choices) == 0)
        json_object_array_add(choices, blocked_choice());
    usage_read(orc_json_get(o, "usageMetadata", json_type_object), usage);
    orc_usage_to_json(usage, resp);
    json_object_put(o);
    return resp;
}

/* --- stream (§6.4) --------------------------------------------------------- */

static void emit_part(orc_stream_t *st, json_object *p, orc_chunk_fn emit, void *arg)
{
    json_object *thought = NULL, *delta;
    const char *t = orc_json_get_str(p, "text");
    if (orc_json_get(p, "functionCall", json_type_object) != NULL) {
        json_object *calls = json_object_new_array();
        json_object_array_add(calls, tool_call_from(p, st->next_tool_index++));
        delta = json_object_new_object();
        json_object_object_add(delta, "tool_calls", calls);
        orc_stream_emit_delta(st, delta, NULL, emit, arg);
    } else if (t != NULL && *t != '\0' &&
               !(json_object_object_get_ex(p, "thought", &thought) && json_object_get_boolean(thought))) {
        delta = json_object_new_object();
        orc_json_add_str(delta, "content", t);
        orc_stream_emit_delta(st, delta, NULL, emit, arg);
    }
}

static void on_error(orc_stream_t *st, json_object *e, orc_chunk_fn emit, void *arg)
{
    const char *status = orc_json_get_str(e, "status"), *msg = orc_json_get_str(e, "message");
    orc_stream_fail(st, orc_fail_class_for_type(status), msg ? msg : "upstream stream error", status, status,
                    emit, arg);
}

static void stream_event(orc_stream_t *st, const char *event, const char *data, size_t len, orc_chunk_fn emit,
                         void *arg)
{
    (void)event;
    if (st->failed || st->done)
        return;
    json_object *o = orc_json_parse_len(data, len), *e = NULL, *cand = NULL;
    json_object *cands = orc_json_get(o, "candidates", json_type_array);
    if (cands != NULL && json_object_array_length(cands) > 0)
        cand = json_object_array_get_idx(cands, 0);
    const char *block = orc_json_get_str(orc_json_get(o, "promptFeedback", json_type_object), "blockReason");
    const char *mv = orc_json_get_str(o, "modelVersion"), *reason = orc_json_get_str(cand, "finishReason");
    json_object *parts =
        orc_json_get(orc_json_get(cand, "content", json_type_object), "parts", json_type_array);
    if (!json_object_is_type(o, json_type_object)) {
        orc_stream_fail(st, ORC_FAIL_SERVER, "malformed event in the upstream stream", NULL, NULL, emit, arg);
    } else if (json_object_object_get_ex(o, "error", &e) && e != NULL) {
        on_error(st, e, emit, arg);
    } else {
        if (st->id[0] == '\0')
            make_id(o, st->id, sizeof(st->id));
        if (mv != NULL)
            snprintf(st->model, sizeof(st->model), "%s", mv);
        usage_read(orc_json_get(o, "usageMetadata", json_type_object), &st->usage);
        for (size_t i = 0; parts != NULL && i < json_object_array_length(parts); i++)
            emit_part(st, json_object_array_get_idx(parts, i), emit, arg);
        if (reason != NULL || (cand == NULL && block != NULL)) {
            const char *f = reason ? finish_map(reason, st->next_tool_index > 0) : "content_filter";
            snprintf(st->finish_reason, sizeof(st->finish_reason), "%s", f);
        }
    }
    json_object_put(o);
}

/* EOF is Gemini's only end marker: owed now are the finish chunk and the
 * usage chunk; without a finishReason the stream was cut. */
static int stream_end(orc_stream_t *st, orc_chunk_fn emit, void *arg)
{
    char finish[sizeof(st->finish_reason)];
    if (st->failed)
        return ORC_ERR;
    if (st->done)
        return ORC_OK;
    if (st->finish_reason[0] == '\0') {
        orc_stream_fail(st, ORC_FAIL_SERVER, "upstream stream ended before a finishReason", NULL, NULL, emit,
                        arg);
        return ORC_ERR;
    }
    snprintf(finish, sizeof(finish), "%s", st->finish_reason);
    orc_stream_emit_delta(st, json_object_new_object(), finish, emit, arg);
    orc_stream_emit_usage(st, emit, arg);
    st->done = true;
    return ORC_OK;
}

/* --- errors (§3.5) ----------------------------------------------------- */

/* google.protobuf.Duration text: "47s", "1.5s", "0.250s" -> ms; -1 if not. */
static int64_t duration_ms(const char *s)
{
    int64_t ms = 0, scale = 100;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (ms > INT64_MAX / 10 - 10000)
            return -1;
        ms = ms * 10 + (*s - '0') * 1000;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
            ms += (*s - '0') * scale;
    }
    return str_is(s, "s") ? ms : -1;
}

static void details_read(json_object *details, const char **reason, int64_t *delay)
{
    for (size_t i = 0; details != NULL && i < json_object_array_length(details); i++) {
        json_object *d = json_object_array_get_idx(details, i);
        const char *type = orc_json_get_str(d, "@type");
        if (type != NULL && strstr(type, "google.rpc.ErrorInfo") != NULL)
            *reason = orc_json_get_str(d, "reason");
        else if (type != NULL && strstr(type, "google.rpc.RetryInfo") != NULL)
            *delay = duration_ms(orc_json_get_str(d, "retryDelay"));
    }
}

static void classify(int status, const char *body, size_t len, int64_t retry_after_ms, orc_failure_t *fail)
{
    json_object *o = body ? orc_json_parse_len(body, len) : NULL;
    json_object *e = orc_json_get(o, "error", json_type_object);
    const char *msg = orc_json_get_str(e, "message"), *st = orc_json_get_str(e, "status"), *reason = NULL;
    int64_t delay = -1;
    char fallback[64];
    details_read(orc_json_get(e, "details", json_type_array), &reason, &delay);
    snprintf(fallback, sizeof(fallback), "upstream answered HTTP %d", status);
    orc_fail_set(fail, orc_fail_class_for_status(status), status, msg ? msg : fallback, st,
                 reason ? reason : st);
    fail->retry_after_ms = retry_after_ms >= 0 ? retry_after_ms : delay;
    json_object_put(o);
}

const orc_adapter_t orc_adapter_gemini = {
    ORC_PROVIDER_GEMINI, "gemini", build_request, parse_response, stream_event, stream_end, classify,
};
