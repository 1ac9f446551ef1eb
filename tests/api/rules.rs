//! The indicator rules that are easy to get wrong, each on a small hand-made data set. Per-dossier outcomes are
//! read back through the drill-down lists, so each case names exactly which dossiers count and how.

use std::collections::BTreeSet;

use dvc_gateway::auth::{Caller, Role};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::support::*;

const BASE: &str = r#"{"type":"unit","code":"VN","name":"Việt Nam","level":"NATIONAL"}
{"type":"unit","code":"P1","name":"Tỉnh Một","level":"PROVINCE","parent":"VN"}
{"type":"unit","code":"C1","name":"Xã Một","level":"COMMUNE","parent":"P1","offers_e_certified_copy":true}
{"type":"unit","code":"C2","name":"Xã Hai","level":"COMMUNE","parent":"P1","offers_e_certified_copy":true}
{"type":"unit","code":"C3","name":"Xã Ba","level":"COMMUNE","parent":"P1"}
{"type":"unit","code":"P2","name":"Tỉnh Hai","level":"PROVINCE","parent":"VN"}
{"type":"holiday","date":"2024-02-08","name":"Tết"}
{"type":"holiday","date":"2024-02-09","name":"Tết"}
{"type":"holiday","date":"2024-02-12","name":"Tết"}
{"type":"holiday","date":"2024-02-13","name":"Tết"}
{"type":"holiday","date":"2024-02-14","name":"Tết"}
{"type":"holiday","date":"2024-04-30","name":"30/4"}
{"type":"sector","code":"S","name":"Đất đai"}
{"type":"sector","code":"T","name":"Hộ tịch"}
{"type":"procedure","code":"X","name":"Thủ tục X","sector":"S","authority":"P1","level":"COMMUNE","online_level":"FULL","fee":10000,"applicant_types":["CITIZEN"],"returns_paper_result":true,"content":["name","sequence","method","components","time_limit","applicants","agency"]}
{"type":"procedure","code":"Y","name":"Thủ tục Y","sector":"T","authority":"P1","level":"COMMUNE","online_level":"PARTIAL","fee":0}"#;

fn at(s: &str) -> String {
    format!("2024-{s}:00+07:00")
}

/// A dossier line: `events` and `supplements` as (status, MM-DDTHH:MM) and (requested, answered).
fn dossier(
    code: &str,
    unit: &str,
    received: &str,
    due: &str,
    events: &[(&str, &str)],
    sups: &[(&str, Option<&str>)],
) -> String {
    json!({
        "type": "dossier", "code": code, "procedure": "X", "unit": unit, "channel": "ONLINE",
        "applicant": {"id_number": "012345678901", "name": "A"},
        "received_at": at(received), "due_at": at(due),
        "events": events.iter().map(|(s, t)| json!({"status": s, "at": at(t)})).collect::<Vec<_>>(),
        "supplements": sups.iter().map(|(r, a)| json!({"requested_at": at(r), "received_at": a.map(at)})).collect::<Vec<_>>(),
    })
    .to_string()
}

async fn load(extra: &[String]) -> (TestDb, dvc_gateway::app::App) {
    load_on(Backend::Sqlite, extra).await
}

async fn load_on(backend: Backend, extra: &[String]) -> (TestDb, dvc_gateway::app::App) {
    let db = TestDb::new(backend).await;
    let app = crate::support::app(&db);
    let text = format!("{BASE}\n{}", extra.join("\n"));
    let r = import_str(&app, &text, false).await;
    assert!(r.committed, "{:?}", r.errors);
    (db, app)
}

async fn codes(
    app: &dvc_gateway::app::App,
    unit: &str,
    period: Value,
    as_of: Option<&str>,
    metric: &str,
    outcome: &str,
) -> BTreeSet<String> {
    let q = "query($u: String!, $p: PeriodInput!, $a: DateTime, $m: MetricKey!, $o: MetricOutcome!) {
      indicatorDossiers(unitCode: $u, period: $p, asOf: $a, metric: $m, outcome: $o, first: 100) { edges { node { code } } } }";
    let v = run(
        &schema(app),
        app,
        staff(Role::Leader, "VN"),
        q,
        json!({"u": unit, "p": period, "a": as_of, "m": metric, "o": outcome}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    v["data"]["indicatorDossiers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn metric(
    app: &dvc_gateway::app::App,
    unit: &str,
    period: Value,
    as_of: Option<&str>,
    key: &str,
) -> Value {
    let q = "query($u: String!, $p: PeriodInput!, $a: DateTime) { indicators(unitCode: $u, period: $p, asOf: $a) {
      groups { metrics { key numerator denominator ratio score } } } }";
    let v = run(&schema(app), app, Caller::Anonymous, q, json!({"u": unit, "p": period, "a": as_of})).await;
    assert!(v["errors"].is_null(), "{v}");
    v["data"]["indicators"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["metrics"].as_array().unwrap().clone())
        .find(|m| m["key"] == key)
        .unwrap()
}

const Q1: fn() -> Value = || json!({"year": 2024, "quarter": 1});

