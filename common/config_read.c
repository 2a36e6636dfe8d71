/*
 * config_read.c - setting errors with their source line, secret files.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_read.h"
#include "common/orc.h"

char *orc_config_read_strdup(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (copy == NULL) {
        fputs("orchesity: out of memory\n", stderr);
        abort();
    }
    return copy;
}

void orc_config_read_set(char **slot, const char *value)
{
    char *copy = orc_config_read_strdup(value);
    free(*slot);
    *slot = copy;
}

int orc_config_read_error(char *err, size_t errlen, const config_setting_t *s, const char *fmt, ...)
{
    size_t n = 0;
    if (s != NULL) {
        const char *file = config_setting_source_file(s);
        n = (size_t)snprintf(err, errlen, "%s:%d: ", file ? file : "?", (int)config_setting_source_line(s));
        n = ORC_MIN(n, errlen - 1);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
    return ORC_ERR;
}

int orc_config_read_secret_file(const char *var, const char *file, char **slot, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "environment %s_FILE: cannot read %s: %s", var, file, strerror(errno));
        return ORC_ERR;
    }
    char buf[4096] = "";
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    orc_config_read_set(slot, buf);
    return ORC_OK;
}
