/*
 * test_spool.c - the request log's spool files (worker/reqlog/spool.c): records
 * and checkpoint, torn tails, adoption of a dead process's file, the
 * bound, compaction.  Each test works in its own temporary directory.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/orc.h"
#include "tests/unit/helpers.h"
#include "worker/reqlog/spool.h"

static char dir[64];

typedef struct {
    int n;
    char text[16][64];
    uint64_t next[16];
} seen_t;

static void on_record(void *arg, const char *payload, size_t len, uint64_t next)
{
    seen_t *s = arg;
    cr_assert_lt(s->n, 16);
    snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)len, payload);
    s->next[s->n++] = next;
}

/* Each test gets a fresh directory. */
static void make_dir(void)
{
    test_temp_dir(dir, sizeof(dir), "spool");
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(spool, .init = make_dir, .fini = remove_dir, .timeout = 10);

static orc_spool_t *with_records(int n)
{
    orc_spool_t *s = orc_spool_create(dir, 0, false);
    cr_assert_not_null(s);
    for (int i = 0; i < n; i++) {
        char rec[32];
        int len = snprintf(rec, sizeof(rec), "{\"n\":%d}", i);
        cr_assert_eq(orc_spool_append(s, rec, (size_t)len), ORC_OK);
    }
    return s;
}

Test(spool, append_read_checkpoint)
{
    orc_spool_t *s = with_records(5);
    seen_t seen = {0};
    bool torn;
    int64_t next = orc_spool_read(s, orc_spool_checkpoint(s), 1 << 20, 3, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 3);
    cr_assert_not(torn);
    cr_assert_str_eq(seen.text[2], "{\"n\":2}");
    cr_assert_eq((uint64_t)next, seen.next[2]);
    cr_assert_eq(orc_spool_set_checkpoint(s, (uint64_t)next), ORC_OK);
    memset(&seen, 0, sizeof(seen));
    next = orc_spool_read(s, orc_spool_checkpoint(s), 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 2);
    cr_assert_str_eq(seen.text[0], "{\"n\":3}");
    cr_assert_eq((uint64_t)next, orc_spool_end(s));
    orc_spool_close(s, true);
}

Test(spool, byte_limit_takes_at_least_one_record)
{
    orc_spool_t *s = with_records(4);
    seen_t seen = {0};
    bool torn;
    orc_spool_read(s, ORC_SPOOL_HEADER, 3, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 1, "one record even when it is over the byte limit");
    memset(&seen, 0, sizeof(seen));
    orc_spool_read(s, ORC_SPOOL_HEADER, 14, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 2);
    orc_spool_close(s, true);
}

Test(spool, large_record_bigger_than_the_window)
{
    orc_spool_t *s = orc_spool_create(dir, 0, false);
    size_t big = 300000;
    char *p = malloc(big);
    memset(p, 'x', big);
    cr_assert_eq(orc_spool_append(s, "a", 1), ORC_OK);
    cr_assert_eq(orc_spool_append(s, p, big), ORC_OK);
    seen_t seen = {0};
    bool torn;
    int64_t next = orc_spool_read(s, ORC_SPOOL_HEADER, 1000, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 1);
    memset(&seen, 0, sizeof(seen));
    next = orc_spool_read(s, (uint64_t)next, 1000, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 1);
    cr_assert_not(torn);
    cr_assert_eq((uint64_t)next, orc_spool_end(s));
    free(p);
    orc_spool_close(s, true);
}

/* Appends garbage as a killed writer would leave it: half a record. */
static void tear(const char *path, size_t keep)
{
    uint32_t head[3] = {0x5243524fu, 100, 0};
    char junk[ORC_SPOOL_RECORD_HEAD + 100];
    memset(junk, 'z', sizeof(junk));
    memcpy(junk, head, sizeof(head));
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, junk, keep), (ssize_t)keep);
    close(fd);
}

static char *own_path(orc_spool_t *s)
{
    return strdup(orc_spool_path(s));
}

