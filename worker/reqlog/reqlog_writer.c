/*
 * reqlog_writer.c - ships the request-log spool to PostgreSQL (see
 * reqlog_writer.h).
 *
 * Sources, in order: adopted files of dead workers, then this worker's
 * own file.  A batch is read from its source's checkpoint; the
 * checkpoint moves to the batch's end only when PostgreSQL answered that
 * the statement committed.  A failure that is not the data's fault (no
 * connection, a timeout, a missing table, a deadlock) leaves everything
 * in place for a later try: the backlog ships when PostgreSQL is back.
 * Requests never wait for any of this.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/store/db.h"
#include "worker/store/pg.h"
#include "worker/reqlog/reqlog_writer.h"

#define ADOPT_MAX 16
#define SCAN_EVERY_MS 2000
#define RETRY_MS 1000 /* after an error that is not the data's fault */
#define WARN_EVERY_MS 10000

const char orc_reqlog_insert_sql[] =
    "WITH recs AS ("
    " SELECT DISTINCT ON (r.request_id) r.*"
    " FROM jsonb_to_recordset($1::jsonb) AS r(request_id text, endpoint text, prompt text, providers jsonb,"
    " model text, max_tokens integer, temperature double precision, stream boolean, status text,"
    " http_status integer, created_at timestamptz, session_id text, results jsonb, errors jsonb,"
    " total_response_time double precision, tokens_used integer, cost_usd double precision,"
    " cache_hit boolean, attempts jsonb, key_id text, team text)),"
    " ins AS ("
    " INSERT INTO orchestration_requests (request_id, endpoint, prompt, providers, model, max_tokens,"
    " temperature, stream, status, http_status, created_at, updated_at, session_id, results, errors,"
    " total_response_time, tokens_used, cost_usd, cache_hit, key_id, team)"
    " SELECT request_id, coalesce(endpoint, ''), prompt, coalesce(providers, '[]'), model, max_tokens,"
    " temperature, coalesce(stream, false), status, http_status, created_at,"
    " created_at + make_interval(secs => coalesce(total_response_time, 0)), session_id, results, errors,"
    " total_response_time, tokens_used, cost_usd, coalesce(cache_hit, false), key_id, team FROM recs"
    " ON CONFLICT (request_id) DO NOTHING"
    " RETURNING request_id, session_id, created_at),"
    " att AS ("
    " SELECT recs.request_id, recs.session_id AS sid, recs.cache_hit AS hit, recs.created_at AS t, a.*"
    " FROM recs JOIN ins USING (request_id),"
    " jsonb_to_recordset(coalesce(recs.attempts, '[]')) AS a(attempt integer, provider text, model text,"
    " status text, http_status integer, response text, tokens_used integer, prompt_tokens integer,"
    " completion_tokens integer, response_time double precision, time_to_first_token double precision,"
    " cost_usd double precision, error text, error_class text)),"
    " res AS ("
    " INSERT INTO orchestration_results (request_id, attempt, provider, model, status, http_status,"
    " response, tokens_used, prompt_tokens, completion_tokens, response_time, time_to_first_token,"
    " cost_usd, error, error_class, cache_hit, session_id, created_at)"
    " SELECT request_id, attempt, provider, model, status, http_status, response, tokens_used,"
    " prompt_tokens, completion_tokens, response_time, time_to_first_token, cost_usd, error, error_class,"
    " coalesce(hit, false), sid, t FROM att),"
    " met AS ("
    " INSERT INTO provider_metrics AS m (provider, model, total_requests, successful_requests,"
    " failed_requests, average_response_time, total_tokens_used, estimated_cost, last_updated, is_healthy,"
    " last_error, consecutive_failures)"
    " SELECT provider, coalesce(model, ''), count(*), count(*) FILTER (WHERE status = 'success'),"
    " count(*) FILTER (WHERE status <> 'success'), coalesce(avg(response_time), 0),"
    " coalesce(sum(tokens_used), 0), coalesce(sum(cost_usd), 0), now(),"
    " bool_or(status = 'success') OR count(*) FILTER (WHERE status <> 'success') < 5,"
    " (array_agg(error ORDER BY t DESC, attempt DESC) FILTER (WHERE error IS NOT NULL))[1],"
    " CASE WHEN bool_or(status = 'success') THEN 0 ELSE count(*) END"
    " FROM att GROUP BY provider, coalesce(model, '') ORDER BY 1, 2"
    " ON CONFLICT (provider, model) DO UPDATE SET"
    " total_requests = m.total_requests + EXCLUDED.total_requests,"
    " successful_requests = m.successful_requests + EXCLUDED.successful_requests,"
    " failed_requests = m.failed_requests + EXCLUDED.failed_requests,"
    " average_response_time = (m.average_response_time * m.total_requests"
    " + EXCLUDED.average_response_time * EXCLUDED.total_requests)"
    " / greatest(m.total_requests + EXCLUDED.total_requests, 1),"
    " total_tokens_used = m.total_tokens_used + EXCLUDED.total_tokens_used,"
    " estimated_cost = m.estimated_cost + EXCLUDED.estimated_cost, last_updated = now(),"
    " consecutive_failures = CASE WHEN EXCLUDED.successful_requests > 0 THEN 0"
    " ELSE m.consecutive_failures + EXCLUDED.failed_requests END,"
    " is_healthy = EXCLUDED.successful_requests > 0 OR m.consecutive_failures + EXCLUDED.failed_requests < 5,"
    " last_error = coalesce(EXCLUDED.last_error, m.last_error)),"
    " ses AS ("
    " UPDATE user_sessions s SET last_activity = greatest(s.last_activity, x.t)"
    " FROM (SELECT session_id, max(created_at) AS t FROM ins WHERE session_id IS NOT NULL"
    " GROUP BY session_id) x WHERE s.session_id = x.session_id)"
    " SELECT count(*) FROM ins";

