/*
 * resolve.c - asynchronous host-name lookups that can be abandoned.
 */
#include <event2/dns.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "worker/store/resolve.h"

struct orc_resolve_s {
    orc_resolve_cb cb; /* NULL once abandoned */
    void *arg;
    struct evdns_getaddrinfo_request *req;
    bool answered; /* the callback ran inside evdns_getaddrinfo */
};

static const struct evutil_addrinfo *pick_address(const struct evutil_addrinfo *ai)
{
    for (const struct evutil_addrinfo *p = ai; p != NULL; p = p->ai_next)
        if (p->ai_family == AF_INET) /* servers are most often bound to IPv4 only */
            return p;
    return ai;
}

static void on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
    orc_resolve_t *l = arg;
    char ip[64];
    const char *addr = NULL, *error = NULL;
    if (result != 0 || ai == NULL) {
        error = evutil_gai_strerror(result);
    } else {
        const struct evutil_addrinfo *p = pick_address(ai);
        const void *sa = p->ai_family == AF_INET6
                             ? (const void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr;
        addr = evutil_inet_ntop(p->ai_family, sa, ip, sizeof(ip));
        if (addr == NULL)
            error = "bad address";
    }
    if (ai != NULL)
        evutil_freeaddrinfo(ai);
    l->answered = true;
    if (l->cb != NULL)
        l->cb(l->arg, addr, error);
    if (l->req != NULL || l->cb == NULL) /* started (or abandoned): nobody else frees it */
        free(l);
}

orc_resolve_t *orc_resolve_start(struct evdns_base *dns, const char *host, orc_resolve_cb cb, void *arg)
{
    struct evutil_addrinfo hints = {0};
    orc_resolve_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        cb(arg, NULL, "out of memory");
        return NULL;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    l->cb = cb;
    l->arg = arg;
    struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(dns, host, NULL, &hints, on_resolved, l);
    if (l->answered || req == NULL) { /* answered at once: the callback ran */
        free(l);
        return NULL;
    }
    l->req = req;
    return l;
}

void orc_resolve_abandon(orc_resolve_t *l)
{
    if (l == NULL)
        return;
    l->cb = NULL;
    evdns_getaddrinfo_cancel(l->req); /* the callback runs later and frees L */
}