Test(spool, torn_tail_is_ignored_by_the_adopter)
{
    orc_spool_t *s = with_records(3);
    char *path = own_path(s);
    orc_spool_close(s, false);
    tear(path, ORC_SPOOL_RECORD_HEAD + 40);
    orc_spool_t *a = orc_spool_adopt(path);
    cr_assert_not_null(a);
    seen_t seen = {0};
    bool torn;
    int64_t next = orc_spool_read(a, orc_spool_checkpoint(a), 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 3);
    cr_assert(torn);
    memset(&seen, 0, sizeof(seen));
    int64_t again = orc_spool_read(a, (uint64_t)next, 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 0);
    cr_assert_eq(again, next);
    cr_assert(torn);
    orc_spool_close(a, true);
    cr_assert_neq(access(path, F_OK), 0);
    free(path);
}

Test(spool, torn_header_of_a_record)
{
    orc_spool_t *s = with_records(2);
    char *path = own_path(s);
    orc_spool_close(s, false);
    tear(path, 5);
    orc_spool_t *a = orc_spool_adopt(path);
    seen_t seen = {0};
    bool torn;
    orc_spool_read(a, ORC_SPOOL_HEADER, 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 2);
    cr_assert(torn);
    orc_spool_close(a, true);
    free(path);
}

Test(spool, damaged_record_stops_reading)
{
    orc_spool_t *s = with_records(3);
    char *path = own_path(s);
    orc_spool_close(s, false);
    int fd = open(path, O_RDWR);
    /* second record's payload: header 64 + record 12 + 7 + head 12 */
    cr_assert_eq(pwrite(fd, "X", 1, ORC_SPOOL_HEADER + ORC_SPOOL_RECORD_HEAD + 7 + ORC_SPOOL_RECORD_HEAD + 1),
                 1);
    close(fd);
    orc_spool_t *a = orc_spool_adopt(path);
    seen_t seen = {0};
    bool torn;
    orc_spool_read(a, ORC_SPOOL_HEADER, 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 1, "the CRC catches the damaged record");
    cr_assert(torn);
    orc_spool_close(a, true);
    free(path);
}

Test(spool, checkpoint_survives_and_adoption_resumes)
{
    orc_spool_t *s = with_records(4);
    seen_t seen = {0};
    bool torn;
    orc_spool_read(s, ORC_SPOOL_HEADER, 1 << 20, 2, on_record, &seen, &torn);
    orc_spool_set_checkpoint(s, seen.next[1]);
    char *path = own_path(s);
    orc_spool_close(s, false);
    orc_spool_t *a = orc_spool_adopt(path);
    cr_assert_eq(orc_spool_checkpoint(a), seen.next[1]);
    memset(&seen, 0, sizeof(seen));
    orc_spool_read(a, orc_spool_checkpoint(a), 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 2);
    cr_assert_str_eq(seen.text[0], "{\"n\":2}");
    orc_spool_close(a, true);
    free(path);
}

Test(spool, a_live_owner_keeps_its_file)
{
    orc_spool_t *s = with_records(1);
    errno = 0;
    cr_assert_null(orc_spool_adopt(orc_spool_path(s)), "locked by its owner");
    cr_assert_eq(errno, EWOULDBLOCK);
    orc_spool_close(s, true);
}

static void count_path(void *arg, const char *path)
{
    (void)path;
    (*(int *)arg)++;
}

Test(spool, a_killed_owner_leaves_an_adoptable_file)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        orc_spool_t *s = orc_spool_create(dir, 0, false);
        orc_spool_append(s, "{\"n\":1}", 7);
        (void)!write(fds[1], "k", 1);
        pause();
        _exit(0);
    }
    char c;
    cr_assert_eq(read(fds[0], &c, 1), 1);
    int n = 0;
    orc_spool_scan(dir, NULL, count_path, &n);
    cr_assert_eq(n, 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char path[400];
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    closedir(d);
    orc_spool_t *a = orc_spool_adopt(path);
    cr_assert_not_null(a, "the lock died with its owner");
    seen_t seen = {0};
    bool torn;
    orc_spool_read(a, orc_spool_checkpoint(a), 1 << 20, 100, on_record, &seen, &torn);
    cr_assert_eq(seen.n, 1);
    orc_spool_close(a, true);
    n = 0;
    orc_spool_scan(dir, NULL, count_path, &n);
    cr_assert_eq(n, 0);
    close(fds[0]);
    close(fds[1]);
}

