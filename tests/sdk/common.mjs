// Shared helpers of the SDK conformance scripts: the providers behind the
// gateway, a tiny check runner that prints one line per check, and
// assertions whose failure messages show what the gateway returned.
//
// Environment:
//   ORCHESITY_URL        the gateway, e.g. http://127.0.0.1:8080 (required)
//   ORCHESITY_PROVIDERS  comma-separated subset of the providers below (optional)
import assert from 'node:assert/strict';
import { inspect } from 'node:util';

// Each provider's default model; requests name it as "<provider>/<model>".
export const MODELS = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-haiku-4-5',
  gemini: 'gemini-2.5-flash',
  grok: 'grok-4-fast',
};

// The mock upstream reports 3 reasoning tokens for every xAI answer; the
// gateway counts them as completion (output) tokens, as OpenAI does.
export const REASONING = { openai: 0, anthropic: 0, gemini: 0, grok: 3 };

// Tool call ids: passed through from OpenAI, Anthropic and xAI (the mock's
// own ids); made by the gateway for Gemini, whose calls carry none.
export const TOOL_ID = {
  openai: /^call_mock\d+$/,
  anthropic: /^toolu_mock\d+$/,
  gemini: /^call_[0-9A-Za-z]+$/,
  grok: /^call_mock\d+$/,
};

// A per-check limit; the clients also get a request timeout below it.
export const CHECK_TIMEOUT_MS = 20000;
export const REQUEST_TIMEOUT_MS = 15000;

export function gatewayURL() {
  const url = process.env.ORCHESITY_URL;
  if (!url) {
    console.error('ORCHESITY_URL is not set (the gateway, e.g. http://127.0.0.1:8080)');
    process.exit(2);
  }
  return url.replace(/\/+$/, '');
}

export function providers() {
  const wanted = (process.env.ORCHESITY_PROVIDERS || Object.keys(MODELS).join(','))
    .split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of wanted) {
    if (!(p in MODELS)) {
      console.error(`unknown provider ${p} in ORCHESITY_PROVIDERS`);
      process.exit(2);
    }
  }
  return wanted.map((p) => [p, MODELS[p]]);
}

function show(value) {
  return inspect(value, { depth: 6, breakLength: Infinity, maxStringLength: 400 });
}

// One line describing why a check failed.
function describe(e) {
  if (e instanceof assert.AssertionError) {
    // Node appends its own diff to a custom message on the following lines.
    const what = e.generatedMessage ? 'assertion' : e.message.split('\n')[0];
    if (e.operator === 'fail' || e.operator === '==') return what;
    return `${what}: expected ${show(e.expected)}, got ${show(e.actual)}`;
  }
  const status = e && e.status !== undefined ? ` (status ${e.status})` : '';
  const text = `${e && e.constructor ? e.constructor.name : 'Error'}${status}: ${e && e.message}`;
  return text.replace(/\s*\n\s*/g, ' | ');
}

export class Checks {
  constructor(title) {
    this.title = title;
    this.passed = 0;
    this.failed = 0;
  }

  // Runs one named check; a thrown error or a timeout fails it.
  async run(name, fn) {
    let timer;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    });
    try {
      await Promise.race([fn(), limit]);
      this.passed++;
      console.log(`ok   ${name}`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${name}: ${describe(e)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  // Records a failure that is not tied to a request (e.g. a missing route).
  fail(name, why) {
    this.failed++;
    console.log(`FAIL ${name}: ${why}`);
  }

  // Prints the totals and exits: status 1 when any check failed.
  finish() {
    console.log(`${this.title}: ${this.passed} checks ok, ${this.failed} failing`);
    process.exit(this.failed ? 1 : 0);
  }
}

export function eq(actual, expected, what) {
  assert.deepStrictEqual(actual, expected, what);
}

export function match(actual, pattern, what) {
  assert.ok(typeof actual === 'string' && pattern.test(actual), `${what}: ${show(actual)} does not match ${pattern}`);
}

export function ok(cond, what) {
  assert.ok(cond, what);
}

// Awaits a promise that must reject with an instance of errorClass; returns
// the error.  A resolved value fails the check and shows what came back.
export async function rejects(promise, errorClass, what) {
  let value;
  try {
    value = await promise;
  } catch (e) {
    if (!(e instanceof errorClass)) {
      assert.fail(`${what}: expected ${errorClass.name}, got ${describe(e)}`);
    }
    return e;
  }
  assert.fail(`${what}: expected ${errorClass.name}, but it succeeded with ${show(value)}`);
}

// The gateway's routing headers on a fetch Response.
export function checkRoutingHeaders(response, provider, model) {
  eq(response.headers.get('x-orchesity-provider'), provider, 'x-orchesity-provider header');
  eq(response.headers.get('x-orchesity-model'), model, 'x-orchesity-model header');
}

// A function tool for the tool-call checks.  The mock upstream answers a
// request that declares tools with a call to the first one, with arguments
// {"query": <the user's text>}.
export const LOOKUP = {
  name: 'lookup',
  description: 'Looks a subject up in the reference library',
  parameters: {
    type: 'object',
    properties: { query: { type: 'string', description: 'what to look up' } },
    required: ['query'],
  },
};
