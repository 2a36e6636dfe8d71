/*
 * test_auth.c - pieces of access control that need no server: a client
 * key's record as PostgreSQL and Redis hold it (valid, hostile, truncated),
 * reference counting, activity, budget periods, provider URLs shown
 * without credentials; the key store's bound and the limits' shared table
 * with neither Redis nor a database.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/orc.h"
#include "common/shm.h"
#include "common/url.h"
#include "worker/auth/keystore.h"
#include "worker/auth/limits.h"
#include "worker/store/db.h"

static const char record[] =
    "{\"id\": \"key_0123456789abcdef\", \"name\": \"ci\", \"team\": \"blue\", \"models\": [\"gpt-4o*\"], "
    "\"providers\": [], \"scopes\": [\"llm\", \"history\", \"future-scope\"], \"rpm\": 600, \"tpm\": null, "
    "\"max_parallel\": 4, \"budget_usd\": 12.5, \"budget_period\": \"day\", \"expires_ms\": 4102444800000, "
    "\"revoked\": false, \"team_budget_usd\": 100, \"team_budget_period\": \"month\"}";

Test(key, parses_the_stored_record)
{
    orc_key_t *k = orc_key_parse(record, strlen(record));
    cr_assert_not_null(k);
    cr_assert_str_eq(k->id, "key_0123456789abcdef");
    cr_assert_str_eq(k->name, "ci");
    cr_assert_str_eq(k->team, "blue");
    cr_assert_eq(k->scopes, ORC_SCOPE_LLM | ORC_SCOPE_HISTORY); /* an unknown scope grants nothing */
    cr_assert_eq(k->nmodels, 1);
    cr_assert_str_eq(k->models[0], "gpt-4o*");
    cr_assert_eq(k->nproviders, 0);
    cr_assert_eq(k->rpm, 600);
    cr_assert_eq(k->tpm, 0);
    cr_assert_eq(k->max_parallel, 4);
    cr_assert_float_eq(k->budget_usd, 12.5, 1e-9);
    cr_assert_str_eq(k->budget_period, "day");
    cr_assert_float_eq(k->team_budget_usd, 100, 1e-9);
    cr_assert(orc_key_active(k, 1800000000000ULL));
    cr_assert_not(orc_key_active(k, 4102444800001ULL)); /* expired */
    cr_assert(orc_limits_apply(k));
    orc_key_unref(k);
}

