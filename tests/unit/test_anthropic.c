/*
 * test_anthropic.c - the Anthropic Messages adapter: every request mapping
 * row of docs/providers.md §5, the response and every stop_reason row (§6.1),
 * usage with cache fields (§6.2), the stream translation of §6.3 on the
 * recorded streams (whole and cut at every byte boundary), mid-stream
 * errors and cut streams, and the error table of §2.5.
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

TestSuite(anthropic, .timeout = 10);

static const orc_endpoint_t ep = {ORC_PROVIDER_ANTHROPIC, "https://api.anthropic.com", "sk-ant-test", NULL,
                                  1024};

/* --- helpers --------------------------------------------------------------- */

static void assert_json(json_object *got, const char *want_text)
{
    json_object *want = json_tokener_parse(want_text);
    cr_assert_not_null(want, "bad expected JSON: %s", want_text);
    cr_assert(json_object_equal(got, want), "got  %s\nwant %s", test_plain(got), test_plain(want));
    json_object_put(want);
}

/* Builds REQ_TEXT; returns the parsed body (or NULL with ERR set). */
static json_object *build(const orc_endpoint_t *e, const char *req_text, bool stream, orc_http_out_t *out,
                          char *err)
{
    json_object *req = json_tokener_parse(req_text);
    cr_assert_not_null(req, "bad request JSON: %s", req_text);
    char before[8192];
    snprintf(before, sizeof(before), "%s", test_plain(req));
    err[0] = '\0';
    int rc = orc_adapter_anthropic.build_request(e, "claude-haiku-4-5", req, stream, out, err, 256);
    cr_assert_str_eq(test_plain(req), before, "the request must not be modified");
    json_object_put(req);
    if (rc != ORC_OK) {
        cr_assert_null(out->url);
        cr_assert_null(out->body);
        return NULL;
    }
    json_object *body = json_tokener_parse(out->body);
    cr_assert_not_null(body);
    return body;
}

static json_object *body_of(const char *req_text)
{
    orc_http_out_t out;
    char err[256];
    json_object *body = build(&ep, req_text, false, &out, err);
    cr_assert_not_null(body, "build failed: %s", err);
    orc_http_out_free(&out);
    return body;
}

static void expect_reject(const char *req_text, const char *message)
{
    orc_http_out_t out;
    char err[256];
    cr_assert_null(build(&ep, req_text, false, &out, err));
    cr_assert_str_eq(err, message);
}

#define USER_HI "{\"role\":\"user\",\"content\":\"Hi\"}"

/* --- request ----------------------------------------------------------------- */

