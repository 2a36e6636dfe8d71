/*
 * reqlog.c - the request log's records: built while a request runs,
 * spooled before its reply is handed to the client (see reqlog.h).
 *
 * A record that cannot be spooled (the bound is reached, the disk is
 * full) is counted and logged; the request is still answered: the log
 * never costs a client its answer.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/orc.h"
#include "worker/reqlog/spool.h"
#include "worker/http/http.h"
#include "worker/llm/orchestrator.h"
#include "worker/auth/auth.h"
#include "worker/reqlog/reqlog.h"
#include "worker/reqlog/reqlog_writer.h"

#define WARN_PERCENT 80
#define REARM_PERCENT 70
#define ERROR_LOG_EVERY_MS 10000
#define REPLY_ERROR_MAX 4096 /* error replies longer than this are not parsed for their detail */

struct orc_reqlog_s {
    orc_reqlog_env_t env;
    orc_reqlog_settings_t set;
    orc_spool_t *spool;
    orc_reqlog_writer_t *writer;
    bool warned_full;
    uint64_t last_error_ms;
    uint64_t lost_since_log;
};

/* ---- text ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at P (N bytes left), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    if (p[0] >= 0x01 && p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
                 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, or above U+10FFFF */
    return len;
}

char *orc_reqlog_clean(const char *s, size_t len, size_t max, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t cap = ORC_MIN(len, max);
    char *out = malloc(cap * 3 + 4 > cap ? ORC_MIN(cap * 3, max) + 4 : cap + 4);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(p + i, len - i);
        size_t w = n ? n : 3;
        if (o + w > max)
            break;
        if (n)
            memcpy(out + o, p + i, n);
        else
            memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD for a NUL or a bad byte */
        o += w;
        i += n ? n : 1;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* A number with all its digits (orc_json_add_double keeps three decimals). */
static void add_num(json_object *o, const char *key, double v)
{
    json_object_object_add(o, key, json_object_new_double(v));
}

/* S as a clean JSON string of at most MAX bytes (NULL: JSON null). */
static json_object *clean_string(const char *s, size_t len, size_t max)
{
    size_t n;
    char *clean = s ? orc_reqlog_clean(s, len, max, &n) : NULL;
    json_object *o = clean ? json_object_new_string_len(clean, (int)n) : NULL;
    free(clean);
    return o;
}

static void add_text(json_object *o, const char *key, const char *s, size_t len, size_t max)
{
    json_object_object_add(o, key, clean_string(s, len, max));
}

static void add_str(json_object *o, const char *key, const char *s, size_t max)
{
    add_text(o, key, s, s ? strlen(s) : 0, max);
}

/* A prompt or an answer, as the settings keep it. */
static void add_kept(json_object *o, const char *key, const char *s, size_t len, orc_reqlog_text_t mode,
                     size_t truncate_bytes)
{
    if (mode == ORC_REQLOG_OFF || s == NULL)
        json_object_object_add(o, key, NULL);
    else
        add_text(o, key, s, len, mode == ORC_REQLOG_TRUNCATED ? truncate_bytes : SIZE_MAX / 4);
}

bool orc_reqlog_session_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ORC_REQLOG_SESSION_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

int orc_reqlog_text_parse(const char *s, orc_reqlog_text_t *out)
{
    static const char *names[] = {"full", "truncated", "off"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (orc_reqlog_text_t)i;
            return ORC_OK;
        }
    return ORC_ERR;
}

/* ---- the record -------------------------------------------------------- */

void orc_reqlog_rec_init(orc_reqlog_rec_t *rec, const char *request_id, const char *endpoint,
                         uint64_t wall_ms, uint64_t start_us)
{
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->request_id, sizeof(rec->request_id), "%s", request_id);
    snprintf(rec->endpoint, sizeof(rec->endpoint), "%s", endpoint);
    rec->wall_ms = wall_ms;
    rec->start_us = start_us;
    rec->attempts = json_object_new_array();
    rec->results = json_object_new_array();
    rec->errors = json_object_new_array();
}

