/*
 * llm_async.c - the Redis side of asynchronous orchestrations.
 *
 * States of "<namespace>:workflow_result:<id>" (TTL cache.async_result_ttl):
 *   {"request_id", "status": "processing", "created_at"}   written (SET NX)
 *                                                           before the 202
 *   {"request_id", "status": "completed"|"failed", "created_at",
 *    "completed_at", "result": <the orchestration's document>}
 * The final write is retried (0.1, 0.5, 2 s) while Redis is away; each
 * pending write counts in the worker's background work, which its drain
 * waits for.  Without Redis there is no asynchronous mode: results could
 * not be read from another worker.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/api/llm_async.h"
#include "worker/llm/providers/provider.h"
#include "worker/store/redis.h"

#define KEY_MAX 400 /* namespace (64) + route parameter (256) + ":workflow_result:" */

static const int retry_ms[] = {100, 500, 2000};

typedef struct {
    orc_api_env_t *env;
    char key[KEY_MAX];
    char *text;
    int tries;
    struct event *timer;
    void (*done)(void *arg, int status);
    void *arg;
} write_t;

static void key_of(const orc_api_env_t *env, const char *id, char *key)
{
    snprintf(key, KEY_MAX, "%s:workflow_result:%s", env->cfg->cache_namespace, id);
}

static void ttl_text(const orc_api_env_t *env, char *buf, size_t len)
{
    snprintf(buf, len, "%d", env->cfg->cache_async_ttl);
}

/* ---- the processing marker --------------------------------------------- */

static void begin_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    write_t *wr = arg;
    int status = 503;
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_STATUS)
        status = 201;
    else if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_NIL)
        status = 409;
    else
        orc_log_warn("async: cannot write %s: %s", wr->key,
                     rc == ORC_REDIS_OK ? (reply->str ? reply->str : "unexpected reply")
                                        : orc_redis_rc_name(rc));
    wr->done(wr->arg, status);
    free(wr);
}

int orc_async_begin(orc_api_env_t *env, const char *id, const char *owner,
                    void (*done)(void *arg, int status), void *arg)
{
    char ttl[16], ts[32];
    write_t *wr = calloc(1, sizeof(*wr));
    if (wr == NULL || env->redis == NULL) {
        free(wr);
        return ORC_ERR;
    }
    wr->done = done;
    wr->arg = arg;
    key_of(env, id, wr->key);
    ttl_text(env, ttl, sizeof(ttl));
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "request_id", id);
    orc_json_add_str(o, "status", "processing");
    orc_json_add_str(o, "created_at", ts);
    orc_json_add_str(o, "key_id", owner[0] ? owner : NULL);
    const char *argv[] = {"SET", wr->key, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                          "EX",  ttl,     "NX"};
    int rc = orc_redis_command(env->redis, begin_done, wr, 6, argv, NULL);
    json_object_put(o);
    if (rc <= 0) {
        free(wr);
        return ORC_ERR;
    }
    return ORC_OK;
}

/* ---- the final state --------------------------------------------------- */

static void write_free(write_t *wr)
{
    wr->env->background--;
    if (wr->timer)
        event_free(wr->timer);
    free(wr->text);
    free(wr);
}

static void write_send(write_t *wr);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    write_send(arg);
}

static void finish_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    write_t *wr = arg;
    if (rc == ORC_REDIS_OK && reply->type == REDIS_REPLY_STATUS) {
        write_free(wr);
        return;
    }
    if (wr->tries >= (int)ORC_ARRAY_LEN(retry_ms) || wr->timer == NULL) {
        orc_log_error("async: the result of %s is lost: %s", wr->key,
                      rc == ORC_REDIS_OK ? (reply->str ? reply->str : "unexpected reply")
                                         : orc_redis_rc_name(rc));
        write_free(wr);
        return;
    }
    struct timeval tv = {0, 0};
    int ms = retry_ms[wr->tries++];
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(wr->timer, &tv);
}

