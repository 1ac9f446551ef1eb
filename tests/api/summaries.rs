//! The indicator summary (`dossier_rollup`) answers exactly what reading every dossier row by row answers, for
//! every kind of period and evaluation instant, and stays so through imports that rewrite, move, end, pay and
//! rate dossiers and through API writes: each maintained summary equals one rebuilt from scratch.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use demo::{DemoOptions, generate};
use dvc_gateway::auth::Role;
use dvc_gateway::db::indicators::counts_with;
use dvc_gateway::domain::indicators::Window;
use dvc_gateway::domain::time::{PeriodSpec, to_micros};
use dvc_gateway::domain::{
    DossierCode, DossierStatus, FeedbackChannel, FeedbackKind, PaymentChannel, ProcedureCode, Rating,
    ReceiptStatus, UnitCode,
};
use dvc_gateway::interchange::records::{EventRec, ReceiptStatusOrDefault, Record};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;

use crate::support::*;

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn windows() -> Vec<Window> {
    let year = |y| PeriodSpec { year: Some(y), ..Default::default() };
    let mut specs: Vec<(PeriodSpec, Option<&str>)> = vec![
        (year(2024), None),
        (year(2024), Some("2024-03-01T00:00:00+07:00")),
        (year(2024), Some("2024-06-15T12:34:56+07:00")),
        (year(2024), Some("2024-12-31T23:59:59+07:00")),
        (year(2025), None),
        (
            PeriodSpec { year: Some(2024), quarter: Some(3), ..Default::default() },
            Some("2024-08-20T08:00:00+07:00"),
        ),
        (
            PeriodSpec {
                from: NaiveDate::from_ymd_opt(2024, 3, 1),
                to: NaiveDate::from_ymd_opt(2024, 5, 1),
                ..Default::default()
            },
            None,
        ),
        (
            PeriodSpec {
                from: NaiveDate::from_ymd_opt(2024, 3, 5),
                to: NaiveDate::from_ymd_opt(2024, 5, 1),
                ..Default::default()
            },
            None,
        ),
    ];
    for q in 1..=4 {
        specs.push((PeriodSpec { year: Some(2024), quarter: Some(q), ..Default::default() }, None));
    }
    for m in 1..=12 {
        specs.push((PeriodSpec { year: Some(2024), month: Some(m), ..Default::default() }, None));
    }
    let now = to_micros(at("2026-11-28T10:00:00+07:00"));
    specs.iter().map(|(p, a)| Window::of(p, a.map(|a| to_micros(at(a))), now).unwrap()).collect()
}

