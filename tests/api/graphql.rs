//! The GraphQL API in process: scopes by role and unit, the lifecycle, conflicts, the committed schema.

use dvc_gateway::auth::{Caller, Role};
use serde_json::json;

use crate::support::*;

const DOSSIER: &str = "000.00.20022-250514-00000"; // commune 20022 of district 504 of Quảng Nam (49), merged into 20502
const OTHER_PROVINCE_DOSSIER: &str = "000.00.8000-250322-00001"; // Phú Thọ (25)

const Q_DOSSIER: &str = "query($code: String!) { dossier(code: $code) { code version status applicant { idNumberMasked } events { status } } }";

#[tokio::test]
async fn schema_graphql_is_what_the_code_prints() {
    let committed = include_str!("../../schema.graphql");
    assert_eq!(dvc_gateway::graphql::sdl(), committed, "run `cargo run -- schema > schema.graphql`");
}

#[tokio::test]
async fn public_status_needs_no_token_and_shows_no_personal_data() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let v = run(
        &s,
        &app,
        Caller::Anonymous,
        "query($c: String!) { dossierStatus(code: $c) { code status statusCode unitName procedureName } }",
        json!({"c": DOSSIER}),
    )
    .await;
    assert_eq!(v["data"]["dossierStatus"]["code"], DOSSIER);
    assert_eq!(v["data"]["dossierStatus"]["status"], "RETURNED");
    assert_eq!(v["data"]["dossierStatus"]["statusCode"], 10);
    let v = run(&s, &app, Caller::Anonymous, Q_DOSSIER, json!({"code": DOSSIER})).await;
    assert_eq!(error_code(&v).as_deref(), Some("UNAUTHENTICATED"));
    let v = run(
        &s,
        &app,
        Caller::Anonymous,
        "{ procedures(first: 5) { edges { node { code name } } pageInfo { hasNextPage } } }",
        json!({}),
    )
    .await;
    assert_eq!(v["data"]["procedures"]["edges"].as_array().unwrap().len(), 5);
}

per_backend! {
    #[tokio::test]
    async fn every_staff_role_sees_its_scope_and_nothing_else(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        for role in [Role::Hotline, Role::Officer, Role::Leader, Role::Admin] {
            for (unit, inside) in [
                ("49", true),
                ("504", true),
                ("20022", true),
                ("48", true),
                ("20502", true),
                ("VN", true),
                ("502", false),
                ("25", false),
            ] {
                let v = run(&s, &app, staff(role, unit), Q_DOSSIER, json!({"code": DOSSIER})).await;
                assert!(v["errors"].is_null(), "{v}");
                assert_eq!(!v["data"]["dossier"].is_null(), inside, "{role:?} of {unit} on {backend:?}");
            }
            // Out of scope looks exactly like missing.
            let missing = run(&s, &app, staff(role, "49"), Q_DOSSIER, json!({"code": "nope"})).await;
            let out =
                run(&s, &app, staff(role, "49"), Q_DOSSIER, json!({"code": OTHER_PROVINCE_DOSSIER})).await;
            assert_eq!(missing, out);
            // Lists hold only the scope.
            let v = run(
                &s,
                &app,
                staff(role, "25"),
                "{ dossiers(first: 100) { edges { node { code unit { code } } } } }",
                json!({}),
            )
            .await;
            let edges = v["data"]["dossiers"]["edges"].as_array().unwrap();
            assert!(!edges.is_empty());
            for e in edges {
                let code = e["node"]["unit"]["code"].as_str().unwrap();
                assert!(["25", "8000", "8001", "8002", "8003", "H25.07"].contains(&code), "{code}");
            }
        }
    }
}

