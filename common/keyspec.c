/*
 * keyspec.c - the rules of a client key's settings (see keyspec.h): one
 * table of fields, one check per kind of value, the statement parameters,
 * and the JSON form of the admin API.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/apikey.h"
#include "common/keyspec.h"
#include "common/orc.h"
#include "common/util.h"

typedef int (*check_fn)(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                        size_t errlen);

static int check_name(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_patterns(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_scopes(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_limit(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_budget(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_period(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_expires(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);
static int check_metadata(const orc_keyspec_t *, orc_ks_field_t, const char *, time_t, char *, size_t);

/* JSON types the admin API takes for a field; NUMBER is an integer or a double. */
enum { STRING, INTEGER, NUMBER, LIST, OBJECT };

static const struct field {
    const char *json, *cli;
    check_fn check;
    int type;
    bool clearable;          /* "" (none) is allowed */
    const char *create_none; /* the value of a new key when the field is absent or none */
} fields[ORC_KS_NFIELDS] = {
    [ORC_KS_NAME] = {"name", "--name", check_name, STRING, false, NULL},
    [ORC_KS_TEAM] = {"team", "--team", check_name, STRING, true, NULL},
    [ORC_KS_MODELS] = {"models", "--models", check_patterns, LIST, true, ""},
    [ORC_KS_PROVIDERS] = {"providers", "--providers", check_patterns, LIST, true, ""},
    [ORC_KS_SCOPES] = {"scopes", "--scopes", check_scopes, LIST, false, "llm"},
    [ORC_KS_RPM] = {"rpm", "--rpm", check_limit, INTEGER, true, NULL},
    [ORC_KS_TPM] = {"tpm", "--tpm", check_limit, INTEGER, true, NULL},
    [ORC_KS_MAX_PARALLEL] = {"max_parallel", "--max-parallel", check_limit, INTEGER, true, NULL},
    [ORC_KS_BUDGET] = {"budget_usd", "--budget", check_budget, NUMBER, true, NULL},
    [ORC_KS_BUDGET_PERIOD] = {"budget_period", "--budget-period", check_period, STRING, false, "month"},
    [ORC_KS_EXPIRES] = {"expires_at", "--expires", check_expires, STRING, true, NULL},
    [ORC_KS_METADATA] = {"metadata", "--metadata", check_metadata, OBJECT, true, "{}"},
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return ORC_ERR;
}

const char *orc_keyspec_field_name(orc_ks_field_t f, bool cli)
{
    return cli ? fields[f].cli : fields[f].json;
}

int orc_keyspec_field_of(const char *name, bool cli)
{
    for (int f = 0; f < ORC_KS_NFIELDS; f++)
        if (strcmp(name, orc_keyspec_field_name((orc_ks_field_t)f, cli)) == 0)
            return f;
    return -1;
}

static const char *label(const orc_keyspec_t *s, orc_ks_field_t f)
{
    return orc_keyspec_field_name(f, s->cli);
}

/* ---- one check per kind of value ------------------------------------------------ */

static int check_name(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                      size_t errlen)
{
    (void)now;
    if (orc_apikey_name_valid(text))
        return ORC_OK;
    return fail(err, errlen, "%s must be 1 to %d printable ASCII characters without quotes or backslashes",
                label(s, f), ORC_APIKEY_NAME_MAX);
}

/* Calls ITEM_OK on each comma-separated item of TEXT (copied, NUL-terminated);
 * ORC_ERR with the 1-based number of the first bad item in *BAD (0: too many). */
static int each_item(const char *text, bool (*item_ok)(const char *), size_t *bad)
{
    size_t n = 0;
    for (const char *p = text;; p++) {
        char item[ORC_APIKEY_PATTERN_MAX + 1];
        size_t len = strcspn(p, ",");
        *bad = ++n;
        if (n > ORC_APIKEY_PATTERNS_MAX) {
            *bad = 0;
            return ORC_ERR;
        }
        if (len >= sizeof(item))
            return ORC_ERR;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!item_ok(item))
            return ORC_ERR;
        p += len;
        if (*p == '\0')
            return ORC_OK;
    }
}

