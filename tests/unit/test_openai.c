/*
 * test_openai.c - the OpenAI and openai-compatible adapters (docs/providers.md
 * §1) and the shared pieces of adapter.c: names, failure classes, usage
 * JSON, JSON-in-string arguments, data URIs.  Streams are the recorded
 * shapes of tests/unit/data/providers/ run through the SSE parser, whole
 * and cut at every byte boundary.
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

TestSuite(adapter, .timeout = 10);
TestSuite(openai, .timeout = 10);

static const orc_endpoint_t ep_openai = {ORC_PROVIDER_OPENAI, "https://api.openai.com/v1", "sk-test", NULL,
                                         0};
static const orc_endpoint_t ep_local = {ORC_PROVIDER_OPENAI_COMPATIBLE, "http://127.0.0.1:8000/v1", "", NULL,
                                        0};

/* --- helpers --------------------------------------------------------------- */

/* "choices.0.delta.content" */

static bool has(json_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *dot = strrchr(buf, '.');
    json_object *parent = o;
    if (dot != NULL) {
        *dot = '\0';
        parent = test_at(o, buf);
    }
    return json_object_object_get_ex(parent, dot ? dot + 1 : buf, NULL);
}

static void assert_json(json_object *got, const char *want_text)
{
    json_object *want = json_tokener_parse(want_text);
    cr_assert_not_null(want, "bad expected JSON: %s", want_text);
    cr_assert(json_object_equal(got, want), "got  %s\nwant %s", json_object_to_json_string(got),
              json_object_to_json_string(want));
    json_object_put(want);
}

typedef struct {
    const orc_adapter_t *ad;
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
    r->ad->stream_event(&r->st, event, data, len, on_chunk, r);
}

/* TEXT through the SSE parser and the adapter, cut at CUT (0: whole; 1 with
 * BYTEWISE: one byte at a time), then stream_end. */
static void run_text(run_t *r, orc_provider_type_t type, const char *text, size_t len, size_t cut,
                     bool bytewise, bool include_usage)
{
    orc_sse_t p;
    r->ad = orc_adapter_for(type);
    r->chunks = json_object_new_array();
    orc_stream_init(&r->st, "requested-model", include_usage);
    orc_sse_init(&p, 1 << 20);
    for (size_t at = 0; at < len;) {
        size_t n = bytewise ? 1 : (cut > at ? cut - at : len - at);
        cr_assert_eq(orc_sse_feed(&p, text + at, n, on_event, r), ORC_OK);
        at += n;
    }
    r->end_rc = r->ad->stream_end(&r->st, on_chunk, r);
    orc_sse_free(&p);
}

static void run_fixture(run_t *r, orc_provider_type_t type, const char *name, bool include_usage)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), FIXTURE("%s"), name);
    char *text = test_slurp(path, &len);
    run_text(r, type, text, len, 0, false, include_usage);
    free(text);
}

static void run_free(run_t *r)
{
    json_object_put(r->chunks);
}

static size_t nchunks(run_t *r)
{
    return json_object_array_length(r->chunks);
}

static json_object *chunk(run_t *r, size_t i)
{
    return json_object_array_get_idx(r->chunks, i);
}

/* The concatenated delta.content of all chunks. */
static void content_of(run_t *r, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < nchunks(r); i++) {
        const char *c = test_at_str(chunk(r, i), "choices.0.delta.content");
        if (c != NULL)
            strncat(buf, c, size - strlen(buf) - 1);
    }
}

/* Tool call INDEX accumulated the way the openai SDK does. */
static void tool_of(run_t *r, int index, char *id, char *name, char *args, size_t size)
{
    id[0] = name[0] = args[0] = '\0';
    for (size_t i = 0; i < nchunks(r); i++) {
        json_object *calls = test_at(chunk(r, i), "choices.0.delta.tool_calls");
        for (size_t j = 0; calls != NULL && j < json_object_array_length(calls); j++) {
            json_object *c = json_object_array_get_idx(calls, j);
            if (json_object_get_int(test_at(c, "index")) != index)
                continue;
            if (test_at_str(c, "id"))
                snprintf(id, size, "%s", test_at_str(c, "id"));
            if (test_at_str(c, "function.name"))
                snprintf(name, size, "%s", test_at_str(c, "function.name"));
            if (test_at_str(c, "function.arguments"))
                strncat(args, test_at_str(c, "function.arguments"), size - strlen(args) - 1);
        }
    }
}

