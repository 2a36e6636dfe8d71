/*
 * keys_cli.c - `orchesity keys ...` (see keys_cli.h): options into a key
 * specification (common/keyspec.h, the rules and statements the admin API
 * uses too), checked before connecting; then the schema is brought up to
 * date and one statement runs.  A new key is printed once and never
 * stored: only its SHA-256 and its first characters reach the database.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/apikey.h"
#include "common/json.h"
#include "common/keyspec.h"
#include "common/orc.h"
#include "master/keys_cli.h"
#include "master/migrate.h"
#include "master/pgconn.h"

#define LIST_MAX "10000" /* keys one `keys list` prints */

enum {
    OPT_JSON = 1u << ORC_KS_NFIELDS,
    OPT_ALL = 1u << (ORC_KS_NFIELDS + 1),
    OPT_SPEC = (1u << ORC_KS_NFIELDS) - 1,
};

typedef struct {
    const char *command;
    orc_keyspec_t spec; /* the options that set a field (--team filters `list`) */
    unsigned given;     /* OPT_* and field bits */
    const char *arg;    /* the ID or TEAM operand */
    orc_keyspec_params_t params;
} keys_args_t;

typedef struct {
    const char *name;
    unsigned options;    /* the options it takes */
    const char *operand; /* "ID", "TEAM" or NULL */
    int (*check)(keys_args_t *a);
    int (*run)(PGconn *c, keys_args_t *a);
} command_t;

void orc_keys_usage(FILE *out)
{
    fputs("Usage: orchesity [-c FILE] keys COMMAND [OPTIONS]\n"
          "\n"
          "Client keys, on the database of DATABASE_URL (or database.url); the schema is\n"
          "brought up to date first.  A new key is printed once: only its SHA-256 is stored.\n"
          "\n"
          "  keys create --name NAME [SETTINGS] [--json]   a new key: prints it and its id\n"
          "  keys list [--all] [--team TEAM] [--json]      keys (--all: revoked ones too)\n"
          "  keys show ID [--json]                         one key\n"
          "  keys update ID SETTINGS [--json]              change settings; the key stays\n"
          "  keys revoke ID [--json]                       the key stops working (idempotent)\n"
          "  keys rotate ID [--json]                       a new secret, same id and settings\n"
          "  keys team-budget TEAM --budget USD [--budget-period P] [--json]\n"
          "                                                the budget every key of TEAM shares\n"
          "\n"
          "Settings (an empty value means none: no team, unlimited, all, never):\n"
          "  --name NAME            1 to 128 printable ASCII characters, no quotes or backslashes\n"
          "  --team TEAM            the same rules; keys of a team share its budget\n"
          "  --models P,P           model patterns the key may use (* and ?; empty: all)\n"
          "  --providers P,P        provider patterns (empty: all); at most 64 patterns a list\n"
          "  --scopes S,S           llm, history, metrics, admin (default llm)\n"
          "  --rpm N, --tpm N       requests and tokens per minute, 1 to 2147483647\n"
          "  --max-parallel N       requests in flight, 1 to 2147483647\n"
          "  --budget USD           spend allowed per period, 0 to 1000000000\n"
          "  --budget-period P      day, month (default) or total; days and months in UTC\n"
          "  --expires WHEN         2026-12-31, 2026-12-31T23:59:59Z, or from now: 12h, 30d, 4w\n"
          "  --metadata JSON        a JSON object of at most 16384 bytes\n"
          "  --json                 print JSON documents instead of text\n"
          "\n"
          "Exit status 0 on success, 1 with the reason on standard error.\n",
          out);
}

static int fail(const keys_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const keys_args_t *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "orchesity: keys %s: ", a->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return ORC_ERR;
}

/* ---- printing -------------------------------------------------------------------- */

