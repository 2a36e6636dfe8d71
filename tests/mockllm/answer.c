/*
 * answer.c - the deterministic answer and the [[mock ...]] directives.
 *
 * The answer to a chat request depends only on the request: "Echo: " and
 * the last user text without directives, whitespace collapsed, cut to
 * --words words, then to max_tokens words or before the first word equal
 * to a stop string.  A request with tools (and a user turn last) gets one
 * call of the first tool instead; a trailing tool result is echoed as
 * "Echo: tool said <result>".
 *
 * Directives come from the x-mock-fault header and from the last user
 * text, in that order; later keys override earlier ones.  A directive with
 * times=N applies to the first N requests of the same dialect that carry
 * the same directive text; the counts live in a small LRU table that
 * DELETE /_mock/requests empties.
 *
 * Run-wide faults (--jitter-ms, --error-rate, changed at run time through
 * POST /_mock/config) draw from one splitmix64 generator seeded by --seed:
 * two draws per valid chat request, so with one seed the N-th valid request
 * always gets the same extra latency and the same error-or-not.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/mockllm/mock.h"

#define MOCK_TIMES_MAX 256
#define MOCK_DIRECTIVE "[[mock"

typedef struct {
    mock_dialect_t dialect;
    char *text;    /* the whole directive, "[[mock ...]]" */
    int count;     /* requests it applied to */
    uint64_t used; /* LRU clock */
} mock_times_t;

static mock_times_t times_table[MOCK_TIMES_MAX];
static uint64_t times_clock;

/* ---- directives ------------------------------------------------------------------ */

/* Finds the next directive in S: [*start, *end) spans "[[mock ...]]". */
static int next_directive(const char *s, const char **start, const char **end)
{
    const char *p = s;

    while (p != NULL && (p = strstr(p, MOCK_DIRECTIVE)) != NULL) {
        char after = p[sizeof(MOCK_DIRECTIVE) - 1];
        const char *close;

        if (after != ']' && !isspace((unsigned char)after)) {
            p += 2;
            continue;
        }
        close = strstr(p, "]]");
        if (close == NULL)
            return 0;
        *start = p;
        *end = close + 2;
        return 1;
    }
    return 0;
}

static int parse_int(const char *v, int *out)
{
    char *end;
    long n;

    if (v == NULL || *v == '\0')
        return MOCK_ERR;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 0 || n > 100000000)
        return MOCK_ERR;
    *out = (int)n;
    return MOCK_OK;
}

static void warn_key(const char *key, const char *value)
{
    if (!mock_opts.quiet)
        fprintf(stderr, "mockllm: ignoring directive key '%s%s%s'\n", key, value ? "=" : "",
                value ? value : "");
}

/* Applies one key of a directive to F. */
static void apply_key(const char *key, const char *value, mock_fault_t *f)
{
    int n = -1;

    if (strcmp(key, "hang") == 0)
        f->hang = true;
    else if (strcmp(key, "malformed") == 0)
        f->malformed = true;
    else if (strcmp(key, "error_event") == 0)
        f->error_event = true;
    else if (strcmp(key, "provider") == 0 || strcmp(key, "times") == 0)
        return;
    else if (parse_int(value, &n) != MOCK_OK)
        warn_key(key, value);
    else if (strcmp(key, "latency") == 0)
        f->latency_ms = n;
    else if (strcmp(key, "gap") == 0)
        f->gap_ms = n;
    else if (strcmp(key, "drip") == 0)
        f->drip_ms = n;
    else if (strcmp(key, "cut") == 0)
        f->cut = n;
    else if (strcmp(key, "status") == 0 && n >= 100 && n <= 599)
        f->status = n;
    else if (strcmp(key, "retry_after") == 0)
        f->retry_after = n;
    else
        warn_key(key, value);
}

/*
 * Splits the inside of a directive into key[=value] tokens (separated by
 * commas or blanks) and calls APPLY for each; F may be NULL.  Returns the
 * provider= and times= values through PROVIDER and TIMES.
 */
