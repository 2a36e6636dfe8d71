/*
 * main.c - orchesity-mockllm: options, listener, signals and routing.
 *
 * Routes (an optional /openai, /anthropic, /gemini or /xai prefix picks
 * the dialect; without one the path decides):
 *   POST /v1/chat/completions                     OpenAI (xAI with /xai)
 *   POST /v1/messages                             Anthropic
 *   POST /v1beta/models/{model}:generateContent   Gemini
 *   POST /v1beta/models/{model}:streamGenerateContent[?alt=sse]
 *   GET  /v1/models[/{id}], /v1beta/models[/{model}]
 *   /_mock/...                                    control.c
 * A chat request is recorded, checked (credentials, JSON, required
 * fields), answered (answer.c + the dialect) and sent by reply.c with the
 * faults of its directives and the run-wide ones (--jitter-ms,
 * --error-rate, down; see POST /_mock/config in control.c).  SIGTERM and SIGINT end the loop; everything
 * is freed before exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "tests/mockllm/mock.h"

#define MOCK_BACKLOG 1024
#define MOCK_HTTP_TIMEOUT_S 300
#define MOCK_MAX_BODY (64 * 1024 * 1024)

typedef struct {
    mock_dialect_t d;
    const char *model; /* Gemini: from the path */
    bool stream;       /* Gemini: streamGenerateContent */
    bool sse;          /* Gemini: alt=sse */
    const char *query;
} mock_chat_route_t;

mock_opts_t mock_opts = {
    .listen = "127.0.0.1:0", .words = 64, .record = 1000, .error_status = 500, .seed = 1};
struct event_base *mock_base;

static const struct {
    const char *prefix;
    mock_dialect_t d;
} prefixes[] = {
    {"/openai", MOCK_OPENAI},
    {"/anthropic", MOCK_ANTHROPIC},
    {"/gemini", MOCK_GEMINI},
    {"/xai", MOCK_XAI},
};

/* ---- chat ------------------------------------------------------------------------------ */

/* One tokener for the process (one thread): allocating its stack per request is costly. */
static json_tokener *body_tokener;

static json_object *parse_body(const char *data, size_t len)
{
    json_object *o;
    size_t end;
    bool ok;

    if (body_tokener == NULL && (body_tokener = json_tokener_new_ex(256)) == NULL)
        return NULL;
    json_tokener_reset(body_tokener);
    json_tokener_set_flags(body_tokener, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(body_tokener, data, (int)len);
    end = json_tokener_get_parse_end(body_tokener);
    ok = o != NULL && json_tokener_get_error(body_tokener) == json_tokener_success &&
         json_object_is_type(o, json_type_object);
    while (ok && end < len && data[end] != '\0' && strchr(" \t\r\n", data[end]) != NULL)
        end++;
    if (ok && end == len)
        return o;
    json_object_put(o);
    return NULL;
}

static const char *dialect_parse(json_object *body, mock_chat_t *chat)
{
    switch (chat->dialect) {
    case MOCK_ANTHROPIC: return mock_anthropic_parse(body, chat);
    case MOCK_GEMINI: return mock_gemini_parse(body, chat);
    default: return mock_openai_parse(body, chat);
    }
}

static void dialect_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out)
{
    switch (chat->dialect) {
    case MOCK_ANTHROPIC: mock_anthropic_render(chat, a, out); break;
    case MOCK_GEMINI: mock_gemini_render(chat, a, out); break;
    default: mock_openai_render(chat, a, out); break;
    }
}

static void chat_free(mock_chat_t *chat)
{
    free(chat->model);
    free(chat->user_text);
    free(chat->tool_result);
    free(chat->tool_name);
    mock_strv_free(&chat->stops);
}

/* Checks, parses and answers; fills OUT and F.  Returns nothing: errors are answers too. */
static void chat_answer(struct evhttp_request *req, const mock_chat_route_t *rt, const char *data, size_t len,
                        mock_chat_t *chat, mock_out_t *out, mock_fault_t *f)
{
    const char *header = evhttp_find_header(evhttp_request_get_input_headers(req), "x-mock-fault");
    json_object *body = NULL;
    const char *msg;
    mock_answer_t a;

    mock_answer_faults(rt->d, NULL, NULL, f);
    if (mock_opts.down) {
        f->down = true; /* no answer at all, whatever the request */
        return;
    }
    if (mock_dialect_auth(rt->d, req, rt->query, out) != MOCK_OK)
        return;
    body = parse_body(data, len);
    if (body == NULL) {
        mock_dialect_error(out, rt->d, 400, MOCK_ERR_JSON, NULL, -1);
        return;
    }
    if (rt->model != NULL)
        chat->model = strdup(rt->model);
    chat->stream = rt->stream;
    chat->sse = rt->sse;
    msg = dialect_parse(body, chat);
    json_object_put(body);
    if (msg != NULL) {
        mock_dialect_error(out, rt->d, 400, MOCK_ERR_INVALID, msg, -1);
        return;
    }
    mock_answer_faults(rt->d, header, chat->user_text, f);
    mock_answer_run_faults(f);
    if (f->status >= 400) {
        mock_dialect_error(out, rt->d, f->status, MOCK_ERR_STATUS, NULL, f->retry_after);
        return;
    }
    mock_answer_build(chat, &a);
    dialect_render(chat, &a, out);
    mock_answer_free(&a);
    if (out->stream)
        out->error_event = mock_dialect_stream_error(rt->d, rt->d != MOCK_GEMINI || rt->sse);
}

