/*
 * openai.c - the OpenAI Chat Completions dialect, and xAI's variant of it.
 *
 * Parses a /v1/chat/completions body into a mock_chat_t and renders the
 * answer as a chat.completion object or a chat.completion.chunk stream
 * (role chunk, one chunk per word, finish chunk, usage chunk when
 * stream_options.include_usage, data: [DONE]).  xAI differences
 * (docs/providers.md §4): UUID ids, completion_tokens without the 3
 * reasoning tokens, no finish_reason/logprobs keys before the final chunk,
 * the tool call in one delta.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/mockllm/mock.h"

#define MOCK_XAI_REASONING 3

typedef struct {
    const mock_chat_t *chat;
    const mock_answer_t *a;
    bool xai;
    char id[64];
    char call_id[64];
    int64_t created;
} oa_ctx_t;

static const char *finish_name(mock_finish_t f)
{
    return f == MOCK_FIN_LENGTH ? "length" : f == MOCK_FIN_TOOL ? "tool_calls" : "stop";
}

/* ---- request ----------------------------------------------------------------------- */

static void parse_messages(json_object *msgs, mock_chat_t *chat)
{
    size_t n = json_object_array_length(msgs);

    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        const char *role = mock_json_get_str(m, "role");
        json_object *content = NULL;
        char *text;

        json_object_object_get_ex(m, "content", &content);
        text = mock_json_text(content, "type", "text");
        if (text == NULL)
            continue;
        chat->prompt_tokens += mock_words(text);
        if (role != NULL && strcmp(role, "user") == 0) {
            free(chat->user_text);
            chat->user_text = text;
        } else if (i == n - 1 && role != NULL && strcmp(role, "tool") == 0) {
            chat->tool_result = text;
        } else {
            free(text);
        }
    }
}

/* The tool to call: forced by tool_choice, else the first one; none if "none". */
static void parse_tools(json_object *body, json_object *last, mock_chat_t *chat)
{
    json_object *tools = mock_json_get(body, "tools", json_type_array);
    json_object *choice = NULL, *fn;
    const char *role = mock_json_get_str(last, "role"), *name;

    if (tools == NULL || json_object_array_length(tools) == 0 || role == NULL || strcmp(role, "user") != 0)
        return;
    json_object_object_get_ex(body, "tool_choice", &choice);
    if (json_object_is_type(choice, json_type_string) && strcmp(json_object_get_string(choice), "none") == 0)
        return;
    fn = mock_json_get(choice, "function", json_type_object);
    if (fn == NULL)
        fn = mock_json_get(json_object_array_get_idx(tools, 0), "function", json_type_object);
    name = mock_json_get_str(fn, "name");
    chat->tool_name = strdup(name ? name : "tool");
}

const char *mock_openai_parse(json_object *body, mock_chat_t *chat)
{
    json_object *msgs = mock_json_get(body, "messages", json_type_array);
    json_object *stream = mock_json_get(body, "stream", json_type_boolean), *stop = NULL;
    json_object *opts = mock_json_get(body, "stream_options", json_type_object);
    json_object *usage = mock_json_get(opts, "include_usage", json_type_boolean);
    const char *model = mock_json_get_str(body, "model");

    if (model == NULL)
        return "you must provide a model parameter";
    if (msgs == NULL || json_object_array_length(msgs) == 0)
        return "'messages' must be a non-empty array";
    chat->model = strdup(model);
    parse_messages(msgs, chat);
    parse_tools(body, json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1), chat);
    if (mock_json_get_long(body, "max_completion_tokens", &chat->max_tokens) != MOCK_OK &&
        mock_json_get_long(body, "max_tokens", &chat->max_tokens) != MOCK_OK)
        chat->max_tokens = -1;
    json_object_object_get_ex(body, "stop", &stop);
    mock_json_stops(stop, &chat->stops);
    chat->stream = stream && json_object_get_boolean(stream);
    chat->include_usage = usage && json_object_get_boolean(usage);
    return NULL;
}

/* ---- response ---------------------------------------------------------------------- */

