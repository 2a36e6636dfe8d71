/*
 * util.c - clocks, request ids and strict parsing.
 *
 * The random generator is a per-process xorshift seeded from getrandom(2)
 * after fork, so two workers never produce the same request id sequence.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/orc.h"
#include "common/util.h"

static uint64_t random_state = 0x9e3779b97f4a7c15ULL;

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t orc_now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

uint64_t orc_now_ms(void)
{
    return clock_us(CLOCK_MONOTONIC) / 1000u;
}

uint64_t orc_wall_ms(void)
{
    return clock_us(CLOCK_REALTIME) / 1000u;
}

void orc_iso8601(char *buf, size_t size, uint64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A client id is echoed only when it is short and made of URL-safe characters. */
bool orc_request_id_valid(const char *id)
{
    size_t len = 0;
    if (id == NULL)
        return false;
    for (const char *p = id; *p; p++, len++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':';
        if (!ok || len >= ORC_REQUEST_ID_MAX)
            return false;
    }
    return len > 0;
}

void orc_random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = orc_now_us() ^ ((uint64_t)getpid() << 32);
    random_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t orc_random_u64(void)
{
    uint64_t x = random_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    random_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

void orc_request_id_new(char *buf, size_t size)
{
    snprintf(buf, size, "req_%llu_%016llx", (unsigned long long)orc_wall_ms(),
             (unsigned long long)orc_random_u64());
}

int orc_parse_int(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    if (s == NULL || !(isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))))
        return ORC_ERR; /* no blanks, no '+' */
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return ORC_ERR;
    *out = v;
    return ORC_OK;
}

int orc_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    if (s == NULL)
        return ORC_ERR;
    for (size_t i = 0; i < ORC_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return ORC_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return ORC_OK;
        }
    }
    return ORC_ERR;
}
