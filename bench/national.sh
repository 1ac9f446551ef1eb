#!/usr/bin/env bash
# National scale: the ranking of 34 provinces for 2024, cold, at 10 and 20 million dossiers.
#   bench/national.sh                  # SIZES="10 20" (millions of dossiers); ROUNDS=3
#   BUILD_ONLY=1 bench/national.sh     # make the databases only
# For each size: the demo province (Quảng Nam) generated at the volume of one province in 34, imported into a
# fresh database, then copied in SQL 33 times as provinces P01…P33, each with its own departments, districts,
# communes, dossier codes and ids, receipts, feedback and summaries (the summaries are a function of the rows and
# are copied with them). The database is kept between runs (dvc_national_<size>m) and made again only when its
# dossier count is not the expected one.
# Then, ROUNDS times: PostgreSQL restarted with the kernel's page cache dropped (when this machine lets us), a
# fresh gateway, and the ranking timed; once more with a fresh gateway on a warm PostgreSQL, and warm.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-10 20}
rounds=${ROUNDS:-3}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
work=${WORK:-/tmp/dvc-national}
addr=127.0.0.1:18320
mkdir -p "$work"
if [ -n "${GATEWAY_BIN:-}" ]; then bin=$GATEWAY_BIN; else
  cargo build --release --locked --quiet
  bin=$PWD/target/release/dvc-gateway
fi
export JWT_SECRET=bench-suite-secret-0123456789-abcdefghij PII_KEY=bench-suite-pii-key-0123456789-abcdefghij
export RUST_LOG=warn
copies=33

build() { # db scale
  local db=$1 scale=$2 start
  "$bin" generate --scale "$scale" > "$work/base-$scale.jsonl"
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  DATABASE_URL="$pg/$db" "$bin" import "$work/base-$scale.jsonl" 2>&1 | grep lines: >&2
  start=$(date +%s)
  psql -q -v ON_ERROR_STOP=1 "$pg/$db" <<SQL
-- Copy k of every unit below the national root: code P<k>-<code> (the province itself: P<k>).
CREATE TEMP TABLE unit_map AS
  SELECT k, u.id AS old_id, CASE WHEN u.level = 'PROVINCE' THEN 'P' || lpad(k::text, 2, '0')
         ELSE 'P' || lpad(k::text, 2, '0') || '-' || u.code END AS code
  FROM unit u, generate_series(1, $copies) k WHERE u.level <> 'NATIONAL';
INSERT INTO unit (code, name, level, parent_code, valid_from, valid_to, successor_code, offers_e_certified_copy, content_hash)
  SELECT m.code, u.name || ' ' || m.k, u.level,
         CASE WHEN u.level = 'PROVINCE' THEN u.parent_code
              ELSE (SELECT m2.code FROM unit_map m2 JOIN unit p ON p.id = m2.old_id WHERE m2.k = m.k AND p.code = u.parent_code) END,
         u.valid_from, u.valid_to,
         (SELECT m3.code FROM unit_map m3 JOIN unit s ON s.id = m3.old_id WHERE m3.k = m.k AND s.code = u.successor_code),
         u.offers_e_certified_copy, u.content_hash
  FROM unit_map m JOIN unit u ON u.id = m.old_id ORDER BY m.k, u.id;
CREATE TEMP TABLE id_map AS SELECT m.k, m.old_id, u.id AS new_id FROM unit_map m JOIN unit u ON u.code = m.code;
CREATE INDEX ON id_map (old_id);

-- Dossiers: ids shifted by k × 10^8, without their indexes while they are copied (made again after).
CREATE TEMP TABLE dossier_indexes AS
  SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'dossier' AND indexname <> 'dossier_pkey'
  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'dossier'::regclass);
DO \$\$ DECLARE i record; BEGIN
  FOR i IN SELECT indexname FROM dossier_indexes LOOP EXECUTE 'DROP INDEX ' || quote_ident(i.indexname); END LOOP;
END \$\$;
ALTER TABLE dossier DROP CONSTRAINT dossier_code_key;
CREATE TEMP TABLE dossier_columns AS
  SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) AS list
  FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'dossier'
  AND column_name NOT IN ('id', 'code', 'unit_id');
DO \$\$ DECLARE cols text; BEGIN
  SELECT list INTO cols FROM dossier_columns;
  EXECUTE format('INSERT INTO dossier (id, code, unit_id, %s) SELECT d.id + im.k::bigint * 100000000, d.code || ''-'' || im.k, '
                 'im.new_id, %s FROM (SELECT * FROM dossier WHERE id < 100000000) d JOIN id_map im ON im.old_id = d.unit_id',
                 cols, (SELECT string_agg('d.' || c, ', ') FROM unnest(string_to_array(cols, ', ')) c));
