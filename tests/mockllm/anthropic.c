/*
 * anthropic.c - the Anthropic Messages dialect.
 *
 * Parses a /v1/messages body (model, max_tokens and messages required)
 * into a mock_chat_t and renders the answer as a message object or as the
 * event stream message_start, content_block_start, ping,
 * content_block_delta..., content_block_stop, message_delta (with the
 * final usage.output_tokens), message_stop; every event has its event:
 * line.  A tool call is a tool_use block whose input streams as
 * input_json_delta pieces.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mockllm/mock.h"

typedef struct {
    const mock_chat_t *chat;
    const mock_answer_t *a;
    char id[64];
    char tool_id[64];
} an_ctx_t;

static const char *stop_name(mock_finish_t f)
{
    switch (f) {
    case MOCK_FIN_LENGTH: return "max_tokens";
    case MOCK_FIN_STOPSEQ: return "stop_sequence";
    case MOCK_FIN_TOOL: return "tool_use";
    default: return "end_turn";
    }
}

/* ---- request ----------------------------------------------------------------------- */

/* Concatenated text of the tool_result blocks of CONTENT, or NULL if none. */
static char *tool_results(json_object *content)
{
    char *out = NULL;

    if (!json_object_is_type(content, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *b = json_object_array_get_idx(content, i);
        const char *type = mock_json_get_str(b, "type");
        json_object *c = NULL;
        char *text, *joined;

        if (type == NULL || strcmp(type, "tool_result") != 0)
            continue;
        json_object_object_get_ex(b, "content", &c);
        text = mock_json_text(c, "type", "text");
        if (asprintf(&joined, "%s%s%s", out ? out : "", out ? " " : "", text ? text : "") < 0)
            joined = NULL;
        free(text);
        free(out);
        out = joined;
    }
    return out;
}

static bool has_text(json_object *content)
{
    if (json_object_is_type(content, json_type_string))
        return true;
    for (size_t i = 0; json_object_is_type(content, json_type_array) && i < json_object_array_length(content);
         i++) {
        const char *type = mock_json_get_str(json_object_array_get_idx(content, i), "type");
        if (type != NULL && strcmp(type, "text") == 0)
            return true;
    }
    return false;
}

static void parse_messages(json_object *msgs, mock_chat_t *chat)
{
    size_t n = json_object_array_length(msgs);

    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i), *content = NULL;
        const char *role = mock_json_get_str(m, "role");
        char *text, *results;

        json_object_object_get_ex(m, "content", &content);
        text = mock_json_text(content, "type", "text");
        results = tool_results(content);
        chat->prompt_tokens += mock_words(text) + mock_words(results);
        if (role != NULL && strcmp(role, "user") == 0 && has_text(content) && text != NULL) {
            free(chat->user_text);
            chat->user_text = text;
            text = NULL;
        }
        if (i == n - 1 && role != NULL && strcmp(role, "user") == 0 && results != NULL) {
            chat->tool_result = results;
            results = NULL;
        }
        free(text);
        free(results);
    }
}

static void parse_tools(json_object *body, mock_chat_t *chat)
{
    json_object *tools = mock_json_get(body, "tools", json_type_array);
    json_object *choice = mock_json_get(body, "tool_choice", json_type_object);
    const char *type = mock_json_get_str(choice, "type"), *name = NULL;

    if (tools == NULL || json_object_array_length(tools) == 0 || chat->tool_result != NULL)
        return;
    if (type != NULL && strcmp(type, "none") == 0)
        return;
    if (type != NULL && strcmp(type, "tool") == 0)
        name = mock_json_get_str(choice, "name");
    if (name == NULL)
        name = mock_json_get_str(json_object_array_get_idx(tools, 0), "name");
    chat->tool_name = strdup(name ? name : "tool");
}

const char *mock_anthropic_parse(json_object *body, mock_chat_t *chat)
{
    json_object *msgs = mock_json_get(body, "messages", json_type_array), *sys = NULL, *stops = NULL;
    json_object *stream = mock_json_get(body, "stream", json_type_boolean);
    const char *model = mock_json_get_str(body, "model");
    json_object *last;
    char *system;

    if (model == NULL)
        return "model: Field required";
    if (mock_json_get_long(body, "max_tokens", &chat->max_tokens) != MOCK_OK)
        return "max_tokens: Field required";
    if (msgs == NULL || json_object_array_length(msgs) == 0)
        return "messages: at least one message is required";
    chat->model = strdup(model);
    json_object_object_get_ex(body, "system", &sys);
    system = mock_json_text(sys, "type", "text");
    chat->prompt_tokens += mock_words(system);
    free(system);
    parse_messages(msgs, chat);
    last = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
    if (mock_json_get_str(last, "role") && strcmp(mock_json_get_str(last, "role"), "user") == 0)
        parse_tools(body, chat);
    json_object_object_get_ex(body, "stop_sequences", &stops);
    mock_json_stops(stops, &chat->stops);
    chat->stream = stream && json_object_get_boolean(stream);
    return NULL;
}

/* ---- response ---------------------------------------------------------------------- */

