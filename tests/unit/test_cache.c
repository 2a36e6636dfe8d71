/*
 * test_cache.c - the response cache's pure parts: key canonicalisation,
 * request controls, clear-pattern confinement, stream collection and
 * replay.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/helpers.h"
#include "worker/cache/cache.h"

TestSuite(cache, .timeout = 10);

static void key_of(const char *scope, const char *json, char *out)
{
    json_object *req = json_tokener_parse(json);
    cr_assert_not_null(req, "bad JSON in the test: %s", json);
    cr_assert_eq(orc_cache_key("orchesity", scope, req, out, ORC_CACHE_KEY_MAX), 0);
    json_object_put(req);
}

#define BASE "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

Test(cache, same_request_same_key)
{
    char a[ORC_CACHE_KEY_MAX], b[ORC_CACHE_KEY_MAX];
    key_of("openai/gpt-4o-mini", "{" BASE ",\"temperature\":0.5,\"max_tokens\":10}", a);
    key_of("openai/gpt-4o-mini", "{\"max_tokens\":10,\"temperature\":0.50," BASE "}", b);
    cr_assert_str_eq(a, b, "member order or number spelling split an entry");
    cr_assert(strncmp(a, "orchesity:llm_response:", 23) == 0, "%s", a);
    cr_assert_eq(strlen(a), 23 + 64);
    /* 1 and 1.0 are the same number; stream, stream_options and model do not split entries */
    key_of("s", "{" BASE ",\"temperature\":1}", a);
    key_of("s",
           "{" BASE ",\"temperature\":1.0,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
           "\"model\":\"alias\"}",
           b);
    cr_assert_str_eq(a, b);
}