static json_object *usage_json(const oa_ctx_t *c)
{
    const mock_answer_t *a = c->a;
    int reasoning = c->xai ? MOCK_XAI_REASONING : 0;
    json_object *u = json_object_new_object(), *pd = json_object_new_object(), *cd = json_object_new_object();

    mock_json_add_int(u, "prompt_tokens", a->prompt_tokens);
    mock_json_add_int(u, "completion_tokens", a->completion_tokens);
    mock_json_add_int(u, "total_tokens", a->prompt_tokens + a->completion_tokens + reasoning);
    if (c->xai) {
        mock_json_add_int(pd, "text_tokens", a->prompt_tokens);
        mock_json_add_int(pd, "image_tokens", 0);
    }
    mock_json_add_int(pd, "cached_tokens", 0);
    mock_json_add_int(pd, "audio_tokens", 0);
    mock_json_add(u, "prompt_tokens_details", pd);
    mock_json_add_int(cd, "reasoning_tokens", reasoning);
    mock_json_add_int(cd, "audio_tokens", 0);
    mock_json_add_int(cd, "accepted_prediction_tokens", 0);
    mock_json_add_int(cd, "rejected_prediction_tokens", 0);
    mock_json_add(u, "completion_tokens_details", cd);
    if (c->xai)
        mock_json_add_int(u, "num_sources_used", 0);
    return u;
}

static json_object *tool_call_json(const oa_ctx_t *c, bool with_index, const char *args)
{
    json_object *call = json_object_new_object(), *fn = json_object_new_object();

    if (with_index)
        mock_json_add_int(call, "index", 0);
    mock_json_add_str(call, "id", c->call_id);
    mock_json_add_str(call, "type", "function");
    mock_json_add_str(fn, "name", c->chat->tool_name);
    mock_json_add_str(fn, "arguments", args);
    mock_json_add(call, "function", fn);
    return call;
}

static json_object *message_json(const oa_ctx_t *c)
{
    json_object *m = json_object_new_object(), *calls;

    mock_json_add_str(m, "role", "assistant");
    if (c->a->finish == MOCK_FIN_TOOL) {
        mock_json_add(m, "content", NULL);
        calls = json_object_new_array();
        json_object_array_add(calls, tool_call_json(c, false, c->a->args));
        mock_json_add(m, "tool_calls", calls);
    } else {
        mock_json_add_str(m, "content", c->a->text);
    }
    mock_json_add(m, "refusal", NULL);
    mock_json_add(m, "annotations", json_object_new_array());
    return m;
}

static void render_full(const oa_ctx_t *c, mock_out_t *out)
{
    json_object *o = json_object_new_object(), *choices = json_object_new_array();
    json_object *ch = json_object_new_object();

    mock_json_add_str(o, "id", c->id);
    mock_json_add_str(o, "object", "chat.completion");
    mock_json_add_int(o, "created", c->created);
    mock_json_add_str(o, "model", c->chat->model);
    mock_json_add_int(ch, "index", 0);
    mock_json_add(ch, "message", message_json(c));
    mock_json_add(ch, "logprobs", NULL);
    mock_json_add_str(ch, "finish_reason", finish_name(c->a->finish));
    json_object_array_add(choices, ch);
    mock_json_add(o, "choices", choices);
    mock_json_add(o, "usage", usage_json(c));
    mock_json_add_str(o, "service_tier", "default");
    mock_json_add_str(o, "system_fingerprint", "fp_mock");
    mock_out_json(out, 200, "application/json", o);
}

static json_object *chunk_head(const oa_ctx_t *c)
{
    json_object *o = json_object_new_object();

    mock_json_add_str(o, "id", c->id);
    mock_json_add_str(o, "object", "chat.completion.chunk");
    mock_json_add_int(o, "created", c->created);
    mock_json_add_str(o, "model", c->chat->model);
    mock_json_add_str(o, "system_fingerprint", "fp_mock");
    return o;
}

