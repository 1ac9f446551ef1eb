//! The access policy, walked: every operation of the schema with every kind of caller (and no token), in and out
//! of scope, and every personal field with every caller, against the one table of `service::policy`. An
//! operation without a sample here does not compile; a type or field of the schema without a policy entry fails.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use dvc_gateway::app::App;
use dvc_gateway::auth::{Caller, Role};
use dvc_gateway::graphql::GatewaySchema;
use dvc_gateway::service::policy::{self, Access, Field, Form, Operation, Root, Who};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::*;

const CITIZEN_ID: &str = "079912345678";

/// Objects made by an administrator for one caller: all in commune 20022 of Quảng Nam (49), for `CITIZEN_ID`.
struct Fixture {
    processing: String,
    for_supplement: String,
    awaiting_supplement: String,
    for_apology: String,
    receipt_number: i64,
    feedback: String,
}

async fn admin(s: &GatewaySchema, app: &App, q: &str, vars: Value) -> Value {
    let v = run(s, app, staff(Role::Admin, "VN"), q, vars).await;
    assert!(v["errors"].is_null(), "setup failed: {v}");
    v
}

async fn received(s: &GatewaySchema, app: &App) -> String {
    let q = r#"mutation($id: String!) { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: ONLINE,
        applicant: { idNumber: $id, name: "Lê Văn C", phone: "0912345678", email: "le.van.c@example.vn" } }) { code } }"#;
    let v = admin(s, app, q, json!({"id": CITIZEN_ID})).await;
    let code = v["data"]["receiveDossier"]["code"].as_str().unwrap().to_owned();
    let q = "mutation($c: String!) { changeDossierStatus(code: $c, status: PROCESSING) { code } }";
    admin(s, app, q, json!({"c": code})).await;
    code
}

async fn fixture(s: &GatewaySchema, app: &App, n: i64) -> Fixture {
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
        payerTaxCode: "0101234567", amount: 100000, kind: FEE, paymentChannel: COUNTER }) { number } }"#;
    admin(s, app, q, json!({"c": processing, "n": n})).await;
    let q = r#"mutation($c: String!) { recordFeedback(input: { kind: RECOMMENDATION, channel: PORTAL, unitCode: "20022", dossierCode: $c,
        content: "đề nghị" }) { code } }"#;
    let v = admin(s, app, q, json!({"c": processing})).await;
    let feedback = v["data"]["recordFeedback"]["code"].as_str().unwrap().to_owned();
    Fixture { processing, for_supplement, awaiting_supplement, for_apology, receipt_number: n, feedback }
}