Test(anthropic, build_url_headers_and_doc_example)
{
    orc_http_out_t out;
    char err[256];
    json_object *body =
        build(&ep,
              "{\"model\":\"anthropic/claude-haiku-4-5\",\"max_tokens\":256,\"messages\":["
              "{\"role\":\"system\",\"content\":\"You are terse.\"},"
              "{\"role\":\"user\",\"content\":\"Weather in Oslo?\"},"
              "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"toolu_01A\",\"type\":"
              "\"function\","
              "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"toolu_01A\",\"content\":\"4 C\"}],"
              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
              "\"Current weather\","
              "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
              "\"required\":[\"city\"]}}}"
              "],\"tool_choice\":\"auto\",\"presence_penalty\":0.5,\"seed\":3,\"response_format\":{\"type\":"
              "\"json_object\"}}",
              false, &out, err);
    cr_assert_not_null(body, "%s", err);
    cr_assert_str_eq(out.url, "https://api.anthropic.com/v1/messages");
    cr_assert_str_eq(out.headers[0], "x-api-key: sk-ant-test");
    cr_assert_str_eq(out.headers[1], "anthropic-version: 2023-06-01");
    cr_assert_str_eq(out.headers[2], "content-type: application/json");
    cr_assert_null(out.headers[3]);
    assert_json(
        body,
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":256,\"system\":\"You are terse.\","
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather in Oslo?\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":"
        "\"get_weather\",\"input\":{\"city\":\"Oslo\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A\",\"content\":"
        "\"4 C\"}]}],"
        "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Current weather\",\"input_schema\":{\"type\":"
        "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}],"
        "\"tool_choice\":{\"type\":\"auto\"}}");
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(anthropic, build_version_header_and_stream)
{
    orc_endpoint_t e = ep;
    orc_http_out_t out;
    char err[256];
    e.anthropic_version = "2026-10-21";
    json_object *body = build(&e, "{\"messages\":[" USER_HI "]}", true, &out, err);
    cr_assert_str_eq(out.headers[1], "anthropic-version: 2026-10-21");
    cr_assert_eq(json_object_get_boolean(test_at(body, "stream")), true);
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(anthropic, system_and_developer_concatenated)
{
    json_object *body = body_of(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be terse.\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Answer in \"},"
        "{\"type\":\"text\",\"text\":\"French.\"}]}," USER_HI ",{\"role\":\"system\",\"content\":\"\"}]}");
    cr_assert_str_eq(test_at_str(body, "system"), "Be terse.\nAnswer in French.");
    cr_assert_eq(json_object_array_length(test_at(body, "messages")), 1);
    json_object_put(body);
    body = body_of("{\"messages\":[" USER_HI "]}");
    cr_assert_null(test_at(body, "system"));
    json_object_put(body);
}

Test(anthropic, roles_and_merged_turns)
{
    json_object *body =
        body_of("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":"
                "[{\"type\":\"text\",\"text\":\"b\"},{\"type\":\"text\",\"text\":\"\"}]},"
                "{\"role\":\"assistant\",\"content\":\"c\"},"
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"d\"}]},"
                "{\"role\":\"assistant\",\"content\":\"\"}]}");
    assert_json(
        test_at(body, "messages"),
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":"
        "\"b\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"c\"},{\"type\":"
        "\"text\",\"text\":\"d\"}]}]");
    json_object_put(body);
}

Test(anthropic, parallel_tool_results_share_one_user_turn)
{
    json_object *body = body_of(
        "{\"messages\":[" USER_HI ",{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"b\",\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"one\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\",\"text\":\"two\"}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_3\",\"content\":\"\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}]}");
    assert_json(
        test_at(body, "messages"),
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Checking.\"},"
        "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"a\",\"input\":{}},"
        "{\"type\":\"tool_use\",\"id\":\"call_2\",\"name\":\"b\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":"
        "\"one\"},{\"type\":\"tool_result\",\"tool_use_id\":\"call_2\",\"content\":\"two\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_3\"},{\"type\":\"text\",\"text\":\"thanks\"}]}]");
    json_object_put(body);
}

Test(anthropic, images)
{
    json_object *body =
        body_of("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What "
                "is this?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
                "iVBORw0KGgo=\",\"detail\":\"low\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":"
                "\"https://example.com/cat.jpg\"}}]}]}");
    assert_json(test_at(body, "messages.0.content"),
                "[{\"type\":\"text\",\"text\":\"What is this?\"},{\"type\":\"image\",\"source\":{\"type\":"
                "\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}},{\"type\":\"image\","
                "\"source\":{\"type\":\"url\",\"url\":\"https://example.com/cat.jpg\"}}]");
    json_object_put(body);
    expect_reject(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"ftp://x/y.png\"}}]}]}",
        "image_url must be a base64 data URI or an http(s) URL");
    expect_reject(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}]}",
        "content part type 'input_audio' is not supported for anthropic");
}

