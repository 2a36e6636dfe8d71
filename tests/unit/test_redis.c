/*
 * test_redis.c - the Redis client (worker/store/redis.c) against a real
 * redis-server.  Each test starts its own server on a free loopback port
 * (fork/exec from the suite's init, SIGKILL by pid at fini; the server also
 * gets PR_SET_PDEATHSIG so a crashed test cannot leave it behind) and runs
 * the client on its own event loop.  redis-server missing is a failure,
 * not a skip.  Latencies are measured on the monotonic clock from just
 * before orc_redis_command to inside the callback.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/orc.h"
#include "common/util.h"
#include "worker/store/redis.h"

#define MAX_SERVERS 3
#define TIMEOUT_SLACK_US 15000 /* a command must fail within its timeout + this */

typedef struct {
    pid_t pid;
    int port;
    const char *password;
} srv_t;

typedef struct {
    int calls;
    orc_redis_rc_t rc;
    int type;
    long long integer;
    char str[256];
    size_t len;
    uint64_t at_us;
} result_t;

static srv_t servers[MAX_SERVERS];
static srv_t *srv; /* the suite's server */
static struct event_base *base;

/* ---- redis-server processes --------------------------------------------- */

static const char *server_path(void)
{
    static char path[512];
    const char *env = getenv("ORC_TEST_REDIS_SERVER");
    if (env != NULL && env[0] != '\0')
        return access(env, X_OK) == 0 ? env : NULL;
    const char *p = getenv("PATH");
    for (p = p ? p : "/usr/local/bin:/usr/bin:/bin"; *p != '\0';) {
        size_t n = strcspn(p, ":");
        snprintf(path, sizeof(path), "%.*s/redis-server", (int)n, p);
        if (n > 0 && access(path, X_OK) == 0)
            return path;
        p += n + (p[n] == ':');
    }
    return NULL;
}

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
             getsockname(fd, (struct sockaddr *)&sa, &len) == 0;
    int err = errno;
    if (fd >= 0)
        close(fd);
    cr_assert(ok, "cannot pick a free port: %s", strerror(err));
    return ntohs(sa.sin_port);
}

static pid_t spawn(const char *path, int port, const char *password)
{
    char portbuf[16];
    const char *argv[20];
    int n = 0;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    const char *base_args[] = {path,           "--bind", "127.0.0.1",   "--port", portbuf,     "--save", "",
                               "--appendonly", "no",     "--daemonize", "no",     "--logfile", ""};
    for (size_t i = 0; i < ORC_ARRAY_LEN(base_args); i++)
        argv[n++] = base_args[i];
    if (password != NULL) {
        argv[n++] = "--requirepass";
        argv[n++] = password;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static redisContext *admin_connect(int port, const char *password)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c != NULL && c->err == 0 && password != NULL) {
        redisReply *rep = redisCommand(c, "AUTH %s", password);
        freeReplyObject(rep);
    }
    if (c != NULL && c->err == 0)
        redisSetTimeout(c, (struct timeval){2, 0});
    return c;
}

/* Ready when it answers and is our child (not another server on the port). */
static bool server_ready(pid_t pid, int port, const char *password)
{
    uint64_t deadline = orc_now_ms() + 5000;
    while (orc_now_ms() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return false;
        redisContext *c = admin_connect(port, password);
        bool mine = false;
        if (c != NULL && c->err == 0) {
            redisReply *rep = redisCommand(c, "INFO server");
            const char *p = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "process_id:") : NULL;
            mine = p != NULL && atoi(p + strlen("process_id:")) == (int)pid;
            freeReplyObject(rep);
        }
        redisFree(c);
        if (mine)
            return true;
        usleep(5000);
    }
    return false;
}

static void srv_stop(srv_t *s)
{
    if (s == NULL || s->pid <= 0)
        return;
    kill(s->pid, SIGKILL); /* works on a stopped one too */
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* PORT 0: a free one. */
static srv_t *srv_start(int port, const char *password)
{
    const char *path = server_path();
    cr_assert_not_null(path, "redis-server not found in PATH: install the redis-server package "
                             "(or set ORC_TEST_REDIS_SERVER) to run the redis tests");
    srv_t *s = NULL;
    for (int i = 0; i < MAX_SERVERS && s == NULL; i++)
        if (servers[i].pid == 0)
            s = &servers[i];
    cr_assert_not_null(s, "too many servers in one test");
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = port > 0 ? port : free_port();
        s->password = password;
        s->pid = spawn(path, s->port, password);
        cr_assert_gt(s->pid, 0, "fork: %s", strerror(errno));
        if (server_ready(s->pid, s->port, password))
            return s;
        srv_stop(s);
        usleep(50000);
    }
    cr_assert_fail("%s did not start on 127.0.0.1:%d (5 attempts)", path, port);
    return NULL;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    orc_log_set_level(ORC_LOG_CRIT); /* the client's warnings are expected here */
    base = event_base_new();
    cr_assert_not_null(base);
    srv = srv_start(0, NULL);
}

