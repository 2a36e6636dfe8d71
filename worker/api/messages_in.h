/*
 * messages_in.h - the gateway's Anthropic-compatible endpoint
 * (POST /v1/messages, docs/providers.md §2, §5 "Anthropic-format in", §6.5,
 * §6.6, §7, §10): Anthropic Messages request -> canonical request,
 * canonical response -> Anthropic message, canonical stream chunks ->
 * Anthropic SSE events, HTTP status -> Anthropic error type.
 *
 * Pure translation: no I/O, no global state.  Ownership as in
 * provider.h: returned json_object* give the caller one reference,
 * objects passed in are borrowed and never modified.
 */
#ifndef ORC_MESSAGES_IN_H
#define ORC_MESSAGES_IN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/llm/providers/provider.h"

/* An Anthropic Messages request body -> the canonical (OpenAI Chat
 * Completions) request; "model" is copied as given.  NULL on an invalid
 * request, with ERR holding an Anthropic-style message naming the field
 * ("max_tokens: Field required") and *STATUS = 400 (*STATUS = 200 on
 * success; STATUS may be NULL). */
json_object *orc_messages_to_canonical(json_object *anthropic_request, char *err, size_t errlen, int *status);

/* A canonical non-stream chat.completion -> an Anthropic message (§6.6)
 * naming MODEL (NULL: the completion's own model).  NULL when the
 * completion has no choices[0].message. */
json_object *orc_messages_from_canonical(json_object *chat_completion, const char *model);

/* "msg_" + ID without a "chatcmpl-" prefix; an ID that already starts
 * with "msg_" is kept, an empty one becomes "msg_gateway". */
void orc_messages_id(const char *id, char *buf, size_t len);

/* Receives one Anthropic SSE event to send: EVENT is the event name (and
 * data.type), DATA is borrowed.  The caller frames it as
 * "event: <name>\ndata: <json>\n\n". */
typedef void (*orc_sse_out_fn)(void *arg, const char *event, json_object *data);

/* One canonical stream being translated to Anthropic events (§6.5).
 * Invariants: message_start is the first event and goes out once; at most
 * one content block is open; block indexes count 0,1,2... across text and
 * tool blocks; after message_stop or an error event nothing more goes
 * out. */
typedef struct {
    char model[ORC_MODEL_ID_MAX];
    char id[128];   /* message id; "" until known (init or first chunk) */
    bool started;   /* message_start and ping sent */
    bool ended;     /* message_stop or error sent */
    bool finished;  /* a finish_reason was seen */
    bool any_tool;  /* a tool_use block was opened */
    bool refused;   /* the model refused (delta.refusal): stop_reason "refusal" */
    int next_block; /* index the next content block gets */
    int open_block; /* index of the open block, -1: none */
    int open_tool;  /* canonical tool index of the open tool block, -1: text or none */
    int last_tool;  /* highest canonical tool index opened, -1: none */
    char stop_reason[32];
    bool usage_known;
    int64_t input_tokens; /* prompt - cached */
    int64_t output_tokens;
    int64_t cache_read_tokens;
} orc_messages_stream_t;

/* MESSAGE_ID NULL or "": derived from the first chunk's id. */
void orc_messages_stream_init(orc_messages_stream_t *s, const char *model, const char *message_id);

/* One canonical chat.completion.chunk or error object {"error":{...}}. */
void orc_messages_stream_chunk(orc_messages_stream_t *s, json_object *chunk, orc_sse_out_fn out, void *arg);

/* End of the canonical stream.  OK: close the open block, message_delta
 * with the best usage known, message_stop.  !OK: an api_error event
 * unless an error event was already sent. */
void orc_messages_stream_finish(orc_messages_stream_t *s, bool ok, orc_sse_out_fn out, void *arg);

/* The Anthropic error.type for an HTTP status (§2.5, §7). */
const char *orc_messages_error_type(int status);

/* {"type":"error","error":{"type":<for STATUS>,"message":MESSAGE}}. */
json_object *orc_messages_error_new(int status, const char *message);

#endif
