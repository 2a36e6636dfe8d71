/*
 * adapter.c - the adapter table, names of provider types and failure
 * classes, and the helpers every adapter shares: JSON shorthands, the
 * HTTP request builder, canonical chunks and completions.
 *
 * Invariants: helpers never copy an API key anywhere but the header the
 * adapter asks for; every canonical stream chunk goes through
 * orc_stream_emit_delta/usage/fail, so the first chunk always carries
 * delta.role and a failure is emitted once with st->failed set.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/orc.h"
#include "worker/llm/providers/provider.h"

static const char *const type_names[ORC_PROVIDER_TYPES] = {
    [ORC_PROVIDER_OPENAI] = "openai",
    [ORC_PROVIDER_ANTHROPIC] = "anthropic",
    [ORC_PROVIDER_GEMINI] = "gemini",
    [ORC_PROVIDER_GROK] = "grok",
    [ORC_PROVIDER_OPENAI_COMPATIBLE] = "openai-compatible",
};

static const char *const class_names[ORC_FAIL_CLASSES] = {
    [ORC_FAIL_NONE] = "none",
    [ORC_FAIL_RATE_LIMITED] = "rate_limited",
    [ORC_FAIL_OVERLOADED] = "overloaded",
    [ORC_FAIL_SERVER] = "server",
    [ORC_FAIL_TIMEOUT] = "timeout",
    [ORC_FAIL_CONNECT] = "connect",
    [ORC_FAIL_CLIENT] = "client",
};

const orc_adapter_t *orc_adapter_for(orc_provider_type_t type)
{
    switch (type) {
    case ORC_PROVIDER_OPENAI: return &orc_adapter_openai;
    case ORC_PROVIDER_ANTHROPIC: return &orc_adapter_anthropic;
    case ORC_PROVIDER_GEMINI: return &orc_adapter_gemini;
    case ORC_PROVIDER_GROK: return &orc_adapter_grok;
    case ORC_PROVIDER_OPENAI_COMPATIBLE: return &orc_adapter_openai_compatible;
    default: return NULL;
    }
}

int orc_provider_type_parse(const char *name, orc_provider_type_t *out)
{
    for (int i = 0; name != NULL && i < ORC_PROVIDER_TYPES; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (orc_provider_type_t)i;
            return ORC_OK;
        }
    }
    return ORC_ERR;
}

const char *orc_provider_type_name(orc_provider_type_t type)
{
    return (unsigned)type < ORC_PROVIDER_TYPES ? type_names[type] : "unknown";
}

const char *orc_fail_class_name(orc_fail_class_t cls)
{
    return (unsigned)cls < ORC_FAIL_CLASSES ? class_names[cls] : "unknown";
}

bool orc_fail_retryable(orc_fail_class_t cls)
{
    switch (cls) {
    case ORC_FAIL_RATE_LIMITED:
    case ORC_FAIL_OVERLOADED:
    case ORC_FAIL_SERVER:
    case ORC_FAIL_TIMEOUT:
    case ORC_FAIL_CONNECT: return true;
    default: return false;
    }
}

/* docs/providers.md §7: 408/409/5xx are worth another try, other 4xx are not. */
orc_fail_class_t orc_fail_class_for_status(int status)
{
    if (status == 429)
        return ORC_FAIL_RATE_LIMITED;
    if (status == 503 || status == 529)
        return ORC_FAIL_OVERLOADED;
    if (status == 408 || status == 409)
        return ORC_FAIL_SERVER;
    if (status >= 400 && status < 500)
        return ORC_FAIL_CLIENT;
    return ORC_FAIL_SERVER; /* 5xx, and any status no provider documents */
}

/* The error type of a mid-stream failure ("overloaded_error", "UNAVAILABLE",
 * "rate_limit_error", "RESOURCE_EXHAUSTED", ...). */
orc_fail_class_t orc_fail_class_for_type(const char *type)
{
    if (type == NULL)
        return ORC_FAIL_SERVER;
    if (strcasestr(type, "overload") || strcasecmp(type, "UNAVAILABLE") == 0)
        return ORC_FAIL_OVERLOADED;
    if (strcasestr(type, "rate_limit") || strcasecmp(type, "RESOURCE_EXHAUSTED") == 0)
        return ORC_FAIL_RATE_LIMITED;
    return ORC_FAIL_SERVER;
}

