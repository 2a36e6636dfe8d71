/*
 * db.h - the worker's database: the schema (migrations applied once per
 * database under an advisory lock, see db_migrate.h) and a pool of
 * database.pool_size connections for the /api/db and /api/user endpoints.
 *
 * Without database.url the database is disabled and health reports
 * "disabled".  Queries wait at most database.pool_timeout seconds for a
 * free connection, take at most ORC_DB_QUERY_TIMEOUT_MS once sent, and are
 * refused at once while no connection is up, so an endpoint answers 503
 * quickly when PostgreSQL is down or frozen.
 *
 * Contract of orc_db_query: when it returns an id (> 0), CB runs exactly
 * once, never inside orc_db_query, unless orc_db_cancel(db, id) is called
 * first.  It returns ORC_ERR, without calling CB, when the database is
 * disabled, its schema is not ready or no connection is up: answer 503.
 * SQL must outlive the query (a string literal); VALUES are copied.
 */
#ifndef ORC_DB_H
#define ORC_DB_H

#include <stdbool.h>

#include "common/config.h"
#include "worker/store/pg.h"

typedef struct orc_db_s orc_db_t;
struct event_base;
struct evdns_base;
struct json_object;

#define ORC_DB_QUERY_TIMEOUT_MS 3000 /* one endpoint query, once sent */

/* The pool of worker number WORKER_INDEX on BASE, resolving names with DNS.
 * Never NULL unless memory is short; a disabled database without a URL. */
orc_db_t *orc_db_new(struct event_base *base, struct evdns_base *dns, const orc_config_t *cfg,
                     int worker_index);
void orc_db_free(orc_db_t *db);

bool orc_db_enabled(const orc_db_t *db);
/* The schema is at the version this binary knows (applied by any process). */
bool orc_db_schema_ready(const orc_db_t *db);

int orc_db_query(orc_db_t *db, const char *sql, int nparams, const char *const *values, orc_pg_cb cb,
                 void *arg);
int orc_db_cancel(orc_db_t *db, int id);

/* {"status": "healthy|unhealthy|disabled", "error", "schema_version", "pool": {...}} */
struct json_object *orc_db_health(const orc_db_t *db);

#endif
