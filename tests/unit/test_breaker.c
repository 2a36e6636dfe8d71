/*
 * test_breaker.c - the shared circuit breaker with a fake clock: opening by
 * consecutive failures and by window rate, cooldown growth and cap, the
 * single half-open probe (also among forked processes and after its owner
 * is killed), Retry-After, and that late failures never extend a cooldown.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/breaker.h"
#include "common/orc.h"

TestSuite(breaker, .timeout = 10);

#define T0 1000000ULL /* fake clock start, ms */

static orc_breaker_t b;
static orc_breaker_config_t cfg;

static void fresh(void)
{
    memset(&b, 0xA5, sizeof(b));
    orc_breaker_reset(&b);
    orc_breaker_config_defaults(&cfg);
}

static orc_breaker_state_t state(uint64_t *until, uint32_t *openings)
{
    return orc_breaker_state(&b, until, openings);
}

/* Opens a closed breaker at NOW with consecutive failures. */
static void open_at(orc_breaker_t *br, uint64_t now)
{
    for (uint32_t i = 0; i < cfg.failure_threshold; i++)
        orc_breaker_failure(br, &cfg, false, now, 100, 0);
}

static void assert_open(uint64_t until, uint32_t openings)
{
    uint64_t u = 0;
    uint32_t o = 0;
    cr_assert_eq(state(&u, &o), ORC_BREAKER_OPEN);
    cr_assert_eq(u, until, "open until %llu, expected %llu", (unsigned long long)u,
                 (unsigned long long)until);
    cr_assert_eq(o, openings, "openings %u, expected %u", o, openings);
}

Test(breaker, config_defaults)
{
    orc_breaker_config_t c;
    memset(&c, 0xFF, sizeof(c));
    orc_breaker_config_defaults(&c);
    cr_assert_eq(c.failure_threshold, 5);
    cr_assert_float_eq(c.failure_rate, 0.5, 1e-12);
    cr_assert_eq(c.min_calls, 20);
    cr_assert_eq(c.cooldown_ms, 5000);
    cr_assert_eq(c.cooldown_max_ms, 60000);
    cr_assert_eq(c.probe_timeout_ms, 30000);
}

Test(breaker, zeroed_memory_is_closed_and_admits)
{
    orc_breaker_t z;
    memset(&z, 0, sizeof(z));
    orc_breaker_config_defaults(&cfg);
    cr_assert_eq(orc_breaker_state(&z, NULL, NULL), ORC_BREAKER_CLOSED);
    cr_assert_eq(orc_breaker_admit(&z, &cfg, 0), ORC_ADMIT_YES);
    cr_assert_eq(orc_breaker_admit(&z, &cfg, T0), ORC_ADMIT_YES);
}

Test(breaker, state_names)
{
    cr_assert_str_eq(orc_breaker_state_name(ORC_BREAKER_CLOSED), "closed");
    cr_assert_str_eq(orc_breaker_state_name(ORC_BREAKER_OPEN), "open");
    cr_assert_str_eq(orc_breaker_state_name(ORC_BREAKER_HALF_OPEN), "half_open");
    cr_assert_str_eq(orc_breaker_state_name((orc_breaker_state_t)3), "unknown");
}

Test(breaker, opens_after_threshold_consecutive_failures)
{
    fresh();
    for (int i = 0; i < 4; i++) {
        orc_breaker_failure(&b, &cfg, false, T0, 100, (uint32_t)i + 1);
        cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED, "opened after %d failures", i + 1);
        cr_assert_eq(orc_breaker_admit(&b, &cfg, T0), ORC_ADMIT_YES);
    }
    cr_assert_eq(b.consecutive_failures, 4);
    orc_breaker_failure(&b, &cfg, false, T0 + 7, 100, 5);
    assert_open(T0 + 7 + 5000, 1);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 7), ORC_ADMIT_NO);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 7 + 4999), ORC_ADMIT_NO);
}

Test(breaker, success_resets_consecutive_failures)
{
    fresh();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++)
            orc_breaker_failure(&b, &cfg, false, T0, 100, 4);
        orc_breaker_success(&b, false, T0);
        cr_assert_eq(b.consecutive_failures, 0);
        cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    }
}