static void teardown(void)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        srv_stop(&servers[i]);
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}

/* The same timeout as every other suite: criterion's runner (BoxFort
 * bxfi_push_timeout) loses queued timeouts - and leaks them, which the ASan
 * build reports - when a test with an earlier deadline starts while one
 * with a later deadline runs, i.e. when suites with different timeouts run
 * in parallel.  The slowest test here takes well under a second. */
TestSuite(redis, .init = setup, .fini = teardown, .timeout = 10);

/* ---- the loop and the client -------------------------------------------- */

static void run_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static bool run_until(bool (*pred)(const void *), const void *arg, int ms)
{
    uint64_t deadline = orc_now_ms() + (uint64_t)ms;
    while (!pred(arg)) {
        if (orc_now_ms() >= deadline)
            return false;
        run_ms(1);
    }
    return true;
}

static bool is_connected(const void *r)
{
    return orc_redis_status(r).connected;
}

static bool is_disconnected(const void *r)
{
    return !orc_redis_status(r).connected;
}

static bool has_error(const void *r)
{
    return orc_redis_status(r).error[0] != '\0' && strcmp(orc_redis_status(r).error, "connecting") != 0;
}

static bool nothing_pending(const void *r)
{
    return orc_redis_status(r).pending == 0;
}

static bool done(const void *res)
{
    return ((const result_t *)res)->calls > 0;
}

static void on_result(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    result_t *res = arg;
    res->at_us = orc_now_us();
    res->calls++;
    res->rc = rc;
    cr_assert((rc == ORC_REDIS_OK) == (reply != NULL), "a reply comes exactly with ORC_REDIS_OK");
    if (reply == NULL)
        return;
    res->type = reply->type;
    res->integer = reply->integer;
    res->len = reply->str ? reply->len : 0;
    if (reply->str)
        memcpy(res->str, reply->str, ORC_MIN(reply->len, sizeof(res->str) - 1));
}

/* A command of NUL-terminated words, then NULL. */
static int cmd(orc_redis_t *r, result_t *res, const char *first, ...)
{
    const char *argv[8];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 8; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    memset(res, 0, sizeof(*res));
    int id = orc_redis_command(r, on_result, res, argc, argv, NULL);
    cr_assert_gt(id, 0, "orc_redis_command refused a command");
    cr_assert_eq(res->calls, 0, "the callback ran inside orc_redis_command");
    return id;
}

static void wait_result(result_t *res, int ms)
{
    cr_assert(run_until(done, res, ms), "no callback within %d ms", ms);
}

static orc_redis_t *client_url(const char *url, orc_redis_options_t *o)
{
    orc_redis_options_t d;
    if (o == NULL) {
        orc_redis_options_defaults(&d);
        o = &d;
    }
    o->url = url;
    orc_redis_t *r = orc_redis_new(base, o);
    cr_assert_not_null(r, "orc_redis_new(%s)", url);
    return r;
}

static orc_redis_t *client_port(int port, orc_redis_options_t *o)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    return client_url(url, o);
}

static orc_redis_t *connected(int port, orc_redis_options_t *o)
{
    orc_redis_t *r = client_port(port, o);
    cr_assert(run_until(is_connected, r, 3000), "not connected: %s", orc_redis_status(r).error);
    return r;
}

/* A command on a connection of its own; tried three times, since a server
 * just woken from SIGSTOP on a loaded machine may miss the first one. */
static redisReply *admin(srv_t *s, const char *fmt, ...)
{
    redisReply *rep = NULL;
    for (int attempt = 0; attempt < 3 && rep == NULL; attempt++) {
        redisContext *c = admin_connect(s->port, s->password);
        if (c != NULL && c->err == 0) {
            va_list ap;
            va_start(ap, fmt);
            rep = redisvCommand(c, fmt, ap);
            va_end(ap);
        }
        if (c != NULL)
            redisFree(c);
    }
    cr_assert_not_null(rep, "admin command on port %d: no reply", s->port);
    return rep;
}

/* ---- URL and options ---------------------------------------------------- */

Test(redis, url_parse)
{
    orc_redis_url_t u;
    char err[256];
    cr_assert_eq(orc_redis_parse_url("redis://127.0.0.1", &u, err, sizeof(err)), ORC_OK, "%s", err);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    cr_assert_str_eq(u.password, "");
    cr_assert_eq(orc_redis_parse_url("redis://:p%40ss%20w@cache.example:6380/3", &u, err, sizeof(err)),
                 ORC_OK);
    cr_assert_str_eq(u.host, "cache.example");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 3);
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "p@ss w");
    cr_assert_eq(orc_redis_parse_url("REDIS://alice:s3cret@[::1]:7000/", &u, err, sizeof(err)), ORC_OK, "%s",
                 err);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_eq(u.db, 0);
}

