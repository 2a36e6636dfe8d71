/*
 * test_reqlog.c - the request log's record builder (worker/reqlog/reqlog.c):
 * text sanitising, session ids, attempts as result rows, the prompt as
 * the settings keep it, status and errors of failed requests.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "common/orc.h"
#include "helpers.h"
#include "worker/llm/orchestrator.h"
#include "worker/reqlog/reqlog.h"

static const orc_reqlog_settings_t FULL = {ORC_REQLOG_FULL, ORC_REQLOG_FULL, 8};

static char *clean(const char *s, size_t len, size_t max)
{
    size_t n;
    char *out = orc_reqlog_clean(s, len, max, &n);
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), n, "no NUL inside");
    return out;
}

Test(reqlog, clean_replaces_nul_and_invalid_utf8)
{
    char *c = clean("a\0b", 3, 100);
    cr_assert_str_eq(c, "a\xef\xbf\xbd"
                        "b");
    free(c);
    c = clean("x\xff\xc3(", 4, 100); /* a stray byte and a cut sequence */
    cr_assert_str_eq(c, "x\xef\xbf\xbd\xef\xbf\xbd(");
    free(c);
    c = clean("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80", 12, 100); /* overlong, surrogate, > U+10FFFF */
    cr_assert_eq(strstr(c, "\xc0") == NULL && strstr(c, "\xed\xa0") == NULL && strstr(c, "\xf4\x90") == NULL,
                 1);
    free(c);
    c = clean("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15, 100); /* valid text is kept as it is */
    cr_assert_str_eq(c, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    free(c);
}

Test(reqlog, clean_truncates_at_a_character_boundary)
{
    char *c = clean("ab\xe2\x82\xac", 5, 4); /* the euro sign would pass 4 bytes */
    cr_assert_str_eq(c, "ab");
    free(c);
    c = clean("abcdef", 6, 3);
    cr_assert_str_eq(c, "abc");
    free(c);
}

Test(reqlog, session_ids)
{
    cr_assert(orc_reqlog_session_valid("sess-1"));
    cr_assert(orc_reqlog_session_valid("x'; DROP TABLE user_sessions; --"), "printable text is data");
    cr_assert_not(orc_reqlog_session_valid(""));
    cr_assert_not(orc_reqlog_session_valid("a\tb"));
    cr_assert_not(orc_reqlog_session_valid("\xc3\xa9"));
    char long_id[80];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[79] = '\0';
    cr_assert_not(orc_reqlog_session_valid(long_id));
}

static orc_job_result_t retried_result(void)
{
    orc_job_result_t r;
    memset(&r, 0, sizeof(r));
    r.ok = true;
    r.text = "the answer";
    r.usage.prompt_tokens = 5;
    r.usage.completion_tokens = 3;
    r.usage.total_tokens = 8;
    r.cost_usd = 0.25;
    r.ttft_us = 20000;
    r.latency_us = 90000;
    strcpy(r.model, "m2");
    r.nattempts = 2;
    r.attempts[0] = (orc_attempt_t){.provider = "p1",
                                    .model = "m1",
                                    .status = 429,
                                    .cls = ORC_FAIL_RATE_LIMITED,
                                    .latency_us = 1000,
                                    .retry = false};
    strcpy(r.attempts[0].error, "slow down");
    r.attempts[1] = (orc_attempt_t){.provider = "p2", .model = "m2", .status = 200, .latency_us = 50000};
    return r;
}

static json_object *record(orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set, int status)
{
    json_object *o = orc_reqlog_rec_json(rec, set, status, false, rec->start_us + 1500000);
    /* what the writer ships must survive a round trip as text */
    json_object *again = json_tokener_parse(json_object_to_json_string(o));
    cr_assert_not_null(again);
    json_object_put(again);
    return o;
}

Test(reqlog, one_row_per_attempt_and_the_answer_on_the_last)
{
    orc_reqlog_rec_t rec;
    orc_reqlog_rec_init(&rec, "rid-1", "/v1/chat/completions", 1700000000123ull, 1000);
    json_object *body =
        json_tokener_parse("{\"model\":\"auto\",\"max_tokens\":64,\"temperature\":0.5,"
                           "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                           "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}");
    rec.body = body;
    orc_job_result_t r = retried_result();
    orc_reqlog_rec_job(&rec, &FULL, body, &r);
    json_object *o = record(&rec, &FULL, 200);
    cr_assert_str_eq(test_at_str(o, "request_id"), "rid-1");
    cr_assert_str_eq(test_at_str(o, "status"), "completed");
    cr_assert_str_eq(test_at_str(o, "created_at"), "2023-11-14T22:13:20.123Z");
    cr_assert_str_eq(test_at_str(o, "prompt"), "system: be brief\nuser: hi");
    cr_assert_str_eq(test_at_str(o, "model"), "auto");
    cr_assert_eq(test_at_int(o, "max_tokens"), 64);
    cr_assert_float_eq(json_object_get_double(test_at(o, "temperature")), 0.5, 1e-9);
    cr_assert_eq(test_at_int(o, "tokens_used"), 8);
    cr_assert_float_eq(json_object_get_double(test_at(o, "total_response_time")), 1.5, 1e-6);
    cr_assert_str_eq(test_plain(test_at(o, "providers")), "[\"p1\",\"p2\"]");
    cr_assert_eq(json_object_array_length(test_at(o, "attempts")), 2);
    cr_assert_eq(test_at_int(o, "attempts.0.attempt"), 1);
    cr_assert_str_eq(test_at_str(o, "attempts.0.status"), "failed");
    cr_assert_str_eq(test_at_str(o, "attempts.0.error_class"), "rate_limited");
    cr_assert_str_eq(test_at_str(o, "attempts.0.error"), "slow down");
    cr_assert_eq(test_at_int(o, "attempts.0.http_status"), 429);
    cr_assert_null(test_at(o, "attempts.0.response"));
    cr_assert_eq(test_at_int(o, "attempts.1.attempt"), 2);
    cr_assert_str_eq(test_at_str(o, "attempts.1.status"), "success");
    cr_assert_str_eq(test_at_str(o, "attempts.1.response"), "the answer");
    cr_assert_eq(test_at_int(o, "attempts.1.tokens_used"), 8);
    cr_assert_float_eq(json_object_get_double(test_at(o, "attempts.1.time_to_first_token")), 0.02, 1e-9);
    cr_assert_null(test_at(o, "errors"));
    json_object_put(o);
    orc_reqlog_rec_clear(&rec);
}

Test(reqlog, fan_out_numbers_attempts_across_jobs_and_counts_failures)
{
    orc_reqlog_rec_t rec;
    orc_reqlog_rec_init(&rec, "rid-2", "/api/llm/orchestrate", 0, 0);
    rec.body = json_tokener_parse("{\"prompt\":\"q\",\"providers\":[\"a\",\"b\"],\"session_id\":\"s1\"}");
    orc_reqlog_rec_session(&rec, NULL);
    orc_job_result_t ok = retried_result(), bad;
    memset(&bad, 0, sizeof(bad));
    bad.nattempts = 1;
    bad.attempts[0] = (orc_attempt_t){.provider = "b", .model = "mb", .status = 500, .cls = ORC_FAIL_SERVER};
    bad.failure.cls = ORC_FAIL_SERVER;
    strcpy(bad.failure.message, "boom");
    orc_reqlog_rec_job(&rec, &FULL, NULL, &ok);
    orc_reqlog_rec_job(&rec, &FULL, NULL, &bad);
    json_object *o = record(&rec, &FULL, 200);
    cr_assert_str_eq(test_at_str(o, "status"), "completed", "one provider answered");
    cr_assert_str_eq(test_at_str(o, "session_id"), "s1");
    cr_assert_str_eq(test_at_str(o, "prompt"), "q");
    cr_assert_str_eq(test_plain(test_at(o, "providers")), "[\"a\",\"b\"]");
    cr_assert_eq(test_at_int(o, "attempts.2.attempt"), 3);
    cr_assert_str_eq(test_at_str(o, "errors.0.error"), "boom");
    cr_assert_str_eq(test_at_str(o, "errors.0.error_class"), "server");
    json_object_put(o);
    orc_reqlog_rec_clear(&rec);
}

Test(reqlog, refused_request_is_failed_with_the_reply_detail)
{
    orc_reqlog_rec_t rec;
    orc_reqlog_rec_init(&rec, "rid-3", "/v1/chat/completions", 0, 0);
    const char *reply = "{\"error\":{\"message\":\"messages must be a non-empty array\",\"type\":\"x\"}}";
    orc_reqlog_rec_reply_error(&rec, 400, reply, strlen(reply));
    json_object *o = record(&rec, &FULL, 400);
    cr_assert_str_eq(test_at_str(o, "status"), "failed");
    cr_assert_eq(test_at_int(o, "http_status"), 400);
    cr_assert_str_eq(test_at_str(o, "errors.0.error"), "messages must be a non-empty array");
    cr_assert_null(test_at(o, "prompt"));
    cr_assert_eq(json_object_array_length(test_at(o, "attempts")), 0);
    json_object_put(o);
    orc_reqlog_rec_clear(&rec);
}

Test(reqlog, prompt_and_answer_settings)
{
    orc_reqlog_settings_t cut = {ORC_REQLOG_TRUNCATED, ORC_REQLOG_OFF, 4};
    orc_reqlog_rec_t rec;
    orc_reqlog_rec_init(&rec, "rid-4", "/api/llm/orchestrate", 0, 0);
    rec.body = json_tokener_parse("{\"prompt\":\"abcdefgh\"}");
    orc_job_result_t r = retried_result();
    orc_reqlog_rec_job(&rec, &cut, NULL, &r);
    json_object *o = record(&rec, &cut, 200);
    cr_assert_str_eq(test_at_str(o, "prompt"), "abcd");
    cr_assert_null(test_at(o, "attempts.1.response"));
    json_object_put(o);
    orc_reqlog_settings_t off = {ORC_REQLOG_OFF, ORC_REQLOG_TRUNCATED, 3};
    orc_reqlog_rec_t rec2;
    orc_reqlog_rec_init(&rec2, "rid-5", "/api/llm/orchestrate", 0, 0);
    rec2.body = json_tokener_parse("{\"prompt\":\"abcdefgh\"}");
    orc_reqlog_rec_job(&rec2, &off, NULL, &r);
    o = record(&rec2, &off, 200);
    cr_assert_null(test_at(o, "prompt"));
    cr_assert_str_eq(test_at_str(o, "attempts.1.response"), "the");
    json_object_put(o);
    orc_reqlog_rec_clear(&rec);
    orc_reqlog_rec_clear(&rec2);
}

Test(reqlog, nul_bytes_and_bad_utf8_from_the_client_are_cleaned)
{
    orc_reqlog_rec_t rec;
    orc_reqlog_rec_init(&rec, "rid-6", "/v1/\xff", 0, 0);
    rec.body = json_object_new_object();
    json_object_object_add(rec.body, "prompt", json_object_new_string_len("a\0b\xfe", 4));
    json_object_object_add(rec.body, "model", json_object_new_string_len("m\0", 2));
    json_object *o = record(&rec, &FULL, 200);
    const char *text = json_object_to_json_string(o);
    cr_assert_null(strstr(text, "\\u0000"), "PostgreSQL's jsonb refuses \\u0000: %s", text);
    cr_assert_str_eq(test_at_str(o, "prompt"), "a\xef\xbf\xbd"
                                               "b\xef\xbf\xbd");
    cr_assert_str_eq(test_at_str(o, "endpoint"), "/v1/\xef\xbf\xbd");
    json_object_put(o);
    orc_reqlog_rec_clear(&rec);
}

Test(reqlog, text_settings_parse)
{
    orc_reqlog_text_t t;
    cr_assert_eq(orc_reqlog_text_parse("truncated", &t), ORC_OK);
    cr_assert_eq(t, ORC_REQLOG_TRUNCATED);
    cr_assert_eq(orc_reqlog_text_parse("some", &t), ORC_ERR);
}
