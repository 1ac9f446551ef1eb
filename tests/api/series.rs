//! Indicator series and breakdowns: every step of a series is exactly the report of its period, counted in one
//! pass; every breakdown's groups add up to the unit's own numerator and denominator and share its lost points.

use chrono::{DateTime, FixedOffset, NaiveDate};
use demo::{DemoOptions, generate};
use dvc_gateway::auth::{Caller, Role};
use dvc_gateway::db::indicators::{Cells, breakdown_cells, counts, series_counts};
use dvc_gateway::domain::indicators::{Count, MetricKey, Window};
use dvc_gateway::domain::time::{PeriodSpec, SeriesStep, series_periods, to_micros};
use dvc_gateway::interchange::records::Record;
use serde_json::{Value, json};

use crate::support::*;

fn day(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap()
}

fn now() -> i64 {
    to_micros(DateTime::<FixedOffset>::parse_from_rfc3339("2026-11-28T10:00:00+07:00").unwrap())
}

/// Series that cross the merger of Quảng Nam into Đà Nẵng (1 July 2025), the current year and the future.
fn series_windows() -> Vec<Vec<Window>> {
    let shapes = [
        (day(2024, 1), day(2026, 1), SeriesStep::Month, false),
        (day(2025, 1), day(2026, 1), SeriesStep::Month, true),
        (day(2024, 1), day(2027, 1), SeriesStep::Quarter, false),
        (day(2023, 1), day(2028, 1), SeriesStep::Year, false),
        (day(2026, 1), day(2027, 1), SeriesStep::Month, true),
    ];
    shapes
        .iter()
        .map(|&(from, to, step, cumulative)| {
            let periods = series_periods(from, to, step, cumulative).unwrap();
            periods.iter().map(|p| Window::of(p, None, now()).unwrap()).collect()
        })
        .collect()
}

fn sum_cells(cells: &Cells, k: MetricKey) -> Count {
    cells
        .cells
        .iter()
        .filter(|c| c.key() == k)
        .fold(Count::default(), |t, c| Count { num: t.num + c.num, den: t.den + c.den })
}

/// The series and the cells of `units` agree with the reports, window by window.
async fn check_counts(app: &dvc_gateway::app::App, units: &[String], label: &str) {
    let tree = app.units().await.unwrap();
    let calendar = app.calendar().await.unwrap();
    for unit in units {
        for windows in series_windows() {
            let got = series_counts(&app.db, &tree, &calendar, unit, &windows).await.unwrap();
            assert_eq!(got.len(), windows.len());
            for (w, c) in windows.iter().zip(&got) {
                let want = counts(&app.db, &tree, &calendar, unit, w).await.unwrap();
                assert_eq!(*c, want, "{label}: series of {unit}, window {w:?}");
            }
        }
        let year = |y| Window::of(&PeriodSpec { year: Some(y), ..Default::default() }, None, now()).unwrap();
        let quarter = Window::of(
            &PeriodSpec { year: Some(2025), quarter: Some(3), ..Default::default() },
            Some(to_micros(DateTime::parse_from_rfc3339("2025-08-20T08:00:00+07:00").unwrap())),
            now(),
        )
        .unwrap();
        for w in [year(2024), year(2025), quarter] {
            let cells = breakdown_cells(&app.db, &tree, &calendar, unit, &w).await.unwrap();
            let want = counts(&app.db, &tree, &calendar, unit, &w).await.unwrap();
            for k in MetricKey::ALL {
                assert_eq!(
                    sum_cells(&cells, k),
                    want.get(k),
                    "{label}: cells of {unit}, {k:?}, window {w:?}"
                );
            }
        }
    }
}

const REPORT: &str = "query($u: String!, $p: PeriodInput!) { indicators(unitCode: $u, period: $p) { total \
    groups { metrics { key numerator denominator score maxScore } } } }";

const BREAKDOWN: &str = "query($u: String!, $p: PeriodInput!, $m: MetricKey!, $by: BreakdownBy!, $after: String) { \
    indicatorBreakdown(unitCode: $u, period: $p, metric: $m, by: $by, first: 50, after: $after) { \
    numerator denominator score maxScore pointsLost totalCount pageInfo { hasNextPage endCursor } \
    edges { node { kind code name numerator denominator ratio pointsLost } } } }";

