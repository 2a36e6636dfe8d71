/*
 * metrics.c - GET /metrics in the Prometheus text format (version 0.0.4),
 * built from the shared-memory counters of every worker plus the retired
 * totals, so the numbers are fleet-wide and never go backwards.
 */
#include <event2/buffer.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "common/shm.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/api/cache_api.h"
#include "worker/llm/providers/provider.h"

static void help(struct evbuffer *b, const char *name, const char *type, const char *text)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void requests(struct evbuffer *b, const orc_counters_t *c)
{
    size_t nroutes = orc_api_nroutes;
    const orc_route_t *routes = orc_api_routes;
    help(b, "orchesity_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
    for (size_t r = 0; r < nroutes; r++) {
        for (int s = 0; s < ORC_STATUS_MAX; s++) {
            uint64_t v = c->requests[r][s];
            if (v == 0)
                continue;
            int code = orc_shm_status_code(s);
            if (code)
                evbuffer_add_printf(b, "orchesity_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                                    routes[r].name, code, (unsigned long long)v);
            else
                evbuffer_add_printf(b, "orchesity_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
                                    routes[r].name, (unsigned long long)v);
        }
    }
}

static void latency(struct evbuffer *b, const orc_counters_t *c)
{
    const char *name = "orchesity_http_request_duration_seconds";
    help(b, name, "histogram", "Time from request parsed to response queued.");
    uint64_t cumulative = 0;
    for (int i = 0; i < ORC_LATENCY_BUCKETS; i++) {
        cumulative += c->latency_bucket[i];
        uint64_t bound = orc_shm_latency_bound_us(i);
        if (bound == UINT64_MAX)
            evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
        else
            evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bound / 1e6,
                                (unsigned long long)cumulative);
    }
    evbuffer_add_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, (double)c->latency_sum_us / 1e6, name,
                        (unsigned long long)c->latency_count);
}

