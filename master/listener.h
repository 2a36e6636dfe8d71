/*
 * listener.h - the master's listening sockets.  Opened once and shared by
 * every worker; a reload that changes the addresses opens the new ones
 * first and closes the old ones after their workers drained.
 */
#ifndef ORC_LISTENER_H
#define ORC_LISTENER_H

#include "common/config.h"

typedef struct {
    int fds[ORC_LISTEN_MAX];
    char text[ORC_LISTEN_MAX][80];
    int n;
} orc_listeners_t;

/* Opens CFG's addresses, reusing sockets of KEEP that match. */
int orc_listeners_open(orc_listeners_t *out, const orc_config_t *cfg, const orc_listeners_t *keep, char *err,
                       size_t errlen);
/* Closes the sockets of L that are not in KEEP (KEEP may be NULL). */
void orc_listeners_close(orc_listeners_t *l, const orc_listeners_t *keep);

#endif