static int check_patterns(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                          size_t errlen)
{
    size_t bad;
    (void)now;
    if (each_item(text, orc_glob_valid, &bad) == ORC_OK)
        return ORC_OK;
    if (bad == 0)
        return fail(err, errlen, "%s: at most %d patterns", label(s, f), ORC_APIKEY_PATTERNS_MAX);
    return fail(err, errlen,
                "%s: pattern %zu is not valid: 1 to %d characters of A-Z a-z 0-9 . _ : / @ - and the "
                "wildcards * ?",
                label(s, f), bad, ORC_APIKEY_PATTERN_MAX);
}

static bool scope_known(const char *name)
{
    return orc_scope_parse(name) != 0;
}

static int check_scopes(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                        size_t errlen)
{
    size_t bad;
    (void)now;
    if (text[0] == '\0')
        return fail(err, errlen, "%s must name at least one of llm, history, metrics, admin", label(s, f));
    if (each_item(text, scope_known, &bad) == ORC_OK)
        return ORC_OK;
    return fail(err, errlen, "%s: item %zu is not one of llm, history, metrics, admin", label(s, f),
                bad ? bad : (size_t)ORC_APIKEY_PATTERNS_MAX + 1);
}

static int check_limit(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                       size_t errlen)
{
    long v;
    (void)now;
    if (orc_parse_int(text, 1, ORC_KEYSPEC_LIMIT_MAX, &v) == ORC_OK)
        return ORC_OK;
    return fail(err, errlen, "%s must be an integer from 1 to %ld", label(s, f), ORC_KEYSPEC_LIMIT_MAX);
}

/* A decimal number from 0 to ORC_KEYSPEC_BUDGET_MAX: digits first, no sign, no hex, finite. */
static int parse_budget(const char *text, double *out)
{
    char *end = NULL;
    if (!(text[0] >= '0' && text[0] <= '9') || strlen(text) > 64 ||
        strspn(text, "0123456789.eE+-") != strlen(text))
        return ORC_ERR;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 || v > ORC_KEYSPEC_BUDGET_MAX)
        return ORC_ERR;
    *out = v;
    return ORC_OK;
}

static int check_budget(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                        size_t errlen)
{
    double v;
    (void)now;
    if (parse_budget(text, &v) == ORC_OK)
        return ORC_OK;
    return fail(err, errlen, "%s must be a number of US dollars from 0 to %.0f", label(s, f),
                ORC_KEYSPEC_BUDGET_MAX);
}

static int check_period(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                        size_t errlen)
{
    (void)now;
    if (strcmp(text, "day") == 0 || strcmp(text, "month") == 0 || strcmp(text, "total") == 0)
        return ORC_OK;
    return fail(err, errlen, "%s must be day, month or total", label(s, f));
}

static int check_expires(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                         size_t errlen)
{
    time_t t;
    if (orc_keyspec_time(text, now, true, &t) != ORC_OK)
        return fail(err, errlen,
                    "%s must be a time (2026-12-31, 2026-12-31T23:59:59Z, 2026-12-31T23:59:59+02:00) or a "
                    "duration from now (12h, 30d, 4w)",
                    label(s, f));
    if (t <= now)
        return fail(err, errlen, "%s must be in the future", label(s, f));
    if (t - now > (time_t)ORC_KEYSPEC_EXPIRES_MAX_DAYS * 86400)
        return fail(err, errlen, "%s must be at most %d days ahead", label(s, f),
                    ORC_KEYSPEC_EXPIRES_MAX_DAYS);
    return ORC_OK;
}

