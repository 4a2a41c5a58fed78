"""examples/reference-platform/run, as a user would run it: it starts the reference config with
`portcullis mock` backends, a JWKS server and an ext_authz service on loopback, runs its demo and
checks every outcome itself (exit status 0 only when every step behaved)."""
import os
import subprocess
import sys

from conftest import BIN

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(ROOT, "examples", "reference-platform", "run")


def test_the_reference_platform_runs_its_demo():
    env = dict(os.environ, PORTCULLIS_BIN=os.path.abspath(BIN))
    done = subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for expected in ["[ok ] tenant-a → sklearn-iris", "[ok ] tenant-a streams a chat", "[ok ] no token: 401",
                     "[ok ] tenant-c → pytorch-resnet (the policy service says no): 403 policy_denied",
                     "got 429 rate_limit_exceeded", "[ok ] the mesh got the gateway's own credential",
                     "Every step behaved."]:
        assert expected in out, out
    assert "FAIL" not in out, out


def test_the_reference_config_needs_its_backend_keys_and_passes_check_with_them():
    config = os.path.join(ROOT, "examples", "reference-platform", "portcullis.yaml")
    bare = {k: v for k, v in os.environ.items() if not k.endswith("_BACKEND_KEY")}
    refused = subprocess.run([BIN, "check", "--config", config], env=bare, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "IRIS_BACKEND_KEY" in refused.stdout + refused.stderr
    keyed = dict(bare, IRIS_BACKEND_KEY="sk-iris-0123456789", RESNET_BACKEND_KEY="sk-resnet-0123456789",
                 MESH_BACKEND_KEY="sk-mesh-0123456789")
    passed = subprocess.run([BIN, "check", "--config", config], env=keyed, capture_output=True, text=True, timeout=60)
    assert passed.returncode == 0, passed.stdout + passed.stderr
