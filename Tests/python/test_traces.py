"""Traces from the gateway binary reach an OTLP/HTTP receiver run by the test (protobuf, decoded
with the OpenTelemetry protocol's own Python bindings), with the GenAI attributes and the
parent/child structure; a client's `traceparent` is continued, and the backend (a recording
HTTP server) receives the gateway's upstream span as its parent."""
import hashlib
import http.client
import json
import os
import re
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from conftest import Proc

KEY = "sk-traces-acme-0001"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def serve(handle_post):
    """A loopback HTTP/1.1 server whose POSTs `handle_post(handler, body)` answers with
    (content type, reply bytes); returns the server (its port in `server_address[1]`)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Head and body are written apart: without this, Nagle and delayed ACKs add 40 ms each.
        disable_nagle_algorithm = True

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            content_type, reply = handle_post(self, body)
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Receiver:
    """An OTLP/HTTP traces endpoint: POST /v1/traces with an ExportTraceServiceRequest."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()

        def export(_, body):
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            with self.lock:
                for resource_spans in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            self.spans.append((service, span))
            return "application/x-protobuf", trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

        self.server = serve(export)
        self.port = self.server.server_address[1]

    def trace(self, trace_id, count, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = [s for _, s in self.spans if s.trace_id.hex() == trace_id]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"only {len(found)} spans of trace {trace_id} arrived")

    def stop(self):
        self.server.shutdown()


class RecordingBackend:
    """An OpenAI-shaped backend that records the headers it was sent and answers with a model
    name of its own (so `gen_ai.response.model` is the backend's, not the request's)."""

    def __init__(self):
        self.headers = []

        def answer(handler, _):
            # Every value of every header, so a duplicated traceparent would show.
            recorded = {}
            for k, v in handler.headers.items():
                recorded.setdefault(k.lower(), []).append(v)
            self.headers.append(recorded)
            return "application/json", json.dumps({
                "id": "x", "object": "chat.completion", "created": 1, "model": "backend-model-7",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            }).encode()

        self.server = serve(answer)
        self.port = self.server.server_address[1]

    def stop(self):
        self.server.shutdown()


def config_text(receiver, backend, mock, extra_route=""):
    return f"""
listeners: [{{ address: 127.0.0.1:0 }}]
admin: {{ address: 127.0.0.1:0 }}
reload: {{ watch: false }}
accessLog: {{ destination: "off" }}
routes:
  - {{ name: recorded, match: {{ model: recorded-model }}, backend: recorder }}
  - {{ name: chat, match: {{ model: demo-chat }}, backend: mock }}
{extra_route}
tracing: {{ endpoint: "http://127.0.0.1:{receiver.port}/v1/traces", serviceName: portcullis-test, exportInterval: 100ms }}
backends:
  recorder: {{ endpoints: [http://127.0.0.1:{backend.port}] }}
  mock: {{ endpoints: [http://127.0.0.1:{mock.port}] }}
authentication:
  apiKeys:
    - {{ name: acme, tenant: acme, sha256: "{hashlib.sha256(KEY.encode()).hexdigest()}" }}
"""


@pytest.fixture(scope="module")
def setup(mock):
    receiver = Receiver()
    backend = RecordingBackend()
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(config_text(receiver, backend, mock))
    gateway = Proc(["serve", "--config", path], r"listening on http://127\.0\.0\.1:(\d+)")
    gateway.admin = int(re.search(r"admin on port (\d+)", "".join(gateway.lines)).group(1))
    gateway.path = path
    gateway.texts = (receiver, backend, mock)
    yield gateway, receiver, backend
    gateway.stop()
    receiver.stop()
    backend.stop()
    os.unlink(path)