/* What json-c's strict mode still lets through and PostgreSQL's jsonb
 * refuses: outside strings, anything but structure, numbers and the letters
 * of true, false and null (NaN, Infinity, 'single quotes'), a point not
 * followed by a digit ("1."); inside strings, raw control characters and
 * \u0000. */
static bool jsonb_would_refuse(const char *text)
{
    bool in_string = false;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (!in_string && *p == '"')
            in_string = true;
        else if (!in_string && (strchr(" \t\r\n{}[]:,0123456789+-eE.truefalsn", *p) == NULL ||
                                (*p == '.' && !(p[1] >= '0' && p[1] <= '9'))))
            return true;
        else if (in_string && *p < 0x20)
            return true;
        else if (in_string && *p == '"')
            in_string = false;
        else if (in_string && *p == '\\') {
            if (strncmp((const char *)p + 1, "u0000", 5) == 0)
                return true;
            if (p[1] != '\0')
                p++;
        }
    }
    return false;
}

/* Strict JSON (no NaN, no trailing text, valid UTF-8) as jsonb takes it,
 * nested at most ORC_KEYSPEC_METADATA_DEPTH deep, an object. */
static bool json_object_text(const char *text, size_t len)
{
    if (jsonb_would_refuse(text))
        return false;
    json_tokener *tok = json_tokener_new_ex(ORC_KEYSPEC_METADATA_DEPTH);
    if (tok == NULL)
        return false;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    bool ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
              json_tokener_get_parse_end(tok) == len && json_object_is_type(o, json_type_object);
    json_object_put(o);
    json_tokener_free(tok);
    return ok;
}

static int check_metadata(const orc_keyspec_t *s, orc_ks_field_t f, const char *text, time_t now, char *err,
                          size_t errlen)
{
    size_t len = strlen(text);
    (void)now;
    if (len <= ORC_KEYSPEC_METADATA_MAX && json_object_text(text, len))
        return ORC_OK;
    return fail(err, errlen, "%s must be a JSON object of at most %d bytes, nested at most %d deep",
                label(s, f), ORC_KEYSPEC_METADATA_MAX, ORC_KEYSPEC_METADATA_DEPTH);
}

/* ---- validation ------------------------------------------------------------------ */

static bool use_takes(orc_ks_use_t use, orc_ks_field_t f)
{
    return use != ORC_KEYSPEC_TEAM_BUDGET || f == ORC_KS_TEAM || f == ORC_KS_BUDGET ||
           f == ORC_KS_BUDGET_PERIOD;
}

static bool clearable(orc_ks_use_t use, orc_ks_field_t f)
{
    return fields[f].clearable && !(use == ORC_KEYSPEC_TEAM_BUDGET && f == ORC_KS_TEAM);
}

static int check_required(const orc_keyspec_t *s, orc_ks_use_t use, char *err, size_t errlen)
{
    if (use == ORC_KEYSPEC_CREATE && s->text[ORC_KS_NAME] == NULL)
        return fail(err, errlen, "%s is required", label(s, ORC_KS_NAME));
    if (use == ORC_KEYSPEC_TEAM_BUDGET && s->text[ORC_KS_TEAM] == NULL)
        return fail(err, errlen, "%s is required", label(s, ORC_KS_TEAM));
    if (use == ORC_KEYSPEC_TEAM_BUDGET && s->text[ORC_KS_BUDGET] == NULL)
        return fail(err, errlen, "%s is required (none for no budget)", label(s, ORC_KS_BUDGET));
    for (int f = 0; use == ORC_KEYSPEC_UPDATE && f < ORC_KS_NFIELDS; f++)
        if (s->text[f] != NULL)
            return ORC_OK;
    if (use == ORC_KEYSPEC_UPDATE)
        return fail(err, errlen, "nothing to change: give at least one setting");
    return ORC_OK;
}

