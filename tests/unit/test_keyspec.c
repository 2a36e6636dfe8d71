/*
 * test_keyspec.c - a client key's settings (common/keyspec.h): every rule
 * and limit at and past its edge, the statement parameters each use gets,
 * the JSON form of the admin API, and the time forms.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "common/keyspec.h"
#include "common/orc.h"

#define NOW ((time_t)1780272000) /* 2026-06-01T00:00:00Z */

static orc_keyspec_t spec;
static char err[ORC_KEYSPEC_ERR_SIZE];

static void reset(void)
{
    memset(&spec, 0, sizeof(spec));
    err[0] = '\0';
}

/* A key named "k" with FIELD set to TEXT. */
static int create_with(orc_ks_field_t field, const char *text)
{
    reset();
    spec.text[ORC_KS_NAME] = "k";
    spec.text[field] = text;
    return orc_keyspec_validate(&spec, ORC_KEYSPEC_CREATE, NOW, err, sizeof(err));
}

static void refused(orc_ks_field_t field, const char *text, const char *says)
{
    cr_assert_eq(create_with(field, text), ORC_ERR, "%s accepted: \"%.80s\"",
                 orc_keyspec_field_name(field, false), text);
    cr_assert(strstr(err, says) != NULL, "error \"%s\" lacks \"%s\"", err, says);
    cr_assert(strstr(err, orc_keyspec_field_name(field, false)) != NULL, "error \"%s\" names no field", err);
}

static void accepted(orc_ks_field_t field, const char *text)
{
    cr_assert_eq(create_with(field, text), ORC_OK, "%s refused \"%.80s\": %s",
                 orc_keyspec_field_name(field, false), text, err);
}

/* The parameter of FIELD when a key is created with it set to TEXT. */
static const char *created_param(orc_ks_field_t field, const char *text, orc_keyspec_params_t *p)
{
    reset();
    spec.text[ORC_KS_NAME] = "k";
    if (field != ORC_KS_NAME)
        spec.text[field] = text;
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_CREATE, NOW, p, err, sizeof(err)), ORC_OK, "%s", err);
    return p->values[3 + field];
}

static char *repeat(char *buf, size_t n, const char *unit, const char *sep)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(buf, sep);
        strcat(buf, unit);
    }
    return buf;
}

Test(keyspec, a_name_alone_takes_every_default)
{
    orc_keyspec_params_t p;
    created_param(ORC_KS_NAME, NULL, &p);
    cr_assert_eq(p.n, 15);
    cr_assert_null(p.values[0]); /* id, hash and prefix are the caller's */
    cr_assert_str_eq(p.values[3], "k");
    cr_assert_null(p.values[4]);
    cr_assert_str_eq(p.values[5], "");
    cr_assert_str_eq(p.values[6], "");
    cr_assert_str_eq(p.values[7], "llm");
    for (int i = 8; i <= 11; i++)
        cr_assert_null(p.values[i]);
    cr_assert_str_eq(p.values[12], "month");
    cr_assert_null(p.values[13]);
    cr_assert_str_eq(p.values[14], "{}");
}

Test(keyspec, name_is_required_and_bounded)
{
    char name[ORC_APIKEY_NAME_MAX + 2];
    reset();
    cr_assert_eq(orc_keyspec_validate(&spec, ORC_KEYSPEC_CREATE, NOW, err, sizeof(err)), ORC_ERR);
    cr_assert_str_eq(err, "name is required");
    memset(name, 'n', ORC_APIKEY_NAME_MAX);
    name[ORC_APIKEY_NAME_MAX] = '\0';
    accepted(ORC_KS_NAME, name);
    accepted(ORC_KS_NAME, "ci pipeline (staging) #2");
    strcat(name, "n");
    refused(ORC_KS_NAME, name, "1 to 128 printable ASCII characters");
    refused(ORC_KS_NAME, "", "1 to 128");
    refused(ORC_KS_NAME, "a\"b", "without quotes");
    refused(ORC_KS_NAME, "a\\b", "backslashes");
    refused(ORC_KS_NAME, "a\tb", "printable");
    refused(ORC_KS_NAME, "caf\xc3\xa9", "ASCII");
}