static void counter(struct evbuffer *b, const char *name, const char *text, uint64_t v)
{
    help(b, name, "counter", text);
    evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void reqlog(struct evbuffer *b, const orc_shm_t *shm, const orc_counters_t *c)
{
    uint64_t spool = 0, backlog = 0;
    counter(b, "orchesity_request_log_spooled_total", "Request-log records written to the spool.",
            c->reqlog_spooled);
    counter(b, "orchesity_request_log_shipped_total", "Request-log records stored in PostgreSQL.",
            c->reqlog_shipped);
    counter(b, "orchesity_request_log_rejected_total",
            "Request-log records PostgreSQL refused, set aside in rejected.jsonl.", c->reqlog_rejected);
    counter(b, "orchesity_request_log_lost_total",
            "Requests whose record could not be spooled (spool full or unwritable).", c->reqlog_lost);
    for (uint32_t i = 0; i < shm->nslots; i++)
        if (atomic_load(&shm->slots[i].state) != ORC_SLOT_FREE) {
            spool += atomic_load(&shm->slots[i].reqlog_spool_bytes);
            backlog += atomic_load(&shm->slots[i].reqlog_backlog_bytes);
        }
    help(b, "orchesity_request_log_spool_bytes", "gauge", "Size of the request-log spool files.");
    evbuffer_add_printf(b, "orchesity_request_log_spool_bytes %llu\n", (unsigned long long)spool);
    help(b, "orchesity_request_log_backlog_bytes", "gauge",
         "Spooled request-log bytes not yet in PostgreSQL.");
    evbuffer_add_printf(b, "orchesity_request_log_backlog_bytes %llu\n", (unsigned long long)backlog);
}

static void workers(struct evbuffer *b, const orc_shm_t *shm)
{
    static const char *states[] = {"free", "starting", "serving", "draining"};
    int count[4] = {0};
    int64_t inflight = 0;
    help(b, "orchesity_worker_resident_memory_bytes", "gauge", "Resident set size of each worker.");
    for (uint32_t i = 0; i < shm->nslots; i++) {
        const orc_slot_t *s = &shm->slots[i];
        uint32_t st = atomic_load(&s->state);
        if (st >= ORC_ARRAY_LEN(states) || st == ORC_SLOT_FREE)
            continue;
        count[st]++;
        inflight += atomic_load(&s->inflight);
        evbuffer_add_printf(b,
                            "orchesity_worker_resident_memory_bytes{worker=\"%u\",generation=\"%u\"} %llu\n",
                            atomic_load(&s->index), atomic_load(&s->generation),
                            (unsigned long long)atomic_load(&s->rss_kb) * 1024ull);
    }
    help(b, "orchesity_workers", "gauge", "Worker processes by state.");
    for (size_t st = 1; st < ORC_ARRAY_LEN(states); st++)
        evbuffer_add_printf(b, "orchesity_workers{state=\"%s\"} %d\n", states[st], count[st]);
    help(b, "orchesity_http_requests_in_flight", "gauge", "Requests being handled now.");
    evbuffer_add_printf(b, "orchesity_http_requests_in_flight %lld\n", (long long)inflight);
}

static void provider_counter(struct evbuffer *b, const orc_shm_t *shm, const orc_counters_t *c,
                             const char *name, const char *text, size_t offset, double scale)
{
    uint32_t n = atomic_load(&((orc_shm_t *)shm)->nprovider_names);
    help(b, name, "counter", text);
    for (uint32_t i = 0; i < n && i < ORC_SHM_PROVIDERS; i++) {
        const uint64_t *v = (const uint64_t *)((const char *)&c->providers[i] + offset);
        evbuffer_add_printf(b, "%s{provider=\"%s\"} %.9g\n", name, shm->provider_names[i],
                            (double)*v * scale);
    }
}

/* Upstream calls per provider, from every worker, live and retired. */
static void providers(struct evbuffer *b, const orc_shm_t *shm, const orc_counters_t *c)
{
    uint32_t n = atomic_load(&((orc_shm_t *)shm)->nprovider_names);
    provider_counter(b, shm, c, "orchesity_upstream_calls_total", "Upstream calls (attempts) per provider.",
                     offsetof(orc_provider_counters_t, calls), 1);
    provider_counter(b, shm, c, "orchesity_upstream_successes_total", "Upstream calls answered successfully.",
                     offsetof(orc_provider_counters_t, successes), 1);
    help(b, "orchesity_upstream_failures_total", "counter", "Failed upstream calls by failure class.");
    for (uint32_t i = 0; i < n && i < ORC_SHM_PROVIDERS; i++)
        for (int k = 1; k < ORC_FAIL_CLASSES; k++)
            evbuffer_add_printf(b, "orchesity_upstream_failures_total{provider=\"%s\",class=\"%s\"} %llu\n",
                                shm->provider_names[i], orc_fail_class_name((orc_fail_class_t)k),
                                (unsigned long long)c->providers[i].failures[k]);
    provider_counter(b, shm, c, "orchesity_upstream_latency_seconds_sum",
                     "Total latency of successful calls.", offsetof(orc_provider_counters_t, latency_us_sum),
                     1e-6);
    provider_counter(b, shm, c, "orchesity_upstream_retries_total", "Retries on the same provider.",
                     offsetof(orc_provider_counters_t, retries), 1);
    provider_counter(b, shm, c, "orchesity_upstream_fallbacks_total",
                     "Requests moved on to the next provider.", offsetof(orc_provider_counters_t, fallbacks),
                     1);
    provider_counter(b, shm, c, "orchesity_tokens_input_total", "Prompt tokens.",
                     offsetof(orc_provider_counters_t, tokens_in), 1);
    provider_counter(b, shm, c, "orchesity_tokens_output_total", "Completion tokens.",
                     offsetof(orc_provider_counters_t, tokens_out), 1);
    provider_counter(b, shm, c, "orchesity_cost_usd_total", "Cost at the configured prices, in USD.",
                     offsetof(orc_provider_counters_t, cost_nano_usd), 1e-9);
    help(b, "orchesity_upstream_in_flight", "gauge", "Upstream calls in flight per provider.");
    for (uint32_t i = 0; i < n && i < ORC_SHM_PROVIDERS; i++) {
        int64_t inflight = 0;
        for (uint32_t s = 0; s < shm->nslots; s++)
            if (atomic_load(&shm->slots[s].state) != ORC_SLOT_FREE)
                inflight += atomic_load(&shm->slots[s].provider_inflight[i]);
        evbuffer_add_printf(b, "orchesity_upstream_in_flight{provider=\"%s\"} %lld\n", shm->provider_names[i],
                            (long long)inflight);
    }
}

/* A label value with '\\', '"' and newlines escaped as Prometheus wants. */
static const char *label_value(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0' && i < ORC_SHM_KEY_LABEL && o + 3 < size; i++) {
        char c = in[i];
        if (c == '\\' || c == '"' || c == '\n')
            out[o++] = '\\';
        out[o++] = c == '\n' ? 'n' : c;
    }
    out[o] = '\0';
    return out;
}

typedef struct {
    const char *name, *text;
    size_t offset;
    double scale;
} key_metric_t;

static const key_metric_t key_metrics[] = {
    {"requests_total", "LLM requests.", offsetof(orc_keylimit_t, requests_total), 1},
    {"tokens_total", "Input and output tokens.", offsetof(orc_keylimit_t, tokens_total), 1},
    {"cost_usd_total", "Cost in USD.", offsetof(orc_keylimit_t, cost_nano_total), 1e-9},
};

