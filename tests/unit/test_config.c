/*
 * test_config.c - orc_config_load: embedded defaults, the file, the
 * environment (which wins), validation errors with file:line, the fixed
 * settings of a reload and orc_config_parse_listen.
 *
 * Criterion runs every test in its own process, so setenv() in one test
 * never leaks into another; the suite's init still clears every variable
 * the loader reads so the result does not depend on the caller's shell.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/orc.h"

#define DATA(name) ORC_TEST_DATA "/" name

static const char *const env_names[] = {
    "HOST",
    "PORT",
    "ORCHESITY_WORKERS",
    "WORKER_CONNECTIONS",
    "KEEPALIVE_TIMEOUT",
    "LOG_LEVEL",
    "ORCHESITY_ERROR_LOG",
    "ORCHESITY_ACCESS_LOG",
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "DATABASE_ECHO",
    "DB_POOL_SIZE",
    "DB_POOL_TIMEOUT",
    "DB_POOL_RECYCLE",
    "DB_MAX_OVERFLOW",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "REDIS_DB",
    "REDIS_POOL_SIZE",
    "REDIS_MAX_CONNECTIONS",
    "CACHE_EXPIRE_SECONDS",
    "ENABLE_CACHING",
    "DWA_ROUTING_STRATEGY",
    "ROUTING_STRATEGY",
    "DWA_SELECTION_POLICY",
    "MAX_CONCURRENT_REQUESTS",
    "REQUEST_TIMEOUT",
    "HEALTH_CHECK_INTERVAL",
    "METRICS_COLLECTION_INTERVAL",
};

static void clear_env(void)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(env_names); i++)
        unsetenv(env_names[i]);
}

TestSuite(config, .init = clear_env, .timeout = 10);

static char err[ORC_CONFIG_ERR_SIZE];

static orc_config_t *load_ok(const char *path)
{
    err[0] = '\0';
    orc_config_t *cfg = orc_config_load(path, err, sizeof(err));
    cr_assert_not_null(cfg, "orc_config_load(%s) failed: %s", path ? path : "NULL", err);
    return cfg;
}

/* Loading must fail, and the error must contain every NULL-terminated fragment. */
static void load_fails(const char *path, const char *fragment, const char *fragment2)
{
    strcpy(err, "(untouched)");
    orc_config_t *cfg = orc_config_load(path, err, sizeof(err));
    cr_assert_null(cfg, "orc_config_load(%s) should fail (expected \"%s\")", path ? path : "NULL", fragment);
    cr_assert_not_null(strstr(err, fragment), "error \"%s\" lacks \"%s\"", err, fragment);
    if (fragment2 != NULL)
        cr_assert_not_null(strstr(err, fragment2), "error \"%s\" lacks \"%s\"", err, fragment2);
}

