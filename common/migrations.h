/*
 * migrations.h - the schema this binary knows: the SQL files of
 * etc/migrations, embedded at build time, and the statements that apply
 * them once per database.
 *
 * Protocol (the same for `orchesity migrate` and for workers at start-up):
 * take the advisory lock, create schema_migrations if missing, read the
 * highest version applied, run each newer migration together with the
 * INSERT of its version as one implicit transaction (one simple-protocol
 * query), release the lock.  Several gateways starting together apply
 * each migration exactly once; a database at a newer version than the
 * binary knows is accepted as it is.
 */
#ifndef ORC_MIGRATIONS_H
#define ORC_MIGRATIONS_H

#include <stddef.h>

typedef struct {
    int version;
    const char *name; /* "001_initial" */
    const char *sql;
} orc_migration_t;

extern const orc_migration_t orc_migrations[];
extern const int orc_migrations_count;

/* pg_advisory_lock key: the bytes "orchesit" as a big-endian integer. */
#define ORC_MIGRATIONS_LOCK "SELECT pg_advisory_lock(8030590385584826740)"
#define ORC_MIGRATIONS_UNLOCK "SELECT pg_advisory_unlock(8030590385584826740)"
#define ORC_MIGRATIONS_TABLE                                                                                 \
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "        \
    "applied_at timestamptz NOT NULL DEFAULT now())"
#define ORC_MIGRATIONS_CURRENT "SELECT coalesce(max(version), 0) FROM schema_migrations"

/* The version this binary brings the schema to. */
int orc_migrations_latest(void);

/* The query that applies migration M and records it: malloc'd, NULL when
 * memory is short. */
char *orc_migration_script(const orc_migration_t *m);

#endif