Test(redis, url_rejections_are_clear_and_never_show_the_password)
{
    static const struct {
        const char *url, *needle;
    } bad[] = {
        {"rediss://:hunter2@cache:6380", "TLS"},
        {"http://cache:6379", "unsupported URL scheme \"http\""},
        {"cache:6379", "redis://"},
        {"redis://:hunter2@cache/abc", "database number"},
        {"redis://:hunter2@cache/1?timeout=5", "query"},
        {"redis://hunter2@cache", "no password"},
        {"redis://:hunter2@cache:99999", ""},
        {"redis://:hunter2@/0", ""},
    };
    orc_redis_url_t u;
    char err[256];
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        cr_assert_eq(orc_redis_parse_url(bad[i].url, &u, err, sizeof(err)), ORC_ERR, "%s accepted",
                     bad[i].url);
        cr_assert_neq(err[0], '\0', "%s: no reason given", bad[i].url);
        cr_assert_not_null(strstr(err, bad[i].needle), "%s: \"%s\"", bad[i].url, err);
        cr_assert_null(strstr(err, "hunter2"), "%s: the error shows the password", bad[i].url);
        cr_assert_str_empty(u.password);
    }
    orc_redis_options_t o;
    orc_redis_options_defaults(&o);
    o.url = "rediss://cache:6380";
    cr_assert_null(orc_redis_new(base, &o), "rediss:// must be refused");
    o.url = "redis://cache.example:6379"; /* a host name needs an evdns base */
    cr_assert_null(orc_redis_new(base, &o));
}

Test(redis, disabled_client_fails_commands_later)
{
    cr_assert_str_eq(orc_redis_status(NULL).status, "disabled");
    orc_redis_t *r = client_url("", NULL);
    cr_assert_str_eq(orc_redis_status(r).status, "disabled");
    result_t res;
    cmd(r, &res, "PING", NULL);
    wait_result(&res, 100);
    cr_assert_eq(res.rc, ORC_REDIS_DISABLED);
    run_ms(5);
    cr_assert_eq(res.calls, 1);
    orc_redis_free(r);
}

/* ---- commands ----------------------------------------------------------- */

Test(redis, set_get_del_binary_round_trip)
{
    orc_redis_t *r = connected(srv->port, NULL);
    static const char key[] = "bin\0key\r\n";
    static const char val[] = "a\0b\r\nc\xff\x00 end";
    const char *argv[3] = {"SET", key, val};
    size_t lens[3] = {3, sizeof(key) - 1, sizeof(val) - 1};
    result_t res;
    memset(&res, 0, sizeof(res));
    cr_assert_gt(orc_redis_command(r, on_result, &res, 3, argv, lens), 0);
    cr_assert_eq(res.calls, 0, "the callback ran inside orc_redis_command");
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK, "%s", orc_redis_rc_name(res.rc));
    cr_assert_eq(res.type, REDIS_REPLY_STATUS);
    cr_assert_str_eq(res.str, "OK");

    argv[0] = "GET";
    lens[0] = 3;
    memset(&res, 0, sizeof(res));
    orc_redis_command(r, on_result, &res, 2, argv, lens);
    wait_result(&res, 1000);
    cr_assert_eq(res.type, REDIS_REPLY_STRING);
    cr_assert_eq(res.len, sizeof(val) - 1);
    cr_assert_arr_eq(res.str, val, sizeof(val) - 1);

    argv[0] = "DEL";
    memset(&res, 0, sizeof(res));
    orc_redis_command(r, on_result, &res, 2, argv, lens);
    wait_result(&res, 1000);
    cr_assert_eq(res.type, REDIS_REPLY_INTEGER);
    cr_assert_eq(res.integer, 1);

    argv[0] = "GET";
    memset(&res, 0, sizeof(res));
    orc_redis_command(r, on_result, &res, 2, argv, lens);
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);
    cr_assert_eq(res.type, REDIS_REPLY_NIL);

    cmd(r, &res, "INCR", "no\r\nsuch", NULL); /* an error reply is a reply, not a failure */
    cmd(r, &res, "HSET", "h", "f", "v", NULL);
    wait_result(&res, 1000);
    cmd(r, &res, "INCR", "h", NULL);
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);
    cr_assert_eq(res.type, REDIS_REPLY_ERROR);
    cr_assert_not_null(strstr(res.str, "WRONGTYPE"), "%s", res.str);

    orc_redis_status_t st = orc_redis_status(r);
    cr_assert_str_eq(st.status, "healthy");
    cr_assert_str_empty(st.error);
    cr_assert(st.connected);
    cr_assert_eq(st.commands, 7);
    cr_assert_eq(st.failures, 0);
    cr_assert_eq(st.connects, 1);
    run_ms(5);
    cr_assert_eq(orc_redis_status(r).pending, 0);
    orc_redis_free(r);
}

