/*
 * dwa_api.c - the Dynamic Weight Algorithm's routes: GET /api/llm/dwa/stats,
 * POST /api/llm/dwa/reset[?provider=] (admin), GET
 * /api/llm/dwa/best-provider, POST /api/llm/feedback.  Field names are the
 * original API's; values come from the fleet-wide snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/api/api.h"
#include "worker/llm/dwa_select.h"
#include "worker/llm/llm.h"

static json_object *breaker_json(const orc_dwa_view_t *v, uint64_t now)
{
    json_object *b = json_object_new_object();
    orc_json_add_str(b, "state", orc_breaker_state_name(v->breaker));
    orc_json_add_int(b, "openings", v->openings);
    orc_json_add_double(b, "open_for",
                        v->breaker == ORC_BREAKER_OPEN && v->open_until_ms > now
                            ? (double)(v->open_until_ms - now) / 1000.0
                            : 0.0);
    return b;
}

static json_object *provider_json(const orc_provider_rt_t *p, const orc_dwa_view_t *v, uint64_t now)
{
    const orc_dwa_snapshot_t *s = &v->snap;
    json_object *o = json_object_new_object(), *win = json_object_new_object();
    orc_json_add_double(o, "accuracy", orc_dwa_accuracy(&v->input));
    orc_json_add_double(o, "speed", s->latency_ms > 0 ? s->latency_ms / 1000.0 : 1.0);
    orc_json_add_double(o, "time_to_first_token", s->ttft_ms / 1000.0);
    json_object_object_add(o, "cost", json_object_new_double(v->input.cost_per_call));
    orc_json_add_double(o, "availability", v->input.success_rate);
    orc_json_add_int(o, "consecutive_failures", v->consecutive_failures);
    json_object_object_add(o, "last_success_time",
                           s->last_success_ms ? json_object_new_int64((int64_t)(s->last_success_ms / 1000))
                                              : NULL);
    orc_json_add_str(o, "last_error", s->last_error_ms ? s->last_error : NULL);
    orc_json_add_double(o, "weight", v->share);
    orc_json_add_double(o, "score", v->score);
    orc_json_add_bool(o, "available", v->input.available);
    orc_json_add_bool(o, "configured", p->cfg->configured);
    json_object_object_add(o, "breaker", breaker_json(v, now));
    orc_json_add_int(win, "calls", s->window_calls);
    orc_json_add_int(win, "successes", s->window_successes);
    orc_json_add_int(win, "failures", s->window_failures);
    json_object_object_add(o, "window", win);
    orc_json_add_double(o, "p95", s->p95_ms / 1000.0);
    orc_json_add_int(o, "in_flight", s->inflight);
    json_object_object_add(o, "feedback", s->feedback >= 0 ? json_object_new_double(s->feedback) : NULL);
    return o;
}

void orc_api_dwa_stats(orc_req_t *rq)
{
    orc_llm_t *llm = orc_api_env(rq)->llm;
    orc_dwa_t *d = llm->dwa;
    uint64_t now = orc_now_ms();
    int active = 0;
    orc_dwa_refresh(d);
    json_object *o = json_object_new_object(), *stats = json_object_new_object();
    for (int i = 0; i < llm->n; i++) {
        json_object_object_add(stats, llm->providers[i].cfg->name,
                               provider_json(&llm->providers[i], &d->view[i], now));
        active += d->view[i].input.available;
    }
    json_object_object_add(o, "provider_stats", stats);
    orc_json_add_str(o, "selection_policy", orc_dwa_policy_name(d->policy));
    orc_json_add_str(o, "routing_strategy", orc_dwa_strategy_name(d->strategy));
    orc_json_add_int(o, "active_providers", active);
    orc_json_add_int(o, "total_providers", llm->n);
    orc_json_add_int(o, "window_seconds", (int64_t)(d->params.window_ms / 1000));
    orc_http_reply_json(rq, 200, o);
}

static void reset_one(orc_llm_t *llm, int i, uint64_t now)
{
    orc_shm_t *shm = llm->shm;
    int idx = llm->providers[i].shm_index;
    orc_breaker_reset(&shm->breakers[idx]);
    orc_dwa_reset(shm, idx, now);
}

void orc_api_dwa_reset(orc_req_t *rq)
{
    orc_llm_t *llm = orc_api_env(rq)->llm;
    char name[64];
    const char *which = orc_http_query_get(rq, "provider", name, sizeof(name));
    uint64_t now = orc_now_ms();
    json_object *o = json_object_new_object();
    if (which != NULL) {
        orc_provider_rt_t *p = orc_llm_provider(llm, which);
        if (p == NULL) {
            json_object_put(o);
            orc_http_error(rq, 404, "PROVIDER_NOT_FOUND", "unknown provider '%.64s'", which);
            return;
        }
        reset_one(llm, p->index, now);
    } else {
        for (int i = 0; i < llm->n; i++)
            reset_one(llm, i, now);
    }
    orc_dwa_refresh(llm->dwa);
    orc_json_add_str(o, "message", which ? "statistics and circuit breaker reset" : "all providers reset");
    orc_json_add_str(o, "provider", which ? which : "all");
    orc_http_reply_json(rq, 200, o);
}

void orc_api_dwa_best(orc_req_t *rq)
{
    orc_llm_t *llm = orc_api_env(rq)->llm;
    orc_dwa_t *d = llm->dwa;
    int best = -1;
    orc_dwa_refresh(d);
    for (int i = 0; i < llm->n; i++)
        if (d->view[i].input.available && (best < 0 || d->view[i].score > d->view[best].score))
            best = i;
    if (best < 0) {
        orc_http_error(rq, 503, "NO_PROVIDER_AVAILABLE", "no provider is configured and available");
        return;
    }
    const orc_dwa_view_t *v = &d->view[best];
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "best_provider", llm->providers[best].cfg->name);
    orc_json_add_double(o, "accuracy", orc_dwa_accuracy(&v->input));
    orc_json_add_double(o, "speed", v->snap.latency_ms > 0 ? v->snap.latency_ms / 1000.0 : 1.0);
    orc_json_add_double(o, "availability", v->input.success_rate);
    orc_json_add_int(o, "consecutive_failures", v->consecutive_failures);
    orc_json_add_double(o, "score", v->score);
    orc_json_add_str(o, "selection_policy", orc_dwa_policy_name(d->policy));
    orc_http_reply_json(rq, 200, o);
}

void orc_api_feedback(orc_req_t *rq)
{
    json_object *body = NULL, *id, *score;
    if (orc_http_read_json(rq, &body) != ORC_OK)
        return;
    bool ok = body && json_object_object_get_ex(body, "request_id", &id) &&
              json_object_is_type(id, json_type_string) && json_object_object_get_ex(body, "score", &score) &&
              (json_object_is_type(score, json_type_double) || json_object_is_type(score, json_type_int));
    double s = ok ? json_object_get_double(score) : -1;
    if (!ok || s < 0 || s > 1) {
        json_object_put(body);
        orc_http_error(rq, 400, "VALIDATION_ERROR",
                       "the body must be {\"request_id\": string, \"score\": 0..1}");
        return;
    }
    int idx = orc_dwa_ring_find(orc_api_env(rq)->shm, json_object_get_string(id));
    if (idx < 0) {
        orc_http_error(rq, 404, "REQUEST_NOT_FOUND", "no recent answered request has the id '%.64s'",
                       json_object_get_string(id));
        json_object_put(body);
        return;
    }
    orc_provider_counters_t *c = &orc_api_env(rq)->slot->counters.providers[idx];
    orc_counter_add(&c->feedback_milli, (uint64_t)(s * 1000.0 + 0.5));
    orc_counter_add(&c->feedback_count, 1);
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "message", "feedback recorded");
    orc_json_add_str(o, "request_id", json_object_get_string(id));
    orc_json_add_str(o, "provider", orc_api_env(rq)->shm->provider_names[idx]);
    json_object_put(body);
    orc_http_reply_json(rq, 200, o);
}
