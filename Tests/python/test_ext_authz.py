"""External authorization against real HTTP policy servers run by the test: Envoy's HTTP
ext_authz contract (allow, deny with status and body passed back, headers injected upstream
only when allow-listed, timeouts and 5xx refused closed, fail-open with a marker, a client
abort cancelling the call) and Open Policy Agent's data API (the input shape, `result`
objects). The backend is a recording server, so what reaches it is checked, not assumed."""
import hashlib
import http.client
import json
import os
import select
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Proc
from test_traces import RecordingBackend

KEY = "sk-authz-acme-0001"
MESSAGES = [{"role": "user", "content": "hello"}]


class PolicyServer:
    """Envoy-contract and OPA-contract answers by path; records every check it receives."""

    def __init__(self):
        self.checks = []
        self.received = threading.Event()
        self.cancelled = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.checks.append({"path": self.path, "method": self.command,
                                     "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                outer.received.set()
                if self.path.startswith("/slow"):
                    # Hold the check until the gateway gives up on it (its connection closes).
                    readable, _, _ = select.select([self.connection], [], [], 10)
                    if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        outer.cancelled.set()
                    return
                if self.path.startswith("/opa"):
                    data = json.loads(body)["input"]
                    allowed = data["tenant"]["id"] == "acme" and data["attributes"]["request"]["http"]["parsed_body"]["model"] == "opa-chat"
                    result = {"allowed": allowed, "headers": {"x-policy": "opa", "x-tenant-id": "forged"}}
                    if not allowed:
                        result.update({"http_status": 429, "body": json.dumps({"error": {"message": "opa says no"}})})
                    return self.reply(200, "application/json", json.dumps({"result": result}).encode())
                if self.headers.get("x-client-hint") == "deny":
                    return self.reply(401, "application/problem+json", b'{"title":"policy says no"}')
                if "/broken/" in self.path:
                    return self.reply(503, "text/plain", b"down")
                self.reply(200, "text/plain", b"", [("x-policy-decision", "allowed"), ("x-tenant-id", "forged"),
                                                    ("authorization", "Bearer forged"), ("x-other", "dropped")])

            def reply(self, status, content_type, payload, extra=()):
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup():
    policy, backend = PolicyServer(), RecordingBackend()
    base = f"http://127.0.0.1:{policy.port}"
    config = f"""
listeners: [{{ address: 127.0.0.1:0 }}]
accessLog: {{ destination: stdout }}
externalAuthorization:
  envoy: {{ url: "{base}/check", clientHeaders: [x-client-hint], includeBody: 16, upstreamHeaders: ["x-policy-*"] }}
  slow: {{ url: "{base}/slow", timeout: 200ms }}
  slow-cancel: {{ url: "{base}/slow", timeout: 10s }}
  broken: {{ url: "{base}/check/broken", statusOnError: 503 }}
  dead: {{ url: "http://127.0.0.1:{unused_port()}", failureMode: open }}
  opa: {{ url: "{base}/opa/v1/data/portcullis/authz", protocol: opa, includeBody: 64KiB, upstreamHeaders: [x-policy] }}
backends:
  rec: {{ endpoints: [http://127.0.0.1:{backend.port}] }}
routes:
  - {{ match: {{ model: demo-chat }}, backend: rec, externalAuthorization: envoy }}
  - {{ match: {{ model: slow }}, backend: rec, externalAuthorization: slow }}
  - {{ match: {{ model: slow-cancel }}, backend: rec, externalAuthorization: slow-cancel }}
  - {{ match: {{ model: broken }}, backend: rec, externalAuthorization: broken }}
  - {{ match: {{ model: open }}, backend: rec, externalAuthorization: dead }}
  - {{ match: {{ models: [opa-chat, opa-other] }}, backend: rec, externalAuthorization: opa }}
  - {{ match: {{ model: plain }}, backend: rec }}
authentication:
  apiKeys:
    - {{ name: acme, tenant: acme, sha256: "{hashlib.sha256(KEY.encode()).hexdigest()}" }}
"""
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(config)
    gateway = Proc(["serve", "--config", path], r"listening on http://127\.0\.0\.1:(\d+)")
    yield gateway, policy, backend
    gateway.stop()
    policy.stop()
    backend.stop()
    os.unlink(path)


def chat(port, model, extra=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"authorization": "Bearer " + KEY, "content-type": "application/json", **(extra or {})}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": model, "messages": MESSAGES}), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type"), resp.read()
    finally:
        conn.close()


def test_allow_sends_listed_headers_and_injects_only_allow_listed_ones(setup):
    gateway, policy, backend = setup
    policy.checks.clear()
    seen = len(backend.headers)
    status, _, _ = chat(gateway.port, "demo-chat", {"x-client-hint": "blue", "x-secret": "s3cr3t",
                                                   "x-portcullis-authz-failure-mode-allowed": "true"})
    assert status == 200
    check = policy.checks[-1]
    assert check["method"] == "POST" and check["path"] == "/check/v1/chat/completions"
    assert check["headers"]["x-client-hint"] == "blue" and "x-secret" not in check["headers"]
    assert "authorization" not in check["headers"], "the client's credential is not sent to the policy"
    assert check["headers"]["x-tenant-id"] == "acme" and check["headers"]["x-request-id"]
    assert len(check["body"]) == 16 and check["headers"]["x-portcullis-authz-partial-body"] == "true"
    upstream = backend.headers[seen]
    assert upstream["x-policy-decision"] == ["allowed"]
    assert upstream["x-tenant-id"] == ["acme"], "an answer cannot set identity headers unless listed exactly"
    assert "x-other" not in upstream and upstream.get("authorization") is None
    assert "x-portcullis-authz-failure-mode-allowed" not in upstream, "a client cannot forge the marker"


def test_a_denial_passes_its_status_and_body_back_and_nothing_reaches_the_backend(setup):
    gateway, policy, backend = setup
    seen = len(backend.headers)
    status, content_type, body = chat(gateway.port, "demo-chat", {"x-client-hint": "deny"})
    assert status == 401
    assert content_type == "application/problem+json" and body == b'{"title":"policy says no"}'
    assert len(backend.headers) == seen


def test_a_timeout_is_refused_quickly_and_a_5xx_is_refused_closed(setup):
    gateway, _, backend = setup
    seen = len(backend.headers)
    started = time.time()
    status, _, body = chat(gateway.port, "slow")
    assert status == 403 and json.loads(body)["error"]["code"] == "authorization_unavailable"
    assert time.time() - started < 1.5, "refused at the 200 ms timeout, not after the policy's answer"
    status, _, body = chat(gateway.port, "broken")
    assert status == 503 and json.loads(body)["error"]["type"] == "permission_error"
    assert len(backend.headers) == seen


def test_fail_open_lets_the_request_through_with_a_marker(setup):
    gateway, _, backend = setup
    seen = len(backend.headers)
    status, _, _ = chat(gateway.port, "open")
    assert status == 200
    assert backend.headers[seen]["x-portcullis-authz-failure-mode-allowed"] == ["true"]
    # The access log says the check was skipped (the line is written once the answer is out).
    deadline = time.time() + 10
    while time.time() < deadline and not any('"authz":"failure_mode_allowed"' in line for line in gateway.lines):
        time.sleep(0.05)
    assert any('"authz":"failure_mode_allowed"' in line and '"model":"open"' in line for line in gateway.lines)


def test_a_client_that_leaves_cancels_the_check(setup):
    gateway, policy, backend = setup
    policy.received.clear()
    policy.cancelled.clear()
    body = json.dumps({"model": "slow-cancel", "messages": MESSAGES}).encode()
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 + f"authorization: Bearer {KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
    assert policy.received.wait(10), "the check never started"
    sock.close()
    assert policy.cancelled.wait(5), "the gateway kept the check open after its client left"


def test_open_policy_agent_gets_envoy_shaped_input_and_its_result_decides(setup):
    gateway, policy, backend = setup
    seen = len(backend.headers)
    status, _, _ = chat(gateway.port, "opa-chat")
    assert status == 200
    check = json.loads(policy.checks[-1]["body"])["input"]
    http_ = check["attributes"]["request"]["http"]
    assert http_["method"] == "POST" and http_["path"] == "/v1/chat/completions"
    assert http_["headers"]["x-tenant-id"] == "acme" and "authorization" not in http_["headers"]
    assert check["route"] and check["model"] == "opa-chat"
    upstream = backend.headers[seen]
    assert upstream["x-policy"] == ["opa"] and upstream["x-tenant-id"] == ["acme"]
    # The policy refuses another model with a status and body of its own.
    status, _, body = chat(gateway.port, "opa-other")
    assert status == 429 and json.loads(body)["error"]["message"] == "opa says no"
    assert len(backend.headers) == seen + 1


def test_a_route_without_a_policy_is_not_checked(setup):
    gateway, policy, _ = setup
    count = len(policy.checks)
    assert chat(gateway.port, "plain")[0] == 200
    assert len(policy.checks) == count
