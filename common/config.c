/*
 * config.c - parse, override and validate one configuration generation.
 *
 * Settings are described once, in the schema table below: path in the
 * file, type, field, range and environment variable.  The loader fills
 * embedded defaults, reads the file (rejecting unknown keys, wrong types
 * and out-of-range values with file:line), then applies the environment,
 * which wins.  Nothing here logs secrets: errors name settings, never
 * their values.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/config_read.h"
#include "common/orc.h"
#include "common/util.h"

typedef enum {
    CFG_INT,
    CFG_BOOL,
    CFG_DOUBLE, /* range in thousandths: min 0, max 1000 means 0.0..1.0 */
    CFG_STRING,
    CFG_SECRET, /* a string whose value is never shown; FOO_FILE reads it from a file */
    CFG_LEVEL,
    CFG_ENUM,
    CFG_LISTEN,
    CFG_WORKERS,
} cfg_type_t;

typedef struct {
    const char *path; /* "server.backlog" */
    cfg_type_t type;
    size_t offset;
    long min, max;       /* CFG_INT range */
    const char *env;     /* overriding environment variable or NULL */
    const char *choices; /* CFG_ENUM: "a|b|c" */
} cfg_item_t;

#define F(field) offsetof(orc_config_t, field)
#define STRATEGIES "load_balanced|round_robin|random|priority"
#define POLICIES "max_accuracy|min_cost|min_latency|weighted_composite|round_robin"

