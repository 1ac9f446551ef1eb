//! In front of the public: costly documents refused before they run, requests bounded in time.

use dvc_gateway::app::App;
use dvc_gateway::auth::Caller;
use dvc_gateway::config::Settings;
use dvc_gateway::domain::UnitLevel;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::*;

/// An app on `db` with these settings besides the test secrets.
fn app_with(db: &TestDb, extra: Vec<(&'static str, String)>) -> App {
    let settings = Settings::from_lookup(move |k| match k {
        "JWT_SECRET" => Some(TEST_JWT_SECRET.to_owned()),
        "PII_KEY" => Some(TEST_PII_KEY.to_owned()),
        _ => extra.iter().find(|(name, _)| *name == k).map(|(_, v)| v.clone()),
    })
    .expect("settings");
    App::new(db.conn.clone(), settings).expect("app")
}

/// A document of `n` aliased copies of `field`.
fn aliased(n: usize, field: &str) -> String {
    let fields: Vec<String> = (0..n).map(|i| format!("a{i}: {field}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

fn refused_for(v: &Value, setting: &str) {
    assert_eq!(error_code(v).as_deref(), Some("LIMIT"), "{v}");
    let message = v["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(setting), "the error names {setting}: {message}");
    assert_eq!(v["data"], Value::Null, "nothing ran: {v}");
}

const REPORT: &str = r#"indicators(unitCode: "49", period: { year: 2024 }) { total }"#;
const SCANNED_RANKING: &str =
    r#"ranking(level: COMMUNE, parentCode: "49", period: { from: "2024-03-05", to: "2024-05-01" }) { rank }"#;

#[tokio::test]
async fn many_root_fields_or_aliases_are_refused_without_touching_the_database() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    // One request loads the unit tree, as any first request does.
    let first = run(&s, &app, Caller::Anonymous, &format!("{{ {REPORT} }}"), json!({})).await;
    assert!(first["errors"].is_null(), "{first}");
    // Every read of the database fails from here on: a refusal is answered without one.
    app.db.execute_unprepared("DROP TABLE data_change").await.unwrap();
    let ranking = r#"ranking(level: DISTRICT, parentCode: "49", period: { year: 2024 }) { rank }"#;
    for (doc, setting) in [
        (aliased(1_000, REPORT), "MAX_ROOT_FIELDS"),
        (aliased(200, ranking), "MAX_ROOT_FIELDS"),
        (
            format!(
                "{{ units {{ {} }} }}",
                (0..40).map(|i| format!("c{i}: code")).collect::<Vec<_>>().join(" ")
            ),
            "MAX_ALIASES",
        ),
    ] {
        let started = std::time::Instant::now();
        let v = run(&s, &app, Caller::Anonymous, &doc, json!({})).await;
        eprintln!("{setting}: refused in {:?}", started.elapsed());
        refused_for(&v, setting);
    }
    // Under the limits, the same broken database answers an error: the refusals above never reached it.
    let v = run(&s, &app, Caller::Anonymous, &format!("{{ {REPORT} }}"), json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("INTERNAL"), "{v}");
}

#[tokio::test]
async fn a_ranking_costs_its_peers_reports_and_a_scan_costs_more_than_a_cached_report() {
    let db = TestDb::new(Backend::Sqlite).await;
    let loader = app(&db);
    assert!(import_str(&loader, SAMPLE, false).await.committed);
    // The ranking's peers are those valid at its evaluation instant, the end of its period.
    let period = dvc_gateway::domain::time::PeriodSpec {
        from: chrono::NaiveDate::from_ymd_opt(2024, 3, 5),
        to: chrono::NaiveDate::from_ymd_opt(2024, 5, 1),
        ..Default::default()
    };
    let w =
        dvc_gateway::domain::indicators::Window::of(&period, None, dvc_gateway::domain::time::now()).unwrap();
    let peers =
        loader.units().await.unwrap().peers(UnitLevel::Commune, Some("49"), w.at).unwrap().len() as u64;
    assert!(peers >= 2, "the sample has communes in 49: {peers}");
    let scan = dvc_gateway::graphql::cost::SCANNED_REPORT;
    // The budget holds exactly one scanned ranking of 49's communes.
    let app = app_with(&db, vec![("MAX_QUERY_COST", (peers * scan).to_string())]);
    let s = schema(&app);
    let one = run(&s, &app, Caller::Anonymous, &format!("{{ {SCANNED_RANKING} }}"), json!({})).await;
    assert!(one["errors"].is_null(), "within the budget: {one}");
    // The same ranking with one more cached report is over it; so is a ranking with its scanned period passed
    // as a variable.
    let two =
        run(&s, &app, Caller::Anonymous, &format!("{{ {SCANNED_RANKING} r: {REPORT} }}"), json!({})).await;
    refused_for(&two, "MAX_QUERY_COST");
    let by_variable = run(
        &s,
        &app,
        Caller::Anonymous,
        r#"query($p: PeriodInput!) { a: ranking(level: COMMUNE, parentCode: "49", period: $p) { rank } b: indicators(unitCode: "49", period: $p) { total } }"#,
        json!({"p": {"from": "2024-03-05", "to": "2024-05-01"}}),
    )
    .await;
    refused_for(&by_variable, "MAX_QUERY_COST");
    // Reports the cache answers cost one each: the budget holds many.
    let cached = run(&s, &app, Caller::Anonymous, &aliased(20, REPORT), json!({})).await;
    assert!(cached["errors"].is_null(), "{cached}");
}

#[tokio::test]
async fn a_request_that_runs_longer_than_its_timeout_is_stopped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_with(&db, vec![("REQUEST_TIMEOUT_MS", "1".to_owned())]);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let base = serve(app).await;
    let body = json!({"query": format!("{{ {SCANNED_RANKING} }}")});
    let r = reqwest::Client::new().post(format!("{base}/graphql")).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_code(&v).as_deref(), Some("TIMEOUT"), "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("REQUEST_TIMEOUT_MS"), "{v}");
}

#[tokio::test]
async fn a_query_is_stopped_at_its_timeout_whatever_carries_it() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_with(&db, vec![("REQUEST_TIMEOUT_MS", "1".to_owned())]);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    // In process, as a WebSocket `subscribe` holding a query runs it: the schema's own bound.
    let v = run(&schema(&app), &app, Caller::Anonymous, &format!("{{ {SCANNED_RANKING} }}"), json!({})).await;
    assert_eq!(error_code(&v).as_deref(), Some("TIMEOUT"), "{v}");
    // Over a WebSocket.
    use crate::privacy::{Frame, ws_connect, ws_next, ws_send};
    let base = serve(app).await;
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert!(matches!(ws_next(&mut ws, std::time::Duration::from_secs(5)).await, Frame::Json(_)));
    ws_send(
        &mut ws,
        json!({"id": "q", "type": "subscribe", "payload": {"query": format!("{{ {SCANNED_RANKING} }}")}}),
    )
    .await;
    match ws_next(&mut ws, std::time::Duration::from_secs(5)).await {
        Frame::Json(m) => assert_eq!(m["payload"]["errors"][0]["extensions"]["code"], "TIMEOUT", "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn postgres_stops_a_statement_at_the_request_timeout() {
    use std::time::Duration;
    let conn = dvc_gateway::db::connect(&postgres_url(), None, Some(Duration::from_millis(100)))
        .await
        .expect("PostgreSQL is running");
    let started = std::time::Instant::now();
    let err = conn.execute_unprepared("SELECT pg_sleep(5)").await.expect_err("the statement is stopped");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4), "stopped by the server, not after the sleep");
}

#[tokio::test]
async fn a_units_children_are_the_units_whose_parent_it_is() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let v =
        run(&s, &app, Caller::Anonymous, "{ units { code parentCode children { code } } }", json!({})).await;
    let units = v["data"]["units"].as_array().expect("units");
    for u in units {
        let mut expected: Vec<&str> = units
            .iter()
            .filter(|c| c["parentCode"] == u["code"])
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        let mut got: Vec<&str> =
            u["children"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "children of {}", u["code"]);
    }
}

per_backend! {
    #[tokio::test]
    async fn search_matches_wildcards_literally_and_folds_case_the_same_on_both_databases(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let template = SAMPLE.lines().find(|l| l.contains("\"code\": \"2.004001\"")).expect("a sample procedure");
        let lines = [("9.000001", "Đăng ký 100% trực tuyến"), ("9.000002", "Cấp_bản sao")]
            .iter()
            .map(|(code, name)| template.replace("2.004001", code).replace("Thủ tục 1", name))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(import_str(&app, &lines, false).await.committed);
        let s = schema(&app);
        let search = |q: &'static str| {
            let (s, app) = (&s, &app);
            async move {
                let v = run(
                    s,
                    app,
                    Caller::Anonymous,
                    "query($q: String) { procedures(filter: { search: $q }, first: 100) { edges { node { code } } } }",
                    json!({"q": q}),
                )
                .await;
                let mut codes: Vec<String> = v["data"]["procedures"]["edges"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{v}"))
                    .iter()
                    .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
                    .collect();
                codes.sort();
                codes
            }
        };
        assert_eq!(search("%").await, ["9.000001"], "`%` is a percent sign, not every procedure");
        assert_eq!(search("_").await, ["9.000002"], "`_` is an underscore, not any character");
        assert_eq!(search("ĐĂNG KÝ").await, ["9.000001"], "case folds beyond ASCII");
        assert_eq!(search("đăng ký").await, ["9.000001"]);
        assert_eq!(search("9.00000").await, ["9.000001", "9.000002"], "codes are searched too");
        let all_named = search("THỦ TỤC").await;
        assert!(all_named.len() >= 4 && all_named.iter().all(|c| !c.starts_with("9.")), "{all_named:?}");
    }
}

#[tokio::test]
async fn numbers_beyond_their_bounds_are_refused_at_import_with_their_lines() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let template = SAMPLE.lines().find(|l| l.contains("\"code\": \"2.004001\"")).expect("a sample procedure");
    let mut long: serde_json::Map<String, Value> = serde_json::from_str(template).unwrap();
    long.insert("code".into(), json!("9.000009"));
    long.insert("processing_days".into(), json!(1e9));
    let mut dear = long.clone();
    dear.insert("code".into(), json!("9.000010"));
    dear.insert("processing_days".into(), json!(5));
    dear.insert("fee".into(), json!(1_000_000_000_000_000i64));
    let text = [Value::Object(long), Value::Object(dear)].map(|v| v.to_string()).join("\n");
    let r = import_str(&app, &text, false).await;
    assert!(!r.committed && r.rejected == 2, "{r:?}");
    let faults: Vec<(u64, &str)> = r.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(faults, [(1, "processing_days"), (2, "fee")]);
    let stored =
        run(&schema(&app), &app, Caller::Anonymous, r#"{ procedure(code: "9.000009") { code } }"#, json!({}))
            .await;
    assert_eq!(stored["data"]["procedure"], Value::Null, "nothing was written");
}

/// Panics while resolving the field it names: a fault inside a resolver.
struct PanicIn(&'static str);

impl async_graphql::extensions::ExtensionFactory for PanicIn {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(PanicNow(self.0))
    }
}

struct PanicNow(&'static str);

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for PanicNow {
    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        if info.path_node.field_name() == self.0 {
            panic!("injected fault in /srv/dvc/src/secret.rs: SELECT * FROM dossier");
        }
        next.run(ctx, info).await
    }
}

/// Posts a query; the status, the `X-Request-Id` header and the body.
async fn post(base: &str, auth: Option<&str>, query: &str) -> (u16, Option<String>, Value) {
    let mut r = reqwest::Client::new().post(format!("{base}/graphql")).json(&json!({ "query": query }));
    if let Some(t) = auth {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let id = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), id, r.json().await.unwrap())
}