#[tokio::test]
async fn supplements_ends_and_the_evaluation_instant() {
    let (_db, app) = load(&[
        // Two requests: late, whatever the dates.
        dossier(
            "TWO",
            "C1",
            "01-02T08:00",
            "01-20T08:00",
            &[("RECEIVED", "01-02T08:00"), ("RESOLVED", "01-05T08:00")],
            &[("01-03T08:00", Some("01-03T09:00")), ("01-04T08:00", Some("01-04T09:00"))],
        ),
        // One unanswered request and no end: the request ends the clock (before the due time: on time)…
        dossier(
            "WAIT-OK",
            "C1",
            "01-02T08:00",
            "01-05T08:00",
            &[("RECEIVED", "01-02T08:00")],
            &[("01-04T08:00", None)],
        ),
        // …after the due time: late.
        dossier(
            "WAIT-LATE",
            "C1",
            "01-02T08:00",
            "01-05T08:00",
            &[("RECEIVED", "01-02T08:00")],
            &[("01-06T08:00", None)],
        ),
        // One answered request pauses the clock: resolved two days after due, but paused three days.
        dossier(
            "PAUSED",
            "C1",
            "01-02T08:00",
            "01-05T08:00",
            &[("RECEIVED", "01-02T08:00"), ("RESOLVED", "01-07T08:00")],
            &[("01-03T08:00", Some("01-06T08:00"))],
        ),
        // Ended exactly at the due time: on time.
        dossier(
            "AT-DUE",
            "C1",
            "01-02T08:00",
            "01-05T08:00",
            &[("RECEIVED", "01-02T08:00"), ("RESOLVED", "01-05T08:00")],
            &[],
        ),
        // A RESOLVED event is preferred over an earlier RETURNED one.
        dossier(
            "RES-OVER-RET",
            "C1",
            "01-02T08:00",
            "01-05T08:00",
            &[("RECEIVED", "01-02T08:00"), ("RETURNED", "01-04T08:00"), ("RESOLVED", "01-10T08:00")],
            &[],
        ),
        // Not accepted: never counts.
        dossier(
            "REFUSED",
            "C1",
            "01-02T08:00",
            "01-05T08:00",
            &[("RECEIVED", "01-02T08:00"), ("NOT_ACCEPTED", "01-02T09:00")],
            &[],
        ),
        // Open at the end of the period: judged at T (due before T: late).
        dossier("OPEN-LATE", "C1", "03-01T08:00", "03-10T08:00", &[("RECEIVED", "03-01T08:00")], &[]),
        // Resolved after the period: at T it is open and not yet due.
        dossier(
            "OPEN-OK",
            "C1",
            "03-25T08:00",
            "04-10T08:00",
            &[("RECEIVED", "03-25T08:00"), ("RESOLVED", "04-05T08:00")],
            &[],
        ),
    ])
    .await;
    let on_time = codes(&app, "P1", Q1(), None, "ON_TIME_PROCESSING", "PASSING").await;
    let late = codes(&app, "P1", Q1(), None, "ON_TIME_PROCESSING", "FAILING").await;
    assert_eq!(on_time, set(&["WAIT-OK", "PAUSED", "AT-DUE", "OPEN-OK"]));
    assert_eq!(late, set(&["TWO", "WAIT-LATE", "RES-OVER-RET", "OPEN-LATE"]));
    let m = metric(&app, "P1", Q1(), None, "ON_TIME_PROCESSING").await;
    assert_eq!((m["numerator"].as_i64(), m["denominator"].as_i64()), (Some(4), Some(8)));

    // Judged at an earlier instant: events after T are ignored. On 4 January at noon, TWO already has two
    // requests (late); RES-OVER-RET ended with RETURNED on time; WAIT-LATE has no request yet and is not yet due;
    // dossiers received later do not count.
    let t = "2024-01-04T12:00:00+07:00";
    let on_time = codes(&app, "P1", Q1(), Some(t), "ON_TIME_PROCESSING", "PASSING").await;
    let late = codes(&app, "P1", Q1(), Some(t), "ON_TIME_PROCESSING", "FAILING").await;
    assert_eq!(late, set(&["TWO"]), "two requests by T make it late");
    assert_eq!(on_time, set(&["WAIT-OK", "WAIT-LATE", "PAUSED", "AT-DUE", "RES-OVER-RET"]));
    // A dossier whose one unanswered request ended it before a later period leaves that period's scope.
    let feb = json!({"year": 2024, "month": 2});
    let in_feb: BTreeSet<String> = codes(&app, "P1", feb, None, "ON_TIME_PROCESSING", "ALL").await;
    assert!(
        !in_feb.contains("WAIT-OK") && !in_feb.contains("WAIT-LATE") && !in_feb.contains("AT-DUE"),
        "{in_feb:?}"
    );
}