Test(breaker, opens_by_window_rate_with_min_calls)
{
    fresh();
    orc_breaker_failure(&b, &cfg, false, T0, 20, 9); /* 45 % */
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    orc_breaker_success(&b, false, T0);
    orc_breaker_failure(&b, &cfg, false, T0, 20, 10); /* 50 % of 20 */
    assert_open(T0 + 5000, 1);
}

Test(breaker, rate_ignored_below_min_calls)
{
    fresh();
    orc_breaker_failure(&b, &cfg, false, T0, 19, 19); /* 100 % but only 19 calls */
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    orc_breaker_success(&b, false, T0);
    orc_breaker_failure(&b, &cfg, false, T0, 0, 0);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    cfg.min_calls = 10;
    orc_breaker_success(&b, false, T0);
    orc_breaker_failure(&b, &cfg, false, T0, 10, 6);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_OPEN);
}

Test(breaker, cooldown_doubles_per_failed_probe_and_caps)
{
    static const uint64_t expect[] = {5000, 10000, 20000, 40000, 60000, 60000, 60000};
    fresh();
    uint64_t now = T0;
    open_at(&b, now);
    for (size_t i = 0; i < ORC_ARRAY_LEN(expect); i++) {
        uint32_t openings = (uint32_t)i + 1;
        assert_open(now + expect[i], openings);
        now += expect[i];
        cr_assert_eq(orc_breaker_admit(&b, &cfg, now - 1), ORC_ADMIT_NO);
        cr_assert_eq(orc_breaker_admit(&b, &cfg, now), ORC_ADMIT_PROBE, "opening %u: no probe", openings);
        cr_assert_eq(state(NULL, NULL), ORC_BREAKER_HALF_OPEN);
        now += 3;
        orc_breaker_failure(&b, &cfg, true, now, 1, 1);
    }
}

Test(breaker, openings_saturate_and_cap_holds)
{
    fresh();
    uint64_t now = T0, until = 0;
    uint32_t openings = 0;
    open_at(&b, now);
    for (int i = 0; i < 200; i++) {
        state(&until, &openings);
        now = until;
        cr_assert_eq(orc_breaker_admit(&b, &cfg, now), ORC_ADMIT_PROBE);
        orc_breaker_failure(&b, &cfg, true, now, 1, 1);
    }
    assert_open(now + 60000, 63);
}

Test(breaker, probe_success_closes_and_resets)
{
    fresh();
    open_at(&b, T0);
    orc_breaker_failure(&b, &cfg, false, T0, 100, 100); /* late failure, ignored */
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
    orc_breaker_failure(&b, &cfg, true, T0 + 5001, 1, 1); /* second opening: 10 s */
    assert_open(T0 + 5001 + 10000, 2);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 15001), ORC_ADMIT_PROBE);
    orc_breaker_success(&b, true, T0 + 15002);
    uint32_t openings = 99;
    cr_assert_eq(state(NULL, &openings), ORC_BREAKER_CLOSED);
    cr_assert_eq(openings, 0);
    cr_assert_eq(b.consecutive_failures, 0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 15002), ORC_ADMIT_YES);
    /* the next opening starts again at the base cooldown */
    open_at(&b, T0 + 20000);
    assert_open(T0 + 25000, 1);
}

Test(breaker, exactly_one_probe_among_many_admits)
{
    fresh();
    open_at(&b, T0);
    int probes = 0;
    for (int i = 0; i < 10000; i++)
        probes += orc_breaker_admit(&b, &cfg, T0 + 5000) == ORC_ADMIT_PROBE;
    cr_assert_eq(probes, 1);
    uint64_t lease = 0;
    cr_assert_eq(state(&lease, NULL), ORC_BREAKER_HALF_OPEN);
    cr_assert_eq(lease, T0 + 5000 + 30000);
    cr_assert_eq(b.probe_deadline_ms, lease);
    for (uint64_t t = T0 + 5000; t < lease; t += 997)
        cr_assert_eq(orc_breaker_admit(&b, &cfg, t), ORC_ADMIT_NO);
}

