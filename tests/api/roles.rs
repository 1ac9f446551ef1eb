//! Every role against every operation, in and out of scope: one table, one loop.

use dvc_gateway::auth::{Caller, Role};
use serde_json::{Value, json};

use crate::support::*;

const CITIZEN_ID: &str = "079912345678";

/// Objects made by an administrator for one row of the table: all in commune 20022 of Quảng Nam (49).
struct Fixture {
    processing: String,
    for_supplement: String,
    awaiting_supplement: String,
    for_apology: String,
    receipt_number: i64,
    feedback: String,
}

async fn admin(
    s: &dvc_gateway::graphql::GatewaySchema,
    app: &dvc_gateway::app::App,
    q: &str,
    vars: Value,
) -> Value {
    let v = run(s, app, staff(Role::Admin, "VN"), q, vars).await;
    assert!(v["errors"].is_null(), "setup failed: {v}");
    v
}

async fn received(s: &dvc_gateway::graphql::GatewaySchema, app: &dvc_gateway::app::App) -> String {
    let q = r#"mutation($id: String!) { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: ONLINE,
        applicant: { idNumber: $id, name: "Lê Văn C" } }) { code } }"#;
    let v = admin(s, app, q, json!({"id": CITIZEN_ID})).await;
    let code = v["data"]["receiveDossier"]["code"].as_str().unwrap().to_owned();
    let q = "mutation($c: String!) { changeDossierStatus(code: $c, status: PROCESSING) { code } }";
    admin(s, app, q, json!({"c": code})).await;
    code
}

async fn fixture(s: &dvc_gateway::graphql::GatewaySchema, app: &dvc_gateway::app::App, n: i64) -> Fixture {
    let processing = received(s, app).await;
    let for_supplement = received(s, app).await;
    let awaiting_supplement = received(s, app).await;
    admin(
        s,
        app,
        "mutation($c: String!) { requestSupplement(code: $c, reason: \"thiếu giấy tờ\") { code } }",
        json!({"c": awaiting_supplement}),
    )
    .await;
    let for_apology = received(s, app).await;
    let q = r#"mutation($c: String!, $n: Int!) { issueReceipt(input: { series: "ROLE-26", number: $n, dossierCode: $c, payerName: "Lê Văn C",
        amount: 100000, kind: FEE, paymentChannel: COUNTER }) { number } }"#;
    admin(s, app, q, json!({"c": processing, "n": n})).await;
    let q = r#"mutation($c: String!) { recordFeedback(input: { kind: RECOMMENDATION, channel: PORTAL, unitCode: "20022", dossierCode: $c,
        content: "đề nghị" }) { code } }"#;
    let v = admin(s, app, q, json!({"c": processing})).await;
    let feedback = v["data"]["recordFeedback"]["code"].as_str().unwrap().to_owned();
    Fixture { processing, for_supplement, awaiting_supplement, for_apology, receipt_number: n, feedback }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Data came back (a non-null object, or a non-empty list).
    Ok,
    /// `null`, an empty list or `NOT_FOUND`: indistinguishable from missing.
    Hidden,
    Forbidden,
    Unauthenticated,
}

fn outcome(v: &Value, field: &str) -> Outcome {
    match error_code(v).as_deref() {
        Some("FORBIDDEN") => return Outcome::Forbidden,
        Some("UNAUTHENTICATED") => return Outcome::Unauthenticated,
        Some("NOT_FOUND") => return Outcome::Hidden,
        Some(other) => panic!("{field}: unexpected error {other}: {v}"),
        None => {}
    }
    let data = &v["data"][field];
    let empty_list = data.get("edges").and_then(Value::as_array).is_some_and(Vec::is_empty);
    if data.is_null() || empty_list { Outcome::Hidden } else { Outcome::Ok }
}

