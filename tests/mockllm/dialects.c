/*
 * dialects.c - what the four provider dialects share: credentials, error
 * bodies, model lists, the mid-stream error event, and small JSON, SSE
 * and string-list helpers used by openai.c, anthropic.c and gemini.c.
 *
 * Error bodies follow docs/providers.md (§1.5, §2.5, §3.5, §4): OpenAI
 * {"error":{message,type,param,code}}, Anthropic {"type":"error","error":
 * {type,message},"request_id"}, Gemini {"error":{code,message,status,
 * details}}, xAI {"code","error"} with a string error.  Every mock_out_t
 * built here owns its strings.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/keyvalq_struct.h>

#include "tests/mockllm/mock.h"

/* The provider's usual error for one HTTP status. */
typedef struct {
    int status;
    const char *type; /* OpenAI/Anthropic type, Gemini status, xAI code */
    const char *code; /* OpenAI code or NULL */
    const char *message;
} mock_errdef_t;

static const mock_errdef_t openai_errs[] = {
    {400, "invalid_request_error", NULL, "Invalid request."},
    {401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."},
    {403, "request_forbidden", "unsupported_country_region_territory",
     "Country, region, or territory not supported"},
    {404, "invalid_request_error", "model_not_found",
     "The model does not exist or you do not have access to it."},
    {429, "requests", "rate_limit_exceeded",
     "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
     "Please try again in 20s."},
    {500, "server_error", NULL, "The server had an error while processing your request. Sorry about that!"},
    {502, "server_error", NULL, "Bad gateway."},
    {503, "server_error", NULL, "The engine is currently overloaded, please try again later"},
    {504, "server_error", NULL, "Gateway timeout."},
    {0, NULL, NULL, NULL},
};

static const mock_errdef_t anthropic_errs[] = {
    {400, "invalid_request_error", NULL, "Invalid request."},
    {401, "authentication_error", NULL, "invalid x-api-key"},
    {402, "billing_error", NULL, "Your credit balance is too low to access the Anthropic API."},
    {403, "permission_error", NULL, "Your API key does not have permission to use the specified resource."},
    {404, "not_found_error", NULL, "Not found."},
    {409, "conflict_error", NULL, "Conflict."},
    {413, "request_too_large", NULL, "Request exceeds the maximum allowed number of bytes."},
    {429, "rate_limit_error", NULL,
     "This request would exceed the rate limit for your organization of 50 requests per minute."},
    {500, "api_error", NULL, "Internal server error"},
    {503, "api_error", NULL, "Service unavailable"},
    {504, "timeout_error", NULL, "Request timeout"},
    {529, "overloaded_error", NULL, "Overloaded"},
    {0, NULL, NULL, NULL},
};

static const mock_errdef_t gemini_errs[] = {
    {400, "INVALID_ARGUMENT", NULL, "Request contains an invalid argument."},
    {401, "UNAUTHENTICATED", NULL, "Request had invalid authentication credentials."},
    {403, "PERMISSION_DENIED", NULL, "The caller does not have permission"},
    {404, "NOT_FOUND", NULL, "Requested entity was not found."},
    {409, "ABORTED", NULL, "The operation was aborted."},
    {429, "RESOURCE_EXHAUSTED", NULL,
     "You exceeded your current quota, please check your plan and billing details."},
    {500, "INTERNAL", NULL,
     "An internal error has occurred. Please retry or report in "
     "https://developers.generativeai.google/guide/troubleshooting"},
    {501, "UNIMPLEMENTED", NULL, "Method not implemented."},
    {503, "UNAVAILABLE", NULL, "The model is overloaded. Please try again later."},
    {504, "DEADLINE_EXCEEDED", NULL, "Deadline expired before operation could complete."},
    {0, NULL, NULL, NULL},
};

static const mock_errdef_t xai_errs[] = {
    {400, "Client specified an invalid argument", NULL, "Invalid request."},
    {401, "The request does not have valid authentication credentials", NULL, "Invalid authentication."},
    {403, "The caller does not have permission to execute the specified operation", NULL,
     "Your team does not have permission to use this model."},
    {404, "Some requested entity was not found", NULL,
     "The model does not exist or your team does not have access to it."},
    {429, "Some resource has been exhausted", NULL, "Too many requests: rate limit exceeded for this model."},
    {500, "Internal error", NULL, "Internal server error."},
    {503, "The service is currently unavailable", NULL, "Service temporarily unavailable."},
    {504, "The deadline expired before the operation could complete", NULL, "Request timed out."},
    {0, NULL, NULL, NULL},
};

static const char openai_json_msg[] =
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";
static const char openai_nokey_msg[] =
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
static const char gemini_nokey_msg[] =
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
    "or other form of API consumer identity to call this API.";

const char *mock_dialect_name(mock_dialect_t d)
{
    static const char *names[] = {"openai", "anthropic", "gemini", "xai"};
    return d < MOCK_NDIALECTS ? names[d] : "unknown";
}

const char *mock_status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- string lists and output ------------------------------------------------ */

int mock_strv_push(mock_strv_t *sv, char *s)
{
    if (s == NULL)
        return MOCK_ERR;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        char **v = realloc(sv->v, cap * sizeof(*v));
        if (v == NULL) {
            free(s);
            return MOCK_ERR;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    return MOCK_OK;
}

int mock_strv_add(mock_strv_t *sv, const char *s)
{
    return mock_strv_push(sv, strdup(s));
}

void mock_strv_free(mock_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof(*sv));
}

void mock_out_free(mock_out_t *out)
{
    mock_strv_free(&out->parts);
    mock_strv_free(&out->headers);
    free(out->error_event);
    out->error_event = NULL;
}

/* Serializes O compactly, without escaping '/', and releases it. */
char *mock_json_str(json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = strdup(s ? s : "null");
    json_object_put(o);
    return copy;
}

void mock_out_json(mock_out_t *out, int status, const char *content_type, json_object *body)
{
    out->status = status;
    out->content_type = content_type;
    out->stream = false;
    mock_strv_push(&out->parts, mock_json_str(body));
}

/* Appends one SSE event: optional "event:" line, "data: <json>", then END. */
void mock_out_event(mock_out_t *out, const char *event, json_object *data, const char *end)
{
    char *json = mock_json_str(data);
    char *ev = NULL;
    int n;

    if (json == NULL)
        return;
    if (event != NULL)
        n = asprintf(&ev, "event: %s\ndata: %s%s", event, json, end);
    else
        n = asprintf(&ev, "data: %s%s", json, end);
    free(json);
    if (n >= 0)
        mock_strv_push(&out->parts, ev);
}

/* ---- JSON helpers ------------------------------------------------------------ */

void mock_json_add(json_object *o, const char *key, json_object *value)
{
    json_object_object_add(o, key, value);
}

void mock_json_add_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

void mock_json_add_int(json_object *o, const char *key, int64_t value)
{
    json_object_object_add(o, key, json_object_new_int64(value));
}

json_object *mock_json_get(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;

    if (o == NULL || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

const char *mock_json_get_str(json_object *o, const char *key)
{
    json_object *v = mock_json_get(o, key, json_type_string);
    return v ? json_object_get_string(v) : NULL;
}

int mock_json_get_long(json_object *o, const char *key, long *out)
{
    json_object *v = mock_json_get(o, key, json_type_int);

    if (v == NULL)
        return MOCK_ERR;
    *out = (long)json_object_get_int64(v);
    return MOCK_OK;
}

/*
 * Text of a message content: a string, or the concatenated TEXT_KEY of the
 * array elements (only those whose TYPE_KEY is "text" when TYPE_KEY is set).
 */
char *mock_json_text(json_object *content, const char *type_key, const char *text_key)
{
    size_t n, len = 0;
    char *out;

    if (content == NULL)
        return strdup("");
    if (json_object_is_type(content, json_type_string))
        return strdup(json_object_get_string(content));
    if (!json_object_is_type(content, json_type_array))
        return strdup("");
    n = json_object_array_length(content);
    out = calloc(1, 1);
    for (size_t i = 0; out != NULL && i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *type = type_key ? mock_json_get_str(part, type_key) : "text";
        const char *text = mock_json_get_str(part, text_key);
        size_t tl;
        char *grown;

        if (type == NULL || strcmp(type, "text") != 0 || text == NULL)
            continue;
        tl = strlen(text);
        grown = realloc(out, len + tl + 1);
        if (grown == NULL) {
            free(out);
            return NULL;
        }
        out = grown;
        memcpy(out + len, text, tl + 1);
        len += tl;
    }
    return out;
}

/* Stop strings: a string or an array of strings. */
void mock_json_stops(json_object *v, mock_strv_t *stops)
{
    if (v == NULL)
        return;
    if (json_object_is_type(v, json_type_string)) {
        mock_strv_add(stops, json_object_get_string(v));
        return;
    }
    if (!json_object_is_type(v, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *s = json_object_array_get_idx(v, i);
        if (json_object_is_type(s, json_type_string))
            mock_strv_add(stops, json_object_get_string(s));
    }
}

int mock_words(const char *s)
{
    int n = 0;
    bool in = false;

    for (; s && *s; s++) {
        bool space = isspace((unsigned char)*s) != 0;
        if (!space && !in)
            n++;
        in = !space;
    }
    return n;
}

/* ---- credentials ---------------------------------------------------------------- */

static const char *bearer_key(struct evkeyvalq *h)
{
    const char *auth = evhttp_find_header(h, "Authorization");

    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

static int query_key(const char *query, char *buf, size_t size)
{
    struct evkeyvalq q;
    const char *key;
    int found = 0;

    if (query == NULL || evhttp_parse_query_str(query, &q) != 0)
        return 0;
    key = evhttp_find_header(&q, "key");
    if (key != NULL && *key) {
        snprintf(buf, size, "%s", key);
        found = 1;
    }
    evhttp_clear_headers(&q);
    return found;
}

static int auth_fail(mock_out_t *out, mock_dialect_t d, int status, mock_err_t kind)
{
    mock_dialect_error(out, d, status, kind, NULL, -1);
    return MOCK_ERR;
}

/* Checks the dialect's credentials; on failure fills OUT with its real error. */
int mock_dialect_auth(mock_dialect_t d, struct evhttp_request *req, const char *query, mock_out_t *out)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *key = NULL;
    char qkey[256];

    switch (d) {
    case MOCK_OPENAI:
    case MOCK_XAI:
        key = bearer_key(h);
        if (key == NULL)
            return auth_fail(out, d, 401, MOCK_ERR_NOKEY);
        if (strcmp(key, "bad-key") == 0)
            return auth_fail(out, d, d == MOCK_XAI ? 400 : 401, MOCK_ERR_BADKEY);
        return MOCK_OK;
    case MOCK_ANTHROPIC:
        key = evhttp_find_header(h, "x-api-key");
        if (key == NULL || *key == '\0')
            key = bearer_key(h);
        if (key == NULL)
            return auth_fail(out, d, 401, MOCK_ERR_NOKEY);
        if (strcmp(key, "bad-key") == 0)
            return auth_fail(out, d, 401, MOCK_ERR_BADKEY);
        if (evhttp_find_header(h, "anthropic-version") == NULL)
            return auth_fail(out, d, 400, MOCK_ERR_NOVERSION);
        return MOCK_OK;
    case MOCK_GEMINI:
    default:
        key = evhttp_find_header(h, "x-goog-api-key");
        if ((key == NULL || *key == '\0') && query_key(query, qkey, sizeof(qkey)))
            key = qkey;
        if (key == NULL || *key == '\0')
            return auth_fail(out, d, 403, MOCK_ERR_NOKEY);
        if (strcmp(key, "bad-key") == 0)
            return auth_fail(out, d, 400, MOCK_ERR_BADKEY);
        return MOCK_OK;
    }
}

/* ---- error bodies ------------------------------------------------------------------ */

static mock_errdef_t errdef(mock_dialect_t d, int status)
{
    const mock_errdef_t *t = d == MOCK_ANTHROPIC ? anthropic_errs
                             : d == MOCK_GEMINI  ? gemini_errs
                             : d == MOCK_XAI     ? xai_errs
                                                 : openai_errs;
    mock_errdef_t def;

    for (; t->status != 0; t++) {
        if (t->status == status)
            return *t;
    }
    def.status = status;
    def.code = NULL;
    def.message = status >= 500 ? "Server error." : "Request failed.";
    if (d == MOCK_ANTHROPIC)
        def.type = status >= 500 ? "api_error" : "invalid_request_error";
    else if (d == MOCK_GEMINI)
        def.type = "UNKNOWN";
    else if (d == MOCK_XAI)
        def.type = status >= 500 ? "Internal error" : "Client specified an invalid argument";
    else
        def.type = status >= 500 ? "server_error" : "invalid_request_error";
    return def;
}

/* Replaces the usual error of the status by the one the situation calls for. */
static void errdef_kind(mock_dialect_t d, mock_err_t kind, const char *msg, mock_errdef_t *e)
{
    if (msg != NULL)
        e->message = msg;
    switch (kind) {
    case MOCK_ERR_NOKEY:
        e->code = NULL;
        e->message = d == MOCK_OPENAI      ? openai_nokey_msg
                     : d == MOCK_ANTHROPIC ? "x-api-key header is required"
                     : d == MOCK_GEMINI    ? gemini_nokey_msg
                                           : "No API key provided. Send it as Authorization: Bearer <key>.";
        break;
    case MOCK_ERR_BADKEY:
        e->message = d == MOCK_OPENAI ? "Incorrect API key provided: bad-key. You can find your API key at "
                                        "https://platform.openai.com/account/api-keys."
                     : d == MOCK_ANTHROPIC ? "invalid x-api-key"
                     : d == MOCK_GEMINI    ? "API key not valid. Please pass a valid API key."
                                           : "Incorrect API key provided: ba***ey. You can obtain an API key "
                                             "from https://console.x.ai.";
        break;
    case MOCK_ERR_NOVERSION: e->message = "anthropic-version: header is required"; break;
    case MOCK_ERR_JSON:
        e->code = NULL;
        e->message = d == MOCK_OPENAI      ? openai_json_msg
                     : d == MOCK_ANTHROPIC ? "There was an error parsing the body of your request as JSON"
                     : d == MOCK_GEMINI    ? "Invalid JSON payload received. Unexpected token."
                                           : "Failed to deserialize the JSON body into the target type";
        break;
    case MOCK_ERR_INVALID: e->code = NULL; break;
    case MOCK_ERR_NOTFOUND:
        e->code = NULL;
        if (d == MOCK_OPENAI)
            e->type = "invalid_request_error";
        break;
    default: break;
    }
}

static json_object *gemini_details(int status, mock_err_t kind, int retry_after)
{
    json_object *details = json_object_new_array();
    json_object *d = json_object_new_object();
    char delay[32];

    if (kind == MOCK_ERR_BADKEY) {
        mock_json_add_str(d, "@type", "type.googleapis.com/google.rpc.ErrorInfo");
        mock_json_add_str(d, "reason", "API_KEY_INVALID");
        mock_json_add_str(d, "domain", "googleapis.com");
    } else if (status == 429) {
        json_object *q = json_object_new_object(), *v = json_object_new_object();
        mock_json_add_str(q, "@type", "type.googleapis.com/google.rpc.QuotaFailure");
        mock_json_add_str(v, "quotaMetric",
                          "generativelanguage.googleapis.com/generate_content_free_tier_requests");
        mock_json_add_str(v, "quotaId", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier");
        mock_json_add(q, "violations", json_object_new_array());
        json_object_array_add(json_object_object_get(q, "violations"), v);
        json_object_array_add(details, q);
        snprintf(delay, sizeof(delay), "%ds", retry_after >= 0 ? retry_after : 1);
        mock_json_add_str(d, "@type", "type.googleapis.com/google.rpc.RetryInfo");
        mock_json_add_str(d, "retryDelay", delay);
    } else {
        json_object_put(d);
        return details;
    }
    json_object_array_add(details, d);
    return details;
}

static json_object *error_json(mock_dialect_t d, int status, mock_err_t kind, const mock_errdef_t *e,
                               int retry_after)
{
    json_object *o = json_object_new_object(), *err = json_object_new_object();

    switch (d) {
    case MOCK_ANTHROPIC:
        mock_json_add_str(o, "type", "error");
        mock_json_add_str(err, "type", e->type);
        mock_json_add_str(err, "message", e->message);
        mock_json_add(o, "error", err);
        mock_json_add_str(o, "request_id", "req_mock");
        return o;
    case MOCK_GEMINI:
        mock_json_add_int(err, "code", status);
        mock_json_add_str(err, "message", e->message);
        mock_json_add_str(err, "status", e->type);
        mock_json_add(err, "details", gemini_details(status, kind, retry_after));
        mock_json_add(o, "error", err);
        return o;
    case MOCK_XAI:
        json_object_put(err);
        mock_json_add_str(o, "code", e->type);
        mock_json_add_str(o, "error", e->message);
        return o;
    default:
        mock_json_add_str(err, "message", e->message);
        mock_json_add_str(err, "type", e->type);
        mock_json_add_str(err, "param", NULL);
        mock_json_add_str(err, "code", e->code);
        mock_json_add(o, "error", err);
        return o;
    }
}

/* Fills OUT with the dialect's error response for STATUS. */
void mock_dialect_error(mock_out_t *out, mock_dialect_t d, int status, mock_err_t kind, const char *msg,
                        int retry_after)
{
    mock_errdef_t e = errdef(d, status);
    const char *ctype = d == MOCK_GEMINI ? "application/json; charset=UTF-8" : "application/json";
    char buf[32];

    errdef_kind(d, kind, msg, &e);
    mock_out_json(out, status, ctype, error_json(d, status, kind, &e, retry_after));
    if (retry_after >= 0) {
        snprintf(buf, sizeof(buf), "%d", retry_after);
        mock_strv_add(&out->headers, "retry-after");
        mock_strv_add(&out->headers, buf);
    }
}

/* The event a provider sends when it fails after the 200 (error_event fault). */
char *mock_dialect_stream_error(mock_dialect_t d, bool sse)
{
    if (d == MOCK_GEMINI && !sse)
        return strdup(",\r\n{\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again "
                      "later.\",\"status\":\"UNAVAILABLE\"}}]");
    switch (d) {
    case MOCK_ANTHROPIC:
        return strdup("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                      "\"message\":\"Overloaded\"}}\n\n");
    case MOCK_GEMINI:
        return strdup(
            "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again "
            "later.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n");
    case MOCK_XAI:
        return strdup("data: {\"code\":\"Internal error\",\"error\":\"Internal server error.\"}\n\n");
    default:
        return strdup(
            "data: {\"error\":{\"message\":\"The server had an error while processing your request. "
            "Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
    }
}

/* ---- model lists --------------------------------------------------------------------- */

static const char *openai_models[] = {"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-5-mini", NULL};
static const char *xai_models[] = {"grok-4-fast", "grok-4-1-fast-reasoning", "grok-3-mini", NULL};
static const char *anthropic_models[] = {"claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6", NULL};
static const char *gemini_models[] = {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", NULL};

static json_object *model_json(mock_dialect_t d, const char *id)
{
    json_object *m = json_object_new_object();
    char name[512];

    if (d == MOCK_ANTHROPIC) {
        mock_json_add_str(m, "type", "model");
        mock_json_add_str(m, "id", id);
        mock_json_add_str(m, "display_name", id);
        mock_json_add_str(m, "created_at", "2025-10-15T00:00:00Z");
    } else if (d == MOCK_GEMINI) {
        snprintf(name, sizeof(name), "models/%s", id);
        mock_json_add_str(m, "name", name);
        mock_json_add_str(m, "version", "001");
        mock_json_add_str(m, "displayName", id);
        mock_json_add_int(m, "inputTokenLimit", 1048576);
        mock_json_add_int(m, "outputTokenLimit", 65536);
        mock_json_add(m, "supportedGenerationMethods", json_object_new_array());
        json_object_array_add(json_object_object_get(m, "supportedGenerationMethods"),
                              json_object_new_string("generateContent"));
    } else {
        mock_json_add_str(m, "id", id);
        mock_json_add_str(m, "object", "model");
        mock_json_add_int(m, "created", 1721172741);
        mock_json_add_str(m, "owned_by", d == MOCK_XAI ? "xai" : "system");
    }
    return m;
}

/* GET models: the list, or the one model ONE_ID (any id is known). */
void mock_dialect_models(mock_out_t *out, mock_dialect_t d, const char *one_id)
{
    const char **ids = d == MOCK_ANTHROPIC ? anthropic_models
                       : d == MOCK_GEMINI  ? gemini_models
                       : d == MOCK_XAI     ? xai_models
                                           : openai_models;
    json_object *o, *list = json_object_new_array();
    size_t n = 0;

    if (one_id != NULL) {
        json_object_put(list);
        mock_out_json(out, 200, "application/json", model_json(d, one_id));
        return;
    }
    for (; ids[n] != NULL; n++)
        json_object_array_add(list, model_json(d, ids[n]));
    o = json_object_new_object();
    if (d == MOCK_GEMINI) {
        mock_json_add(o, "models", list);
    } else if (d == MOCK_ANTHROPIC) {
        mock_json_add(o, "data", list);
        mock_json_add(o, "has_more", json_object_new_boolean(0));
        mock_json_add_str(o, "first_id", ids[0]);
        mock_json_add_str(o, "last_id", ids[n - 1]);
    } else {
        mock_json_add_str(o, "object", "list");
        mock_json_add(o, "data", list);
    }
    mock_out_json(out, 200, "application/json", o);
}
