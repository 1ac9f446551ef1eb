#!/usr/bin/env bash
# Ranking benchmark at national scale (issue: a ranking of 34 provinces over 10 million dossiers, cold, in
# under 10 s). Imports one province-year (the Quảng Nam demo scaled to 294,970 dossiers) into a fresh PostgreSQL
# database, then copies it in SQL 33 times as provinces P01…P33 (each with its own departments, districts and
# communes, dossier codes and ids; receipts are copied only for dossiers whose receipts the indicators read one
# by one; the summaries of settled dossiers are copied with the rows they summarise), and asks the gateway for the provincial ranking of 2024, cold, then again warm.
#   BENCH_PG=postgres://postgres@127.0.0.1:5432 scripts/bench-ranking-10m.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/dvc-gateway
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=dvc_bench10m
work=${BENCH_DIR:-$(mktemp -d)}
copies=${COPIES:-33}

$bin generate --scale 0.7535 > "$work/base.jsonl"
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
DATABASE_URL="$pg/$db" $bin import "$work/base.jsonl" 2>&1 | grep lines:

start=$(date +%s)
psql -q -v ON_ERROR_STOP=1 "$pg/$db" <<SQL
-- Copy k of every unit below the national root: code P<k>-<code> (the province itself: P<k>).
CREATE TEMP TABLE unit_map AS
  SELECT k, u.id AS old_id, CASE WHEN u.level = 'PROVINCE' THEN 'P' || lpad(k::text, 2, '0')
         ELSE 'P' || lpad(k::text, 2, '0') || '-' || u.code END AS code
  FROM unit u, generate_series(1, $copies) k WHERE u.level <> 'NATIONAL';
INSERT INTO unit (code, name, level, parent_code, valid_from, valid_to, successor_code, offers_e_certified_copy, content_hash)
  SELECT m.code, u.name || ' ' || m.k, u.level,
         CASE WHEN u.level = 'PROVINCE' THEN u.parent_code ELSE (SELECT m2.code FROM unit_map m2 JOIN unit p ON p.id = m2.old_id WHERE m2.k = m.k AND p.code = u.parent_code) END,
         u.valid_from, u.valid_to, NULL, u.offers_e_certified_copy, u.content_hash
  FROM unit_map m JOIN unit u ON u.id = m.old_id;
CREATE TEMP TABLE id_map AS SELECT m.k, m.old_id, u.id AS new_id FROM unit_map m JOIN unit u ON u.code = m.code;
CREATE INDEX ON id_map (k, old_id);

-- Dossiers: ids shifted by k × 10^8, without their indexes while they are copied.
DROP INDEX idx_dossier_unit_received, idx_dossier_received, idx_dossier_procedure, idx_dossier_status, idx_dossier_applicant,
  idx_dossier_settled;
ALTER TABLE dossier DROP CONSTRAINT dossier_code_key;
INSERT INTO dossier
  SELECT d.id + k::bigint * 100000000, d.code || '-' || k, d.procedure_id, im.new_id, d.channel, d.applicant_kind, d.applicant_name,
         d.applicant_id_hash, d.applicant_id_sealed, d.applicant_id_masked, d.applicant_phone_sealed, d.applicant_phone_masked,
         d.applicant_email_sealed, d.applicant_email_masked, d.vneid_verified, d.submitted_at, d.received_at, d.due_at,
         d.inputs_digitized, d.reused_data, d.from_citizen_storage, d.result_electronic, d.result_to_citizen_storage,
         d.synced_at, d.status, d.status_at, d.not_accepted_at, d.resolved_at, d.other_end_at, d.other_end_status,
         d.first_supplement_requested_at, d.first_supplement_received_at, d.second_supplement_requested_at,
         d.negative_feedback_at, d.version, d.content_hash, d.settled_at
  FROM (SELECT * FROM dossier WHERE id < 100000000) d JOIN id_map im ON im.old_id = d.unit_id;
