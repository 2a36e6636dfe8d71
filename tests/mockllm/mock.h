/*
 * mock.h - shared types of orchesity-mockllm, the mock LLM upstream.
 *
 * One process, one libevent loop.  A chat request goes through four steps,
 * one module each:
 *   main.c      options, listener, signals, routing
 *   dialects.c  auth, error bodies, model lists, JSON/SSE helpers
 *   openai.c, anthropic.c, gemini.c
 *               request body -> mock_chat_t, answer -> mock_out_t
 *   answer.c    [[mock ...]] directives, the times= table, the answer text
 *   reply.c     sends a mock_out_t with the faults applied (latency, gap,
 *               drip, cut, hang, ...) and detects clients that went away
 *   control.c   the request recording and the /_mock endpoints
 * Every external name starts with mock_ and its module.
 */
#ifndef MOCK_H
#define MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <json-c/json.h>

#define MOCK_OK 0
#define MOCK_ERR (-1)

typedef enum { MOCK_OPENAI, MOCK_ANTHROPIC, MOCK_GEMINI, MOCK_XAI, MOCK_NDIALECTS } mock_dialect_t;

/* Command-line options (main.c). */
typedef struct {
    const char *listen;
    int latency_ms;
    int gap_ms;
    int jitter_ms;
    int words;
    int record;
    double error_rate; /* 0..1: share of valid chat requests answered error_status */
    int error_status;
    uint64_t seed; /* of the generator behind error_rate and jitter_ms */
    bool down;     /* answer no chat request: close its connection at once */
    bool quiet;
    bool verbose;
} mock_opts_t;

extern mock_opts_t mock_opts;
extern struct event_base *mock_base;

/* A growable list of owned strings. */
typedef struct {
    char **v;
    size_t n;
    size_t cap;
} mock_strv_t;

/* Faults of one request; -1 (or false) means "not set". */
typedef struct {
    int latency_ms;
    int gap_ms;
    int drip_ms;
    int cut;
    int status;
    int retry_after;
    bool hang;
    bool malformed;
    bool error_event;
    bool down;     /* close the connection without an answer (POST /_mock/config down) */
    bool injected; /* status comes from --error-rate */
} mock_fault_t;

typedef enum { MOCK_FIN_STOP, MOCK_FIN_LENGTH, MOCK_FIN_STOPSEQ, MOCK_FIN_TOOL } mock_finish_t;

/* The dialect-neutral view of a chat request. */
typedef struct {
    mock_dialect_t dialect;
    uint64_t seq;       /* request number, used in ids */
    char *model;        /* as requested */
    bool stream;        /* stream the answer */
    bool sse;           /* Gemini: alt=sse (else a JSON array stream) */
    bool include_usage; /* OpenAI/xAI stream_options.include_usage */
    char *user_text;    /* raw text of the last user message with text */
    char *tool_result;  /* text of a trailing tool result, else NULL */
    char *tool_name;    /* tool to call, NULL when no call is wanted */
    long max_tokens;    /* -1 when absent */
    mock_strv_t stops;  /* stop strings */
    int prompt_tokens;  /* words over all message texts incl. system */
} mock_chat_t;

/* The deterministic answer (answer.c). */
typedef struct {
    mock_finish_t finish;
    char *text;         /* assistant text, "" for a tool call */
    mock_strv_t pieces; /* stream pieces; their concatenation is text */
    char *query;        /* tool call: the "query" argument */
    char *args;         /* tool call: arguments as JSON text */
    const char *stop;   /* the stop string that ended the text, or NULL */
    int prompt_tokens;
    int completion_tokens;
} mock_answer_t;

/* What to send back (dialects -> reply.c). */
typedef struct {
    int status;
    const char *content_type;
    bool stream; /* parts are stream events, else parts.v[0] is the body */
    mock_strv_t parts;
    mock_strv_t headers; /* name, value, name, value, ... */
    char *error_event;   /* stream: the dialect's mid-stream error event */
} mock_out_t;

