/*
 * pg_url.c - DATABASE_URL in the forms users write it: postgresql://,
 * postgres:// and SQLAlchemy's postgresql+DRIVER:// of the Docker
 * documentation (postgresql+asyncpg://...).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/orc.h"
#include "common/pg_url.h"
#include "common/url.h"
#include "common/util.h"

/* ---- URL ------------------------------------------------------------------ */

static int url_scheme(const char *url, char *err, size_t errlen)
{
    const char *sep = strstr(url, "://");
    size_t n = sep ? (size_t)(sep - url) : 0;
    bool postgres =
        (n == 10 && strncasecmp(url, "postgresql", 10) == 0) ||
        (n == 8 && strncasecmp(url, "postgres", 8) == 0) ||
        (n > 11 && strncasecmp(url, "postgresql+", 11) == 0); /* SQLAlchemy: +asyncpg, +psycopg2 */
    if (!postgres)
        snprintf(err, errlen,
                 "unsupported URL \"%.*s...\" (expected postgresql://user:password@host:port/db)",
                 (int)ORC_MIN(n, 24), url);
    return postgres ? ORC_OK : ORC_ERR;
}

static int url_query(const char *query, orc_pg_url_t *out, char *err, size_t errlen)
{
    static const char *modes[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    if (query[0] == '\0')
        return ORC_OK;
    if (strncmp(query, "sslmode=", 8) != 0 || strchr(query, '&') != NULL) {
        snprintf(err, errlen, "the only URL parameter understood is sslmode=");
        return ORC_ERR;
    }
    for (size_t i = 0; i < ORC_ARRAY_LEN(modes); i++)
        if (strcmp(query + 8, modes[i]) == 0) {
            snprintf(out->sslmode, sizeof(out->sslmode), "%s", modes[i]);
            return ORC_OK;
        }
    snprintf(err, errlen, "sslmode must be disable, allow, prefer, require, verify-ca or verify-full");
    return ORC_ERR;
}

static int url_fields(CURLU *u, void *arg, char *err, size_t errlen)
{
    orc_pg_url_t *out = arg;
    char port[16], path[160], query[64];
    bool has_host, has, has_port, has_query;
    long p = 0;
    if (orc_url_get(u, CURLUPART_HOST, CURLU_URLDECODE, out->host, sizeof(out->host), &has_host) != ORC_OK ||
        !has_host || out->host[0] == '\0') {
        snprintf(err, errlen, "the URL has no host (or it is too long)");
        return ORC_ERR;
    }
    if (orc_url_get(u, CURLUPART_USER, CURLU_URLDECODE, out->user, sizeof(out->user), &has) != ORC_OK ||
        orc_url_get(u, CURLUPART_PASSWORD, CURLU_URLDECODE, out->password, sizeof(out->password), &has) !=
            ORC_OK) {
        snprintf(err, errlen, "the URL's user name or password is too long");
        return ORC_ERR;
    }
    orc_url_get(u, CURLUPART_PORT, 0, port, sizeof(port), &has_port);
    if (has_port && orc_parse_int(port, 1, 65535, &p) != ORC_OK) {
        snprintf(err, errlen, "the URL's port must be 1..65535");
        return ORC_ERR;
    }
    out->port = has_port ? (int)p : ORC_PG_DEFAULT_PORT;
    if (orc_url_get(u, CURLUPART_PATH, CURLU_URLDECODE, path, sizeof(path), &has) != ORC_OK ||
        strlen(path) > sizeof(out->dbname)) {
        snprintf(err, errlen, "the URL's database name is too long");
        return ORC_ERR;
    }
    const char *name = path[0] == '/' ? path + 1 : path;
    memcpy(out->dbname, name, strlen(name) + 1); /* fits: checked above */
    if (orc_url_get(u, CURLUPART_QUERY, 0, query, sizeof(query), &has_query) != ORC_OK) {
        snprintf(err, errlen, "the URL's parameters are too long");
        return ORC_ERR;
    }
    return url_query(query, out, err, errlen);
}

int orc_pg_parse_url(const char *url, orc_pg_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL || url_scheme(url, err, errlen) != ORC_OK)
        return ORC_ERR;
    int rc = orc_url_parse(url, "postgresql://user:password@host:port/db", url_fields, out, err, errlen);
    if (rc == ORC_OK)
        orc_url_unbracket(out->host);
    if (rc != ORC_OK)
        explicit_bzero(out, sizeof(*out));
    return rc;
}
