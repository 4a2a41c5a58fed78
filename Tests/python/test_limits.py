"""Limits held by the gateway binary (in-memory store) against `portcullis mock`: exact request
rates under concurrency, bursts, concurrency caps that survive aborted streams, token quotas
settled to the backend's usage, size caps, shadow limits and top-level rules. Every loop is
bounded in count and time."""
import hashlib
import http.client
import json
import os
import re
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Proc
from test_metrics import samples, wait_for

KEYS = {name: f"sk-limits-{name}-0001" for name in ["hourly", "burst", "other", "slots", "tokens", "sizes", "shadow", "jwtish", "budget", "ceiling", "ceilraw", "roomy"]}


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def api_keys_yaml():
    """The `authentication.apiKeys` entries of KEYS, one tenant per key (shared with test_redis_limits)."""
    return "\n".join(f'    - {{ name: {n}, tenant: {n}, sha256: "{sha(k)}" }}' for n, k in KEYS.items())


def config_text(mock_port, log_path):
    keys = api_keys_yaml()
    return f"""
listeners: [{{ address: 127.0.0.1:0 }}]
admin: {{ address: 127.0.0.1:0 }}
accessLog: {{ destination: "{log_path}" }}
reload: {{ watch: false }}
backends:
  mock: {{ endpoints: [http://127.0.0.1:{mock_port}] }}
routes:
  - {{ name: chat, match: {{ model: demo-chat }}, backend: mock }}
  - {{ name: embed, match: {{ model: demo-embed }}, backend: mock }}
  - {{ name: raw, match: {{ pathPrefix: /raw }}, backend: mock }}
authentication:
  apiKeys:
{keys}
tenants:
  hourly: {{ limits: {{ requestsPerHour: 50 }} }}
  burst: {{ limits: {{ requestsPerSecond: 10, burst: 20 }} }}
  other: {{ limits: {{ requestsPerSecond: 10, burst: 20 }} }}
  slots: {{ limits: {{ concurrency: 2 }} }}
  tokens: {{ limits: {{ tokensPerHour: 3000, maxTokens: 50 }} }}
  sizes: {{ limits: {{ maxRequestBytes: 300, maxPromptTokens: 60 }} }}
  shadow: {{ limits: {{ requestsPerHour: 2, shadow: [requestsPerHour] }} }}
  jwtish: {{}}
  budget: {{ limits: {{ budgetPerDay: 0.004, maxTokens: 50 }} }}
  ceiling: {{ limits: {{ tokensPerMinute: 120, maxTokens: 50, ceiling: [tokensPerMinute] }} }}
  ceilraw: {{ limits: {{ tokensPerMinute: 120, maxTokens: 50, ceiling: [tokensPerMinute] }} }}
  roomy: {{ limits: {{ tokensPerMinute: 100, maxTokens: 60, ceiling: [tokensPerMinute] }} }}
prices:
  demo-chat: {{ input: 10, output: 10 }}
limits:
  - {{ name: raw-global, per: global, routes: [raw], requestsPerHour: 3 }}
"""