END \$\$;
ALTER TABLE dossier ADD CONSTRAINT dossier_code_key UNIQUE (code);
DO \$\$ DECLARE i record; BEGIN
  FOR i IN SELECT indexdef FROM dossier_indexes LOOP EXECUTE i.indexdef; END LOOP;
END \$\$;

INSERT INTO dossier_paid (dossier_id, unit_id, paid_from, paid_to, paid_online_from, paid_online_to, irregular, settled_at)
  SELECT p.dossier_id + im.k::bigint * 100000000, im.new_id, p.paid_from, p.paid_to, p.paid_online_from, p.paid_online_to,
         p.irregular, p.settled_at
  FROM (SELECT * FROM dossier_paid WHERE dossier_id < 100000000) p JOIN id_map im ON im.old_id = p.unit_id;
-- Receipts are read one by one only for dossiers whose receipts are irregular: those are copied.
INSERT INTO receipt (series, number, template, dossier_id, payer_name, payer_tax_code, amount, kind, payment_channel, method,
                     transaction_ref, issued_at, status, cancelled_at, cancel_reason, version, content_hash)
  SELECT r.series || '-' || k, r.number, r.template, r.dossier_id + k::bigint * 100000000, r.payer_name, r.payer_tax_code,
         r.amount, r.kind, r.payment_channel, r.method, r.transaction_ref, r.issued_at, r.status, r.cancelled_at,
         r.cancel_reason, r.version, r.content_hash
  FROM receipt r JOIN dossier_paid p ON p.dossier_id = r.dossier_id AND p.irregular AND p.dossier_id < 100000000,
       generate_series(1, $copies) k;
INSERT INTO feedback (code, kind, channel, unit_id, dossier_id, received_at, due_at, answered_at, answer, rating, likes,
                      dislikes, repeat_of_id, content, version, content_hash, recorded_by_sealed, recorded_by_hash,
                      recorded_by_masked)
  SELECT f.code || '-' || im.k, f.kind, f.channel, im.new_id, f.dossier_id + im.k::bigint * 100000000, f.received_at,
         f.due_at, f.answered_at, f.answer, f.rating, f.likes, f.dislikes, NULL, f.content, f.version, f.content_hash,
         f.recorded_by_sealed, f.recorded_by_hash, f.recorded_by_masked
  FROM (SELECT * FROM feedback WHERE unit_id IN (SELECT old_id FROM id_map)) f JOIN id_map im ON im.old_id = f.unit_id;
-- The summaries are a function of the rows copied above: copied the same way, one unit's rows together as the
-- gateway writes them (a unit's rows in the order reports read them, as the gateway writes merged rows); the
-- province's merged rows (under its negated id) become the copy's, and its summary group the copy's.
INSERT INTO summary_group (group_id, unit_id)
  SELECT g.new_id, u.new_id FROM summary_group sg JOIN id_map g ON g.old_id = sg.group_id
  JOIN id_map u ON u.old_id = sg.unit_id AND u.k = g.k;
INSERT INTO dossier_rollup (unit_id, received_month, end_month, settle_month, ended_with_result, fee_bearing, full_online,
    paper_result, dossiers, on_time, satisfied, synced, online, paid_online, paid_any, result_electronic, digitized,
    digitized_electronic, reused, shared, vneid)
  SELECT sign(r.unit_id) * im.new_id, r.received_month, r.end_month, r.settle_month, r.ended_with_result, r.fee_bearing, r.full_online,
         r.paper_result, r.dossiers, r.on_time, r.satisfied, r.synced, r.online, r.paid_online, r.paid_any,
         r.result_electronic, r.digitized, r.digitized_electronic, r.reused, r.shared, r.vneid
  FROM dossier_rollup r JOIN id_map im ON im.old_id = abs(r.unit_id)
  ORDER BY im.new_id, r.unit_id, r.received_month, r.end_month, r.settle_month;
INSERT INTO procedure_rollup (unit_id, procedure_id, received_month, first_settled, first_paid_online, first_paid_any, first_vneid)
  SELECT sign(r.unit_id) * im.new_id, r.procedure_id, r.received_month, r.first_settled, r.first_paid_online, r.first_paid_any, r.first_vneid
  FROM procedure_rollup r JOIN id_map im ON im.old_id = abs(r.unit_id)
  ORDER BY im.new_id, r.unit_id, r.received_month, r.procedure_id;
INSERT INTO open_rollup (unit_id, at_month, received_month, end_month, ended_with_result, fee_bearing, full_online,
    paper_result, dossiers, on_time, satisfied, synced, online, paid_online, paid_any, result_electronic, digitized,
    digitized_electronic, reused, shared, vneid)
  SELECT sign(r.unit_id) * im.new_id, r.at_month, r.received_month, r.end_month, r.ended_with_result, r.fee_bearing, r.full_online,
         r.paper_result, r.dossiers, r.on_time, r.satisfied, r.synced, r.online, r.paid_online, r.paid_any,
         r.result_electronic, r.digitized, r.digitized_electronic, r.reused, r.shared, r.vneid
  FROM open_rollup r JOIN id_map im ON im.old_id = abs(r.unit_id)
  ORDER BY im.new_id, r.unit_id, r.at_month, r.received_month, r.end_month;
INSERT INTO open_procedure_rollup (unit_id, procedure_id, at_month, received_month, paid_online, paid_any, vneid)
  SELECT sign(r.unit_id) * im.new_id, r.procedure_id, r.at_month, r.received_month, r.paid_online, r.paid_any, r.vneid
  FROM open_procedure_rollup r JOIN id_map im ON im.old_id = abs(r.unit_id)
  ORDER BY im.new_id, r.unit_id, r.at_month, r.received_month, r.procedure_id;
UPDATE data_change SET generation = generation + 1 WHERE id = 0;
SQL
  psql -q "$pg/$db" -c "VACUUM ANALYZE"
  echo "  copied 33 times in $(( $(date +%s) - start )) s" >&2
}

