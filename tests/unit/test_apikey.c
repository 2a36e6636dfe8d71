/*
 * test_apikey.c - client keys (common/apikey.h): format, randomness,
 * hashing, ids, names, scopes and glob patterns, hostile lengths included.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "common/apikey.h"
#include "common/orc.h"

Test(apikey, generated_keys_are_well_formed_and_distinct)
{
    char a[ORC_APIKEY_SIZE], b[ORC_APIKEY_SIZE];
    cr_assert_eq(orc_apikey_generate(a), ORC_OK);
    cr_assert_eq(orc_apikey_generate(b), ORC_OK);
    cr_assert_eq(strlen(a), ORC_APIKEY_LEN);
    cr_assert(strncmp(a, "sk-orc-", 7) == 0);
    cr_assert(orc_apikey_well_formed(a) && orc_apikey_well_formed(b));
    cr_assert_str_neq(a, b);
}

Test(apikey, malformed_keys_are_refused)
{
    char k[ORC_APIKEY_SIZE];
    orc_apikey_generate(k);
    char longer[ORC_APIKEY_SIZE + 1];
    snprintf(longer, sizeof(longer), "%sx", k);
    cr_assert_not(orc_apikey_well_formed(longer));
    k[ORC_APIKEY_LEN - 1] = '\0';
    cr_assert_not(orc_apikey_well_formed(k));
    cr_assert_not(orc_apikey_well_formed(""));
    cr_assert_not(orc_apikey_well_formed("sk-orc-"));
    cr_assert_not(orc_apikey_well_formed("sk-abc-0123456789012345678901234567890123456789012"));
    cr_assert_not(orc_apikey_well_formed("sk-orc-012345678901234567890123456789012345678-0"));
    cr_assert_not(orc_apikey_well_formed(NULL));
}

Test(apikey, characters_cover_the_alphabet)
{
    /* 200 keys draw 8,600 characters: every base62 character appears. */
    bool seen[128] = {false};
    for (int i = 0; i < 200; i++) {
        char k[ORC_APIKEY_SIZE];
        orc_apikey_generate(k);
        for (size_t j = 7; j < ORC_APIKEY_LEN; j++)
            seen[(unsigned char)k[j]] = true;
    }
    int distinct = 0;
    for (int c = 0; c < 128; c++)
        distinct += seen[c];
    cr_assert_eq(distinct, 62);
}

Test(apikey, hash_is_sha256_hex)
{
    char hex[ORC_APIKEY_HASH_SIZE];
    orc_apikey_hash("abc", hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(apikey, prefix_and_ids)
{
    char p[ORC_APIKEY_PREFIX_SIZE], id[ORC_APIKEY_ID_SIZE], id2[ORC_APIKEY_ID_SIZE];
    orc_apikey_prefix("sk-orc-ABCDEFGHIJ", p);
    cr_assert_str_eq(p, "sk-orc-ABCDE");
    cr_assert_eq(orc_apikey_id_new(id), ORC_OK);
    orc_apikey_id_new(id2);
    cr_assert(orc_apikey_id_valid(id) && orc_apikey_id_valid(id2));
    cr_assert_str_neq(id, id2);
    cr_assert_not(orc_apikey_id_valid("key_0123"));
    cr_assert_not(orc_apikey_id_valid("key_0123456789abcdeF"));
    cr_assert_not(orc_apikey_id_valid("key_0123456789abcdef0"));
    cr_assert_not(orc_apikey_id_valid("key_0123456789abcde'"));
}

Test(apikey, secrets_compare_whole)
{
    char secret[ORC_APIKEY_HASH_SIZE], shorter[ORC_APIKEY_HASH_SIZE], longer[ORC_APIKEY_HASH_SIZE],
        empty[ORC_APIKEY_HASH_SIZE], again[ORC_APIKEY_HASH_SIZE];
    orc_apikey_hash("master-secret", secret);
    orc_apikey_hash("master-secret", again);
    orc_apikey_hash("master-secre", shorter);
    orc_apikey_hash("master-secret2", longer);
    orc_apikey_hash("", empty);
    cr_assert(orc_apikey_hash_equal(again, secret));
    cr_assert_not(orc_apikey_hash_equal(shorter, secret));
    cr_assert_not(orc_apikey_hash_equal(longer, secret));
    cr_assert_not(orc_apikey_hash_equal(empty, secret));
}

Test(apikey, scopes_by_name)
{
    cr_assert_eq(orc_scope_parse("llm"), ORC_SCOPE_LLM);
    cr_assert_eq(orc_scope_parse("history"), ORC_SCOPE_HISTORY);
    cr_assert_eq(orc_scope_parse("metrics"), ORC_SCOPE_METRICS);
    cr_assert_eq(orc_scope_parse("admin"), ORC_SCOPE_ADMIN);
    cr_assert_eq(orc_scope_parse("root"), 0);
    cr_assert_eq(orc_scope_parse(""), 0);
    cr_assert_str_eq(orc_scope_name(ORC_SCOPE_HISTORY), "history");
}

Test(apikey, names)
{
    char big[ORC_APIKEY_NAME_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert(orc_apikey_name_valid("ci pipeline (staging)"));
    cr_assert_not(orc_apikey_name_valid(""));
    cr_assert_not(orc_apikey_name_valid("a\"b"));
    cr_assert_not(orc_apikey_name_valid("a\\b"));
    cr_assert_not(orc_apikey_name_valid("a\nb"));
    cr_assert_not(orc_apikey_name_valid("caf\xc3\xa9"));
    cr_assert_not(orc_apikey_name_valid(big));
    big[ORC_APIKEY_NAME_MAX] = '\0';
    cr_assert(orc_apikey_name_valid(big));
}

Test(apikey, glob_patterns)
{
    cr_assert(orc_glob_match("*", "gpt-4o"));
    cr_assert(orc_glob_match("gpt-4o*", "gpt-4o-mini"));
    cr_assert(orc_glob_match("gpt-4o*", "gpt-4o"));
    cr_assert_not(orc_glob_match("gpt-4o", "gpt-4o-mini"));
    cr_assert(orc_glob_match("claude-*-haiku*", "claude-3-5-haiku-latest"));
    cr_assert_not(orc_glob_match("claude-*-haiku", "claude-3-5-sonnet"));
    cr_assert(orc_glob_match("gemini-?.5-*", "gemini-2.5-flash"));
    cr_assert_not(orc_glob_match("?", ""));
    cr_assert(orc_glob_match("", ""));
    cr_assert_not(orc_glob_match("", "a"));
    cr_assert(orc_glob_match("a*b*c", "aXbYbZc"));
    cr_assert_not(orc_glob_match("a*b*c", "aXbYbZ"));
    cr_assert(orc_glob_valid("openai/gpt-4o*"));
    cr_assert_not(orc_glob_valid("gpt 4o"));
    cr_assert_not(orc_glob_valid(""));
    cr_assert_not(orc_glob_valid("a'b"));
}

Test(apikey, glob_hostile_lengths_stay_fast, .timeout = 2)
{
    /* The longest pattern against a long name that nearly matches. */
    char pattern[ORC_APIKEY_PATTERN_MAX + 1], text[4097];
    for (int i = 0; i < ORC_APIKEY_PATTERN_MAX; i++)
        pattern[i] = i % 2 ? 'a' : '*';
    pattern[ORC_APIKEY_PATTERN_MAX] = '\0';
    pattern[ORC_APIKEY_PATTERN_MAX - 1] = 'b';
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (int i = 0; i < 100; i++)
        cr_assert_not(orc_glob_match(pattern, text));
}
