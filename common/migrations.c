/*
 * migrations.c - what the embedded migrations share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/migrations.h"

int orc_migrations_latest(void)
{
    int v = 0;
    for (int i = 0; i < orc_migrations_count; i++)
        if (orc_migrations[i].version > v)
            v = orc_migrations[i].version;
    return v;
}

char *orc_migration_script(const orc_migration_t *m)
{
    static const char fmt[] = "%s\n;INSERT INTO schema_migrations (version, name) VALUES (%d, '%s');\n";
    size_t len = strlen(fmt) + strlen(m->sql) + strlen(m->name) + 16;
    char *s = malloc(len);
    if (s != NULL)
        snprintf(s, len, fmt, m->sql, m->version, m->name);
    return s;
}