/* Copies SRC, cut if needed before a UTF-8 sequence that does not fit:
 * the text ends up in JSON, which must stay valid UTF-8. */
static void copy_utf8(char *dst, size_t size, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--; /* src[len] is now the first byte that does not fit */
    }
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

void orc_fail_set(orc_failure_t *f, orc_fail_class_t cls, int status, const char *message, const char *type,
                  const char *code)
{
    f->cls = cls;
    f->status = status;
    f->retry_after_ms = -1;
    copy_utf8(f->message, sizeof(f->message), message);
    copy_utf8(f->type, sizeof(f->type), type);
    copy_utf8(f->code, sizeof(f->code), code);
}

void orc_http_out_free(orc_http_out_t *out)
{
    if (out == NULL)
        return;
    free(out->url);
    free(out->body);
    for (size_t i = 0; i < ORC_ADAPTER_HEADERS_MAX; i++)
        free(out->headers[i]);
    memset(out, 0, sizeof(*out));
}

void orc_stream_init(orc_stream_t *st, const char *model, bool include_usage)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->model, sizeof(st->model), "%s", model ? model : "");
    st->created = (int64_t)time(NULL);
    st->include_usage = include_usage;
    for (size_t i = 0; i < ORC_ARRAY_LEN(st->block_tool); i++)
        st->block_tool[i] = -1;
    st->failure.retry_after_ms = -1;
}

void orc_usage_to_json(const orc_usage_t *u, json_object *obj)
{
    if (!u->known) {
        json_object_object_add(obj, "usage", NULL);
        return;
    }
    json_object *usage = json_object_new_object(), *pd = json_object_new_object();
    json_object *cd = json_object_new_object();
    json_object_object_add(usage, "prompt_tokens", json_object_new_int64(u->prompt_tokens));
    json_object_object_add(usage, "completion_tokens", json_object_new_int64(u->completion_tokens));
    json_object_object_add(usage, "total_tokens", json_object_new_int64(u->total_tokens));
    json_object_object_add(pd, "cached_tokens", json_object_new_int64(u->cached_tokens));
    json_object_object_add(usage, "prompt_tokens_details", pd);
    json_object_object_add(cd, "reasoning_tokens", json_object_new_int64(u->reasoning_tokens));
    json_object_object_add(usage, "completion_tokens_details", cd);
    json_object_object_add(obj, "usage", usage);
}

/* --- JSON shorthands --------------------------------------------------- */

/* Exactly one JSON value, surrounding whitespace allowed (Anthropic pads).
 * Nesting up to 64 levels: tool arguments and schemas go deeper than
 * json-c's default of 32. */
json_object *orc_json_parse_len(const char *s, size_t len)
{
    if (s == NULL || len > (size_t)INT32_MAX)
        return NULL;
    json_tokener *tok = json_tokener_new_ex(64);
    if (tok == NULL)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    size_t used = json_tokener_get_parse_end(tok);
    if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
        o = json_tokener_parse_ex(tok, "", 1); /* the end: completes a bare 4 or true */
    bool ok = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    while (ok && used < len && s[used] != '\0' && strchr(" \t\r\n", s[used]) != NULL)
        used++;
    if (!ok || used != len) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

json_object *orc_json_get(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL || !json_object_is_type(v, type))
        return NULL;
    return v;
}

const char *orc_json_get_str(json_object *o, const char *key)
{
    json_object *v = orc_json_get(o, key, json_type_string);
    return v ? json_object_get_string(v) : NULL;
}

int64_t orc_json_get_int(json_object *o, const char *key, int64_t dflt)
{
    json_object *v = NULL;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
        return dflt;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return dflt;
    return json_object_get_int64(v);
}

/* Shares SRC[FROM] (a new reference) as DST[TO] when present and not null. */
void orc_json_copy(json_object *dst, const char *to, json_object *src, const char *from)
{
    json_object *v = NULL;
    if (json_object_object_get_ex(src, from, &v) && v != NULL)
        json_object_object_add(dst, to, json_object_get(v));
}