ALTER TABLE dossier ADD CONSTRAINT dossier_code_key UNIQUE (code);
CREATE INDEX idx_dossier_unit_received ON dossier (unit_id, received_at);
CREATE INDEX idx_dossier_received ON dossier (received_at);
CREATE INDEX idx_dossier_procedure ON dossier (procedure_id, received_at);
CREATE INDEX idx_dossier_status ON dossier (status, unit_id);
CREATE INDEX idx_dossier_applicant ON dossier (applicant_id_hash);
CREATE INDEX idx_dossier_settled ON dossier (unit_id, settled_at);

INSERT INTO dossier_paid
  SELECT p.dossier_id + k::bigint * 100000000, im.new_id, p.paid_from, p.paid_to, p.paid_online_from, p.paid_online_to, p.irregular,
         p.settled_at
  FROM (SELECT * FROM dossier_paid WHERE dossier_id < 100000000) p JOIN id_map im ON im.old_id = p.unit_id;
INSERT INTO receipt (series, number, template, dossier_id, payer_name, payer_tax_code, amount, kind, payment_channel, method,
                     transaction_ref, issued_at, status, cancelled_at, cancel_reason, version, content_hash)
  SELECT r.series || '-' || k, r.number, r.template, r.dossier_id + k::bigint * 100000000, r.payer_name, r.payer_tax_code, r.amount,
         r.kind, r.payment_channel, r.method, r.transaction_ref, r.issued_at, r.status, r.cancelled_at, r.cancel_reason,
         r.version, r.content_hash
  FROM receipt r JOIN dossier_paid p ON p.dossier_id = r.dossier_id AND p.irregular, generate_series(1, $copies) k;
INSERT INTO feedback (code, kind, channel, unit_id, dossier_id, received_at, due_at, answered_at, answer, rating, likes,
                      dislikes, repeat_of_id, content, recorded_by, version, content_hash)
  SELECT f.code || '-' || im.k, f.kind, f.channel, im.new_id, f.dossier_id + im.k::bigint * 100000000, f.received_at, f.due_at,
         f.answered_at, f.answer, f.rating, f.likes, f.dislikes, NULL, f.content, f.recorded_by, f.version, f.content_hash
  FROM feedback f JOIN id_map im ON im.old_id = f.unit_id WHERE f.id IN (SELECT id FROM feedback);
-- The summaries of settled dossiers are a function of the rows copied above: copied the same way, one unit's rows
-- together as the gateway writes them when it rebuilds a unit's months.
INSERT INTO dossier_rollup
  SELECT im.new_id, r.received_month, r.end_month, r.settle_month, r.er_kind, r.fee, r.full_online, r.paper, r.n, r.on_time,
         r.satisfied, r.synced, r.online, r.paid_online, r.paid_any, r.result_electronic, r.digitized, r.digitized_electronic,
         r.reused, r.shared, r.vneid
  FROM dossier_rollup r JOIN id_map im ON im.old_id = r.unit_id ORDER BY im.new_id;
INSERT INTO procedure_rollup
  SELECT im.new_id, r.procedure_id, r.received_month, r.first_settled, r.first_paid_online, r.first_paid_any, r.first_vneid
  FROM procedure_rollup r JOIN id_map im ON im.old_id = r.unit_id ORDER BY im.new_id;
UPDATE data_change SET generation = generation + 1 WHERE id = 0;
SQL
psql -q "$pg/$db" -c "VACUUM ANALYZE"
echo "copied in $(( $(date +%s) - start )) s"
psql -At "$pg/$db" -c "SELECT 'dossiers: ' || count(*) FROM dossier" -c "SELECT 'provinces: ' || count(*) FROM unit WHERE level = 'PROVINCE'"

addr=127.0.0.1:18095
ranking='{"query":"query Ranking { ranking(level: PROVINCE, period: { year: 2024 }) { rank unitCode total grade } }","operationName":"Ranking"}'
DATABASE_URL="$pg/$db" BIND_ADDR=$addr RUST_LOG=warn $bin serve > "$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "http://$addr/healthz" >/dev/null && break; sleep 0.1; done
post() { curl -s -o "$work/ranking.json" -w '%{time_total}' "http://$addr/graphql" -H 'content-type: application/json' -d "$ranking"; }
echo "cold ranking of the provinces: $(post) s"
echo "warm ranking:                  $(post) s"
head -c 400 "$work/ranking.json"; echo
echo "peak RSS of the gateway: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')"
