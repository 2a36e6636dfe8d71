/*
 * listener.c - socket, SO_REUSEADDR, bind, listen(backlog), non-blocking.
 * IPv6 sockets are v6-only so "0.0.0.0:P" and "[::]:P" can both be used.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/orc.h"
#include "master/listener.h"

static int open_one(const orc_listen_t *l, int backlog, char *err, size_t errlen)
{
    int family = l->addr.ss_family, one = 1;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket() for %s: %s", l->text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int find(const orc_listeners_t *set, const char *text)
{
    for (int i = 0; set && i < set->n; i++)
        if (strcmp(set->text[i], text) == 0)
            return i;
    return -1;
}

int orc_listeners_open(orc_listeners_t *out, const orc_config_t *cfg, const orc_listeners_t *keep, char *err,
                       size_t errlen)
{
    orc_listeners_t fresh = {.n = 0};
    for (int i = 0; i < cfg->nlisten; i++) {
        int k = find(keep, cfg->listen[i].text);
        int fd = k >= 0 ? keep->fds[k] : open_one(&cfg->listen[i], cfg->backlog, err, errlen);
        if (fd < 0) {
            orc_listeners_close(&fresh, keep);
            return ORC_ERR;
        }
        if (k < 0)
            orc_log_info("listening on %s", cfg->listen[i].text);
        fresh.fds[fresh.n] = fd;
        snprintf(fresh.text[fresh.n], sizeof(fresh.text[0]), "%s", cfg->listen[i].text);
        fresh.n++;
    }
    *out = fresh;
    return ORC_OK;
}

void orc_listeners_close(orc_listeners_t *l, const orc_listeners_t *keep)
{
    for (int i = 0; i < l->n; i++) {
        if (find(keep, l->text[i]) >= 0)
            continue;
        orc_log_info("closing listener %s", l->text[i]);
        close(l->fds[i]);
    }
    l->n = 0;
}