Test(redis, auth_with_requirepass)
{
    srv_t *s = srv_start(0, "s3 cr@t");
    char url[128];
    result_t res;
    snprintf(url, sizeof(url), "redis://:s3%%20cr%%40t@127.0.0.1:%d", s->port);
    orc_redis_t *r = client_url(url, NULL);
    cr_assert(run_until(is_connected, r, 3000), "%s", orc_redis_status(r).error);
    cmd(r, &res, "SET", "k", "v", NULL);
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);
    cr_assert_str_eq(res.str, "OK");
    orc_redis_free(r);

    snprintf(url, sizeof(url), "redis://default:s3%%20cr%%40t@127.0.0.1:%d", s->port); /* AUTH user pass */
    r = client_url(url, NULL);
    cr_assert(run_until(is_connected, r, 3000), "%s", orc_redis_status(r).error);
    orc_redis_free(r);
}

Test(redis, auth_wrong_password_is_a_clear_failure)
{
    srv_t *s = srv_start(0, "right");
    char url[128];
    result_t res;
    snprintf(url, sizeof(url), "redis://:wrongpw@127.0.0.1:%d", s->port);
    orc_redis_t *r = client_url(url, NULL);
    cr_assert(run_until(has_error, r, 3000));
    orc_redis_status_t st = orc_redis_status(r);
    cr_assert_str_eq(st.status, "unhealthy");
    cr_assert(!st.connected);
    cr_assert_not_null(strstr(st.error, "AUTH failed"), "%s", st.error);
    cr_assert_not_null(strstr(st.error, "WRONGPASS"), "%s", st.error);
    cr_assert_null(strstr(st.error, "wrongpw"), "the password must not show: %s", st.error);
    cmd(r, &res, "GET", "k", NULL);
    wait_result(&res, 100);
    cr_assert_eq(res.rc, ORC_REDIS_NOT_CONNECTED);
    orc_redis_free(r);

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", s->port); /* no password at all */
    r = client_url(url, NULL);
    cr_assert(run_until(has_error, r, 3000));
    cr_assert_not_null(strstr(orc_redis_status(r).error, "NOAUTH"), "%s", orc_redis_status(r).error);
    orc_redis_free(r);
}

static long long exists_in(int db, const char *key)
{
    redisContext *c = admin_connect(srv->port, NULL);
    redisReply *rep = redisCommand(c, "SELECT %d", db);
    freeReplyObject(rep);
    rep = redisCommand(c, "EXISTS %s", key);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_INTEGER);
    long long n = rep->integer;
    freeReplyObject(rep);
    redisFree(c);
    return n;
}

Test(redis, select_database_from_url_and_override)
{
    char url[128];
    result_t res;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", srv->port);
    orc_redis_t *r = client_url(url, NULL);
    cr_assert(run_until(is_connected, r, 3000), "%s", orc_redis_status(r).error);
    cmd(r, &res, "SET", "in3", "v", NULL);
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);
    orc_redis_free(r);
    cr_assert_eq(exists_in(3, "in3"), 1);
    cr_assert_eq(exists_in(0, "in3"), 0);

    orc_redis_options_t o;
    orc_redis_options_defaults(&o);
    o.db = 5; /* the configuration's redis_db wins over the URL */
    r = client_url(url, &o);
    cr_assert(run_until(is_connected, r, 3000), "%s", orc_redis_status(r).error);
    cmd(r, &res, "SET", "in5", "v", NULL);
    wait_result(&res, 1000);
    orc_redis_free(r);
    cr_assert_eq(exists_in(5, "in5"), 1);
    cr_assert_eq(exists_in(3, "in5"), 0);

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/99", srv->port); /* beyond "databases 16" */
    r = client_url(url, NULL);
    cr_assert(run_until(has_error, r, 3000));
    cr_assert_not_null(strstr(orc_redis_status(r).error, "SELECT failed"), "%s", orc_redis_status(r).error);
    orc_redis_free(r);
}

/* ---- failures ----------------------------------------------------------- */

Test(redis, connection_refused_fails_fast)
{
    int port = free_port(); /* nothing listens there */
    orc_redis_t *r = client_port(port, NULL);
    cr_assert(run_until(has_error, r, 2000));
    for (int i = 0; i < 20; i++) {
        result_t res;
        uint64_t t0 = orc_now_us();
        cmd(r, &res, "GET", "k", NULL);
        wait_result(&res, 1000);
        cr_assert_lt(res.at_us - t0, 50000, "failed after %llu us", (unsigned long long)(res.at_us - t0));
        cr_assert(res.rc == ORC_REDIS_NOT_CONNECTED || res.rc == ORC_REDIS_BREAKER_OPEN, "%s",
                  orc_redis_rc_name(res.rc));
        run_ms(i % 3);
    }
    orc_redis_status_t st = orc_redis_status(r);
    cr_assert_str_eq(st.status, "unhealthy");
    cr_assert(!st.connected);
    cr_assert_not_null(strstr(st.error, "refused"), "%s", st.error);
    cr_assert_eq(st.failures, 20);
    orc_redis_free(r);
}