Test(breaker, non_probe_outcomes_while_half_open_change_nothing)
{
    fresh();
    open_at(&b, T0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
    orc_breaker_failure(&b, &cfg, false, T0 + 5001, 100, 100);
    orc_breaker_success(&b, false, T0 + 5002);
    uint64_t lease = 0;
    uint32_t openings = 0;
    cr_assert_eq(state(&lease, &openings), ORC_BREAKER_HALF_OPEN);
    cr_assert_eq(lease, T0 + 35000);
    cr_assert_eq(openings, 1);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5003), ORC_ADMIT_NO);
}

Test(breaker, expired_probe_lease_is_taken_over)
{
    fresh();
    open_at(&b, T0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 34999), ORC_ADMIT_NO);
    int probes = 0;
    for (int i = 0; i < 1000; i++)
        probes += orc_breaker_admit(&b, &cfg, T0 + 35000) == ORC_ADMIT_PROBE;
    cr_assert_eq(probes, 1);
    uint64_t lease = 0;
    cr_assert_eq(state(&lease, NULL), ORC_BREAKER_HALF_OPEN);
    cr_assert_eq(lease, T0 + 65000);
    orc_breaker_success(&b, true, T0 + 35010);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
}

Test(breaker, abandoned_probe_lets_another_probe_at_once)
{
    fresh();
    open_at(&b, T0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
    orc_breaker_probe_abandoned(&b);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_HALF_OPEN);
    int probes = 0;
    for (int i = 0; i < 100; i++)
        probes += orc_breaker_admit(&b, &cfg, T0 + 5001) == ORC_ADMIT_PROBE;
    cr_assert_eq(probes, 1);
    /* abandoning when nothing probes changes nothing */
    orc_breaker_success(&b, true, T0 + 5002);
    orc_breaker_probe_abandoned(&b);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    open_at(&b, T0 + 6000);
    orc_breaker_probe_abandoned(&b);
    assert_open(T0 + 11000, 1);
}

Test(breaker, retry_after_honoured_when_closed_and_keeps_max)
{
    fresh();
    orc_breaker_retry_after(&b, T0 + 3000);
    orc_breaker_retry_after(&b, T0 + 1000); /* earlier: ignored */
    cr_assert_eq(b.not_before_ms, T0 + 3000);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0), ORC_ADMIT_NO);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 2999), ORC_ADMIT_NO);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 3000), ORC_ADMIT_YES);
    orc_breaker_retry_after(&b, T0 + 9000);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 8999), ORC_ADMIT_NO);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 9000), ORC_ADMIT_YES);
}

Test(breaker, retry_after_delays_the_probe)
{
    fresh();
    open_at(&b, T0);
    orc_breaker_retry_after(&b, T0 + 8000);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_NO);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_OPEN);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 8000), ORC_ADMIT_PROBE);
}

Test(breaker, failures_while_open_do_not_extend_the_cooldown)
{
    fresh();
    open_at(&b, T0);
    for (int i = 0; i < 50; i++)
        orc_breaker_failure(&b, &cfg, false, T0 + 100 + (uint64_t)i, 100, 100);
    assert_open(T0 + 5000, 1);
    /* a probe flag on a report while open (a stale probe) does not count either */
    orc_breaker_failure(&b, &cfg, true, T0 + 200, 100, 100);
    assert_open(T0 + 5000, 1);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
}

Test(breaker, stale_probe_report_after_close_counts_as_a_plain_failure)
{
    fresh();
    open_at(&b, T0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
    orc_breaker_success(&b, true, T0 + 5001);
    orc_breaker_failure(&b, &cfg, true, T0 + 5002, 2, 1);
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
    cr_assert_eq(b.consecutive_failures, 1);
    orc_breaker_success(&b, true, T0 + 5003); /* success of a stale probe while closed: harmless */
    cr_assert_eq(state(NULL, NULL), ORC_BREAKER_CLOSED);
}

Test(breaker, reset_clears_everything)
{
    fresh();
    open_at(&b, T0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5000), ORC_ADMIT_PROBE);
    orc_breaker_failure(&b, &cfg, true, T0 + 5001, 1, 1);
    orc_breaker_retry_after(&b, T0 + 999999);
    orc_breaker_reset(&b);
    uint64_t until = 1;
    uint32_t openings = 1;
    cr_assert_eq(state(&until, &openings), ORC_BREAKER_CLOSED);
    cr_assert_eq(until, 0);
    cr_assert_eq(openings, 0);
    cr_assert_eq(b.consecutive_failures, 0);
    cr_assert_eq(b.probe_deadline_ms, 0);
    cr_assert_eq(b.not_before_ms, 0);
    cr_assert_eq(orc_breaker_admit(&b, &cfg, T0 + 5002), ORC_ADMIT_YES);
}

