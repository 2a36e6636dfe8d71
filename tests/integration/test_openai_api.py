"""The OpenAI-compatible API: model routing, formats, streaming, errors."""
import http.client
import json

from harness import Gateway, Mock, check, sse_events
from test_llm import chat_requests, start

MSG = [{"role": "user", "content": "hello gateway"}]


def chat(gw, body, timeout=20):
    r = gw.request("POST", "/v1/chat/completions", body=json.dumps(body),
                   headers={"Content-Type": "application/json", "Authorization": "Bearer client-key"},
                   timeout=timeout)
    json_body = (r.header("Content-Type") or "").startswith("application/json")
    return r, r.json() if json_body else None


def test_model_routing_and_served_by_headers():
    gw, mock = start(config={"model_aliases": [{"alias": "fast", "model": "gemini/gemini-2.5-flash-lite"}],
                             "dwa": {"routing_strategy": "priority"}})  # "auto": configuration order
    cases = [("openai/gpt-4o-mini", "openai", "gpt-4o-mini", "openai"),
             ("anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5", "anthropic"),
             ("gemini/gemini-2.5-flash", "gemini", "gemini-2.5-flash", "gemini"),
             ("grok/grok-4-fast", "grok", "grok-4-fast", "xai"),
             ("claude-opus-5", "anthropic", "claude-opus-5", "anthropic"),
             ("fast", "gemini", "gemini-2.5-flash-lite", "gemini"),
             ("auto", "openai", "gpt-4o-mini", "openai")]
    for model, provider, upstream_model, dialect in cases:
        mock.clear()
        r, doc = chat(gw, {"model": model, "messages": MSG})
        check(r.status == 200, "%s: %d %r" % (model, r.status, r.body[:200]))
        check(r.header("x-orchesity-provider") == provider and r.header("x-orchesity-model") == upstream_model,
              "%s served by %r/%r" % (model, r.header("x-orchesity-provider"), r.header("x-orchesity-model")))
        check(r.header("X-Request-ID"), "no request id")
        check(doc["object"] == "chat.completion" and doc["choices"][0]["message"]["content"] == "Echo: hello gateway",
              "%s body %r" % (model, doc))
        reqs = chat_requests(mock)
        check(len(reqs) == 1 and reqs[0]["dialect"] == dialect, "%s reached %r" % (model, [x["dialect"] for x in reqs]))
        check("client-key" not in json.dumps(reqs[0]), "the client's key was forwarded")


def test_unknown_model_is_404_and_single_provider_passes_names_through():
    gw, mock = start()
    r, doc = chat(gw, {"model": "no-such-model", "messages": MSG})
    check(r.status == 404 and doc["error"]["code"] == "model_not_found" and doc["error"]["param"] == "model",
          "%d %r" % (r.status, doc))
    mock2 = Mock().start()
    one = Gateway(workers=1, env={"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": mock2.url + "/v1"}).start()
    r, doc = chat(one, {"model": "my-finetune-7", "messages": MSG})
    check(r.status == 200 and r.header("x-orchesity-model") == "my-finetune-7", "%d %r" % (r.status, doc))
    sent = json.loads(chat_requests(mock2)[0]["body"])
    check(sent["model"] == "my-finetune-7", "model sent %r" % sent["model"])
    r, doc = chat(one, {"model": "anthropic/claude-haiku-4-5", "messages": MSG})
    check(r.status == 400 and doc["error"]["code"] == "provider_not_configured", "%d %r" % (r.status, doc))


def test_request_errors_in_openai_format():
    gw, mock = start()
    for body, param in (({"messages": MSG}, "model"), ({"model": "auto"}, "messages"),
                        ({"model": "auto", "messages": []}, "messages"),
                        ({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}, "messages"),
                        ({"model": "auto", "messages": MSG, "stream": "yes"}, "stream")):
        r, doc = chat(gw, body)
        check(r.status == 400 and doc["error"]["type"] == "invalid_request_error" and doc["error"]["param"] == param,
              "%r -> %d %r" % (body, r.status, doc))
    r = gw.request("POST", "/v1/chat/completions", body=b"{nope")
    check(r.status == 400 and r.json()["error"]["code"] == "invalid_json", "malformed JSON: %d %r" % (r.status, r.body))