/// The answer names a stable code and the request id, and nothing of the server's insides.
fn opaque(status: u16, id: Option<String>, v: &Value, code: &str) {
    assert_eq!(error_code(v).as_deref(), Some(code), "{status} {v}");
    let request_id = v["errors"][0]["extensions"]["requestId"].as_str().map(str::to_owned);
    assert!(
        request_id.is_some() && request_id == id,
        "the error carries the response's request id: {id:?} {v}"
    );
    let text = v.to_string().to_lowercase();
    for inside in [
        "select",
        "sqlx",
        "sqlite",
        "postgres",
        "no such",
        "relation",
        "violates",
        "constraint",
        ".rs",
        "panicked",
        "backtrace",
    ] {
        assert!(!text.contains(inside), "`{inside}` reached the client: {v}");
    }
}

per_backend! {
    #[tokio::test]
    async fn faults_inside_reach_clients_as_a_code_and_a_request_id(backend: Backend) {
        let (_db, app) = sample_app(backend).await;
        let schema = dvc_gateway::graphql::build_schema_with(app.clone(), |b| b.extension(PanicIn("sectors")));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let running = dvc_gateway::startup::run_with_schema(app.clone(), schema, listener).unwrap();
        let base = format!("http://{}", running.addr);
        tokio::spawn(running.server);

        // A panic in a resolver: a 500 for that request alone.
        let (status, id, v) = post(&base, None, "{ sectors { code } }").await;
        assert_eq!(status, 500);
        opaque(status, id, &v, "INTERNAL");
        let (status, _, v) = post(&base, None, "{ units { code } }").await;
        assert_eq!(status, 200, "the gateway serves on: {v}");
        assert!(v["errors"].is_null() && !v["data"]["units"].as_array().unwrap().is_empty(), "{v}");

        // A constraint the database enforces and the gateway does not know.
        app.db.execute_unprepared("CREATE TABLE veto (x INTEGER CHECK (x < 0))").await.unwrap();
        let trigger = match backend {
            Backend::Sqlite => "CREATE TRIGGER veto_feedback AFTER INSERT ON feedback BEGIN INSERT INTO veto VALUES (1); END",
            Backend::Postgres => "CREATE FUNCTION veto() RETURNS trigger AS $$ BEGIN INSERT INTO veto VALUES (1); RETURN NEW; END $$ LANGUAGE plpgsql; \
                CREATE TRIGGER veto_feedback AFTER INSERT ON feedback FOR EACH ROW EXECUTE FUNCTION veto()",
        };
        app.db.execute_unprepared(trigger).await.unwrap();
        let hotline = token(dvc_gateway::auth::Role::Hotline, Some("49"), "hotline-49");
        let (status, id, v) = post(
            &base,
            Some(&hotline),
            r#"mutation { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: "49", content: "?" }) { code } }"#,
        )
        .await;
        opaque(status, id, &v, "INTERNAL");

        // A table gone.
        app.db.execute_unprepared("ALTER TABLE procedure RENAME TO procedure_gone").await.unwrap();
        let (status, id, v) = post(&base, None, "{ procedures(first: 5) { edges { node { code } } } }").await;
        opaque(status, id, &v, "INTERNAL");
    }
}

