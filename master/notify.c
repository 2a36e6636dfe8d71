/*
 * notify.c - sd_notify from libsystemd when built with it, else the
 * datagram protocol by hand (one AF_UNIX datagram to $NOTIFY_SOCKET, an
 * '@' prefix meaning the abstract namespace).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "common/log.h"
#include "common/util.h"
#include "master/notify.h"

#ifndef HAVE_LIBSYSTEMD
static void notify_by_hand(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
        orc_log_warn("sd_notify: sendto failed");
    close(fd);
}
#endif

void orc_notify(const char *state)
{
    orc_log_debug("sd_notify: %s", state);
#ifdef HAVE_LIBSYSTEMD
    sd_notify(0, state);
#else
    notify_by_hand(state);
#endif
}

void orc_notify_reloading(void)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)orc_now_us());
    orc_notify(msg);
}

uint64_t orc_notify_watchdog_interval_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (usec == NULL || *usec == '\0')
        return 0;
    if (pid != NULL && *pid && atol(pid) != (long)getpid())
        return 0;
    unsigned long long v = strtoull(usec, NULL, 10);
    return v / 2000u;
}
