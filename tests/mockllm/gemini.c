/*
 * gemini.c - the Gemini generateContent dialect (Developer API, v1beta).
 *
 * The model comes from the path (set by main.c before parsing).  The
 * answer is one GenerateContentResponse, or with :streamGenerateContent
 * one response per word, each with the new text only and the cumulative
 * usageMetadata, finishReason on the last; with alt=sse every event is
 * "data: <json>\r\n\r\n" and the end is the end of the body (no [DONE]),
 * without it the responses form one JSON array.  A tool call is a whole
 * functionCall part with finishReason STOP.
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
} gm_ctx_t;

/* ---- request ----------------------------------------------------------------------- */

/* Text of the functionResponse parts: response.result when a string, else the JSON. */
static char *function_responses(json_object *parts)
{
    char *out = NULL;

    for (size_t i = 0; i < json_object_array_length(parts); i++) {
        json_object *fr =
            mock_json_get(json_object_array_get_idx(parts, i), "functionResponse", json_type_object);
        json_object *resp = mock_json_get(fr, "response", json_type_object);
        const char *text = mock_json_get_str(resp, "result");
        char *joined;

        if (fr == NULL)
            continue;
        if (text == NULL)
            text = resp ? json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE)
                        : "";
        if (asprintf(&joined, "%s%s%s", out ? out : "", out ? " " : "", text) < 0)
            joined = NULL;
        free(out);
        out = joined;
    }
    return out;
}

static bool has_text(json_object *parts)
{
    for (size_t i = 0; i < json_object_array_length(parts); i++) {
        if (mock_json_get_str(json_object_array_get_idx(parts, i), "text") != NULL)
            return true;
    }
    return false;
}