static void check_cut_everywhere(orc_provider_type_t type, const char *name, bool include_usage)
{
    char path[512];
    size_t len;
    run_t whole, part;
    snprintf(path, sizeof(path), FIXTURE("%s"), name);
    char *text = test_slurp(path, &len);
    run_text(&whole, type, text, len, 0, false, include_usage);
    char *want = strdup(test_plain(whole.chunks));
    for (size_t k = 1; k <= len; k++) {
        run_text(&part, type, text, len, k, k == len, include_usage); /* k == len: byte by byte */
        cr_assert_str_eq(test_plain(part.chunks), want, "%s cut at %zu", name, k);
        cr_assert_eq(part.end_rc, whole.end_rc);
        run_free(&part);
    }
    free(want);
    run_free(&whole);
    free(text);
}

/* --- adapter.c --------------------------------------------------------------- */

Test(adapter, table_and_names)
{
    static const char *const names[] = {"openai", "anthropic", "gemini", "grok", "openai-compatible"};
    for (int t = 0; t < ORC_PROVIDER_TYPES; t++) {
        orc_provider_type_t parsed = ORC_PROVIDER_TYPES;
        const orc_adapter_t *ad = orc_adapter_for((orc_provider_type_t)t);
        cr_assert_not_null(ad);
        cr_assert_eq(ad->type, (orc_provider_type_t)t);
        cr_assert_str_eq(ad->name, names[t]);
        cr_assert_str_eq(orc_provider_type_name((orc_provider_type_t)t), names[t]);
        cr_assert_eq(orc_provider_type_parse(names[t], &parsed), ORC_OK);
        cr_assert_eq(parsed, (orc_provider_type_t)t);
        cr_assert(ad->build_request && ad->parse_response && ad->stream_event && ad->stream_end &&
                  ad->classify_error);
    }
    orc_provider_type_t out = ORC_PROVIDER_GEMINI;
    cr_assert_null(orc_adapter_for(ORC_PROVIDER_TYPES));
    cr_assert_eq(orc_provider_type_parse("xai", &out), ORC_ERR);
    cr_assert_eq(orc_provider_type_parse("OpenAI", &out), ORC_ERR);
    cr_assert_eq(orc_provider_type_parse(NULL, &out), ORC_ERR);
    cr_assert_eq(out, ORC_PROVIDER_GEMINI);
    cr_assert_str_eq(orc_provider_type_name(ORC_PROVIDER_TYPES), "unknown");
}

Test(adapter, fail_class_names_and_retry)
{
    static const struct {
        orc_fail_class_t cls;
        const char *name;
        bool retry;
    } rows[] = {
        {ORC_FAIL_NONE, "none", false},
        {ORC_FAIL_RATE_LIMITED, "rate_limited", true},
        {ORC_FAIL_OVERLOADED, "overloaded", true},
        {ORC_FAIL_SERVER, "server", true},
        {ORC_FAIL_TIMEOUT, "timeout", true},
        {ORC_FAIL_CONNECT, "connect", true},
        {ORC_FAIL_CLIENT, "client", false},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        cr_assert_str_eq(orc_fail_class_name(rows[i].cls), rows[i].name);
        cr_assert_eq(orc_fail_retryable(rows[i].cls), rows[i].retry, "%s", rows[i].name);
    }
    cr_assert_str_eq(orc_fail_class_name(ORC_FAIL_CLASSES), "unknown");
    cr_assert_eq(orc_fail_retryable(ORC_FAIL_CLASSES), false);
}

Test(adapter, class_for_status)
{
    static const struct {
        int status;
        orc_fail_class_t cls;
    } rows[] = {{400, ORC_FAIL_CLIENT},       {401, ORC_FAIL_CLIENT}, {402, ORC_FAIL_CLIENT},
                {403, ORC_FAIL_CLIENT},       {404, ORC_FAIL_CLIENT}, {408, ORC_FAIL_SERVER},
                {409, ORC_FAIL_SERVER},       {413, ORC_FAIL_CLIENT}, {422, ORC_FAIL_CLIENT},
                {429, ORC_FAIL_RATE_LIMITED}, {500, ORC_FAIL_SERVER}, {502, ORC_FAIL_SERVER},
                {503, ORC_FAIL_OVERLOADED},   {504, ORC_FAIL_SERVER}, {529, ORC_FAIL_OVERLOADED},
                {301, ORC_FAIL_SERVER}};
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++)
        cr_assert_eq(orc_fail_class_for_status(rows[i].status), rows[i].cls, "status %d", rows[i].status);
    cr_assert_eq(orc_fail_class_for_type("overloaded_error"), ORC_FAIL_OVERLOADED);
    cr_assert_eq(orc_fail_class_for_type("UNAVAILABLE"), ORC_FAIL_OVERLOADED);
    cr_assert_eq(orc_fail_class_for_type("rate_limit_error"), ORC_FAIL_RATE_LIMITED);
    cr_assert_eq(orc_fail_class_for_type("RESOURCE_EXHAUSTED"), ORC_FAIL_RATE_LIMITED);
    cr_assert_eq(orc_fail_class_for_type("api_error"), ORC_FAIL_SERVER);
    cr_assert_eq(orc_fail_class_for_type(NULL), ORC_FAIL_SERVER);
}

