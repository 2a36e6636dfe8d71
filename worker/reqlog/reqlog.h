/*
 * reqlog.h - the request log: one record per request through
 * /api/llm/orchestrate, /api/llm/test/{provider}, /v1/chat/completions
 * and /v1/messages, answered or not, with one result row per provider
 * attempt.
 *
 * The HTTP server opens a record when such a request is routed, hands it
 * the parsed body, and closes it in the reply path: the record is
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

#include "common/util.h"

struct evbuffer;
struct orc_req_s;
struct orc_job_result_s;
typedef struct orc_worker_s orc_worker_t;
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
orc_reqlog_t *orc_reqlog_new(orc_worker_t *w);
void orc_reqlog_free(orc_reqlog_t *rl);
/* Called by the drain check: true once everything is shipped or the
 * drain deadline for the log has passed (what is left stays spooled). */
bool orc_reqlog_drained(orc_reqlog_t *rl, uint64_t drain_started_ms);
/* {"status", "spool_bytes", "backlog_bytes", ...} for /api/health. */
json_object *orc_reqlog_health(const orc_worker_t *w);

/* ---- hooks ------------------------------------------------------------- */

void orc_reqlog_begin(struct orc_req_s *rq);
void orc_reqlog_body(struct orc_req_s *rq, json_object *body); /* takes a reference */
/* A finished job of the request; CANONICAL is the request it ran. */
void orc_reqlog_job(struct orc_req_s *rq, json_object *canonical, const struct orc_job_result_s *r);
/* An answer replayed from the response cache: a result row with
 * cache_hit, the cached text and usage, and no cost. */
void orc_reqlog_cache_hit(struct orc_req_s *rq, const char *provider, const char *model,
                          json_object *completion);
/* Spools the record; BODY is the reply body (NULL for a stream). */
void orc_reqlog_finish(struct orc_req_s *rq, int status, struct evbuffer *body);
void orc_reqlog_release(struct orc_req_s *rq);
/* An asynchronous request: its 202 is not its answer.  The record leaves
 * the request before the 202 and is spooled when the work ends (a worker
 * killed meanwhile loses the work and its record together). */
orc_reqlog_rec_t *orc_reqlog_detach(struct orc_req_s *rq);
void orc_reqlog_detached_job(orc_worker_t *w, orc_reqlog_rec_t *rec, json_object *canonical,
                             const struct orc_job_result_s *r);
/* Spools REC with STATUS and frees it; REC may be NULL. */
void orc_reqlog_finish_detached(orc_worker_t *w, orc_reqlog_rec_t *rec, int status);

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
