/*
 * messages_in.c - translation for the gateway's Anthropic-compatible
 * endpoint POST /v1/messages (docs/providers.md §2, §5 "Anthropic-format in",
 * §6.5, §6.6, §7, §10).  Any provider serves it through the canonical
 * (OpenAI Chat Completions) form.
 *
 * Requests are validated as the Anthropic API does, and refused with its
 * pydantic-style messages naming the field ("messages.0.role: ...").
 * Text blocks of one turn become one string joined with "\n" (as the
 * system blocks); tool_result blocks become tool messages placed before
 * the rest of their user turn; thinking blocks of earlier assistant turns
 * are dropped (no canonical counterpart).  tool_choice and
 * parallel_tool_calls are only sent along with tools: OpenAI refuses them
 * alone.  Role "system" in messages is accepted (API version 2026-10-21,
 * §2.1).
 *
 * Responses: tool_use blocks make stop_reason "tool_use" even when the
 * upstream said "stop" (OpenAI-compatible servers do), since clients loop
 * on it.
 *
 * Stream invariants (orc_messages_stream_t): message_start then ping are
 * the first events; one content block at most is open, indexes count
 * 0,1,2... over text and tool blocks; message_delta and message_stop go
 * out at orc_messages_stream_finish (the usage chunk follows the finish
 * chunk); after message_stop or an error event nothing more is sent.
 */
#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/json.h"
#include "common/orc.h"
#include "worker/api/messages_in.h"

#define TAGS_USER "'text', 'image', 'tool_result'"
#define TAGS_ASSISTANT "'text', 'tool_use', 'thinking', 'redacted_thinking'"
#define PATH_LEN 128
#define NON_EMPTY "all messages must have non-empty content except for the optional final assistant message"

/* Where a validation error goes, and the status it answers with. */
typedef struct {
    char *buf;
    size_t len;
    int status;
} err_t;