Test(anthropic, max_tokens_rules)
{
    static const struct {
        const char *fields;
        int64_t want;
    } rows[] = {
        {"", 1024},                                                 /* the endpoint's default */
        {",\"max_tokens\":300", 300},                               /* the deprecated field */
        {",\"max_completion_tokens\":200", 200},                    /* the current field */
        {",\"max_tokens\":300,\"max_completion_tokens\":200", 200}, /* preferred over max_tokens */
        {",\"max_completion_tokens\":null,\"max_tokens\":300", 300},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char req[256];
        snprintf(req, sizeof(req), "{\"messages\":[" USER_HI "]%s}", rows[i].fields);
        json_object *body = body_of(req);
        cr_assert_eq(test_at_int(body, "max_tokens"), rows[i].want, "row %zu", i);
        json_object_put(body);
    }
    orc_endpoint_t e = ep;
    orc_http_out_t out;
    char err[256];
    e.default_max_tokens = 0;
    json_object *body = build(&e, "{\"messages\":[" USER_HI "]}", false, &out, err);
    cr_assert_eq(test_at_int(body, "max_tokens"), 4096);
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(anthropic, temperature_top_p_and_rejections)
{
    json_object *body = body_of("{\"messages\":[" USER_HI "],\"temperature\":0.3,\"top_p\":0.9}");
    cr_assert_str_eq(test_plain(test_at(body, "temperature")), "0.3");
    cr_assert_str_eq(test_plain(test_at(body, "top_p")), "0.9");
    json_object_put(body);
    body = body_of("{\"messages\":[" USER_HI "],\"temperature\":1}");
    cr_assert_eq(test_at_int(body, "temperature"), 1);
    json_object_put(body);
    expect_reject("{\"messages\":[" USER_HI "],\"temperature\":1.2}",
                  "temperature must be between 0 and 1 for anthropic");
    expect_reject("{\"messages\":[" USER_HI "],\"temperature\":2}",
                  "temperature must be between 0 and 1 for anthropic");
    expect_reject("{\"messages\":[" USER_HI "],\"n\":2}", "n > 1 is not supported for anthropic");
    body = body_of("{\"messages\":[" USER_HI "],\"n\":1}");
    cr_assert_null(test_at(body, "n"));
    json_object_put(body);
}

Test(anthropic, stop_user_and_dropped_fields)
{
    json_object *body =
        body_of("{\"messages\":[" USER_HI "],\"stop\":\"END\",\"user\":\"user-42\","
                "\"frequency_penalty\":1,\"logprobs\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_json(
        body,
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1024,\"stop_sequences\":[\"END\"],"
        "\"metadata\":{\"user_id\":\"user-42\"},\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"Hi\"}]}]}");
    json_object_put(body);
    body = body_of("{\"messages\":[" USER_HI "],\"stop\":[\"a\",\"b\"]}");
    assert_json(test_at(body, "stop_sequences"), "[\"a\",\"b\"]");
    json_object_put(body);
}

Test(anthropic, tools_default_schema_and_tool_choice_variants)
{
    static const struct {
        const char *fields;
        const char *want; /* tool_choice, NULL: absent */
    } rows[] = {
        {"", NULL},
        {",\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}"},
        {",\"tool_choice\":\"none\"", "{\"type\":\"none\"}"},
        {",\"tool_choice\":\"required\"", "{\"type\":\"any\"}"},
        {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}",
         "{\"type\":\"tool\",\"name\":\"get_time\"}"},
        {",\"parallel_tool_calls\":false", "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"},
        {",\"parallel_tool_calls\":true", NULL},
        {",\"tool_choice\":\"required\",\"parallel_tool_calls\":false",
         "{\"type\":\"any\",\"disable_parallel_tool_use\":true}"},
        {",\"tool_choice\":\"none\",\"parallel_tool_calls\":false", "{\"type\":\"none\"}"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char req[512];
        snprintf(req, sizeof(req),
                 "{\"messages\":[" USER_HI "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                 "\"get_time\"}}]%s}",
                 rows[i].fields);
        json_object *body = body_of(req);
        assert_json(test_at(body, "tools"), "[{\"name\":\"get_time\",\"input_schema\":{\"type\":\"object\","
                                            "\"properties\":{}}}]");
        if (rows[i].want)
            assert_json(test_at(body, "tool_choice"), rows[i].want);
        else
            cr_assert_null(test_at(body, "tool_choice"), "row %zu", i);
        json_object_put(body);
    }
    json_object *body = body_of("{\"messages\":[" USER_HI "],\"tools\":[],\"tool_choice\":\"auto\"}");
    cr_assert_null(test_at(body, "tools"));
    cr_assert_null(test_at(body, "tool_choice"), "tool_choice is only sent with tools");
    json_object_put(body);
    expect_reject("{\"messages\":[" USER_HI
                  "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"t\"}}],"
                  "\"tool_choice\":\"sometimes\"}",
                  "tool_choice must be auto, none, required or a function");
    expect_reject("{\"messages\":[" USER_HI "],\"tools\":[{\"type\":\"web_search\"}]}",
                  "tools[0]: only function tools with a name are supported for anthropic");
}

Test(anthropic, invalid_messages)
{
    expect_reject(
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}}]}]}",
        "tool_calls[0] needs an id, a name and arguments holding a JSON object");
    expect_reject(
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
        "tool_calls[0] needs an id, a name and arguments holding a JSON object");
    expect_reject("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
                  "a tool message needs a tool_call_id");
    expect_reject("{\"messages\":[{\"role\":\"function\",\"name\":\"f\",\"content\":\"x\"}]}",
                  "message role 'function' is not supported for anthropic");
    expect_reject("{\"messages\":[{\"role\":\"user\",\"content\":42}]}",
                  "message content must be a string or an array of parts");
    expect_reject("{\"model\":\"x\"}", "messages must be an array");
}

