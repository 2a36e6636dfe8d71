/*
 * test_pg.c - the non-blocking PostgreSQL connection (worker/store/pg.c) against
 * the test run's real PostgreSQL (ORC_TEST_DATABASE_URL, set by
 * tests/services.sh; missing is a failure, not a skip), plus a listener
 * that accepts and never answers, which stands for a frozen server.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/orc.h"
#include "common/util.h"
#include "worker/store/pg.h"

typedef struct {
    int calls;
    orc_pg_rc_t rc;
    char value[256];
    char error[400];
    uint64_t at_ms;
} answer_t;

static struct event_base *base;
static struct evdns_base *dns;
static int ups;

static void setup(void)
{
    base = event_base_new();
    dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    ups = 0;
    cr_assert_not_null(getenv("ORC_TEST_DATABASE_URL"),
                       "ORC_TEST_DATABASE_URL is not set (tests/services.sh)");
}

static void teardown(void)
{
    evdns_base_free(dns, 0);
    event_base_free(base);
}

TestSuite(pg, .init = setup, .fini = teardown, .timeout = 30);

static void on_up(void *arg)
{
    (void)arg;
    ups++;
}

static orc_pg_t *connect_to(const char *url)
{
    orc_pg_options_t opt;
    orc_pg_options_defaults(&opt);
    opt.url = url;
    opt.dns = dns;
    opt.connect_timeout_ms = 300;
    opt.reconnect_min_ms = 50;
    opt.reconnect_max_ms = 200;
    opt.on_up = on_up;
    return orc_pg_new(base, &opt);
}

/* Runs the loop until COND or the deadline. */
#define RUN_UNTIL(cond, ms)                                                                                  \
    do {                                                                                                     \
        uint64_t until_ = orc_now_ms() + (ms);                                                               \
        while (!(cond) && orc_now_ms() < until_)                                                             \
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);                              \
    } while (0)

static void on_answer(void *arg, orc_pg_rc_t rc, const PGresult *res, const char *error)
{
    answer_t *a = arg;
    a->calls++;
    a->rc = rc;
    a->at_ms = orc_now_ms();
    snprintf(a->error, sizeof(a->error), "%s", error);
    a->value[0] = '\0';
    if (rc == ORC_PG_OK && PQntuples(res) > 0)
        snprintf(a->value, sizeof(a->value), "%s", PQgetvalue(res, 0, 0));
}

static void query(orc_pg_t *pg, const char *sql, int n, const char *const *v, int timeout_ms, answer_t *a)
{
    memset(a, 0, sizeof(*a));
    cr_assert_eq(orc_pg_query(pg, sql, n, v, timeout_ms, on_answer, a), ORC_OK, "not sent: %s", sql);
    cr_assert_eq(a->calls, 0, "the callback ran inside orc_pg_query");
    RUN_UNTIL(a->calls > 0, (uint64_t)timeout_ms + 2000);
    cr_assert_eq(a->calls, 1, "%s: callback ran %d times", sql, a->calls);
}

Test(pg, parameters_travel_as_data)
{
    orc_pg_t *pg = connect_to(getenv("ORC_TEST_DATABASE_URL"));
    answer_t a;
    RUN_UNTIL(orc_pg_idle(pg), 3000);
    cr_assert(orc_pg_idle(pg), "not connected: %s", orc_pg_status(pg).error);
    const char *v[] = {"'); DROP TABLE x; --", NULL};
    query(pg, "SELECT $1::text || coalesce($2, '<null>')", 2, v, 2000, &a);
    cr_assert_eq(a.rc, ORC_PG_OK, "%s", a.error);
    cr_assert_str_eq(a.value, "'); DROP TABLE x; --<null>");
    query(pg, "SELECT 1; SELECT 2", 0, NULL, 2000, &a); /* simple protocol: the last result */
    cr_assert_eq(a.rc, ORC_PG_OK, "%s", a.error);
    cr_assert_str_eq(a.value, "2");
    orc_pg_free(pg);
}