per_backend! {
    #[tokio::test]
    async fn negative_feedback_and_refusals_count_from_their_instant(backend: Backend) {
        let resolved = |code: &str| {
            dossier(
                code,
                "C1",
                "01-02T08:00",
                "01-05T08:00",
                &[("RECEIVED", "01-02T08:00"), ("RESOLVED", "01-04T08:00")],
                &[],
            )
        };
        let feedback = |code: &str, dossier: &str, kind: &str, received: &str, rating: Option<&str>| {
            let mut v = json!({"type": "feedback", "code": code, "kind": kind, "channel": "PORTAL", "unit": "C1",
                "dossier": dossier, "received_at": at(received), "due_at": at("01-31T08:00")});
            if let Some(r) = rating {
                v["rating"] = json!(r);
            }
            v.to_string()
        };
        let (_db, app) = load_on(
            backend,
            &[
                // On time; a complaint recorded on 10 January.
                resolved("COMPLAINED"),
                feedback("F-COMPLAINT", "COMPLAINED", "COMPLAINT", "01-10T08:00", None),
                // On time; rated UNSATISFIED on 6 January.
                resolved("RATED-BAD"),
                feedback("F-BAD", "RATED-BAD", "RATING", "01-06T08:00", Some("UNSATISFIED")),
                // On time; rated NEUTRAL: not negative.
                resolved("RATED-NEUTRAL"),
                feedback("F-NEUTRAL", "RATED-NEUTRAL", "RATING", "01-06T08:00", Some("NEUTRAL")),
                // Not accepted on 9 January: counted before, not after.
                dossier(
                    "REFUSED-LATER",
                    "C1",
                    "01-02T08:00",
                    "01-20T08:00",
                    &[("RECEIVED", "01-02T08:00"), ("NOT_ACCEPTED", "01-09T08:00")],
                    &[],
                ),
            ],
        )
        .await;
        let t = Some("2024-01-08T12:00:00+07:00");
        let satisfied = codes(&app, "P1", Q1(), t, "DOSSIER_SATISFACTION", "PASSING").await;
        let not = codes(&app, "P1", Q1(), t, "DOSSIER_SATISFACTION", "FAILING").await;
        assert_eq!(
            satisfied,
            set(&["COMPLAINED", "RATED-NEUTRAL", "REFUSED-LATER"]),
            "{backend:?} at 8 January"
        );
        assert_eq!(not, set(&["RATED-BAD"]), "{backend:?} at 8 January");
        let satisfied = codes(&app, "P1", Q1(), None, "DOSSIER_SATISFACTION", "PASSING").await;
        let not = codes(&app, "P1", Q1(), None, "DOSSIER_SATISFACTION", "FAILING").await;
        assert_eq!(satisfied, set(&["RATED-NEUTRAL"]), "{backend:?} at the end of Q1");
        assert_eq!(not, set(&["COMPLAINED", "RATED-BAD"]), "{backend:?} at the end of Q1");
        let m = metric(&app, "P1", Q1(), None, "DOSSIER_SATISFACTION").await;
        assert_eq!((m["numerator"].as_i64(), m["denominator"].as_i64()), (Some(1), Some(3)), "{backend:?}");
    }
}

per_backend! {
    #[tokio::test]
    async fn pakn_repeats_dislikes_and_units_without_pakn(backend: Backend) {
        let fb = |code: &str, extra: Value| {
            let mut v = json!({"type": "feedback", "code": code, "kind": "COMPLAINT", "channel": "HOTLINE", "unit": "C1",
                "received_at": at("01-10T08:00"), "due_at": at("01-20T08:00")});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v.to_string()
        };
        let lines = [
            fb("GOOD", json!({"answered_at": at("01-15T08:00"), "likes": 3, "dislikes": 1})),
            fb("DISLIKED", json!({"answered_at": at("01-15T08:00"), "likes": 1, "dislikes": 2})),
            fb("REPEATED", json!({"answered_at": at("01-15T08:00")})),
            fb("LATE", json!({"answered_at": at("01-25T08:00")})),
            fb("OPEN", json!({})),
            fb(
                "REPEAT",
                json!({"kind": "RECOMMENDATION", "received_at": at("03-01T08:00"), "due_at": at("04-10T08:00"), "repeat_of": "REPEATED"}),
            ),
            fb("RATING", json!({"kind": "RATING", "rating": "VERY_UNSATISFIED"})),
        ];
        let (db, app) = load_on(backend, &lines).await;
        pakn_counts(&app).await;
        if backend == Backend::Postgres {
            // The PAKN condition is the predicate of the partial index `idx_feedback_pakn`, so that PostgreSQL reads
            // a unit's PAKN without reading its ratings (the planner may use the index only if the texts match).
            let txn = db.conn.begin().await.unwrap();
            txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
            let plan = txn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "EXPLAIN SELECT COUNT(*) FROM feedback f WHERE f.{} AND f.unit_id IN (1, 2) AND f.received_at < 0",
                        migration::PAKN_KINDS
                    ),
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect::<Vec<_>>()
                .join("\n");
            txn.rollback().await.unwrap();
            assert!(plan.contains("idx_feedback_pakn"), "{plan}");
        }
    }
}

/// The PAKN of `pakn_repeats_dislikes_and_units_without_pakn`, counted: the RATING is not a PAKN.
async fn pakn_counts(app: &dvc_gateway::app::App) {
    // At the end of Q1: OPEN is past due; REPEAT is open and not yet due.
    let on_time = metric(app, "P1", Q1(), None, "PAKN_ON_TIME").await;
    assert_eq!((on_time["numerator"].as_i64(), on_time["denominator"].as_i64()), (Some(4), Some(6)));
    let satisfied = metric(app, "P1", Q1(), None, "PAKN_SATISFACTION").await;
    assert_eq!(
        satisfied["numerator"].as_i64(),
        Some(2),
        "GOOD and REPEAT: DISLIKED is disliked, REPEATED is repeated"
    );
    // Before the repeat was recorded, REPEATED was not repeated.
    let feb = metric(app, "P1", Q1(), Some("2024-02-01T00:00:00+07:00"), "PAKN_SATISFACTION").await;
    assert_eq!((feb["numerator"].as_i64(), feb["denominator"].as_i64()), (Some(2), Some(5)));
    // A unit without PAKN has full points and no ratio.
    let none = metric(app, "P2", Q1(), None, "PAKN_ON_TIME").await;
    assert_eq!(
        (none["denominator"].as_i64(), none["ratio"].clone(), none["score"].as_f64()),
        (Some(0), Value::Null, Some(6.0))
    );
}

