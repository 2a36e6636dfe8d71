/*
 * util.h - small mechanisms shared by master and workers: clocks,
 * request ids, strict number parsing, ISO timestamps.
 */
#ifndef ORC_UTIL_H
#define ORC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORC_REQUEST_ID_MAX 128 /* longest client X-Request-ID we echo */
#define ORC_REQUEST_ID_SIZE (ORC_REQUEST_ID_MAX + 1)

uint64_t orc_now_ms(void);                                  /* CLOCK_MONOTONIC, comparable across processes */
uint64_t orc_now_us(void);                                  /* CLOCK_MONOTONIC in microseconds */
uint64_t orc_wall_ms(void);                                 /* CLOCK_REALTIME */
void orc_iso8601(char *buf, size_t size, uint64_t wall_ms); /* 2026-11-26T10:30:45Z */

bool orc_request_id_valid(const char *id);
void orc_request_id_new(char *buf, size_t size);
void orc_random_seed(void); /* call once per process after fork */
uint64_t orc_random_u64(void);

int orc_parse_int(const char *s, long min, long max, long *out);
int orc_parse_bool(const char *s, bool *out);

#endif