/* --- response ---------------------------------------------------------------- */

static json_object *parse_ok(const char *body, orc_usage_t *u)
{
    orc_failure_t f;
    json_object *r = orc_adapter_anthropic.parse_response(body, strlen(body), "claude-haiku-4-5", u, &f);
    cr_assert_not_null(r, "parse failed: %s", f.message);
    cr_assert_eq(f.cls, ORC_FAIL_NONE);
    return r;
}

Test(anthropic, parse_doc_response_with_tool_use)
{
    orc_usage_t u;
    json_object *r = parse_ok(
        "{\"id\":\"msg_01XyZ\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5-"
        "20251001\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Checking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_01B\","
        "\"name\":"
        "\"get_weather\",\"input\":{\"city\":\"Oslo\"}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":412,\"output_tokens\":38,\"cache_creation_input_tokens\":0,"
        "\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
        "\"ephemeral_1h_input_tokens\":0},\"service_tier\":\"standard\"}}",
        &u);
    cr_assert_str_eq(test_at_str(r, "id"), "msg_01XyZ");
    cr_assert_str_eq(test_at_str(r, "object"), "chat.completion");
    cr_assert(test_at_int(r, "created") > 1700000000);
    json_object_object_del(r, "created");
    assert_json(
        r, "{\"id\":\"msg_01XyZ\",\"object\":\"chat.completion\",\"model\":\"claude-haiku-4-5-20251001\","
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Checking.\","
           "\"refusal\":null,\"tool_calls\":[{\"id\":\"toolu_01B\",\"type\":\"function\",\"function\":{"
           "\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},\"logprobs\":null,"
           "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":412,\"completion_tokens\":38,"
           "\"total_tokens\":450,\"prompt_tokens_details\":{\"cached_tokens\":0},"
           "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}");
    cr_assert(u.known);
    cr_assert_eq(u.total_tokens, 450);
    json_object_put(r);
}

Test(anthropic, parse_tool_only_has_null_content)
{
    orc_usage_t u;
    json_object *r =
        parse_ok("{\"id\":\"msg_2\",\"type\":\"message\",\"model\":\"m\",\"content\":[{\"type\":\"thinking\","
                 "\"thinking\":\"hmm\",\"signature\":\"s\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\","
                 "\"name\":\"f\",\"input\":{}}],\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":1,"
                 "\"output_tokens\":2}}",
                 &u);
    cr_assert_null(test_at(r, "choices.0.message.content"));
    cr_assert(json_object_object_get_ex(test_at(r, "choices.0.message"), "content", NULL));
    cr_assert_str_eq(test_at_str(r, "choices.0.message.tool_calls.0.function.arguments"), "{}");
    json_object_put(r);
}

