/*
 * db.c - the worker's database: schema readiness and the pool of
 * connections that the /api/db and /api/user endpoints query.
 *
 * The pool's share of each worker is database.pool_size +
 * database.max_overflow divided by the number of workers (at least one),
 * so the whole gateway stays within what the settings say.  One connection
 * opens at start; more open when a query has to wait.  The first
 * connection up applies the migrations (db_migrate.c); no query runs
 * before the schema is ready.  A query waits at most
 * database.pool_timeout seconds for a free connection; with no connection
 * up it is refused at once, so endpoints answer 503 without waiting.
 *
 * Invariant: a query is on exactly one list at a time, the waiting list
 * (FIFO) or the running list (on a connection), or on none while it moves
 * between them or is being freed; query_t.list says which (checked).
 */
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/migrations.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/store/db.h"
#include "worker/store/db_migrate.h"

#define MIGRATE_RETRY_MS 10000

typedef enum { ON_NO_LIST = 0, ON_WAITING_LIST, ON_RUNNING_LIST } query_list_t;

typedef struct query_s query_t;
struct query_s {
    query_list_t list;
    orc_db_t *db;
    int id;
    const char *sql;
    int nparams;
    char *values[ORC_PG_PARAMS_MAX];
    orc_pg_cb cb; /* NULL once cancelled */
    void *arg;
    uint64_t deadline_ms; /* while waiting for a connection */
    query_t *next;
};

struct orc_db_s {
    struct event_base *base;
    struct evdns_base *dns;
    const orc_config_t *cfg;
    int worker_index;
    bool enabled, closing;
    orc_pg_t **conns;
    int nconns, maxconns;
    bool migrating, schema_ready;
    int schema_version;
    char schema_error[400];
    query_t *wait_head, *wait_tail; /* waiting for a free connection */
    query_t *running;               /* on a connection (singly linked, any order) */
    int nwaiting;
    int last_id;
    struct event *timer_ev; /* waiting deadlines, migration retry */
};

static void dispatch(orc_db_t *db);

/* ---- connections ----------------------------------------------------------- */

static void on_migrated(void *arg, int version, const char *error)
{
    orc_db_t *db = arg;
    db->migrating = false;
    if (db->closing)
        return;
    if (version < 0) {
        snprintf(db->schema_error, sizeof(db->schema_error), "%s", error);
        orc_log_error("database: %s; trying again in %d s", error, MIGRATE_RETRY_MS / 1000);
        struct timeval tv = {MIGRATE_RETRY_MS / 1000, 0};
        event_add(db->timer_ev, &tv);
        return;
    }
    db->schema_error[0] = '\0';
    db->schema_version = version;
    db->schema_ready = version >= orc_migrations_latest();
    if (version > orc_migrations_latest())
        orc_log_info("database: schema version %d is newer than this gateway's (%d)", version,
                     orc_migrations_latest());
    dispatch(db);
}

static void migrate_if_needed(orc_db_t *db)
{
    if (db->schema_ready || db->migrating || db->closing)
        return;
    for (int i = 0; i < db->nconns; i++)
        if (orc_pg_idle(db->conns[i]) && orc_db_migrate_start(db->conns[i], on_migrated, db) == ORC_OK) {
            db->migrating = true;
            return;
        }
}

static void on_conn_up(void *arg)
{
    orc_db_t *db = arg;
    migrate_if_needed(db);
    dispatch(db);
}

static int conn_add(orc_db_t *db)
{
    orc_pg_options_t opt;
    char name[48];
    if (db->nconns >= db->maxconns)
        return ORC_ERR;
    orc_pg_options_defaults(&opt);
    snprintf(name, sizeof(name), "orchesity worker#%d", db->worker_index);
    opt.url = db->cfg->database_url;
    opt.dns = db->dns;
    opt.application_name = name;
    opt.recycle_s = db->cfg->db_pool_recycle;
    opt.echo = db->cfg->database_echo;
    opt.on_up = on_conn_up;
    opt.arg = db;
    orc_pg_t *pg = orc_pg_new(db->base, &opt);
    if (pg == NULL)
        return ORC_ERR;
    db->conns[db->nconns++] = pg;
    return ORC_OK;
}

static int conns_up(const orc_db_t *db)
{
    int n = 0;
    for (int i = 0; i < db->nconns; i++)
        n += orc_pg_connected(db->conns[i]);
    return n;
}

/* ---- queries ------------------------------------------------------------------ */

static void query_free(query_t *q)
{
    ORC_ASSERT(q->list == ON_NO_LIST);
    for (int i = 0; i < q->nparams; i++)
        free(q->values[i]);
    free(q);
}