/* The JSON document in the first column of R's first row, or NULL. */
static json_object *document(const PGresult *r)
{
    if (r == NULL || PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
        return NULL;
    return json_tokener_parse(PQgetvalue(r, 0, 0));
}

static const char *str(json_object *o, const char *field)
{
    json_object *v = json_object_object_get(o, field);
    return v != NULL ? json_object_get_string(v) : NULL;
}

static void print_json(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A list field as "a,b", or ALL when empty. */
static void list_text(json_object *o, const char *field, const char *all, char *buf, size_t size)
{
    json_object *v = json_object_object_get(o, field);
    size_t n = v != NULL ? json_object_array_length(v) : 0, used = 0;
    snprintf(buf, size, "%s", all);
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "",
                                 json_object_get_string(json_object_array_get_idx(v, i)));
}

/* "rpm 60, tpm 1000, parallel 4, $10/month", or "none". */
static void limits_text(json_object *o, char *buf, size_t size)
{
    static const char *const names[][2] = {{"rpm", "rpm"}, {"tpm", "tpm"}, {"max_parallel", "parallel"}};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ORC_ARRAY_LEN(names) && used < size; i++)
        if (str(o, names[i][0]) != NULL)
            used += (size_t)snprintf(buf + used, size - used, "%s%s %s", used ? ", " : "", names[i][1],
                                     str(o, names[i][0]));
    if (str(o, "budget_usd") != NULL && used < size)
        used += (size_t)snprintf(buf + used, size - used, "%s$%s/%s", used ? ", " : "", str(o, "budget_usd"),
                                 str(o, "budget_period"));
    if (used == 0)
        snprintf(buf, size, "none");
}

static const char *or_dash(const char *s, const char *dash)
{
    return s != NULL ? s : dash;
}

