/*
 * test_gemini.c - the Gemini Developer API adapter: the request mapping of
 * docs/providers.md §5 (systemInstruction, user/model roles, functionCall and
 * functionResponse with the name looked up by tool_call_id,
 * generationConfig, tools, toolConfig), responses with every finishReason
 * row of §6.1 and the usage of §6.2, the stream of §6.4 on the recorded
 * streams (whole and cut at every byte boundary), cut streams, and the
 * error table of §3.5 with RetryInfo.
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

TestSuite(gemini, .timeout = 10);

static const orc_endpoint_t ep = {ORC_PROVIDER_GEMINI, "https://generativelanguage.googleapis.com",
                                  "AIza-test", NULL, 0};

/* --- helpers --------------------------------------------------------------- */

static void assert_json(json_object *got, const char *want_text)
{
    json_object *want = json_tokener_parse(want_text);
    cr_assert_not_null(want, "bad expected JSON: %s", want_text);
    cr_assert(json_object_equal(got, want), "got  %s\nwant %s", test_plain(got), test_plain(want));
    json_object_put(want);
}

/* "call_" + 24 lowercase hex digits, then SUFFIX. */
static void assert_call_id(const char *id, const char *suffix)
{
    cr_assert_not_null(id);
    cr_assert_eq(strncmp(id, "call_", 5), 0, "%s", id);
    for (int i = 5; i < 29; i++)
        cr_assert(strchr("0123456789abcdef", id[i]) != NULL && id[i] != '\0', "%s", id);
    cr_assert_str_eq(id + 29, suffix);
}

