/*
 * pgconn.c - the command line's blocking PostgreSQL connection (see
 * pgconn.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "common/pg_url.h"
#include "master/pgconn.h"

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "already exists, skipping": expected on a prepared database */
}

static PGconn *connect_url(const char *url, const char *app)
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
    const char *vals[] = {u.host, port, u.user, u.password, u.dbname, u.sslmode[0] ? u.sslmode : "prefer",
                          app,    "10", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    explicit_bzero(&u, sizeof(u));
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "orchesity: cannot connect to the database: %s",
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, on_notice, NULL);
    return c;
}

PGconn *orc_pgconn_open(const orc_config_t *cfg, const char *app)
{
    if (cfg->database_url == NULL || cfg->database_url[0] == '\0') {
        fputs("orchesity: no database configured (DATABASE_URL or database.url)\n", stderr);
        return NULL;
    }
    return connect_url(cfg->database_url, app);
}

/* R if it succeeded, else NULL after printing the server's reason. */
static PGresult *succeeded(PGconn *c, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    fprintf(stderr, "orchesity: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return NULL;
}

PGresult *orc_pgconn_exec(PGconn *c, const char *sql, int nparams, const char *const *values)
{
    return succeeded(c, PQexecParams(c, sql, nparams, NULL, values, NULL, NULL, 0));
}

int orc_pgconn_run(PGconn *c, const char *script)
{
    PGresult *r = succeeded(c, PQexec(c, script)); /* the simple protocol: several statements */
    PQclear(r);
    return r != NULL ? ORC_OK : ORC_ERR;
}
