/*
 * apikey.c - client key format, generation, hashing and glob patterns.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/apikey.h"
#include "common/orc.h"

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n <= 0)
            return ORC_ERR;
        got += (size_t)n;
    }
    return ORC_OK;
}

int orc_apikey_generate(char key[ORC_APIKEY_SIZE])
{
    size_t tag = strlen(ORC_APIKEY_TAG), filled = 0;
    memcpy(key, ORC_APIKEY_TAG, tag);
    while (filled < ORC_APIKEY_RANDOM_LEN) {
        unsigned char buf[64];
        if (random_bytes(buf, sizeof(buf)) != ORC_OK)
            return ORC_ERR;
        /* 248 = 4 * 62: rejecting larger bytes keeps every character equally likely. */
        for (size_t i = 0; i < sizeof(buf) && filled < ORC_APIKEY_RANDOM_LEN; i++)
            if (buf[i] < 248)
                key[tag + filled++] = base62[buf[i] % 62];
    }
    key[ORC_APIKEY_LEN] = '\0';
    return ORC_OK;
}

int orc_apikey_id_new(char id[ORC_APIKEY_ID_SIZE])
{
    unsigned char buf[8];
    if (random_bytes(buf, sizeof(buf)) != ORC_OK)
        return ORC_ERR;
    snprintf(id, ORC_APIKEY_ID_SIZE, "key_%02x%02x%02x%02x%02x%02x%02x%02x", buf[0], buf[1], buf[2], buf[3],
             buf[4], buf[5], buf[6], buf[7]);
    return ORC_OK;
}

bool orc_apikey_well_formed(const char *key)
{
    size_t tag = strlen(ORC_APIKEY_TAG);
    if (key == NULL || strncmp(key, ORC_APIKEY_TAG, tag) != 0)
        return false;
    size_t n = strspn(key + tag, base62);
    return n == ORC_APIKEY_RANDOM_LEN && key[tag + n] == '\0';
}

bool orc_apikey_id_valid(const char *id)
{
    return id != NULL && strncmp(id, "key_", 4) == 0 && strspn(id + 4, "0123456789abcdef") == 16 &&
           id[20] == '\0';
}

/* SHA-256 fetched once per process: EVP_sha256() looks the algorithm up
 * again on every digest, which costs more than hashing a key. */
static void sha256(const char *text, size_t len, unsigned char md[32])
{
    static EVP_MD *md_type;
    static EVP_MD_CTX *ctx;
    unsigned int n = 0;
    if (md_type == NULL)
        md_type = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (ctx == NULL)
        ctx = EVP_MD_CTX_new();
    if (md_type == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, md_type, NULL) != 1 ||
        EVP_DigestUpdate(ctx, text, len) != 1 || EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32)
        EVP_Digest(text, len, md, &n, EVP_sha256(), NULL); /* the slow way, which allocates nothing to keep */
}

void orc_apikey_hash(const char *key, char hex[ORC_APIKEY_HASH_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    sha256(key, strlen(key), md);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

bool orc_apikey_hash_equal(const char *a, const char *b)
{
    return CRYPTO_memcmp(a, b, ORC_APIKEY_HASH_SIZE - 1) == 0;
}

void orc_apikey_prefix(const char *key, char prefix[ORC_APIKEY_PREFIX_SIZE])
{
    snprintf(prefix, ORC_APIKEY_PREFIX_SIZE, "%s", key);
}

static const struct {
    unsigned bit;
    const char *name;
} scopes[] = {
    {ORC_SCOPE_LLM, "llm"},
    {ORC_SCOPE_HISTORY, "history"},
    {ORC_SCOPE_METRICS, "metrics"},
    {ORC_SCOPE_ADMIN, "admin"},
};

unsigned orc_scope_parse(const char *name)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(scopes); i++)
        if (strcmp(scopes[i].name, name) == 0)
            return scopes[i].bit;
    return 0;
}

const char *orc_scope_name(unsigned bit)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(scopes); i++)
        if (scopes[i].bit == bit)
            return scopes[i].name;
    return "unknown";
}

bool orc_apikey_name_valid(const char *name)
{
    size_t n = 0;
    for (; name[n] != '\0'; n++)
        if (name[n] < 0x20 || name[n] > 0x7e || name[n] == '"' || name[n] == '\\')
            return false;
    return n >= 1 && n <= ORC_APIKEY_NAME_MAX;
}

bool orc_glob_valid(const char *pattern)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/@-*?";
    size_t n = strspn(pattern, allowed);
    return n >= 1 && n <= ORC_APIKEY_PATTERN_MAX && pattern[n] == '\0';
}

bool orc_glob_match(const char *p, const char *t)
{
    /* Greedy matching that remembers only the last '*': when a later
     * character fails, the last star takes one more character. */
    const char *star = NULL, *resume = NULL;
    while (*t != '\0') {
        if (*p == '*') {
            star = p++;
            resume = t;
        } else if (*p == '?' || *p == *t) {
            p++;
            t++;
        } else if (star != NULL) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}