Test(adapter, stream_init)
{
    orc_stream_t st;
    memset(&st, 0x5A, sizeof(st));
    orc_stream_init(&st, "claude-haiku-4-5", true);
    cr_assert_str_eq(st.model, "claude-haiku-4-5");
    cr_assert_str_eq(st.id, "");
    cr_assert(st.created > 1700000000);
    cr_assert(st.include_usage && !st.role_sent && !st.finished && !st.done && !st.failed);
    cr_assert_eq(st.next_tool_index, 0);
    for (size_t i = 0; i < ORC_ARRAY_LEN(st.block_tool); i++)
        cr_assert_eq(st.block_tool[i], -1);
    cr_assert_eq(st.usage.known, false);
    cr_assert_eq(st.failure.cls, ORC_FAIL_NONE);
    cr_assert_eq(st.failure.retry_after_ms, -1);
}

Test(adapter, http_out_free)
{
    orc_http_out_t out;
    memset(&out, 0, sizeof(out));
    cr_assert_eq(orc_http_out_url(&out, "http://h", "/p", "?q"), ORC_OK);
    cr_assert_str_eq(out.url, "http://h/p?q");
    for (int i = 0; i < ORC_ADAPTER_HEADERS_MAX - 1; i++)
        cr_assert_eq(orc_http_out_header(&out, "X-%d: %s", i, "v"), ORC_OK);
    cr_assert_eq(orc_http_out_header(&out, "X-full: 1"), ORC_ERR); /* the terminator slot stays NULL */
    cr_assert_str_eq(out.headers[0], "X-0: v");
    cr_assert_null(out.headers[ORC_ADAPTER_HEADERS_MAX - 1]);
    orc_http_out_free(&out);
    cr_assert_null(out.url);
    cr_assert_null(out.headers[0]);
    orc_http_out_free(&out);
    orc_http_out_free(NULL);
}

Test(adapter, usage_to_json)
{
    orc_usage_t u = {.prompt_tokens = 150,
                     .completion_tokens = 40,
                     .total_tokens = 190,
                     .cached_tokens = 30,
                     .cache_write_tokens = 20,
                     .reasoning_tokens = 7,
                     .known = true};
    json_object *o = json_object_new_object();
    orc_usage_to_json(&u, o);
    cr_assert_str_eq(test_plain(o),
                     "{\"usage\":{\"prompt_tokens\":150,\"completion_tokens\":40,\"total_tokens\":190,"
                     "\"prompt_tokens_details\":{\"cached_tokens\":30},"
                     "\"completion_tokens_details\":{\"reasoning_tokens\":7}}}");
    u.known = false;
    orc_usage_to_json(&u, o);
    cr_assert_str_eq(test_plain(o), "{\"usage\":null}");
    json_object_put(o);
}

Test(adapter, tool_args_parse)
{
    json_object *o = NULL;
    cr_assert_eq(orc_tool_args_parse("{\"city\":\"Oslo\"}", &o), ORC_OK);
    cr_assert_str_eq(test_plain(o), "{\"city\":\"Oslo\"}");
    json_object_put(o);
    cr_assert_eq(orc_tool_args_parse("", &o), ORC_OK);
    cr_assert_str_eq(test_plain(o), "{}");
    json_object_put(o);
    cr_assert_eq(orc_tool_args_parse(NULL, &o), ORC_OK);
    json_object_put(o);
    cr_assert_eq(orc_tool_args_parse(" {\"a\":1} ", &o), ORC_OK);
    json_object_put(o);
    cr_assert_eq(orc_tool_args_parse("{\"city\":", &o), ORC_ERR);
    cr_assert_null(o);
    cr_assert_eq(orc_tool_args_parse("[1]", &o), ORC_ERR);
    cr_assert_eq(orc_tool_args_parse("{} x", &o), ORC_ERR);
    cr_assert_eq(orc_tool_args_parse("4", &o), ORC_ERR);
}

Test(adapter, json_parse_len_whole_value_only)
{
    json_object *o = orc_json_parse_len("4", 1);
    cr_assert_eq(json_object_get_int(o), 4);
    json_object_put(o);
    o = orc_json_parse_len("{\"a\":1}xyz", 7); /* the length bounds the text */
    cr_assert_not_null(o);
    json_object_put(o);
    cr_assert_null(orc_json_parse_len("{\"a\":1}{", 8));
    cr_assert_null(orc_json_parse_len("", 0));
    cr_assert_null(orc_json_parse_len("{\"a\"", 4));
    cr_assert_null(orc_json_parse_len(NULL, 0));
    char deep[200];
    memset(deep, '[', 50);
    memset(deep + 50, ']', 50);
    o = orc_json_parse_len(deep, 100); /* 50 levels: deeper than json-c's default 32 */
    cr_assert_not_null(o);
    json_object_put(o);
    memset(deep, '[', 70);
    memset(deep + 70, ']', 70);
    cr_assert_null(orc_json_parse_len(deep, 140));
}