static json_object *build(const char *req_text, bool stream, orc_http_out_t *out, char *err)
{
    json_object *req = json_tokener_parse(req_text);
    cr_assert_not_null(req, "bad request JSON: %s", req_text);
    char before[8192];
    snprintf(before, sizeof(before), "%s", test_plain(req));
    err[0] = '\0';
    int rc = orc_adapter_gemini.build_request(&ep, "gemini-2.5-flash", req, stream, out, err, 256);
    cr_assert_str_eq(test_plain(req), before, "the request must not be modified");
    json_object_put(req);
    if (rc != ORC_OK) {
        cr_assert_null(out->url);
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
    json_object *body = build(req_text, false, &out, err);
    cr_assert_not_null(body, "build failed: %s", err);
    orc_http_out_free(&out);
    return body;
}

static void expect_reject(const char *req_text, bool stream, const char *message)
{
    orc_http_out_t out;
    char err[256];
    cr_assert_null(build(req_text, stream, &out, err));
    cr_assert_str_eq(err, message);
}

#define USER_HI "{\"role\":\"user\",\"content\":\"Hi\"}"
#define TOOL_T "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"t\"}}]"

/* --- request ----------------------------------------------------------------- */

Test(gemini, build_doc_example)
{
    orc_http_out_t out;
    char err[256];
    json_object *body = build(
        "{\"model\":\"gemini/gemini-2.5-flash\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"user\",\"content\":\"Weather in Oslo?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"4 C\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Current "
        "weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":["
        "\"city\"]}}}"
        "],\"tool_choice\":\"auto\",\"temperature\":0.7,\"top_p\":0.95,\"max_tokens\":256,\"stop\":["
        "\"\\n\\n\"],"
        "\"n\":1,\"user\":\"u1\",\"parallel_tool_calls\":false}",
        false, &out, err);
    cr_assert_not_null(body, "%s", err);
    cr_assert_str_eq(
        out.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent");
    cr_assert_str_eq(out.headers[0], "x-goog-api-key: AIza-test");
    cr_assert_str_eq(out.headers[1], "Content-Type: application/json");
    cr_assert_null(out.headers[2]);
    assert_json(
        body,
        "{\"systemInstruction\":{\"parts\":[{\"text\":\"You are terse.\"}]},"
        "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Weather in Oslo?\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":"
        "\"Oslo\"}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{"
        "\"result\":\"4 C\"}}}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\",\"description\":\"Current weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":["
        "\"city\"]}}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"AUTO\"}},"
        "\"generationConfig\":{\"temperature\":0.7,\"topP\":0.95,\"maxOutputTokens\":256,"
        "\"stopSequences\":[\"\\n\\n\"],\"candidateCount\":1}}");
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(gemini, build_stream_url)
{
    orc_http_out_t out;
    char err[256];
    json_object *body = build("{\"messages\":[" USER_HI "],\"stream\":true}", true, &out, err);
    cr_assert_str_eq(out.url, "https://generativelanguage.googleapis.com/v1beta/models/"
                              "gemini-2.5-flash:streamGenerateContent?alt=sse");
    assert_json(body, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}]}");
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(gemini, system_parts_roles_and_merging)
{
    json_object *body =
        body_of("{\"messages\":[{\"role\":\"developer\",\"content\":\"A\"},{\"role\":\"system\","
                "\"content\":[{\"type\":\"text\",\"text\":\"B\"}]},{\"role\":\"user\",\"content\":"
                "\"1\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"2\"}]},"
                "{\"role\":\"assistant\",\"content\":\"3\"},{\"role\":\"assistant\",\"content\":\"\"},"
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"4\"}]}]}");
    assert_json(test_at(body, "systemInstruction"), "{\"parts\":[{\"text\":\"A\"},{\"text\":\"B\"}]}");
    assert_json(test_at(body, "contents"),
                "[{\"role\":\"user\",\"parts\":[{\"text\":\"1\"},{\"text\":\"2\"}]},"
                "{\"role\":\"model\",\"parts\":[{\"text\":\"3\"},{\"text\":\"4\"}]}]");
    cr_assert_null(test_at(body, "generationConfig"));
    json_object_put(body);
}

Test(gemini, tool_results_merged_and_named_by_call_id)
{
    json_object *body = body_of(
        "{\"messages\":[" USER_HI ",{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}"
        "\"}},"
        "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":\"{\\\"time\\\":\\\"12:00\\\"}\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":[{\"type\":\"text\",\"text\":\"4\"}]}]}");
    assert_json(
        test_at(body, "contents"),
        "[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Checking.\"},{\"functionCall\":{\"name\":\"get_weather\","
        "\"args\":{}}},{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"get_time\",\"response\":{\"result\":"
        "{\"time\":\"12:00\"}}}},{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"result\":4}}"
        "}"
        "]}]");
    json_object_put(body);
    expect_reject("{\"messages\":[" USER_HI
                  ",{\"role\":\"tool\",\"tool_call_id\":\"call_zz\",\"content\":\"x\"}]}",
                  false, "messages[1]: tool_call_id matches no earlier assistant tool call");
}

Test(gemini, thought_signature_travels_in_the_call_id)
{
    json_object *body =
        body_of("{\"messages\":[" USER_HI ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
                "\"call_0123__thought__CvABAQ==\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                "\"arguments\":\"{\\\"a\\\":1}\"}}]},{\"role\":\"tool\",\"tool_call_id\":"
                "\"call_0123__thought__CvABAQ==\",\"content\":\"ok\"}]}");
    assert_json(test_at(body, "contents.1"),
                "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{"
                "\"a\":1}},\"thoughtSignature\":\"CvABAQ==\"}]}");
    cr_assert_str_eq(test_at_str(body, "contents.2.parts.0.functionResponse.name"), "f");
    json_object_put(body);
}

Test(gemini, images)
{
    json_object *body =
        body_of("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What?\"},"
                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,/9j/4AAQ\"}}]}]}");
    assert_json(test_at(body, "contents.0.parts"),
                "[{\"text\":\"What?\"},{\"inlineData\":{\"mimeType\":\"image/jpeg\","
                "\"data\":\"/9j/4AAQ\"}}]");
    json_object_put(body);
    expect_reject(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"https://example.com/cat.jpg\"}}]}]}",
        false, "gemini takes text parts and images as base64 data URIs only");
}

Test(gemini, generation_config_fields)
{
    json_object *body =
        body_of("{\"messages\":[" USER_HI "],\"max_completion_tokens\":100,\"max_tokens\":300,"
                "\"stop\":\"END\",\"n\":3,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
                "\"seed\":42,\"response_format\":{\"type\":\"json_object\"},\"logit_bias\":{}}");
    assert_json(
        test_at(body, "generationConfig"),
        "{\"maxOutputTokens\":100,\"stopSequences\":[\"END\"],\"candidateCount\":3,\"presencePenalty\":0.5,"
        "\"frequencyPenalty\":-0.5,\"seed\":42,\"responseMimeType\":\"application/json\"}");
    json_object_put(body);
    body = body_of("{\"messages\":[" USER_HI
                   "],\"max_tokens\":300,\"response_format\":{\"type\":\"json_schema\","
                   "\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\"}}}}");
    assert_json(test_at(body, "generationConfig"),
                "{\"maxOutputTokens\":300,\"responseMimeType\":\"application/json\","
                "\"responseJsonSchema\":{\"type\":\"object\"}}");
    json_object_put(body);
    expect_reject("{\"messages\":[" USER_HI "],\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\"]}", false,
                  "gemini accepts at most 5 stop sequences");
    expect_reject("{\"messages\":[" USER_HI "],\"n\":2}", true,
                  "n > 1 is not supported with stream for gemini");
}

Test(gemini, tool_choice_variants)
{
    static const struct {
        const char *fields;
        const char *want;
    } rows[] = {
        {"", NULL},
        {",\"tool_choice\":\"auto\"", "{\"functionCallingConfig\":{\"mode\":\"AUTO\"}}"},
        {",\"tool_choice\":\"none\"", "{\"functionCallingConfig\":{\"mode\":\"NONE\"}}"},
        {",\"tool_choice\":\"required\"", "{\"functionCallingConfig\":{\"mode\":\"ANY\"}}"},
        {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"t\"}}",
         "{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"t\"]}}"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char req[256];
        snprintf(req, sizeof(req), "{\"messages\":[" USER_HI "]," TOOL_T "%s}", rows[i].fields);
        json_object *body = body_of(req);
        assert_json(test_at(body, "tools"), "[{\"functionDeclarations\":[{\"name\":\"t\"}]}]");
        if (rows[i].want)
            assert_json(test_at(body, "toolConfig"), rows[i].want);
        else
            cr_assert_null(test_at(body, "toolConfig"));
        json_object_put(body);
    }
    expect_reject("{\"messages\":[" USER_HI "]," TOOL_T ",\"tool_choice\":{\"type\":\"function\"}}", false,
                  "tool_choice must be auto, none, required or a function");
    expect_reject("{\"messages\":[" USER_HI "],\"tools\":[{\"type\":\"code_interpreter\"}]}", false,
                  "tools[0]: only function tools with a name are supported for gemini");
}

Test(gemini, tool_schema_cleaned_of_unsupported_keywords)
{
    json_object *body = body_of(
        "{\"messages\":[" USER_HI
        "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"strict\":true,"
        "\"parameters\":{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\","
        "\"additionalProperties\":false,\"properties\":{\"additionalProperties\":{\"type\":\"string\"},"
        "\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"properties\":{}}},"
        "\"either\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"object\",\"additionalProperties\":true}]}}}"
        "}}]}");
    assert_json(
        test_at(body, "tools.0.functionDeclarations.0"),
        "{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"additionalProperties\":{"
        "\"type\":\"string\"},\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{}}}"
        ","
        "\"either\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"object\"}]}}}}");
    json_object_put(body);
}

Test(gemini, invalid_messages)
{
    expect_reject(
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"not json\"}}]}]}",
        false, "tool_calls[0] needs a name and arguments holding a JSON object");
    expect_reject("{\"messages\":[{\"role\":\"critic\",\"content\":\"x\"}]}", false,
                  "message role 'critic' is not supported for gemini");
    expect_reject("{\"messages\":{}}", false, "messages must be an array");
}

/* --- response ---------------------------------------------------------------- */

static json_object *parse_ok(const char *body, orc_usage_t *u)
{
    orc_failure_t f;
    json_object *r = orc_adapter_gemini.parse_response(body, strlen(body), "gemini-2.5-flash", u, &f);
    cr_assert_not_null(r, "parse failed: %s", f.message);
    cr_assert_eq(f.cls, ORC_FAIL_NONE);
    return r;
}

Test(gemini, parse_doc_response)
{
    orc_usage_t u;
    json_object *r = parse_ok(
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"It is 4 C in Oslo.\"}]},"
        "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":84,"
        "\"candidatesTokenCount\":9,\"thoughtsTokenCount\":31,\"totalTokenCount\":124,"
        "\"promptTokensDetails\":[{"
        "\"modality\":\"TEXT\",\"tokenCount\":84}]},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":"
        "\"q1ZsaXmP2abc\"}",
        &u);
    cr_assert(test_at_int(r, "created") > 1700000000);
    json_object_object_del(r, "created");
    assert_json(
        r, "{\"id\":\"chatcmpl-q1ZsaXmP2abc\",\"object\":\"chat.completion\",\"model\":\"gemini-2.5-flash\","
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"It is 4 C in Oslo.\","
           "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":84,"
           "\"completion_tokens\":40,\"total_tokens\":124,\"prompt_tokens_details\":{\"cached_tokens\":0},"
           "\"completion_tokens_details\":{\"reasoning_tokens\":31}}}");
    cr_assert(u.known);
    cr_assert_eq(u.prompt_tokens, 84);
    cr_assert_eq(u.completion_tokens, 40);
    cr_assert_eq(u.total_tokens, 124);
    cr_assert_eq(u.reasoning_tokens, 31);
    json_object_put(r);
}

Test(gemini, parse_function_call_is_tool_calls)
{
    orc_usage_t u;
    json_object *r = parse_ok(
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"thinking\",\"thought\":"
        "true},"
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Oslo\"}},\"thoughtSignature\":\"Cv="
        "=\"},"
        "{\"functionCall\":{\"name\":\"get_time\",\"args\":{},\"id\":\"fc_7\"}}]},\"finishReason\":\"STOP\","
        "\"finishMessage\":\"Model generated function "
        "call(s).\",\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\"}",
        &u);
    json_object *msg = test_at(r, "choices.0.message");
    cr_assert_null(test_at(msg, "content"));
    cr_assert(json_object_object_get_ex(msg, "content", NULL));
    cr_assert_str_eq(test_at_str(r, "choices.0.finish_reason"), "tool_calls");
    assert_call_id(test_at_str(msg, "tool_calls.0.id"), "__thought__Cv==");
    cr_assert_str_eq(test_at_str(msg, "tool_calls.0.type"), "function");
    cr_assert_str_eq(test_at_str(msg, "tool_calls.0.function.name"), "get_weather");
    cr_assert_str_eq(test_at_str(msg, "tool_calls.0.function.arguments"), "{\"city\":\"Oslo\"}");
    cr_assert_null(test_at(msg, "tool_calls.0.index"));
    cr_assert_str_eq(test_at_str(msg, "tool_calls.1.id"), "fc_7");
    cr_assert_str_eq(test_at_str(msg, "tool_calls.1.function.arguments"), "{}");
    const char *id = test_at_str(r, "id");
    cr_assert_eq(strncmp(id, "chatcmpl-", 9), 0);
    cr_assert_eq(strlen(id), 9 + 24, "chatcmpl-<random hex> when there is no responseId: %s", id);
    cr_assert(!u.known);
    json_object_put(r);
}

Test(gemini, call_ids_differ)
{
    static const char body[] =
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"a\"}},"
        "{\"functionCall\":{\"name\":\"b\"}}]},\"finishReason\":\"STOP\"}]}";
    orc_usage_t u;
    json_object *r = parse_ok(body, &u);
    const char *a = test_at_str(r, "choices.0.message.tool_calls.0.id"),
               *b = test_at_str(r, "choices.0.message.tool_calls.1.id");
    assert_call_id(a, "");
    assert_call_id(b, "");
    cr_assert_str_neq(a, b);
    json_object_put(r);
}

Test(gemini, every_finish_reason)
{
    static const char *const rows[][2] = {
        {"STOP", "stop"},
        {"MAX_TOKENS", "length"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"LANGUAGE", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"IMAGE_SAFETY", "content_filter"},
        {"OTHER", "stop"},
        {"MALFORMED_FUNCTION_CALL", "stop"},
        {"UNEXPECTED_TOOL_CALL", "stop"},
        {"TOO_MANY_TOOL_CALLS", "stop"},
        {"FINISH_REASON_UNSPECIFIED", "stop"},
        {"SOMETHING_NEW", "stop"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char body[256];
        orc_usage_t u;
        snprintf(body, sizeof(body),
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"%s\"}]}",
                 rows[i][0]);
        json_object *r = parse_ok(body, &u);
        cr_assert_str_eq(test_at_str(r, "choices.0.finish_reason"), rows[i][1], "%s", rows[i][0]);
        json_object_put(r);
    }
}

Test(gemini, blocked_prompt_is_content_filter)
{
    orc_usage_t u;
    json_object *r =
        parse_ok("{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},\"usageMetadata\":{"
                 "\"promptTokenCount\":7,\"totalTokenCount\":7},\"modelVersion\":\"gemini-2.5-flash\","
                 "\"responseId\":\"blk1\"}",
                 &u);
    json_object_object_del(r, "created");
    assert_json(
        r, "{\"id\":\"chatcmpl-blk1\",\"object\":\"chat.completion\",\"model\":\"gemini-2.5-flash\","
           "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
           "\"logprobs\":null,\"finish_reason\":\"content_filter\"}],\"usage\":{\"prompt_tokens\":7,"
           "\"completion_tokens\":0,\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":0},"
           "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}");
    json_object_put(r);
}

Test(gemini, usage_with_cache_and_tool_prompt)
{
    orc_usage_t u;
    json_object *r =
        parse_ok("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}],"
                 "\"usageMetadata\":{\"promptTokenCount\":100,\"cachedContentTokenCount\":60,"
                 "\"toolUsePromptTokenCount\":5,\"candidatesTokenCount\":10,\"totalTokenCount\":115}}",
                 &u);
    cr_assert_eq(u.prompt_tokens, 105);
    cr_assert_eq(u.cached_tokens, 60);
    cr_assert_eq(u.completion_tokens, 10);
    cr_assert_eq(u.total_tokens, 115);
    cr_assert_eq(u.reasoning_tokens, 0);
    cr_assert_eq(test_at_int(r, "usage.prompt_tokens_details.cached_tokens"), 60);
    json_object_put(r);
}

Test(gemini, parse_multiple_candidates_and_missing_content)
{
    orc_usage_t u;
    json_object *r =
        parse_ok("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"STOP\","
                 "\"index\":0},{\"finishReason\":\"SAFETY\",\"index\":1}]}",
                 &u);
    cr_assert_eq(json_object_array_length(test_at(r, "choices")), 2);
    cr_assert_eq(test_at_int(r, "choices.1.index"), 1);
    cr_assert_str_eq(test_at_str(r, "choices.1.message.content"), "");
    cr_assert_str_eq(test_at_str(r, "choices.1.finish_reason"), "content_filter");
    json_object_put(r);
}

Test(gemini, parse_malformed)
{
    static const char *const bodies[] = {"", "{\"candidates\":", "{\"candidates\":[]}", "{}", "[1]"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(bodies); i++) {
        orc_usage_t u;
        orc_failure_t f;
        cr_assert_null(orc_adapter_gemini.parse_response(bodies[i], strlen(bodies[i]), "m", &u, &f));
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
    orc_adapter_gemini.stream_event(&r->st, event, data, len, on_chunk, r);
}

static void run_text(run_t *r, const char *text, size_t len, size_t cut, bool include_usage)
{
    orc_sse_t p;
    r->chunks = json_object_new_array();
    orc_stream_init(&r->st, "gemini-2.5-flash", include_usage);
    r->st.created = 1764100000;
    orc_sse_init(&p, 1 << 20);
    for (size_t at = 0; at < len;) {
        size_t n = cut == 1 ? 1 : (cut > at ? cut - at : len - at);
        cr_assert_eq(orc_sse_feed(&p, text + at, n, on_event, r), ORC_OK);
        at += n;
    }
    r->end_rc = orc_adapter_gemini.stream_end(&r->st, on_chunk, r);
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
    "{\"id\":\"chatcmpl-Vw1abc\",\"object\":\"chat.completion.chunk\",\"created\":1764100000,\"model\":"     \
    "\"gemini-2.5-"                                                                                          \
    "flash\","

Test(gemini, stream_text_exact_chunks)
{
    run_t r;
    run_fixture(&r, "gemini_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 4);
    cr_assert_str_eq(test_plain(chunk(&r, 0)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Oi! Tudo\","
                                "\"role\":\"assistant\"},\"logprobs\":null,\"finish_reason\":null}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 1)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" bem?\"},"
                                "\"logprobs\":null,\"finish_reason\":null}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 2)),
                     CHUNK_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                                "\"finish_reason\":\"stop\"}]}");
    cr_assert_str_eq(test_plain(chunk(&r, 3)),
                     CHUNK_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
                                "\"completion_tokens\":26,\"total_tokens\":37,"
                                "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                                "\"completion_tokens_details\":{\"reasoning_tokens\":21}}}");
    cr_assert(r.st.done && r.st.finished);
    cr_assert_str_eq(r.st.finish_reason, "stop");
    json_object_put(r.chunks);
}

Test(gemini, stream_without_include_usage)
{
    run_t r;
    run_fixture(&r, "gemini_stream.txt", false);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 3);
    cr_assert_str_eq(test_at_str(chunk(&r, 2), "choices.0.finish_reason"), "stop");
    cr_assert_eq(r.st.usage.total_tokens, 37, "usage is recorded all the same");
    json_object_put(r.chunks);
}

Test(gemini, stream_finish_waits_for_the_end)
{
    size_t len;
    char *text = fixture("gemini_stream.txt", &len);
    run_t r;
    orc_sse_t p;
    r.chunks = json_object_new_array();
    orc_stream_init(&r.st, "gemini-2.5-flash", false);
    orc_sse_init(&p, 0);
    cr_assert_eq(orc_sse_feed(&p, text, len, on_event, &r), ORC_OK);
    cr_assert_eq(nchunks(&r), 2, "the finish chunk is owed until stream_end");
    cr_assert(!r.st.finished);
    cr_assert_str_eq(r.st.finish_reason, "stop");
    cr_assert_eq(orc_adapter_gemini.stream_end(&r.st, on_chunk, &r), ORC_OK);
    cr_assert_eq(nchunks(&r), 3);
    cr_assert_eq(orc_adapter_gemini.stream_end(&r.st, on_chunk, &r), ORC_OK);
    cr_assert_eq(nchunks(&r), 3, "a second stream_end emits nothing");
    orc_sse_free(&p);
    json_object_put(r.chunks);
    free(text);
}

Test(gemini, stream_tool_calls)
{
    run_t r;
    run_fixture(&r, "gemini_tools_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 5);
    cr_assert_str_eq(test_plain(test_at(chunk(&r, 0), "choices.0.delta")),
                     "{\"content\":\"Let me check.\",\"role\":\"assistant\"}");
    json_object *c0 = test_at(chunk(&r, 1), "choices.0.delta.tool_calls.0");
    cr_assert_eq(test_at_int(c0, "index"), 0);
    assert_call_id(test_at_str(c0, "id"), "__thought__CvABAQ==");
    cr_assert_str_eq(test_at_str(c0, "type"), "function");
    cr_assert_str_eq(test_at_str(c0, "function.name"), "get_weather");
    cr_assert_str_eq(test_at_str(c0, "function.arguments"), "{\"city\":\"Oslo\"}");
    json_object *c1 = test_at(chunk(&r, 2), "choices.0.delta.tool_calls.0");
    cr_assert_eq(test_at_int(c1, "index"), 1);
    assert_call_id(test_at_str(c1, "id"), "");
    cr_assert_str_eq(test_at_str(c1, "function.arguments"), "{}");
    cr_assert_str_eq(test_at_str(chunk(&r, 3), "choices.0.finish_reason"), "tool_calls");
    cr_assert_eq(test_at_int(chunk(&r, 4), "usage.completion_tokens"), 46);
    cr_assert_eq(test_at_int(chunk(&r, 4), "usage.prompt_tokens"), 84);
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "id"), "chatcmpl-Tq9xyz");
    json_object_put(r.chunks);
}

/* Tool call ids are random: compare the chunks without them. */
static char *without_call_ids(json_object *chunks)
{
    for (size_t i = 0; i < json_object_array_length(chunks); i++) {
        json_object *calls = test_at(json_object_array_get_idx(chunks, i), "choices.0.delta.tool_calls");
        for (size_t j = 0; calls != NULL && j < json_object_array_length(calls); j++)
            json_object_object_del(json_object_array_get_idx(calls, j), "id");
    }
    return strdup(test_plain(chunks));
}

Test(gemini, stream_cut_at_every_byte)
{
    static const char *const names[] = {"gemini_stream.txt", "gemini_tools_stream.txt"};
    for (size_t f = 0; f < ORC_ARRAY_LEN(names); f++) {
        size_t len;
        run_t whole, part;
        char *text = fixture(names[f], &len);
        run_text(&whole, text, len, 0, true);
        char *want = without_call_ids(whole.chunks);
        for (size_t k = 1; k <= len; k++) {
            run_text(&part, text, len, k, true);
            char *got = without_call_ids(part.chunks);
            cr_assert_str_eq(got, want, "%s cut at %zu", names[f], k);
            cr_assert_eq(part.end_rc, ORC_OK);
            free(got);
            json_object_put(part.chunks);
        }
        free(want);
        json_object_put(whole.chunks);
        free(text);
    }
}

Test(gemini, stream_cut_before_finish_reason)
{
    size_t len;
    char *text = fixture("gemini_stream.txt", &len), *second = strstr(text, "\r\n\r\ndata: ");
    run_t r;
    run_text(&r, text, (size_t)(second - text) + 4, 0, true);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 2);
    cr_assert_str_eq(test_plain(chunk(&r, 1)),
                     "{\"error\":{\"message\":\"upstream stream ended before a finishReason\","
                     "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_SERVER);
    cr_assert(!r.st.done);
    json_object_put(r.chunks);
    free(text);
}

Test(gemini, stream_empty_body_is_cut)
{
    run_t r;
    run_text(&r, "", 0, 0, true);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 1);
    cr_assert_not_null(test_at(chunk(&r, 0), "error"));
    json_object_put(r.chunks);
}

Test(gemini, stream_error_event)
{
    static const char text[] =
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": "
        "\"model\"},\"index\": 0}],"
        "\"responseId\": \"e1\"}\r\n\r\n"
        "data: {\"error\": {\"code\": 503,\"message\": \"The model is overloaded. Please try again later.\","
        "\"status\": \"UNAVAILABLE\"}}\r\n\r\n";
    run_t r;
    run_text(&r, text, strlen(text), 0, true);
    cr_assert_eq(nchunks(&r), 2);
    cr_assert_str_eq(test_plain(chunk(&r, 1)),
                     "{\"error\":{\"message\":\"The model is overloaded. Please try again later.\",\"type\":"
                     "\"UNAVAILABLE\",\"param\":null,\"code\":\"UNAVAILABLE\"}}");
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_OVERLOADED);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 2);
    json_object_put(r.chunks);
}

Test(gemini, stream_blocked_prompt)
{
    static const char text[] =
        "data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"},\"usageMetadata\": {"
        "\"promptTokenCount\": 9,\"totalTokenCount\": 9},\"responseId\": \"b2\"}\r\n\r\n";
    run_t r;
    run_text(&r, text, strlen(text), 0, false);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 1);
    cr_assert_str_eq(test_plain(test_at(chunk(&r, 0), "choices.0")),
                     "{\"index\":0,\"delta\":{\"role\":\"assistant\"},"
                     "\"logprobs\":null,\"finish_reason\":\"content_filter\"}");
    json_object_put(r.chunks);
}

Test(gemini, stream_finish_mappings)
{
    static const char *const rows[][2] = {{"MAX_TOKENS", "length"},
                                          {"SAFETY", "content_filter"},
                                          {"RECITATION", "content_filter"},
                                          {"OTHER", "stop"}};
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char text[256];
        run_t r;
        snprintf(text, sizeof(text),
                 "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"x\"}]},\"finishReason\": "
                 "\"%s\"}]}"
                 "\r\n\r\n",
                 rows[i][0]);
        run_text(&r, text, strlen(text), 0, false);
        cr_assert_str_eq(test_at_str(chunk(&r, 1), "choices.0.finish_reason"), rows[i][1], "%s", rows[i][0]);
        json_object_put(r.chunks);
    }
}

Test(gemini, stream_malformed_event)
{
    static const char text[] = "data: {\"candidates\": [\r\n\r\n";
    run_t r;
    run_text(&r, text, strlen(text), 0, false);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 1);
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "error.message"), "malformed event in the upstream stream");
    json_object_put(r.chunks);
}

