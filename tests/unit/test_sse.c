/*
 * test_sse.c - the incremental event-stream parser: field rules, the three
 * line ends (and \r\n cut between two feeds), comments, events without
 * data, the size limit, and the recorded provider streams of
 * tests/unit/data/providers/ fed whole, cut at every byte boundary, one
 * byte at a time and with every line end style, always with identical
 * events.
 */
#include <criterion/criterion.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "worker/llm/providers/sse.h"
#include "tests/unit/helpers.h"

#define FIXTURE(name) ORC_TEST_DATA "/providers/" name

TestSuite(sse, .timeout = 10);

static const char *const fixtures[] = {
    "openai_stream.txt",    "openai_tools_stream.txt",    "grok_stream.txt",   "grok_tools_stream.txt",
    "anthropic_stream.txt", "anthropic_tools_stream.txt", "gemini_stream.txt", "gemini_tools_stream.txt",
};

/* Every event as [event-or-null, data]. */
static void on_event(void *arg, const char *event, const char *data, size_t len)
{
    json_object *pair = json_object_new_array();
    cr_assert_eq(data[len], '\0', "data must be NUL-terminated");
    json_object_array_add(pair, event ? json_object_new_string(event) : NULL);
    json_object_array_add(pair, json_object_new_string_len(data, (int)len));
    json_object_array_add((json_object *)arg, pair);
}

/* Feeds TEXT in pieces that end at CUTS (ascending), then the rest; returns
 * the events as JSON text (malloc'd) and the last feed's result in RC. */
static char *feed_cuts(const char *text, size_t len, const size_t *cuts, size_t ncuts, size_t max, int *rc)
{
    orc_sse_t p;
    json_object *log = json_object_new_array();
    size_t at = 0;
    orc_sse_init(&p, max);
    *rc = ORC_OK;
    for (size_t i = 0; i <= ncuts && *rc == ORC_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        *rc = orc_sse_feed(&p, text + at, end - at, on_event, log);
        at = end;
    }
    char *out = strdup(json_object_to_json_string_ext(log, JSON_C_TO_STRING_PLAIN));
    json_object_put(log);
    orc_sse_free(&p);
    return out;
}

static char *feed_all(const char *text, size_t max, int *rc)
{
    return feed_cuts(text, strlen(text), NULL, 0, max, rc);
}

