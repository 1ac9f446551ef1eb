//! Personal data and access (issue 11): each fault the privacy review found, as a test that failed before the
//! fix.

use std::time::Duration;

use dvc_gateway::auth::{Caller, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::*;

const CITIZEN: &str = "079912345678";
/// A dossier of Quảng Ngãi (51), commune 14001.
const DOSSIER_51: &str = "000.00.14001-240111-00176";
/// Its applicant's identity number.
const DOSSIER_51_ID: &str = "500334234258";

async fn ok(
    s: &dvc_gateway::graphql::GatewaySchema,
    app: &dvc_gateway::app::App,
    c: Caller,
    q: &str,
    v: Value,
) -> Value {
    let out = run(s, app, c, q, v).await;
    assert!(out["errors"].is_null(), "{q}: {out}");
    out
}

/// A dossier received by an administrator for `applicant` in commune 20022; returns its code.
async fn received_for(
    s: &dvc_gateway::graphql::GatewaySchema,
    app: &dvc_gateway::app::App,
    applicant: &str,
) -> String {
    let q = r#"mutation($id: String!) { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022",
        channel: ONLINE, applicant: { idNumber: $id, name: "Lê Văn C" } }) { code } }"#;
    let v = ok(s, app, staff(Role::Admin, "VN"), q, json!({"id": applicant})).await;
    v["data"]["receiveDossier"]["code"].as_str().unwrap().to_owned()
}

async fn export_text(app: &dvc_gateway::app::App, unit: Option<&str>) -> String {
    export_str(app, unit).await
}

per_backend! {
    #[tokio::test]
    async fn a_citizens_identity_number_is_sealed_when_they_record_feedback_and_shown_masked(
        backend: Backend,
    ) {
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        let dossier = received_for(&s, &app, CITIZEN).await;
        let q = r#"mutation($c: String!) { recordFeedback(input: { kind: RATING, channel: PORTAL, unitCode: "20022",
            dossierCode: $c, content: "tốt", rating: SATISFIED }) { code recordedBy } }"#;
        let v = ok(&s, &app, Caller::Citizen { sub: CITIZEN.into() }, q, json!({"c": dossier})).await;
        let code = v["data"]["recordFeedback"]["code"].as_str().unwrap().to_owned();

        let row = entity::feedback::Entity::find()
            .filter(entity::feedback::Column::Code.eq(&code))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !format!("{row:?}").contains(CITIZEN),
            "identity number stored in clear on {backend:?}: {row:?}"
        );

        for role in [Role::Hotline, Role::Leader, Role::Admin] {
            let v = ok(
                &s,
                &app,
                staff(role, "49"),
                "query($c: String!) { feedback(code: $c) { recordedBy } }",
                json!({"c": code}),
            )
            .await;
            let shown = v["data"]["feedback"]["recordedBy"].as_str().unwrap();
            assert!(
                shown.starts_with('*') && shown.ends_with("678") && !shown.contains(CITIZEN),
                "{role:?}: {shown}"
            );
        }

        // An export still gives it back, so that import(export(x)) = x.
        let text = export_text(&app, None).await;
        let line: Value =
            serde_json::from_str(text.lines().find(|l| l.contains(&format!("\"code\":\"{code}\""))).unwrap())
                .unwrap();
        assert_eq!(line["recorded_by"], CITIZEN, "{backend:?}");
    }
}

#[tokio::test]
async fn stored_digests_of_records_with_personal_data_need_the_key() {
    use base64::Engine;
    use sha2::Digest;
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let db2 = TestDb::new(Backend::Sqlite).await;
    let other_key = dvc_gateway::app::App::new(
        db2.conn.clone(),
        dvc_gateway::config::Settings::from_lookup(|k| match k {
            "JWT_SECRET" => Some("test-secret-test-secret-test-secret".to_owned()),
            "PII_KEY" => Some("another-pii-key".to_owned()),
            _ => None,
        })
        .unwrap(),
    )
    .unwrap();
    assert!(import_str(&other_key, SAMPLE, false).await.committed);
    let mut checked = 0;
    for (i, line) in SAMPLE.lines().enumerate() {
        let record = dvc_gateway::interchange::validate::parse_line(line.as_bytes(), i as u64 + 1).unwrap();
        let dvc_gateway::interchange::records::Record::Dossier(d) = &record else { continue };
        let unkeyed = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(&sha2::Sha256::digest(record.to_line().as_bytes())[..18]);
        let stored = |db: &sea_orm::DatabaseConnection| {
            let db = db.clone();
            let code = d.code.clone();
            async move {
                entity::dossier::Entity::find()
                    .filter(entity::dossier::Column::Code.eq(code))
                    .one(&db)
                    .await
                    .unwrap()
                    .unwrap()
                    .content_hash
            }
        };
        let (mine, theirs) = (stored(&app.db).await, stored(&other_key.db).await);
        assert_ne!(mine, unkeyed, "{}: the digest of a line with an identity number is unkeyed", d.code);
        assert_ne!(mine, theirs, "{}: the digest does not depend on the key", d.code);
        checked += 1;
    }
    assert_eq!(checked, 500);
}

