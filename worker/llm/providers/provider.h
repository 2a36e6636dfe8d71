/*
 * provider.h - the interface every provider adapter implements.
 *
 * Inside the gateway a chat request, a response and a stream chunk are
 * always in the OpenAI Chat Completions format (json-c objects): the
 * canonical form.  An adapter translates the canonical request into its
 * provider's HTTP request, and the provider's response, stream events and
 * errors back into the canonical form.  Adapters are pure: no I/O, no
 * global state, so every direction is unit-tested with recorded shapes.
 *
 * Ownership: functions returning json_object* give the caller one
 * reference; objects passed in are borrowed.  orc_http_out_t strings are
 * malloc'd and freed by orc_http_out_free.
 */
#ifndef ORC_PROVIDER_H
#define ORC_PROVIDER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORC_PROVIDER_NAME_MAX 32
#define ORC_MODEL_ID_MAX 128
#define ORC_ADAPTER_HEADERS_MAX 8

typedef enum {
    ORC_PROVIDER_OPENAI = 0,
    ORC_PROVIDER_ANTHROPIC,
    ORC_PROVIDER_GEMINI,
    ORC_PROVIDER_GROK,
    ORC_PROVIDER_OPENAI_COMPATIBLE, /* vLLM, llama.cpp, Ollama: OpenAI wire, no key needed */
    ORC_PROVIDER_TYPES
} orc_provider_type_t;

/* What an adapter needs to know about the provider it talks to. */
typedef struct {
    orc_provider_type_t type;
    const char *base_url;          /* "https://api.openai.com/v1", no trailing slash */
    const char *api_key;           /* may be "" for openai-compatible; never logged */
    const char *anthropic_version; /* Anthropic only; NULL: "2023-06-01" */
    int default_max_tokens;        /* used where the provider requires max_tokens (Anthropic) */
} orc_endpoint_t;

/* The HTTP request an adapter builds. */
typedef struct {
    char *url;
    char *body;
    size_t body_len;
    char *headers[ORC_ADAPTER_HEADERS_MAX]; /* "Name: value", NULL-terminated list */
} orc_http_out_t;

void orc_http_out_free(orc_http_out_t *out);

/* Token usage in the OpenAI view (docs/providers.md §6.2). */
typedef struct {
    int64_t prompt_tokens;     /* includes cached tokens */
    int64_t completion_tokens; /* includes reasoning tokens */
    int64_t total_tokens;      /* prompt + completion */
    int64_t cached_tokens;     /* cache reads */
    int64_t cache_write_tokens;
    int64_t reasoning_tokens;
    bool known; /* the provider reported usage at all */
} orc_usage_t;

/* Why an upstream call failed, and whether it is worth retrying. */
typedef enum {
    ORC_FAIL_NONE = 0,
    ORC_FAIL_RATE_LIMITED, /* 429 with a wait: retryable after retry_after_ms */
    ORC_FAIL_OVERLOADED,   /* 503, Anthropic 529: retryable */
    ORC_FAIL_SERVER,       /* 500, 502, 504, malformed answers, cut streams: retryable */
    ORC_FAIL_TIMEOUT,      /* connect, first-byte, idle or total timeout: retryable */
    ORC_FAIL_CONNECT,      /* refused, reset, DNS: retryable */
    ORC_FAIL_CLIENT,       /* 4xx (bad request, auth, quota, unknown model): never retried */
    ORC_FAIL_CLASSES
} orc_fail_class_t;

typedef struct {
    orc_fail_class_t cls;
    int status;             /* upstream HTTP status, 0 when none */
    int64_t retry_after_ms; /* -1 when the provider gave no hint */
    char message[512];      /* the provider's message; never contains the key */
    char type[64];          /* the provider's error type ("rate_limit_error", "RESOURCE_EXHAUSTED") */
    char code[64];          /* the provider's code, if any */
} orc_failure_t;

const char *orc_fail_class_name(orc_fail_class_t cls); /* "rate_limited", ... */
bool orc_fail_retryable(orc_fail_class_t cls);

/* State of one streamed response being translated to canonical chunks. */
typedef struct {
    char id[96];
    char model[ORC_MODEL_ID_MAX];
    int64_t created;
    bool include_usage;  /* the client asked for the usage chunk */
    bool role_sent;      /* first canonical chunk (with delta.role) emitted */
    bool finished;       /* a finish_reason was emitted */
    bool done;           /* the provider signalled a clean end ([DONE], message_stop) */
    bool failed;         /* a mid-stream error was emitted */
    int next_tool_index; /* canonical tool_calls index of the next new call */
    int block_tool[64];  /* Anthropic content block -> tool index, -1 for text */
    char finish_reason[32];
    orc_usage_t usage;
    orc_failure_t failure;
} orc_stream_t;

/* Receives each canonical chunk (borrowed; the callee takes a reference
 * with json_object_get if it keeps it).  A chunk is either a
 * chat.completion.chunk object or, for a mid-stream failure, an object
 * {"error": {"message", "type", "param", "code"}}. */
