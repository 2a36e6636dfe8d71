/*
 * spool.c - append-only spool files of the request log (see spool.h).
 *
 * Layout: a 64-byte header {"ORCSPOOL", checkpoint (u64), pid (i32),
 * version (u32)} and records {magic "ORCR" (u32), length (u32), CRC-32
 * (u32), payload}, in host byte order (the files never leave the host).
 *
 * Invariants: only the owner of the flock writes the file; the end is
 * always after a complete record (a failed write is cut back); the
 * checkpoint only moves forward, except when compaction cuts the file
 * back to its header.  A checkpoint past the end (a crash between the two
 * steps of a compaction) means "nothing left".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/orc.h"
#include "worker/reqlog/spool.h"
#include "common/util.h"

#define SPOOL_MAGIC "ORCSPOOL"
#define RECORD_MAGIC 0x5243524fu /* "ORCR" */
#define SPOOL_VERSION 1
#define CHECKPOINT_AT 8

struct orc_spool_s {
    int fd;
    char *path;
    uint64_t end;
    uint64_t checkpoint;
    uint64_t max_bytes;
    bool fsync;
};

/* CRC-32 (the zlib polynomial), eight bytes a step ("slicing by 8"):
 * each record is checksummed on the request path. */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t orc_spool_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    if (crc_table[0][1] == 0)
        crc_init();
    for (; len >= 8; len -= 8, p += 8) {
        uint32_t lo =
            c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    while (len-- > 0)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static int mkdir_p(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return ORC_ERR;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return ORC_ERR;
        *p = '/';
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? ORC_ERR : ORC_OK;
}

int orc_spool_dir_prepare(const char *dir, bool chown_to, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    struct stat st;
    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, errlen, "no spool directory is set");
        return ORC_ERR;
    }
    if (mkdir_p(dir) != ORC_OK || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "cannot create the spool directory %s: %s", dir,
                 errno ? strerror(errno) : "not a directory");
        return ORC_ERR;
    }
    if (chown_to && (st.st_uid != uid || st.st_gid != gid) && chown(dir, uid, gid) != 0) {
        snprintf(err, errlen, "cannot give the spool directory %s to the worker user: %s", dir,
                 strerror(errno));
        return ORC_ERR;
    }
    return ORC_OK;
}

static int write_all_at(int fd, const void *buf, size_t len, off_t at)
{
    ssize_t n = pwrite(fd, buf, len, at);
    if (n == (ssize_t)len)
        return ORC_OK;
    if (n >= 0)
        errno = EIO;
    return ORC_ERR;
}

static orc_spool_t *spool_wrap(int fd, const char *path)
{
    orc_spool_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return NULL;
    }
    s->fd = fd;
    return s;
}

/* The file is made under a name the scan ignores, locked, then renamed:
 * no other worker can take a live worker's file for an orphan. */
orc_spool_t *orc_spool_create(const char *dir, uint64_t max_bytes, bool fsync)
{
    char tmp[4200], path[4200];
    unsigned char head[ORC_SPOOL_HEADER] = {0};
    uint64_t cp = ORC_SPOOL_HEADER;
    int32_t pid = (int32_t)getpid();
    uint32_t version = SPOOL_VERSION;
    unsigned long long tag = (unsigned long long)orc_wall_ms();
    snprintf(tmp, sizeof(tmp), "%s/.reqlog-%d-%llu.tmp", dir, (int)pid, tag);
    snprintf(path, sizeof(path), "%s/reqlog-%d-%llu%s", dir, (int)pid, tag, ORC_SPOOL_SUFFIX);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
        goto fail;
    memcpy(head, SPOOL_MAGIC, 8);
    memcpy(head + CHECKPOINT_AT, &cp, 8);
    memcpy(head + 16, &pid, 4);
    memcpy(head + 20, &version, 4);
    if (write_all_at(fd, head, sizeof(head), 0) != ORC_OK || rename(tmp, path) != 0)
        goto fail;
    orc_spool_t *s = spool_wrap(fd, path);
    if (s == NULL)
        goto fail;
    s->end = s->checkpoint = ORC_SPOOL_HEADER;
    s->max_bytes = max_bytes;
    s->fsync = fsync;
    return s;
fail:
    orc_log_error("cannot create a spool file in %s: %s", dir, strerror(errno));
    if (fd >= 0) {
        unlink(tmp);
        close(fd);
    }
    return NULL;
}