static void expect_events(const char *text, const char *want)
{
    int rc;
    char *got = feed_all(text, 0, &rc);
    cr_assert_eq(rc, ORC_OK);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(sse, one_event)
{
    expect_events("data: {\"a\":1}\n\n", "[[null,\"{\\\"a\\\":1}\"]]");
}

Test(sse, data_without_space_and_with_two_spaces)
{
    expect_events("data:x\n\ndata:  y\n\n", "[[null,\"x\"],[null,\" y\"]]");
}

Test(sse, data_lines_joined_with_newline)
{
    expect_events("data: a\ndata: b\ndata:\ndata: c\n\n", "[[null,\"a\\nb\\n\\nc\"]]");
}

Test(sse, empty_data_line_is_dispatched_empty)
{
    expect_events("data:\n\ndata\n\n", "[[null,\"\"],[null,\"\"]]");
}

Test(sse, event_name_and_reset_after_dispatch)
{
    expect_events("event: message_start\ndata: 1\n\ndata: 2\n\nevent:x\nevent: y\ndata: 3\n\n",
                  "[[\"message_start\",\"1\"],[null,\"2\"],[\"y\",\"3\"]]");
}

Test(sse, empty_event_name_is_null)
{
    expect_events("event:\ndata: 1\n\n", "[[null,\"1\"]]");
}

Test(sse, comments_ignored)
{
    expect_events(": keep-alive\n\n:\ndata: 1\n: inside\n\n", "[[null,\"1\"]]");
}

Test(sse, unknown_fields_id_retry_ignored)
{
    expect_events("id: 7\nretry: 100\nfoo: bar\ndata : no\ndata: yes\nDATA: no\n\n", "[[null,\"yes\"]]");
}

Test(sse, event_without_data_not_dispatched_and_name_reset)
{
    expect_events("event: ping\n\ndata: 1\n\n", "[[null,\"1\"]]");
}

Test(sse, colon_in_value_kept)
{
    expect_events("data: a: b:c\n\n", "[[null,\"a: b:c\"]]");
}

Test(sse, crlf_and_cr_line_ends)
{
    expect_events("event: e\r\ndata: 1\r\n\r\ndata: 2\r\rdata: 3\n\rdata: 4\r\n\n",
                  "[[\"e\",\"1\"],[null,\"2\"],[null,\"3\"],[null,\"4\"]]");
}

Test(sse, cr_then_lf_in_next_feed_is_one_line_end)
{
    static const char text[] = "data: 1\r\n\r\ndata: 2\r\n\r\n";
    size_t cuts[] = {8, 9, 10}; /* "data: 1\r" | "\n" | "\r" | "\ndata: 2..." */
    int rc;
    char *got = feed_cuts(text, strlen(text), cuts, ORC_ARRAY_LEN(cuts), 0, &rc);
    cr_assert_eq(rc, ORC_OK);
    cr_assert_str_eq(got, "[[null,\"1\"],[null,\"2\"]]");
    free(got);
}

Test(sse, cr_at_end_then_empty_feed_then_lf)
{
    orc_sse_t p;
    json_object *log = json_object_new_array();
    orc_sse_init(&p, 0);
    cr_assert_eq(orc_sse_feed(&p, "data: 1\r", 8, on_event, log), ORC_OK);
    cr_assert_eq(orc_sse_feed(&p, "", 0, on_event, log), ORC_OK);
    cr_assert_eq(orc_sse_feed(&p, "\n", 1, on_event, log), ORC_OK); /* ends the same line */
    cr_assert_eq(json_object_array_length(log), 0);
    cr_assert_eq(orc_sse_feed(&p, "\n", 1, on_event, log), ORC_OK); /* the blank line */
    cr_assert_eq(json_object_array_length(log), 1);
    json_object_put(log);
    orc_sse_free(&p);
}

Test(sse, unterminated_event_at_end_not_dispatched)
{
    expect_events("data: 1\n\ndata: 2\n", "[[null,\"1\"]]");
}

Test(sse, bom_skipped_at_start_only)
{
    expect_events("\xEF\xBB\xBF"
                  "data: 1\n\n\xEF\xBB\xBF"
                  "data: 2\n\n",
                  "[[null,\"1\"]]");
}

/* The limit applies to each line and to the joined data of an event. */
Test(sse, limit_exact_fits)
{
    int rc;
    char *got = feed_all("data: 12345\ndata: 12345\n\n: 456789abc\n\n", 11, &rc);
    cr_assert_eq(rc, ORC_OK);
    cr_assert_str_eq(got, "[[null,\"12345\\n12345\"]]");
    free(got);
}

Test(sse, limit_exceeded_by_joined_data_is_sticky)
{
    orc_sse_t p;
    json_object *log = json_object_new_array();
    orc_sse_init(&p, 8);
    for (int i = 0; i < 3; i++) /* "12\n12\n12" = 8 */
        cr_assert_eq(orc_sse_feed(&p, "data: 12\n", 9, on_event, log), ORC_OK);
    cr_assert_eq(orc_sse_feed(&p, "data: 12\n", 9, on_event, log), ORC_ERR);
    cr_assert_eq(orc_sse_feed(&p, "\ndata: 1\n\n", 10, on_event, log), ORC_ERR);
    cr_assert_eq(json_object_array_length(log), 0);
    json_object_put(log);
    orc_sse_free(&p);
}

Test(sse, limit_exceeded_by_a_line_cut_across_feeds)
{
    orc_sse_t p;
    json_object *log = json_object_new_array();
    orc_sse_init(&p, 16);
    cr_assert_eq(orc_sse_feed(&p, ": a comment th", 14, on_event, log), ORC_OK);
    cr_assert_eq(orc_sse_feed(&p, "at never ends", 13, on_event, log), ORC_ERR);
    json_object_put(log);
    orc_sse_free(&p);
}

Test(sse, limit_exceeded_by_one_long_line)
{
    int rc;
    char *got = feed_all("data: 1\n\n: 0123456789abcdef0123\n", 16, &rc);
    cr_assert_eq(rc, ORC_ERR);
    cr_assert_str_eq(got, "[[null,\"1\"]]");
    free(got);
}

Test(sse, free_twice_and_init_again)
{
    orc_sse_t p;
    orc_sse_init(&p, 0);
    orc_sse_free(&p);
    orc_sse_free(&p);
    orc_sse_free(NULL);
}

/* --- recorded provider streams ------------------------------------------- */

static void check_fixture_splits(const char *name)
{
    char path[512];
    size_t len;
    int rc;
    snprintf(path, sizeof(path), FIXTURE("%s"), name);
    char *text = test_slurp(path, &len), *whole = feed_cuts(text, len, NULL, 0, 1 << 16, &rc);
    cr_assert_eq(rc, ORC_OK);
    size_t *cuts = malloc(len * sizeof(size_t));
    for (size_t k = 1; k < len; k++) {
        char *got = feed_cuts(text, len, &k, 1, 1 << 16, &rc);
        cr_assert_eq(rc, ORC_OK);
        cr_assert_str_eq(got, whole, "%s cut at %zu", name, k);
        free(got);
        cuts[k - 1] = k;
    }
    char *bytes = feed_cuts(text, len, cuts, len - 1, 1 << 16, &rc);
    cr_assert_eq(rc, ORC_OK);
    cr_assert_str_eq(bytes, whole, "%s fed one byte at a time", name);
    free(bytes);
    free(cuts);
    free(whole);
    free(text);
}

Test(sse, recorded_streams_cut_at_every_byte)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(fixtures); i++)
        check_fixture_splits(fixtures[i]);
}

