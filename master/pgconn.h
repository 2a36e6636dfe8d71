/*
 * pgconn.h - the command line's blocking PostgreSQL connection
 * (`orchesity migrate`, `orchesity keys`): opened from DATABASE_URL /
 * database.url, statements run with text parameters, the server's reason
 * printed on standard error.
 */
#ifndef ORC_PGCONN_H
#define ORC_PGCONN_H

#include <libpq-fe.h>

#include "common/config.h"

/* A connection to CFG's database, named APP in pg_stat_activity; NULL after
 * saying why on standard error (never the password). */
PGconn *orc_pgconn_open(const orc_config_t *cfg, const char *app);

/* Runs SQL with NPARAMS text parameters (VALUES[i] NULL: SQL NULL).  The
 * result, for the caller to PQclear, or NULL after printing the server's
 * reason. */
PGresult *orc_pgconn_exec(PGconn *c, const char *sql, int nparams, const char *const *values);

/* Runs SCRIPT (one or several statements, no parameters) whose results are
 * not needed: ORC_OK, or ORC_ERR after printing the server's reason. */
int orc_pgconn_run(PGconn *c, const char *script);

#endif
