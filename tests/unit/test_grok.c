/*
 * test_grok.c - the xAI adapter (docs/providers.md §4): OpenAI wire with
 * completion_tokens excluding reasoning (added back), chunks without
 * finish_reason/logprobs until the end, whole tool calls in one delta, and
 * the {"code","error":"text"} error body.
 */
#include <criterion/criterion.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "worker/llm/providers/provider.h"
#include "worker/llm/providers/sse.h"
#include "tests/unit/helpers.h"

#define FIXTURE(name) ORC_TEST_DATA "/providers/" name

TestSuite(grok, .timeout = 10);

static const orc_endpoint_t ep = {ORC_PROVIDER_GROK, "https://api.x.ai/v1", "xai-test", NULL, 0};

typedef struct {
    orc_stream_t st;
    json_object *chunks;
    int end_rc;
} run_t;

static void on_chunk(void *arg, json_object *chunk)
{
    json_object_array_add(((run_t *)arg)->chunks, json_object_get(chunk));
}

static void on_event(void *arg, const char *event, const char *data, size_t len)
{
    run_t *r = arg;
    orc_adapter_grok.stream_event(&r->st, event, data, len, on_chunk, r);
}

static void run_text(run_t *r, const char *text, size_t len, size_t cut, bool include_usage)
{
    orc_sse_t p;
    r->chunks = json_object_new_array();
    orc_stream_init(&r->st, "grok-4-fast", include_usage);
    orc_sse_init(&p, 1 << 20);
    for (size_t at = 0; at < len;) {
        size_t n = cut == 1 ? 1 : (cut > at ? cut - at : len - at);
        cr_assert_eq(orc_sse_feed(&p, text + at, n, on_event, r), ORC_OK);
        at += n;
    }
    r->end_rc = orc_adapter_grok.stream_end(&r->st, on_chunk, r);
    orc_sse_free(&p);
}

static void run_fixture(run_t *r, const char *name, bool include_usage)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), FIXTURE("%s"), name);
    char *text = test_slurp(path, &len);
    run_text(r, text, len, 0, include_usage);
    free(text);
}

static json_object *chunk(run_t *r, size_t i)
{
    return json_object_array_get_idx(r->chunks, i);
}

/* --- request ----------------------------------------------------------------- */

Test(grok, build_request)
{
    json_object *req =
        json_tokener_parse("{\"model\":\"xai/grok-4-fast\",\"messages\":[{\"role\":\"user\",\"content\":"
                           "\"Hi\"}],\"reasoning_effort\":\"low\",\"stop\":[\"\\n\"]}");
    orc_http_out_t out;
    char err[128] = "";
    cr_assert_eq(orc_adapter_grok.build_request(&ep, "grok-4-fast", req, true, &out, err, sizeof(err)),
                 ORC_OK);
    cr_assert_str_eq(out.url, "https://api.x.ai/v1/chat/completions");
    cr_assert_str_eq(out.headers[0], "Authorization: Bearer xai-test");
    cr_assert_str_eq(out.headers[1], "Content-Type: application/json");
    cr_assert_null(out.headers[2]);
    cr_assert_str_eq(out.body,
                     "{\"model\":\"grok-4-fast\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                     "\"reasoning_effort\":\"low\",\"stop\":[\"\\n\"],\"stream\":true,"
                     "\"stream_options\":{\"include_usage\":true}}");
    orc_http_out_free(&out);
    json_object_put(req);
}

/* --- response ---------------------------------------------------------------- */

static const char *grok_response =
    "{\"id\":\"8f008308-984b-9603-a1b2-0c9d8e7f6a5b\",\"object\":\"chat.completion\",\"created\":1764100002,"
    "\"model\":\"grok-4-fast-reasoning\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":"
    "\"Hi\",\"refusal\":null},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":165,\"completion_"
    "tokens\":2,"
    "\"total_tokens\":292,\"prompt_tokens_details\":{\"text_tokens\":165,\"audio_tokens\":0,\"image_tokens\":"
    "0,"
    "\"cached_tokens\":150},\"completion_tokens_details\":{\"reasoning_tokens\":125,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0},\"num_sources_used\":0,"
    "\"cost_in_usd_ticks\":1234500},\"system_fingerprint\":\"fp_9b0c\"}";

