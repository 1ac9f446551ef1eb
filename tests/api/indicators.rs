//! The Decision 766 numbers: every query of sample-expected.json, on both databases.

use dvc_gateway::auth::Caller;
use serde_json::{Value, json};

use crate::support::*;

const EXPECTED: &str = include_str!("../fixtures/sample-expected.json");

const REPORT: &str =
    "query($u: String!, $p: PeriodInput!, $a: DateTime) { indicators(unitCode: $u, period: $p, asOf: $a) {
  unitCode formulaVersion periodStart periodEnd asOf total grade
  groups { key score maxScore metrics { key numerator denominator ratio score maxScore } } } }";
const RANKING: &str = "query($l: UnitLevel!, $parent: String, $p: PeriodInput!, $a: DateTime) {
  ranking(level: $l, parentCode: $parent, period: $p, asOf: $a) { rank of unitCode unitName total grade } }";

fn period(q: &Value) -> Value {
    let mut p = serde_json::Map::new();
    for k in ["year", "quarter", "month", "from", "to"] {
        if !q[k].is_null() {
            p.insert(k.to_owned(), q[k].clone());
        }
    }
    Value::Object(p)
}

fn close(a: &Value, b: &Value, what: &str) {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => assert!((x - y).abs() < 0.005 + 1e-9, "{what}: got {x}, expected {y}"),
        _ => assert_eq!(a, b, "{what}"),
    }
}

fn same_instant(a: &Value, b: &Value, what: &str) {
    let p = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).unwrap();
    assert_eq!(p(a), p(b), "{what}");
}

pub fn check_report(got: &Value, want: &Value, label: &str) {
    assert_eq!(got["unitCode"], want["unitCode"], "{label}");
    assert_eq!(got["formulaVersion"], "qd766-portal-2024");
    for k in ["periodStart", "periodEnd", "asOf"] {
        same_instant(&got[k], &want[k], &format!("{label} {k}"));
    }
    let (got_groups, want_groups) = (got["groups"].as_array().unwrap(), want["groups"].as_array().unwrap());
    assert_eq!(got_groups.len(), want_groups.len(), "{label} groups");
    assert_eq!(got_groups.len(), 6, "{label} groups");
    for (gg, wg) in got_groups.iter().zip(want_groups) {
        assert_eq!(gg["key"], wg["key"]);
        let (got_metrics, want_metrics) =
            (gg["metrics"].as_array().unwrap(), wg["metrics"].as_array().unwrap());
        assert_eq!(got_metrics.len(), want_metrics.len(), "{label} metrics of {}", wg["key"]);
        for (gm, wm) in got_metrics.iter().zip(want_metrics) {
            let what = format!("{label} {}", wm["key"]);
            assert_eq!(gm["key"], wm["key"], "{what}");
            assert_eq!(
                (&gm["numerator"], &gm["denominator"]),
                (&wm["numerator"], &wm["denominator"]),
                "{what} counts"
            );
            close(&gm["ratio"], &wm["ratio"], &format!("{what} ratio"));
            close(&gm["score"], &wm["score"], &format!("{what} score"));
            close(&gm["maxScore"], &wm["maxScore"], &format!("{what} max"));
        }
        close(&gg["score"], &wg["score"], &format!("{label} group {}", wg["key"]));
    }
    close(&got["total"], &want["total"], &format!("{label} total"));
    assert_eq!(got["grade"], want["grade"], "{label} grade");
}

per_backend! {
    #[tokio::test]
    async fn sample_expected_is_reproduced(backend: Backend) {
        let cases: Vec<Value> = serde_json::from_str(EXPECTED).unwrap();
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        for case in &cases {
            let q = &case["query"];
            let label = format!("{backend:?} {q}");
            if q["kind"] == "indicators" {
                let v = run(
                    &s,
                    &app,
                    Caller::Anonymous,
                    REPORT,
                    json!({"u": q["unit"], "p": period(q), "a": q["asOf"]}),
                )
                .await;
                assert!(v["errors"].is_null(), "{label}: {v}");
                check_report(&v["data"]["indicators"], &case["expected"], &label);
            } else {
                let v = run(
                    &s,
                    &app,
                    Caller::Anonymous,
                    RANKING,
                    json!({"l": q["level"], "parent": q["parent"], "p": period(q), "a": q["asOf"]}),
                )
                .await;
                assert!(v["errors"].is_null(), "{label}: {v}");
                let got = v["data"]["ranking"].as_array().unwrap();
                let want = case["expected"].as_array().unwrap();
                assert_eq!(got.len(), want.len(), "{label}");
                for (g, w) in got.iter().zip(want) {
                    assert_eq!(
                        (&g["rank"], &g["of"], &g["unitCode"], &g["unitName"], &g["grade"]),
                        (&w["rank"], &w["of"], &w["unitCode"], &w["unitName"], &w["grade"]),
                        "{label}"
                    );
                    close(&g["total"], &w["total"], &label);
                }
            }
        }
    }
}
