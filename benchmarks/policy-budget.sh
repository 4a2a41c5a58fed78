#!/usr/bin/env bash
# The cost of validation and policy per request, for a 1 KB chat body (issue 8's budget: at most
# 5 µs of CPU): the same gateway binary with a plan that checks nothing against one that checks
# everything (models, features, forbidden fields, regions, unknown fields, token caps with the
# default cap spliced in), and optionally an older binary (OLD_BIN) on the plain config, in
# alternating wrk rounds against one mock. Prints the median CPU µs per request of each.
#
#   BIN=.build/release/portcullis [OLD_BIN=…] ROUNDS=7 DURATION=5 benchmarks/policy-budget.sh
#
# COMPARE=limits measures issue 9's budget instead (in-memory limits: at most 3 µs): both
# configs cap tokens the same way; the candidate also holds a request rate, a concurrency cap,
# a token quota (reserved and settled per request), a prompt cap and a top-level global rule.
#
# STAGES=1 measures in-process instead (`portcullis bench-stages`: no socket, no wrk, each
# stage timed alone on the same body and configs), which this machine's noise does not drown;
# CALLGRIND=1 with it runs the policy config under valgrind's callgrind and prints the
# functions by inclusive cost.
#
# COMPARE=resilience measures issue 10's (retries, breakers, outlier detection and health
# checks: at most 2% more CPU per request than the same run without them).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/portcullis}
ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-5}
OUT=benchmarks/out/policy
mkdir -p "$OUT"
MOCK_PORT=18281; PLAIN_PORT=18282; POLICY_PORT=18283; OLD_PORT=18284
KEY="pc-bench-key-0123456789"
SHA=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

python3 - "$OUT" <<'PY'
import json, sys
body = {"model": "demo-chat", "messages": [
    {"role": "system", "content": "You are a careful assistant for a bank's internal tools. Answer briefly and cite the policy section you rely on."},
    {"role": "user", "content": "Summarise the travel expense policy for contractors, in particular the limits on hotel nights, per-diem meals and the approval chain for trips outside the European Union. " * 2},
    {"role": "assistant", "content": "Contractors follow section 4.2: hotels up to 140 EUR a night, meals at the local per-diem rate, and trips outside the EU need the budget owner's and the security team's approval before booking."},
    {"role": "user", "content": [{"type": "text", "text": "And for trips shorter than one day, is the per-diem prorated? Please answer with the section number and a one-line quote."}]}],
    "temperature": 0.2, "top_p": 0.9, "stream": False, "user": "u-1234"}
text = json.dumps(body, separators=(",", ":"))
open(f"{sys.argv[1]}/body.json", "w").write(text)
print(f"body: {len(text)} bytes")
PY
BODY=$(cat "$OUT/body.json")
cat >"$OUT/chat.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.body = [==[$BODY]==]
LUA

config() {  # $1 port, $2 plan YAML, $3 route extra, $4 backend extra
cat <<YAML
listeners: [{ address: "127.0.0.1:$1" }]
accessLog: { destination: "off" }
backends:
  mock: { endpoints: [http://127.0.0.1:$MOCK_PORT], maxIdleConnections: 4096, idleTimeout: 10m $4 }
routes:
  - { match: { model: demo-chat }, backend: mock $3 }
authentication:
  apiKeys: [{ name: bench, tenant: bench, sha256: $SHA }]
tenants: { bench: { plan: pro } }
plans: { pro: $2 }
YAML
}
if [ "${COMPARE:-policy}" = resilience ]; then
# Issue 10's budget (at most 2% of CPU per request): the same plan, the backend with retries,
# outlier detection, the breaker and retry budget, and health checks off as far as they go
# (the breaker's counts are always kept; its limits here are far above the load), against
# the defaults plus a health check every second.
OFF=", retries: off, outlierDetection: off, circuitBreaker: { maxConnections: 1000000, maxPendingRequests: 1000000, maxRequests: 1000000 }"
ON=", retries: { attempts: 3, statuses: [502, 503, 504], budget: 20% }, outlierDetection: { consecutiveFailures: 5 },
    circuitBreaker: { maxConnections: 100, maxPendingRequests: 50, maxRequests: 200 },
    healthCheck: { path: /health, interval: 1s, timeout: 1s, healthyThreshold: 2, unhealthyThreshold: 3 }"
config $PLAIN_PORT "{ limits: { maxTokens: 4096, defaultMaxTokens: 1024 } }" "" "$OFF" >"$OUT/plain.yaml"
config $OLD_PORT "{ limits: { maxTokens: 4096, defaultMaxTokens: 1024 } }" "" "$OFF" >"$OUT/old.yaml"
config $POLICY_PORT "{ limits: { maxTokens: 4096, defaultMaxTokens: 1024 } }" "" "$ON" >"$OUT/policy.yaml"
elif [ "${COMPARE:-policy}" = limits ]; then
config $PLAIN_PORT "{ limits: { maxTokens: 4096, defaultMaxTokens: 1024 } }" "" "" >"$OUT/plain.yaml"
config $OLD_PORT "{ limits: { maxTokens: 4096, defaultMaxTokens: 1024 } }" "" "" >"$OUT/old.yaml"
config $POLICY_PORT "{ limits: { maxTokens: 4096, defaultMaxTokens: 1024, requestsPerMinute: 100000000, concurrency: 100000,
  tokensPerMinute: 1000000000000, maxPromptTokens: 100000 } }" "" "" >"$OUT/policy.yaml"