Test(adapter, data_uri_split)
{
    char mime[32];
    const char *data = NULL;
    cr_assert_eq(orc_data_uri_split("data:image/png;base64,iVBOR", mime, sizeof(mime), &data), ORC_OK);
    cr_assert_str_eq(mime, "image/png");
    cr_assert_str_eq(data, "iVBOR");
    cr_assert_eq(orc_data_uri_split("https://x/y.png", mime, sizeof(mime), &data), ORC_ERR);
    cr_assert_eq(orc_data_uri_split("data:image/png,raw", mime, sizeof(mime), &data), ORC_ERR);
    cr_assert_eq(orc_data_uri_split("data:;base64,AA", mime, sizeof(mime), &data), ORC_ERR);
    cr_assert_eq(orc_data_uri_split(NULL, mime, sizeof(mime), &data), ORC_ERR);
    cr_assert_eq(orc_data_uri_split("data:image/a-very-long-mime-type-name;base64,AA", mime, 8, &data),
                 ORC_ERR);
}

Test(adapter, content_text)
{
    json_object *c =
        json_tokener_parse("[{\"type\":\"text\",\"text\":\"Hel\"},{\"type\":\"image_url\","
                           "\"image_url\":{\"url\":\"data:x\"}},{\"type\":\"text\",\"text\":\"lo\"}]");
    char *t = orc_content_text(c);
    cr_assert_str_eq(t, "Hello");
    free(t);
    json_object_put(c);
    c = json_object_new_string("plain");
    t = orc_content_text(c);
    cr_assert_str_eq(t, "plain");
    free(t);
    json_object_put(c);
    cr_assert_null(orc_content_text(NULL));
}

Test(adapter, fail_set_cuts_utf8_cleanly)
{
    orc_failure_t f;
    char msg[600];
    memset(msg, 'a', 510);
    strcpy(msg + 510, "\xC3\xA9\xC3\xA9"); /* "éé" straddling the 511-byte limit */
    orc_fail_set(&f, ORC_FAIL_SERVER, 500, msg, "api_error", NULL);
    cr_assert_eq(strlen(f.message), 510);
    orc_fail_set(&f, ORC_FAIL_SERVER, 500, "\xC3\xA9t\xC3\xA9", NULL, NULL);
    cr_assert_str_eq(f.message, "\xC3\xA9t\xC3\xA9");
    cr_assert_str_eq(f.type, "");
    cr_assert_str_eq(f.code, "");
    cr_assert_eq(f.retry_after_ms, -1);
    cr_assert_eq(f.status, 500);
}

/* --- OpenAI: request --------------------------------------------------------- */

static const char *chat_request =
    "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":0.7,\"max_tokens\":50,\"stream\":true,"
    "\"stream_options\":{\"include_usage\":false,\"include_obfuscation\":false},"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
    "\"object\"}}}],"
    "\"user\":\"u-1\",\"seed\":7}";

static json_object *build_ok(orc_provider_type_t type, const orc_endpoint_t *ep, const char *req_text,
                             bool stream, orc_http_out_t *out)
{
    json_object *req = json_tokener_parse(req_text);
    char before[4096], err[256] = "";
    snprintf(before, sizeof(before), "%s", test_plain(req));
    int rc = orc_adapter_for(type)->build_request(ep, "gpt-4o-mini", req, stream, out, err, sizeof(err));
    cr_assert_eq(rc, ORC_OK, "build failed: %s", err);
    cr_assert_str_eq(test_plain(req), before, "the request must not be modified");
    json_object_put(req);
    json_object *body = json_tokener_parse(out->body);
    cr_assert_not_null(body);
    cr_assert_eq(out->body_len, strlen(out->body));
    return body;
}