static json_object *usage_json(const mock_answer_t *a, int output_tokens, bool full)
{
    json_object *u = json_object_new_object(), *cc;

    mock_json_add_int(u, "input_tokens", a->prompt_tokens);
    mock_json_add_int(u, "cache_creation_input_tokens", 0);
    mock_json_add_int(u, "cache_read_input_tokens", 0);
    mock_json_add_int(u, "output_tokens", output_tokens);
    if (full) {
        cc = json_object_new_object();
        mock_json_add_int(cc, "ephemeral_5m_input_tokens", 0);
        mock_json_add_int(cc, "ephemeral_1h_input_tokens", 0);
        mock_json_add(u, "cache_creation", cc);
        mock_json_add_str(u, "service_tier", "standard");
    }
    return u;
}

static json_object *tool_block(const an_ctx_t *c, bool with_input)
{
    json_object *b = json_object_new_object(), *input = json_object_new_object();

    mock_json_add_str(b, "type", "tool_use");
    mock_json_add_str(b, "id", c->tool_id);
    mock_json_add_str(b, "name", c->chat->tool_name);
    if (with_input)
        mock_json_add_str(input, "query", c->a->query ? c->a->query : "");
    mock_json_add(b, "input", input);
    return b;
}

static json_object *text_block(const char *text)
{
    json_object *b = json_object_new_object();

    mock_json_add_str(b, "type", "text");
    mock_json_add_str(b, "text", text);
    return b;
}

/* The message object; CONTENT false gives the empty one of message_start. */
static json_object *message_json(const an_ctx_t *c, bool content)
{
    json_object *m = json_object_new_object(), *blocks = json_object_new_array();
    const mock_answer_t *a = c->a;

    mock_json_add_str(m, "id", c->id);
    mock_json_add_str(m, "type", "message");
    mock_json_add_str(m, "role", "assistant");
    mock_json_add_str(m, "model", c->chat->model);
    if (content && a->finish == MOCK_FIN_TOOL)
        json_object_array_add(blocks, tool_block(c, true));
    else if (content && a->text[0] != '\0')
        json_object_array_add(blocks, text_block(a->text));
    mock_json_add(m, "content", blocks);
    mock_json_add_str(m, "stop_reason", content ? stop_name(a->finish) : NULL);
    mock_json_add_str(m, "stop_sequence", content ? a->stop : NULL);
    mock_json_add(m, "usage", usage_json(a, content ? a->completion_tokens : 1, content));
    return m;
}

/* A new event object; its "type" comes first, as in the real stream. */
static json_object *ev_new(const char *type)
{
    json_object *o = json_object_new_object();

    mock_json_add_str(o, "type", type);
    return o;
}

static void add_event(mock_out_t *out, json_object *o)
{
    char type[64];

    snprintf(type, sizeof(type), "%s", mock_json_get_str(o, "type"));
    mock_out_event(out, type, o, "\n\n");
}

static void add_delta(mock_out_t *out, const char *type, const char *key, const char *value, size_t len)
{
    json_object *o = ev_new("content_block_delta"), *d = json_object_new_object();

    mock_json_add_int(o, "index", 0);
    mock_json_add_str(d, "type", type);
    mock_json_add(d, key, json_object_new_string_len(value, (int)len));
    mock_json_add(o, "delta", d);
    add_event(out, o);
}

static void stream_content(const an_ctx_t *c, mock_out_t *out)
{
    const mock_answer_t *a = c->a;
    json_object *o = ev_new("content_block_start");
    size_t cuts[4];

    mock_json_add_int(o, "index", 0);
    mock_json_add(o, "content_block", a->finish == MOCK_FIN_TOOL ? tool_block(c, false) : text_block(""));
    add_event(out, o);
    mock_strv_add(&out->parts, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
    if (a->finish == MOCK_FIN_TOOL) {
        const char *args = a->args ? a->args : "{}";
        mock_answer_split(args, strlen(args), 3, cuts);
        add_delta(out, "input_json_delta", "partial_json", "", 0);
        for (int i = 0; i < 3; i++)
            add_delta(out, "input_json_delta", "partial_json", args + cuts[i], cuts[i + 1] - cuts[i]);
    } else {
        for (size_t i = 0; i < a->pieces.n; i++)
            add_delta(out, "text_delta", "text", a->pieces.v[i], strlen(a->pieces.v[i]));
    }
    o = ev_new("content_block_stop");
    mock_json_add_int(o, "index", 0);
    add_event(out, o);
}

static void render_stream(const an_ctx_t *c, mock_out_t *out)
{
    json_object *o = ev_new("message_start"), *d, *u;

    out->status = 200;
    out->stream = true;
    out->content_type = "text/event-stream; charset=utf-8";
    mock_json_add(o, "message", message_json(c, false));
    add_event(out, o);
    stream_content(c, out);
    o = ev_new("message_delta");
    d = json_object_new_object();
    u = json_object_new_object();
    mock_json_add_str(d, "stop_reason", stop_name(c->a->finish));
    mock_json_add_str(d, "stop_sequence", c->a->stop);
    mock_json_add(o, "delta", d);
    mock_json_add_int(u, "output_tokens", c->a->completion_tokens);
    mock_json_add(o, "usage", u);
    add_event(out, o);
    add_event(out, ev_new("message_stop"));
}

void mock_anthropic_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out)
{
    an_ctx_t c = {.chat = chat, .a = a};

    snprintf(c.id, sizeof(c.id), "msg_mock%" PRIu64, chat->seq);
    snprintf(c.tool_id, sizeof(c.tool_id), "toolu_mock%" PRIu64, chat->seq);
    if (chat->stream)
        render_stream(&c, out);
    else
        mock_out_json(out, 200, "application/json", message_json(&c, true));
}