Test(anthropic, parse_text_blocks_joined_and_empty)
{
    orc_usage_t u;
    json_object *r =
        parse_ok("{\"id\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"text\","
                 "\"text\":\"lo\"}],\"stop_reason\":\"end_turn\"}",
                 &u);
    cr_assert_str_eq(test_at_str(r, "choices.0.message.content"), "Hello");
    cr_assert_str_eq(test_at_str(r, "model"), "claude-haiku-4-5",
                     "the requested model when the body has none");
    cr_assert(!u.known);
    cr_assert_null(test_at(r, "usage"));
    json_object_put(r);
    r = parse_ok("{\"id\":\"m\",\"content\":[],\"stop_reason\":\"end_turn\"}", &u);
    cr_assert_str_eq(test_at_str(r, "choices.0.message.content"), "");
    cr_assert_null(test_at(r, "choices.0.message.tool_calls"));
    json_object_put(r);
}

Test(anthropic, every_stop_reason)
{
    static const char *const rows[][2] = {
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"pause_turn", "stop"},
        {"max_tokens", "length"},
        {"model_context_window_exceeded", "length"},
        {"tool_use", "tool_calls"},
        {"refusal", "content_filter"},
        {"something_new", "stop"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char body[256];
        orc_usage_t u;
        snprintf(body, sizeof(body),
                 "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
                 "\"stop_reason\":\"%s\"}",
                 rows[i][0]);
        json_object *r = parse_ok(body, &u);
        cr_assert_str_eq(test_at_str(r, "choices.0.finish_reason"), rows[i][1], "%s", rows[i][0]);
        json_object_put(r);
    }
}

Test(anthropic, usage_with_cache)
{
    orc_usage_t u;
    json_object *r =
        parse_ok("{\"id\":\"m\",\"content\":[],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":"
                 "100,\"output_tokens\":40,\"cache_creation_input_tokens\":20,"
                 "\"cache_read_input_tokens\":30}}",
                 &u);
    cr_assert_eq(u.prompt_tokens, 150);
    cr_assert_eq(u.completion_tokens, 40);
    cr_assert_eq(u.total_tokens, 190);
    cr_assert_eq(u.cached_tokens, 30);
    cr_assert_eq(u.cache_write_tokens, 20);
    cr_assert_eq(u.reasoning_tokens, 0);
    cr_assert_eq(test_at_int(r, "usage.prompt_tokens"), 150);
    cr_assert_eq(test_at_int(r, "usage.prompt_tokens_details.cached_tokens"), 30);
    json_object_put(r);
}

Test(anthropic, parse_malformed)
{
    static const char *const bodies[] = {
        "", "{\"type\":\"message\"", "{\"type\":\"message\",\"content\":\"x\"}",
        "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"m\"}}"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(bodies); i++) {
        orc_usage_t u;
        orc_failure_t f;
        cr_assert_null(orc_adapter_anthropic.parse_response(bodies[i], strlen(bodies[i]), "m", &u, &f));
        cr_assert_eq(f.cls, ORC_FAIL_SERVER);
        cr_assert_str_eq(f.message, "malformed upstream response");
    }
}

/* --- stream ------------------------------------------------------------------ */

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
    orc_adapter_anthropic.stream_event(&r->st, event, data, len, on_chunk, r);
}

