// Conformance of POST /v1/messages and GET /v1/models with the official
// Anthropic Node client, for each provider behind the gateway.
//
// The gateway must be running with the four providers pointed at the mock
// LLM upstream (tests/mockllm), whose answers are deterministic: the text is
// "Echo: <last user message>" with one token per word.  Run by
// tests/integration/test_sdk.py; by hand:
//   ORCHESITY_URL=http://127.0.0.1:8080 node anthropic.test.mjs
import Anthropic, { APIError, BadRequestError, NotFoundError, RateLimitError } from '@anthropic-ai/sdk';

import { Checks, LOOKUP, MODELS, REASONING, REQUEST_TIMEOUT_MS, TOOL_ID, checkRoutingHeaders, eq, gatewayURL, match,
  ok, providers, rejects } from './common.mjs';

const URL = gatewayURL();
const KEY = 'sk-ant-orchesity-sdk-test';
const options = {
  baseURL: URL,
  maxRetries: 0, // the error checks must see the gateway's first answer
  timeout: REQUEST_TIMEOUT_MS,
};
// SDK 1.x sends the key as "Authorization: Bearer".
const client = new Anthropic({ ...options, apiKey: KEY });
// The classic header: only x-api-key, the Authorization header removed.
const keyHeaderClient = new Anthropic({
  ...options, apiKey: KEY, defaultHeaders: { 'x-api-key': KEY, Authorization: null },
});

const TOOLS = [{ name: LOOKUP.name, description: LOOKUP.description, input_schema: LOOKUP.parameters }];
const user = (content) => ({ role: 'user', content });

const checks = new Checks('anthropic SDK');

// The only text of a message, checking that it has exactly one text block.
function onlyText(message) {
  eq(message.content.map((b) => b.type), ['text'], 'content block types');
  return message.content[0].text;
}

function checkToolUse(message, provider) {
  eq(message.stop_reason, 'tool_use', 'stop_reason');
  const uses = message.content.filter((b) => b.type === 'tool_use');
  eq(uses.length, 1, `tool_use blocks in ${JSON.stringify(message.content)}`);
  const [use] = uses;
  match(use.id, TOOL_ID[provider], 'tool_use id');
  eq(use.name, 'lookup', 'tool name');
  eq(use.input, { query: 'find the tide tables' }, 'tool input');
}

