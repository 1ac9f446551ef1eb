//! The audit trail: who saw whose personal data, every write, import and export, every refused access; kept
//! append-only by the database; queried and exported by administrators in scope.

use dvc_gateway::auth::{Caller, Role};
use dvc_gateway::db::audit::{AuditRecord, fields};
use entity::audit_event::{self, Actor, ObjectKind, Outcome};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::support::*;

const CITIZEN: &str = "079912345678";
const DOSSIER_49: &str = "000.00.20022-250514-00000";

async fn events(app: &dvc_gateway::app::App) -> Vec<audit_event::Model> {
    app.audit.flush().await;
    audit_event::Entity::find().order_by_asc(audit_event::Column::Id).all(&app.db).await.unwrap()
}

/// The message of the error of a statement the database must refuse; `what` names it if it went through.
fn refusal<T>(r: Result<T, sea_orm::DbErr>, what: &str) -> String {
    match r {
        Ok(_) => panic!("{what} went through"),
        Err(e) => e.to_string(),
    }
}

async fn received_for(s: &dvc_gateway::graphql::GatewaySchema, app: &dvc_gateway::app::App) -> String {
    let q = r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: ONLINE,
        applicant: { idNumber: "079912345678", name: "Lê Văn C", phone: "0912345678" } }) { code } }"#;
    let v = run(s, app, staff(Role::Officer, "49"), q, json!({})).await;
    v["data"]["receiveDossier"]["code"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn reads_of_personal_data_are_recorded_with_who_what_when_and_from_where() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app.clone()).await;
    let c = reqwest::Client::new();
    let officer = token(Role::Officer, Some("49"), "officer-7");
    let post =
        |t: &str, q: &str| c.post(format!("{base}/graphql")).bearer_auth(t).json(&json!({"query": q})).send();
    let before = events(&app).await.len();
    let q = format!(
        r#"{{ dossier(code: "{DOSSIER_49}") {{ code status applicant {{ name idNumberMasked }} }} }}"#
    );
    let v: Value = post(&officer, &q).await.unwrap().json().await.unwrap();
    assert!(v["data"]["dossier"]["applicant"]["name"].is_string(), "{v}");
    // Nothing personal asked: nothing recorded.
    let q = format!(r#"{{ dossier(code: "{DOSSIER_49}") {{ code status dueAt }} }}"#);
    post(&officer, &q).await.unwrap();

    let new: Vec<_> = events(&app).await.into_iter().skip(before).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let e = &new[0];
    assert_eq!(
        (e.actor, e.subject.as_deref(), e.role.map(Role::as_str)),
        (Actor::Staff, Some("officer-7"), Some("OFFICER"))
    );
    assert_eq!(e.actor_unit.as_deref(), Some("49"));
    assert_eq!((e.operation.as_str(), e.outcome), ("dossier", Outcome::Ok));
    assert_eq!((e.object_kind, e.object_code.as_deref()), (Some(ObjectKind::Dossier), Some(DOSSIER_49)));
    let names: Vec<&str> = fields(e).unwrap().into_iter().map(|f| f.name()).collect();
    assert_eq!(names, vec!["applicant.name", "applicant.idNumberMasked"]);
    assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.request_id.as_ref().map(String::len), Some(36), "the request id of the log lines");
    assert!((dvc_gateway::domain::time::now() - e.at).abs() < 60_000_000);

    // A citizen is recorded by the keyed hash of their identity number, never the number.
    let s = schema(&app);
    let code = received_for(&s, &app).await;
    let q = "query($c: String!) { dossier(code: $c) { applicant { phoneMasked } } }";
    let v = run(&s, &app, Caller::Citizen { sub: CITIZEN.into() }, q, json!({"c": code})).await;
    assert!(v["data"]["dossier"]["applicant"]["phoneMasked"].as_str().unwrap().contains('*'));
    let all = events(&app).await;
    let e = all.iter().rev().find(|e| e.actor == Actor::Citizen).unwrap();
    assert_eq!(e.subject.as_deref(), Some(app.vault.hash(CITIZEN).as_str()));
    assert!(!format!("{all:?}").contains(CITIZEN), "an identity number in the audit trail");
}

