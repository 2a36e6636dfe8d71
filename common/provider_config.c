/*
 * provider_config.c - embedded provider defaults, the "providers" list of
 * the configuration file, and the keys and base URLs from the environment.
 *
 * Errors carry file:line like every other configuration error.  Keys are
 * read only from the environment or key files (never from the file
 * itself), and no message ever contains one.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_read.h"
#include "common/orc.h"
#include "common/provider_config.h"

typedef struct {
    const char *id;
    double input, cached_input, cache_write, output;
} default_model_t;

typedef struct {
    const char *name, *base_url, *key_env, *default_model;
    const default_model_t *models;
    int nmodels;
} default_provider_t;

/* Prices in USD per million tokens (see etc/orchesity.conf for sources). */
static const default_model_t openai_models[] = {
    {"gpt-4o-mini", 0.15, 0.075, 0, 0.60}, {"gpt-4o", 2.50, 1.25, 0, 10.00},
    {"gpt-4.1", 2.00, 0.50, 0, 8.00},      {"gpt-5-mini", 0.25, 0.025, 0, 2.00},
    {"gpt-5.4", 2.50, 0.25, 0, 15.00},     {"gpt-5.5", 5.00, 0.50, 0, 30.00},
};
static const default_model_t anthropic_models[] = {
    {"claude-haiku-4-5", 1.00, 0.10, 1.25, 5.00}, {"claude-sonnet-4-6", 3.00, 0.30, 3.75, 15.00},
    {"claude-opus-4-6", 5.00, 0.50, 6.25, 25.00}, {"claude-sonnet-5", 2.00, 0.20, 2.50, 10.00},
    {"claude-opus-5", 5.00, 0.50, 6.25, 25.00},
};
static const default_model_t gemini_models[] = {
    {"gemini-2.5-flash-lite", 0.10, 0.10, 0, 0.40},
    {"gemini-2.5-flash", 0.30, 0.30, 0, 2.50},
    {"gemini-2.5-pro", 1.25, 1.25, 0, 10.00},
    {"gemini-3.1-pro", 2.00, 0.20, 0, 12.00},
};
static const default_model_t grok_models[] = {
    {"grok-4-1-fast-reasoning", 0.20, 0.05, 0, 0.50},
    {"grok-4.20-0309-reasoning", 2.00, 0.20, 0, 6.00},
    {"grok-4-fast", 0.20, 0.05, 0, 0.50},
    {"grok-3-mini", 0.30, 0.075, 0, 0.50},
};

#define MODELS(m) m, (int)ORC_ARRAY_LEN(m)
static const default_provider_t defaults[] = {
    {"openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o-mini", MODELS(openai_models)},
    {"anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "claude-haiku-4-5",
     MODELS(anthropic_models)},
    {"gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", "gemini-2.5-flash",
     MODELS(gemini_models)},
    {"grok", "https://api.x.ai/v1", "GROK_API_KEY", "grok-4-fast", MODELS(grok_models)},
};

static int known_keys(const config_setting_t *g, const char **keys, size_t n, const char *what, char *err,
                      size_t errlen);
static int get_string(const config_setting_t *g, const char *key, char **slot, bool required, char *err,
                      size_t errlen);

static void provider_base(orc_provider_config_t *p, const char *name, const char *type)
{
    memset(p, 0, sizeof(*p));
    p->name = orc_config_read_strdup(name);
    p->type = orc_config_read_strdup(type);
    p->base_url = orc_config_read_strdup("");
    p->api_key_env = orc_config_read_strdup("");
    p->api_key = orc_config_read_strdup("");
    p->anthropic_version = orc_config_read_strdup("2023-06-01");
    p->default_model = orc_config_read_strdup("");
    p->connect_timeout_ms = 5000;
    p->first_byte_timeout_ms = 60000;
    p->idle_timeout_ms = 30000;
    p->total_timeout_ms = 600000;
    p->max_inflight = 256;
    p->default_max_tokens = 4096;
    p->enabled = true;
}

void orc_providers_config_defaults(orc_providers_config_t *pc)
{
    orc_providers_config_free(pc);
    for (size_t i = 0; i < ORC_ARRAY_LEN(defaults); i++) {
        const default_provider_t *d = &defaults[i];
        orc_provider_config_t *p = &pc->list[pc->n++];
        provider_base(p, d->name, d->name);
        orc_config_read_set(&p->base_url, d->base_url);
        orc_config_read_set(&p->api_key_env, d->key_env);
        orc_config_read_set(&p->default_model, d->default_model);
        for (int m = 0; m < d->nmodels; m++) {
            const default_model_t *dm = &d->models[m];
            p->models[m] = (orc_model_config_t){orc_config_read_strdup(dm->id), dm->input, dm->cached_input,
                                                dm->cache_write, dm->output};
        }
        p->nmodels = d->nmodels;
    }
}

