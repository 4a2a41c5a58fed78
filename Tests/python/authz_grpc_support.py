"""Helpers shared by the ext_authz gRPC tests (test_authz_grpc_engine.py, Portcullis as the
policy engine behind Envoy; test_authz_grpc_client.py, Portcullis calling a gRPC policy
service): keys, tokens, `CheckRequest`s shaped as Envoy sends them, and admin calls."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse

from envoy.service.auth.v3 import external_auth_pb2 as ea
from prometheus_client.parser import text_string_to_metric_families

KEY = "sk-authz-grpc-acme-0001"
TIGHT_KEY = "sk-authz-grpc-tight-0001"
SINGLE_KEY = "sk-authz-grpc-single-001"
WIDE_KEY = "sk-authz-grpc-wide-00001"
JWT_SECRET = "grpc-test-secret-of-at-least-32-bytes!"
MESSAGES = [{"role": "user", "content": "hello"}]


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, secret=JWT_SECRET):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def wait_for_line(proc, pattern, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in list(proc.lines):
            m = re.search(pattern, line)
            if m:
                return m
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r} in: {''.join(proc.lines)}")


def client_certificate(directory):
    """A self-signed certificate with a SPIFFE URI SAN, as Envoy would report a verified one."""
    key, cert = os.path.join(directory, "client.key"), os.path.join(directory, "client.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=billing-svc", "-addext", "subjectAltName=URI:spiffe://mesh.local/ns/billing/sa/api",
         "-keyout", key, "-out", cert], check=True, capture_output=True)
    with open(cert) as f:
        return f.read()


def check_request(headers, body=None, path="/v1/chat/completions", method="POST", certificate=None):
    """A CheckRequest shaped as Envoy sends it (lowercased headers with pseudo-headers, the
    buffered body as a string, the source peer)."""
    request = ea.CheckRequest()
    http_request = request.attributes.request.http
    http_request.id = "envoy-stream-1"
    http_request.method = method
    http_request.path = path
    http_request.host = "llm.example.com"
    http_request.scheme = "https"
    http_request.protocol = "HTTP/1.1"
    for name, value in {":authority": "llm.example.com", ":method": method, ":path": path, **headers}.items():
        http_request.headers[name] = value
    if body is not None:
        http_request.body = json.dumps(body)
        http_request.size = len(http_request.body)
    request.attributes.source.address.socket_address.address = "10.1.2.3"
    request.attributes.source.address.socket_address.port_value = 40000
    if certificate:
        request.attributes.source.certificate = urllib.parse.quote(certificate)
    return request


def chat_body(model="demo-chat", **extra):
    return {"model": model, "messages": MESSAGES, **extra}


def ok_headers(response):
    return {o.header.key: o.header.value for o in response.ok_response.headers}


def denied(response):
    d = response.denied_response
    return d.status.code, {o.header.key: o.header.value for o in d.headers}, json.loads(d.body) if d.body else None


def admin_port(proc):
    return int(wait_for_line(proc, r"admin on port (\d+)").group(1))


def report(proc, request_id, usage=None):
    conn = http.client.HTTPConnection("127.0.0.1", admin_port(proc), timeout=10)
    try:
        body = {"request_id": request_id, **({"usage": usage} if usage else {})}
        conn.request("POST", "/authz/report", body=json.dumps(body), headers={"content-type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def scrape(proc):
    conn = http.client.HTTPConnection("127.0.0.1", admin_port(proc), timeout=10)
    try:
        conn.request("GET", "/metrics")
        return {f.name: f for f in text_string_to_metric_families(conn.getresponse().read().decode())}
    finally:
        conn.close()


def sample(families, name, **labels):
    """The sum of the samples named `name` (a counter's family drops `_total`) with `labels`."""
    family = families.get(name[:-len("_total")] if name.endswith("_total") else name)
    assert family is not None, f"no family {name}"
    return sum(s.value for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