static void run_text(run_t *r, const char *text, size_t len, size_t cut, bool include_usage)
{
    orc_sse_t p;
    r->chunks = json_object_new_array();
    orc_stream_init(&r->st, "claude-haiku-4-5", include_usage);
    r->st.created = 1764100000;
    orc_sse_init(&p, 1 << 20);
    for (size_t at = 0; at < len;) {
        size_t n = cut == 1 ? 1 : (cut > at ? cut - at : len - at);
        cr_assert_eq(orc_sse_feed(&p, text + at, n, on_event, r), ORC_OK);
        at += n;
    }
    r->end_rc = orc_adapter_anthropic.stream_end(&r->st, on_chunk, r);
    orc_sse_free(&p);
}

static char *fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), FIXTURE("%s"), name);
    return test_slurp(path, len);
}

static void run_fixture(run_t *r, const char *name, bool include_usage)
{
    size_t len;
    char *text = fixture(name, &len);
    run_text(r, text, len, 0, include_usage);
    free(text);
}

static json_object *chunk(run_t *r, size_t i)
{
    return json_object_array_get_idx(r->chunks, i);
}

static size_t nchunks(run_t *r)
{
    return json_object_array_length(r->chunks);
}

#define CHUNK_HEAD                                                                                           \
    "{\"id\":\"msg_01Q\",\"object\":\"chat.completion.chunk\",\"created\":1764100000,\"model\":\"claude-"    \
    "haiku-4-5\","

Test(anthropic, stream_text_exact_chunks)
{
    run_t r;
    run_fixture(&r, "anthropic_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 5);
    cr_assert_str_eq(test_plain(chunk(&r, 0)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"role\":"
                                "\"assistant\"},\"logprobs\":null,\"finish_reason\":null}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 1)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
                                "\"logprobs\":null,\"finish_reason\":null}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 2)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},"
                                "\"logprobs\":null,\"finish_reason\":null}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 3)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                                "\"finish_reason\":\"stop\"}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 4)),
                     CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":25,"
                                "\"completion_tokens\":12,\"total_tokens\":37,"
                                "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                                "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}");
    cr_assert(r.st.done && r.st.finished && !r.st.failed);
    cr_assert_str_eq(r.st.finish_reason, "stop");
    json_object_put(r.chunks);
}

Test(anthropic, stream_without_include_usage)
{
    run_t r;
    run_fixture(&r, "anthropic_stream.txt", false);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 4);
    cr_assert_str_eq(test_at_str(chunk(&r, 3), "choices.0.finish_reason"), "stop");
    cr_assert(r.st.usage.known);
    cr_assert_eq(r.st.usage.prompt_tokens, 25);
    cr_assert_eq(r.st.usage.completion_tokens, 12);
    json_object_put(r.chunks);
}

Test(anthropic, stream_tool_use)
{
    run_t r;
    run_fixture(&r, "anthropic_tools_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    static const char *const deltas[] = {
        "{\"content\":\"\",\"role\":\"assistant\"}",
        "{\"content\":\"Checking.\"}",
        "{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_01B\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"\"}}]}",
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}",
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\" \\\"Oslo\\\"}\"}}]}",
        "{\"tool_calls\":[{\"index\":1,\"id\":\"toolu_01C\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_time\","
        "\"arguments\":\"\"}}]}",
        "{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}",
        "{}",
    };
    cr_assert_eq(nchunks(&r), ORC_ARRAY_LEN(deltas) + 1);
    for (size_t i = 0; i < ORC_ARRAY_LEN(deltas); i++)
        cr_assert_str_eq(test_plain(test_at(chunk(&r, i), "choices.0.delta")), deltas[i], "chunk %zu", i);
    cr_assert_str_eq(test_at_str(chunk(&r, 7), "choices.0.finish_reason"), "tool_calls");
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "id"), "msg_01XyZ");
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "model"), "claude-haiku-4-5-20251001");
    /* message_start said 400 + 8 + 4; message_delta repeated input 410 */
    cr_assert_eq(test_at_int(chunk(&r, 8), "usage.prompt_tokens"), 422);
    cr_assert_eq(test_at_int(chunk(&r, 8), "usage.completion_tokens"), 38);
    cr_assert_eq(test_at_int(chunk(&r, 8), "usage.prompt_tokens_details.cached_tokens"), 4);
    cr_assert_eq(r.st.usage.cache_write_tokens, 8);
    cr_assert_eq(r.st.next_tool_index, 2);
    cr_assert_eq(r.st.block_tool[2], 0);
    cr_assert_eq(r.st.block_tool[3], 1);
    cr_assert_eq(r.st.block_tool[1], -1);
    json_object_put(r.chunks);
}