Test(keyspec, team_follows_the_name_rules_and_none_clears_it)
{
    orc_keyspec_params_t p;
    accepted(ORC_KS_TEAM, "platform");
    refused(ORC_KS_TEAM, "a\nb", "1 to 128 printable");
    cr_assert_null(created_param(ORC_KS_TEAM, "", &p));
    cr_assert_str_eq(created_param(ORC_KS_TEAM, "platform", &p), "platform");
}

Test(keyspec, pattern_lists_at_their_limits)
{
    static char list[ORC_APIKEY_PATTERNS_MAX * 200];
    char pattern[ORC_APIKEY_PATTERN_MAX + 2];
    orc_keyspec_params_t p;
    accepted(ORC_KS_MODELS, "gpt-4o*,claude-*-haiku*,openai/gpt-4o,gemini-?.5-flash");
    accepted(ORC_KS_PROVIDERS, repeat(list, ORC_APIKEY_PATTERNS_MAX, "openai", ","));
    refused(ORC_KS_PROVIDERS, repeat(list, ORC_APIKEY_PATTERNS_MAX + 1, "openai", ","),
            "at most 64 patterns");
    memset(pattern, 'm', ORC_APIKEY_PATTERN_MAX);
    pattern[ORC_APIKEY_PATTERN_MAX] = '\0';
    accepted(ORC_KS_MODELS, pattern);
    strcat(pattern, "m");
    refused(ORC_KS_MODELS, pattern, "pattern 1 is not valid");
    refused(ORC_KS_MODELS, "gpt-4o,gpt 4o", "pattern 2 is not valid");
    refused(ORC_KS_MODELS, "a,,b", "pattern 2");
    refused(ORC_KS_MODELS, "a,", "pattern 2");
    refused(ORC_KS_MODELS, "x'); DROP TABLE api_keys; --", "pattern 1");
    cr_assert_str_eq(created_param(ORC_KS_MODELS, "", &p), "", "none: every model");
    cr_assert_str_eq(created_param(ORC_KS_PROVIDERS, "openai,anthropic", &p), "openai,anthropic");
}

Test(keyspec, scopes_are_known_names_in_one_order)
{
    orc_keyspec_params_t p;
    refused(ORC_KS_SCOPES, "", "at least one of llm, history, metrics, admin");
    refused(ORC_KS_SCOPES, "llm,root", "item 2 is not one of");
    refused(ORC_KS_SCOPES, "LLM", "item 1");
    cr_assert_str_eq(created_param(ORC_KS_SCOPES, "admin,llm,llm,metrics", &p), "llm,metrics,admin");
    cr_assert_str_eq(created_param(ORC_KS_SCOPES, "history", &p), "history");
}

Test(keyspec, limits_are_integers_from_1_to_2_31_minus_1)
{
    static const orc_ks_field_t limits[] = {ORC_KS_RPM, ORC_KS_TPM, ORC_KS_MAX_PARALLEL};
    static const char *bad[] = {
        "0", "-1", "2147483648", "+1", " 1", "1 ", "1.0", "1e3", "abc", "0x10", "99999999999999999999999"};
    orc_keyspec_params_t p;
    for (size_t i = 0; i < ORC_ARRAY_LEN(limits); i++) {
        accepted(limits[i], "1");
        accepted(limits[i], "2147483647");
        for (size_t j = 0; j < ORC_ARRAY_LEN(bad); j++)
            refused(limits[i], bad[j], "an integer from 1 to 2147483647");
        cr_assert_null(created_param(limits[i], "", &p), "none: unlimited");
        cr_assert_str_eq(created_param(limits[i], "60", &p), "60");
    }
}

