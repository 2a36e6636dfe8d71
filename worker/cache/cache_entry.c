/*
 * cache_entry.c - the documents the response cache stores and replays.
 *
 * A streamed answer is collected from the canonical chunks the client was
 * sent (text, refusal, tool call fragments merged by index, finish reason)
 * plus the job's usage, into the same canonical chat.completion a
 * non-streamed answer is; an error chunk spoils the collection, so a cut
 * stream is never stored.  A replay emits that completion as canonical
 * chunks (role, text, tool calls, finish, usage) that each endpoint turns
 * into its own stream exactly as it does a live one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/orc.h"
#include "worker/cache/cache.h"
#include "worker/llm/providers/provider.h"

struct orc_cache_collect_s {
    char *text;
    size_t len, cap;
    char *refusal;
    json_object *calls; /* canonical tool calls, by index */
    char finish[32];
    bool failed;
};

orc_cache_collect_t *orc_cache_collect_new(void)
{
    orc_cache_collect_t *c = calloc(1, sizeof(*c));
    if (c != NULL && (c->calls = json_object_new_array()) == NULL) {
        free(c);
        c = NULL;
    }
    return c;
}

void orc_cache_collect_free(orc_cache_collect_t *c)
{
    if (c == NULL)
        return;
    free(c->text);
    free(c->refusal);
    json_object_put(c->calls);
    free(c);
}

static void append(orc_cache_collect_t *c, const char *s)
{
    size_t n = strlen(s);
    if (c->len + n + 1 > c->cap) {
        size_t cap = ORC_MAX(c->cap * 2, c->len + n + 256);
        char *t = realloc(c->text, cap);
        if (t == NULL) {
            c->failed = true;
            return;
        }
        c->text = t;
        c->cap = cap;
    }
    memcpy(c->text + c->len, s, n + 1);
    c->len += n;
}

/* A tool call fragment: a new call (id or a new index) or more arguments. */
static void collect_tool(orc_cache_collect_t *c, json_object *frag)
{
    json_object *fn = orc_json_get(frag, "function", json_type_object);
    int64_t k = orc_json_get_int(frag, "index", (int64_t)json_object_array_length(c->calls) - 1);
    const char *id = orc_json_get_str(frag, "id"), *name = orc_json_get_str(fn, "name");
    const char *args = orc_json_get_str(fn, "arguments");
    if (k < 0 || k > 1024 || (size_t)k > json_object_array_length(c->calls)) {
        c->failed = true; /* out of order: not something to replay */
        return;
    }
    json_object *call = json_object_array_get_idx(c->calls, (size_t)k);
    if (call == NULL) {
        call = orc_tool_call_new(-1, id ? id : "", name ? name : "", "");
        json_object_array_add(c->calls, call);
    }
    json_object *cfn = orc_json_get(call, "function", json_type_object);
    if (args != NULL && *args != '\0') {
        const char *old = orc_json_get_str(cfn, "arguments");
        size_t n = strlen(old ? old : "") + strlen(args) + 1;
        char *joined = malloc(n);
        if (joined == NULL) {
            c->failed = true;
            return;
        }
        snprintf(joined, n, "%s%s", old ? old : "", args);
        json_object_object_add(cfn, "arguments", json_object_new_string(joined));
        free(joined);
    }
}

void orc_cache_collect_chunk(orc_cache_collect_t *c, json_object *chunk)
{
    if (c == NULL || c->failed)
        return;
    if (json_object_object_get_ex(chunk, "error", NULL)) {
        c->failed = true;
        return;
    }
    json_object *choices = orc_json_get(chunk, "choices", json_type_array);
    json_object *c0 =
        choices && json_object_array_length(choices) ? json_object_array_get_idx(choices, 0) : NULL;
    if (c0 == NULL)
        return; /* the usage chunk: the job's usage is used */
    if (json_object_array_length(choices) > 1 || orc_json_get_int(c0, "index", 0) != 0) {
        c->failed = true; /* several choices are not cached */
        return;
    }
    json_object *delta = orc_json_get(c0, "delta", json_type_object);
    json_object *calls = orc_json_get(delta, "tool_calls", json_type_array);
    const char *text = orc_json_get_str(delta, "content"), *refusal = orc_json_get_str(delta, "refusal");
    const char *finish = orc_json_get_str(c0, "finish_reason");
    if (text != NULL)
        append(c, text);
    if (refusal != NULL && *refusal != '\0' && c->refusal == NULL)
        c->refusal = strdup(refusal);
    for (size_t i = 0; calls != NULL && i < json_object_array_length(calls); i++)
        collect_tool(c, json_object_array_get_idx(calls, i));
    if (finish != NULL)
        snprintf(c->finish, sizeof(c->finish), "%s", finish);
}

