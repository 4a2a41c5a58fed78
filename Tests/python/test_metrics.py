"""`/metrics` scraped from the gateway binary and parsed with prometheus_client's text parser,
after a known mix of traffic: successes, streams, aborted streams and refusals of each kind.
The counters and token sums must match what the test sent and saw; the in-flight gauge must
return to 0; distinct unknown models must not grow the number of series."""
import hashlib
import http.client
import json
import os
import socket
import tempfile
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Proc

ACME_KEY = "sk-metrics-acme-0001"
BETA_KEY = "sk-metrics-beta-0002"
OLD_KEY = "sk-metrics-oldco-0003"


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def config_text(mock_port, tenant_label=True):
    return f"""
listeners: [{{ address: 127.0.0.1:0 }}]
admin: {{ address: 127.0.0.1:0 }}
accessLog: {{ destination: "off" }}
metrics: {{ tenantLabel: {"true" if tenant_label else "false"} }}
reload: {{ watch: false }}
backends:
  mock: {{ endpoints: [http://127.0.0.1:{mock_port}] }}
  dead: {{ endpoints: [http://127.0.0.1:1] }}
  flaky: {{ endpoints: [http://127.0.0.1:1/x, http://127.0.0.1:{mock_port}] }}
routes:
  - {{ name: chat, match: {{ model: demo-chat }}, backend: mock, maxRequestBytes: 4KiB }}
  - {{ name: family, match: {{ model: "fam-*" }}, backend: mock }}
  - {{ name: dead, match: {{ model: dead-model }}, backend: dead }}
  - {{ name: flaky, match: {{ model: flaky-model }}, backend: flaky }}
authentication:
  apiKeys:
    - {{ name: acme, tenant: acme, sha256: "{sha(ACME_KEY)}" }}
    - {{ name: beta, tenant: beta, sha256: "{sha(BETA_KEY)}" }}
    - {{ name: oldco, tenant: oldco, sha256: "{sha(OLD_KEY)}" }}
tenants:
  acme: {{ plan: pro }}
  beta: {{ plan: pro }}
  oldco: {{ plan: pro, disabled: true }}
plans:
  pro: {{ limits: {{ requestsPerMinute: 600 }} }}
"""


class Gateway:
    def __init__(self, mock_port, tenant_label=True):
        fd, self.path = tempfile.mkstemp(suffix=".yaml")
        os.close(fd)
        self.mock_port = mock_port
        self.write(config_text(mock_port, tenant_label))
        self.proc = Proc(["serve", "--config", self.path], r"listening on http://127\.0\.0\.1:(\d+)")
        self.port = self.proc.port
        import re

        m = re.search(r"admin on port (\d+)", "".join(self.proc.lines))
        assert m, "".join(self.proc.lines)
        self.admin = int(m.group(1))

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def stop(self):
        self.proc.stop()
        os.unlink(self.path)

    def request(self, method, path, body=None, headers=None, port=None):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def chat(self, key, model="demo-chat", stream=False, extra=None, body=None):
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = "Bearer " + key
        headers.update(extra or {})
        if body is None:
            payload = {"model": model, "messages": [{"role": "user", "content": "Hello there"}]}
            if stream:
                payload["stream"] = True
                payload["stream_options"] = {"include_usage": True}
            body = json.dumps(payload)
        return self.request("POST", "/v1/chat/completions", body=body, headers=headers)

    def scrape(self):
        status, body = self.request("GET", "/metrics", port=self.admin)
        assert status == 200
        return {family.name: family for family in text_string_to_metric_families(body.decode())}


