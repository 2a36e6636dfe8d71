/*
 * backoff.c - exponential respawn delay: 50 ms doubling to 10 s.
 */
#include <string.h>

#include "common/backoff.h"

uint64_t orc_backoff_crash(orc_backoff_t *b, uint64_t now_ms, uint64_t uptime_ms)
{
    if (uptime_ms >= ORC_BACKOFF_STABLE_MS)
        b->failures = 0;
    b->failures++;
    memmove(&b->recent[1], &b->recent[0], sizeof(b->recent) - sizeof(b->recent[0]));
    b->recent[0] = now_ms;
    if (b->nrecent < ORC_CRASHLOOP_CRASHES)
        b->nrecent++;
    uint64_t delay = ORC_BACKOFF_BASE_MS;
    for (uint32_t i = 1; i < b->failures && delay < ORC_BACKOFF_MAX_MS; i++)
        delay *= 2;
    return delay > ORC_BACKOFF_MAX_MS ? ORC_BACKOFF_MAX_MS : delay;
}

bool orc_backoff_crashloop(const orc_backoff_t *b, uint64_t now_ms)
{
    if (b->nrecent < ORC_CRASHLOOP_CRASHES)
        return false;
    return now_ms - b->recent[ORC_CRASHLOOP_CRASHES - 1] <= ORC_CRASHLOOP_WINDOW_MS;
}

void orc_backoff_reset(orc_backoff_t *b)
{
    memset(b, 0, sizeof(*b));
}
