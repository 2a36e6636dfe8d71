/*
 * notify.h - the systemd notification protocol (sd_notify) and the
 * watchdog.  A no-op when NOTIFY_SOCKET is not set.
 */
#ifndef ORC_NOTIFY_H
#define ORC_NOTIFY_H

#include <stdint.h>

void orc_notify(const char *state);
void orc_notify_reloading(void);                /* RELOADING=1 with MONOTONIC_USEC */
uint64_t orc_notify_watchdog_interval_ms(void); /* half of WATCHDOG_USEC, 0 if off */

#endif