/* Commands against a frozen server until the breaker opens: each fails
 * within its timeout (a timeout never early).  Returns the timeouts seen. */
static int fail_until_breaker_opens(orc_redis_t *r, uint64_t timeout_us)
{
    result_t res;
    int timeouts = 0;
    uint64_t lat_min = UINT64_MAX, lat_max = 0, lat_sum = 0, deadline = orc_now_ms() + 5000;
    do {
        cr_assert_lt(orc_now_ms(), deadline, "the breaker never opened");
        uint64_t t0 = orc_now_us();
        cmd(r, &res, "GET", "k", NULL);
        wait_result(&res, 1000);
        uint64_t lat = res.at_us - t0;
        cr_assert_neq(res.rc, ORC_REDIS_OK, "a frozen server answered");
        cr_assert_leq(lat, timeout_us + TIMEOUT_SLACK_US, "%s after %llu us", orc_redis_rc_name(res.rc),
                      (unsigned long long)lat);
        if (res.rc == ORC_REDIS_TIMEOUT) {
            cr_assert_geq(lat, timeout_us - 200, "timed out early, after %llu us", (unsigned long long)lat);
            timeouts++;
            lat_min = ORC_MIN(lat_min, lat);
            lat_max = ORC_MAX(lat_max, lat);
            lat_sum += lat;
        }
    } while (res.rc != ORC_REDIS_BREAKER_OPEN);
    cr_assert_geq(timeouts, 1);
    cr_log_info("timeouts: %d, latency min %.2f ms, avg %.2f ms, max %.2f ms (timeout %.0f ms)", timeouts,
                lat_min / 1000.0, lat_sum / 1000.0 / timeouts, lat_max / 1000.0, timeout_us / 1000.0);
    return timeouts;
}

Test(redis, frozen_server_times_out_then_breaker_opens_and_recovers)
{
    orc_redis_options_t o;
    orc_redis_options_defaults(&o); /* command timeout 20 ms */
    o.connect_timeout_ms = 100;
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 50;
    o.breaker_failures = 3;
    o.breaker_cooldown_ms = 300;
    o.breaker_cooldown_max_ms = 300;
    orc_redis_t *r = connected(srv->port, &o);
    result_t res;
    cmd(r, &res, "SET", "k", "v", NULL);
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);

    cr_assert_eq(kill(srv->pid, SIGSTOP), 0);
    int timeouts = fail_until_breaker_opens(r, 20000);
    orc_redis_status_t st = orc_redis_status(r);
    cr_assert(st.breaker_open);
    cr_assert(!st.connected);
    cr_assert_str_eq(st.status, "unhealthy");
    cr_assert_geq(st.timeouts, (uint64_t)timeouts);
    cr_assert_geq(st.failures, st.timeouts);
    for (int i = 0; i < 20; i++) { /* open: fail at once, no connection attempt */
        uint64_t t0 = orc_now_us();
        cmd(r, &res, "GET", "k", NULL);
        wait_result(&res, 100);
        cr_assert_eq(res.rc, ORC_REDIS_BREAKER_OPEN, "%s", orc_redis_rc_name(res.rc));
        cr_assert_lt(res.at_us - t0, 5000, "breaker-open failure after %llu us",
                     (unsigned long long)(res.at_us - t0));
    }
    cr_assert_eq(orc_redis_status(r).connects, st.connects, "a connection was attempted during the cooldown");

    cr_assert_eq(kill(srv->pid, SIGCONT), 0);
    uint64_t t_cont = orc_now_ms();
    cr_assert(run_until(is_connected, r, 3000), "no recovery: %s", orc_redis_status(r).error);
    cr_log_info("recovered %llu ms after SIGCONT (cooldown 300 ms)",
                (unsigned long long)(orc_now_ms() - t_cont));
    cmd(r, &res, "GET", "k", NULL);
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);
    cr_assert_str_eq(res.str, "v");
    cr_assert(!orc_redis_status(r).breaker_open);
    orc_redis_free(r);
}