#[actix_web::test]
async fn a_token_must_name_an_existing_unit_and_may_list_its_audiences() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;
    let c = reqwest::Client::new();
    let viewer = json!({"query": "{ viewer { role unitCode } }"});
    let post = |t: String| c.post(format!("{base}/graphql")).bearer_auth(t).json(&viewer).send();

    let r = post(token(Role::Leader, Some("NOPE"), "leader-x")).await.unwrap();
    assert_eq!(r.status(), 401, "a token for a unit that does not exist");
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"), "{body}");

    let now = chrono::Utc::now().timestamp();
    let signed = |aud: Value| {
        let claims = json!({"sub": "leader-1", "role": "LEADER", "unit": "49", "exp": now + 600, "iat": now,
            "iss": "dvc-gateway", "aud": aud});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let r = post(signed(json!(["portal", "dvc-gateway"]))).await.unwrap();
    assert_eq!(r.status(), 200, "RFC 7519 allows `aud` as an array");
    assert_eq!(r.json::<Value>().await.unwrap()["data"]["viewer"]["role"], "LEADER");
    let r = post(signed(json!(["portal", "dashboard"]))).await.unwrap();
    assert_eq!(r.status(), 401, "an array without our audience");
}

// ---- WebSocket ---------------------------------------------------------------------------------------------

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    Json(Value),
    Closed(u16),
    Silent,
}

pub(crate) async fn ws_connect(base: &str, authorization: Option<&str>) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/graphql/ws", base.replace("http", "ws")).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    if let Some(a) = authorization {
        req.headers_mut().insert("authorization", a.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

pub(crate) async fn ws_send(ws: &mut Ws, v: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(v.to_string())).await.unwrap();
}

/// The next JSON message, the close code, or nothing within `wait`.
pub(crate) async fn ws_next(ws: &mut Ws, wait: Duration) -> Frame {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Frame::Silent,
            Ok(None) => return Frame::Closed(1006),
            Ok(Some(Err(_))) => return Frame::Closed(1006),
            Ok(Some(Ok(Message::Text(t)))) => return Frame::Json(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(Message::Close(f)))) => return Frame::Closed(f.map_or(1005, |f| u16::from(f.code))),
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub(crate) fn status_subscription(id: &str, code: &str) -> Value {
    json!({"id": id, "type": "subscribe", "payload": {
        "query": "subscription($c: String!) { dossierStatusChanged(code: $c) { code status } }", "variables": {"c": code}}})
}

const PUBLIC_DOSSIER: &str = "000.00.20022-250514-00000";

#[actix_web::test]
async fn websocket_connections_authenticate_exactly_like_http() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;

    // A bad token in connection_init closes the socket (4403), never falls back to anonymous.
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init", "payload": {"Authorization": "Bearer abc.def.ghi"}}))
        .await;
    assert_eq!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Closed(4403));

    // So does a token for a unit that does not exist, and an expired one.
    for t in [token(Role::Officer, Some("NOPE"), "o"), signed_with_ttl(Role::Officer, Some("49"), -120)] {
        let mut ws = ws_connect(&base, None).await.unwrap();
        ws_send(
            &mut ws,
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {t}")}}),
        )
        .await;
        assert_eq!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Closed(4403));
    }

    // A credential that is not a string is refused too, never read as none.
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init", "payload": {"authorization": {"token": "x"}}})).await;
    assert_eq!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Closed(4403));

    // A bad Authorization header on the upgrade is refused like any HTTP request.
    assert_eq!(ws_connect(&base, Some("Bearer abc.def.ghi")).await.err(), Some(401));

    // A good token in either place is accepted.
    let good = token(Role::Officer, Some("49"), "officer-1");
    let mut ws = ws_connect(&base, Some(&format!("Bearer {good}"))).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Json(json!({"type": "connection_ack"}))
    );
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(
        &mut ws,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {good}")}}),
    )
    .await;
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Json(json!({"type": "connection_ack"}))
    );
}