static const cfg_item_t schema[] = {
    {"server.listen", CFG_LISTEN, 0, 0, 0, NULL, NULL},
    {"server.backlog", CFG_INT, F(backlog), 1, 65535, NULL, NULL},
    {"server.workers", CFG_WORKERS, F(workers), 1, ORC_WORKERS_MAX, "ORCHESITY_WORKERS", NULL},
    {"server.worker_connections", CFG_INT, F(worker_connections), 1, 1000000, "WORKER_CONNECTIONS", NULL},
    {"server.keepalive_timeout", CFG_INT, F(keepalive_timeout), 1, 3600, "KEEPALIVE_TIMEOUT", NULL},
    {"server.read_timeout", CFG_INT, F(read_timeout), 1, 3600, NULL, NULL},
    {"server.max_header_size", CFG_INT, F(max_header_size), 1024, 1048576, NULL, NULL},
    {"server.max_body_size", CFG_INT, F(max_body_size), 1024, 1073741824, NULL, NULL},
    {"server.shutdown_timeout", CFG_INT, F(shutdown_timeout), 1, 86400, NULL, NULL},
    {"server.drain_grace", CFG_INT, F(drain_grace), 0, 60000, NULL, NULL},
    {"server.worker_heartbeat_timeout", CFG_INT, F(heartbeat_timeout), 2, 3600, NULL, NULL},
    {"server.shm_slots", CFG_INT, F(shm_slots), 0, 1024, NULL, NULL},
    {"server.user", CFG_STRING, F(user), 0, 0, NULL, NULL},
    {"log.level", CFG_LEVEL, F(log_level), 0, 0, "LOG_LEVEL", NULL},
    {"log.error_log", CFG_STRING, F(error_log), 0, 0, "ORCHESITY_ERROR_LOG", NULL},
    {"log.access_log", CFG_STRING, F(access_log), 0, 0, "ORCHESITY_ACCESS_LOG", NULL},
    {"log.debug", CFG_BOOL, F(debug), 0, 0, "DEBUG", NULL},
    {"security.master_key", CFG_SECRET, F(master_key), 0, 0, "SECRET_KEY", NULL},
    {"security.observability", CFG_ENUM, F(observability), 0, 0, "OBSERVABILITY_ACCESS", "open|keyed"},
    {"security.key_cache_ttl", CFG_INT, F(key_cache_ttl), 1, 86400, "KEY_CACHE_TTL", NULL},
    {"security.key_cache_size", CFG_INT, F(key_cache_size), 16, 10000000, NULL, NULL},
    {"security.auth_failures_per_minute", CFG_INT, F(auth_failures_per_minute), 1, 1000000, NULL, NULL},
    {"database.url", CFG_SECRET, F(database_url), 0, 0, "DATABASE_URL", NULL},
    {"database.echo", CFG_BOOL, F(database_echo), 0, 0, "DATABASE_ECHO", NULL},
    {"database.pool_size", CFG_INT, F(db_pool_size), 1, 1000, "DB_POOL_SIZE", NULL},
    {"database.pool_timeout", CFG_INT, F(db_pool_timeout), 1, 3600, "DB_POOL_TIMEOUT", NULL},
    {"database.pool_recycle", CFG_INT, F(db_pool_recycle), 1, 86400, "DB_POOL_RECYCLE", NULL},
    {"database.max_overflow", CFG_INT, F(db_max_overflow), 0, 1000, "DB_MAX_OVERFLOW", NULL},
    {"request_log.enabled", CFG_BOOL, F(reqlog_enabled), 0, 0, "REQUEST_LOG_ENABLED", NULL},
    {"request_log.spool_dir", CFG_STRING, F(reqlog_spool_dir), 0, 0, "REQUEST_LOG_SPOOL_DIR", NULL},
    {"request_log.spool_max_mb", CFG_INT, F(reqlog_spool_max_mb), 1, 1048576, "REQUEST_LOG_SPOOL_MAX_MB",
     NULL},
    {"request_log.fsync", CFG_BOOL, F(reqlog_fsync), 0, 0, "REQUEST_LOG_FSYNC", NULL},
    {"request_log.prompts", CFG_ENUM, F(reqlog_prompts), 0, 0, "REQUEST_LOG_PROMPTS", "full|truncated|off"},
    {"request_log.answers", CFG_ENUM, F(reqlog_answers), 0, 0, "REQUEST_LOG_ANSWERS", "full|truncated|off"},
    {"request_log.truncate_bytes", CFG_INT, F(reqlog_truncate_bytes), 16, 1073741824,
     "REQUEST_LOG_TRUNCATE_BYTES", NULL},
    {"cache.redis_url", CFG_SECRET, F(redis_url), 0, 0, "REDIS_URL", NULL},
    {"cache.redis_db", CFG_INT, F(redis_db), 0, 15, "REDIS_DB", NULL},
    {"cache.pool_size", CFG_INT, F(redis_pool_size), 1, 1000, "REDIS_POOL_SIZE", NULL},
    {"cache.max_connections", CFG_INT, F(redis_max_connections), 1, 10000, "REDIS_MAX_CONNECTIONS", NULL},
    {"cache.expire_seconds", CFG_INT, F(cache_expire_seconds), 1, 31536000, "CACHE_EXPIRE_SECONDS", NULL},
    {"cache.enabled", CFG_BOOL, F(enable_caching), 0, 0, "ENABLE_CACHING", NULL},
    {"cache.namespace", CFG_STRING, F(cache_namespace), 0, 0, "CACHE_NAMESPACE", NULL},
    {"cache.timeout_ms", CFG_INT, F(cache_timeout_ms), 1, 10000, "CACHE_TIMEOUT_MS", NULL},
    {"cache.max_ttl", CFG_INT, F(cache_max_ttl), 1, 31536000, NULL, NULL},
    {"cache.async_result_ttl", CFG_INT, F(cache_async_ttl), 10, 31536000, "ASYNC_RESULT_TTL", NULL},
    {"cache.max_entry_size", CFG_INT, F(cache_max_entry_bytes), 1024, 67108864, NULL, NULL},
    {"sessions.cache_ttl", CFG_INT, F(session_cache_ttl), 1, 86400, "SESSION_CACHE_TTL", NULL},
    {"sessions.active_window", CFG_INT, F(session_active_window), 1, 31536000, "SESSION_ACTIVE_WINDOW", NULL},
    {"dwa.routing_strategy", CFG_ENUM, F(routing_strategy), 0, 0, "DWA_ROUTING_STRATEGY", STRATEGIES},
    {"dwa.selection_policy", CFG_ENUM, F(selection_policy), 0, 0, "DWA_SELECTION_POLICY", POLICIES},
    {"dwa.window_seconds", CFG_INT, F(dwa_window_s), 5, 3600, NULL, NULL},
    {"dwa.half_life_seconds", CFG_INT, F(dwa_half_life_s), 1, 3600, NULL, NULL},
    {"dwa.exploration", CFG_DOUBLE, F(dwa_exploration), 0, 500, NULL, NULL},
    {"dwa.weight_accuracy", CFG_DOUBLE, F(dwa_w_accuracy), 0, 100000, NULL, NULL},
    {"dwa.weight_latency", CFG_DOUBLE, F(dwa_w_latency), 0, 100000, NULL, NULL},
    {"dwa.weight_cost", CFG_DOUBLE, F(dwa_w_cost), 0, 100000, NULL, NULL},
    {"dwa.weight_availability", CFG_DOUBLE, F(dwa_w_availability), 0, 100000, NULL, NULL},
    {"dwa.weight_load", CFG_DOUBLE, F(dwa_w_load), 0, 100000, NULL, NULL},
    {"dwa.failure_threshold", CFG_INT, F(dwa_failure_threshold), 1, 1000, NULL, NULL},
    {"dwa.failure_rate", CFG_DOUBLE, F(dwa_failure_rate), 1, 1000, NULL, NULL},
    {"dwa.min_calls", CFG_INT, F(dwa_min_calls), 1, 100000, NULL, NULL},
    {"dwa.cooldown_ms", CFG_INT, F(dwa_cooldown_ms), 10, 3600000, NULL, NULL},
    {"dwa.cooldown_max_ms", CFG_INT, F(dwa_cooldown_max_ms), 10, 86400000, NULL, NULL},
    {"dwa.probe_timeout_ms", CFG_INT, F(dwa_probe_timeout_ms), 100, 3600000, NULL, NULL},
    {"llm.max_concurrent_requests", CFG_INT, F(max_concurrent_requests), 1, 100000, "MAX_CONCURRENT_REQUESTS",
     NULL},
    {"llm.request_timeout", CFG_INT, F(request_timeout), 1, 3600, "REQUEST_TIMEOUT", NULL},
    {"llm.max_retries", CFG_INT, F(llm_max_retries), 0, 10, "LLM_MAX_RETRIES", NULL},
    {"llm.retry_base_ms", CFG_INT, F(llm_retry_base_ms), 1, 60000, NULL, NULL},
    {"llm.stream_keepalive", CFG_INT, F(llm_stream_keepalive), 1, 300, NULL, NULL},
    {"llm.retry_fallback_budget_ms", CFG_INT, F(llm_retry_fallback_budget_ms), 0, 600000, NULL, NULL},
    {"llm.retry_max_ms", CFG_INT, F(llm_retry_max_ms), 1, 600000, NULL, NULL},
    {"monitoring.health_check_interval", CFG_INT, F(health_check_interval), 1, 3600, "HEALTH_CHECK_INTERVAL",
     NULL},
    {"monitoring.metrics_collection_interval", CFG_INT, F(metrics_collection_interval), 1, 3600,
     "METRICS_COLLECTION_INTERVAL", NULL},
};