int orc_keyspec_validate(const orc_keyspec_t *s, orc_ks_use_t use, time_t now, char *err, size_t errlen)
{
    for (int i = 0; i < ORC_KS_NFIELDS; i++) {
        orc_ks_field_t f = (orc_ks_field_t)i;
        const char *t = s->text[f];
        if (t == NULL)
            continue;
        if (!use_takes(use, f))
            return fail(err, errlen, "%s cannot be set for a team's budget", label(s, f));
        if (t[0] == '\0' && clearable(use, f))
            continue;
        if (fields[f].check(s, f, t, now, err, errlen) != ORC_OK)
            return ORC_ERR;
    }
    return check_required(s, use, err, errlen);
}

/* ---- statement parameters ------------------------------------------------------- */

static void format_budget(const char *text, char *buf, size_t size)
{
    double v = 0;
    parse_budget(text, &v); /* validated */
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v) /* the shortest form that reads back as V */
        snprintf(buf, size, "%.17g", v);
}

static void format_scopes(const char *text, char *buf, size_t size)
{
    unsigned bits = 0;
    size_t used = 0;
    for (const char *p = text; *p != '\0';) {
        char item[16] = "";
        size_t len = strcspn(p, ",");
        if (len < sizeof(item))
            memcpy(item, p, len);
        bits |= orc_scope_parse(item);
        p += len + (p[len] == ',');
    }
    buf[0] = '\0';
    for (unsigned bit = 1; bit <= ORC_SCOPE_ALL; bit <<= 1)
        if (bits & bit)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "," : "", orc_scope_name(bit));
}

/* The parameter of a validated field: its default when absent (CREATE), NULL when
 * "none" for a nullable column, else the text, normalised for a few fields. */
static const char *field_value(const orc_keyspec_t *s, orc_ks_field_t f, orc_ks_use_t use, time_t now,
                               orc_keyspec_params_t *p)
{
    const char *t = s->text[f];
    time_t when;
    if (t == NULL)
        return use == ORC_KEYSPEC_CREATE || use == ORC_KEYSPEC_TEAM_BUDGET ? fields[f].create_none : NULL;
    if (t[0] == '\0')
        return fields[f].create_none;
    switch (f) {
    case ORC_KS_SCOPES: format_scopes(t, p->scopes, sizeof(p->scopes)); return p->scopes;
    case ORC_KS_BUDGET: format_budget(t, p->budget, sizeof(p->budget)); return p->budget;
    case ORC_KS_EXPIRES:
        orc_keyspec_time(t, now, true, &when); /* validated */
        orc_keyspec_time_format(when, p->expires);
        return p->expires;
    default: return t;
    }
}

int orc_keyspec_params(const orc_keyspec_t *s, orc_ks_use_t use, time_t now, orc_keyspec_params_t *p,
                       char *err, size_t errlen)
{
    if (orc_keyspec_validate(s, use, now, err, errlen) != ORC_OK)
        return ORC_ERR;
    memset(p, 0, sizeof(*p));
    if (use == ORC_KEYSPEC_TEAM_BUDGET) {
        p->values[0] = field_value(s, ORC_KS_TEAM, use, now, p);
        p->values[1] = field_value(s, ORC_KS_BUDGET, use, now, p);
        p->values[2] = field_value(s, ORC_KS_BUDGET_PERIOD, use, now, p);
        p->n = 3;
        return ORC_OK;
    }
    int first = use == ORC_KEYSPEC_CREATE ? 3 : 1;
    unsigned mask = 0;
    for (int f = 0; f < ORC_KS_NFIELDS; f++) {
        p->values[first + f] = field_value(s, (orc_ks_field_t)f, use, now, p);
        mask |= s->text[f] != NULL ? 1u << f : 0;
    }
    p->n = first + ORC_KS_NFIELDS;
    if (use == ORC_KEYSPEC_UPDATE) {
        snprintf(p->mask, sizeof(p->mask), "%u", mask);
        p->values[p->n++] = p->mask;
    }
    return ORC_OK;
}

/* ---- JSON ------------------------------------------------------------------------ */