static int listen_port(const orc_listen_t *l)
{
    if (l->addr.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

static int auto_slots(int workers)
{
    return ORC_MAX(16, 4 * workers);
}

/* ---- embedded defaults ---------------------------------------------- */

Test(config, defaults_without_file)
{
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_null(cfg->path);
    cr_assert_eq(cfg->nlisten, 1);
    cr_assert_str_eq(cfg->listen[0].text, "0.0.0.0:8000");
    cr_assert_eq(cfg->listen[0].addr.ss_family, AF_INET);
    cr_assert_eq(cfg->listen[0].addrlen, sizeof(struct sockaddr_in));
    cr_assert_eq(((struct sockaddr_in *)&cfg->listen[0].addr)->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(listen_port(&cfg->listen[0]), 8000);
    cr_assert_eq(cfg->backlog, 4096);
    cr_assert(cfg->workers_auto);
    cr_assert_eq(cfg->workers, orc_config_cpu_count());
    cr_assert_eq(cfg->worker_connections, 1000);
    cr_assert_eq(cfg->keepalive_timeout, 65);
    cr_assert_eq(cfg->read_timeout, 60);
    cr_assert_eq(cfg->max_header_size, 16384);
    cr_assert_eq(cfg->max_body_size, 1048576);
    cr_assert_eq(cfg->shutdown_timeout, 30);
    cr_assert_eq(cfg->drain_grace, 1000);
    cr_assert_eq(cfg->heartbeat_timeout, 10);
    cr_assert_eq(cfg->shm_slots, auto_slots(cfg->workers));
    cr_assert_str_eq(cfg->user, "");
    cr_assert_eq(cfg->log_level, ORC_LOG_INFO);
    cr_assert_str_eq(cfg->error_log, "stderr");
    cr_assert_str_eq(cfg->access_log, "stdout");
    cr_assert_not(cfg->debug);
    cr_assert_str_eq(cfg->master_key, "");
    cr_assert_str_eq(cfg->database_url, "");
    cr_assert_not(cfg->database_echo);
    cr_assert_eq(cfg->db_pool_size, 20);
    cr_assert_eq(cfg->db_pool_timeout, 30);
    cr_assert_eq(cfg->db_pool_recycle, 3600);
    cr_assert_eq(cfg->db_max_overflow, 0);
    cr_assert_str_eq(cfg->redis_url, "");
    cr_assert_eq(cfg->redis_db, 0);
    cr_assert_eq(cfg->redis_pool_size, 256);
    cr_assert_eq(cfg->redis_max_connections, 20);
    cr_assert_eq(cfg->cache_expire_seconds, 3600);
    cr_assert(cfg->enable_caching);
    cr_assert_str_eq(cfg->routing_strategy, "load_balanced");
    cr_assert_str_eq(cfg->selection_policy, "weighted_composite");
    cr_assert_eq(cfg->max_concurrent_requests, 100);
    cr_assert_eq(cfg->request_timeout, 120);
    cr_assert_eq(cfg->health_check_interval, 30);
    cr_assert_eq(cfg->metrics_collection_interval, 60);
    orc_config_free(cfg);
}

Test(config, cpu_count_in_range)
{
    int n = orc_config_cpu_count();
    cr_assert_geq(n, 1);
    cr_assert_leq(n, ORC_WORKERS_MAX);
}

/* ---- a good file ------------------------------------------------------ */

Test(config, good_file_every_group)
{
    orc_config_t *cfg = load_ok(DATA("good.conf"));
    cr_assert_str_eq(cfg->path, DATA("good.conf"));

    cr_assert_eq(cfg->nlisten, 2);
    cr_assert_str_eq(cfg->listen[0].text, "127.0.0.1:8080");
    cr_assert_eq(cfg->listen[0].addr.ss_family, AF_INET);
    cr_assert_eq(((struct sockaddr_in *)&cfg->listen[0].addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    cr_assert_eq(listen_port(&cfg->listen[0]), 8080);
    cr_assert_str_eq(cfg->listen[1].text, "[::1]:8081");
    cr_assert_eq(cfg->listen[1].addr.ss_family, AF_INET6);
    cr_assert_eq(cfg->listen[1].addrlen, sizeof(struct sockaddr_in6));
    cr_assert(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&cfg->listen[1].addr)->sin6_addr));
    cr_assert_eq(listen_port(&cfg->listen[1]), 8081);

    cr_assert_eq(cfg->backlog, 128);
    cr_assert_eq(cfg->workers, 4);
    cr_assert_not(cfg->workers_auto);
    cr_assert_eq(cfg->worker_connections, 2000);
    cr_assert_eq(cfg->keepalive_timeout, 30);
    cr_assert_eq(cfg->read_timeout, 20);
    cr_assert_eq(cfg->max_header_size, 8192);
    cr_assert_eq(cfg->max_body_size, 2097152);
    cr_assert_eq(cfg->shutdown_timeout, 15);
    cr_assert_eq(cfg->drain_grace, 250);
    cr_assert_eq(cfg->heartbeat_timeout, 5);
    cr_assert_eq(cfg->shm_slots, 32);
    cr_assert_str_eq(cfg->user, "orchesity");

    cr_assert_eq(cfg->log_level, ORC_LOG_WARN);
    cr_assert_str_eq(cfg->error_log, "/var/log/orchesity/error.log");
    cr_assert_str_eq(cfg->access_log, "off");
    cr_assert_not(cfg->debug);

    cr_assert_str_eq(cfg->master_key, "file-master-key");

    cr_assert_str_eq(cfg->database_url, "postgresql://orc@db/orc");
    cr_assert(cfg->database_echo);
    cr_assert_eq(cfg->db_pool_size, 7);
    cr_assert_eq(cfg->db_pool_timeout, 11);
    cr_assert_eq(cfg->db_pool_recycle, 1200);
    cr_assert_eq(cfg->db_max_overflow, 3);

    cr_assert_str_eq(cfg->redis_url, "redis://cache:6379/0");
    cr_assert_eq(cfg->redis_db, 2);
    cr_assert_eq(cfg->redis_pool_size, 4);
    cr_assert_eq(cfg->redis_max_connections, 40);
    cr_assert_eq(cfg->cache_expire_seconds, 600);
    cr_assert_not(cfg->enable_caching);

    cr_assert_str_eq(cfg->routing_strategy, "round_robin");
    cr_assert_str_eq(cfg->selection_policy, "min_cost");

    cr_assert_eq(cfg->max_concurrent_requests, 250);
    cr_assert_eq(cfg->request_timeout, 45);

    cr_assert_eq(cfg->health_check_interval, 12);
    cr_assert_eq(cfg->metrics_collection_interval, 90);
    orc_config_free(cfg);
}

/* ---- bad files: NULL and "file:line: reason" -------------------------- */

Test(config, missing_file)
{
    load_fails(DATA("does-not-exist.conf"), DATA("does-not-exist.conf") ": cannot read", "No such file");
}

Test(config, syntax_error)
{
    load_fails(DATA("syntax.conf"), DATA("syntax.conf") ":3: ", "syntax error");
}

Test(config, unknown_key)
{
    load_fails(DATA("unknown_key.conf"), DATA("unknown_key.conf") ":3: ", "unknown setting 'server.bogus'");
}

Test(config, unknown_group)
{
    load_fails(DATA("unknown_group.conf"), DATA("unknown_group.conf") ":2: ", "unknown setting 'bogus'");
}

Test(config, wrong_type)
{
    load_fails(DATA("wrong_type.conf"), DATA("wrong_type.conf") ":3: ", "server.backlog must be an integer");
}

Test(config, workers_out_of_range)
{
    load_fails(DATA("workers_zero.conf"), DATA("workers_zero.conf") ":3: ", "server.workers must be");
}

Test(config, max_body_size_out_of_range)
{
    load_fails(DATA("max_body_small.conf"),
               DATA("max_body_small.conf") ":3: ", "server.max_body_size must be 1024..1073741824");
}

Test(config, listen_bad_host)
{
    load_fails(DATA("listen_host.conf"), DATA("listen_host.conf") ":3: ", "server.listen: 'nope:80'");
}

Test(config, listen_bad_port)
{
    load_fails(DATA("listen_port.conf"), DATA("listen_port.conf") ":3: ", "server.listen: '1.2.3.4:99999'");
}

Test(config, bad_enum)
{
    load_fails(DATA("bad_enum.conf"), DATA("bad_enum.conf") ":3: ", "dwa.routing_strategy must be one of");
}

Test(config, bad_level)
{
    load_fails(DATA("bad_level.conf"), DATA("bad_level.conf") ":3: ", "log.level: unknown level 'loud'");
}

/* ---- shared-memory slots ---------------------------------------------- */

Test(config, shm_slots_auto_is_at_least_16)
{
    setenv("ORCHESITY_WORKERS", "3", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->workers, 3);
    cr_assert_eq(cfg->shm_slots, 16);
    orc_config_free(cfg);
}

Test(config, shm_slots_auto_is_four_per_worker)
{
    setenv("ORCHESITY_WORKERS", "10", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->workers, 10);
    cr_assert_eq(cfg->shm_slots, 40);
    orc_config_free(cfg);
}

Test(config, shm_slots_twice_workers_accepted)
{
    orc_config_t *cfg = load_ok(DATA("shm_exact.conf"));
    cr_assert_eq(cfg->workers, 4);
    cr_assert_eq(cfg->shm_slots, 8);
    orc_config_free(cfg);
}

Test(config, shm_slots_below_twice_workers_rejected)
{
    load_fails(DATA("shm_small.conf"), "server.shm_slots (7)", "server.workers (4)");
}

Test(config, shm_slots_checked_against_env_workers)
{
    setenv("ORCHESITY_WORKERS", "5", 1); /* shm_exact.conf has 8 slots: 5 workers need 10 */
    load_fails(DATA("shm_exact.conf"), "server.shm_slots (8)", "server.workers (5)");
}

/* ---- environment overrides -------------------------------------------- */

Test(config, env_port)
{
    setenv("PORT", "9000", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->nlisten, 1);
    cr_assert_str_eq(cfg->listen[0].text, "0.0.0.0:9000");
    cr_assert_eq(cfg->listen[0].addr.ss_family, AF_INET);
    cr_assert_eq(listen_port(&cfg->listen[0]), 9000);
    orc_config_free(cfg);
}

Test(config, env_host)
{
    setenv("HOST", "127.0.0.1", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->listen[0].text, "127.0.0.1:8000");
    cr_assert_eq(((struct sockaddr_in *)&cfg->listen[0].addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    cr_assert_eq(listen_port(&cfg->listen[0]), 8000);
    orc_config_free(cfg);
}

Test(config, env_host_v6_and_port)
{
    setenv("HOST", "::", 1);
    setenv("PORT", "8123", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->nlisten, 1);
    cr_assert_str_eq(cfg->listen[0].text, "[::]:8123");
    cr_assert_eq(cfg->listen[0].addr.ss_family, AF_INET6);
    cr_assert(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&cfg->listen[0].addr)->sin6_addr));
    cr_assert_eq(listen_port(&cfg->listen[0]), 8123);
    orc_config_free(cfg);
}

Test(config, env_port_keeps_v6_host_of_file)
{
    setenv("PORT", "9001", 1);
    orc_config_t *cfg = load_ok(DATA("listen_v6.conf"));
    cr_assert_eq(cfg->nlisten, 1);
    cr_assert_str_eq(cfg->listen[0].text, "[::1]:9001");
    cr_assert_eq(cfg->listen[0].addr.ss_family, AF_INET6);
    cr_assert_eq(listen_port(&cfg->listen[0]), 9001);
    orc_config_free(cfg);
}

Test(config, env_port_replaces_file_listen_list)
{
    setenv("PORT", "9002", 1);
    orc_config_t *cfg = load_ok(DATA("good.conf"));
    cr_assert_eq(cfg->nlisten, 1);
    cr_assert_str_eq(cfg->listen[0].text, "127.0.0.1:9002");
    orc_config_free(cfg);
}

Test(config, env_port_invalid)
{
    setenv("PORT", "0", 1);
    load_fails(NULL, "environment HOST/PORT", "'0.0.0.0:0'");
}

Test(config, env_port_junk)
{
    setenv("PORT", "80x", 1);
    load_fails(NULL, "environment HOST/PORT", NULL);
}

Test(config, env_host_invalid)
{
    setenv("HOST", "localhost", 1);
    load_fails(NULL, "environment HOST/PORT", "localhost");
}

Test(config, env_worker_connections)
{
    setenv("WORKER_CONNECTIONS", "4321", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->worker_connections, 4321);
    orc_config_free(cfg);
}

Test(config, env_worker_connections_invalid)
{
    setenv("WORKER_CONNECTIONS", "abc", 1);
    load_fails(NULL, "environment WORKER_CONNECTIONS", "1..1000000");
}

Test(config, env_worker_connections_out_of_range)
{
    setenv("WORKER_CONNECTIONS", "0", 1);
    load_fails(NULL, "environment WORKER_CONNECTIONS", NULL);
}

Test(config, env_keepalive_timeout)
{
    setenv("KEEPALIVE_TIMEOUT", "5", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->keepalive_timeout, 5);
    orc_config_free(cfg);
}

Test(config, env_keepalive_timeout_invalid)
{
    setenv("KEEPALIVE_TIMEOUT", "3601", 1);
    load_fails(NULL, "environment KEEPALIVE_TIMEOUT", NULL);
}

Test(config, env_log_level)
{
    setenv("LOG_LEVEL", "error", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->log_level, ORC_LOG_ERROR);
    orc_config_free(cfg);
}

Test(config, env_log_level_aliases)
{
    setenv("LOG_LEVEL", "WARNING", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->log_level, ORC_LOG_WARN);
    orc_config_free(cfg);
}

Test(config, env_log_level_invalid)
{
    setenv("LOG_LEVEL", "loud", 1);
    load_fails(NULL, "environment LOG_LEVEL", NULL);
}

Test(config, env_debug_sets_debug_level)
{
    setenv("DEBUG", "true", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert(cfg->debug);
    cr_assert_eq(cfg->log_level, ORC_LOG_DEBUG);
    orc_config_free(cfg);
}

Test(config, env_debug_yields_to_log_level)
{
    setenv("DEBUG", "true", 1);
    setenv("LOG_LEVEL", "warn", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert(cfg->debug);
    cr_assert_eq(cfg->log_level, ORC_LOG_WARN);
    orc_config_free(cfg);
}

Test(config, env_debug_false_keeps_level)
{
    setenv("DEBUG", "false", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_not(cfg->debug);
    cr_assert_eq(cfg->log_level, ORC_LOG_INFO);
    orc_config_free(cfg);
}

Test(config, env_debug_invalid)
{
    setenv("DEBUG", "maybe", 1);
    load_fails(NULL, "environment DEBUG", NULL);
}

Test(config, env_routing_strategy)
{
    setenv("DWA_ROUTING_STRATEGY", "priority", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->routing_strategy, "priority");
    orc_config_free(cfg);
}

Test(config, env_routing_strategy_invalid)
{
    setenv("DWA_ROUTING_STRATEGY", "x", 1);
    load_fails(NULL, "environment DWA_ROUTING_STRATEGY", "must be one of");
}

Test(config, env_legacy_routing_strategy)
{
    setenv("ROUTING_STRATEGY", "random", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->routing_strategy, "random");
    orc_config_free(cfg);
}

Test(config, env_dwa_routing_strategy_beats_legacy)
{
    setenv("ROUTING_STRATEGY", "random", 1);
    setenv("DWA_ROUTING_STRATEGY", "priority", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->routing_strategy, "priority");
    orc_config_free(cfg);
}

/* The error must name the variable the operator actually set. */
Test(config, env_legacy_routing_strategy_invalid)
{
    setenv("ROUTING_STRATEGY", "x", 1);
    load_fails(NULL, "environment ROUTING_STRATEGY", "must be one of");
}

Test(config, env_selection_policy)
{
    setenv("DWA_SELECTION_POLICY", "min_latency", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->selection_policy, "min_latency");
    orc_config_free(cfg);
}

Test(config, env_workers_number)
{
    setenv("ORCHESITY_WORKERS", "3", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->workers, 3);
    cr_assert_not(cfg->workers_auto);
    orc_config_free(cfg);
}

Test(config, env_workers_auto_overrides_file)
{
    setenv("ORCHESITY_WORKERS", "auto", 1);
    orc_config_t *cfg = load_ok(DATA("good.conf")); /* the file says 4 */
    cr_assert(cfg->workers_auto);
    cr_assert_eq(cfg->workers, orc_config_cpu_count());
    orc_config_free(cfg);
}

Test(config, env_workers_invalid)
{
    setenv("ORCHESITY_WORKERS", "0", 1);
    load_fails(NULL, "environment ORCHESITY_WORKERS", "or auto");
}

Test(config, env_workers_too_many)
{
    setenv("ORCHESITY_WORKERS", "65", 1);
    load_fails(NULL, "environment ORCHESITY_WORKERS", NULL);
}

Test(config, env_secret_key)
{
    setenv("SECRET_KEY", "env-key", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->master_key, "env-key");
    orc_config_free(cfg);
}

Test(config, env_secret_key_file)
{
    setenv("SECRET_KEY_FILE", DATA("secret.txt"), 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->master_key, "s3cr3t-from-file");
    orc_config_free(cfg);
}

Test(config, env_secret_key_file_wins)
{
    setenv("SECRET_KEY", "env-key", 1);
    setenv("SECRET_KEY_FILE", DATA("secret.txt"), 1);
    orc_config_t *cfg = load_ok(DATA("good.conf"));
    cr_assert_str_eq(cfg->master_key, "s3cr3t-from-file");
    orc_config_free(cfg);
}

Test(config, env_secret_file_crlf_trimmed)
{
    setenv("DATABASE_URL_FILE", DATA("secret_crlf.txt"), 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_str_eq(cfg->database_url, "crlf-secret");
    orc_config_free(cfg);
}

Test(config, env_secret_key_file_missing)
{
    setenv("SECRET_KEY_FILE", DATA("no-such-secret"), 1);
    load_fails(NULL, "environment SECRET_KEY_FILE", "cannot read");
}

Test(config, env_empty_value_ignored)
{
    setenv("WORKER_CONNECTIONS", "", 1);
    setenv("PORT", "", 1);
    orc_config_t *cfg = load_ok(NULL);
    cr_assert_eq(cfg->worker_connections, 1000);
    cr_assert_str_eq(cfg->listen[0].text, "0.0.0.0:8000");
    orc_config_free(cfg);
}

Test(config, env_beats_file)
{
    setenv("WORKER_CONNECTIONS", "3000", 1);
    setenv("KEEPALIVE_TIMEOUT", "7", 1);
    setenv("LOG_LEVEL", "debug", 1);
    setenv("SECRET_KEY", "env-key", 1);
    setenv("DWA_ROUTING_STRATEGY", "priority", 1);
    setenv("ENABLE_CACHING", "yes", 1);
    setenv("REDIS_DB", "9", 1);
    orc_config_t *cfg = load_ok(DATA("good.conf"));
    cr_assert_eq(cfg->worker_connections, 3000);
    cr_assert_eq(cfg->keepalive_timeout, 7);
    cr_assert_eq(cfg->log_level, ORC_LOG_DEBUG);
    cr_assert_str_eq(cfg->master_key, "env-key");
    cr_assert_str_eq(cfg->routing_strategy, "priority");
    cr_assert(cfg->enable_caching);
    cr_assert_eq(cfg->redis_db, 9);
    /* settings without a variable keep the file's value */
    cr_assert_eq(cfg->backlog, 128);
    cr_assert_eq(cfg->read_timeout, 20);
    cr_assert_str_eq(cfg->selection_policy, "min_cost");
    orc_config_free(cfg);
}

/* ---- settings fixed for the master's life ----------------------------- */

Test(config, keep_fixed_keeps_shm_slots_and_user)
{
    orc_config_t *current = load_ok(DATA("shm_exact.conf")); /* shm_slots 8, user "orc" */
    orc_config_t *next = load_ok(DATA("good.conf"));         /* shm_slots 32, user "orchesity" */
    orc_config_keep_fixed(next, current);
    cr_assert_eq(next->shm_slots, 8);
    cr_assert_str_eq(next->user, "orc");
    cr_assert_neq(next->user, current->user, "the user string must be a copy");
    /* everything else is the new generation's */
    cr_assert_eq(next->backlog, 128);
    cr_assert_eq(next->workers, 4);
    cr_assert_str_eq(next->routing_strategy, "round_robin");
    /* the current generation is untouched */
    cr_assert_eq(current->shm_slots, 8);
    cr_assert_str_eq(current->user, "orc");
    orc_config_free(next);
    orc_config_free(current);
}

Test(config, keep_fixed_unchanged_when_equal)
{
    orc_config_t *current = load_ok(DATA("good.conf"));
    orc_config_t *next = load_ok(DATA("good.conf"));
    orc_config_keep_fixed(next, current);
    cr_assert_eq(next->shm_slots, 32);
    cr_assert_str_eq(next->user, "orchesity");
    orc_config_free(next);
    orc_config_free(current);
}

/* ---- orc_config_parse_listen ------------------------------------------ */

Test(config, parse_listen_v4)
{
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen("192.168.1.20:8080", &l), ORC_OK);
    cr_assert_str_eq(l.text, "192.168.1.20:8080");
    cr_assert_eq(l.addr.ss_family, AF_INET);
    cr_assert_eq(l.addrlen, sizeof(struct sockaddr_in));
    cr_assert_eq(((struct sockaddr_in *)&l.addr)->sin_addr.s_addr, inet_addr("192.168.1.20"));
    cr_assert_eq(listen_port(&l), 8080);
}

Test(config, parse_listen_v6)
{
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen("[::1]:8443", &l), ORC_OK);
    cr_assert_str_eq(l.text, "[::1]:8443");
    cr_assert_eq(l.addr.ss_family, AF_INET6);
    cr_assert_eq(l.addrlen, sizeof(struct sockaddr_in6));
    cr_assert(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&l.addr)->sin6_addr));
    cr_assert_eq(listen_port(&l), 8443);
}

Test(config, parse_listen_v6_any)
{
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen("[::]:80", &l), ORC_OK);
    cr_assert_eq(l.addr.ss_family, AF_INET6);
    cr_assert(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&l.addr)->sin6_addr));
    cr_assert_eq(listen_port(&l), 80);
}