static void set_defaults(orc_config_t *cfg);
static int read_file(orc_config_t *cfg, const char *path, char *err, size_t errlen);
static int apply_env(orc_config_t *cfg, char *err, size_t errlen);
static int finish(orc_config_t *cfg, char *err, size_t errlen);

static char **field_str(orc_config_t *cfg, const cfg_item_t *it)
{
    return (char **)((char *)cfg + it->offset);
}

static int *field_int(orc_config_t *cfg, const cfg_item_t *it)
{
    return (int *)((char *)cfg + it->offset);
}

static double *field_double(orc_config_t *cfg, const cfg_item_t *it)
{
    return (double *)((char *)cfg + it->offset);
}

static int set_double(orc_config_t *cfg, const cfg_item_t *it, double v)
{
    if (!(v >= (double)it->min / 1000.0 && v <= (double)it->max / 1000.0))
        return ORC_ERR;
    *field_double(cfg, it) = v;
    return ORC_OK;
}

static bool *field_bool(orc_config_t *cfg, const cfg_item_t *it)
{
    return (bool *)((char *)cfg + it->offset);
}

int orc_config_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)ORC_MIN(n, ORC_WORKERS_MAX);
}

static void set_defaults(orc_config_t *cfg)
{
    orc_config_parse_listen("0.0.0.0:8000", &cfg->listen[0]);
    cfg->nlisten = 1;
    cfg->backlog = 4096;
    cfg->workers_auto = true;
    cfg->workers = orc_config_cpu_count();
    cfg->worker_connections = 1000;
    cfg->keepalive_timeout = 65;
    cfg->read_timeout = 60;
    cfg->max_header_size = 16384;
    cfg->max_body_size = 1048576;
    cfg->shutdown_timeout = 30;
    cfg->drain_grace = 1000;
    cfg->heartbeat_timeout = 10;
    cfg->log_level = ORC_LOG_INFO;
    cfg->db_pool_size = 20;
    cfg->db_pool_timeout = 30;
    cfg->db_pool_recycle = 3600;
    cfg->redis_pool_size = 256;
    cfg->redis_max_connections = 20;
    cfg->cache_expire_seconds = 3600;
    cfg->enable_caching = true;
    cfg->cache_timeout_ms = 20;
    cfg->cache_max_ttl = 86400;
    cfg->cache_async_ttl = 3600;
    cfg->cache_max_entry_bytes = 1048576;
    cfg->session_cache_ttl = 300;
    cfg->session_active_window = 3600;
    cfg->max_concurrent_requests = 100;
    cfg->request_timeout = 120;
    cfg->llm_max_retries = 2;
    cfg->llm_retry_base_ms = 500;
    cfg->llm_retry_max_ms = 8000;
    cfg->llm_stream_keepalive = 10;
    cfg->llm_retry_fallback_budget_ms = 100;
    cfg->dwa_window_s = 60;
    cfg->dwa_half_life_s = 30;
    cfg->dwa_exploration = 0.05;
    cfg->dwa_w_accuracy = 0.3;
    cfg->dwa_w_latency = 0.2;
    cfg->dwa_w_cost = 0.3;
    cfg->dwa_w_availability = 0.15;
    cfg->dwa_w_load = 0.05;
    cfg->dwa_failure_threshold = 5;
    cfg->dwa_failure_rate = 0.5;
    cfg->dwa_min_calls = 20;
    cfg->dwa_cooldown_ms = 2000;
    cfg->dwa_cooldown_max_ms = 8000;
    cfg->dwa_probe_timeout_ms = 30000;
    orc_providers_config_defaults(&cfg->providers);
    cfg->health_check_interval = 30;
    cfg->metrics_collection_interval = 60;
    orc_config_read_set(&cfg->user, "");
    orc_config_read_set(&cfg->error_log, "stderr");
    orc_config_read_set(&cfg->access_log, "stdout");
    orc_config_read_set(&cfg->master_key, "");
    orc_config_read_set(&cfg->observability, "open");
    cfg->key_cache_ttl = 60;
    cfg->key_cache_size = 10000;
    cfg->auth_failures_per_minute = 30;
    orc_config_read_set(&cfg->database_url, "");
    orc_config_read_set(&cfg->redis_url, "");
    cfg->reqlog_enabled = true;
    cfg->reqlog_spool_max_mb = 1024;
    cfg->reqlog_truncate_bytes = 4096;
    orc_config_read_set(&cfg->reqlog_spool_dir, "/var/lib/orchesity/spool");
    orc_config_read_set(&cfg->reqlog_prompts, "full");
    orc_config_read_set(&cfg->reqlog_answers, "full");
    orc_config_read_set(&cfg->cache_namespace, "orchesity");
    orc_config_read_set(&cfg->routing_strategy, "load_balanced");
    orc_config_read_set(&cfg->selection_policy, "weighted_composite");
}