static uint64_t key_value(const orc_keylimit_t *e, const key_metric_t *m)
{
    return atomic_load((_Atomic uint64_t *)((char *)e + m->offset));
}

/* Per client key and per team; the series are bounded by ORC_SHM_KEYS (a
 * key idle for two minutes may give its entry, and its counts, away). */
static void client_keys(struct evbuffer *b, const orc_shm_t *shm)
{
    char key[3 * ORC_SHM_KEY_LABEL], team[3 * ORC_SHM_KEY_LABEL], name[64];
    for (size_t m = 0; m < ORC_ARRAY_LEN(key_metrics); m++) {
        snprintf(name, sizeof(name), "orchesity_key_%s", key_metrics[m].name);
        help(b, name, "counter", key_metrics[m].text);
        for (int i = 0; i < ORC_SHM_KEYS; i++) {
            const orc_keylimit_t *e = &shm->keylimits[i];
            if (atomic_load(&e->tag) != 0 && e->label[0] != '\0' && atomic_load(&e->requests_total) > 0)
                evbuffer_add_printf(b, "%s{key=\"%s\",team=\"%s\"} %.9g\n", name,
                                    label_value(e->label, key, sizeof(key)),
                                    label_value(e->team_label, team, sizeof(team)),
                                    (double)key_value(e, &key_metrics[m]) * key_metrics[m].scale);
        }
        snprintf(name, sizeof(name), "orchesity_team_%s", key_metrics[m].name);
        help(b, name, "counter", key_metrics[m].text);
        for (int i = 0; i < ORC_SHM_KEYS; i++) {
            const orc_keylimit_t *e = &shm->keylimits[i];
            bool first = atomic_load(&e->tag) != 0 && e->team_label[0] != '\0';
            for (int j = 0; first && j < i; j++) /* each team once, where it first appears */
                first = strcmp(shm->keylimits[j].team_label, e->team_label) != 0;
            if (!first)
                continue;
            uint64_t sum = 0;
            for (int j = i; j < ORC_SHM_KEYS; j++)
                if (strcmp(shm->keylimits[j].team_label, e->team_label) == 0 && shm->keylimits[j].label[0])
                    sum += key_value(&shm->keylimits[j], &key_metrics[m]);
            evbuffer_add_printf(b, "%s{team=\"%s\"} %.9g\n", name,
                                label_value(e->team_label, team, sizeof(team)),
                                (double)sum * key_metrics[m].scale);
        }
    }
}

void orc_api_metrics(orc_req_t *rq)
{
    const orc_shm_t *shm = orc_api_env(rq)->shm;
    orc_counters_t *c = malloc(sizeof(*c));
    struct evbuffer *b = evbuffer_new();
    if (c == NULL || b == NULL) {
        free(c);
        if (b)
            evbuffer_free(b);
        orc_http_error(rq, 503, "OUT_OF_MEMORY", "cannot build the metrics page now");
        return;
    }
    orc_shm_sum(shm, c);
    help(b, "orchesity_build_info", "gauge", "Version of the running gateway.");
    evbuffer_add_printf(b, "orchesity_build_info{version=\"%s\"} 1\n", ORC_VERSION);
    help(b, "orchesity_uptime_seconds", "gauge", "Seconds since the master started.");
    evbuffer_add_printf(b, "orchesity_uptime_seconds %.3f\n",
                        (double)(orc_wall_ms() - atomic_load(&shm->started_wall_ms)) / 1000.0);
    requests(b, c);
    latency(b, c);
    counter(b, "orchesity_http_response_bytes_total", "Response body bytes sent.", c->bytes_out);
    counter(b, "orchesity_http_requests_shed_total", "Requests refused with 503 above worker_connections.",
            c->shed);
    counter(b, "orchesity_http_connections_total", "Client connections accepted.", c->connections);
    counter(b, "orchesity_http_bad_requests_total", "Requests the HTTP parser rejected.", c->bad_requests);
    reqlog(b, shm, c);
    counter(b, "orchesity_worker_restarts_total", "Workers replaced after a crash or a hang.",
            atomic_load(&shm->worker_restarts));
    counter(b, "orchesity_reloads_total", "Successful configuration reloads.", atomic_load(&shm->reloads));
    counter(b, "orchesity_reload_failures_total",
            "Reloads refused (invalid configuration, workers not ready).",
            atomic_load(&shm->reload_failures));
    help(b, "orchesity_generation", "gauge", "Configuration generation now serving.");
    evbuffer_add_printf(b, "orchesity_generation %u\n", atomic_load(&shm->generation));
    workers(b, shm);
    providers(b, shm, c);
    client_keys(b, shm);
    orc_api_cache_metrics(b, c);
    free(c);
    orc_http_reply_buffer(rq, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}
