/*
 * probe.c - periodic TCP reachability check of one service.
 *
 * States: idle (timer armed) -> resolving (evdns) -> connecting (socket
 * event with a timeout) -> idle.  The probe owns its socket and its
 * pending lookup; orc_probe_free cancels both.  The URL's password is
 * never kept or logged: only host and port are extracted.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/orc.h"
#include "worker/store/probe.h"

#define PROBE_CONNECT_TIMEOUT_S 2

struct orc_probe_s {
    struct event_base *base;
    struct evdns_base *dns;
    struct event *timer;
    struct event *conn_ev;
    struct evdns_getaddrinfo_request *lookup;
    evutil_socket_t fd;
    char what[32];
    char host[256];
    char port[8];
    int interval_s;
    const char *status;
    char error[160];
};

static void probe_start(orc_probe_t *p);

static int parse_url(orc_probe_t *p, const char *url, int default_port)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = ORC_ERR;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host == NULL)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') /* IPv6 literal */
        snprintf(p->host, sizeof(p->host), "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(p->host, sizeof(p->host), "%s", host);
    snprintf(p->port, sizeof(p->port), "%s", port ? port : "");
    if (port == NULL)
        snprintf(p->port, sizeof(p->port), "%d", default_port);
    rc = ORC_OK;
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static void probe_done(orc_probe_t *p, const char *status, const char *error)
{
    bool changed = strcmp(p->status, status) != 0;
    if (changed && strcmp(status, "unhealthy") == 0)
        orc_log_warn("%s at %s:%s is unreachable: %s", p->what, p->host, p->port, error);
    else if (changed && strcmp(status, "healthy") == 0)
        orc_log_info("%s at %s:%s is reachable", p->what, p->host, p->port);
    p->status = status;
    snprintf(p->error, sizeof(p->error), "%s", error ? error : "");
    if (p->conn_ev) {
        event_free(p->conn_ev);
        p->conn_ev = NULL;
    }
    if (p->fd >= 0) {
        evutil_closesocket(p->fd);
        p->fd = -1;
    }
    struct timeval tv = {p->interval_s, 0};
    evtimer_add(p->timer, &tv);
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    orc_probe_t *p = arg;
    int err = 0;
    socklen_t len = sizeof(err);
    if (what & EV_TIMEOUT) {
        probe_done(p, "unhealthy", "connect timed out");
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    probe_done(p, err ? "unhealthy" : "healthy", err ? strerror(err) : NULL);
}

static void on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
    orc_probe_t *p = arg;
    if (result == EVUTIL_EAI_CANCEL)
        return; /* reported from the loop after orc_probe_free: P is gone */
    p->lookup = NULL;
    if (result != 0 || ai == NULL) {
        probe_done(p, "unhealthy", evutil_gai_strerror(result));
        return;
    }
    p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = p->fd < 0 ? -1 : connect(p->fd, ai->ai_addr, ai->ai_addrlen);
    int err = errno;
    evutil_freeaddrinfo(ai);
    if (rc != 0 && err != EINPROGRESS) {
        probe_done(p, "unhealthy", strerror(err));
        return;
    }
    struct timeval tv = {PROBE_CONNECT_TIMEOUT_S, 0};
    p->conn_ev = event_new(p->base, p->fd, EV_WRITE, on_connected, p);
    if (p->conn_ev == NULL || event_add(p->conn_ev, &tv) != 0)
        probe_done(p, "unknown", "out of memory");
}

static void probe_start(orc_probe_t *p)
{
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct evdns_getaddrinfo_request *r = evdns_getaddrinfo(p->dns, p->host, p->port, &hints, on_resolved, p);
    if (r != NULL) /* NULL: answered at once (numeric host) or failed; the callback ran */
        p->lookup = r;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    probe_start(arg);
}

orc_probe_t *orc_probe_new(struct event_base *base, struct evdns_base *dns, const char *what, const char *url,
                           int default_port, int interval_s)
{
    if (url == NULL || url[0] == '\0')
        return NULL;
    orc_probe_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->base = base;
    p->dns = dns;
    p->fd = -1;
    p->interval_s = interval_s;
    p->status = "unknown";
    snprintf(p->what, sizeof(p->what), "%s", what);
    if (parse_url(p, url, default_port) != ORC_OK) {
        p->status = "unhealthy";
        snprintf(p->error, sizeof(p->error), "the %s URL cannot be parsed", what);
        orc_log_error("%s", p->error);
    }
    p->timer = evtimer_new(base, on_timer, p);
    if (p->timer == NULL) {
        free(p);
        return NULL;
    }
    struct timeval now = {0, 0};
    if (strcmp(p->status, "unknown") == 0)
        evtimer_add(p->timer, &now);
    return p;
}

void orc_probe_free(orc_probe_t *p)
{
    if (p == NULL)
        return;
    if (p->lookup)
        evdns_getaddrinfo_cancel(p->lookup);
    if (p->conn_ev)
        event_free(p->conn_ev);
    if (p->fd >= 0)
        evutil_closesocket(p->fd);
    if (p->timer)
        event_free(p->timer);
    free(p);
}

const char *orc_probe_status(const orc_probe_t *p, const char **error)
{
    *error = p->error[0] ? p->error : NULL;
    return p->status;
}