/* "0.0.0.0:8000", "*:8000", "[::1]:8000", "127.0.0.1:80", "8000" */
int orc_config_parse_listen(const char *text, orc_listen_t *out)
{
    char host[64] = "0.0.0.0";
    const char *port_text = text;
    const char *colon = strrchr(text, ':');
    bool bracketed = false;
    memset(out, 0, sizeof(*out));
    if (strlen(text) >= sizeof(out->text))
        return ORC_ERR;
    if (colon != NULL) {
        size_t hlen = (size_t)(colon - text);
        const char *h = text;
        if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
            h++;
            hlen -= 2;
            bracketed = true;
        }
        if (hlen == 0 || hlen >= sizeof(host))
            return ORC_ERR;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        if (strcmp(host, "*") == 0)
            strcpy(host, "0.0.0.0");
        port_text = colon + 1;
    }
    long port;
    if (orc_parse_int(port_text, 1, 65535, &port) != ORC_OK)
        return ORC_ERR;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->addr;
    if (bracketed != (strchr(host, ':') != NULL))
        return ORC_ERR; /* IPv6 addresses, and only they, are written in brackets */
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->addrlen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->addrlen = sizeof(*v6);
    } else {
        return ORC_ERR;
    }
    snprintf(out->text, sizeof(out->text), "%s", text);
    return ORC_OK;
}