per_backend! {
    #[tokio::test]
    async fn receipts_cancelled_before_and_after_t(backend: Backend) {
        let receipt = |n: i64, dossier: &str, channel: &str, cancelled: Option<&str>| {
            let mut v = json!({"type": "receipt", "series": "R", "number": n, "dossier": dossier, "payer_name": "A", "amount": 10000,
                "kind": "FEE", "payment_channel": channel, "issued_at": at("01-03T08:00")});
            if let Some(c) = cancelled {
                v["status"] = json!("CANCELLED");
                v["cancelled_at"] = json!(at(c));
                v["cancel_reason"] = json!("nhầm");
            }
            v.to_string()
        };
        let ev = [("RECEIVED", "01-02T08:00")];
        // On both databases: the receipt columns are derived by a multi-row UPDATE … FROM (VALUES …).
        let (_db, app) = load_on(
            backend,
            &[
                dossier("PAID", "C1", "01-02T08:00", "01-09T08:00", &ev, &[]),
                dossier("CANCELLED-BEFORE", "C1", "01-02T08:00", "01-09T08:00", &ev, &[]),
                dossier("CANCELLED-AFTER", "C1", "01-02T08:00", "01-09T08:00", &ev, &[]),
                dossier("COUNTER", "C1", "01-02T08:00", "01-09T08:00", &ev, &[]),
                receipt(1, "PAID", "NATIONAL_PORTAL", None),
                receipt(2, "CANCELLED-BEFORE", "PROVINCIAL_PORTAL", Some("02-01T08:00")),
                receipt(3, "CANCELLED-AFTER", "NATIONAL_PORTAL", Some("05-01T08:00")),
                receipt(4, "COUNTER", "COUNTER", None),
                // Cancelled on 10 January and reissued on 15 February: unpaid in between.
                dossier("REISSUED", "C1", "01-02T08:00", "01-09T08:00", &ev, &[]),
                receipt(5, "REISSUED", "NATIONAL_PORTAL", Some("01-10T08:00")),
                {
                    let mut v: Value =
                        serde_json::from_str(&receipt(6, "REISSUED", "NATIONAL_PORTAL", None)).unwrap();
                    v["issued_at"] = json!(at("02-15T08:00"));
                    v.to_string()
                },
            ],
        )
        .await;
        let paid = codes(&app, "P1", Q1(), None, "PAID_ONLINE_DOSSIERS", "PASSING").await;
        assert_eq!(paid, set(&["PAID", "CANCELLED-AFTER", "REISSUED"]));
        // The aggregate (receipt columns, plus the receipts themselves for REISSUED) agrees with the list.
        let count = |m: Value| (m["numerator"].as_i64(), m["denominator"].as_i64());
        assert_eq!(count(metric(&app, "P1", Q1(), None, "PAID_ONLINE_DOSSIERS").await), (Some(3), Some(5)));
        let feb = Some("2024-02-01T00:00:00+07:00");
        let feb_paid = codes(&app, "P1", Q1(), feb, "PAID_ONLINE_DOSSIERS", "PASSING").await;
        assert_eq!(feb_paid, set(&["PAID", "CANCELLED-BEFORE", "CANCELLED-AFTER"]));
        assert_eq!(count(metric(&app, "P1", Q1(), feb, "PAID_ONLINE_DOSSIERS").await), (Some(3), Some(5)));
        let feb_any = codes(&app, "P1", Q1(), feb, "PROCEDURES_WITH_RECEIPTS", "PASSING").await;
        assert_eq!(feb_any, set(&["PAID", "CANCELLED-BEFORE", "CANCELLED-AFTER", "COUNTER"]));
        let with_receipts = codes(&app, "P1", Q1(), None, "PROCEDURES_WITH_RECEIPTS", "PASSING").await;
        assert_eq!(with_receipts, set(&["PAID", "CANCELLED-AFTER", "COUNTER", "REISSUED"]));
        // Before the first cancellation every online receipt counted.
        let jan =
            codes(&app, "P1", Q1(), Some("2024-01-31T00:00:00+07:00"), "PAID_ONLINE_DOSSIERS", "PASSING")
                .await;
        assert_eq!(jan, set(&["PAID", "CANCELLED-BEFORE", "CANCELLED-AFTER"]));
    }
}