Test(keyspec, budget_is_0_to_a_billion_dollars)
{
    static const char *bad[] = {"-1",    "-0", "1000000000.01", "1e10", "nan", "inf", "0x10",
                                "1e400", " 1", "1,5",           ".5",   "",    "1e",  "12abc"};
    orc_keyspec_params_t p;
    accepted(ORC_KS_BUDGET, "0");
    accepted(ORC_KS_BUDGET, "1000000000");
    accepted(ORC_KS_BUDGET, "1e9");
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++)
        if (bad[i][0] != '\0')
            refused(ORC_KS_BUDGET, bad[i], "a number of US dollars from 0 to 1000000000");
    cr_assert_str_eq(created_param(ORC_KS_BUDGET, "12.5", &p), "12.5");
    cr_assert_str_eq(created_param(ORC_KS_BUDGET, "0.1", &p), "0.1");
    cr_assert_str_eq(created_param(ORC_KS_BUDGET, "2.50", &p), "2.5");
    cr_assert_null(created_param(ORC_KS_BUDGET, "", &p), "none: no budget");
}

Test(keyspec, budget_period_is_day_month_or_total)
{
    accepted(ORC_KS_BUDGET_PERIOD, "day");
    accepted(ORC_KS_BUDGET_PERIOD, "month");
    accepted(ORC_KS_BUDGET_PERIOD, "total");
    refused(ORC_KS_BUDGET_PERIOD, "week", "day, month or total");
    refused(ORC_KS_BUDGET_PERIOD, "Month", "day, month or total");
    refused(ORC_KS_BUDGET_PERIOD, "", "day, month or total");
}

Test(keyspec, expiry_as_a_time_or_a_duration)
{
    orc_keyspec_params_t p;
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "30d", &p), "2026-07-01T00:00:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "12h", &p), "2026-06-01T12:00:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2w", &p), "2026-06-15T00:00:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2026-12-31", &p), "2026-12-31T00:00:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2026-12-31T23:59:59Z", &p), "2026-12-31T23:59:59Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2026-12-31 23:59", &p), "2026-12-31T23:59:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2027-01-01T01:30:00.250+02:00", &p),
                     "2026-12-31T23:30:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2026-12-31T20:00:00-05:30", &p), "2027-01-01T01:30:00Z");
    cr_assert_str_eq(created_param(ORC_KS_EXPIRES, "2028-02-29", &p), "2028-02-29T00:00:00Z");
    cr_assert_null(created_param(ORC_KS_EXPIRES, "", &p), "none: never");
    accepted(ORC_KS_EXPIRES, "36500d");
    refused(ORC_KS_EXPIRES, "36501d", "at most 36500 days ahead");
    refused(ORC_KS_EXPIRES, "9999-12-31", "at most 36500 days ahead");
    refused(ORC_KS_EXPIRES, "2026-05-31T23:59:59Z", "in the future");
    refused(ORC_KS_EXPIRES, "2026-06-01T00:00:00Z", "in the future");
    static const char *bad[] = {"0d",
                                "30",
                                "30m",
                                "30D",
                                "d",
                                "-1d",
                                "99999999d",
                                "2027-02-29",
                                "2026-13-01",
                                "2026-00-10",
                                "2026-12-32",
                                "2026-12-31T24:00",
                                "2026-12-31T23:60",
                                "2026-12-31T23:59:60Z",
                                "2026-12-31T23:59:59+15:00",
                                "2026-12-31T23:59:59z",
                                "2026-12-31T23:59:59Zx",
                                "2026-12-31T23:59:59.",
                                "2026-12-31T23:59:59.1234567890",
                                "26-12-31",
                                "2026/12/31",
                                "tomorrow",
                                "2026-12-31T",
                                "2026-12-31Tx"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++)
        refused(ORC_KS_EXPIRES, bad[i], "must be a time");
}

