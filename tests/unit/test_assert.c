/*
 * test_assert.c - run-time checked invariants (common/assert.h): ORC_CHECK
 * aborts in every build, ORC_ASSERT aborts where configure enabled it and
 * does not evaluate its argument elsewhere, the failure's log line; then,
 * through the public interfaces, the invariants placed in shared memory
 * (slot ownership, totals that never decrease), the breaker's word, the
 * spool's checkpoint and the DWA order.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/breaker.h"
#include "common/log.h"
#include "common/orc.h"
#include "common/shm.h"
#include "worker/llm/dwa.h"
#include "tests/unit/helpers.h"
#include "worker/reqlog/spool.h"

/* The expectation of a test that breaks an ORC_ASSERT invariant. */
#if ORC_ASSERTS
#define ABORTS_WITH_ASSERTS .signal = SIGABRT
#else
#define ABORTS_WITH_ASSERTS .signal = 0
#endif

/* Expected failures would log alert lines: keep the test output clean. */
static void quiet(void)
{
    cr_assert_eq(orc_log_open("/dev/null"), ORC_OK);
}

TestSuite(assert, .timeout = 10);
TestSuite(invariant, .init = quiet, .timeout = 10);

/* ---- the macros ---------------------------------------------------------- */

Test(assert, check_passes_and_evaluates_once)
{
    int calls = 0;
    ORC_CHECK(++calls == 1);
    cr_assert_eq(calls, 1);
}

Test(assert, check_aborts, .init = quiet, .signal = SIGABRT)
{
    volatile int zero = 0;
    ORC_CHECK(zero == 1);
}

Test(assert, assert_evaluates_only_when_enabled)
{
    int calls = 0;
    ORC_ASSERT(++calls == 1);
    cr_assert_eq(calls, ORC_ASSERTS ? 1 : 0);
}

#if ORC_ASSERTS
Test(assert, assert_aborts_when_enabled, .init = quiet, .signal = SIGABRT)
{
    volatile int zero = 0;
    ORC_ASSERT(zero == 1);
}
#else
__attribute__((unused)) static bool evaluated(void)
{
    abort();
}

Test(assert, assert_is_not_evaluated_when_disabled)
{
    int *null = NULL;
    ORC_ASSERT(*null == 1 && evaluated());
}
#endif

/* Returns the line of its check, which fails when FAIL. */
static int check_answer(bool fail)
{
    volatile int answer = fail ? 41 : 42;
    int line = __LINE__ + 1;
    ORC_CHECK(answer == 42);
    return line;
}

/* The child breaks a check with its error log in a file; the file then
 * holds one alert line with the place, the function and the expression. */
Test(assert, failure_logs_one_alert_line)
{
    char path[256];
    close(test_temp_file(path, sizeof(path), "assert-log"));
    int line = check_answer(false);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        orc_log_open(path);
        check_answer(true);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
    char text[1024] = "", where[64];
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    snprintf(where, sizeof(where), "tests/unit/test_assert.c:%d: ", line);
    cr_assert_not_null(strstr(text, "[alert]"), "%s", text);
    cr_assert_not_null(strstr(text, where), "%s", text);
    cr_assert_null(strstr(text, "../"), "%s", text);
    cr_assert_not_null(strstr(text, ": check_answer: "), "%s", text);
    cr_assert_not_null(strstr(text, "answer == 42"), "%s", text);
    cr_assert_eq(strchr(text, '\n'), text + n - 1, "one line: %s", text);
}

/* ---- shared memory ------------------------------------------------------- */

Test(invariant, retiring_a_slot_out_of_range_aborts, .signal = SIGABRT)
{
    orc_shm_t *shm = orc_shm_create(2);
    cr_assert_not_null(shm);
    orc_shm_slot_retire(shm, 2);
}

Test(invariant, retiring_a_free_slot_aborts, ABORTS_WITH_ASSERTS)
{
    orc_shm_t *shm = orc_shm_create(2);
    cr_assert_not_null(shm);
    orc_shm_slot_retire(shm, 1); /* never claimed, or retired already */
    cr_assert_eq(shm->slots[1].state, ORC_SLOT_FREE);
    orc_shm_destroy(shm);
}

Test(invariant, claiming_a_free_slot_with_a_pid_aborts, ABORTS_WITH_ASSERTS)
{
    orc_shm_t *shm = orc_shm_create(2);
    cr_assert_not_null(shm);
    atomic_store(&shm->slots[0].pid, 4242); /* a process wrote into a slot it does not own */
    cr_assert_eq(orc_shm_slot_claim(shm, 1, 0), 0);
    orc_shm_destroy(shm);
}

Test(invariant, a_total_that_goes_backwards_aborts, ABORTS_WITH_ASSERTS)
{
    static orc_counters_t sum;
    orc_shm_t *shm = orc_shm_create(2);
    cr_assert_not_null(shm);
    int slot = orc_shm_slot_claim(shm, 1, 0);
    orc_counter_add(&shm->slots[slot].counters.bytes_out, 5);
    orc_shm_sum(shm, &sum);
    orc_counter_add(&shm->slots[slot].counters.bytes_out, 1);
    orc_shm_sum(shm, &sum);
    cr_assert_eq(sum.bytes_out, 6);
    atomic_store(&shm->slots[slot].counters.bytes_out, 3); /* a counter written, not added to */
    orc_shm_sum(shm, &sum);
    cr_assert_eq(sum.bytes_out, 3);
    orc_shm_destroy(shm);
}