static void handle_chat(struct evhttp_request *req, const mock_chat_route_t *rt)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    mock_chat_t chat = {.dialect = rt->d, .max_tokens = -1};
    mock_out_t out = {0};
    mock_fault_t f;
    char rid[64];

    if (data == NULL) {
        data = "";
        len = 0;
    }
    chat.seq = mock_ctl_begin(req, rt->d, data, len);
    chat_answer(req, rt, data, len, &chat, &out, &f);
    chat_free(&chat);
    if (rt->d != MOCK_GEMINI) {
        snprintf(rid, sizeof(rid), "req_mock%" PRIu64, chat.seq);
        mock_strv_add(&out.headers, rt->d == MOCK_ANTHROPIC ? "request-id" : "x-request-id");
        mock_strv_add(&out.headers, rid);
    }
    mock_ctl_count_fault(&f);
    mock_reply_send(req, chat.seq, &out, &f);
}

/* ---- other routes ---------------------------------------------------------------------- */

static void handle_not_found(struct evhttp_request *req, mock_dialect_t d, const char *path)
{
    mock_out_t out = {0};
    char msg[512];
    const char *m = evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "POST";

    snprintf(msg, sizeof(msg), "Invalid URL (%s %s)", m, path);
    mock_dialect_error(&out, d, 404, MOCK_ERR_NOTFOUND, msg, -1);
    mock_reply_plain(req, &out);
}

static void handle_models(struct evhttp_request *req, mock_dialect_t d, const char *id, const char *query)
{
    mock_out_t out = {0};

    if (mock_dialect_auth(d, req, query, &out) == MOCK_OK)
        mock_dialect_models(&out, d, id && *id ? id : NULL);
    mock_reply_plain(req, &out);
}

static bool has_alt_sse(const char *query)
{
    struct evkeyvalq q;
    const char *alt;
    bool sse = false;

    if (query == NULL || evhttp_parse_query_str(query, &q) != 0)
        return false;
    alt = evhttp_find_header(&q, "alt");
    sse = alt != NULL && strcmp(alt, "sse") == 0;
    evhttp_clear_headers(&q);
    return sse;
}

/* /v1beta/models..., REST is what follows "/v1beta/models". */
static void route_gemini(struct evhttp_request *req, const char *path, const char *rest, const char *query)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    mock_chat_route_t rt = {.d = MOCK_GEMINI, .query = query};
    char model[256];
    const char *colon;

    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (m == EVHTTP_REQ_GET)
            handle_models(req, MOCK_GEMINI, NULL, query);
        else
            handle_not_found(req, MOCK_GEMINI, path);
        return;
    }
    rest++;
    colon = strchr(rest, ':');
    if (colon == NULL && m == EVHTTP_REQ_GET) {
        handle_models(req, MOCK_GEMINI, rest, query);
        return;
    }
    if (colon == NULL || m != EVHTTP_REQ_POST || (size_t)(colon - rest) >= sizeof(model)) {
        handle_not_found(req, MOCK_GEMINI, path);
        return;
    }
    snprintf(model, sizeof(model), "%.*s", (int)(colon - rest), rest);
    rt.model = model;
    rt.stream = strcmp(colon + 1, "streamGenerateContent") == 0;
    rt.sse = rt.stream && has_alt_sse(query);
    if (rt.stream || strcmp(colon + 1, "generateContent") == 0)
        handle_chat(req, &rt);
    else
        handle_not_found(req, MOCK_GEMINI, path);
}

static mock_dialect_t models_dialect(struct evhttp_request *req, int explicit_d)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);

    if (explicit_d >= 0)
        return (mock_dialect_t)explicit_d;
    if (evhttp_find_header(h, "x-api-key") || evhttp_find_header(h, "anthropic-version"))
        return MOCK_ANTHROPIC;
    return MOCK_OPENAI;
}