static json_object *collected(orc_cache_collect_t *c, const orc_job_result_t *r)
{
    if (c == NULL || c->failed || (c->finish[0] == '\0' && r->finish_reason[0] == '\0'))
        return NULL;
    json_object *o = json_object_new_object(), *choices = json_object_new_array();
    json_object *choice = json_object_new_object(), *msg = json_object_new_object();
    orc_json_add_str(o, "id", "chatcmpl-cached");
    orc_json_add_str(o, "object", "chat.completion");
    orc_json_add_int(o, "created", (int64_t)time(NULL));
    orc_json_add_str(o, "model", r->model);
    orc_json_add_str(msg, "role", "assistant");
    orc_json_add_str(msg, "content",
                     c->len || !json_object_array_length(c->calls) ? (c->text ? c->text : "") : NULL);
    if (c->refusal != NULL)
        orc_json_add_str(msg, "refusal", c->refusal);
    if (json_object_array_length(c->calls) > 0)
        json_object_object_add(msg, "tool_calls", json_object_get(c->calls));
    orc_json_add_int(choice, "index", 0);
    json_object_object_add(choice, "message", msg);
    orc_json_add_str(choice, "finish_reason", c->finish[0] ? c->finish : r->finish_reason);
    json_object_array_add(choices, choice);
    json_object_object_add(o, "choices", choices);
    return o;
}

json_object *orc_cache_completion(orc_cache_collect_t *c, const orc_job_result_t *r)
{
    orc_cache_collect_t *own = NULL;
    if (!r->ok)
        return NULL;
    if (r->response == NULL && c == NULL && (own = c = orc_cache_collect_new()) != NULL)
        append(c, r->text ? r->text : ""); /* the text alone: what the caller kept of the stream */
    json_object *o = r->response ? json_object_get(r->response) : collected(c, r);
    orc_cache_collect_free(own);
    json_object *choices = orc_json_get(o, "choices", json_type_array);
    if (o == NULL || choices == NULL || json_object_array_length(choices) != 1) {
        json_object_put(o);
        return NULL; /* several choices are not cached */
    }
    if (r->response != NULL) { /* a copy: the response is the client's too */
        json_object *copy = NULL;
        if (json_object_deep_copy(o, &copy, NULL) != 0)
            copy = NULL;
        json_object_put(o);
        o = copy;
        if (o == NULL)
            return NULL;
    }
    if (orc_json_get(o, "usage", json_type_object) == NULL)
        orc_usage_to_json(&r->usage, o);
    return o;
}

/* ---- entries ----------------------------------------------------------- */

json_object *orc_cache_entry_new(int n, const char *const *providers, const char *const *models,
                                 json_object **completions)
{
    json_object *e = json_object_new_object(), *answers = json_object_new_array();
    orc_json_add_int(e, "v", 1);
    orc_json_add_int(e, "created", (int64_t)time(NULL));
    for (int i = 0; i < n; i++) {
        json_object *a = json_object_new_object();
        orc_json_add_str(a, "provider", providers[i]);
        orc_json_add_str(a, "model", models[i]);
        json_object_object_add(a, "completion", completions[i]);
        json_object_array_add(answers, a);
    }
    json_object_object_add(e, "answers", answers);
    return e;
}

int orc_cache_entry_count(json_object *entry)
{
    json_object *answers = orc_json_get(entry, "answers", json_type_array);
    return answers ? (int)json_object_array_length(answers) : 0;
}

int orc_cache_entry_answer(json_object *entry, int i, const char **provider, const char **model,
                           json_object **completion)
{
    json_object *answers = orc_json_get(entry, "answers", json_type_array);
    json_object *a = answers && i >= 0 ? json_object_array_get_idx(answers, (size_t)i) : NULL;
    *provider = orc_json_get_str(a, "provider");
    *model = orc_json_get_str(a, "model");
    *completion = orc_json_get(a, "completion", json_type_object);
    json_object *choices = orc_json_get(*completion, "choices", json_type_array);
    json_object *c0 =
        choices && json_object_array_length(choices) ? json_object_array_get_idx(choices, 0) : NULL;
    if (*provider == NULL || *model == NULL || orc_json_get(c0, "message", json_type_object) == NULL)
        return ORC_ERR;
    return ORC_OK;
}