Test(pg, sql_error_keeps_the_connection)
{
    orc_pg_t *pg = connect_to(getenv("ORC_TEST_DATABASE_URL"));
    answer_t a;
    RUN_UNTIL(orc_pg_idle(pg), 3000);
    query(pg, "SELECT * FROM no_such_table", 0, NULL, 2000, &a);
    cr_assert_eq(a.rc, ORC_PG_SQL_ERROR);
    cr_assert_not_null(strstr(a.error, "no_such_table"), "%s", a.error);
    cr_assert(orc_pg_idle(pg));
    query(pg, "SELECT 'still here'", 0, NULL, 2000, &a);
    cr_assert_str_eq(a.value, "still here");
    cr_assert_eq(ups, 1);
    orc_pg_free(pg);
}

Test(pg, timeout_drops_and_reconnects)
{
    orc_pg_t *pg = connect_to(getenv("ORC_TEST_DATABASE_URL"));
    answer_t a;
    RUN_UNTIL(orc_pg_idle(pg), 3000);
    uint64_t t0 = orc_now_ms();
    query(pg, "SELECT pg_sleep(5)", 0, NULL, 200, &a);
    cr_assert_eq(a.rc, ORC_PG_TIMEOUT, "%s", orc_pg_rc_name(a.rc));
    cr_assert_lt(a.at_ms - t0, 400, "timed out after %llu ms", (unsigned long long)(a.at_ms - t0));
    cr_assert_not(orc_pg_connected(pg));
    RUN_UNTIL(orc_pg_idle(pg), 3000);
    cr_assert_eq(ups, 2, "no reconnection");
    query(pg, "SELECT 'again'", 0, NULL, 2000, &a);
    cr_assert_str_eq(a.value, "again");
    cr_assert_eq(orc_pg_status(pg).timeouts, 1);
    orc_pg_free(pg);
}

Test(pg, killed_backend_is_noticed_and_replaced)
{
    orc_pg_t *pg = connect_to(getenv("ORC_TEST_DATABASE_URL"));
    answer_t a;
    RUN_UNTIL(orc_pg_idle(pg), 3000);
    query(pg, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, 2000, &a);
    cr_assert_neq(a.rc, ORC_PG_OK);
    RUN_UNTIL(ups == 2 && orc_pg_idle(pg), 3000);
    cr_assert_eq(ups, 2, "no reconnection: %s", orc_pg_status(pg).error);
    query(pg, "SELECT 1", 0, NULL, 2000, &a);
    cr_assert_eq(a.rc, ORC_PG_OK);
    orc_pg_free(pg);
}

Test(pg, silent_server_hits_the_connect_timeout)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 16) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    char url[128];
    snprintf(url, sizeof(url), "postgresql://u:secret@127.0.0.1:%d/db?sslmode=disable", ntohs(sa.sin_port));
    orc_pg_t *pg = connect_to(url);
    answer_t a = {0};
    RUN_UNTIL(orc_pg_status(pg).connects >= 2, 2000);
    orc_pg_status_t s = orc_pg_status(pg);
    cr_assert_geq(s.connects, 2, "no second attempt after the connect timeout");
    cr_assert_not(s.connected);
    cr_assert_not_null(strstr(s.error, "within 300 ms"), "%s", s.error);
    cr_assert_null(strstr(s.error, "secret"));
    cr_assert_eq(orc_pg_query(pg, "SELECT 1", 0, NULL, 100, on_answer, &a), ORC_ERR);
    cr_assert_eq(a.calls, 0);
    orc_pg_free(pg);
    close(fd);
}

Test(pg, free_with_a_query_in_flight_reports_closed)
{
    orc_pg_t *pg = connect_to(getenv("ORC_TEST_DATABASE_URL"));
    answer_t a = {0};
    RUN_UNTIL(orc_pg_idle(pg), 3000);
    cr_assert_eq(orc_pg_query(pg, "SELECT pg_sleep(2)", 0, NULL, 5000, on_answer, &a), ORC_OK);
    cr_assert_eq(orc_pg_query(pg, "SELECT 1", 0, NULL, 5000, on_answer, &a), ORC_ERR, "two queries at once");
    orc_pg_free(pg);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(a.rc, ORC_PG_CLOSED);
}