struct orc_reqlog_writer_s {
    orc_reqlog_env_t env;
    bool draining;
    orc_pg_t *pg;
    orc_spool_t *own;
    orc_spool_t *adopted[ADOPT_MAX];
    int nadopted;
    struct event *tick;
    uint64_t last_scan_ms, retry_at_ms, last_warn_ms;
    bool closing;
    /* the batch being built or in flight */
    bool busy;
    orc_spool_t *src;
    uint64_t batch_end;
    struct evbuffer *batch;
    int nrecs;
    uint64_t single_until; /* record by record up to this offset of src */
    orc_spool_t *single_src;
};

static void ship(orc_reqlog_writer_t *wr);

bool orc_reqlog_data_error(const char *sqlstate)
{
    /* 22: data exception, 23: integrity constraint violation */
    return sqlstate != NULL && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0);
}

/* ---- sources ------------------------------------------------------------ */

static bool has_backlog(const orc_spool_t *s)
{
    return s != NULL && orc_spool_checkpoint(s) < orc_spool_end(s);
}

static void try_adopt(void *arg, const char *path)
{
    orc_reqlog_writer_t *wr = arg;
    if (wr->nadopted >= ADOPT_MAX)
        return;
    orc_spool_t *s = orc_spool_adopt(path);
    if (s == NULL)
        return; /* a live worker's, or gone */
    orc_log_notice("request log: adopted %s (%llu bytes to ship)", path,
                   (unsigned long long)(orc_spool_end(s) - orc_spool_checkpoint(s)));
    wr->adopted[wr->nadopted++] = s;
}

static void scan(orc_reqlog_writer_t *wr)
{
    uint64_t now = orc_now_ms();
    if (wr->draining || now - wr->last_scan_ms < SCAN_EVERY_MS)
        return;
    wr->last_scan_ms = now;
    orc_spool_scan(wr->env.cfg->reqlog_spool_dir, wr->own ? orc_spool_path(wr->own) : NULL, try_adopt, wr);
}

static void drop_adopted(orc_reqlog_writer_t *wr, int i)
{
    orc_spool_close(wr->adopted[i], true);
    wr->adopted[i] = wr->adopted[--wr->nadopted];
}

/* The next file with something to ship; finished adopted files go. */
static orc_spool_t *pick_source(orc_reqlog_writer_t *wr)
{
    for (int i = 0; i < wr->nadopted;) {
        if (has_backlog(wr->adopted[i]))
            return wr->adopted[i];
        drop_adopted(wr, i);
    }
    if (has_backlog(wr->own))
        return wr->own;
    if (wr->own != NULL)
        orc_spool_compact(wr->own);
    return NULL;
}

static void forget_source(orc_reqlog_writer_t *wr, orc_spool_t *s)
{
    for (int i = 0; i < wr->nadopted; i++)
        if (wr->adopted[i] == s) {
            drop_adopted(wr, i);
            return;
        }
}

/* ---- batches -------------------------------------------------------------- */

static void add_record(void *arg, const char *payload, size_t len, uint64_t next)
{
    orc_reqlog_writer_t *wr = arg;
    evbuffer_add(wr->batch, wr->nrecs ? "," : "[", 1);
    evbuffer_add(wr->batch, payload, len);
    wr->batch_end = next;
    wr->nrecs++;
}

