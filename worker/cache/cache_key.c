/*
 * cache_key.c - what a cache entry is named after, and what a clear may
 * touch.  Pure functions, tested without Redis.
 *
 * The hash input is an unambiguous encoding of the canonical request: a
 * type tag, then lengths before contents, object members in byte order of
 * their names.  Two requests share an entry only when every field other
 * than "stream", "stream_options" and "model" is equal (the routed
 * providers and models come in through the scope); an integral number is
 * the same whether written 1 or 1.0.
 *
 * Clear patterns are confined to the namespace by construction: the user
 * part may hold no glob character but one trailing "*", and the namespace
 * (checked at configuration load) holds none at all.
 */
#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/orc.h"
#include "common/util.h"
#include "worker/cache/cache.h"

static const char *skipped[] = {"stream", "stream_options", "model"};

static void put(EVP_MD_CTX *md, char tag, const void *data, size_t len)
{
    unsigned char head[9];
    uint64_t n = len;
    head[0] = (unsigned char)tag;
    for (int i = 0; i < 8; i++)
        head[1 + i] = (unsigned char)(n >> (8 * i));
    EVP_DigestUpdate(md, head, sizeof(head));
    EVP_DigestUpdate(md, data, len);
}

static void put_number(EVP_MD_CTX *md, json_object *v)
{
    char buf[40];
    int n;
    if (json_object_is_type(v, json_type_int)) {
        n = snprintf(buf, sizeof(buf), "%lld", (long long)json_object_get_int64(v));
    } else {
        double d = json_object_get_double(v);
        if (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0)
            n = snprintf(buf, sizeof(buf), "%lld", (long long)d);
        else
            n = snprintf(buf, sizeof(buf), "%.17g", d);
    }
    put(md, 'n', buf, (size_t)n);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(EVP_MD_CTX *md, json_object *v, bool top);

static void put_object(EVP_MD_CTX *md, json_object *o, bool top)
{
    size_t n = (size_t)json_object_object_length(o), k = 0;
    const char **keys = n ? malloc(n * sizeof(*keys)) : NULL;
    if (n && keys == NULL) {
        put(md, '!', "oom", 3); /* an unusable key rather than a shared one */
        return;
    }
    json_object_object_foreach(o, name, val)
    {
        bool skip = false;
        (void)val;
        for (size_t i = 0; top && i < ORC_ARRAY_LEN(skipped); i++)
            skip |= strcmp(name, skipped[i]) == 0;
        if (!skip)
            keys[k++] = name;
    }
    if (k > 1)
        qsort(keys, k, sizeof(*keys), key_cmp);
    put(md, 'o', &k, sizeof(k));
    for (size_t i = 0; i < k; i++) {
        put(md, 'k', keys[i], strlen(keys[i]));
        put_value(md, json_object_object_get(o, keys[i]), false);
    }
    free(keys);
}

static void put_value(EVP_MD_CTX *md, json_object *v, bool top)
{
    switch (json_object_get_type(v)) {
    case json_type_null: put(md, 'z', "", 0); break;
    case json_type_boolean: put(md, json_object_get_boolean(v) ? 't' : 'f', "", 0); break;
    case json_type_int:
    case json_type_double: put_number(md, v); break;
    case json_type_string:
        put(md, 's', json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        put(md, 'a', &n, sizeof(n));
        for (size_t i = 0; i < n; i++)
            put_value(md, json_object_array_get_idx(v, i), false);
        break;
    }
    case json_type_object: put_object(md, v, top); break;
    }
}

void orc_cache_hash(const char *scope, json_object *request, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    hex[0] = '\0';
    if (md == NULL)
        return;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        put(md, 'S', "orchesity-cache-v1", 18);
        put(md, 'S', scope, strlen(scope));
        put_value(md, request, true);
        if (EVP_DigestFinal_ex(md, d, &len) != 1)
            len = 0;
    }
    EVP_MD_CTX_free(md);
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int orc_cache_key(const char *ns, const char *scope, json_object *request, char *out, size_t outlen)
{
    char hex[65];
    orc_cache_hash(scope, request, hex);
    if (strlen(hex) != 64)
        return ORC_ERR;
    int n = snprintf(out, outlen, "%s:llm_response:%s", ns, hex);
    return n > 0 && (size_t)n < outlen ? ORC_OK : ORC_ERR;
}

const char *orc_cache_uncacheable(json_object *request)
{
    json_object *n;
    if (json_object_object_get_ex(request, "n", &n) && n != NULL && json_object_get_int64(n) > 1)
        return "n > 1";
    return NULL;
}

/* ---- request controls -------------------------------------------------- */

static bool has_directive(const char *header, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = header; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ',' && *end != ' ' && *end != '\t' && *end != '=')
            end++;
        if ((size_t)(end - p) == len && strncasecmp(p, name, len) == 0)
            return true;
        p = strchr(end, ',');
    }
    return false;
}

int orc_cache_controls(const char *cache_control, const char *ttl, int default_ttl, int max_ttl, bool *lookup,
                       bool *store, int *ttl_out, char *err, size_t errlen)
{
    long v = default_ttl;
    *lookup = !has_directive(cache_control, "no-cache");
    *store = !has_directive(cache_control, "no-store");
    if (ttl != NULL && orc_parse_int(ttl, 1, max_ttl, &v) != ORC_OK) {
        snprintf(err, errlen, "%s must be a number of seconds from 1 to %d", ORC_CACHE_TTL_HEADER, max_ttl);
        return ORC_ERR;
    }
    *ttl_out = (int)v;
    return ORC_OK;
}

/* ---- clear patterns ---------------------------------------------------- */

static bool pattern_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == ':';
}

int orc_cache_pattern(const char *ns, const char *pattern, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t n = pattern ? strlen(pattern) : 0;
    if (pattern == NULL) {
        snprintf(out, outlen, "%s:*", ns);
        return ORC_OK;
    }
    if (n == 0 || n > ORC_CACHE_PATTERN_MAX) {
        snprintf(err, errlen, "the pattern must have 1 to %d characters", ORC_CACHE_PATTERN_MAX);
        return ORC_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        bool last_star = i == n - 1 && pattern[i] == '*';
        if (!pattern_char(pattern[i]) && !last_star) {
            snprintf(err, errlen,
                     "the pattern may hold letters, digits, '_', '-', '.' and ':' and end with one '*' "
                     "(it names keys inside the namespace \"%s:\")",
                     ns);
            return ORC_ERR;
        }
    }
    if (strstr(pattern, "..") != NULL) {
        snprintf(err, errlen, "the pattern must not contain \"..\"");
        return ORC_ERR;
    }
    int w = snprintf(out, outlen, "%s:%s", ns, pattern);
    if (w < 0 || (size_t)w >= outlen) {
        snprintf(err, errlen, "the pattern is too long");
        return ORC_ERR;
    }
    return ORC_OK;
}
