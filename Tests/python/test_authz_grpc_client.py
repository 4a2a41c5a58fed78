"""Portcullis as a gRPC ext_authz client (`protocol: grpc`): a Python `Authorization` server,
with Envoy's generated protos (`xds-protos`), that allows (with headers), denies, stalls and
is down, in front of a recording backend.
"""
import http.client
import json
import os
import socket
import tempfile
import threading
import time
from concurrent import futures

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as ea
from envoy.service.auth.v3 import external_auth_pb2_grpc as eag
from envoy.type.v3 import http_status_pb2
from google.rpc import status_pb2

from authz_grpc_support import KEY, MESSAGES, sha
from conftest import Proc
from test_traces import RecordingBackend


class PolicyService(eag.AuthorizationServicer):
    """An Authorization server that decides by model: allow (with headers, some of them not
    allow-listed), deny (with a status, headers and body), stall past the gateway's timeout."""

    def __init__(self):
        self.checks = []
        self.cancelled = threading.Event()

    def Check(self, request, context):
        self.checks.append(request)
        body = json.loads(request.attributes.request.http.body or "{}")
        model = body.get("model")
        if model == "grpc-stall":
            # Held until the gateway gives up (its deadline cancels the call).
            if not context.add_callback(self.cancelled.set):
                self.cancelled.set()
            deadline = time.time() + 5
            while context.is_active() and time.time() < deadline:
                time.sleep(0.01)
            return ea.CheckResponse(status=status_pb2.Status(code=0))
        if model == "grpc-deny" or request.attributes.request.http.headers.get("x-client-hint") == "deny":
            return ea.CheckResponse(
                status=status_pb2.Status(code=7),
                denied_response=ea.DeniedHttpResponse(
                    status=http_status_pb2.HttpStatus(code=http_status_pb2.PaymentRequired),
                    headers=[base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v)) for k, v in [
                        ("content-type", "application/problem+json"), ("content-length", "999"),
                        ("x-policy-reason", "plan-expired"), ("www-authenticate", 'Bearer realm="policy"'),
                        ("x-request-id", "forged-by-policy"), ("connection", "close")]],
                    body='{"title":"grpc policy says no"}'))

        def option(key, value, append=None):
            o = base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=key, value=value))
            if append is not None:
                o.append.value = append
            return o

        ok = ea.OkHttpResponse(
            headers=[option("x-policy-decision", "allowed"), option("x-policy-trace", "t2", append=True),
                     option("x-tenant-id", "forged"), option("authorization", "Bearer forged"), option("x-other", "dropped")],
            headers_to_remove=["x-policy-strip", "host", "x-tenant-id"])
        return ea.CheckResponse(status=status_pb2.Status(code=0), ok_response=ok)


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client_side():
    service = PolicyService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    eag.add_AuthorizationServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    backend = RecordingBackend()
    dead = unused_port()
    config = f"""
listeners: [{{ address: 127.0.0.1:0 }}]
reload: {{ watch: false }}
accessLog: {{ destination: "off" }}
externalAuthorization:
  policy: {{ url: "http://127.0.0.1:{port}", protocol: grpc, clientHeaders: [x-client-hint], includeBody: 64KiB,
             upstreamHeaders: ["x-policy-*"] }}
  stall: {{ url: "http://127.0.0.1:{port}", protocol: grpc, includeBody: 64KiB, timeout: 200ms }}
  down: {{ url: "http://127.0.0.1:{dead}", protocol: grpc }}
  down-open: {{ url: "http://127.0.0.1:{dead}", protocol: grpc, failureMode: open }}
  byname: {{ url: "http://localhost:{port}", protocol: grpc, includeBody: 64KiB }}
backends:
  rec: {{ endpoints: [http://127.0.0.1:{backend.port}] }}
routes:
  - {{ match: {{ models: [grpc-chat, grpc-deny] }}, backend: rec, externalAuthorization: policy }}
  - {{ match: {{ model: grpc-stall }}, backend: rec, externalAuthorization: stall }}
  - {{ match: {{ model: grpc-down }}, backend: rec, externalAuthorization: down }}
  - {{ match: {{ model: grpc-open }}, backend: rec, externalAuthorization: down-open }}
  - {{ match: {{ model: grpc-byname }}, backend: rec, externalAuthorization: byname }}
authentication:
  apiKeys:
    - {{ name: acme, tenant: acme, sha256: "{sha(KEY)}" }}
"""
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(config)
    gateway = Proc(["serve", "--config", path], r"listening on http://127\.0\.0\.1:(\d+)")
    yield gateway, service, backend
    gateway.stop()
    server.stop(grace=None)
    backend.stop()
    os.unlink(path)