/* Reads the next batch of SRC; false when there is nothing to send. */
static bool build_batch(orc_reqlog_writer_t *wr, orc_spool_t *src)
{
    bool torn = false, single = wr->single_src == src && orc_spool_checkpoint(src) < wr->single_until;
    uint64_t from = orc_spool_checkpoint(src);
    evbuffer_drain(wr->batch, evbuffer_get_length(wr->batch));
    wr->nrecs = 0;
    wr->src = src;
    int64_t end = orc_spool_read(src, from, ORC_REQLOG_BATCH_BYTES, single ? 1 : ORC_REQLOG_BATCH_ROWS,
                                 add_record, wr, &torn);
    if (end < 0)
        return false;
    if (wr->nrecs == 0 && torn) {
        orc_log_warn("request log: %s ends with %llu bytes of a partial record (a writer died mid-write): "
                     "ignored",
                     orc_spool_path(src), (unsigned long long)(orc_spool_end(src) - from));
        if (src == wr->own)
            orc_spool_set_checkpoint(src, orc_spool_end(src));
        else
            forget_source(wr, src);
        return false;
    }
    evbuffer_add(wr->batch, "]", 2); /* and a NUL: the batch is one text parameter */
    return wr->nrecs > 0;
}

/* The record of a batch of one, set aside with the reason PostgreSQL gave. */
static void set_aside(orc_reqlog_writer_t *wr, const char *sqlstate, const char *reason)
{
    char path[4200], ts[32], ereason[1200];
    snprintf(path, sizeof(path), "%s/%s", wr->env.cfg->reqlog_spool_dir, ORC_REQLOG_REJECTED_FILE);
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    orc_json_escape(ereason, sizeof(ereason), reason);
    size_t len = evbuffer_get_length(wr->batch);
    const char *rec = (const char *)evbuffer_pullup(wr->batch, -1) + 1; /* inside the brackets */
    struct evbuffer *line = evbuffer_new();
    evbuffer_add_printf(line, "{\"time\":\"%s\",\"sqlstate\":\"%.5s\",\"reason\":%s,\"record\":", ts,
                        sqlstate ? sqlstate : "", ereason);
    evbuffer_add(line, rec, len - 3); /* "[" record "]" NUL */
    evbuffer_add(line, "}\n", 2);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    size_t n = evbuffer_get_length(line);
    if (fd < 0 || write(fd, evbuffer_pullup(line, -1), n) != (ssize_t)n)
        orc_log_error("request log: cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    evbuffer_free(line);
    orc_counter_add(&wr->env.slot->counters.reqlog_rejected, 1);
}

/* The batch is done with: its records are stored or set aside. */
static void advance(orc_reqlog_writer_t *wr)
{
    orc_spool_set_checkpoint(wr->src, wr->batch_end);
    if (wr->src != wr->own && !has_backlog(wr->src)) {
        orc_log_info("request log: %s is shipped: removed", orc_spool_path(wr->src));
        forget_source(wr, wr->src);
    }
}

static void rejected(orc_reqlog_writer_t *wr, const PGresult *res, const char *error)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!orc_reqlog_data_error(state)) {
        wr->retry_at_ms = orc_now_ms() + RETRY_MS;
        if (orc_now_ms() - wr->last_warn_ms >= WARN_EVERY_MS) {
            orc_log_error("request log: PostgreSQL refused a batch (SQLSTATE %s: %s): retrying",
                          state ? state : "?", primary ? primary : "");
            wr->last_warn_ms = orc_now_ms();
        }
        return;
    }
    if (wr->nrecs > 1) {
        orc_log_warn("request log: PostgreSQL rejected a batch of %d records (SQLSTATE %s: %s): "
                     "storing them one by one",
                     wr->nrecs, state, primary ? primary : "");
        wr->single_src = wr->src;
        wr->single_until = wr->batch_end;
        return;
    }
    orc_log_error("request log: PostgreSQL rejected one record (SQLSTATE %s: %s): set aside in %s/%s", state,
                  primary ? primary : "", wr->env.cfg->reqlog_spool_dir, ORC_REQLOG_REJECTED_FILE);
    set_aside(wr, state, error && error[0] ? error : primary ? primary : "rejected");
    advance(wr);
}

static void on_result(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    orc_reqlog_writer_t *wr = arg;
    wr->busy = false;
    if (wr->closing)
        return;
    if (rc == ORC_PG_OK) {
        orc_counter_add(&wr->env.slot->counters.reqlog_shipped, (uint64_t)wr->nrecs);
        advance(wr);
    } else if (rc == ORC_PG_SQL_ERROR)
        rejected(wr, res, error);
    else
        wr->retry_at_ms = orc_now_ms() + ORC_REQLOG_TICK_MS;
    if (rc == ORC_PG_OK || rc == ORC_PG_SQL_ERROR)
        ship(wr); /* more may be waiting */
}

