/*
 * reqlog_writer.h - ships a worker's request-log spool to PostgreSQL.
 *
 * Per worker: one connection of its own (worker/store/pg.h), one batch in
 * flight, batches of up to ORC_REQLOG_BATCH_ROWS records or
 * ORC_REQLOG_BATCH_BYTES, on a timer and as soon as enough is queued.  A
 * batch is one parameterised statement (the records as one jsonb
 * parameter) that inserts the requests, their attempts, the provider
 * totals and the sessions' last activity atomically, and skips requests
 * already stored: replaying a batch is harmless.  The checkpoint moves
 * only after the commit.  A batch PostgreSQL rejects for its data is
 * retried record by record; a record rejected alone is set aside in
 * rejected.jsonl in the spool directory, with the reason.  The writer
 * also adopts the spool files of dead workers.
 */
#ifndef ORC_REQLOG_WRITER_H
#define ORC_REQLOG_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/shm.h"
#include "worker/reqlog/spool.h"
#include "worker/store/db.h"

struct event_base;
struct evdns_base;
typedef struct orc_reqlog_writer_s orc_reqlog_writer_t;

/* What the request log works with, given by the worker. */
typedef struct {
    struct event_base *base;
    struct evdns_base *dns;
    const orc_config_t *cfg;
    orc_shm_t *shm;   /* every worker's spool gauges, read for /api/health */
    orc_slot_t *slot; /* this worker's counters and gauges, written by it alone */
    orc_db_t *db;     /* the pool, whose schema readiness gates shipping */
} orc_reqlog_env_t;

#define ORC_REQLOG_BATCH_ROWS 500
#define ORC_REQLOG_BATCH_BYTES (1u << 20)
#define ORC_REQLOG_TICK_MS 100
#define ORC_REQLOG_QUERY_TIMEOUT_MS 5000
#define ORC_REQLOG_DRAIN_MS 5000 /* longest a draining worker waits for its log to ship */
#define ORC_REQLOG_REJECTED_FILE "rejected.jsonl"

typedef struct {
    uint64_t spool_bytes, backlog_bytes;
    int files;
    bool connected, schema_ready;
} orc_reqlog_writer_status_t;

/* OWN (borrowed, may be NULL) is this worker's spool file. */
orc_reqlog_writer_t *orc_reqlog_writer_new(const orc_reqlog_env_t *env, orc_spool_t *own);
/* The worker drains: no more adopting of other workers' files. */
void orc_reqlog_writer_drain(orc_reqlog_writer_t *wr);
void orc_reqlog_writer_free(orc_reqlog_writer_t *wr);
/* A record was spooled: ship soon if a batch is full. */
void orc_reqlog_writer_kick(orc_reqlog_writer_t *wr);
/* Nothing left to ship and nothing in flight. */
bool orc_reqlog_writer_done(const orc_reqlog_writer_t *wr);
void orc_reqlog_writer_status(const orc_reqlog_writer_t *wr, orc_reqlog_writer_status_t *st);

/* The statement that stores a batch ($1: a JSON array of records). */
extern const char orc_reqlog_insert_sql[];
/* SQLSTATEs of errors that a record's data causes (retried one by one). */
bool orc_reqlog_data_error(const char *sqlstate);

#endif