/// A token whose `exp` is `ttl` seconds from now (negative: in the past).
fn signed_with_ttl(role: Role, unit: Option<&str>, ttl: i64) -> String {
    dvc_gateway::auth::Signer::new(&settings().jwt).unwrap().sign("ws-user", role, unit, ttl).unwrap()
}

#[actix_web::test]
async fn a_subscription_ends_when_its_token_expires() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;
    // Expired 26 s ago: still within the 30 s of clock leeway every token gets, so it has about 4 s left.
    let t = signed_with_ttl(Role::Officer, Some("49"), -26);
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {t}")}}))
        .await;
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Json(json!({"type": "connection_ack"}))
    );
    ws_send(&mut ws, status_subscription("1", PUBLIC_DOSSIER)).await;
    let Frame::Json(first) = ws_next(&mut ws, Duration::from_secs(5)).await else {
        panic!("no first status")
    };
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(15)).await,
        Frame::Closed(4401),
        "closed when the token expires"
    );
}

#[actix_web::test]
async fn a_connection_bounds_its_subscriptions_and_the_size_of_a_message() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;

    // Twenty subscriptions on one connection; the twenty-first is refused with an error for its id.
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Json(json!({"type": "connection_ack"}))
    );
    for i in 1..=21 {
        ws_send(&mut ws, status_subscription(&i.to_string(), PUBLIC_DOSSIER)).await;
    }
    let mut errors = Vec::new();
    let mut next = 0;
    for _ in 0..21 {
        match ws_next(&mut ws, Duration::from_secs(5)).await {
            Frame::Json(m) if m["type"] == "next" => next += 1,
            Frame::Json(m) if m["type"] == "error" => errors.push(m["id"].as_str().unwrap().to_owned()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((next, errors), (20, vec!["21".to_owned()]));

    // A message over the body limit (256 KiB) closes the connection, sent whole or in continuation frames.
    let big = |id: &str| {
        let mut m = status_subscription(id, PUBLIC_DOSSIER);
        m["payload"]["query"] = json!(format!(
            "subscription($c: String!) {{ dossierStatusChanged(code: $c) {{ code }} }} #{}",
            "x".repeat(300 * 1024)
        ));
        m.to_string()
    };
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Json(json!({"type": "connection_ack"}))
    );
    let _ = ws.send(Message::text(big("1"))).await;
    assert_eq!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Closed(1009));

    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Json(json!({"type": "connection_ack"}))
    );
    let text = big("1").into_bytes();
    let chunks: Vec<&[u8]> = text.chunks(64 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        let frame = WsFrame::message(chunk.to_vec(), opcode, i + 1 == chunks.len());
        if ws.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(5)).await,
        Frame::Closed(1009),
        "continuation frames add up"
    );
}

// ---- Production profile -------------------------------------------------------------------------------------

