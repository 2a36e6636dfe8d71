/*
 * main.c - command line of the orchesity binary.
 *
 *   orchesity [-c FILE] [-t] [-v] [-h] [migrate]
 *   orchesity [-c FILE] keys COMMAND [OPTIONS]
 *
 * Loads and validates the configuration, then hands over to the master,
 * or runs one command on the database and exits.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/orc.h"
#include "master/keys_cli.h"
#include "master/master.h"
#include "master/migrate.h"

static void usage(FILE *out)
{
    fputs("Usage: orchesity [-c FILE] [-t] [-v] [-h] [migrate]\n"
          "       orchesity [-c FILE] keys COMMAND [OPTIONS]\n"
          "\n"
          "Orchesity, an LLM gateway: an OpenAI-compatible API in front of OpenAI,\n"
          "Anthropic, Gemini and xAI Grok, with provider routing, caching and logging.\n"
          "\n"
          "  -c, --config FILE  read the configuration from FILE (default: embedded defaults)\n"
          "  -t, --test         check the configuration and exit: 0 and \"configuration ok\",\n"
          "                     or 1 with FILE:LINE and the reason\n"
          "  -v, --version      print the version and exit\n"
          "  -h, --help         print this help and exit\n"
          "  migrate            apply the database schema (DATABASE_URL) and exit; gateways\n"
          "                     also apply it themselves when they start\n"
          "  keys COMMAND       create, list, show, update, revoke and rotate client keys and\n"
          "                     set team budgets in the database (orchesity keys --help)\n"
          "\n"
          "Environment variables override the file: HOST, PORT, LOG_LEVEL, DEBUG, SECRET_KEY,\n"
          "WORKER_CONNECTIONS, KEEPALIVE_TIMEOUT, DATABASE_URL, REDIS_URL, ... (see orchesity(8)).\n"
          "\n"
          "Signals to the master: HUP reload, QUIT graceful stop, TERM/INT graceful stop\n"
          "within shutdown_timeout (twice: immediate), USR1 reopen log files.\n",
          out);
}

/* The options before the command. */
typedef struct {
    const char *path;
    int test_only;
    const char *command; /* NULL (serve), "migrate" or "keys" */
} cmdline_t;

/* ORC_OK, or ORC_ERR with *EXIT_CODE set (-v, -h, or a bad command line). */
static int parse_cmdline(int argc, char **argv, cmdline_t *cl, int *exit_code)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    *exit_code = ORC_EXIT_OK;
    /* '+': options stop at the command, whose own options follow it. */
    while ((opt = getopt_long(argc, argv, "+c:tvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': cl->path = optarg; break;
        case 't': cl->test_only = 1; break;
        case 'v': printf("orchesity %s\n", ORC_VERSION); return ORC_ERR;
        case 'h': usage(stdout); return ORC_ERR;
        default:
            usage(stderr);
            *exit_code = ORC_EXIT_FAILURE;
            return ORC_ERR;
        }
    }
    if (optind < argc && (strcmp(argv[optind], "migrate") == 0 || strcmp(argv[optind], "keys") == 0))
        cl->command = argv[optind];
    if (cl->command != NULL && strcmp(cl->command, "keys") == 0)
        return ORC_OK; /* the rest is the command's */
    if (optind + (cl->command != NULL) < argc) {
        fprintf(stderr, "orchesity: unexpected argument '%s'\n", argv[optind + (cl->command != NULL)]);
        usage(stderr);
        *exit_code = ORC_EXIT_FAILURE;
        return ORC_ERR;
    }
    return ORC_OK;
}

int main(int argc, char **argv)
{
    cmdline_t cl = {0};
    int rc;
    if (parse_cmdline(argc, argv, &cl, &rc) != ORC_OK)
        return rc;
    char err[ORC_CONFIG_ERR_SIZE];
    orc_config_t *cfg = orc_config_load(cl.path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "orchesity: %s\n", err);
        return ORC_EXIT_FAILURE;
    }
    if (cl.test_only || cl.command != NULL) {
        if (cl.test_only)
            printf("configuration ok: %s\n", cl.path ? cl.path : "(embedded defaults)");
        rc = cl.test_only                         ? ORC_EXIT_OK
             : strcmp(cl.command, "migrate") == 0 ? orc_migrate_run(cfg)
                                                  : orc_keys_main(cfg, argc - optind, argv + optind);
        orc_config_free(cfg);
        return rc;
    }
    /* Once, before any fork, while there is only one thread. */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        fputs("orchesity: curl_global_init failed\n", stderr);
        return ORC_EXIT_FAILURE;
    }
    rc = orc_master_run(cfg);
    curl_global_cleanup();
    return rc;
}
