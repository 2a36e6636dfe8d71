// Conformance of POST /v1/chat/completions and GET /v1/models with the
// official OpenAI Node client, for each provider behind the gateway.
//
// The gateway must be running with the four providers pointed at the mock
// LLM upstream (tests/mockllm), whose answers are deterministic: the text is
// "Echo: <last user message>" with one token per word.  Run by
// tests/integration/test_sdk.py; by hand:
//   ORCHESITY_URL=http://127.0.0.1:8080 node openai.test.mjs
import OpenAI, { APIError, BadRequestError, NotFoundError, RateLimitError } from 'openai';

import { Checks, LOOKUP, MODELS, REASONING, REQUEST_TIMEOUT_MS, TOOL_ID, checkRoutingHeaders, eq, gatewayURL, match,
  ok, providers, rejects } from './common.mjs';

const client = new OpenAI({
  baseURL: `${gatewayURL()}/v1`,
  apiKey: 'sk-orchesity-sdk-test',
  maxRetries: 0, // the error checks must see the gateway's first answer
  timeout: REQUEST_TIMEOUT_MS,
});

const TOOLS = [{ type: 'function', function: LOOKUP }];
const user = (content) => ({ role: 'user', content });

const checks = new Checks('openai SDK');

async function providerChecks(provider, model) {
  const id = `${provider}/${model}`;
  const check = (name, fn) => checks.run(`${provider} ${name}`, fn);

  await check('create: text, usage, finish_reason, headers', async () => {
    const { data, response, request_id: requestId } = await client.chat.completions
      .create({
        model: id, max_tokens: 50,
        messages: [{ role: 'system', content: 'be brief' }, user('tell me about the sea')],
      })
      .withResponse();
    eq(response.status, 200, 'status');
    checkRoutingHeaders(response, provider, model);
    match(requestId, /^req_/, 'x-request-id (_request_id)');
    eq(data.object, 'chat.completion', 'object');
    eq(data.model, model, 'model');
    ok(typeof data.id === 'string' && data.id.length > 0, `id ${data.id}`);
    eq(data.choices.length, 1, 'number of choices');
    const [choice] = data.choices;
    eq(choice.index, 0, 'choice index');
    eq(choice.message.role, 'assistant', 'role');
    eq(choice.message.content, 'Echo: tell me about the sea', 'content');
    eq(choice.finish_reason, 'stop', 'finish_reason');
    // "be brief" + "tell me about the sea" = 7 words; the answer has 6.
    eq(data.usage.prompt_tokens, 7, 'usage.prompt_tokens');
    eq(data.usage.completion_tokens, 6 + REASONING[provider], 'usage.completion_tokens');
    eq(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens, 'usage.total_tokens');
  });

  await check('create: max_tokens cuts the answer, finish_reason length', async () => {
    const data = await client.chat.completions.create({
      model: id, max_tokens: 3, messages: [user('one two three four five six seven')],
    });
    eq(data.choices[0].message.content, 'Echo: one two', 'content');
    eq(data.choices[0].finish_reason, 'length', 'finish_reason');
  });

  await check('stream helper: finalChatCompletion()', async () => {
    const stream = client.chat.completions.stream({ model: id, messages: [user('stream these words please')] });
    const deltas = [];
    stream.on('content', (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    const [choice] = final.choices;
    eq(choice.message.role, 'assistant', 'role');
    eq(choice.message.content, 'Echo: stream these words please', 'content');
    eq(choice.finish_reason, 'stop', 'finish_reason');
    eq(final.model, model, 'model');
    ok(deltas.length >= 5, `the answer came in ${deltas.length} content deltas, expected one per word`);
    eq(deltas.join(''), 'Echo: stream these words please', 'concatenated deltas');
  });

  await check('stream raw: chunks, finish_reason and the include_usage chunk', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: id, stream: true, stream_options: { include_usage: true },
        messages: [user('stream these words please')],
      })
      .withResponse();
    eq(response.status, 200, 'status');
    match(response.headers.get('content-type'), /^text\/event-stream/, 'content-type');
    checkRoutingHeaders(response, provider, model);
    let text = '';
    let finish = null;
    let role = null;
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      eq(chunk.object, 'chat.completion.chunk', 'chunk object');
      ok(usage === null, `a chunk came after the usage chunk: ${JSON.stringify(chunk)}`);
      if (chunk.usage) {
        usage = chunk.usage;
        eq(chunk.choices, [], 'choices of the usage chunk');
        continue;
      }
      const [choice] = chunk.choices;
      role = role || choice.delta.role || null;
      text += choice.delta.content || '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    ok(chunks >= 7, `only ${chunks} chunks`);
    eq(role, 'assistant', 'delta.role');
    eq(text, 'Echo: stream these words please', 'streamed text');
    eq(finish, 'stop', 'finish_reason');
    ok(usage !== null, 'no usage chunk although stream_options.include_usage was true');
    eq(usage.prompt_tokens, 4, 'usage.prompt_tokens');
    eq(usage.completion_tokens, 5 + REASONING[provider], 'usage.completion_tokens');
    eq(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, 'usage.total_tokens');
  });

  await check('tools: create returns the call', async () => {
    const data = await client.chat.completions.create({
      model: id, tools: TOOLS, messages: [user('find the tide tables')],
    });
    const [choice] = data.choices;
    eq(choice.finish_reason, 'tool_calls', 'finish_reason');
    eq(choice.message.content, null, 'content');
    eq(choice.message.tool_calls.length, 1, 'number of tool calls');
    const [call] = choice.message.tool_calls;
    match(call.id, TOOL_ID[provider], 'tool call id');
    eq(call.type, 'function', 'tool call type');
    eq(call.function.name, 'lookup', 'function name');
    eq(JSON.parse(call.function.arguments), { query: 'find the tide tables' }, 'parsed arguments');
  });

  await check('tools: stream helper accumulates the call', async () => {
    const stream = client.chat.completions.stream({
      model: id, tools: TOOLS, messages: [user('find the tide tables')],
    });
    const done = [];
    stream.on('tool_calls.function.arguments.done', (e) => done.push(e));
    const final = await stream.finalChatCompletion();
    const [choice] = final.choices;
    eq(choice.finish_reason, 'tool_calls', 'finish_reason');
    eq(choice.message.tool_calls.length, 1, 'number of tool calls');
    const [call] = choice.message.tool_calls;
    match(call.id, TOOL_ID[provider], 'tool call id');
    eq(call.type, 'function', 'tool call type');
    eq(call.function.name, 'lookup', 'function name');
    eq(JSON.parse(call.function.arguments), { query: 'find the tide tables' }, 'parsed arguments');
    eq(done.map((e) => e.name), ['lookup'], 'arguments.done events');
  });

  await check('tools: the tool result is answered', async () => {
    const data = await client.chat.completions.create({
      model: id, tools: TOOLS,
      messages: [
        user('find the tide tables'),
        {
          role: 'assistant', content: null,
          tool_calls: [{
            id: 'call_t1', type: 'function',
            function: { name: 'lookup', arguments: '{"query":"find the tide tables"}' },
          }],
        },
        { role: 'tool', tool_call_id: 'call_t1', content: 'high tide at noon' },
      ],
    });
    eq(data.choices[0].message.content, 'Echo: tool said high tide at noon', 'content');
    eq(data.choices[0].finish_reason, 'stop', 'finish_reason');
  });

  await check('400 from the gateway: no messages -> BadRequestError', async () => {
    const err = await rejects(client.chat.completions.create({ model: id }), BadRequestError,
      'request without messages');
    eq(err.status, 400, 'status');
    eq(err.type, 'invalid_request_error', 'error.type');
    eq(err.param, 'messages', 'error.param');
    match(err.message, /messages/, 'error message');
    match(err.requestID, /^req_/, 'x-request-id of the error (requestID)');
  });

  await check('400 from the provider -> BadRequestError', async () => {
    const err = await rejects(client.chat.completions.create({ model: id, messages: [user('hi [[mock status=400]]')] }),
      BadRequestError, 'upstream 400');
    eq(err.status, 400, 'status');
    eq(err.type, 'invalid_request_error', 'error.type');
    checkRoutingHeaders(err, provider, model);
  });

  await check('429 -> RateLimitError with retry-after', async () => {
    const err = await rejects(
      client.chat.completions.create({ model: id, messages: [user('hi [[mock status=429,retry_after=1]]')] }),
      RateLimitError, 'upstream 429');
    eq(err.status, 429, 'status');
    eq(err.type, 'rate_limit_error', 'error.type');
    eq(err.headers.get('retry-after'), '1', 'retry-after header');
    checkRoutingHeaders(err, provider, model);
  });
  // the provider's Retry-After (1 s) holds for every worker of the gateway: let it pass
  await new Promise((resolve) => setTimeout(resolve, 1100));

  await check('stream raw cut mid-way -> APIError, no finish_reason', async () => {
    const stream = await client.chat.completions.create({
      model: id, stream: true, messages: [user('a b c d e f g h i j [[mock cut=6]]')],
    });
    let text = '';
    let finish = null;
    const err = await rejects((async () => {
      for await (const chunk of stream) {
        const [choice] = chunk.choices;
        text += (choice && choice.delta.content) || '';
        if (choice && choice.finish_reason) finish = choice.finish_reason;
      }
    })(), APIError, 'iterating a cut stream');
    ok(typeof err.message === 'string' && err.message.length > 0, 'error message');
    ok(text.startsWith('Echo: ') && text.length < 'Echo: a b c d e f g h i j'.length,
      `text before the cut: ${JSON.stringify(text)}`);
    eq(finish, null, 'finish_reason of a cut stream');
  });

  await check('stream helper with an upstream error event -> finalChatCompletion() rejects', async () => {
    const stream = client.chat.completions.stream({ model: id, messages: [user('a b c d e f [[mock error_event]]')] });
    const err = await rejects(stream.finalChatCompletion(), APIError, 'finalChatCompletion() of a failed stream');
    ok(typeof err.message === 'string' && err.message.length > 0, 'error message');
  });
}

