/*
 * router.h - map method + path to a route of the route table.
 *
 * Patterns are literal segments and "{name}" placeholders that match one
 * non-empty segment.  A path that matches a pattern with another method
 * is a 405 with the allowed methods; no pattern at all is a 404.
 * Matching is a pure function, tested without a server.
 */
#ifndef ORC_ROUTER_H
#define ORC_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#define ORC_ROUTE_PARAMS_MAX 4
#define ORC_ROUTE_PARAM_SIZE 256

typedef enum {
    ORC_METHOD_GET = 1 << 0,
    ORC_METHOD_POST = 1 << 1,
    ORC_METHOD_PUT = 1 << 2,
    ORC_METHOD_DELETE = 1 << 3,
    ORC_METHOD_PATCH = 1 << 4,
    ORC_METHOD_HEAD = 1 << 5,
    ORC_METHOD_OPTIONS = 1 << 6,
    ORC_METHOD_OTHER = 1 << 7,
} orc_method_t;

struct orc_req_s;
typedef void (*orc_handler_fn)(struct orc_req_s *rq);

/* Who may call a route (docs/architecture.md, "Access control"). */
typedef enum {
    ORC_ACCESS_PUBLIC,  /* anyone: liveness, readiness, the root document */
    ORC_ACCESS_OBSERVE, /* metrics and health details: open, or keyed by security.observability */
    ORC_ACCESS_LLM,     /* LLM calls and what describes them: open without a master key */
    ORC_ACCESS_HISTORY, /* logged prompts, answers and sessions: a key's own, or loopback */
    ORC_ACCESS_ADMIN,   /* the master key or an admin key, or loopback without a master key */
} orc_access_t;

/* The error format of the API a route belongs to. */
typedef enum {
    ORC_DIALECT_ORCHESITY, /* {"detail", "error_code", "timestamp", "request_id"} */
    ORC_DIALECT_OPENAI,    /* {"error": {"message", "type", "param", "code"}} */
    ORC_DIALECT_ANTHROPIC, /* {"type": "error", "error": {"type", "message"}} */
} orc_dialect_t;

typedef struct {
    unsigned methods;    /* orc_method_t bits */
    const char *pattern; /* "/api/health/service/{name}" */
    orc_handler_fn handler;
    const char *name;      /* metrics label */
    orc_access_t access;   /* who may call it */
    orc_dialect_t dialect; /* how its errors look */
    bool logged;           /* an LLM request: one record in the request log */
    bool local_when_open;  /* without a master key, loopback clients only (even for LLM access) */
} orc_route_t;

typedef struct {
    int route;      /* index in the table, or -1 */
    unsigned allow; /* methods of patterns that matched the path (for 405) */
    int nparams;
    char params[ORC_ROUTE_PARAMS_MAX][ORC_ROUTE_PARAM_SIZE];
} orc_route_match_t;

/* Route numbers 0 and 1 are reserved for metrics of unrouted requests. */
#define ORC_ROUTE_UNMATCHED 0
#define ORC_ROUTE_PROTOCOL 1

void orc_router_match(const orc_route_t *table, size_t n, unsigned method, const char *path,
                      orc_route_match_t *m);
int orc_router_allow_header(unsigned allow, char *buf, size_t size);

#endif
