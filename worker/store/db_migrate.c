/*
 * db_migrate.c - applying the embedded migrations from a worker, one
 * query at a time: lock, table, current version, each newer migration,
 * unlock.  The advisory lock makes the workers of several gateways that
 * start together wait for the one applying; a lost connection releases it
 * on the server.
 */
#include <stdlib.h>

#include "common/log.h"
#include "common/migrations.h"
#include "common/orc.h"
#include "worker/store/db_migrate.h"

#define LOCK_WAIT_MS 60000 /* another process may be applying a long migration */
#define STEP_TIMEOUT_MS 60000

typedef enum { STEP_LOCK, STEP_TABLE, STEP_CURRENT, STEP_APPLY, STEP_UNLOCK } step_t;

typedef struct {
    orc_pg_t *pg;
    orc_db_migrate_cb cb;
    void *arg;
    step_t step;
    int version;  /* reached so far */
    int next;     /* index in orc_migrations of the next to consider */
    char *script; /* the migration in flight */
    char error[400];
} migration_run_t;

static void on_answer(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error);

static void run_finish(migration_run_t *m, const char *error)
{
    m->cb(m->arg, error ? -1 : m->version, error ? error : "");
    free(m->script);
    free(m);
}

static int send_step(migration_run_t *m, const char *sql, int timeout_ms)
{
    return orc_pg_query(m->pg, sql, 0, NULL, timeout_ms, on_answer, m);
}

/* The next migration newer than the schema, or the unlock. */
static void apply_next(migration_run_t *m)
{
    while (m->next < orc_migrations_count && orc_migrations[m->next].version <= m->version)
        m->next++;
    free(m->script);
    m->script = NULL;
    if (m->next < orc_migrations_count) {
        const orc_migration_t *mig = &orc_migrations[m->next];
        orc_log_info("database: applying migration %s", mig->name);
        m->step = STEP_APPLY;
        m->script = orc_migration_script(mig);
        if (m->script != NULL && send_step(m, m->script, STEP_TIMEOUT_MS) == ORC_OK)
            return;
        snprintf(m->error, sizeof(m->error), "cannot send migration %s", mig->name);
    }
    m->step = STEP_UNLOCK;
    if (send_step(m, ORC_MIGRATIONS_UNLOCK, STEP_TIMEOUT_MS) != ORC_OK)
        run_finish(m, m->error[0] ? m->error : "cannot release the migration lock");
}

static void after_step(migration_run_t *m, const PGresult *res)
{
    switch (m->step) {
    case STEP_LOCK:
        m->step = STEP_TABLE;
        if (send_step(m, ORC_MIGRATIONS_TABLE, STEP_TIMEOUT_MS) != ORC_OK)
            run_finish(m, "cannot create schema_migrations");
        return;
    case STEP_TABLE:
        m->step = STEP_CURRENT;
        if (send_step(m, ORC_MIGRATIONS_CURRENT, STEP_TIMEOUT_MS) != ORC_OK)
            run_finish(m, "cannot read schema_migrations");
        return;
    case STEP_CURRENT:
        m->version = PQntuples(res) > 0 ? atoi(PQgetvalue(res, 0, 0)) : 0;
        apply_next(m);
        return;
    case STEP_APPLY:
        m->version = orc_migrations[m->next].version;
        orc_log_info("database: schema at version %d", m->version);
        apply_next(m);
        return;
    case STEP_UNLOCK: run_finish(m, m->error[0] ? m->error : NULL); return;
    }
}

static void on_answer(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    migration_run_t *m = arg;
    if (rc == ORC_PG_OK) {
        after_step(m, res);
        return;
    }
    snprintf(m->error, sizeof(m->error), "schema migration: %s", error[0] ? error : orc_pg_rc_name(rc));
    if (rc == ORC_PG_SQL_ERROR && m->step != STEP_UNLOCK && m->step != STEP_LOCK) {
        m->step = STEP_UNLOCK; /* the failed migration rolled back; let the others try */
        if (send_step(m, ORC_MIGRATIONS_UNLOCK, STEP_TIMEOUT_MS) == ORC_OK)
            return;
    }
    run_finish(m, m->error);
}

int orc_db_migrate_start(orc_pg_t *pg, orc_db_migrate_cb cb, void *arg)
{
    migration_run_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ORC_ERR;
    m->pg = pg;
    m->cb = cb;
    m->arg = arg;
    m->step = STEP_LOCK;
    if (send_step(m, ORC_MIGRATIONS_LOCK, LOCK_WAIT_MS) != ORC_OK) {
        free(m);
        return ORC_ERR;
    }
    return ORC_OK;
}