Test(invariant, a_new_segment_starts_a_new_history)
{
    static orc_counters_t sum;
    orc_shm_t *shm = orc_shm_create(1);
    cr_assert_not_null(shm);
    orc_counter_add(&shm->slots[0].counters.bytes_out, 5);
    orc_shm_sum(shm, &sum);
    orc_shm_destroy(shm);
    shm = orc_shm_create(1); /* possibly at the same address, with totals at 0 */
    cr_assert_not_null(shm);
    orc_shm_sum(shm, &sum);
    cr_assert_eq(sum.bytes_out, 0);
    orc_shm_destroy(shm);
}

/* ---- breaker word --------------------------------------------------------- */

/* The layout of breaker.c: state in bits 0..1, openings in 2..7, time above. */
#define WORD(state, openings, time) ((uint64_t)(state) | (uint64_t)(openings) << 2 | (uint64_t)(time) << 8)

static orc_breaker_t breaker;
static orc_breaker_config_t breaker_cfg;

static orc_admit_t admit_with_word(uint64_t word)
{
    orc_breaker_reset(&breaker);
    orc_breaker_config_defaults(&breaker_cfg);
    atomic_store(&breaker.word, word);
    return orc_breaker_admit(&breaker, &breaker_cfg, 1000000);
}

Test(invariant, breaker_legal_words_pass)
{
    cr_assert_eq(admit_with_word(WORD(ORC_BREAKER_CLOSED, 0, 0)), ORC_ADMIT_YES);
    cr_assert_eq(admit_with_word(WORD(ORC_BREAKER_OPEN, 1, 999000)), ORC_ADMIT_PROBE);
    cr_assert_eq(admit_with_word(WORD(ORC_BREAKER_HALF_OPEN, 63, 0)), ORC_ADMIT_PROBE);
    orc_breaker_success(&breaker, true, 1000000);
    cr_assert_eq(orc_breaker_state(&breaker, NULL, NULL), ORC_BREAKER_CLOSED);
}

Test(invariant, breaker_word_in_no_state_aborts, ABORTS_WITH_ASSERTS)
{
    cr_assert_eq(admit_with_word(WORD(3, 1, 0)), ORC_ADMIT_YES); /* read as closed */
}

Test(invariant, breaker_closed_word_with_a_time_aborts, ABORTS_WITH_ASSERTS)
{
    cr_assert_eq(admit_with_word(WORD(ORC_BREAKER_CLOSED, 0, 5000)), ORC_ADMIT_YES);
}

/* Open with no opening: no transition produces it. */
Test(invariant, breaker_open_word_without_openings_aborts, ABORTS_WITH_ASSERTS)
{
    cr_assert_eq(admit_with_word(WORD(ORC_BREAKER_OPEN, 0, 0)), ORC_ADMIT_PROBE);
}

/* ---- spool checkpoint ------------------------------------------------------ */

static char spool_dir[256];

/* A spool file already unlinked, so a test that aborts leaves nothing. */
static orc_spool_t *spool_with_records(int n)
{
    test_temp_dir(spool_dir, sizeof(spool_dir), "assert-spool");
    orc_spool_t *s = orc_spool_create(spool_dir, 0, false);
    cr_assert_not_null(s);
    cr_assert_eq(unlink(orc_spool_path(s)), 0);
    cr_assert_eq(rmdir(spool_dir), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(orc_spool_append(s, "record", 6), ORC_OK);
    return s;
}

static void spool_done(orc_spool_t *s)
{
    orc_spool_close(s, false);
}

Test(invariant, spool_checkpoint_moves_forward_and_back_to_the_header_on_compaction)
{
    orc_spool_t *s = spool_with_records(2);
    uint64_t end = orc_spool_end(s);
    cr_assert_eq(orc_spool_set_checkpoint(s, end - ORC_SPOOL_RECORD_HEAD - 6), ORC_OK);
    cr_assert_eq(orc_spool_set_checkpoint(s, end), ORC_OK);
    cr_assert_eq(orc_spool_set_checkpoint(s, end), ORC_OK);
    cr_assert_eq(orc_spool_compact(s), ORC_OK);
    cr_assert_eq(orc_spool_checkpoint(s), ORC_SPOOL_HEADER);
    spool_done(s);
}

Test(invariant, spool_checkpoint_moved_backwards_aborts, ABORTS_WITH_ASSERTS)
{
    orc_spool_t *s = spool_with_records(2);
    cr_assert_eq(orc_spool_set_checkpoint(s, orc_spool_end(s)), ORC_OK);
    cr_assert_eq(orc_spool_set_checkpoint(s, ORC_SPOOL_HEADER), ORC_OK); /* would ship the records again */
    spool_done(s);
}

Test(invariant, spool_checkpoint_past_the_end_aborts, .signal = SIGABRT)
{
    orc_spool_t *s = spool_with_records(1);
    orc_spool_set_checkpoint(s, orc_spool_end(s) + 1);
}

Test(invariant, spool_checkpoint_inside_the_header_aborts, .signal = SIGABRT)
{
    orc_spool_t *s = spool_with_records(1);
    orc_spool_set_checkpoint(s, ORC_SPOOL_HEADER - 1);
}

/* ---- DWA order --------------------------------------------------------------- */

static uint64_t counter_rng(void *arg)
{
    uint64_t *x = arg;
    return *x += 0x9e3779b97f4a7c15ULL;
}

Test(invariant, dwa_order_of_too_many_candidates_aborts, ABORTS_WITH_ASSERTS)
{
    enum { N = ORC_DWA_CANDIDATES + 1 };
    orc_dwa_input_t in[N];
    double score[N];
    int order[N];
    uint64_t seed = 1;
    for (int i = 0; i < N; i++) {
        in[i] = (orc_dwa_input_t){.available = true, .success_rate = 1};
        score[i] = 1;
    }
    cr_assert_eq(orc_dwa_order(in, score, N, ORC_DWA_RANDOM, 0, counter_rng, &seed, 0, order), N);
}
