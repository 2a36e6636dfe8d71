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
