/*
 * test_assert.c - run-time checked invariants (common/assert.h): ORC_CHECK
 * aborts in every build, ORC_ASSERT aborts where configure enabled it and
 * does not evaluate its argument elsewhere, the failure's log line.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/orc.h"

/* Expected failures would log alert lines: keep the test output clean. */
static void quiet(void)
{
    cr_assert_eq(orc_log_open("/dev/null"), ORC_OK);
}

TestSuite(assert, .timeout = 10);

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
    char path[] = "/tmp/orc-assert-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
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