Test(anthropic, stream_cut_at_every_byte)
{
    static const char *const names[] = {"anthropic_stream.txt", "anthropic_tools_stream.txt"};
    for (size_t f = 0; f < ORC_ARRAY_LEN(names); f++) {
        size_t len;
        run_t whole, part;
        char *text = fixture(names[f], &len);
        run_text(&whole, text, len, 0, true);
        char *want = strdup(test_plain(whole.chunks));
        for (size_t k = 1; k <= len; k++) {
            run_text(&part, text, len, k, true);
            cr_assert_str_eq(test_plain(part.chunks), want, "%s cut at %zu", names[f], k);
            cr_assert_eq(part.end_rc, ORC_OK);
            json_object_put(part.chunks);
        }
        free(want);
        json_object_put(whole.chunks);
        free(text);
    }
}

Test(anthropic, stream_error_event)
{
    size_t len;
    char *text = fixture("anthropic_stream.txt", &len), *stop = strstr(text, "event: content_block_stop");
    char buf[2048];
    run_t r;
    snprintf(buf, sizeof(buf),
             "%.*sevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
             "\"message\":\"Overloaded\"}}\n\n",
             (int)(stop - text), text);
    run_text(&r, buf, strlen(buf), 0, true);
    cr_assert_eq(nchunks(&r), 4);
    cr_assert_str_eq(test_plain(chunk(&r, 3)),
                     "{\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\","
                     "\"param\":null,\"code\":null}}");
    cr_assert(r.st.failed);
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_OVERLOADED);
    cr_assert_str_eq(r.st.failure.message, "Overloaded");
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 4);
    json_object_put(r.chunks);
    free(text);
}

Test(anthropic, stream_error_classes)
{
    static const struct {
        const char *type;
        orc_fail_class_t cls;
    } rows[] = {{"overloaded_error", ORC_FAIL_OVERLOADED},
                {"rate_limit_error", ORC_FAIL_RATE_LIMITED},
                {"api_error", ORC_FAIL_SERVER},
                {"invalid_request_error", ORC_FAIL_SERVER}};
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char buf[256];
        run_t r;
        snprintf(buf, sizeof(buf),
                 "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"m\"}}\n\n",
                 rows[i].type);
        run_text(&r, buf, strlen(buf), 0, false);
        cr_assert_eq(r.st.failure.cls, rows[i].cls, "%s", rows[i].type);
        cr_assert_str_eq(test_at_str(chunk(&r, 0), "error.type"), rows[i].type);
        json_object_put(r.chunks);
    }
}

Test(anthropic, stream_cut_before_message_stop)
{
    size_t len;
    char *text = fixture("anthropic_stream.txt", &len), *stop = strstr(text, "event: message_stop");
    run_t r;
    run_text(&r, text, (size_t)(stop - text), 0, true);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 5, "role, Hel, lo, finish, then the error");
    cr_assert_str_eq(test_plain(chunk(&r, 4)),
                     "{\"error\":{\"message\":\"upstream stream ended before message_stop\","
                     "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    cr_assert(r.st.finished && !r.st.done && r.st.failed);
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_SERVER);
    json_object_put(r.chunks);
    free(text);
}

Test(anthropic, stream_malformed_and_bad_index)
{
    static const char bad_json[] = "event: message_start\ndata: {\"type\":\n\n";
    static const char bad_index[] =
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":64,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
    run_t r;
    run_text(&r, bad_json, strlen(bad_json), 0, false);
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "error.message"), "malformed event in the upstream stream");
    cr_assert_eq(r.end_rc, ORC_ERR);
    json_object_put(r.chunks);
    run_text(&r, bad_index, strlen(bad_index), 0, false);
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "error.message"), "upstream content block index out of range");
    json_object_put(r.chunks);
}

