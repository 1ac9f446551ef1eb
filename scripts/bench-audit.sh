#!/usr/bin/env bash
# What recording reads in the audit trail costs the dossier lookup: the gateway as it is (every personal field
# returned is recorded) against the commit before the audit trail and the policy layer (BASE), side by side in
# one run, on the same data, each in its default configuration but for the database.
#   scripts/bench-audit.sh                       # SQLite files (the default configuration)
#   BACKEND=postgres scripts/bench-audit.sh      # PostgreSQL databases bench_audit_{base,head}
# The lookup: `dossier(code)` with the applicant's name, identity number and phone, by an officer of the province,
# cycling over 500 dossiers. Two loads per system, alternated over ROUNDS rounds: one client at a time (the
# latency of one lookup) and 32 concurrent clients (throughput; wrk and the gateway share the two cores).
# Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${BACKEND:-sqlite}
rounds=${ROUNDS:-3}
secs=${SECONDS_PER_RUN:-10}
added=$(git log --format=%H --diff-filter=A -1 -- src/audit.rs)
base=${BASE:-$(git rev-parse "$added^")}
work=${WORK:-/tmp/bench-audit}
mkdir -p "$work"

cargo build --release --quiet
if [ ! -x "$work/target-base/release/dvc-gateway" ] || [ "$(cat "$work/base.rev" 2>/dev/null)" != "$base" ]; then
  rm -rf "$work/base"
  git worktree remove --force "$work/base" 2>/dev/null || true
  git worktree add --detach "$work/base" "$base" >/dev/null
  (cd "$work/base" && CARGO_TARGET_DIR="$work/target-base" cargo build --release --quiet)
  echo "$base" > "$work/base.rev"
fi
declare -A bin=([head]=target/release/dvc-gateway [base]="$work/target-base/release/dvc-gateway")
export JWT_SECRET=bench-audit-secret-bench-audit-secret PII_KEY=bench-audit-pii-key-bench-audit-pii RUST_LOG=warn

[ -s "$work/data.jsonl" ] || "${bin[head]}" generate --scale 0.05 > "$work/data.jsonl"
awk -F'"' '/^[{]"type":"dossier","code":"/ && n < 500 { print $8; n++ }' "$work/data.jsonl" > "$work/codes"

url_of() {
  if [ "$backend" = postgres ]; then echo "postgres://postgres@127.0.0.1:5432/bench_audit_$1"; else echo "sqlite://$work/$1.db?mode=rwc"; fi
}
declare -A port=([head]=18191 [base]=18192) pid=()
for sys in base head; do
  if [ "$backend" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS bench_audit_$sys" -c "CREATE DATABASE bench_audit_$sys" postgres
  else
    rm -f "$work/$sys.db"*
  fi
  DATABASE_URL=$(url_of $sys) "${bin[$sys]}" import "$work/data.jsonl" 2>&1 | tail -1
  DATABASE_URL=$(url_of $sys) BIND_ADDR=127.0.0.1:${port[$sys]} "${bin[$sys]}" serve > "$work/$sys.log" 2>&1 &
  pid[$sys]=$!
done
trap 'kill ${pid[head]} ${pid[base]} 2>/dev/null' EXIT
for sys in base head; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${port[$sys]}/healthz" >/dev/null && break; sleep 0.1; done
done

token=$("${bin[head]}" token --role OFFICER --unit 49 --sub bench-officer)
{
  echo 'local codes = {}'
  while read -r c; do echo "codes[#codes + 1] = \"$c\""; done < "$work/codes"
  cat <<LUA
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
request = function()
  i = i % #codes + 1
  local q = '{"query":"{ dossier(code: \\\\"' .. codes[i] .. '\\\\") { code status applicant { name idNumberMasked phoneMasked } } }"}'
  return wrk.format(nil, nil, nil, q)
end
LUA
} > "$work/lookup.lua"
# Every answer must carry the applicant (a refused token or an error would make the benchmark meaningless).
for sys in base head; do
  answer=$(curl -s "http://127.0.0.1:${port[$sys]}/graphql" -H 'content-type: application/json' -H "authorization: Bearer $token" \
    -d "{\"query\":\"{ dossier(code: \\\"$(head -1 "$work/codes")\\\") { applicant { name } } }\"}")
  echo "$answer" | grep -q '"name"' || { echo "$sys does not answer the lookup: $answer"; exit 1; }
done

run() { # system connections → "requests/s p50_ms p99_ms"
  wrk -t"$([ "$2" = 1 ] && echo 1 || echo 2)" -c"$2" -d"${secs}s" --latency -s "$work/lookup.lua" \
    "http://127.0.0.1:${port[$1]}/graphql" | awk '
      /Requests\/sec/ { rps = $2 }
      /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
      /Non-2xx/ { bad = $NF }
      function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; if (x ~ /s$/) return x * 1000; return x }
      END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 } printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}
declare -A results
for r in $(seq 1 "$rounds"); do
  for c in 1 32; do
    for sys in base head; do
      results[$sys,$c]+="$(run $sys $c);"
    done
  done
done
median() { tr ';' '\n' | grep . | awk -v k="$1" '{ print $k }' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "backend $backend, base $(git rev-parse --short "$base"), head $(git rev-parse --short HEAD), $rounds rounds of ${secs}s, medians"
printf '%-14s %12s %12s %12s %10s\n' load system "requests/s" "p50 ms" "p99 ms"
for c in 1 32; do
  for sys in base head; do
    printf '%-14s %12s %12s %12s %10s\n' "$c client(s)" "$sys" "$(echo "${results[$sys,$c]}" | median 1)" \
      "$(echo "${results[$sys,$c]}" | median 2)" "$(echo "${results[$sys,$c]}" | median 3)"
  done
  awk -v h="$(echo "${results[head,$c]}" | median 1)" -v b="$(echo "${results[base,$c]}" | median 1)" \
    -v hl="$(echo "${results[head,$c]}" | median 2)" -v bl="$(echo "${results[base,$c]}" | median 2)" \
    'BEGIN { printf "%-14s head/base: throughput %.3f, median latency %.3f\n", "", h / b, hl / bl }'
done
echo "every round: base ${results[base,1]} ${results[base,32]} | head ${results[head,1]} ${results[head,32]}"
# The head recorded what it returned: one audit event per lookup.
curl -s "http://127.0.0.1:${port[head]}/graphql" -H 'content-type: application/json' \
  -H "authorization: Bearer $("${bin[head]}" token --role ADMIN --unit VN --sub bench-admin)" \
  -d '{"query":"{ auditEvents(filter: { operation: \"dossier\" }, first: 1) { edges { node { subject fields } } } }"}'
echo
