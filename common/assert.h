/*
 * assert.h - invariants checked at run time.
 *
 * ORC_ASSERT(cond) checks an invariant in builds configured with
 * --enable-asserts, --enable-debug or --enable-asan (configure then
 * passes -DORC_ASSERTS=1).  In other builds it compiles to nothing: COND
 * is still type-checked but never evaluated, so it must have no side
 * effects.  It is cheap enough for the request path of a checked build.
 * A helper function called only from ORC_ASSERT is marked
 * __attribute__((unused)): without assertions nothing calls it.
 *
 * ORC_CHECK(cond) is checked in every build.  It is kept for the few
 * cheap checks whose failure would corrupt what other processes share or
 * lose data: an index into shared memory, the spool's checkpoint.
 *
 * A failed check logs one line at alert level through the error log
 * (file:line, function and the expression) and calls abort(): a worker is
 * replaced by the master like any crashed worker.  Neither macro is for
 * errors that can happen (bad input, a failed system call, an unreachable
 * server): those are handled where they occur.
 */
#ifndef ORC_ASSERT_H
#define ORC_ASSERT_H

#ifndef ORC_ASSERTS
#define ORC_ASSERTS 0
#endif

/* Logs the failed check EXPR at FILE:LINE in FUNC, then aborts. */
__attribute__((noreturn, cold)) void orc_assert_fail(const char *expr, const char *file, int line,
                                                     const char *func);

#define ORC_CHECK_EXPR_(cond, text)                                                                          \
    (__builtin_expect(!!(cond), 1) ? (void)0 : orc_assert_fail(text, __FILE__, __LINE__, __func__))

#define ORC_CHECK(cond) ORC_CHECK_EXPR_(cond, #cond)

#if ORC_ASSERTS
#define ORC_ASSERT(cond) ORC_CHECK_EXPR_(cond, #cond)
#else
#define ORC_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

#endif