/// A request that exercises `op` on the fixture. The match has no catch-all: a new operation needs a sample.
fn sample(op: Operation, f: &Fixture, n: i64) -> (String, Value) {
    use Operation::*;
    let q = |s: &str, v: Value| (s.to_owned(), v);
    let period = r#"period: { year: 2026 }"#;
    match op {
        Viewer => q("{ viewer { role } }", json!({})),
        Procedures => q("{ procedures(first: 2) { edges { node { code } } } }", json!({})),
        Procedure => q(r#"{ procedure(code: "2.004001") { code } }"#, json!({})),
        Sectors => q("{ sectors { code } }", json!({})),
        Units => q("{ units(level: PROVINCE) { code } }", json!({})),
        Unit => q(r#"{ unit(code: "49") { code } }"#, json!({})),
        DossierStatus => {
            q("query($c: String!) { dossierStatus(code: $c) { status } }", json!({"c": f.processing}))
        }
        Dossier => q("query($c: String!) { dossier(code: $c) { code } }", json!({"c": f.processing})),
        Dossiers => q(
            "query($u: String!) { dossiers(filter: { unitCode: $u }) { edges { node { code } } } }",
            json!({"u": "20022"}),
        ),
        Receipt => q(
            "query($n: Int!) { receipt(series: \"ROLE-26\", number: $n) { number } }",
            json!({"n": f.receipt_number}),
        ),
        Receipts => {
            q("{ receipts(filter: { series: \"ROLE-26\" }) { edges { node { number } } } }", json!({}))
        }
        Feedback => q("query($c: String!) { feedback(code: $c) { code } }", json!({"c": f.feedback})),
        Feedbacks => q(
            "query($c: String!) { feedbacks(filter: { dossierCode: $c }) { edges { node { code } } } }",
            json!({"c": f.processing}),
        ),
        Indicators => q(r#"{ indicators(unitCode: "49", period: { year: 2024 }) { total } }"#, json!({})),
        Ranking => q(
            r#"{ ranking(level: DISTRICT, parentCode: "49", period: { year: 2024 }) { unitCode } }"#,
            json!({}),
        ),
        IndicatorSeries => q(
            r#"{ indicatorSeries(unitCode: "49", from: "2024-01-01", to: "2025-01-01", step: QUARTER) { total } }"#,
            json!({}),
        ),
        IndicatorBreakdown => q(
            r#"{ indicatorBreakdown(unitCode: "49", period: { year: 2024 }, metric: ON_TIME_PROCESSING, by: CHILD_UNIT) { numerator } }"#,
            json!({}),
        ),
        IndicatorDossiers => q(
            &format!(
                r#"{{ indicatorDossiers(unitCode: "20022", {period}, metric: ON_TIME_PROCESSING, outcome: ALL) {{ edges {{ node {{ code }} }} }} }}"#
            ),
            json!({}),
        ),
        IndicatorProcedures => q(
            &format!(
                r#"{{ indicatorProcedures(unitCode: "20022", {period}, metric: VNEID_PROCEDURES, outcome: ALL) {{ edges {{ node {{ code }} }} }} }}"#
            ),
            json!({}),
        ),
        IndicatorCommunes => q(
            r#"{ indicatorCommunes(unitCode: "20022", period: { year: 2024 }, outcome: ALL) { code } }"#,
            json!({}),
        ),
        IndicatorFeedback => q(
            &format!(
                r#"{{ indicatorFeedback(unitCode: "20022", {period}, metric: PAKN_ON_TIME, outcome: ALL) {{ edges {{ node {{ code }} }} }} }}"#
            ),
            json!({}),
        ),
        AuditEvents => q(
            "query($c: String!) { auditEvents(filter: { objectCode: $c }) { edges { node { operation } } } }",
            json!({"c": f.processing}),
        ),
        ReceiveDossier => q(
            r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: DIRECT,
                applicant: { idNumber: "079912345678", name: "Lê Văn C" } }) { code } }"#,
            json!({}),
        ),
        ChangeDossierStatus => q(
            "mutation($c: String!) { changeDossierStatus(code: $c, status: RESOLVED) { code } }",
            json!({"c": f.processing}),
        ),
        RequestSupplement => q(
            "mutation($c: String!) { requestSupplement(code: $c, reason: \"thiếu bản sao\") { code } }",
            json!({"c": f.for_supplement}),
        ),
        AnswerSupplement => q(
            "mutation($c: String!) { answerSupplement(code: $c) { code } }",
            json!({"c": f.awaiting_supplement}),
        ),
        IssueApology => q(
            "mutation($c: String!) { issueApology(code: $c, reason: \"quá hạn\", newDueAt: \"2099-01-01T08:00:00+07:00\") { code } }",
            json!({"c": f.for_apology}),
        ),
        IssueReceipt => q(
            r#"mutation($c: String!, $n: Int!) { issueReceipt(input: { series: "ROLE-NEW", number: $n, dossierCode: $c,
                payerName: "Lê Văn C", amount: 5000, kind: CHARGE, paymentChannel: COUNTER }) { number } }"#,
            json!({"c": f.for_apology, "n": n}),
        ),
        CancelReceipt => q(
            "mutation($n: Int!) { cancelReceipt(series: \"ROLE-26\", number: $n, reason: \"thu nhầm\") { number } }",
            json!({"n": f.receipt_number}),
        ),
        RecordFeedback => q(
            r#"mutation($c: String!) { recordFeedback(input: { kind: RATING, channel: PORTAL, unitCode: "20022", dossierCode: $c,
                content: "tốt", rating: SATISFIED }) { code } }"#,
            json!({"c": f.processing}),
        ),
        AnswerFeedback => q(
            "mutation($c: String!) { answerFeedback(code: $c, answer: \"đã tiếp thu\") { code } }",
            json!({"c": f.feedback}),
        ),
        DossierStatusChanged => q(
            "subscription($c: String!) { dossierStatusChanged(code: $c) { status } }",
            json!({"c": f.processing}),
        ),
        IndicatorReportChanged => q(
            r#"subscription { indicatorReportChanged(unitCode: "49", period: { year: 2024 }) { total } }"#,
            json!({}),
        ),
        DossierChanged => q(r#"subscription { dossierChanged(unitCode: "20022") { code } }"#, json!({})),
    }
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
    let empty = data.get("edges").and_then(Value::as_array).is_some_and(Vec::is_empty)
        || data.as_array().is_some_and(Vec::is_empty);
    if data.is_null() || empty { Outcome::Hidden } else { Outcome::Ok }
}

