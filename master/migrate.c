/*
 * migrate.c - applying the schema from the command line, with blocking
 * libpq: the same protocol as the workers (common/migrations.h).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/migrations.h"
#include "common/orc.h"
#include "common/pg_url.h"
#include "master/migrate.h"

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "already exists, skipping": expected on a prepared database */
}

static PGconn *connect_url(const char *url)
{
    orc_pg_url_t u;
    char err[300], port[16];
    if (orc_pg_parse_url(url, &u, err, sizeof(err)) != ORC_OK) {
        fprintf(stderr, "orchesity: database.url: %s\n", err);
        return NULL;
    }
    snprintf(port, sizeof(port), "%d", u.port);
    const char *keys[] = {
        "host", "port", "user", "password", "dbname", "sslmode", "application_name", "connect_timeout", NULL};
    const char *vals[] = {
        u.host, port, u.user, u.password, u.dbname, u.sslmode[0] ? u.sslmode : "prefer", "orchesity-migrate",
        "10",   NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    PQsetNoticeProcessor(c, on_notice, NULL);
    explicit_bzero(&u, sizeof(u));
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "orchesity: cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs SQL; ORC_OK, or ORC_ERR after printing the server's reason. */
static int exec_sql(PGconn *c, const char *sql, int *first_value)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "orchesity: %s", PQresultErrorMessage(r));
    else if (first_value != NULL)
        *first_value = PQntuples(r) > 0 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return ok ? ORC_OK : ORC_ERR;
}

static int apply_missing(PGconn *c, int current)
{
    int applied = 0;
    for (int i = 0; i < orc_migrations_count; i++) {
        const orc_migration_t *m = &orc_migrations[i];
        if (m->version <= current)
            continue;
        char *script = orc_migration_script(m);
        int rc = script ? exec_sql(c, script, NULL) : ORC_ERR;
        free(script);
        if (rc != ORC_OK) {
            fprintf(stderr, "orchesity: migration %s failed; the schema stays at version %d\n", m->name,
                    current);
            return ORC_ERR;
        }
        printf("applied %s\n", m->name);
        current = m->version;
        applied++;
    }
    printf("schema at version %d (%d migration%s applied)\n", current, applied, applied == 1 ? "" : "s");
    return ORC_OK;
}

int orc_migrate_run(const orc_config_t *cfg)
{
    if (cfg->database_url[0] == '\0') {
        fputs("orchesity: no database configured (DATABASE_URL or database.url)\n", stderr);
        return ORC_EXIT_FAILURE;
    }
    PGconn *c = connect_url(cfg->database_url);
    if (c == NULL)
        return ORC_EXIT_FAILURE;
    int current = 0, rc = ORC_ERR;
    if (exec_sql(c, ORC_MIGRATIONS_LOCK, NULL) == ORC_OK) {
        if (exec_sql(c, ORC_MIGRATIONS_TABLE, NULL) == ORC_OK &&
            exec_sql(c, ORC_MIGRATIONS_CURRENT, &current) == ORC_OK)
            rc = apply_missing(c, current);
        exec_sql(c, ORC_MIGRATIONS_UNLOCK, NULL);
    }
    PQfinish(c);
    return rc == ORC_OK ? ORC_EXIT_OK : ORC_EXIT_FAILURE;
}
