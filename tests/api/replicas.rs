//! Read replicas, against a real streaming replica of the test cluster: `scripts/replica.sh` makes one on port
//! 5433 with `pg_basebackup` when none answers there (`.ci/run` makes it first; `TEST_REPLICA_URL` names
//! another). Reads through the replica see every write acknowledged before them; when the replica stops or
//! stalls, the primary answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dvc_gateway::app::App;
use dvc_gateway::db;
use dvc_gateway::domain::Role;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// The replica's address (host:port), started when it does not answer.
fn replica_addr() -> String {
    static READY: OnceLock<String> = OnceLock::new();
    READY
        .get_or_init(|| match std::env::var("TEST_REPLICA_ADDR") {
            Ok(addr) => addr,
            Err(_) => {
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replica.sh");
                let status = std::process::Command::new(script).status().expect("scripts/replica.sh runs");
                assert!(status.success(), "scripts/replica.sh could not start the replica on 127.0.0.1:5433");
                "127.0.0.1:5433".to_owned()
            }
        })
        .clone()
}

/// The test database's URL at `addr` (the replica, or a proxy in front of it).
fn url_at(addr: &str) -> String {
    let primary = postgres_url();
    let path = primary.rsplit_once('/').map_or("test", |(_, db)| db).to_owned();
    format!("postgres://postgres@{addr}/{path}")
}

/// An app on `db` (the primary) reading through the replica at `addr`.
async fn app_with_replica(db: &TestDb, addr: &str, max_wait: Duration) -> App {
    let replica = db::connect_replica(&url_at(addr), db.schema(), None).await.expect("replica pool");
    app(db).with_replicas(vec![replica], max_wait)
}

fn counts(app: &App) -> (u64, u64) {
    let c = &app.reads.counts;
    (c.replica.load(Ordering::Relaxed), c.fallback.load(Ordering::Relaxed))
}

const RECORD: &str = r#"mutation($k: FeedbackKind!, $c: String!) { recordFeedback(input: { kind: $k, channel: HOTLINE,
    unitCode: "25", content: $c }) { code } }"#;
const NEWEST: &str = r#"{ feedbacks(first: 1) { edges { node { code content } } } }"#;
const PAKN: &str = r#"query($y: Int!) { indicators(unitCode: "25", period: { year: $y }) {
    groups { metrics { key denominator } } } }"#;

fn newest(v: &serde_json::Value) -> (String, String) {
    let node = &v["data"]["feedbacks"]["edges"][0]["node"];
    assert!(node.is_object(), "{v}");
    (node["code"].as_str().unwrap().to_owned(), node["content"].as_str().unwrap().to_owned())
}

fn pakn_denominator(v: &serde_json::Value) -> i64 {
    let groups = v["data"]["indicators"]["groups"].as_array().unwrap_or_else(|| panic!("{v}"));
    groups
        .iter()
        .flat_map(|g| g["metrics"].as_array().unwrap().iter())
        .find(|m| m["key"] == "PAKN_ON_TIME")
        .and_then(|m| m["denominator"].as_i64())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_the_primary_is_seen_by_the_very_next_read_through_the_replica() {
    let (db, _) = sample_app(Backend::Postgres).await;
    let app = app_with_replica(&db, &replica_addr(), Duration::from_secs(5)).await;
    let schema = schema(&app);
    let hotline = staff(Role::Hotline, "25");
    let leader = staff(Role::Leader, "25");
    let year = chrono::Utc::now().format("%Y").to_string().parse::<i64>().unwrap();
    let mut pakn = pakn_denominator(&run(&schema, &app, leader.clone(), PAKN, json!({ "y": year })).await);
    for i in 0..20 {
        let content = format!("replica check {i}");
        let kind = if i % 2 == 0 { "QUESTION" } else { "COMPLAINT" };
        let w = run(&schema, &app, hotline.clone(), RECORD, json!({ "k": kind, "c": content })).await;
        let code = w["data"]["recordFeedback"]["code"].as_str().unwrap_or_else(|| panic!("{w}")).to_owned();
        // The staff list, the very next read.
        let r = run(&schema, &app, hotline.clone(), NEWEST, json!({})).await;
        assert_eq!(newest(&r), (code, content), "read {i} missed the write before it");
        // The indicators: a complaint counts in this year's PAKN at once.
        if kind == "COMPLAINT" {
            pakn += 1;
            let r = run(&schema, &app, leader.clone(), PAKN, json!({ "y": year })).await;
            assert_eq!(pakn_denominator(&r), pakn, "report after write {i}");
        }
    }
    // An export through the replica holds the last write too.
    let mut out = Vec::new();
    let stamp = operator("export");
    let source = app.reads.fresh().await;
    dvc_gateway::interchange::export::export(source, &app.db, &app.vault, &stamp, Some("25"), &mut out)
        .await
        .expect("export");
    assert!(String::from_utf8(out).unwrap().contains("replica check 19"));
    let (replica, fallback) = counts(&app);
    assert!(replica >= 31, "every read went to the replica: {replica} there, {fallback} on the primary");
    assert_eq!(fallback, 0);
}

const SERIES: &str = r#"{ indicatorSeries(unitCode: "49", from: "2024-01-01", to: "2026-01-01", step: MONTH) {
    periodStart total groups { metrics { key numerator denominator } } } }"#;

