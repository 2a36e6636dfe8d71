/*
 * test_util.c - request ids, strict number and boolean parsing, ISO
 * timestamps, clocks and JSON string escaping.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/orc.h"
#include "common/util.h"

TestSuite(util, .timeout = 10);

/* ---- request ids ------------------------------------------------------ */

Test(util, request_id_valid_examples)
{
    static const char *const ok[] = {
        "a",         "abc-123", "req_1700000000000_0123456789abcdef",
        "A.B:C-D_E", "0",       "550e8400-e29b-41d4-a716-446655440000",
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(ok); i++)
        cr_assert(orc_request_id_valid(ok[i]), "'%s' should be valid", ok[i]);
}

Test(util, request_id_invalid_examples)
{
    static const char *const bad[] = {
        "",           "with space", "quote\"d", "single'q", "new\nline", "tab\t", "caf\xc3\xa9",
        "semi;colon", "slash/",     "back\\",   "<script>", "a,b",       "%41",   "cr\r",
    };
    cr_assert_not(orc_request_id_valid(NULL));
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++)
        cr_assert_not(orc_request_id_valid(bad[i]), "bad id %zu should be rejected", i);
}

Test(util, request_id_length_limit)
{
    char id[ORC_REQUEST_ID_MAX + 2];
    memset(id, 'x', ORC_REQUEST_ID_MAX);
    id[ORC_REQUEST_ID_MAX] = '\0';
    cr_assert_eq(strlen(id), 128);
    cr_assert(orc_request_id_valid(id), "128 characters are allowed");
    id[ORC_REQUEST_ID_MAX] = 'x';
    id[ORC_REQUEST_ID_MAX + 1] = '\0';
    cr_assert_not(orc_request_id_valid(id), "129 characters are too long");
}

Test(util, request_id_new_is_valid_and_unique)
{
    char a[ORC_REQUEST_ID_SIZE], b[ORC_REQUEST_ID_SIZE];
    orc_random_seed();
    orc_request_id_new(a, sizeof(a));
    orc_request_id_new(b, sizeof(b));
    cr_assert(orc_request_id_valid(a), "'%s' is not a valid id", a);
    cr_assert(orc_request_id_valid(b), "'%s' is not a valid id", b);
    cr_assert_eq(strncmp(a, "req_", 4), 0, "'%s'", a);
    cr_assert_str_neq(a, b);
}

Test(util, request_id_new_many_distinct)
{
    enum { N = 200 };
    static char ids[N][ORC_REQUEST_ID_SIZE];
    for (int i = 0; i < N; i++) {
        orc_request_id_new(ids[i], sizeof(ids[i]));
        cr_assert(orc_request_id_valid(ids[i]));
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(ids[i], ids[j], "ids %d and %d collide", i, j);
    }
}

Test(util, request_id_new_truncates)
{
    char buf[12];
    memset(buf, 'Z', sizeof(buf));
    orc_request_id_new(buf, 8);
    cr_assert_eq(strlen(buf), 7);
    cr_assert_eq(buf[8], 'Z');
}

/* ---- orc_parse_int ---------------------------------------------------- */