static const cfg_item_t *schema_find(const char *path)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(schema); i++)
        if (strcmp(schema[i].path, path) == 0)
            return &schema[i];
    return NULL;
}

static bool schema_has_group(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < ORC_ARRAY_LEN(schema); i++)
        if (strncmp(schema[i].path, prefix, n) == 0 && schema[i].path[n] == '.')
            return true;
    return false;
}

/* Every setting in the file must be one the schema knows. */
static int check_unknown(const config_setting_t *group, const char *prefix, char *err, size_t errlen)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char path[128];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
        if (strcmp(path, "providers") == 0 || strcmp(path, "model_aliases") == 0)
            continue; /* checked by provider_config.c */
        if (config_setting_is_group(s) && schema_has_group(path)) {
            if (check_unknown(s, path, err, errlen) != ORC_OK)
                return ORC_ERR;
        } else if (schema_find(path) == NULL) {
            return orc_config_read_error(err, errlen, s, "unknown setting '%s'", path);
        }
    }
    return ORC_OK;
}

static int enum_ok(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0)
            return ORC_OK;
        p = bar ? bar + 1 : NULL;
    }
    return ORC_ERR;
}

static int read_listen(orc_config_t *cfg, const config_setting_t *s, char *err, size_t errlen)
{
    int n = config_setting_is_scalar(s) ? 1 : config_setting_length(s);
    if (config_setting_type(s) != CONFIG_TYPE_STRING && !config_setting_is_aggregate(s))
        return orc_config_read_error(err, errlen, s, "server.listen must be a string or a list of strings");
    if (n < 1 || n > ORC_LISTEN_MAX)
        return orc_config_read_error(err, errlen, s, "server.listen needs 1 to %d addresses", ORC_LISTEN_MAX);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_is_scalar(s) ? s : config_setting_get_elem(s, (unsigned)i);
        const char *text = config_setting_get_string(e);
        if (text == NULL || orc_config_parse_listen(text, &cfg->listen[i]) != ORC_OK)
            return orc_config_read_error(err, errlen, e,
                                         "server.listen: '%s' is not ADDRESS:PORT with a numeric address",
                                         text ? text : "(not a string)");
    }
    cfg->nlisten = n;
    return ORC_OK;
}

static int read_workers(orc_config_t *cfg, const config_setting_t *s, char *err, size_t errlen)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        if (strcmp(config_setting_get_string(s), "auto") != 0)
            return orc_config_read_error(err, errlen, s, "server.workers must be \"auto\" or 1..%d",
                                         ORC_WORKERS_MAX);
        cfg->workers_auto = true;
        cfg->workers = orc_config_cpu_count();
        return ORC_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_INT)
        return orc_config_read_error(err, errlen, s, "server.workers must be \"auto\" or an integer");
    int v = config_setting_get_int(s);
    if (v < 1 || v > ORC_WORKERS_MAX)
        return orc_config_read_error(err, errlen, s, "server.workers must be \"auto\" or 1..%d",
                                     ORC_WORKERS_MAX);
    cfg->workers_auto = false;
    cfg->workers = v;
    return ORC_OK;
}

