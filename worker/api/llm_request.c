/*
 * llm_request.c - the body of /api/llm/orchestrate: {prompt, providers,
 * max_tokens, temperature, stream} as in the original API, plus model,
 * messages, system and session_id.  Every field is type- and
 * range-checked; unknown fields are ignored, as the original did.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "worker/api/llm_request.h"

static const char *roles[] = {"system", "developer", "user", "assistant", "tool"};

static int bad(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return ORC_ERR;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

static int check_messages(json_object *msgs, char *err, size_t errlen)
{
    size_t n = json_object_array_length(msgs);
    if (n == 0 || n > 10000)
        return bad(err, errlen, "messages must hold 1 to 10000 messages");
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i), *role, *content;
        bool known = false;
        if (!json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, "role", &role) ||
            !json_object_is_type(role, json_type_string))
            return bad(err, errlen, "each message must be an object with a string role");
        for (size_t r = 0; r < ORC_ARRAY_LEN(roles); r++)
            known |= strcmp(json_object_get_string(role), roles[r]) == 0;
        if (!known)
            return bad(err, errlen, "message role must be system, developer, user, assistant or tool");
        if (json_object_object_get_ex(m, "content", &content) && content != NULL &&
            !json_object_is_type(content, json_type_string) && !json_object_is_type(content, json_type_array))
            return bad(err, errlen, "message content must be a string, an array of parts, or null");
    }
    return ORC_OK;
}

static json_object *user_message(const char *role, const char *text)
{
    json_object *m = json_object_new_object();
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", json_object_new_string(text));
    return m;
}

/* messages: the given ones, or [system?, user prompt]. */
static int build_messages(json_object *body, json_object *req, char *err, size_t errlen)
{
    json_object *prompt = NULL, *msgs = NULL, *system = NULL;
    json_object_object_get_ex(body, "prompt", &prompt);
    json_object_object_get_ex(body, "messages", &msgs);
    json_object_object_get_ex(body, "system", &system);
    if (system != NULL && !json_object_is_type(system, json_type_string))
        return bad(err, errlen, "system must be a string");
    json_object *out = json_object_new_array();
    json_object_object_add(req, "messages", out);
    if (system != NULL && !blank(json_object_get_string(system)))
        json_object_array_add(out, user_message("system", json_object_get_string(system)));
    if (msgs != NULL) {
        if (!json_object_is_type(msgs, json_type_array))
            return bad(err, errlen, "messages must be an array");
        if (check_messages(msgs, err, errlen) != ORC_OK)
            return ORC_ERR;
        for (size_t i = 0; i < json_object_array_length(msgs); i++)
            json_object_array_add(out, json_object_get(json_object_array_get_idx(msgs, i)));
    }
    if (prompt == NULL && msgs == NULL)
        return bad(err, errlen, "prompt is required (a non-empty string), or messages");
    if (prompt != NULL) {
        if (!json_object_is_type(prompt, json_type_string))
            return bad(err, errlen, "prompt must be a string");
        const char *p = json_object_get_string(prompt);
        if (blank(p))
            return bad(err, errlen, "prompt must not be empty");
        if (strlen(p) > ORC_PROMPT_MAX)
            return bad(err, errlen, "prompt is longer than 200000 characters");
        json_object_array_add(out, user_message("user", p));
    }
    return ORC_OK;
}

static int number_field(json_object *body, const char *key, double min, double max, bool integer, double def,
                        double *out, char *err, size_t errlen)
{
    json_object *v;
    *out = def;
    if (!json_object_object_get_ex(body, key, &v) || v == NULL)
        return ORC_OK;
    bool is_int = json_object_is_type(v, json_type_int);
    if (!is_int && (integer || !json_object_is_type(v, json_type_double))) {
        snprintf(err, errlen, "%s must be %s", key, integer ? "an integer" : "a number");
        return ORC_ERR;
    }
    double d = is_int ? (double)json_object_get_int64(v) : json_object_get_double(v);
    if (!isfinite(d) || d < min || d > max) {
        snprintf(err, errlen, "%s must be between %g and %g", key, min, max);
        return ORC_ERR;
    }
    *out = d;
    return ORC_OK;
}

static int find_provider(const orc_providers_config_t *pc, const char *name)
{
    for (int i = 0; i < pc->n; i++)
        if (strcmp(pc->list[i].name, name) == 0)
            return i;
    return -1;
}

static int unknown_provider(const orc_providers_config_t *pc, const char *name, char *err, size_t errlen)
{
    size_t n = (size_t)snprintf(err, errlen, "unknown provider '%.40s'; known:", name);
    for (int i = 0; i < pc->n && n < errlen; i++)
        n += (size_t)snprintf(err + n, errlen - n, "%s %s", i ? "," : "", pc->list[i].name);
    return ORC_ERR;
}

