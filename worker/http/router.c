/*
 * router.c - segment-by-segment matching of request paths.
 */
#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "worker/http/router.h"

/* Matches one pattern against PATH (no query string); captures params. */
static bool pattern_match(const char *pattern, const char *path, orc_route_match_t *m)
{
    const char *p = pattern, *s = path;
    int nparams = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t len = strcspn(s, "/");
            if (close == NULL || len == 0 || len >= ORC_ROUTE_PARAM_SIZE || nparams >= ORC_ROUTE_PARAMS_MAX)
                return false;
            memcpy(m->params[nparams], s, len);
            m->params[nparams][len] = '\0';
            nparams++;
            p = close + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p != '\0' || *s != '\0')
        return false;
    m->nparams = nparams;
    return true;
}

void orc_router_match(const orc_route_t *table, size_t n, unsigned method, const char *path,
                      orc_route_match_t *m)
{
    orc_route_match_t probe;
    m->route = -1;
    m->allow = 0;
    m->nparams = 0;
    for (size_t i = 0; i < n; i++) {
        if (table[i].pattern == NULL || !pattern_match(table[i].pattern, path, &probe))
            continue;
        m->allow |= table[i].methods;
        if ((table[i].methods & method) && m->route < 0) {
            *m = (orc_route_match_t){.route = (int)i, .allow = m->allow, .nparams = probe.nparams};
            memcpy(m->params, probe.params, sizeof(probe.params));
        }
    }
}

int orc_router_allow_header(unsigned allow, char *buf, size_t size)
{
    static const char *names[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ORC_ARRAY_LEN(names); i++) {
        if (!(allow & (1u << i)))
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - used)
            return ORC_ERR;
        used += (size_t)w;
    }
    return ORC_OK;
}