/* A key record as "field  value" lines; KEY, when given, first. */
static void print_record(json_object *o, const char *key)
{
    char models[9000], providers[9000], scopes[64], limits[200];
    list_text(o, "models", "all", models, sizeof(models));
    list_text(o, "providers", "all", providers, sizeof(providers));
    list_text(o, "scopes", "", scopes, sizeof(scopes));
    limits_text(o, limits, sizeof(limits));
    if (key != NULL)
        printf("key         %s\n", key);
    printf("id          %s\nprefix      %s...\nname        %s\nteam        %s\n", str(o, "id"),
           str(o, "prefix"), str(o, "name"), or_dash(str(o, "team"), "-"));
    printf("models      %s\nproviders   %s\nscopes      %s\nlimits      %s\n", models, providers, scopes,
           limits);
    printf("expires     %s\nstatus      %s\ncreated     %s\nupdated     %s\n",
           or_dash(str(o, "expires_at"), "never"), str(o, "status"), str(o, "created_at"),
           str(o, "updated_at"));
    if (str(o, "revoked_at") != NULL)
        printf("revoked     %s\n", str(o, "revoked_at"));
    printf("metadata    %s\n",
           json_object_to_json_string_ext(json_object_object_get(o, "metadata"),
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Prints the record in R (with KEY, shown this once, when given). */
static int print_result(const keys_args_t *a, const PGresult *r, const char *key)
{
    json_object *o = document(r);
    if (o == NULL)
        return fail(a, "no such key: %s", a->arg ? a->arg : "(new)");
    if (key != NULL && a->given & OPT_JSON) {
        json_object *shown = json_object_new_object();
        orc_json_add_str(shown, "key", key);
        json_object_object_foreach(o, name, v) json_object_object_add(shown, name, json_object_get(v));
        print_json(shown);
        json_object_put(shown);
    } else if (a->given & OPT_JSON) {
        print_json(o);
    } else {
        print_record(o, key);
    }
    if (key != NULL)
        fputs("The key is shown only this once: store it now.\n", stderr);
    json_object_put(o);
    return ORC_OK;
}

/* ---- list ------------------------------------------------------------------------- */

enum { COL_ID, COL_PREFIX, COL_NAME, COL_TEAM, COL_SCOPES, COL_LIMITS, COL_STATUS, COL_CREATED, NCOLS };
static const char *const headers[NCOLS] = {"ID",     "PREFIX", "NAME",   "TEAM",
                                           "SCOPES", "LIMITS", "STATUS", "CREATED"};

static void cell(json_object *k, int col, char *buf, size_t size)
{
    const char *created = or_dash(str(k, "created_at"), "");
    switch (col) {
    case COL_ID: snprintf(buf, size, "%s", str(k, "id")); break;
    case COL_PREFIX: snprintf(buf, size, "%s...", str(k, "prefix")); break;
    case COL_NAME: snprintf(buf, size, "%s", str(k, "name")); break;
    case COL_TEAM: snprintf(buf, size, "%s", or_dash(str(k, "team"), "-")); break;
    case COL_SCOPES: list_text(k, "scopes", "", buf, size); break;
    case COL_LIMITS: limits_text(k, buf, size); break;
    case COL_STATUS: snprintf(buf, size, "%s", str(k, "status")); break;
    default: snprintf(buf, size, "%.19sZ", created); break; /* to the second */
    }
}

static void print_table(json_object *keys)
{
    size_t n = json_object_array_length(keys);
    int width[NCOLS];
    char buf[256];
    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(headers[c]);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++) {
            cell(json_object_array_get_idx(keys, i), c, buf, sizeof(buf));
            width[c] = ORC_MAX(width[c], (int)strlen(buf));
        }
    for (int c = 0; c < NCOLS; c++)
        printf("%-*s%s", c < NCOLS - 1 ? width[c] : 0, headers[c], c < NCOLS - 1 ? "  " : "\n");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++) {
            cell(json_object_array_get_idx(keys, i), c, buf, sizeof(buf));
            printf("%-*s%s", c < NCOLS - 1 ? width[c] : 0, buf, c < NCOLS - 1 ? "  " : "\n");
        }
}

static int run_list(PGconn *c, keys_args_t *a)
{
    const char *values[] = {LIST_MAX, "0", a->spec.text[ORC_KS_TEAM], a->given & OPT_ALL ? "true" : "false"};
    PGresult *r = orc_pgconn_exec(c, ORC_KEYSPEC_SQL_LIST, 4, values);
    json_object *o = document(r);
    PQclear(r);
    if (o == NULL)
        return ORC_ERR;
    json_object *keys = json_object_object_get(o, "keys");
    int64_t total = json_object_get_int64(json_object_object_get(o, "total"));
    if (a->given & OPT_JSON)
        print_json(keys);
    else if (total == 0)
        puts(a->given & OPT_ALL ? "no keys" : "no keys (--all shows revoked ones too)");
    else
        print_table(keys);
    if ((size_t)total > json_object_array_length(keys))
        fprintf(stderr, "orchesity: keys list: %zu of %lld keys shown\n", json_object_array_length(keys),
                (long long)total);
    json_object_put(o);
    return ORC_OK;
}

/* ---- the other commands ------------------------------------------------------------ */

static int check_spec(keys_args_t *a, orc_ks_use_t use)
{
    char err[ORC_KEYSPEC_ERR_SIZE];
    if (orc_keyspec_params(&a->spec, use, time(NULL), &a->params, err, sizeof(err)) == ORC_OK)
        return ORC_OK;
    return fail(a, "%s", err);
}

static int check_create(keys_args_t *a)
{
    return check_spec(a, ORC_KEYSPEC_CREATE);
}

static int check_id(keys_args_t *a)
{
    if (orc_apikey_id_valid(a->arg))
        return ORC_OK;
    return fail(a, "'%.64s' is not a key id (key_ and 16 lowercase hex digits)", a->arg);
}

static int check_update(keys_args_t *a)
{
    if (check_id(a) != ORC_OK || check_spec(a, ORC_KEYSPEC_UPDATE) != ORC_OK)
        return ORC_ERR;
    a->params.values[0] = a->arg;
    return ORC_OK;
}

static int check_list(keys_args_t *a)
{
    const char *team = a->spec.text[ORC_KS_TEAM];
    if (team == NULL || orc_apikey_name_valid(team))
        return ORC_OK;
    return fail(a, "--team must be 1 to %d printable ASCII characters without quotes or backslashes",
                ORC_APIKEY_NAME_MAX);
}

static int check_team_budget(keys_args_t *a)
{
    if (!orc_apikey_name_valid(a->arg))
        return fail(a, "TEAM must be 1 to %d printable ASCII characters without quotes or backslashes",
                    ORC_APIKEY_NAME_MAX);
    a->spec.text[ORC_KS_TEAM] = a->arg;
    return check_spec(a, ORC_KEYSPEC_TEAM_BUDGET);
}

/* A new secret: its hash and prefix go to the statement, the key to KEY. */
static int new_secret(const keys_args_t *a, char key[ORC_APIKEY_SIZE], char hash[ORC_APIKEY_HASH_SIZE],
                      char prefix[ORC_APIKEY_PREFIX_SIZE])
{
    if (orc_apikey_generate(key) != ORC_OK)
        return fail(a, "the kernel gave no random bytes");
    orc_apikey_hash(key, hash);
    orc_apikey_prefix(key, prefix);
    return ORC_OK;
}

static int run_create(PGconn *c, keys_args_t *a)
{
    char key[ORC_APIKEY_SIZE], hash[ORC_APIKEY_HASH_SIZE], prefix[ORC_APIKEY_PREFIX_SIZE],
        id[ORC_APIKEY_ID_SIZE];
    if (new_secret(a, key, hash, prefix) != ORC_OK || orc_apikey_id_new(id) != ORC_OK)
        return ORC_ERR;
    a->params.values[0] = id;
    a->params.values[1] = hash;
    a->params.values[2] = prefix;
    PGresult *r = orc_pgconn_exec(c, ORC_KEYSPEC_SQL_INSERT, a->params.n, a->params.values);
    int rc = r != NULL ? print_result(a, r, key) : ORC_ERR;
    PQclear(r);
    explicit_bzero(key, sizeof(key));
    return rc;
}

static int run_rotate(PGconn *c, keys_args_t *a)
{
    char key[ORC_APIKEY_SIZE], hash[ORC_APIKEY_HASH_SIZE], prefix[ORC_APIKEY_PREFIX_SIZE];
    if (new_secret(a, key, hash, prefix) != ORC_OK)
        return ORC_ERR;
    const char *values[] = {a->arg, hash, prefix};
    PGresult *r = orc_pgconn_exec(c, ORC_KEYSPEC_SQL_ROTATE, 3, values);
    int rc = ORC_ERR;
    if (r != NULL && PQgetisnull(r, 0, 0))
        fail(a, strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? "%s is revoked: create a new key" : "no such key: %s",
             a->arg);
    else if (r != NULL)
        rc = print_result(a, r, key);
    PQclear(r);
    explicit_bzero(key, sizeof(key));
    return rc;
}

/* Runs SQL with VALUES and prints the record it answers. */
static int run_record(PGconn *c, keys_args_t *a, const char *sql, int n, const char *const *values)
{
    PGresult *r = orc_pgconn_exec(c, sql, n, values);
    int rc = r != NULL ? print_result(a, r, NULL) : ORC_ERR;
    PQclear(r);
    return rc;
}

static int run_show(PGconn *c, keys_args_t *a)
{
    return run_record(c, a, ORC_KEYSPEC_SQL_GET, 1, &a->arg);
}

static int run_revoke(PGconn *c, keys_args_t *a)
{
    return run_record(c, a, ORC_KEYSPEC_SQL_REVOKE, 1, &a->arg);
}

static int run_update(PGconn *c, keys_args_t *a)
{
    return run_record(c, a, ORC_KEYSPEC_SQL_UPDATE, a->params.n, a->params.values);
}

static int run_team_budget(PGconn *c, keys_args_t *a)
{
    PGresult *r = orc_pgconn_exec(c, ORC_KEYSPEC_SQL_TEAM_SET, a->params.n, a->params.values);
    json_object *o = document(r);
    PQclear(r);
    if (o == NULL)
        return ORC_ERR;
    if (a->given & OPT_JSON)
        print_json(o);
    else if (str(o, "budget_usd") == NULL)
        printf("team %s: no budget (spent $%s this period)\n", str(o, "team"), str(o, "spent_usd"));
    else
        printf("team %s: budget $%s/%s, spent $%s this period, $%s left\n", str(o, "team"),
               str(o, "budget_usd"), str(o, "budget_period"), str(o, "spent_usd"), str(o, "remaining_usd"));
    json_object_put(o);
    return ORC_OK;
}

static const command_t commands[] = {
    {"create", OPT_SPEC | OPT_JSON, NULL, check_create, run_create},
    {"list", (1u << ORC_KS_TEAM) | OPT_ALL | OPT_JSON, NULL, check_list, run_list},
    {"show", OPT_JSON, "ID", check_id, run_show},
    {"update", OPT_SPEC | OPT_JSON, "ID", check_update, run_update},
    {"revoke", OPT_JSON, "ID", check_id, run_revoke},
    {"rotate", OPT_JSON, "ID", check_id, run_rotate},
    {"team-budget", (1u << ORC_KS_BUDGET) | (1u << ORC_KS_BUDGET_PERIOD) | OPT_JSON, "TEAM",
     check_team_budget, run_team_budget},
};

/* ---- command line ------------------------------------------------------------------- */

/* Option values: a field's number, or these. */
enum { VAL_JSON = 100, VAL_ALL, VAL_HELP };

static const struct option longopts[] = {
    {"name", required_argument, NULL, ORC_KS_NAME},
    {"team", required_argument, NULL, ORC_KS_TEAM},
    {"models", required_argument, NULL, ORC_KS_MODELS},
    {"providers", required_argument, NULL, ORC_KS_PROVIDERS},
    {"scopes", required_argument, NULL, ORC_KS_SCOPES},
    {"rpm", required_argument, NULL, ORC_KS_RPM},
    {"tpm", required_argument, NULL, ORC_KS_TPM},
    {"max-parallel", required_argument, NULL, ORC_KS_MAX_PARALLEL},
    {"budget", required_argument, NULL, ORC_KS_BUDGET},
    {"budget-period", required_argument, NULL, ORC_KS_BUDGET_PERIOD},
    {"expires", required_argument, NULL, ORC_KS_EXPIRES},
    {"metadata", required_argument, NULL, ORC_KS_METADATA},
    {"json", no_argument, NULL, VAL_JSON},
    {"all", no_argument, NULL, VAL_ALL},
    {"help", no_argument, NULL, VAL_HELP},
    {NULL, 0, NULL, 0},
};

/* Records one option; ORC_AGAIN for --help. */
static int take_option(keys_args_t *a, const command_t *cmd, int opt, const char *spelled)
{
    if (opt == VAL_HELP)
        return ORC_AGAIN;
    if (opt == '?' || opt == ':')
        return fail(a, "unknown option or missing value: %.64s (see orchesity keys --help)", spelled);
    unsigned bit = opt == VAL_JSON ? OPT_JSON : opt == VAL_ALL ? OPT_ALL : 1u << opt;
    if (!(cmd->options & bit))
        return fail(a, "%.64s is not an option of this command (see orchesity keys --help)", spelled);
    if (a->given & bit)
        return fail(a, "%.64s is given twice", spelled);
    a->given |= bit;
    if (opt < ORC_KS_NFIELDS)
        a->spec.text[opt] = optarg;
    return ORC_OK;
}

/* ARGV[0] is the command's name.  ORC_OK, ORC_AGAIN for --help, ORC_ERR after saying why. */
static int parse(keys_args_t *a, const command_t *cmd, int argc, char **argv)
{
    int opt, rc, index = -1;
    char spelled[80];
    opterr = 0;
    optind = 0; /* glibc: start over on a new vector */
    while ((opt = getopt_long(argc, argv, ":h", longopts, &index)) != -1) {
        /* a known option by its name (its value may follow it), else the word at fault */
        if (opt == '?' || opt == ':' || index < 0)
            snprintf(spelled, sizeof(spelled), "%.64s", argv[optind - 1]);
        else
            snprintf(spelled, sizeof(spelled), "--%s", longopts[index].name);
        if ((rc = take_option(a, cmd, opt == 'h' ? VAL_HELP : opt, spelled)) != ORC_OK)
            return rc;
        index = -1;
    }
    int operands = cmd->operand != NULL;
    if (argc - optind < operands)
        return fail(a, "the %s is missing (see orchesity keys --help)", cmd->operand);
    if (argc - optind > operands)
        return fail(a, "unexpected argument '%.64s'", argv[optind + operands]);
    a->arg = operands ? argv[optind] : NULL;
    return ORC_OK;
}

/* Connects, brings the schema up to date (reporting on stderr), runs. */
static int run(const orc_config_t *cfg, const command_t *cmd, keys_args_t *a)
{
    int version, applied;
    PGconn *c = orc_pgconn_open(cfg, "orchesity-keys");
    if (c == NULL)
        return ORC_ERR;
    int rc = orc_migrate_apply(c, stderr, &version, &applied);
    if (rc == ORC_OK)
        rc = cmd->run(c, a);
    PQfinish(c);
    return rc;
}

static const command_t *command_named(const char *name)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int orc_keys_main(const orc_config_t *cfg, int argc, char **argv)
{
    static keys_args_t a; /* the spec's buffer is large; one command per process */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        orc_keys_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? ORC_EXIT_FAILURE : ORC_EXIT_OK;
    }
    const command_t *cmd = command_named(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "orchesity: keys: unknown command '%.64s' (see orchesity keys --help)\n", argv[1]);
        return ORC_EXIT_FAILURE;
    }
    memset(&a, 0, sizeof(a));
    a.command = cmd->name;
    a.spec.cli = true;
    int rc = parse(&a, cmd, argc - 1, argv + 1);
    if (rc == ORC_AGAIN) {
        orc_keys_usage(stdout);
        return ORC_EXIT_OK;
    }
    if (rc == ORC_OK)
        rc = cmd->check(&a);
    if (rc == ORC_OK)
        rc = run(cfg, cmd, &a);
    return rc == ORC_OK ? ORC_EXIT_OK : ORC_EXIT_FAILURE;
}
