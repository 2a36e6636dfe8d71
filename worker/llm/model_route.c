/*
 * model_route.c - resolution of a requested model name (see the header).
 */
#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "worker/llm/model_route.h"

static void add(orc_model_route_t *r, int provider, const char *model)
{
    r->providers[r->n] = provider;
    snprintf(r->models[r->n], sizeof(r->models[0]), "%s", model);
    r->n++;
}

static int fail(int *status, const char **code, int st, const char *c, char *err, size_t errlen,
                const char *fmt, const char *arg)
{
    *status = st;
    *code = c;
    snprintf(err, errlen, fmt, arg);
    return ORC_ERR;
}

static int find(const orc_providers_config_t *pc, const char *name, size_t len)
{
    for (int i = 0; i < pc->n; i++)
        if (strlen(pc->list[i].name) == len && strncmp(pc->list[i].name, name, len) == 0)
            return i;
    return -1;
}

static int route_auto(const orc_providers_config_t *pc, orc_model_route_t *r, int *status, const char **code,
                      char *err, size_t errlen)
{
    r->automatic = true;
    for (int i = 0; i < pc->n; i++)
        if (pc->list[i].configured)
            add(r, i, pc->list[i].default_model);
    if (r->n == 0)
        return fail(status, code, 503, "no_provider", err, errlen, "%s", "no LLM provider is configured");
    return ORC_OK;
}

static int route_pinned(const orc_providers_config_t *pc, const char *model, int idx, orc_model_route_t *r,
                        int *status, const char **code, char *err, size_t errlen)
{
    const char *rest = strchr(model, '/') + 1;
    if (*rest == '\0')
        return fail(status, code, 404, "model_not_found", err, errlen, "The model `%s` does not exist",
                    model);
    if (!pc->list[idx].configured)
        return fail(status, code, 400, "provider_not_configured", err, errlen,
                    "The provider `%s` is not configured (its API key is not set)", pc->list[idx].name);
    add(r, idx, rest);
    return ORC_OK;
}

static const char *alias_target(const orc_providers_config_t *pc, const char *model)
{
    for (int i = 0; i < pc->naliases; i++)
        if (strcmp(pc->aliases[i].alias, model) == 0)
            return pc->aliases[i].target;
    return NULL;
}

int orc_model_route(const orc_providers_config_t *pc, const char *model, orc_model_route_t *r, int *status,
                    const char **code, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (strcmp(model, "auto") == 0)
        return route_auto(pc, r, status, code, err, errlen);
    const char *target = alias_target(pc, model);
    if (target != NULL)
        model = target;
    const char *slash = strchr(model, '/');
    int idx = slash ? find(pc, model, (size_t)(slash - model)) : -1;
    if (idx >= 0)
        return route_pinned(pc, model, idx, r, status, code, err, errlen);
    int configured = -1, nconfigured = 0;
    for (int i = 0; i < pc->n; i++) {
        if (!pc->list[i].configured)
            continue;
        nconfigured++;
        configured = i;
        if (orc_provider_config_model(&pc->list[i], model) != NULL) {
            add(r, i, model);
            return ORC_OK;
        }
    }
    if (nconfigured == 1) {
        add(r, configured, model);
        return ORC_OK;
    }
    if (nconfigured == 0)
        return fail(status, code, 503, "no_provider", err, errlen, "%s", "no LLM provider is configured");
    return fail(status, code, 404, "model_not_found", err, errlen, "The model `%s` does not exist", model);
}