Test(anthropic, stream_event_name_used_when_json_has_no_type)
{
    static const char text[] = "event: message_stop\ndata: {}\n\n";
    run_t r;
    run_text(&r, text, strlen(text), 0, false);
    cr_assert(r.st.done);
    cr_assert_eq(r.end_rc, ORC_OK);
    json_object_put(r.chunks);
}

/* --- errors (§2.5) --------------------------------------------------------------- */

#define ANT_ERR(type, msg)                                                                                   \
    "{\"type\":\"error\",\"error\":{\"type\":\"" type "\",\"message\":\"" msg                                \
    "\"},\"request_id\":\"req_011\"}"

Test(anthropic, classify_every_status)
{
    static const struct {
        int status;
        const char *body;
        int64_t retry;
        orc_fail_class_t cls;
        const char *type, *message, *code;
    } rows[] = {
        {400, ANT_ERR("invalid_request_error", "max_tokens: Field required"), -1, ORC_FAIL_CLIENT,
         "invalid_request_error", "max_tokens: Field required", ""},
        {401, ANT_ERR("authentication_error", "invalid x-api-key"), -1, ORC_FAIL_CLIENT,
         "authentication_error", "invalid x-api-key", ""},
        {402, ANT_ERR("billing_error", "Your credit balance is too low"), -1, ORC_FAIL_CLIENT,
         "billing_error", "Your credit balance is too low", ""},
        {403, ANT_ERR("permission_error", "No access to this model"), -1, ORC_FAIL_CLIENT, "permission_error",
         "No access to this model", ""},
        {404, ANT_ERR("not_found_error", "model: claude-9"), -1, ORC_FAIL_CLIENT, "not_found_error",
         "model: claude-9", ""},
        {409, ANT_ERR("conflict_error", "Conflict"), -1, ORC_FAIL_SERVER, "conflict_error", "Conflict", ""},
        {413, ANT_ERR("request_too_large", "Request exceeds the maximum size"), -1, ORC_FAIL_CLIENT,
         "request_too_large", "Request exceeds the maximum size", ""},
        {429, ANT_ERR("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
         30000, ORC_FAIL_RATE_LIMITED, "rate_limit_error",
         "Number of request tokens has exceeded your per-minute rate limit", ""},
        {429,
         "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Spend limit reached\","
         "\"details\":{\"error_code\":\"enforced_spend_limit_reached\"}},\"request_id\":\"req_1\"}",
         -1, ORC_FAIL_CLIENT, "rate_limit_error", "Spend limit reached", "enforced_spend_limit_reached"},
        {500, ANT_ERR("api_error", "Internal server error"), -1, ORC_FAIL_SERVER, "api_error",
         "Internal server error", ""},
        {504, ANT_ERR("timeout_error", "Request timed out"), -1, ORC_FAIL_SERVER, "timeout_error",
         "Request timed out", ""},
        {529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", -1,
         ORC_FAIL_OVERLOADED, "overloaded_error", "Overloaded", ""},
        {503, "upstream connect error", 5000, ORC_FAIL_OVERLOADED, "", "upstream answered HTTP 503", ""},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        orc_failure_t f;
        orc_adapter_anthropic.classify_error(rows[i].status, rows[i].body, strlen(rows[i].body),
                                             rows[i].retry, &f);
        cr_assert_eq(f.cls, rows[i].cls, "row %zu status %d", i, rows[i].status);
        cr_assert_eq(f.status, rows[i].status);
        cr_assert_eq(f.retry_after_ms, rows[i].retry);
        cr_assert_str_eq(f.type, rows[i].type);
        cr_assert_str_eq(f.message, rows[i].message);
        cr_assert_str_eq(f.code, rows[i].code);
    }
}
