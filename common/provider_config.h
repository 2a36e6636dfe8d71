/*
 * provider_config.h - the LLM providers of a configuration generation:
 * any number of named providers, each with a wire type, base URL, key,
 * models with prices, timeouts and an in-flight cap.
 *
 * With no "providers" list in the file the embedded defaults apply: one
 * provider per type (openai, anthropic, gemini, grok) at the vendor's URL,
 * keyed by OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, GROK_API_KEY.
 * A provider without a key is "not configured", not an error.
 */
#ifndef ORC_PROVIDER_CONFIG_H
#define ORC_PROVIDER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define ORC_PROVIDERS_MAX 16
#define ORC_MODELS_MAX 32
#define ORC_PROVIDER_TYPE_NAMES "openai|anthropic|gemini|grok|openai-compatible"

typedef struct {
    char *id;
    double input;        /* USD per million prompt tokens (not cached) */
    double cached_input; /* USD per million cached prompt tokens */
    double cache_write;  /* USD per million cache-write tokens */
    double output;       /* USD per million completion tokens, reasoning included */
} orc_model_config_t;

typedef struct {
    char *name; /* unique; used in /api/llm and "name/model" */
    char *type; /* one of ORC_PROVIDER_TYPE_NAMES */
    char *base_url;
    char *api_key_env; /* the variable holding the key; NAME_FILE reads it from a file */
    char *api_key;     /* resolved; never logged or shown */
    char *anthropic_version;
    char *default_model;
    orc_model_config_t models[ORC_MODELS_MAX];
    int nmodels;
    int connect_timeout_ms;
    int first_byte_timeout_ms;
    int idle_timeout_ms;
    int total_timeout_ms;
    int max_inflight;       /* per worker */
    int default_max_tokens; /* when the provider requires max_tokens */
    bool enabled;
    bool configured; /* enabled and has a key (openai-compatible needs none) */
} orc_provider_config_t;

#define ORC_ALIASES_MAX 64

typedef struct {
    char *alias;  /* what clients send as "model" */
    char *target; /* "provider/model" */
} orc_alias_config_t;

typedef struct {
    orc_provider_config_t list[ORC_PROVIDERS_MAX];
    int n;
    orc_alias_config_t aliases[ORC_ALIASES_MAX];
    int naliases;
} orc_providers_config_t;

struct config_setting_t;

void orc_providers_config_defaults(orc_providers_config_t *p);
int orc_providers_config_read(orc_providers_config_t *p, const struct config_setting_t *list, char *err,
                              size_t errlen);
/* Keys from the environment (api_key_env and its _FILE variant) and the
 * OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GEMINI_BASE_URL, GROK_BASE_URL
 * overrides of the providers of those names. */
int orc_providers_config_env(orc_providers_config_t *p, char *err, size_t errlen);
int orc_providers_config_read_aliases(orc_providers_config_t *p, const struct config_setting_t *list,
                                      char *err, size_t errlen);
void orc_providers_config_free(orc_providers_config_t *p);

const orc_provider_config_t *orc_providers_config_find(const orc_providers_config_t *p, const char *name);
const orc_model_config_t *orc_provider_config_model(const orc_provider_config_t *p, const char *id);

#endif
