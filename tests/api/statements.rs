//! SQL statements per request: a nested list costs one statement per level of nesting, whatever the number of
//! rows (no N+1), counted by sea-orm's statement callback on both databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dvc_gateway::app::App;
use dvc_gateway::domain::Role;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::support::*;

/// An app whose SELECT statements are counted.
fn counted_app(db: &TestDb) -> (App, Arc<AtomicUsize>) {
    let mut conn = db.conn.clone();
    let selects = Arc::new(AtomicUsize::new(0));
    let counter = selects.clone();
    conn.set_metric_callback(move |info| {
        if info.statement.sql.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("select")) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (App::new(conn, settings()).expect("app"), selects)
}

const ONE: &str = r#"query($c: String!) { dossier(code: $c) { code status dueAt
    receipts { number series amount status issuedAt } feedback { code kind receivedAt answeredAt }
    events { status at } procedure { name } } }"#;

const PAGE: &str = r#"query($n: Int!) { dossiers(first: $n) { edges { node { code status dueAt
    receipts { number series amount status issuedAt } feedback { code kind receivedAt answeredAt }
    events { status at } procedure { name } } } } }"#;

per_backend! {
    #[tokio::test]
    async fn nested_lists_cost_one_statement_per_level_whatever_the_rows(backend: Backend) {
        let db = TestDb::new(backend).await;
        let (app, selects) = counted_app(&db);
        let report = import_str(&app, SAMPLE, false).await;
        assert!(report.committed);
        // A dossier with receipts and feedback.
        let row = db
            .conn
            .query_one_raw(Statement::from_string(
                db.conn.get_database_backend(),
                "SELECT d.code FROM dossier d WHERE EXISTS (SELECT 1 FROM receipt r WHERE r.dossier_id = d.id) \
                 AND EXISTS (SELECT 1 FROM feedback f WHERE f.dossier_id = d.id) ORDER BY d.id",
            ))
            .await
            .unwrap()
            .expect("the sample has a dossier with receipts and feedback");
        let code: String = row.try_get_by_index(0).unwrap();
        let schema = schema(&app);
        let leader = staff(Role::Leader, "VN");
        let count = |selects: &AtomicUsize| selects.swap(0, Ordering::SeqCst);

        // Warm the unit tree, so that every request below reads it the same way (its version only).
        run(&schema, &app, leader.clone(), "{ units(level: PROVINCE) { code } }", json!({})).await;
        count(&selects);

        let one = run(&schema, &app, leader.clone(), ONE, json!({ "c": code })).await;
        let d = &one["data"]["dossier"];
        assert!(d["receipts"].as_array().is_some_and(|r| !r.is_empty()), "{one}");
        assert!(d["feedback"].as_array().is_some_and(|f| !f.is_empty()), "{one}");
        let for_one = count(&selects);

        let mut per_page = Vec::new();
        for n in [1, 5, 20] {
            let page = run(&schema, &app, leader.clone(), PAGE, json!({ "n": n })).await;
            let edges = page["data"]["dossiers"]["edges"].as_array().unwrap_or_else(|| panic!("{page}"));
            assert_eq!(edges.len(), n as usize);
            per_page.push(count(&selects));
        }
        // The version read, the dossier(s), then one statement per nested list (receipts, feedback, events,
        // procedures): the same whether the page holds 1, 5 or 20 dossiers.
        assert!(for_one <= 6, "one nested dossier took {for_one} statements");
        assert!(per_page.iter().all(|&n| n == per_page[0]), "statements per page of 1, 5, 20: {per_page:?}");
        assert!(per_page[0] <= 7, "a nested page took {} statements", per_page[0]);
    }
}
