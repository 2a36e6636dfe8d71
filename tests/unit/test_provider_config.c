#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/provider_config.h"
#include "tests/unit/helpers.h"

static void clear_env(void)
{
    static const char *vars[] = {"OPENAI_API_KEY",
                                 "OPENAI_API_KEY_FILE",
                                 "ANTHROPIC_API_KEY",
                                 "GEMINI_API_KEY",
                                 "GROK_API_KEY",
                                 "OPENAI_BASE_URL",
                                 "ANTHROPIC_BASE_URL",
                                 "GEMINI_BASE_URL",
                                 "GROK_BASE_URL",
                                 "TEST_EU_KEY",
                                 "TEST_CLAUDE_KEY",
                                 "HOST",
                                 "PORT"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

TestSuite(provider_config, .init = clear_env, .timeout = 10);

static char *write_conf(const char *text)
{
    static char path[256];
    int fd = test_temp_file(path, sizeof(path), "providers-conf");
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static orc_config_t *load_text(const char *text, char *err, size_t errlen)
{
    char *path = write_conf(text);
    orc_config_t *cfg = orc_config_load(path, err, errlen);
    unlink(path);
    return cfg;
}

Test(provider_config, defaults_are_the_four_vendors_unconfigured)
{
    char err[512];
    orc_config_t *cfg = orc_config_load(NULL, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->providers.n, 4);
    const char *names[] = {"openai", "anthropic", "gemini", "grok"};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(cfg->providers.list[i].name, names[i]);
        cr_assert_str_eq(cfg->providers.list[i].type, names[i]);
        cr_assert(!cfg->providers.list[i].configured);
        cr_assert(cfg->providers.list[i].nmodels > 0);
    }
    cr_assert_str_eq(cfg->providers.list[0].base_url, "https://api.openai.com/v1");
    cr_assert_str_eq(cfg->providers.list[0].default_model, "gpt-4o-mini");
    const orc_model_config_t *m = orc_provider_config_model(&cfg->providers.list[0], "gpt-4o-mini");
    cr_assert_not_null(m);
    cr_assert_float_eq(m->input, 0.15, 1e-9);
    cr_assert_float_eq(m->output, 0.60, 1e-9);
    orc_config_free(cfg);
}

Test(provider_config, keys_and_base_urls_from_the_environment)
{
    char err[512];
    setenv("OPENAI_API_KEY", "sk-one", 1);
    setenv("GROK_BASE_URL", "http://127.0.0.1:9999/xai/v1/", 1);
    orc_config_t *cfg = orc_config_load(NULL, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert(cfg->providers.list[0].configured);
    cr_assert_str_eq(cfg->providers.list[0].api_key, "sk-one");
    cr_assert(!cfg->providers.list[1].configured);
    cr_assert_str_eq(cfg->providers.list[3].base_url, "http://127.0.0.1:9999/xai/v1");
    orc_config_free(cfg);
}

Test(provider_config, key_file_wins_over_the_variable)
{
    char err[512], path[256];
    int fd = test_temp_file(path, sizeof(path), "key");
    cr_assert_eq(write(fd, "sk-from-file\r\n", 14), 14);
    close(fd);
    setenv("OPENAI_API_KEY", "sk-variable", 1);
    setenv("OPENAI_API_KEY_FILE", path, 1);
    orc_config_t *cfg = orc_config_load(NULL, err, sizeof(err));
    unlink(path);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->providers.list[0].api_key, "sk-from-file");
    orc_config_free(cfg);
}

Test(provider_config, missing_key_file_is_an_error_without_the_key)
{
    char err[512];
    setenv("OPENAI_API_KEY_FILE", "/nonexistent/key", 1);
    orc_config_t *cfg = orc_config_load(NULL, err, sizeof(err));
    cr_assert_null(cfg);
    cr_assert(strstr(err, "OPENAI_API_KEY_FILE") != NULL, "%s", err);
}

Test(provider_config, bad_base_url_variable)
{
    char err[512];
    setenv("ANTHROPIC_BASE_URL", "ftp://nope", 1);
    cr_assert_null(orc_config_load(NULL, err, sizeof(err)));
    cr_assert(strstr(err, "environment ANTHROPIC_BASE_URL") != NULL, "%s", err);
}

Test(provider_config, a_file_list_replaces_the_defaults)
{
    char err[512], path[512];
    snprintf(path, sizeof(path), "%s/providers.conf", ORC_TEST_DATA);
    setenv("TEST_EU_KEY", "sk-eu", 1);
    setenv("TEST_CLAUDE_KEY", "sk-claude", 1);
    orc_config_t *cfg = orc_config_load(path, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->providers.n, 3);
    const orc_provider_config_t *eu = orc_providers_config_find(&cfg->providers, "openai-eu");
    cr_assert_not_null(eu);
    cr_assert_str_eq(eu->base_url, "https://eu.example.test/v1");
    cr_assert_str_eq(eu->api_key, "sk-eu");
    cr_assert(eu->configured);
    cr_assert_eq(eu->nmodels, 2);
    cr_assert_float_eq(orc_provider_config_model(eu, "cheap")->output, 2.0, 1e-9);
    cr_assert_eq(eu->connect_timeout_ms, 1500);
    cr_assert_eq(eu->first_byte_timeout_ms, 20000);
    cr_assert_eq(eu->idle_timeout_ms, 9000);
    cr_assert_eq(eu->total_timeout_ms, 120000);
    cr_assert_eq(eu->max_inflight, 7);
    cr_assert_eq(eu->default_max_tokens, 2048);
    const orc_provider_config_t *local = orc_providers_config_find(&cfg->providers, "local");
    cr_assert(local->configured, "openai-compatible needs no key");
    const orc_provider_config_t *claude = orc_providers_config_find(&cfg->providers, "claude");
    cr_assert(!claude->enabled && !claude->configured);
    cr_assert_null(orc_providers_config_find(&cfg->providers, "openai"));
    orc_config_free(cfg);
}

static void expect_error(const char *text, const char *needle, int line)
{
    char err[512] = "";
    orc_config_t *cfg = load_text(text, err, sizeof(err));
    cr_assert_null(cfg, "accepted: %s", text);
    cr_assert(strstr(err, needle) != NULL, "error '%s' lacks '%s'", err, needle);
    char at[16];
    snprintf(at, sizeof(at), ":%d: ", line);
    cr_assert(strstr(err, at) != NULL, "error '%s' lacks line %d", err, line);
}

Test(provider_config, errors_name_the_line)
{
    expect_error("providers = ( { name = \"a\"; type = \"openai\"; base_url = \"http://x\"; bogus = 1; } );",
                 "unknown setting 'bogus'", 1);
    expect_error("providers = (\n { name = \"a\"; type = \"gpt\"; base_url = \"http://x\"; } );",
                 "type 'gpt'", 2);
    expect_error("providers = ( { name = \"a\"; type = \"openai\"; base_url = \"x\"; } );", "http://", 1);
    expect_error("providers = ( { type = \"openai\"; base_url = \"http://x\"; } );", "'name' is required", 1);
    expect_error("providers = ( { name = \"a/b\"; type = \"openai\"; base_url = \"http://x\"; } );",
                 "name must", 1);
    expect_error(
        "providers = ( { name = \"a\"; type = \"openai\"; base_url = \"http://x\"; max_inflight = 0; } );",
        "max_inflight", 1);
    expect_error("providers = ( { name = \"a\"; type = \"openai\"; base_url = \"http://x\";\n"
                 " models = ( { id = \"m\"; input = \"cheap\"; } ); } );",
                 "must be a number", 2);
    expect_error("providers = ( { name = \"a\"; type = \"openai\"; base_url = \"http://x\"; },\n"
                 " { name = \"a\"; type = \"gemini\"; base_url = \"http://y\"; } );",
                 "used twice", 2);
    expect_error("providers = { name = \"a\"; };", "must be a list", 1);
}

Test(provider_config, retry_settings_are_checked)
{
    char err[512];
    cr_assert_null(load_text("llm = { retry_base_ms = 900; retry_max_ms = 100; };", err, sizeof(err)));
    cr_assert(strstr(err, "retry_max_ms") != NULL, "%s", err);
    orc_config_t *cfg =
        load_text("llm = { max_retries = 0; retry_base_ms = 10; retry_max_ms = 20; };", err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->llm_max_retries, 0);
    orc_config_free(cfg);
}

static char *repeat_groups(const char *head, const char *fmt, int n, const char *tail)
{
    size_t cap = strlen(head) + strlen(tail) + (size_t)n * (strlen(fmt) + 32) + 1;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    size_t len = (size_t)sprintf(s, "%s", head);
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, fmt, i ? "," : "", i);
    strcpy(s + len, tail);
    return s;
}

Test(provider_config, count_limits)
{
    char err[512];
    char *p17 = repeat_groups("providers = (",
                              "%s{ name = \"p%d\"; type = \"openai\"; base_url = \"http://x\"; }", 17, ");");
    cr_assert_null(load_text(p17, err, sizeof(err)));
    cr_assert(strstr(err, "at most 16 providers") != NULL, "%s", err);
    free(p17);
    char *p16 = repeat_groups("providers = (",
                              "%s{ name = \"p%d\"; type = \"openai\"; base_url = \"http://x\"; }", 16, ");");
    orc_config_t *cfg = load_text(p16, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->providers.n, 16);
    orc_config_free(cfg);
    free(p16);
    char *m33 =
        repeat_groups("providers = ( { name = \"a\"; type = \"openai\"; base_url = \"http://x\"; models = (",
                      "%s{ id = \"m%d\"; }", 33, "); } );");
    cr_assert_null(load_text(m33, err, sizeof(err)));
    cr_assert(strstr(err, "at most 32 models") != NULL, "%s", err);
    free(m33);
    char *a65 = repeat_groups("model_aliases = (", "%s{ alias = \"a%d\"; model = \"openai/x\"; }", 65, ");");
    cr_assert_null(load_text(a65, err, sizeof(err)));
    cr_assert(strstr(err, "at most 64 model aliases") != NULL, "%s", err);
    free(a65);
}