static int read_item(orc_config_t *cfg, const cfg_item_t *it, const config_setting_t *s, char *err,
                     size_t errlen)
{
    int type = config_setting_type(s);
    switch (it->type) {
    case CFG_LISTEN: return read_listen(cfg, s, err, errlen);
    case CFG_WORKERS: return read_workers(cfg, s, err, errlen);
    case CFG_INT: {
        if (type != CONFIG_TYPE_INT)
            return orc_config_read_error(err, errlen, s, "%s must be an integer", it->path);
        long v = config_setting_get_int(s);
        if (v < it->min || v > it->max)
            return orc_config_read_error(err, errlen, s, "%s must be %ld..%ld", it->path, it->min, it->max);
        *field_int(cfg, it) = (int)v;
        return ORC_OK;
    }
    case CFG_DOUBLE: {
        if (type != CONFIG_TYPE_FLOAT && type != CONFIG_TYPE_INT)
            return orc_config_read_error(err, errlen, s, "%s must be a number", it->path);
        double v =
            type == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)config_setting_get_int(s);
        if (set_double(cfg, it, v) != ORC_OK)
            return orc_config_read_error(err, errlen, s, "%s must be %g..%g", it->path,
                                         (double)it->min / 1000.0, (double)it->max / 1000.0);
        return ORC_OK;
    }
    case CFG_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return orc_config_read_error(err, errlen, s, "%s must be true or false", it->path);
        *field_bool(cfg, it) = config_setting_get_bool(s);
        return ORC_OK;
    default: break;
    }
    if (type != CONFIG_TYPE_STRING)
        return orc_config_read_error(err, errlen, s, "%s must be a string", it->path);
    const char *v = config_setting_get_string(s);
    if (it->type == CFG_LEVEL) {
        orc_log_level_t level;
        if (orc_log_level_parse(v, &level) != ORC_OK)
            return orc_config_read_error(err, errlen, s, "%s: unknown level '%s'", it->path, v);
        *field_int(cfg, it) = (int)level;
        return ORC_OK;
    }
    if (it->type == CFG_ENUM && enum_ok(it->choices, v) != ORC_OK)
        return orc_config_read_error(err, errlen, s, "%s must be one of %s", it->path, it->choices);
    orc_config_read_set(field_str(cfg, it), v);
    return ORC_OK;
}

static int read_file(orc_config_t *cfg, const char *path, char *err, size_t errlen)
{
    config_t lc;
    config_init(&lc);
    int rc = ORC_ERR;
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        else
            snprintf(err, errlen, "%s:%d: %s", config_error_file(&lc) ? config_error_file(&lc) : path,
                     config_error_line(&lc), config_error_text(&lc));
        goto out;
    }
    if (check_unknown(config_root_setting(&lc), "", err, errlen) != ORC_OK)
        goto out;
    for (size_t i = 0; i < ORC_ARRAY_LEN(schema); i++) {
        const config_setting_t *s = config_lookup(&lc, schema[i].path);
        if (s != NULL && read_item(cfg, &schema[i], s, err, errlen) != ORC_OK)
            goto out;
    }
    const config_setting_t *providers = config_lookup(&lc, "providers");
    if (providers != NULL && orc_providers_config_read(&cfg->providers, providers, err, errlen) != ORC_OK)
        goto out;
    const config_setting_t *aliases = config_lookup(&lc, "model_aliases");
    if (aliases != NULL && orc_providers_config_read_aliases(&cfg->providers, aliases, err, errlen) != ORC_OK)
        goto out;
    rc = ORC_OK;
out:
    config_destroy(&lc);
    return rc;
}