#[tokio::test]
async fn identity_numbers_are_masked_and_citizens_see_only_their_own() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let me = Caller::Citizen { sub: "702895171870".into() };
    let v = run(&s, &app, me.clone(), Q_DOSSIER, json!({"code": DOSSIER})).await;
    assert_eq!(v["data"]["dossier"]["applicant"]["idNumberMasked"], "*********870");
    let v = run(&s, &app, me.clone(), Q_DOSSIER, json!({"code": OTHER_PROVINCE_DOSSIER})).await;
    assert!(v["data"]["dossier"].is_null());
    let v = run(&s, &app, me, "{ dossiers { edges { node { code } } } }", json!({})).await;
    let codes: Vec<&str> = v["data"]["dossiers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec![DOSSIER]);
    let body = v.to_string();
    assert!(!body.contains("702895171870"));
}

#[tokio::test]
async fn page_size_is_bounded_and_cursors_walk_the_list() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let v =
        run(&s, &app, staff(Role::Leader, "VN"), "{ dossiers(first: 1000) { edges { cursor } } }", json!({}))
            .await;
    assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"));
    let q = "query($a: String) { dossiers(first: 100, after: $a) { edges { cursor node { code } } pageInfo { hasNextPage endCursor } } }";
    let mut after = serde_json::Value::Null;
    let mut seen = std::collections::HashSet::new();
    loop {
        let v = run(&s, &app, staff(Role::Leader, "VN"), q, json!({"a": after})).await;
        for e in v["data"]["dossiers"]["edges"].as_array().unwrap() {
            assert!(seen.insert(e["node"]["code"].as_str().unwrap().to_owned()));
        }
        if v["data"]["dossiers"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = v["data"]["dossiers"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 500);
}

per_backend! {
    #[tokio::test]
    async fn the_lifecycle_follows_the_allowed_transitions_and_conflicts_are_detected(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        let officer = staff(Role::Officer, "49");
        let receive = r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: ONLINE,
            applicant: { idNumber: "012345678901", name: "Trần Thị B", phone: "0905123456" } }) { code version status events { status } } }"#;
        let v = run(&s, &app, officer.clone(), receive, json!({})).await;
        assert!(v["errors"].is_null(), "{v}");
        let code = v["data"]["receiveDossier"]["code"].as_str().unwrap().to_owned();
        assert_eq!(v["data"]["receiveDossier"]["status"], "RECEIVED");

        let change = "mutation($c: String!, $s: DossierStatus!, $v: Int) { changeDossierStatus(code: $c, status: $s, expectedVersion: $v) { status version events { status } } }";
        let v = run(&s, &app, officer.clone(), change, json!({"c": code, "s": "RETURNED"})).await;
        assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"), "RECEIVED → RETURNED is not allowed");

        let v = run(&s, &app, officer.clone(), change, json!({"c": code, "s": "PROCESSING", "v": 1})).await;
        assert_eq!(v["data"]["changeDossierStatus"]["status"], "PROCESSING");
        assert_eq!(v["data"]["changeDossierStatus"]["version"], 2);

        // Two writes from the same version: one wins, the other is a CONFLICT.
        let (a, b) = tokio::join!(
            run(&s, &app, officer.clone(), change, json!({"c": code, "s": "RESOLVED", "v": 2})),
            run(&s, &app, officer.clone(), change, json!({"c": code, "s": "STOPPED", "v": 2})),
        );
        let codes = [error_code(&a), error_code(&b)];
        assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 1, "{a} {b}");
        assert_eq!(codes.iter().filter(|c| c.as_deref() == Some("CONFLICT")).count(), 1, "{a} {b}");

        // The history holds every accepted write and nothing else.
        let v = run(&s, &app, officer.clone(), Q_DOSSIER, json!({"code": code})).await;
        assert_eq!(v["data"]["dossier"]["events"].as_array().unwrap().len(), 3);

        // A HOTLINE may read but not move dossiers; an officer out of scope finds nothing.
        let v = run(&s, &app, staff(Role::Hotline, "49"), change, json!({"c": code, "s": "RETURNED"})).await;
        assert_eq!(error_code(&v).as_deref(), Some("FORBIDDEN"));
        let v = run(&s, &app, staff(Role::Officer, "25"), change, json!({"c": code, "s": "RETURNED"})).await;
        assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));
    }
}