static void route(struct evhttp_request *req, const char *path, const char *query)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *rest = path;
    int explicit_d = -1;
    mock_chat_route_t rt = {.query = query};

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i].prefix);
        if (strncmp(path, prefixes[i].prefix, n) == 0 && path[n] == '/') {
            explicit_d = (int)prefixes[i].d;
            rest = path + n;
            break;
        }
    }
    rt.d = explicit_d >= 0 ? (mock_dialect_t)explicit_d : MOCK_OPENAI;
    if (strcmp(rest, "/v1/chat/completions") == 0 && m == EVHTTP_REQ_POST &&
        (rt.d == MOCK_OPENAI || rt.d == MOCK_XAI)) {
        handle_chat(req, &rt);
    } else if (strcmp(rest, "/v1/messages") == 0 && m == EVHTTP_REQ_POST &&
               (explicit_d < 0 || rt.d == MOCK_ANTHROPIC)) {
        rt.d = MOCK_ANTHROPIC;
        handle_chat(req, &rt);
    } else if ((strcmp(rest, "/v1/models") == 0 || strncmp(rest, "/v1/models/", 11) == 0) &&
               m == EVHTTP_REQ_GET && rt.d != MOCK_GEMINI) {
        handle_models(req, models_dialect(req, explicit_d), rest[10] ? rest + 11 : NULL, query);
    } else if (strncmp(rest, "/v1beta/models", 14) == 0 && (rest[14] == '\0' || rest[14] == '/') &&
               (explicit_d < 0 || rt.d == MOCK_GEMINI)) {
        route_gemini(req, path, rest + 14, query);
    } else {
        handle_not_found(req, explicit_d >= 0 ? rt.d : MOCK_OPENAI, path);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

    (void)arg;
    if (path == NULL || *path == '\0') {
        evhttp_send_error(req, 400, NULL);
        return;
    }
    if (strncmp(path, "/_mock/", 7) == 0) {
        mock_ctl_handle(req, path + 6);
        return;
    }
    route(req, path, evhttp_uri_get_query(uri));
}

/* ---- start-up -------------------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: orchesity-mockllm [--listen HOST:PORT] [--latency-ms N] [--gap-ms N] [--jitter-ms N]\n"
            "                         [--error-rate P] [--error-status CODE] [--seed N] [--words N]\n"
            "                         [--record N] [--quiet] [--verbose] [-h]\n"
            "  --listen HOST:PORT  address to listen on (default 127.0.0.1:0, 0 = any free port)\n"
            "  --latency-ms N      wait N ms before the first byte of every chat reply\n"
            "  --gap-ms N          wait N ms between stream events\n"
            "  --jitter-ms N       add 0..N ms (pseudo-random) to the latency of every valid chat request\n"
            "  --error-rate P      answer a share P (0..1) of valid chat requests with --error-status\n"
            "  --error-status CODE the status of those errors, 400..599 (default 500)\n"
            "  --seed N            seed of --jitter-ms and --error-rate (default 1)\n"
            "  --words N           answers have at most N words (default 64)\n"
            "  --record N          keep the last N requests for /_mock/requests (default 1000)\n"
            "  --quiet             no warnings on stderr (fatal errors only)\n"
            "  --verbose           one line per chat request on stderr\n"
            "See tests/mockllm/README.md for routes, directives and control endpoints.\n");
}

static int parse_num(const char *name, const char *v, int min, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < min || n > INT_MAX) {
        fprintf(stderr, "mockllm: bad value for --%s: %s\n", name, v);
        return MOCK_ERR;
    }
    *out = (int)n;
    return MOCK_OK;
}

static int parse_rate(const char *v, double *out)
{
    char *end;
    double p = strtod(v, &end);

    if (*v == '\0' || *end != '\0' || !(p >= 0 && p <= 1)) {
        fprintf(stderr, "mockllm: bad value for --error-rate (0..1): %s\n", v);
        return MOCK_ERR;
    }
    *out = p;
    return MOCK_OK;
}

static int parse_seed(const char *v, uint64_t *out)
{
    char *end;
    unsigned long long n;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0) {
        fprintf(stderr, "mockllm: bad value for --seed: %s\n", v);
        return MOCK_ERR;
    }
    *out = (uint64_t)n;
    return MOCK_OK;
}

static int parse_status(const char *v, int *out)
{
    if (parse_num("error-status", v, 400, out) != MOCK_OK)
        return MOCK_ERR;
    if (*out > 599) {
        fprintf(stderr, "mockllm: bad value for --error-status (400..599): %s\n", v);
        return MOCK_ERR;
    }
    return MOCK_OK;
}

static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"latency-ms", required_argument, NULL, 'L'},
        {"gap-ms", required_argument, NULL, 'g'},
        {"jitter-ms", required_argument, NULL, 'j'},
        {"error-rate", required_argument, NULL, 'e'},
        {"error-status", required_argument, NULL, 'E'},
        {"seed", required_argument, NULL, 's'},
        {"words", required_argument, NULL, 'w'},
        {"record", required_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = MOCK_OK;

    while (rc == MOCK_OK && (c = getopt_long(argc, argv, "hqv", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': mock_opts.listen = optarg; break;
        case 'L': rc = parse_num("latency-ms", optarg, 0, &mock_opts.latency_ms); break;
        case 'g': rc = parse_num("gap-ms", optarg, 0, &mock_opts.gap_ms); break;
        case 'j': rc = parse_num("jitter-ms", optarg, 0, &mock_opts.jitter_ms); break;
        case 'e': rc = parse_rate(optarg, &mock_opts.error_rate); break;
        case 'E': rc = parse_status(optarg, &mock_opts.error_status); break;
        case 's': rc = parse_seed(optarg, &mock_opts.seed); break;
        case 'w': rc = parse_num("words", optarg, 1, &mock_opts.words); break;
        case 'r': rc = parse_num("record", optarg, 0, &mock_opts.record); break;
        case 'q': mock_opts.quiet = true; break;
        case 'v': mock_opts.verbose = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return MOCK_ERR;
        }
    }
    if (rc == MOCK_OK && optind < argc) {
        fprintf(stderr, "mockllm: unexpected argument: %s\n", argv[optind]);
        rc = MOCK_ERR;
    }
    return rc;
}

/* Parses HOST:PORT ([V6]:PORT too); port 0 is allowed (any free port). */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, int *len)
{
    const char *colon = strrchr(spec, ':');
    char host[256], *end;
    long port;

    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
        return MOCK_ERR;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
        return MOCK_ERR;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    if (evutil_parse_sockaddr_port(host, (struct sockaddr *)ss, len) != 0)
        return MOCK_ERR;
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return MOCK_OK;
}