async fn stored_feedback(app: &App) -> i64 {
    let sql = "SELECT COUNT(*) FROM feedback".to_owned();
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
    row.unwrap().try_get_by_index::<i64>(0).unwrap()
}

per_backend! {
    #[tokio::test]
    async fn every_acknowledged_concurrent_write_is_stored_and_one_version_has_one_winner(backend: Backend) {
        use dvc_gateway::auth::Role;
        let (_db, app) = sample_app(backend).await;
        let s = schema(&app);
        let hotline = staff(Role::Hotline, "49");
        let record = r#"mutation($c: String!) { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: "20022", content: $c }) { code } }"#;
        let before = stored_feedback(&app).await;
        let writes = (0..64).map(|i| {
            let (s, app, caller) = (&s, &app, hotline.clone());
            async move { run(s, app, caller, record, json!({"c": format!("câu hỏi {i}")})).await }
        });
        let answers = futures_util::future::join_all(writes).await;
        let failed: Vec<&Value> = answers.iter().filter(|v| !v["errors"].is_null()).collect();
        assert!(failed.is_empty(), "{} of 64 failed, first: {}", failed.len(), failed[0]);
        let codes: std::collections::HashSet<&str> =
            answers.iter().map(|v| v["data"]["recordFeedback"]["code"].as_str().unwrap()).collect();
        assert_eq!(codes.len(), 64);
        assert_eq!(stored_feedback(&app).await, before + 64, "every acknowledged write is stored");

        // Sixteen writers on one dossier version: one wins, the others are told CONFLICT.
        let officer = staff(Role::Officer, "49");
        let receive = r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: DIRECT,
            applicant: { idNumber: "012345678901", name: "Trần Thị B", phone: "0905123456" } }) { code } }"#;
        let v = run(&s, &app, officer.clone(), receive, json!({})).await;
        let code = v["data"]["receiveDossier"]["code"].as_str().unwrap_or_else(|| panic!("{v}")).to_owned();
        let change = "mutation($c: String!, $n: String) { changeDossierStatus(code: $c, status: PROCESSING, note: $n, expectedVersion: 1) { version } }";
        let writes = (0..16).map(|i| {
            let (s, app, caller, code) = (&s, &app, officer.clone(), code.clone());
            async move { run(s, app, caller, change, json!({"c": code, "n": format!("writer {i}")})).await }
        });
        let answers = futures_util::future::join_all(writes).await;
        let won = answers.iter().filter(|v| v["errors"].is_null()).count();
        let conflicts = answers.iter().filter(|v| error_code(v).as_deref() == Some("CONFLICT")).count();
        assert_eq!((won, conflicts), (1, 15), "{answers:?}");
    }
}