Test(openai, build_non_stream)
{
    orc_http_out_t out;
    json_object *body = build_ok(ORC_PROVIDER_OPENAI, &ep_openai, chat_request, false, &out);
    cr_assert_str_eq(out.url, "https://api.openai.com/v1/chat/completions");
    cr_assert_str_eq(out.headers[0], "Authorization: Bearer sk-test");
    cr_assert_str_eq(out.headers[1], "Content-Type: application/json");
    cr_assert_null(out.headers[2]);
    assert_json(
        body, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
              "{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":0.7,\"max_tokens\":50,"
              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
              "\"parameters\":{\"type\":\"object\"}}}],\"user\":\"u-1\",\"seed\":7}");
    cr_assert_not_null(strstr(out.body, "\"temperature\":0.7,"), "numbers keep their text: %s", out.body);
    cr_assert_eq(strncmp(out.body, "{\"model\":\"gpt-4o-mini\"", 22), 0);
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(openai, build_stream_forces_include_usage)
{
    orc_http_out_t out;
    json_object *body = build_ok(ORC_PROVIDER_OPENAI, &ep_openai, chat_request, true, &out);
    cr_assert_eq(json_object_get_boolean(test_at(body, "stream")), true);
    assert_json(test_at(body, "stream_options"), "{\"include_usage\":true,\"include_obfuscation\":false}");
    json_object_put(body);
    orc_http_out_free(&out);
    body = build_ok(ORC_PROVIDER_OPENAI, &ep_openai, "{\"model\":\"x\",\"messages\":[]}", true, &out);
    assert_json(body, "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"stream\":true,"
                      "\"stream_options\":{\"include_usage\":true}}");
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(openai, compatible_without_key_sends_no_authorization)
{
    orc_http_out_t out;
    json_object *body = build_ok(ORC_PROVIDER_OPENAI_COMPATIBLE, &ep_local, chat_request, false, &out);
    cr_assert_str_eq(out.url, "http://127.0.0.1:8000/v1/chat/completions");
    cr_assert_str_eq(out.headers[0], "Content-Type: application/json");
    cr_assert_null(out.headers[1]);
    json_object_put(body);
    orc_http_out_free(&out);
    orc_endpoint_t keyed = ep_local;
    keyed.api_key = "local-key";
    body = build_ok(ORC_PROVIDER_OPENAI_COMPATIBLE, &keyed, chat_request, false, &out);
    cr_assert_str_eq(out.headers[0], "Authorization: Bearer local-key");
    json_object_put(body);
    orc_http_out_free(&out);
}

Test(openai, build_rejects_non_object)
{
    orc_http_out_t out;
    char err[128] = "";
    json_object *req = json_object_new_array();
    cr_assert_eq(orc_adapter_openai.build_request(&ep_openai, "m", req, false, &out, err, sizeof(err)),
                 ORC_ERR);
    cr_assert_str_eq(err, "the request must be a JSON object");
    cr_assert_null(out.url);
    json_object_put(req);
}

/* --- OpenAI: response -------------------------------------------------------- */

static const char *openai_response =
    "{\"id\":\"chatcmpl-9fQ2aXk1\",\"object\":\"chat.completion\",\"created\":1764100000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hi "
    "there.\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":4,\"total_tokens\":25,"
    "\"prompt_tokens_details\":{\"cached_tokens\":3,\"audio_tokens\":0},\"completion_tokens_details\":"
    "{\"reasoning_tokens\":2,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_"
    "tokens\":0}},"
    "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_1a2b3c\"}";

Test(openai, parse_response_passes_through)
{
    orc_usage_t u;
    orc_failure_t f;
    json_object *r =
        orc_adapter_openai.parse_response(openai_response, strlen(openai_response), "gpt-4o-mini", &u, &f);
    cr_assert_not_null(r);
    json_object *want = json_tokener_parse(openai_response);
    cr_assert(json_object_equal(r, want), "%s", test_plain(r));
    json_object_put(want);
    cr_assert_str_eq(test_at_str(r, "model"), "gpt-4o-mini-2024-07-18");
    cr_assert(u.known);
    cr_assert_eq(u.prompt_tokens, 21);
    cr_assert_eq(u.completion_tokens, 4);
    cr_assert_eq(u.total_tokens, 25);
    cr_assert_eq(u.cached_tokens, 3);
    cr_assert_eq(u.reasoning_tokens, 2);
    cr_assert_eq(u.cache_write_tokens, 0);
    cr_assert_eq(f.cls, ORC_FAIL_NONE);
    json_object_put(r);
}

Test(openai, parse_compatible_without_total_or_model)
{
    static const char body[] =
        "{\"id\":\"cmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"choices\":[{\"index\":"
        "0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"length\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}";
    orc_usage_t u;
    orc_failure_t f;
    json_object *r = orc_adapter_openai_compatible.parse_response(body, strlen(body), "llama3", &u, &f);
    cr_assert_str_eq(test_at_str(r, "model"), "llama3");
    cr_assert_eq(json_object_get_int(test_at(r, "usage.total_tokens")), 12);
    cr_assert_eq(u.total_tokens, 12);
    cr_assert_str_eq(test_at_str(r, "choices.0.finish_reason"), "length");
    json_object_put(r);
}

Test(openai, parse_without_usage)
{
    static const char body[] = "{\"id\":\"c\",\"choices\":[],\"model\":\"m\"}";
    orc_usage_t u;
    orc_failure_t f;
    json_object *r = orc_adapter_openai.parse_response(body, strlen(body), "x", &u, &f);
    cr_assert_not_null(r);
    cr_assert_eq(u.known, false);
    cr_assert_eq(u.prompt_tokens, 0);
    json_object_put(r);
}

Test(openai, parse_malformed)
{
    static const char *const bodies[] = {"", "{\"id\":", "[]", "{\"error\":{\"message\":\"x\"}}", "<html>"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(bodies); i++) {
        orc_usage_t u;
        orc_failure_t f;
        cr_assert_null(orc_adapter_openai.parse_response(bodies[i], strlen(bodies[i]), "m", &u, &f));
        cr_assert_eq(f.cls, ORC_FAIL_SERVER);
        cr_assert_str_eq(f.message, "malformed upstream response");
        cr_assert_str_eq(f.type, "server_error");
    }
}

/* --- OpenAI: stream ---------------------------------------------------------- */

Test(openai, stream_text_with_usage)
{
    run_t r;
    char text[256];
    run_fixture(&r, ORC_PROVIDER_OPENAI, "openai_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 5);
    cr_assert_str_eq(
        test_plain(chunk(&r, 0)),
        "{\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1764100000,\"model\":"
        "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
        "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    content_of(&r, text, sizeof(text));
    cr_assert_str_eq(text, "Hello");
    cr_assert_str_eq(test_at_str(chunk(&r, 3), "choices.0.finish_reason"), "stop");
    cr_assert_str_eq(
        test_plain(chunk(&r, 4)),
        "{\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1764100000,\"model\":"
        "\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
        "\"total_tokens\":11}}");
    cr_assert(r.st.done && r.st.finished && r.st.role_sent && !r.st.failed);
    cr_assert_str_eq(r.st.finish_reason, "stop");
    cr_assert_str_eq(r.st.id, "chatcmpl-X");
    cr_assert_str_eq(r.st.model, "gpt-4o-mini");
    cr_assert_eq(r.st.created, 1764100000);
    cr_assert(r.st.usage.known);
    cr_assert_eq(r.st.usage.total_tokens, 11);
    run_free(&r);
}

Test(openai, stream_usage_chunk_dropped_unless_asked)
{
    run_t r;
    run_fixture(&r, ORC_PROVIDER_OPENAI, "openai_stream.txt", false);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 4);
    for (size_t i = 0; i < nchunks(&r); i++)
        cr_assert(!has(chunk(&r, i), "usage"), "chunk %zu still has usage", i);
    cr_assert_str_eq(test_at_str(chunk(&r, 3), "choices.0.finish_reason"), "stop");
    cr_assert(r.st.usage.known, "usage is still recorded for accounting");
    cr_assert_eq(r.st.usage.prompt_tokens, 9);
    cr_assert_eq(r.st.usage.completion_tokens, 2);
    run_free(&r);
}

Test(openai, stream_tool_calls)
{
    run_t r;
    char id[64], name[64], args[128];
    run_fixture(&r, ORC_PROVIDER_OPENAI, "openai_tools_stream.txt", true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert_eq(nchunks(&r), 7);
    tool_of(&r, 0, id, name, args, sizeof(id));
    cr_assert_str_eq(id, "call_7Kx2");
    cr_assert_str_eq(name, "get_weather");
    cr_assert_str_eq(args, "{\"city\": \"Oslo\"}");
    tool_of(&r, 1, id, name, args, sizeof(id));
    cr_assert_str_eq(id, "call_8Lm3");
    cr_assert_str_eq(name, "get_time");
    cr_assert_str_eq(args, "{}");
    cr_assert_str_eq(test_at_str(chunk(&r, 5), "choices.0.finish_reason"), "tool_calls");
    for (size_t i = 0; i < nchunks(&r); i++)
        cr_assert(!has(chunk(&r, i), "obfuscation"));
    cr_assert_str_eq(test_at_str(chunk(&r, 0), "system_fingerprint"), "fp_1a2b3c");
    cr_assert_eq(json_object_get_int(test_at(chunk(&r, 6), "usage.prompt_tokens_details.cached_tokens")), 10);
    cr_assert_eq(r.st.usage.cached_tokens, 10);
    cr_assert_eq(r.st.usage.reasoning_tokens, 4);
    cr_assert_eq(r.st.usage.completion_tokens, 20, "OpenAI completion already includes reasoning");
    run_free(&r);
}

Test(openai, stream_first_chunk_gets_role_when_missing)
{
    static const char text[] =
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\","
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":5,\"model\":\"m\","
        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    run_t r;
    run_text(&r, ORC_PROVIDER_OPENAI_COMPATIBLE, text, strlen(text), 0, false, false);
    cr_assert_eq(nchunks(&r), 2);
    cr_assert_str_eq(test_plain(test_at(chunk(&r, 0), "choices.0")),
                     "{\"index\":0,\"delta\":{\"content\":\"a\",\"role\":\"assistant\"},\"logprobs\":null,"
                     "\"finish_reason\":null}");
    cr_assert(!has(chunk(&r, 1), "choices.0.delta.role"));
    cr_assert_eq(r.end_rc, ORC_OK);
    run_free(&r);
}

Test(openai, stream_mid_error)
{
    static const char text[] =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
        "\"finish_reason\":null}]}\n\n"
        "data: {\"error\":{\"message\":\"The server had an error while processing your "
        "request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n";
    run_t r;
    run_text(&r, ORC_PROVIDER_OPENAI, text, strlen(text), 0, false, true);
    cr_assert_eq(nchunks(&r), 2, "nothing after the error");
    cr_assert_str_eq(test_plain(chunk(&r, 1)),
                     "{\"error\":{\"message\":\"The server had an error while processing your "
                     "request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    cr_assert(r.st.failed);
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_SERVER);
    cr_assert_str_eq(r.st.failure.type, "server_error");
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 2, "stream_end emits no second error");
    run_free(&r);
}

Test(openai, stream_error_classes)
{
    static const struct {
        const char *data;
        orc_fail_class_t cls;
        const char *code;
    } rows[] = {
        {"data: {\"error\":{\"message\":\"slow "
         "down\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n",
         ORC_FAIL_RATE_LIMITED, "rate_limit_exceeded"},
        {"data: {\"error\":{\"message\":\"busy\",\"type\":\"overloaded_error\",\"code\":null}}\n\n",
         ORC_FAIL_OVERLOADED, NULL},
        {"data: {\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\",\"code\":400}}\n\n",
         ORC_FAIL_SERVER, "400"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        run_t r;
        run_text(&r, ORC_PROVIDER_OPENAI, rows[i].data, strlen(rows[i].data), 0, false, false);
        cr_assert_eq(r.st.failure.cls, rows[i].cls, "row %zu", i);
        if (rows[i].code)
            cr_assert_str_eq(test_at_str(chunk(&r, 0), "error.code"), rows[i].code);
        else
            cr_assert_null(test_at(chunk(&r, 0), "error.code"));
        run_free(&r);
    }
}

Test(openai, stream_cut_before_finish)
{
    char path[512], *cut;
    size_t len;
    run_t r;
    snprintf(path, sizeof(path), FIXTURE("%s"), "openai_stream.txt");
    char *text = test_slurp(path, &len);
    cut = strstr(text,
                 "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1764100000,"
                 "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},");
    cr_assert_not_null(cut);
    run_text(&r, ORC_PROVIDER_OPENAI, text, (size_t)(cut - text), 0, false, true);
    cr_assert_eq(r.end_rc, ORC_ERR);
    cr_assert_eq(nchunks(&r), 4);
    cr_assert_str_eq(test_plain(chunk(&r, 3)),
                     "{\"error\":{\"message\":\"upstream stream ended before it was complete\","
                     "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_SERVER);
    cr_assert(orc_fail_retryable(r.st.failure.cls));
    run_free(&r);
    free(text);
}

Test(openai, stream_finish_without_done_is_clean)
{
    char path[512];
    size_t len;
    run_t r;
    snprintf(path, sizeof(path), FIXTURE("%s"), "openai_stream.txt");
    char *text = test_slurp(path, &len),
         *usage = strstr(text, "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion."
                               "chunk\",\"created\":1764100000,\"model\":\"gpt-4o-mini\","
                               "\"choices\":[],");
    run_text(&r, ORC_PROVIDER_OPENAI, text, (size_t)(usage - text), 0, false, true);
    cr_assert_eq(r.end_rc, ORC_OK);
    cr_assert(!r.st.done && r.st.finished);
    cr_assert_eq(r.st.usage.known, false);
    cr_assert_eq(nchunks(&r), 4);
    run_free(&r);
    free(text);
}

Test(openai, stream_malformed_event)
{
    static const char text[] =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {not json\n\n";
    run_t r;
    run_text(&r, ORC_PROVIDER_OPENAI, text, strlen(text), 0, false, false);
    cr_assert_eq(nchunks(&r), 2);
    cr_assert_str_eq(test_at_str(chunk(&r, 1), "error.message"), "malformed event in the upstream stream");
    cr_assert_eq(r.st.failure.cls, ORC_FAIL_SERVER);
    cr_assert_eq(r.end_rc, ORC_ERR);
    run_free(&r);
}

Test(openai, stream_events_after_done_ignored)
{
    static const char text[] =
        "data: [DONE]\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{}}]}\n\n";
    run_t r;
    run_text(&r, ORC_PROVIDER_OPENAI, text, strlen(text), 0, false, false);
    cr_assert_eq(nchunks(&r), 0);
    cr_assert_eq(r.end_rc, ORC_OK);
    run_free(&r);
}

Test(openai, stream_cut_at_every_byte)
{
    check_cut_everywhere(ORC_PROVIDER_OPENAI, "openai_stream.txt", true);
    check_cut_everywhere(ORC_PROVIDER_OPENAI, "openai_tools_stream.txt", false);
}

/* --- OpenAI: errors (§1.5) ----------------------------------------------------- */

typedef struct {
    int status;
    const char *body;
    int64_t retry_after_ms;
    orc_fail_class_t cls;
    const char *message, *type, *code;
} error_row_t;

static void check_errors(const orc_adapter_t *ad, const error_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        orc_failure_t f;
        memset(&f, 0x5A, sizeof(f));
        ad->classify_error(rows[i].status, rows[i].body, rows[i].body ? strlen(rows[i].body) : 0,
                           rows[i].retry_after_ms, &f);
        cr_assert_eq(f.cls, rows[i].cls, "status %d: class %s", rows[i].status, orc_fail_class_name(f.cls));
        cr_assert_eq(f.status, rows[i].status);
        cr_assert_eq(f.retry_after_ms, rows[i].retry_after_ms);
        cr_assert_str_eq(f.message, rows[i].message, "status %d", rows[i].status);
        cr_assert_str_eq(f.type, rows[i].type, "status %d", rows[i].status);
        cr_assert_str_eq(f.code, rows[i].code, "status %d", rows[i].status);
    }
}

#define OAI_ERR(msg, type, code)                                                                             \
    "{\"error\":{\"message\":\"" msg "\",\"type\":\"" type "\",\"param\":null,\"code\":" code "}}"

Test(openai, classify_every_status)
{
    static const error_row_t rows[] = {
        {400, OAI_ERR("Bad messages", "invalid_request_error", "null"), -1, ORC_FAIL_CLIENT, "Bad messages",
         "invalid_request_error", ""},
        {401,
         OAI_ERR("Incorrect API key provided: sk-abc***.", "invalid_request_error", "\"invalid_api_key\""),
         -1, ORC_FAIL_CLIENT, "Incorrect API key provided: sk-abc***.", "invalid_request_error",
         "invalid_api_key"},
        {403,
         OAI_ERR("Country not supported", "invalid_request_error",
                 "\"unsupported_country_region_territory\""),
         -1, ORC_FAIL_CLIENT, "Country not supported", "invalid_request_error",
         "unsupported_country_region_territory"},
        {404, OAI_ERR("The model `gpt-9` does not exist", "invalid_request_error", "\"model_not_found\""), -1,
         ORC_FAIL_CLIENT, "The model `gpt-9` does not exist", "invalid_request_error", "model_not_found"},
        {408, OAI_ERR("Request timed out", "timeout", "null"), -1, ORC_FAIL_SERVER, "Request timed out",
         "timeout", ""},
        {409, OAI_ERR("Conflict", "invalid_request_error", "null"), -1, ORC_FAIL_SERVER, "Conflict",
         "invalid_request_error", ""},
        {422, OAI_ERR("Unprocessable", "invalid_request_error", "null"), -1, ORC_FAIL_CLIENT, "Unprocessable",
         "invalid_request_error", ""},
        {429,
         OAI_ERR(
             "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used "
             "29000, Requested 2000. Please try again in 2s.",
             "tokens", "\"rate_limit_exceeded\""),
         2000, ORC_FAIL_RATE_LIMITED,
         "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used "
         "29000, "
         "Requested 2000. Please try again in 2s.",
         "tokens", "rate_limit_exceeded"},
        {429,
         OAI_ERR("You exceeded your current quota, please check your plan and billing details.",
                 "insufficient_quota", "\"insufficient_quota\""),
         -1, ORC_FAIL_CLIENT, "You exceeded your current quota, please check your plan and billing details.",
         "insufficient_quota", "insufficient_quota"},
        {500, OAI_ERR("The server had an error while processing your request.", "server_error", "null"), -1,
         ORC_FAIL_SERVER, "The server had an error while processing your request.", "server_error", ""},
        {502, "<html><body>Bad gateway</body></html>", -1, ORC_FAIL_SERVER, "upstream answered HTTP 502", "",
         ""},
        {503, OAI_ERR("The engine is currently overloaded, please try again later", "server_error", "null"),
         1000, ORC_FAIL_OVERLOADED, "The engine is currently overloaded, please try again later",
         "server_error", ""},
        {504, NULL, -1, ORC_FAIL_SERVER, "upstream answered HTTP 504", "", ""},
    };
    check_errors(&orc_adapter_openai, rows, ORC_ARRAY_LEN(rows));
    check_errors(&orc_adapter_openai_compatible, rows, ORC_ARRAY_LEN(rows));
}
