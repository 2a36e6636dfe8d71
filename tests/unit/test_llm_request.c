#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/provider_config.h"
#include "worker/api/llm_request.h"

static orc_providers_config_t pc;

static void setup(void)
{
    memset(&pc, 0, sizeof(pc));
    orc_providers_config_defaults(&pc);
}

static void teardown(void)
{
    orc_providers_config_free(&pc);
}

TestSuite(llm_request, .init = setup, .fini = teardown, .timeout = 10);

static int parse(const char *text, orc_orchestration_t *o, char *err, size_t errlen)
{
    json_object *body = json_tokener_parse(text);
    int rc = orc_orchestration_parse(body, &pc, o, err, errlen);
    json_object_put(body);
    return rc;
}

static void expect_400(const char *text, const char *needle)
{
    orc_orchestration_t o;
    char err[512] = "";
    cr_assert_eq(parse(text, &o, err, sizeof(err)), -1, "accepted %s", text);
    cr_assert(strstr(err, needle) != NULL, "'%s' lacks '%s' for %s", err, needle, text);
}

Test(llm_request, defaults_of_the_original_api)
{
    orc_orchestration_t o;
    char err[512];
    cr_assert_eq(parse("{\"prompt\":\"hello\"}", &o, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(
        json_object_to_json_string_ext(o.request, JSON_C_TO_STRING_PLAIN),
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":1000,\"temperature\":0.7}");
    cr_assert(!o.stream && !o.explicit_providers && o.nproviders == 0 && o.model[0] == '\0');
    orc_orchestration_free(&o);
}

Test(llm_request, full_body)
{
    orc_orchestration_t o;
    char err[512];
    cr_assert_eq(
        parse("{\"prompt\":\"q\",\"providers\":[\"gemini\",\"openai\"],\"max_tokens\":5,"
              "\"temperature\":0,\"stream\":true,\"system\":\"s\",\"session_id\":\"abc\",\"model\":\"m1\"}",
              &o, err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(o.nproviders, 2);
    cr_assert_eq(o.providers[0], 2);
    cr_assert_eq(o.providers[1], 0);
    cr_assert(o.explicit_providers && o.stream);
    cr_assert_str_eq(o.model, "m1");
    cr_assert_str_eq(o.session_id, "abc");
    cr_assert_str_eq(
        json_object_to_json_string_ext(o.request, JSON_C_TO_STRING_PLAIN),
        "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"q\"}],"
        "\"max_tokens\":5,\"temperature\":0}");
    orc_orchestration_free(&o);
}

Test(llm_request, provider_slash_model_pins_the_provider)
{
    orc_orchestration_t o;
    char err[512];
    cr_assert_eq(parse("{\"prompt\":\"q\",\"model\":\"anthropic/claude-opus-5\"}", &o, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert(o.explicit_providers);
    cr_assert_eq(o.nproviders, 1);
    cr_assert_eq(o.providers[0], 1);
    cr_assert_str_eq(o.model, "claude-opus-5");
    orc_orchestration_free(&o);
    cr_assert_eq(parse("{\"prompt\":\"q\",\"model\":\"meta-llama/Llama-3\"}", &o, err, sizeof(err)), 0);
    cr_assert_str_eq(o.model, "meta-llama/Llama-3");
    cr_assert(!o.explicit_providers);
    orc_orchestration_free(&o);
}

Test(llm_request, messages_instead_of_prompt)
{
    orc_orchestration_t o;
    char err[512];
    cr_assert_eq(
        parse(
            "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":null},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"b\"}]}]}",
            &o, err, sizeof(err)),
        0, "%s", err);
    json_object *msgs;
    json_object_object_get_ex(o.request, "messages", &msgs);
    cr_assert_eq(json_object_array_length(msgs), 3);
    orc_orchestration_free(&o);
}

Test(llm_request, validation_errors)
{
    expect_400("[]", "JSON object");
    expect_400("{}", "prompt is required");
    expect_400("{\"prompt\":\"\"}", "empty");
    expect_400("{\"prompt\":\" \\n\\t\"}", "empty");
    expect_400("{\"prompt\":1}", "string");
    expect_400("{\"prompt\":\"x\",\"providers\":[]}", "1 to 16");
    expect_400("{\"prompt\":\"x\",\"providers\":\"openai\"}", "array");
    expect_400("{\"prompt\":\"x\",\"providers\":[1]}", "names");
    expect_400("{\"prompt\":\"x\",\"providers\":[\"zz\"]}",
               "unknown provider 'zz'; known: openai, anthropic");
    expect_400("{\"prompt\":\"x\",\"providers\":[\"grok\",\"grok\"]}", "twice");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":0}", "between 1 and");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":1.5}", "integer");
    expect_400("{\"prompt\":\"x\",\"max_tokens\":1000001}", "between");
    expect_400("{\"prompt\":\"x\",\"temperature\":-0.1}", "temperature");
    expect_400("{\"prompt\":\"x\",\"temperature\":\"hot\"}", "number");
    expect_400("{\"prompt\":\"x\",\"stream\":1}", "stream");
    expect_400("{\"prompt\":\"x\",\"system\":[]}", "system");
    expect_400("{\"prompt\":\"x\",\"model\":\"\"}", "model");
    expect_400("{\"prompt\":\"x\",\"session_id\":5}", "session_id");
    expect_400("{\"messages\":[]}", "1 to 10000");
    expect_400("{\"messages\":[{\"content\":\"x\"}]}", "role");
    expect_400("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "content");
    expect_400("{\"prompt\":\"x\",\"providers\":[\"openai\"],\"model\":\"gemini/gemini-2.5-pro\"}",
               "does not hold");
}

static char *big_prompt_body(size_t n)
{
    char *body = malloc(n + 32);
    cr_assert_not_null(body);
    strcpy(body, "{\"prompt\":\"");
    memset(body + 11, 'a', n);
    strcpy(body + 11 + n, "\"}");
    return body;
}

Test(llm_request, prompt_length_limit)
{
    orc_orchestration_t o;
    char err[512];
    char *ok = big_prompt_body(ORC_PROMPT_MAX);
    cr_assert_eq(parse(ok, &o, err, sizeof(err)), 0, "%s", err);
    orc_orchestration_free(&o);
    free(ok);
    char *over = big_prompt_body(ORC_PROMPT_MAX + 1);
    expect_400(over, "longer than 200000");
    free(over);
}

Test(llm_request, message_count_limit)
{
    json_object *body = json_object_new_object(), *msgs = json_object_new_array();
    for (int i = 0; i < 10001; i++) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "role", json_object_new_string("user"));
        json_object_object_add(m, "content", json_object_new_string("x"));
        json_object_array_add(msgs, m);
    }
    json_object_object_add(body, "messages", msgs);
    orc_orchestration_t o;
    char err[512] = "";
    cr_assert_eq(orc_orchestration_parse(body, &pc, &o, err, sizeof(err)), -1);
    cr_assert(strstr(err, "1 to 10000") != NULL, "%s", err);
    json_object_array_del_idx(msgs, 0, 1); /* exactly 10000 */
    cr_assert_eq(orc_orchestration_parse(body, &pc, &o, err, sizeof(err)), 0, "%s", err);
    orc_orchestration_free(&o);
    json_object_put(body);
}
