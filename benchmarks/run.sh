#!/usr/bin/env bash
# Drives wrk at (1) the gateway in front of `portcullis mock`, (2) the mock directly and
# (3) nginx proxy_pass in front of the same mock, in one run, and prints requests/s, p50/p99
# latency and the proxy's CPU microseconds per request (from /proc/PID/stat), plus ratios.
#
#   benchmarks/run.sh                 # 10 s per target, 32 connections
#   DURATION=20 CONNECTIONS=64 benchmarks/run.sh
#   PORTCULLIS_ARGS="--config my.yaml" benchmarks/run.sh   (must listen on 127.0.0.1:18080)
#
# A benchmark, not a test: numbers go to benchmarks/RESULTS.md by hand, with the date.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
GATEWAY_THREADS=${GATEWAY_THREADS:-1}
OUT=benchmarks/out
mkdir -p "$OUT"

for tool in wrk nginx; do
  if ! command -v $tool >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    echo "installing $tool"; apt-get install -y -qq wrk nginx-light >/dev/null
  fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "${BIN:-}" ]; then
  swift build -c release >/dev/null
  BIN="$(swift build -c release --show-bin-path)/portcullis"
fi

MOCK_PORT=18081; GW_PORT=18080; NGINX_PORT=18082
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" mock --port $MOCK_PORT --no-record --threads 1 >"$OUT/mock.log" 2>&1 &
MOCK_PID=$!; pids+=($MOCK_PID)

cat >"$OUT/gateway.yaml" <<YAML
listeners: [{ name: bench, address: 127.0.0.1:$GW_PORT }]
accessLog: { destination: $PWD/$OUT/access.log }
backends:
  mock: { endpoints: [http://127.0.0.1:$MOCK_PORT], maxIdleConnections: 256 }
routes:
  - { match: { model: demo-chat }, backend: mock }
YAML
rm -f "$OUT/access.log"
"$BIN" serve --config "${GATEWAY_CONFIG:-$OUT/gateway.yaml}" --threads $GATEWAY_THREADS ${PORTCULLIS_ARGS:-} >"$OUT/gateway.log" 2>&1 &
GW_PID=$!; pids+=($GW_PID)

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

cat >"$OUT/chat.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"demo-chat","messages":[{"role":"user","content":"Hello, how are you today?"}]}'
LUA

for port in $MOCK_PORT $GW_PORT $NGINX_PORT; do
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1
  done
done
sleep 0.5
NGINX_WORKER=$(pgrep -P "$(cat $OUT/nginx.pid)" | head -1)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# run NAME PORT PID
run() {
  local name=$1 port=$2 pid=$3
  # warm up pools and caches
  wrk -t1 -c"$CONNECTIONS" -d2s -s "$OUT/chat.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
  local before; before=$(cpu_ticks "$pid")
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$OUT/chat.lua" "http://127.0.0.1:$port/v1/chat/completions" >"$OUT/wrk-$name.txt"
  local after; after=$(cpu_ticks "$pid")
  local requests; requests=$(awk '/requests in/ {print $1}' "$OUT/wrk-$name.txt")
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$name.txt")
  local p50; p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk-$name.txt")
  local p99; p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$name.txt")
  local errors; errors=$(awk '/Non-2xx|Socket errors/ {print}' "$OUT/wrk-$name.txt" | tr '\n' ' ')
  local cpu_us; cpu_us=$(awk -v a="$after" -v b="$before" -v r="$requests" -v t="$CLK_TCK" 'BEGIN { printf "%.1f", (a-b)/t*1e6/r }')
  echo "$name $rps $p50 $p99 $cpu_us $errors"
}

echo "# $(date -u +%Y-%m-%d) $(nproc) cores, ${DURATION}s x ${CONNECTIONS} connections, wrk -t1, gateway threads $GATEWAY_THREADS"
printf "%-12s %12s %10s %10s %14s\n" target req/s p50 p99 "cpu-us/req"
results=()
while read -r line; do results+=("$line"); done < <(
  run mock $MOCK_PORT $MOCK_PID
  run portcullis $GW_PORT $GW_PID
  run nginx $NGINX_PORT "$NGINX_WORKER"
)
for r in "${results[@]}"; do
  set -- $r
  printf "%-12s %12s %10s %10s %14s %s\n" "$1" "$2" "$3" "$4" "$5" "${*:6}"
done
gw_cpu=$(printf "%s\n" "${results[@]}" | awk '$1=="portcullis" {print $5}')
ng_cpu=$(printf "%s\n" "${results[@]}" | awk '$1=="nginx" {print $5}')
gw_rps=$(printf "%s\n" "${results[@]}" | awk '$1=="portcullis" {print $2}')
ng_rps=$(printf "%s\n" "${results[@]}" | awk '$1=="nginx" {print $2}')
awk -v g="$gw_cpu" -v n="$ng_cpu" -v gr="$gw_rps" -v nr="$ng_rps" 'BEGIN {
  printf "portcullis/nginx: cpu per request %.2fx, throughput %.2fx\n", g/n, gr/nr }'
