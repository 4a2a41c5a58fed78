"""Portcullis as the policy engine behind Envoy (`authz:`), spoken from outside with Envoy's
own generated protos (`xds-protos`) and `grpcio`: a Python client sends `CheckRequest`s the
way Envoy does and reads the `CheckResponse`s: API keys, JWTs and the client certificate
Envoy reports, tenant policy, validation, rate and concurrency limits, and leases settled by a
usage report or by expiry. Also the shipped Envoy example and the README's snippet.
"""
import json
import os
import subprocess
import tempfile
import time

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc as eag
from envoy.type.v3 import http_status_pb2

from authz_grpc_support import (
    JWT_SECRET, KEY, SINGLE_KEY, TIGHT_KEY, WIDE_KEY, chat_body, check_request, client_certificate, denied, hs256,
    ok_headers, report, sample, scrape, sha, wait_for_line)
from conftest import BIN, Proc


@pytest.fixture(scope="module")
def engine():
    config = f"""
listeners: [{{ name: main, address: 127.0.0.1:0 }}]
admin: {{ address: 127.0.0.1:0 }}
reload: {{ watch: false }}
accessLog: {{ destination: stdout }}
authz: {{ address: 127.0.0.1:0, listener: main, leaseTimeout: 2s }}
mock: {{ models: [demo-chat, other-chat] }}
authentication:
  apiKeys:
    - {{ name: acme, tenant: acme, sha256: "{sha(KEY)}" }}
    - {{ name: tight, tenant: tight, sha256: "{sha(TIGHT_KEY)}" }}
    - {{ name: single, tenant: single, sha256: "{sha(SINGLE_KEY)}" }}
    - {{ name: wide, tenant: wide, sha256: "{sha(WIDE_KEY)}" }}
  jwt:
    - {{ name: users, issuer: https://issuer.test, audiences: [portcullis], algorithms: [HS256], secret: "{JWT_SECRET}",
        claims: {{ tenant: tenant }} }}
  clientCertificates:
    - {{ name: billing, spiffe: "spiffe://mesh.local/ns/billing/*", tenant: acme }}
tenants:
  acme: {{ plan: pro, org: acme-org }}
  tight: {{ plan: tight }}
  single: {{ plan: single }}
  wide: {{ plan: wide }}
plans:
  pro: {{ models: [demo-chat] }}
  tight: {{ models: [demo-chat], limits: {{ requestsPerMinute: 2, burst: 2 }} }}
  single: {{ models: [demo-chat], limits: {{ concurrency: 1, tokensPerHour: 100000, maxTokens: 100 }} }}
  wide: {{ models: [demo-chat, other-chat] }}
backends:
  mock: {{ endpoints: [builtin:mock] }}
routes:
  - {{ name: chat, match: {{ model: demo-chat }}, backend: mock }}
  - {{ name: other, match: {{ model: other-chat }}, backend: mock }}
"""
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(config)
    proc = Proc(["serve", "--config", path], r"admin on port (\d+)")
    port = int(wait_for_line(proc, r"authz listening on 127\.0\.0\.1:(\d+)").group(1))
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    yield proc, eag.AuthorizationStub(channel)
    channel.close()
    proc.stop()
    os.unlink(path)


def test_a_valid_api_key_is_allowed_with_the_trusted_context_and_the_credential_removed(engine):
    _, stub = engine
    response = stub.Check(check_request(
        {"authorization": "Bearer " + KEY, "content-type": "application/json", "x-tenant-id": "spoofed",
         "x-tenant-role": "admin"}, chat_body()), timeout=5)
    assert response.status.code == 0 and response.WhichOneof("http_response") == "ok_response"
    headers = ok_headers(response)
    assert headers["x-tenant-id"] == "acme" and headers["x-tenant-plan"] == "pro" and headers["x-tenant-org"] == "acme-org"
    assert headers["x-request-id"]
    # Set with append false: Envoy replaces the spoofed value rather than adding a second one.
    assert all(o.HasField("append") and not o.append.value for o in response.ok_response.headers)
    removed = set(response.ok_response.headers_to_remove)
    assert "authorization" in removed, "the client's credential does not reach the backend"
    assert "x-tenant-role" in removed, "every client-sent x-tenant-* the gateway does not set is removed"


def test_a_spoofed_tenant_is_removed_when_no_identity_replaces_it(engine):
    _, stub = engine
    # GET /v1/models is answered by the check itself; a path the gateway does not serve is a 404,
    # so the spoof test uses a JWT caller whose tenant claim differs from the spoofed header.
    token = hs256({"iss": "https://issuer.test", "aud": "portcullis", "sub": "u1", "tenant": "acme",
                   "exp": int(time.time()) + 300})
    response = stub.Check(check_request(
        {"authorization": "Bearer " + token, "content-type": "application/json", "x-tenant-id": "tight",
         "x-tenant-plan": "enterprise"}, chat_body()), timeout=5)
    assert response.status.code == 0
    headers = ok_headers(response)
    assert headers["x-tenant-id"] == "acme" and headers["x-tenant-plan"] == "pro"
    assert "authorization" in response.ok_response.headers_to_remove


