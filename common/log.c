/*
 * log.c - error log and access log sinks.
 *
 * Each line is formatted into a stack buffer and written with a single
 * write(2) on an O_APPEND descriptor, so lines of different processes
 * sharing one file never interleave.  Reopen (SIGUSR1) opens the path
 * again and swaps the descriptor; a failed reopen keeps the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/orc.h"

typedef struct {
    int fd;
    char path[512];
} orc_sink_t;

static int sink_open(orc_sink_t *sink, const char *path, int default_fd);
static int sink_reopen(orc_sink_t *sink);

static orc_sink_t error_sink = {STDERR_FILENO, ""};
static orc_sink_t access_sink = {-1, ""};
static orc_log_level_t log_level = ORC_LOG_INFO;
static char log_role[48] = "orchesity";

static const char *level_names[] = {"debug", "info", "notice", "warn", "error", "crit", "alert"};

int orc_log_level_parse(const char *name, orc_log_level_t *out)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (orc_log_level_t)i;
            return ORC_OK;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = ORC_LOG_WARN;
        return ORC_OK;
    }
    if (strcasecmp(name, "critical") == 0) {
        *out = ORC_LOG_CRIT;
        return ORC_OK;
    }
    return ORC_ERR;
}

const char *orc_log_level_name(orc_log_level_t level)
{
    return level_names[level];
}

static int sink_open(orc_sink_t *sink, const char *path, int default_fd)
{
    if (path == NULL || path[0] == '\0') {
        sink->path[0] = '\0';
        sink->fd = default_fd;
        return ORC_OK;
    }
    if (strcmp(path, "stderr") == 0) {
        sink->path[0] = '\0';
        sink->fd = STDERR_FILENO;
        return ORC_OK;
    }
    if (strcmp(path, "off") == 0) {
        sink->path[0] = '\0';
        sink->fd = -1;
        return ORC_OK;
    }
    if (strcmp(path, "stdout") == 0) {
        sink->path[0] = '\0';
        sink->fd = STDOUT_FILENO;
        return ORC_OK;
    }
    snprintf(sink->path, sizeof(sink->path), "%s", path);
    return sink_reopen(sink);
}

static int sink_reopen(orc_sink_t *sink)
{
    if (sink->path[0] == '\0')
        return ORC_OK;
    int fd = open(sink->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return ORC_ERR;
    if (sink->fd > STDERR_FILENO)
        close(sink->fd);
    sink->fd = fd;
    return ORC_OK;
}

int orc_log_open(const char *path)
{
    return sink_open(&error_sink, path, STDERR_FILENO);
}

int orc_log_reopen(void)
{
    return sink_reopen(&error_sink);
}

void orc_log_set_level(orc_log_level_t level)
{
    log_level = level;
}

void orc_log_set_role(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log_role, sizeof(log_role), fmt, ap);
    va_end(ap);
}

void orc_vlog(orc_log_level_t level, const char *fmt, va_list ap)
{
    if (level < log_level || error_sink.fd < 0)
        return;
    int saved_errno = errno;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %d %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level], (int)getpid(), log_role);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : ORC_MIN((size_t)m, sizeof(line) - (size_t)n - 2));
    line[len++] = '\n';
    ssize_t ignored = write(error_sink.fd, line, len);
    (void)ignored;
    errno = saved_errno;
}

void orc_log(orc_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    orc_vlog(level, fmt, ap);
    va_end(ap);
}

int orc_accesslog_open(const char *path)
{
    return sink_open(&access_sink, path, STDOUT_FILENO);
}

int orc_accesslog_reopen(void)
{
    return sink_reopen(&access_sink);
}

int orc_accesslog_enabled(void)
{
    return access_sink.fd >= 0;
}

void orc_accesslog_write(const char *line, size_t len)
{
    if (access_sink.fd < 0)
        return;
    ssize_t ignored = write(access_sink.fd, line, len);
    (void)ignored;
}
