/*
 * key.c - a client key's record: parsed (and checked) from the JSON that
 * PostgreSQL builds and Redis keeps, reference-counted, freed once.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "worker/auth/keystore.h"

static void free_list(char **list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void key_free(orc_key_t *k)
{
    free_list(k->models, k->nmodels);
    free_list(k->providers, k->nproviders);
    free(k);
}

orc_key_t *orc_key_ref(orc_key_t *k)
{
    if (k != NULL && k->caller == ORC_CALLER_KEY)
        k->refs++;
    return k;
}

void orc_key_unref(orc_key_t *k)
{
    if (k != NULL && k->caller == ORC_CALLER_KEY && --k->refs == 0)
        key_free(k);
}

bool orc_key_active(const orc_key_t *k, uint64_t wall_ms)
{
    return !k->revoked && (k->expires_ms <= 0 || (uint64_t)k->expires_ms > wall_ms);
}

/* A string field of at most MAX characters; NULL or missing gives "". */
static int copy_string(json_object *o, const char *name, char *out, size_t max, bool required)
{
    json_object *v = NULL;
    out[0] = '\0';
    if (!json_object_object_get_ex(o, name, &v) || v == NULL)
        return required ? ORC_ERR : ORC_OK;
    if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) > max)
        return ORC_ERR;
    memcpy(out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    return ORC_OK;
}

static int parse_patterns(json_object *o, const char *name, char ***out, int *n)
{
    json_object *v = NULL;
    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(o, name, &v) || v == NULL)
        return ORC_OK;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > ORC_APIKEY_PATTERNS_MAX)
        return ORC_ERR;
    size_t len = json_object_array_length(v);
    *out = calloc(len + 1, sizeof(char *));
    if (*out == NULL)
        return ORC_ERR;
    for (size_t i = 0; i < len; i++) {
        const char *p = json_object_get_string(json_object_array_get_idx(v, i));
        if (p == NULL || !orc_glob_valid(p) || ((*out)[i] = strdup(p)) == NULL)
            return ORC_ERR;
        (*n)++;
    }
    return ORC_OK;
}

static int parse_scopes(json_object *o, unsigned *scopes)
{
    json_object *v = NULL;
    *scopes = 0;
    if (!json_object_object_get_ex(o, "scopes", &v) || !json_object_is_type(v, json_type_array))
        return ORC_ERR;
    for (size_t i = 0; i < json_object_array_length(v) && i < 16; i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(v, i));
        *scopes |=
            name != NULL ? orc_scope_parse(name) : 0; /* a scope this version does not know grants nothing */
    }
    return ORC_OK;
}

static long get_limit(json_object *o, const char *name)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    int64_t n = json_object_get_int64(v);
    return n > 0 && n <= INT32_MAX ? (long)n : 0;
}

static void parse_numbers(json_object *o, orc_key_t *k)
{
    json_object *v = NULL;
    k->rpm = get_limit(o, "rpm");
    k->tpm = get_limit(o, "tpm");
    k->max_parallel = get_limit(o, "max_parallel");
    k->budget_usd = -1;
    if (json_object_object_get_ex(o, "budget_usd", &v) && v != NULL)
        k->budget_usd = json_object_get_double(v);
    k->team_budget_usd = -1;
    if (k->team[0] != '\0' && json_object_object_get_ex(o, "team_budget_usd", &v) && v != NULL)
        k->team_budget_usd = json_object_get_double(v);
    if (json_object_object_get_ex(o, "expires_ms", &v) && v != NULL)
        k->expires_ms = json_object_get_int64(v);
    k->revoked = json_object_object_get_ex(o, "revoked", &v) && json_object_get_boolean(v);
}

static int parse_fields(json_object *o, orc_key_t *k)
{
    if (!json_object_is_type(o, json_type_object) ||
        copy_string(o, "id", k->id, ORC_APIKEY_ID_SIZE - 1, true) != ORC_OK || !orc_apikey_id_valid(k->id) ||
        copy_string(o, "name", k->name, ORC_APIKEY_NAME_MAX, true) != ORC_OK ||
        copy_string(o, "team", k->team, ORC_APIKEY_NAME_MAX, false) != ORC_OK ||
        copy_string(o, "budget_period", k->budget_period, sizeof(k->budget_period) - 1, false) != ORC_OK ||
        copy_string(o, "team_budget_period", k->team_budget_period, sizeof(k->team_budget_period) - 1,
                    false) != ORC_OK ||
        parse_scopes(o, &k->scopes) != ORC_OK ||
        parse_patterns(o, "models", &k->models, &k->nmodels) != ORC_OK ||
        parse_patterns(o, "providers", &k->providers, &k->nproviders) != ORC_OK)
        return ORC_ERR;
    parse_numbers(o, k);
    return ORC_OK;
}

orc_key_t *orc_key_parse(const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new();
    orc_key_t *k = calloc(1, sizeof(*k));
    json_object *o = tok != NULL && len <= 1 << 20 ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    json_tokener_free(tok);
    if (k != NULL) {
        k->caller = ORC_CALLER_KEY;
        k->refs = 1;
    }
    if (k == NULL || o == NULL || parse_fields(o, k) != ORC_OK) {
        json_object_put(o);
        if (k != NULL)
            key_free(k);
        return NULL;
    }
    json_object_put(o);
    return k;
}
