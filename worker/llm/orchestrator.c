/*
 * orchestrator.c - attempts, retries and fallbacks of one LLM request.
 *
 * A job owns at most one upstream call and one timer at a time.  Every
 * path ends in job_finish (the caller's on_done) or orc_job_cancel (no
 * callback).  The job is entered only through its three event callbacks
 * (upstream data, upstream done, timer); each counts its depth and frees
 * the job on the way out once it is finished or cancelled, so a caller
 * may cancel from on_chunk or on_done without pulling the job out from
 * under the code that called it.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/orchestrator.h"
#include "worker/llm/providers/sse.h"

#define BODY_MAX (16u << 20)       /* a non-streamed answer larger than this is refused */
#define ERROR_BODY_MAX (64u << 10) /* error bodies are kept up to this size */
#define SSE_EVENT_MAX (4u << 20)

struct orc_job_s {
    orc_llm_t *llm;
    orc_job_spec_t spec;
    orc_job_cbs_t cbs;
    void *arg;
    int target;
    int tries; /* attempts on the current target */
    bool retrying;
    bool resent_on_fresh_connection;
    orc_call_t *call;
    orc_provider_rt_t *holding; /* provider whose in-flight count this job holds */
    int probing;                /* provider index whose half-open probe this job holds, -1 none */
    struct event *timer;        /* first attempt, retries, deferred free */
    bool cancelled;
    bool finished;
    int depth; /* > 0 while one of the job's callbacks runs */
    /* the current attempt */
    int status;
    char *body;
    size_t body_len;
    bool sse_ready;
    orc_sse_t sse;
    orc_stream_t st;
    bool committed;
    uint64_t job_start_us, attempt_start_us, first_chunk_us;
    /* the assistant's text */
    char *text;
    size_t text_len, text_cap;
    orc_job_result_t res;
};

static void try_target(orc_job_t *job);

/* ---- lifetime ---------------------------------------------------------- */

static void release_inflight(orc_job_t *job)
{
    if (job->holding != NULL) {
        orc_llm_inflight(job->llm, job->holding, -1);
        job->holding = NULL;
    }
}

static void reset_attempt(orc_job_t *job)
{
    free(job->body);
    job->body = NULL;
    job->body_len = 0;
    if (job->sse_ready)
        orc_sse_free(&job->sse);
    job->sse_ready = false;
    job->status = 0;
}

/* Reports the current attempt's outcome to the DWA (statistics, breaker). */
static void report(orc_job_t *job, orc_fail_class_t cls, int64_t retry_after_ms, uint64_t latency_us,
                   uint64_t ttfb_us, const char *error)
{
    int idx = job->spec.targets[job->target].provider->index;
    orc_dwa_outcome(job->llm->dwa, idx, job->probing == idx, cls, retry_after_ms, latency_us, ttfb_us, error);
    if (job->probing == idx)
        job->probing = -1;
}

static void job_free(orc_job_t *job)
{
    if (job->probing >= 0) /* cancelled while probing: let another caller probe */
        orc_dwa_probe_abandoned(job->llm->dwa, job->probing);
    if (job->call != NULL)
        orc_call_cancel(job->call);
    release_inflight(job);
    reset_attempt(job);
    if (job->timer)
        event_free(job->timer);
    json_object_put(job->spec.request);
    json_object_put(job->res.response);
    free(job->text);
    free(job);
}

void orc_job_cancel(orc_job_t *job)
{
    if (job == NULL || job->cancelled)
        return;
    job->cancelled = true;
    if (job->call != NULL) {
        orc_call_cancel(job->call);
        job->call = NULL;
    }
    release_inflight(job);
    if (job->depth == 0)
        job_free(job); /* else the running callback frees it on its way out */
}

static void enter(orc_job_t *job)
{
    job->depth++;
}

/* Returns true when the job is gone. */
static bool leave(orc_job_t *job)
{
    if (--job->depth > 0 || !(job->finished || job->cancelled))
        return false;
    job_free(job);
    return true;
}

static void job_finish(orc_job_t *job, bool ok)
{
    if (job->finished || job->cancelled)
        return;
    job->finished = true;
    orc_job_result_t *r = &job->res;
    r->ok = ok;
    r->text = job->text ? job->text : "";
    r->latency_us = orc_now_us() - job->job_start_us;
    r->ttft_us = job->first_chunk_us ? job->first_chunk_us - job->job_start_us : r->ttft_us;
    r->streamed = job->committed;
    release_inflight(job);
    job->cbs.on_done(job->arg, r);
}