void orc_reqlog_rec_clear(orc_reqlog_rec_t *rec)
{
    json_object_put(rec->body);
    json_object_put(rec->request);
    json_object_put(rec->attempts);
    json_object_put(rec->results);
    json_object_put(rec->errors);
    memset(rec, 0, sizeof(*rec));
}

static json_object *attempt_row(orc_reqlog_rec_t *rec, const orc_attempt_t *a)
{
    json_object *o = json_object_new_object();
    orc_json_add_int(o, "attempt", ++rec->nattempts);
    add_str(o, "provider", a->provider, 64);
    add_str(o, "model", a->model, 255);
    orc_json_add_str(o, "status", a->cls == ORC_FAIL_NONE ? "success" : "failed");
    json_object_object_add(o, "http_status", a->status > 0 ? json_object_new_int(a->status) : NULL);
    add_num(o, "response_time", (double)a->latency_us / 1e6);
    add_str(o, "error", a->error[0] ? a->error : NULL, 2000);
    orc_json_add_str(o, "error_class", a->cls == ORC_FAIL_NONE ? NULL : orc_fail_class_name(a->cls));
    return o;
}

/* What the answering attempt adds to its row. */
static void add_answer(json_object *o, const orc_reqlog_settings_t *set, const orc_job_result_t *r)
{
    add_kept(o, "response", r->text, r->text ? strlen(r->text) : 0, set->answers, set->truncate_bytes);
    orc_json_add_int(o, "tokens_used", r->usage.total_tokens);
    orc_json_add_int(o, "prompt_tokens", r->usage.prompt_tokens);
    orc_json_add_int(o, "completion_tokens", r->usage.completion_tokens);
    json_object_object_add(o, "time_to_first_token",
                           r->ttft_us > 0 ? json_object_new_double((double)r->ttft_us / 1e6) : NULL);
    add_num(o, "cost_usd", r->cost_usd);
}

static const char *job_provider(const orc_job_result_t *r)
{
    if (r->provider != NULL)
        return r->provider->cfg->name;
    return r->nattempts > 0 ? r->attempts[r->nattempts - 1].provider : NULL;
}

static void add_job_summary(orc_reqlog_rec_t *rec, const orc_job_result_t *r)
{
    json_object *s = json_object_new_object();
    add_str(s, "provider", job_provider(r), 64);
    add_str(s, "model", r->model, 255);
    orc_json_add_bool(s, "success", r->ok);
    orc_json_add_int(s, "tokens_used", r->ok ? r->usage.total_tokens : 0);
    add_num(s, "response_time", (double)r->latency_us / 1e6);
    add_num(s, "cost_usd", r->cost_usd);
    orc_json_add_int(s, "attempts", r->nattempts);
    json_object_array_add(rec->results, s);
    if (r->ok)
        return;
    json_object *e = json_object_new_object();
    add_str(e, "provider", job_provider(r), 64);
    add_str(e, "error", r->failure.message[0] ? r->failure.message : "the provider did not answer", 2000);
    orc_json_add_str(e, "error_class", orc_fail_class_name(r->failure.cls));
    json_object_array_add(rec->errors, e);
}

void orc_reqlog_rec_job(orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set, json_object *canonical,
                        const orc_job_result_t *r)
{
    if (rec->request == NULL && canonical != NULL)
        rec->request = json_object_get(canonical);
    for (int i = 0; i < r->nattempts; i++) {
        json_object *row = attempt_row(rec, &r->attempts[i]);
        if (r->ok && i == r->nattempts - 1)
            add_answer(row, set, r);
        json_object_array_add(rec->attempts, row);
    }
    add_job_summary(rec, r);
    rec->jobs++;
    rec->jobs_ok += r->ok;
    if (r->ok)
        rec->tokens += r->usage.total_tokens;
    rec->cost += r->cost_usd;
}