static void unlink_running(orc_db_t *db, query_t *q)
{
    query_t **p = &db->running;
    while (*p != NULL && *p != q)
        p = &(*p)->next;
    ORC_ASSERT(q->list == ON_RUNNING_LIST && *p == q);
    if (*p == NULL)
        return;
    *p = q->next;
    q->next = NULL;
    q->list = ON_NO_LIST;
}

static void push_running(orc_db_t *db, query_t *q)
{
    ORC_ASSERT(q->list == ON_NO_LIST && q->next == NULL);
    q->next = db->running;
    q->list = ON_RUNNING_LIST;
    db->running = q;
}

static void push_waiting(orc_db_t *db, query_t *q)
{
    ORC_ASSERT(q->list == ON_NO_LIST && q->next == NULL);
    q->list = ON_WAITING_LIST;
    if (db->wait_tail)
        db->wait_tail->next = q;
    else
        db->wait_head = q;
    db->wait_tail = q;
    db->nwaiting++;
}

static void on_answer(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    query_t *q = arg;
    orc_db_t *db = q->db;
    unlink_running(db, q);
    if (q->cb != NULL)
        q->cb(q->arg, rc, res, error);
    query_free(q);
    if (!db->closing)
        dispatch(db);
}

static query_t *wait_pop(orc_db_t *db)
{
    query_t *q = db->wait_head;
    if (q != NULL) {
        ORC_ASSERT(q->list == ON_WAITING_LIST && db->nwaiting > 0);
        db->wait_head = q->next;
        if (db->wait_head == NULL)
            db->wait_tail = NULL;
        db->nwaiting--;
        q->next = NULL;
        q->list = ON_NO_LIST;
    }
    return q;
}

static bool start_on_free_conn(orc_db_t *db, query_t *q)
{
    for (int i = 0; i < db->nconns; i++) {
        if (!orc_pg_idle(db->conns[i]))
            continue;
        if (orc_pg_query(db->conns[i], q->sql, q->nparams, (const char *const *)q->values,
                         ORC_DB_QUERY_TIMEOUT_MS, on_answer, q) == ORC_OK)
            return true; /* ON_ANSWER never runs inside orc_pg_query */
    }
    return false;
}

static void dispatch(orc_db_t *db)
{
    if (!db->schema_ready)
        return;
    while (db->wait_head != NULL) {
        query_t *q = db->wait_head;
        if (q->cb == NULL) { /* cancelled while waiting */
            query_free(wait_pop(db));
            continue;
        }
        if (!start_on_free_conn(db, q))
            break;
        wait_pop(db); /* before Q->next links it into the running list */
        push_running(db, q);
    }
    if (db->wait_head != NULL && conns_up(db) == db->nconns)
        conn_add(db); /* everyone is busy: grow within the worker's share */
}

/* ---- waiting deadlines ------------------------------------------------------- */

