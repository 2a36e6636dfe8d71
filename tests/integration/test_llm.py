"""Real provider calls through the gateway against the mock upstream: each
of the four adapters, usage, finish reasons, retries, Retry-After, fallback,
timeouts, cut streams, client disconnects, fan-out, load shedding, keys."""
import http.client
import json
import socket
import threading
import time

from harness import Gateway, Mock, check, sse_events, wait_until

PROVIDERS = ["openai", "anthropic", "gemini", "grok"]
DIALECT = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "grok": "xai"}
FAST_RETRIES = {"llm": {"retry_base_ms": 50, "retry_max_ms": 400}}


def start(config=None, workers=1, env=None, mock_args=None):
    mock = Mock(args=mock_args).start()
    e = mock.provider_env()
    e.update(env or {})
    cfg = dict(FAST_RETRIES)
    cfg.update(config or {})
    gw = Gateway(workers=workers, env=e, config=cfg).start()
    return gw, mock


def orchestrate(gw, body, timeout=20):
    r = gw.request("POST", "/api/llm/orchestrate", body=json.dumps(body),
                   headers={"Content-Type": "application/json"}, timeout=timeout)
    return r, r.json()


def chat_requests(mock):
    return [r for r in mock.requests() if not r["path"].startswith("/_mock")]


def test_each_provider_answers_with_content_usage_and_finish():
    gw, mock = start()
    for p in PROVIDERS:
        r, doc = orchestrate(gw, {"prompt": "tell me about the sea", "providers": [p], "max_tokens": 50,
                                  "system": "be brief"})
        check(r.status == 200 and doc["status"] == "completed", "%s: %d %r" % (p, r.status, doc))
        res = doc["results"][0]
        check(res["provider"] == p and res["error"] is None, "%s result %r" % (p, res))
        check(res["response"] == "Echo: tell me about the sea", "%s answer %r" % (p, res["response"]))
        check(res["finish_reason"] == "stop", "%s finish %r" % (p, res["finish_reason"]))
        u = res["usage"]
        # words: "be brief" + "tell me about the sea" = 7; answer = 6 words
        check(u["prompt_tokens"] == 7 and u["completion_tokens"] >= 6, "%s usage %r" % (p, u))
        check(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "%s total %r" % (p, u))
        check(res["tokens_used"] == u["total_tokens"], "tokens_used")
        check(res["cost"] > 0, "%s cost not computed: %r" % (p, res["cost"]))
    grok = [r for r in chat_requests(mock) if r["dialect"] == "xai"]
    check(len(grok) == 1, "grok calls %d" % len(grok))


def test_translated_requests_and_headers_reach_the_provider():
    gw, mock = start()
    for p in PROVIDERS:
        orchestrate(gw, {"prompt": "hello there", "providers": [p], "max_tokens": 33, "temperature": 0.5,
                         "system": "sys text"})
    reqs = {r["dialect"]: r for r in chat_requests(mock)}
    o = reqs["openai"]
    check(o["headers"].get("authorization") == "Bearer sk-mock-openai-0001", "openai auth %r" % o["headers"])
    ob = json.loads(o["body"])
    check(ob["messages"][0] == {"role": "system", "content": "sys text"} and ob["max_tokens"] == 33 and
          ob["model"] == "gpt-4o-mini", "openai body %r" % ob)
    a = reqs["anthropic"]
    check(a["headers"].get("x-api-key") == "sk-ant-mock-0002" and a["headers"].get("anthropic-version"),
          "anthropic headers %r" % a["headers"])
    ab = json.loads(a["body"])
    check(ab["system"] == "sys text" and ab["max_tokens"] == 33 and ab["messages"][0]["role"] == "user" and
          ab["model"] == "claude-haiku-4-5", "anthropic body %r" % ab)
    g = reqs["gemini"]
    check(g["headers"].get("x-goog-api-key") == "AIzaMockGemini0003", "gemini key")
    check("/v1beta/models/gemini-2.5-flash:generateContent" in g["path"], "gemini path %r" % g["path"])
    gb = json.loads(g["body"])
    check(gb["systemInstruction"]["parts"][0]["text"] == "sys text" and
          gb["generationConfig"]["maxOutputTokens"] == 33 and gb["contents"][0]["role"] == "user", "gemini %r" % gb)
    x = reqs["xai"]
    check(x["headers"].get("authorization") == "Bearer xai-mock-0004", "grok auth")