/* A message's text: the string, or its "text" parts concatenated without a
 * separator (they are one message); NULL when there is none. */
char *orc_content_text(json_object *content)
{
    if (json_object_is_type(content, json_type_string))
        return strdup(json_object_get_string(content));
    if (!json_object_is_type(content, json_type_array))
        return NULL;
    size_t total = 0, n = json_object_array_length(content);
    for (size_t pass = 0; pass < 2; pass++) {
        char *buf = pass ? malloc(total + 1) : NULL;
        size_t used = 0;
        if (pass && buf == NULL)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            json_object *part = json_object_array_get_idx(content, i);
            const char *type = orc_json_get_str(part, "type"), *text = orc_json_get_str(part, "text");
            if (type == NULL || strcmp(type, "text") != 0 || text == NULL)
                continue;
            size_t len = strlen(text);
            if (pass)
                memcpy(buf + used, text, len);
            used += len;
        }
        if (pass) {
            buf[used] = '\0';
            return buf;
        }
        total = used;
    }
    return NULL;
}

/* function.arguments is a JSON-encoded string; "" means no arguments. */
int orc_tool_args_parse(const char *args, json_object **out)
{
    size_t len = args ? strlen(args) : 0;
    size_t skip = strspn(args ? args : "", " \t\r\n");
    *out = skip == len ? json_object_new_object() : orc_json_parse_len(args, len);
    if (*out != NULL && json_object_is_type(*out, json_type_object))
        return ORC_OK;
    json_object_put(*out);
    *out = NULL;
    return ORC_ERR;
}

/* "data:image/png;base64,AAAA" -> MIME "image/png", DATA -> "AAAA". */
int orc_data_uri_split(const char *url, char *mime, size_t mimelen, const char **data)
{
    if (url == NULL || strncmp(url, "data:", 5) != 0)
        return ORC_ERR;
    const char *m = url + 5, *semi = strchr(m, ';'), *comma = strchr(m, ',');
    if (semi == NULL || comma == NULL || semi > comma || strncmp(semi, ";base64,", 8) != 0)
        return ORC_ERR;
    size_t len = (size_t)(semi - m);
    if (len == 0 || len >= mimelen)
        return ORC_ERR;
    memcpy(mime, m, len);
    mime[len] = '\0';
    *data = semi + 8;
    return ORC_OK;
}

/* --- the HTTP request ---------------------------------------------------- */

int orc_http_out_url(orc_http_out_t *out, const char *base, const char *path, const char *suffix)
{
    free(out->url);
    if (asprintf(&out->url, "%s%s%s", base ? base : "", path, suffix ? suffix : "") < 0) {
        out->url = NULL;
        return ORC_ERR;
    }
    return ORC_OK;
}

/* Appends "Name: value" formatted from FMT. */
int orc_http_out_header(orc_http_out_t *out, const char *fmt, ...)
{
    for (size_t i = 0; i + 1 < ORC_ADAPTER_HEADERS_MAX; i++) {
        if (out->headers[i] != NULL)
            continue;
        va_list ap;
        va_start(ap, fmt);
        int rc = vasprintf(&out->headers[i], fmt, ap);
        va_end(ap);
        if (rc < 0) {
            out->headers[i] = NULL;
            return ORC_ERR;
        }
        return ORC_OK;
    }
    return ORC_ERR; /* the last slot stays NULL: the list terminator */
}

int orc_http_out_body(orc_http_out_t *out, json_object *body)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    free(out->body);
    out->body = s ? malloc(len + 1) : NULL;
    if (out->body == NULL)
        return ORC_ERR;
    memcpy(out->body, s, len + 1);
    out->body_len = len;
    return ORC_OK;
}

/* --- canonical responses and chunks ------------------------------------- */

json_object *orc_completion_new(const char *id, const char *model)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion"));
    json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
    json_object_object_add(o, "model", json_object_new_string(model));
    json_object_object_add(o, "choices", json_object_new_array());
    return o;
}

/* A tool call; INDEX < 0 leaves "index" out (non-stream messages), a NULL
 * ID or NAME leaves "id"/"type"/"name" out (later stream fragments). */
