/*
 * test_messages_in.c - translation for the Anthropic-compatible endpoint
 * POST /v1/messages: every request mapping row (docs/providers.md §5
 * "Anthropic-format in"), the validation errors, the response mapping of
 * §6.6 with every stop_reason, the stream translation of §6.5 on canonical
 * chunk sequences (exact event sequences) and on the recorded provider
 * streams through the real adapters, and the error types of §2.5/§7.
 *
 * JSON in this file is written with ' for " (see J()).
 */
#include <criterion/criterion.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/orc.h"
#include "tests/unit/helpers.h"
#include "worker/api/messages_in.h"
#include "worker/llm/providers/provider.h"
#include "worker/llm/providers/sse.h"

#define FIXTURE(name) ORC_TEST_DATA "/providers/" name

TestSuite(messages_in, .timeout = 10);

/* --- helpers --------------------------------------------------------------- */

/* Parses TEXT written with ' for " (\\' for an escaped quote). */
static json_object *J(const char *text)
{
    char *s = strdup(text);
    cr_assert_not_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_object *o = json_tokener_parse(s);
    cr_assert_not_null(o, "bad test JSON: %s", s);
    free(s);
    return o;
}

static void assert_json(json_object *got, const char *want_text)
{
    json_object *want = J(want_text);
    cr_assert(json_object_equal(got, want), "got  %s\nwant %s", test_plain(got), test_plain(want));
    json_object_put(want);
}

/* The canonical request for REQ_TEXT; fails the test when refused, and
 * checks that the request is left as it was. */
static json_object *canon(const char *req_text)
{
    json_object *req = J(req_text);
    char before[8192], err[256] = "";
    int status = 0;
    snprintf(before, sizeof(before), "%s", test_plain(req));
    json_object *out = orc_messages_to_canonical(req, err, sizeof(err), &status);
    cr_assert_not_null(out, "refused: %s", err);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(test_plain(req), before, "the request must not be modified");
    json_object_put(req);
    return out;
}

static void expect_canon(const char *req_text, const char *want)
{
    json_object *out = canon(req_text);
    assert_json(out, want);
    json_object_put(out);
}

static void expect_reject(const char *req_text, const char *message)
{
    json_object *req = J(req_text);
    char err[256] = "";
    int status = 0;
    cr_assert_null(orc_messages_to_canonical(req, err, sizeof(err), &status), "accepted: %s", req_text);
    cr_assert_eq(status, 400);
    cr_assert_str_eq(err, message, "for %s", req_text);
    json_object_put(req);
}

#define BASE "'model':'claude-haiku-4-5','max_tokens':64"
#define HI "{'role':'user','content':'Hi'}"
#define CBASE BASE /* the canonical request has the same two fields */
#define CHI HI

/* Canonical request for BASE with MESSAGES and FIELDS. */
#define REQ(messages, fields) "{" BASE ",'messages':[" messages "]" fields "}"

/* --- request: mapping rows --------------------------------------------------- */

Test(messages_in, doc_example_with_tools)
{
    expect_canon(
        "{'model':'claude-haiku-4-5','max_tokens':256,'system':'You are terse.',"
        "'messages':[{'role':'user','content':'Weather in Oslo?'},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'toolu_01A','name':'get_weather',"
        "'input':{'city':'Oslo'}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_01A','content':'4 C'}]}],"
        "'tools':[{'name':'get_weather','description':'Current weather','input_schema':{'type':'object',"
        "'properties':{'city':{'type':'string'}},'required':['city']}}],'tool_choice':{'type':'auto'}}",
        "{'model':'claude-haiku-4-5','max_tokens':256,'messages':["
        "{'role':'system','content':'You are terse.'},"
        "{'role':'user','content':'Weather in Oslo?'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'toolu_01A','type':'function',"
        "'function':{'name':'get_weather','arguments':'{\\'city\\':\\'Oslo\\'}'}}]},"
        "{'role':'tool','content':'4 C','tool_call_id':'toolu_01A'}],"
        "'tools':[{'type':'function','function':{'name':'get_weather','description':'Current weather',"
        "'parameters':{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}}}],"
        "'tool_choice':'auto'}");
}

Test(messages_in, minimal_request_and_model_copied_as_given)
{
    expect_canon("{'model':'openai/gpt-4o-mini','max_tokens':10,'messages':[" HI "]}",
                 "{'model':'openai/gpt-4o-mini','max_tokens':10,'messages':[" CHI "]}");
}

Test(messages_in, system_string_and_text_blocks)
{
    expect_canon(REQ(HI, ",'system':'Be terse.'"),
                 "{" CBASE ",'messages':[{'role':'system','content':'Be terse.'}," CHI "]}");
    expect_canon(REQ(HI, ",'system':[{'type':'text','text':'Be terse.','cache_control':{'type':'ephemeral'}},"
                         "{'type':'text','text':'Answer in French.'}]"),
                 "{" CBASE ",'messages':[{'role':'system','content':'Be terse.\\nAnswer in French.'}," CHI
                 "]}");
    expect_canon(REQ(HI, ",'system':''"), "{" CBASE ",'messages':[" CHI "]}");
    expect_canon(REQ(HI, ",'system':[]"), "{" CBASE ",'messages':[" CHI "]}");
    expect_canon(REQ(HI, ",'system':null"), "{" CBASE ",'messages':[" CHI "]}");
}

Test(messages_in, user_text_blocks_become_one_string)
{
    expect_canon(REQ("{'role':'user','content':[{'type':'text','text':'a'},{'type':'text','text':'b',"
                     "'cache_control':{'type':'ephemeral'}}]}",
                     ""),
                 "{" CBASE ",'messages':[{'role':'user','content':'a\\nb'}]}");
}

Test(messages_in, user_images_become_parts)
{
    expect_canon(REQ("{'role':'user','content':[{'type':'text','text':'What is this?'},"
                     "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBOR'}},"
                     "{'type':'image','source':{'type':'url','url':'https://x.test/a.jpg'}}]}",
                     ""),
                 "{" CBASE ",'messages':[{'role':'user','content':["
                 "{'type':'text','text':'What is this?'},"
                 "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBOR'}},"
                 "{'type':'image_url','image_url':{'url':'https://x.test/a.jpg'}}]}]}");
}

Test(messages_in, assistant_text_and_tool_use)
{
    expect_canon(
        REQ(HI ",{'role':'assistant','content':[{'type':'thinking','thinking':'hmm','signature':'x'},"
               "{'type':'text','text':'Checking.'},{'type':'text','text':'Both.'},"
               "{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{'city':'Oslo'}},"
               "{'type':'tool_use','id':'toolu_2','name':'get_time','input':{}}]}",
            ""),
        "{" CBASE ",'messages':[" CHI ",{'role':'assistant','content':'Checking.\\nBoth.','tool_calls':["
        "{'id':'toolu_1','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'"
        "Oslo\\'}'}},"
        "{'id':'toolu_2','type':'function','function':{'name':'get_time','arguments':'{}'}}]}]}");
}

Test(messages_in, assistant_string_and_thinking_only_turn)
{
    expect_canon(REQ(HI ",{'role':'assistant','content':'Hello.'}," HI, ""),
                 "{" CBASE ",'messages':[" CHI ",{'role':'assistant','content':'Hello.'}," CHI "]}");
    /* a turn of thinking blocks only has nothing to say to another model */
    expect_canon(REQ(HI ",{'role':'assistant','content':[{'type':'redacted_thinking','data':'x'}]}," HI, ""),
                 "{" CBASE ",'messages':[" CHI "," CHI "]}");
}