def test_client_credentials_are_not_forwarded_and_keys_never_leak():
    gw, mock = start()
    r = gw.request("POST", "/api/llm/orchestrate", body=json.dumps({"prompt": "x", "providers": PROVIDERS}),
                   headers={"Authorization": "Bearer client-secret-999", "x-api-key": "client-secret-998"})
    check(r.status == 200, "status %d" % r.status)
    for req in chat_requests(mock):
        flat = json.dumps(req)
        check("client-secret-99" not in flat, "a client credential reached %s" % req["dialect"])
    body = r.body.decode() + gw.get("/api/llm/providers").body.decode() + gw.get("/api/llm/stats").body.decode()
    for key in ("sk-mock-openai-0001", "sk-ant-mock-0002", "AIzaMockGemini0003", "xai-mock-0004"):
        check(key not in body and key not in gw.log() and key not in open(gw.access_log).read(),
              "the key %s leaks" % key[:6])


def test_max_tokens_truncates_with_finish_length():
    gw, mock = start()
    for p in PROVIDERS:
        _, doc = orchestrate(gw, {"prompt": "one two three four five six seven", "providers": [p], "max_tokens": 3})
        res = doc["results"][0]
        check(res["response"] == "Echo: one two", "%s truncated answer %r" % (p, res["response"]))
        check(res["finish_reason"] == "length", "%s finish %r" % (p, res["finish_reason"]))


def test_fan_out_with_one_provider_failing():
    gw, mock = start()
    _, doc = orchestrate(gw, {"prompt": "compare [[mock provider=gemini,status=400]]", "providers": PROVIDERS})
    check(doc["status"] == "completed", "status %r" % doc["status"])
    by = {r["provider"]: r for r in doc["results"]}
    check(set(by) == set(PROVIDERS), "results %r" % list(by))
    check(by["gemini"]["error"] and by["gemini"]["error_class"] == "client", "gemini %r" % by["gemini"])
    for p in ("openai", "anthropic", "grok"):
        check(by[p]["response"] == "Echo: compare", "%s %r" % (p, by[p]))
    check([e["provider"] for e in doc["errors"]] == ["gemini"], "errors %r" % doc["errors"])
    check(len([r for r in chat_requests(mock) if r["dialect"] == "gemini"]) == 1, "a 400 must not be retried")


def test_fan_out_calls_are_concurrent():
    gw, mock = start()
    t0 = time.monotonic()
    _, doc = orchestrate(gw, {"prompt": "slow [[mock latency=800]]", "providers": PROVIDERS})
    took = time.monotonic() - t0
    check(doc["status"] == "completed" and len(doc["results"]) == 4, "doc %r" % doc)
    check(took < 2.0, "four 0.8 s calls took %.2f s: not concurrent" % took)


def test_rate_limit_honours_retry_after_then_succeeds():
    gw, mock = start()
    t0 = time.monotonic()
    _, doc = orchestrate(gw, {"prompt": "hi [[mock status=429,retry_after=1,times=1]]", "providers": ["anthropic"]})
    took = time.monotonic() - t0
    res = doc["results"][0]
    check(res["response"] == "Echo: hi", "result %r" % res)
    check(took >= 1.0, "retried after %.2f s, before Retry-After (1 s)" % took)
    outcomes = [a["outcome"] for a in res["attempts"]]
    check(outcomes == ["rate_limited", "success"], "attempts %r" % outcomes)


def test_server_errors_retried_then_fallback():
    gw, mock = start(config={"dwa": {"routing_strategy": "priority"}})  # configuration order
    _, doc = orchestrate(gw, {"prompt": "hi [[mock provider=openai,status=500]]"})
    res = doc["results"][0]
    check(doc["status"] == "completed" and res["provider"] == "anthropic", "served by %r" % res)
    outcomes = [(a["provider"], a["outcome"]) for a in res["attempts"]]
    check(outcomes == [("openai", "server")] * 3 + [("anthropic", "success")], "attempts %r" % outcomes)
    stats = gw.get_json("/api/llm/stats")["provider_stats"]
    check(stats["openai"]["failures_by_class"]["server"] == 3 and stats["openai"]["retries"] == 2 and
          stats["openai"]["fallbacks"] == 1, "openai stats %r" % stats["openai"])
    check(stats["anthropic"]["successes"] == 1, "anthropic stats")
    m = gw.metrics()
    check(m['orchesity_upstream_failures_total{provider="openai",class="server"}'] == 3 and
          m['orchesity_upstream_successes_total{provider="anthropic"}'] == 1 and
          m['orchesity_upstream_fallbacks_total{provider="openai"}'] == 1 and
          m['orchesity_cost_usd_total{provider="anthropic"}'] > 0, "upstream metrics")


