#!/usr/bin/env bash
# What a monthly series costs against one year's report, both computed cold by a fresh gateway, side by side.
#   bench/series.sh                   # ROUNDS=5 rounds on the full demo set (generated and imported once)
#
# Each round starts a fresh release gateway (default configuration: in-process cache, empty) on the same
# PostgreSQL database, asks one query that loads the unit tree (`units`), then times with curl, in alternating
# order from round to round:
#   year:   indicators(unitCode: "49", period: { year: 2024 })
#   series: indicatorSeries(unitCode: "49", from: "2023-01-01", to: "2026-01-01", step: MONTH)   (36 points)
# each on its own fresh gateway, so neither is served from the cache. It prints each time, the medians and the
# ratio series / year (the target: at most 2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scale=${SCALE:-1.0}
rounds=${ROUNDS:-5}
work=${WORK:-/tmp/dvc-bench}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=${SERIES_DB:-dvc_bench}
addr=127.0.0.1:18310
mkdir -p "$work"
if [ -n "${GATEWAY_BIN:-}" ]; then bin=$GATEWAY_BIN; else
  cargo build --release --locked --quiet
  bin=$root/target/release/dvc-gateway
fi
export JWT_SECRET=bench-suite-secret-0123456789-abcdefghij PII_KEY=bench-suite-pii-key-0123456789-abcdefghij
export RUST_LOG=warn

data=$work/demo-$scale.jsonl
[ -s "$data" ] || "$bin" generate --scale "$scale" > "$data"
if ! psql -Atq "$pg/$db" -c "SELECT 1 FROM dossier LIMIT 1" >/dev/null 2>&1; then
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  DATABASE_URL="$pg/$db" "$bin" import "$data" >/dev/null
fi
echo "data: $(psql -Atq "$pg/$db" -c "SELECT COUNT(*) FROM dossier") dossiers; $(nproc) cores; gateway $(git rev-parse --short HEAD)"

query() {
  curl -s -o "$work/series-answer.json" -w '%{time_total}' "http://$addr/graphql" \
    -H 'content-type: application/json' -d "$1"
}
# One cold computation on a fresh gateway: prints its seconds.
cold() {
  DATABASE_URL="$pg/$db" BIND_ADDR=$addr "$bin" serve > "$work/series-gateway.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
  query '{"query":"{ units(level: PROVINCE) { code } }"}' >/dev/null
  local t
  t=$(query "$1")
  if ! grep -q '"data"' "$work/series-answer.json" || grep -q '"errors"' "$work/series-answer.json"; then
    echo "the query failed: $(head -c 400 "$work/series-answer.json")" >&2
    kill "$pid"; exit 1
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$t"
}
year='{"query":"{ indicators(unitCode: \"49\", period: { year: 2024 }) { total } }"}'
series='{"query":"{ indicatorSeries(unitCode: \"49\", from: \"2023-01-01\", to: \"2026-01-01\", step: MONTH) { total } }"}'
ys=(); ss=()
for r in $(seq 1 "$rounds"); do
  if (( r % 2 )); then y=$(cold "$year"); s=$(cold "$series"); else s=$(cold "$series"); y=$(cold "$year"); fi
  ys+=("$y"); ss+=("$s")
  echo "round $r: year report $y s, 36-month series $s s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
my=$(median "${ys[@]}"); ms=$(median "${ss[@]}")
ratio=$(awk -v s="$ms" -v y="$my" 'BEGIN { printf "%.2f", s / y }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 2) ? "met" : "MISSED" }')
echo "median: year report $my s, 36-month series $ms s; series / year = $ratio (target <= 2: $verdict)"
