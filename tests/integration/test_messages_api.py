"""The Anthropic-compatible API (/v1/messages) in front of every provider."""
import http.client
import json

from harness import check, sse_events
from test_llm import chat_requests, start

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "grok/grok-4-fast"]


def post(gw, body, headers=None, timeout=20):
    h = {"Content-Type": "application/json", "x-api-key": "client-anthropic-key", "anthropic-version": "2023-06-01"}
    h.update(headers or {})
    return gw.request("POST", "/v1/messages", body=json.dumps(body), headers=h, timeout=timeout)


def test_messages_from_every_provider():
    gw, mock = start()
    for model in MODELS:
        r = post(gw, {"model": model, "max_tokens": 40, "system": "terse",
                      "messages": [{"role": "user", "content": "good morning"}]})
        check(r.status == 200, "%s: %d %r" % (model, r.status, r.body[:200]))
        m = r.json()
        check(m["type"] == "message" and m["role"] == "assistant" and m["id"].startswith("msg_"), "%s %r" % (model, m))
        check(m["content"] == [{"type": "text", "text": "Echo: good morning"}], "%s content %r" % (model, m["content"]))
        check(m["stop_reason"] == "end_turn" and m["usage"]["input_tokens"] == 3 and m["usage"]["output_tokens"] >= 3,
              "%s stop/usage %r" % (model, m))
        check(r.header("x-orchesity-provider") == model.split("/")[0] and r.header("request-id"), "%s headers" % model)
    for req in chat_requests(mock):
        check("client-anthropic-key" not in json.dumps(req), "the client's key reached %s" % req["dialect"])


def test_message_stream_event_sequence():
    gw, mock = start()
    for model in MODELS:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
        conn.request("POST", "/v1/messages", headers={"Authorization": "Bearer client-key"},
                     body=json.dumps({"model": model, "max_tokens": 40, "stream": True,
                                      "messages": [{"role": "user", "content": "one two three"}]}))
        r = conn.getresponse()
        events = sse_events(r.read().decode())
        conn.close()
        names = [e for e, _ in events]
        check(names[0] == "message_start" and names[-1] == "message_stop" and names[-2] == "message_delta",
              "%s sequence %r" % (model, names))
        check(all(e == d["type"] for e, d in events), "%s: event lines differ from types" % model)
        text = "".join(d["delta"]["text"] for e, d in events if e == "content_block_delta")
        check(text == "Echo: one two three", "%s text %r" % (model, text))
        delta = events[-2][1]
        check(delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] >= 4,
              "%s message_delta %r" % (model, delta))
        starts = [d["index"] for e, d in events if e == "content_block_start"]
        stops = [d["index"] for e, d in events if e == "content_block_stop"]
        check(starts == stops == [0], "%s blocks %r %r" % (model, starts, stops))


def test_message_errors_in_anthropic_format():
    gw, mock = start(config={"llm": {"max_retries": 0, "retry_base_ms": 50, "retry_max_ms": 100}})
    r = post(gw, {"model": "auto", "messages": [{"role": "user", "content": "x"}]})
    check(r.status == 400 and r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error" and
          "max_tokens" in r.json()["error"]["message"], "missing max_tokens: %d %r" % (r.status, r.body))
    r = post(gw, {"model": "nope-model", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    check(r.status == 404 and r.json()["error"]["type"] == "not_found_error", "unknown model %d %r" % (r.status, r.body))
    for directive, status, etype in (("[[mock status=529]]", 529, "overloaded_error"),
                                     ("[[mock status=500]]", 502, "api_error"),
                                     ("[[mock status=429,retry_after=2]]", 429, "rate_limit_error")):
        r = post(gw, {"model": "anthropic/claude-haiku-4-5", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "x " + directive}]})
        check(r.status == status and r.json()["error"]["type"] == etype, "%s -> %d %r" % (directive, r.status, r.body))
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
    conn.request("POST", "/v1/messages", body=json.dumps({"model": "openai/gpt-4o-mini", "max_tokens": 40, "stream": True,
                 "messages": [{"role": "user", "content": "a b c d e f [[mock cut=6]]"}]}))
    events = sse_events(conn.getresponse().read().decode())
    names = [e for e, _ in events]
    check(names[-1] == "error" and "message_stop" not in names, "cut stream events %r" % names)
