/*
 * migrate.h - `orchesity migrate`: applies the embedded migrations to
 * DATABASE_URL and exits, for deployments that prepare the schema before
 * starting the gateways (workers otherwise do it themselves at start-up).
 */
#ifndef ORC_MIGRATE_H
#define ORC_MIGRATE_H

#include <libpq-fe.h>
#include <stdio.h>

#include "common/config.h"

/* Prints what it did on standard output; returns a process exit code. */
int orc_migrate_run(const orc_config_t *cfg);

/* Applies the missing migrations on C under the migration lock, naming each
 * on REPORT.  ORC_OK with the schema *VERSION and the number *APPLIED, or
 * ORC_ERR after saying why on standard error. */
int orc_migrate_apply(PGconn *c, FILE *report, int *version, int *applied);

#endif