Test(grok, parse_adds_reasoning_to_completion)
{
    orc_usage_t u;
    orc_failure_t f;
    json_object *r =
        orc_adapter_grok.parse_response(grok_response, strlen(grok_response), "grok-4-fast", &u, &f);
    cr_assert_not_null(r);
    cr_assert_str_eq(test_at_str(r, "id"), "8f008308-984b-9603-a1b2-0c9d8e7f6a5b");
    cr_assert_str_eq(test_at_str(r, "model"), "grok-4-fast-reasoning");
    cr_assert(u.known);
    cr_assert_eq(u.prompt_tokens, 165);
    cr_assert_eq(u.completion_tokens, 127);
    cr_assert_eq(u.reasoning_tokens, 125);
    cr_assert_eq(u.total_tokens, 292);
    cr_assert_eq(u.cached_tokens, 150);
    cr_assert_eq(test_at_int(r, "usage.prompt_tokens"), 165);
    cr_assert_eq(test_at_int(r, "usage.completion_tokens"), 127);
    cr_assert_eq(test_at_int(r, "usage.total_tokens"), 292);
    cr_assert_eq(test_at_int(r, "usage.cost_in_usd_ticks"), 1234500, "extra xAI fields are kept");
    cr_assert_str_eq(test_at_str(r, "choices.0.message.content"), "Hi");
    json_object_put(r);
}

Test(grok, openai_adapter_does_not_add_reasoning)
{
    orc_usage_t u;
    orc_failure_t f;
    json_object *r = orc_adapter_openai.parse_response(grok_response, strlen(grok_response), "m", &u, &f);
    cr_assert_eq(u.completion_tokens, 2);
    cr_assert_eq(u.total_tokens, 167);
    json_object_put(r);
}

/* --- stream ------------------------------------------------------------------ */