Test(messages_in, tool_results_become_tool_messages_before_user_text)
{
    expect_canon(
        REQ(HI ",{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'a','input':{}},"
               "{'type':'tool_use','id':'t2','name':'b','input':{}},{'type':'tool_use','id':'t3','name':'c',"
               "'input':{}}]},"
               "{'role':'user','content':[{'type':'text','text':'Thanks.'},"
               "{'type':'tool_result','tool_use_id':'t1','content':'4 C'},"
               "{'type':'tool_result','tool_use_id':'t2','is_error':true,'content':[{'type':'text','text':'"
               "line 1'},"
               "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'AA'}},"
               "{'type':'text','text':'line 2'}]},"
               "{'type':'tool_result','tool_use_id':'t3'}]}",
            ""),
        "{" CBASE ",'messages':[" CHI ",{'role':'assistant','content':null,'tool_calls':["
        "{'id':'t1','type':'function','function':{'name':'a','arguments':'{}'}},"
        "{'id':'t2','type':'function','function':{'name':'b','arguments':'{}'}},"
        "{'id':'t3','type':'function','function':{'name':'c','arguments':'{}'}}]},"
        "{'role':'tool','content':'4 C','tool_call_id':'t1'},"
        "{'role':'tool','content':'line 1\\nline 2','tool_call_id':'t2'},"
        "{'role':'tool','content':'','tool_call_id':'t3'},"
        "{'role':'user','content':'Thanks.'}]}");
}

Test(messages_in, tool_result_only_turn_has_no_user_message)
{
    json_object *out = canon(REQ(HI ",{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'a',"
                                    "'input':{}}]},{'role':'user','content':[{'type':'tool_result',"
                                    "'tool_use_id':'t1','content':[]}]}",
                                 ""));
    json_object *msgs = test_at(out, "messages");
    cr_assert_eq(json_object_array_length(msgs), 3);
    assert_json(test_at(msgs, "2"), "{'role':'tool','content':'','tool_call_id':'t1'}");
    json_object_put(out);
}

Test(messages_in, final_assistant_prefill_kept_empty_one_dropped)
{
    expect_canon(REQ(HI ",{'role':'assistant','content':'{'}", ""),
                 "{" CBASE ",'messages':[" CHI ",{'role':'assistant','content':'{'}]}");
    expect_canon(REQ(HI ",{'role':'assistant','content':''}", ""), "{" CBASE ",'messages':[" CHI "]}");
    expect_canon(REQ(HI ",{'role':'assistant','content':[]}", ""), "{" CBASE ",'messages':[" CHI "]}");
}

Test(messages_in, system_role_in_messages_accepted)
{
    expect_canon(REQ("{'role':'system','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]},"
                     "{'role':'system','content':'c'}," HI,
                     ""),
                 "{" CBASE ",'messages':[{'role':'system','content':'a\\nb'},{'role':'system','content':'c'},"
                 "" CHI "]}");
}

Test(messages_in, sampling_stop_and_metadata)
{
    expect_canon(REQ(HI, ",'temperature':0.3,'top_p':0.9,'top_k':40,'stop_sequences':['END','\\n\\n'],"
                         "'metadata':{'user_id':'user-42'},'thinking':{'type':'disabled'},"
                         "'service_tier':'auto'"),
                 "{" CBASE ",'messages':[" CHI "],'temperature':0.3,'top_p':0.9,'stop':['END','\\n\\n'],"
                 "'user':'user-42'}");
    expect_canon(REQ(HI, ",'temperature':0,'top_p':1,'stop_sequences':[],'metadata':{}"),
                 "{" CBASE ",'messages':[" CHI "],'temperature':0,'top_p':1}");
    expect_canon(REQ(HI, ",'temperature':null,'top_k':null,'metadata':{'user_id':null}"),
                 "{" CBASE ",'messages':[" CHI "]}");
}

Test(messages_in, max_tokens_integral_number_accepted)
{
    expect_canon("{'model':'m','max_tokens':256.0,'messages':[" CHI "]}",
                 "{'model':'m','max_tokens':256,'messages':[" CHI "]}");
}

Test(messages_in, stream_asks_for_usage)
{
    expect_canon(REQ(HI, ",'stream':true"),
                 "{" CBASE ",'messages':[" CHI "],'stream':true,'stream_options':{'include_usage':true}}");
    expect_canon(REQ(HI, ",'stream':false"), "{" CBASE ",'messages':[" CHI "],'stream':false}");
}

#define TOOL_A "{'name':'a','input_schema':{'type':'object'}}"
#define CTOOL_A "{'type':'function','function':{'name':'a','parameters':{'type':'object'}}}"

Test(messages_in, tools_without_description_and_custom_type)
{
    expect_canon(
        REQ(HI, ",'tools':[" TOOL_A ",{'type':'custom','name':'b','description':'B',"
                "'input_schema':{'type':'object','properties':{}},'cache_control':{'type':'ephemeral'}}]"),
        "{" CBASE ",'messages':[" CHI "],'tools':[" CTOOL_A ",{'type':'function','function':{'name':'b',"
        "'description':'B','parameters':{'type':'object','properties':{}}}}]}");
}