/// A TCP proxy in front of PostgreSQL that can be cut (every connection closed, new ones refused) and restored
/// on the same port: PostgreSQL stopping and coming back, as the gateway sees it.
struct Proxy {
    port: u16,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy { port, tasks: Default::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let tasks = self.tasks.clone();
        let upstream = postgres_url().split('@').nth(1).and_then(|h| h.split('/').next()).unwrap().to_owned();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test]
async fn when_postgres_stops_requests_fail_fast_readyz_says_so_and_service_resumes_by_itself() {
    use std::time::{Duration, Instant};
    let db = TestDb::new(Backend::Postgres).await;
    assert!(import_str(&app(&db), SAMPLE, false).await.committed);
    let proxy = Proxy::start().await;
    let url = postgres_url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let conn = dvc_gateway::db::connect(&url, db.schema(), Some(Duration::from_secs(30))).await.unwrap();
    let base = serve(App::new(conn, settings()).unwrap()).await;
    let lookup = r#"{ dossierStatus(code: "000.00.20022-250514-00000") { status } }"#;
    let (status, _, v) = post(&base, None, lookup).await;
    assert!(status == 200 && v["errors"].is_null(), "{v}");
    assert_eq!(readyz(&base).await.0, 200);

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, id, v) = post(&base, None, lookup).await;
        opaque(status, id, &v, "UNAVAILABLE");
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "bounded by the connect and pool timeouts: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(readyz(&base).await.0, 503);