Test(grok, stream_text_fills_missing_finish_and_logprobs)
{
    run_t r;
    run_fixture(&r, "grok_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(json_object_array_length(r.chunks), 5);
    cr_assert_str_eq(
        test_plain(chunk(&r, 0)),
        "{\"id\":\"8f008308-984b-9603-a1b2-0c9d8e7f6a5b\",\"object\":\"chat.completion.chunk\","
        "\"created\":1764100002,\"model\":\"grok-4-fast-reasoning\",\"system_fingerprint\":\"fp_9b0c\","
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"The user "
        "greets.\"},\"logprobs\":null,\"finish_reason\":null}]}");
    cr_assert_str_eq(test_at_str(chunk(&r, 1), "choices.0.delta.content"), "Hi");
    cr_assert_str_eq(test_at_str(chunk(&r, 2), "choices.0.delta.content"), " there");
    cr_assert_str_eq(test_at_str(chunk(&r, 3), "choices.0.finish_reason"), "stop");
    json_object *usage = test_at(chunk(&r, 4), "usage");
    cr_assert_eq(test_at_int(usage, "completion_tokens"), 127);
    cr_assert_eq(test_at_int(usage, "total_tokens"), 292);
    cr_assert_eq(json_object_array_length(test_at(chunk(&r, 4), "choices")), 0);
    cr_assert_eq(r.st.usage.completion_tokens, 127);
    cr_assert_eq(r.st.usage.reasoning_tokens, 125);
    cr_assert_eq(r.st.usage.cached_tokens, 150);
    cr_assert(r.st.done);
    json_object_put(r.chunks);
}

Test(grok, stream_without_include_usage_still_records_usage)
{
    run_t r;
    run_fixture(&r, "grok_stream.txt", false);
    cr_assert_eq(json_object_array_length(r.chunks), 4);
    cr_assert_eq(r.st.usage.total_tokens, 292);
    cr_assert_eq(r.st.usage.completion_tokens, 127);
    json_object_put(r.chunks);
}

Test(grok, stream_whole_tool_call)
{
    run_t r;
    run_fixture(&r, "grok_tools_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(json_object_array_length(r.chunks), 3);
    cr_assert_str_eq(test_plain(test_at(chunk(&r, 0), "choices.0.delta.tool_calls.0")),
                     "{\"index\":0,\"id\":\"call_51851897\",\"type\":\"function\",\"function\":{\"name\":"
                     "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}");
    cr_assert_str_eq(test_at_str(chunk(&r, 1), "choices.0.finish_reason"), "tool_calls");
    cr_assert_eq(test_at_int(chunk(&r, 2), "usage.completion_tokens"), 30);
    cr_assert_eq(test_at_int(chunk(&r, 2), "usage.total_tokens"), 330);
    json_object_put(r.chunks);
}

Test(grok, stream_cut_at_every_byte)
{
    char path[512];
    size_t len;
    run_t whole, part;
    snprintf(path, sizeof(path), FIXTURE("%s"), "grok_stream.txt");
    char *text = test_slurp(path, &len);
    run_text(&whole, text, len, 0, true);
    char *want = strdup(test_plain(whole.chunks));
    for (size_t k = 1; k <= len; k++) {
        run_text(&part, text, len, k, true);
        cr_assert_str_eq(test_plain(part.chunks), want, "cut at %zu", k);
        json_object_put(part.chunks);
    }
    free(want);
    json_object_put(whole.chunks);
    free(text);
}

Test(grok, stream_error_with_string_body)
{
    static const char text[] =
        "data: {\"code\":\"The service is currently unavailable\",\"error\":\"Upstream overloaded\"}\n\n";
    run_t r;
    run_text(&r, text, strlen(text), 0, false);
    cr_assert_eq(json_object_array_length(r.chunks), 1);
    cr_assert_str_eq(test_plain(chunk(&r, 0)),
                     "{\"error\":{\"message\":\"Upstream overloaded\",\"type\":\"server_error\","
                     "\"param\":null,\"code\":\"The service is currently unavailable\"}}");
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_SERVER);
    cr_assert_eq(r.end_rc, ORC_ERR);
    json_object_put(r.chunks);
}

Test(grok, stream_cut_without_finish)
{
    static const char text[] =
        "data: {\"id\":\"u\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"g\","
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n";
    run_t r;
    run_text(&r, text, strlen(text), 0, false);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(json_object_array_length(r.chunks), 2);
    cr_assert_str_eq(test_at_str(chunk(&r, 1), "error.type"), "server_error");
    json_object_put(r.chunks);
}

/* --- errors (§4) --------------------------------------------------------------- */

Test(grok, classify_every_status)
{
    static const struct {
        int status;
        const char *body;
        orc_fail_class_t cls;
        const char *message, *code;
    } rows[] = {
        {400,
         "{\"code\":\"Client specified an invalid argument\",\"error\":\"Incorrect API key provided: "
         "xa***yz. You can "
         "obtain an API key from https://console.x.ai.\"}",
         ORC_FAIL_CLIENT,
         "Incorrect API key provided: xa***yz. You can obtain an API key from https://console.x.ai.",
         "Client specified an invalid argument"},
        {401, "{\"code\":\"Unauthenticated\",\"error\":\"No auth header\"}", ORC_FAIL_CLIENT,
         "No auth header", "Unauthenticated"},
        {403, "{\"code\":\"Permission denied\",\"error\":\"Team is blocked\"}", ORC_FAIL_CLIENT,
         "Team is blocked", "Permission denied"},
        {404,
         "{\"code\":\"Some requested entity was not found\",\"error\":\"The model grok-9 does not exist\"}",
         ORC_FAIL_CLIENT, "The model grok-9 does not exist", "Some requested entity was not found"},
        {405, "{\"code\":\"Method not allowed\",\"error\":\"Use POST\"}", ORC_FAIL_CLIENT, "Use POST",
         "Method not allowed"},
        {415, "{\"code\":\"Unsupported media type\",\"error\":\"Send JSON\"}", ORC_FAIL_CLIENT, "Send JSON",
         "Unsupported media type"},
        {422, "{\"code\":\"Unprocessable\",\"error\":\"Failed to deserialize\"}", ORC_FAIL_CLIENT,
         "Failed to deserialize", "Unprocessable"},
        {429, "{\"code\":\"Too many requests\",\"error\":\"Rate limit for grok-4 exceeded\"}",
         ORC_FAIL_RATE_LIMITED, "Rate limit for grok-4 exceeded", "Too many requests"},
        {500, "{\"code\":\"Internal error\",\"error\":\"Something went wrong\"}", ORC_FAIL_SERVER,
         "Something went wrong", "Internal error"},
        {503, "{\"code\":\"Unavailable\",\"error\":\"Service unavailable\"}", ORC_FAIL_OVERLOADED,
         "Service unavailable", "Unavailable"},
        {502, "", ORC_FAIL_SERVER, "upstream answered HTTP 502", ""},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        orc_failure_t f;
        int64_t retry = rows[i].status == 429 ? 3000 : -1;
        orc_adapter_grok.classify_error(rows[i].status, rows[i].body, strlen(rows[i].body), retry, &f);
        cr_assert_eq(f.cls, rows[i].cls, "status %d", rows[i].status);
        cr_assert_str_eq(f.message, rows[i].message);
        cr_assert_str_eq(f.code, rows[i].code);
        cr_assert_str_eq(f.type, "");
        cr_assert_eq(f.status, rows[i].status);
        cr_assert_eq(f.retry_after_ms, retry);
    }
}