async fn scalar(app: &dvc_gateway::app::App, sql: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Every unit of the demo province counted both ways agrees, the stored `settled_at` values follow their rule, and
/// the maintained summaries are the ones a full rebuild gives. The province is counted twice: as the writes left
/// its summary group (merged rows out of date after an API write: its units' rows answer), and after the group was
/// merged again (its merged rows answer).
async fn check(app: &dvc_gateway::app::App, label: &str) {
    check_counts(app, label).await;
    dvc_gateway::db::groups::refresh(&app.db).await.unwrap();
    assert_eq!(scalar(app, "SELECT COUNT(*) FROM summary_stale").await, 0, "{label}: still out of date");
    check_units(app, label, &["49".to_owned()]).await;
    check_stored(app, label).await;
}

/// Every unit of the demo province counted with the summaries and row by row agrees, in every window.
async fn check_counts(app: &dvc_gateway::app::App, label: &str) {
    let tree = app.units().await.unwrap();
    let units: Vec<String> = ["VN", "49"]
        .iter()
        .map(|c| c.to_string())
        .chain(tree.all().iter().filter(|u| u.code.len() == 5).take(3).map(|u| u.code.to_string()))
        .collect();
    check_units(app, label, &units).await;
}

/// These units counted with the summaries and row by row agree, in every window.
async fn check_units(app: &dvc_gateway::app::App, label: &str, units: &[String]) {
    let tree = app.units().await.unwrap();
    let calendar = app.calendar().await.unwrap();
    for w in windows() {
        for unit in units {
            let summarised = counts_with(&app.db, &tree, &calendar, unit, &w, true).await.unwrap();
            let rows = counts_with(&app.db, &tree, &calendar, unit, &w, false).await.unwrap();
            assert_eq!(summarised, rows, "{label}: unit {unit}, window {w:?}");
        }
    }
}

/// The stored `settled_at` and `negative_feedback_at` follow their rules, and the maintained summaries are the ones
/// a full rebuild gives.
async fn check_stored(app: &dvc_gateway::app::App, label: &str) {
    let backend = app.db.get_database_backend();
    let rule = dvc_gateway::db::derived::settled_sql(backend, "negative_feedback_at");
    let off = scalar(app, &format!("SELECT COUNT(*) FROM dossier WHERE settled_at <> {rule}")).await;
    assert_eq!(off, 0, "{label}: stored settled_at differs from its rule");
    let negative = "SELECT MIN(f.received_at) FROM feedback f WHERE f.dossier_id = d.id AND (f.kind = 'COMPLAINT' \
                    OR (f.kind = 'RATING' AND f.rating IN ('UNSATISFIED', 'VERY_UNSATISFIED')))";
    let off = scalar(
        app,
        &format!("SELECT COUNT(*) FROM dossier d WHERE COALESCE(d.negative_feedback_at, -1) <> COALESCE(({negative}), -1)"),
    )
    .await;
    assert_eq!(off, 0, "{label}: stored negative_feedback_at differs from the feedback");
    // Both summaries, every column read as BIGINT (missing as -1, booleans as 0/1).
    let snapshot = || async {
        let mut out = Vec::new();
        for (table, columns) in [
            (
                "dossier_rollup",
                "unit_id, received_month, end_month, settle_month, ended_with_result, fee_bearing, full_online, \
                 paper_result, dossiers, on_time, satisfied, synced, online, paid_online, paid_any, result_electronic, digitized, digitized_electronic, \
                 reused, shared, vneid",
            ),
            (
                "procedure_rollup",
                "unit_id, procedure_id, received_month, first_settled, first_paid_online, first_paid_any, first_vneid",
            ),
            (
                "open_rollup",
                "unit_id, at_month, received_month, end_month, ended_with_result, fee_bearing, full_online, \
                 paper_result, dossiers, on_time, satisfied, synced, online, paid_online, paid_any, result_electronic, digitized, digitized_electronic, \
                 reused, shared, vneid",
            ),
            (
                "open_procedure_rollup",
                "unit_id, at_month, received_month, procedure_id, paid_online, paid_any, vneid",
            ),
            ("open_horizon", "id, open_to"),
        ] {
            let list: Vec<&str> = columns.split(',').map(str::trim).collect();
            let select = list
                .iter()
                .map(|c| match *c {
                    "ended_with_result" | "fee_bearing" | "full_online" | "paper_result" => {
                        format!("CAST(CASE WHEN {c} THEN 1 ELSE 0 END AS BIGINT)")
                    }
                    _ => format!("CAST(COALESCE({c}, -1) AS BIGINT)"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {select} FROM {table} ORDER BY {columns}");
            let rows = app.db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
            out.push(
                rows.iter()
                    .map(|r| {
                        (0..list.len()).map(|i| r.try_get_by_index::<i64>(i).unwrap()).collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
            );
        }
        out
    };
    let maintained = snapshot().await;
    dvc_gateway::db::rollup::rebuild_all(&app.db).await.unwrap();
    assert_eq!(maintained, snapshot().await, "{label}: the maintained summary differs from a rebuilt one");
}

per_backend! {
    #[tokio::test]
    async fn summaries_answer_what_the_rows_answer_through_imports_and_api_writes(backend: Backend) {
        let mut records = Vec::new();
        generate(&DemoOptions { scale: 0.004, seed: 7 }, &mut |r| records.push(r));
        let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
        let db = TestDb::new(backend).await;
        let app = app(&db);
        let r = import_str(&app, &text, false).await;
        assert!(r.committed, "{:?}", r.errors);
        // Most dossiers of a past year are settled and summarised.
        let dossiers = scalar(&app, "SELECT COUNT(*) FROM dossier").await;
        let summarised = scalar(&app, "SELECT CAST(COALESCE(SUM(dossiers), 0) AS BIGINT) FROM dossier_rollup").await;
        assert!(scalar(&app, "SELECT COUNT(*) FROM procedure_rollup").await > 0);
        assert!(dossiers > 1000 && summarised * 10 > dossiers * 8, "{summarised} of {dossiers} summarised");
        check(&app, "after the import").await;

        // Rewrite some dossiers: one moves to another unit and month, an open one ends, one is no longer ended;
        // pay one long after it settled, rate another badly, cancel a receipt.
        let dossiers: Vec<_> = records
            .iter()
            .filter_map(|r| if let Record::Dossier(d) = r { Some(d.clone()) } else { None })
            .collect();
        let ended = |d: &&dvc_gateway::interchange::records::DossierRec| {
            d.events.iter().any(|e| e.status == DossierStatus::Resolved)
        };
        let mut settled = dossiers.iter().filter(ended);
        let mut open = dossiers.iter().filter(|d| !ended(d));
        let mut lines = Vec::new();
        let mut moved = settled.next().unwrap().clone();
        let other_unit = dossiers.iter().find(|d| d.unit != moved.unit).unwrap().unit.clone();
        moved.unit = other_unit;
        moved.received_at -= Duration::days(40);
        lines.push(Record::Dossier(moved).to_line());
        if let Some(o) = open.next() {
            let mut o = o.clone();
            o.events.push(EventRec {
                status: DossierStatus::Resolved,
                at: at("2024-12-30T09:00:00+07:00"),
                note: None,
            });
            lines.push(Record::Dossier(o).to_line());
        }
        let mut reopened = settled.next().unwrap().clone();
        reopened.events.retain(|e| e.status != DossierStatus::Resolved);
        lines.push(Record::Dossier(reopened).to_line());
        let paid_late = settled.next().unwrap().code.clone();
        lines.push(
            json!({"type": "receipt", "series": "T-1", "number": 1, "dossier": paid_late, "payer_name": "A",
                   "amount": 10000, "kind": "FEE", "payment_channel": PaymentChannel::NationalPortal,
                   "issued_at": "2024-11-05T10:00:00+07:00"})
            .to_string(),
        );
        let rated = settled.next().unwrap();
        lines.push(
            json!({"type": "feedback", "code": "T-FB-1", "kind": FeedbackKind::Rating, "channel": FeedbackChannel::Portal,
                   "unit": rated.unit, "dossier": rated.code, "received_at": "2024-10-01T10:00:00+07:00",
                   "rating": Rating::VeryUnsatisfied})
            .to_string(),
        );
        if let Some(Record::Receipt(rc)) = records.iter().find(|r| matches!(r, Record::Receipt(_))) {
            let mut rc = rc.clone();
            rc.cancelled_at = Some(at("2024-09-09T09:00:00+07:00").max(rc.issued_at + Duration::hours(1)));
            rc.cancel_reason = Some("nhầm".into());
            rc.status = ReceiptStatusOrDefault(ReceiptStatus::Cancelled);
            lines.push(Record::Receipt(rc).to_line());
        }
        // A procedure stops charging a fee and returning paper results: its summarised dossiers follow.
        let charged = records
            .iter()
            .find_map(|r| match r {
                Record::Procedure(p)
                    if p.fee > 0 && dossiers.iter().filter(|d| d.procedure == p.code).count() > 5 =>
                {
                    Some(p.clone())
                }
                _ => None,
            })
            .unwrap();
        let mut free = charged;
        free.fee = 0;
        free.returns_paper_result = !free.returns_paper_result;
        lines.push(Record::Procedure(free).to_line());
        let r = import_str(&app, &lines.join("\n"), false).await;
        assert!(r.committed && r.written as usize == lines.len(), "{r:?}");
        check(&app, "after a second import").await;

        // The bad rating moves to another dossier: the first one's negative feedback goes with it.
        let other =
            dossiers.iter().filter(ended).find(|d| d.unit == rated.unit && d.code != rated.code).unwrap();
        let moved_rating = json!({"type": "feedback", "code": "T-FB-1", "kind": FeedbackKind::Rating,
            "channel": FeedbackChannel::Portal, "unit": rated.unit, "dossier": other.code,
            "received_at": "2024-10-01T10:00:00+07:00", "rating": Rating::VeryUnsatisfied});
        let r = import_str(&app, &moved_rating.to_string(), false).await;
        assert!(r.committed && r.written == 1, "{r:?}");
        check(&app, "after a rating moved").await;

        // API writes on a stored dossier: a receipt issued and cancelled, a complaint recorded.
        let s = schema(&app);
        let officer = staff(Role::Admin, "VN");
        let target = dossiers.iter().filter(ended).nth(10).unwrap();
        let issue = r#"mutation($d: String!) { issueReceipt(input: { series: "API-1", number: 1, dossierCode: $d,
            payerName: "B", amount: 5000, kind: FEE, paymentChannel: PROVINCIAL_PORTAL }) { status } }"#;
        let v = run(&s, &app, officer.clone(), issue, json!({"d": target.code})).await;
        assert!(v["errors"].is_null(), "{v}");
        check(&app, "after an API receipt").await;
        let record = r#"mutation($u: String!, $d: String) { recordFeedback(input: { kind: COMPLAINT, channel: HOTLINE,
            unitCode: $u, dossierCode: $d, content: "chậm" }) { code } }"#;
        let v = run(&s, &app, officer, record, json!({"u": target.unit, "d": target.code})).await;
        assert!(v["errors"].is_null(), "{v}");
        check(&app, "after an API complaint").await;

        // Concurrent API writes on dossiers of one unit, procedure and month of receipt all succeed, and the
        // summary they share stays exact.
        let mut groups: std::collections::HashMap<(UnitCode, ProcedureCode, String), Vec<DossierCode>> =
            Default::default();
        for d in dossiers.iter().filter(ended) {
            let key = (d.unit.clone(), d.procedure.clone(), d.received_at.format("%Y-%m").to_string());
            groups.entry(key).or_default().push(d.code.clone());
        }
        let group = groups.into_values().max_by_key(Vec::len).unwrap();
        assert!(group.len() >= 3, "{group:?}");
        let issue = r#"mutation($d: String!, $n: Int!) { issueReceipt(input: { series: "API-2", number: $n, dossierCode: $d,
            payerName: "C", amount: 5000, kind: FEE, paymentChannel: NATIONAL_PORTAL }) { status } }"#;
        let writes =
            group.iter().take(6).enumerate().map(|(i, code)| {
                run(&s, &app, staff(Role::Admin, "VN"), issue, json!({"d": code, "n": i + 1}))
            });
        for v in futures_util::future::join_all(writes).await {
            assert!(v["errors"].is_null(), "{v}");
        }
        check(&app, "after concurrent API receipts").await;
    }
}