    proxy.restore().await;
    let started = Instant::now();
    loop {
        let (_, _, v) = post(&base, None, lookup).await;
        if v["errors"].is_null() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "service resumes by itself: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(readyz(&base).await.0, 200);
}

#[tokio::test]
async fn an_exhausted_pool_makes_a_request_wait_a_bounded_time_and_fail_clearly() {
    use std::time::{Duration, Instant};
    let db = TestDb::new(Backend::Postgres).await;
    let app = app(&db);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let base = serve(app.clone()).await;
    // Every connection of the pool (16) busy for longer than a request waits for one (5 s).
    let busy: Vec<_> = (0..16)
        .map(|_| {
            let conn = app.db.clone();
            tokio::spawn(async move { conn.execute_unprepared("SELECT pg_sleep(9)").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, id, v) =
        post(&base, None, r#"{ dossierStatus(code: "000.00.20022-250514-00000") { status } }"#).await;
    let waited = started.elapsed();
    opaque(status, id, &v, "UNAVAILABLE");
    assert!(waited >= Duration::from_secs(4) && waited < Duration::from_secs(8), "waited {waited:?}");
    for b in busy {
        b.await.unwrap().unwrap();
    }
    let (_, _, v) =
        post(&base, None, r#"{ dossierStatus(code: "000.00.20022-250514-00000") { status } }"#).await;
    assert!(v["errors"].is_null(), "the pool serves again: {v}");
}

/// Posts a query with these headers: the status, the `Retry-After` header and the body.
async fn post_with(base: &str, headers: &[(&str, String)], query: &str) -> (u16, Option<u64>, Value) {
    let mut r = reqwest::Client::new().post(format!("{base}/graphql")).json(&json!({ "query": query }));
    for (name, value) in headers {
        r = r.header(*name, value);
    }
    let r = r.send().await.unwrap();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (r.status().as_u16(), retry, r.json().await.unwrap())
}

/// Waits, if need be, for a rate window with a few seconds left, so that a test's counts fall in one window.
async fn fresh_window() {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if secs % 60 > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - secs % 60)).await;
    }
}

fn lookup(i: usize) -> String {
    format!(r#"{{ dossierStatus(code: "000.00.20022-250514-{i:05}") {{ status }} }}"#)
}

fn limited(status: u16, retry: Option<u64>, v: &Value) {
    assert_eq!(status, 429, "{v}");
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "Retry-After: {retry:?}");
    assert_eq!(error_code(v).as_deref(), Some("RATE_LIMITED"), "{v}");
}

#[tokio::test]
async fn dossier_codes_cannot_be_enumerated_faster_than_the_public_limit() {
    fresh_window().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_with(&db, vec![("RATE_PUBLIC_PER_MINUTE", "10".to_owned())]);
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let base = serve(app).await;
    for i in 0..10 {
        let (status, _, v) = post_with(&base, &[], &lookup(i)).await;
        assert!(status == 200 && v["errors"].is_null(), "lookup {i}: {v}");
    }
    let (status, retry, v) = post_with(&base, &[], &lookup(10)).await;
    limited(status, retry, &v);
    // Two lookups in one request count twice; what the cache answers counts for nothing.
    let (status, _, v) =
        post_with(&base, &[], r#"{ indicators(unitCode: "49", period: { year: 2024 }) { total } }"#).await;
    assert!(status == 200 && v["errors"].is_null(), "{v}");
    // A client's own forwarding header changes nothing without trusted proxies.
    let (status, retry, v) =
        post_with(&base, &[("x-forwarded-for", "203.0.113.9".to_owned())], &lookup(11)).await;
    limited(status, retry, &v);
    // Nor does a WebSocket: each operation it starts counts like a request.
    use crate::privacy::{Frame, ws_connect, ws_next, ws_send};
    let mut ws = ws_connect(&base, None).await.unwrap();
    ws_send(&mut ws, json!({"type": "connection_init"})).await;
    assert!(matches!(ws_next(&mut ws, std::time::Duration::from_secs(5)).await, Frame::Json(_)));
    ws_send(&mut ws, json!({"id": "q", "type": "subscribe", "payload": {"query": lookup(12)}})).await;
    match ws_next(&mut ws, std::time::Duration::from_secs(5)).await {
        Frame::Json(m) => {
            let got = (m["type"].as_str(), m["payload"][0]["extensions"]["code"].as_str());
            assert_eq!(got, (Some("error"), Some("RATE_LIMITED")), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit() {
    fresh_window().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_with(
        &db,
        vec![("RATE_PUBLIC_PER_MINUTE", "2".to_owned()), ("TRUSTED_PROXIES", "127.0.0.1".to_owned())],
    );
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let base = serve(app).await;
    let from = |ip: &str| vec![("x-forwarded-for", format!("6.6.6.6, {ip}"))];
    for i in 0..2 {
        let (status, _, v) = post_with(&base, &from("203.0.113.1"), &lookup(i)).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, retry, v) = post_with(&base, &from("203.0.113.1"), &lookup(2)).await;
    limited(status, retry, &v);
    // Another client behind the same proxy, however it writes the left of the header.
    let (status, _, v) = post_with(&base, &from("203.0.113.2"), &lookup(3)).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn failed_authentications_and_calls_per_subject_are_limited() {
    fresh_window().await;
    use dvc_gateway::auth::Role;
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app_with(
        &db,
        vec![("RATE_AUTH_FAILURES_PER_MINUTE", "3".to_owned()), ("RATE_SUBJECT_PER_MINUTE", "3".to_owned())],
    );
    assert!(import_str(&app, SAMPLE, false).await.committed);
    let base = serve(app).await;
    let officer =
        vec![("authorization", format!("Bearer {}", token(Role::Officer, Some("49"), "officer-1")))];
    let q = "{ units { code } }";
    for _ in 0..3 {
        let (status, _, v) = post_with(&base, &officer, q).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, retry, v) = post_with(&base, &officer, q).await;
    limited(status, retry, &v);

    let forged = vec![("authorization", "Bearer not.a.token".to_owned())];
    for _ in 0..3 {
        let (status, _, v) = post_with(&base, &forged, q).await;
        assert_eq!(status, 401, "{v}");
    }
    // From now on this address waits, whatever token it shows; without a token it is served.
    let (status, retry, v) = post_with(&base, &forged, q).await;
    limited(status, retry, &v);
    let other = vec![("authorization", format!("Bearer {}", token(Role::Officer, Some("49"), "officer-2")))];
    let (status, retry, v) = post_with(&base, &other, q).await;
    limited(status, retry, &v);
    let (status, _, v) = post_with(&base, &[], q).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn with_redis_every_instance_shares_the_limits_and_without_it_each_counts_alone() {
    fresh_window().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let prefix = prefix();
    let with = |url: String| {
        vec![("RATE_PUBLIC_PER_MINUTE", "4".to_owned()), ("REDIS_URL", url), ("REDIS_PREFIX", prefix.clone())]
    };
    let first = app_with(&db, with(redis_url()));
    assert!(import_str(&first, SAMPLE, false).await.committed);
    let (a, b) = (serve(first).await, serve(app_with(&db, with(redis_url()))).await);
    for (i, base) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (status, _, v) = post_with(base, &[], &lookup(i)).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, retry, v) = post_with(&b, &[], &lookup(4)).await;
    limited(status, retry, &v);
    // A token checked against the failure count reads it without creating it; every counter expires.
    let admin = vec![(
        "authorization",
        format!("Bearer {}", token(dvc_gateway::auth::Role::Admin, Some("49"), "admin-1")),
    )];
    let (status, _, v) = post_with(&a, &admin, "{ units { code } }").await;
    assert_eq!(status, 200, "{v}");
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}:rate:*")).query_async(&mut conn).await.unwrap();
    assert!(
        keys.iter().any(|k| k.contains(":public:")) && !keys.iter().any(|k| k.contains(":authfail:")),
        "{keys:?}"
    );
    for k in &keys {
        let ttl: i64 = redis::cmd("TTL").arg(k).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0, "{k} expires: {ttl}");
    }
    // Redis down: each instance counts in process, and still limits.
    let down = serve(app_with(&db, with("redis://127.0.0.1:1".to_owned()))).await;
    for i in 0..4 {
        let (status, _, v) = post_with(&down, &[], &lookup(i)).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, retry, v) = post_with(&down, &[], &lookup(4)).await;
    limited(status, retry, &v);
}

/// A hostile file: what it is, its bytes, and the (line, part of the reason) of each error it must get.
type HostileCase = (&'static str, Vec<u8>, Vec<(u64, &'static str)>);

/// Imports these bytes; the report.
async fn import_bytes(
    app: &App,
    bytes: &[u8],
    skip_invalid: bool,
) -> dvc_gateway::interchange::import::ImportReport {
    let opts = dvc_gateway::interchange::import::ImportOptions { skip_invalid, ..Default::default() };
    dvc_gateway::interchange::import::import(&app.db, &app.vault, &operator("import"), bytes, opts, None)
        .await
        .expect("the import runs")
}

#[tokio::test]
async fn hostile_import_files_get_a_report_with_line_numbers_and_write_nothing() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let sector = |code: &str| format!(r#"{{"type": "sector", "code": "{code}", "name": "Lĩnh vực {code}"}}"#);
    let stored = |app: App| async move {
        let v = run(&schema(&app), &app, Caller::Anonymous, "{ sectors { code } }", json!({})).await;
        v["data"]["sectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let before = stored(app.clone()).await;
    let deep =
        format!(r#"{{"type": "sector", "code": "D", "name": {}1{}}}"#, "[".repeat(5_000), "]".repeat(5_000));
    let cases: Vec<HostileCase> = vec![
        ("invalid UTF-8", [sector("X1").as_bytes(), b"\n{\"type\": \"sector\", \"code\": \"\xff\xfe\"}\n"].concat(), vec![(2, "invalid UTF-8")]),
        ("a line of 10 MiB", format!("{}\n{}\n{}", sector("X1"), "x".repeat(10 << 20), sector("X2")).into_bytes(), vec![(2, "line longer than")]),
        ("nesting 5,000 deep", format!("{}\n{deep}", sector("X1")).into_bytes(), vec![(2, "recursion limit")]),
        ("a wrong type", format!("{}\n{{\"type\": \"sector\", \"code\": 7, \"name\": \"x\"}}", sector("X1")).into_bytes(), vec![(2, "invalid type")]),
        ("an unknown field", format!("{}\n{{\"type\": \"sector\", \"code\": \"X3\", \"name\": \"x\", \"colour\": 1}}", sector("X1")).into_bytes(), vec![(2, "unknown field")]),
        ("a key twice in one object", format!("{}\n{{\"type\": \"sector\", \"code\": \"X3\", \"code\": \"X4\", \"name\": \"x\"}}", sector("X1")).into_bytes(), vec![(2, "duplicate key `code`")]),
        ("a dangling reference", format!("{}\n{{\"type\": \"unit\", \"code\": \"U9\", \"name\": \"x\", \"level\": \"COMMUNE\", \"parent\": \"NOWHERE\"}}", sector("X1")).into_bytes(), vec![(2, "")]),
        ("a line cut in the middle", format!("{}\n{}", sector("X1"), &sector("X2")[..20]).into_bytes(), vec![(2, "EOF")]),
        ("an empty file", Vec::new(), vec![(0, "no record")]),
        ("blank lines only", b"\n  \n\r\n".to_vec(), vec![(0, "no record")]),
    ];
    for (what, bytes, expected) in &cases {
        let r = import_bytes(&app, bytes, false).await;
        assert!(!r.committed, "{what}: nothing is written: {r:?}");
        let got: Vec<(u64, String)> = r.errors.iter().map(|e| (e.line, e.reason.clone())).collect();
        assert_eq!(got.len(), expected.len(), "{what}: {got:?}");
        for ((line, reason), (want_line, want)) in got.iter().zip(expected) {
            assert!(line == want_line && reason.contains(want), "{what}: {got:?}");
        }
    }
    assert_eq!(stored(app.clone()).await, before, "no hostile file wrote anything");

    // With --skip-invalid, exactly the valid lines.
    let r = import_bytes(&app, &cases[0].1, true).await;
    assert!(r.committed && r.written == 1 && r.rejected == 1, "{r:?}");
    let r = import_bytes(&app, &cases[1].1, true).await;
    assert!(r.committed && r.written == 1 && r.unchanged == 1 && r.rejected == 1, "{r:?}");

    // A byte-order mark and CRLF line ends are a valid file.
    let windows = format!("\u{feff}{}\r\n{}\r\n", sector("W1"), sector("W2"));
    let r = import_bytes(&app, windows.as_bytes(), false).await;
    assert!(r.committed && r.written == 2 && r.errors.is_empty(), "{r:?}");

    // The same record twice: the later line replaces the earlier (a delta feed), both counted.
    let twice = format!("{}\n{}", sector("T1"), sector("T1").replace("Lĩnh vực T1", "Tên mới"));
    let r = import_bytes(&app, twice.as_bytes(), false).await;
    assert!(r.committed && r.lines == 2 && r.errors.is_empty(), "{r:?}");

    // Garbage: every line reported (the first 10,000 kept), memory bounded by the line limit.
    let mut garbage = Vec::new();
    let mut x: u64 = 7;
    for _ in 0..(8 << 20) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        garbage.push((x >> 56) as u8);
    }
    let r = import_bytes(&app, &garbage, false).await;
    assert!(
        !r.committed && r.rejected == r.lines && r.lines > 10_000 && r.errors.len() == 10_000,
        "{} lines",
        r.lines
    );
}

per_backend! {
    #[tokio::test]
    async fn an_import_runs_while_queries_and_writes_are_served(backend: Backend) {
        use dvc_gateway::auth::Role;
        let (_db, app) = sample_app(backend).await;
        let mut records = Vec::new();
        demo::generate(&demo::DemoOptions { scale: 0.01, seed: 3 }, &mut |r| records.push(r));
        let text = records.iter().map(|r| r.to_line()).collect::<Vec<_>>().join("\n");
        let import = {
            let app = app.clone();
            tokio::spawn(async move { import_str(&app, &text, false).await })
        };
        let s = schema(&app);
        let hotline = staff(Role::Hotline, "49");
        let record = r#"mutation($c: String!) { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: "20022", content: $c }) { code } }"#;
        let mut served = 0;
        while !import.is_finished() || served < 10 {
            let (w, q) = tokio::join!(
                run(&s, &app, hotline.clone(), record, json!({"c": format!("trong lúc nhập {served}")})),
                run(&s, &app, Caller::Anonymous, r#"{ dossierStatus(code: "000.00.20022-250514-00000") { status } }"#, json!({})),
            );
            assert!(w["errors"].is_null(), "a write beside the import: {w}");
            assert!(q["errors"].is_null(), "a query beside the import: {q}");
            served += 1;
        }
        let report = import.await.unwrap();
        assert!(report.committed, "{:?}", report.errors.first());
        eprintln!("{served} writes and queries served while the import ran");
    }
}