def test_a_bad_jwt_is_denied_with_401_and_an_openai_body(engine):
    _, stub = engine
    forged = hs256({"iss": "https://issuer.test", "aud": "portcullis", "tenant": "acme", "exp": int(time.time()) + 300},
                   secret="not-the-secret-not-the-secret-not!")
    response = stub.Check(check_request({"authorization": "Bearer " + forged, "content-type": "application/json"},
                                        chat_body()), timeout=5)
    assert response.status.code == 7, "PERMISSION_DENIED"
    status, headers, body = denied(response)
    assert status == http_status_pb2.Unauthorized
    assert headers["www-authenticate"].startswith("Bearer") and headers["content-type"] == "application/json"
    assert body["error"]["code"] == "invalid_token" and body["error"]["type"] == "authentication_error"
    assert forged not in response.denied_response.body


def test_a_model_outside_the_plan_gets_the_unknown_model_denial(engine):
    _, stub = engine
    # other-chat is routed, and the wide plan may use it: the acme tenant's plan may not.
    allowed = stub.Check(check_request({"authorization": "Bearer " + WIDE_KEY, "content-type": "application/json"},
                                       chat_body("other-chat")), timeout=5)
    assert allowed.status.code == 0
    response = stub.Check(check_request({"authorization": "Bearer " + KEY, "content-type": "application/json"},
                                        chat_body("other-chat")), timeout=5)
    status, _, body = denied(response)
    assert status == http_status_pb2.NotFound and body["error"]["code"] == "model_not_found"
    # The same routed model, refused only by the plan: the answer is the plan's 404, as on the
    # gateway's own path (a model the tenant may not use is not shown to exist).


def test_validation_runs_on_the_body_envoy_sends(engine):
    _, stub = engine
    response = stub.Check(check_request({"authorization": "Bearer " + KEY, "content-type": "application/json"},
                                        chat_body(temperature=7)), timeout=5)
    status, _, body = denied(response)
    assert status == http_status_pb2.BadRequest and body["error"]["param"] == "temperature"
    # A body Envoy cut at max_request_bytes cannot be validated: refused as too large.
    partial = check_request({"authorization": "Bearer " + KEY, "content-type": "application/json",
                             "x-envoy-auth-partial-body": "true"}, chat_body())
    status, _, body = denied(stub.Check(partial, timeout=5))
    assert status == http_status_pb2.PayloadTooLarge


def test_the_client_certificate_envoy_reports_authenticates(engine, tmp_path):
    _, stub = engine
    pem = client_certificate(str(tmp_path))
    response = stub.Check(check_request({"content-type": "application/json"}, chat_body(), certificate=pem), timeout=5)
    assert response.status.code == 0 and ok_headers(response)["x-tenant-id"] == "acme"
    # Without one (and no other credential) the caller is not known.
    status, _, _ = denied(stub.Check(check_request({"content-type": "application/json"}, chat_body()), timeout=5))
    assert status == http_status_pb2.Unauthorized


def test_models_are_listed_by_the_check_itself_for_the_tenant(engine):
    _, stub = engine
    response = stub.Check(check_request({"authorization": "Bearer " + KEY}, None, path="/v1/models", method="GET"), timeout=5)
    status, headers, body = denied(response)
    assert status == http_status_pb2.OK and [m["id"] for m in body["data"]] == ["demo-chat"]


def test_going_over_a_rate_limit_gives_429_with_retry_after(engine):
    _, stub = engine
    answers = [stub.Check(check_request({"authorization": "Bearer " + TIGHT_KEY, "content-type": "application/json"},
                                        chat_body()), timeout=5) for _ in range(3)]
    assert [a.status.code for a in answers[:2]] == [0, 0]
    limits = {o.header.key: o.header.value for o in answers[0].ok_response.response_headers_to_add}
    assert limits["x-ratelimit-limit-requests"] == "2"
    status, headers, body = denied(answers[2])
    assert status == http_status_pb2.TooManyRequests and int(headers["retry-after"]) >= 1
    assert body["error"]["code"] == "rate_limit_exceeded" and headers["x-ratelimit-remaining-requests"] == "0"


def single(stub, **extra):
    return stub.Check(check_request({"authorization": "Bearer " + SINGLE_KEY, "content-type": "application/json"},
                                    chat_body(max_tokens=100, **extra)), timeout=5)