static int parse_providers(json_object *body, const orc_providers_config_t *pc, orc_orchestration_t *o,
                           char *err, size_t errlen)
{
    json_object *list;
    if (!json_object_object_get_ex(body, "providers", &list) || list == NULL)
        return ORC_OK;
    if (!json_object_is_type(list, json_type_array))
        return bad(err, errlen, "providers must be an array of provider names");
    size_t n = json_object_array_length(list);
    if (n == 0 || n > ORC_PROVIDERS_MAX)
        return bad(err, errlen, "providers must name 1 to 16 providers");
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(list, i);
        if (!json_object_is_type(v, json_type_string))
            return bad(err, errlen, "providers must be an array of provider names");
        int idx = find_provider(pc, json_object_get_string(v));
        if (idx < 0)
            return unknown_provider(pc, json_object_get_string(v), err, errlen);
        for (int j = 0; j < o->nproviders; j++)
            if (o->providers[j] == idx)
                return bad(err, errlen, "providers must not name a provider twice");
        o->providers[o->nproviders++] = idx;
    }
    o->explicit_providers = true;
    return ORC_OK;
}

/* "provider/model" pins the provider; a bare name applies to each one. */
static int parse_model(json_object *body, const orc_providers_config_t *pc, orc_orchestration_t *o, char *err,
                       size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(body, "model", &v) || v == NULL)
        return ORC_OK;
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        json_object_get_string_len(v) >= (int)sizeof(o->model))
        return bad(err, errlen, "model must be a non-empty string of at most 127 characters");
    const char *m = json_object_get_string(v), *slash = strchr(m, '/');
    snprintf(o->model, sizeof(o->model), "%s", m);
    if (slash == NULL)
        return ORC_OK;
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)ORC_MIN((size_t)(slash - m), sizeof(name) - 1), m);
    int idx = find_provider(pc, name);
    if (idx < 0)
        return ORC_OK; /* a model id with a slash of its own (self-hosted servers) */
    if (o->explicit_providers && (o->nproviders != 1 || o->providers[0] != idx))
        return bad(err, errlen, "model names a provider that the providers list does not hold");
    o->providers[0] = idx;
    o->nproviders = 1;
    o->explicit_providers = true;
    snprintf(o->model, sizeof(o->model), "%s", slash + 1);
    return ORC_OK;
}

static int parse_flags(json_object *body, orc_orchestration_t *o, char *err, size_t errlen)
{
    json_object *v;
    if (json_object_object_get_ex(body, "stream", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_boolean))
            return bad(err, errlen, "stream must be true or false");
        o->stream = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(body, "session_id", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 128)
            return bad(err, errlen, "session_id must be a string of at most 128 characters");
        snprintf(o->session_id, sizeof(o->session_id), "%s", json_object_get_string(v));
    }
    if (json_object_object_get_ex(body, "mode", &v) && v != NULL) {
        const char *mode = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) ||
            (strcmp(mode, "sync") != 0 && strcmp(mode, "async") != 0))
            return bad(err, errlen, "mode must be \"sync\" or \"async\"");
        o->async = strcmp(mode, "async") == 0;
        if (o->async && o->stream)
            return bad(err, errlen,
                       "an asynchronous orchestration cannot stream: use mode \"sync\" with stream");
    }
    return ORC_OK;
}

int orc_orchestration_parse(json_object *body, const orc_providers_config_t *pc, orc_orchestration_t *o,
                            char *err, size_t errlen)
{
    double max_tokens, temperature;
    memset(o, 0, sizeof(*o));
    if (body == NULL || !json_object_is_type(body, json_type_object))
        return bad(err, errlen, "the body must be a JSON object");
    o->request = json_object_new_object();
    if (build_messages(body, o->request, err, errlen) != ORC_OK ||
        number_field(body, "max_tokens", 1, ORC_MAX_TOKENS_MAX, true, 1000, &max_tokens, err, errlen) !=
            ORC_OK ||
        number_field(body, "temperature", 0, 2, false, 0.7, &temperature, err, errlen) != ORC_OK ||
        parse_providers(body, pc, o, err, errlen) != ORC_OK ||
        parse_model(body, pc, o, err, errlen) != ORC_OK || parse_flags(body, o, err, errlen) != ORC_OK) {
        orc_orchestration_free(o);
        return ORC_ERR;
    }
    json_object_object_add(o->request, "max_tokens", json_object_new_int64((int64_t)max_tokens));
    char text[32];
    snprintf(text, sizeof(text), "%g", temperature);
    json_object_object_add(o->request, "temperature", json_object_new_double_s(temperature, text));
    return ORC_OK;
}

void orc_orchestration_free(orc_orchestration_t *o)
{
    json_object_put(o->request);
    o->request = NULL;
}