Test(messages_in, tool_choice_rows)
{
    static const struct {
        const char *choice, *want;
    } rows[] = {
        {"{'type':'auto'}", ",'tool_choice':'auto'"},
        {"{'type':'none'}", ",'tool_choice':'none'"},
        {"{'type':'any'}", ",'tool_choice':'required'"},
        {"{'type':'tool','name':'a'}", ",'tool_choice':{'type':'function','function':{'name':'a'}}"},
        {"{'type':'auto','disable_parallel_tool_use':true}",
         ",'tool_choice':'auto','parallel_tool_calls':false"},
        {"{'type':'any','disable_parallel_tool_use':false}", ",'tool_choice':'required'"},
        {"{'type':'tool','name':'a','disable_parallel_tool_use':true}",
         ",'tool_choice':{'type':'function','function':{'name':'a'}},'parallel_tool_calls':false"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char req[512], want[512];
        snprintf(req, sizeof(req), REQ(HI, ",'tools':[" TOOL_A "],'tool_choice':%s"), rows[i].choice);
        snprintf(want, sizeof(want), "{" CBASE ",'messages':[" CHI "],'tools':[" CTOOL_A "]%s}",
                 rows[i].want);
        expect_canon(req, want);
    }
}

Test(messages_in, tool_choice_and_parallel_need_tools)
{
    expect_canon(REQ(HI, ",'tool_choice':{'type':'any','disable_parallel_tool_use':true}"),
                 "{" CBASE ",'messages':[" CHI "]}");
    expect_canon(REQ(HI, ",'tools':[],'tool_choice':{'type':'auto'}"), "{" CBASE ",'messages':[" CHI "]}");
}

/* --- request: validation ----------------------------------------------------- */

Test(messages_in, reject_not_an_object)
{
    json_object *req = J("[1]");
    char err[128];
    int status = 0;
    cr_assert_null(orc_messages_to_canonical(req, err, sizeof(err), &status));
    cr_assert_eq(status, 400);
    cr_assert_str_eq(err, "Input should be a valid dictionary");
    cr_assert_null(orc_messages_to_canonical(NULL, err, sizeof(err), NULL));
    json_object_put(req);
}

Test(messages_in, reject_top_level_fields)
{
    expect_reject("{'max_tokens':5,'messages':[" HI "]}", "model: Field required");
    expect_reject("{'model':5,'max_tokens':5,'messages':[" HI "]}", "model: Input should be a valid string");
    expect_reject("{'model':'','max_tokens':5,'messages':[" HI "]}",
                  "model: String should have at least 1 character");
    expect_reject("{'model':'m','messages':[" HI "]}", "max_tokens: Field required");
    expect_reject("{'model':'m','max_tokens':'5','messages':[" HI "]}",
                  "max_tokens: Input should be a valid integer");
    expect_reject("{'model':'m','max_tokens':1.5,'messages':[" HI "]}",
                  "max_tokens: Input should be a valid integer");
    expect_reject("{'model':'m','max_tokens':true,'messages':[" HI "]}",
                  "max_tokens: Input should be a valid integer");
    expect_reject("{'model':'m','max_tokens':null,'messages':[" HI "]}",
                  "max_tokens: Input should be a valid integer");
    expect_reject("{'model':'m','max_tokens':0,'messages':[" HI "]}",
                  "max_tokens: Input should be greater than or equal to 1");
    expect_reject("{'model':'m','max_tokens':5}", "messages: Field required");
    expect_reject("{'model':'m','max_tokens':5,'messages':{}}", "messages: Input should be a valid list");
    expect_reject("{'model':'m','max_tokens':5,'messages':[]}",
                  "messages: List should have at least 1 item after validation, not 0");
}

Test(messages_in, reject_messages)
{
    expect_reject(REQ("5", ""), "messages.0: Input should be a valid dictionary");
    expect_reject(REQ(HI ",{'content':'x'}", ""), "messages.1.role: Field required");
    expect_reject(REQ("{'role':'tool','content':'x'}", ""),
                  "messages.0.role: Input should be 'user' or 'assistant'");
    expect_reject(REQ("{'role':5,'content':'x'}", ""),
                  "messages.0.role: Input should be 'user' or 'assistant'");
    expect_reject(REQ("{'role':'user'}", ""), "messages.0.content: Field required");
    expect_reject(REQ("{'role':'user','content':5}", ""),
                  "messages.0.content: Input should be a valid string or a list of content blocks");
    expect_reject(
        REQ("{'role':'user','content':''}", ""),
        "messages.0: all messages must have non-empty content except for the optional final assistant "
        "message");
    expect_reject(
        REQ("{'role':'assistant','content':[]}," HI, ""),
        "messages.0: all messages must have non-empty content except for the optional final assistant "
        "message");
    expect_reject(
        REQ(HI "," HI ",{'role':'user','content':[]}", ""),
        "messages.2: all messages must have non-empty content except for the optional final assistant "
        "message");
}

#define USER_BLOCK(b) REQ("{'role':'user','content':[" b "]}", "")
#define ASSISTANT_BLOCK(b) REQ(HI ",{'role':'assistant','content':[" b "]}", "")

Test(messages_in, reject_content_blocks)
{
    expect_reject(USER_BLOCK("5"), "messages.0.content.0: Input should be a valid dictionary");
    expect_reject(USER_BLOCK("{'text':'a'}"), "messages.0.content.0.type: Field required");
    expect_reject(USER_BLOCK("{'type':'text','text':'a'},{'type':'document','source':{}}"),
                  "messages.0.content.1: Input tag 'document' found using 'type' does not match any of the "
                  "expected tags: 'text', 'image', 'tool_result'");
    expect_reject(
        ASSISTANT_BLOCK("{'type':'tool_result','tool_use_id':'x'}"),
        "messages.1.content.0: Input tag 'tool_result' found using 'type' does not match any of the "
        "expected tags: 'text', 'tool_use', 'thinking', 'redacted_thinking'");
    expect_reject(USER_BLOCK("{'type':'text'}"), "messages.0.content.0.text: Field required");
    expect_reject(USER_BLOCK("{'type':'text','text':5}"),
                  "messages.0.content.0.text: Input should be a valid string");
    expect_reject(USER_BLOCK("{'type':'text','text':''}"),
                  "messages.0.content.0.text: text content blocks must be non-empty");
    expect_reject(ASSISTANT_BLOCK("{'type':'text','text':''}"),
                  "messages.1.content.0.text: text content blocks must be non-empty");
}

Test(messages_in, reject_images)
{
    expect_reject(USER_BLOCK("{'type':'image'}"), "messages.0.content.0.source: Field required");
    expect_reject(USER_BLOCK("{'type':'image','source':'x'}"),
                  "messages.0.content.0.source: Input should be a valid dictionary");
    expect_reject(
        USER_BLOCK("{'type':'image','source':{'type':'file','file_id':'f'}}"),
        "messages.0.content.0.source: Input tag 'file' found using 'type' does not match any of the "
        "expected tags: 'base64', 'url'");
    expect_reject(USER_BLOCK("{'type':'image','source':{'media_type':'image/png'}}"),
                  "messages.0.content.0.source.type: Field required");
    expect_reject(USER_BLOCK("{'type':'image','source':{'type':'base64','media_type':'image/png'}}"),
                  "messages.0.content.0.source.data: Field required");
    expect_reject(USER_BLOCK("{'type':'image','source':{'type':'base64','media_type':5,'data':'AA'}}"),
                  "messages.0.content.0.source.media_type: Input should be a valid string");
    expect_reject(USER_BLOCK("{'type':'image','source':{'type':'url'}}"),
                  "messages.0.content.0.source.url: Field required");
    expect_reject(
        ASSISTANT_BLOCK("{'type':'image','source':{'type':'url','url':'https://x'}}"),
        "messages.1.content.0: Input tag 'image' found using 'type' does not match any of the expected "
        "tags: 'text', 'tool_use', 'thinking', 'redacted_thinking'");
}

Test(messages_in, reject_tool_use_and_tool_result)
{
    expect_reject(ASSISTANT_BLOCK("{'type':'tool_use','name':'a','input':{}}"),
                  "messages.1.content.0.id: Field required");
    expect_reject(ASSISTANT_BLOCK("{'type':'tool_use','id':'t','input':{}}"),
                  "messages.1.content.0.name: Field required");
    expect_reject(ASSISTANT_BLOCK("{'type':'tool_use','id':'t','name':'a'}"),
                  "messages.1.content.0.input: Field required");
    expect_reject(ASSISTANT_BLOCK("{'type':'tool_use','id':'t','name':'a','input':'{}'}"),
                  "messages.1.content.0.input: Input should be a valid dictionary");
    expect_reject(USER_BLOCK("{'type':'tool_result','content':'x'}"),
                  "messages.0.content.0.tool_use_id: Field required");
    expect_reject(USER_BLOCK("{'type':'tool_result','tool_use_id':'t','content':5}"),
                  "messages.0.content.0.content: Input should be a valid string or a list of content blocks");
    expect_reject(
        USER_BLOCK("{'type':'tool_result','tool_use_id':'t','content':[{'type':'document'}]}"),
        "messages.0.content.0.content.0: Input tag 'document' found using 'type' does not match any of "
        "the expected tags: 'text', 'image'");
    expect_reject(USER_BLOCK("{'type':'tool_result','tool_use_id':'t','content':[{'type':'text'}]}"),
                  "messages.0.content.0.content.0.text: Field required");
}

Test(messages_in, reject_system)
{
    expect_reject(REQ(HI, ",'system':5"), "system: Input should be a valid string or a list of text blocks");
    expect_reject(REQ(HI, ",'system':[5]"), "system.0: Input should be a valid dictionary");
    expect_reject(REQ(HI, ",'system':[{'type':'text','text':'a'},{'type':'image'}]"),
                  "system.1.type: Input should be 'text'");
    expect_reject(REQ(HI, ",'system':[{'type':'text','text':''}]"),
                  "system.0.text: text content blocks must be non-empty");
    expect_reject(REQ("{'role':'system','content':[{'type':'image'}]}," HI, ""),
                  "messages.0.content.0.type: Input should be 'text'");
}

Test(messages_in, reject_parameters)
{
    expect_reject(REQ(HI, ",'temperature':'0.5'"), "temperature: Input should be a valid number");
    expect_reject(REQ(HI, ",'temperature':1.5"), "temperature: Input should be less than or equal to 1");
    expect_reject(REQ(HI, ",'temperature':2"), "temperature: Input should be less than or equal to 1");
    expect_reject(REQ(HI, ",'temperature':-0.1"), "temperature: Input should be greater than or equal to 0");
    expect_reject(REQ(HI, ",'top_p':1.01"), "top_p: Input should be less than or equal to 1");
    expect_reject(REQ(HI, ",'top_k':'x'"), "top_k: Input should be a valid integer");
    expect_reject(REQ(HI, ",'top_k':2.5"), "top_k: Input should be a valid integer");
    expect_reject(REQ(HI, ",'top_k':-1"), "top_k: Input should be greater than or equal to 0");
    expect_reject(REQ(HI, ",'stop_sequences':'END'"), "stop_sequences: Input should be a valid list");
    expect_reject(REQ(HI, ",'stop_sequences':['a',1]"), "stop_sequences.1: Input should be a valid string");
    expect_reject(REQ(HI, ",'stream':'yes'"), "stream: Input should be a valid boolean");
    expect_reject(REQ(HI, ",'metadata':'x'"), "metadata: Input should be a valid dictionary");
    expect_reject(REQ(HI, ",'metadata':{'user_id':5}"), "metadata.user_id: Input should be a valid string");
}

Test(messages_in, reject_tools_and_tool_choice)
{
    expect_reject(REQ(HI, ",'tools':{}"), "tools: Input should be a valid list");
    expect_reject(REQ(HI, ",'tools':[" TOOL_A ",5]"), "tools.1: Input should be a valid dictionary");
    expect_reject(REQ(HI, ",'tools':[{'input_schema':{}}]"), "tools.0.name: Field required");
    expect_reject(REQ(HI, ",'tools':[{'name':'a'}]"), "tools.0.input_schema: Field required");
    expect_reject(REQ(HI, ",'tools':[{'name':'a','input_schema':'x'}]"),
                  "tools.0.input_schema: Input should be a valid dictionary");
    expect_reject(REQ(HI, ",'tools':[{'name':'a','description':5,'input_schema':{}}]"),
                  "tools.0.description: Input should be a valid string");
    expect_reject(REQ(HI, ",'tools':[{'type':'web_search_20250305','name':'web_search'}]"),
                  "tools.0.type: tool type 'web_search_20250305' is not supported by this gateway");
    expect_reject(REQ(HI, ",'tools':[" TOOL_A "],'tool_choice':'auto'"),
                  "tool_choice: Input should be a valid dictionary");
    expect_reject(REQ(HI, ",'tools':[" TOOL_A "],'tool_choice':{}"), "tool_choice.type: Field required");
    expect_reject(
        REQ(HI, ",'tools':[" TOOL_A "],'tool_choice':{'type':'required'}"),
        "tool_choice: Input tag 'required' found using 'type' does not match any of the expected tags: "
        "'auto', 'any', 'tool', 'none'");
    expect_reject(REQ(HI, ",'tools':[" TOOL_A "],'tool_choice':{'type':'tool'}"),
                  "tool_choice.name: Field required");
    expect_reject(
        REQ(HI, ",'tools':[" TOOL_A "],'tool_choice':{'type':'auto','disable_parallel_tool_use':1}"),
        "tool_choice.disable_parallel_tool_use: Input should be a valid boolean");
    /* validated even when there are no tools to send it with */
    expect_reject(REQ(HI, ",'tool_choice':{'type':'tool'}"), "tool_choice.name: Field required");
}

Test(messages_in, reject_with_small_or_no_error_buffer)
{
    json_object *req = J("{'model':'m','messages':[" HI "]}");
    char err[8];
    int status = 0;
    cr_assert_null(orc_messages_to_canonical(req, err, sizeof(err), &status));
    cr_assert_str_eq(err, "max_tok");
    cr_assert_null(orc_messages_to_canonical(req, NULL, 0, &status));
    cr_assert_eq(status, 400);
    json_object_put(req);
}

/* --- response (§6.6) --------------------------------------------------------- */

static json_object *response(const char *completion, const char *model)
{
    json_object *cc = J(completion);
    json_object *msg = orc_messages_from_canonical(cc, model);
    json_object_put(cc);
    cr_assert_not_null(msg, "no message for %s", completion);
    return msg;
}

#define COMPLETION(id, message, finish, usage)                                                               \
    "{'id':'" id "','object':'chat.completion','created':1764100000,'model':'gpt-4o-mini-2024-07-18',"       \
    "'choices':[{'index':0,'message':" message ",'logprobs':null,'finish_reason':" finish "}]" usage "}"
#define USAGE_21_4 ",'usage':{'prompt_tokens':21,'completion_tokens':4,'total_tokens':25}"

Test(messages_in, response_text)
{
    json_object *msg =
        response(COMPLETION("chatcmpl-9fQ2", "{'role':'assistant','content':'Hi there.','refusal':null}",
                            "'stop'", USAGE_21_4),
                 "openai/gpt-4o-mini");
    assert_json(
        msg, "{'id':'msg_9fQ2','type':'message','role':'assistant','model':'openai/gpt-4o-mini',"
             "'content':[{'type':'text','text':'Hi there.'}],'stop_reason':'end_turn','stop_sequence':null,"
             "'usage':{'input_tokens':21,'output_tokens':4,'cache_creation_input_tokens':0,"
             "'cache_read_input_tokens':0}}");
    json_object_put(msg);
}

Test(messages_in, response_tool_use_with_text_and_cached_usage)
{
    json_object *msg = response(
        COMPLETION("chatcmpl-T",
                   "{'role':'assistant','content':'Checking.','tool_calls':["
                   "{'id':'call_1','type':'function','function':{'name':'get_weather','arguments':'{\\'"
                   "city\\':\\'Oslo\\'}'}},"
                   "{'id':'call_2','type':'function','function':{'name':'get_time','arguments':''}},"
                   "{'id':'call_3','type':'function','function':{'name':'broken','arguments':'{\\'a\\':'}},"
                   "{'id':'call_4','type':'function','function':{'name':'list','arguments':'[1]'}}]}",
                   "'tool_calls'",
                   ",'usage':{'prompt_tokens':50,'completion_tokens':20,'total_tokens':70,"
                   "'prompt_tokens_details':{'cached_tokens':10}}"),
        NULL);
    assert_json(
        msg, "{'id':'msg_T','type':'message','role':'assistant','model':'gpt-4o-mini-2024-07-18','content':["
             "{'type':'text','text':'Checking.'},"
             "{'type':'tool_use','id':'call_1','name':'get_weather','input':{'city':'Oslo'}},"
             "{'type':'tool_use','id':'call_2','name':'get_time','input':{}},"
             "{'type':'tool_use','id':'call_3','name':'broken','input':{}},"
             "{'type':'tool_use','id':'call_4','name':'list','input':{}}],"
             "'stop_reason':'tool_use','stop_sequence':null,"
             "'usage':{'input_tokens':40,'output_tokens':20,'cache_creation_input_tokens':0,"
             "'cache_read_input_tokens':10}}");
    json_object_put(msg);
}

Test(messages_in, response_tool_calls_only_has_no_text_block)
{
    json_object *msg =
        response(COMPLETION("chatcmpl-T",
                            "{'role':'assistant','content':null,'tool_calls':[{'type':'function',"
                            "'function':{'name':'a','arguments':'{}'}}]}",
                            "'tool_calls'", ""),
                 "m");
    assert_json(test_at(msg, "content"),
                "[{'type':'tool_use','id':'toolu_gateway_0','name':'a','input':{}}]");
    assert_json(test_at(msg, "usage"), "{'input_tokens':0,'output_tokens':0,'cache_creation_input_tokens':0,"
                                       "'cache_read_input_tokens':0}");
    json_object_put(msg);
}

Test(messages_in, response_every_stop_reason)
{
    static const struct {
        const char *finish, *tools, *want;
    } rows[] = {
        {"'stop'", "", "end_turn"},
        {"'length'", "", "max_tokens"},
        {"'tool_calls'", "", "tool_use"},
        {"'content_filter'", "", "refusal"},
        {"'function_call'", "", "tool_use"},
        {"null", "", "end_turn"},
        {"'something_new'", "", "end_turn"},
        /* OpenAI-compatible servers end tool calls with "stop": clients loop on tool_use */
        {"'stop'", ",'tool_calls':[{'id':'c','type':'function','function':{'name':'a','arguments':'{}'}}]",
         "tool_use"},
        {"'length'", ",'tool_calls':[{'id':'c','type':'function','function':{'name':'a','arguments':'{}'}}]",
         "max_tokens"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 COMPLETION("chatcmpl-X", "{'role':'assistant','content':'x'%s}", "%s", ""), rows[i].tools,
                 rows[i].finish);
        json_object *msg = response(text, "m");
        cr_assert_str_eq(test_at_str(msg, "stop_reason"), rows[i].want, "row %zu", i);
        cr_assert(json_object_object_get_ex(msg, "stop_sequence", NULL));
        cr_assert_null(test_at(msg, "stop_sequence"));
        json_object_put(msg);
    }
}

Test(messages_in, response_empty_content_parts_and_refusal)
{
    json_object *msg =
        response(COMPLETION("chatcmpl-X", "{'role':'assistant','content':''}", "'stop'", USAGE_21_4), "m");
    assert_json(test_at(msg, "content"), "[]");
    json_object_put(msg);
    msg = response(
        COMPLETION("chatcmpl-X",
                   "{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}",
                   "'stop'", ""),
        "m");
    assert_json(test_at(msg, "content"), "[{'type':'text','text':'ab'}]");
    json_object_put(msg);
    msg = response(COMPLETION("chatcmpl-X", "{'role':'assistant','content':null,'refusal':'I cannot help.'}",
                              "'stop'", ""),
                   "m");
    assert_json(test_at(msg, "content"), "[{'type':'text','text':'I cannot help.'}]");
    cr_assert_str_eq(test_at_str(msg, "stop_reason"), "refusal");
    json_object_put(msg);
}

Test(messages_in, response_ids)
{
    static const struct {
        const char *id, *want;
    } rows[] = {
        {"'chatcmpl-abc'", "msg_abc"},
        {"'msg_01XyZ'", "msg_01XyZ"}, /* from the Anthropic adapter: already a message id */
        {"'8f008308-984b-9603'", "msg_8f008308-984b-9603"}, /* xAI */
        {"''", "msg_gateway"},
        {"'chatcmpl-'", "msg_gateway"},
        {"null", "msg_gateway"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{'id':%s,'choices':[{'index':0,'message':{'role':'assistant','content':'x'},'finish_reason'"
                 ":'stop'}]}",
                 rows[i].id);
        json_object *msg = response(text, "m");
        cr_assert_str_eq(test_at_str(msg, "id"), rows[i].want, "row %zu", i);
        cr_assert_str_eq(test_at_str(msg, "model"), "m");
        json_object_put(msg);
    }
    char buf[8];
    orc_messages_id("chatcmpl-0123456789", buf, sizeof(buf));
    cr_assert_str_eq(buf, "msg_012");
}

Test(messages_in, response_without_message_is_null)
{
    const char *bad[] = {"{}", "{'choices':[]}", "{'choices':[{'index':0}]}", "{'choices':5}", "[]"};
    for (size_t i = 0; i < ORC_ARRAY_LEN(bad); i++) {
        json_object *cc = J(bad[i]);
        cr_assert_null(orc_messages_from_canonical(cc, "m"), "%s", bad[i]);
        json_object_put(cc);
    }
    cr_assert_null(orc_messages_from_canonical(NULL, "m"));
}

/* --- stream (§6.5) ----------------------------------------------------------- */

/* Records each event's data; checks the name is the data's type and the
 * JSON is one line. */
static void record(void *arg, const char *event, json_object *data)
{
    json_object *events = arg;
    cr_assert_not_null(event);
    cr_assert_str_eq(event, test_at_str(data, "type"));
    cr_assert_null(strchr(test_plain(data), '\n'));
    json_object_array_add(events, json_object_get(data));
}

typedef struct {
    orc_messages_stream_t s;
    json_object *events;
} run_t;

static void run_init(run_t *r, const char *model, const char *id)
{
    orc_messages_stream_init(&r->s, model, id);
    r->events = json_object_new_array();
}

static void feed(run_t *r, const char *chunk_text)
{
    json_object *chunk = J(chunk_text);
    orc_messages_stream_chunk(&r->s, chunk, record, r->events);
    json_object_put(chunk);
}

/* EVENTS is exactly the list WANT (NULL-terminated). */
static void expect_events(json_object *events, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL)
        n++;
    cr_assert_eq(json_object_array_length(events), n, "got %s", test_plain(events));
    for (size_t i = 0; i < n; i++) {
        json_object *w = J(want[i]), *got = json_object_array_get_idx(events, i);
        cr_assert(json_object_equal(got, w), "event %zu\ngot  %s\nwant %s", i, test_plain(got),
                  test_plain(w));
        json_object_put(w);
    }
}

#define EXPECT_EVENTS(events, ...) expect_events(events, (const char *const[]){__VA_ARGS__, NULL})

static size_t nevents(run_t *r)
{
    return json_object_array_length(r->events);
}

#define CHUNK(delta, finish)                                                                                 \
    "{'id':'chatcmpl-X','object':'chat.completion.chunk','created':1,'model':'gpt-4o-mini',"                 \
    "'choices':[{'index':0,'delta':" delta ",'logprobs':null,'finish_reason':" finish "}],'usage':null}"
#define FIRST CHUNK("{'role':'assistant','content':''}", "null")
#define TEXT(t) CHUNK("{'content':'" t "'}", "null")
#define FINISH(f) CHUNK("{}", "'" f "'")
#define USAGE(p, c)                                                                                          \
    "{'id':'chatcmpl-X','object':'chat.completion.chunk','created':1,'model':'gpt-4o-mini','choices':[],"    \
    "'usage':{'prompt_tokens':" p ",'completion_tokens':" c ",'total_tokens':0}}"
#define CALL(i, id, name, args)                                                                              \
    CHUNK("{'tool_calls':[{'index':" i ",'id':'" id "','type':'function','function':{'name':'" name          \
          "','arguments':'" args "'}}]}",                                                                    \
          "null")
#define ARGS(i, args) CHUNK("{'tool_calls':[{'index':" i ",'function':{'arguments':'" args "'}}]}", "null")

#define E_START(id, model, input)                                                                            \
    "{'type':'message_start','message':{'id':'" id "','type':'message','role':'assistant','model':'" model   \
    "','content':[],'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':" input                  \
    ",'output_tokens':0}}}"
#define E_PING "{'type':'ping'}"
#define E_TEXT_START(i)                                                                                      \
    "{'type':'content_block_start','index':" i ",'content_block':{'type':'text','text':''}}"
#define E_TEXT(i, t)                                                                                         \
    "{'type':'content_block_delta','index':" i ",'delta':{'type':'text_delta','text':'" t "'}}"
#define E_TOOL_START(i, id, name)                                                                            \
    "{'type':'content_block_start','index':" i ",'content_block':{'type':'tool_use','id':'" id               \
    "','name':'" name "','input':{}}}"
#define E_JSON(i, j)                                                                                         \
    "{'type':'content_block_delta','index':" i ",'delta':{'type':'input_json_delta',"                        \
    "'partial_json':'" j "'}}"
#define E_STOP(i) "{'type':'content_block_stop','index':" i "}"
#define E_DELTA(reason, usage)                                                                               \
    "{'type':'message_delta','delta':{'stop_reason':'" reason "','stop_sequence':null},'usage':" usage "}"
#define E_MSG_STOP "{'type':'message_stop'}"
#define E_ERROR(type, msg) "{'type':'error','error':{'type':'" type "','message':'" msg "'}}"

Test(messages_in, stream_text_only)
{
    run_t r;
    run_init(&r, "openai/gpt-4o-mini", "msg_req1");
    feed(&r, FIRST);
    feed(&r, TEXT("Hel"));
    feed(&r, TEXT("lo"));
    feed(&r, FINISH("stop"));
    feed(&r, USAGE("9", "2"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_req1", "openai/gpt-4o-mini", "0"), E_PING, E_TEXT_START("0"),
                  E_TEXT("0", "Hel"), E_TEXT("0", "lo"), E_STOP("0"),
                  E_DELTA("end_turn", "{'output_tokens':2,'input_tokens':9}"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_text_then_two_tool_calls_with_fragmented_arguments)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, FIRST);
    feed(&r, TEXT("Checking."));
    feed(&r, CALL("0", "call_A", "get_weather", ""));
    feed(&r, ARGS("0", "{\\'ci"));
    feed(&r, ARGS("0", "ty\\': \\'Oslo\\'}"));
    feed(&r, CALL("1", "call_B", "get_time", "{"));
    feed(&r, ARGS("1", "}"));
    feed(&r, FINISH("tool_calls"));
    feed(&r, USAGE("50", "20"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TEXT_START("0"), E_TEXT("0", "Checking."),
                  E_STOP("0"), E_TOOL_START("1", "call_A", "get_weather"), E_JSON("1", "{\\'ci"),
                  E_JSON("1", "ty\\': \\'Oslo\\'}"), E_STOP("1"), E_TOOL_START("2", "call_B", "get_time"),
                  E_JSON("2", "{"), E_JSON("2", "}"), E_STOP("2"),
                  E_DELTA("tool_use", "{'output_tokens':20,'input_tokens':50}"), E_MSG_STOP);
    /* the partial_json pieces of each block make its input */
    cr_assert_str_eq(test_at_str(r.events, "6.delta.partial_json"), "{\"ci");
    cr_assert_str_eq(test_at_str(r.events, "7.delta.partial_json"), "ty\": \"Oslo\"}");
    json_object_put(r.events);
}

Test(messages_in, stream_usage_chunk_after_finish_waits_for_finish)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, FIRST);
    feed(&r, TEXT("a"));
    feed(&r, FINISH("length"));
    cr_assert_eq(nevents(&r), 5); /* start, ping, block start, delta, block stop: no message_delta yet */
    assert_json(test_at(r.events, "4"), E_STOP("0"));
    feed(&r, "{'id':'chatcmpl-X','object':'chat.completion.chunk','choices':[],'usage':{'prompt_tokens':30,"
             "'completion_tokens':7,'total_tokens':37,'prompt_tokens_details':{'cached_tokens':12}}}");
    cr_assert_eq(nevents(&r), 5);
    orc_messages_stream_finish(&r.s, true, record, r.events);
    cr_assert_eq(nevents(&r), 7);
    assert_json(test_at(r.events, "5"),
                E_DELTA("max_tokens", "{'output_tokens':7,'input_tokens':18,'cache_read_input_tokens':12}"));
    assert_json(test_at(r.events, "6"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_finish_without_usage)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, FIRST);
    feed(&r, TEXT("a"));
    feed(&r, FINISH("stop"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TEXT_START("0"), E_TEXT("0", "a"),
                  E_STOP("0"), E_DELTA("end_turn", "{'output_tokens':0,'input_tokens':0}"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_usage_on_first_and_finish_chunks)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, "{'id':'x','choices':[{'index':0,'delta':{'role':'assistant'}}],'usage':{'prompt_tokens':11,"
             "'completion_tokens':0}}");
    assert_json(test_at(r.events, "0"), E_START("msg_1", "m", "11"));
    feed(&r, "{'id':'x','choices':[{'index':0,'delta':{'content':'a'},'finish_reason':'stop'}],"
             "'usage':{'prompt_tokens':11,'completion_tokens':3}}");
    orc_messages_stream_finish(&r.s, true, record, r.events);
    cr_assert_eq(nevents(&r), 7);
    assert_json(test_at(r.events, "4"), E_STOP("0"));
    assert_json(test_at(r.events, "5"), E_DELTA("end_turn", "{'output_tokens':3,'input_tokens':11}"));
    json_object_put(r.events);
}

Test(messages_in, stream_error_mid_stream)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, FIRST);
    feed(&r, TEXT("Hel"));
    feed(&r, "{'error':{'message':'Overloaded','type':'overloaded_error','param':null,'code':null}}");
    feed(&r, TEXT("lo"));
    feed(&r, FINISH("stop"));
    orc_messages_stream_finish(&r.s, false, record, r.events);
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TEXT_START("0"), E_TEXT("0", "Hel"),
                  E_ERROR("overloaded_error", "Overloaded"));
    json_object_put(r.events);
}

Test(messages_in, stream_error_types)
{
    static const struct {
        const char *error, *type, *message;
    } rows[] = {
        {"{'message':'slow down','type':'rate_limit_error'}", "rate_limit_error", "slow down"},
        {"{'message':'TPM','type':'tokens','code':'rate_limit_exceeded'}", "rate_limit_error", "TPM"},
        {"{'message':'quota','type':'RESOURCE_EXHAUSTED'}", "rate_limit_error", "quota"},
        {"{'message':'busy','type':'UNAVAILABLE'}", "overloaded_error", "busy"},
        /* the orchestrator's transport failures: the class in "code" */
        {"{'message':'idle timeout','type':'server_error','code':'timeout'}", "timeout_error",
         "idle timeout"},
        {"{'message':'x','type':'server_error','code':'overloaded'}", "overloaded_error", "x"},
        {"{'message':'reset','type':'server_error','code':'connect'}", "api_error", "reset"},
        {"{'message':'boom','type':'server_error','param':null,'code':null}", "api_error", "boom"},
        {"{'type':'server_error'}", "api_error", "upstream stream error"},
        {"'a string'", "api_error", "a string"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char text[256], want[256];
        run_t r;
        run_init(&r, "m", "msg_1");
        feed(&r, FIRST);
        snprintf(text, sizeof(text), "{'error':%s}", rows[i].error);
        feed(&r, text);
        snprintf(want, sizeof(want), "{'type':'error','error':{'type':'%s','message':'%s'}}", rows[i].type,
                 rows[i].message);
        cr_assert_eq(nevents(&r), 3, "row %zu", i);
        assert_json(test_at(r.events, "2"), want);
        json_object_put(r.events);
    }
}

Test(messages_in, stream_error_as_first_chunk)
{
    run_t r;
    run_init(&r, "m", NULL);
    feed(&r, "{'error':{'message':'Rate limited','type':'rate_limit_error'}}");
    EXPECT_EVENTS(r.events, E_START("msg_gateway", "m", "0"), E_PING,
                  E_ERROR("rate_limit_error", "Rate limited"));
    json_object_put(r.events);
}

Test(messages_in, stream_failed_finish_after_text_and_with_no_chunks)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, FIRST);
    feed(&r, CALL("0", "call_A", "f", "{"));
    orc_messages_stream_finish(&r.s, false, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TOOL_START("0", "call_A", "f"),
                  E_JSON("0", "{"), E_ERROR("api_error", "the upstream stream failed"));
    json_object_put(r.events);

    run_init(&r, "m", "msg_2");
    orc_messages_stream_finish(&r.s, false, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_2", "m", "0"), E_PING,
                  E_ERROR("api_error", "the upstream stream failed"));
    json_object_put(r.events);
}