/// A subscription's outcome: its first message, or (for one that sends only changes) whether a change to the
/// fixture's dossier reaches it.
async fn subscribe(
    s: &GatewaySchema,
    app: &App,
    caller: Caller,
    q: &str,
    vars: Value,
    f: &Fixture,
    field: &str,
) -> Outcome {
    use futures_util::StreamExt;
    let req = async_graphql::Request::new(q)
        .variables(async_graphql::Variables::from_json(vars))
        .data(caller)
        .data(dvc_gateway::graphql::Loaders::new(&app.db));
    let mut stream = s.execute_stream(req);
    let first = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
    if let Ok(Some(r)) = first {
        return outcome(&serde_json::to_value(r).unwrap(), field);
    }
    // Listening: a change to the fixture's dossier shows whether the subscriber may see it.
    let note = format!(
        "mutation {{ issueApology(code: \"{}\", reason: \"chậm\", newDueAt: \"2099-01-01T08:00:00+07:00\") {{ code }} }}",
        f.processing
    );
    run(s, app, staff(Role::Admin, "VN"), &note, json!({})).await;
    match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        Ok(Some(r)) => outcome(&serde_json::to_value(r).unwrap(), field),
        _ => Outcome::Hidden,
    }
}

fn callers() -> Vec<(&'static str, Caller, bool)> {
    // (caller, in scope?) — a citizen is "in scope" for their own dossiers.
    vec![
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
    ]
}

/// What the table says `caller` gets from `op`.
fn expected(op: Operation, caller: &Caller, in_scope: bool) -> Outcome {
    match (policy::access(op, Who::of(caller)), caller) {
        (Access::No, Caller::Anonymous) => Outcome::Unauthenticated,
        (Access::No, _) => Outcome::Forbidden,
        (Access::Public, _) => Outcome::Ok,
        (Access::Own | Access::Scope, _) if in_scope => Outcome::Ok,
        (Access::Own | Access::Scope, _) => Outcome::Hidden,
    }
}

#[tokio::test]
async fn every_operation_with_every_caller_follows_the_table() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = crate::support::app(&db);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let s = schema(&app);
    let mut n = 0;
    for (name, caller, in_scope) in callers() {
        n += 1;
        let f = fixture(&s, &app, n).await;
        for &op in Operation::ALL {
            let (query, vars) = sample(op, &f, n);
            let got = if op.root() == Root::Subscription {
                subscribe(&s, &app, caller.clone(), &query, vars, &f, op.name()).await
            } else {
                outcome(&run(&s, &app, caller.clone(), &query, vars).await, op.name())
            };
            assert_eq!(got, expected(op, &caller, in_scope), "{name} → {}", op.name());
        }
    }
}

#[test]
fn every_type_and_field_of_the_schema_has_a_policy_entry() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(dvc_gateway::graphql::sdl()).unwrap();
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let mut seen_types = HashSet::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let TypeKind::Object(o) = &t.node.kind else { continue };
        let name = t.node.name.node.as_str();
        let fields: BTreeSet<String> = o.fields.iter().map(|f| f.node.name.node.to_string()).collect();
        if matches!(name, "Query" | "Mutation" | "Subscription") {
            roots.extend(fields.into_iter().map(|f| format!("{name}.{f}")));
            continue;
        }
        seen_types.insert(name.to_owned());
        if policy::PUBLIC_TYPES.contains(&name) {
            continue;
        }
        let Some((_, entries)) = policy::PERSONAL_TYPES.iter().find(|(t, _)| *t == name) else {
            panic!("type {name} has no policy entry: add it to PUBLIC_TYPES or PERSONAL_TYPES");
        };
        let listed: BTreeSet<String> = entries.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(fields, listed, "the fields of {name} and their policy entries");
    }
    let table: BTreeSet<String> = Operation::ALL
        .iter()
        .map(|op| {
            let root = match op.root() {
                Root::Query => "Query",
                Root::Mutation => "Mutation",
                Root::Subscription => "Subscription",
            };
            format!("{root}.{}", op.name())
        })
        .collect();
    assert_eq!(roots, table, "the schema's operations and the policy table");
    for t in policy::PUBLIC_TYPES.iter().copied().chain(policy::PERSONAL_TYPES.iter().map(|(t, _)| *t)) {
        assert!(seen_types.contains(t), "the policy names {t}, which the schema does not have");
    }
}

#[test]
fn the_readme_shows_the_policy_table() {
    let readme = include_str!("../../README.md");
    assert!(readme.contains(&policy::markdown()), "README.md must hold this table:\n{}", policy::markdown());
}

/// A way to reach a personal field: the query and its variables, and where the value sits in the answer.
struct PersonalPath {
    query: String,
    vars: Value,
    value: Box<dyn Fn(&Value) -> Value>,
    /// The code the audit trail files the read under.
    object: String,
}

