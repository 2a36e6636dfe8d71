/*
 * model_route.h - which provider and model serve a client's "model".
 *
 *   "provider/model"   that provider, that model
 *   an alias           its configured "provider/model"
 *   "auto"             every configured provider in order, default models
 *                      (the first answers, the others are fallbacks)
 *   a bare name        the first configured provider listing it in its
 *                      models; else, when exactly one provider is
 *                      configured, that one with the name unchanged
 * Pure: reads the configuration only.
 */
#ifndef ORC_MODEL_ROUTE_H
#define ORC_MODEL_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/provider_config.h"

typedef struct {
    int providers[ORC_PROVIDERS_MAX]; /* indexes in the provider configuration */
    char models[ORC_PROVIDERS_MAX][128];
    int n;
    bool automatic;
} orc_model_route_t;

/* ORC_OK, or ORC_ERR with *STATUS (400, 404, 503), *CODE and ERR. */
int orc_model_route(const orc_providers_config_t *pc, const char *model, orc_model_route_t *out, int *status,
                    const char **code, char *err, size_t errlen);

#endif