def test_concurrency_slots_are_held_as_leases_settled_by_a_report_or_expiry(engine):
    proc, stub = engine
    first = single(stub)
    assert first.status.code == 0
    request_id = ok_headers(first)["x-request-id"]
    remaining_before = int({o.header.key: o.header.value for o in first.ok_response.response_headers_to_add}[
        "x-ratelimit-remaining-tokens"])
    # The slot is held after the check: a second request of the tenant is refused.
    status, _, body = denied(single(stub))
    assert status == http_status_pb2.TooManyRequests and "concurrent" in body["error"]["message"]
    # The router reports the request's end with its usage: the slot comes back and the quota
    # is charged what was used (15 tokens), not the reservation.
    assert report(proc, request_id, {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}) == (200, {"settled": True})
    assert report(proc, request_id) == (404, {"settled": False}), "a lease settles once"
    second = single(stub)
    assert second.status.code == 0
    remaining = int({o.header.key: o.header.value for o in second.ok_response.response_headers_to_add}[
        "x-ratelimit-remaining-tokens"])
    # Reported usage settled: what is left now is what was left before, less 15 and less this
    # request's own reservation (the same as the first's).
    reserved = 100000 - remaining_before
    assert remaining == 100000 - 15 - reserved
    # No report comes for the second: its lease runs out (2 s) and the slot comes back.
    assert denied(single(stub))[0] == http_status_pb2.TooManyRequests
    deadline = time.time() + 15
    third = None
    while time.time() < deadline:
        third = single(stub)
        if third.status.code == 0:
            break
        time.sleep(0.2)
    assert third is not None and third.status.code == 0, "the expired lease released its slot"
    families = scrape(proc)
    assert sample(families, "portcullis_authz_leases_settled_total", reason="report") >= 1
    assert sample(families, "portcullis_authz_leases_settled_total", reason="expired") >= 1


def test_checks_are_counted_and_logged_by_mode(engine):
    proc, stub = engine
    stub.Check(check_request({"authorization": "Bearer " + KEY, "content-type": "application/json"}, chat_body()), timeout=5)
    families = scrape(proc)
    assert sample(families, "portcullis_requests_total", mode="authz", status_class="2xx") >= 1
    assert sample(families, "portcullis_requests_total", mode="authz", status_class="4xx") >= 1
    assert sample(families, "portcullis_requests_total", mode="proxy") == 0, "no request was proxied"
    deadline = time.time() + 10
    while time.time() < deadline and not any('"mode":"authz"' in line for line in proc.lines):
        time.sleep(0.05)
    lines = [json.loads(line) for line in proc.lines if line.startswith("{") and '"mode":"authz"' in line]
    assert lines and all(line["mode"] == "authz" for line in lines)
    assert not any(KEY in line for line in proc.lines), "no credential reaches the log"


def test_the_envoy_example_config_passes_check():
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "envoy", "portcullis.yaml")
    result = subprocess.run([BIN, "check", "--config", example],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# MARK: The examples


ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_the_readme_snippet_checks_against_the_envoy_example():
    """The README's Python snippet, run as written against `examples/envoy/portcullis.yaml`
    (its fixed ports: 8080, 9901 and 9191 on loopback)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("A check from Python"):]
    snippet = section[section.index("```python\n") + len("```python\n"):section.index("\n```", section.index("```python"))]
    proc = Proc(["serve", "--config", os.path.join(ROOT, "examples", "envoy", "portcullis.yaml")],
                r"listening on http://127\.0\.0\.1:(\d+)")
    try:
        wait_for_line(proc, r"authz listening on 127\.0\.0\.1:9191")
        result = subprocess.run(["python3", "-c", snippet], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split("\n")[:3] == ["0", "demo", "['authorization']"]
    finally:
        proc.stop()


def test_the_envoy_example_is_an_envoy_bootstrap_with_ext_authz_over_grpc_to_portcullis():
    """Parsed with Envoy's own protos: every field name and type is one Envoy knows."""
    import yaml
    from google.protobuf import json_format
    from envoy.config.bootstrap.v3 import bootstrap_pb2
    from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
    from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401 (registers the type)
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
    from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401

    with open(os.path.join(ROOT, "examples", "envoy", "envoy.yaml")) as f:
        config = yaml.safe_load(f)
    bootstrap = json_format.ParseDict(config, bootstrap_pb2.Bootstrap())
    manager = hcm_pb2.HttpConnectionManager()
    bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.Unpack(manager)
    # Envoy's own request ids (the lease keys), not an outside client's.
    assert manager.generate_request_id.value and manager.use_remote_address.value
    ext_authz = ext_authz_pb2.ExtAuthz()
    manager.http_filters[0].typed_config.Unpack(ext_authz)
    assert ext_authz.grpc_service.envoy_grpc.cluster_name == "portcullis_authz"
    assert not ext_authz.failure_mode_allow and ext_authz.transport_api_version == 2  # V3
    assert 0 < ext_authz.with_request_body.max_request_bytes <= 1048576 and not ext_authz.with_request_body.allow_partial_message
    cluster = next(c for c in bootstrap.static_resources.clusters if c.name == "portcullis_authz")
    address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    with open(os.path.join(ROOT, "examples", "envoy", "portcullis.yaml")) as f:
        assert yaml.safe_load(f)["authz"]["address"] == f"{address.address}:{address.port_value}"
