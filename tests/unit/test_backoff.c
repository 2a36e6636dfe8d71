/*
 * test_backoff.c - respawn delay (50 ms doubling to 10 s, reset after a
 * stable run) and crash-loop detection over a sliding window.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "common/backoff.h"
#include "common/orc.h"

TestSuite(backoff, .timeout = 10);

static orc_backoff_t b;

static void fresh(void)
{
    memset(&b, 0xA5, sizeof(b));
    orc_backoff_reset(&b);
}

Test(backoff, first_crash_is_base)
{
    fresh();
    cr_assert_eq(orc_backoff_crash(&b, 1000, 0), ORC_BACKOFF_BASE_MS);
    cr_assert_eq(ORC_BACKOFF_BASE_MS, 50);
}

Test(backoff, doubles_then_caps)
{
    static const uint64_t expect[] = {50, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000, 10000};
    fresh();
    uint64_t now = 1000000;
    for (size_t i = 0; i < ORC_ARRAY_LEN(expect); i++) {
        now += 100000; /* spread out: no crash loop involved */
        uint64_t d = orc_backoff_crash(&b, now, 100);
        cr_assert_eq(d, expect[i], "crash %zu: delay %llu, expected %llu", i + 1, (unsigned long long)d,
                     (unsigned long long)expect[i]);
    }
}

Test(backoff, cap_holds_for_many_crashes)
{
    fresh();
    uint64_t prev = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t d = orc_backoff_crash(&b, (uint64_t)i * 10, 1);
        cr_assert_leq(d, ORC_BACKOFF_MAX_MS, "crash %d: delay %llu above the cap", i, (unsigned long long)d);
        cr_assert_geq(d, prev, "crash %d: delay went down without a stable run", i);
        prev = d;
    }
    cr_assert_eq(prev, ORC_BACKOFF_MAX_MS);
}

Test(backoff, stable_run_restarts_at_base)
{
    fresh();
    orc_backoff_crash(&b, 1000, 10);
    orc_backoff_crash(&b, 2000, 10);
    orc_backoff_crash(&b, 3000, 10);
    cr_assert_eq(orc_backoff_crash(&b, 4000, 10), 400);
    /* a worker that stayed up ORC_BACKOFF_STABLE_MS */
    cr_assert_eq(orc_backoff_crash(&b, 20000, ORC_BACKOFF_STABLE_MS), ORC_BACKOFF_BASE_MS);
    cr_assert_eq(orc_backoff_crash(&b, 20100, 50), 2 * ORC_BACKOFF_BASE_MS, "growth resumes after the reset");
    cr_assert_eq(orc_backoff_crash(&b, 60000, ORC_BACKOFF_STABLE_MS + 12345), ORC_BACKOFF_BASE_MS);
}

Test(backoff, just_short_of_stable_keeps_growing)
{
    fresh();
    cr_assert_eq(orc_backoff_crash(&b, 1000, 0), 50);
    cr_assert_eq(orc_backoff_crash(&b, 20000, ORC_BACKOFF_STABLE_MS - 1), 100);
}

Test(backoff, crashloop_after_enough_quick_crashes)
{
    fresh();
    uint64_t now = 500000;
    for (int i = 0; i < ORC_CRASHLOOP_CRASHES - 1; i++) {
        orc_backoff_crash(&b, now, 10);
        cr_assert_not(orc_backoff_crashloop(&b, now), "crash loop after only %d crashes", i + 1);
        now += 1000;
    }
    orc_backoff_crash(&b, now, 10);
    cr_assert(orc_backoff_crashloop(&b, now));
}

Test(backoff, crashloop_window_boundary)
{
    fresh();
    /* crashes at 1000, 2000, ... 5000: the oldest of the last five is 1000 */
    for (int i = 1; i <= ORC_CRASHLOOP_CRASHES; i++)
        orc_backoff_crash(&b, (uint64_t)i * 1000, 10);
    cr_assert(orc_backoff_crashloop(&b, 1000 + ORC_CRASHLOOP_WINDOW_MS));
    cr_assert_not(orc_backoff_crashloop(&b, 1000 + ORC_CRASHLOOP_WINDOW_MS + 1));
}

Test(backoff, no_crashloop_when_spread_out)
{
    fresh();
    uint64_t now = 100000;
    uint64_t gap = ORC_CRASHLOOP_WINDOW_MS / (ORC_CRASHLOOP_CRASHES - 1) + 1;
    for (int i = 0; i < 4 * ORC_CRASHLOOP_CRASHES; i++) {
        orc_backoff_crash(&b, now, 100);
        cr_assert_not(orc_backoff_crashloop(&b, now), "crash %d of crashes %llu ms apart", i + 1,
                      (unsigned long long)gap);
        now += gap;
    }
}

Test(backoff, crashloop_uses_only_recent_crashes)
{
    fresh();
    uint64_t now = 0;
    for (int i = 0; i < 10; i++) {
        now += 60000;
        orc_backoff_crash(&b, now, 100);
    }
    cr_assert_not(orc_backoff_crashloop(&b, now));
    for (int i = 0; i < ORC_CRASHLOOP_CRASHES; i++) {
        now += 100;
        orc_backoff_crash(&b, now, 100);
    }
    cr_assert(orc_backoff_crashloop(&b, now), "a burst after old crashes is a crash loop");
}

Test(backoff, reset_forgets_everything)
{
    fresh();
    for (int i = 0; i < 2 * ORC_CRASHLOOP_CRASHES; i++)
        orc_backoff_crash(&b, 1000 + (uint64_t)i, 0);
    cr_assert(orc_backoff_crashloop(&b, 1100));
    orc_backoff_reset(&b);
    cr_assert_eq(b.failures, 0);
    cr_assert_eq(b.nrecent, 0);
    cr_assert_not(orc_backoff_crashloop(&b, 1100));
    cr_assert_eq(orc_backoff_crash(&b, 1200, 0), ORC_BACKOFF_BASE_MS);
    cr_assert_not(orc_backoff_crashloop(&b, 1200));
}