/* One chunk with DELTA; FINISH NULL means "not finished yet". */
static void add_chunk(const oa_ctx_t *c, mock_out_t *out, json_object *delta, const char *finish)
{
    json_object *o = chunk_head(c), *choices = json_object_new_array(), *ch = json_object_new_object();

    mock_json_add_int(ch, "index", 0);
    mock_json_add(ch, "delta", delta);
    if (!c->xai || finish != NULL) {
        mock_json_add(ch, "logprobs", NULL);
        mock_json_add_str(ch, "finish_reason", finish);
    }
    json_object_array_add(choices, ch);
    mock_json_add(o, "choices", choices);
    if (c->chat->include_usage)
        mock_json_add(o, "usage", NULL);
    mock_out_event(out, NULL, o, "\n\n");
}

static json_object *delta_calls(json_object *call)
{
    json_object *d = json_object_new_object(), *calls = json_object_new_array();

    json_object_array_add(calls, call);
    mock_json_add(d, "tool_calls", calls);
    return d;
}

/* OpenAI: id/name with empty arguments, then the arguments in 3 pieces; xAI: whole. */
static void stream_tool_call(const oa_ctx_t *c, mock_out_t *out)
{
    const char *args = c->a->args ? c->a->args : "{}";
    size_t cuts[4];
    json_object *d = json_object_new_object();

    mock_json_add_str(d, "role", "assistant");
    mock_json_add(d, "content", c->xai ? json_object_new_string("") : NULL);
    if (c->xai) {
        add_chunk(c, out, d, NULL);
        add_chunk(c, out, delta_calls(tool_call_json(c, true, args)), NULL);
        return;
    }
    mock_json_add(d, "tool_calls", json_object_new_array());
    json_object_array_add(json_object_object_get(d, "tool_calls"), tool_call_json(c, true, ""));
    add_chunk(c, out, d, NULL);
    mock_answer_split(args, strlen(args), 3, cuts);
    for (int i = 0; i < 3; i++) {
        json_object *call = json_object_new_object(), *fn = json_object_new_object();
        mock_json_add_int(call, "index", 0);
        mock_json_add(fn, "arguments",
                      json_object_new_string_len(args + cuts[i], (int)(cuts[i + 1] - cuts[i])));
        mock_json_add(call, "function", fn);
        add_chunk(c, out, delta_calls(call), NULL);
    }
}

static void render_stream(const oa_ctx_t *c, mock_out_t *out)
{
    json_object *d;

    out->status = 200;
    out->stream = true;
    out->content_type = "text/event-stream; charset=utf-8";
    if (c->a->finish == MOCK_FIN_TOOL) {
        stream_tool_call(c, out);
    } else {
        d = json_object_new_object();
        mock_json_add_str(d, "role", "assistant");
        mock_json_add_str(d, "content", "");
        if (!c->xai)
            mock_json_add(d, "refusal", NULL);
        add_chunk(c, out, d, NULL);
        for (size_t i = 0; i < c->a->pieces.n; i++) {
            d = json_object_new_object();
            mock_json_add_str(d, "content", c->a->pieces.v[i]);
            add_chunk(c, out, d, NULL);
        }
    }
    add_chunk(c, out, json_object_new_object(), finish_name(c->a->finish));
    if (c->chat->include_usage) {
        json_object *o = chunk_head(c);
        mock_json_add(o, "choices", json_object_new_array());
        mock_json_add(o, "usage", usage_json(c));
        mock_out_event(out, NULL, o, "\n\n");
    }
    mock_strv_add(&out->parts, "data: [DONE]\n\n");
}

void mock_openai_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out)
{
    oa_ctx_t c = {.chat = chat, .a = a, .xai = chat->dialect == MOCK_XAI, .created = (int64_t)time(NULL)};
    if (c.xai)
        snprintf(c.id, sizeof(c.id), "6d6f636b-0000-4000-8000-%012" PRIx64, chat->seq);
    else
        snprintf(c.id, sizeof(c.id), "chatcmpl-mock%" PRIu64, chat->seq);
    snprintf(c.call_id, sizeof(c.call_id), "call_mock%" PRIu64, chat->seq);
    if (chat->stream)
        render_stream(&c, out);
    else
        render_full(&c, out);
}
