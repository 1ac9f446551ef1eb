-- The counts of Quảng Nam's (unit 49) Decision 766 report for 2024, written by hand straight from the tables, as
-- someone without the gateway would write them: what the benchmark's cold report is compared with. It prints
-- "METRIC numerator denominator" for the 16 metrics counted from dossiers, receipts, procedures, PAKN and units
-- (the three transparency metrics, which need the working-day calendar, are left out: they read the procedure
-- table only). bench/run.sh checks that these counts equal the gateway's.
--
-- The period: 2024 in Vietnam time (UTC+7), in microseconds since the epoch; it ended, so every rule is
-- evaluated at its end, T.
\set s 1704042000000000
\set t 1735664400000000

WITH RECURSIVE scope AS (
  SELECT id, code FROM unit WHERE code = '49'
  UNION ALL
  SELECT u.id, u.code FROM unit u JOIN scope ON u.parent_code = scope.code
),
-- Every dossier received by T and not refused by then, with what the rules read at T.
facts AS (
  SELECT d.id, d.procedure_id, d.due_at, d.first_supplement_requested_at AS sup1_at,
    d.first_supplement_received_at AS sup1_answered_at,
    p.fee > 0 AS fee_bearing, p.accepts_citizens, p.online_level = 'FULL' AS full_level,
    p.returns_paper_result AS paper_result, d.received_at >= :s AS in_period,
    CASE WHEN d.resolved_at <= :t THEN d.resolved_at WHEN d.other_end_at <= :t THEN d.other_end_at END AS ended_at,
    COALESCE(d.resolved_at <= :t OR d.other_end_status = 'RETURNED', false) AS ended_with_result,
    COALESCE(d.first_supplement_requested_at <= :t, false) AS one_request,
    COALESCE(d.second_supplement_requested_at <= :t, false) AS two_requests,
    COALESCE(d.first_supplement_received_at <= :t, false) AS answered,
    COALESCE(d.negative_feedback_at <= :t, false) AS negative,
    COALESCE(d.synced_at <= :t, false) AS synced,
    d.channel = 'ONLINE' AS online,
    d.result_electronic, d.inputs_digitized, d.reused_data,
    d.from_citizen_storage OR d.result_to_citizen_storage AS shared, d.vneid_verified,
    EXISTS (SELECT 1 FROM receipt r WHERE r.dossier_id = d.id AND r.issued_at <= :t
            AND (r.cancelled_at IS NULL OR r.cancelled_at > :t)
            AND r.payment_channel IN ('NATIONAL_PORTAL', 'PROVINCIAL_PORTAL')) AS paid_online,
    EXISTS (SELECT 1 FROM receipt r WHERE r.dossier_id = d.id AND r.issued_at <= :t
            AND (r.cancelled_at IS NULL OR r.cancelled_at > :t)) AS paid_any
  FROM dossier d
  JOIN scope ON scope.id = d.unit_id
  JOIN procedure p ON p.id = d.procedure_id
  WHERE d.received_at < :t AND (d.not_accepted_at IS NULL OR d.not_accepted_at > :t)
),
-- Processing ends at its end event or, with one unanswered request for more documents, at that request; one
-- answered request pauses the clock; two make the dossier late.
clocked AS (
  SELECT f.*,
    COALESCE(ended_at, CASE WHEN one_request AND NOT two_requests AND NOT answered THEN sup1_at END) AS end_t,
    CASE WHEN one_request AND NOT two_requests AND answered THEN sup1_answered_at - sup1_at ELSE 0 END AS paused
  FROM facts f
),
judged AS (
  SELECT c.*,
    end_t IS NULL OR end_t >= :s AS in_scope,
    NOT two_requests AND COALESCE(end_t, :t) - paused <= due_at AS on_time,
    ended_at IS NOT NULL AND ended_at >= :s AND ended_at < :t AND ended_with_result AND paper_result AS result_issued
  FROM clocked c
),
dossier_counts AS (
  SELECT
    count(*) FILTER (WHERE in_scope AND on_time) AS on_time_n, count(*) FILTER (WHERE in_scope) AS on_time_d,
    count(*) FILTER (WHERE in_scope AND on_time AND NOT negative) AS satisfied_n,
    count(*) FILTER (WHERE in_period AND synced) AS sync_n, count(*) FILTER (WHERE in_period) AS period_d,
    count(*) FILTER (WHERE in_period AND full_level AND online) AS full_n,
    count(*) FILTER (WHERE in_period AND full_level) AS full_d,
    count(*) FILTER (WHERE in_period AND fee_bearing AND paid_online) AS paid_n,
    count(*) FILTER (WHERE in_period AND fee_bearing) AS paid_d,
    count(*) FILTER (WHERE result_issued AND result_electronic) AS result_n,
    count(*) FILTER (WHERE result_issued) AS result_d,
    count(*) FILTER (WHERE in_period AND inputs_digitized AND (NOT paper_result OR result_electronic)) AS digitized_n,
    count(*) FILTER (WHERE in_period AND reused_data) AS reused_n,
    count(*) FILTER (WHERE in_period AND shared) AS shared_n,
    count(*) FILTER (WHERE in_period AND vneid_verified) AS vneid_n
  FROM judged
),
-- Procedures with a dossier received in the period: fee-bearing ones count for payment, those open to citizens
-- for VNeID; a procedure passes when one of those dossiers did.
procedures AS (
  SELECT procedure_id, bool_or(fee_bearing) AS fee_bearing, bool_or(accepts_citizens) AS citizens,
    bool_or(paid_online) AS paid_online, bool_or(paid_any) AS paid_any, bool_or(vneid_verified) AS vneid
  FROM judged WHERE in_period GROUP BY procedure_id
),
procedure_counts AS (
  SELECT
    count(*) FILTER (WHERE fee_bearing AND paid_online) AS paid_online_n,
    count(*) FILTER (WHERE fee_bearing AND paid_any) AS paid_any_n, count(*) FILTER (WHERE fee_bearing) AS fee_d,
    count(*) FILTER (WHERE citizens AND vneid) AS vneid_n, count(*) FILTER (WHERE citizens) AS citizens_d
  FROM procedures
),
-- Complaints and recommendations received by T and not answered before the period; on time when answered by
-- their due time (or, unanswered, not yet due at T); satisfied when also not disliked more than liked and not
-- repeated by T.
pakn AS (
  SELECT f.*,
    (f.answered_at IS NOT NULL AND f.answered_at <= :t AND f.answered_at <= f.due_at)
      OR ((f.answered_at IS NULL OR f.answered_at > :t) AND :t <= f.due_at) AS on_time
  FROM feedback f JOIN scope ON scope.id = f.unit_id
  WHERE f.kind IN ('COMPLAINT', 'RECOMMENDATION') AND f.received_at < :t
    AND (f.answered_at IS NULL OR f.answered_at > :t OR f.answered_at >= :s)
),
pakn_counts AS (
  SELECT count(*) FILTER (WHERE on_time) AS on_time_n,
    count(*) FILTER (WHERE on_time AND dislikes <= likes AND NOT EXISTS (
      SELECT 1 FROM feedback again WHERE again.repeat_of_id = pakn.id AND again.received_at <= :t)) AS satisfied_n,
    count(*) AS d
  FROM pakn
),
-- Communes valid at T (from the start of their first day to the start of their last) that offer electronic
-- certified copies.
communes AS (
  SELECT count(*) FILTER (WHERE u.offers_e_certified_copy) AS n, count(*) AS d
  FROM unit u JOIN scope ON scope.id = u.id
  WHERE u.level = 'COMMUNE' AND (u.valid_from IS NULL OR u.valid_from <= DATE '2025-01-01')
    AND (u.valid_to IS NULL OR u.valid_to > DATE '2025-01-01')
)
SELECT * FROM (
  SELECT 'ON_TIME_PROCESSING', on_time_n, on_time_d FROM dossier_counts
  UNION ALL SELECT 'DOSSIER_SATISFACTION', satisfied_n, on_time_d FROM dossier_counts
  UNION ALL SELECT 'DOSSIER_SYNC', sync_n, period_d FROM dossier_counts
  UNION ALL SELECT 'FULL_ONLINE_DOSSIERS', full_n, full_d FROM dossier_counts
  UNION ALL SELECT 'PAID_ONLINE_DOSSIERS', paid_n, paid_d FROM dossier_counts
  UNION ALL SELECT 'ELECTRONIC_RESULT', result_n, result_d FROM dossier_counts
  UNION ALL SELECT 'DIGITIZED_DOSSIERS', digitized_n, period_d FROM dossier_counts
  UNION ALL SELECT 'REUSED_DIGITIZED_DATA', reused_n, period_d FROM dossier_counts
  UNION ALL SELECT 'SHARED_TO_CITIZEN_STORAGE', shared_n, period_d FROM dossier_counts
  UNION ALL SELECT 'VNEID_DOSSIERS', vneid_n, period_d FROM dossier_counts
  UNION ALL SELECT 'PROCEDURES_PAID_ONLINE', paid_online_n, fee_d FROM procedure_counts
  UNION ALL SELECT 'PROCEDURES_WITH_RECEIPTS', paid_any_n, fee_d FROM procedure_counts
  UNION ALL SELECT 'VNEID_PROCEDURES', vneid_n, citizens_d FROM procedure_counts
  UNION ALL SELECT 'PAKN_ON_TIME', on_time_n, d FROM pakn_counts
  UNION ALL SELECT 'PAKN_SATISFACTION', satisfied_n, d FROM pakn_counts
  UNION ALL SELECT 'ELECTRONIC_CERTIFIED_COPY', n, d FROM communes
) counts;
