#!/usr/bin/env bash
# Soak: the release gateway on PostgreSQL with Redis under mixed load for SOAK_SECONDS (default 600): public
# lookups (50 %), an officer's dossier list (20 %), hotline writes (10 %), a cached report (10 %) and quarter
# rankings (10 %) from wrk at 32 connections, beside 20 WebSocket subscribers; the gateway's resident memory is
# sampled every 10 s. Passes when no answer carries an error and memory stays under 200 MB and flat (the last
# sample within 20 MB of the one a minute in). Rate limits are off: all the load comes from one address.
#   scripts/soak.sh            # needs wrk, python3, psql, a PostgreSQL and a Redis
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SOAK_SECONDS:-600}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
work=${WORK:-/tmp/soak}
mkdir -p "$work"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/dvc-gateway
export JWT_SECRET=soak-secret-soak-secret-soak-secret PII_KEY=soak-pii-key-soak-pii-key-soak-pii RUST_LOG=warn
export DATABASE_URL="$pg/dvc_soak" REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} REDIS_PREFIX="soak-$$"
export RATE_PUBLIC_PER_MINUTE=0 RATE_SUBJECT_PER_MINUTE=0 RATE_AUTH_FAILURES_PER_MINUTE=0
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS dvc_soak WITH (FORCE)" -c "CREATE DATABASE dvc_soak"
[ -s "$work/data.jsonl" ] || $bin generate --scale 0.05 > "$work/data.jsonl"
$bin import "$work/data.jsonl" > /dev/null
awk -F'"' '/^[{]"type":"dossier","code":"/ { print $8 }' "$work/data.jsonl" | shuf -n 5000 --random-source=<(yes) > "$work/codes"
export SOAK_CODES="$work/codes"
SOAK_OFFICER=$($bin token --role OFFICER --unit 49 --sub soak-officer --ttl $((secs + 600)))
SOAK_HOTLINE=$($bin token --role HOTLINE --unit 49 --sub soak-hotline --ttl $((secs + 600)))
export SOAK_OFFICER SOAK_HOTLINE
addr=127.0.0.1:18391
BIND_ADDR=$addr $bin serve > "$work/gateway.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 300); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done

rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' /proc/$pid/status; }
( for _ in $(seq 1 $((secs / 10))); do sleep 10; echo "$(rss)"; done ) > "$work/rss" &
python3 scripts/soak_ws.py "$addr" 20 "$secs" "$(head -1 "$work/codes")" > "$work/ws" &
ws=$!
wrk -t2 -c32 -d"${secs}s" --latency -s scripts/soak.lua "http://$addr/graphql" | tee "$work/wrk"
wait $ws
cat "$work/ws"
sleep 1
samples=$(tr '\n' ' ' < "$work/rss")
echo "resident memory every 10 s (MB): $samples"
awk -v w="$(grep -o 'with errors: [0-9]*' "$work/wrk" | grep -o '[0-9]*$')" -v s="$(grep -o '[0-9]* errors' "$work/ws" | grep -o '^[0-9]*')" '
  { a[NR] = $1; if ($1 > max) max = $1 }
  END {
    drift = a[NR] - a[NR > 6 ? 6 : 1]
    printf "peak %.1f MB, drift after the first minute %+.1f MB\n", max, drift
    ok = (w == 0 && s == 0 && max < 200 && drift < 20)
    print ok ? "soak: PASS" : "soak: FAIL"
    exit ok ? 0 : 1
  }' "$work/rss"