per_backend! {
    #[tokio::test]
    async fn a_write_and_its_audit_event_commit_together(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        let code = received_for(&s, &app).await;
        let writes = |app: &dvc_gateway::app::App| {
            let app = app.clone();
            async move { events(&app).await.into_iter().filter(|e| e.operation == "changeDossierStatus").count() }
        };
        let q = "mutation($c: String!, $v: Int) { changeDossierStatus(code: $c, status: PROCESSING, expectedVersion: $v) { version } }";
        let v = run(&s, &app, staff(Role::Officer, "49"), q, json!({"c": code})).await;
        let version = v["data"]["changeDossierStatus"]["version"].as_i64().unwrap();
        assert_eq!(writes(&app).await, 1, "{backend:?}: the write's event is not in its transaction");
        // A refused write (a stale version, a transition not allowed) leaves no event.
        let v = run(&s, &app, staff(Role::Officer, "49"), q, json!({"c": code, "v": version - 1})).await;
        assert_eq!(error_code(&v).as_deref(), Some("CONFLICT"));
        let q2 = "mutation($c: String!) { changeDossierStatus(code: $c, status: RECEIVED) { version } }";
        let v = run(&s, &app, staff(Role::Officer, "49"), q2, json!({"c": code})).await;
        assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"));
        assert_eq!(writes(&app).await, 1, "{backend:?}");
        let e = events(&app).await.into_iter().rfind(|e| e.operation == "changeDossierStatus").unwrap();
        assert_eq!(
            (e.object_code.as_deref(), e.outcome, e.subject.as_deref()),
            (Some(code.as_str()), Outcome::Ok, Some("Officer-49"))
        );
        // Every mutation is audited (one receive, one change, and the receipt below).
        let q = r#"mutation($c: String!) { issueReceipt(input: { series: "AUD", number: 1, dossierCode: $c, payerName: "Lê Văn C",
            amount: 1000, kind: FEE, paymentChannel: COUNTER }) { number } }"#;
        run(&s, &app, staff(Role::Officer, "49"), q, json!({"c": code})).await;
        let ops: Vec<String> =
            events(&app).await.into_iter().filter(|e| e.actor == Actor::Staff).map(|e| e.operation).collect();
        assert_eq!(ops, vec!["receiveDossier", "changeDossierStatus", "issueReceipt"], "{backend:?}");
    }
}