fn key_file(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn settings_of(vars: &[(&str, &str)]) -> anyhow::Result<dvc_gateway::config::Settings> {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    dvc_gateway::config::Settings::from_lookup(move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

#[test]
fn key_files_never_leave_the_development_secret_verifying_tokens() {
    use dvc_gateway::auth::{Signer, Verifier};
    let dev =
        Signer::new(&settings_of(&[]).unwrap().jwt).unwrap().sign("x", Role::Admin, Some("VN"), 600).unwrap();
    for var in ["JWT_JWKS_FILE", "JWT_PUBLIC_KEY_FILE"] {
        let file = key_file(if var == "JWT_JWKS_FILE" { "rsa_jwks.json" } else { "rsa_public.pem" });
        // JWT_ALG is left at its default.
        let refused = match settings_of(&[(var, &file)]) {
            Err(_) => true,
            Ok(s) => match Verifier::new(&s.jwt) {
                Err(_) => true,
                Ok(v) => v.verify(&dev).is_err(),
            },
        };
        assert!(refused, "{var} set: a token signed with the development secret verified");
    }
}

#[test]
fn the_production_profile_refuses_development_secrets_and_open_tools() {
    let strong = "0123456789abcdef0123456789abcdef";
    let base = [("DVC_PROFILE", "production"), ("JWT_SECRET", strong), ("PII_KEY", strong)];
    let with = |changes: &[(&'static str, &'static str)], drop: &[&str]| {
        let mut v: Vec<(&str, &str)> = base.iter().copied().filter(|(k, _)| !drop.contains(k)).collect();
        for (k, val) in changes {
            v.retain(|(n, _)| n != k);
            v.push((k, val));
        }
        settings_of(&v)
    };
    let s = with(&[], &[]).expect("strong secrets start");
    assert!(!s.graphiql && !s.introspection, "GraphiQL and introspection are off unless asked for");
    let s = with(&[("GRAPHIQL", "true"), ("INTROSPECTION", "true")], &[]).unwrap();
    assert!(s.graphiql && s.introspection, "asked for explicitly");

    // Each refused for the problem it has, as the refusal names it.
    let dev_secret = "JWT_SECRET is the development secret";
    let dev_key = "PII_KEY is the development key";
    for (why, changes, drop, problem) in [
        ("development JWT secret", vec![], vec!["JWT_SECRET"], dev_secret),
        ("development PII key", vec![], vec!["PII_KEY"], dev_key),
        (
            "development JWT secret given",
            vec![("JWT_SECRET", dvc_gateway::config::DEV_JWT_SECRET)],
            vec![],
            dev_secret,
        ),
        ("development PII key given", vec![("PII_KEY", dvc_gateway::config::DEV_PII_KEY)], vec![], dev_key),
        (
            "short HS256 secret",
            vec![("JWT_SECRET", "only-twenty-bytes-xx")],
            vec![],
            "JWT_SECRET is shorter than",
        ),
        (
            "public key with HS256",
            vec![("JWT_PUBLIC_KEY_FILE", "/dev/null")],
            vec![],
            "JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE is set but JWT_ALG is HS256",
        ),
        (
            "secret with RS256",
            vec![("JWT_ALG", "RS256"), ("JWT_PUBLIC_KEY_FILE", "/dev/null")],
            vec![],
            "JWT_SECRET is set but JWT_ALG is Rs256",
        ),
    ] {
        let changes: Vec<(&'static str, &'static str)> = changes;
        let drop: Vec<&str> = drop;
        let err = match with(&changes, &drop) {
            Ok(_) => panic!("production starts with {why}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.starts_with("refusing to start: ") && err.contains(problem), "{why}: {err}");
    }
    // The development profile (the default) still starts with its development secrets, and says so.
    let s = settings_of(&[]).unwrap();
    assert!(s.graphiql && s.introspection);
}

#[test]
fn import_and_export_refuse_the_development_pii_key_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, SAMPLE.lines().take(5).collect::<Vec<_>>().join("\n")).unwrap();
    let bin = env!("CARGO_BIN_EXE_dvc-gateway");
    let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display());
    let cmd = |args: &[&str], pii: Option<&str>| {
        let mut c = std::process::Command::new(bin);
        c.args(args).env("DATABASE_URL", &url).env_remove("PII_KEY").env_remove("DVC_PROFILE");
        if let Some(k) = pii {
            c.env("PII_KEY", k);
        }
        c.output().unwrap()
    };
    let f = file.to_str().unwrap();
    for args in [vec!["import", f], vec!["export"]] {
        let out = cmd(&args, None);
        assert!(!out.status.success(), "{args:?} ran with the development PII key");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("PII_KEY"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut args = vec!["import", f, "--allow-dev-pii-key"];
    assert!(cmd(&args, None).status.success(), "told otherwise");
    args.truncate(1);
    assert!(cmd(&["export"], Some("a-real-key-a-real-key-a-real-key")).status.success());
}

// ---- Scope at one instant ---------------------------------------------------------------------------------

/// Commune P1 of Quảng Ngãi (51) merges into commune 8000 of Phú Thọ (25) in 2030, and has a dossier of 2024.
const FUTURE_MERGER: &str = r#"{"type": "unit", "code": "P1", "name": "Xã P1", "level": "COMMUNE", "parent": "51", "valid_to": "2030-01-01", "successor": "8000"}
{"type": "dossier", "code": "FUTURE-0001", "procedure": "2.004001", "unit": "P1", "channel": "DIRECT", "applicant": {"id_number": "012345678901", "name": "Phạm D"}, "received_at": "2024-05-06T08:00:00+07:00", "due_at": "2024-05-10T08:00:00+07:00", "events": [{"status": "RECEIVED", "at": "2024-05-06T08:00:00+07:00"}]}"#;

#[tokio::test]
async fn an_as_of_after_now_sees_no_merger_early() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    assert!(import_str(&app, FUTURE_MERGER, false).await.committed);
    let s = schema(&app);
    let q = r#"query($asOf: DateTime) { indicatorDossiers(unitCode: "25", period: { from: "2024-01-01", to: "2031-01-01" },
        asOf: $asOf, metric: ON_TIME_PROCESSING, outcome: ALL, procedureCode: "2.004001", first: 100) { edges { node { code } } } }"#;
    let leader = staff(Role::Leader, "25");
    for as_of in [json!(null), json!("2030-06-01T00:00:00+07:00")] {
        let v = ok(&s, &app, leader.clone(), q, json!({"asOf": as_of})).await;
        let codes: Vec<&str> = v["data"]["indicatorDossiers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["code"].as_str().unwrap())
            .collect();
        assert!(!codes.contains(&"FUTURE-0001"), "asOf {as_of}: a unit merging in 2030 is visible today");
    }
    // Every operation treats a future asOf the same way: evaluated now.
    let q = r#"{ indicators(unitCode: "25", period: { from: "2024-01-01", to: "2031-01-01" }, asOf: "2030-06-01T00:00:00+07:00") { asOf } }"#;
    let v = ok(&s, &app, Caller::Anonymous, q, json!({})).await;
    let as_of =
        chrono::DateTime::parse_from_rfc3339(v["data"]["indicators"]["asOf"].as_str().unwrap()).unwrap();
    assert!(as_of <= chrono::Utc::now() + chrono::Duration::seconds(5), "{v}");
}

// ---- Links across the scope -------------------------------------------------------------------------------

/// Links PAKN-00004 (commune 8002 of Phú Thọ) to a dossier of Quảng Ngãi, as a row stored before the import
/// checked links would be.
async fn cross_scope_link(app: &dvc_gateway::app::App) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let d = entity::dossier::Entity::find()
        .filter(entity::dossier::Column::Code.eq(DOSSIER_51))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let f = entity::feedback::Entity::find()
        .filter(entity::feedback::Column::Code.eq("PAKN-00004"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut m = f.into_active_model();
    m.dossier_id = Set(Some(d.id));
    m.update(&app.db).await.unwrap();
}

#[tokio::test]
async fn a_scoped_export_writes_nothing_outside_its_scope() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    cross_scope_link(&app).await;
    let text = export_text(&app, Some("25")).await;
    assert!(!text.contains(DOSSIER_51_ID), "an identity number from outside the scope was exported");
    assert!(!text.lines().any(|l| l.contains("\"type\":\"dossier\"") && l.contains(DOSSIER_51)));
    let pakn: Value =
        serde_json::from_str(text.lines().find(|l| l.contains("\"code\":\"PAKN-00004\"")).unwrap()).unwrap();
    assert!(pakn.get("dossier").is_none_or(Value::is_null), "{pakn}");
    // It still imports into an empty database.
    let db2 = TestDb::new(Backend::Sqlite).await;
    let r = import_str(&crate::support::app(&db2), &text, false).await;
    assert!(r.committed, "{:?}", r.errors.first());
}

per_backend! {
    #[tokio::test]
    async fn staff_see_no_code_of_a_dossier_outside_their_scope(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        cross_scope_link(&app).await;
        let s = schema(&app);
        for role in [Role::Hotline, Role::Leader, Role::Admin] {
            let v = ok(
                &s,
                &app,
                staff(role, "25"),
                r#"{ feedback(code: "PAKN-00004") { code dossierCode } }"#,
                json!({}),
            )
            .await;
            assert_eq!(v["data"]["feedback"]["code"], "PAKN-00004");
            assert!(v["data"]["feedback"]["dossierCode"].is_null(), "{role:?} on {backend:?}: {v}");
            let v = ok(
                &s,
                &app,
                staff(role, "25"),
                r#"{ feedbacks(first: 100) { edges { node { code dossierCode } } } }"#,
                json!({}),
            )
            .await;
            assert!(!v.to_string().contains(DOSSIER_51), "{role:?} on {backend:?}");
        }
        // Staff of Quảng Ngãi, whose dossier it is, still see the dossier.
        let v = ok(
            &s,
            &app,
            staff(Role::Leader, "51"),
            &format!(r#"{{ dossier(code: "{DOSSIER_51}") {{ code }} }}"#),
            json!({}),
        )
        .await;
        assert_eq!(v["data"]["dossier"]["code"], DOSSIER_51);
    }
}

per_backend! {
    #[tokio::test]
    async fn an_import_refuses_feedback_about_a_dossier_outside_its_units_scope(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let line = format!(
            r#"{{"type":"feedback","code":"X-1","kind":"COMPLAINT","channel":"HOTLINE","unit":"8000","dossier":"{DOSSIER_51}","received_at":"2024-02-01T08:00:00+07:00","due_at":"2024-02-10T08:00:00+07:00","content":"x"}}"#
        );
        let r = import_str(&app, &line, false).await;
        assert!(!r.committed, "{backend:?}: accepted");
        assert_eq!(r.errors.first().map(|e| e.field.as_str()), Some("dossier"), "{:?}", r.errors);
        // Feedback to a unit above the dossier's (the province) is fine.
        let line = line.replace("\"unit\":\"8000\"", "\"unit\":\"51\"");
        assert!(import_str(&app, &line, false).await.committed, "{backend:?}");
    }
}

// ---- Inputs that steer the public scores or leak counts ------------------------------------------------

#[tokio::test]
async fn nobody_extends_a_pakn_deadline_and_citizens_set_none() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let dossier = received_for(&s, &app, CITIZEN).await;
    let q = r#"mutation($c: String!, $due: DateTime) { recordFeedback(input: { kind: COMPLAINT, channel: PORTAL, unitCode: "20022",
        dossierCode: $c, content: "chậm", dueAt: $due }) { code dueAt receivedAt } }"#;
    let far = "2099-01-01T08:00:00+07:00";
    let citizen = Caller::Citizen { sub: CITIZEN.into() };
    let v = run(&s, &app, citizen.clone(), q, json!({"c": dossier, "due": far})).await;
    assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"), "a citizen set a deadline: {v}");
    let v = run(&s, &app, staff(Role::Hotline, "49"), q, json!({"c": dossier, "due": far})).await;
    assert_eq!(error_code(&v).as_deref(), Some("VALIDATION"), "staff extended a deadline: {v}");

    // Derived: ten working days; staff may shorten it.
    let v = ok(&s, &app, citizen, q, json!({"c": dossier, "due": null})).await;
    let at = |v: &Value, f: &str| {
        chrono::DateTime::parse_from_rfc3339(v["data"]["recordFeedback"][f].as_str().unwrap()).unwrap()
    };
    let (received, due) = (at(&v, "receivedAt"), at(&v, "dueAt"));
    assert!(
        due - received >= chrono::Duration::days(12) && due - received <= chrono::Duration::days(20),
        "{v}"
    );
    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let v = ok(&s, &app, staff(Role::Hotline, "49"), q, json!({"c": dossier, "due": soon})).await;
    assert_eq!(at(&v, "dueAt").timestamp(), chrono::DateTime::parse_from_rfc3339(&soon).unwrap().timestamp());
}