def test_overloaded_529_is_retried():
    gw, mock = start()
    _, doc = orchestrate(gw, {"prompt": "hi [[mock status=529,times=2]]", "providers": ["anthropic"]})
    res = doc["results"][0]
    check([a["outcome"] for a in res["attempts"]] == ["overloaded", "overloaded", "success"], "%r" % res["attempts"])


def test_all_rate_limited_is_429_with_retry_after():
    gw, mock = start(config={"llm": {"retry_base_ms": 50, "retry_max_ms": 400, "max_retries": 0}})
    r, doc = orchestrate(gw, {"prompt": "hi [[mock status=429,retry_after=7]]", "providers": ["openai"]})
    check(r.status == 429 and r.header("Retry-After") == "7", "status %d retry-after %r" % (r.status, r.header("Retry-After")))
    check(doc["status"] == "failed" and doc["error_code"] == "RATE_LIMITED", "doc %r" % doc)


def test_hang_times_out():
    providers = [{"name": "openai", "type": "openai", "base_url": "http://placeholder/v1",
                  "api_key_env": "OPENAI_API_KEY", "default_model": "gpt-4o-mini", "first_byte_timeout": 700}]
    gw, mock = start(config={"providers": providers, "llm": {"max_retries": 0, "retry_base_ms": 50}})
    t0 = time.monotonic()
    _, doc = orchestrate(gw, {"prompt": "wait [[mock hang]]"})
    took = time.monotonic() - t0
    res = doc["results"][0]
    check(res["error_class"] == "timeout", "result %r" % res)
    check(0.6 <= took <= 2.0, "timed out after %.2f s with first_byte_timeout 0.7 s" % took)


def test_malformed_answer_is_a_server_failure():
    gw, mock = start(config={"llm": {"max_retries": 1, "retry_base_ms": 50}})
    _, doc = orchestrate(gw, {"prompt": "x [[mock malformed]]", "providers": ["openai"]})
    res = doc["results"][0]
    check(res["error_class"] == "server" and len(res["attempts"]) == 2, "result %r" % res)


def stream(gw, body, timeout=20):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    conn.request("POST", "/api/llm/orchestrate", body=json.dumps(dict(body, stream=True)))
    r = conn.getresponse()
    raw = r.read().decode()
    conn.close()
    return r, sse_events(raw)