#[actix_web::test]
async fn refused_accesses_are_recorded_and_filed_under_the_objects_unit() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app.clone()).await;
    let c = reqwest::Client::new();
    let q = json!({"query": "{ viewer { role } }"});
    let r = c.post(format!("{base}/graphql")).bearer_auth("abc.def.ghi").json(&q).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let expired = dvc_gateway::auth::Signer::new(&settings().jwt)
        .unwrap()
        .sign("x", Role::Admin, Some("VN"), -600)
        .unwrap();
    let r = c.post(format!("{base}/graphql")).bearer_auth(expired).json(&q).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let s = schema(&app);
    let v = run(
        &s,
        &app,
        staff(Role::Hotline, "49"),
        r#"mutation { cancelReceipt(series: "BL-24E", number: 86, reason: "x") { number } }"#,
        json!({}),
    )
    .await;
    assert_eq!(error_code(&v).as_deref(), Some("FORBIDDEN"));
    let v = run(
        &s,
        &app,
        staff(Role::Officer, "25"),
        &format!(r#"{{ dossier(code: "{DOSSIER_49}") {{ code }} }}"#),
        json!({}),
    )
    .await;
    assert!(v["data"]["dossier"].is_null());
    let v = run(
        &s,
        &app,
        staff(Role::Officer, "25"),
        r#"{ dossier(code: "NO-SUCH-DOSSIER") { code } }"#,
        json!({}),
    )
    .await;
    assert!(v["data"]["dossier"].is_null());
    let v = run(&s, &app, Caller::Anonymous, r#"{ feedbacks { edges { node { code } } } }"#, json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("UNAUTHENTICATED"));
    // A unit out of reach is refused and recorded; an unknown one (whatever its text) is only a miss.
    let receive = r#"mutation($u: String!) { receiveDossier(input: { procedureCode: "2.004001", unitCode: $u, channel: DIRECT,
        applicant: { idNumber: "079912345678", name: "Lê Văn C" } }) { code } }"#;
    let v = run(&s, &app, staff(Role::Officer, "25"), receive, json!({"u": "20022"})).await;
    assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));
    for odd in ["\u{0}", "NO-SUCH-UNIT"] {
        let q = "query($u: String!) { dossiers(filter: { unitCode: $u }) { edges { node { code } } } }";
        let v = run(&s, &app, staff(Role::Officer, "25"), q, json!({"u": odd})).await;
        assert!(v["data"]["dossiers"]["edges"].as_array().unwrap().is_empty(), "{v}");
    }
    // Feedback to a unit out of reach about a dossier in reach accuses nobody about the dossier.
    let q = r#"mutation { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: "25",
        dossierCode: "000.00.20022-250514-00000", content: "?" }) { code } }"#;
    let v = run(&s, &app, staff(Role::Hotline, "49"), q, json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("NOT_FOUND"));

    let all = events(&app).await;
    let tokens: Vec<&audit_event::Model> = all.iter().filter(|e| e.operation == "authenticate").collect();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens
            .iter()
            .all(|e| e.outcome == Outcome::Unauthenticated && e.client_addr.as_deref() == Some("127.0.0.1"))
    );
    assert_eq!(tokens[0].detail.as_deref(), Some("the Authorization header must be `Bearer <token>`"));
    assert_eq!(tokens[1].detail.as_deref(), Some("the token has expired"));
    let forbidden = all.iter().find(|e| e.outcome == Outcome::Forbidden).unwrap();
    assert_eq!(
        (forbidden.operation.as_str(), forbidden.role.map(Role::as_str)),
        ("cancelReceipt", Some("HOTLINE"))
    );
    let out: Vec<(Option<&str>, Option<&str>, &str)> = all
        .iter()
        .filter(|e| e.outcome == Outcome::OutOfScope)
        .map(|e| (e.object_code.as_deref(), e.actor_unit.as_deref(), e.operation.as_str()))
        .collect();
    assert_eq!(
        out,
        vec![
            (Some(DOSSIER_49), Some("25"), "dossier"),
            (Some("20022"), Some("25"), "receiveDossier"),
            (Some("25"), Some("49"), "recordFeedback"),
        ],
        "a missing dossier, an unknown unit and a dossier in reach are no refusals"
    );
    assert!(all.iter().any(|e| e.operation == "feedbacks" && e.outcome == Outcome::Unauthenticated));

    // Quảng Nam's administrators see the attempt on their dossier; Phú Thọ's are not told it exists.
    let q = "query($o: AuditOutcome) { auditEvents(filter: { outcome: $o }) { edges { node { objectCode actorUnitCode } } } }";
    let seen = |unit: &'static str| {
        let (s, app) = (s.clone(), app.clone());
        async move {
            let v = run(&s, &app, staff(Role::Admin, unit), q, json!({"o": "OUT_OF_SCOPE"})).await;
            v["data"]["auditEvents"]["edges"].as_array().unwrap().len()
        }
    };
    assert_eq!(
        (seen("49").await, seen("48").await, seen("25").await),
        (2, 2, 1),
        "filed under the object's unit"
    );
    // The writer was never held up (a NUL would stop PostgreSQL's COPY): a read afterwards is recorded.
    let before = events(&app).await.len();
    let q = format!(r#"{{ dossier(code: "{DOSSIER_49}") {{ applicant {{ name }} }} }}"#);
    run(&s, &app, staff(Role::Leader, "49"), &q, json!({})).await;
    assert_eq!(events(&app).await.len(), before + 1);
}