Test(spool, scan_skips_own_and_temporary_files)
{
    orc_spool_t *s = with_records(1);
    int fd = open("/tmp/orc-spool-unused", O_CREAT | O_WRONLY, 0600);
    close(fd);
    unlink("/tmp/orc-spool-unused");
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s/.reqlog-1-1.tmp", dir);
    close(open(tmp, O_CREAT | O_WRONLY, 0600));
    int n = 0;
    orc_spool_scan(dir, orc_spool_path(s), count_path, &n);
    cr_assert_eq(n, 0);
    orc_spool_scan(dir, NULL, count_path, &n);
    cr_assert_eq(n, 1);
    orc_spool_close(s, true);
}

Test(spool, bound_refuses_and_keeps_the_file_whole)
{
    orc_spool_t *s = orc_spool_create(dir, ORC_SPOOL_HEADER + 2 * (ORC_SPOOL_RECORD_HEAD + 10), false);
    cr_assert_eq(orc_spool_append(s, "0123456789", 10), ORC_OK);
    cr_assert_eq(orc_spool_append(s, "0123456789", 10), ORC_OK);
    errno = 0;
    cr_assert_eq(orc_spool_append(s, "0", 1), ORC_ERR);
    cr_assert_eq(errno, EFBIG);
    struct stat st;
    stat(orc_spool_path(s), &st);
    cr_assert_eq((uint64_t)st.st_size, orc_spool_end(s));
    orc_spool_set_checkpoint(s, orc_spool_end(s));
    cr_assert_eq(orc_spool_compact(s), ORC_OK);
    cr_assert_eq(orc_spool_end(s), ORC_SPOOL_HEADER);
    cr_assert_eq(orc_spool_append(s, "0", 1), ORC_OK, "room again after compaction");
    orc_spool_close(s, true);
}

Test(spool, compaction_only_when_everything_is_shipped)
{
    orc_spool_t *s = with_records(2);
    uint64_t end = orc_spool_end(s);
    orc_spool_compact(s);
    cr_assert_eq(orc_spool_end(s), end);
    orc_spool_set_checkpoint(s, end);
    orc_spool_compact(s);
    struct stat st;
    stat(orc_spool_path(s), &st);
    cr_assert_eq(st.st_size, ORC_SPOOL_HEADER);
    cr_assert_eq(orc_spool_checkpoint(s), ORC_SPOOL_HEADER);
    orc_spool_close(s, true);
}

Test(spool, checkpoint_past_the_end_means_nothing_left)
{
    orc_spool_t *s = with_records(2);
    char *path = own_path(s);
    uint64_t end = orc_spool_end(s);
    orc_spool_set_checkpoint(s, end);
    cr_assert_eq(truncate(path, ORC_SPOOL_HEADER), 0); /* killed between the two steps of a compaction */
    orc_spool_close(s, false);
    orc_spool_t *a = orc_spool_adopt(path);
    cr_assert_eq(orc_spool_checkpoint(a), orc_spool_end(a));
    orc_spool_close(a, true);
    free(path);
}

Test(spool, dir_prepare_creates_nested_directories)
{
    char nested[128], err[256];
    snprintf(nested, sizeof(nested), "%s/a/b/spool", dir);
    cr_assert_eq(orc_spool_dir_prepare(nested, false, 0, 0, err, sizeof(err)), ORC_OK);
    struct stat st;
    cr_assert_eq(stat(nested, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700);
    cr_assert_eq(orc_spool_dir_prepare("", false, 0, 0, err, sizeof(err)), ORC_ERR);
}

Test(spool, crc32_known_value)
{
    cr_assert_eq(orc_spool_crc32("123456789", 9), 0xcbf43926u);
}

/* Every length and alignment agrees with the plain byte-at-a-time CRC. */
Test(spool, crc32_fast_path_matches_bytewise)
{
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof(buf); len += 13) {
            uint32_t c = 0xffffffffu;
            for (size_t k = 0; k < len; k++) {
                c ^= buf[off + k];
                for (int b = 0; b < 8; b++)
                    c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            }
            cr_assert_eq(orc_spool_crc32(buf + off, len), c ^ 0xffffffffu, "offset %zu length %zu", off, len);
        }
}