printf 'limits:\n  - { name: everyone, per: global, requestsPerSecond: 10000000 }\n' >>"$OUT/policy.yaml"
else
config $PLAIN_PORT "{ limits: { requestsPerMinute: 100000000 } }" "" "" >"$OUT/plain.yaml"
config $OLD_PORT "{ limits: { requestsPerMinute: 100000000 } }" "" "" >"$OUT/old.yaml"
config $POLICY_PORT "{ models: [\"demo-*\"], features: [streaming, tools, images, json_schema], forbiddenFields: [logit_bias, seed],
  regions: [eu-west], limits: { requestsPerMinute: 100000000, maxTokens: 4096, defaultMaxTokens: 1024 } }" \
  ", unknownFields: reject" ", region: eu-west" >"$OUT/policy.yaml"
fi

if [ -n "${STAGES:-}" ]; then
  # Alternating rounds (STAGE_ROUNDS, default 5); the machine's speed drifts between them, so
  # the minimum (noise only ever adds) and the median are printed, and the last policy round whole.
  declare -A sums
  for _ in $(seq 1 "${STAGE_ROUNDS:-5}"); do
    for which in plain policy; do
      "$BIN" bench-stages --config "$OUT/$which.yaml" -H "authorization: Bearer $KEY" --body "$OUT/body.json" \
        --iterations "${ITERATIONS:-200000}" >"$OUT/stages-$which.txt"
      sums[$which]+="$(awk '/= validation and policy:/ {print $5}' "$OUT/stages-$which.txt") "
    done
  done
  echo "== policy, last round (bench-stages)"; cat "$OUT/stages-policy.txt"
  for which in plain policy; do
    # shellcheck disable=SC2086
    printf '%s\n' ${sums[$which]} | sort -n | awk -v w="$which" '{a[NR]=$1} END {
      printf "== %s: validation and policy, ns per request by round (sorted): ", w; for (i = 1; i <= NR; i++) printf "%s ", a[i]
      printf "; min %s, median %s\n", a[1], a[int((NR+1)/2)] }'
  done
  if [ -n "${CALLGRIND:-}" ]; then
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" bench-stages --config "$OUT/policy.yaml" \
      -H "authorization: Bearer $KEY" --body "$OUT/body.json" --iterations 20000 --no-per-stage >/dev/null 2>"$OUT/callgrind.log"
    callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null | head -80
  fi
  exit 0
fi

"$BIN" mock --port $MOCK_PORT --no-record --threads 1 >"$OUT/mock.log" 2>&1 & pids+=($!)
"$BIN" serve --config "$OUT/plain.yaml" --threads 1 >"$OUT/plain.log" 2>&1 & PLAIN=$!; pids+=($PLAIN)
"$BIN" serve --config "$OUT/policy.yaml" --threads 1 >"$OUT/policy.log" 2>&1 & POLICY=$!; pids+=($POLICY)
OLD=""
if [ -n "${OLD_BIN:-}" ]; then "$OLD_BIN" serve --config "$OUT/old.yaml" --threads 1 >"$OUT/old.log" 2>&1 & OLD=$!; pids+=($OLD); fi
for port in $PLAIN_PORT $POLICY_PORT ${OLD:+$OLD_PORT}; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v1/models" && break; sleep 0.1; done
done
# The policy config must forward (and splice in the default cap), not refuse.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
  --data-binary @"$OUT/body.json" "http://127.0.0.1:$POLICY_PORT/v1/chat/completions")
[ "$status" = 200 ] || { echo "the policy config answered $status"; exit 1; }

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
round() {  # pid port -> CPU µs per request
  wrk -t1 -c32 -d1s -s "$OUT/chat.lua" "http://127.0.0.1:$2/v1/chat/completions" >/dev/null
  local before; before=$(cpu "$1")
  wrk -t1 -c32 -d"${DURATION}s" -s "$OUT/chat.lua" "http://127.0.0.1:$2/v1/chat/completions" >"$OUT/wrk.txt"
  local after; after=$(cpu "$1")
  local requests; requests=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
  awk -v a="$after" -v b="$before" -v r="$requests" 'BEGIN { printf "%.2f", (a - b) / 100 * 1e6 / r }'
}
plain=(); policy=(); old=()
for _ in $(seq 1 "$ROUNDS"); do
  plain+=("$(round $PLAIN $PLAIN_PORT)")
  policy+=("$(round $POLICY $POLICY_PORT)")
  [ -n "$OLD" ] && old+=("$(round $OLD $OLD_PORT)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "plain  (µs/req): ${plain[*]}  median $(median "${plain[@]}")"
echo "policy (µs/req): ${policy[*]}  median $(median "${policy[@]}")"
[ -n "$OLD" ] && echo "old    (µs/req): ${old[*]}  median $(median "${old[@]}")"
echo "policy - plain: $(awk -v p="$(median "${policy[@]}")" -v q="$(median "${plain[@]}")" 'BEGIN { printf "%.2f", p - q }') µs"