async function gatewayChecks() {
  const check = (name, fn) => checks.run(`gateway ${name}`, fn);

  await check('models.list() iterates and lists each provider\'s default model', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      eq(m.object, 'model', `object of ${m.id}`);
      ids.push(m.id);
    }
    ok(ids.includes('openai/gpt-4o-mini'), `openai/gpt-4o-mini missing from ${JSON.stringify(ids)}`);
    for (const [p, m] of Object.entries(MODELS)) ok(ids.includes(`${p}/${m}`), `${p}/${m} missing`);
    eq(new Set(ids).size, ids.length, 'model ids are unique');
  });

  await check('models.list() response headers', async () => {
    const { response } = await client.models.list().withResponse();
    eq(response.status, 200, 'status');
    match(response.headers.get('content-type'), /^application\/json/, 'content-type');
  });

  await check('a bare model name is routed to its provider', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [user('hello there')] }).withResponse();
    checkRoutingHeaders(response, 'openai', 'gpt-4o-mini');
    eq(data.choices[0].message.content, 'Echo: hello there', 'content');
  });

  await check('unknown model -> NotFoundError model_not_found', async () => {
    const err = await rejects(client.chat.completions.create({ model: 'nosuch/model-x', messages: [user('hi')] }),
      NotFoundError, 'unknown model');
    eq(err.status, 404, 'status');
    eq(err.code, 'model_not_found', 'error.code');
    eq(err.param, 'model', 'error.param');
  });
}

for (const [provider, model] of providers()) await providerChecks(provider, model);
await gatewayChecks();
checks.finish();
