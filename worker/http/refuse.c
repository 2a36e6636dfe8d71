/*
 * refuse.c - refusals (401, 403, 429, 503 of access control and limits)
 * in the error format of the API the client called, so that each SDK
 * raises its own authentication, permission or rate-limit error.
 */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/json.h"
#include "common/orc.h"
#include "worker/http/http.h"

typedef struct {
    int status;
    const char *code;           /* Orchesity error_code */
    const char *openai_type;    /* OpenAI error.type */
    const char *openai_code;    /* OpenAI error.code */
    const char *anthropic_type; /* Anthropic error.type */
} refusal_form_t;

static const refusal_form_t forms[] = {
    [ORC_REFUSE_UNAUTHENTICATED] = {401, "UNAUTHORIZED", "invalid_request_error", "invalid_api_key",
                                    "authentication_error"},
    [ORC_REFUSE_FORBIDDEN] = {403, "FORBIDDEN", "invalid_request_error", "permission_denied",
                              "permission_error"},
    [ORC_REFUSE_RATE_LIMITED] = {429, "RATE_LIMITED", "requests", "rate_limit_exceeded", "rate_limit_error"},
    [ORC_REFUSE_QUOTA] = {429, "BUDGET_EXCEEDED", "insufficient_quota", "insufficient_quota",
                          "rate_limit_error"},
    [ORC_REFUSE_UNAVAILABLE] = {503, "AUTH_UNAVAILABLE", "server_error", "auth_unavailable", "api_error"},
};

static json_object *openai_body(const refusal_form_t *f, const char *message)
{
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    orc_json_add_str(e, "message", message);
    orc_json_add_str(e, "type", f->openai_type);
    json_object_object_add(e, "param", NULL);
    orc_json_add_str(e, "code", f->openai_code);
    json_object_object_add(o, "error", e);
    return o;
}

static json_object *anthropic_body(const refusal_form_t *f, const char *message, const char *id)
{
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    orc_json_add_str(o, "type", "error");
    orc_json_add_str(e, "type", f->anthropic_type);
    orc_json_add_str(e, "message", message);
    json_object_object_add(o, "error", e);
    orc_json_add_str(o, "request_id", id);
    return o;
}

void orc_http_refuse(orc_req_t *rq, orc_refusal_t why, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    const refusal_form_t *f = &forms[why];
    const orc_route_t *route = orc_http_route(rq);
    orc_dialect_t dialect = route != NULL ? route->dialect : ORC_DIALECT_ORCHESITY;
    if (why == ORC_REFUSE_UNAUTHENTICATED)
        orc_http_set_header(rq, "WWW-Authenticate", "Bearer");
    if (dialect == ORC_DIALECT_OPENAI) {
        orc_http_reply_json(rq, f->status, openai_body(f, message));
    } else if (dialect == ORC_DIALECT_ANTHROPIC) {
        orc_http_set_header(rq, "request-id", rq->id);
        orc_http_reply_json(rq, f->status, anthropic_body(f, message, rq->id));
    } else {
        orc_http_error(rq, f->status, f->code, "%s", message);
    }
}