/* FOO_FILE=/run/secrets/foo: the value is the file's first line. */
static int env_item(orc_config_t *cfg, const cfg_item_t *it, const char *v, char *err, size_t errlen)
{
    long n;
    bool b;
    orc_log_level_t level;
    switch (it->type) {
    case CFG_INT:
    case CFG_WORKERS:
        if (it->type == CFG_WORKERS && strcmp(v, "auto") == 0) {
            cfg->workers_auto = true;
            cfg->workers = orc_config_cpu_count();
            return ORC_OK;
        }
        if (orc_parse_int(v, it->min, it->max, &n) != ORC_OK)
            break;
        *field_int(cfg, it) = (int)n;
        if (it->type == CFG_WORKERS)
            cfg->workers_auto = false;
        return ORC_OK;
    case CFG_DOUBLE: {
        char *end = NULL;
        double d = strtod(v, &end);
        if (end == v || *end != '\0' || set_double(cfg, it, d) != ORC_OK)
            break;
        return ORC_OK;
    }
    case CFG_BOOL:
        if (orc_parse_bool(v, &b) != ORC_OK)
            break;
        *field_bool(cfg, it) = b;
        return ORC_OK;
    case CFG_LEVEL:
        if (orc_log_level_parse(v, &level) != ORC_OK)
            break;
        cfg->log_level = level;
        return ORC_OK;
    case CFG_ENUM:
        if (enum_ok(it->choices, v) != ORC_OK)
            break;
        /* fall through */
    default: orc_config_read_set(field_str(cfg, it), v); return ORC_OK;
    }
    if (it->type == CFG_INT || it->type == CFG_WORKERS)
        snprintf(err, errlen, "environment %s: must be an integer %ld..%ld%s", it->env, it->min, it->max,
                 it->type == CFG_WORKERS ? " or auto" : "");
    else if (it->type == CFG_ENUM)
        snprintf(err, errlen, "environment %s: must be one of %s", it->env, it->choices);
    else
        snprintf(err, errlen, "environment %s: invalid value", it->env);
    return ORC_ERR;
}

static int apply_host_port(orc_config_t *cfg, char *err, size_t errlen)
{
    const char *host = getenv("HOST");
    const char *port = getenv("PORT");
    if ((host == NULL || !*host) && (port == NULL || !*port))
        return ORC_OK;
    char first[80], text[96];
    snprintf(first, sizeof(first), "%s", cfg->listen[0].text);
    char *colon = strrchr(first, ':');
    const char *old_port = colon ? colon + 1 : first;
    if (colon)
        *colon = '\0';
    const char *old_host = colon ? first : "0.0.0.0";
    const char *h = (host && *host) ? host : old_host;
    bool v6 = strchr(h, ':') != NULL && h[0] != '[';
    snprintf(text, sizeof(text), v6 ? "[%s]:%s" : "%s:%s", h, (port && *port) ? port : old_port);
    if (orc_config_parse_listen(text, &cfg->listen[0]) != ORC_OK) {
        snprintf(err, errlen, "environment HOST/PORT: '%s' is not a numeric address and a port 1..65535",
                 text);
        return ORC_ERR;
    }
    cfg->nlisten = 1;
    return ORC_OK;
}

static int apply_env(orc_config_t *cfg, char *err, size_t errlen)
{
    const char *level_env = getenv("LOG_LEVEL");
    bool level_from_env = level_env != NULL && level_env[0] != '\0';
    for (size_t i = 0; i < ORC_ARRAY_LEN(schema); i++) {
        const cfg_item_t *it = &schema[i];
        if (it->env == NULL)
            continue;
        char file_var[96];
        snprintf(file_var, sizeof(file_var), "%s_FILE", it->env);
        const char *file = it->type == CFG_SECRET ? getenv(file_var) : NULL;
        const char *v = getenv(it->env);
        if (file && *file &&
            orc_config_read_secret_file(it->env, file, field_str(cfg, it), err, errlen) != ORC_OK)
            return ORC_ERR;
        if (v && *v && !(file && *file) && env_item(cfg, it, v, err, errlen) != ORC_OK)
            return ORC_ERR;
    }
    const char *legacy = getenv("ROUTING_STRATEGY");
    const char *current = getenv("DWA_ROUTING_STRATEGY");
    if (legacy && *legacy && (current == NULL || *current == '\0')) {
        cfg_item_t alias = *schema_find("dwa.routing_strategy");
        alias.env = "ROUTING_STRATEGY";
        if (env_item(cfg, &alias, legacy, err, errlen) != ORC_OK)
            return ORC_ERR;
    }
    if (cfg->debug && !level_from_env)
        cfg->log_level = ORC_LOG_DEBUG;
    if (orc_providers_config_env(&cfg->providers, err, errlen) != ORC_OK)
        return ORC_ERR;
    return apply_host_port(cfg, err, errlen);
}

