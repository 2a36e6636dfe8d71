/*
 * db_migrate.h - the schema protocol of common/migrations.h run on a
 * worker's non-blocking connection.
 */
#ifndef ORC_DB_MIGRATE_H
#define ORC_DB_MIGRATE_H

#include "worker/store/pg.h"

/* VERSION is the schema version reached, or -1 with ERROR. */
typedef void (*orc_db_migrate_cb)(void *arg, int version, const char *error);

/* PG must be idle.  CB runs exactly once, never inside this call, unless
 * this returns ORC_ERR. */
int orc_db_migrate_start(orc_pg_t *pg, orc_db_migrate_cb cb, void *arg);

#endif
