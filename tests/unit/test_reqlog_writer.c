/*
 * test_reqlog_writer.c - the request-log writer adopts the spool files that
 * dead workers left in the spool directory, at start and on its periodic
 * scan, except once its worker drains (a draining worker must not take
 * on more to ship before it exits).
 *
 * No database is needed: the writer's connection points at a closed port
 * and there is no pool, so nothing is shipped and an adopted file stays
 * adopted, which its status shows.
 */
#include <criterion/criterion.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"
#include "common/orc.h"
#include "common/shm.h"
#include "tests/unit/helpers.h"
#include "worker/reqlog/reqlog_writer.h"
#include "worker/reqlog/spool.h"

#define SCAN_WAIT_MS 2300 /* the writer scans the directory every 2 s */

static char dir[64];
static struct event_base *base;
static orc_config_t *cfg;
static orc_shm_t *shm;

static void setup(void)
{
    char err[512];
    test_temp_dir(dir, sizeof(dir), "writer");
    setenv("DATABASE_URL", "postgresql://orchesity@127.0.0.1:1/orchesity", 1); /* refused */
    setenv("REQUEST_LOG_SPOOL_DIR", dir, 1);
    cfg = orc_config_load(NULL, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    base = event_base_new();
    shm = orc_shm_create(1);
    cr_assert(base != NULL && shm != NULL);
}

static void teardown(void)
{
    char cmd[128];
    orc_shm_destroy(shm);
    event_base_free(base);
    orc_config_free(cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(reqlog_writer, .init = setup, .fini = teardown, .timeout = 20);

static orc_reqlog_writer_t *writer_new(void)
{
    orc_reqlog_env_t env = {.base = base, .cfg = cfg, .shm = shm, .slot = &shm->slots[0], .db = NULL};
    orc_reqlog_writer_t *wr = orc_reqlog_writer_new(&env, NULL);
    cr_assert_not_null(wr);
    return wr;
}

/* A spool file with one record whose writer is gone (its lock released). */
static void leave_orphan_file(void)
{
    orc_spool_t *s = orc_spool_create(dir, 0, false);
    cr_assert_not_null(s);
    cr_assert_eq(orc_spool_append(s, "{}", 2), ORC_OK);
    orc_spool_close(s, false);
}

static int adopted_files(orc_reqlog_writer_t *wr)
{
    orc_reqlog_writer_status_t st;
    orc_reqlog_writer_status(wr, &st);
    return st.files;
}

static void run_loop_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

Test(reqlog_writer, adopts_a_dead_workers_file_at_start)
{
    leave_orphan_file();
    orc_reqlog_writer_t *wr = writer_new();
    cr_assert_eq(adopted_files(wr), 1);
    orc_reqlog_writer_free(wr);
}

Test(reqlog_writer, adopts_a_file_left_later_on_its_next_scan)
{
    orc_reqlog_writer_t *wr = writer_new();
    cr_assert_eq(adopted_files(wr), 0);
    leave_orphan_file();
    run_loop_ms(SCAN_WAIT_MS);
    cr_assert_eq(adopted_files(wr), 1);
    orc_reqlog_writer_free(wr);
}

Test(reqlog_writer, adopts_nothing_while_draining)
{
    orc_reqlog_writer_t *wr = writer_new();
    orc_reqlog_writer_drain(wr);
    leave_orphan_file();
    run_loop_ms(SCAN_WAIT_MS);
    cr_assert_eq(adopted_files(wr), 0);
    orc_reqlog_writer_free(wr);
    orc_reqlog_writer_t *next = writer_new(); /* the file is still there for a live worker */
    cr_assert_eq(adopted_files(next), 1);
    orc_reqlog_writer_free(next);
}
