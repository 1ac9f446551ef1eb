#!/usr/bin/env bash
# The gateway side by side with PostGraphile 4.14.1 and pgbench on one PostgreSQL database, in one run.
#   bench/run.sh                      # everything (about 20 minutes on 2 cores)
#   PARTS="status cached" bench/run.sh   # some parts only (names in the table below); the data is reused
#
# What it does:
#   1. builds the release gateway; installs PostGraphile from bench/package-lock.json (npm ci); needs wrk and
#      pgbench (Debian packages) and oha (cargo install oha --locked) for the open loop;
#   2. generates the demo data set at SCALE (default 1.0, the full published volume), imports it into a fresh
#      database (timed: the import part) and loads the same rows with COPY into a second fresh database with the
#      same tables and indexes (timed: the copy part);
#   3. starts the gateway (release build, default configuration but for the two rate limits, raised because the
#      load comes from one address; the limiter still counts every request) and PostGraphile (its production
#      options: no query log, two cluster workers, one per core) on the database of step 2;
#   4. per part: WARMUP seconds of the same load, then SECONDS of measurement, closed loop with CONNECTIONS
#      connections (wrk, pgbench) and open loop at each of RATES requests/s (oha with latency correction,
#      pgbench --rate; latency counted from the moment a request was due, so a stalled server is not hidden);
#   5. prints requests/s, p50 and p99 per part and system, the ratios the targets name, and "met" or "MISSED".
# Results go to standard output and to $WORK/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scale=${SCALE:-1.0}
secs=${SECONDS_PER_PART:-20}
warm=${WARMUP:-5}
conns=${CONNECTIONS:-64}
rates=${RATES:-1000 4000}
work=${WORK:-/tmp/dvc-bench}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=${BENCH_DB:-dvc_bench}
parts=${PARTS:-import copy report typename typename_nolog status nested page cached feedback ranking}
gw_addr=127.0.0.1:18300
gw_nolog_addr=127.0.0.1:18301
pgl_addr=127.0.0.1:18302
mkdir -p "$work"
out="$work/results.txt"
: > "$out"
say() { echo "$*" | tee -a "$out"; }
want() { [[ " $parts " == *" $1 "* ]]; }
for tool in wrk pgbench psql npm curl; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
command -v oha >/dev/null || cargo install oha --locked
[ -x /usr/bin/time ] || { echo "bench needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

# GATEWAY_BIN: measure that binary instead of building this checkout (for a before/after comparison).
if [ -n "${GATEWAY_BIN:-}" ]; then bin=$GATEWAY_BIN; else
  cargo build --release --locked --quiet
  bin=$root/target/release/dvc-gateway
fi
if [ ! -d bench/node_modules/postgraphile ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  (cd bench && npm ci --no-audit --no-fund --loglevel=error)
fi
export JWT_SECRET=bench-suite-secret-0123456789-abcdefghij PII_KEY=bench-suite-pii-key-0123456789-abcdefghij
export RATE_PUBLIC_PER_MINUTE=1000000000 RATE_SUBJECT_PER_MINUTE=1000000000

# pgbench's 64 connections beside the gateway's and PostGraphile's pools need more than PostgreSQL's default 100.
if [ "$(psql -Atq "$pg/postgres" -c "SHOW max_connections")" -lt 200 ]; then
  echo "raising PostgreSQL's max_connections to 200 (ALTER SYSTEM, restart)" >&2
  psql -q "$pg/postgres" -c "ALTER SYSTEM SET max_connections = 200"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main restart
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -q && break; sleep 0.5; done
fi

# --- data -------------------------------------------------------------------------------------------------------
data=$work/data-$scale.jsonl
[ -s "$data" ] || "$bin" generate --scale "$scale" > "$data"
say "data: $(wc -l < "$data") lines, $(grep -c '"type":"dossier"' "$data") dossiers (generate --scale $scale); $(nproc) cores; gateway $(git rev-parse --short HEAD)"

# Seconds and peak MB of a command, as "s MB".
timed() { { /usr/bin/time -f "TIMED %e %M" "$@" >/dev/null 2>"$work/timed.err"; } 2>&1; grep TIMED "$work/timed.err" | awk '{ printf "%s %.0f", $2, $3 / 1024 }'; }
fresh_db() { psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }

declare -A fig=()
if want import || ! psql -Atq "$pg/$db" -c "SELECT 1 FROM dossier LIMIT 1" >/dev/null 2>&1; then
  fresh_db "$db"
  read -r s mb <<< "$(timed env DATABASE_URL="$pg/$db" RUST_LOG=warn "$bin" import "$data")"
  fig[import.s]=$s; fig[import.mb]=$mb
  dossiers=$(psql -Atq "$pg/$db" -c "SELECT count(*) FROM dossier")
  say "import: $s s, peak $mb MB, $dossiers dossiers in the database"
  psql -q "$pg/$db" -c "VACUUM ANALYZE"
fi

if want copy; then
  # The same rows, table by table in the order of their foreign keys, into the same tables with their indexes
  # (migrated, then emptied), with COPY FROM STDIN in one transaction.
  tables=$(psql -Atq "$pg/$db" <<'SQL'
WITH RECURSIVE fk AS (
  SELECT c.conrelid::regclass::text AS t, c.confrelid::regclass::text AS ref FROM pg_constraint c
  WHERE c.contype = 'f' AND c.conrelid <> c.confrelid AND c.connamespace = 'public'::regnamespace),
tables AS (SELECT relname::text AS t FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace
           AND relname NOT IN ('seaql_migrations', 'audit_event') AND NOT relispartition),
depth(t, d) AS (SELECT t, 0 FROM tables UNION ALL SELECT fk.t, depth.d + 1 FROM fk JOIN depth ON fk.ref = depth.t)
SELECT t FROM depth GROUP BY t ORDER BY max(d), t;
SQL
)
  mkdir -p "$work/copy"
  : > "$work/copy.sql"
  for t in $tables; do
    psql -q "$pg/$db" -c "\\copy (SELECT * FROM $t ORDER BY 1) TO '$work/copy/$t.tsv'"
    echo "\\copy $t FROM '$work/copy/$t.tsv'" >> "$work/copy.sql"
  done
  fresh_db "${db}_copy"
  DATABASE_URL="$pg/${db}_copy" RUST_LOG=warn "$bin" migrate
  psql -q "$pg/${db}_copy" -c "TRUNCATE $(echo $tables | tr ' ' ',') CASCADE"
  read -r s mb <<< "$(timed psql -q -v ON_ERROR_STOP=1 -1 -f "$work/copy.sql" "$pg/${db}_copy")"
  fig[copy.s]=$s
  say "copy: $s s ($(du -sh "$work/copy" | cut -f1) of rows in $(echo $tables | wc -w) tables)"
  psql -q "$pg/postgres" -c "DROP DATABASE ${db}_copy WITH (FORCE)"
fi

# --- servers ----------------------------------------------------------------------------------------------------
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_up() { for _ in $(seq 1 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }
start_gateway() { # address, log file, extra env...
  local addr=$1 log=$2; shift 2
  env BIND_ADDR="$addr" DATABASE_URL="$pg/$db" "$@" "$bin" serve 2> "$log" &
  last_pid=$!
  pids+=("$last_pid")
  wait_up "http://$addr/readyz"
}
start_gateway "$gw_addr" "$work/gateway.log"
gw_pid=$last_pid
(cd bench && exec node_modules/.bin/postgraphile -c "$pg/$db" --host 127.0.0.1 --port "${pgl_addr##*:}" \
  --disable-query-log --cluster-workers 2 > "$work/postgraphile.log" 2>&1) &
pids+=($!)
wait_up "http://$pgl_addr/graphql"

codes=$work/codes.txt
psql -Atq "$pg/$db" -c "SELECT code FROM dossier ORDER BY random() LIMIT 20000" > "$codes"
psql -q "$pg/$db" <<SQL
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.code (n int PRIMARY KEY, code text NOT NULL);
\\copy bench.code (code, n) FROM PROGRAM 'awk ''{ print \$0 "\t" NR }'' $codes'
ANALYZE bench.code;
SQL
officer=$("$bin" token --role OFFICER --unit 49 --sub bench-officer --ttl 86400)
hotline=$("$bin" token --role HOTLINE --unit 49 --sub bench-hotline --ttl 86400)

# --- load -------------------------------------------------------------------------------------------------------
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0; else if (v ~ /s$/) printf "%.2f", v * 1000; else print v }'; }
declare -a rows=()
row() { # part system mode rps p50 p99 errors
  rows+=("$(printf '%-16s %-12s %-10s %10s %9s %9s %7s' "$@")")
  fig[$1.$2.$3.rps]=$4; fig[$1.$2.$3.p50]=$5; fig[$1.$2.$3.p99]=$6
  printf '  %-16s %-12s %-10s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s\n' "$@" >&2
}
# One request, which must answer without errors, before a part is measured.
check() { # url body token
  local r
  r=$(curl -s "$1" -H 'content-type: application/json' ${3:+-H "authorization: Bearer $3"} -d "$2")
  if [[ "$r" == *'"errors"'* ]] || [[ "$r" != *'"data"'* ]]; then echo "check failed for $2: $r" >&2; exit 1; fi
}
closed() { # part system url body(%s: a random code) [token]
  local part=$1 sys=$2 url=$3 body=$4 token=${5:-}
  check "$url" "${body/\%s/$(head -1 "$codes")}" "$token"
  BODY=$body CODES=$( [[ "$body" == *%s* ]] && echo "$codes" ) TOKEN=$token \
    wrk -t2 -c"$conns" -d"${warm}s" -s bench/random.lua "$url" > /dev/null
  local w
  w=$(BODY=$body CODES=$( [[ "$body" == *%s* ]] && echo "$codes" ) TOKEN=$token \
    wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/random.lua "$url")
  row "$part" "$sys" closed "$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<< "$w")" \
    "$(ms "$(awk '$1 == "50%" { print $2 }' <<< "$w")")" "$(ms "$(awk '$1 == "99%" { print $2 }' <<< "$w")")" \
    "$(awk '/non_2xx/ { n = $2 } /Socket errors/ { n += 1 } END { print n + 0 }' <<< "$w")"
}
# oha draws no random bodies: the open loop posts one body (for lookups, one real code; the database's index
# pages are hot either way at these rates).
open() { # part system url body [token]
  local part=$1 sys=$2 url=$3 body=${4/\%s/$(head -1 "$codes")} token=${5:-} rate
  for rate in $rates; do
    local args=(--no-tui -c "$conns" -q "$rate" --latency-correction -m POST
      -H 'content-type: application/json' -d "$body")
    [ -n "$token" ] && args+=(-H "authorization: Bearer $token")
    oha "${args[@]}" -z "${warm}s" "$url" > /dev/null
    local o
    o=$(oha "${args[@]}" -z "${secs}s" --output-format json "$url")
    row "$part" "$sys" "open$rate" \
      "$(jq -r '.summary.requestsPerSec | floor' <<< "$o")" \
      "$(jq -r '.latencyPercentiles.p50 * 1000 | . * 100 | round / 100' <<< "$o")" \
      "$(jq -r '.latencyPercentiles.p99 * 1000 | . * 100 | round / 100' <<< "$o")" \
      "$(jq -r '[.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0' <<< "$o")"
  done
}
pgbench_part() { # part sql-file
  local part=$1 file=$2 rate pct
  pct() { sort -n "$work"/pgb.* -k1,1 | awk -v n="$(cat "$work"/pgb.* | wc -l)" '
    NR == int(n * 0.5) { p50 = $1 } NR == int(n * 0.99) { p99 = $1 } END { printf "%.2f %.2f", p50 / 1000, p99 / 1000 }'; }
  local common=(-n -M prepared -c "$conns" -j 2 -f "$file" "$pg/$db")
  pgbench "${common[@]}" -T "$warm" > /dev/null 2>&1
  rm -f "$work"/pgb*
  local r
  r=$(cd "$work" && pgbench "${common[@]}" -T "$secs" -l --log-prefix=pgbraw 2>&1)
  awk '{ print $3 }' "$work"/pgbraw* > "$work/pgb.lat"; rm -f "$work"/pgbraw*
  read -r p50 p99 <<< "$(pct)"
  row "$part" pgbench closed "$(awk '/^tps/ { printf "%.0f", $3 }' <<< "$r")" "$p50" "$p99" \
    "$(awk '/failed transactions/ { print $5 }' <<< "$r")"
  for rate in $rates; do
    pgbench "${common[@]}" -T "$warm" -R "$rate" > /dev/null 2>&1
    r=$(cd "$work" && pgbench "${common[@]}" -T "$secs" -R "$rate" -l --log-prefix=pgbraw 2>&1)
    # With --rate the log carries the schedule lag (7th field): the latency from the moment it was due.
    awk '{ print $3 + $7 }' "$work"/pgbraw* > "$work/pgb.lat"; rm -f "$work"/pgbraw*
    read -r p50 p99 <<< "$(pct)"
    row "$part" pgbench "open$rate" "$(awk '/^tps/ { printf "%.0f", $3 }' <<< "$r")" "$p50" "$p99" \
      "$(awk '/failed transactions/ { print $5 }' <<< "$r")"
  done
  rm -f "$work/pgb.lat"
}

gw=http://$gw_addr/graphql
pgl=http://$pgl_addr/graphql
status='{"query":"query Status($c: String!) { dossierStatus(code: $c) { status dueAt } }","variables":{"c":"%s"},"operationName":"Status"}'
status_pgl='{"query":"query Status($c: String!) { dossierByCode(code: $c) { status dueAt } }","variables":{"c":"%s"},"operationName":"Status"}'
nested='{"query":"query Nested($c: String!) { dossier(code: $c) { code status receivedAt dueAt receipts { number series amount status issuedAt } feedback { code kind receivedAt answeredAt } } }","variables":{"c":"%s"},"operationName":"Nested"}'
nested_pgl='{"query":"query Nested($c: String!) { dossierByCode(code: $c) { code status receivedAt dueAt receiptsByDossierId { nodes { number series amount status issuedAt } } feedbacksByDossierId { nodes { code kind receivedAt answeredAt } } } }","variables":{"c":"%s"},"operationName":"Nested"}'
page='{"query":"query Page { dossiers(first: 20) { edges { node { code status receivedAt dueAt } } pageInfo { hasNextPage endCursor } } }","operationName":"Page"}'
cached='{"query":"query Report { indicators(unitCode: \"49\", period: { year: 2024 }) { total } }","operationName":"Report"}'
typename='{"query":"{ __typename }"}'
feedback='{"query":"mutation Record { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: \"49\", content: \"bench\" }) { code } }","operationName":"Record"}'
ranking='{"query":"query Ranking { ranking(level: DISTRICT, parentCode: \"49\", period: { year: 2024 }) { rank unitCode total } }","operationName":"Ranking"}'
report_full='{"query":"query Report { indicators(unitCode: \"49\", period: { year: 2024 }) { total groups { metrics { key numerator denominator } } } }","operationName":"Report"}'

post_time() { curl -s -o "$work/answer.json" -w '%{time_total}' "$1" -H 'content-type: application/json' -d "$2"; }
median() { tr ' ' '\n' <<< "$*" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
restart_gateway() { kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; start_gateway "$gw_addr" "$work/gateway.log"; gw_pid=$last_pid; }

if want report; then
  # A cold report (a fresh gateway, nothing cached) and bench/report.sql, which computes the same counts straight
  # from the tables, alternated three times; the counts of both must be equal.
  g=() h=()
  for _ in 1 2 3; do
    restart_gateway
    g+=("$(post_time "$gw" "$report_full")")
    h+=("$( { /usr/bin/time -f "%e" psql -Atq -F ' ' -v ON_ERROR_STOP=1 -f bench/report.sql "$pg/$db" > "$work/report.sql.out"; } 2>&1 )")
  done
  sort "$work/report.sql.out" -o "$work/report.sql.out"
  jq -r '.data.indicators.groups[].metrics[] | "\(.key) \(.numerator) \(.denominator)"' "$work/answer.json" |
    awk 'NR == FNR { k[$1]; next } $1 in k' "$work/report.sql.out" - | sort > "$work/report.gateway.out"
  if ! diff "$work/report.gateway.out" "$work/report.sql.out" > "$work/report.diff"; then
    say "report: the gateway's counts and bench/report.sql's differ:"; cat "$work/report.diff" | tee -a "$out"; exit 1
  fi
  fig[report.gateway]=$(median "${g[@]}"); fig[report.sql]=$(median "${h[@]}")
  say "cold report (49, 2024): gateway ${g[*]} s, bench/report.sql ${h[*]} s (same $(wc -l < "$work/report.sql.out") counts)"
  restart_gateway
  r=$(post_time "$gw" "$ranking")
  say "cold ranking (districts of 49, 2024, fresh gateway): $r s"
fi

want typename && { closed typename gateway "$gw" "$typename"; open typename gateway "$gw" "$typename"; }
if want typename_nolog; then
  start_gateway "$gw_nolog_addr" "$work/gateway-nolog.log" RUST_LOG=warn
  closed typename_nolog gateway "http://$gw_nolog_addr/graphql" "$typename"
  kill "$last_pid"
fi
if want status; then
  closed status gateway "$gw" "$status"
  closed status postgraphile "$pgl" "$status_pgl"
  cat > "$work/point.sql" <<'SQL'
\set n random(1, 20000)
SELECT status, due_at FROM dossier WHERE code = (SELECT code FROM bench.code WHERE n = :n);
SQL
  pgbench_part status "$work/point.sql"
  open status gateway "$gw" "$status"
  open status postgraphile "$pgl" "$status_pgl"
fi
if want nested; then
  closed nested gateway "$gw" "$nested" "$officer"
  closed nested postgraphile "$pgl" "$nested_pgl"
fi
want page && closed page gateway "$gw" "$page" "$officer"
# The gateway's own histogram: how many Report answers took at most 2 ms, between two readings.
within_2ms() { curl -s "http://$gw_addr/metrics" | awk -F'[{}" ]+' '
  /^graphql_request_duration_seconds_count\{operation="Report"\}/ { n = $NF }
  /^graphql_request_duration_seconds_bucket\{operation="Report",le="0.002"\}/ { w = $NF }
  END { print n + 0, w + 0 }'; }
if want cached; then
  closed cached gateway "$gw" "$cached"
  for rate in $rates; do
    read -r n0 w0 <<< "$(within_2ms)"
    rates=$rate open cached gateway "$gw" "$cached"
    read -r n1 w1 <<< "$(within_2ms)"
    share=$(awk -v n=$((n1 - n0)) -v w=$((w1 - w0)) 'BEGIN { printf "%.2f", 100 * w / n }')
    fig[cached.server.open$rate.within2ms]=$share
    echo "  cached at $rate req/s: $share % of $((n1 - n0)) answers within 2 ms at the server (warm-up included)" >&2
  done
fi
want feedback && closed feedback gateway "$gw" "$feedback" "$hotline"
want ranking && closed ranking gateway "$gw" "$ranking"

# --- results ----------------------------------------------------------------------------------------------------
say ""
say "$(printf '%-16s %-12s %-10s %10s %9s %9s %7s' part system mode 'req/s' 'p50 ms' 'p99 ms' errors)"
for r in "${rows[@]}"; do say "$r"; done
say ""
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else print "-" }'; }
target() { # label value op bound
  local verdict=MISSED
  awk -v v="$2" -v b="$4" -v op="$3" 'BEGIN { exit !((op == ">=" && v >= b) || (op == "<=" && v <= b) || (op == "<" && v < b)) }' 2>/dev/null && verdict=met
  [ "$2" = "-" ] && verdict="not measured"
  say "$(printf '%-62s %8s  (target %s %s) %s' "$1" "$2" "$3" "$4" "$verdict")"
}
target "dossierStatus: gateway / PostGraphile (closed)" "$(ratio "${fig[status.gateway.closed.rps]:-}" "${fig[status.postgraphile.closed.rps]:-}")" ">=" 2
target "dossierStatus: gateway / pgbench point select (closed)" "$(ratio "${fig[status.gateway.closed.rps]:-}" "${fig[status.pgbench.closed.rps]:-}")" ">=" 0.6
target "nested dossier: gateway / PostGraphile (closed)" "$(ratio "${fig[nested.gateway.closed.rps]:-}" "${fig[nested.postgraphile.closed.rps]:-}")" ">=" 2
target "cached indicators / { __typename } (closed)" "$(ratio "${fig[cached.gateway.closed.rps]:-}" "${fig[typename.gateway.closed.rps]:-}")" ">=" 0.8
target "cached indicators at 1,000 req/s: % within 2 ms at the server" "${fig[cached.server.open1000.within2ms]:--}" ">=" 99
target "cached indicators at 1,000 req/s: p99 at the client (ms)" "${fig[cached.gateway.open1000.p99]:--}" "<" 2
target "access log on / off, { __typename } (closed)" "$(ratio "${fig[typename.gateway.closed.rps]:-}" "${fig[typename_nolog.gateway.closed.rps]:-}")" ">=" 0.9
target "import speed / COPY speed" "$(ratio "${fig[copy.s]:-}" "${fig[import.s]:-}")" ">=" 0.35
target "import time (s)" "${fig[import.s]:--}" "<" 60
target "cold report / bench/report.sql" "$(ratio "${fig[report.gateway]:-}" "${fig[report.sql]:-}")" "<=" 1.5
