#!/usr/bin/env bash
# Before and after a change that must not move any figure (a reshaping): the gateway at BASE and at HEAD, side by
# side in one run, on the same generated data, each in its default configuration but for the database.
#   scripts/bench-before-after.sh BASE
# For each system, alternated over ROUNDS rounds:
#   - import of the demo set scaled to SCALE (default 400,000 dossiers) into a fresh SQLite file and a fresh
#     PostgreSQL database (wall time and peak memory, /usr/bin/time);
#   - against that PostgreSQL database: a cold province-year report, a cold district ranking, and cached
#     report answers under 64 connections for SECONDS_PER_RUN seconds (wrk: requests/s, p50, p99).
# Prints each figure and the ratio HEAD / BASE. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(git rev-parse "${1:?usage: $0 BASE}")
rounds=${ROUNDS:-1}
secs=${SECONDS_PER_RUN:-15}
scale=${SCALE:-1.0246}
work=${WORK:-/tmp/bench-before-after}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$work"

cargo build --release --quiet
if [ ! -x "$work/target-base/release/dvc-gateway" ] || [ "$(cat "$work/base.rev" 2>/dev/null)" != "$base" ]; then
  git worktree remove --force "$work/base" 2>/dev/null || rm -rf "$work/base"
  git worktree add --detach "$work/base" "$base" >/dev/null
  (cd "$work/base" && CARGO_TARGET_DIR="$work/target-base" cargo build --release --quiet)
  echo "$base" > "$work/base.rev"
fi
declare -A bin=([head]=target/release/dvc-gateway [base]="$work/target-base/release/dvc-gateway")
export JWT_SECRET=bench-before-after-secret-0123456789 PII_KEY=bench-before-after-pii-key-0123456789 RUST_LOG=warn

[ -s "$work/data-$scale.jsonl" ] || "${bin[head]}" generate --scale "$scale" > "$work/data-$scale.jsonl"
data="$work/data-$scale.jsonl"
echo "data: $(wc -l < "$data") lines, $(grep -c '"type":"dossier"' "$data") dossiers; base $base, head $(git rev-parse HEAD)"

declare -A fig=()
add() { fig[$1]="${fig[$1]:-} $2"; }
# The median of a list of numbers.
median() { tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

import() {
  local sys=$1 name=$2 url=$3 out
  out=$( { /usr/bin/time -f "TIME %e %M" env DATABASE_URL="$url" "${bin[$sys]}" import "$data" >/dev/null; } 2>&1 | grep TIME)
  add "$sys.import_$name.s" "$(awk '{print $2}' <<< "$out")"
  add "$sys.import_$name.MB" "$(awk '{print $3 / 1024}' <<< "$out")"
}

serve() {
  local sys=$1 url=$2 addr=127.0.0.1:18290
  BIND_ADDR=$addr DATABASE_URL=$url "${bin[$sys]}" serve > "$work/$sys.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
  local report='{"query":"query Report { indicators(unitCode: \"49\", period: { year: 2024 }) { total grade groups { score metrics { numerator denominator score } } } }","operationName":"Report"}'
  local ranking='{"query":"query Ranking { ranking(level: DISTRICT, parentCode: \"49\", period: { year: 2024 }) { rank unitCode total } }","operationName":"Ranking"}'
  post() { curl -s -o /dev/null -w '%{time_total}' "http://$addr/graphql" -H 'content-type: application/json' -d "$1"; }
  add "$sys.cold_report.s" "$(post "$report")"
  add "$sys.cold_ranking.s" "$(post "$ranking")"
  printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$report" > "$work/report.lua"
  local w
  w=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$work/report.lua" "http://$addr/graphql")
  add "$sys.cached_report.req_per_s" "$(awk '/Requests\/sec/ { print $2 }' <<< "$w")"
  ms() { awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v }' <<< "$w"; }
  add "$sys.cached_report.p50_ms" "$(ms 50%)"
  add "$sys.cached_report.p99_ms" "$(ms 99%)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq 1 "$rounds"); do
  for sys in base head; do
    echo "round $round: $sys" >&2
    rm -f "$work/$sys.db"*
    import "$sys" sqlite "sqlite://$work/$sys.db?mode=rwc"
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS bench_ba_$sys" -c "CREATE DATABASE bench_ba_$sys"
    import "$sys" postgres "$pg/bench_ba_$sys"
    serve "$sys" "$pg/bench_ba_$sys"
  done
done

printf '%-32s %12s %12s %8s\n' figure base head ratio
for key in import_sqlite.s import_sqlite.MB import_postgres.s import_postgres.MB cold_report.s cold_ranking.s \
  cached_report.req_per_s cached_report.p50_ms cached_report.p99_ms; do
  b=$(median "${fig[base.$key]}"); h=$(median "${fig[head.$key]}")
  printf '%-32s %12s %12s %8s\n' "$key" "$b" "$h" "$(awk -v b="$b" -v h="$h" 'BEGIN { if (b > 0) printf "%.2f", h / b; else print "-" }')"
done