Test(messages_in, stream_ok_finish_with_no_chunks_is_a_complete_message)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING,
                  E_DELTA("end_turn", "{'output_tokens':0,'input_tokens':0}"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_nothing_after_message_stop)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, FIRST);
    feed(&r, FINISH("stop"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    size_t n = nevents(&r);
    feed(&r, TEXT("late"));
    feed(&r, "{'error':{'message':'late'}}");
    orc_messages_stream_finish(&r.s, true, record, r.events);
    orc_messages_stream_finish(&r.s, false, record, r.events);
    cr_assert_eq(nevents(&r), n);
    assert_json(test_at(r.events, "2"), E_DELTA("end_turn", "{'output_tokens':0,'input_tokens':0}"));
    json_object_put(r.events);
}

Test(messages_in, stream_id_and_model_from_first_chunk)
{
    run_t r;
    run_init(&r, NULL, NULL);
    feed(&r, FIRST);
    assert_json(test_at(r.events, "0"), E_START("msg_X", "gpt-4o-mini", "0"));
    json_object_put(r.events);
}

Test(messages_in, stream_gemini_style_whole_tool_calls_and_no_finish_chunk)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, CHUNK("{'role':'assistant','content':'Let me check.'}", "null"));
    feed(&r,
         CHUNK("{'tool_calls':[{'index':0,'id':'call_a','type':'function','function':{'name':'get_weather',"
               "'arguments':'{}'}},{'index':1,'id':'call_b','type':'function','function':{'name':'get_time',"
               "'arguments':''}}]}",
               "null"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TEXT_START("0"),
                  E_TEXT("0", "Let me check."), E_STOP("0"), E_TOOL_START("1", "call_a", "get_weather"),
                  E_JSON("1", "{}"), E_STOP("1"), E_TOOL_START("2", "call_b", "get_time"), E_STOP("2"),
                  E_DELTA("tool_use", "{'output_tokens':0,'input_tokens':0}"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_text_after_tool_opens_a_new_block_and_stop_with_tools_is_tool_use)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, CALL("0", "c0", "a", "{}"));
    feed(&r, TEXT("after"));
    feed(&r, FINISH("stop"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TOOL_START("0", "c0", "a"),
                  E_JSON("0", "{}"), E_STOP("0"), E_TEXT_START("1"), E_TEXT("1", "after"), E_STOP("1"),
                  E_DELTA("tool_use", "{'output_tokens':0,'input_tokens':0}"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_fragment_without_index_or_id)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, CHUNK("{'tool_calls':[{'function':{'name':'a','arguments':'{'}}]}", "null"));
    feed(&r, CHUNK("{'tool_calls':[{'function':{'arguments':'}'}}]}", "null"));
    feed(&r, CHUNK("{'tool_calls':[{'id':'c1','function':{'name':'b','arguments':''}}]}", "null"));
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TOOL_START("0", "toolu_gateway_0", "a"),
                  E_JSON("0", "{"), E_JSON("0", "}"), E_STOP("0"), E_TOOL_START("1", "c1", "b"));
    json_object_put(r.events);
}