async function providerChecks(provider, model) {
  const id = `${provider}/${model}`;
  const check = (name, fn) => checks.run(`${provider} ${name}`, fn);

  await check('create: text, usage, stop_reason, headers', async () => {
    const { data, response, request_id: requestId } = await client.messages
      .create({ model: id, max_tokens: 50, system: 'be brief', messages: [user('tell me about the sea')] })
      .withResponse();
    eq(response.status, 200, 'status');
    checkRoutingHeaders(response, provider, model);
    match(requestId, /^req_/, 'request-id (_request_id)');
    eq(data.type, 'message', 'type');
    eq(data.role, 'assistant', 'role');
    match(data.id, /^msg_/, 'id');
    eq(data.model, model, 'model');
    eq(onlyText(data), 'Echo: tell me about the sea', 'text');
    eq(data.stop_reason, 'end_turn', 'stop_reason');
    // "be brief" + "tell me about the sea" = 7 words; the answer has 6.
    eq(data.usage.input_tokens, 7, 'usage.input_tokens');
    eq(data.usage.output_tokens, 6 + REASONING[provider], 'usage.output_tokens');
  });

  await check('create with only the x-api-key header', async () => {
    const data = await keyHeaderClient.messages.create({ model: id, max_tokens: 50, messages: [user('hello there')] });
    eq(onlyText(data), 'Echo: hello there', 'text');
  });

  await check('create: max_tokens cuts the answer, stop_reason max_tokens', async () => {
    const data = await client.messages.create({
      model: id, max_tokens: 3, messages: [user('one two three four five six seven')],
    });
    eq(onlyText(data), 'Echo: one two', 'text');
    eq(data.stop_reason, 'max_tokens', 'stop_reason');
  });

  await check('stream helper: finalMessage()', async () => {
    const stream = client.messages.stream({ model: id, max_tokens: 50, messages: [user('stream these words please')] });
    const deltas = [];
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    eq(final.role, 'assistant', 'role');
    eq(onlyText(final), 'Echo: stream these words please', 'text');
    eq(final.stop_reason, 'end_turn', 'stop_reason');
    eq(final.usage.input_tokens, 4, 'usage.input_tokens');
    eq(final.usage.output_tokens, 5 + REASONING[provider], 'usage.output_tokens');
    ok(deltas.length >= 5, `the answer came in ${deltas.length} text deltas, expected one per word`);
    eq(deltas.join(''), 'Echo: stream these words please', 'concatenated deltas');
    eq(final.model, model, 'model (as in a non-streamed answer)');
  });

  await check('stream raw: event order, text deltas, usage, headers', async () => {
    const { data: stream, response } = await client.messages
      .create({ model: id, max_tokens: 50, stream: true, messages: [user('stream these words please')] })
      .withResponse();
    eq(response.status, 200, 'status');
    match(response.headers.get('content-type'), /^text\/event-stream/, 'content-type');
    checkRoutingHeaders(response, provider, model);
    const types = [];
    let text = '';
    let delta = null;
    let startModel = null;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'message_start') {
        eq(event.message.content, [], 'message_start content');
        eq(event.message.role, 'assistant', 'message_start role');
        startModel = event.message.model;
        ok(typeof event.message.usage === 'object' && event.message.usage !== null, 'message_start usage');
      } else if (event.type === 'content_block_start') {
        eq(event.index, 0, 'content_block_start index');
        eq(event.content_block.type, 'text', 'content block type');
      } else if (event.type === 'content_block_delta') {
        eq(event.delta.type, 'text_delta', 'delta type');
        text += event.delta.text;
      } else if (event.type === 'message_delta') {
        delta = event;
      }
    }
    eq(types[0], 'message_start', 'first event');
    eq(types[types.length - 1], 'message_stop', 'last event');
    eq(types.filter((t) => t !== 'content_block_delta'),
      ['message_start', 'content_block_start', 'content_block_stop', 'message_delta', 'message_stop'], 'event order');
    ok(types.filter((t) => t === 'content_block_delta').length >= 5, 'one text delta per word');
    eq(text, 'Echo: stream these words please', 'streamed text');
    ok(delta !== null, 'no message_delta event');
    eq(delta.delta.stop_reason, 'end_turn', 'message_delta stop_reason');
    eq(delta.usage.output_tokens, 5 + REASONING[provider], 'message_delta usage.output_tokens');
    eq(startModel, model, 'message_start model (as in a non-streamed answer)');
  });

  await check('tools: create returns a tool_use block', async () => {
    const data = await client.messages.create({
      model: id, max_tokens: 50, tools: TOOLS, messages: [user('find the tide tables')],
    });
    checkToolUse(data, provider);
  });

  await check('tools: stream helper accumulates the tool_use input', async () => {
    const stream = client.messages.stream({
      model: id, max_tokens: 50, tools: TOOLS, messages: [user('find the tide tables')],
    });
    const final = await stream.finalMessage();
    checkToolUse(final, provider);
  });

  await check('tools: the tool result is answered', async () => {
    const data = await client.messages.create({
      model: id, max_tokens: 50, tools: TOOLS,
      messages: [
        user('find the tide tables'),
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_t1', name: 'lookup', input: { query: 'find the tide tables' } }],
        },
        user([{ type: 'tool_result', tool_use_id: 'toolu_t1', content: 'high tide at noon' }]),
      ],
    });
    eq(onlyText(data), 'Echo: tool said high tide at noon', 'text');
    eq(data.stop_reason, 'end_turn', 'stop_reason');
  });

  await check('400 from the gateway: no messages -> BadRequestError', async () => {
    const err = await rejects(client.messages.create({ model: id, max_tokens: 50 }), BadRequestError,
      'request without messages');
    eq(err.status, 400, 'status');
    eq(err.error && err.error.type, 'error', 'body type');
    eq(err.type, 'invalid_request_error', 'error.type');
    match(err.apiMessage, /messages/, 'error.message');
  });

  await check('400 from the provider -> BadRequestError', async () => {
    const err = await rejects(
      client.messages.create({ model: id, max_tokens: 50, messages: [user('hi [[mock status=400]]')] }),
      BadRequestError, 'upstream 400');
    eq(err.status, 400, 'status');
    eq(err.type, 'invalid_request_error', 'error.type');
    checkRoutingHeaders(err, provider, model);
  });

  await check('429 -> RateLimitError with retry-after', async () => {
    const err = await rejects(
      client.messages.create({ model: id, max_tokens: 50, messages: [user('hi [[mock status=429,retry_after=1]]')] }),
      RateLimitError, 'upstream 429');
    eq(err.status, 429, 'status');
    eq(err.type, 'rate_limit_error', 'error.type');
    eq(err.headers.get('retry-after'), '1', 'retry-after header');
    checkRoutingHeaders(err, provider, model);
  });
  // the provider's Retry-After (1 s) holds for every worker of the gateway: let it pass
  await new Promise((resolve) => setTimeout(resolve, 1100));

  await check('stream raw cut mid-way -> error, no message_stop', async () => {
    const stream = await client.messages.create({
      model: id, max_tokens: 50, stream: true, messages: [user('a b c d e f g h i j [[mock cut=6]]')],
    });
    const types = [];
    let text = '';
    await rejects((async () => {
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      }
    })(), APIError, 'iterating a cut stream');
    ok(!types.includes('message_stop') && !types.includes('message_delta'), `events of a cut stream: ${types}`);
    ok(text.startsWith('Echo: ') && text.length < 'Echo: a b c d e f g h i j'.length,
      `text before the cut: ${JSON.stringify(text)}`);
  });

  await check('stream helper cut mid-way -> finalMessage() rejects', async () => {
    const stream = client.messages.stream({
      model: id, max_tokens: 50, messages: [user('a b c d e f g h i j [[mock cut=6]]')],
    });
    await rejects(stream.finalMessage(), Error, 'finalMessage() of a cut stream');
  });

  await check('stream helper with an upstream error event -> finalMessage() rejects with APIError', async () => {
    const stream = client.messages.stream({
      model: id, max_tokens: 50, messages: [user('a b c d e f [[mock error_event]]')],
    });
    const err = await rejects(stream.finalMessage(), APIError, 'finalMessage() of a failed stream');
    eq(err.error && err.error.type, 'error', 'error event body type');
    ok(typeof err.type === 'string' && err.type.length > 0, `error.type ${err.type}`);
  });
}