def test_upstream_failures_map_to_statuses():
    gw, mock = start(config={"llm": {"max_retries": 0, "retry_base_ms": 50, "retry_max_ms": 100}})
    # the 429 comes last: its Retry-After then holds the provider for the whole gateway
    cases = [("[[mock status=529]]", 503, "server_error"),
             ("[[mock status=500]]", 502, "server_error"),
             ("[[mock status=400]]", 400, "invalid_request_error"),
             ("[[mock status=429,retry_after=3]]", 429, "rate_limit_error")]
    for directive, status, etype in cases:
        r, doc = chat(gw, {"model": "anthropic/claude-haiku-4-5",
                           "messages": [{"role": "user", "content": "x " + directive}]})
        check(r.status == status and doc["error"]["type"] == etype, "%s -> %d %r" % (directive, r.status, doc))
        check(r.header("x-orchesity-provider") == "anthropic", "no served-by header on an error")
        if status == 429:
            check(r.header("retry-after") == "3", "retry-after %r" % r.header("retry-after"))


def stream(gw, body):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)))
    r = conn.getresponse()
    raw = r.read().decode()
    conn.close()
    return r, raw


def test_streams_in_openai_format_from_every_provider():
    gw, mock = start()
    for model in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "grok/grok-4-fast"):
        r, raw = stream(gw, {"model": model, "messages": MSG, "stream_options": {"include_usage": True}})
        check(r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream"), "%s status" % model)
        check(raw.rstrip().endswith("data: [DONE]"), "%s: no [DONE]" % model)
        events = [d for _, d in sse_events(raw) if d != "[DONE]"]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events if c["choices"])
        check(text == "Echo: hello gateway", "%s text %r" % (model, text))
        check(events[0]["choices"][0]["delta"].get("role") == "assistant", "%s: no role first" % model)
        finishes = [c["choices"][0]["finish_reason"] for c in events if c["choices"] and c["choices"][0]["finish_reason"]]
        check(finishes == ["stop"], "%s finish %r" % (model, finishes))
        usage = [c for c in events if not c["choices"]]
        check(len(usage) == 1 and usage[0]["usage"]["total_tokens"] > 0, "%s usage chunk %r" % (model, usage))
        r, raw = stream(gw, {"model": model, "messages": MSG})
        check(not [d for _, d in sse_events(raw) if d != "[DONE]" and not d["choices"]],
              "%s: usage chunk sent without include_usage" % model)


def test_mid_stream_failure_is_an_error_event_without_done():
    gw, mock = start()
    for model in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "grok/grok-4-fast"):
        for directive in ("[[mock cut=6]]", "[[mock error_event]]"):
            r, raw = stream(gw, {"model": model, "messages": [{"role": "user", "content": "a b c d e f g " + directive}]})
            check(r.status == 200, "%s %s status %d" % (model, directive, r.status))
            check("[DONE]" not in raw, "%s %s: [DONE] after a failure" % (model, directive))
            last = sse_events(raw)[-1][1]
            check(isinstance(last, dict) and "error" in last and last["error"]["message"],
                  "%s %s: last event %r" % (model, directive, last))


def test_stream_failure_before_first_chunk_is_an_http_error():
    gw, mock = start(config={"llm": {"max_retries": 0, "retry_base_ms": 50, "retry_max_ms": 100}})
    r, raw = stream(gw, {"model": "openai/gpt-4o-mini",
                         "messages": [{"role": "user", "content": "x [[mock status=429,retry_after=2]]"}]})
    check(r.status == 429 and json.loads(raw)["error"]["type"] == "rate_limit_error", "%d %r" % (r.status, raw[:200]))


def test_models_list():
    gw, mock = start(config={"model_aliases": [{"alias": "fast", "model": "openai/gpt-4o-mini"}]})
    doc = gw.get_json("/v1/models")
    ids = [m["id"] for m in doc["data"]]
    check(doc["object"] == "list" and doc["has_more"] is False, "shape %r" % {k: doc[k] for k in doc if k != "data"})
    for want in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "grok/grok-4-fast",
                 "fast"):
        check(want in ids, "%s missing from %r" % (want, ids[:8]))
    check(all(m["object"] == "model" and m["owned_by"] for m in doc["data"]), "entry shape")


def test_a_slow_first_chunk_starts_the_stream_with_keepalive_comments():
    gw, mock = start(config={"llm": {"stream_keepalive": 1}})
    r, raw = stream(gw, {"model": "openai/gpt-4o-mini",
                         "messages": [{"role": "user", "content": "wait [[mock latency=2300]]"}]})
    check(r.status == 200 and raw.startswith(": keep-alive\n\n"), "stream began %r" % raw[:40])
    check(raw.count(": keep-alive") >= 2 and raw.rstrip().endswith("data: [DONE]"), "stream %r" % raw[:200])