static void provider_free(orc_provider_config_t *p)
{
    free(p->name);
    free(p->type);
    free(p->base_url);
    free(p->api_key_env);
    free(p->api_key);
    free(p->anthropic_version);
    free(p->default_model);
    for (int m = 0; m < p->nmodels; m++)
        free(p->models[m].id);
    memset(p, 0, sizeof(*p));
}

static void aliases_free(orc_providers_config_t *pc)
{
    for (int i = 0; i < pc->naliases; i++) {
        free(pc->aliases[i].alias);
        free(pc->aliases[i].target);
    }
    pc->naliases = 0;
}

void orc_providers_config_free(orc_providers_config_t *pc)
{
    for (int i = 0; i < pc->n; i++)
        provider_free(&pc->list[i]);
    pc->n = 0;
    aliases_free(pc);
}

/* model_aliases = ( { alias = "fast"; model = "openai/gpt-4o-mini"; }, ... ); */
int orc_providers_config_read_aliases(orc_providers_config_t *pc, const config_setting_t *list, char *err,
                                      size_t errlen)
{
    static const char *keys[] = {"alias", "model"};
    if (!config_setting_is_list(list))
        return orc_config_read_error(err, errlen, list,
                                     "model_aliases must be a list: ( { alias = ...; model = ...; } )");
    if (config_setting_length(list) > ORC_ALIASES_MAX)
        return orc_config_read_error(err, errlen, list, "at most %d model aliases", ORC_ALIASES_MAX);
    aliases_free(pc);
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        orc_alias_config_t *a = &pc->aliases[pc->naliases];
        if (!config_setting_is_group(g) || known_keys(g, keys, 2, "model alias", err, errlen) != ORC_OK)
            return config_setting_is_group(g)
                       ? ORC_ERR
                       : orc_config_read_error(err, errlen, g, "each alias is a group");
        pc->naliases++;
        if (get_string(g, "alias", &a->alias, true, err, errlen) != ORC_OK ||
            get_string(g, "model", &a->target, true, err, errlen) != ORC_OK)
            return ORC_ERR;
        if (a->alias[0] == '\0' || strchr(a->target, '/') == NULL)
            return orc_config_read_error(
                err, errlen, g, "model_aliases: alias must be non-empty and model \"provider/model\"");
    }
    return ORC_OK;
}

/* ---- reading the file -------------------------------------------------- */

static const char *provider_keys[] = {"name",
                                      "type",
                                      "base_url",
                                      "api_key_env",
                                      "anthropic_version",
                                      "default_model",
                                      "models",
                                      "connect_timeout",
                                      "first_byte_timeout",
                                      "idle_timeout",
                                      "total_timeout",
                                      "max_inflight",
                                      "default_max_tokens",
                                      "enabled"};
static const char *model_keys[] = {"id", "input", "cached_input", "cache_write", "output"};

static int known_keys(const config_setting_t *g, const char **keys, size_t n, const char *what, char *err,
                      size_t errlen)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        bool ok = false;
        for (size_t k = 0; k < n && !ok; k++)
            ok = strcmp(config_setting_name(s), keys[k]) == 0;
        if (!ok)
            return orc_config_read_error(err, errlen, s, "unknown setting '%s' in a %s",
                                         config_setting_name(s), what);
    }
    return ORC_OK;
}

static int get_string(const config_setting_t *g, const char *key, char **slot, bool required, char *err,
                      size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (s == NULL)
        return required ? orc_config_read_error(err, errlen, g, "providers: '%s' is required", key) : ORC_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return orc_config_read_error(err, errlen, s, "providers: '%s' must be a string", key);
    orc_config_read_set(slot, config_setting_get_string(s));
    return ORC_OK;
}

static int get_int(const config_setting_t *g, const char *key, int *out, int min, int max, char *err,
                   size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (s == NULL)
        return ORC_OK;
    if (config_setting_type(s) != CONFIG_TYPE_INT)
        return orc_config_read_error(err, errlen, s, "providers: '%s' must be an integer", key);
    int v = config_setting_get_int(s);
    if (v < min || v > max)
        return orc_config_read_error(err, errlen, s, "providers: '%s' must be %d..%d", key, min, max);
    *out = v;
    return ORC_OK;
}

