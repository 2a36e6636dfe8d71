/*
 * probe.h - reachability of a backing service (PostgreSQL, Redis) named
 * by a URL: an asynchronous DNS lookup and a non-blocking TCP connect
 * every health_check_interval seconds, never on the request path.
 */
#ifndef ORC_PROBE_H
#define ORC_PROBE_H

struct event_base;
struct evdns_base;
typedef struct orc_probe_s orc_probe_t;

/* URL empty or NULL: returns NULL (the service is disabled). */
orc_probe_t *orc_probe_new(struct event_base *base, struct evdns_base *dns, const char *what, const char *url,
                           int default_port, int interval_s);
void orc_probe_free(orc_probe_t *p);

/* "healthy", "unhealthy" or "unknown" (first probe not finished);
 * *error explains an unhealthy result. */
const char *orc_probe_status(const orc_probe_t *p, const char **error);

#endif