/// The statements of one answer read one snapshot: a write that commits while they run, taking a dossier out
/// of the summaries and back to the rows read one by one, is wholly in the answer or not at all. The write
/// holds a lock on the summary table, so that the answer's summary read waits until it committed (PostgreSQL:
/// on SQLite a writer never blocks a reader's snapshot).
#[tokio::test]
async fn one_answer_reads_one_snapshot_while_a_write_commits() {
    let mut records = Vec::new();
    generate(&DemoOptions { scale: 0.002, seed: 3 }, &mut |r| records.push(r));
    let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
    let db = TestDb::new(Backend::Postgres).await;
    let app = app(&db);
    assert!(import_str(&app, &text, false).await.committed);
    let tree = app.units().await.unwrap();
    let calendar = app.calendar().await.unwrap();
    let now = to_micros(at("2026-11-28T10:00:00+07:00"));
    let w = Window::of(&PeriodSpec { year: Some(2024), ..Default::default() }, None, now).unwrap();
    let before = counts_with(&app.db, &tree, &calendar, "49", &w, true).await.unwrap();

    // A dossier of 2024, settled in its summarised months, is no longer ended: it leaves the summaries.
    let cut = to_micros(at("2024-12-01T00:00:00+07:00"));
    let id = scalar(
        &app,
        &format!(
            "SELECT MIN(id) FROM dossier WHERE resolved_at IS NOT NULL AND settled_at < {cut} \
             AND received_at >= {}",
            w.start
        ),
    )
    .await;
    let writer = app.db.begin().await.unwrap();
    writer.execute_unprepared("LOCK TABLE dossier_rollup IN ACCESS EXCLUSIVE MODE").await.unwrap();
    writer
        .execute_unprepared(&format!("UPDATE dossier SET resolved_at = NULL WHERE id = {id}"))
        .await
        .unwrap();
    dvc_gateway::db::derived::refresh_settled(&writer, &[id]).await.unwrap();
    dvc_gateway::db::rollup::rebuild_for(&writer, &[id]).await.unwrap();

    let reader = {
        let (db, tree, calendar) = (app.db.clone(), tree.clone(), calendar.clone());
        tokio::spawn(async move { counts_with(&db, &tree, &calendar, "49", &w, true).await.unwrap() })
    };
    // The answer has read the rows and waits for the summary table (its statement's first 1,024 bytes show).
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock' AND query LIKE 'SELECT CAST(COALESCE(SUM(CASE WHEN rl.%'";
    let mut waited = false;
    for _ in 0..500 {
        waited = scalar(&app, waiting).await > 0;
        if waited {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Committed before any assertion: a failing test must not leave the schema locked.
    writer.commit().await.unwrap();
    let during = reader.await.unwrap();
    assert!(waited, "the answer never waited for the summary table");
    assert_eq!(during, before, "an answer computed while a write committed mixes before and after");

    let after = counts_with(&app.db, &tree, &calendar, "49", &w, true).await.unwrap();
    let rows = counts_with(&app.db, &tree, &calendar, "49", &w, false).await.unwrap();
    assert_eq!(after, rows);
    let on_time = dvc_gateway::domain::indicators::MetricKey::OnTimeProcessing;
    assert_eq!(after.get(on_time).den, before.get(on_time).den, "open at T, the dossier stays in scope");
}

per_backend! {
    #[tokio::test]
    async fn a_database_from_before_the_rollup_was_renamed_gets_its_summary_derived_again(backend: Backend) {
        use migration::sea_orm_migration::MigratorTrait;
        let mut records = Vec::new();
        generate(&DemoOptions { scale: 0.002, seed: 11 }, &mut |r| records.push(r));
        let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
        let db = TestDb::new(backend).await;
        let app = app(&db);
        assert!(import_str(&app, &text, false).await.committed);
        let sum = "SELECT CAST(COALESCE(SUM(dossiers), 0) AS BIGINT) FROM dossier_rollup";
        let summarised = scalar(&app, sum).await;
        assert!(summarised > 100, "{summarised}");
        // Back to the release before the rollup's names (`n`, 0/1 flags, an empty table), procedures without a
        // search key, the open summaries, the cache readers' leases, the settled irregular receipts, the summary
        // groups and the procedure summary's month index; migrating derives the summaries again and fills the keys.
        migration::Migrator::down(&app.db, Some(7)).await.unwrap();
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM dossier_rollup WHERE er_kind = 1 AND n > 0").await, 0);
        dvc_gateway::db::migrate(&app.db, &test_vault()).await.unwrap();
        assert_eq!(scalar(&app, sum).await, summarised);
        let procedures = scalar(&app, "SELECT COUNT(*) FROM procedure").await;
        let keyed = scalar(&app, "SELECT COUNT(*) FROM procedure WHERE search_text LIKE '%\u{1f}%'").await;
        assert!(procedures > 0 && keyed == procedures, "{keyed} of {procedures} procedures have a search key");
        check(&app, "after the summary table was recreated").await;
    }
}

// The open summaries cover the month starts up to their horizon: a report at a later month start reads its open
// dossiers row by row and answers the same, and extending the horizon (as the gateway does when a month begins)
// gives the summaries a full rebuild gives.
per_backend! {
    #[tokio::test]
    async fn open_summaries_reach_each_new_month_and_answer_alike_before_and_after(backend: Backend) {
        use dvc_gateway::domain::time::{month_of, now};
        let mut records = Vec::new();
        generate(&DemoOptions { scale: 0.002, seed: 5 }, &mut |r| records.push(r));
        let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
        let db = TestDb::new(backend).await;
        let app = app(&db);
        assert!(import_str(&app, &text, false).await.committed);
        // Migrating extended them to the current month, and the import kept them there.
        let current = month_of(now());
        assert_eq!(scalar(&app, "SELECT open_to FROM open_horizon").await, current);
        let july = migration::month_start(2024, 7);
        let open_in_july = format!("SELECT CAST(COALESCE(SUM(dossiers), 0) AS BIGINT) FROM open_rollup WHERE at_month = {july}");
        let summarised = scalar(&app, &open_in_july).await;
        assert!(summarised > 0, "no dossier open at the start of July 2024");

        // As if the gateway had last run in June 2024.
        let june = migration::month_start(2024, 6);
        for sql in [
            format!("DELETE FROM open_rollup WHERE at_month > {june}"),
            format!("DELETE FROM open_procedure_rollup WHERE at_month > {june}"),
            format!("UPDATE open_horizon SET open_to = {june}"),
        ] {
            app.db.execute_unprepared(&sql).await.unwrap();
        }
        check_counts(&app, "with the open summaries ending in June 2024").await;

        assert!(dvc_gateway::db::rollup::extend_open(&app.db, current).await.unwrap());
        assert!(!dvc_gateway::db::rollup::extend_open(&app.db, current).await.unwrap(), "extended twice");
        assert_eq!(scalar(&app, &open_in_july).await, summarised);
        check(&app, "after the open summaries were extended").await;

        // A report at a month start reads the open summaries, not the rows: a group made late there moves it.
        let tree = app.units().await.unwrap();
        let calendar = app.calendar().await.unwrap();
        let w = Window::of(&PeriodSpec { year: Some(2024), month: Some(6), ..Default::default() }, None, now()).unwrap();
        let before = counts_with(&app.db, &tree, &calendar, "49", &w, true).await.unwrap();
        let tampered = format!(
            "UPDATE open_rollup SET on_time = 0 WHERE at_month = {july} AND on_time > 0 AND end_month >= {june}"
        );
        app.db.execute_unprepared(&tampered).await.unwrap();
        let after = counts_with(&app.db, &tree, &calendar, "49", &w, true).await.unwrap();
        let on_time = dvc_gateway::domain::indicators::MetricKey::OnTimeProcessing;
        assert!(after.get(on_time).num < before.get(on_time).num, "the open summaries were not read");
        assert_eq!(after.get(on_time).den, before.get(on_time).den);
    }
}

// A dossier whose receipts count over several intervals settles like any other once its last receipt was issued
// or cancelled, and the summaries count it exactly: a report they answer whole (a year evaluated at its end, a
// month start) reads no receipt at all. Receipts moved out of reach behind the gateway's back do not move it,
// while the same report read row by row sees them gone.
per_backend! {
    #[tokio::test]
    async fn a_report_the_summaries_answer_reads_no_receipt_even_for_irregular_payments(backend: Backend) {
        use dvc_gateway::domain::indicators::MetricKey;
        use dvc_gateway::domain::time::now;
        let mut records = Vec::new();
        generate(&DemoOptions { scale: 0.004, seed: 7 }, &mut |r| records.push(r));
        let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
        let db = TestDb::new(backend).await;
        let app = app(&db);
        assert!(import_str(&app, &text, false).await.committed);
        let (from, to) = (migration::month_start(2024, 1), migration::month_start(2025, 1));
        let irregular = format!(
            "SELECT COUNT(*) FROM dossier_paid dp JOIN dossier d ON d.id = dp.dossier_id WHERE dp.irregular \
             AND d.received_at >= {from} AND d.received_at < {to}"
        );
        assert!(scalar(&app, &irregular).await > 0, "no irregular receipts in 2024 to test with");
        let unsettled = format!("{irregular} AND dp.settled_at >= {to}");
        assert_eq!(scalar(&app, &unsettled).await, 0, "irregular receipts of 2024 still unsettled at its end");
        check(&app, "with irregular receipts settled").await;

        let tree = app.units().await.unwrap();
        let calendar = app.calendar().await.unwrap();
        let year = Window::of(&PeriodSpec { year: Some(2024), ..Default::default() }, None, now()).unwrap();
        let before = counts_with(&app.db, &tree, &calendar, "49", &year, true).await.unwrap();
        app.db.execute_unprepared("UPDATE receipt SET issued_at = issued_at + 1000000000000000").await.unwrap();
        let after = counts_with(&app.db, &tree, &calendar, "49", &year, true).await.unwrap();
        assert_eq!(after, before, "the summarised report read the receipts");
        let rows = counts_with(&app.db, &tree, &calendar, "49", &year, false).await.unwrap();
        let paid = |c: &dvc_gateway::db::indicators::Counts| c.get(MetricKey::PaidOnlineDossiers).num;
        assert!(paid(&rows) < paid(&before), "read row by row, the receipts out of reach count: {rows:?}");
    }
}

// A province's report reads its summary group's merged rows while they are current and its units' rows while a
// write has made them out of date; merging them again gives what a rebuild from scratch gives; the groups' units
// are the scopes the unit tree computes.
per_backend! {
    #[tokio::test]
    async fn a_province_report_reads_its_merged_rows_only_while_they_are_current(backend: Backend) {
        use dvc_gateway::domain::indicators::MetricKey;
        use dvc_gateway::domain::time::now;
        let mut records = Vec::new();
        generate(&DemoOptions { scale: 0.002, seed: 9 }, &mut |r| records.push(r));
        let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
        let db = TestDb::new(backend).await;
        let app = app(&db);
        assert!(import_str(&app, &text, false).await.committed);
        let tree = app.units().await.unwrap();
        let calendar = app.calendar().await.unwrap();
        let groups: Vec<(i64, Vec<i64>)> = tree.summary_groups().collect();
        assert!(!groups.is_empty());
        for (group, units) in &groups {
            let sql = format!("SELECT unit_id FROM summary_group WHERE group_id = {group} ORDER BY unit_id");
            let rows = app.db.query_all_raw(Statement::from_string(app.db.get_database_backend(), sql)).await.unwrap();
            let stored: Vec<i64> = rows.iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
            assert_eq!(&stored, units, "the units of group {group}");
        }
        // The import left every group current.
        assert_eq!(scalar(&app, "SELECT COUNT(*) FROM summary_stale").await, 0);
        assert!(scalar(&app, "SELECT COUNT(*) FROM dossier_rollup WHERE unit_id < 0").await > 0);
        let year = Window::of(&PeriodSpec { year: Some(2024), ..Default::default() }, None, now()).unwrap();
        let count = |summaries: bool| {
            let (app, tree, calendar, year) = (&app, &tree, &calendar, &year);
            async move { counts_with(&app.db, tree, calendar, "49", year, summaries).await.unwrap() }
        };
        assert_eq!(count(true).await, count(false).await, "merged rows");

        // An API write: the province's merged rows are out of date, its units' rows answer.
        let target = records
            .iter()
            .find_map(|r| match r {
                Record::Dossier(d) if d.received_at.format("%Y").to_string() == "2024" => Some(d.code.clone()),
                _ => None,
            })
            .unwrap();
        let issue = r#"mutation($d: String!) { issueReceipt(input: { series: "G-1", number: 1, dossierCode: $d,
            payerName: "B", amount: 5000, kind: FEE, paymentChannel: NATIONAL_PORTAL }) { status } }"#;
        let v = run(&schema(&app), &app, staff(Role::Admin, "VN"), issue, json!({"d": target})).await;
        assert!(v["errors"].is_null(), "{v}");
        assert!(scalar(&app, "SELECT COUNT(*) FROM summary_stale").await > 0);
        assert_eq!(count(true).await, count(false).await, "units' rows while out of date");

        // Merged again: current, equal to a rebuild's, and read.
        assert_eq!(dvc_gateway::db::groups::refresh(&app.db).await.unwrap(), 1);
        assert_eq!(count(true).await, count(false).await, "merged again");
        check_stored(&app, "merged again").await;
        let before = count(true).await;
        app.db.execute_unprepared("UPDATE dossier_rollup SET on_time = 0 WHERE unit_id < 0").await.unwrap();
        let after = count(true).await;
        let on_time = MetricKey::OnTimeProcessing;
        assert!(after.get(on_time).num < before.get(on_time).num, "the merged rows were not read");
        assert_eq!(count(false).await, before, "the units' rows are untouched");
    }
}