static void each_key(char *inner, mock_fault_t *f, char **provider, int *times)
{
    char *save = NULL;

    for (char *tok = strtok_r(inner, ", \t\r\n", &save); tok; tok = strtok_r(NULL, ", \t\r\n", &save)) {
        char *value = strchr(tok, '=');

        if (value != NULL)
            *value++ = '\0';
        if (strcmp(tok, "provider") == 0 && provider)
            *provider = value;
        else if (strcmp(tok, "times") == 0 && times && parse_int(value, times) != MOCK_OK)
            warn_key(tok, value);
        else if (f != NULL)
            apply_key(tok, value, f);
    }
}

static mock_times_t *times_slot(mock_dialect_t d, const char *text, size_t len)
{
    mock_times_t *free_slot = NULL, *oldest = &times_table[0];

    for (int i = 0; i < MOCK_TIMES_MAX; i++) {
        mock_times_t *t = &times_table[i];
        if (t->text == NULL) {
            free_slot = free_slot ? free_slot : t;
            continue;
        }
        if (t->dialect == d && strlen(t->text) == len && memcmp(t->text, text, len) == 0)
            return t;
        if (t->used < oldest->used)
            oldest = t;
    }
    if (free_slot == NULL) {
        free_slot = oldest;
        free(free_slot->text);
    }
    free_slot->text = strndup(text, len);
    free_slot->dialect = d;
    free_slot->count = 0;
    return free_slot->text ? free_slot : NULL;
}

/* Whether the directive [s, e) applies to a request of dialect D (counts times=). */
static bool directive_applies(mock_dialect_t d, const char *s, const char *e, char *inner)
{
    char *provider = NULL;
    int times = -1;
    mock_times_t *t;

    each_key(inner, NULL, &provider, &times);
    if (provider != NULL && strcmp(provider, mock_dialect_name(d)) != 0)
        return false;
    if (times < 0)
        return true;
    t = times_slot(d, s, (size_t)(e - s));
    if (t == NULL)
        return true;
    t->used = ++times_clock;
    if (t->count >= times)
        return false;
    t->count++;
    return true;
}

static void apply_all(mock_dialect_t d, const char *text, mock_fault_t *f)
{
    const char *s, *e;
    const size_t skip = sizeof(MOCK_DIRECTIVE) - 1;

    while (text != NULL && next_directive(text, &s, &e)) {
        char *inner = strndup(s + skip, (size_t)(e - s) - skip - 2);
        char *inner2 = inner ? strdup(inner) : NULL;

        if (inner2 != NULL && directive_applies(d, s, e, inner))
            each_key(inner2, f, NULL, NULL);
        free(inner);
        free(inner2);
        text = e;
    }
}

/* The faults for one request: run options, then header, then message text. */
void mock_answer_faults(mock_dialect_t d, const char *header, const char *text, mock_fault_t *f)
{
    memset(f, 0, sizeof(*f));
    f->latency_ms = mock_opts.latency_ms;
    f->gap_ms = mock_opts.gap_ms;
    f->drip_ms = -1;
    f->cut = -1;
    f->retry_after = -1;
    apply_all(d, header, f);
    apply_all(d, text, f);
}

/* ---- run-wide faults ------------------------------------------------------------------ */

static uint64_t rng_state = 1;

void mock_answer_seed(uint64_t seed)
{
    rng_state = seed;
}

