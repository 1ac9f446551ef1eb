#!/usr/bin/env bash
# Import benchmark (issue: 400,000 dossiers with their receipts and feedback in under 60 s, peak memory under
# 300 MB, on SQLite and on PostgreSQL). Builds the release binary, generates the Quảng Nam demo set scaled to
# 400,000 dossiers, and imports it into a fresh SQLite file and a fresh PostgreSQL database, timing each with
# /usr/bin/time (wall clock and maximum resident set size).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/dvc-gateway
work=${BENCH_DIR:-$(mktemp -d)}
scale=${SCALE:-1.0246}   # 390,402 × 1.0246 ≈ 400,000 dossiers
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
# `import` refuses the development keys; the bench seals its data with keys of its own unless given others.
export JWT_SECRET=${JWT_SECRET:-bench-suite-secret-0123456789-abcdefghij}
export PII_KEY=${PII_KEY:-bench-suite-pii-key-0123456789-abcdefghij}

$bin generate --scale "$scale" > "$work/data.jsonl"
echo "file: $(wc -l < "$work/data.jsonl") lines, $(du -h "$work/data.jsonl" | cut -f1)"
grep -c '"type":"dossier"' "$work/data.jsonl" | sed 's/^/dossiers: /'

run() {
  local name=$1 url=$2
  /usr/bin/time -f "$name: %e s wall, %M KB max RSS" env DATABASE_URL="$url" $bin import "$work/data.jsonl" \
    > "$work/$name.out" 2>&1 || { cat "$work/$name.out" >&2; echo "$name: the import failed" >&2; exit 1; }
  grep -E "lines:|wall" "$work/$name.out"
}

rm -f "$work/bench.db"*
run sqlite "sqlite://$work/bench.db?mode=rwc"

psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS dvc_bench" -c "CREATE DATABASE dvc_bench"
run postgres "$pg/dvc_bench"