orc_spool_t *orc_spool_adopt(const char *path)
{
    unsigned char head[ORC_SPOOL_HEADER];
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL; /* gone meanwhile: adopted and removed by another worker */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (fstat(fd, &st) != 0 || pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        memcmp(head, SPOOL_MAGIC, 8) != 0) {
        orc_log_warn("%s is not a spool file (or is damaged): left alone", path);
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    orc_spool_t *s = spool_wrap(fd, path);
    if (s == NULL) {
        close(fd);
        return NULL;
    }
    memcpy(&s->checkpoint, head + CHECKPOINT_AT, 8);
    s->end = (uint64_t)st.st_size;
    if (s->checkpoint < ORC_SPOOL_HEADER)
        s->checkpoint = ORC_SPOOL_HEADER;
    if (s->checkpoint > s->end)
        s->checkpoint = s->end;
    return s;
}

void orc_spool_close(orc_spool_t *s, bool remove)
{
    if (s == NULL)
        return;
    if (remove && unlink(s->path) != 0 && errno != ENOENT)
        orc_log_error("cannot remove the spool file %s: %s", s->path, strerror(errno));
    close(s->fd);
    free(s->path);
    free(s);
}

int orc_spool_append(orc_spool_t *s, const void *payload, size_t len)
{
    uint32_t head[3] = {RECORD_MAGIC, (uint32_t)len, orc_spool_crc32(payload, len)};
    size_t total = sizeof(head) + len;
    if (len > ORC_SPOOL_RECORD_MAX || (s->max_bytes > 0 && s->end + total > s->max_bytes)) {
        errno = EFBIG;
        return ORC_ERR;
    }
    struct iovec iov[2] = {{head, sizeof(head)}, {(void *)payload, len}};
    ssize_t n = pwritev(s->fd, iov, 2, (off_t)s->end);
    if (n != (ssize_t)total) {
        int e = n < 0 ? errno : ENOSPC;
        if (n > 0 && ftruncate(s->fd, (off_t)s->end) != 0)
            orc_log_error("cannot cut %s back after a short write: %s", s->path, strerror(errno));
        errno = e;
        return ORC_ERR;
    }
    s->end += total;
    if (s->fsync && fdatasync(s->fd) != 0) /* the record is written; only its flush failed */
        orc_log_error("cannot flush the spool file %s to disk: %s", s->path, strerror(errno));
    return ORC_OK;
}

typedef enum { STOP_NEED_MORE, STOP_LIMIT, STOP_DAMAGED } stop_t;

typedef struct {
    orc_spool_record_fn fn;
    void *arg;
    size_t max_bytes, payload_bytes;
    int budget;
} reader_t;

/* Parses the records in BUF (read from AT); *USED is the bytes consumed. */
static stop_t parse_records(reader_t *r, const char *buf, size_t len, uint64_t at, size_t *used)
{
    size_t pos = 0;
    stop_t why = STOP_NEED_MORE;
    while (len - pos >= ORC_SPOOL_RECORD_HEAD) {
        uint32_t head[3];
        memcpy(head, buf + pos, sizeof(head));
        if (head[0] != RECORD_MAGIC || head[1] > ORC_SPOOL_RECORD_MAX) {
            why = STOP_DAMAGED;
            break;
        }
        if (r->budget <= 0 || (r->payload_bytes > 0 && r->payload_bytes + head[1] > r->max_bytes)) {
            why = STOP_LIMIT;
            break;
        }
        if (len - pos - ORC_SPOOL_RECORD_HEAD < head[1])
            break;
        const char *payload = buf + pos + ORC_SPOOL_RECORD_HEAD;
        if (orc_spool_crc32(payload, head[1]) != head[2]) {
            why = STOP_DAMAGED;
            break;
        }
        pos += ORC_SPOOL_RECORD_HEAD + head[1];
        r->payload_bytes += head[1];
        r->budget--;
        r->fn(r->arg, payload, head[1], at + pos);
    }
    *used = pos;
    return why;
}

/* Bytes needed to hold the record at AT whole, or 0 when it cannot be
 * complete (a partial record at the tail). */
static size_t record_size_at(orc_spool_t *s, uint64_t at)
{
    uint32_t head[2];
    if (pread(s->fd, head, sizeof(head), (off_t)at) != (ssize_t)sizeof(head) ||
        head[1] > ORC_SPOOL_RECORD_MAX)
        return 0;
    uint64_t size = ORC_SPOOL_RECORD_HEAD + (uint64_t)head[1];
    return at + size <= s->end ? (size_t)size : 0;
}

int64_t orc_spool_read(orc_spool_t *s, uint64_t from, size_t max_bytes, int max_records,
                       orc_spool_record_fn fn, void *arg, bool *torn)
{
    reader_t r = {fn, arg, max_bytes, 0, max_records};
    size_t want = max_bytes + ORC_SPOOL_RECORD_HEAD * 64;
    uint64_t at = from;
    *torn = false;
    while (at < s->end) {
        size_t n = (size_t)ORC_MIN((uint64_t)want, s->end - at), used = 0;
        char *buf = malloc(n);
        ssize_t got = buf ? pread(s->fd, buf, n, (off_t)at) : -1;
        if (got < 0) {
            orc_log_error("cannot read the spool file %s: %s", s->path,
                          buf ? strerror(errno) : "out of memory");
            free(buf);
            return ORC_ERR;
        }
        stop_t why = parse_records(&r, buf, (size_t)got, at, &used);
        free(buf);
        at += used;
        if (why == STOP_DAMAGED || (size_t)got < n)
            *torn = true; /* a damaged record, or the file is shorter than we knew */
        if (why != STOP_NEED_MORE || *torn)
            break;
        if (used == 0 && at < s->end) {
            size_t size = record_size_at(s, at);
            if (size <= n) {
                *torn = true; /* a partial record at the tail */
                break;
            }
            want = size; /* one record bigger than the window */
        }
    }
    return (int64_t)at;
}

uint64_t orc_spool_checkpoint(const orc_spool_t *s)
{
    return s->checkpoint;
}

int orc_spool_set_checkpoint(orc_spool_t *s, uint64_t offset)
{
    /* Past the end, the records appended later would never be shipped. */
    ORC_CHECK(offset >= ORC_SPOOL_HEADER && offset <= s->end);
    /* Forward only, but for the compaction that cut the file back. */
    ORC_ASSERT(offset >= s->checkpoint || (offset == ORC_SPOOL_HEADER && s->end == ORC_SPOOL_HEADER));
    if (write_all_at(s->fd, &offset, sizeof(offset), CHECKPOINT_AT) != ORC_OK) {
        orc_log_error("cannot write the checkpoint of %s: %s", s->path, strerror(errno));
        return ORC_ERR;
    }
    s->checkpoint = offset;
    if (s->fsync)
        fdatasync(s->fd);
    return ORC_OK;
}

uint64_t orc_spool_end(const orc_spool_t *s)
{
    return s->end;
}

uint64_t orc_spool_max(const orc_spool_t *s)
{
    return s->max_bytes;
}

const char *orc_spool_path(const orc_spool_t *s)
{
    return s->path;
}

int orc_spool_compact(orc_spool_t *s)
{
    if (s->checkpoint != s->end || s->end == ORC_SPOOL_HEADER)
        return ORC_OK;
    if (ftruncate(s->fd, ORC_SPOOL_HEADER) != 0) {
        orc_log_error("cannot compact the spool file %s: %s", s->path, strerror(errno));
        return ORC_ERR;
    }
    s->end = ORC_SPOOL_HEADER;
    return orc_spool_set_checkpoint(s, ORC_SPOOL_HEADER);
}

int orc_spool_scan(const char *dir, const char *skip_path, void (*fn)(void *arg, const char *path), void *arg)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return ORC_ERR;
    const char *skip = skip_path ? strrchr(skip_path, '/') : NULL;
    skip = skip ? skip + 1 : skip_path;
    size_t sl = strlen(ORC_SPOOL_SUFFIX);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= sl || strcmp(e->d_name + n - sl, ORC_SPOOL_SUFFIX) != 0)
            continue;
        if (skip != NULL && strcmp(e->d_name, skip) == 0)
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        fn(arg, path);
    }
    closedir(d);
    return ORC_OK;
}