#[tokio::test]
async fn every_role_against_every_operation() {
    use Outcome::*;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = crate::support::app(&db);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let s = schema(&app);

    // (caller, in scope?) — a citizen is "in scope" for their own dossiers.
    let callers: Vec<(&str, Caller, bool)> = vec![
        ("anonymous", Caller::Anonymous, false),
        ("citizen (own)", Caller::Citizen { sub: CITIZEN_ID.into() }, true),
        ("citizen (other)", Caller::Citizen { sub: "079900000000".into() }, false),
        ("hotline 49", staff(Role::Hotline, "49"), true),
        ("hotline 25", staff(Role::Hotline, "25"), false),
        ("officer 20022", staff(Role::Officer, "20022"), true),
        ("officer 25", staff(Role::Officer, "25"), false),
        ("leader 48", staff(Role::Leader, "48"), true),
        ("leader 25", staff(Role::Leader, "25"), false),
        ("admin VN", staff(Role::Admin, "VN"), true),
        ("admin 51", staff(Role::Admin, "51"), false),
    ];

    let mut n = 0;
    for (name, caller, in_scope) in callers {
        n += 1;
        let f = fixture(&s, &app, n).await;
        let role = caller.role();
        let reader = role.is_some();
        let officer = matches!(role, Some(Role::Officer | Role::Admin));
        let recorder = matches!(role, Some(Role::Citizen | Role::Hotline | Role::Officer | Role::Admin));
        let answerer = matches!(role, Some(Role::Hotline | Role::Officer | Role::Admin));
        let expect = |allowed: bool| match (role, allowed, in_scope) {
            (None, _, _) => Unauthenticated,
            (_, false, _) => Forbidden,
            (_, true, true) => Ok,
            (_, true, false) => Hidden,
        };
        let ops: Vec<(&str, String, Value, Outcome)> = vec![
            ("dossier", "query($c: String!) { dossier(code: $c) { code } }".into(), json!({"c": f.processing}), expect(reader)),
            (
                "dossiers",
                "query($c: String!) { dossiers(filter: { unitCode: $c }) { edges { node { code } } } }".into(),
                json!({"c": "20022"}),
                expect(reader),
            ),
            ("receipt", "query($n: Int!) { receipt(series: \"ROLE-26\", number: $n) { number } }".into(), json!({"n": f.receipt_number}), expect(reader)),
            ("receipts", "{ receipts(filter: { series: \"ROLE-26\" }) { edges { node { number } } } }".into(), json!({}), expect(reader)),
            ("feedback", "query($c: String!) { feedback(code: $c) { code } }".into(), json!({"c": f.feedback}), expect(reader)),
            ("feedbacks", "query($c: String!) { feedbacks(filter: { dossierCode: $c }) { edges { node { code } } } }".into(), json!({"c": f.processing}), expect(reader)),
            (
                "receiveDossier",
                r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: DIRECT,
                    applicant: { idNumber: "079912345678", name: "Lê Văn C" } }) { code } }"#
                    .into(),
                json!({}),
                expect(officer),
            ),
            (
                "changeDossierStatus",
                "mutation($c: String!) { changeDossierStatus(code: $c, status: RESOLVED) { code } }".into(),
                json!({"c": f.processing}),
                expect(officer),
            ),
            (
                "requestSupplement",
                "mutation($c: String!) { requestSupplement(code: $c, reason: \"thiếu bản sao\") { code } }".into(),
                json!({"c": f.for_supplement}),
                expect(officer),
            ),
            ("answerSupplement", "mutation($c: String!) { answerSupplement(code: $c) { code } }".into(), json!({"c": f.awaiting_supplement}), expect(officer)),
            (
                "issueApology",
                "mutation($c: String!) { issueApology(code: $c, reason: \"quá hạn\", newDueAt: \"2099-01-01T08:00:00+07:00\") { code } }".into(),
                json!({"c": f.for_apology}),
                expect(officer),
            ),
            (
                "issueReceipt",
                r#"mutation($c: String!, $n: Int!) { issueReceipt(input: { series: "ROLE-NEW", number: $n, dossierCode: $c,
                    payerName: "Lê Văn C", amount: 5000, kind: CHARGE, paymentChannel: COUNTER }) { number } }"#
                    .into(),
                json!({"c": f.for_apology, "n": n}),
                expect(officer),
            ),
            (
                "cancelReceipt",
                "mutation($n: Int!) { cancelReceipt(series: \"ROLE-26\", number: $n, reason: \"thu nhầm\") { number } }".into(),
                json!({"n": f.receipt_number}),
                expect(officer),
            ),
            (
                "recordFeedback",
                r#"mutation($c: String!) { recordFeedback(input: { kind: RATING, channel: PORTAL, unitCode: "20022", dossierCode: $c,
                    content: "tốt", rating: SATISFIED }) { code } }"#
                    .into(),
                json!({"c": f.processing}),
                expect(recorder),
            ),
            (
                "answerFeedback",
                "mutation($c: String!) { answerFeedback(code: $c, answer: \"đã tiếp thu\") { code } }".into(),
                json!({"c": f.feedback}),
                expect(answerer),
            ),
        ];
        for (op, query, vars, expected) in ops {
            let v = run(&s, &app, caller.clone(), &query, vars).await;
            assert_eq!(outcome(&v, op), expected, "{name} → {op}: {v}");
        }
    }
}