ranking='{"query":"query Ranking { ranking(level: PROVINCE, period: { year: 2024 }) { rank unitCode total grade } }","operationName":"Ranking"}'
post() { curl -s -o "$work/ranking.json" -w '%{time_total}' "http://$addr/graphql" -H 'content-type: application/json' -d "$ranking"; }
serve() { DATABASE_URL="$pg/$1" BIND_ADDR=$addr "$bin" serve > "$work/serve.log" 2>&1 & gw=$!
  for _ in $(seq 1 300); do curl -sf "http://$addr/readyz" > /dev/null && return; sleep 0.1; done; echo "gateway did not start" >&2; exit 1; }
unserve() { kill "$gw"; wait "$gw" 2>/dev/null || true; }
cold_postgres() {
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main stop
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null && dropped=yes || dropped=no
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -q && break; sleep 0.5; done
}
median() { tr ' ' '\n' <<< "$*" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A result=()
for size in $sizes; do
  db=dvc_national_${size}m
  scale=$(awk -v m="$size" 'BEGIN { printf "%.4f", m * 1000000 / 34 / 391421 }')
  per=$("$bin" generate --scale "$scale" | grep -c '"type":"dossier"' || true)
  want=$((per * 34))
  have=$(psql -Atq "$pg/$db" -c "SELECT count(*) FROM dossier" 2>/dev/null || echo 0)
  if [ "$have" != "$want" ]; then
    echo "building $db: $per dossiers per province, $want in all" >&2
    build "$db" "$scale"
  fi
  [ -n "${BUILD_ONLY:-}" ] && continue
  size_gb=$(psql -Atq "$pg/$db" -c "SELECT round(pg_database_size(current_database()) / 1e9, 1)")
  cold=() fresh=()
  for _ in $(seq 1 "$rounds"); do
    cold_postgres
    serve "$db"; cold+=("$(post)"); unserve
    serve "$db"; fresh+=("$(post)"); warm=$(post); unserve
  done
  provinces=$(jq '.data.ranking | length' "$work/ranking.json")
  [ "$provinces" = 34 ] || { echo "the ranking has $provinces entries: $(head -c 300 "$work/ranking.json")" >&2; exit 1; }
  result[$size]="$want $size_gb $(median "${cold[@]}") $(median "${fresh[@]}") $warm"
  echo "$size M: $want dossiers, $size_gb GB; cold (PostgreSQL restarted, page cache dropped: $dropped) ${cold[*]} s; fresh gateway ${fresh[*]} s; warm $warm s" >&2
done
[ -n "${BUILD_ONLY:-}" ] && exit 0
echo
printf '%-6s %11s %8s %18s %18s %10s\n' size dossiers GB 'cold median s' 'fresh gw median s' 'warm s'
for size in $sizes; do
  read -r n gb c f w <<< "${result[$size]}"
  printf '%-6s %11s %8s %18s %18s %10s\n' "${size}M" "$n" "$gb" "$c" "$f" "$w"
done
set -- $sizes
if [ $# -ge 2 ]; then
  read -r _ _ c1 f1 _ <<< "${result[$1]}"; read -r _ _ c2 f2 _ <<< "${result[$2]}"
  echo "cold ${2}M / ${1}M: $(awk -v a="$c2" -v b="$c1" 'BEGIN { printf "%.2f", a / b }'); fresh gateway: $(awk -v a="$f2" -v b="$f1" 'BEGIN { printf "%.2f", a / b }')"
fi