/// Every way a test reaches the personal fields of `ty`: by the object's own query, through a list (with a
/// fragment and aliases), and nested under the dossier.
fn personal_paths(ty: &str, field: &str, f: &Fixture) -> Vec<PersonalPath> {
    let at = |pointer: String| -> Box<dyn Fn(&Value) -> Value> {
        Box::new(move |v: &Value| v.pointer(&pointer).cloned().unwrap_or(Value::Null))
    };
    let code = f.processing.clone();
    match ty {
        "Applicant" => vec![
            PersonalPath {
                query: format!("query($c: String!) {{ dossier(code: $c) {{ applicant {{ {field} }} }} }}"),
                vars: json!({"c": f.processing}),
                value: at(format!("/data/dossier/applicant/{field}")),
                object: f.processing.clone(),
            },
            PersonalPath {
                query: format!(
                    "{{ dossiers(filter: {{ unitCode: \"20022\" }}, first: 100) {{ edges {{ node {{ ...D }} }} }} }} \
                     fragment D on Dossier {{ code who: applicant {{ shown: {field} }} }}"
                ),
                vars: json!({}),
                value: Box::new(move |v: &Value| {
                    let edges = v
                        .pointer("/data/dossiers/edges")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let node = edges.iter().find(|e| e["node"]["code"] == code.as_str());
                    node.map_or(Value::Null, |e| e["node"]["who"]["shown"].clone())
                }),
                object: f.processing.clone(),
            },
        ],
        "Receipt" => vec![
            PersonalPath {
                query: format!(
                    "query($n: Int!) {{ receipt(series: \"ROLE-26\", number: $n) {{ {field} }} }}"
                ),
                vars: json!({"n": f.receipt_number}),
                value: at(format!("/data/receipt/{field}")),
                object: format!("ROLE-26/{}", f.receipt_number),
            },
            PersonalPath {
                query: format!("query($c: String!) {{ dossier(code: $c) {{ receipts {{ {field} }} }} }}"),
                vars: json!({"c": f.processing}),
                value: at(format!("/data/dossier/receipts/0/{field}")),
                object: format!("ROLE-26/{}", f.receipt_number),
            },
        ],
        "Feedback" => vec![
            PersonalPath {
                query: format!("query($c: String!) {{ feedback(code: $c) {{ {field} }} }}"),
                vars: json!({"c": f.feedback}),
                value: at(format!("/data/feedback/{field}")),
                object: f.feedback.clone(),
            },
            PersonalPath {
                query: format!("query($c: String!) {{ dossier(code: $c) {{ feedback {{ {field} }} }} }}"),
                vars: json!({"c": f.processing}),
                value: at(format!("/data/dossier/feedback/0/{field}")),
                object: f.feedback.clone(),
            },
        ],
        other => panic!("no test path to the personal fields of {other}"),
    }
}

#[tokio::test]
async fn every_personal_field_is_shown_in_its_form_to_its_readers_only_and_every_read_is_recorded() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = crate::support::app(&db);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let s = schema(&app);
    let f = fixture(&s, &app, 1).await;
    let reads = |field: &'static str, object: String| {
        let db = app.db.clone();
        let audit = app.audit.clone();
        async move {
            audit.flush().await;
            let rows = entity::audit_event::Entity::find()
                .filter(entity::audit_event::Column::Outcome.eq(entity::audit_event::Outcome::Ok))
                .filter(entity::audit_event::Column::ObjectCode.eq(object))
                .all(&db)
                .await
                .unwrap();
            rows.iter()
                .filter(|r| dvc_gateway::db::audit::fields(r).unwrap().iter().any(|x| x.name() == field))
                .count()
        }
    };
    let mut checked = 0;
    for (ty, fields) in policy::PERSONAL_TYPES {
        for (field, class) in fields.iter() {
            let Field::Personal(p) = class else { continue };
            for path in personal_paths(ty, field, &f) {
                for (name, caller, in_scope) in callers() {
                    // Every path reaches the field through an object its reader may read (the same readers).
                    let op = Operation::Dossier;
                    let before = reads(p.name(), path.object.clone()).await;
                    let v = run(&s, &app, caller.clone(), &path.query, path.vars.clone()).await;
                    let value = &(path.value)(&v);
                    let after = reads(p.name(), path.object.clone()).await;
                    if expected(op, &caller, in_scope) == Outcome::Ok {
                        let shown =
                            value.as_str().unwrap_or_else(|| panic!("{name}: {ty}.{field} missing: {v}"));
                        if p.form() == Form::Masked {
                            assert!(shown.contains('*'), "{name}: {ty}.{field} not masked: {shown}");
                            assert!(!shown.contains(CITIZEN_ID) && !shown.contains("0912345678"), "{shown}");
                        }
                        assert_eq!(after, before + 1, "{name}: the read of {ty}.{field} was not recorded");
                    } else {
                        assert!(value.is_null(), "{name} got {ty}.{field}: {v}");
                        assert_eq!(
                            after, before,
                            "{name}: a read of {ty}.{field} recorded although nothing was shown"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 14, "every personal field of the table, two ways each");
}