Test(util, parse_int_in_range)
{
    long v = -999;
    cr_assert_eq(orc_parse_int("0", 0, 10, &v), ORC_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(orc_parse_int("10", 0, 10, &v), ORC_OK, "max is inclusive");
    cr_assert_eq(v, 10);
    cr_assert_eq(orc_parse_int("-5", -10, 10, &v), ORC_OK);
    cr_assert_eq(v, -5);
    cr_assert_eq(orc_parse_int("-10", -10, 10, &v), ORC_OK, "min is inclusive");
    cr_assert_eq(v, -10);
    cr_assert_eq(orc_parse_int("65535", 1, 65535, &v), ORC_OK);
    cr_assert_eq(v, 65535);
    cr_assert_eq(orc_parse_int("9223372036854775807", LONG_MIN, LONG_MAX, &v), ORC_OK);
    cr_assert_eq(v, LONG_MAX);
}

Test(util, parse_int_out_of_range)
{
    long v = 77;
    cr_assert_eq(orc_parse_int("11", 0, 10, &v), ORC_ERR);
    cr_assert_eq(orc_parse_int("-1", 0, 10, &v), ORC_ERR);
    cr_assert_eq(orc_parse_int("0", 1, 65535, &v), ORC_ERR);
    cr_assert_eq(orc_parse_int("65536", 1, 65535, &v), ORC_ERR);
    cr_assert_eq(orc_parse_int("99999999999999999999", LONG_MIN, LONG_MAX, &v), ORC_ERR, "overflow");
    cr_assert_eq(orc_parse_int("-99999999999999999999", LONG_MIN, LONG_MAX, &v), ORC_ERR, "underflow");
    cr_assert_eq(v, 77, "the output is untouched on error");
}

Test(util, parse_int_junk)
{
    static const char *const junk[] = {"",    "abc", "12abc", "1.5", "0x10", "12 ",
                                       "1e3", "--1", "+",     "-",   "1 2"};
    long v = 77;
    cr_assert_eq(orc_parse_int(NULL, 0, 100, &v), ORC_ERR);
    for (size_t i = 0; i < ORC_ARRAY_LEN(junk); i++)
        cr_assert_eq(orc_parse_int(junk[i], LONG_MIN, LONG_MAX, &v), ORC_ERR, "'%s' should be rejected",
                     junk[i]);
    cr_assert_eq(v, 77, "the output is untouched on error");
}

/* ---- orc_parse_bool --------------------------------------------------- */

Test(util, parse_bool_true)
{
    static const char *const yes[] = {"1", "true", "yes", "on", "TRUE", "Yes", "oN"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(yes); i++) {
        bool b = false;
        cr_assert_eq(orc_parse_bool(yes[i], &b), ORC_OK, "'%s'", yes[i]);
        cr_assert(b, "'%s' should be true", yes[i]);
    }
}

Test(util, parse_bool_false)
{
    static const char *const no[] = {"0", "false", "no", "off", "FALSE", "No", "OFF"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(no); i++) {
        bool b = true;
        cr_assert_eq(orc_parse_bool(no[i], &b), ORC_OK, "'%s'", no[i]);
        cr_assert_not(b, "'%s' should be false", no[i]);
    }
}

Test(util, parse_bool_junk)
{
    static const char *const junk[] = {"", "2", "y", "n", "truee", "yes ", " no", "enabled", "-1"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(junk); i++) {
        bool b = true;
        cr_assert_eq(orc_parse_bool(junk[i], &b), ORC_ERR, "'%s' should be rejected", junk[i]);
        cr_assert(b, "'%s': the output is untouched on error", junk[i]);
    }
}

/* ---- clocks and timestamps -------------------------------------------- */

Test(util, iso8601_known_instants)
{
    char buf[32];
    orc_iso8601(buf, sizeof(buf), 0);
    cr_assert_str_eq(buf, "1970-01-01T00:00:00Z");
    orc_iso8601(buf, sizeof(buf), 1700000000123ULL);
    cr_assert_str_eq(buf, "2023-11-14T22:13:20Z", "milliseconds are dropped, not rounded");
    orc_iso8601(buf, sizeof(buf), 951782400999ULL);
    cr_assert_str_eq(buf, "2000-02-29T00:00:00Z");
    orc_iso8601(buf, sizeof(buf), 1798761599000ULL);
    cr_assert_str_eq(buf, "2026-12-31T23:59:59Z");
}

Test(util, iso8601_exact_buffer)
{
    char buf[21];
    orc_iso8601(buf, sizeof(buf), 1700000000000ULL);
    cr_assert_str_eq(buf, "2023-11-14T22:13:20Z");
}

Test(util, clocks)
{
    uint64_t a = orc_now_ms();
    uint64_t us = orc_now_us();
    uint64_t b = orc_now_ms();
    cr_assert_geq(b, a, "the monotonic clock went backwards");
    cr_assert_geq(us / 1000, a);
    cr_assert_leq(us / 1000, b);
    cr_assert_gt(orc_wall_ms(), 1700000000000ULL, "the wall clock is in milliseconds since 1970");
}

/* ---- orc_json_escape -------------------------------------------------- */

static size_t esc(char *buf, size_t size, const char *s)
{
    return orc_json_escape(buf, size, s);
}

Test(util, json_escape_plain)
{
    char buf[64];
    cr_assert_eq(esc(buf, sizeof(buf), "abc"), 5);
    cr_assert_str_eq(buf, "\"abc\"");
    cr_assert_eq(esc(buf, sizeof(buf), ""), 2);
    cr_assert_str_eq(buf, "\"\"");
}

Test(util, json_escape_quotes_and_backslashes)
{
    char buf[64];
    size_t n = esc(buf, sizeof(buf), "a\"b\\c");
    cr_assert_str_eq(buf, "\"a\\\"b\\\\c\"");
    cr_assert_eq(n, strlen(buf));
}

Test(util, json_escape_control_characters)
{
    char buf[128];
    size_t n = esc(buf, sizeof(buf), "\n\t\x01\x1f\x7f\r");
    cr_assert_str_eq(buf, "\"\\u000a\\u0009\\u0001\\u001f\\u007f\\u000d\"");
    cr_assert_eq(n, strlen(buf));
}

Test(util, json_escape_keeps_utf8)
{
    char buf[64];
    esc(buf, sizeof(buf), "caf\xc3\xa9 \xe2\x82\xac");
    cr_assert_str_eq(buf, "\"caf\xc3\xa9 \xe2\x82\xac\"");
}

/* For every buffer size: no byte written past SIZE, NUL-terminated,
 * quoted, and a valid JSON string whose value is a prefix of the input. */
Test(util, json_escape_truncation_is_safe)
{
    const char *input = "say \"hi\"\\\n\x01 then \x7f end \"\"\"\\\\ \t tail text that is long enough";
    char buf[256];
    for (size_t size = 3; size < sizeof(buf) - 8; size++) {
        memset(buf, 0x7E, sizeof(buf));
        size_t n = esc(buf, size, input);
        cr_assert_lt(n, size, "size %zu: returned %zu", size, n);
        cr_assert_eq(buf[n], '\0', "size %zu: not NUL-terminated at %zu", size, n);
        cr_assert_eq(strlen(buf), n, "size %zu", size);
        for (size_t i = size; i < sizeof(buf); i++)
            cr_assert_eq(buf[i], 0x7E, "size %zu: wrote byte %zu", size, i);
        cr_assert_geq(n, 2, "size %zu", size);
        cr_assert_eq(buf[0], '"', "size %zu: no opening quote", size);
        cr_assert_eq(buf[n - 1], '"', "size %zu: no closing quote", size);

        json_object *o = json_tokener_parse(buf);
        cr_assert_not_null(o, "size %zu: not valid JSON: %s", size, buf);
        cr_assert(json_object_is_type(o, json_type_string), "size %zu", size);
        const char *value = json_object_get_string(o);
        cr_assert_eq(strncmp(value, input, strlen(value)), 0, "size %zu: '%s' is not a prefix of the input",
                     size, value);
        json_object_put(o);
    }
    /* and with room to spare the whole input comes back */
    memset(buf, 0, sizeof(buf));
    esc(buf, sizeof(buf), input);
    json_object *o = json_tokener_parse(buf);
    cr_assert_not_null(o);
    cr_assert_str_eq(json_object_get_string(o), input);
    json_object_put(o);
}

Test(util, json_escape_small_buffer_writes_nothing_past_it)
{
    char buf[8];
    for (size_t size = 0; size < 3; size++) {
        memset(buf, 0x7E, sizeof(buf));
        cr_assert_eq(esc(buf, size, "abc"), 0, "size %zu", size);
        for (size_t i = size; i < sizeof(buf); i++)
            cr_assert_eq(buf[i], 0x7E, "size %zu: wrote byte %zu", size, i);
    }
    memset(buf, 0x7E, sizeof(buf));
    cr_assert_eq(esc(buf, 3, "abc"), 2);
    cr_assert_str_eq(buf, "\"\"");
}