class Gateway:
    def __init__(self, mock_port):
        fd, self.path = tempfile.mkstemp(suffix=".yaml")
        os.close(fd)
        fd, self.log = tempfile.mkstemp(suffix=".log")
        os.close(fd)
        with open(self.path, "w") as f:
            f.write(config_text(mock_port, self.log))
        self.proc = Proc(["serve", "--config", self.path], r"listening on http://127\.0\.0\.1:(\d+)")
        self.port = self.proc.port
        m = re.search(r"admin on port (\d+)", "".join(self.proc.lines))
        assert m, "".join(self.proc.lines)
        self.admin = int(m.group(1))

    def stop(self):
        self.proc.stop()
        os.unlink(self.path)
        os.unlink(self.log)

    def log_lines(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def request(self, method, path, body=None, headers=None, port=None):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def chat(self, tenant, body=None, extra=None, **payload):
        headers = {"content-type": "application/json", "authorization": "Bearer " + KEYS[tenant]}
        headers.update(extra or {})
        if body is None:
            body = json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": "Hello there"}], **payload})
        return self.request("POST", "/v1/chat/completions", body=body, headers=headers)

    def scrape(self):
        status, _, body = self.request("GET", "/metrics", port=self.admin)
        assert status == 200
        return {family.name: family for family in text_string_to_metric_families(body.decode())}


@pytest.fixture
def gateway(mock):
    gw = Gateway(mock.port)
    yield gw
    gw.stop()


def error_of(body):
    return json.loads(body)["error"]


def test_200_concurrent_requests_against_a_limit_of_50_admit_exactly_50(gateway):
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: gateway.chat("hourly"), range(200)))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 50, statuses
    assert statuses.count(429) == 150
    status, headers, body = next(r for r in results if r[0] == 429)
    error = error_of(body)
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert "requests per hour" in error["message"] and "50" in error["message"]
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "50"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    ok = next(r for r in results if r[0] == 200)[1]
    assert ok["x-ratelimit-limit-requests"] == "50"
    assert re.fullmatch(r"(\d+m)?\d+s|\d+ms", ok["x-ratelimit-reset-requests"])
    families = gateway.scrape()
    assert samples(families, "portcullis_limit_decisions", tenant="hourly", limit="requests_per_hour", decision="admitted") == 50
    assert samples(families, "portcullis_limit_decisions", tenant="hourly", limit="requests_per_hour", decision="refused") == 150
    assert samples(families, "portcullis_refusals", reason="rate_limited") == 150
    # The access log names the limit of each refusal.
    lines = wait_for(lambda: [l for l in gateway.log_lines() if l.get("tenant") == "hourly"] if len(gateway.log_lines()) >= 200 else None)
    refused = [l for l in lines if l["status"] == 429]
    assert len(refused) == 150 and all(l["reason"] == "rate_limited" and l["limit"] == "requests_per_hour" for l in refused)


def burst(gw, tenant, count):
    """`count` requests sent at once on connections opened beforehand; their statuses."""
    body = json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]})
    raw = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEYS[tenant]}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    sockets = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(count)]
    for s in sockets:
        s.sendall(raw)
    statuses = []
    for s in sockets:
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        statuses.append(int(data.split(b" ", 2)[1]))
    return statuses


def test_a_burst_of_20_on_10_per_second_then_about_10_more_a_second_later(gateway):
    # The rate refills one request each 100 ms, also while a burst is being judged: on a slow
    # machine a burst that takes longer than that admits one more per 100 ms it took.
    first = start = time.monotonic()
    statuses = burst(gateway, "burst", 21)
    took = time.monotonic() - start
    ok = statuses.count(200)
    assert statuses.count(200) + statuses.count(429) == 21, statuses
    assert 20 <= ok <= 20 + int(took * 10) + 1, (statuses, took)
    if took < 0.1:
        assert ok == 20 and statuses.count(429) == 1, statuses
    emptied = time.monotonic()
    # Another tenant with the same plan is unaffected throughout.
    assert [gateway.chat("other")[0] for _ in range(20)] == [200] * 20
    # A second after the bucket was emptied, about 10 more fit.
    time.sleep(max(0.0, emptied + 1.0 - time.monotonic()))
    start = time.monotonic()
    later = burst(gateway, "burst", 16)
    end = time.monotonic()
    # Refilled since the bucket was last found empty (between `first` and `emptied`).
    low, high = int((start - emptied) * 10) - 1, int((end - first) * 10) + 1
    assert 9 <= later.count(200) and low <= later.count(200) <= high, (later, low, high)