/// Every metric of `unit`'s report for `year`, broken down each way through the API, adds up to the report; returns
/// the groups of ON_TIME_PROCESSING by child unit.
async fn check_breakdowns_of(app: &dvc_gateway::app::App, unit: &str, year: i32) -> Vec<Value> {
    let schema = schema(app);
    let p = json!({"year": year});
    let mut on_time_by_unit = Vec::new();
    let report = run(&schema, app, Caller::Anonymous, REPORT, json!({"u": unit, "p": p})).await;
    assert!(report["errors"].is_null(), "{report}");
    let metrics: Vec<Value> = report["data"]["indicators"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["metrics"].as_array().unwrap().clone())
        .collect();
    assert_eq!(metrics.len(), 19);
    for m in &metrics {
        for by in ["CHILD_UNIT", "SECTOR", "PROCEDURE"] {
            let mut groups = Vec::new();
            let mut after = Value::Null;
            let summary = loop {
                let vars = json!({"u": unit, "p": p, "m": m["key"], "by": by, "after": after});
                let v = run(&schema, app, Caller::Anonymous, BREAKDOWN, vars).await;
                assert!(v["errors"].is_null(), "{v}");
                let b = v["data"]["indicatorBreakdown"].clone();
                groups.extend(b["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
                if !b["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                    break b;
                }
                after = b["pageInfo"]["endCursor"].clone();
            };
            let what = format!("{unit} {} by {by}", m["key"]);
            assert_eq!(summary["numerator"], m["numerator"], "{what}");
            assert_eq!(summary["denominator"], m["denominator"], "{what}");
            assert_eq!(summary["score"], m["score"], "{what}");
            assert_eq!(summary["totalCount"].as_u64().unwrap() as usize, groups.len(), "{what}");
            let sum = |f: &str| groups.iter().map(|g| g[f].as_i64().unwrap()).sum::<i64>();
            assert_eq!(sum("numerator"), m["numerator"].as_i64().unwrap(), "{what}");
            assert_eq!(sum("denominator"), m["denominator"].as_i64().unwrap(), "{what}");
            let lost: f64 = groups.iter().map(|g| g["pointsLost"].as_f64().unwrap()).sum();
            let want = summary["pointsLost"].as_f64().unwrap();
            let m_lost = m["maxScore"].as_f64().unwrap() - m["score"].as_f64().unwrap();
            assert!((want - m_lost).abs() <= 0.011, "{what}: {want} vs {m_lost}");
            assert!((lost - want).abs() <= 0.006 * groups.len() as f64 + 0.01, "{what}: {lost} vs {want}");
            let order: Vec<f64> = groups.iter().map(|g| g["pointsLost"].as_f64().unwrap()).collect();
            assert!(order.windows(2).all(|w| w[0] >= w[1]), "{what}: not sorted by points lost: {order:?}");
            if by == "CHILD_UNIT" {
                let codes: Vec<&str> = groups.iter().map(|g| g["code"].as_str().unwrap()).collect();
                let unique: std::collections::HashSet<_> = codes.iter().collect();
                assert_eq!(unique.len(), codes.len(), "{what}: a unit twice");
                if m["key"] == "ON_TIME_PROCESSING" {
                    on_time_by_unit = groups.clone();
                }
            }
        }
    }
    on_time_by_unit
}

async fn check_breakdowns(app: &dvc_gateway::app::App, unit: &str) {
    check_breakdowns_of(app, unit, 2024).await;
}

const SERIES: &str = "query($u: String!, $from: Date!, $to: Date!, $step: SeriesStep!, $c: Boolean) { \
    indicatorSeries(unitCode: $u, from: $from, to: $to, step: $step, cumulative: $c) { unitCode periodStart \
    periodEnd asOf total grade groups { key score metrics { key numerator denominator score } } } }";

const ONE: &str = "query($u: String!, $p: PeriodInput!) { indicators(unitCode: $u, period: $p) { unitCode \
    periodStart periodEnd asOf total grade groups { key score metrics { key numerator denominator score } } } }";

/// A series through the API: each step is the `indicators` of its period, before and after the cache holds it.
async fn check_series_api(app: &dvc_gateway::app::App, unit: &str) {
    let schema = schema(app);
    for (step, cumulative) in [("MONTH", false), ("MONTH", true), ("QUARTER", false)] {
        let vars =
            json!({"u": unit, "from": "2024-01-01", "to": "2026-01-01", "step": step, "c": cumulative});
        let first = run(&schema, app, Caller::Anonymous, SERIES, vars.clone()).await;
        assert!(first["errors"].is_null(), "{first}");
        let steps = first["data"]["indicatorSeries"].as_array().unwrap().clone();
        assert_eq!(steps.len(), if step == "MONTH" { 24 } else { 8 });
        for s in &steps {
            let from = &s["periodStart"].as_str().unwrap()[..10];
            let to = &s["periodEnd"].as_str().unwrap()[..10];
            let one =
                run(&schema, app, Caller::Anonymous, ONE, json!({"u": unit, "p": {"from": from, "to": to}}))
                    .await;
            assert_eq!(one["data"]["indicators"], *s, "{unit} {step} {from}..{to}");
            if cumulative {
                assert!(from.ends_with("-01-01"), "a cumulative step starts its year: {from}");
            }
        }
        // Served again (from the cache now): the same.
        let again = run(&schema, app, Caller::Anonymous, SERIES, vars).await;
        assert_eq!(again, first);
    }
    // Misaligned and too long ranges are refused with a clear message.
    let bad = run(
        &schema,
        app,
        Caller::Anonymous,
        SERIES,
        json!({"u": unit, "from": "2024-01-15", "to": "2025-01-01", "step": "MONTH"}),
    )
    .await;
    assert_eq!(error_code(&bad).as_deref(), Some("VALIDATION"), "{bad}");
    assert!(bad["errors"][0]["message"].as_str().unwrap().contains("first day of a month"), "{bad}");
    let long = run(
        &schema,
        app,
        Caller::Anonymous,
        SERIES,
        json!({"u": unit, "from": "2000-01-01", "to": "2026-01-01", "step": "MONTH"}),
    )
    .await;
    assert!(long["errors"][0]["message"].as_str().unwrap().contains("at most"), "{long}");
    let unknown = run(
        &schema,
        app,
        Caller::Anonymous,
        SERIES,
        json!({"u": "ZZ", "from": "2024-01-01", "to": "2025-01-01", "step": "YEAR"}),
    )
    .await;
    assert!(unknown["data"].is_null() || unknown["data"]["indicatorSeries"].is_null(), "{unknown}");
    assert_eq!(error_code(&unknown).as_deref(), Some("NOT_FOUND"), "{unknown}");
}

per_backend! {
    #[tokio::test]
    async fn series_and_breakdowns_add_up_on_the_sample(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let units: Vec<String> = ["VN", "48", "49", "25", "20500"].iter().map(|s| s.to_string()).collect();
        check_counts(&app, &units, "sample").await;
        check_series_api(&app, "48").await;
        check_breakdowns(&app, "49").await;
        check_breakdowns(&app, "VN").await;
        // In 2025 Đà Nẵng includes Quảng Nam's dossiers of January to June: Quảng Nam is a group of its own.
        let groups = check_breakdowns_of(&app, "48", 2025).await;
        let quang_nam = groups.iter().find(|g| g["code"] == "49").expect("Quảng Nam is a group of Đà Nẵng's 2025");
        assert_eq!(quang_nam["kind"], "UNIT");
        assert!(quang_nam["denominator"].as_i64().unwrap() > 0, "{quang_nam}");
    }
}

per_backend! {
    #[tokio::test]
    async fn series_and_breakdowns_add_up_on_generated_data(backend: Backend) {
        let mut records = Vec::new();
        generate(&DemoOptions { scale: 0.004, seed: 11 }, &mut |r| records.push(r));
        let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
        let db = TestDb::new(backend).await;
        let app = app(&db);
        let r = import_str(&app, &text, false).await;
        assert!(r.committed, "{:?}", r.errors);
        let tree = app.units().await.unwrap();
        let district = tree
            .children_of("49")
            .find(|u| u.level == dvc_gateway::domain::UnitLevel::District)
            .map(|u| u.code.to_string());
        assert!(district.is_some(), "the demo province has districts");
        let mut units: Vec<String> = ["VN", "48", "49"].iter().map(|s| s.to_string()).collect();
        units.extend(district.clone());
        check_counts(&app, &units, "generated").await;
        check_series_api(&app, "49").await;
        check_breakdowns(&app, "49").await;
        if let Some(d) = district {
            check_breakdowns(&app, &d).await;
        }
    }
}

/// A breakdown is public like the report; its cells are cached, and a write shows in the next answer.
#[tokio::test]
async fn a_breakdown_follows_writes() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let schema = schema(&app);
    let q = "query { indicatorBreakdown(unitCode: \"48\", period: {year: 2026}, metric: PAKN_ON_TIME, by: CHILD_UNIT) { denominator } }";
    let before = run(&schema, &app, Caller::Anonymous, q, json!({})).await;
    let den = before["data"]["indicatorBreakdown"]["denominator"].as_i64().unwrap();
    let m = "mutation($i: RecordFeedbackInput!) { recordFeedback(input: $i) { code } }";
    let input = json!({"kind": "COMPLAINT", "channel": "HOTLINE", "unitCode": "48", "content": "x"});
    let w = run(&schema, &app, staff(Role::Admin, "VN"), m, json!({"i": input})).await;
    assert!(w["errors"].is_null(), "{w}");
    let after = run(&schema, &app, Caller::Anonymous, q, json!({})).await;
    assert_eq!(after["data"]["indicatorBreakdown"]["denominator"].as_i64().unwrap(), den + 1, "{after}");
}