def post(port, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def attrs(span):
    out = {}
    for a in span.attributes:
        v = a.value
        kind = v.WhichOneof("value")
        out[a.key] = getattr(v, kind)
    return out


def test_a_clients_traceparent_is_continued_and_propagated(setup):
    gateway, receiver, backend = setup
    status, _ = post(
        gateway.port,
        {"model": "recorded-model", "messages": [{"role": "user", "content": "Hello"}]},
        {
            "authorization": "Bearer " + KEY,
            "content-type": "application/json",
            "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
            "tracestate": "vendor=client-state",
        },
    )
    assert status == 200
    spans = receiver.trace(CLIENT_TRACE, 5)  # server, three stages, upstream
    by_kind = {}
    for s in spans:
        by_kind.setdefault(s.kind, []).append(s)
    (root,) = by_kind[trace_pb2.Span.SPAN_KIND_SERVER]
    (upstream,) = by_kind[trace_pb2.Span.SPAN_KIND_CLIENT]
    stages = by_kind[trace_pb2.Span.SPAN_KIND_INTERNAL]

    # The server span continues the client's trace, as a child of the client's span.
    assert root.parent_span_id.hex() == CLIENT_SPAN
    assert root.name == "POST /v1/chat/completions"
    a = attrs(root)
    assert a["portcullis.tenant"] == "acme"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "recorded-model"
    assert a["gen_ai.response.model"] == "backend-model-7"
    assert a["gen_ai.usage.input_tokens"] == 11
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["http.response.status_code"] == 200
    assert a["portcullis.outcome"] == "completed"
    assert KEY not in json.dumps({k: str(v) for k, v in a.items()})

    # Stage spans and the upstream span are the server span's children, inside its time.
    names = {s.name for s in stages}
    assert {"stage authenticate", "stage route"} <= names, names
    for child in stages + [upstream]:
        assert child.parent_span_id == root.span_id
        assert root.start_time_unix_nano <= child.start_time_unix_nano <= child.end_time_unix_nano <= root.end_time_unix_nano
    assert upstream.name == "upstream recorder"
    assert attrs(upstream)["http.response.status_code"] == 200

    # The backend got the same trace, with the gateway's upstream span as its parent.
    sent = backend.headers[-1]
    assert len(sent["traceparent"]) == 1, sent["traceparent"]  # the client's was replaced, not added to
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", sent["traceparent"][0])
    assert m, sent["traceparent"]
    assert m.group(1) == CLIENT_TRACE
    assert m.group(2) == upstream.span_id.hex()
    assert len(sent["tracestate"]) == 1 and "client-state" in sent["tracestate"][0]


def test_a_stream_carries_time_to_first_token_and_a_new_trace_starts_without_traceparent(setup):
    gateway, receiver, backend = setup
    status, body = post(
        gateway.port,
        {"model": "demo-chat", "stream": True, "stream_options": {"include_usage": True},
         "messages": [{"role": "user", "content": "Hello"}]},
        {"authorization": "Bearer " + KEY, "content-type": "application/json", "x-request-id": "trace-stream-1"},
    )
    assert status == 200 and b"[DONE]" in body

    def find_root():
        with receiver.lock:
            for _, s in receiver.spans:
                if s.kind == trace_pb2.Span.SPAN_KIND_SERVER and attrs(s).get("portcullis.request_id") == "trace-stream-1":
                    return s
        return None

    deadline = time.time() + 30
    root = find_root()
    while root is None and time.time() < deadline:
        time.sleep(0.05)
        root = find_root()
    assert root is not None
    assert root.parent_span_id == b""  # a new trace
    a = attrs(root)
    assert a["gen_ai.server.time_to_first_token"] > 0
    assert a["gen_ai.response.model"] == "demo-chat"
    assert a["gen_ai.usage.output_tokens"] == 4
    services = {svc.get("service.name") for svc, s in receiver.spans if s.trace_id == root.trace_id}
    assert services == {"portcullis-test"}


def test_a_refused_request_is_traced_with_its_reason(setup):
    gateway, receiver, _ = setup
    trace = "0af7651916cd43dd8448eb211c80319c"
    status, _ = post(
        gateway.port,
        {"model": "recorded-model", "messages": [{"role": "user", "content": "hi"}]},
        {"content-type": "application/json", "traceparent": f"00-{trace}-b7ad6b7169203331-01"},
    )
    assert status == 401
    spans = receiver.trace(trace, 2)
    root = next(s for s in spans if s.kind == trace_pb2.Span.SPAN_KIND_SERVER)
    a = attrs(root)
    assert a["portcullis.refusal_reason"] == "unauthenticated"
    assert a["http.response.status_code"] == 401
    assert not any(s.kind == trace_pb2.Span.SPAN_KIND_CLIENT for s in spans)


def test_a_bad_traceparent_starts_a_new_trace_and_never_logs_the_headers(mock):
    """swift-otel logs the carrier it could not parse: the gateway must never hand it the
    request's headers (they hold the credential)."""
    receiver = Receiver()
    backend = RecordingBackend()
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(config_text(receiver, backend, mock))
    gateway = Proc(["serve", "--config", path], r"listening on http://127\.0\.0\.1:(\d+)")
    try:
        for bad in ["00-zzzz-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "ff-" + CLIENT_TRACE + "-" + CLIENT_SPAN + "-01"]:
            status, _ = post(
                gateway.port,
                {"model": "recorded-model", "messages": [{"role": "user", "content": "Hello"}]},
                {"authorization": "Bearer " + KEY, "content-type": "application/json", "traceparent": bad,
                 "x-request-id": "bad-parent"},
            )
            assert status == 200
        # A valid traceparent with a bad tracestate keeps the trace and drops the state.
        status, _ = post(
            gateway.port,
            {"model": "recorded-model", "messages": [{"role": "user", "content": "Hello"}]},
            {"authorization": "Bearer " + KEY, "content-type": "application/json",
             "traceparent": f"00-{CLIENT_TRACE[::-1]}-{CLIENT_SPAN}-01", "tracestate": "=bad=,,"},
        )
        assert status == 200
        spans = receiver.trace(CLIENT_TRACE[::-1], 5)
        root = next(s for s in spans if s.kind == trace_pb2.Span.SPAN_KIND_SERVER)
        assert root.parent_span_id.hex() == CLIENT_SPAN
        assert "tracestate" not in backend.headers[-1], backend.headers[-1].get("tracestate")
        # The bad ones: each a new trace of its own, its backend given the gateway's traceparent.
        for sent in backend.headers[:3]:
            assert len(sent["traceparent"]) == 1 and re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", sent["traceparent"][0])
    finally:
        gateway.stop()
        receiver.stop()
        backend.stop()
        os.unlink(path)
    output = "".join(gateway.lines)
    assert KEY not in output
    assert "Failed to extract" not in output, output


def test_a_reload_that_leaves_tracing_alone_is_applied(setup):
    gateway, receiver, backend = setup
    extra = "  - { name: added, match: { model: added-model }, backend: recorder }"
    with open(gateway.path, "w") as f:
        f.write(config_text(*gateway.texts, extra_route=extra))
    conn = http.client.HTTPConnection("127.0.0.1", gateway.admin, timeout=20)
    conn.request("POST", "/reload")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, body
    status, _ = post(
        gateway.port, {"model": "added-model", "messages": [{"role": "user", "content": "hi"}]},
        {"authorization": "Bearer " + KEY, "content-type": "application/json"},
    )
    assert status == 200
