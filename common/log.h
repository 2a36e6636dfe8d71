/*
 * log.h - the one logging call of every process, and the access log.
 * Lines carry time, level, pid and role ("master", "worker#3/g7").
 * Secrets never reach a log line: callers log key names, never values.
 */
#ifndef ORC_LOG_H
#define ORC_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    ORC_LOG_DEBUG,
    ORC_LOG_INFO,
    ORC_LOG_NOTICE,
    ORC_LOG_WARN,
    ORC_LOG_ERROR,
    ORC_LOG_CRIT,
    ORC_LOG_ALERT, /* "cannot happen": the test suite fails when one is logged */
} orc_log_level_t;

int orc_log_level_parse(const char *name, orc_log_level_t *out);
const char *orc_log_level_name(orc_log_level_t level);

int orc_log_open(const char *path); /* NULL, "" or "stderr": standard error */
int orc_log_reopen(void);
void orc_log_set_level(orc_log_level_t level);
void orc_log_set_role(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void orc_log(orc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void orc_vlog(orc_log_level_t level, const char *fmt, va_list ap);

/* Access log: one JSON line per request; "off" disables it. */
int orc_accesslog_open(const char *path);
int orc_accesslog_reopen(void);
int orc_accesslog_enabled(void);
void orc_accesslog_write(const char *line, size_t len);

#define orc_log_debug(...) orc_log(ORC_LOG_DEBUG, __VA_ARGS__)
#define orc_log_info(...) orc_log(ORC_LOG_INFO, __VA_ARGS__)
#define orc_log_notice(...) orc_log(ORC_LOG_NOTICE, __VA_ARGS__)
#define orc_log_warn(...) orc_log(ORC_LOG_WARN, __VA_ARGS__)
#define orc_log_error(...) orc_log(ORC_LOG_ERROR, __VA_ARGS__)
#define orc_log_crit(...) orc_log(ORC_LOG_CRIT, __VA_ARGS__)
#define orc_log_alert(...) orc_log(ORC_LOG_ALERT, __VA_ARGS__)

#endif