static void write_send(write_t *wr)
{
    char ttl[16];
    ttl_text(wr->env, ttl, sizeof(ttl));
    const char *argv[] = {"SET", wr->key, wr->text, "EX", ttl};
    if (orc_redis_command(wr->env->redis, finish_done, wr, 5, argv, NULL) <= 0) {
        orc_log_error("async: the result of %s is lost: out of memory", wr->key);
        write_free(wr);
    }
}

void orc_async_finish(orc_api_env_t *env, const char *id, const char *owner, json_object *result)
{
    char ts[32];
    write_t *wr = calloc(1, sizeof(*wr));
    json_object *o = json_object_new_object(), *status = NULL;
    json_object_object_get_ex(result, "status", &status);
    orc_iso8601(ts, sizeof(ts), orc_wall_ms());
    orc_json_add_str(o, "request_id", id);
    orc_json_add_str(o, "status", status ? json_object_get_string(status) : "failed");
    orc_json_add_str(o, "completed_at", ts);
    orc_json_add_str(o, "key_id", owner[0] ? owner : NULL);
    json_object_object_add(o, "result", result);
    if (wr != NULL) {
        wr->env = env;
        env->background++;
        key_of(env, id, wr->key);
        wr->text = strdup(
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        wr->timer = evtimer_new(env->base, on_retry, wr);
    }
    json_object_put(o);
    if (wr == NULL || wr->text == NULL) {
        orc_log_error("async: the result of %s is lost: out of memory", id);
        if (wr != NULL)
            write_free(wr);
        return;
    }
    write_send(wr);
}

/* ---- GET /api/llm/status/{request_id} ------------------------------------ */

static void status_done(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    orc_req_t *rq = arg;
    if (rc != ORC_REDIS_OK || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        orc_http_error(rq, 503, "CACHE_UNAVAILABLE", "the result store (Redis) is unavailable: %s",
                       rc == ORC_REDIS_OK ? "unexpected reply" : orc_redis_rc_name(rc));
        return;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        orc_http_error(rq, 404, "NOT_FOUND", "no request %s (unknown, or its result has expired)",
                       rq->match.params[0]);
        return;
    }
    json_object *o = json_tokener_parse(reply->str);
    if (o == NULL) {
        orc_http_error(rq, 500, "INTERNAL_ERROR", "the stored state of this request is not readable");
        return;
    }
    const char *owner = orc_json_get_str(o, "key_id");
    if (!orc_auth_sees_all(rq) && (owner == NULL || strcmp(owner, orc_auth_key(rq)->id) != 0)) {
        json_object_put(o); /* another key's request: as if unknown */
        orc_http_error(rq, 404, "NOT_FOUND", "no request %s (unknown, or its result has expired)",
                       rq->match.params[0]);
        return;
    }
    orc_http_reply_json(rq, 200, o);
}

static void status_gone(void *arg)
{
    (void)arg; /* the Redis command is short and bounded: its reply finishes the request */
}

void orc_api_llm_status(orc_req_t *rq)
{
    const char *id = rq->match.params[0];
    char key[KEY_MAX];
    if (!orc_request_id_valid(id)) {
        orc_http_error(rq, 400, "VALIDATION_ERROR",
                       "request_id must be 1 to %d letters, digits, '-', '_', '.' or ':'",
                       ORC_REQUEST_ID_MAX);
        return;
    }
    if (orc_api_env(rq)->redis == NULL) {
        orc_http_error(rq, 503, "ASYNC_UNAVAILABLE",
                       "asynchronous results need Redis (REDIS_URL): without it they could not be read "
                       "from another worker");
        return;
    }
    key_of(orc_api_env(rq), id, key);
    const char *argv[] = {"GET", key};
    orc_http_watch_client(rq, status_gone, rq);
    if (orc_redis_command(orc_api_env(rq)->redis, status_done, rq, 2, argv, NULL) <= 0)
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot read the result now");
}