Test(keyspec, time_forms)
{
    time_t a, b;
    cr_assert_eq(orc_keyspec_time("2026-01-02T03:04:05+01:00", NOW, false, &a), ORC_OK);
    cr_assert_eq(orc_keyspec_time("2026-01-02T02:04:05Z", NOW, false, &b), ORC_OK);
    cr_assert_eq(a, b);
    cr_assert_eq(orc_keyspec_time("30d", NOW, false, &a), ORC_ERR, "durations only when asked for");
    cr_assert_eq(orc_keyspec_time("1970-01-01", NOW, false, &a), ORC_OK);
    cr_assert_eq(a, 0);
    char buf[ORC_KEYSPEC_TIME_SIZE];
    orc_keyspec_time_format(NOW, buf);
    cr_assert_str_eq(buf, "2026-06-01T00:00:00Z");
}

Test(keyspec, metadata_is_a_bounded_json_object)
{
    static char big[ORC_KEYSPEC_METADATA_MAX + 2];
    char deep[200] = "";
    orc_keyspec_params_t p;
    accepted(ORC_KS_METADATA, "{\"owner\": \"ci\", \"tags\": [1, 2, {\"x\": null}]}");
    accepted(ORC_KS_METADATA,
             "{\"it's\": \"a \\\"quoted\\\" 'word'\", \"caf\xc3\xa9\": \"\\u00e9\\\\u0000\"}");
    /* exactly the limit: {"a":"aaa...a"} */
    memset(big, 'a', ORC_KEYSPEC_METADATA_MAX);
    memcpy(big, "{\"a\":\"", 6);
    memcpy(big + ORC_KEYSPEC_METADATA_MAX - 2, "\"}", 3);
    accepted(ORC_KS_METADATA, big);
    memcpy(big + ORC_KEYSPEC_METADATA_MAX - 2, "a\"}", 4);
    refused(ORC_KS_METADATA, big, "a JSON object of at most 16384 bytes");
    strcat(deep, "{\"a\":"); /* the object and 32 arrays: 33 deep */
    for (int i = 0; i < ORC_KEYSPEC_METADATA_DEPTH; i++)
        strcat(deep, "[");
    for (int i = 0; i < ORC_KEYSPEC_METADATA_DEPTH; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    refused(ORC_KS_METADATA, deep, "nested at most 32 deep");
    static const char *bad[] = {"[]",
                                "1",
                                "\"x\"",
                                "null",
                                "{",
                                "{'a': 1}",
                                "{\"a\": NaN}",
                                "{} {}",
                                "{}x",
                                "{\"a\": 01}",
                                "{\"a\": \"\\u0000\"}",
                                "{\"a\": \"\xff\"}",
                                "{\"a\": 1, 'b': 2}",
                                "{\"a\": Infinity}",
                                "{\"a\": -Infinity}",
                                "{\"a\": 1.}",
                                "{\"a\": \"\t\"}"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++)
        refused(ORC_KS_METADATA, bad[i], "a JSON object");
    cr_assert_str_eq(created_param(ORC_KS_METADATA, "", &p), "{}");
}

Test(keyspec, an_update_takes_the_given_fields_and_their_mask)
{
    orc_keyspec_params_t p;
    reset();
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_UPDATE, NOW, &p, err, sizeof(err)), ORC_ERR);
    cr_assert_str_eq(err, "nothing to change: give at least one setting");
    spec.text[ORC_KS_RPM] = "";
    spec.text[ORC_KS_TEAM] = "ops";
    spec.text[ORC_KS_METADATA] = "";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_UPDATE, NOW, &p, err, sizeof(err)), ORC_OK, "%s", err);
    cr_assert_eq(p.n, 14);
    cr_assert_null(p.values[0]); /* the id is the caller's */
    cr_assert_null(p.values[1], "an absent name stays as it is");
    cr_assert_str_eq(p.values[2], "ops");
    cr_assert_null(p.values[1 + ORC_KS_RPM], "none: unlimited");
    cr_assert_str_eq(p.values[1 + ORC_KS_METADATA], "{}");
    cr_assert_str_eq(p.values[13], "2082"); /* team 2 + rpm 32 + metadata 2048 */
    spec.text[ORC_KS_NAME] = "";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_UPDATE, NOW, &p, err, sizeof(err)), ORC_ERR,
                 "a name cannot be removed");
}