/* Creates the listening socket for --listen; returns the fd or -1. */
static evutil_socket_t open_listener(void)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss), one = 1;
    evutil_socket_t fd;

    memset(&ss, 0, sizeof(ss));
    if (parse_listen(mock_opts.listen, &ss, &len) != MOCK_OK) {
        fprintf(stderr, "mockllm: bad --listen address: %s\n", mock_opts.listen);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("mockllm: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) != 0 || listen(fd, MOCK_BACKLOG) != 0) {
        fprintf(stderr, "mockllm: cannot listen on %s: ", mock_opts.listen);
        perror(NULL);
        close(fd);
        return -1;
    }
    return fd;
}

static void print_address(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        printf("mockllm listening on [%s]:%d\n", host, port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
        printf("mockllm listening on %s:%d\n", host, port);
    }
    fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static struct evhttp *http_new(evutil_socket_t fd)
{
    struct evhttp *http = evhttp_new(mock_base);

    if (http == NULL)
        return NULL;
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT);
    evhttp_set_timeout(http, MOCK_HTTP_TIMEOUT_S);
    evhttp_set_max_body_size(http, MOCK_MAX_BODY);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_gencb(http, on_request, NULL);
    if (evhttp_accept_socket_with_handle(http, fd) == NULL) {
        fprintf(stderr, "mockllm: evhttp_accept_socket failed\n");
        evhttp_free(http);
        return NULL;
    }
    return http;
}

int main(int argc, char **argv)
{
    struct event *sigterm = NULL, *sigint = NULL;
    struct evhttp *http = NULL;
    evutil_socket_t fd;
    int rc = 1;

    if (parse_args(argc, argv) != MOCK_OK)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    mock_answer_seed(mock_opts.seed);
    if (mock_ctl_init(mock_opts.record) != MOCK_OK || (mock_base = event_base_new()) == NULL)
        goto out;
    fd = open_listener();
    if (fd < 0 || (http = http_new(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        goto out;
    }
    sigterm = evsignal_new(mock_base, SIGTERM, on_signal, mock_base);
    sigint = evsignal_new(mock_base, SIGINT, on_signal, mock_base);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
        goto out;
    print_address(fd);
    rc = event_base_dispatch(mock_base) < 0;
out:
    mock_reply_shutdown();
    if (http)
        evhttp_free(http);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (mock_base)
        event_base_free(mock_base);
    mock_ctl_cleanup();
    mock_answer_cleanup();
    if (body_tokener != NULL)
        json_tokener_free(body_tokener);
    return rc;
}
