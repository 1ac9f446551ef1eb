//! The gateway as a process, killed or stopped at the worst moment: afterwards every acknowledged write is
//! stored, nothing is half-applied, and an import run again completes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::privacy::{Frame, ws_connect, ws_next, ws_send};
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_dvc-gateway");

/// A database the gateway's process opens by URL: a SQLite file, or a PostgreSQL database of its own.
struct Target {
    url: String,
    database: Option<String>,
    _dir: tempfile::TempDir,
}

impl Target {
    async fn new(backend: Backend) -> Target {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Target {
                url: format!("sqlite://{}/g.db?mode=rwc", dir.path().display()),
                database: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let name = format!("k_{}", uuid::Uuid::new_v4().simple());
                let admin =
                    dvc_gateway::db::connect(&postgres_url(), None, None).await.expect("PostgreSQL runs");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
                let base = postgres_url();
                let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
                Target { url, database: Some(name), _dir: dir }
            }
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("DATABASE_URL", &self.url)
            .env("PII_KEY", TEST_PII_KEY)
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    async fn conn(&self) -> DatabaseConnection {
        dvc_gateway::db::connect(&self.url, None, None).await.unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let Some(name) = self.database.take() else { return };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = dvc_gateway::db::connect(&postgres_url(), None, None).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .unwrap();
    row.unwrap().try_get_by_index::<i64>(0).unwrap()
}

fn kill(child: &mut Child, signal: &str) {
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

per_backend! {
    #[tokio::test]
    async fn an_import_killed_in_the_middle_leaves_nothing_and_runs_again_to_the_end(backend: Backend) {
        let target = Target::new(backend).await;
        let mut records = Vec::new();
        demo::generate(&demo::DemoOptions { scale: 0.03, seed: 5 }, &mut |r| records.push(r));
        let dossiers = records.iter().filter(|r| matches!(r, dvc_gateway::interchange::records::Record::Dossier(_))).count();
        let text = records.iter().map(|r| r.to_line()).collect::<Vec<_>>().join("\n");
        let file = target._dir.path().join("data.jsonl");
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();

        let mut import = target.command(&["import", path]).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(import.try_wait().unwrap().is_none(), "the import is still running when it is killed");
        kill(&mut import, "-KILL");
        import.wait().unwrap();
        let conn = target.conn().await;
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM dossier").await, 0, "nothing of the killed import is stored");
        conn.close().await.ok();

        let status = target.command(&["import", path]).status().unwrap();
        assert!(status.success());
        let conn = target.conn().await;
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM dossier").await, dossiers as i64);
    }
}

/// Serves the target's database on a free port; the child and its base URL once it is ready.
async fn serve_process(target: &Target) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = target.command(&["serve"]).env("BIND_ADDR", format!("127.0.0.1:{port}")).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz")).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the gateway starts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, base)
}

const RECORD: &str = r#"mutation($c: String!) { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: "20022", content: $c }) { code } }"#;

async fn record(base: String, auth: String, i: usize) -> Option<String> {
    let body = json!({"query": RECORD, "variables": {"c": format!("câu hỏi {i}")}});
    let r = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(auth)
        .json(&body)
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    v["data"]["recordFeedback"]["code"].as_str().map(str::to_owned)
}

per_backend! {
    #[tokio::test]
    async fn a_gateway_killed_during_a_burst_of_writes_keeps_every_acknowledged_one(backend: Backend) {
        let target = Target::new(backend).await;
        let sample = target._dir.path().join("sample.jsonl");
        std::fs::write(&sample, SAMPLE).unwrap();
        assert!(target.command(&["import", sample.to_str().unwrap()]).status().unwrap().success());
        let before = count(&target.conn().await, "SELECT COUNT(*) FROM feedback").await;
        let (mut gateway, base) = serve_process(&target).await;
        let hotline = token(dvc_gateway::auth::Role::Hotline, Some("49"), "hotline-1");
        // Killed once the first write is acknowledged (how long that takes under 400 concurrent writes depends on
        // the machine), while most are still in flight.
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writes: Vec<_> = (0..400)
            .map(|i| {
                let (base, hotline, acked) = (base.clone(), hotline.clone(), acked.clone());
                tokio::spawn(async move {
                    let code = record(base, hotline, i).await;
                    if code.is_some() {
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    code
                })
            })
            .collect();
        let started = Instant::now();
        while acked.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "no write acknowledged in 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kill(&mut gateway, "-KILL");
        gateway.wait().unwrap();
        let mut acknowledged = Vec::new();
        for w in writes {
            acknowledged.extend(w.await.unwrap());
        }
        assert!(!acknowledged.is_empty() && acknowledged.len() < 400, "killed mid-burst: {} acknowledged", acknowledged.len());
        let conn = target.conn().await;
        for code in &acknowledged {
            let sql = format!("SELECT COUNT(*) FROM feedback WHERE code = '{code}'");
            assert_eq!(count(&conn, &sql).await, 1, "acknowledged {code} is stored");
        }
        // Every stored feedback has the audit event written in its transaction.
        let stored = count(&conn, "SELECT COUNT(*) FROM feedback").await - before;
        let audited = count(&conn, "SELECT COUNT(*) FROM audit_event WHERE operation = 'recordFeedback' AND outcome = 'OK'").await;
        assert_eq!(stored, audited, "no write without its audit event, and none the other way");
    }
}

per_backend! {
    #[tokio::test]
    async fn sigterm_finishes_the_requests_in_flight_and_closes_websockets(backend: Backend) {
        let target = Target::new(backend).await;
        let sample = target._dir.path().join("sample.jsonl");
        std::fs::write(&sample, SAMPLE).unwrap();
        assert!(target.command(&["import", sample.to_str().unwrap()]).status().unwrap().success());
        let (mut gateway, base) = serve_process(&target).await;
        let mut ws = ws_connect(&base, None).await.unwrap();
        ws_send(&mut ws, json!({"type": "connection_init"})).await;
        assert!(matches!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Json(_)));
        ws_send(&mut ws, crate::privacy::status_subscription("s1", "000.00.20022-250514-00000")).await;
        // The subscription answers the current status first.
        assert!(matches!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Json(v) if v["type"] == "next"));

        // A write held up by a lock another session holds: it is in flight when the signal comes.
        let blocker = target.conn().await;
        let txn = sea_orm::TransactionTrait::begin(&blocker).await.unwrap();
        let lock = match backend {
            Backend::Sqlite => "DELETE FROM data_change WHERE id < 0",
            Backend::Postgres => "LOCK TABLE data_change IN ACCESS EXCLUSIVE MODE",
        };
        txn.execute_unprepared(lock).await.unwrap();
        let hotline = token(dvc_gateway::auth::Role::Hotline, Some("49"), "hotline-1");
        let write = tokio::spawn(record(base.clone(), hotline, 1));
        tokio::time::sleep(Duration::from_millis(700)).await;
        let stopped_at = Instant::now();
        kill(&mut gateway, "-TERM");
        assert_eq!(ws_next(&mut ws, Duration::from_secs(5)).await, Frame::Closed(1001), "WebSockets are told to go");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!write.is_finished());
        txn.rollback().await.unwrap();
        let code = write.await.unwrap().expect("the request in flight is answered");
        let status = loop {
            if let Some(s) = gateway.try_wait().unwrap() {
                break s;
            }
            assert!(stopped_at.elapsed() < Duration::from_secs(15), "the gateway stops within its grace period");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(status.success(), "{status}");
        let conn = target.conn().await;
        assert_eq!(count(&conn, &format!("SELECT COUNT(*) FROM feedback WHERE code = '{code}'")).await, 1);
    }
}

#[tokio::test]
async fn the_access_log_is_one_plain_line_per_request_when_not_on_a_terminal() {
    let target = Target::new(Backend::Sqlite).await;
    let log = target._dir.path().join("gateway.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut gateway = target
        .command(&["serve"])
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz")).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the gateway starts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        let r = reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    kill(&mut gateway, "-TERM");
    assert!(gateway.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "no colour codes in a file: {text}");
    let requests: Vec<&str> = text.lines().filter(|l| l.contains(" graphql operation=")).collect();
    assert_eq!(requests.len(), 3, "one line per request: {text}");
    for line in requests {
        assert!(line.contains("outcome=ok") && line.contains("request_id=") && line.len() < 300, "{line}");
    }

    // With LOG_FORMAT=json, every line is a JSON object, the access lines too.
    let mut gateway = target
        .command(&["serve"])
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while reqwest::get(format!("{base}/readyz")).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(60), "the gateway starts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "query Hello { __typename }", "operationName": "Hello"}))
        .send()
        .await
        .unwrap();
    let id = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    kill(&mut gateway, "-TERM");
    assert!(gateway.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let access: Vec<_> = lines.iter().filter(|l| l["fields"]["message"] == "graphql").collect();
    assert_eq!(access.len(), 1, "{text}");
    assert_eq!(access[0]["fields"]["operation"], "Hello", "{text}");
    assert_eq!(access[0]["fields"]["outcome"], "ok", "{text}");
    assert_eq!(access[0]["fields"]["method"], "POST", "{text}");
    if let Some(id) = id {
        assert_eq!(access[0]["span"]["request_id"], id.as_str(), "{text}");
    }
}