#[tokio::test]
async fn working_days_across_tet_other_holidays_and_weekends_and_procedures_with_missing_dates() {
    let p = |code: &str, legal: Option<&str>, announced: Option<&str>, published: Option<&str>| {
        let mut v = json!({"type": "procedure", "code": code, "name": code, "sector": "S", "authority": "P1", "level": "COMMUNE",
            "online_level": "NONE", "fee": 0, "content": ["name"]});
        for (k, d) in
            [("legal_effective_on", legal), ("announced_on", announced), ("published_on", published)]
        {
            if let Some(d) = d {
                v[k] = json!(d);
            }
        }
        v.to_string()
    };
    let (_db, app) = load(&[
        // Legal effect on Friday 16 Feb: 5 working days back jump Tết (8–14 Feb) and two weekends to Friday 2 Feb.
        p("TET-OK", Some("2024-02-16"), Some("2024-02-02"), Some("2024-02-15")),
        p("TET-LATE", Some("2024-02-16"), Some("2024-02-05"), Some("2024-02-23")),
        // Announced Wednesday 7 Feb: 5 working days on is Wednesday 21 Feb; published on the 21st is on time,
        // on the 22nd late.
        p("PUB-OK", Some("2024-03-29"), Some("2024-02-07"), Some("2024-02-21")),
        p("PUB-LATE", Some("2024-03-29"), Some("2024-02-07"), Some("2024-02-22")),
        // No legal date, no publication: neither on time.
        p("NO-DATES", None, Some("2024-03-01"), None),
        // Not announced in the period: not counted.
        p("OLD", Some("2023-05-01"), Some("2023-04-01"), Some("2023-04-02")),
        // Across 30 April and 1 May (a Tuesday and a Wednesday) in Q2: legal effect on Monday 6 May, 5 working
        // days back is Thursday 25 April (without the holidays it would be Monday 29 April).
        r#"{"type":"holiday","date":"2024-05-01","name":"1/5"}"#.to_owned(),
        // Announced on the 25th: on time; published Monday 6 May, the 5th working day after (Fri 26, Mon 29,
        // Thu 2, Fri 3, Mon 6): on time.
        p("MAY-OK", Some("2024-05-06"), Some("2024-04-25"), Some("2024-05-06")),
        // Announced on the 26th: late; published Tuesday 7 May, the 5th working day after: on time.
        p("MAY-LATE", Some("2024-05-06"), Some("2024-04-26"), Some("2024-05-07")),
        // Announced on the 26th, long before its legal effect: on time; published 8 May: late.
        p("MAY-UPD-LATE", Some("2024-06-28"), Some("2024-04-26"), Some("2024-05-08")),
        // A ministry announces 20 working days ahead and publishes within 10: legal effect Friday 29 March, 20
        // working days back is Friday 1 March; announced 1 March + 10 working days is Friday 15 March.
        r#"{"type":"unit","code":"M1","name":"Bộ Một","level":"MINISTRY","parent":"VN"}"#.to_owned(),
        p("MIN-OK", Some("2024-03-29"), Some("2024-03-01"), Some("2024-03-15")).replace("\"P1\"", "\"M1\""),
        // Announced Monday 4 March: late (on time for a province); + 10 working days is Monday 18 March.
        p("MIN-LATE", Some("2024-03-29"), Some("2024-03-04"), Some("2024-03-19")).replace("\"P1\"", "\"M1\""),
    ])
    .await;
    let publish = metric(&app, "C1", Q1(), None, "PUBLISH_ON_TIME").await;
    assert_eq!(
        (publish["numerator"].as_i64(), publish["denominator"].as_i64()),
        (Some(3), Some(5)),
        "TET-OK, PUB-OK, PUB-LATE"
    );
    let update = metric(&app, "C1", Q1(), None, "PUBLIC_UPDATE_ON_TIME").await;
    assert_eq!(
        (update["numerator"].as_i64(), update["denominator"].as_i64()),
        (Some(2), Some(5)),
        "TET-OK and PUB-OK"
    );
    // Content: PUBLISHED and published before T (the base procedures X and Y have no publication date).
    let content = metric(&app, "C1", Q1(), None, "PUBLIC_CONTENT_FULL").await;
    assert_eq!((content["numerator"].as_i64(), content["denominator"].as_i64()), (Some(0), Some(5)));

    let publish = metric(&app, "M1", Q1(), None, "PUBLISH_ON_TIME").await;
    assert_eq!(
        (publish["numerator"].as_i64(), publish["denominator"].as_i64()),
        (Some(1), Some(2)),
        "MIN-OK"
    );
    let update = metric(&app, "M1", Q1(), None, "PUBLIC_UPDATE_ON_TIME").await;
    assert_eq!((update["numerator"].as_i64(), update["denominator"].as_i64()), (Some(1), Some(2)), "MIN-OK");

    let q2 = json!({"year": 2024, "quarter": 2});
    let publish = metric(&app, "C1", q2.clone(), None, "PUBLISH_ON_TIME").await;
    assert_eq!(
        (publish["numerator"].as_i64(), publish["denominator"].as_i64()),
        (Some(2), Some(3)),
        "MAY-OK and MAY-UPD-LATE"
    );
    let update = metric(&app, "C1", q2, None, "PUBLIC_UPDATE_ON_TIME").await;
    assert_eq!(
        (update["numerator"].as_i64(), update["denominator"].as_i64()),
        (Some(2), Some(3)),
        "MAY-OK and MAY-LATE"
    );

    // The drill-down names the procedures behind each count, newest first, and pages.
    let s = schema(&app);
    let list = |metric: &str, outcome: &str, first: i64| {
        format!(
            "{{ indicatorProcedures(unitCode: \"C1\", period: {{ year: 2024, quarter: 1 }}, metric: {metric}, outcome: {outcome}, \
             first: {first}) {{ edges {{ node {{ code }} }} pageInfo {{ hasNextPage }} }} }}"
        )
    };
    let codes = |v: &Value| -> Vec<String> {
        let edges = v["data"]["indicatorProcedures"]["edges"].as_array().unwrap_or_else(|| panic!("{v}"));
        edges.iter().map(|e| e["node"]["code"].as_str().unwrap().to_owned()).collect()
    };
    let leader = staff(Role::Leader, "P1");
    let v = run(&s, &app, leader.clone(), &list("PUBLISH_ON_TIME", "FAILING", 10), json!({})).await;
    assert_eq!(codes(&v), ["NO-DATES", "TET-LATE"]);
    let v = run(&s, &app, leader.clone(), &list("PUBLISH_ON_TIME", "PASSING", 2), json!({})).await;
    assert_eq!(codes(&v), ["PUB-LATE", "PUB-OK"]);
    assert_eq!(v["data"]["indicatorProcedures"]["pageInfo"]["hasNextPage"], true);
    let v = run(&s, &app, leader.clone(), &list("PUBLIC_UPDATE_ON_TIME", "FAILING", 10), json!({})).await;
    assert_eq!(codes(&v), ["NO-DATES", "PUB-LATE", "TET-LATE"]);
    let v = run(&s, &app, leader.clone(), &list("PUBLIC_CONTENT_FULL", "ALL", 10), json!({})).await;
    assert_eq!(codes(&v).len(), 5, "{v}");
    let v = run(&s, &app, leader, &list("ON_TIME_PROCESSING", "FAILING", 10), json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"));
}

#[tokio::test]
async fn periods_are_years_quarters_months_and_ranges_in_vietnam_time() {
    let (_db, app) = load(&[
        // 31 March 23:30 in Vietnam is 16:30 UTC: March, Q1.
        dossier("MARCH", "C1", "03-31T23:30", "04-05T08:00", &[("RECEIVED", "03-31T23:30")], &[]),
        // 1 April 00:30 in Vietnam is still 31 March in UTC: April, Q2.
        dossier("APRIL", "C1", "04-01T00:30", "04-05T08:00", &[("RECEIVED", "04-01T00:30")], &[]),
    ])
    .await;
    let received = |m: Value| m["denominator"].as_i64().unwrap_or(-1);
    assert_eq!(
        received(metric(&app, "P1", json!({"year": 2024, "month": 3}), None, "DOSSIER_SYNC").await),
        1
    );
    assert_eq!(
        received(metric(&app, "P1", json!({"year": 2024, "month": 4}), None, "DOSSIER_SYNC").await),
        1
    );
    assert_eq!(
        received(metric(&app, "P1", json!({"year": 2024, "quarter": 1}), None, "DOSSIER_SYNC").await),
        1
    );
    assert_eq!(received(metric(&app, "P1", json!({"year": 2024}), None, "DOSSIER_SYNC").await), 2);
    assert_eq!(
        received(
            metric(&app, "P1", json!({"from": "2024-03-31", "to": "2024-04-01"}), None, "DOSSIER_SYNC").await
        ),
        1
    );
    assert_eq!(
        codes(&app, "P1", json!({"from": "2024-04-01", "to": "2024-04-02"}), None, "DOSSIER_SYNC", "ALL")
            .await,
        set(&["APRIL"])
    );
    // A malformed period is a validation error.
    let v = run(
        &schema(&app),
        &app,
        Caller::Anonymous,
        "{ indicators(unitCode: \"P1\", period: { year: 2024, quarter: 5 }) { total } }",
        json!({}),
    )
    .await;
    assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"));
}

#[tokio::test]
async fn ranking_ties_share_a_rank_and_are_ordered_by_code() {
    let ev = |t: &'static str| [("RECEIVED", "01-02T08:00"), ("RESOLVED", t)];
    let (_db, app) = load(&[
        dossier("A1", "C1", "01-02T08:00", "01-05T08:00", &ev("01-03T08:00"), &[]),
        dossier("B1", "C2", "01-02T08:00", "01-05T08:00", &ev("01-03T08:00"), &[]),
        dossier("C1X", "C3", "01-02T08:00", "01-05T08:00", &ev("01-09T08:00"), &[]),
        // Stored after C1 and C2, first by code.
        r#"{"type":"unit","code":"C0","name":"Xã Không","level":"COMMUNE","parent":"P1","offers_e_certified_copy":true}"#.to_owned(),
        dossier("Z1", "C0", "01-02T08:00", "01-05T08:00", &ev("01-03T08:00"), &[]),
    ])
    .await;
    let q = "{ ranking(level: COMMUNE, parentCode: \"P1\", period: { year: 2024, quarter: 1 }) { rank of unitCode total } }";
    let v = run(&schema(&app), &app, Caller::Anonymous, q, json!({})).await;
    let got: Vec<(i64, i64, String)> = v["data"]["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rank"].as_i64().unwrap(),
                e["of"].as_i64().unwrap(),
                e["unitCode"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, 4, "C0".into()), (1, 4, "C1".into()), (1, 4, "C2".into()), (4, 4, "C3".into())]);
    // ELECTRONIC_CERTIFIED_COPY counts communes valid at T.
    let m = metric(&app, "P1", Q1(), None, "ELECTRONIC_CERTIFIED_COPY").await;
    assert_eq!((m["numerator"].as_i64(), m["denominator"].as_i64()), (Some(3), Some(4)));
}