def test_streaming_tagged_chunks_for_each_provider():
    gw, mock = start()
    for p in PROVIDERS:
        r, events = stream(gw, {"prompt": "stream these words please", "providers": [p]})
        check(r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream"), "%s headers" % p)
        names = [e for e, _ in events]
        check(names[0] == "start" and names[-1] == "end" and "done" in names, "%s events %r" % (p, names))
        text = "".join(d["delta"] for e, d in events if e == "chunk")
        check(text == "Echo: stream these words please", "%s streamed %r" % (p, text))
        check(sum(1 for e, _ in events if e == "chunk") >= 3, "%s: not streamed piece by piece" % p)
        done = [d for e, d in events if e == "done"][0]
        check(done["finish_reason"] == "stop" and done["usage"]["completion_tokens"] >= 5, "%s done %r" % (p, done))
        check(events[-1][1]["status"] == "completed", "%s end %r" % (p, events[-1]))


def test_cut_stream_ends_with_an_error_event_not_a_clean_end():
    gw, mock = start()
    for p in PROVIDERS:
        # six upstream events carry text in every dialect (Anthropic starts with three without)
        r, events = stream(gw, {"prompt": "a b c d e f g h i j [[mock cut=6]]", "providers": [p]})
        names = [e for e, _ in events]
        check("error" in names and "done" not in names, "%s events %r" % (p, names))
        check(events[-1][0] == "end" and events[-1][1]["status"] == "failed", "%s end %r" % (p, events[-1]))
        chunks = [d for e, d in events if e == "chunk"]
        check(chunks, "%s: the chunks before the cut were not delivered" % p)


def test_client_disconnect_cancels_the_upstream_call():
    gw, mock = start()
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    body = json.dumps({"prompt": "wait [[mock hang]]", "providers": ["openai"]}).encode()
    s.sendall(b"POST /api/llm/orchestrate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    wait_until(lambda: chat_requests(mock), 3, what="the upstream call")
    s.close()
    closed_at = time.time() * 1000
    req = wait_until(lambda: [r for r in chat_requests(mock) if r["outcome"] == "client_closed"], 3,
                     what="the mock to see the call cancelled")[0]
    check(req["ended_ms"] - closed_at < 1000, "cancelled %.0f ms after the client left" % (req["ended_ms"] - closed_at))
    in_flight = gw.get_json("/api/health/detailed")["workers"][0]["in_flight"]
    check(in_flight == 1, "%d requests in flight besides this one" % (in_flight - 1))


def test_streaming_client_disconnect_cancels_the_upstream_call():
    gw, mock = start()
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request("POST", "/api/llm/orchestrate",
                 body=json.dumps({"prompt": "a b c d e f g h i j k l [[mock gap=300]]", "providers": ["anthropic"],
                                  "stream": True}))
    r = conn.getresponse()
    while b"event: chunk" not in r.fp.readline():  # the upstream stream is flowing
        pass
    closed_at = time.time() * 1000
    conn.sock.close()
    conn.close()
    req = wait_until(lambda: [x for x in chat_requests(mock) if x["outcome"] == "client_closed"], 3,
                     what="the mock to see the stream cancelled")[0]
    check(req["ended_ms"] - closed_at < 1000, "cancelled %.0f ms after the client left" % (req["ended_ms"] - closed_at))


def test_validation_errors():
    gw, mock = start()
    cases = [({}, "prompt"), ({"prompt": "  "}, "empty"), ({"prompt": 5}, "string"),
             ({"prompt": "x", "providers": ["nope"]}, "unknown provider"),
             ({"prompt": "x", "providers": "openai"}, "array"), ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
             ({"prompt": "x", "max_tokens": "9"}, "max_tokens"), ({"prompt": "x", "temperature": 2.5}, "temperature"),
             ({"prompt": "x", "stream": "yes"}, "stream"), ([1, 2], "object"),
             ({"prompt": "x", "providers": ["openai", "openai"]}, "twice"),
             ({"messages": [{"role": "robot", "content": "x"}]}, "role")]
    for body, word in cases:
        r = gw.request("POST", "/api/llm/orchestrate", body=json.dumps(body))
        d = r.json()
        check(r.status == 400 and d["error_code"] == "VALIDATION_ERROR" and word in d["detail"],
              "%r -> %d %r" % (body, r.status, d))
    check(not chat_requests(mock), "an invalid request reached a provider")


def test_providers_test_and_stats_endpoints():
    gw, mock = start()
    plist = gw.get_json("/api/llm/providers")
    names = [p["name"] for p in plist["providers"]]
    check(names == PROVIDERS and all(p["configured"] and p["models"] for p in plist["providers"]), "%r" % plist)
    for key in ("routing_strategy", "max_concurrent_requests", "enable_caching"):
        check(key in plist, "providers lacks %s" % key)
    t = gw.request("POST", "/api/llm/test/gemini").json()
    check(t["status"] == "success" and t["response"].startswith("Echo: Reply with one word") and t["tokens_used"] > 0,
          "test %r" % t)
    bad = gw.request("POST", "/api/llm/test/nope")
    check(bad.status == 400 and bad.json()["error_code"] == "INVALID_PROVIDER", "unknown provider %d" % bad.status)
    stats = gw.get_json("/api/llm/stats")
    check(stats["provider_stats"]["gemini"]["successes"] == 1 and "system_info" in stats, "stats %r" % stats)


def test_unconfigured_provider_is_reported_not_called():
    mock = Mock().start()
    env = {"OPENAI_API_KEY": "sk-mock-openai-0001", "OPENAI_BASE_URL": mock.url + "/v1"}
    gw = Gateway(workers=1, env=env).start()
    _, doc = orchestrate(gw, {"prompt": "x", "providers": ["openai", "anthropic"]})
    by = {r["provider"]: r for r in doc["results"]}
    check(by["openai"]["response"] == "Echo: x", "openai %r" % by["openai"])
    check("not configured" in by["anthropic"]["error"], "anthropic %r" % by["anthropic"])
    t = gw.request("POST", "/api/llm/test/anthropic").json()
    check(t["status"] == "failed" and "not configured" in t["errors"][0], "test %r" % t)


def test_worker_connections_sheds_load_with_503():
    gw, mock = start(config={"server": {"worker_connections": 2}})
    results = []

    def one():
        r, _ = orchestrate(gw, {"prompt": "slow [[mock latency=1500]]", "providers": ["openai"]})
        results.append(r.status)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: len(chat_requests(mock)) == 2, 3, what="two requests in flight")
    r = gw.get("/api/health/live")
    check(r.status == 503 and r.json()["error_code"] == "OVERLOADED" and r.header("Retry-After") == "1",
          "third request: %d" % r.status)
    for t in threads:
        t.join()
    check(results == [200, 200], "the first two: %r" % results)
    check(gw.get("/api/health/live").status == 200, "accepting again")
    check(gw.metrics()["orchesity_http_requests_shed_total"] >= 1, "shed not counted")


def test_pooled_connection_closed_by_the_provider_is_resent_at_once():
    gw, mock = start()
    _, doc = orchestrate(gw, {"prompt": "first", "providers": ["openai"]})
    check(doc["status"] == "completed", "first %r" % doc)
    port = mock.port
    mock.stop()                      # the gateway's pooled connection is now dead
    Mock(port=port).start()
    _, doc = orchestrate(gw, {"prompt": "second", "providers": ["openai"]})
    res = doc["results"][0]
    check(res["response"] == "Echo: second" and len(res["attempts"]) == 1, "second %r" % res)
    stats = gw.get_json("/api/llm/stats")["provider_stats"]["openai"]
    check(stats["failures"] == 0, "a dead pooled connection counted as a failure: %r" % stats)


def one_provider(**limits):
    p = {"name": "openai", "type": "openai", "base_url": "http://placeholder/v1", "api_key_env": "OPENAI_API_KEY",
         "default_model": "gpt-4o-mini"}
    p.update(limits)
    return [p]


def test_idle_timeout_cuts_a_silent_stream():
    gw, mock = start(config={"providers": one_provider(idle_timeout=400), "llm": {"max_retries": 0}})
    t0 = time.monotonic()
    r, events = stream(gw, {"prompt": "a b c d e [[mock gap=1500]]"})
    took = time.monotonic() - t0
    names = [e for e, _ in events]
    check("error" in names and "done" not in names, "events %r" % names)
    err = [d for e, d in events if e == "error"][0]
    check(err["error_class"] == "timeout", "error %r" % err)
    check(took < 1.4, "the stream was not cut by idle_timeout (%.2f s)" % took)


def test_connect_timeout():
    # A listener whose accept queue is full drops new SYNs: connect() hangs.
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.2)
    limits = dict(name="blackhole", connect_timeout=300, base_url="http://127.0.0.1:%d/v1" % port)
    try:
        gw, mock = start(config={"providers": one_provider(**limits), "llm": {"max_retries": 0}})
        t0 = time.monotonic()
        _, doc = orchestrate(gw, {"prompt": "x"})
        took = time.monotonic() - t0
        res = doc["results"][0]
        check(res["error_class"] == "timeout" and 0.25 <= took < 1.5, "%.2f s %r" % (took, res))
    finally:
        for c in fillers:
            c.close()
        full.close()


def test_max_inflight_moves_on_to_the_next_provider():
    providers = one_provider(max_inflight=1) + [
        {"name": "anthropic", "type": "anthropic", "base_url": "http://placeholder", "api_key_env": "ANTHROPIC_API_KEY",
         "default_model": "claude-haiku-4-5"}]
    gw, mock = start(config={"providers": providers, "dwa": {"routing_strategy": "priority"}})
    out = []
    t = threading.Thread(target=lambda: out.append(orchestrate(gw, {"prompt": "slow [[mock latency=1200]]"})[1]))
    t.start()
    wait_until(lambda: chat_requests(mock), 3, what="the first call")
    _, doc = orchestrate(gw, {"prompt": "second"})
    t.join()
    res = doc["results"][0]
    check(res["provider"] == "anthropic" and "max_inflight" in res["attempts"][0]["error"], "second %r" % res)
    check(out[0]["results"][0]["provider"] == "openai", "first %r" % out[0]["results"][0])