Test(redis, timeout_precision)
{
    orc_redis_options_t o;
    orc_redis_options_defaults(&o); /* command timeout 20 ms */
    o.reconnect_min_ms = 5;
    o.reconnect_max_ms = 5;
    o.breaker_failures = 100; /* only timeouts here: the count would open it */
    orc_redis_t *r = connected(srv->port, &o);
    result_t res;
    uint64_t lat_min = UINT64_MAX, lat_max = 0, lat_sum = 0;
    const int rounds = 10;
    for (int i = 0; i < rounds; i++) {
        cr_assert_eq(kill(srv->pid, SIGSTOP), 0);
        uint64_t t0 = orc_now_us();
        cmd(r, &res, "GET", "k", NULL);
        wait_result(&res, 1000);
        uint64_t lat = res.at_us - t0;
        cr_assert_eq(res.rc, ORC_REDIS_TIMEOUT, "%s", orc_redis_rc_name(res.rc));
        cr_assert_geq(lat, 20000 - 200, "timed out early, after %llu us", (unsigned long long)lat);
        cr_assert_leq(lat, 20000 + TIMEOUT_SLACK_US, "timed out late, after %llu us",
                      (unsigned long long)lat);
        lat_min = ORC_MIN(lat_min, lat);
        lat_max = ORC_MAX(lat_max, lat);
        lat_sum += lat;
        cr_assert_eq(kill(srv->pid, SIGCONT), 0);
        cr_assert(run_until(is_connected, r, 3000), "no reconnect: %s", orc_redis_status(r).error);
    }
    cr_log_info("timeout 20 ms: fired after min %.2f ms, avg %.2f ms, max %.2f ms (%d rounds)",
                lat_min / 1000.0, lat_sum / 1000.0 / rounds, lat_max / 1000.0, rounds);
    orc_redis_status_t st = orc_redis_status(r);
    cr_assert_eq(st.timeouts, (uint64_t)rounds);
    cr_assert_eq(st.reconnects, (uint64_t)rounds);
    orc_redis_free(r);
}

Test(redis, server_restart_on_same_port_reconnects)
{
    orc_redis_t *r = connected(srv->port, NULL); /* default backoff: 100 ms doubling to 5 s */
    result_t res;
    cmd(r, &res, "SET", "k", "v", NULL);
    wait_result(&res, 1000);
    int port = srv->port;
    srv_stop(srv);
    uint64_t t_kill = orc_now_ms();
    cr_assert(run_until(is_disconnected, r, 1000), "the loss went unnoticed");
    uint64_t noticed = orc_now_ms() - t_kill;
    uint64_t t0 = orc_now_us();
    cmd(r, &res, "GET", "k", NULL);
    wait_result(&res, 100);
    cr_assert_eq(res.rc, ORC_REDIS_NOT_CONNECTED);
    cr_assert_lt(res.at_us - t0, 50000);
    run_ms(250);
    srv = srv_start(port, NULL);
    uint64_t t_up = orc_now_ms();
    cr_assert(run_until(is_connected, r, 6000), "no reconnect: %s", orc_redis_status(r).error);
    cr_log_info("loss noticed after %llu ms; reconnected %llu ms after the restart",
                (unsigned long long)noticed, (unsigned long long)(orc_now_ms() - t_up));
    cr_assert_eq(orc_redis_status(r).reconnects, 1);
    cmd(r, &res, "GET", "k", NULL); /* a new, empty server */
    wait_result(&res, 1000);
    cr_assert_eq(res.rc, ORC_REDIS_OK);
    cr_assert_eq(res.type, REDIS_REPLY_NIL);
    orc_redis_free(r);
}

/* ---- cancel and lifetime ------------------------------------------------ */

static orc_redis_t *cancel_client;
static int cancel_target;

static void on_result_cancel_other(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    on_result(arg, rc, reply);
    cr_assert_eq(orc_redis_cancel(cancel_client, cancel_target), ORC_OK);
}

Test(redis, cancel_means_no_callback)
{
    orc_redis_t *r = connected(srv->port, NULL);
    result_t a, b, c;
    int ida = cmd(r, &a, "ECHO", "a", NULL);
    int idb = cmd(r, &b, "ECHO", "b", NULL);
    cmd(r, &c, "ECHO", "c", NULL);
    cr_assert_eq(orc_redis_cancel(r, idb), ORC_OK);
    cr_assert_eq(orc_redis_cancel(r, idb), ORC_ERR, "cancelled twice");
    wait_result(&c, 1000);
    run_ms(20);
    cr_assert_eq(b.calls, 0);
    cr_assert_str_eq(a.str, "a", "replies keep their order around a cancelled one");
    cr_assert_str_eq(c.str, "c");
    cr_assert_eq(orc_redis_cancel(r, ida), ORC_ERR, "cancel after the callback");
    cr_assert_eq(orc_redis_cancel(r, 0), ORC_ERR);

    cancel_client = r; /* a callback cancels a later command */
    memset(&a, 0, sizeof(a));
    const char *argv[2] = {"ECHO", "x"};
    cr_assert_gt(orc_redis_command(r, on_result_cancel_other, &a, 2, argv, NULL), 0);
    cancel_target = cmd(r, &b, "ECHO", "y", NULL);
    wait_result(&a, 1000);
    run_ms(20);
    cr_assert_eq(b.calls, 0);

    cr_assert_eq(kill(srv->pid, SIGSTOP), 0); /* cancelled while pending, then the timeout teardown */
    cmd(r, &a, "GET", "k", NULL);
    idb = cmd(r, &b, "GET", "k", NULL);
    cr_assert_eq(orc_redis_cancel(r, idb), ORC_OK);
    wait_result(&a, 1000);
    cr_assert_eq(a.rc, ORC_REDIS_TIMEOUT);
    idb = cmd(r, &b, "GET", "k", NULL); /* cancelled while waiting for its deferred failure */
    cr_assert_eq(orc_redis_cancel(r, idb), ORC_OK);
    run_ms(30);
    cr_assert_eq(b.calls, 0);
    cr_assert_eq(kill(srv->pid, SIGCONT), 0);
    cr_assert_eq(orc_redis_status(r).cancelled, 4);
    orc_redis_free(r);
}