def samples(families, name, sample_name=None, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    family = families.get(name)
    if family is None:
        return 0
    total = 0
    for s in family.samples:
        if sample_name and s.name != sample_name:
            continue
        if all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


def series_count(families):
    return sum(len(f.samples) for f in families.values())


def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def gateway(mock):
    gw = Gateway(mock.port)
    yield gw
    gw.stop()


def usage_of(body):
    usage = json.loads(body)["usage"]
    return usage["prompt_tokens"], usage["completion_tokens"]


def stream_usage(body):
    usage = None
    for line in body.decode().splitlines():
        if line.startswith("data: {"):
            event = json.loads(line[6:])
            if event.get("usage"):
                usage = event["usage"]
    assert usage is not None
    return usage["prompt_tokens"], usage["completion_tokens"]


def abort_stream(gw, key):
    """Opens a slow stream, reads until the first event arrives, and leaves."""
    body = json.dumps(
        {"model": "demo-chat", "stream": True, "messages": [{"role": "user", "content": "Hello"}]}
    ).encode()
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {key}\r\nx-mock-chunks: 1000\r\nx-mock-chunk-delay-ms: 50\r\n".encode()
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    seen = b""
    deadline = time.time() + 20
    while b"data: " not in seen and time.time() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        seen += chunk
    assert b"data: " in seen
    s.close()


def test_counters_match_the_traffic_sent(gateway):
    gw = gateway
    inputs = outputs = 0
    # Successes: 4 for acme, 2 for beta; one acme request names a model a glob routes.
    for key in [ACME_KEY] * 3 + [BETA_KEY] * 2:
        status, body = gw.chat(key)
        assert status == 200
        i, o = usage_of(body)
        if key == ACME_KEY:
            inputs, outputs = inputs + i, outputs + o
    status, body = gw.chat(ACME_KEY, model="fam-7b")
    assert status == 200
    glob_in, glob_out = usage_of(body)
    # Streams with usage: 3 for acme.
    for _ in range(3):
        status, body = gw.chat(ACME_KEY, stream=True)
        assert status == 200
        i, o = stream_usage(body)
        inputs, outputs = inputs + i, outputs + o
    # Aborted streams: 2 for acme (200 sent, then the client leaves).
    for _ in range(2):
        abort_stream(gw, ACME_KEY)
    # Refusals, one kind each.
    assert gw.chat(None)[0] == 401  # auth: no credential
    assert gw.chat("sk-wrong-key")[0] == 401  # auth: unknown key
    assert gw.chat(OLD_KEY)[0] == 403  # policy: disabled tenant
    assert gw.chat(ACME_KEY, body="{not json")[0] == 400  # validation
    assert gw.chat(ACME_KEY, model="no-such-model")[0] == 404  # routing
    big = json.dumps({"model": "demo-chat", "messages": [{"role": "user", "content": "x" * 8000}]})
    assert gw.chat(ACME_KEY, body=big)[0] == 413  # validation: the route's 4 KiB limit
    # A backend error passed through is a completed 5xx, not a refusal.
    assert gw.chat(BETA_KEY, extra={"x-mock-status": "503"})[0] == 503

    families = wait_for(lambda: (f := gw.scrape()) and samples(f, "portcullis_requests_in_flight") == 0 and
                        samples(f, "portcullis_requests", tenant="acme", route="chat", status_class="2xx") == 8 and f)

    req = "portcullis_requests"  # the parser strips `_total` from counter family names
    assert samples(families, req, tenant="acme", route="chat", model="demo-chat", status_class="2xx") == 8
    assert samples(families, req, tenant="acme", route="family", model="_other", status_class="2xx") == 1
    assert samples(families, req, tenant="beta", route="chat", model="demo-chat", status_class="2xx") == 2
    assert samples(families, req, tenant="beta", route="chat", model="demo-chat", status_class="5xx") == 1
    assert samples(families, req, tenant="_none", status_class="4xx") == 2
    assert samples(families, req, tenant="oldco", status_class="4xx") == 1
    assert samples(families, req, tenant="acme", route="_none", model="_other", status_class="4xx") == 1
    assert samples(families, req, tenant="acme", status_class="4xx") == 3
    assert samples(families, req) == 8 + 1 + 2 + 1 + 2 + 1 + 3

    tok = "portcullis_tokens"
    # The aborted streams did not ask for usage, so what acme's demo-chat series holds is what
    # the test read from the completed responses.
    assert samples(families, tok, tenant="acme", model="demo-chat", type="input") == inputs
    assert samples(families, tok, tenant="acme", model="demo-chat", type="output") == outputs
    assert samples(families, tok, tenant="acme", route="family", type="input") == glob_in
    assert samples(families, tok, tenant="acme", route="family", type="output") == glob_out

    ref = "portcullis_refusals"
    assert samples(families, ref, category="auth", reason="unauthenticated") == 2
    assert samples(families, ref, category="policy", reason="forbidden") == 1
    assert samples(families, ref, category="validation", reason="malformed_json") == 1
    assert samples(families, ref, category="validation", reason="body_too_large") == 1
    assert samples(families, ref, category="routing", reason="model_not_found") == 1
    assert samples(families, ref) == 6

    dur = "gen_ai_server_request_duration_seconds"
    assert samples(families, dur, dur + "_count", route="chat", model="demo-chat") == 8 + 2 + 1 + 1  # + 413
    assert samples(families, dur, dur + "_bucket", route="chat", model="demo-chat", le="+Inf") == 12
    assert samples(families, dur, dur + "_sum", route="chat", model="demo-chat") > 0
    ttft = "gen_ai_server_time_to_first_token_seconds"
    assert samples(families, ttft, ttft + "_count", route="chat", model="demo-chat") == 5  # 3 streams + 2 aborted
    up = "portcullis_upstream_request_duration_seconds"
    assert samples(families, up, up + "_count", backend="mock") == 8 + 1 + 2 + 1
    assert samples(families, "portcullis_upstream_errors") == 0

    # Reloads: one refused (bad config), one applied.
    gw.write("routes: [ {")
    status, _ = gw.request("POST", "/reload", port=gw.admin)
    assert status == 422
    gw.write(config_text(gw.mock_port))
    status, _ = gw.request("POST", "/reload", port=gw.admin)
    assert status == 200
    families = gw.scrape()
    assert samples(families, "portcullis_config_reloads", outcome="failure") == 1
    assert samples(families, "portcullis_config_reloads", outcome="success") == 1
    # Counts survive the reload.
    assert samples(families, req, tenant="acme", route="chat", model="demo-chat", status_class="2xx") == 8


def test_unknown_models_do_not_grow_the_series(gateway):
    gw = gateway
    assert gw.chat(ACME_KEY, model="unknown-0")[0] == 404
    before = series_count(gw.scrape())
    total, threads, errors = 10_000, 8, []
    deadline = time.time() + 240

    def worker(n):
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
        headers = {"content-type": "application/json", "authorization": "Bearer " + ACME_KEY}
        for i in range(n, total, threads):
            if time.time() > deadline:
                errors.append("deadline")
                return
            body = json.dumps({"model": f"unknown-{i}-{'z' * (i % 50)}", "messages": [{"role": "user", "content": "hi"}]})
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 404:
                errors.append(resp.status)
        conn.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=300)
    assert not errors
    families = gw.scrape()
    assert series_count(families) == before
    assert samples(families, "portcullis_requests", route="_none", model="_other") == total + 1