static void parse_contents(json_object *contents, mock_chat_t *chat)
{
    size_t n = json_object_array_length(contents);

    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(contents, i);
        json_object *parts = mock_json_get(c, "parts", json_type_array);
        const char *role = mock_json_get_str(c, "role");
        bool user = role == NULL || strcmp(role, "user") == 0 || strcmp(role, "function") == 0;
        char *text, *results;

        if (parts == NULL)
            continue;
        text = mock_json_text(parts, NULL, "text");
        results = function_responses(parts);
        chat->prompt_tokens += mock_words(text) + mock_words(results);
        if (user && has_text(parts) && text != NULL) {
            free(chat->user_text);
            chat->user_text = text;
            text = NULL;
        }
        if (i == n - 1 && user && results != NULL) {
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
    json_object *cfg = mock_json_get(mock_json_get(body, "toolConfig", json_type_object),
                                     "functionCallingConfig", json_type_object);
    json_object *allowed = mock_json_get(cfg, "allowedFunctionNames", json_type_array);
    const char *mode = mock_json_get_str(cfg, "mode"), *name = NULL;

    if (tools == NULL || chat->tool_result != NULL || (mode != NULL && strcmp(mode, "NONE") == 0))
        return;
    if (allowed != NULL && json_object_array_length(allowed) > 0)
        name = json_object_get_string(json_object_array_get_idx(allowed, 0));
    for (size_t i = 0; name == NULL && i < json_object_array_length(tools); i++) {
        json_object *decls =
            mock_json_get(json_object_array_get_idx(tools, i), "functionDeclarations", json_type_array);
        if (decls != NULL && json_object_array_length(decls) > 0)
            name = mock_json_get_str(json_object_array_get_idx(decls, 0), "name");
    }
    if (name != NULL)
        chat->tool_name = strdup(name);
}

const char *mock_gemini_parse(json_object *body, mock_chat_t *chat)
{
    json_object *contents = mock_json_get(body, "contents", json_type_array);
    json_object *sys =
        mock_json_get(mock_json_get(body, "systemInstruction", json_type_object), "parts", json_type_array);
    json_object *gen = mock_json_get(body, "generationConfig", json_type_object), *stops = NULL;
    char *system;

    if (contents == NULL || json_object_array_length(contents) == 0)
        return "* GenerateContentRequest.contents: contents is not specified";
    system = mock_json_text(sys, NULL, "text");
    chat->prompt_tokens += mock_words(system);
    free(system);
    parse_contents(contents, chat);
    parse_tools(body, chat);
    if (mock_json_get_long(gen, "maxOutputTokens", &chat->max_tokens) != MOCK_OK)
        chat->max_tokens = -1;
    json_object_object_get_ex(gen, "stopSequences", &stops);
    mock_json_stops(stops, &chat->stops);
    return NULL;
}

/* ---- response ---------------------------------------------------------------------- */

static json_object *usage_json(const mock_answer_t *a, int candidates)
{
    json_object *u = json_object_new_object(), *details = json_object_new_array(),
                *d = json_object_new_object();

    mock_json_add_int(u, "promptTokenCount", a->prompt_tokens);
    mock_json_add_int(u, "candidatesTokenCount", candidates);
    mock_json_add_int(u, "totalTokenCount", a->prompt_tokens + candidates);
    mock_json_add_str(d, "modality", "TEXT");
    mock_json_add_int(d, "tokenCount", a->prompt_tokens);
    json_object_array_add(details, d);
    mock_json_add(u, "promptTokensDetails", details);
    return u;
}

static json_object *call_part(const gm_ctx_t *c)
{
    json_object *p = json_object_new_object(), *fc = json_object_new_object(),
                *args = json_object_new_object();

    mock_json_add_str(fc, "name", c->chat->tool_name);
    mock_json_add_str(args, "query", c->a->query ? c->a->query : "");
    mock_json_add(fc, "args", args);
    mock_json_add(p, "functionCall", fc);
    return p;
}

/* One response object: PART (owned) as the content, FINISH set on the last. */
static json_object *response_json(const gm_ctx_t *c, json_object *part, bool finish, int candidates)
{
    json_object *o = json_object_new_object(), *cands = json_object_new_array(),
                *cand = json_object_new_object();
    json_object *content = json_object_new_object(), *parts = json_object_new_array();

    json_object_array_add(parts, part);
    mock_json_add(content, "parts", parts);
    mock_json_add_str(content, "role", "model");
    mock_json_add(cand, "content", content);
    if (finish)
        mock_json_add_str(cand, "finishReason", c->a->finish == MOCK_FIN_LENGTH ? "MAX_TOKENS" : "STOP");
    if (finish && c->a->finish == MOCK_FIN_TOOL)
        mock_json_add_str(cand, "finishMessage", "Model generated function call(s).");
    mock_json_add_int(cand, "index", 0);
    json_object_array_add(cands, cand);
    mock_json_add(o, "candidates", cands);
    mock_json_add(o, "usageMetadata", usage_json(c->a, candidates));
    mock_json_add_str(o, "modelVersion", c->chat->model);
    mock_json_add_str(o, "responseId", c->id);
    return o;
}

static json_object *text_part(const char *text)
{
    json_object *p = json_object_new_object();

    mock_json_add_str(p, "text", text);
    return p;
}

/* Appends one streamed response: an SSE event, or an element of the JSON array. */
static void add_response(const gm_ctx_t *c, mock_out_t *out, json_object *o)
{
    char *json, *ev = NULL;
    int n;

    if (c->chat->sse) {
        mock_out_event(out, NULL, o, "\r\n\r\n");
        return;
    }
    json = mock_json_str(o);
    if (json == NULL)
        return;
    n = asprintf(&ev, "%s%s", out->parts.n == 0 ? "[" : ",\r\n", json);
    free(json);
    if (n >= 0)
        mock_strv_push(&out->parts, ev);
}

static void render_stream(const gm_ctx_t *c, mock_out_t *out)
{
    const mock_answer_t *a = c->a;
    size_t n = a->pieces.n;

    out->status = 200;
    out->stream = true;
    out->content_type = c->chat->sse ? "text/event-stream" : "application/json; charset=UTF-8";
    if (a->finish == MOCK_FIN_TOOL) {
        add_response(c, out, response_json(c, call_part(c), true, a->completion_tokens));
    } else if (n == 0) {
        add_response(c, out, response_json(c, text_part(""), true, 0));
    } else {
        for (size_t i = 0; i < n; i++)
            add_response(c, out, response_json(c, text_part(a->pieces.v[i]), i == n - 1, (int)i + 1));
    }
    if (!c->chat->sse)
        mock_strv_add(&out->parts, "]");
}

void mock_gemini_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out)
{
    gm_ctx_t c = {.chat = chat, .a = a};
    json_object *part;

    snprintf(c.id, sizeof(c.id), "mock%" PRIu64, chat->seq);
    if (chat->stream) {
        render_stream(&c, out);
        return;
    }
    part = a->finish == MOCK_FIN_TOOL ? call_part(&c) : text_part(a->text);
    mock_out_json(out, 200, "application/json; charset=UTF-8",
                  response_json(&c, part, true, a->completion_tokens));
}