per_backend! {
    #[tokio::test]
    async fn the_audit_trail_is_append_only_and_kept_for_its_retention(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let day = 86_400_000_000i64;
        let now = dvc_gateway::domain::time::now();
        let old = AuditRecord {
            at: now - 400 * day,
            actor: Actor::Operator,
            subject: Some("test".into()),
            role: None,
            actor_unit: None,
            operation: "import".into(),
            outcome: Outcome::Ok,
            object_kind: None,
            object_code: None,
            unit_id: None,
            fields: Default::default(),
            client_addr: None,
            request_id: None,
            detail: None,
        };
        let recent = AuditRecord { at: now - 10 * day, ..old.clone() };
        dvc_gateway::db::audit::insert(&app.db, &[old.clone(), recent]).await.unwrap();
        // The batched path (COPY on PostgreSQL) keeps every character and every kind of value.
        let odd = AuditRecord {
            at: now,
            detail: Some("tab\there\nnewline \\N back\\slash \r".into()),
            subject: None,
            fields: [dvc_gateway::domain::personal::PersonalField::RecordedBy].into_iter().collect(),
            object_kind: Some(ObjectKind::Receipt),
            object_code: Some("BL/1".into()),
            unit_id: Some(7),
            ..old
        };
        dvc_gateway::db::audit::append(&app.db, std::slice::from_ref(&odd)).await.unwrap();
        let back = events(&app).await.pop().unwrap();
        assert_eq!(back.detail, odd.detail, "{backend:?}");
        assert_eq!(
            (back.subject, back.object_kind, back.object_code, back.unit_id),
            (None, odd.object_kind, odd.object_code, odd.unit_id)
        );
        assert_eq!(back.fields, odd.fields.bits());
        let n = events(&app).await.len();
        // Refused by the table's triggers, each for its own reason.
        let append_only = "audit_event is append-only";
        let kept = format!("audit events are kept at least {} days", migration::AUDIT_MIN_AGE_DAYS);
        for (sql, why) in [
            ("UPDATE audit_event SET subject = 'someone else'", append_only),
            ("DELETE FROM audit_event", &kept),
            (&format!("DELETE FROM audit_event WHERE at > {}", now - 100 * day), &kept),
        ] {
            let err = refusal(app.db.execute_unprepared(sql).await, &format!("{backend:?}: `{sql}`"));
            assert!(err.contains(why), "{backend:?}: `{sql}` refused, but not because {why}: {err}");
        }
        if backend == Backend::Postgres {
            let err = refusal(app.db.execute_unprepared("TRUNCATE audit_event").await, "TRUNCATE");
            assert!(err.contains(append_only), "TRUNCATE refused, but not because {append_only}: {err}");
        }
        assert_eq!(events(&app).await.len(), n);
        // The retention purge removes what is older than the retention, and only that.
        let purged = dvc_gateway::db::audit::purge(&app.db, now - 365 * day).await.unwrap();
        // (the odd event above is recent: it stays)
        assert_eq!(purged, 1, "{backend:?}");
        assert_eq!(events(&app).await.len(), n - 1);
        // Below the database's own minimum, even the purge is refused.
        let purge = dvc_gateway::db::audit::purge(&app.db, now).await;
        let err = refusal(purge, &format!("{backend:?}: the purge"));
        assert!(err.contains(&kept), "{backend:?}: the purge refused, but not because {kept}: {err}");
    }
}

