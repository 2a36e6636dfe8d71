/*
 * keys_cli.h - `orchesity keys ...`: creating, listing, changing, revoking
 * and rotating client keys and setting team budgets from the command line,
 * straight on PostgreSQL (DATABASE_URL / database.url), for bootstrapping
 * a deployment before any key can call the admin API.
 */
#ifndef ORC_KEYS_CLI_H
#define ORC_KEYS_CLI_H

#include <stdio.h>

#include "common/config.h"

/* ARGV[0] is "keys", ARGV[1] the command.  Prints results on standard
 * output and reasons on standard error; returns a process exit code. */
int orc_keys_main(const orc_config_t *cfg, int argc, char **argv);

void orc_keys_usage(FILE *out);

#endif