/* --- errors (§3.5) --------------------------------------------------------------- */

#define GEM_ERR(code, msg, status, details)                                                                  \
    "{\"error\":{\"code\":" code ",\"message\":\"" msg "\",\"status\":\"" status "\",\"details\":[" details  \
    "]}}"
#define RETRY_INFO(d) "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"" d "\"}"

Test(gemini, classify_every_status)
{
    static const struct {
        int status;
        const char *body;
        int64_t header_retry, retry;
        orc_fail_class_t cls;
        const char *message, *type, *code;
    } rows[] = {
        {400,
         GEM_ERR("400", "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
                 "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\","
                 "\"domain\":\"googleapis.com\"}"),
         -1, -1, ORC_FAIL_CLIENT, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
         "API_KEY_INVALID"},
        {400, GEM_ERR("400", "User location is not supported", "FAILED_PRECONDITION", ""), -1, -1,
         ORC_FAIL_CLIENT, "User location is not supported", "FAILED_PRECONDITION", "FAILED_PRECONDITION"},
        {403, GEM_ERR("403", "Permission denied", "PERMISSION_DENIED", ""), -1, -1, ORC_FAIL_CLIENT,
         "Permission denied", "PERMISSION_DENIED", "PERMISSION_DENIED"},
        {404, GEM_ERR("404", "models/gemini-9 is not found", "NOT_FOUND", ""), -1, -1, ORC_FAIL_CLIENT,
         "models/gemini-9 is not found", "NOT_FOUND", "NOT_FOUND"},
        {429,
         GEM_ERR(
             "429", "You exceeded your current quota, please check your plan and billing details.",
             "RESOURCE_EXHAUSTED",
             "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaMetric\":"
             "\"generativelanguage.googleapis.com/generate_content_free_tier_requests\",\"quotaId\":"
             "\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\"}]}," RETRY_INFO("47s")),
         -1, 47000, ORC_FAIL_RATE_LIMITED,
         "You exceeded your current quota, please check your plan and billing details.", "RESOURCE_EXHAUSTED",
         "RESOURCE_EXHAUSTED"},
        {429, GEM_ERR("429", "Slow down", "RESOURCE_EXHAUSTED", RETRY_INFO("1.5s")), -1, 1500,
         ORC_FAIL_RATE_LIMITED, "Slow down", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"},
        {429, GEM_ERR("429", "Slow down", "RESOURCE_EXHAUSTED", RETRY_INFO("47s")), 2000, 2000,
         ORC_FAIL_RATE_LIMITED, "Slow down", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"},
        {429, GEM_ERR("429", "Slow down", "RESOURCE_EXHAUSTED", ""), -1, -1, ORC_FAIL_RATE_LIMITED,
         "Slow down", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"},
        {500, GEM_ERR("500", "An internal error has occurred.", "INTERNAL", ""), -1, -1, ORC_FAIL_SERVER,
         "An internal error has occurred.", "INTERNAL", "INTERNAL"},
        {503, GEM_ERR("503", "The model is overloaded.", "UNAVAILABLE", ""), -1, -1, ORC_FAIL_OVERLOADED,
         "The model is overloaded.", "UNAVAILABLE", "UNAVAILABLE"},
        {504, GEM_ERR("504", "Deadline expired before operation could complete.", "DEADLINE_EXCEEDED", ""),
         -1, -1, ORC_FAIL_SERVER, "Deadline expired before operation could complete.", "DEADLINE_EXCEEDED",
         "DEADLINE_EXCEEDED"},
        {502, "<html>502</html>", -1, -1, ORC_FAIL_SERVER, "upstream answered HTTP 502", "", ""},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        orc_failure_t f;
        orc_adapter_gemini.classify_error(rows[i].status, rows[i].body, strlen(rows[i].body),
                                          rows[i].header_retry, &f);
        cr_assert_eq(f.cls, rows[i].cls, "row %zu", i);
        cr_assert_eq(f.status, rows[i].status);
        cr_assert_eq(f.retry_after_ms, rows[i].retry, "row %zu: %lld", i, (long long)f.retry_after_ms);
        cr_assert_str_eq(f.message, rows[i].message);
        cr_assert_str_eq(f.type, rows[i].type);
        cr_assert_str_eq(f.code, rows[i].code);
    }
}

Test(gemini, retry_delay_formats)
{
    static const struct {
        const char *delay;
        int64_t ms;
    } rows[] = {{"47s", 47000}, {"1.5s", 1500}, {"0.250s", 250}, {"0s", 0},    {"2.0009s", 2000},
                {"s", -1},      {"47", -1},     {"-1s", -1},     {"1.5ms", -1}};
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char body[256];
        orc_failure_t f;
        snprintf(body, sizeof(body), GEM_ERR("429", "x", "RESOURCE_EXHAUSTED", RETRY_INFO("%s")),
                 rows[i].delay);
        orc_adapter_gemini.classify_error(429, body, strlen(body), -1, &f);
        cr_assert_eq(f.retry_after_ms, rows[i].ms, "%s -> %lld", rows[i].delay, (long long)f.retry_after_ms);
    }
}