typedef void (*orc_chunk_fn)(void *arg, json_object *chunk);

typedef struct {
    orc_provider_type_t type;
    const char *name; /* "openai", "anthropic", "gemini", "grok", "openai-compatible" */

    /* Canonical request -> provider request for MODEL (no "provider/" prefix).
     * ORC_ERR with ERR set for a request the provider cannot take (e.g. n > 1
     * for Anthropic); the message is shown to the client as a 400. */
    int (*build_request)(const orc_endpoint_t *ep, const char *model, json_object *request, bool stream,
                         orc_http_out_t *out, char *err, size_t errlen);

    /* A complete 2xx non-streaming body -> canonical chat.completion.
     * NULL with FAIL set (class SERVER) when the body is not what the
     * provider documents. */
    json_object *(*parse_response)(const char *body, size_t len, const char *model, orc_usage_t *usage,
                                   orc_failure_t *fail);

    /* One SSE event of a 2xx stream (EVENT may be NULL when the provider
     * sends no "event:" lines; DATA is the joined data lines). Emits zero or
     * more canonical chunks. */
    void (*stream_event)(orc_stream_t *st, const char *event, const char *data, size_t len, orc_chunk_fn emit,
                         void *arg);

    /* End of the upstream body.  Emits what is still owed (Gemini: the
     * finish and usage chunks).  Returns ORC_OK when the stream ended
     * cleanly, ORC_ERR when it was cut (then st->failure is set and an
     * error chunk was emitted). */
    int (*stream_end)(orc_stream_t *st, orc_chunk_fn emit, void *arg);

    /* A non-2xx answer -> failure class, message and retry hint.
     * RETRY_AFTER_MS is what the headers said (-1: nothing). */
    void (*classify_error)(int status, const char *body, size_t len, int64_t retry_after_ms,
                           orc_failure_t *fail);
} orc_adapter_t;

const orc_adapter_t *orc_adapter_for(orc_provider_type_t type);
int orc_provider_type_parse(const char *name, orc_provider_type_t *out);
const char *orc_provider_type_name(orc_provider_type_t type);

void orc_stream_init(orc_stream_t *st, const char *model, bool include_usage);

/* Helpers shared by the adapters (adapter.c). */
void orc_usage_to_json(const orc_usage_t *u, json_object *obj); /* adds "usage" in the OpenAI shape */

/*
 * Adapter internals: the adapter tables and the helpers the adapter files
 * share.  Only worker/llm/providers/ and its unit tests use these.
 */
extern const orc_adapter_t orc_adapter_openai, orc_adapter_grok, orc_adapter_openai_compatible;
extern const orc_adapter_t orc_adapter_anthropic, orc_adapter_gemini;

orc_fail_class_t orc_fail_class_for_status(int status);
orc_fail_class_t orc_fail_class_for_type(const char *type); /* mid-stream error type -> class */
void orc_fail_set(orc_failure_t *f, orc_fail_class_t cls, int status, const char *message, const char *type,
                  const char *code);

json_object *orc_json_parse_len(const char *s, size_t len);                 /* one JSON value, else NULL */
json_object *orc_json_get(json_object *o, const char *key, json_type type); /* NULL: absent/other type */
const char *orc_json_get_str(json_object *o, const char *key);
int64_t orc_json_get_int(json_object *o, const char *key, int64_t dflt);
void orc_json_copy(json_object *dst, const char *to, json_object *src, const char *from); /* non-null only */
char *orc_content_text(json_object *content);
/* Appends ITEMS (taken) under ITEMS_KEY as a ROLE turn of TURNS, merged into
 * the last turn when it has the same role; empty ITEMS are left out. */
void orc_turn_append(json_object *turns, const char *role, const char *items_key,
                     json_object *items); /* string or text parts joined; NULL: none/OOM */
int orc_tool_args_parse(const char *args, json_object **out); /* JSON-in-string -> object */
int orc_data_uri_split(const char *url, char *mime, size_t mimelen, const char **data);

int orc_http_out_url(orc_http_out_t *out, const char *base, const char *path, const char *suffix);
int orc_http_out_header(orc_http_out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int orc_http_out_body(orc_http_out_t *out, json_object *body);

json_object *orc_completion_new(const char *id, const char *model); /* chat.completion, choices:[] */
json_object *orc_tool_call_new(int index, const char *id, const char *name, const char *arguments);
void orc_stream_emit_delta(orc_stream_t *st, json_object *delta, const char *finish, orc_chunk_fn emit,
                           void *arg); /* takes DELTA */
void orc_stream_emit_usage(orc_stream_t *st, orc_chunk_fn emit, void *arg);
void orc_stream_fail(orc_stream_t *st, orc_fail_class_t cls, const char *message, const char *type,
                     const char *code, orc_chunk_fn emit, void *arg);

#endif
