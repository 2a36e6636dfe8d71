/*
 * admin.c - GET /api/admin/config: the configuration this worker runs
 * with, for operators.  Admin route.  Secrets (master key, URLs that may
 * carry passwords) are reported only as set or not set.
 */
#include "common/channel.h"
#include "common/json.h"
#include "common/orc.h"
#include "worker/api/api.h"

static const char *set_or_not(const char *secret)
{
    return secret && secret[0] ? "(set)" : "(not set)";
}

static json_object *server_section(const orc_config_t *c)
{
    json_object *s = json_object_new_object(), *listen = json_object_new_array();
    for (int i = 0; i < c->nlisten; i++)
        json_object_array_add(listen, json_object_new_string(c->listen[i].text));
    json_object_object_add(s, "listen", listen);
    orc_json_add_int(s, "workers", c->workers);
    orc_json_add_bool(s, "workers_auto", c->workers_auto);
    orc_json_add_int(s, "backlog", c->backlog);
    orc_json_add_int(s, "worker_connections", c->worker_connections);
    orc_json_add_int(s, "keepalive_timeout", c->keepalive_timeout);
    orc_json_add_int(s, "read_timeout", c->read_timeout);
    orc_json_add_int(s, "max_header_size", c->max_header_size);
    orc_json_add_int(s, "max_body_size", c->max_body_size);
    orc_json_add_int(s, "shutdown_timeout", c->shutdown_timeout);
    orc_json_add_int(s, "drain_grace", c->drain_grace);
    orc_json_add_int(s, "worker_heartbeat_timeout", c->heartbeat_timeout);
    orc_json_add_int(s, "shm_slots", c->shm_slots);
    orc_json_add_str(s, "user", c->user);
    return s;
}

void orc_api_admin_config(orc_req_t *rq)
{
    const orc_config_t *c = orc_api_env(rq)->cfg;
    json_object *o = json_object_new_object(), *log = json_object_new_object();
    json_object *svc = json_object_new_object();
    orc_json_add_str(o, "file", c->path ? c->path : "(embedded defaults)");
    orc_json_add_int(o, "generation", orc_api_env(rq)->generation);
    json_object_object_add(o, "server", server_section(c));
    orc_json_add_str(log, "level", orc_log_level_name(c->log_level));
    orc_json_add_str(log, "error_log", c->error_log);
    orc_json_add_str(log, "access_log", c->access_log);
    json_object_object_add(o, "log", log);
    orc_json_add_str(svc, "master_key", set_or_not(c->master_key));
    orc_json_add_str(svc, "database_url", set_or_not(c->database_url));
    orc_json_add_str(svc, "redis_url", set_or_not(c->redis_url));
    orc_json_add_str(svc, "routing_strategy", c->routing_strategy);
    orc_json_add_str(svc, "selection_policy", c->selection_policy);
    orc_json_add_int(svc, "health_check_interval", c->health_check_interval);
    json_object_object_add(o, "services", svc);
    orc_http_reply_json(rq, 200, o);
}

void orc_api_admin_reload(orc_req_t *rq)
{
    json_object *body = NULL;
    if (orc_http_read_json(rq, &body) != ORC_OK)
        return;
    bool body_ok = body == NULL || json_object_is_type(body, json_type_object);
    json_object_put(body);
    if (!body_ok) {
        orc_http_error(rq, 400, "BAD_REQUEST", "the body, when present, must be a JSON object");
        return;
    }
    if (orc_channel_send(orc_api_env(rq)->channel_fd, ORC_MSG_RELOAD) != ORC_OK) {
        orc_http_error(rq, 503, "MASTER_UNAVAILABLE", "cannot reach the master process");
        return;
    }
    json_object *o = json_object_new_object();
    orc_json_add_str(o, "message", "reload requested: watch /api/health/detailed for the new generation");
    orc_json_add_int(o, "generation", atomic_load(&orc_api_env(rq)->shm->generation));
    orc_http_reply_json(rq, 202, o);
}