/* A copy of TEXT (LEN bytes) in S's buffer; NULL when it is full. */
static const char *keep(orc_keyspec_t *s, const char *text, size_t len)
{
    if (len + 1 > sizeof(s->buf) - s->used)
        return NULL;
    char *out = s->buf + s->used;
    memcpy(out, text, len);
    out[len] = '\0';
    s->used += len + 1;
    return out;
}

/* An array of strings joined with commas; an item that holds a comma or is too
 * long is refused here, as it could not be told apart once joined. */
static const char *list_text(orc_keyspec_t *s, orc_ks_field_t f, json_object *v, char *err, size_t errlen)
{
    char joined[ORC_APIKEY_PATTERNS_MAX * (ORC_APIKEY_PATTERN_MAX + 1) + 1];
    size_t n = json_object_array_length(v), used = 0;
    if (n > ORC_APIKEY_PATTERNS_MAX) {
        fail(err, errlen, "%s: at most %d patterns", label(s, f), ORC_APIKEY_PATTERNS_MAX);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(v, i);
        const char *t = json_object_get_string(item);
        size_t len = json_object_get_string_len(item);
        if (!json_object_is_type(item, json_type_string) || strlen(t) != len ||
            len > ORC_APIKEY_PATTERN_MAX || strchr(t, ',') != NULL) {
            fail(err, errlen, "%s: item %zu must be a string of 1 to %d characters without commas",
                 label(s, f), i + 1, ORC_APIKEY_PATTERN_MAX);
            return NULL;
        }
        used += (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? "," : "", t);
    }
    const char *out = keep(s, joined, used);
    if (out == NULL)
        fail(err, errlen, "%s: too long", label(s, f));
    return out;
}

static const char *number_text(orc_keyspec_t *s, orc_ks_field_t f, json_object *v, char *err, size_t errlen)
{
    char num[40];
    bool integer = json_object_is_type(v, json_type_int);
    if (integer)
        snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
    else if (fields[f].type == NUMBER && json_object_is_type(v, json_type_double))
        snprintf(num, sizeof(num), "%.17g", json_object_get_double(v));
    else {
        fail(err, errlen, "%s must be %s", label(s, f), fields[f].type == NUMBER ? "a number" : "an integer");
        return NULL;
    }
    const char *out = keep(s, num, strlen(num));
    if (out == NULL)
        fail(err, errlen, "%s: too long", label(s, f));
    return out;
}

static const char *string_text(orc_keyspec_t *s, orc_ks_field_t f, json_object *v, char *err, size_t errlen)
{
    const char *t = json_object_get_string(v);
    if (json_object_is_type(v, json_type_string) && strlen(t) == (size_t)json_object_get_string_len(v))
        return t;
    fail(err, errlen, "%s must be a string without NUL characters", label(s, f));
    return NULL;
}

/* The text of one field's JSON value V (NULL: JSON null, "none"); NULL after ERR. */
static const char *value_text(orc_keyspec_t *s, orc_ks_field_t f, json_object *v, char *err, size_t errlen)
{
    if (v == NULL)
        return "";
    switch (fields[f].type) {
    case STRING: return string_text(s, f, v, err, errlen);
    case INTEGER:
    case NUMBER: return number_text(s, f, v, err, errlen);
    case LIST:
        if (json_object_is_type(v, json_type_array))
            return list_text(s, f, v, err, errlen);
        fail(err, errlen, "%s must be an array of strings", label(s, f));
        return NULL;
    default:
        if (json_object_is_type(v, json_type_object))
            return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        fail(err, errlen, "%s must be a JSON object", label(s, f));
        return NULL;
    }
}

