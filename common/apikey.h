/*
 * apikey.h - client keys: their format, generation, hashing, and the glob
 * patterns that say which models and providers a key may use.
 *
 * A key is "sk-orc-" followed by 43 base62 characters from getrandom(2)
 * (256 bits).  Only its SHA-256 (hex) is stored; the first
 * ORC_APIKEY_PREFIX_LEN characters are kept for display.  Key ids
 * ("key_" + 16 hex digits) name keys in the API, logs and metrics.
 */
#ifndef ORC_APIKEY_H
#define ORC_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#define ORC_APIKEY_TAG "sk-orc-"
#define ORC_APIKEY_RANDOM_LEN 43
#define ORC_APIKEY_LEN (sizeof(ORC_APIKEY_TAG) - 1 + ORC_APIKEY_RANDOM_LEN)
#define ORC_APIKEY_SIZE (ORC_APIKEY_LEN + 1)
#define ORC_APIKEY_HASH_SIZE 65 /* SHA-256 in hex, NUL-terminated */
#define ORC_APIKEY_PREFIX_LEN 12
#define ORC_APIKEY_PREFIX_SIZE (ORC_APIKEY_PREFIX_LEN + 1)
#define ORC_APIKEY_ID_SIZE 21 /* "key_" + 16 hex digits */

#define ORC_APIKEY_NAME_MAX 128    /* name and team */
#define ORC_APIKEY_PATTERN_MAX 128 /* one model or provider pattern */
#define ORC_APIKEY_PATTERNS_MAX 64 /* patterns in one list */

/* What a key may do, as bits; names "llm", "history", "metrics", "admin". */
enum {
    ORC_SCOPE_LLM = 1u << 0,     /* LLM calls and the routes that describe them */
    ORC_SCOPE_HISTORY = 1u << 1, /* its own logged requests and sessions */
    ORC_SCOPE_METRICS = 1u << 2, /* /metrics and health details when they are keyed */
    ORC_SCOPE_ADMIN = 1u << 3,   /* everything the master key can do */
};
#define ORC_SCOPE_ALL (ORC_SCOPE_LLM | ORC_SCOPE_HISTORY | ORC_SCOPE_METRICS | ORC_SCOPE_ADMIN)

/* A new key and its id.  ORC_ERR when the kernel gives no randomness. */
int orc_apikey_generate(char key[ORC_APIKEY_SIZE]);
int orc_apikey_id_new(char id[ORC_APIKEY_ID_SIZE]);

/* "sk-orc-" and 43 base62 characters, nothing else. */
bool orc_apikey_well_formed(const char *key);
/* "key_" and 16 lowercase hex digits. */
bool orc_apikey_id_valid(const char *id);

void orc_apikey_hash(const char *key, char hex[ORC_APIKEY_HASH_SIZE]);
/* Two hashes of orc_apikey_hash, compared in constant time. */
bool orc_apikey_hash_equal(const char *a, const char *b);
void orc_apikey_prefix(const char *key, char prefix[ORC_APIKEY_PREFIX_SIZE]);

/* Scope bit of NAME, 0 if unknown; the name of one bit. */
unsigned orc_scope_parse(const char *name);
const char *orc_scope_name(unsigned bit);

/* A name (key name, team) of 1..ORC_APIKEY_NAME_MAX printable ASCII
 * characters without quotes, backslashes or control characters. */
bool orc_apikey_name_valid(const char *name);
/* A pattern of 1..ORC_APIKEY_PATTERN_MAX characters from [A-Za-z0-9._:/@-*?]. */
bool orc_glob_valid(const char *pattern);
/* PATTERN matches all of TEXT; '*' any run, '?' one character.  Time
 * O(len(pattern) * len(text)) at worst, both bounded by the callers. */
bool orc_glob_match(const char *pattern, const char *text);

#endif
