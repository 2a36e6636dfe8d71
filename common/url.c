/*
 * url.c - copying parts of a libcurl-parsed URL.
 */
#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "common/url.h"

int orc_url_get(CURLU *u, CURLUPart part, unsigned flags, char *dst, size_t size, bool *present)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(u, part, &v, flags);
    *present = rc == CURLUE_OK && v != NULL;
    if (!*present) {
        dst[0] = '\0';
        return ORC_OK;
    }
    int fits = strlen(v) < size;
    snprintf(dst, size, "%s", fits ? v : "");
    curl_free(v);
    return fits ? ORC_OK : ORC_ERR;
}

int orc_url_parse(const char *url, const char *expected, orc_url_fields_fn fields, void *out, char *err,
                  size_t errlen)
{
    CURLU *u = curl_url();
    int rc = ORC_ERR;
    if (u == NULL)
        snprintf(err, errlen, "out of memory");
    else if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        snprintf(err, errlen, "not a valid URL (expected %s)", expected);
    else
        rc = fields(u, out, err, errlen);
    curl_url_cleanup(u);
    return rc;
}

void orc_url_unbracket(char *host)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
}

void orc_url_redacted(const char *url, char *dst, size_t size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *password = NULL,
         *query = NULL;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(dst, size, "(not a valid URL)");
    } else {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        curl_url_get(u, CURLUPART_USER, &user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0);
        curl_url_get(u, CURLUPART_QUERY, &query, 0);
        snprintf(dst, size, "%s://%s%s%s%s%s%s", scheme, user || password ? "REDACTED@" : "", host,
                 port ? ":" : "", port ? port : "", path ? path : "", query ? "?REDACTED" : "");
    }
    char *parts[] = {scheme, host, port, path, user, password, query};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        curl_free(parts[i]);
    curl_url_cleanup(u);
}