static void fail_expired(orc_db_t *db, uint64_t now)
{
    query_t *keep = NULL, **keep_end = &keep, *q;
    while ((q = wait_pop(db)) != NULL) {
        if (q->cb != NULL && now < q->deadline_ms && conns_up(db) > 0 && db->schema_ready) {
            *keep_end = q;
            keep_end = &q->next;
            continue;
        }
        if (q->cb != NULL)
            q->cb(q->arg, ORC_PG_NOT_CONNECTED, NULL,
                  conns_up(db) ? "no free database connection within database.pool_timeout"
                               : "the database connection was lost");
        query_free(q);
    }
    while ((q = keep) != NULL) { /* back in their order */
        keep = q->next;
        q->next = NULL;
        push_waiting(db, q);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    orc_db_t *db = arg;
    (void)fd;
    (void)what;
    fail_expired(db, orc_now_ms());
    migrate_if_needed(db);
    dispatch(db);
    struct timeval tv = {0, 250 * 1000};
    if (db->wait_head != NULL)
        event_add(db->timer_ev, &tv);
}

/* ---- interface ------------------------------------------------------------------ */

static int pool_share(const orc_config_t *c)
{
    int total = c->db_pool_size + c->db_max_overflow, workers = c->workers > 0 ? c->workers : 1;
    return ORC_MAX(1, (total + workers - 1) / workers);
}

orc_db_t *orc_db_new(struct event_base *base, struct evdns_base *dns, const orc_config_t *cfg,
                     int worker_index)
{
    orc_db_t *db = calloc(1, sizeof(*db));
    if (db == NULL)
        return NULL;
    db->base = base;
    db->dns = dns;
    db->cfg = cfg;
    db->worker_index = worker_index;
    db->enabled = cfg->database_url[0] != '\0';
    if (!db->enabled)
        return db;
    db->maxconns = pool_share(cfg);
    db->conns = calloc((size_t)db->maxconns, sizeof(*db->conns));
    db->timer_ev = event_new(base, -1, 0, on_timer, db);
    if (db->conns == NULL || db->timer_ev == NULL || conn_add(db) != ORC_OK) {
        orc_db_free(db);
        return NULL;
    }
    return db;
}

void orc_db_free(orc_db_t *db)
{
    query_t *q;
    if (db == NULL)
        return;
    db->closing = true;
    while ((q = wait_pop(db)) != NULL) {
        if (q->cb != NULL)
            q->cb(q->arg, ORC_PG_CLOSED, NULL, "the database connection was closed");
        query_free(q);
    }
    for (int i = 0; i < db->nconns; i++)
        orc_pg_free(db->conns[i]); /* runs the callbacks of running queries */
    free(db->conns);
    if (db->timer_ev)
        event_free(db->timer_ev);
    free(db);
}

bool orc_db_enabled(const orc_db_t *db)
{
    return db != NULL && db->enabled;
}

bool orc_db_schema_ready(const orc_db_t *db)
{
    return orc_db_enabled(db) && db->schema_ready;
}

int orc_db_query(orc_db_t *db, const char *sql, int nparams, const char *const *values, orc_pg_cb cb,
                 void *arg)
{
    if (!orc_db_schema_ready(db) || conns_up(db) == 0 || nparams < 0 || nparams > ORC_PG_PARAMS_MAX)
        return ORC_ERR;
    query_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return ORC_ERR;
    q->db = db;
    q->sql = sql;
    q->cb = cb;
    q->arg = arg;
    q->nparams = nparams;
    for (int i = 0; i < nparams; i++)
        if (values[i] != NULL && (q->values[i] = strdup(values[i])) == NULL) {
            query_free(q);
            return ORC_ERR;
        }
    q->id = db->last_id = db->last_id == INT32_MAX ? 1 : db->last_id + 1;
    q->deadline_ms = orc_now_ms() + (uint64_t)db->cfg->db_pool_timeout * 1000;
    push_waiting(db, q);
    struct timeval tv = {0, 0}; /* from the loop: CB never runs inside this call */
    event_add(db->timer_ev, &tv);
    return q->id;
}

int orc_db_cancel(orc_db_t *db, int id)
{
    if (db == NULL || id <= 0)
        return ORC_ERR;
    for (query_t *q = db->wait_head; q != NULL; q = q->next)
        if (q->id == id && q->cb != NULL) {
            q->cb = NULL;
            return ORC_OK;
        }
    for (query_t *q = db->running; q != NULL; q = q->next)
        if (q->id == id && q->cb != NULL) {
            q->cb = NULL;
            return ORC_OK;
        }
    return ORC_ERR;
}

static const char *health_error(const orc_db_t *db)
{
    for (int i = 0; i < db->nconns; i++) {
        orc_pg_status_t s = orc_pg_status(db->conns[i]);
        if (!s.connected)
            return s.error;
    }
    return db->schema_error[0] ? db->schema_error : "the schema is being applied";
}

json_object *orc_db_health(const orc_db_t *db)
{
    json_object *o = json_object_new_object(), *pool = json_object_new_object();
    if (!orc_db_enabled(db)) {
        json_object_object_add(o, "status", json_object_new_string("disabled"));
        json_object_put(pool);
        return o;
    }
    int up = conns_up(db), busy = 0;
    for (int i = 0; i < db->nconns; i++)
        busy += orc_pg_connected(db->conns[i]) && !orc_pg_idle(db->conns[i]);
    bool healthy = up > 0 && db->schema_ready;
    json_object_object_add(o, "status", json_object_new_string(healthy ? "healthy" : "unhealthy"));
    if (!healthy)
        json_object_object_add(o, "error", json_object_new_string(health_error(db)));
    json_object_object_add(o, "schema_version", json_object_new_int(db->schema_version));
    json_object_object_add(pool, "size", json_object_new_int(db->maxconns));
    json_object_object_add(pool, "open", json_object_new_int(db->nconns));
    json_object_object_add(pool, "connected", json_object_new_int(up));
    json_object_object_add(pool, "busy", json_object_new_int(busy));
    json_object_object_add(pool, "waiting", json_object_new_int(db->nwaiting));
    json_object_object_add(o, "pool", pool);
    return o;
}