Test(keyspec, a_team_budget_takes_team_budget_and_period_only)
{
    orc_keyspec_params_t p;
    reset();
    spec.text[ORC_KS_BUDGET] = "100";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_TEAM_BUDGET, NOW, &p, err, sizeof(err)), ORC_ERR);
    cr_assert_str_eq(err, "team is required");
    spec.text[ORC_KS_TEAM] = "platform";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_TEAM_BUDGET, NOW, &p, err, sizeof(err)), ORC_OK, "%s",
                 err);
    cr_assert_eq(p.n, 3);
    cr_assert_str_eq(p.values[0], "platform");
    cr_assert_str_eq(p.values[1], "100");
    cr_assert_str_eq(p.values[2], "month");
    spec.text[ORC_KS_BUDGET] = "";
    spec.text[ORC_KS_BUDGET_PERIOD] = "day";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_TEAM_BUDGET, NOW, &p, err, sizeof(err)), ORC_OK, "%s",
                 err);
    cr_assert_null(p.values[1], "none: no budget");
    cr_assert_str_eq(p.values[2], "day");
    spec.text[ORC_KS_RPM] = "5";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_TEAM_BUDGET, NOW, &p, err, sizeof(err)), ORC_ERR);
    cr_assert(strstr(err, "rpm cannot be set") != NULL, "%s", err);
    spec.text[ORC_KS_RPM] = NULL;
    spec.text[ORC_KS_TEAM] = "";
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_TEAM_BUDGET, NOW, &p, err, sizeof(err)), ORC_ERR,
                 "a team budget needs a team");
    spec.text[ORC_KS_TEAM] = "platform";
    spec.text[ORC_KS_BUDGET] = NULL;
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_TEAM_BUDGET, NOW, &p, err, sizeof(err)), ORC_ERR);
    cr_assert(strstr(err, "budget_usd is required") != NULL, "%s", err);
}

Test(keyspec, errors_name_command_line_options_for_the_cli)
{
    reset();
    spec.cli = true;
    spec.text[ORC_KS_NAME] = "k";
    spec.text[ORC_KS_BUDGET] = "lots";
    cr_assert_eq(orc_keyspec_validate(&spec, ORC_KEYSPEC_CREATE, NOW, err, sizeof(err)), ORC_ERR);
    cr_assert_str_eq(err, "--budget must be a number of US dollars from 0 to 1000000000");
    spec.text[ORC_KS_BUDGET] = NULL;
    spec.text[ORC_KS_MAX_PARALLEL] = "0";
    orc_keyspec_validate(&spec, ORC_KEYSPEC_CREATE, NOW, err, sizeof(err));
    cr_assert(strncmp(err, "--max-parallel ", 15) == 0, "%s", err);
    cr_assert_eq(orc_keyspec_field_of("--max-parallel", true), ORC_KS_MAX_PARALLEL);
    cr_assert_eq(orc_keyspec_field_of("max_parallel", false), ORC_KS_MAX_PARALLEL);
    cr_assert_eq(orc_keyspec_field_of("key_hash", false), -1);
}

static int from_json(const char *text, orc_ks_use_t use)
{
    json_object *o = json_tokener_parse(text);
    cr_assert_not_null(o, "test JSON: %s", text);
    reset();
    int rc = orc_keyspec_from_json(&spec, o, use, err, sizeof(err));
    if (rc == ORC_OK)
        rc = orc_keyspec_validate(&spec, use, NOW, err, sizeof(err));
    json_object_put(o);
    return rc;
}

