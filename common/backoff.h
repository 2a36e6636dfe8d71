/*
 * backoff.h - respawn delay with exponential growth and crash-loop
 * detection.  Pure arithmetic on times passed in, so it is testable.
 */
#ifndef ORC_BACKOFF_H
#define ORC_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define ORC_BACKOFF_BASE_MS 50
#define ORC_BACKOFF_MAX_MS 10000
#define ORC_BACKOFF_STABLE_MS 10000   /* a worker up this long resets the count */
#define ORC_CRASHLOOP_CRASHES 5       /* this many crashes ...  */
#define ORC_CRASHLOOP_WINDOW_MS 30000 /* ... within this window is a crash loop */

typedef struct {
    uint32_t failures;                      /* consecutive crashes */
    uint64_t recent[ORC_CRASHLOOP_CRASHES]; /* times of the last crashes */
    uint32_t nrecent;
} orc_backoff_t;

/* Records a crash of a worker that lived UPTIME_MS; returns the delay
 * before its replacement may start. */
uint64_t orc_backoff_crash(orc_backoff_t *b, uint64_t now_ms, uint64_t uptime_ms);
bool orc_backoff_crashloop(const orc_backoff_t *b, uint64_t now_ms);
void orc_backoff_reset(orc_backoff_t *b);

#endif