#[tokio::test]
async fn the_quang_nam_merger_before_across_and_after() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    // Count the sample's dossiers by unit tree and received year, independently of the gateway.
    let units: Vec<Value> = SAMPLE
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "unit")
        .collect();
    let under = |root: &str| -> BTreeSet<String> {
        let mut set = BTreeSet::from([root.to_owned()]);
        loop {
            let before = set.len();
            for u in &units {
                if u["parent"].as_str().is_some_and(|p| set.contains(p)) {
                    set.insert(u["code"].as_str().unwrap().to_owned());
                }
            }
            if set.len() == before {
                return set;
            }
        }
    };
    let (qn, dn) = (under("49"), under("48"));
    let received = |tree: &BTreeSet<String>, from: &str, to: &str| {
        SAMPLE
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "dossier" && tree.contains(v["unit"].as_str().unwrap()))
            .filter(|v| {
                let t = chrono::DateTime::parse_from_rfc3339(v["received_at"].as_str().unwrap()).unwrap();
                let lo = chrono::DateTime::parse_from_rfc3339(&format!("{from}T00:00:00+07:00")).unwrap();
                let hi = chrono::DateTime::parse_from_rfc3339(&format!("{to}T00:00:00+07:00")).unwrap();
                t >= lo
                    && t < hi
                    && !v["events"].as_array().unwrap().iter().any(|e| e["status"] == "NOT_ACCEPTED")
            })
            .count() as i64
    };
    let den = |m: Value| m["denominator"].as_i64().unwrap();
    // Before: Đà Nẵng's 2024 excludes Quảng Nam.
    assert_eq!(
        den(metric(&app, "48", json!({"year": 2024}), None, "DOSSIER_SYNC").await),
        received(&dn, "2024-01-01", "2025-01-01")
    );
    // Across: Đà Nẵng's 2025 includes Quảng Nam's January to June.
    assert_eq!(
        den(metric(&app, "48", json!({"year": 2025}), None, "DOSSIER_SYNC").await),
        received(&dn, "2025-01-01", "2026-01-01") + received(&qn, "2025-01-01", "2026-01-01")
    );
    // …but evaluated before the merger, it does not.
    assert_eq!(
        den(metric(&app, "48", json!({"year": 2025}), Some("2025-06-30T00:00:00+07:00"), "DOSSIER_SYNC")
            .await),
        received(&dn, "2025-01-01", "2025-06-30")
    );
    // After: Quảng Nam is not ranked in 2025, and is in 2024.
    for (year, ranked) in [(2024, true), (2025, false)] {
        let q = format!(
            "{{ ranking(level: PROVINCE, parentCode: \"VN\", period: {{ year: {year} }}) {{ unitCode }} }}"
        );
        let v = run(&schema(&app), &app, Caller::Anonymous, &q, json!({})).await;
        let codes: BTreeSet<String> = v["data"]["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["unitCode"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes.contains("49"), ranked, "{year}");
    }
}

