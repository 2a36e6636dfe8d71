/*
 * reqlog.h - the request log: one record per request through
 * /api/llm/orchestrate, /api/llm/test/{provider}, /v1/chat/completions
 * and /v1/messages, answered or not, with one result row per provider
 * attempt.
 *
 * Through the HTTP server's hooks (orc_reqlog_http_hooks), a record opens
 * when such a request is routed, takes the parsed body, and closes in the
 * reply path: the record is
 * appended to this worker's spool file (worker/reqlog/spool.h) before the reply
 * (or the end of a stream) is handed to the client.  The handlers add each
 * finished job with orc_reqlog_job; the response cache marks hits with
 * orc_reqlog_cache_hit.  The writer (reqlog_writer.c) ships the spool to
 * PostgreSQL.  Every string of a record is valid UTF-8 without NUL bytes,
 * so PostgreSQL never rejects a row for its text.
 */
#ifndef ORC_REQLOG_H
#define ORC_REQLOG_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/apikey.h"
#include "common/util.h"
#include "worker/http/http.h"
#include "worker/reqlog/reqlog_writer.h"

struct evbuffer;
struct orc_job_result_s;
typedef struct orc_reqlog_s orc_reqlog_t;

#define ORC_REQLOG_SESSION_MAX 64  /* user_sessions.session_id */
#define ORC_REQLOG_ENDPOINT_MAX 64 /* orchestration_requests.endpoint */

typedef enum { ORC_REQLOG_FULL = 0, ORC_REQLOG_TRUNCATED, ORC_REQLOG_OFF } orc_reqlog_text_t;

typedef struct {
    orc_reqlog_text_t prompts, answers;
    size_t truncate_bytes;
} orc_reqlog_settings_t;

/* One request's record, built while the request runs. */
typedef struct orc_reqlog_rec_s {
    char request_id[ORC_REQUEST_ID_SIZE];
    char endpoint[ORC_REQLOG_ENDPOINT_MAX * 4 + 1];
    char session_id[ORC_REQLOG_SESSION_MAX + 1]; /* "" : none (or not valid) */
    char key_id[ORC_APIKEY_ID_SIZE];             /* the client key that called, "" for none */
    char team[ORC_APIKEY_NAME_MAX + 1];          /* its team, "" for none */
    uint64_t wall_ms, start_us;
    json_object *body;    /* the parsed request body (a reference) */
    json_object *request; /* the canonical request of the first job (a reference) */
    json_object *attempts, *results, *errors;
    int nattempts, jobs, jobs_ok;
    int64_t tokens;
    double cost;
    bool cache_hit;
} orc_reqlog_rec_t;

/* ---- the worker's request log ------------------------------------------ */

/* NULL when the log is off (no database.url, or request_log.enabled
 * false), or when the spool cannot be opened (logged: requests are still
 * served, and counted as not logged). */
orc_reqlog_t *orc_reqlog_new(const orc_reqlog_env_t *env);
void orc_reqlog_free(orc_reqlog_t *rl);
/* The HTTP server's hooks that keep the log of the routes marked logged
 * (a record per request, spooled before the reply goes out).  RL may be
 * NULL: no hooks. */
orc_http_hooks_t orc_reqlog_http_hooks(orc_reqlog_t *rl);
/* The worker drains: the writer stops adopting other workers' files. */
void orc_reqlog_drain(orc_reqlog_t *rl);
/* Called by the drain check: true once everything is shipped or the
 * drain deadline for the log has passed (what is left stays spooled). */
bool orc_reqlog_drained(orc_reqlog_t *rl, uint64_t drain_started_ms);
/* {"status", "spool_bytes", "backlog_bytes", ...} for /api/health. */
json_object *orc_reqlog_health(const orc_reqlog_t *rl);

/* ---- what the handlers add to a request's record ------------------------ */
/* RL may be NULL and a request may have no record: these do nothing then. */

/* The record of RQ, or NULL. */
orc_reqlog_rec_t *orc_reqlog_record(orc_req_t *rq);
/* A finished job of the request; CANONICAL is the request it ran. */
void orc_reqlog_job(orc_reqlog_t *rl, orc_req_t *rq, json_object *canonical,
                    const struct orc_job_result_s *r);
/* An answer replayed from the response cache: a result row with
 * cache_hit, the cached text and usage, and no cost. */
void orc_reqlog_cache_hit(orc_reqlog_t *rl, orc_req_t *rq, const char *provider, const char *model,
                          json_object *completion);
/* An asynchronous request: its 202 is not its answer.  The record leaves
 * the request before the 202 and is spooled when the work ends (a worker
 * killed meanwhile loses the work and its record together). */
orc_reqlog_rec_t *orc_reqlog_detach(orc_req_t *rq);
void orc_reqlog_detached_job(orc_reqlog_t *rl, orc_reqlog_rec_t *rec, json_object *canonical,
                             const struct orc_job_result_s *r);
/* Spools REC with STATUS and frees it; REC may be NULL. */
void orc_reqlog_finish_detached(orc_reqlog_t *rl, orc_reqlog_rec_t *rec, int status);

/* ---- the record itself (pure, unit-tested) ----------------------------- */

void orc_reqlog_rec_init(orc_reqlog_rec_t *rec, const char *request_id, const char *endpoint,
                         uint64_t wall_ms, uint64_t start_us);
void orc_reqlog_rec_clear(orc_reqlog_rec_t *rec);
void orc_reqlog_rec_job(orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set, json_object *canonical,
                        const struct orc_job_result_s *r);
void orc_reqlog_rec_cache_hit(orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set, const char *provider,
                              const char *model, json_object *completion);
/* The session named by HEADER, else by the body's "session_id". */
void orc_reqlog_rec_session(orc_reqlog_rec_t *rec, const char *header);
/* An error reply (status >= 400) that no job explains: its detail. */
void orc_reqlog_rec_reply_error(orc_reqlog_rec_t *rec, int status, const char *body, size_t len);
/* The record as the writer ships it. */
json_object *orc_reqlog_rec_json(const orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set,
                                 int http_status, bool stream, uint64_t now_us);

/* A copy of S (LEN bytes) that is valid UTF-8 without NUL bytes (each
 * bad byte becomes U+FFFD), cut at a character boundary to at most MAX
 * bytes.  NULL when memory is short. */
char *orc_reqlog_clean(const char *s, size_t len, size_t max, size_t *out_len);
bool orc_reqlog_session_valid(const char *s);
/* "full", "truncated" or "off". */
int orc_reqlog_text_parse(const char *s, orc_reqlog_text_t *out);

#endif
