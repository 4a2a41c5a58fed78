#!/usr/bin/env bash
# Drives wrk, in one run, at:
#   mock        `portcullis mock` directly
#   portcullis  the gateway in front of the mock (access log on, no authentication)
#   nginx       nginx proxy_pass in front of the same mock (one worker, upstream keep-alive)
#   apikey      the gateway with API-key authentication
#   jwt         the gateway with JWT authentication (RS256, keys from a JWKS file, one token repeated)
# and prints requests/s, p50/p99 latency and the process's CPU microseconds per request (from
# /proc/PID/stat), plus ratios. Each target runs ROUNDS times, interleaved with the others so
# machine noise hits all of them alike; the table shows the median round of each.
#
#   benchmarks/run.sh                          # 3 rounds x 6 s per target, 32 connections
#   ROUNDS=5 DURATION=10 CONNECTIONS=64 benchmarks/run.sh
#   BIN=.build/release/portcullis benchmarks/run.sh   # skip the release build
#
# A benchmark, not a test: numbers go to benchmarks/RESULTS.md by hand, with the date.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
GATEWAY_THREADS=${GATEWAY_THREADS:-1}
OUT=benchmarks/out
mkdir -p "$OUT"

if ! command -v wrk >/dev/null 2>&1 || { ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; }; then
  echo "installing wrk and nginx"; apt-get install -y -qq wrk nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet cryptography

if [ -z "${BIN:-}" ]; then
  swift build -c release --product portcullis >/dev/null
  BIN="$(swift build -c release --show-bin-path)/portcullis"
fi

MOCK_PORT=18081; GW_PORT=18080; NGINX_PORT=18082; APIKEY_PORT=18083; JWT_PORT=18084
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Credentials: an API key, and an RS256 key pair whose public half is a JWKS file, with one
# token signed by it.
python3 - "$OUT" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
out = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
numbers = key.public_key().public_numbers()
n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
json.dump({"keys": [{"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig", "n": b64(n), "e": b64(b"\x01\x00\x01")}]},
          open(f"{out}/jwks.json", "w"))
now = int(time.time())
header = b64(json.dumps({"alg": "RS256", "kid": "bench", "typ": "JWT"}).encode())
claims = b64(json.dumps({"iss": "https://bench.idp/", "aud": "portcullis", "sub": "bench-user", "tenant": "bench",
                         "iat": now, "exp": now + 86400}).encode())
signature = key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
open(f"{out}/token.txt", "w").write(f"{header}.{claims}.{b64(signature)}")
PY
API_KEY="pc-bench-key-0123456789"
API_KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)

