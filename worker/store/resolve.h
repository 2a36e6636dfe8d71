/*
 * resolve.h - one asynchronous host-name lookup (evdns) whose owner may
 * give up on it at any time: libevent reports a cancellation later, from
 * the loop, so the lookup frees itself there and never calls an owner
 * that has gone.
 */
#ifndef ORC_RESOLVE_H
#define ORC_RESOLVE_H

#include <stddef.h>

struct evdns_base;
typedef struct orc_resolve_s orc_resolve_t;

/* ADDR is a numeric address (IPv4 preferred), or NULL with ERROR. */
typedef void (*orc_resolve_cb)(void *arg, const char *addr, const char *error);

/* CB runs exactly once unless orc_resolve_abandon is called first; it may
 * run inside this call when the answer is known at once (then NULL is
 * returned).  NULL is also returned, after CB ran with the error, when
 * memory is short. */
orc_resolve_t *orc_resolve_start(struct evdns_base *dns, const char *host, orc_resolve_cb cb, void *arg);
/* CB will not run.  L may be NULL. */
void orc_resolve_abandon(orc_resolve_t *l);

#endif