per_backend! {
    #[tokio::test]
    async fn receipts_are_unique_by_series_and_number_and_cancel_with_a_reason(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        let officer = staff(Role::Officer, "49");
        let issue = r#"mutation($n: Int!) { issueReceipt(input: { series: "QNA-26E", number: $n, dossierCode: "000.00.20022-250514-00000",
            payerName: "Nguyễn Văn 0", amount: 15000, kind: FEE, paymentChannel: NATIONAL_PORTAL }) { series number status version } }"#;
        let v = run(&s, &app, officer.clone(), issue, json!({"n": 1})).await;
        assert_eq!(v["data"]["issueReceipt"]["status"], "ISSUED", "{v}");
        // The dossier's paid interval (what the indicators read) follows its receipts.
        let paid = || async {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            let d = entity::dossier::Entity::find()
                .filter(entity::dossier::Column::Code.eq("000.00.20022-250514-00000"))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            entity::dossier_paid::Entity::find_by_id(d.id).one(&app.db).await.unwrap().unwrap()
        };
        let p = paid().await;
        assert!(p.paid_online_from.is_some() && p.paid_online_to.is_none() && !p.irregular, "{p:?}");
        let v = run(&s, &app, officer.clone(), issue, json!({"n": 1})).await;
        assert_eq!(error_code(&v).as_deref(), Some("CONFLICT"), "{v}");
        let cancel = r#"mutation { cancelReceipt(series: "QNA-26E", number: 1, reason: "thu nhầm") { status cancelReason } }"#;
        let v = run(&s, &app, officer.clone(), cancel, json!({})).await;
        assert_eq!(v["data"]["cancelReceipt"]["status"], "CANCELLED");
        let p = paid().await;
        assert!(p.paid_online_to.is_some() && p.paid_to.is_some(), "cancelled: {p:?}");
        let v = run(&s, &app, officer, cancel, json!({})).await;
        assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"));
    }
}

#[tokio::test]
async fn feedback_is_recorded_by_hotline_and_citizens_on_their_own_dossiers() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let record = r#"mutation($u: String!, $d: String) { recordFeedback(input: { kind: COMPLAINT, channel: HOTLINE, unitCode: $u,
        dossierCode: $d, content: "chậm trả kết quả" }) { code kind dueAt receivedAt } }"#;
    let v = run(&s, &app, staff(Role::Hotline, "49"), record, json!({"u": "20022", "d": DOSSIER})).await;
    assert!(v["errors"].is_null(), "{v}");
    let code = v["data"]["recordFeedback"]["code"].as_str().unwrap().to_owned();
    let v = run(&s, &app, staff(Role::Hotline, "25"), record, json!({"u": "20022", "d": null})).await;
    assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));
    let v = run(
        &s,
        &app,
        Caller::Citizen { sub: "702895171870".into() },
        record,
        json!({"u": "20022", "d": DOSSIER}),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let v = run(
        &s,
        &app,
        Caller::Citizen { sub: "111111111111".into() },
        record,
        json!({"u": "20022", "d": DOSSIER}),
    )
    .await;
    assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));
    let v = run(&s, &app, staff(Role::Leader, "49"), record, json!({"u": "20022", "d": DOSSIER})).await;
    assert_eq!(error_code(&v).as_deref(), Some("FORBIDDEN"));
    let answer =
        "mutation($c: String!) { answerFeedback(code: $c, answer: \"đã xử lý\") { answeredAt answer } }";
    let v = run(&s, &app, staff(Role::Hotline, "49"), answer, json!({"c": code})).await;
    assert_eq!(v["data"]["answerFeedback"]["answer"], "đã xử lý");
}