static void json_refused(const char *text, orc_ks_use_t use, const char *says)
{
    cr_assert_eq(from_json(text, use), ORC_ERR, "accepted: %s", text);
    cr_assert(strstr(err, says) != NULL, "%s: error \"%s\" lacks \"%s\"", text, err, says);
}

Test(keyspec, json_fields_and_types)
{
    orc_keyspec_params_t p;
    json_object *o =
        json_tokener_parse("{\"name\": \"ci\", \"team\": null, \"models\": [\"gpt-4o*\", \"claude-*\"],"
                           " \"scopes\": [\"llm\", \"history\"], \"rpm\": 60, \"tpm\": null,"
                           " \"budget_usd\": 12.5, \"budget_period\": \"day\", \"expires_at\": \"30d\","
                           " \"metadata\": {\"owner\": \"ci/cd\"}}");
    reset();
    cr_assert_eq(orc_keyspec_from_json(&spec, o, ORC_KEYSPEC_CREATE, err, sizeof(err)), ORC_OK, "%s", err);
    cr_assert_eq(orc_keyspec_params(&spec, ORC_KEYSPEC_CREATE, NOW, &p, err, sizeof(err)), ORC_OK, "%s", err);
    cr_assert_str_eq(p.values[3], "ci");
    cr_assert_null(p.values[4]);
    cr_assert_str_eq(p.values[5], "gpt-4o*,claude-*");
    cr_assert_str_eq(p.values[6], "");
    cr_assert_str_eq(p.values[7], "llm,history");
    cr_assert_str_eq(p.values[8], "60");
    cr_assert_null(p.values[9]);
    cr_assert_str_eq(p.values[11], "12.5");
    cr_assert_str_eq(p.values[12], "day");
    cr_assert_str_eq(p.values[13], "2026-07-01T00:00:00Z");
    cr_assert_str_eq(p.values[14], "{\"owner\":\"ci/cd\"}");
    json_object_put(o);
    cr_assert_eq(from_json("{\"name\": \"x\", \"budget_usd\": 7, \"models\": []}", ORC_KEYSPEC_CREATE),
                 ORC_OK, "%s", err);
}