#[tokio::test]
async fn administrators_query_the_trail_of_their_scope() {
    let (_db, app) = sample_app(Backend::Postgres).await;
    let s = schema(&app);
    let code = received_for(&s, &app).await;
    let read = "query($c: String!) { dossier(code: $c) { applicant { name } } }";
    run(&s, &app, Caller::Citizen { sub: CITIZEN.into() }, read, json!({"c": code})).await;
    for _ in 0..3 {
        run(&s, &app, staff(Role::Leader, "49"), read, json!({"c": code})).await;
    }
    run(&s, &app, staff(Role::Leader, "25"), read, json!({"c": "000.00.8002-260110-00317"})).await;
    let q = r#"query($f: AuditEventFilter, $after: String) { auditEvents(filter: $f, first: 2, after: $after) {
        edges { cursor node { subject operation objectCode fields actor } } pageInfo { hasNextPage endCursor } } }"#;
    let ask = |unit: &'static str, f: Value, after: Value| {
        let (s, app) = (s.clone(), app.clone());
        async move {
            let v = run(&s, &app, staff(Role::Admin, unit), q, json!({"f": f, "after": after})).await;
            assert!(v["errors"].is_null(), "{v}");
            v["data"]["auditEvents"].clone()
        }
    };
    // By a citizen's identity number (the trail holds its keyed hash).
    let v = ask("VN", json!({"subject": CITIZEN, "operation": "dossier"}), Value::Null).await;
    let nodes = v["edges"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{v}");
    assert_eq!(nodes[0]["node"]["actor"], "CITIZEN");
    assert_eq!(nodes[0]["node"]["fields"], json!(["applicant.name"]));
    // By object, a page at a time, newest first.
    let first = ask("49", json!({"objectCode": code, "operation": "dossier"}), Value::Null).await;
    assert_eq!(first["edges"].as_array().unwrap().len(), 2);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = ask(
        "49",
        json!({"objectCode": code, "operation": "dossier"}),
        first["pageInfo"]["endCursor"].clone(),
    )
    .await;
    assert_eq!(second["edges"].as_array().unwrap().len(), 2, "four reads of the dossier: {second}");
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    // Every query of the trail is recorded, the subject asked for by its keyed hash.
    app.audit.flush().await;
    let lookups: Vec<audit_event::Model> = audit_event::Entity::find()
        .filter(audit_event::Column::Operation.eq("auditEvents"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(lookups.len(), 3);
    let detail = lookups[0].detail.clone().unwrap();
    assert!(detail.contains(&app.vault.hash(CITIZEN)) && !detail.contains(CITIZEN), "{detail}");
    // By period: nothing tomorrow.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let v = ask("VN", json!({"from": tomorrow}), Value::Null).await;
    assert!(v["edges"].as_array().unwrap().is_empty());
    // Phú Thọ's administrator sees its own dossier's read, and nothing of Quảng Nam.
    let v = ask("25", json!({"operation": "dossier"}), Value::Null).await;
    let codes: Vec<&str> =
        v["edges"].as_array().unwrap().iter().map(|e| e["node"]["objectCode"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["000.00.8002-260110-00317"]);
}

#[tokio::test]
async fn imports_and_exports_are_recorded_and_the_trail_exports() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    export_str(&app, Some("25")).await;
    let bad = import_str(&app, "{not json", false).await;
    assert!(!bad.committed);
    let all = events(&app).await;
    let ops: Vec<(&str, Option<&str>)> =
        all.iter().map(|e| (e.operation.as_str(), e.detail.as_deref())).collect();
    assert_eq!(ops[0], ("import", Some("lines 903, written 903, unchanged 0, rejected 0")));
    assert_eq!(ops[1].0, "export");
    assert!(ops[1].1.unwrap().ends_with("of unit 25"), "{ops:?}");
    assert_eq!(all[1].object_code.as_deref(), Some("25"));
    assert_eq!(ops[2], ("import", Some("lines 1, written 0, unchanged 0, rejected 1, nothing written")));
    assert!(all.iter().all(|e| e.actor == Actor::Operator && e.subject.as_deref() == Some("test")));

    let mut out: Vec<u8> = Vec::new();
    let n = dvc_gateway::service::audit::export_trail(&app.db, "test", Some("25"), (None, None), &mut out)
        .await
        .unwrap();
    let lines: Vec<Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((n, lines.len()), (1, 1), "only the export of unit 25 concerns unit 25");
    assert_eq!(lines[0]["operation"], "export");
    assert_eq!(lines[0]["unit"], "25");
    assert_eq!(lines[0]["actor"], "OPERATOR");
    let recorded = events(&app).await;
    assert_eq!(recorded.last().map(|e| e.operation.as_str()), Some("auditExport"), "the audit export itself");
}

per_backend! {
    #[tokio::test]
    async fn an_existing_databases_clear_recorders_are_sealed_as_it_migrates(backend: Backend) {
        use migration::sea_orm_migration::MigratorTrait;
        // Migrated up to the indicator summaries (the previous release), or stopped after the migration that
        // adds the sealed columns and before the one that drops the clear one.
        for applied in [2, 3] {
            let db = TestDb::empty(backend).await;
            migration::Migrator::up(&db.conn, Some(applied)).await.unwrap();
            for sql in [
                "INSERT INTO unit (id, code, name, level, offers_e_certified_copy, content_hash) VALUES (1, 'U', 'U', 'COMMUNE', false, '')",
                "INSERT INTO feedback (id, code, kind, channel, unit_id, received_at, likes, dislikes, recorded_by, version, content_hash) \
                 VALUES (1, 'F1', 'QUESTION', 'PORTAL', 1, 0, 0, 0, '079912345678', 1, 'unkeyed')",
            ] {
                db.conn.execute_unprepared(sql).await.unwrap();
            }
            dvc_gateway::db::migrate(&db.conn, &test_vault()).await.unwrap();
            let f = entity::feedback::Entity::find()
                .filter(entity::feedback::Column::Code.eq("F1"))
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(f.recorded_by_masked.as_deref(), Some("*********678"), "{backend:?} after {applied}");
            assert_eq!(f.recorded_by_hash, Some(test_vault().hash(CITIZEN)));
            assert_eq!(test_vault().open(f.recorded_by_sealed.as_deref().unwrap()).unwrap(), CITIZEN);
            if applied == 2 {
                assert_eq!(f.content_hash, "", "the unkeyed digest is gone");
            }
            assert!(!format!("{f:?}").contains(CITIZEN));
            let err = refusal(
                db.conn.execute_unprepared("SELECT recorded_by FROM feedback").await,
                "reading the clear column",
            );
            let missing = match backend {
                Backend::Sqlite => "no such column: recorded_by",
                Backend::Postgres => r#"column "recorded_by" does not exist"#,
            };
            assert!(err.contains(missing), "the clear column is dropped: {err}");
        }
    }
}

#[tokio::test]
async fn dossier_changes_reach_the_subscribers_who_may_read_them_at_that_instant() {
    use futures_util::StreamExt;
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let subscribe = |caller: Caller| {
        let req = async_graphql::Request::new("subscription { dossierChanged { code applicant { name } } }")
            .data(caller)
            .data(dvc_gateway::graphql::Loaders::new(&app.db));
        s.execute_stream(req)
    };
    let mut officer = subscribe(staff(Role::Officer, "20022"));
    let mut elsewhere = subscribe(staff(Role::Officer, "25"));
    let mut citizen = subscribe(Caller::Citizen { sub: CITIZEN.into() });
    let mut other = subscribe(Caller::Citizen { sub: "079900000000".into() });
    // Polled once, each subscription starts listening.
    for stream in [&mut officer, &mut elsewhere, &mut citizen, &mut other] {
        assert!(tokio::time::timeout(std::time::Duration::from_millis(100), stream.next()).await.is_err());
    }
    let code = received_for(&s, &app).await;
    let wait = std::time::Duration::from_secs(2);
    for (name, stream, sees) in [
        ("officer 20022", &mut officer, true),
        ("citizen", &mut citizen, true),
        ("officer 25", &mut elsewhere, false),
        ("another citizen", &mut other, false),
    ] {
        let got = tokio::time::timeout(wait, stream.next()).await;
        match (got, sees) {
            (Ok(Some(r)), true) => {
                let v = serde_json::to_value(r).unwrap();
                assert_eq!(v["data"]["dossierChanged"]["code"], code, "{name}: {v}");
                assert_eq!(v["data"]["dossierChanged"]["applicant"]["name"], "Lê Văn C");
            }
            (Err(_), false) => {}
            (got, _) => panic!("{name}: {got:?}"),
        }
    }
    // Each delivered applicant name is a recorded read.
    let reads = events(&app).await.into_iter().filter(|e| e.operation == "dossierChanged").count();
    assert_eq!(reads, 2);
}