static void ship(orc_reqlog_writer_t *wr)
{
    if (wr->busy || wr->closing || orc_now_ms() < wr->retry_at_ms || !orc_pg_idle(wr->pg) ||
        !orc_db_schema_ready(wr->env.db))
        return;
    orc_spool_t *src;
    while ((src = pick_source(wr)) != NULL && !build_batch(wr, src))
        ;
    if (src == NULL)
        return;
    const char *values[1] = {(const char *)evbuffer_pullup(wr->batch, -1)};
    if (orc_pg_query(wr->pg, orc_reqlog_insert_sql, 1, values, ORC_REQLOG_QUERY_TIMEOUT_MS, on_result, wr) ==
        ORC_OK)
        wr->busy = true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    orc_reqlog_writer_t *wr = arg;
    (void)fd;
    (void)what;
    scan(wr);
    ship(wr);
    orc_reqlog_writer_status_t st;
    orc_reqlog_writer_status(wr, &st);
    atomic_store_explicit(&wr->env.slot->reqlog_spool_bytes, st.spool_bytes, memory_order_relaxed);
    atomic_store_explicit(&wr->env.slot->reqlog_backlog_bytes, st.backlog_bytes, memory_order_relaxed);
}

static void on_up(void *arg)
{
    ship(arg);
}

/* ---- life ---------------------------------------------------------------- */

orc_reqlog_writer_t *orc_reqlog_writer_new(const orc_reqlog_env_t *env, orc_spool_t *own)
{
    orc_reqlog_writer_t *wr = calloc(1, sizeof(*wr));
    if (wr == NULL)
        return NULL;
    wr->env = *env;
    wr->own = own;
    wr->batch = evbuffer_new();
    orc_pg_options_t opt;
    orc_pg_options_defaults(&opt);
    opt.url = env->cfg->database_url;
    opt.dns = env->dns;
    opt.application_name = "orchesity request log";
    opt.recycle_s = env->cfg->db_pool_recycle;
    opt.echo = env->cfg->database_echo;
    opt.on_up = on_up;
    opt.arg = wr;
    wr->pg = orc_pg_new(env->base, &opt);
    wr->tick = event_new(env->base, -1, EV_PERSIST, on_tick, wr);
    struct timeval every = {0, ORC_REQLOG_TICK_MS * 1000};
    if (wr->batch == NULL || wr->pg == NULL || wr->tick == NULL || event_add(wr->tick, &every) != 0) {
        orc_log_error("request log: cannot start its writer");
        orc_reqlog_writer_free(wr);
        return NULL;
    }
    wr->last_scan_ms = orc_now_ms() - SCAN_EVERY_MS;
    scan(wr);
    return wr;
}

void orc_reqlog_writer_free(orc_reqlog_writer_t *wr)
{
    if (wr == NULL)
        return;
    wr->closing = true;
    if (wr->tick)
        event_free(wr->tick);
    if (wr->pg)
        orc_pg_free(wr->pg);
    for (int i = 0; i < wr->nadopted; i++)
        orc_spool_close(wr->adopted[i], !has_backlog(wr->adopted[i]));
    if (wr->batch)
        evbuffer_free(wr->batch);
    free(wr);
}

void orc_reqlog_writer_drain(orc_reqlog_writer_t *wr)
{
    wr->draining = true;
}

void orc_reqlog_writer_kick(orc_reqlog_writer_t *wr)
{
    if (wr->own != NULL && !wr->busy &&
        orc_spool_end(wr->own) - orc_spool_checkpoint(wr->own) >= ORC_REQLOG_BATCH_BYTES)
        ship(wr);
}

bool orc_reqlog_writer_done(const orc_reqlog_writer_t *wr)
{
    if (wr->busy || has_backlog(wr->own))
        return false;
    for (int i = 0; i < wr->nadopted; i++)
        if (has_backlog(wr->adopted[i]))
            return false;
    return true;
}

void orc_reqlog_writer_status(const orc_reqlog_writer_t *wr, orc_reqlog_writer_status_t *st)
{
    memset(st, 0, sizeof(*st));
    const orc_spool_t *all[ADOPT_MAX + 1];
    int n = 0;
    if (wr->own)
        all[n++] = wr->own;
    for (int i = 0; i < wr->nadopted; i++)
        all[n++] = wr->adopted[i];
    for (int i = 0; i < n; i++) {
        st->spool_bytes += orc_spool_end(all[i]);
        st->backlog_bytes += orc_spool_end(all[i]) - orc_spool_checkpoint(all[i]);
    }
    st->files = n;
    st->connected = orc_pg_connected(wr->pg);
    st->schema_ready = orc_db_schema_ready(wr->env.db);
}