Test(keyspec, json_refusals_name_the_field)
{
    static char big[ORC_APIKEY_PATTERNS_MAX * 12 + 64];
    json_refused("[]", ORC_KEYSPEC_CREATE, "the body must be a JSON object");
    json_refused("{\"name\": \"x\", \"budget\": 5}", ORC_KEYSPEC_CREATE, "unknown field \"budget\"");
    json_refused("{\"name\": \"x\", \"key_hash\": \"00\"}", ORC_KEYSPEC_CREATE, "unknown field");
    json_refused("{\"name\": 5}", ORC_KEYSPEC_CREATE, "name must be a string");
    json_refused("{\"name\": null}", ORC_KEYSPEC_CREATE, "name must be 1 to 128");
    json_refused("{\"name\": \"a\\u0000b\"}", ORC_KEYSPEC_CREATE, "without NUL");
    json_refused("{\"name\": \"x\", \"rpm\": \"60\"}", ORC_KEYSPEC_CREATE, "rpm must be an integer");
    json_refused("{\"name\": \"x\", \"rpm\": 60.5}", ORC_KEYSPEC_CREATE, "rpm must be an integer");
    json_refused("{\"name\": \"x\", \"tpm\": 0}", ORC_KEYSPEC_CREATE, "tpm must be an integer from 1");
    json_refused("{\"name\": \"x\", \"max_parallel\": 2147483648}", ORC_KEYSPEC_CREATE,
                 "max_parallel must be");
    json_refused("{\"name\": \"x\", \"max_parallel\": 1e30}", ORC_KEYSPEC_CREATE, "max_parallel must be");
    json_refused("{\"name\": \"x\", \"budget_usd\": -1}", ORC_KEYSPEC_CREATE, "budget_usd must be a number");
    json_refused("{\"name\": \"x\", \"budget_usd\": \"5\"}", ORC_KEYSPEC_CREATE,
                 "budget_usd must be a number");
    json_refused("{\"name\": \"x\", \"budget_usd\": 1e10}", ORC_KEYSPEC_CREATE, "budget_usd must be");
    json_refused("{\"name\": \"x\", \"models\": \"gpt-4o\"}", ORC_KEYSPEC_CREATE, "models must be an array");
    json_refused("{\"name\": \"x\", \"models\": [1]}", ORC_KEYSPEC_CREATE, "models: item 1 must be a string");
    json_refused("{\"name\": \"x\", \"providers\": [\"a\", \"b,c\"]}", ORC_KEYSPEC_CREATE,
                 "providers: item 2 must be a string of 1 to 128 characters without commas");
    json_refused("{\"name\": \"x\", \"models\": [\"a b\"]}", ORC_KEYSPEC_CREATE,
                 "models: pattern 1 is not valid");
    json_refused("{\"name\": \"x\", \"scopes\": []}", ORC_KEYSPEC_CREATE, "scopes must name at least one");
    json_refused("{\"name\": \"x\", \"scopes\": null}", ORC_KEYSPEC_CREATE, "scopes must name at least one");
    json_refused("{\"name\": \"x\", \"metadata\": [1]}", ORC_KEYSPEC_CREATE,
                 "metadata must be a JSON object");
    json_refused("{\"name\": \"x\", \"expires_at\": 30}", ORC_KEYSPEC_CREATE, "expires_at must be a string");
    json_refused("{\"budget_usd\": 5, \"team\": \"t\"}", ORC_KEYSPEC_TEAM_BUDGET,
                 "team cannot be given here");
    json_refused("{\"budget_usd\": 5, \"rpm\": 3}", ORC_KEYSPEC_TEAM_BUDGET, "rpm cannot be given here");
    json_refused("{}", ORC_KEYSPEC_UPDATE, "nothing to change");
    strcpy(big, "{\"name\": \"x\", \"models\": [");
    repeat(big + strlen(big), ORC_APIKEY_PATTERNS_MAX + 1, "\"m\"", ",");
    strcat(big, "]}");
    json_refused(big, ORC_KEYSPEC_CREATE, "models: at most 64 patterns");
}

Test(keyspec, the_longest_lists_fit)
{
    /* Three full lists of the longest patterns through JSON. */
    static char body[4 * ORC_APIKEY_PATTERNS_MAX * (ORC_APIKEY_PATTERN_MAX + 4) + 256];
    static char list[ORC_APIKEY_PATTERNS_MAX * (ORC_APIKEY_PATTERN_MAX + 4)];
    char pattern[ORC_APIKEY_PATTERN_MAX + 3];
    pattern[0] = '"';
    memset(pattern + 1, 'p', ORC_APIKEY_PATTERN_MAX);
    strcpy(pattern + 1 + ORC_APIKEY_PATTERN_MAX, "\"");
    repeat(list, ORC_APIKEY_PATTERNS_MAX, pattern, ",");
    snprintf(body, sizeof(body), "{\"name\": \"x\", \"models\": [%s], \"providers\": [%s]}", list, list);
    cr_assert_eq(from_json(body, ORC_KEYSPEC_CREATE), ORC_OK, "%s", err);
    cr_assert_eq(strlen(spec.text[ORC_KS_MODELS]),
                 ORC_APIKEY_PATTERNS_MAX * (ORC_APIKEY_PATTERN_MAX + 1) - 1);
}

Test(keyspec, groups_of_the_spend_report)
{
    cr_assert(orc_keyspec_group_valid("key") && orc_keyspec_group_valid("team") &&
              orc_keyspec_group_valid("model") && orc_keyspec_group_valid("provider") &&
              orc_keyspec_group_valid("day"));
    cr_assert_not(orc_keyspec_group_valid("week"));
    cr_assert_not(orc_keyspec_group_valid(""));
    cr_assert_not(orc_keyspec_group_valid("key; DROP TABLE api_keys"));
}