static int get_price(const config_setting_t *g, const char *key, double *out, char *err, size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (s == NULL)
        return ORC_OK;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_FLOAT && t != CONFIG_TYPE_INT)
        return orc_config_read_error(err, errlen, s, "models: '%s' must be a number (USD per million tokens)",
                                     key);
    double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)config_setting_get_int(s);
    if (v < 0 || v > 10000)
        return orc_config_read_error(err, errlen, s, "models: '%s' must be 0..10000", key);
    *out = v;
    return ORC_OK;
}

static int read_models(orc_provider_config_t *p, const config_setting_t *list, char *err, size_t errlen)
{
    if (!config_setting_is_list(list) && !config_setting_is_array(list))
        return orc_config_read_error(err, errlen, list, "providers: 'models' must be a list of groups");
    int n = config_setting_length(list);
    if (n > ORC_MODELS_MAX)
        return orc_config_read_error(err, errlen, list, "providers: at most %d models per provider",
                                     ORC_MODELS_MAX);
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        orc_model_config_t *m = &p->models[p->nmodels];
        if (!config_setting_is_group(g))
            return orc_config_read_error(err, errlen, g, "models: each model is a group { id = ...; }");
        if (known_keys(g, model_keys, ORC_ARRAY_LEN(model_keys), "model", err, errlen) != ORC_OK)
            return ORC_ERR;
        p->nmodels++;
        if (get_string(g, "id", &m->id, true, err, errlen) != ORC_OK ||
            get_price(g, "input", &m->input, err, errlen) != ORC_OK ||
            get_price(g, "cached_input", &m->cached_input, err, errlen) != ORC_OK ||
            get_price(g, "cache_write", &m->cache_write, err, errlen) != ORC_OK ||
            get_price(g, "output", &m->output, err, errlen) != ORC_OK)
            return ORC_ERR;
        if (m->id[0] == '\0')
            return orc_config_read_error(err, errlen, g, "models: 'id' must not be empty");
    }
    return ORC_OK;
}

static int check_type(const orc_provider_config_t *p, const config_setting_t *g, char *err, size_t errlen)
{
    const char *types = ORC_PROVIDER_TYPE_NAMES;
    size_t n = strlen(p->type);
    for (const char *t = types; t;) {
        const char *bar = strchr(t, '|');
        size_t len = bar ? (size_t)(bar - t) : strlen(t);
        if (len == n && strncmp(t, p->type, n) == 0)
            return ORC_OK;
        t = bar ? bar + 1 : NULL;
    }
    return orc_config_read_error(err, errlen, g, "providers: type '%s' is not one of %s", p->type, types);
}

static int read_names_and_url(orc_provider_config_t *p, const config_setting_t *g, char *err, size_t errlen)
{
    if (get_string(g, "name", &p->name, true, err, errlen) != ORC_OK ||
        get_string(g, "type", &p->type, true, err, errlen) != ORC_OK ||
        check_type(p, g, err, errlen) != ORC_OK ||
        get_string(g, "base_url", &p->base_url, true, err, errlen) != ORC_OK ||
        get_string(g, "api_key_env", &p->api_key_env, false, err, errlen) != ORC_OK ||
        get_string(g, "anthropic_version", &p->anthropic_version, false, err, errlen) != ORC_OK ||
        get_string(g, "default_model", &p->default_model, false, err, errlen) != ORC_OK)
        return ORC_ERR;
    size_t ul = strlen(p->base_url);
    while (ul > 0 && p->base_url[ul - 1] == '/')
        p->base_url[--ul] = '\0';
    if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0)
        return orc_config_read_error(
            err, errlen, g, "providers: base_url of '%s' must start with http:// or https://", p->name);
    const char *bad = strpbrk(p->name, "/ \t:");
    if (p->name[0] == '\0' || bad != NULL || strlen(p->name) > 31)
        return orc_config_read_error(err, errlen, g,
                                     "providers: name must be 1..31 characters without '/', ':' or blanks");
    return ORC_OK;
}