Test(cache, parameters_never_share_an_entry)
{
    static const char *variants[] = {
        "{" BASE "}",
        "{" BASE ",\"temperature\":0.5}",
        "{" BASE ",\"temperature\":0.6}",
        "{" BASE ",\"top_p\":0.5}",
        "{" BASE ",\"max_tokens\":10}",
        "{" BASE ",\"max_tokens\":11}",
        "{" BASE ",\"stop\":[\"x\"]}",
        "{" BASE ",\"stop\":\"x\"}",
        "{" BASE ",\"seed\":1}",
        "{" BASE ",\"presence_penalty\":0.1}",
        "{" BASE ",\"frequency_penalty\":0.1}",
        "{" BASE ",\"response_format\":{\"type\":\"json_object\"}}",
        "{" BASE ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
        "{" BASE ",\"tool_choice\":\"none\"}",
        "{" BASE ",\"user\":\"u1\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi \"}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"user\",\"content\":\"\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}",
        "{" BASE ",\"x\":null}",
        "{" BASE ",\"x\":false}",
        "{" BASE ",\"x\":\"\"}",
        "{" BASE ",\"x\":0}",
        "{" BASE ",\"x\":[]}",
        "{" BASE ",\"x\":{}}",
    };
    size_t n = sizeof(variants) / sizeof(variants[0]);
    char keys[32][ORC_CACHE_KEY_MAX];
    for (size_t i = 0; i < n; i++)
        key_of("openai/gpt-4o-mini", variants[i], keys[i]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(keys[i], keys[j], "%s and %s share a key", variants[i], variants[j]);
    char other[ORC_CACHE_KEY_MAX];
    key_of("anthropic/claude-haiku-4-5", variants[0], other);
    cr_assert_str_neq(keys[0], other, "the provider/model must split entries");
    key_of("openai/gpt-4o", variants[0], other);
    cr_assert_str_neq(keys[0], other, "the model must split entries");
}

Test(cache, nested_values_are_unambiguous)
{
    char a[ORC_CACHE_KEY_MAX], b[ORC_CACHE_KEY_MAX];
    key_of("s", "{\"a\":[\"x\",\"y\"]}", a);
    key_of("s", "{\"a\":[\"xy\"]}", b);
    cr_assert_str_neq(a, b);
    key_of("s", "{\"a\":{\"b\":1,\"c\":2}}", a);
    key_of("s", "{\"a\":{\"b\":12}}", b);
    cr_assert_str_neq(a, b);
    /* "model" and "stream" only drop out at the top level */
    key_of("s", "{\"a\":{\"model\":1}}", a);
    key_of("s", "{\"a\":{\"model\":2}}", b);
    cr_assert_str_neq(a, b);
}

Test(cache, n_above_one_is_not_cacheable)
{
    json_object *r = json_tokener_parse("{\"n\":2}");
    cr_assert_not_null(orc_cache_uncacheable(r));
    json_object_put(r);
    r = json_tokener_parse("{\"n\":1}");
    cr_assert_null(orc_cache_uncacheable(r));
    json_object_put(r);
}

Test(cache, request_controls)
{
    bool lookup, store;
    int ttl;
    char err[200];
    cr_assert_eq(orc_cache_controls(NULL, NULL, 3600, 86400, &lookup, &store, &ttl, err, sizeof(err)), 0);
    cr_assert(lookup && store && ttl == 3600);
    orc_cache_controls("no-cache", NULL, 3600, 86400, &lookup, &store, &ttl, err, sizeof(err));
    cr_assert(!lookup && store);
    orc_cache_controls("No-Store", NULL, 3600, 86400, &lookup, &store, &ttl, err, sizeof(err));
    cr_assert(lookup && !store);
    orc_cache_controls("max-age=0, no-store ,no-cache", "60", 3600, 86400, &lookup, &store, &ttl, err,
                       sizeof(err));
    cr_assert(!lookup && !store && ttl == 60);
    orc_cache_controls("no-cachex, xno-store", NULL, 3600, 86400, &lookup, &store, &ttl, err, sizeof(err));
    cr_assert(lookup && store, "directives are whole tokens");
    static const char *bad[] = {"0", "-1", "86401", "1e3", " 5", "5s", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(orc_cache_controls(NULL, bad[i], 3600, 86400, &lookup, &store, &ttl, err, sizeof(err)),
                     -1, "TTL '%s' accepted", bad[i]);
}

static int pattern(const char *p, char *out)
{
    char err[300];
    return orc_cache_pattern("orchesity", p, out, 256, err, sizeof(err));
}

Test(cache, patterns_stay_in_the_namespace)
{
    char out[256];
    cr_assert_eq(pattern(NULL, out), 0);
    cr_assert_str_eq(out, "orchesity:*");
    cr_assert_eq(pattern("llm_response:*", out), 0);
    cr_assert_str_eq(out, "orchesity:llm_response:*");
    cr_assert_eq(pattern("*", out), 0);
    cr_assert_str_eq(out, "orchesity:*");
    cr_assert_eq(pattern("session:abc", out), 0);
    cr_assert_str_eq(out, "orchesity:session:abc");
    cr_assert_eq(pattern("orchesity:x*", out), 0); /* stays relative: orchesity:orchesity:x* */
    cr_assert_str_eq(out, "orchesity:orchesity:x*");
    static const char *attacks[] = {"../*", "..",    "a..b", "*:*", "**",      "[a-z]*", "?",
                                    "a?",   "\\*",   "a\\",  "a b", "a/b",     "",       "x*y",
                                    "*x",   "{a,b}", "^a",   "a\n", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
        cr_assert_eq(pattern(attacks[i], out), -1, "pattern '%s' accepted as %s", attacks[i], out);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    cr_assert_eq(pattern(longp, out), -1);
    longp[ORC_CACHE_PATTERN_MAX] = '\0';
    cr_assert_eq(pattern(longp, out), 0);
}

/* ---- collection and replay --------------------------------------------- */

static void collect_emit(void *arg, json_object *chunk)
{
    orc_cache_collect_chunk(arg, chunk);
}

static orc_job_result_t ok_result(void)
{
    orc_job_result_t r;
    memset(&r, 0, sizeof(r));
    r.ok = true;
    snprintf(r.model, sizeof(r.model), "gpt-4o-mini");
    snprintf(r.finish_reason, sizeof(r.finish_reason), "stop");
    r.usage.known = true;
    r.usage.prompt_tokens = 3;
    r.usage.completion_tokens = 4;
    r.usage.total_tokens = 7;
    return r;
}

Test(cache, replay_collects_back_to_the_same_completion)
{
    const char *text =
        "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-mini\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\","
        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}";
    json_object *completion = json_tokener_parse(text);
    orc_cache_collect_t *c = orc_cache_collect_new();
    orc_cache_replay(completion, "chatcmpl-new", true, collect_emit, c);
    orc_job_result_t r = ok_result();
    json_object *back = orc_cache_completion(c, &r);
    cr_assert_not_null(back);
    cr_assert_str_eq(test_at_str(back, "choices.0.message.content"), "Hello there");
    cr_assert_str_eq(test_at_str(back, "choices.0.finish_reason"), "tool_calls");
    cr_assert_str_eq(test_at_str(back, "choices.0.message.tool_calls.0.id"), "call_1");
    cr_assert_str_eq(test_at_str(back, "choices.0.message.tool_calls.0.function.arguments"), "{\"a\":1}");
    cr_assert_eq(test_at_int(back, "usage.total_tokens"), 7);
    json_object_put(back);
    orc_cache_collect_free(c);
    json_object_put(completion);
}

Test(cache, a_cut_or_failed_stream_is_not_stored)
{
    orc_job_result_t r = ok_result();
    orc_cache_collect_t *c = orc_cache_collect_new();
    json_object *chunk = json_tokener_parse("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}");
    orc_cache_collect_chunk(c, chunk);
    json_object_put(chunk);
    chunk = json_tokener_parse("{\"error\":{\"message\":\"cut\"}}");
    orc_cache_collect_chunk(c, chunk);
    json_object_put(chunk);
    cr_assert_null(orc_cache_completion(c, &r), "a stream with an error chunk was kept");
    orc_cache_collect_free(c);
    c = orc_cache_collect_new();
    r.ok = false;
    cr_assert_null(orc_cache_completion(c, &r), "a failed job was kept");
    r.ok = true;
    r.finish_reason[0] = '\0';
    cr_assert_null(orc_cache_completion(c, &r), "a stream without a finish was kept");
    orc_cache_collect_free(c);
}

Test(cache, entries_round_trip)
{
    json_object *completion =
        json_tokener_parse("{\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                           "\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}");
    const char *p = "openai", *m = "m";
    json_object *e = orc_cache_entry_new(1, &p, &m, &completion);
    json_object *back = json_tokener_parse(json_object_to_json_string(e));
    const char *bp, *bm;
    json_object *bc;
    cr_assert_eq(orc_cache_entry_count(back), 1);
    cr_assert_eq(orc_cache_entry_answer(back, 0, &bp, &bm, &bc), 0);
    cr_assert_str_eq(bp, "openai");
    cr_assert_str_eq(orc_cache_completion_text(bc), "hi");
    json_object *fresh = orc_cache_fresh_completion(bc, "chatcmpl-req1");
    cr_assert_str_eq(test_at_str(fresh, "id"), "chatcmpl-req1");
    json_object_put(fresh);
    cr_assert_eq(orc_cache_entry_answer(back, 1, &bp, &bm, &bc), -1);
    json_object_put(back);
    json_object_put(e);
}