def open_stream(gw, tenant, chunks=40, delay_ms=50):
    """Starts a streaming request and returns the socket once the response head is in."""
    body = json.dumps({"model": "demo-chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {KEYS[tenant]}\r\nx-mock-chunks: {chunks}\r\nx-mock-chunk-delay-ms: {delay_ms}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = s.recv(4096)
        if not data:
            break
        head += data
    return s, int(head.split(b" ", 2)[1])


def test_a_concurrency_cap_of_2_refuses_the_third_and_survives_1000_aborted_streams(gateway):
    first, a = open_stream(gateway, "slots")
    second, b = open_stream(gateway, "slots")
    assert (a, b) == (200, 200)
    for _ in range(3):
        status, headers, body = gateway.chat("slots")
        assert status == 429
        assert error_of(body)["code"] == "rate_limit_exceeded"
        assert "concurrent" in error_of(body)["message"]
    first.close()
    second.close()
    # 1,000 streams the client abandons right after the head (two at a time, the cap).
    deadline = time.time() + 120
    aborted = 0
    while aborted < 1000:
        assert time.time() < deadline, f"only {aborted} aborted streams in time"
        pair = []
        for _ in range(2):
            s, status = open_stream(gateway, "slots", chunks=100, delay_ms=20)
            pair.append((s, status))
        for s, status in pair:
            s.close()
            if status == 200:
                aborted += 1
    # Every slot comes back: two long streams fit again at once.
    def both_fit():
        x, sx = open_stream(gateway, "slots")
        y, sy = open_stream(gateway, "slots")
        x.close()
        y.close()
        return sx == 200 and sy == 200

    wait_for(both_fit, timeout=20)


def settled(gw):
    """Waits until no token reservation is open. A request settles once its last byte is
    written, which the client can see before the gateway's loop does, so a next request (on
    another event loop) can otherwise check its quota before the previous one settled."""
    wait_for(lambda: samples(gw.scrape(), "portcullis_limit_reservations_open") == 0, timeout=10)


def test_token_quota_is_reserved_then_settled_to_the_backends_usage(gateway):
    status, headers, body = gateway.chat("tokens", max_tokens=4)
    assert status == 200
    usage = json.loads(body)["usage"]
    assert headers["x-ratelimit-limit-tokens"] == "3000"
    # Reserved: the estimate plus max_tokens; the header shows what was left after reserving.
    reserved_left = int(headers["x-ratelimit-remaining-tokens"])
    assert reserved_left < 3000 - usage["total_tokens"]
    # Settled to the real usage: the next request sees only the real usage spent (plus its own reservation).
    settled(gateway)
    status, headers2, body2 = gateway.chat("tokens", max_tokens=4)
    assert status == 200
    # (3,000 an hour refill one token each 1.2 s, so at most a token or two comes back meanwhile.)
    remaining = int(headers2["x-ratelimit-remaining-tokens"])
    assert reserved_left - usage["total_tokens"] <= remaining <= reserved_left - usage["total_tokens"] + 2, (reserved_left, usage)

    # Many concurrent streams against what is left never overspend by more than one reservation.
    def stream(_):
        return gateway.chat("tokens", stream=True, stream_options={"include_usage": True}, max_tokens=50)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(stream, range(120)))
    spent = 0
    for status, _, body in results:
        if status == 200:
            events = [json.loads(line[6:]) for line in body.decode().split("\n") if line.startswith("data: {")]
            spent += next(e["usage"]["total_tokens"] for e in events if e.get("usage"))
        else:
            assert status == 429 and error_of(body)["code"] == "rate_limit_exceeded"
            assert error_of(body)["type"] == "tokens"
    assert any(status == 429 for status, _, _ in results)
    # Every reservation covers what its request then uses (the estimate runs high and the
    # backend stops at max_tokens), so the quota is never overspent, however many were in flight
    # (3,000 an hour refill at most a few tokens during the test).
    first_two = usage["total_tokens"] + json.loads(body2)["usage"]["total_tokens"]
    assert spent + first_two <= 3000 + 10, (spent, first_two)
    assert spent + first_two > 3000 // 2, "the quota was used, not refused early"


def test_size_caps_refuse_with_413_and_accept_exactly_at_the_limit(gateway):
    # maxRequestBytes: 300.
    filler = "x" * 400
    status, _, body = gateway.chat("sizes", body=json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": filler}]}))
    assert status == 413 and error_of(body)["code"] == "request_too_large"
    base = json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": ""}]})
    # maxPromptTokens: 60 at 3 bytes a token, so a 180-byte body is at the limit and 181 is over.
    at_limit = json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": "y" * (180 - len(base))}]})
    assert len(at_limit) == 180
    assert gateway.chat("sizes", body=at_limit)[0] == 200
    over = json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": "y" * (181 - len(base))}]})
    status, _, body = gateway.chat("sizes", body=over)
    assert status == 413 and error_of(body)["code"] == "prompt_too_large"
    assert "61" in error_of(body)["message"] and "60" in error_of(body)["message"]


def test_a_shadow_limit_never_refuses_but_is_counted(gateway):
    assert [gateway.chat("shadow")[0] for _ in range(5)] == [200] * 5
    families = gateway.scrape()
    assert samples(families, "portcullis_limit_decisions", tenant="shadow", limit="requests_per_hour", decision="shadow_refused") == 3
    assert samples(families, "portcullis_limit_decisions", tenant="shadow", limit="requests_per_hour", decision="admitted") == 2


def test_a_global_rule_governs_a_path_route(gateway):
    headers = {"authorization": "Bearer " + KEYS["jwtish"]}
    statuses = [gateway.request("GET", "/raw/v1/models", headers=headers)[0] for _ in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429, statuses
    _, _, body = gateway.request("GET", "/raw/v1/models", headers={"authorization": "Bearer " + KEYS["other"]})
    assert "raw-global" in error_of(body)["message"]


def sse_events(body):
    return [json.loads(line[6:]) for line in body.decode().split("\n") if line.startswith("data: {")]


def test_a_stream_without_stream_options_is_charged_the_backends_usage_which_the_client_does_not_see(gateway):
    messages = [{"role": "user", "content": "Count the tokens of this stream"}]

    def probe():
        settled(gateway)
        status, headers, body = gateway.chat("tokens", max_tokens=4)
        assert status == 200
        return int(headers["x-ratelimit-remaining-tokens"]), json.loads(body)["usage"]["total_tokens"]

    # What the backend reports for this stream, seen by a client that asks (the same bytes
    # reach the backend either way: the gateway puts its stream_options first).
    asked = json.dumps({"stream_options": {"include_usage": True}, "model": "demo-chat", "stream": True, "max_tokens": 6, "messages": messages})
    status, _, body = gateway.chat("tokens", body=asked)
    assert status == 200
    reported = next(e["usage"]["total_tokens"] for e in sse_events(body) if e.get("usage"))

    before, probe_usage = probe()
    plain = json.dumps({"model": "demo-chat", "stream": True, "max_tokens": 6, "messages": messages})
    status, headers, body = gateway.chat("tokens", body=plain)
    assert status == 200
    events = sse_events(body)
    assert events and all(e["choices"] for e in events), "the usage chunk was hidden"
    assert not any(e.get("usage") for e in events)
    assert body.decode().rstrip().endswith("data: [DONE]")
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    after, _ = probe()
    charged = before - after - probe_usage
    logged = wait_for(lambda: [l for l in gateway.log_lines() if l.get("tenant") == "tokens" and l.get("charged_tokens")])
    assert any(l["charged_tokens"] == l.get("total_tokens") and "usage" not in l for l in logged)
    # 3,000 an hour refill a token each 1.2 s: at most one or two come back meanwhile.
    assert reported - 2 <= charged <= reported, (charged, reported)


def test_a_cost_budget_reserves_at_the_models_price_settles_to_usage_and_answers_insufficient_quota(gateway):
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key=KEYS["budget"], max_retries=0)
    # $10 a million tokens is 10 µUSD a token; the day's budget is $0.004 (4,000 µUSD). Each
    # request reserves its prompt estimate plus 50 completion tokens (about 770 µUSD: five would
    # fit on reservations alone) and settles to what the mock reports.
    admitted, refusal = 0, None
    for _ in range(40):
        try:
            client.chat.completions.create(model="demo-chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=50)
            admitted += 1
        except openai.RateLimitError as error:
            refusal = error
            break
    assert refusal is not None, "the budget ran out"
    # The session's mock streams 4 chunks: a usage of 24 tokens, 240 µUSD, so about 14 fit.
    assert 12 <= admitted <= 15, admitted
    body = refusal.body
    assert refusal.status_code == 429 and body["code"] == "insufficient_quota" and body["type"] == "insufficient_quota"
    assert "budget per day" in body["message"] and "$0.004" in body["message"], body["message"]
    assert refusal.response.headers.get("retry-after")
    # The access log is written as it flushes: wait for every admitted request's line.
    charged = wait_for(lambda: (lambda lines: lines if len(lines) >= admitted else None)(
        [line for line in gateway.log_lines() if "charged_usd" in line]))
    # Never more than the budget spent: the settled usage of the admitted requests fits in it.
    assert sum(line["charged_usd"] for line in charged) <= 0.004 + 1e-9, charged
    assert samples(gateway.scrape(), "portcullis_refusals", reason="budget_exceeded") >= 1


def test_a_backend_that_reports_no_usage_is_charged_the_prompt_estimate_and_the_text_it_streamed(gateway):
    body = json.dumps({"model": "demo-chat", "stream": True, "max_tokens": 50, "messages": [{"role": "user", "content": "Hello there"}]})
    # The mock streams 4 one-word chunks and, asked for it, no usage at all.
    status, headers, answer = gateway.chat("tokens", body=body, extra={"x-mock-no-usage": "1"})
    assert status == 200
    assert b'"usage":{' not in answer
    # A stream that breaks after 2 chunks, without usage either (the client sees it cut off).
    try:
        gateway.chat("tokens", body=body, extra={"x-mock-no-usage": "1", "x-mock-drop-after": "2"})
    except http.client.IncompleteRead:
        pass
    lines = wait_for(lambda: (lambda found: found if len(found) >= 2 else None)(
        [line for line in gateway.log_lines() if line.get("usage") == "missing"]))
    prompt_estimate = (len(body) + 2) // 3 + 1  # about a token per 3 body bytes (the gateway also adds stream_options)
    whole, broken = lines[0]["charged_tokens"], lines[1]["charged_tokens"]
    # Charged the estimate and the counted words (one token each), never zero and not the
    # whole reservation (the estimate plus 50).
    assert prompt_estimate - 2 <= broken < whole < prompt_estimate + 50, (prompt_estimate, whole, broken)
    assert whole - broken >= 1, "two more words streamed"
    # A JSON answer without usage: its text is counted at its end (held until then, not scanned
    # when usage is there), the same words as the whole stream.
    plain = json.dumps({"model": "demo-chat", "max_tokens": 50, "messages": [{"role": "user", "content": "Hello there"}]})
    status, _, answer = gateway.chat("tokens", body=plain, extra={"x-mock-no-usage": "1"})
    assert status == 200 and b'"usage"' not in answer
    json_line = wait_for(lambda: (lambda found: found[2] if len(found) >= 3 else None)(
        [line for line in gateway.log_lines() if line.get("usage") == "missing"]))
    plain_estimate = (len(plain) + 2) // 3
    assert plain_estimate < json_line["charged_tokens"] < plain_estimate + 50, (plain_estimate, json_line)


MISBEHAVING = {"x-mock-ignore-max-tokens": "1", "x-mock-chunks": "400", "x-mock-chunk-delay-ms": "1"}


def stream_until_cut(port, tenant):
    """Streams through the OpenAI SDK from a backend that ignores max_tokens 5 and sends 400
    words; returns the words received before the SDK raised, and what it raised."""
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEYS[tenant], max_retries=0)
    stream = client.chat.completions.create(
        model="demo-chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=5, stream=True, extra_headers=MISBEHAVING)
    words = 0
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                words += 1
    return words, raised.value


def test_a_hard_ceiling_cuts_a_stream_off_with_a_final_error_event_that_the_openai_sdk_raises(gateway):
    # 120 tokens a minute, held as a ceiling.
    words, error = stream_until_cut(gateway.port, "ceiling")
    assert "cut off" in error.message and "tokens per minute" in error.message and "120" in error.message, error.message
    assert error.body["code"] == "rate_limit_exceeded" and error.body["type"] == "tokens", error.body
    # The prompt estimate and the words delivered fit in the 120: the stream never passed the
    # ceiling, and stopped close to it (the read that would pass it is held back).
    assert 60 <= words < 120, words
    # The minute's tokens are spent: the next request is refused before any upstream work.
    status, headers, body = gateway.chat("ceiling", max_tokens=5)
    assert status == 429 and error_of(body)["code"] == "rate_limit_exceeded", body
    line = wait_for(lambda: next((l for l in gateway.log_lines() if l.get("tenant") == "ceiling" and l.get("status") == 200), None))
    assert line["outcome"] == "refused" and line["reason"] == "token_quota_exceeded", line
    # Settled like a stream without usage: the prompt estimate and the delivered text, counted
    # conservatively (about 2 tokens a word here), never less than what the ceiling judged.
    assert line["limit"] == "tokens_per_minute" and line["charged_tokens"] >= words and line["usage"] == "missing", line
    assert samples(gateway.scrape(), "portcullis_limit_decisions", tenant="ceiling", decision="cut") == 1


def test_a_cut_stream_ends_cleanly_and_keeps_the_connection(gateway):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=20)
    try:
        headers = {"content-type": "application/json", "authorization": "Bearer " + KEYS["ceilraw"], **MISBEHAVING}
        body = json.dumps({"model": "demo-chat", "stream": True, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]})
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200 and not resp.will_close
        text = resp.read().decode()  # a whole chunked body: no IncompleteRead
        sock = conn.sock
        events = [block for block in text.split("\n\n") if block.strip()]
        last = json.loads(events[-1][len("data: "):])
        assert last["error"]["code"] == "rate_limit_exceeded" and "cut off" in last["error"]["message"], events[-1]
        assert "[DONE]" not in text
        assert all(json.loads(e[6:]).get("choices") is not None for e in events[:-1])
        # The same connection serves the next request (another tenant's: this one's quota is spent).
        conn.request("GET", "/v1/models", headers={"authorization": "Bearer " + KEYS["roomy"]})
        again = conn.getresponse()
        again.read()
        assert again.status == 200 and conn.sock is sock
    finally:
        conn.close()


def test_a_ceiling_never_cuts_a_stream_that_stays_within_its_max_tokens(gateway):
    # 60 one-word chunks within max_tokens 60: counted at a token a fragment, the stream stays
    # within its reservation (the conservative count used to settle, about 2 a word, would not).
    body = json.dumps({"model": "demo-chat", "stream": True, "max_tokens": 60, "messages": [{"role": "user", "content": "Hi"}]})
    status, _, answer = gateway.chat("roomy", body=body, extra={"x-mock-chunks": "60", "x-mock-chunk-delay-ms": "0"})
    assert status == 200
    text = answer.decode()
    assert text.rstrip().endswith("data: [DONE]") and '"error"' not in text
    assert sum(1 for e in sse_events(answer) if e["choices"] and e["choices"][0]["delta"].get("content")) == 60