def test_the_tenant_label_can_be_turned_off(mock):
    gw = Gateway(mock.port, tenant_label=False)
    try:
        assert gw.chat(ACME_KEY)[0] == 200
        assert gw.chat(BETA_KEY)[0] == 200
        assert gw.chat(None)[0] == 401
        families = gw.scrape()
        tenants = {s.labels["tenant"] for s in families["portcullis_requests"].samples}
        assert tenants == {"_all"}
        assert samples(families, "portcullis_requests", tenant="_all", status_class="2xx") == 2
    finally:
        gw.stop()


def test_failed_connects_are_counted_against_the_endpoint_they_tried(gateway):
    gw = gateway
    # A backend whose only endpoint refuses connections: every request is a 502.
    for _ in range(3):
        assert gw.chat(ACME_KEY, model="dead-model")[0] == 502
    # Two endpoints, the first refusing: the retry reaches the second, so every request is a
    # 200, yet each attempt on the dead endpoint is still counted.
    for _ in range(6):
        assert gw.chat(ACME_KEY, model="flaky-model")[0] == 200
    families = wait_for(lambda: (f := gw.scrape()) and samples(f, "portcullis_requests_in_flight") == 0 and f)
    err = "portcullis_upstream_errors"
    # Each of the three is tried four times (the default three retries after a failed connect).
    assert samples(families, err, backend="dead", endpoint="http://127.0.0.1:1", kind="unreachable") == 12
    flaky_dead = samples(families, err, backend="flaky", endpoint="http://127.0.0.1:1/x", kind="unreachable")
    assert 1 <= flaky_dead <= 6
    assert samples(families, err, backend="flaky", kind="unreachable") == flaky_dead
    assert samples(families, "portcullis_refusals", category="upstream", reason="upstream_unreachable") == 3
    assert samples(families, "portcullis_requests", route="dead", status_class="5xx") == 3
    assert samples(families, "portcullis_requests", route="flaky", status_class="2xx") == 6