/* TEXT with every line end (\n, \r\n or \r) replaced by EOL. */
static char *restyle(const char *text, size_t len, const char *eol)
{
    char *out = malloc(len * 2 + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r' || text[i] == '\n') {
            if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
                i++;
            o += sprintf(o, "%s", eol);
        } else {
            *o++ = text[i];
        }
    }
    *o = '\0';
    return out;
}

Test(sse, recorded_streams_every_line_end_style)
{
    static const char *const eols[] = {"\n", "\r\n", "\r"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(fixtures); i++) {
        char path[512];
        size_t len;
        int rc;
        snprintf(path, sizeof(path), FIXTURE("%s"), fixtures[i]);
        char *text = test_slurp(path, &len), *whole = feed_cuts(text, len, NULL, 0, 0, &rc);
        for (size_t e = 0; e < ORC_ARRAY_LEN(eols); e++) {
            char *styled = restyle(text, len, eols[e]), *got = feed_all(styled, 0, &rc);
            cr_assert_eq(rc, ORC_OK);
            cr_assert_str_eq(got, whole, "%s with line end %zu", fixtures[i], e);
            free(got);
            free(styled);
        }
        free(whole);
        free(text);
    }
}

static json_object *fixture_events(const char *name)
{
    char path[512];
    size_t len;
    int rc;
    snprintf(path, sizeof(path), FIXTURE("%s"), name);
    char *text = test_slurp(path, &len), *log = feed_cuts(text, len, NULL, 0, 0, &rc);
    cr_assert_eq(rc, ORC_OK);
    json_object *events = json_tokener_parse(log);
    free(log);
    free(text);
    return events;
}

static const char *event_name(json_object *events, size_t i)
{
    return json_object_get_string(json_object_array_get_idx(json_object_array_get_idx(events, i), 0));
}

static const char *event_data(json_object *events, size_t i)
{
    return json_object_get_string(json_object_array_get_idx(json_object_array_get_idx(events, i), 1));
}

Test(sse, recorded_openai_events)
{
    json_object *ev = fixture_events("openai_stream.txt");
    cr_assert_eq(json_object_array_length(ev), 6);
    cr_assert_null(event_name(ev, 0));
    cr_assert_str_eq(event_data(ev, 2),
                     "{\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":"
                     "1764100000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{"
                     "\"content\":\"lo\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":"
                     "null}");
    cr_assert_str_eq(event_data(ev, 5), "[DONE]");
    json_object_put(ev);
}

Test(sse, recorded_anthropic_events_named_like_their_type)
{
    static const char *const names[] = {"message_start",       "content_block_start", "ping",
                                        "content_block_delta", "content_block_delta", "content_block_stop",
                                        "message_delta",       "message_stop"};
    json_object *ev = fixture_events("anthropic_stream.txt");
    cr_assert_eq(json_object_array_length(ev), ORC_ARRAY_LEN(names));
    for (size_t i = 0; i < ORC_ARRAY_LEN(names); i++)
        cr_assert_str_eq(event_name(ev, i), names[i]);
    cr_assert_str_eq(event_data(ev, 2), "{\"type\": \"ping\"}");
    cr_assert_str_eq(event_data(ev, 7), "{\"type\":\"message_stop\"}");
    json_object_put(ev);
}

Test(sse, recorded_gemini_events_crlf)
{
    json_object *ev = fixture_events("gemini_stream.txt");
    cr_assert_eq(json_object_array_length(ev), 2);
    cr_assert_null(event_name(ev, 1));
    cr_assert_eq(
        strncmp(event_data(ev, 1), "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" bem?\"}]", 52),
        0);
    cr_assert_eq(strchr(event_data(ev, 1), '\r'), NULL);
    json_object_put(ev);
}