async function gatewayChecks() {
  const check = (name, fn) => checks.run(`gateway ${name}`, fn);

  await check('models.list() iterates and lists each provider\'s default model', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      eq(m.type, 'model', `type of ${m.id}`);
      ids.push(m.id);
    }
    ok(ids.includes('openai/gpt-4o-mini'), `openai/gpt-4o-mini missing from ${JSON.stringify(ids)}`);
    for (const [p, m] of Object.entries(MODELS)) ok(ids.includes(`${p}/${m}`), `${p}/${m} missing`);
    eq(new Set(ids).size, ids.length, 'model ids are unique (pagination stopped after one page)');
  });

  await check('unknown model -> NotFoundError not_found_error', async () => {
    const err = await rejects(
      client.messages.create({ model: 'nosuch/model-x', max_tokens: 50, messages: [user('hi')] }),
      NotFoundError, 'unknown model');
    eq(err.status, 404, 'status');
    eq(err.type, 'not_found_error', 'error.type');
    match(err.apiMessage, /nosuch\/model-x/, 'error.message');
  });

  // The client reports an error's request id from the request-id header.
  await check('error responses carry request-id (APIError.requestID)', async () => {
    const invalid = await rejects(client.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 50 }),
      BadRequestError, 'request without messages');
    match(invalid.requestID, /^req_/, 'requestID of a 400 from the gateway');
    eq(invalid.requestID, invalid.error.request_id, 'requestID of a 400 and the body\'s request_id');
    const limited = await rejects(client.messages.create({
      model: 'openai/gpt-4o-mini', max_tokens: 50, messages: [user('hi [[mock status=429,retry_after=1]]')],
    }), RateLimitError, 'upstream 429');
    match(limited.requestID, /^req_/, 'requestID of a 429 from the provider');
  });

  await check('models.list() with only the x-api-key header', async () => {
    const ids = [];
    for await (const m of keyHeaderClient.models.list()) ids.push(m.id);
    ok(ids.includes('openai/gpt-4o-mini'), `openai/gpt-4o-mini missing from ${JSON.stringify(ids)}`);
  });
}

// POST /v1/messages answers 404 NOT_FOUND (the gateway's own error shape)
// when the gateway has no such route: report that once instead of a failure
// per check.
async function messagesRouteExists() {
  const res = await fetch(`${URL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'openai/gpt-4o-mini', max_tokens: 5, messages: [user('hi')] }),
  });
  const body = await res.text();
  if (res.status === 404 && body.includes('"NOT_FOUND"')) return false;
  return true;
}

if (await messagesRouteExists()) {
  for (const [provider, model] of providers()) await providerChecks(provider, model);
} else {
  checks.fail('gateway POST /v1/messages', 'the route is missing: the gateway answers 404 NOT_FOUND, '
    + 'so no Messages check could run');
}
await gatewayChecks();
checks.finish();