#[tokio::test]
async fn drill_down_needs_a_leader_or_admin_in_scope() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let q = "{ indicatorDossiers(unitCode: \"49\", period: { year: 2024 }, metric: ON_TIME_PROCESSING) { edges { node { code } } } }";
    let v = run(&s, &app, Caller::Anonymous, q, json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("UNAUTHENTICATED"));
    let v = run(&s, &app, staff(Role::Officer, "49"), q, json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("FORBIDDEN"));
    let v = run(&s, &app, staff(Role::Leader, "25"), q, json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));
    let v = run(&s, &app, staff(Role::Leader, "49"), q, json!({})).await;
    let late = v["data"]["indicatorDossiers"]["edges"].as_array().unwrap().len();
    // 120 in scope, 59 on time: the first page of the 61 late ones.
    assert_eq!(late, 20, "{v}");
    let q = "{ indicatorDossiers(unitCode: \"49\", period: { year: 2024 }, metric: PUBLISH_ON_TIME) { edges { cursor } } }";
    let v = run(&s, &app, staff(Role::Admin, "VN"), q, json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"));
    let q = "{ indicatorFeedback(unitCode: \"49\", period: { year: 2024 }, metric: PAKN_SATISFACTION, outcome: ALL) { edges { node { code } } } }";
    let v = run(&s, &app, staff(Role::Leader, "49"), q, json!({})).await;
    assert_eq!(v["data"]["indicatorFeedback"]["edges"].as_array().unwrap().len(), 2, "{v}");

    // Pages walked with `after` list each late dossier once; the sector filter splits them by the procedure's
    // sector, the procedure filter keeps one procedure's.
    let page = |after: Option<&str>, filter: &str| {
        let after = after.map(|a| format!(", after: \"{a}\"")).unwrap_or_default();
        format!(
            "{{ indicatorDossiers(unitCode: \"49\", period: {{ year: 2024 }}, metric: ON_TIME_PROCESSING, first: 20{after}{filter}) \
             {{ edges {{ node {{ code procedure {{ code sector {{ code }} }} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        )
    };
    let walk = |filter: String| {
        let (s, app, leader) = (&s, &app, staff(Role::Leader, "49"));
        async move {
            let (mut all, mut after) = (Vec::<Value>::new(), None::<String>);
            loop {
                let v = run(s, app, leader.clone(), &page(after.as_deref(), &filter), json!({})).await;
                let conn = &v["data"]["indicatorDossiers"];
                all.extend(
                    conn["edges"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{v}"))
                        .iter()
                        .map(|e| e["node"].clone()),
                );
                if conn["pageInfo"]["hasNextPage"] != true {
                    return all;
                }
                after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
        }
    };
    let late_all = walk(String::new()).await;
    let late_codes: BTreeSet<&str> = late_all.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!((late_all.len(), late_codes.len()), (61, 61));
    let sectors: BTreeSet<&str> =
        late_all.iter().map(|d| d["procedure"]["sector"]["code"].as_str().unwrap()).collect();
    assert!(sectors.len() > 1, "{sectors:?}");
    let mut by_sector = 0;
    for sector in &sectors {
        let listed = walk(format!(", sectorCode: \"{sector}\"")).await;
        assert!(listed.iter().all(|d| d["procedure"]["sector"]["code"] == *sector), "{sector}");
        by_sector += listed.len();
    }
    assert_eq!(by_sector, 61);
    let procedure = late_all[0]["procedure"]["code"].as_str().unwrap();
    let listed = walk(format!(", procedureCode: \"{procedure}\"")).await;
    let expected = late_all.iter().filter(|d| d["procedure"]["code"] == procedure).count();
    assert!(
        expected > 0
            && listed.len() == expected
            && listed.iter().all(|d| d["procedure"]["code"] == procedure)
    );
    assert!(walk(", procedureCode: \"NO-SUCH\"".to_owned()).await.is_empty());

    // PAKN about a dossier are filtered by its procedure.
    let fq = |filter: &str| {
        format!(
            "{{ indicatorFeedback(unitCode: \"49\", period: {{ year: 2024 }}, metric: PAKN_ON_TIME, outcome: ALL, first: 100{filter}) {{ edges {{ node {{ code dossierCode }} }} }} }}"
        )
    };
    let leader = staff(Role::Leader, "49");
    let v = run(&s, &app, leader.clone(), &fq(""), json!({})).await;
    let pakn = v["data"]["indicatorFeedback"]["edges"].as_array().unwrap().clone();
    let about = pakn.iter().find_map(|e| e["node"]["dossierCode"].as_str()).expect("a PAKN about a dossier");
    let d = run(
        &s,
        &app,
        leader.clone(),
        &format!("{{ dossier(code: \"{about}\") {{ procedure {{ code }} }} }}"),
        json!({}),
    )
    .await;
    let procedure = d["data"]["dossier"]["procedure"]["code"].as_str().unwrap().to_owned();
    let v = run(&s, &app, leader.clone(), &fq(&format!(", procedureCode: \"{procedure}\"")), json!({})).await;
    let filtered = v["data"]["indicatorFeedback"]["edges"].as_array().unwrap();
    assert!(!filtered.is_empty() && filtered.len() < pakn.len(), "{v}");
    for e in filtered {
        let code = e["node"]["dossierCode"].as_str().expect("about a dossier");
        let q = format!("{{ dossier(code: \"{code}\") {{ procedure {{ code }} }} }}");
        let d = run(&s, &app, leader.clone(), &q, json!({})).await;
        assert_eq!(d["data"]["dossier"]["procedure"]["code"], procedure.as_str(), "{d}");
    }

    // The procedures and communes behind the other metrics are exactly those counted: all of them in the
    // denominator, the passing ones in the numerator.
    let report = "{ indicators(unitCode: \"49\", period: { year: 2024 }) { groups { metrics { key numerator denominator } } } }";
    let v = run(&s, &app, Caller::Anonymous, report, json!({})).await;
    let count = |key: &str| -> (usize, usize) {
        let groups = v["data"]["indicators"]["groups"].as_array().unwrap();
        let m =
            groups.iter().flat_map(|g| g["metrics"].as_array().unwrap()).find(|m| m["key"] == key).unwrap();
        (m["numerator"].as_u64().unwrap() as usize, m["denominator"].as_u64().unwrap() as usize)
    };
    let leader = staff(Role::Leader, "49");
    for key in [
        "PUBLISH_ON_TIME",
        "PUBLIC_UPDATE_ON_TIME",
        "PUBLIC_CONTENT_FULL",
        "PROCEDURES_PAID_ONLINE",
        "PROCEDURES_WITH_RECEIPTS",
        "VNEID_PROCEDURES",
    ] {
        let mut listed = [0usize; 2];
        for (i, outcome) in ["PASSING", "ALL"].iter().enumerate() {
            let q = format!(
                "{{ indicatorProcedures(unitCode: \"49\", period: {{ year: 2024 }}, metric: {key}, outcome: {outcome}, first: 100) \
                 {{ edges {{ node {{ code }} }} pageInfo {{ hasNextPage }} }} }}"
            );
            let l = run(&s, &app, leader.clone(), &q, json!({})).await;
            assert_eq!(l["data"]["indicatorProcedures"]["pageInfo"]["hasNextPage"], false, "{l}");
            listed[i] = l["data"]["indicatorProcedures"]["edges"].as_array().unwrap().len();
        }
        assert_eq!((listed[0], listed[1]), count(key), "{key}");
        assert!(listed[1] > 0, "{key}: the sample counts procedures");
    }
    let communes = |outcome: &str| {
        format!(
            "{{ indicatorCommunes(unitCode: \"49\", period: {{ year: 2024 }}, outcome: {outcome}) {{ code }} }}"
        )
    };
    let all = run(&s, &app, leader.clone(), &communes("ALL"), json!({})).await;
    let passing = run(&s, &app, leader.clone(), &communes("PASSING"), json!({})).await;
    let n = |v: &Value| v["data"]["indicatorCommunes"].as_array().unwrap_or_else(|| panic!("{v}")).len();
    assert_eq!((n(&passing), n(&all)), count("ELECTRONIC_CERTIFIED_COPY"));
    assert!(n(&all) > 0);
    let v = run(&s, &app, staff(Role::Officer, "49"), &communes("ALL"), json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("FORBIDDEN"));
    let v = run(&s, &app, staff(Role::Leader, "25"), &communes("ALL"), json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));
}
