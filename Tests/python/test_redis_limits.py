"""Limits shared through a real redis-server by gateway replicas (the gateway binary, `portcullis
mock`, `redis-server`, all real processes on loopback): exactness with Redis, three replicas
holding one global limit, leases freed after a replica is SIGKILLed, and Redis killed, paused
and restarted under traffic. Every loop is bounded in count and time."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Proc
from test_limits import KEYS, Gateway, api_keys_yaml, error_of, open_stream
from test_metrics import samples, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
# Generous for a debug build on a busy 2-core machine: a check that times out falls back and
# would overcount.
TIMEOUT_MS = 250
LEASE_TTL_S = 2


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """A redis-server on a loopback port; nothing persisted."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.p = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            if "Ready to accept connections" in line:
                threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()
                return
        self.p.kill()
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        return subprocess.run([REDIS_CLI, "-p", str(self.port), *args], capture_output=True, text=True, timeout=10).stdout.strip()

    def kill(self):
        self.p.send_signal(signal.SIGCONT)
        self.p.kill()
        self.p.wait(timeout=10)


def config_text(mock_port, redis_port, log_path):
    keys = api_keys_yaml()
    return f"""
listeners: [{{ address: 127.0.0.1:0 }}]
admin: {{ address: 127.0.0.1:0 }}
accessLog: {{ destination: "{log_path}" }}
reload: {{ watch: false }}
limitStore:
  redis: {{ address: "127.0.0.1:{redis_port}", replicas: 3, timeout: {TIMEOUT_MS}ms, leaseTTL: {LEASE_TTL_S}s }}
backends:
  mock: {{ endpoints: [http://127.0.0.1:{mock_port}] }}
routes:
  - {{ name: chat, match: {{ model: demo-chat }}, backend: mock }}
authentication:
  apiKeys:
{keys}
tenants:
  hourly: {{ limits: {{ requestsPerHour: 50 }} }}
  burst: {{ limits: {{ requestsPerHour: 30 }} }}
  other: {{ limits: {{ requestsPerHour: 30, onStoreFailure: closed }} }}
  shadow: {{ limits: {{ requestsPerHour: 3, onStoreFailure: open }} }}
  slots: {{ limits: {{ concurrency: 2 }} }}
  tokens: {{ limits: {{ tokensPerHour: 3000, maxTokens: 50 }} }}
  sizes: {{}}
  jwtish: {{}}
  budget: {{}}
  ceiling: {{ limits: {{ tokensPerMinute: 120, maxTokens: 50, ceiling: [tokensPerMinute] }} }}
  ceilraw: {{}}
  roomy: {{}}
limits:
  - {{ name: cluster, per: global, credentials: [jwtish], requestsPerHour: 300 }}
"""


class Replica(Gateway):
    def __init__(self, mock_port, redis_port):
        fd, self.path = tempfile.mkstemp(suffix=".yaml")
        os.close(fd)
        fd, self.log = tempfile.mkstemp(suffix=".log")
        os.close(fd)
        with open(self.path, "w") as f:
            f.write(config_text(mock_port, redis_port, self.log))
        self.proc = Proc(["serve", "--config", self.path], r"listening on http://127\.0\.0\.1:(\d+)")
        self.port = self.proc.port
        m = re.search(r"admin on port (\d+)", "".join(self.proc.lines))
        assert m, "".join(self.proc.lines)
        self.admin = int(m.group(1))
        wait_for(lambda: self.gauge("portcullis_limit_store_up") == 1, timeout=20)

    def gauge(self, name, **labels):
        return samples(self.scrape(), name, **labels)

    def output(self):
        return "".join(self.proc.lines)


@pytest.fixture
def redis():
    server = Redis()
    yield server
    server.kill()


def timed_chat(gw, tenant, **payload):
    start = time.time()
    status, headers, body = gw.chat(tenant, **payload)
    return status, time.time() - start