int orc_keyspec_from_json(orc_keyspec_t *s, json_object *body, orc_ks_use_t use, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (body == NULL || !json_object_is_type(body, json_type_object))
        return fail(err, errlen, "the body must be a JSON object");
    json_object_object_foreach(body, name, v)
    {
        int f = orc_keyspec_field_of(name, false);
        if (f < 0)
            return fail(err, errlen, "unknown field \"%.64s\"", name);
        if (!use_takes(use, (orc_ks_field_t)f) || (use == ORC_KEYSPEC_TEAM_BUDGET && f == ORC_KS_TEAM))
            return fail(err, errlen, "%s cannot be given here", name);
        s->text[f] = value_text(s, (orc_ks_field_t)f, v, err, errlen);
        if (s->text[f] == NULL)
            return ORC_ERR;
    }
    return ORC_OK;
}

/* ---- time ------------------------------------------------------------------------- */

/* Exactly N digits at *P, advanced past them. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static bool parse_date(const char **p, struct tm *tm)
{
    int y, m, d;
    if (!digits(p, 4, &y) || !expect(p, '-') || !digits(p, 2, &m) || !expect(p, '-') || !digits(p, 2, &d))
        return false;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return true;
}

/* HH:MM[:SS[.fraction]]; the fraction is dropped. */
static bool parse_clock(const char **p, struct tm *tm)
{
    int h, m, sec = 0;
    if (!digits(p, 2, &h) || !expect(p, ':') || !digits(p, 2, &m) || h > 23 || m > 59)
        return false;
    if (expect(p, ':') && (!digits(p, 2, &sec) || sec > 59))
        return false;
    if (expect(p, '.')) {
        size_t n = strspn(*p, "0123456789");
        if (n < 1 || n > 9)
            return false;
        *p += n;
    }
    tm->tm_hour = h;
    tm->tm_min = m;
    tm->tm_sec = sec;
    return true;
}

/* "" or Z: UTC; +HH:MM / -HH:MM: seconds east of UTC in *OFFSET. */
static bool parse_zone(const char **p, long *offset)
{
    int h, m;
    *offset = 0;
    if (**p == '\0' || expect(p, 'Z'))
        return **p == '\0';
    char sign = *(*p)++;
    if ((sign != '+' && sign != '-') || !digits(p, 2, &h) || !expect(p, ':') || !digits(p, 2, &m) || h > 14 ||
        m > 59 || **p != '\0')
        return false;
    *offset = (sign == '+' ? 1 : -1) * (h * 3600L + m * 60L);
    return true;
}

/* "<N>h", "<N>d", "<N>w" with 1 <= N and at most 7 digits. */
static bool parse_relative(const char *text, time_t now, time_t *out)
{
    size_t n = strspn(text, "0123456789");
    char unit = text[n];
    if (n < 1 || n > 7 || unit == '\0' || strchr("hdw", unit) == NULL || text[n + 1] != '\0')
        return false;
    long count = strtol(text, NULL, 10);
    long seconds = unit == 'h' ? 3600L : unit == 'd' ? 86400L : 7 * 86400L;
    if (count < 1)
        return false;
    *out = now + (time_t)count * seconds;
    return true;
}

int orc_keyspec_time(const char *text, time_t now, bool relative, time_t *out)
{
    struct tm tm = {0};
    long offset = 0;
    const char *p = text;
    if (relative && parse_relative(text, now, out))
        return ORC_OK;
    if (!parse_date(&p, &tm))
        return ORC_ERR;
    if (*p != '\0' &&
        (!(expect(&p, 'T') || expect(&p, ' ')) || !parse_clock(&p, &tm) || !parse_zone(&p, &offset)))
        return ORC_ERR;
    *out = timegm(&tm) - offset;
    return ORC_OK;
}

void orc_keyspec_time_format(time_t t, char buf[ORC_KEYSPEC_TIME_SIZE])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, ORC_KEYSPEC_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool orc_keyspec_group_valid(const char *group)
{
    static const char *const groups[] = {"key", "team", "model", "provider", "day"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(groups); i++)
        if (strcmp(group, groups[i]) == 0)
            return true;
    return false;
}