json_object *orc_tool_call_new(int index, const char *id, const char *name, const char *arguments)
{
    json_object *call = json_object_new_object(), *fn = json_object_new_object();
    if (index >= 0)
        json_object_object_add(call, "index", json_object_new_int(index));
    if (id != NULL) {
        json_object_object_add(call, "id", json_object_new_string(id));
        json_object_object_add(call, "type", json_object_new_string("function"));
    }
    if (name != NULL)
        json_object_object_add(fn, "name", json_object_new_string(name));
    json_object_object_add(fn, "arguments", json_object_new_string(arguments ? arguments : ""));
    json_object_object_add(call, "function", fn);
    return call;
}

static json_object *chunk_new(const orc_stream_t *st, json_object *choices)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion.chunk"));
    json_object_object_add(o, "created", json_object_new_int64(st->created));
    json_object_object_add(o, "model", json_object_new_string(st->model));
    json_object_object_add(o, "choices", choices);
    return o;
}

void orc_stream_emit_delta(orc_stream_t *st, json_object *delta, const char *finish, orc_chunk_fn emit,
                           void *arg)
{
    json_object *choices = json_object_new_array(), *choice = json_object_new_object();
    if (!st->role_sent) {
        json_object_object_add(delta, "role", json_object_new_string("assistant"));
        st->role_sent = true;
    }
    json_object_object_add(choice, "index", json_object_new_int(0));
    json_object_object_add(choice, "delta", delta);
    json_object_object_add(choice, "logprobs", NULL);
    json_object_object_add(choice, "finish_reason", finish ? json_object_new_string(finish) : NULL);
    json_object_array_add(choices, choice);
    if (finish != NULL) {
        st->finished = true;
        snprintf(st->finish_reason, sizeof(st->finish_reason), "%s", finish);
    }
    json_object *chunk = chunk_new(st, choices);
    emit(arg, chunk);
    json_object_put(chunk);
}

/* The usage chunk (choices: []) when the client asked for it. */
void orc_stream_emit_usage(orc_stream_t *st, orc_chunk_fn emit, void *arg)
{
    if (!st->include_usage)
        return;
    json_object *chunk = chunk_new(st, json_object_new_array());
    orc_usage_to_json(&st->usage, chunk);
    emit(arg, chunk);
    json_object_put(chunk);
}

void orc_stream_fail(orc_stream_t *st, orc_fail_class_t cls, const char *message, const char *type,
                     const char *code, orc_chunk_fn emit, void *arg)
{
    if (st->failed)
        return;
    st->failed = true;
    type = type && *type ? type : "server_error";
    orc_fail_set(&st->failure, cls, 0, message, type, code);
    json_object *chunk = json_object_new_object(), *err = json_object_new_object();
    json_object_object_add(err, "message", json_object_new_string(st->failure.message));
    json_object_object_add(err, "type", json_object_new_string(st->failure.type));
    json_object_object_add(err, "param", NULL);
    json_object_object_add(err, "code", code && *code ? json_object_new_string(code) : NULL);
    json_object_object_add(chunk, "error", err);
    emit(arg, chunk);
    json_object_put(chunk);
}

void orc_turn_append(json_object *turns, const char *role, const char *items_key, json_object *items)
{
    size_t n = json_object_array_length(turns), ni = json_object_array_length(items);
    json_object *last = n ? json_object_array_get_idx(turns, n - 1) : NULL;
    const char *last_role = last ? orc_json_get_str(last, "role") : NULL;
    if (ni > 0 && last_role != NULL && strcmp(last_role, role) == 0) {
        json_object *dst = orc_json_get(last, items_key, json_type_array);
        for (size_t i = 0; i < ni; i++)
            json_object_array_add(dst, json_object_get(json_object_array_get_idx(items, i)));
    } else if (ni > 0) {
        json_object *turn = json_object_new_object();
        json_object_object_add(turn, "role", json_object_new_string(role));
        json_object_object_add(turn, items_key, json_object_get(items));
        json_object_array_add(turns, turn);
    }
    json_object_put(items);
}