def test_with_redis_200_concurrent_requests_against_50_admit_exactly_50(mock, redis):
    gw = Replica(mock.port, redis.port)
    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda _: gw.chat("hourly")[0], range(200)))
        assert statuses.count(200) == 50, statuses
        assert statuses.count(429) == 150
        assert redis.cli("EXISTS", "portcullis:plan.requestsPerHour:hourly") == "1"
        families = gw.scrape()
        assert samples(families, "portcullis_limit_store_fallbacks") == 0
        assert samples(families, "portcullis_limit_decisions", tenant="hourly", decision="admitted") == 50
        status, headers, body = gw.chat("hourly")
        assert status == 429 and "retry-after" in headers
        assert headers["x-ratelimit-limit-requests"] == "50" and headers["x-ratelimit-remaining-requests"] == "0"
    finally:
        gw.stop()


def test_three_replicas_hold_one_global_limit_within_2_percent(mock, redis):
    replicas = [Replica(mock.port, redis.port) for _ in range(3)]
    try:
        for r in replicas:  # warm: each replica's connections and code paths
            assert r.chat("hourly")[0] == 200
        with ThreadPoolExecutor(max_workers=60) as pool:
            statuses = list(pool.map(lambda i: replicas[i % 3].chat("jwtish")[0], range(600)))
        admitted = statuses.count(200)
        fallbacks = [samples(r.scrape(), "portcullis_limit_store_fallbacks") for r in replicas]
        errors = [samples(r.scrape(), "portcullis_limit_store_errors") for r in replicas]
        assert abs(admitted - 300) <= 6, (admitted, statuses.count(429), fallbacks, errors)
        assert statuses.count(200) + statuses.count(429) == 600
        per_replica = [samples(r.scrape(), "portcullis_limit_decisions", tenant="jwtish", decision="admitted") for r in replicas]
        assert sum(per_replica) == admitted and min(per_replica) > 0, per_replica
    finally:
        for r in replicas:
            r.stop()


def test_a_replica_killed_holding_slots_frees_them_within_the_lease_ttl(mock, redis):
    a = Replica(mock.port, redis.port)
    b = Replica(mock.port, redis.port)
    streams = []
    try:
        for _ in range(2):
            s, status = open_stream(a, "slots", chunks=400, delay_ms=50)
            streams.append(s)
            assert status == 200
        # The cap is held across replicas: b refuses the third.
        status, _, body = b.chat("slots")
        assert status == 429 and "concurrent" in error_of(body)["message"]
        assert a.gauge("portcullis_limit_leases_held") == 2
        # Leases outlive their first TTL while a renews them: both still held after more than one TTL.
        opened = time.time()
        wait_for(lambda: time.time() - opened > LEASE_TTL_S * 1.5 and b.chat("slots")[0] == 429, timeout=10)
        assert redis.cli("ZCARD", "portcullis:plan.concurrency:slots") == "2"
        a.proc.p.kill()
        a.proc.p.wait(timeout=10)
        killed = time.time()
        status, _, _ = b.chat("slots")
        assert status == 429, "right after the kill the dead replica's leases still hold"
        wait_for(lambda: b.chat("slots", max_tokens=2)[0] == 200, timeout=LEASE_TTL_S + 5)
        freed_after = time.time() - killed
        assert freed_after <= LEASE_TTL_S + 1.0, freed_after
    finally:
        for s in streams:
            s.close()
        a.stop()
        b.stop()