static orc_redis_t *freeing_client;

static void on_result_reissue(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    const char *argv[1] = {"PING"};
    on_result(arg, rc, reply);
    cr_assert_eq(orc_redis_command(freeing_client, on_result, arg, 1, argv, NULL), ORC_ERR,
                 "a client being freed accepted a command");
}

Test(redis, free_runs_each_pending_callback_once)
{
    orc_redis_t *r = connected(srv->port, NULL);
    result_t res[5];
    for (int i = 0; i < 4; i++)
        cmd(r, &res[i], "ECHO", "x", NULL);
    const char *argv[1] = {"PING"};
    memset(&res[4], 0, sizeof(res[4]));
    freeing_client = r;
    cr_assert_gt(orc_redis_command(r, on_result_reissue, &res[4], 1, argv, NULL), 0);
    orc_redis_free(r);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(res[i].calls, 1, "command %d: %d calls", i, res[i].calls);
        cr_assert_eq(res[i].rc, ORC_REDIS_CLOSED);
    }
    run_ms(20);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(res[i].calls, 1);

    r = client_url("", NULL); /* failures waiting for their zero timer */
    cmd(r, &res[0], "PING", NULL);
    orc_redis_free(r);
    cr_assert_eq(res[0].calls, 1);
    cr_assert_eq(res[0].rc, ORC_REDIS_CLOSED);
}

#define STRESS_N 1000

static orc_redis_t *stress_client;
static int stress_ids[STRESS_N], stress_next;
static int stress_calls[STRESS_N];
static orc_redis_rc_t stress_rc[STRESS_N];
static bool stress_kill[STRESS_N], stress_cancelled[STRESS_N];
static int stress_bad_reply;

static void on_stress(void *arg, orc_redis_rc_t rc, const redisReply *reply)
{
    int i = (int)(intptr_t)arg;
    char want[16];
    stress_calls[i]++;
    stress_rc[i] = rc;
    snprintf(want, sizeof(want), "v%d", i);
    if (rc != ORC_REDIS_OK)
        return;
    if (stress_kill[i] ? reply->type != REDIS_REPLY_INTEGER
                       : reply->type != REDIS_REPLY_STRING || strcmp(reply->str, want) != 0)
        stress_bad_reply++;
}

/* ECHO v<i>, or the client killing its own connection: the commands
 * pipelined behind that one are lost. */
static void stress_send(bool kill_self)
{
    int i = stress_next++;
    char payload[16];
    const char *echo[2] = {"ECHO", payload};
    const char *kill[6] = {"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"};
    snprintf(payload, sizeof(payload), "v%d", i);
    stress_kill[i] = kill_self;
    stress_ids[i] = kill_self
                        ? orc_redis_command(stress_client, on_stress, (void *)(intptr_t)i, 6, kill, NULL)
                        : orc_redis_command(stress_client, on_stress, (void *)(intptr_t)i, 2, echo, NULL);
    cr_assert_gt(stress_ids[i], 0);
    cr_assert_eq(stress_calls[i], 0, "called inside orc_redis_command");
    if (rand() % 10 == 0) { /* the request went away at once */
        cr_assert_eq(orc_redis_cancel(stress_client, stress_ids[i]), ORC_OK);
        stress_cancelled[i] = true;
    }
}

static void stress_burst(int n, int kill_at)
{
    for (int k = 0; k < n && stress_next < STRESS_N; k++)
        stress_send(k == kill_at);
}

