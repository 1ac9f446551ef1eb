#!/usr/bin/env bash
# Indicator benchmark against a loaded database (DATABASE_URL): a cold report for one province and year, a cold
# ranking, then cached answers under 200 concurrent clients (wrk), with the server-side latency read from the
# gateway's own Prometheus histogram and the peak resident memory of the gateway process.
#   DATABASE_URL=postgres://…/dvc_bench scripts/bench-indicators.sh [UNIT] [YEAR] [RANK_LEVEL]
# Needs wrk (apt-get install wrk); the open-loop part runs when oha is installed (cargo install oha).
set -euo pipefail
cd "$(dirname "$0")/.."
unit=${1:-49}; year=${2:-2024}; level=${3:-DISTRICT}
cargo build --release --quiet
addr=127.0.0.1:18090
BIND_ADDR=$addr LOG_FORMAT=json RUST_LOG=warn target/release/dvc-gateway serve > /tmp/bench-indicators.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "http://$addr/healthz" >/dev/null && break; sleep 0.1; done

report="{\"query\":\"query Report { indicators(unitCode: \\\"$unit\\\", period: { year: $year }) { total grade groups { score metrics { numerator denominator score } } } }\",\"operationName\":\"Report\"}"
ranking="{\"query\":\"query Ranking { ranking(level: $level, parentCode: \\\"$unit\\\", period: { year: $year }) { rank unitCode total } }\",\"operationName\":\"Ranking\"}"
post() { curl -s -o /dev/null -w '%{time_total}' "http://$addr/graphql" -H 'content-type: application/json' -d "$1"; }

echo "cold report ($unit, $year): $(post "$report") s"
echo "warm report:               $(post "$report") s"
echo "cold ranking ($level in $unit): $(post "$ranking") s"

# Server-side latency of operation "Report" from the gateway's own cumulative histogram: "count bucket…".
hist() { curl -s "http://$addr/metrics" | awk -F'[{}" ]+' '
  /^graphql_request_duration_seconds_count\{operation="Report"\}/ { n = $NF }
  /^graphql_request_duration_seconds_bucket\{operation="Report"/ { le[++k] = $5; c[k] = $NF }
  END { printf "%d", n; for (i = 1; i <= k; i++) printf " %s:%d", le[i], c[i]; print "" }'; }
# The share of the requests between two readings that took at most each bucket bound.
delta() { awk -v a="$1" -v b="$2" 'BEGIN {
  na = split(a, x, " "); split(b, y, " "); n = y[1] - x[1]; printf "server side, %d requests:", n
  for (i = 2; i <= na; i++) { split(x[i], p, ":"); split(y[i], q, ":"); if (p[1] + 0 <= 0.1) printf " <=%ss %.2f%%", p[1], 100 * (q[2] - p[2]) / n }
  print "" }'; }

# 1. Closed loop: 200 clients sending as fast as the machine allows (wrk). Client and gateway share the two
#    cores, so this measures throughput at saturation, where every request mostly waits for the CPU.
printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$report" > /tmp/bench-report.lua
before=$(hist)
wrk -t2 -c200 -d15s --latency -s /tmp/bench-report.lua "http://$addr/graphql" | grep -E "Latency|50%|90%|99%|Requests/sec|Non-2xx"
delta "$before" "$(hist)"

# 2. Open loop: 200 connections at a fixed total rate (oha -q), below saturation: the latency a dashboard sees.
if command -v oha >/dev/null; then
  for rate in ${RATES:-1000 2000}; do
    before=$(hist)
    oha --no-tui -c 200 -q "$rate" -z 15s -m POST -H 'content-type: application/json' -d "$report" \
      "http://$addr/graphql" | grep -E "Requests/sec|99.00%|50.00%|\[200\]" | tr -s ' ' | tr '\n' ' '
    echo
    echo "  at $rate req/s: $(delta "$before" "$(hist)")"
  done
fi
echo "peak RSS of the gateway: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')"
