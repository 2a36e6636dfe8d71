/*
 * migrate.c - applying the schema from the command line, with blocking
 * libpq: the same protocol as the workers (common/migrations.h).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/migrations.h"
#include "common/orc.h"
#include "master/migrate.h"
#include "master/pgconn.h"

/* The schema version recorded in schema_migrations; -1 after printing why. */
static int current_version(PGconn *c)
{
    PGresult *r = orc_pgconn_exec(c, ORC_MIGRATIONS_CURRENT, 0, NULL);
    int v = r == NULL ? -1 : PQntuples(r) > 0 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

static int apply_missing(PGconn *c, int *version, int *applied, FILE *report)
{
    for (int i = 0; i < orc_migrations_count; i++) {
        const orc_migration_t *m = &orc_migrations[i];
        if (m->version <= *version)
            continue;
        char *script = orc_migration_script(m);
        int rc = script ? orc_pgconn_run(c, script) : ORC_ERR;
        free(script);
        if (rc != ORC_OK) {
            fprintf(stderr, "orchesity: migration %s failed; the schema stays at version %d\n", m->name,
                    *version);
            return ORC_ERR;
        }
        fprintf(report, "applied %s\n", m->name);
        *version = m->version;
        (*applied)++;
    }
    return ORC_OK;
}

int orc_migrate_apply(PGconn *c, FILE *report, int *version, int *applied)
{
    int rc = ORC_ERR;
    *applied = 0;
    if (orc_pgconn_run(c, ORC_MIGRATIONS_LOCK) != ORC_OK)
        return ORC_ERR;
    if (orc_pgconn_run(c, ORC_MIGRATIONS_TABLE) == ORC_OK && (*version = current_version(c)) >= 0)
        rc = apply_missing(c, version, applied, report);
    orc_pgconn_run(c, ORC_MIGRATIONS_UNLOCK);
    return rc;
}

int orc_migrate_run(const orc_config_t *cfg)
{
    int version = 0, applied = 0;
    PGconn *c = orc_pgconn_open(cfg, "orchesity-migrate");
    if (c == NULL)
        return ORC_EXIT_FAILURE;
    int rc = orc_migrate_apply(c, stdout, &version, &applied);
    PQfinish(c);
    if (rc != ORC_OK)
        return ORC_EXIT_FAILURE;
    printf("schema at version %d (%d migration%s applied)\n", version, applied, applied == 1 ? "" : "s");
    return ORC_EXIT_OK;
}