/* The string KEY of BODY (and its length, NUL bytes included), or NULL. */
static const char *body_strn(json_object *body, const char *key, size_t *len)
{
    json_object *v;
    if (body == NULL || !json_object_object_get_ex(body, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static const char *body_str(json_object *body, const char *key)
{
    size_t len;
    return body_strn(body, key, &len);
}

void orc_reqlog_rec_session(orc_reqlog_rec_t *rec, const char *header)
{
    const char *s = header && header[0] ? header : body_str(rec->body, "session_id");
    if (s != NULL && orc_reqlog_session_valid(s))
        snprintf(rec->session_id, sizeof(rec->session_id), "%s", s);
}

/* The "detail" of a gateway error, or the "error.message" of the OpenAI
 * and Anthropic formats. */
static const char *reply_detail(json_object *o)
{
    json_object *e;
    const char *d = body_str(o, "detail");
    if (d == NULL && json_object_object_get_ex(o, "error", &e))
        d = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : body_str(e, "message");
    return d;
}

void orc_reqlog_rec_reply_error(orc_reqlog_rec_t *rec, int status, const char *body, size_t len)
{
    if (status < 400 || json_object_array_length(rec->errors) > 0)
        return;
    json_object *o = NULL;
    json_tokener *tok = body && len <= REPLY_ERROR_MAX ? json_tokener_new() : NULL;
    if (tok != NULL) { /* BODY is not NUL-terminated */
        o = json_tokener_parse_ex(tok, body, (int)len);
        json_tokener_free(tok);
    }
    const char *d = o ? reply_detail(o) : NULL;
    json_object *e = json_object_new_object();
    orc_json_add_int(e, "http_status", status);
    add_str(e, "error", d ? d : status == 499 ? "the client left" : NULL, 2000);
    json_object_array_add(rec->errors, e);
    json_object_put(o);
}

/* ---- the record as JSON ------------------------------------------------ */

/* Appends the text of one message's content (a string or text parts). */
static void append_content(struct evbuffer *b, json_object *content)
{
    size_t len;
    if (json_object_is_type(content, json_type_string)) {
        evbuffer_add(b, json_object_get_string(content), (size_t)json_object_get_string_len(content));
        return;
    }
    if (!json_object_is_type(content, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        const char *t = body_strn(json_object_array_get_idx(content, i), "text", &len);
        if (t != NULL) {
            evbuffer_add(b, "\n", i ? 1 : 0);
            evbuffer_add(b, t, len);
        }
    }
}

/* The prompt: "prompt" as given, else the messages as "role: text" lines
 * (an Anthropic "system" first). */
static void add_prompt(json_object *o, json_object *req, const orc_reqlog_settings_t *set)
{
    json_object *msgs, *system;
    size_t plen = 0;
    const char *p = body_strn(req, "prompt", &plen);
    if (p != NULL || set->prompts == ORC_REQLOG_OFF || req == NULL ||
        !json_object_object_get_ex(req, "messages", &msgs) || !json_object_is_type(msgs, json_type_array)) {
        add_kept(o, "prompt", p, plen, set->prompts, set->truncate_bytes);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (json_object_object_get_ex(req, "system", &system) && system != NULL) {
        evbuffer_add_printf(b, "system: ");
        append_content(b, system);
    }
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        json_object *m = json_object_array_get_idx(msgs, i), *content = NULL;
        const char *role = body_str(m, "role");
        evbuffer_add_printf(b, "%s%s: ", evbuffer_get_length(b) ? "\n" : "", role ? role : "?");
        if (json_object_object_get_ex(m, "content", &content))
            append_content(b, content);
    }
    size_t len = evbuffer_get_length(b);
    add_kept(o, "prompt", (const char *)evbuffer_pullup(b, -1), len, set->prompts, set->truncate_bytes);
    evbuffer_free(b);
}

static json_object *number_field(json_object *a, json_object *b, const char *key, bool integer)
{
    json_object *v = NULL;
    if (!(a && json_object_object_get_ex(a, key, &v)) && !(b && json_object_object_get_ex(b, key, &v)))
        return NULL;
    if (integer && json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        return n >= 0 && n <= INT32_MAX ? json_object_new_int((int32_t)n) : NULL;
    }
    if (!integer && (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return json_object_new_double(json_object_get_double(v));
    return NULL;
}

/* The providers asked: as the client named them, else those tried. */
static json_object *providers_json(const orc_reqlog_rec_t *rec)
{
    json_object *out = json_object_new_array(), *named;
    if (rec->body && json_object_object_get_ex(rec->body, "providers", &named) &&
        json_object_is_type(named, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(named) && i < 16; i++) {
            json_object *p = json_object_array_get_idx(named, i);
            if (json_object_is_type(p, json_type_string))
                json_object_array_add(
                    out, clean_string(json_object_get_string(p), (size_t)json_object_get_string_len(p), 64));
        }
        return out;
    }
    for (size_t i = 0; i < json_object_array_length(rec->attempts); i++) {
        const char *name = body_str(json_object_array_get_idx(rec->attempts, i), "provider");
        bool seen = false;
        for (size_t k = 0; name && k < json_object_array_length(out); k++)
            seen |= strcmp(json_object_get_string(json_object_array_get_idx(out, k)), name) == 0;
        if (name && !seen)
            json_object_array_add(out, json_object_new_string(name));
    }
    return out;
}

static const char *model_of(const orc_reqlog_rec_t *rec)
{
    const char *m = body_str(rec->body, "model");
    if (m == NULL)
        m = body_str(rec->request, "model");
    if (m == NULL && json_object_array_length(rec->attempts) > 0)
        m = body_str(json_object_array_get_idx(rec->attempts, 0), "model");
    return m;
}

static void add_request_fields(json_object *o, const orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set)
{
    json_object *msgs;
    bool body_has = body_str(rec->body, "prompt") ||
                    (rec->body && json_object_object_get_ex(rec->body, "messages", &msgs));
    add_prompt(o, body_has ? rec->body : rec->request, set);
    json_object_object_add(o, "providers", providers_json(rec));
    add_str(o, "model", model_of(rec), 255);
    json_object *mt = number_field(rec->body, rec->request, "max_tokens", true);
    json_object_object_add(o, "max_tokens",
                           mt ? mt : number_field(rec->body, rec->request, "max_completion_tokens", true));
    json_object_object_add(o, "temperature", number_field(rec->body, rec->request, "temperature", false));
}

json_object *orc_reqlog_rec_json(const orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set,
                                 int http_status, bool stream, uint64_t now_us)
{
    char ts[40];
    json_object *o = json_object_new_object();
    time_t secs = (time_t)(rec->wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(rec->wall_ms % 1000));
    add_str(o, "request_id", rec->request_id, ORC_REQUEST_ID_MAX);
    add_str(o, "endpoint", rec->endpoint, ORC_REQLOG_ENDPOINT_MAX);
    add_request_fields(o, rec, set);
    orc_json_add_bool(o, "stream", stream);
    bool ok = http_status < 400 && (rec->jobs == 0 || rec->jobs_ok > 0);
    orc_json_add_str(o, "status", ok ? "completed" : "failed");
    orc_json_add_int(o, "http_status", http_status);
    orc_json_add_str(o, "created_at", ts);
    orc_json_add_str(o, "session_id", rec->session_id[0] ? rec->session_id : NULL);
    orc_json_add_str(o, "key_id", rec->key_id[0] ? rec->key_id : NULL);
    orc_json_add_str(o, "team", rec->team[0] ? rec->team : NULL);
    json_object_object_add(o, "results", json_object_get(rec->results));
    json_object_object_add(o, "errors",
                           json_object_array_length(rec->errors) ? json_object_get(rec->errors) : NULL);
    add_num(o, "total_response_time", (double)(now_us - rec->start_us) / 1e6);
    orc_json_add_int(o, "tokens_used", ORC_MIN(rec->tokens, (int64_t)INT32_MAX));
    add_num(o, "cost_usd", rec->cost);
    orc_json_add_bool(o, "cache_hit", rec->cache_hit);
    json_object_object_add(o, "attempts", json_object_get(rec->attempts));
    return o;
}

/* ---- the worker's log -------------------------------------------------- */

static orc_reqlog_settings_t settings_of(const orc_config_t *c)
{
    orc_reqlog_settings_t set = {ORC_REQLOG_FULL, ORC_REQLOG_FULL, (size_t)c->reqlog_truncate_bytes};
    orc_reqlog_text_parse(c->reqlog_prompts, &set.prompts);
    orc_reqlog_text_parse(c->reqlog_answers, &set.answers);
    return set;
}

orc_reqlog_t *orc_reqlog_new(const orc_reqlog_env_t *env)
{
    const orc_config_t *c = env->cfg;
    if (c->database_url[0] == '\0' || !c->reqlog_enabled)
        return NULL;
    orc_reqlog_t *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->env = *env;
    rl->set = settings_of(c);
    rl->spool =
        orc_spool_create(c->reqlog_spool_dir, (uint64_t)c->reqlog_spool_max_mb << 20, c->reqlog_fsync);
    if (rl->spool == NULL)
        orc_log_error("the request log cannot spool: requests are served but not logged");
    rl->writer = orc_reqlog_writer_new(env, rl->spool);
    if (rl->writer == NULL) {
        orc_reqlog_free(rl);
        return NULL;
    }
    return rl;
}

void orc_reqlog_free(orc_reqlog_t *rl)
{
    if (rl == NULL)
        return;
    orc_reqlog_writer_free(rl->writer);
    /* Everything shipped: the file goes; otherwise the next worker adopts it. */
    bool shipped = rl->spool && orc_spool_checkpoint(rl->spool) == orc_spool_end(rl->spool);
    orc_spool_close(rl->spool, shipped);
    free(rl);
}

void orc_reqlog_drain(orc_reqlog_t *rl)
{
    if (rl != NULL)
        orc_reqlog_writer_drain(rl->writer);
}

bool orc_reqlog_drained(orc_reqlog_t *rl, uint64_t drain_started_ms)
{
    if (rl == NULL || orc_reqlog_writer_done(rl->writer))
        return true;
    uint64_t limit = ORC_MIN((uint64_t)rl->env.cfg->shutdown_timeout * 1000 / 2, ORC_REQLOG_DRAIN_MS);
    if (orc_now_ms() - drain_started_ms < limit)
        return false;
    orc_log_warn("request log: leaving the unshipped records in the spool for the next worker");
    return true;
}

/* Logs a record that could not be spooled, at most every 10 s. */
static void lost(orc_reqlog_t *rl, const char *request_id, int err)
{
    uint64_t now = orc_now_ms();
    orc_counter_add(&rl->env.slot->counters.reqlog_lost, 1);
    rl->lost_since_log++;
    if (now - rl->last_error_ms < ERROR_LOG_EVERY_MS)
        return;
    if (rl->spool == NULL)
        orc_log_error(
            "request log: record of request %s not logged: no spool file (%llu since the last report)",
            request_id, (unsigned long long)rl->lost_since_log);
    else if (err == EFBIG)
        orc_log_error(
            "request log: the spool is full (request_log.spool_max_mb = %d): record of request %s not "
            "logged (%llu since the last report); is PostgreSQL reachable?",
            rl->env.cfg->reqlog_spool_max_mb, request_id, (unsigned long long)rl->lost_since_log);
    else
        orc_log_error(
            "request log: cannot write the spool file %s: %s: record of request %s not logged (%llu "
            "since the last report)",
            orc_spool_path(rl->spool), strerror(err), request_id, (unsigned long long)rl->lost_since_log);
    rl->last_error_ms = now;
    rl->lost_since_log = 0;
}

static void watch_bound(orc_reqlog_t *rl)
{
    uint64_t max = orc_spool_max(rl->spool), used = orc_spool_end(rl->spool);
    if (max == 0)
        return;
    if (!rl->warned_full && used * 100 >= max * WARN_PERCENT) {
        orc_log_warn(
            "request log: the spool is %llu%% full (%llu of %llu MiB): PostgreSQL is not keeping up or "
            "is away",
            (unsigned long long)(used * 100 / max), (unsigned long long)(used >> 20),
            (unsigned long long)(max >> 20));
        rl->warned_full = true;
    } else if (rl->warned_full && used * 100 < max * REARM_PERCENT) {
        orc_log_notice("request log: the spool is below %d%% again", REARM_PERCENT);
        rl->warned_full = false;
    }
}

static void spool_record(orc_reqlog_t *rl, const orc_reqlog_rec_t *rec, json_object *o)
{
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (rl->spool == NULL || text == NULL) {
        lost(rl, rec->request_id, ENOMEM);
        return;
    }
    if (orc_spool_append(rl->spool, text, len) != ORC_OK) {
        lost(rl, rec->request_id, errno);
        return;
    }
    orc_counter_add(&rl->env.slot->counters.reqlog_spooled, 1);
    watch_bound(rl);
    orc_reqlog_writer_kick(rl->writer);
}

/* ---- hooks ------------------------------------------------------------- */

orc_reqlog_rec_t *orc_reqlog_record(orc_req_t *rq)
{
    return rq->hook_data;
}

static void on_begin(void *arg, orc_req_t *rq, const orc_route_t *route)
{
    orc_reqlog_rec_t *rec;
    (void)arg;
    if (!route->logged || (rec = malloc(sizeof(*rec))) == NULL)
        return;
    orc_reqlog_rec_init(rec, rq->id, rq->path, orc_wall_ms(), rq->start_us);
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "X-Session-ID");
    orc_reqlog_rec_session(rec, h);
    const orc_key_t *key = orc_auth_key(rq);
    if (key != NULL) {
        snprintf(rec->key_id, sizeof(rec->key_id), "%s", key->id);
        snprintf(rec->team, sizeof(rec->team), "%s", key->team);
    }
    rq->hook_data = rec;
}

static void on_body(void *arg, orc_req_t *rq, json_object *body)
{
    orc_reqlog_rec_t *rec = orc_reqlog_record(rq);
    (void)arg;
    if (rec == NULL || rec->body != NULL || body == NULL)
        return;
    rec->body = json_object_get(body);
    if (rec->session_id[0] == '\0')
        orc_reqlog_rec_session(rec, NULL);
}

void orc_reqlog_job(orc_reqlog_t *rl, orc_req_t *rq, json_object *canonical, const orc_job_result_t *r)
{
    orc_reqlog_detached_job(rl, orc_reqlog_record(rq), canonical, r);
}

void orc_reqlog_rec_cache_hit(orc_reqlog_rec_t *rec, const orc_reqlog_settings_t *set, const char *provider,
                              const char *model, json_object *completion)
{
    json_object *o = json_object_new_object(), *usage = NULL, *text = NULL;
    rec->cache_hit = true;
    orc_json_add_int(o, "attempt", ++rec->nattempts);
    add_str(o, "provider", provider, 64);
    add_str(o, "model", model, 255);
    orc_json_add_str(o, "status", "success");
    orc_json_add_int(o, "http_status", 200);
    add_num(o, "response_time", (double)(orc_now_us() - rec->start_us) / 1e6);
    json_object *choices = NULL, *c0, *msg;
    if (json_object_object_get_ex(completion, "choices", &choices) &&
        (c0 = json_object_array_get_idx(choices, 0)) != NULL &&
        json_object_object_get_ex(c0, "message", &msg))
        json_object_object_get_ex(msg, "content", &text);
    add_kept(o, "response", json_object_get_string(text), (size_t)json_object_get_string_len(text),
             set->answers, set->truncate_bytes);
    if (json_object_object_get_ex(completion, "usage", &usage)) {
        json_object *t = json_object_object_get(usage, "total_tokens");
        orc_json_add_int(o, "tokens_used", json_object_get_int64(t));
        rec->tokens += json_object_get_int64(t);
    }
    add_num(o, "cost_usd", 0); /* nothing was paid for it */
    json_object_array_add(rec->attempts, o);
    rec->jobs++;
    rec->jobs_ok++;
}

void orc_reqlog_cache_hit(orc_reqlog_t *rl, orc_req_t *rq, const char *provider, const char *model,
                          json_object *completion)
{
    orc_reqlog_rec_t *rec = orc_reqlog_record(rq);
    if (rec != NULL && rl != NULL)
        orc_reqlog_rec_cache_hit(rec, &rl->set, provider, model, completion);
}

static void spool_finished(orc_reqlog_t *rl, orc_reqlog_rec_t *rec, int status, bool streaming)
{
    json_object *stream = NULL;
    bool streamed = streaming || (rec->body && json_object_object_get_ex(rec->body, "stream", &stream) &&
                                  json_object_get_boolean(stream));
    json_object *o = orc_reqlog_rec_json(rec, &rl->set, status, streamed, orc_now_us());
    spool_record(rl, rec, o);
    json_object_put(o);
}

static void on_release(void *arg, orc_req_t *rq)
{
    orc_reqlog_rec_t *rec = orc_reqlog_record(rq);
    (void)arg;
    if (rec == NULL)
        return;
    orc_reqlog_rec_clear(rec);
    free(rec);
    rq->hook_data = NULL;
}

static void on_finish(void *arg, orc_req_t *rq, int status, struct evbuffer *body)
{
    orc_reqlog_rec_t *rec = orc_reqlog_record(rq);
    if (rec == NULL)
        return;
    if (status >= 400) {
        size_t len = body ? evbuffer_get_length(body) : 0;
        const char *text = len && len <= REPLY_ERROR_MAX ? (const char *)evbuffer_pullup(body, -1) : NULL;
        orc_reqlog_rec_reply_error(rec, status, text, text ? len : 0);
    }
    spool_finished(arg, rec, status, rq->streaming);
    on_release(arg, rq);
}

orc_http_hooks_t orc_reqlog_http_hooks(orc_reqlog_t *rl)
{
    orc_http_hooks_t hooks = {0};
    if (rl != NULL)
        hooks = (orc_http_hooks_t){on_begin, on_body, on_finish, on_release, rl};
    return hooks;
}

orc_reqlog_rec_t *orc_reqlog_detach(orc_req_t *rq)
{
    orc_reqlog_rec_t *rec = orc_reqlog_record(rq);
    rq->hook_data = NULL;
    return rec;
}

void orc_reqlog_detached_job(orc_reqlog_t *rl, orc_reqlog_rec_t *rec, json_object *canonical,
                             const orc_job_result_t *r)
{
    if (rec != NULL && rl != NULL)
        orc_reqlog_rec_job(rec, &rl->set, canonical, r);
}

void orc_reqlog_finish_detached(orc_reqlog_t *rl, orc_reqlog_rec_t *rec, int status)
{
    if (rec == NULL)
        return;
    if (rl != NULL)
        spool_finished(rl, rec, status, false);
    orc_reqlog_rec_clear(rec);
    free(rec);
}

json_object *orc_reqlog_health(const orc_reqlog_t *rl)
{
    json_object *o = json_object_new_object();
    if (rl == NULL) {
        orc_json_add_str(o, "status", "disabled");
        return o;
    }
    orc_reqlog_writer_status_t st;
    orc_reqlog_writer_status(rl->writer, &st);
    uint64_t spool = 0, backlog = 0;
    const orc_shm_t *shm = rl->env.shm;
    for (uint32_t i = 0; i < shm->nslots; i++) /* every worker's files, as of its last tick */
        if (atomic_load(&shm->slots[i].state) != ORC_SLOT_FREE) {
            spool += atomic_load(&shm->slots[i].reqlog_spool_bytes);
            backlog += atomic_load(&shm->slots[i].reqlog_backlog_bytes);
        }
    bool full = rl->warned_full || rl->spool == NULL;
    orc_json_add_str(o, "status", full ? "degraded" : "healthy");
    orc_json_add_int(o, "spool_bytes", (int64_t)spool);
    orc_json_add_int(o, "backlog_bytes", (int64_t)backlog);
    orc_json_add_int(o, "spool_max_bytes", rl->spool ? (int64_t)orc_spool_max(rl->spool) : 0);
    orc_json_add_bool(o, "database_connected", st.connected);
    orc_json_add_bool(o, "schema_ready", st.schema_ready);
    return o;
}