typedef enum {
    MOCK_ERR_STATUS,    /* an injected status: the provider's usual body for it */
    MOCK_ERR_NOKEY,     /* no credentials */
    MOCK_ERR_BADKEY,    /* the key "bad-key" */
    MOCK_ERR_NOVERSION, /* Anthropic without anthropic-version */
    MOCK_ERR_JSON,      /* the body is not JSON */
    MOCK_ERR_INVALID,   /* a required field is missing; message given */
    MOCK_ERR_NOTFOUND   /* unknown route or model; message given */
} mock_err_t;

/* dialects.c */
const char *mock_dialect_name(mock_dialect_t d);
int mock_dialect_auth(mock_dialect_t d, struct evhttp_request *req, const char *query, mock_out_t *out);
void mock_dialect_error(mock_out_t *out, mock_dialect_t d, int status, mock_err_t kind, const char *msg,
                        int retry_after);
void mock_dialect_models(mock_out_t *out, mock_dialect_t d, const char *one_id);
char *mock_dialect_stream_error(mock_dialect_t d, bool sse);
const char *mock_status_reason(int status);
int mock_strv_push(mock_strv_t *sv, char *s);
int mock_strv_add(mock_strv_t *sv, const char *s);
void mock_strv_free(mock_strv_t *sv);
void mock_out_free(mock_out_t *out);
void mock_out_json(mock_out_t *out, int status, const char *content_type, json_object *body);
void mock_out_event(mock_out_t *out, const char *event, json_object *data, const char *end);
char *mock_json_str(json_object *o);
void mock_json_add(json_object *o, const char *key, json_object *value);
void mock_json_add_str(json_object *o, const char *key, const char *value);
void mock_json_add_int(json_object *o, const char *key, int64_t value);
const char *mock_json_get_str(json_object *o, const char *key);
json_object *mock_json_get(json_object *o, const char *key, json_type type);
int mock_json_get_long(json_object *o, const char *key, long *out);
char *mock_json_text(json_object *content, const char *type_key, const char *text_key);
void mock_json_stops(json_object *v, mock_strv_t *stops);
int mock_words(const char *s);

/* openai.c (also xAI), anthropic.c, gemini.c */
const char *mock_openai_parse(json_object *body, mock_chat_t *chat);
void mock_openai_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out);
const char *mock_anthropic_parse(json_object *body, mock_chat_t *chat);
void mock_anthropic_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out);
const char *mock_gemini_parse(json_object *body, mock_chat_t *chat);
void mock_gemini_render(const mock_chat_t *chat, const mock_answer_t *a, mock_out_t *out);

/* answer.c */
void mock_answer_faults(mock_dialect_t d, const char *header, const char *text, mock_fault_t *f);
void mock_answer_run_faults(mock_fault_t *f);
void mock_answer_seed(uint64_t seed);
void mock_answer_build(const mock_chat_t *chat, mock_answer_t *a);
void mock_answer_free(mock_answer_t *a);
void mock_answer_reset_times(void);
void mock_answer_cleanup(void);
char *mock_answer_clean(const char *text);
void mock_answer_split(const char *s, size_t len, size_t parts, size_t *cuts);

/* reply.c */
void mock_reply_send(struct evhttp_request *req, uint64_t seq, mock_out_t *out, const mock_fault_t *f);
void mock_reply_plain(struct evhttp_request *req, mock_out_t *out);
void mock_reply_shutdown(void);

/* control.c */
int mock_ctl_init(int capacity);
uint64_t mock_ctl_begin(struct evhttp_request *req, mock_dialect_t d, const char *body, size_t len);
void mock_ctl_end(uint64_t seq, const char *outcome, int status);
void mock_ctl_handle(struct evhttp_request *req, const char *path);
void mock_ctl_count_fault(const mock_fault_t *f);
void mock_ctl_cleanup(void);
int64_t mock_ctl_now_ms(void);

#endif