gateway_yaml() {  # $1: port, $2: access log file, $3: extra YAML
cat <<YAML
listeners: [{ name: bench, address: 127.0.0.1:$1 }]
accessLog: { destination: $PWD/$OUT/$2 }
backends:
  mock: { endpoints: [http://127.0.0.1:$MOCK_PORT], maxIdleConnections: 256 }
routes:
  - { match: { model: demo-chat }, backend: mock }
$3
YAML
}
TENANTS="tenants: { bench: { plan: pro } }
plans: { pro: { limits: { requestsPerMinute: 100000000 } } }"
gateway_yaml $GW_PORT access.log "" >"$OUT/gateway.yaml"
gateway_yaml $APIKEY_PORT access-apikey.log "authentication:
  apiKeys: [{ name: bench, tenant: bench, sha256: $API_KEY_SHA }]
$TENANTS" >"$OUT/gateway-apikey.yaml"
gateway_yaml $JWT_PORT access-jwt.log "authentication:
  jwt:
    - { name: bench, issuer: https://bench.idp/, audiences: [portcullis], algorithms: [RS256], jwks: { file: $PWD/$OUT/jwks.json } }
$TENANTS" >"$OUT/gateway-jwt.yaml"
rm -f "$OUT"/access*.log

"$BIN" mock --port $MOCK_PORT --no-record --threads 1 >"$OUT/mock.log" 2>&1 &
MOCK_PID=$!; pids+=($MOCK_PID)
"$BIN" serve --config "$OUT/gateway.yaml" --threads "$GATEWAY_THREADS" >"$OUT/gateway.log" 2>&1 &
GW_PID=$!; pids+=($GW_PID)
"$BIN" serve --config "$OUT/gateway-apikey.yaml" --threads "$GATEWAY_THREADS" >"$OUT/gateway-apikey.log" 2>&1 &
APIKEY_PID=$!; pids+=($APIKEY_PID)
"$BIN" serve --config "$OUT/gateway-jwt.yaml" --threads "$GATEWAY_THREADS" >"$OUT/gateway-jwt.log" 2>&1 &
JWT_PID=$!; pids+=($JWT_PID)

cat >"$OUT/nginx.conf" <<NGINX
worker_processes 1;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $PWD/$OUT/nginx-body;
  proxy_temp_path $PWD/$OUT/nginx-proxy;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
"$NGINX" -c "$PWD/$OUT/nginx.conf" >"$OUT/nginx.log" 2>&1 &
pids+=($!)

write_lua() {  # $1: file, $2: optional Authorization header value
  cat >"$1" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"demo-chat","messages":[{"role":"user","content":"Hello, how are you today?"}]}'
LUA
  if [ -n "${2:-}" ]; then printf 'wrk.headers["Authorization"] = "%s"\n' "$2" >>"$1"; fi
}
write_lua "$OUT/chat.lua"
write_lua "$OUT/chat-apikey.lua" "Bearer $API_KEY"
write_lua "$OUT/chat-jwt.lua" "Bearer $(cat "$OUT/token.txt")"

for port in $MOCK_PORT $GW_PORT $NGINX_PORT $APIKEY_PORT $JWT_PORT; do
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1
  done
done
sleep 0.5
NGINX_WORKER=$(pgrep -P "$(cat $OUT/nginx.pid)" | head -1)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# run NAME PORT PID LUA ROUND -> "name rps p50 p99 cpu_us errors"
run() {
  local name=$1 port=$2 pid=$3 lua=$4 round=$5
  wrk -t1 -c"$CONNECTIONS" -d2s -s "$lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null  # warm-up
  local before; before=$(cpu_ticks "$pid")
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$lua" "http://127.0.0.1:$port/v1/chat/completions" \
    >"$OUT/wrk-$name-$round.txt"
  local after; after=$(cpu_ticks "$pid")
  local f="$OUT/wrk-$name-$round.txt"
  local requests; requests=$(awk '/requests in/ {print $1}' "$f")
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' "$f")
  local p50; p50=$(awk '$1=="50%" {print $2}' "$f")
  local p99; p99=$(awk '$1=="99%" {print $2}' "$f")
  local errors; errors=$(awk '/Non-2xx|Socket errors/ {print}' "$f" | tr '\n' ' ')
  local cpu_us; cpu_us=$(awk -v a="$after" -v b="$before" -v r="$requests" -v t="$CLK_TCK" 'BEGIN { printf "%.1f", (a-b)/t*1e6/r }')
  echo "$name $rps $p50 $p99 $cpu_us $errors"
}

results="$OUT/results.txt"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  run mock $MOCK_PORT $MOCK_PID "$OUT/chat.lua" "$round" >>"$results"
  run portcullis $GW_PORT $GW_PID "$OUT/chat.lua" "$round" >>"$results"
  run nginx $NGINX_PORT "$NGINX_WORKER" "$OUT/chat.lua" "$round" >>"$results"
  run apikey $APIKEY_PORT $APIKEY_PID "$OUT/chat-apikey.lua" "$round" >>"$results"
  run jwt $JWT_PORT $JWT_PID "$OUT/chat-jwt.lua" "$round" >>"$results"
done

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, $ROUNDS rounds x ${DURATION}s x ${CONNECTIONS} connections, wrk -t1, gateway threads $GATEWAY_THREADS (median round by CPU per request)"
printf "%-12s %12s %10s %10s %12s   %s\n" target req/s p50 p99 "cpu-us/req" "cpu-us/req of each round"
median() {  # $1: target -> the median round's line
  local lines; lines=$(awk -v t="$1" '$1==t' "$results" | sort -k5 -n)
  local count; count=$(printf '%s\n' "$lines" | wc -l)
  printf '%s\n' "$lines" | sed -n "$(( (count + 1) / 2 ))p"
}
for target in mock portcullis nginx apikey jwt; do
  line=$(median $target)
  all=$(awk -v t="$target" '$1==t {printf "%s ", $5}' "$results")
  set -- $line
  errors=""; [ $# -gt 5 ] && errors="  errors: ${*:6}"
  printf "%-12s %12s %10s %10s %12s   %s%s\n" "$1" "$2" "$3" "$4" "$5" "$all" "$errors"
done
cpu() { median "$1" | awk '{print $5}'; }
rps() { median "$1" | awk '{print $2}'; }
awk -v g="$(cpu portcullis)" -v n="$(cpu nginx)" -v gr="$(rps portcullis)" -v nr="$(rps nginx)" \
    -v a="$(cpu apikey)" -v j="$(cpu jwt)" 'BEGIN {
  printf "portcullis/nginx: cpu per request %.2fx, throughput %.2fx\n", g/n, gr/nr
  printf "apikey/no-auth: cpu per request %.2fx;  jwt/no-auth: %.2fx\n", a/g, j/g }'