def chat(port, model, extra=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"authorization": "Bearer " + KEY, "content-type": "application/json", **(extra or {})}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": model, "messages": MESSAGES}), headers=headers)
        resp = conn.getresponse()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_grpc_allow_carries_the_request_and_edits_only_allow_listed_headers(client_side):
    gateway, service, backend = client_side
    seen = len(backend.headers)
    status, _, _ = chat(gateway.port, "grpc-chat", {"x-client-hint": "blue", "x-secret": "s3cr3t", "x-policy-strip": "gone",
                                                    "x-policy-trace": "t1"})
    assert status == 200
    check = service.checks[-1]
    http_request = check.attributes.request.http
    assert http_request.method == "POST" and http_request.path == "/v1/chat/completions"
    assert http_request.headers["x-client-hint"] == "blue" and "x-secret" not in http_request.headers
    assert "authorization" not in http_request.headers, "the client's credential is not sent to the policy"
    assert http_request.headers["x-tenant-id"] == "acme" and http_request.headers["x-request-id"]
    assert check.attributes.context_extensions["tenant_id"] == "acme"
    assert json.loads(http_request.body)["model"] == "grpc-chat"
    upstream = backend.headers[seen]
    assert upstream["x-policy-decision"] == ["allowed"]
    assert upstream["x-policy-trace"] == ["t1", "t2"], "append: true adds beside the client's value"
    assert "x-policy-strip" not in upstream, "headers_to_remove is honoured within the allow-list"
    assert upstream["x-tenant-id"] == ["acme"], "neither set nor removed: identity is not the policy's to edit"
    assert "x-other" not in upstream and upstream.get("authorization") is None
    assert upstream["host"], "framing headers are never removed"


def test_grpc_denial_passes_status_headers_and_body_and_nothing_reaches_the_backend(client_side):
    gateway, _, backend = client_side
    seen = len(backend.headers)
    status, headers, body = chat(gateway.port, "grpc-deny")
    assert status == 402 and headers["content-type"] == "application/problem+json"
    assert body == b'{"title":"grpc policy says no"}' and headers["content-length"] == str(len(body))
    assert headers["x-policy-reason"] == "plan-expired" and headers["www-authenticate"] == 'Bearer realm="policy"'
    assert headers["x-request-id"] != "forged-by-policy", "the gateway's own headers are its own"
    assert headers.get("connection") != "close"
    assert len(backend.headers) == seen


def test_grpc_stall_is_refused_at_the_timeout_and_the_call_cancelled(client_side):
    gateway, service, backend = client_side
    seen = len(backend.headers)
    service.cancelled.clear()
    started = time.time()
    status, _, body = chat(gateway.port, "grpc-stall")
    assert status == 403 and json.loads(body)["error"]["code"] == "authorization_unavailable"
    assert time.time() - started < 1.5, "refused at the 200 ms timeout, not after the policy's answer"
    assert service.cancelled.wait(5), "the deadline cancelled the call at the policy server"
    assert len(backend.headers) == seen


def test_grpc_service_down_fails_closed_and_open_only_where_configured(client_side):
    gateway, _, backend = client_side
    seen = len(backend.headers)
    status, _, body = chat(gateway.port, "grpc-down")
    assert status == 403 and json.loads(body)["error"]["code"] == "authorization_unavailable"
    assert len(backend.headers) == seen
    status, _, _ = chat(gateway.port, "grpc-open")
    assert status == 200
    assert backend.headers[seen]["x-portcullis-authz-failure-mode-allowed"] == ["true"]


def test_grpc_service_named_by_host_name_is_resolved(client_side):
    gateway, service, _ = client_side
    seen = len(service.checks)
    status, _, _ = chat(gateway.port, "grpc-byname")
    assert status == 200 and len(service.checks) == seen + 1