/* Makes sure each kind of failure happens, whatever the dice say. */
static void stress_scripted(void)
{
    cr_assert(run_until(is_connected, stress_client, 3000), "%s", orc_redis_status(stress_client).error);
    stress_burst(5, 0); /* four commands behind a kill: lost */
    cr_assert(run_until(is_connected, stress_client, 3000), "%s", orc_redis_status(stress_client).error);
    kill(srv->pid, SIGSTOP);
    stress_burst(5, -1); /* timed out */
    run_ms(30);
    kill(srv->pid, SIGCONT);
}

static void stress_step(int action)
{
    int n = 1 + rand() % 10;
    if (action < 70) {
        stress_burst(n, -1);
    } else if (action < 80) {
        stress_burst(n, rand() % n);
    } else if (action < 87) { /* dropped from outside */
        freeReplyObject(admin(srv, "CLIENT KILL TYPE normal SKIPME yes"));
    } else if (action < 90) { /* frozen past the command timeout with commands in flight */
        kill(srv->pid, SIGSTOP);
        stress_burst(n, -1);
        run_ms(30);
        kill(srv->pid, SIGCONT);
    } else if (stress_next > 0) { /* cancel a recent one */
        int j = stress_next - 1 - rand() % ORC_MIN(stress_next, 12);
        if (orc_redis_cancel(stress_client, stress_ids[j]) == ORC_OK)
            stress_cancelled[j] = true;
    }
}

Test(redis, every_callback_exactly_once_under_random_disconnects)
{
    orc_redis_options_t o;
    orc_redis_options_defaults(&o);
    o.reconnect_min_ms = 2;
    o.reconnect_max_ms = 10;
    o.breaker_failures = 100000;
    stress_client = connected(srv->port, &o);
    unsigned seed = (unsigned)orc_now_us();
    srand(seed);
    cr_log_info("seed %u", seed);
    for (int milestone = STRESS_N / 4; stress_next < STRESS_N;) {
        if (stress_next >= milestone) {
            stress_scripted();
            milestone += STRESS_N / 4;
        }
        stress_step(rand() % 100);
        if (rand() % 4 == 0)
            run_ms(rand() % 3);
        else
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    cr_assert(run_until(nothing_pending, stress_client, 5000), "%u still pending",
              orc_redis_status(stress_client).pending);
    run_ms(50);
    int by_rc[ORC_REDIS_CLOSED + 1] = {0}, ncancel = 0;
    for (int i = 0; i < STRESS_N; i++) {
        cr_assert_eq(stress_calls[i], stress_cancelled[i] ? 0 : 1, "command %d: %d callbacks (cancelled: %d)",
                     i, stress_calls[i], stress_cancelled[i]);
        if (stress_cancelled[i])
            ncancel++;
        else
            by_rc[stress_rc[i]]++;
    }
    cr_assert_eq(stress_bad_reply, 0, "replies went to the wrong command");
    cr_log_info("ok %d, not connected %d, lost %d, timeout %d, cancelled %d", by_rc[ORC_REDIS_OK],
                by_rc[ORC_REDIS_NOT_CONNECTED], by_rc[ORC_REDIS_CONNECTION_LOST], by_rc[ORC_REDIS_TIMEOUT],
                ncancel);
    cr_assert_gt(by_rc[ORC_REDIS_OK], 0);
    cr_assert_gt(by_rc[ORC_REDIS_CONNECTION_LOST], 0);
    cr_assert_gt(by_rc[ORC_REDIS_TIMEOUT], 0);
    orc_redis_status_t st = orc_redis_status(stress_client);
    cr_assert_eq(st.commands, STRESS_N);
    cr_assert_eq(st.cancelled, (uint64_t)ncancel);
    cr_assert_eq(st.timeouts, (uint64_t)by_rc[ORC_REDIS_TIMEOUT]);
    orc_redis_free(stress_client);
}

/* ---- host names --------------------------------------------------------- */

Test(redis, host_name_resolved_with_evdns)
{
    struct evdns_base *dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    cr_assert_not_null(dns);
    char url[128];
    result_t res;
    orc_redis_options_t o;
    orc_redis_options_defaults(&o);
    o.dns = dns;
    snprintf(url, sizeof(url), "redis://localhost:%d", srv->port);
    orc_redis_t *r = client_url(url, &o);
    cr_assert(run_until(is_connected, r, 3000), "%s", orc_redis_status(r).error);
    cmd(r, &res, "PING", NULL);
    wait_result(&res, 1000);
    cr_assert_str_eq(res.str, "PONG");
    orc_redis_free(r);

    o.connect_timeout_ms = 300;
    snprintf(url, sizeof(url), "redis://no-such-host.invalid:%d", srv->port);
    r = client_url(url, &o);
    cr_assert(run_until(has_error, r, 3000));
    cr_assert_not_null(strstr(orc_redis_status(r).error, "resolve"), "%s", orc_redis_status(r).error);
    orc_redis_free(r);
    run_ms(20); /* a cancelled lookup reports from the loop */
    evdns_base_free(dns, 0);
}