static uint64_t next_random(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* --jitter-ms and --error-rate for a valid chat request; a status= directive wins. */
void mock_answer_run_faults(mock_fault_t *f)
{
    uint64_t jitter = next_random(), roll = next_random();

    if (mock_opts.jitter_ms > 0) {
        int64_t ms = (int64_t)f->latency_ms + (int64_t)(jitter % ((uint64_t)mock_opts.jitter_ms + 1));
        f->latency_ms = ms < INT_MAX ? (int)ms : INT_MAX;
    }
    if (f->status == 0 && mock_opts.error_rate > 0 &&
        (double)(roll >> 11) * 0x1.0p-53 < mock_opts.error_rate) {
        f->status = mock_opts.error_status;
        f->injected = true;
    }
}

void mock_answer_reset_times(void)
{
    for (int i = 0; i < MOCK_TIMES_MAX; i++) {
        free(times_table[i].text);
        times_table[i].text = NULL;
    }
}

void mock_answer_cleanup(void)
{
    mock_answer_reset_times();
}

/* ---- text ---------------------------------------------------------------------------- */

/* TEXT without directives, words separated by single spaces. */
char *mock_answer_clean(const char *text)
{
    size_t len = text ? strlen(text) : 0, n = 0;
    char *out = malloc(len + 1);
    const char *s, *e;
    bool space = true;

    if (out == NULL)
        return NULL;
    while (text != NULL && *text) {
        if (strncmp(text, MOCK_DIRECTIVE, sizeof(MOCK_DIRECTIVE) - 1) == 0 && next_directive(text, &s, &e) &&
            s == text) {
            text = e;
            if (!space)
                out[n++] = ' ';
            space = true;
            continue;
        }
        if (isspace((unsigned char)*text)) {
            if (!space)
                out[n++] = ' ';
            space = true;
        } else {
            out[n++] = *text;
            space = false;
        }
        text++;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return out;
}

/* Cut points splitting S (LEN bytes) into PARTS pieces on UTF-8 boundaries. */
void mock_answer_split(const char *s, size_t len, size_t parts, size_t *cuts)
{
    cuts[0] = 0;
    for (size_t i = 1; i < parts; i++) {
        size_t c = len * i / parts;
        while (c < len && ((unsigned char)s[c] & 0xC0) == 0x80)
            c++;
        cuts[i] = c < cuts[i - 1] ? cuts[i - 1] : c;
    }
    cuts[parts] = len;
}

static bool is_stop(const mock_chat_t *chat, const char *word, const char **stop)
{
    for (size_t i = 0; i < chat->stops.n; i++) {
        if (strcmp(chat->stops.v[i], word) == 0) {
            *stop = chat->stops.v[i];
            return true;
        }
    }
    return false;
}

/* Cuts FULL (single-spaced) into the answer's words and stream pieces. */
static void build_text(const mock_chat_t *chat, char *full, mock_answer_t *a)
{
    size_t len = 0;
    int n = 0;
    char *save = NULL;

    a->finish = MOCK_FIN_STOP;
    a->text = calloc(1, strlen(full) + 1);
    if (a->text == NULL)
        return;
    for (char *w = strtok_r(full, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        if (n >= mock_opts.words)
            break;
        if (chat->max_tokens >= 0 && n >= chat->max_tokens) {
            a->finish = MOCK_FIN_LENGTH;
            break;
        }
        if (is_stop(chat, w, &a->stop)) {
            a->finish = MOCK_FIN_STOPSEQ;
            break;
        }
        len += (size_t)sprintf(a->text + len, "%s%s", n ? " " : "", w);
        n++;
    }
    a->completion_tokens = n;
    for (char *p = a->text; n > 0; n--) {
        char *sp = strchr(p, ' ');
        size_t wl = sp ? (size_t)(sp - p + 1) : strlen(p);
        mock_strv_push(&a->pieces, strndup(p, wl));
        p += wl;
    }
}

static void build_tool_call(const mock_chat_t *chat, mock_answer_t *a)
{
    json_object *q;

    a->finish = MOCK_FIN_TOOL;
    a->text = strdup("");
    a->query = mock_answer_clean(chat->user_text);
    q = json_object_new_string(a->query ? a->query : "");
    if (asprintf(&a->args, "{\"query\": %s}",
                 json_object_to_json_string_ext(q, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) <
        0)
        a->args = NULL;
    json_object_put(q);
    a->completion_tokens = mock_words(a->args);
}

void mock_answer_build(const mock_chat_t *chat, mock_answer_t *a)
{
    char *src, *full = NULL;

    memset(a, 0, sizeof(*a));
    a->prompt_tokens = chat->prompt_tokens;
    if (chat->tool_result == NULL && chat->tool_name != NULL) {
        build_tool_call(chat, a);
        return;
    }
    src = mock_answer_clean(chat->tool_result ? chat->tool_result : chat->user_text);
    if (src != NULL &&
        asprintf(&full, "Echo:%s%s%s", chat->tool_result ? " tool said" : "", *src ? " " : "", src) < 0)
        full = NULL;
    if (full != NULL)
        build_text(chat, full, a);
    free(src);
    free(full);
    if (a->text == NULL)
        a->text = strdup("");
}

void mock_answer_free(mock_answer_t *a)
{
    free(a->text);
    free(a->query);
    free(a->args);
    mock_strv_free(&a->pieces);
    memset(a, 0, sizeof(*a));
}