Test(key, refuses_what_is_not_a_record)
{
    const char *bad[] = {
        "",
        "[]",
        "{\"id\": \"key_0123456789abcdef\"}",                                       /* no name, no scopes */
        "{\"id\": \"k1\", \"name\": \"x\", \"scopes\": []}",                        /* not a key id */
        "{\"id\": \"key_0123456789abcdef\", \"name\": 5, \"scopes\": []}",          /* name not a string */
        "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": \"llm\"}", /* scopes not a list */
        "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": [], \"models\": [\"a b\"]}",
        "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": [], \"models\": {}}",
        "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": [], \"team\": [1]}",
        "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": []", /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_null(orc_key_parse(bad[i], strlen(bad[i])), "accepted: %s", bad[i]);
}

Test(key, refuses_too_many_patterns)
{
    char text[8192];
    int n = snprintf(text, sizeof(text),
                     "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": [], "
                     "\"models\": [");
    for (int i = 0; i <= ORC_APIKEY_PATTERNS_MAX; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "%s\"m%d\"", i ? "," : "", i);
    snprintf(text + n, sizeof(text) - (size_t)n, "]}");
    cr_assert_null(orc_key_parse(text, strlen(text)));
}

Test(key, revoked_and_references)
{
    const char text[] =
        "{\"id\": \"key_0123456789abcdef\", \"name\": \"x\", \"scopes\": [\"llm\"], \"revoked\": true}";
    orc_key_t *k = orc_key_parse(text, strlen(text));
    cr_assert_not_null(k);
    cr_assert_not(orc_key_active(k, 0));
    cr_assert_not(orc_limits_apply(k)); /* no limit, no budget */
    cr_assert_float_eq(k->budget_usd, -1, 1e-9);
    cr_assert_eq(orc_key_ref(k), k);
    cr_assert_eq(k->refs, 2);
    orc_key_unref(k);
    cr_assert_eq(k->refs, 1);
    orc_key_unref(k); /* freed: the sanitizer build would report a leak or a double free */
}

Test(limits, budget_periods)
{
    uint64_t t = 1796515200000ULL - 60000; /* 2026-12-05T23:59:00Z */
    cr_assert_eq(orc_limits_period("day", t), 20261205);
    cr_assert_eq(orc_limits_period("month", t), 202612);
    cr_assert_eq(orc_limits_period("total", t), 1);
    cr_assert_eq(orc_limits_period("day", t + 60000), 20261206);        /* midnight UTC */
    cr_assert_eq(orc_limits_period("month", 1798761600000ULL), 202701); /* 2027-01-01T00:00:00Z */
}

Test(url, redacted_for_display)
{
    char out[256];
    orc_url_redacted("https://user:secret@api.example.com:8443/v1?key=abc#frag", out, sizeof(out));
    cr_assert_str_eq(out, "https://REDACTED@api.example.com:8443/v1?REDACTED");
    orc_url_redacted("https://api.openai.com/v1", out, sizeof(out));
    cr_assert_str_eq(out, "https://api.openai.com/v1");
    orc_url_redacted("http://[::1]:9000", out, sizeof(out));
    cr_assert_str_eq(out, "http://[::1]:9000/");
    orc_url_redacted("not a url", out, sizeof(out));
    cr_assert_str_eq(out, "(not a valid URL)");
    orc_url_redacted("https://:onlypassword@h/p", out, sizeof(out));
    cr_assert(strstr(out, "onlypassword") == NULL);
}

/* ---- the key store's bound and the limits' table, without Redis or a database ---- */

static orc_config_t *small_config(int cache_size)
{
    char err[ORC_CONFIG_ERR_SIZE];
    orc_config_t *cfg = orc_config_load(NULL, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cfg->key_cache_size = cache_size;
    return cfg;
}

static void never(void *arg, orc_key_result_t result, orc_key_t *key)
{
    (void)arg;
    (void)result;
    (void)key;
    cr_assert_fail("a lookup without Redis and database must answer at once");
}

Test(keystore, remembers_at_most_key_cache_size_keys)
{
    orc_config_t *cfg = small_config(16);
    struct event_base *base = event_base_new();
    orc_db_t *db = orc_db_new(base, NULL, cfg, 0); /* no database.url: disabled */
    orc_keystore_env_t env = {.base = base, .cfg = cfg, .redis = NULL, .db = db};
    orc_keystore_t *ks = orc_keystore_new(&env);
    cr_assert_not_null(ks);
    for (int i = 0; i < 1000; i++) {
        char key[ORC_APIKEY_SIZE], hash[ORC_APIKEY_HASH_SIZE];
        orc_key_t *k = NULL;
        orc_apikey_generate(key);
        orc_apikey_hash(key, hash);
        /* without a database there are no client keys: unknown, at once */
        cr_assert_eq(orc_keystore_lookup(ks, hash, true, &k, never, NULL), ORC_KEY_UNKNOWN);
        cr_assert_leq(orc_keystore_stats(ks).entries, 16);
    }
    cr_assert_eq(orc_keystore_stats(ks).unknown, 1000);
    orc_keystore_free(ks);
    orc_db_free(db);
    event_base_free(base);
    orc_config_free(cfg);
}

static orc_key_t *limited_key(int i)
{
    char text[256];
    snprintf(text, sizeof(text),
             "{\"id\": \"key_%016x\", \"name\": \"k%d\", \"scopes\": [\"llm\"], \"rpm\": 2}", (unsigned)i, i);
    orc_key_t *k = orc_key_parse(text, strlen(text));
    cr_assert_not_null(k);
    return k;
}

static void no_callback(void *arg, orc_limit_verdict_t v, const orc_limit_info_t *info)
{
    (void)arg;
    (void)v;
    (void)info;
    cr_assert_fail("without Redis every verdict is given at once");
}

Test(limits, per_gateway_without_redis_and_untracked_past_the_table)
{
    orc_config_t *cfg = small_config(16);
    struct event_base *base = event_base_new();
    orc_shm_t *shm = orc_shm_create(4);
    orc_limits_env_t env = {
        .base = base, .cfg = cfg, .shm = shm, .slot = &shm->slots[0], .redis = NULL, .db = NULL};
    orc_limits_t *l = orc_limits_new(&env);
    orc_limit_info_t info;
    orc_key_t *first = limited_key(0);
    cr_assert_eq(orc_limits_admit(l, first, 0, &info, no_callback, NULL), ORC_LIMIT_ADMITTED);
    cr_assert_eq(orc_limits_admit(l, first, 0, &info, no_callback, NULL), ORC_LIMIT_ADMITTED);
    cr_assert_eq(orc_limits_admit(l, first, 0, &info, no_callback, NULL), ORC_LIMIT_RATE_LIMITED);
    cr_assert_str_eq(info.what, "requests");
    cr_assert(info.retry_after_s >= 1 && info.retry_after_s <= 60);
    /* more keys than the shared table holds: the ones without an entry are let through, and counted */
    for (int i = 1; i <= ORC_SHM_KEYS + 64; i++) {
        orc_key_t *k = limited_key(i);
        cr_assert_eq(orc_limits_admit(l, k, 0, &info, no_callback, NULL), ORC_LIMIT_ADMITTED);
        orc_key_unref(k);
    }
    cr_assert_gt(orc_limits_stats(l).untracked, 0);
    cr_assert_not(orc_limits_stats(l).fleet);
    orc_key_unref(first);
    orc_limits_free(l);
    orc_shm_destroy(shm);
    event_base_free(base);
    orc_config_free(cfg);
}