json_object *orc_cache_fresh_completion(json_object *completion, const char *id)
{
    json_object *copy = NULL;
    if (json_object_deep_copy(completion, &copy, NULL) != 0)
        return NULL;
    orc_json_add_str(copy, "id", id);
    orc_json_add_int(copy, "created", (int64_t)time(NULL));
    return copy;
}

static json_object *message_of(json_object *completion, const char **finish)
{
    json_object *choices = orc_json_get(completion, "choices", json_type_array);
    json_object *c0 =
        choices && json_object_array_length(choices) ? json_object_array_get_idx(choices, 0) : NULL;
    *finish = orc_json_get_str(c0, "finish_reason");
    return orc_json_get(c0, "message", json_type_object);
}

const char *orc_cache_completion_text(json_object *completion)
{
    const char *finish, *text = orc_json_get_str(message_of(completion, &finish), "content");
    return text ? text : "";
}

/* ---- replay ------------------------------------------------------------ */

typedef struct {
    const char *id, *model;
    int64_t created;
    void (*emit)(void *arg, json_object *chunk);
    void *arg;
} replay_t;

/* Emits a chunk with DELTA (taken) and FINISH; NULL DELTA: the usage chunk. */
static void replay_chunk(const replay_t *rp, json_object *delta, const char *finish, json_object *usage)
{
    json_object *chunk = json_object_new_object(), *choices = json_object_new_array();
    orc_json_add_str(chunk, "id", rp->id);
    orc_json_add_str(chunk, "object", "chat.completion.chunk");
    orc_json_add_int(chunk, "created", rp->created);
    orc_json_add_str(chunk, "model", rp->model);
    if (delta != NULL) {
        json_object *choice = json_object_new_object();
        orc_json_add_int(choice, "index", 0);
        json_object_object_add(choice, "delta", delta);
        orc_json_add_str(choice, "finish_reason", finish);
        json_object_array_add(choices, choice);
    }
    json_object_object_add(chunk, "choices", choices);
    if (usage != NULL)
        json_object_object_add(chunk, "usage", json_object_get(usage));
    rp->emit(rp->arg, chunk);
    json_object_put(chunk);
}

static void replay_tools(const replay_t *rp, json_object *calls)
{
    for (size_t i = 0; calls != NULL && i < json_object_array_length(calls); i++) {
        json_object *call = json_object_array_get_idx(calls, i);
        json_object *fn = orc_json_get(call, "function", json_type_object);
        json_object *delta = json_object_new_object(), *list = json_object_new_array();
        json_object_array_add(list, orc_tool_call_new((int)i, orc_json_get_str(call, "id"),
                                                      orc_json_get_str(fn, "name"),
                                                      orc_json_get_str(fn, "arguments")));
        json_object_object_add(delta, "tool_calls", list);
        replay_chunk(rp, delta, NULL, NULL);
    }
}

void orc_cache_replay(json_object *completion, const char *id, bool include_usage,
                      void (*emit)(void *arg, json_object *chunk), void *arg)
{
    const char *finish = NULL;
    json_object *msg = message_of(completion, &finish), *delta = json_object_new_object();
    const char *model = orc_json_get_str(completion, "model");
    replay_t rp = {id, model ? model : "", (int64_t)time(NULL), emit, arg};
    const char *text = orc_json_get_str(msg, "content"), *refusal = orc_json_get_str(msg, "refusal");
    orc_json_add_str(delta, "role", "assistant");
    orc_json_add_str(delta, "content", "");
    replay_chunk(&rp, delta, NULL, NULL);
    if (text != NULL && *text != '\0') {
        delta = json_object_new_object();
        orc_json_add_str(delta, "content", text);
        replay_chunk(&rp, delta, NULL, NULL);
    }
    if (refusal != NULL && *refusal != '\0') {
        delta = json_object_new_object();
        orc_json_add_str(delta, "refusal", refusal);
        replay_chunk(&rp, delta, NULL, NULL);
    }
    replay_tools(&rp, orc_json_get(msg, "tool_calls", json_type_array));
    replay_chunk(&rp, json_object_new_object(), finish ? finish : "stop", NULL);
    if (include_usage)
        replay_chunk(&rp, NULL, NULL, orc_json_get(completion, "usage", json_type_object));
}
