/*
 * redis.h - a Redis client for one worker's event loop: hiredis 0.14 async
 * on libevent, plus what that hiredis lacks - host names resolved with
 * evdns (never a blocking getaddrinfo in the loop), a connect timeout, a
 * per-command timeout, reconnection with backoff and a circuit breaker.
 *
 * Contract of orc_redis_command: when it returns an id (> 0), CB runs
 * exactly once - with the reply or with a failure - and never inside
 * orc_redis_command itself, unless orc_redis_cancel(r, id) is called
 * first, after which it never runs.  The reply is owned by hiredis: it is
 * valid only during the callback (copy what you keep, never free it).
 * While the client is not connected (connecting, backing off, breaker
 * open) commands fail at once with a failure code: Redis is a cache, the
 * gateway never waits for it.
 *
 * Callbacks may issue and cancel commands; they must not free the client.
 * One client belongs to one event loop; nothing here is thread-safe.  The
 * process must ignore SIGPIPE (hiredis writes with write(2)).
 */
#ifndef ORC_REDIS_H
#define ORC_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct event_base;
struct evdns_base;
typedef struct orc_redis_s orc_redis_t;

#define ORC_REDIS_DEFAULT_PORT 6379

typedef enum {
    ORC_REDIS_OK = 0,          /* REPLY is set; it may be an error reply (REDIS_REPLY_ERROR) */
    ORC_REDIS_DISABLED,        /* no Redis configured (empty URL) */
    ORC_REDIS_NOT_CONNECTED,   /* connecting, or waiting to reconnect after a failure */
    ORC_REDIS_BREAKER_OPEN,    /* too many consecutive failures: Redis is skipped for a cooldown */
    ORC_REDIS_TIMEOUT,         /* no reply in time (to it or an earlier command): connection dropped */
    ORC_REDIS_CONNECTION_LOST, /* the connection died before the reply */
    ORC_REDIS_CLOSED,          /* the client was freed */
} orc_redis_rc_t;

/* REPLY is NULL unless RC is ORC_REDIS_OK. */
typedef void (*orc_redis_cb)(void *arg, orc_redis_rc_t rc, const redisReply *reply);

typedef struct {
    const char *url;         /* redis://[[user]:password@]host[:port][/db]; NULL or "" disables */
    int db;                  /* >= 0 overrides the URL's database; -1 keeps it */
    struct evdns_base *dns;  /* resolver for a host name (borrowed); not needed for an IP literal */
    int connect_timeout_ms;  /* resolve + connect + AUTH/SELECT/PING (default 1000) */
    int command_timeout_ms;  /* per command (default 20: the gateway's added budget) */
    int reconnect_min_ms;    /* first delay after a failure (default 100), doubling ... */
    int reconnect_max_ms;    /* ... up to this (default 5000) */
    int breaker_failures;    /* consecutive failed connections/timeouts that open the breaker (default 5) */
    int breaker_cooldown_ms; /* Redis skipped this long (default 5000), doubling per reopening ... */
    int breaker_cooldown_max_ms; /* ... up to this (default 30000) */
} orc_redis_options_t;

typedef struct {
    char host[256]; /* without the brackets of an IPv6 literal */
    int port;
    char user[128]; /* empty: AUTH password (no ACL user) */
    char password[256];
    int db;
} orc_redis_url_t;

typedef struct {
    const char *status; /* "healthy", "unhealthy" or "disabled" */
    const char *error;  /* why unhealthy; "" otherwise.  Valid until the loop runs again */
    bool connected;     /* the connection is up and past AUTH/SELECT */
    bool breaker_open;  /* open or half-open: commands fail without touching Redis */
    uint64_t commands;  /* accepted by orc_redis_command */
    uint64_t failures;  /* callbacks run with a failure code (timeouts included) */
    uint64_t timeouts;  /* callbacks run with ORC_REDIS_TIMEOUT */
    uint64_t cancelled;
    uint64_t connects;   /* connection attempts */
    uint64_t reconnects; /* connections established after the first */
    uint32_t pending;    /* commands whose callback has not run yet */
} orc_redis_status_t;

void orc_redis_options_defaults(orc_redis_options_t *opt);

/* Parses URL; on failure ERR says why (the password never appears in it). */
int orc_redis_parse_url(const char *url, orc_redis_url_t *out, char *err, size_t errlen);

/* Starts connecting at once (from the loop, not inside this call).  Start
 * OPT from orc_redis_options_defaults: fields other than db that are <= 0
 * take their defaults.  A host name (not an IP literal) needs OPT->dns.
 * NULL when the URL is invalid (logged) or memory is short; an empty URL
 * gives a disabled client. */
orc_redis_t *orc_redis_new(struct event_base *base, const orc_redis_options_t *opt);

/* Closes the connection; every pending callback runs once with
 * ORC_REDIS_CLOSED before it returns.  Not from inside a callback.  A
 * host-name lookup in flight is cancelled; libevent reports that from the
 * loop, so free the evdns base only after the loop ran once more. */
void orc_redis_free(orc_redis_t *r);

/* Sends ARGV (ARGVLEN NULL: NUL-terminated strings; else binary safe).
 * Returns the command's id (> 0) for orc_redis_cancel, or ORC_ERR - bad
 * arguments, out of memory, client being freed - when CB will not run. */
int orc_redis_command(orc_redis_t *r, orc_redis_cb cb, void *arg, int argc, const char **argv,
                      const size_t *argvlen);

/* CB of command ID will not run.  ORC_OK if it was pending, ORC_ERR if it
 * already ran (or ID is unknown).  Safe inside callbacks.  Ids are reused
 * only after 2^31 commands: forget an id once its callback ran. */
int orc_redis_cancel(orc_redis_t *r, int id);

/* R may be NULL (reported as disabled). */
orc_redis_status_t orc_redis_status(const orc_redis_t *r);

const char *orc_redis_rc_name(orc_redis_rc_t rc);

#endif
