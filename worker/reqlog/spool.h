/*
 * spool.h - the request log's local append-only spool files.
 *
 * Each worker appends records to a file of its own in the spool
 * directory and holds an flock on it for its whole life.  A record is
 * {magic, length, CRC-32 of the payload} followed by the payload, written
 * with one write(): a process killed at any instruction leaves at worst a
 * partial record at the tail, which readers detect and ignore.  The
 * header holds the checkpoint: the offset of the first record not yet
 * stored in PostgreSQL.  A file whose flock can be taken belongs to no
 * live process (its worker died or exited): any worker may adopt it, ship
 * it and remove it.
 *
 * Records survive the death of the process as soon as write() returns
 * (they are in the page cache); with fsync they also survive a crash of
 * the machine, at the cost of one disk flush per record.
 */
#ifndef ORC_SPOOL_H
#define ORC_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ORC_SPOOL_HEADER 64      /* bytes before the first record */
#define ORC_SPOOL_RECORD_HEAD 12 /* magic, length, CRC-32 */
#define ORC_SPOOL_RECORD_MAX (64u << 20)
#define ORC_SPOOL_SUFFIX ".spool"

typedef struct orc_spool_s orc_spool_t;

/* Called for each complete record; OFFSET is where the next one starts. */
typedef void (*orc_spool_record_fn)(void *arg, const char *payload, size_t len, uint64_t next);

/* Creates DIR (0700) when missing and, when CHOWN_TO, gives it to UID/GID
 * (the master or the worker runs as root before dropping privileges). */
int orc_spool_dir_prepare(const char *dir, bool chown_to, uid_t uid, gid_t gid, char *err, size_t errlen);

/* A new spool file of this process in DIR, locked.  MAX_BYTES bounds the
 * file (0: no bound); FSYNC flushes each record to disk.  NULL: logged. */
orc_spool_t *orc_spool_create(const char *dir, uint64_t max_bytes, bool fsync);
/* Opens PATH and takes its lock.  NULL with errno EWOULDBLOCK when a live
 * process holds it; NULL after logging when it is not a spool file. */
orc_spool_t *orc_spool_adopt(const char *path);
/* Closes (and so unlocks) the file; REMOVE unlinks it first. */
void orc_spool_close(orc_spool_t *s, bool remove);

/* Appends one record with one write().  ORC_ERR with errno EFBIG when the
 * bound would be passed, or the write's errno (the file is cut back to
 * its last complete record). */
int orc_spool_append(orc_spool_t *s, const void *payload, size_t len);

/* Calls FN for the complete records from FROM on, until MAX_BYTES of
 * payload (at least one record) or MAX_RECORDS.  Returns the offset after
 * the last record read (FROM when none), or ORC_ERR on a read error.
 * *TORN is set when a partial or damaged record stops the reading. */
int64_t orc_spool_read(orc_spool_t *s, uint64_t from, size_t max_bytes, int max_records,
                       orc_spool_record_fn fn, void *arg, bool *torn);

uint64_t orc_spool_checkpoint(const orc_spool_t *s);
/* Records the checkpoint in the header (and flushes it with fsync). */
int orc_spool_set_checkpoint(orc_spool_t *s, uint64_t offset);
uint64_t orc_spool_end(const orc_spool_t *s); /* where the next record goes */
uint64_t orc_spool_max(const orc_spool_t *s);
const char *orc_spool_path(const orc_spool_t *s);
/* Everything is shipped: cut the file back to its header. */
int orc_spool_compact(orc_spool_t *s);

/* Calls FN with the path of every spool file in DIR but SKIP_PATH. */
int orc_spool_scan(const char *dir, const char *skip_path, void (*fn)(void *arg, const char *path),
                   void *arg);

uint32_t orc_spool_crc32(const void *data, size_t len);

#endif
