/*
 * config_read.h - what both configuration readers (config.c for the
 * settings, provider_config.c for the providers) share: errors that name
 * the file and line of a setting, and secrets read from VAR_FILE.
 */
#ifndef ORC_CONFIG_READ_H
#define ORC_CONFIG_READ_H

#include <stddef.h>

struct config_setting_t;

/* Writes "file:line: message" for setting S into ERR; returns ORC_ERR. */
int orc_config_read_error(char *err, size_t errlen, const struct config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A copy of S ("" for NULL); the process aborts when out of memory, which
 * can only happen at start-up or on a reload, never on a request. */
char *orc_config_read_strdup(const char *s);
/* Replaces *SLOT (freed) with a copy of VALUE, as orc_config_read_strdup. */
void orc_config_read_set(char **slot, const char *value);

/* VAR_FILE=PATH: SLOT becomes the file's first line (newline trimmed). */
int orc_config_read_secret_file(const char *var, const char *path, char **slot, char *err, size_t errlen);

#endif