/* The namespace is the literal prefix every key and every SCAN pattern
 * starts with: no glob character may hide in it. */
static int check_namespace(const char *ns, char *err, size_t errlen)
{
    size_t n = strlen(ns);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)ns[i]) || ns[i] == '_' || ns[i] == '-' || ns[i] == '.';
    if (!ok)
        snprintf(err, errlen, "cache.namespace must be 1 to 64 letters, digits, '_', '-' or '.'");
    return ok ? ORC_OK : ORC_ERR;
}

static int finish(orc_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->shm_slots != 0 && cfg->shm_slots < 2 * cfg->workers) {
        snprintf(err, errlen, "server.shm_slots (%d) must be 0 (auto) or at least twice server.workers (%d)",
                 cfg->shm_slots, cfg->workers);
        return ORC_ERR;
    }
    cfg->shm_slots_setting = cfg->shm_slots;
    if (cfg->shm_slots == 0)
        cfg->shm_slots = ORC_MAX(16, 4 * cfg->workers);
    if (cfg->dwa_cooldown_max_ms < cfg->dwa_cooldown_ms) {
        snprintf(err, errlen, "dwa.cooldown_max_ms (%d) must not be below dwa.cooldown_ms (%d)",
                 cfg->dwa_cooldown_max_ms, cfg->dwa_cooldown_ms);
        return ORC_ERR;
    }
    if (cfg->dwa_w_accuracy + cfg->dwa_w_latency + cfg->dwa_w_cost + cfg->dwa_w_availability +
            cfg->dwa_w_load <=
        0) {
        snprintf(err, errlen, "the dwa.weight_* settings must not all be 0");
        return ORC_ERR;
    }
    if (check_namespace(cfg->cache_namespace, err, errlen) != ORC_OK)
        return ORC_ERR;
    if (cfg->llm_retry_max_ms < cfg->llm_retry_base_ms) {
        snprintf(err, errlen, "llm.retry_max_ms (%d) must not be below llm.retry_base_ms (%d)",
                 cfg->llm_retry_max_ms, cfg->llm_retry_base_ms);
        return ORC_ERR;
    }
    return ORC_OK;
}

orc_config_t *orc_config_load(const char *path, char *err, size_t errlen)
{
    orc_config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    set_defaults(cfg);
    if (path != NULL) {
        cfg->path = strdup(path);
        if (read_file(cfg, path, err, errlen) != ORC_OK)
            goto fail;
    }
    if (apply_env(cfg, err, errlen) != ORC_OK || finish(cfg, err, errlen) != ORC_OK)
        goto fail;
    return cfg;
fail:
    orc_config_free(cfg);
    return NULL;
}

void orc_config_free(orc_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < ORC_ARRAY_LEN(schema); i++)
        if (schema[i].type == CFG_STRING || schema[i].type == CFG_SECRET || schema[i].type == CFG_ENUM)
            free(*field_str(cfg, &schema[i]));
    orc_providers_config_free(&cfg->providers);
    free(cfg->path);
    free(cfg);
}

void orc_config_keep_fixed(orc_config_t *next, const orc_config_t *current)
{
    if (next->shm_slots_setting != current->shm_slots_setting)
        orc_log_warn("server.shm_slots cannot change while running: keeping %d", current->shm_slots);
    next->shm_slots = current->shm_slots;
    next->shm_slots_setting = current->shm_slots_setting;
    if (strcmp(next->user, current->user) != 0) {
        orc_log_warn("server.user cannot change while running: keeping \"%s\"", current->user);
        orc_config_read_set(&next->user, current->user);
    }
}