def test_redis_killed_paused_and_restarted_under_traffic(mock, redis):
    gw = Replica(mock.port, redis.port)
    try:
        for _ in range(5):
            assert gw.chat("burst")[0] == 200
        assert redis.cli("EXISTS", "portcullis:plan.requestsPerHour:burst") == "1"

        # Killed: each limit does what it is configured to, without waiting.
        redis.kill()
        wait_for(lambda: gw.gauge("portcullis_limit_store_up") == 0, timeout=10)
        local = [timed_chat(gw, "burst") for _ in range(14)]
        # `local`: 30 an hour over 3 replicas is 10 here.
        assert [s for s, _ in local] == [200] * 10 + [429] * 4, local
        assert max(t for _, t in local) < 1.0, local
        closed = [gw.chat("other") for _ in range(3)]
        assert all(s == 503 for s, _, _ in closed)
        assert error_of(closed[0][2])["code"] == "dependency_failed"
        assert [gw.chat("shadow")[0] for _ in range(6)] == [200] * 6, "open: admitted uncounted (the limit is 3)"
        families = gw.scrape()
        assert samples(families, "portcullis_limit_store_fallbacks", mode="local") >= 14
        assert samples(families, "portcullis_limit_store_fallbacks", mode="closed") >= 3
        assert samples(families, "portcullis_limit_store_fallbacks", mode="open") >= 6
        assert samples(families, "portcullis_limit_store_errors", error="unavailable") > 0

        # Restarted: it comes back by itself, and the outage is logged once each way.
        again = Redis(redis.port)
        try:
            wait_for(lambda: gw.gauge("portcullis_limit_store_up") == 1, timeout=15)
            out = gw.output()
            assert out.count("limit store unreachable") == 1, out
            assert re.search(r"cause=.*(connection closed|cannot connect)", out), out
            assert out.count("limit store reachable") == 2, out
            assert gw.chat("hourly")[0] == 200
            assert again.cli("EXISTS", "portcullis:plan.requestsPerHour:hourly") == "1", "shared counting resumed"

            # Paused for 5 s (SIGSTOP): a stall is treated like an outage, within the store timeout.
            again.p.send_signal(signal.SIGSTOP)
            paused_until = time.time() + 5
            during = []
            while time.time() < paused_until and len(during) < 400:
                during.append(timed_chat(gw, "hourly", max_tokens=2))
            again.p.send_signal(signal.SIGCONT)
            assert len(during) >= 5
            assert all(s in (200, 429) for s, _ in during), during
            slowest = max(t for _, t in during)
            assert slowest < TIMEOUT_MS / 1000 + 0.5, slowest
            wait_for(lambda: gw.gauge("portcullis_limit_store_up") == 1, timeout=15)
            assert samples(gw.scrape(), "portcullis_limit_store_errors", error="timeout") >= 1

            # No slot is stuck after all that: two streams fit, then every lease is gone.
            x, sx = open_stream(gw, "slots")
            y, sy = open_stream(gw, "slots")
            x.close()
            y.close()
            assert (sx, sy) == (200, 200)
            wait_for(lambda: gw.gauge("portcullis_limit_leases_held") == 0, timeout=20)
            wait_for(lambda: again.cli("ZCARD", "portcullis:plan.concurrency:slots") == "0", timeout=20)
            assert gw.proc.p.poll() is None, "the gateway is still running"
        finally:
            again.kill()
    finally:
        gw.stop()


def test_with_redis_a_hard_ceiling_cuts_a_stream_off_once_the_shared_quota_runs_out(mock, redis):
    from test_limits import stream_until_cut

    gw = Replica(mock.port, redis.port)
    try:
        words, error = stream_until_cut(gw.port, "ceiling")
        assert "cut off" in error.message and error.body["code"] == "rate_limit_exceeded", error.message
        # Extended from Redis 32 tokens at a time (then by the exact excess), one round trip
        # each: the stream stops close to the 120, at most a round trip's words above it.
        assert 60 <= words <= 125, words
        status, _, body = gw.chat("ceiling", max_tokens=5)
        assert status == 429 and error_of(body)["code"] == "rate_limit_exceeded", body
        assert gw.gauge("portcullis_limit_reservations_open") == 0
        assert gw.gauge("portcullis_limit_decisions", tenant="ceiling", decision="cut") == 1
    finally:
        gw.stop()