/* ---- across processes -------------------------------------------------- */

#define NCHILDREN 8

typedef struct {
    orc_breaker_t br;
    _Atomic int probes; /* PROBE answers, all processes */
    _Atomic int ready;
    _Atomic int go;
} shared_t;

static shared_t *shared_map(void)
{
    shared_t *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(s, MAP_FAILED);
    memset(s, 0, sizeof(*s));
    orc_breaker_reset(&s->br);
    return s;
}

static void child_admit_loop(shared_t *s, uint64_t now)
{
    atomic_fetch_add(&s->ready, 1);
    while (!atomic_load(&s->go))
        ;
    for (int i = 0; i < 20000; i++)
        if (orc_breaker_admit(&s->br, &cfg, now) == ORC_ADMIT_PROBE)
            atomic_fetch_add(&s->probes, 1);
    _exit(0);
}

static void wait_children(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int status = 0;
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", i);
    }
}

Test(breaker, one_probe_among_forked_processes)
{
    orc_breaker_config_defaults(&cfg);
    shared_t *s = shared_map();
    for (int round = 0; round < 10; round++) {
        uint64_t t = T0 + (uint64_t)round * 100000;
        orc_breaker_reset(&s->br);
        atomic_store(&s->probes, 0);
        atomic_store(&s->ready, 0);
        atomic_store(&s->go, 0);
        open_at(&s->br, t);
        pid_t pids[NCHILDREN];
        for (int i = 0; i < NCHILDREN; i++) {
            pids[i] = fork();
            cr_assert_geq(pids[i], 0);
            if (pids[i] == 0)
                child_admit_loop(s, t + 5000);
        }
        while (atomic_load(&s->ready) < NCHILDREN)
            ;
        atomic_store(&s->go, 1);
        wait_children(pids, NCHILDREN);
        cr_assert_eq(atomic_load(&s->probes), 1, "round %d: %d probes", round, atomic_load(&s->probes));
        cr_assert_eq(orc_breaker_state(&s->br, NULL, NULL), ORC_BREAKER_HALF_OPEN);
    }
    munmap(s, sizeof(*s));
}

/* A child that takes the probe and is then killed: after the lease another
 * process probes. */
Test(breaker, probe_of_a_killed_process_is_taken_over)
{
    orc_breaker_config_defaults(&cfg);
    shared_t *s = shared_map();
    open_at(&s->br, T0);
    pid_t holder = fork();
    cr_assert_geq(holder, 0);
    if (holder == 0) {
        if (orc_breaker_admit(&s->br, &cfg, T0 + 5000) == ORC_ADMIT_PROBE)
            atomic_fetch_add(&s->probes, 1);
        atomic_store(&s->ready, 1);
        for (;;)
            pause();
    }
    while (!atomic_load(&s->ready))
        ;
    cr_assert_eq(atomic_load(&s->probes), 1);
    cr_assert_eq(kill(holder, SIGKILL), 0);
    int status = 0;
    cr_assert_eq(waitpid(holder, &status, 0), holder);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* Still leased: nobody probes before T0 + 35000. */
    cr_assert_eq(orc_breaker_admit(&s->br, &cfg, T0 + 34999), ORC_ADMIT_NO);
    pid_t pids[NCHILDREN];
    for (int i = 0; i < NCHILDREN; i++) {
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0)
            child_admit_loop(s, T0 + 35000);
    }
    while (atomic_load(&s->ready) < 1 + NCHILDREN)
        ;
    atomic_store(&s->go, 1);
    wait_children(pids, NCHILDREN);
    cr_assert_eq(atomic_load(&s->probes), 2);
    uint64_t lease = 0;
    cr_assert_eq(orc_breaker_state(&s->br, &lease, NULL), ORC_BREAKER_HALF_OPEN);
    cr_assert_eq(lease, T0 + 65000);
    munmap(s, sizeof(*s));
}
