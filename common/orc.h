/*
 * orc.h - definitions every module of Orchesity shares: return codes,
 * exit codes, version, small helpers.  No state lives here.
 */
#ifndef ORC_H
#define ORC_H

#include <stddef.h>
#include <stdint.h>

#define ORC_VERSION "0.1.0"

/* Return codes of fallible functions. */
#define ORC_OK 0
#define ORC_ERR (-1)
#define ORC_AGAIN (-2)

/* Process exit codes understood by the master. */
#define ORC_EXIT_OK 0
#define ORC_EXIT_FAILURE 1
#define ORC_EXIT_FATAL_CONFIG 2 /* a worker that cannot ever work: never respawn */

#define ORC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ORC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ORC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