/* ---- text and attempts ------------------------------------------------- */

static void append_text(orc_job_t *job, const char *s, size_t n)
{
    if (job->text_len + n + 1 > job->text_cap) {
        size_t cap = ORC_MAX(job->text_cap * 2, job->text_len + n + 256);
        char *t = realloc(job->text, cap);
        if (t == NULL)
            return;
        job->text = t;
        job->text_cap = cap;
    }
    memcpy(job->text + job->text_len, s, n);
    job->text_len += n;
    job->text[job->text_len] = '\0';
}

static const char *first_choice_string(json_object *o, const char *part, const char *key)
{
    json_object *choices, *c0, *msg, *v;
    if (!json_object_object_get_ex(o, "choices", &choices) || json_object_array_length(choices) == 0)
        return NULL;
    c0 = json_object_array_get_idx(choices, 0);
    if (!json_object_object_get_ex(c0, part, &msg) || !json_object_object_get_ex(msg, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static orc_attempt_t *record_attempt(orc_job_t *job, const orc_provider_rt_t *p, const char *model,
                                     int status, orc_fail_class_t cls, const char *error)
{
    orc_job_result_t *r = &job->res;
    orc_attempt_t *a =
        &r->attempts[r->nattempts < ORC_JOB_ATTEMPTS_MAX ? r->nattempts++ : ORC_JOB_ATTEMPTS_MAX - 1];
    memset(a, 0, sizeof(*a));
    a->provider = p->cfg->name;
    snprintf(a->model, sizeof(a->model), "%s", model);
    a->status = status;
    a->cls = cls;
    a->retry = job->retrying;
    a->latency_us = job->attempt_start_us ? orc_now_us() - job->attempt_start_us : 0;
    snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
    r->provider = p;
    snprintf(r->model, sizeof(r->model), "%s", model);
    return a;
}

/* ---- failures ---------------------------------------------------------- */

static uint64_t backoff_ms(const orc_job_t *job)
{
    const orc_config_t *cfg = job->llm->cfg;
    uint64_t d = (uint64_t)cfg->llm_retry_base_ms;
    for (int i = 1; i < job->tries && d < (uint64_t)cfg->llm_retry_max_ms; i++)
        d *= 2;
    d = ORC_MIN(d, (uint64_t)cfg->llm_retry_max_ms);
    return d / 2 + orc_random_u64() % (d / 2 + 1); /* jitter: 50 to 100 % */
}

static void schedule(orc_job_t *job, uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(job->timer, &tv);
}

static bool request_at_fault(const orc_failure_t *f)
{
    return f->cls == ORC_FAIL_CLIENT && (f->status == 400 || f->status == 413 || f->status == 422);
}

static void next_target(orc_job_t *job)
{
    orc_provider_rt_t *p = job->spec.targets[job->target].provider;
    job->target++;
    job->tries = 0;
    job->retrying = false;
    if (job->target < job->spec.ntargets)
        orc_llm_count_fallback(job->llm, p);
    try_target(job);
}

static void handle_failure(orc_job_t *job, const orc_failure_t *f, bool no_retry)
{
    orc_target_t *t = &job->spec.targets[job->target];
    const orc_config_t *cfg = job->llm->cfg;
    job->res.failure = *f;
    record_attempt(job, t->provider, t->model, f->status, f->cls, f->message);
    orc_llm_count_attempt(job->llm, t->provider, f->cls, 0, 0, NULL, 0, job->retrying);
    report(job, f->cls, f->retry_after_ms, 0, 0, f->message);
    reset_attempt(job);
    uint64_t now = orc_now_ms();
    uint64_t left = job->spec.deadline_ms > now ? job->spec.deadline_ms - now : 0;
    bool alternative = job->target + 1 < job->spec.ntargets;
    if (orc_fail_retryable(f->cls) && !no_retry && job->tries <= cfg->llm_max_retries) {
        uint64_t delay = backoff_ms(job);
        if (f->retry_after_ms >= 0) /* a little after, so the fleet-wide not-before has passed too */
            delay = ORC_MAX(delay, (uint64_t)f->retry_after_ms + 10);
        /* another provider could answer now: do not make the client wait for this one */
        bool too_long = alternative && delay > (uint64_t)cfg->llm_retry_fallback_budget_ms;
        if (delay < left && !too_long) {
            job->retrying = true;
            schedule(job, delay);
            return;
        }
    }
    job->res.bad_request = request_at_fault(f);
    if (job->res.bad_request) {
        job_finish(job, false);
        return;
    }
    next_target(job);
}

static void local_failure(orc_job_t *job, orc_fail_class_t cls, int status, const char *fmt, const char *what)
{
    orc_failure_t f = {.cls = cls, .status = status, .retry_after_ms = -1};
    snprintf(f.message, sizeof(f.message), fmt, what);
    orc_target_t *t = &job->spec.targets[job->target];
    job->res.failure = f;
    record_attempt(job, t->provider, t->model, status, cls, f.message);
}

/* ---- success ----------------------------------------------------------- */

static void succeed(orc_job_t *job, const orc_usage_t *usage, const char *finish_reason)
{
    orc_target_t *t = &job->spec.targets[job->target];
    orc_job_result_t *r = &job->res;
    uint64_t latency = orc_now_us() - job->attempt_start_us;
    r->usage = *usage;
    r->cost_usd = orc_llm_cost(t->provider, t->model, usage);
    snprintf(r->finish_reason, sizeof(r->finish_reason), "%s", finish_reason ? finish_reason : "");
    record_attempt(job, t->provider, t->model, job->status, ORC_FAIL_NONE, NULL);
    orc_llm_count_attempt(job->llm, t->provider, ORC_FAIL_NONE, latency, r->ttft_us, usage, r->cost_usd,
                          job->retrying);
    report(job, ORC_FAIL_NONE, -1, latency, r->ttft_us, NULL);
    if (job->spec.request_id != NULL)
        orc_dwa_ring_put(job->llm->slot, job->spec.request_id, t->provider->shm_index);
    job_finish(job, true);
}

static void finish_response(orc_job_t *job)
{
    orc_target_t *t = &job->spec.targets[job->target];
    orc_usage_t usage = {0};
    orc_failure_t f = {.retry_after_ms = -1};
    json_object *resp =
        t->provider->adapter->parse_response(job->body ? job->body : "", job->body_len, t->model, &usage, &f);
    if (resp == NULL) {
        f.cls = f.cls ? f.cls : ORC_FAIL_SERVER;
        f.status = job->status;
        handle_failure(job, &f, false);
        return;
    }
    job->res.response = resp;
    const char *content = first_choice_string(resp, "message", "content");
    if (content)
        append_text(job, content, strlen(content));
    const char *fr = NULL;
    json_object *choices, *c0, *v;
    if (json_object_object_get_ex(resp, "choices", &choices) && json_object_array_length(choices) > 0 &&
        (c0 = json_object_array_get_idx(choices, 0)) && json_object_object_get_ex(c0, "finish_reason", &v))
        fr = json_object_get_string(v);
    succeed(job, &usage, fr);
}

/* ---- streaming --------------------------------------------------------- */

static void emit(void *arg, json_object *chunk)
{
    orc_job_t *job = arg;
    if (job->cancelled)
        return;
    if (json_object_object_get_ex(chunk, "error", NULL) && !job->committed)
        return; /* nothing reached the caller yet: the failure is retried instead */
    if (!job->committed) {
        job->committed = true;
        job->first_chunk_us = orc_now_us();
        job->res.ttft_us = job->first_chunk_us - job->job_start_us;
    }
    const char *content = first_choice_string(chunk, "delta", "content");
    if (content)
        append_text(job, content, strlen(content));
    job->cbs.on_chunk(job->arg, chunk);
}

static void on_sse(void *arg, const char *event, const char *data, size_t len)
{
    orc_job_t *job = arg;
    orc_target_t *t = &job->spec.targets[job->target];
    if (!job->cancelled)
        t->provider->adapter->stream_event(&job->st, event, data, len, emit, job);
}

static void finish_stream(orc_job_t *job)
{
    orc_target_t *t = &job->spec.targets[job->target];
    int rc = t->provider->adapter->stream_end(&job->st, emit, job);
    if (rc == ORC_OK && !job->st.failed) {
        succeed(job, &job->st.usage, job->st.finish_reason);
        return;
    }
    if (job->committed) { /* the error chunk went to the caller: no retry */
        job->res.failure = job->st.failure;
        record_attempt(job, t->provider, t->model, job->status, job->st.failure.cls, job->st.failure.message);
        orc_llm_count_attempt(job->llm, t->provider, job->st.failure.cls, 0, 0, NULL, 0, job->retrying);
        report(job, job->st.failure.cls, -1, 0, 0, job->st.failure.message);
        job_finish(job, false);
        return;
    }
    handle_failure(job, &job->st.failure, false);
}

/* ---- upstream callbacks ------------------------------------------------ */

static int on_response(void *arg, int status)
{
    orc_job_t *job = arg;
    job->status = status;
    if (status >= 200 && status < 300 && job->spec.stream) {
        orc_sse_init(&job->sse, SSE_EVENT_MAX);
        job->sse_ready = true;
        orc_stream_init(&job->st, job->spec.targets[job->target].model, job->spec.include_usage);
    }
    return ORC_OK;
}

static int append_body(orc_job_t *job, const char *data, size_t len)
{
    bool ok2xx = job->status >= 200 && job->status < 300;
    size_t max = ok2xx ? BODY_MAX : ERROR_BODY_MAX;
    if (job->body_len + len > max)
        return ok2xx ? ORC_ERR : ORC_OK; /* error bodies are truncated, answers refused */
    char *b = realloc(job->body, job->body_len + len + 1);
    if (b == NULL)
        return ORC_ERR;
    memcpy(b + job->body_len, data, len);
    job->body = b;
    job->body_len += len;
    b[job->body_len] = '\0';
    return ORC_OK;
}

static int on_data(void *arg, const char *data, size_t len)
{
    orc_job_t *job = arg;
    if (job->cancelled || job->finished)
        return ORC_ERR;
    if (!job->sse_ready)
        return append_body(job, data, len);
    enter(job);
    int rc = orc_sse_feed(&job->sse, data, len, on_sse, job);
    if (rc != ORC_OK)
        orc_log_warn("upstream stream event over %u bytes: stopping it", SSE_EVENT_MAX);
    /* A cancel from the caller flagged the call (we are inside curl's write
     * callback); the job itself can go now: curl no longer needs it. */
    bool gone = leave(job);
    return (gone || rc != ORC_OK) ? ORC_ERR : ORC_OK;
}

static void on_transport_failure(orc_job_t *job, const orc_call_result_t *res)
{
    orc_target_t *t = &job->spec.targets[job->target];
    if (res->reused_dead && !job->resent_on_fresh_connection) {
        job->resent_on_fresh_connection = true; /* the provider did nothing wrong */
        orc_log_debug("%s: pooled connection was closed by the peer; resending", t->provider->cfg->name);
        reset_attempt(job);
        try_target(job);
        return;
    }
    orc_failure_t f = {.cls = res->fail, .status = res->status, .retry_after_ms = -1};
    snprintf(f.message, sizeof(f.message), "%s", res->error);
    if (job->committed) {
        job->st.failure = f;
        json_object *err = json_object_new_object(), *e = json_object_new_object();
        json_object_object_add(e, "message", json_object_new_string(f.message));
        json_object_object_add(e, "type", json_object_new_string("server_error"));
        json_object_object_add(e, "param", NULL);
        json_object_object_add(e, "code", json_object_new_string(orc_fail_class_name(f.cls)));
        json_object_object_add(err, "error", e);
        job->cbs.on_chunk(job->arg, err);
        json_object_put(err);
        job->st.failed = true;
        finish_stream(job);
        return;
    }
    handle_failure(job, &f, false);
}

static void on_done_inner(orc_job_t *job, const orc_call_result_t *res);

static void on_done(void *arg, const orc_call_result_t *res)
{
    orc_job_t *job = arg;
    job->call = NULL;
    enter(job);
    on_done_inner(job, res);
    leave(job);
}

static void on_done_inner(orc_job_t *job, const orc_call_result_t *res)
{
    orc_target_t *t = &job->spec.targets[job->target];
    release_inflight(job);
    if (job->res.ttft_us == 0)
        job->res.ttft_us = res->ttfb_us;
    if (res->fail != ORC_FAIL_NONE) {
        on_transport_failure(job, res);
    } else if (res->status >= 200 && res->status < 300) {
        if (job->spec.stream)
            finish_stream(job);
        else
            finish_response(job);
    } else {
        orc_failure_t f = {.retry_after_ms = -1};
        t->provider->adapter->classify_error(res->status, job->body ? job->body : "", job->body_len,
                                             res->retry_after_ms, &f);
        f.status = res->status;
        handle_failure(job, &f, res->should_retry_false);
    }
}

/* ---- attempts ---------------------------------------------------------- */

static int start_call(orc_job_t *job, orc_target_t *t)
{
    orc_provider_rt_t *p = t->provider;
    const orc_provider_config_t *c = p->cfg;
    char err[512] = "";
    orc_http_out_t out = {0};
    if (p->adapter->build_request(&p->endpoint, t->model, job->spec.request, job->spec.stream, &out, err,
                                  sizeof(err)) != ORC_OK) {
        local_failure(job, ORC_FAIL_CLIENT, 400, "%s", err);
        job->res.bad_request = true;
        return ORC_ERR;
    }
    uint64_t now = orc_now_ms();
    int left = job->spec.deadline_ms > now ? (int)ORC_MIN(job->spec.deadline_ms - now, 86400000u) : 1;
    orc_call_timeouts_t to = {.connect_timeout_ms = ORC_MIN(c->connect_timeout_ms, left),
                              .first_byte_timeout_ms = ORC_MIN(c->first_byte_timeout_ms, left),
                              .idle_timeout_ms = c->idle_timeout_ms,
                              .total_timeout_ms =
                                  job->spec.stream ? c->total_timeout_ms : ORC_MIN(c->total_timeout_ms, left),
                              .fresh_connection = job->resent_on_fresh_connection};
    static const orc_call_cbs_t cbs = {on_response, on_data, on_done};
    job->attempt_start_us = orc_now_us();
    job->call = orc_call_start(job->llm->upstream, &out, &to, &cbs, job);
    orc_http_out_free(&out);
    if (job->call == NULL) {
        local_failure(job, ORC_FAIL_SERVER, 0, "%s", "cannot start the upstream call");
        return ORC_ERR;
    }
    orc_llm_inflight(job->llm, p, +1);
    job->holding = p;
    return ORC_OK;
}

static bool breaker_admits(orc_job_t *job, orc_target_t *t)
{
    char why[128], msg[200];
    int idx = t->provider->index;
    if (job->probing == idx)
        return true; /* this job already holds the probe: a resend or retry keeps it */
    int64_t wait_ms = -1;
    bool limited = false;
    orc_admit_t a = orc_dwa_admit(job->llm->dwa, idx, why, sizeof(why), &wait_ms, &limited);
    if (a == ORC_ADMIT_PROBE)
        job->probing = idx;
    if (a != ORC_ADMIT_NO)
        return true;
    snprintf(msg, sizeof(msg), "provider %s is unavailable: %s", t->provider->cfg->name, why);
    local_failure(job, limited ? ORC_FAIL_RATE_LIMITED : ORC_FAIL_OVERLOADED, limited ? 429 : 0, "%s", msg);
    job->res.failure.retry_after_ms = wait_ms;
    return false;
}

static bool target_usable(orc_job_t *job, orc_target_t *t)
{
    const orc_provider_config_t *c = t->provider->cfg;
    if (!c->configured) {
        local_failure(job, ORC_FAIL_CLIENT, 0,
                      c->enabled ? "provider %s is not configured: its API key is not set"
                                 : "provider %s is disabled",
                      c->name);
        return false;
    }
    if (t->provider->inflight >= c->max_inflight) {
        local_failure(job, ORC_FAIL_OVERLOADED, 0, "provider %s is at its max_inflight limit", c->name);
        return false;
    }
    return breaker_admits(job, t);
}

static void try_target(orc_job_t *job)
{
    while (job->target < job->spec.ntargets) {
        orc_target_t *t = &job->spec.targets[job->target];
        job->tries++;
        if (target_usable(job, t) && start_call(job, t) == ORC_OK)
            return;
        job->target++;
        job->tries = 0;
        job->retrying = false;
    }
    job_finish(job, false);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    orc_job_t *job = arg;
    (void)fd;
    (void)what;
    enter(job);
    if (!job->cancelled && !job->finished)
        try_target(job);
    leave(job);
}

const orc_target_t *orc_job_target(const orc_job_t *job)
{
    return &job->spec.targets[ORC_MIN(job->target, job->spec.ntargets - 1)];
}

orc_job_t *orc_job_start(orc_llm_t *llm, const orc_job_spec_t *spec, const orc_job_cbs_t *cbs, void *arg)
{
    orc_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return NULL;
    job->llm = llm;
    job->spec = *spec;
    job->cbs = *cbs;
    job->arg = arg;
    job->job_start_us = orc_now_us();
    job->probing = -1;
    if (job->spec.deadline_ms == 0)
        job->spec.deadline_ms = orc_now_ms() + (uint64_t)llm->cfg->request_timeout * 1000u;
    json_object_get(job->spec.request);
    job->timer = evtimer_new(llm->base, on_timer, job);
    if (job->timer == NULL) {
        json_object_put(job->spec.request);
        free(job);
        return NULL;
    }
    schedule(job, 0);
    return job;
}