static int bad(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(err_t *e, const char *fmt, ...)
{
    if (e->buf != NULL && e->len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return ORC_ERR;
}

/* A field path for a message ("messages.0.content.1"); one cut short
 * only shortens the message. */
static void path_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void path_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static int oom(err_t *e)
{
    e->status = 503;
    return bad(e, "out of memory");
}

static bool str_is(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

static bool is_number(json_object *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* An integer, or a number without a fractional part (pydantic's lax mode). */
static bool int_value(json_object *v, int64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return true;
    }
    double d = json_object_get_double(v);
    if (!json_object_is_type(v, json_type_double) || d < -9e18 || d > 9e18 || d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* KEY of O present and not null. */
static bool field(json_object *o, const char *key, json_object **v)
{
    *v = NULL;
    return json_object_object_get_ex(o, key, v) && *v != NULL;
}

/* The required string KEY of O, which PATH names ("" at the top level). */
static int req_str(json_object *o, const char *path, const char *key, const char **out, err_t *e)
{
    json_object *v = NULL;
    const char *dot = *path ? "." : "";
    if (!json_object_object_get_ex(o, key, &v))
        return bad(e, "%s%s%s: Field required", path, dot, key);
    if (!json_object_is_type(v, json_type_string))
        return bad(e, "%s%s%s: Input should be a valid string", path, dot, key);
    *out = json_object_get_string(v);
    return ORC_OK;
}

/* Appends TEXT to *ACC, after SEP when *ACC already holds text. */
static int text_add(char **acc, const char *sep, const char *text)
{
    char *joined = NULL;
    if (*acc == NULL)
        joined = strdup(text);
    else if (asprintf(&joined, "%s%s%s", *acc, sep, text) < 0)
        joined = NULL;
    if (joined == NULL)
        return ORC_ERR;
    free(*acc);
    *acc = joined;
    return ORC_OK;
}

/* Appends {"role": ROLE, "content": CONTENT} to LIST; takes CONTENT. */
static json_object *add_msg(json_object *list, const char *role, json_object *content)
{
    json_object *m = json_object_new_object();
    orc_json_add_str(m, "role", role);
    json_object_object_add(m, "content", content);
    json_object_array_add(list, m);
    return m;
}

static json_object *text_block(const char *text)
{
    json_object *b = json_object_new_object();
    orc_json_add_str(b, "type", "text");
    orc_json_add_str(b, "text", text);
    return b;
}

/* --- content blocks -------------------------------------------------------- */

/* Block at PATH: an object with a string "type". */
static int block_type(json_object *b, const char *path, const char **type, err_t *e)
{
    if (!json_object_is_type(b, json_type_object))
        return bad(e, "%s: Input should be a valid dictionary", path);
    return req_str(b, path, "type", type, e);
}

/* The text of a text block; the API refuses empty ones. */
static int block_text(json_object *b, const char *path, const char **text, err_t *e)
{
    if (req_str(b, path, "text", text, e) != ORC_OK)
        return ORC_ERR;
    if (**text == '\0')
        return bad(e, "%s.text: text content blocks must be non-empty", path);
    return ORC_OK;
}

/* The text blocks of BLOCKS joined with "\n" into *TEXT.  A system prompt
 * (TOOL_RESULT false) holds only non-empty text blocks; a tool_result's
 * list may also hold images, which are left out (a canonical tool message
 * carries text only), and empty texts. */
static int join_text_blocks(json_object *blocks, const char *path, bool tool_result, char **text, err_t *e)
{
    for (size_t i = 0; i < json_object_array_length(blocks); i++) {
        json_object *b = json_object_array_get_idx(blocks, i);
        const char *type, *t;
        char bpath[PATH_LEN];
        path_fmt(bpath, sizeof(bpath), tool_result ? "%s.content.%zu" : "%s.%zu", path, i);
        if (block_type(b, bpath, &type, e) != ORC_OK)
            return ORC_ERR;
        if (tool_result && str_is(type, "image"))
            continue;
        if (!str_is(type, "text"))
            return tool_result ? bad(e,
                                     "%s: Input tag '%.32s' found using 'type' does not match any of the "
                                     "expected tags: 'text', 'image'",
                                     bpath, type)
                               : bad(e, "%s.type: Input should be 'text'", bpath);
        if ((tool_result ? req_str(b, bpath, "text", &t, e) : block_text(b, bpath, &t, e)) != ORC_OK)
            return ORC_ERR;
        if (*t != '\0' && text_add(text, "\n", t) != ORC_OK)
            return oom(e);
    }
    return ORC_OK;
}

/* An image block -> an image_url part (base64 source -> data URI). */
static int image_part(json_object *b, const char *path, json_object *parts, err_t *e)
{
    json_object *src = NULL;
    const char *type = NULL, *mime, *data, *u;
    char spath[PATH_LEN], *url = NULL;
    path_fmt(spath, sizeof(spath), "%s.source", path);
    if (!json_object_object_get_ex(b, "source", &src))
        return bad(e, "%s: Field required", spath);
    if (!json_object_is_type(src, json_type_object))
        return bad(e, "%s: Input should be a valid dictionary", spath);
    if (req_str(src, spath, "type", &type, e) != ORC_OK)
        return ORC_ERR;
    if (str_is(type, "base64")) {
        if (req_str(src, spath, "media_type", &mime, e) != ORC_OK ||
            req_str(src, spath, "data", &data, e) != ORC_OK)
            return ORC_ERR;
        if (asprintf(&url, "data:%s;base64,%s", mime, data) < 0)
            url = NULL;
    } else if (str_is(type, "url")) {
        if (req_str(src, spath, "url", &u, e) != ORC_OK)
            return ORC_ERR;
        url = strdup(u);
    } else {
        return bad(e,
                   "%s: Input tag '%.32s' found using 'type' does not match any of the expected tags: "
                   "'base64', 'url'",
                   spath, type);
    }
    if (url == NULL)
        return oom(e);
    json_object *part = json_object_new_object(), *iu = json_object_new_object();
    orc_json_add_str(part, "type", "image_url");
    orc_json_add_str(iu, "url", url);
    json_object_object_add(part, "image_url", iu);
    json_object_array_add(parts, part);
    free(url);
    return ORC_OK;
}

/* A tool_result block -> a tool message appended to LIST. */
static int tool_message(json_object *b, const char *path, json_object *list, err_t *e)
{
    const char *id;
    json_object *content = NULL;
    char *text = NULL;
    if (req_str(b, path, "tool_use_id", &id, e) != ORC_OK)
        return ORC_ERR;
    if (field(b, "content", &content) && json_object_is_type(content, json_type_string)) {
        if ((text = strdup(json_object_get_string(content))) == NULL)
            return oom(e);
    } else if (json_object_is_type(content, json_type_array)) {
        if (join_text_blocks(content, path, true, &text, e) != ORC_OK) {
            free(text);
            return ORC_ERR;
        }
    } else if (content != NULL) {
        return bad(e, "%s.content: Input should be a valid string or a list of content blocks", path);
    }
    json_object *m = add_msg(list, "tool", json_object_new_string(text ? text : ""));
    orc_json_add_str(m, "tool_call_id", id);
    free(text);
    return ORC_OK;
}

/* A tool_use block -> a canonical tool call (arguments: JSON of input). */
static int tool_call(json_object *b, const char *path, json_object *calls, err_t *e)
{
    const char *id, *name;
    json_object *input = NULL;
    if (req_str(b, path, "id", &id, e) != ORC_OK || req_str(b, path, "name", &name, e) != ORC_OK)
        return ORC_ERR;
    if (!json_object_object_get_ex(b, "input", &input))
        return bad(e, "%s.input: Field required", path);
    if (!json_object_is_type(input, json_type_object))
        return bad(e, "%s.input: Input should be a valid dictionary", path);
    const char *args =
        json_object_to_json_string_ext(input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    json_object_array_add(calls, orc_tool_call_new(-1, id, name, args));
    return ORC_OK;
}

/* --- messages -------------------------------------------------------------- */

/* Text-only parts -> one string joined with "\n"; else the parts. */
static json_object *parts_content(json_object *parts, bool only_text)
{
    if (!only_text)
        return json_object_get(parts);
    char *text = NULL;
    for (size_t i = 0; i < json_object_array_length(parts); i++) {
        if (text_add(&text, "\n", orc_json_get_str(json_object_array_get_idx(parts, i), "text")) != ORC_OK) {
            free(text);
            return NULL;
        }
    }
    json_object *s = json_object_new_string(text ? text : "");
    free(text);
    return s;
}

static int user_blocks(json_object *content, const char *path, json_object *list, err_t *e)
{
    json_object *parts = json_object_new_array();
    bool only_text = true;
    int rc = ORC_OK;
    for (size_t i = 0; rc == ORC_OK && i < json_object_array_length(content); i++) {
        json_object *b = json_object_array_get_idx(content, i);
        const char *type, *text;
        char bpath[PATH_LEN];
        path_fmt(bpath, sizeof(bpath), "%s.content.%zu", path, i);
        rc = block_type(b, bpath, &type, e);
        if (rc != ORC_OK)
            break;
        if (str_is(type, "text")) {
            rc = block_text(b, bpath, &text, e);
            if (rc == ORC_OK)
                json_object_array_add(parts, text_block(text));
        } else if (str_is(type, "image")) {
            only_text = false;
            rc = image_part(b, bpath, parts, e);
        } else if (str_is(type, "tool_result")) {
            rc = tool_message(b, bpath, list, e); /* before the rest of the turn */
        } else {
            rc = bad(e,
                     "%s: Input tag '%.32s' found using 'type' does not match any of the expected "
                     "tags: " TAGS_USER,
                     bpath, type);
        }
    }
    if (rc == ORC_OK && json_object_array_length(parts) > 0) {
        json_object *c = parts_content(parts, only_text);
        rc = c != NULL ? ORC_OK : oom(e);
        if (c != NULL)
            add_msg(list, "user", c);
    }
    json_object_put(parts);
    return rc;
}

static int assistant_blocks(json_object *content, const char *path, json_object *list, err_t *e)
{
    json_object *calls = json_object_new_array();
    char *text = NULL;
    int rc = ORC_OK;
    for (size_t i = 0; rc == ORC_OK && i < json_object_array_length(content); i++) {
        json_object *b = json_object_array_get_idx(content, i);
        const char *type, *t;
        char bpath[PATH_LEN];
        path_fmt(bpath, sizeof(bpath), "%s.content.%zu", path, i);
        rc = block_type(b, bpath, &type, e);
        if (rc != ORC_OK)
            break;
        if (str_is(type, "text")) {
            rc = block_text(b, bpath, &t, e);
            if (rc == ORC_OK && text_add(&text, "\n", t) != ORC_OK)
                rc = oom(e);
        } else if (str_is(type, "tool_use")) {
            rc = tool_call(b, bpath, calls, e);
        } else if (!str_is(type, "thinking") && !str_is(type, "redacted_thinking")) {
            rc = bad(e,
                     "%s: Input tag '%.32s' found using 'type' does not match any of the expected "
                     "tags: " TAGS_ASSISTANT,
                     bpath, type);
        }
    }
    size_t ncalls = json_object_array_length(calls);
    if (rc == ORC_OK && (text != NULL || ncalls > 0)) {
        json_object *m = add_msg(list, "assistant", text ? json_object_new_string(text) : NULL);
        if (ncalls > 0)
            json_object_object_add(m, "tool_calls", json_object_get(calls));
    } /* a turn of thinking blocks only says nothing to another model */
    free(text);
    json_object_put(calls);
    return rc;
}

static int system_blocks(json_object *content, const char *path, json_object *list, err_t *e)
{
    char *text = NULL, cpath[PATH_LEN];
    path_fmt(cpath, sizeof(cpath), "%s.content", path);
    int rc = join_text_blocks(content, cpath, false, &text, e);
    if (rc == ORC_OK && text != NULL)
        add_msg(list, "system", json_object_new_string(text));
    free(text);
    return rc;
}

static int convert_message(json_object *msg, size_t i, bool last, json_object *list, err_t *e)
{
    json_object *r = NULL, *content = NULL;
    char path[32];
    snprintf(path, sizeof(path), "messages.%zu", i);
    if (!json_object_is_type(msg, json_type_object))
        return bad(e, "%s: Input should be a valid dictionary", path);
    if (!json_object_object_get_ex(msg, "role", &r))
        return bad(e, "%s.role: Field required", path);
    const char *role = json_object_is_type(r, json_type_string) ? json_object_get_string(r) : NULL;
    if (!str_is(role, "user") && !str_is(role, "assistant") && !str_is(role, "system"))
        return bad(e, "%s.role: Input should be 'user' or 'assistant'", path);
    if (!json_object_object_get_ex(msg, "content", &content))
        return bad(e, "%s.content: Field required", path);
    bool is_str = json_object_is_type(content, json_type_string);
    if (!is_str && !json_object_is_type(content, json_type_array))
        return bad(e, "%s.content: Input should be a valid string or a list of content blocks", path);
    size_t len = is_str ? (size_t)json_object_get_string_len(content) : json_object_array_length(content);
    if (len == 0)
        return last && str_is(role, "assistant") ? ORC_OK : bad(e, "%s: " NON_EMPTY, path);
    if (is_str) {
        add_msg(list, role, json_object_get(content));
        return ORC_OK;
    }
    if (str_is(role, "user"))
        return user_blocks(content, path, list, e);
    if (str_is(role, "assistant"))
        return assistant_blocks(content, path, list, e);
    return system_blocks(content, path, list, e);
}

/* "system" (a string or text blocks) -> the first canonical message. */
static int add_system(json_object *req, json_object *list, err_t *e)
{
    json_object *sys = NULL;
    char *text = NULL;
    int rc = ORC_OK;
    if (!field(req, "system", &sys))
        return ORC_OK;
    if (json_object_is_type(sys, json_type_string))
        rc = text_add(&text, "", json_object_get_string(sys)) == ORC_OK ? ORC_OK : oom(e);
    else if (json_object_is_type(sys, json_type_array))
        rc = join_text_blocks(sys, "system", false, &text, e);
    else
        rc = bad(e, "system: Input should be a valid string or a list of text blocks");
    if (rc == ORC_OK && text != NULL && *text != '\0')
        add_msg(list, "system", json_object_new_string(text));
    free(text);
    return rc;
}

static int add_messages(json_object *req, json_object *out, err_t *e)
{
    json_object *msgs = NULL, *list = json_object_new_array();
    json_object_object_add(out, "messages", list);
    if (add_system(req, list, e) != ORC_OK)
        return ORC_ERR;
    if (!json_object_object_get_ex(req, "messages", &msgs))
        return bad(e, "messages: Field required");
    if (!json_object_is_type(msgs, json_type_array))
        return bad(e, "messages: Input should be a valid list");
    size_t n = json_object_array_length(msgs);
    if (n == 0)
        return bad(e, "messages: List should have at least 1 item after validation, not 0");
    for (size_t i = 0; i < n; i++) {
        if (convert_message(json_object_array_get_idx(msgs, i), i, i + 1 == n, list, e) != ORC_OK)
            return ORC_ERR;
    }
    return ORC_OK;
}

/* --- parameters ------------------------------------------------------------ */

static int add_model(json_object *req, json_object *out, err_t *e)
{
    const char *model;
    if (req_str(req, "", "model", &model, e) != ORC_OK)
        return ORC_ERR;
    if (*model == '\0')
        return bad(e, "model: String should have at least 1 character");
    orc_json_add_str(out, "model", model);
    return ORC_OK;
}

static int add_max_tokens(json_object *req, json_object *out, err_t *e)
{
    json_object *v = NULL;
    int64_t n;
    if (!json_object_object_get_ex(req, "max_tokens", &v))
        return bad(e, "max_tokens: Field required");
    if (!int_value(v, &n))
        return bad(e, "max_tokens: Input should be a valid integer");
    if (n < 1)
        return bad(e, "max_tokens: Input should be greater than or equal to 1");
    orc_json_add_int(out, "max_tokens", n);
    return ORC_OK;
}

/* Optional number KEY (an integer when INTEGER) within [LO, HI]. */
static int check_number(json_object *req, const char *key, double lo, double hi, bool integer, err_t *e)
{
    json_object *v;
    int64_t n;
    if (!field(req, key, &v))
        return ORC_OK;
    if (integer ? !int_value(v, &n) : !is_number(v))
        return bad(e, "%s: Input should be a valid %s", key, integer ? "integer" : "number");
    double d = json_object_get_double(v);
    if (d < lo)
        return bad(e, "%s: Input should be greater than or equal to %g", key, lo);
    if (d > hi)
        return bad(e, "%s: Input should be less than or equal to %g", key, hi);
    return ORC_OK;
}

/* temperature and top_p copied; top_k checked, then dropped (no
 * canonical counterpart). */
static int add_sampling(json_object *req, json_object *out, err_t *e)
{
    if (check_number(req, "temperature", 0, 1, false, e) != ORC_OK ||
        check_number(req, "top_p", 0, 1, false, e) != ORC_OK ||
        check_number(req, "top_k", 0, DBL_MAX, true, e) != ORC_OK)
        return ORC_ERR;
    orc_json_copy(out, "temperature", req, "temperature");
    orc_json_copy(out, "top_p", req, "top_p");
    return ORC_OK;
}

static int add_stop(json_object *req, json_object *out, err_t *e)
{
    json_object *v;
    if (!field(req, "stop_sequences", &v))
        return ORC_OK;
    if (!json_object_is_type(v, json_type_array))
        return bad(e, "stop_sequences: Input should be a valid list");
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
            return bad(e, "stop_sequences.%zu: Input should be a valid string", i);
    }
    if (json_object_array_length(v) > 0)
        json_object_object_add(out, "stop", json_object_get(v));
    return ORC_OK;
}

/* stream, with the usage chunk asked for: message_delta reports usage. */
static int add_stream(json_object *req, json_object *out, err_t *e)
{
    json_object *v;
    if (!field(req, "stream", &v))
        return ORC_OK;
    if (!json_object_is_type(v, json_type_boolean))
        return bad(e, "stream: Input should be a valid boolean");
    orc_json_add_bool(out, "stream", json_object_get_boolean(v));
    if (json_object_get_boolean(v)) {
        json_object *so = json_object_new_object();
        orc_json_add_bool(so, "include_usage", 1);
        json_object_object_add(out, "stream_options", so);
    }
    return ORC_OK;
}

static int add_metadata(json_object *req, json_object *out, err_t *e)
{
    json_object *meta, *user;
    if (!field(req, "metadata", &meta))
        return ORC_OK;
    if (!json_object_is_type(meta, json_type_object))
        return bad(e, "metadata: Input should be a valid dictionary");
    if (!field(meta, "user_id", &user))
        return ORC_OK;
    if (!json_object_is_type(user, json_type_string))
        return bad(e, "metadata.user_id: Input should be a valid string");
    json_object_object_add(out, "user", json_object_get(user));
    return ORC_OK;
}

/* --- tools ----------------------------------------------------------------- */

static int tool_convert(json_object *t, size_t i, json_object *tools, err_t *e)
{
    json_object *v, *schema = NULL;
    const char *name;
    char path[32];
    snprintf(path, sizeof(path), "tools.%zu", i);
    if (!json_object_is_type(t, json_type_object))
        return bad(e, "%s: Input should be a valid dictionary", path);
    const char *type = orc_json_get_str(t, "type");
    if (field(t, "type", &v) && !str_is(type, "custom"))
        return bad(e, "%s.type: tool type '%.64s' is not supported by this gateway", path, type ? type : "");
    if (req_str(t, path, "name", &name, e) != ORC_OK)
        return ORC_ERR;
    if (field(t, "description", &v) && !json_object_is_type(v, json_type_string))
        return bad(e, "%s.description: Input should be a valid string", path);
    if (!json_object_object_get_ex(t, "input_schema", &schema))
        return bad(e, "%s.input_schema: Field required", path);
    if (!json_object_is_type(schema, json_type_object))
        return bad(e, "%s.input_schema: Input should be a valid dictionary", path);
    json_object *tool = json_object_new_object(), *fn = json_object_new_object();
    orc_json_add_str(tool, "type", "function");
    orc_json_add_str(fn, "name", name);
    orc_json_copy(fn, "description", t, "description");
    json_object_object_add(fn, "parameters", json_object_get(schema));
    json_object_object_add(tool, "function", fn);
    json_object_array_add(tools, tool);
    return ORC_OK;
}

static int add_tools(json_object *req, json_object *out, err_t *e)
{
    json_object *v, *tools;
    if (!field(req, "tools", &v))
        return ORC_OK;
    if (!json_object_is_type(v, json_type_array))
        return bad(e, "tools: Input should be a valid list");
    tools = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        if (tool_convert(json_object_array_get_idx(v, i), i, tools, e) != ORC_OK) {
            json_object_put(tools);
            return ORC_ERR;
        }
    }
    if (json_object_array_length(tools) > 0)
        json_object_object_add(out, "tools", tools);
    else
        json_object_put(tools); /* OpenAI refuses an empty list */
    return ORC_OK;
}

/* {"type": auto|any|none|tool} -> "auto", "required", "none" or a function. */
static int choice_of(json_object *tc, json_object **choice, err_t *e)
{
    const char *type, *name;
    if (!json_object_is_type(tc, json_type_object))
        return bad(e, "tool_choice: Input should be a valid dictionary");
    if (req_str(tc, "tool_choice", "type", &type, e) != ORC_OK)
        return ORC_ERR;
    if (str_is(type, "auto") || str_is(type, "none")) {
        *choice = json_object_new_string(type);
    } else if (str_is(type, "any")) {
        *choice = json_object_new_string("required");
    } else if (str_is(type, "tool")) {
        if (req_str(tc, "tool_choice", "name", &name, e) != ORC_OK)
            return ORC_ERR;
        json_object *fn = json_object_new_object();
        orc_json_add_str(fn, "name", name);
        *choice = json_object_new_object();
        orc_json_add_str(*choice, "type", "function");
        json_object_object_add(*choice, "function", fn);
    } else {
        return bad(
            e,
            "tool_choice: Input tag '%.32s' found using 'type' does not match any of the expected tags: "
            "'auto', 'any', 'tool', 'none'",
            type);
    }
    return ORC_OK;
}

static int add_tool_choice(json_object *req, json_object *out, err_t *e)
{
    json_object *tc, *dis, *choice = NULL;
    if (!field(req, "tool_choice", &tc))
        return ORC_OK;
    if (choice_of(tc, &choice, e) != ORC_OK)
        return ORC_ERR;
    if (field(tc, "disable_parallel_tool_use", &dis) && !json_object_is_type(dis, json_type_boolean)) {
        json_object_put(choice);
        return bad(e, "tool_choice.disable_parallel_tool_use: Input should be a valid boolean");
    }
    if (!json_object_object_get_ex(out, "tools", NULL)) {
        json_object_put(choice); /* OpenAI refuses tool_choice without tools */
        return ORC_OK;
    }
    json_object_object_add(out, "tool_choice", choice);
    if (dis != NULL && json_object_get_boolean(dis))
        orc_json_add_bool(out, "parallel_tool_calls", 0);
    return ORC_OK;
}

typedef int (*step_fn)(json_object *req, json_object *out, err_t *e);

json_object *orc_messages_to_canonical(json_object *anthropic_request, char *err, size_t errlen, int *status)
{
    static const step_fn steps[] = {add_model,  add_messages, add_max_tokens,  add_sampling, add_stop,
                                    add_stream, add_tools,    add_tool_choice, add_metadata};
    err_t e = {err, errlen, 400};
    json_object *out = NULL;
    int rc = ORC_OK;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (!json_object_is_type(anthropic_request, json_type_object))
        rc = bad(&e, "Input should be a valid dictionary");
    else
        out = json_object_new_object();
    for (size_t i = 0; rc == ORC_OK && i < ORC_ARRAY_LEN(steps); i++)
        rc = steps[i](anthropic_request, out, &e);
    if (rc != ORC_OK) {
        json_object_put(out);
        out = NULL;
    }
    if (status != NULL)
        *status = rc == ORC_OK ? 200 : e.status;
    return out;
}

/* --- response (§6.6) ------------------------------------------------------- */

void orc_messages_id(const char *id, char *buf, size_t len)
{
    if (id != NULL && strncmp(id, "chatcmpl-", 9) == 0)
        id += 9;
    if (id == NULL || *id == '\0')
        snprintf(buf, len, "msg_gateway");
    else
        snprintf(buf, len, "%s%s", strncmp(id, "msg_", 4) == 0 ? "" : "msg_", id);
}

/* §6.1 reversed; tool_use blocks make a plain or unknown end "tool_use". */
static const char *stop_reason_for(const char *finish, bool tools)
{
    if (str_is(finish, "length"))
        return "max_tokens";
    if (str_is(finish, "content_filter"))
        return "refusal";
    if (tools || str_is(finish, "tool_calls") || str_is(finish, "function_call"))
        return "tool_use";
    return "end_turn";
}

static json_object *usage_from(json_object *u)
{
    int64_t prompt = orc_json_get_int(u, "prompt_tokens", 0);
    int64_t cached =
        orc_json_get_int(orc_json_get(u, "prompt_tokens_details", json_type_object), "cached_tokens", 0);
    json_object *usage = json_object_new_object();
    orc_json_add_int(usage, "input_tokens", ORC_MAX(prompt - cached, 0));
    orc_json_add_int(usage, "output_tokens", orc_json_get_int(u, "completion_tokens", 0));
    orc_json_add_int(usage, "cache_creation_input_tokens", 0);
    orc_json_add_int(usage, "cache_read_input_tokens", cached);
    return usage;
}

/* Tool calls -> tool_use blocks appended to CONTENT; returns how many. */
static size_t tool_blocks(json_object *calls, json_object *content)
{
    size_t n = calls != NULL ? json_object_array_length(calls) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *call = json_object_array_get_idx(calls, i), *input = NULL;
        json_object *fn = orc_json_get(call, "function", json_type_object), *b = json_object_new_object();
        const char *id = orc_json_get_str(call, "id"), *name = orc_json_get_str(fn, "name");
        char gen[48];
        snprintf(gen, sizeof(gen), "toolu_gateway_%zu", i);
        if (orc_tool_args_parse(orc_json_get_str(fn, "arguments"), &input) != ORC_OK)
            input = json_object_new_object(); /* unparsable arguments: an empty input */
        orc_json_add_str(b, "type", "tool_use");
        orc_json_add_str(b, "id", id ? id : gen);
        orc_json_add_str(b, "name", name ? name : "");
        json_object_object_add(b, "input", input);
        json_object_array_add(content, b);
    }
    return n;
}

json_object *orc_messages_from_canonical(json_object *chat_completion, const char *model)
{
    json_object *choices = orc_json_get(chat_completion, "choices", json_type_array);
    json_object *c0 = choices ? json_object_array_get_idx(choices, 0) : NULL;
    json_object *msg = orc_json_get(c0, "message", json_type_object), *content = NULL;
    if (msg == NULL)
        return NULL;
    char id[160], *text = NULL;
    const char *refusal = orc_json_get_str(msg, "refusal"), *finish = orc_json_get_str(c0, "finish_reason");
    json_object_object_get_ex(msg, "content", &content);
    text = orc_content_text(content);
    content = json_object_new_array();
    if (text != NULL && *text != '\0') {
        json_object_array_add(content, text_block(text));
    } else if (refusal != NULL && *refusal != '\0') {
        json_object_array_add(content, text_block(refusal)); /* what the model said instead */
        finish = "content_filter";
    }
    free(text);
    size_t ntools = tool_blocks(orc_json_get(msg, "tool_calls", json_type_array), content);
    json_object *o = json_object_new_object();
    orc_messages_id(orc_json_get_str(chat_completion, "id"), id, sizeof(id));
    model = model ? model : orc_json_get_str(chat_completion, "model");
    orc_json_add_str(o, "id", id);
    orc_json_add_str(o, "type", "message");
    orc_json_add_str(o, "role", "assistant");
    orc_json_add_str(o, "model", model ? model : "");
    json_object_object_add(o, "content", content);
    orc_json_add_str(o, "stop_reason", stop_reason_for(finish, ntools > 0));
    json_object_object_add(o, "stop_sequence", NULL);
    json_object_object_add(o, "usage", usage_from(orc_json_get(chat_completion, "usage", json_type_object)));
    return o;
}

/* --- stream (§6.5) --------------------------------------------------------- */

void orc_messages_stream_init(orc_messages_stream_t *s, const char *model, const char *message_id)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->model, sizeof(s->model), "%s", model ? model : "");
    snprintf(s->id, sizeof(s->id), "%s", message_id ? message_id : "");
    s->open_block = s->open_tool = s->last_tool = -1;
}

static json_object *event_new(const char *type)
{
    json_object *ev = json_object_new_object();
    orc_json_add_str(ev, "type", type);
    return ev;
}

/* Sends EV (taken) under the event name it carries as "type". */
static void send_event(json_object *ev, orc_sse_out_fn out, void *arg)
{
    out(arg, orc_json_get_str(ev, "type"), ev);
    json_object_put(ev);
}

static json_object *error_body(const char *type, const char *message)
{
    json_object *o = event_new("error"), *e = json_object_new_object();
    orc_json_add_str(e, "type", type);
    orc_json_add_str(e, "message", message);
    json_object_object_add(o, "error", e);
    return o;
}

static void send_error(orc_messages_stream_t *s, const char *type, const char *message, orc_sse_out_fn out,
                       void *arg)
{
    ORC_ASSERT(!s->ended); /* nothing after message_stop or an error */
    s->ended = true;
    send_event(error_body(type, message), out, arg);
}

/* A canonical mid-stream error -> the Anthropic error type.  The type
 * ("rate_limit_error", "RESOURCE_EXHAUSTED", "server_error") decides, then
 * the code (the orchestrator puts the failure class there: "timeout"). */
static const char *stream_error_type(const char *type, const char *code)
{
    orc_fail_class_t cls = orc_fail_class_for_type(type);
    if (cls == ORC_FAIL_SERVER && code != NULL)
        cls = orc_fail_class_for_type(code);
    if (cls == ORC_FAIL_SERVER && (str_is(type, "timeout_error") || str_is(type, "DEADLINE_EXCEEDED") ||
                                   str_is(code, orc_fail_class_name(ORC_FAIL_TIMEOUT))))
        cls = ORC_FAIL_TIMEOUT;
    switch (cls) {
    case ORC_FAIL_RATE_LIMITED: return "rate_limit_error";
    case ORC_FAIL_OVERLOADED: return "overloaded_error";
    case ORC_FAIL_TIMEOUT: return "timeout_error";
    default: return "api_error";
    }
}

static void on_error(orc_messages_stream_t *s, json_object *err, orc_sse_out_fn out, void *arg)
{
    const char *msg = json_object_is_type(err, json_type_string) ? json_object_get_string(err)
                                                                 : orc_json_get_str(err, "message");
    const char *type = stream_error_type(orc_json_get_str(err, "type"), orc_json_get_str(err, "code"));
    send_error(s, type, msg && *msg ? msg : "upstream stream error", out, arg);
}

/* Usage of a chunk that carries it (the usage chunk; some servers put it
 * on the finish chunk). */
static void read_usage(orc_messages_stream_t *s, json_object *chunk)
{
    json_object *u = orc_json_get(chunk, "usage", json_type_object);
    if (u == NULL)
        return;
    int64_t prompt = orc_json_get_int(u, "prompt_tokens", 0);
    int64_t cached =
        orc_json_get_int(orc_json_get(u, "prompt_tokens_details", json_type_object), "cached_tokens", 0);
    s->input_tokens = ORC_MAX(prompt - cached, 0);
    s->cache_read_tokens = cached;
    s->output_tokens = orc_json_get_int(u, "completion_tokens", 0);
    s->usage_known = true;
}

/* message_start and ping, once, before anything else. */
static void start(orc_messages_stream_t *s, json_object *chunk, orc_sse_out_fn out, void *arg)
{
    if (s->started)
        return;
    s->started = true;
    if (s->id[0] == '\0')
        orc_messages_id(orc_json_get_str(chunk, "id"), s->id, sizeof(s->id));
    const char *model = orc_json_get_str(chunk, "model");
    if (s->model[0] == '\0' && model != NULL)
        snprintf(s->model, sizeof(s->model), "%s", model);
    json_object *msg = json_object_new_object(), *usage = json_object_new_object();
    orc_json_add_str(msg, "id", s->id);
    orc_json_add_str(msg, "type", "message");
    orc_json_add_str(msg, "role", "assistant");
    orc_json_add_str(msg, "model", s->model);
    json_object_object_add(msg, "content", json_object_new_array());
    json_object_object_add(msg, "stop_reason", NULL);
    json_object_object_add(msg, "stop_sequence", NULL);
    orc_json_add_int(usage, "input_tokens", s->input_tokens);
    orc_json_add_int(usage, "output_tokens", 0);
    json_object_object_add(msg, "usage", usage);
    json_object *ev = event_new("message_start");
    json_object_object_add(ev, "message", msg);
    send_event(ev, out, arg);
    send_event(event_new("ping"), out, arg);
}

static void block_stop(orc_messages_stream_t *s, orc_sse_out_fn out, void *arg)
{
    if (s->open_block < 0)
        return;
    json_object *ev = event_new("content_block_stop");
    orc_json_add_int(ev, "index", s->open_block);
    send_event(ev, out, arg);
    s->open_block = s->open_tool = -1;
}

/* Closes the open block and opens CB (taken) as the next one. */
static void block_start(orc_messages_stream_t *s, json_object *cb, orc_sse_out_fn out, void *arg)
{
    block_stop(s, out, arg);
    ORC_ASSERT(s->started && !s->ended); /* after message_start, before the end */
    s->open_block = s->next_block++;
    json_object *ev = event_new("content_block_start");
    orc_json_add_int(ev, "index", s->open_block);
    json_object_object_add(ev, "content_block", cb);
    send_event(ev, out, arg);
}

/* A content_block_delta of TYPE whose KEY is VALUE, for the open block. */
static void block_delta(orc_messages_stream_t *s, const char *type, const char *key, const char *value,
                        orc_sse_out_fn out, void *arg)
{
    /* the open block, the last one started */
    ORC_ASSERT(!s->ended && s->open_block >= 0 && s->open_block == s->next_block - 1);
    json_object *ev = event_new("content_block_delta"), *d = event_new(type);
    orc_json_add_int(ev, "index", s->open_block);
    orc_json_add_str(d, key, value);
    json_object_object_add(ev, "delta", d);
    send_event(ev, out, arg);
}

static void on_text(orc_messages_stream_t *s, const char *text, orc_sse_out_fn out, void *arg)
{
    if (s->open_block < 0 || s->open_tool >= 0)
        block_start(s, text_block(""), out, arg);
    block_delta(s, "text_delta", "text", text, out, arg);
}

/* One tool_calls fragment.  A call's fragments come together (§1.4): a
 * fragment of a call whose block was closed cannot be sent any more, so
 * it fails the stream rather than corrupt the input. */
static bool on_tool(orc_messages_stream_t *s, json_object *frag, orc_sse_out_fn out, void *arg)
{
    json_object *fn = orc_json_get(frag, "function", json_type_object);
    const char *id = orc_json_get_str(frag, "id"), *name = orc_json_get_str(fn, "name");
    const char *args = orc_json_get_str(fn, "arguments");
    int64_t k = orc_json_get_int(frag, "index", -1);
    if (k < 0)
        k = id != NULL || s->open_tool < 0 ? s->last_tool + 1 : s->open_tool;
    if (k != s->open_tool && (k <= s->last_tool || k >= INT_MAX)) {
        send_error(s, "api_error", "upstream sent tool call fragments out of order", out, arg);
        return false;
    }
    if (k != s->open_tool) {
        char gen[48];
        json_object *cb = event_new("tool_use");
        snprintf(gen, sizeof(gen), "toolu_gateway_%d", (int)k);
        orc_json_add_str(cb, "id", id ? id : gen);
        orc_json_add_str(cb, "name", name ? name : "");
        json_object_object_add(cb, "input", json_object_new_object());
        block_start(s, cb, out, arg);
        s->open_tool = s->last_tool = (int)k;
        s->any_tool = true;
    }
    if (args != NULL && *args != '\0')
        block_delta(s, "input_json_delta", "partial_json", args, out, arg);
    return true;
}

/* The choice with index 0 (the only one an Anthropic message has). */
static json_object *first_choice(json_object *chunk)
{
    json_object *choices = orc_json_get(chunk, "choices", json_type_array);
    for (size_t i = 0; choices != NULL && i < json_object_array_length(choices); i++) {
        json_object *c = json_object_array_get_idx(choices, i);
        if (orc_json_get_int(c, "index", 0) == 0)
            return c;
    }
    return NULL;
}

void orc_messages_stream_chunk(orc_messages_stream_t *s, json_object *chunk, orc_sse_out_fn out, void *arg)
{
    json_object *err = NULL;
    if (s->ended || !json_object_is_type(chunk, json_type_object))
        return;
    read_usage(s, chunk);
    start(s, chunk, out, arg);
    if (field(chunk, "error", &err)) {
        on_error(s, err, out, arg);
        return;
    }
    json_object *choice = first_choice(chunk);
    if (choice == NULL || s->finished)
        return;
    json_object *delta = orc_json_get(choice, "delta", json_type_object);
    json_object *calls = orc_json_get(delta, "tool_calls", json_type_array);
    const char *text = orc_json_get_str(delta, "content"),
               *finish = orc_json_get_str(choice, "finish_reason");
    const char *refusal = orc_json_get_str(delta, "refusal");
    if (text != NULL && *text != '\0')
        on_text(s, text, out, arg);
    if (refusal != NULL && *refusal != '\0') {
        s->refused = true; /* what the model said instead, as in a response */
        on_text(s, refusal, out, arg);
    }
    for (size_t i = 0; calls != NULL && i < json_object_array_length(calls); i++) {
        if (!on_tool(s, json_object_array_get_idx(calls, i), out, arg))
            return;
    }
    if (finish != NULL) {
        block_stop(s, out, arg);
        s->finished = true;
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s",
                 stop_reason_for(s->refused ? "content_filter" : finish, s->any_tool));
    }
}

void orc_messages_stream_finish(orc_messages_stream_t *s, bool ok, orc_sse_out_fn out, void *arg)
{
    if (s->ended)
        return;
    start(s, NULL, out, arg);
    if (!ok) {
        send_error(s, "api_error", "the upstream stream failed", out, arg);
        return;
    }
    block_stop(s, out, arg);
    if (!s->finished)
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s",
                 stop_reason_for(s->refused ? "content_filter" : NULL, s->any_tool));
    json_object *ev = event_new("message_delta"), *d = json_object_new_object(),
                *u = json_object_new_object();
    orc_json_add_str(d, "stop_reason", s->stop_reason);
    json_object_object_add(d, "stop_sequence", NULL);
    orc_json_add_int(u, "output_tokens", s->output_tokens);
    orc_json_add_int(u, "input_tokens", s->input_tokens);
    if (s->cache_read_tokens > 0)
        orc_json_add_int(u, "cache_read_input_tokens", s->cache_read_tokens);
    json_object_object_add(ev, "delta", d);
    json_object_object_add(ev, "usage", u);
    send_event(ev, out, arg);
    send_event(event_new("message_stop"), out, arg);
    s->ended = true;
}

/* --- errors (§2.5, §7) ----------------------------------------------------- */

const char *orc_messages_error_type(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    }
}

json_object *orc_messages_error_new(int status, const char *message)
{
    return error_body(orc_messages_error_type(status), message ? message : "");
}