/// A series computed through the replica (two transactions there, the second importing the first's exported
/// snapshot) is the series the primary computes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_series_through_the_replica_equals_the_primarys() {
    let (db, primary) = sample_app(Backend::Postgres).await;
    let leader = staff(Role::Leader, "49");
    let want = run(&schema(&primary), &primary, leader.clone(), SERIES, json!({})).await;
    assert!(want["errors"].is_null(), "{want}");
    assert_eq!(want["data"]["indicatorSeries"].as_array().map(Vec::len), Some(24), "{want}");
    let app = app_with_replica(&db, &replica_addr(), Duration::from_secs(5)).await;
    let got = run(&schema(&app), &app, leader, SERIES, json!({})).await;
    assert_eq!(got, want);
    let (replica, fallback) = counts(&app);
    assert!(
        replica >= 1,
        "the series was read through the replica: {replica} there, {fallback} on the primary"
    );
    assert_eq!(fallback, 0);
}

/// A TCP proxy in front of the replica, which the tests stop or stall.
struct Proxy {
    addr: String,
    stalled: Arc<AtomicBool>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stalled = Arc::new(AtomicBool::new(false));
        let tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (st, ts) = (stalled.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (st, upstream) = (st.clone(), upstream.clone());
                let t = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, st.clone()), pump(sr, cw, st));
                });
                ts.lock().unwrap().push(t.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Proxy { addr, stalled, tasks }
    }

    /// Closes every connection and stops listening: the replica is gone.
    fn stop(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Forwards nothing more (connections stay open): the replica neither answers nor replays.
    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_replica_leaves_the_reads_to_the_primary() {
    let (db, _) = sample_app(Backend::Postgres).await;
    let proxy = Proxy::start(replica_addr()).await;
    let app = app_with_replica(&db, &proxy.addr, Duration::from_secs(2)).await;
    let schema = schema(&app);
    let hotline = staff(Role::Hotline, "25");
    let first = run(&schema, &app, hotline.clone(), NEWEST, json!({})).await;
    assert_eq!(counts(&app), (1, 0), "the first read went to the replica");

    proxy.stop();
    for i in 0..10 {
        let content = format!("after the replica stopped {i}");
        let w = run(&schema, &app, hotline.clone(), RECORD, json!({ "k": "QUESTION", "c": content })).await;
        let code = w["data"]["recordFeedback"]["code"].as_str().unwrap_or_else(|| panic!("{w}")).to_owned();
        let started = Instant::now();
        let r = run(&schema, &app, hotline.clone(), NEWEST, json!({})).await;
        assert_eq!(newest(&r), (code, content), "{r}");
        assert!(started.elapsed() < Duration::from_secs(2), "read {i} took {:?}", started.elapsed());
    }
    let (replica, fallback) = counts(&app);
    assert_eq!((replica, fallback), (1, 10), "the primary answered every read after the stop");
    assert_ne!(newest(&first).0, "", "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_stalls_is_waited_for_within_the_bound_then_left_to_the_primary() {
    let (db, _) = sample_app(Backend::Postgres).await;
    let proxy = Proxy::start(replica_addr()).await;
    let wait = Duration::from_millis(300);
    let app = app_with_replica(&db, &proxy.addr, wait).await;
    let schema = schema(&app);
    let hotline = staff(Role::Hotline, "25");
    run(&schema, &app, hotline.clone(), NEWEST, json!({})).await;
    assert_eq!(counts(&app), (1, 0));

    proxy.stall();
    let w =
        run(&schema, &app, hotline.clone(), RECORD, json!({ "k": "QUESTION", "c": "while stalled" })).await;
    let code = w["data"]["recordFeedback"]["code"].as_str().unwrap_or_else(|| panic!("{w}")).to_owned();
    let started = Instant::now();
    let r = run(&schema, &app, hotline.clone(), NEWEST, json!({})).await;
    let took = started.elapsed();
    assert_eq!(newest(&r), (code, "while stalled".to_owned()));
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "waited {took:?}");
    assert_eq!(counts(&app), (1, 1));
    // Left aside: the next read does not wait again.
    let started = Instant::now();
    run(&schema, &app, hotline.clone(), NEWEST, json!({})).await;
    assert!(started.elapsed() < Duration::from_millis(250), "waited again: {:?}", started.elapsed());
    assert_eq!(counts(&app), (1, 2));
    proxy.stop();
}
