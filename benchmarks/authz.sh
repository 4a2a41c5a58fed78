#!/usr/bin/env bash
# ext_authz Check calls per second and the gateway's CPU per call (issue 11): a bounded
# grpc-swift load loop (`portcullis authz-load`: many concurrent calls over one HTTP/2
# connection) against the `authz:` listener, with a chat request that passes authentication
# (an API key), plan policy, validation of a 1 KB body and a rate limit held per tenant.
# The gateway's CPU is read from /proc before and after each round.
#
#   BIN=.build/release/portcullis ROUNDS=5 CALLS=50000 CONCURRENCY=64 benchmarks/authz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/portcullis}
ROUNDS=${ROUNDS:-5}
CALLS=${CALLS:-50000}
CONCURRENCY=${CONCURRENCY:-64}
THREADS=${THREADS:-1}
OUT=benchmarks/out/authz
mkdir -p "$OUT"
PORT=18391
KEY="pc-bench-key-0123456789"
SHA=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
cat >"$OUT/portcullis.yaml" <<YAML
listeners: [{ name: main, address: "127.0.0.1:18390" }]
accessLog: { destination: "off" }
reload: { watch: false }
authz: { address: "127.0.0.1:$PORT" }
mock: { models: [demo-chat] }
backends: { mock: { endpoints: [builtin:mock] } }
routes: [{ match: { model: demo-chat }, backend: mock }]
authentication:
  apiKeys: [{ name: bench, tenant: bench, sha256: $SHA }]
tenants: { bench: { plan: pro } }
plans:
  pro: { models: [demo-chat], features: [streaming], limits: { requestsPerSecond: 1000000, burst: 1000000 } }
YAML
python3 - "$OUT" <<'PY'
import json, sys
body = {"model": "demo-chat", "messages": [
    {"role": "system", "content": "You are a careful assistant for a bank's internal tools. Answer briefly and cite the policy section you rely on."},
    {"role": "user", "content": "Summarise the travel expense policy for contractors, in particular the limits on hotel nights, per-diem meals and the approval chain for trips outside the European Union. " * 2},
    {"role": "assistant", "content": "Contractors follow section 4.2: hotels up to 140 EUR a night, meals at the local per-diem rate, and trips outside the EU need the budget owner's and the security team's approval before booking."},
    {"role": "user", "content": "And for trips shorter than one day, is the per-diem prorated?"}],
    "temperature": 0.2, "stream": False}
open(f"{sys.argv[1]}/body.json", "w").write(json.dumps(body, separators=(",", ":")))
PY
"$BIN" serve --config "$OUT/portcullis.yaml" --threads "$THREADS" >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill -9 $GW 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "authz listening" "$OUT/gateway.log" && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$GW/stat"; }
TICK=$(getconf CLK_TCK)
load() { "$BIN" authz-load --target "127.0.0.1:$PORT" --api-key "$KEY" --body-file "$OUT/body.json" --calls "$1" --concurrency "$CONCURRENCY"; }
load 5000 >/dev/null  # warm-up
: >"$OUT/rounds.txt"
for round in $(seq "$ROUNDS"); do
  before=$(cpu)
  line=$(load "$CALLS")
  after=$(cpu)
  python3 - "$line" "$before" "$after" "$TICK" <<'PY' | tee -a "$OUT/rounds.txt"
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); tick = int(sys.argv[4])
assert r["failed"] == 0, r
print(f'{r["calls_per_second"]:.0f} calls/s  {ticks / tick * 1e6 / r["calls"]:.1f} us CPU/call  p50 {r["p50_us"]} us  p99 {r["p99_us"]} us  ({r["calls"]} calls)')
PY
done
python3 - "$OUT/rounds.txt" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
print(f"median: {statistics.median(float(r[0]) for r in rows):.0f} calls/s, {statistics.median(float(r[2]) for r in rows):.1f} us CPU per call")
PY
