"""Fixtures: `portcullis mock` and the gateway binary as real processes on loopback ports."""
import os
import re
import subprocess
import tempfile
import threading
import time

import pytest

BIN = os.environ.get("PORTCULLIS_BIN", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "portcullis"))


class Proc:
    def __init__(self, args, banner):
        self.p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        self.lines = []
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(banner, line)
            if m:
                self.port = int(m.group(1))
                # Keep reading what it prints, so a full pipe can never block the process.
                self.reader = threading.Thread(target=self._drain, daemon=True)
                self.reader.start()
                return
        self.p.kill()
        raise RuntimeError("process did not start: " + "".join(self.lines))

    def _drain(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def stop(self):
        self.p.kill()
        self.p.wait(timeout=10)
        self.reader.join(timeout=10)


@pytest.fixture(scope="session")
def mock():
    proc = Proc(["mock", "--port", "0", "--chunks", "4", "--chunk-delay-ms", "5"], r"mock listening on http://127\.0\.0\.1:(\d+)")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def gateway(mock):
    config = f"""
listeners: [{{ address: 127.0.0.1:0 }}]
accessLog: {{ destination: "off" }}
backends:
  mock: {{ endpoints: [http://127.0.0.1:{mock.port}] }}
routes:
  - {{ match: {{ model: demo-chat }}, backend: mock }}
  - {{ match: {{ model: demo-embed }}, backend: mock }}
"""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(config)
        path = f.name
    proc = Proc(["serve", "--config", path], r"listening on http://127\.0\.0\.1:(\d+)")
    yield proc
    proc.stop()
    os.unlink(path)
