/*
 * main.c - command line of the orchesity binary.
 *
 *   orchesity [-c FILE] [-t] [-v] [-h] [migrate]
 *
 * Loads and validates the configuration, then hands over to the master.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/orc.h"
#include "master/master.h"
#include "master/migrate.h"

static void usage(FILE *out)
{
    fputs("Usage: orchesity [-c FILE] [-t] [-v] [-h] [migrate]\n"
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
          "\n"
          "Environment variables override the file: HOST, PORT, LOG_LEVEL, DEBUG, SECRET_KEY,\n"
          "WORKER_CONNECTIONS, KEEPALIVE_TIMEOUT, DATABASE_URL, REDIS_URL, ... (see orchesity(8)).\n"
          "\n"
          "Signals to the master: HUP reload, QUIT graceful stop, TERM/INT graceful stop\n"
          "within shutdown_timeout (twice: immediate), USR1 reopen log files.\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int test_only = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:tvh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': test_only = 1; break;
        case 'v': printf("orchesity %s\n", ORC_VERSION); return ORC_EXIT_OK;
        case 'h': usage(stdout); return ORC_EXIT_OK;
        default: usage(stderr); return ORC_EXIT_FAILURE;
        }
    }
    int migrate = optind < argc && strcmp(argv[optind], "migrate") == 0;
    if (optind + migrate < argc) {
        fprintf(stderr, "orchesity: unexpected argument '%s'\n", argv[optind + migrate]);
        usage(stderr);
        return ORC_EXIT_FAILURE;
    }
    char err[ORC_CONFIG_ERR_SIZE];
    orc_config_t *cfg = orc_config_load(path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "orchesity: %s\n", err);
        return ORC_EXIT_FAILURE;
    }
    if (test_only) {
        printf("configuration ok: %s\n", path ? path : "(embedded defaults)");
        orc_config_free(cfg);
        return ORC_EXIT_OK;
    }
    if (migrate) {
        int rc = orc_migrate_run(cfg);
        orc_config_free(cfg);
        return rc;
    }
    /* Once, before any fork, while there is only one thread. */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        fputs("orchesity: curl_global_init failed\n", stderr);
        return ORC_EXIT_FAILURE;
    }
    int rc = orc_master_run(cfg);
    curl_global_cleanup();
    return rc;
}