static int read_provider(orc_provider_config_t *p, const config_setting_t *g, char *err, size_t errlen)
{
    if (!config_setting_is_group(g))
        return orc_config_read_error(err, errlen, g, "providers: each provider is a group { name = ...; }");
    if (known_keys(g, provider_keys, ORC_ARRAY_LEN(provider_keys), "provider", err, errlen) != ORC_OK ||
        read_names_and_url(p, g, err, errlen) != ORC_OK)
        return ORC_ERR;
    int enabled = 1;
    const config_setting_t *models = config_setting_get_member(g, "models");
    if (get_int(g, "connect_timeout", &p->connect_timeout_ms, 1, 600000, err, errlen) != ORC_OK ||
        get_int(g, "first_byte_timeout", &p->first_byte_timeout_ms, 1, 3600000, err, errlen) != ORC_OK ||
        get_int(g, "idle_timeout", &p->idle_timeout_ms, 1, 3600000, err, errlen) != ORC_OK ||
        get_int(g, "total_timeout", &p->total_timeout_ms, 1, 86400000, err, errlen) != ORC_OK ||
        get_int(g, "max_inflight", &p->max_inflight, 1, 100000, err, errlen) != ORC_OK ||
        get_int(g, "default_max_tokens", &p->default_max_tokens, 1, 1000000, err, errlen) != ORC_OK ||
        (models != NULL && read_models(p, models, err, errlen) != ORC_OK))
        return ORC_ERR;
    const config_setting_t *en = config_setting_get_member(g, "enabled");
    if (en != NULL && config_setting_type(en) != CONFIG_TYPE_BOOL)
        return orc_config_read_error(err, errlen, en, "providers: 'enabled' must be true or false");
    if (en != NULL)
        enabled = config_setting_get_bool(en);
    p->enabled = enabled;
    return ORC_OK;
}

int orc_providers_config_read(orc_providers_config_t *pc, const config_setting_t *list, char *err,
                              size_t errlen)
{
    if (!config_setting_is_list(list))
        return orc_config_read_error(err, errlen, list,
                                     "providers must be a list: providers = ( { ... }, ... );");
    int n = config_setting_length(list);
    if (n > ORC_PROVIDERS_MAX)
        return orc_config_read_error(err, errlen, list, "at most %d providers", ORC_PROVIDERS_MAX);
    orc_providers_config_free(pc);
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        orc_provider_config_t *p = &pc->list[pc->n++];
        provider_base(p, "", "");
        if (read_provider(p, g, err, errlen) != ORC_OK)
            return ORC_ERR;
        for (int j = 0; j < i; j++)
            if (strcmp(pc->list[j].name, p->name) == 0)
                return orc_config_read_error(err, errlen, g, "providers: the name '%s' is used twice",
                                             p->name);
    }
    return ORC_OK;
}

/* ---- environment ------------------------------------------------------- */

static int resolve_key(orc_provider_config_t *p, char *err, size_t errlen)
{
    if (p->api_key_env[0] == '\0')
        return ORC_OK;
    char file_var[160];
    snprintf(file_var, sizeof(file_var), "%s_FILE", p->api_key_env);
    const char *file = getenv(file_var), *value = getenv(p->api_key_env);
    if (file && *file)
        return orc_config_read_secret_file(p->api_key_env, file, &p->api_key, err, errlen);
    if (value && *value)
        orc_config_read_set(&p->api_key, value);
    return ORC_OK;
}

int orc_providers_config_env(orc_providers_config_t *pc, char *err, size_t errlen)
{
    static const struct {
        const char *name, *var;
    } urls[] = {{"openai", "OPENAI_BASE_URL"},
                {"anthropic", "ANTHROPIC_BASE_URL"},
                {"gemini", "GEMINI_BASE_URL"},
                {"grok", "GROK_BASE_URL"}};
    for (int i = 0; i < pc->n; i++) {
        orc_provider_config_t *p = &pc->list[i];
        if (resolve_key(p, err, errlen) != ORC_OK)
            return ORC_ERR;
        for (size_t u = 0; u < ORC_ARRAY_LEN(urls); u++) {
            const char *v = getenv(urls[u].var);
            if (strcmp(p->name, urls[u].name) != 0 || v == NULL || *v == '\0')
                continue;
            if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
                snprintf(err, errlen, "environment %s: must start with http:// or https://", urls[u].var);
                return ORC_ERR;
            }
            orc_config_read_set(&p->base_url, v);
            size_t ul = strlen(p->base_url);
            while (ul > 0 && p->base_url[ul - 1] == '/')
                p->base_url[--ul] = '\0';
        }
        p->configured = p->enabled && (p->api_key[0] != '\0' || strcmp(p->type, "openai-compatible") == 0);
    }
    return ORC_OK;
}

const orc_provider_config_t *orc_providers_config_find(const orc_providers_config_t *pc, const char *name)
{
    for (int i = 0; i < pc->n; i++)
        if (strcmp(pc->list[i].name, name) == 0)
            return &pc->list[i];
    return NULL;
}

const orc_model_config_t *orc_provider_config_model(const orc_provider_config_t *p, const char *id)
{
    for (int m = 0; m < p->nmodels; m++)
        if (strcmp(p->models[m].id, id) == 0)
            return &p->models[m];
    return NULL;
}