per_backend! {
    #[tokio::test]
    async fn concurrent_creates_all_succeed_and_codes_reveal_no_counts(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        let feedback_before = entity::feedback::Entity::find().all(&app.db).await.unwrap().len();
        let receive = r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: DIRECT,
            applicant: { idNumber: "079912345678", name: "Lê Văn C" } }) { code } }"#;
        let record = r#"mutation { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: "20022",
            content: "hỏi" }) { code } }"#;
        let mut tasks = Vec::new();
        for i in 0..24 {
            let (s, app) = (s.clone(), app.clone());
            let q = if i % 2 == 0 { receive } else { record };
            tasks.push(tokio::spawn(
                async move { run(&s, &app, staff(Role::Officer, "49"), q, json!({})).await },
            ));
        }
        let mut codes = std::collections::HashSet::new();
        for t in tasks {
            let v = t.await.unwrap();
            assert!(v["errors"].is_null(), "{backend:?}: {v}");
            let data = &v["data"];
            let code =
                data["receiveDossier"]["code"].as_str().or(data["recordFeedback"]["code"].as_str()).unwrap();
            assert!(codes.insert(code.to_owned()), "duplicate code {code}");
        }
        // The codes tell nothing of how many records exist: their last part is ten random digits, not a count.
        let total = format!("{:06}", feedback_before + 1);
        assert!(!codes.iter().any(|c| c.starts_with("PAKN") && c.ends_with(&total)), "{codes:?}");
        let mut tails: Vec<u64> = codes
            .iter()
            .map(|c| {
                let tail = c.rsplit('-').next().unwrap();
                assert_eq!(tail.len(), 10, "{c}");
                tail.parse().unwrap()
            })
            .collect();
        tails.sort_unstable();
        assert!(tails.windows(2).all(|w| w[1] - w[0] > 1), "consecutive codes: {codes:?}");
    }
}