Test(config, parse_listen_star)
{
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen("*:80", &l), ORC_OK);
    cr_assert_str_eq(l.text, "*:80");
    cr_assert_eq(l.addr.ss_family, AF_INET);
    cr_assert_eq(((struct sockaddr_in *)&l.addr)->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(listen_port(&l), 80);
}

Test(config, parse_listen_bare_port)
{
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen("8080", &l), ORC_OK);
    cr_assert_str_eq(l.text, "8080");
    cr_assert_eq(l.addr.ss_family, AF_INET);
    cr_assert_eq(((struct sockaddr_in *)&l.addr)->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(listen_port(&l), 8080);
}

Test(config, parse_listen_port_bounds)
{
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen("127.0.0.1:1", &l), ORC_OK);
    cr_assert_eq(listen_port(&l), 1);
    cr_assert_eq(orc_config_parse_listen("127.0.0.1:65535", &l), ORC_OK);
    cr_assert_eq(listen_port(&l), 65535);
    cr_assert_eq(orc_config_parse_listen("127.0.0.1:65536", &l), ORC_ERR);
    cr_assert_eq(orc_config_parse_listen("127.0.0.1:0", &l), ORC_ERR);
}

Test(config, parse_listen_invalid)
{
    static const char *const bad[] = {
        "nope:80",  "1.2.3.4:99999", "localhost:8000", ":80",
        "1.2.3.4:", "1.2.3.4:80x",   "1.2.3.4:-1",     "",
        "[::1]",    "[::1:80",       "[]:80",          "1.2.3.4.5:80",
        "abc",      "[::1]:",        "999.1.1.1:80",
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++) {
        orc_listen_t l;
        cr_assert_eq(orc_config_parse_listen(bad[i], &l), ORC_ERR, "'%s' should be rejected", bad[i]);
    }
}

Test(config, parse_listen_too_long)
{
    char text[128];
    memset(text, '1', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    orc_listen_t l;
    cr_assert_eq(orc_config_parse_listen(text, &l), ORC_ERR);
}