Test(messages_in, stream_interleaved_tool_fragments_fail)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, CALL("0", "c0", "a", "{"));
    feed(&r, CALL("1", "c1", "b", "{"));
    feed(&r, ARGS("0", "}"));
    feed(&r, ARGS("1", "}"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    cr_assert_eq(nevents(&r), 8);
    assert_json(test_at(r.events, "7"),
                E_ERROR("api_error", "upstream sent tool call fragments out of order"));
    json_object_put(r.events);
}

Test(messages_in, stream_refusal_and_other_choices_ignored)
{
    run_t r;
    run_init(&r, "m", "msg_1");
    feed(&r, "{'id':'x','choices':[{'index':1,'delta':{'content':'other choice'}},"
             "{'index':0,'delta':{'role':'assistant','content':null,'refusal':'I cannot.'}}]}");
    feed(&r, FINISH("stop"));
    orc_messages_stream_finish(&r.s, true, record, r.events);
    EXPECT_EVENTS(r.events, E_START("msg_1", "m", "0"), E_PING, E_TEXT_START("0"), E_TEXT("0", "I cannot."),
                  E_STOP("0"), E_DELTA("refusal", "{'output_tokens':0,'input_tokens':0}"), E_MSG_STOP);
    json_object_put(r.events);
}

Test(messages_in, stream_every_stop_reason)
{
    static const struct {
        const char *finish, *want;
    } rows[] = {
        {"stop", "end_turn"},          {"length", "max_tokens"},      {"tool_calls", "tool_use"},
        {"content_filter", "refusal"}, {"function_call", "tool_use"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++) {
        char text[512];
        run_t r;
        run_init(&r, "m", "msg_1");
        snprintf(text, sizeof(text), FINISH("%s"), rows[i].finish);
        feed(&r, text);
        orc_messages_stream_finish(&r.s, true, record, r.events);
        cr_assert_str_eq(test_at_str(r.events, "2.delta.stop_reason"), rows[i].want, "row %zu", i);
        json_object_put(r.events);
    }
}

/* --- stream: recorded provider streams through the real adapters -------------- */

typedef struct {
    orc_stream_t st;
    const orc_adapter_t *adapter;
    run_t r;
} e2e_t;

static void on_chunk(void *arg, json_object *chunk)
{
    e2e_t *x = arg;
    orc_messages_stream_chunk(&x->r.s, chunk, record, x->r.events);
}

static void on_event(void *arg, const char *event, const char *data, size_t len)
{
    e2e_t *x = arg;
    x->adapter->stream_event(&x->st, event, data, len, on_chunk, x);
}

/* Events for FIXTURE through ADAPTER; the caller puts the result. */
static json_object *through(const orc_adapter_t *adapter, const char *fixture)
{
    e2e_t x;
    size_t len;
    char *text = test_slurp(fixture, &len);
    orc_sse_t p;
    x.adapter = adapter;
    orc_stream_init(&x.st, "upstream-model", true);
    run_init(&x.r, "client/model", "msg_req");
    orc_sse_init(&p, 0);
    cr_assert_eq(orc_sse_feed(&p, text, len, on_event, &x), ORC_OK);
    int rc = adapter->stream_end(&x.st, on_chunk, &x);
    orc_messages_stream_finish(&x.r.s, rc == ORC_OK, record, x.r.events);
    orc_sse_free(&p);
    free(text);
    return x.r.events;
}

/* The event types, space-separated, each with its block index if any:
 * "message_start ping content_block_start0 ...". */
static char *shape(json_object *events)
{
    char *out = strdup("");
    for (size_t i = 0; i < json_object_array_length(events); i++) {
        json_object *ev = json_object_array_get_idx(events, i), *idx = NULL;
        char *next;
        const char *type = test_at_str(ev, "type");
        bool has_idx = json_object_object_get_ex(ev, "index", &idx);
        cr_assert(asprintf(&next, "%s%s%s", out, *out ? " " : "", type) >= 0);
        free(out);
        out = next;
        if (has_idx) {
            cr_assert(asprintf(&next, "%s%d", out, json_object_get_int(idx)) >= 0);
            free(out);
            out = next;
        }
    }
    return out;
}

Test(messages_in, e2e_openai_text_stream)
{
    json_object *ev = through(&orc_adapter_openai, FIXTURE("openai_stream.txt"));
    EXPECT_EVENTS(ev, E_START("msg_req", "client/model", "0"), E_PING, E_TEXT_START("0"), E_TEXT("0", "Hel"),
                  E_TEXT("0", "lo"), E_STOP("0"), E_DELTA("end_turn", "{'output_tokens':2,'input_tokens':9}"),
                  E_MSG_STOP);
    json_object_put(ev);
}

Test(messages_in, e2e_openai_tools_stream)
{
    json_object *ev = through(&orc_adapter_openai, FIXTURE("openai_tools_stream.txt"));
    char *s = shape(ev);
    cr_assert_str_eq(s, "message_start ping content_block_start0 content_block_delta0 content_block_delta0 "
                        "content_block_stop0 content_block_start1 content_block_delta1 content_block_stop1 "
                        "message_delta message_stop");
    free(s);
    assert_json(test_at(ev, "2"), E_TOOL_START("0", "call_7Kx2", "get_weather"));
    assert_json(test_at(ev, "6"), E_TOOL_START("1", "call_8Lm3", "get_time"));
    char args[64];
    snprintf(args, sizeof(args), "%s%s", test_at_str(ev, "3.delta.partial_json"),
             test_at_str(ev, "4.delta.partial_json"));
    cr_assert_str_eq(args, "{\"city\": \"Oslo\"}");
    assert_json(test_at(ev, "9"),
                E_DELTA("tool_use", "{'output_tokens':20,'input_tokens':40,'cache_read_input_tokens':10}"));
    json_object_put(ev);
}

Test(messages_in, e2e_anthropic_tools_stream_round_trip)
{
    json_object *ev = through(&orc_adapter_anthropic, FIXTURE("anthropic_tools_stream.txt"));
    EXPECT_EVENTS(ev, E_START("msg_req", "client/model", "0"), E_PING, E_TEXT_START("0"),
                  E_TEXT("0", "Checking."), E_STOP("0"), E_TOOL_START("1", "toolu_01B", "get_weather"),
                  E_JSON("1", "{\\'city\\':"), E_JSON("1", " \\'Oslo\\'}"), E_STOP("1"),
                  E_TOOL_START("2", "toolu_01C", "get_time"), E_JSON("2", "{}"), E_STOP("2"),
                  E_DELTA("tool_use", "{'output_tokens':38,'input_tokens':418,'cache_read_input_tokens':4}"),
                  E_MSG_STOP);
    json_object_put(ev);
}

Test(messages_in, e2e_gemini_tools_stream)
{
    json_object *ev = through(&orc_adapter_gemini, FIXTURE("gemini_tools_stream.txt"));
    char *s = shape(ev);
    cr_assert_str_eq(s, "message_start ping content_block_start0 content_block_delta0 content_block_stop0 "
                        "content_block_start1 content_block_delta1 content_block_stop1 content_block_start2 "
                        "content_block_delta2 content_block_stop2 message_delta message_stop");
    free(s);
    cr_assert_str_eq(test_at_str(ev, "3.delta.text"), "Let me check.");
    cr_assert_str_eq(test_at_str(ev, "5.content_block.name"), "get_weather");
    cr_assert_str_eq(test_at_str(ev, "6.delta.partial_json"), "{\"city\":\"Oslo\"}");
    cr_assert_str_eq(test_at_str(ev, "8.content_block.name"), "get_time");
    cr_assert_str_eq(test_at_str(ev, "11.delta.stop_reason"), "tool_use");
    cr_assert_eq(test_at_int(ev, "11.usage.input_tokens"), 84);
    json_object_put(ev);
}

/* --- errors (§2.5, §7) ------------------------------------------------------- */

Test(messages_in, error_types_by_status)
{
    static const struct {
        int status;
        const char *type;
    } rows[] = {
        {400, "invalid_request_error"},
        {401, "authentication_error"},
        {402, "billing_error"},
        {403, "permission_error"},
        {404, "not_found_error"},
        {409, "conflict_error"},
        {413, "request_too_large"},
        {422, "invalid_request_error"},
        {429, "rate_limit_error"},
        {500, "api_error"},
        {502, "api_error"},
        {503, "overloaded_error"},
        {504, "timeout_error"},
        {529, "overloaded_error"},
        {0, "api_error"},
    };
    for (size_t i = 0; i < ORC_ARRAY_LEN(rows); i++)
        cr_assert_str_eq(orc_messages_error_type(rows[i].status), rows[i].type, "status %d", rows[i].status);
    json_object *body = orc_messages_error_new(429, "Slow down");
    assert_json(body, "{'type':'error','error':{'type':'rate_limit_error','message':'Slow down'}}");
    json_object_put(body);
    body = orc_messages_error_new(500, NULL);
    assert_json(body, "{'type':'error','error':{'type':'api_error','message':''}}");
    json_object_put(body);
}
