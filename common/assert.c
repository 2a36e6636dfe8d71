/*
 * assert.c - the failure of ORC_ASSERT and ORC_CHECK (see assert.h).
 *
 * orc_log formats into a stack buffer and writes the line with one
 * write(2): it takes no lock and allocates nothing, so it can still speak
 * from a process whose heap or state is damaged.
 */
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

void orc_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    while (strncmp(file, "../", 3) == 0) /* out-of-tree builds name sources from the build directory */
        file += 3;
    orc_log_alert("%s:%d: %s: invariant violated: %s", file, line, func, expr);
    abort();
}
