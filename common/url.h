/*
 * url.h - pieces of a URL parsed by libcurl's URL API, copied into
 * fixed-size buffers.
 */
#ifndef ORC_URL_H
#define ORC_URL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* Copies PART (curl_url_get FLAGS, e.g. CURLU_URLDECODE) into DST.
 * *PRESENT says whether the URL has it; ORC_ERR when it does not fit
 * (DST is then ""). */
int orc_url_get(CURLU *u, CURLUPart part, unsigned flags, char *dst, size_t size, bool *present);

/* Parses URL with libcurl (any scheme) and hands the parts to FIELDS;
 * "not a valid URL (expected EXPECTED)" when libcurl refuses it. */
typedef int (*orc_url_fields_fn)(CURLU *u, void *out, char *err, size_t errlen);
int orc_url_parse(const char *url, const char *expected, orc_url_fields_fn fields, void *out, char *err,
                  size_t errlen);

/* URL without what may carry a secret, for display: user and password
 * become "REDACTED@", the query "?REDACTED"; the fragment is dropped.
 * What libcurl cannot parse is shown as "(not a valid URL)". */
void orc_url_redacted(const char *url, char *dst, size_t size);

/* "[::1]" becomes "::1" in place; anything else is left alone. */
void orc_url_unbracket(char *host);

#endif
