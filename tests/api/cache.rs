//! The indicator cache against a real Redis: sharing between instances, freshness after writes from anywhere,
//! coalesced misses, and a slow Redis and an outage in the middle of a test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Datelike;
use dvc_gateway::auth::{Caller, Role};
use dvc_gateway::cache::{Aggregate, AggregateCache, CacheHealth, IndicatorKey, Ttl};
use dvc_gateway::db::DataVersion;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::support::*;

const Q: &str = "query($u: String!) { indicators(unitCode: $u, period: { year: 2024 }) { total groups { metrics { key numerator denominator } } } }";

fn on_time_den(v: &serde_json::Value) -> i64 {
    v["data"]["indicators"]["groups"][1]["metrics"][0]["denominator"].as_i64().unwrap_or(-1)
}

async fn redis_keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut c).await.unwrap()
}

/// The only key under `prefix`, the data version its value was computed at, and its time to live in seconds.
async fn only_entry(url: &str, prefix: &str) -> (String, String, i64) {
    let keys = redis_keys(url, prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let value: String = redis::cmd("GET").arg(&keys[0]).query_async(&mut c).await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query_async(&mut c).await.unwrap();
    let version = value.split_once('\n').expect("version, newline, value").0.to_owned();
    (keys[0].clone(), version, ttl)
}

const EXTRA_DOSSIER: &str = r#"{"type": "dossier", "code": "EXTRA-0001", "procedure": "2.004001", "unit": "20000", "channel": "DIRECT", "applicant": {"id_number": "012345678901", "name": "Phạm D"}, "received_at": "2024-05-06T08:00:00+07:00", "due_at": "2024-05-10T08:00:00+07:00", "events": [{"status": "RECEIVED", "at": "2024-05-06T08:00:00+07:00"}]}"#;

per_backend! {
    #[tokio::test]
    async fn answers_are_shared_through_redis_and_include_every_acknowledged_write(backend: Backend) {
        let db = TestDb::new(backend).await;
        let p = prefix();
        let a = app_with_redis(&db, &redis_url(), &p);
        let b = app_with_redis(&db, &redis_url(), &p);
        assert!(import_str(&a, SAMPLE, false).await.committed);
        let (sa, sb) = (schema(&a), schema(&b));

        let first = run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
        assert_eq!(on_time_den(&first), 120, "{first}");
        // The key names what was asked (formula version, unit, period, bucket: the period's end); the value
        // carries the data version it was computed at. A closed period is kept while it is asked for.
        let (key, v1, ttl) = only_entry(&redis_url(), &p).await;
        let year = "1704042000000000:1735664400000000:1735664400000000";
        assert_eq!(key, format!("{p}:ind:qd766-portal-2024:49:{year}"));
        assert!(ttl > 29 * 24 * 3600, "{ttl}");
        // Another instance gets the same answer from Redis.
        assert_eq!(run(&sb, &b, Caller::Anonymous, Q, json!({"u": "49"})).await, first);

        // A write by an import (as from another process) shows in the very next answer of every instance.
        let other = crate::support::app(&db);
        assert!(import_str(&other, EXTRA_DOSSIER, false).await.committed);
        assert_eq!(on_time_den(&run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await), 121);
        assert_eq!(on_time_den(&run(&sb, &b, Caller::Anonymous, Q, json!({"u": "49"})).await), 121);

        // A write through the API of one instance shows on the other.
        let v = change_extra_status(&a, "PROCESSING").await;
        assert!(v["errors"].is_null(), "{v}");
        let (_, v2, _) = only_entry(&redis_url(), &p).await;
        assert_ne!(v2, v1, "the import's answer replaced the first");
        run(&sb, &b, Caller::Anonymous, Q, json!({"u": "49"})).await;
        let (_, v3, _) = only_entry(&redis_url(), &p).await;
        assert_ne!(v3, v2, "a new version replaces the value under the same key");

        // Data of another province does not touch Quảng Nam's cached answer.
        assert!(
            import_str(
                &other,
                &EXTRA_DOSSIER.replace("EXTRA-0001", "EXTRA-0002").replace("\"20000\"", "\"8000\""),
                false
            )
            .await
            .committed
        );
        run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
        assert_eq!(
            only_entry(&redis_url(), &p).await.1,
            v3,
            "closed periods stay cached until their data changes"
        );

        // An open period (this year) is kept for its minute's bucket.
        let p2 = prefix();
        let c = app_with_redis(&db, &redis_url(), &p2);
        let this_year =
            chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap()).year();
        let open = "query($u: String!, $y: Int!) { indicators(unitCode: $u, period: { year: $y }) { groups { metrics { denominator } } } }";
        let vars = json!({"u": "49", "y": this_year});
        // Dossiers received in the period (DOSSIER_SYNC's denominator).
        let received = |v: &serde_json::Value| {
            v["data"]["indicators"]["groups"][0]["metrics"][3]["denominator"].as_i64()
        };
        let (sc, d) = (schema(&c), app_with_redis(&db, &redis_url(), &p2));
        let sd = schema(&d);
        let before = run(&sc, &c, Caller::Anonymous, open, vars.clone()).await;
        let (_, _, ttl) = only_entry(&redis_url(), &p2).await;
        assert!((1..=60).contains(&ttl), "{ttl}");
        assert_eq!(run(&sd, &d, Caller::Anonymous, open, vars.clone()).await, before);

        // A dossier received through the API of one instance is in the other's very next answer, within the
        // same minute.
        let receive = r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022", channel: ONLINE,
            applicant: { idNumber: "079912345678", name: "Lê Văn C" } }) { code } }"#;
        let v = run(&sc, &c, staff(Role::Officer, "49"), receive, json!({})).await;
        assert!(v["errors"].is_null(), "{v}");
        let after = run(&sd, &d, Caller::Anonymous, open, vars).await;
        assert_eq!(received(&after), Some(received(&before).expect("a count") + 1), "{before} {after}");
    }
}

#[tokio::test]
async fn an_as_of_is_exact_even_within_a_minute_already_answered() {
    // EXTRA-0001 is received at 08:00:00 on 6 May 2024: in scope at 08:00:30 (received before T), not at 08:00:00.
    let q = "query($a: DateTime) { indicators(unitCode: \"49\", period: { year: 2024 }, asOf: $a) { asOf groups { metrics { denominator } } } }";
    let (db, plain) = sample_app(Backend::Sqlite).await;
    let p = prefix();
    let shared = app_with_redis(&db, &redis_url(), &p);
    assert!(import_str(&plain, EXTRA_DOSSIER, false).await.committed);
    for app in [&plain, &shared] {
        let s = schema(app);
        let later = run(&s, app, Caller::Anonymous, q, json!({"a": "2024-05-06T08:00:30+07:00"})).await;
        let at = run(&s, app, Caller::Anonymous, q, json!({"a": "2024-05-06T08:00:00+07:00"})).await;
        assert_eq!(on_time_den(&later), on_time_den(&at) + 1, "{later} {at}");
        assert_eq!(at["data"]["indicators"]["asOf"], "2024-05-06T08:00:00+07:00", "{at}");
    }
}

#[tokio::test]
async fn concurrent_misses_for_one_key_compute_once() {
    // Two instances sharing Redis: one computes, every other caller waits for its value.
    let p = prefix();
    let caches = [
        AggregateCache::new(Some(&redis_url()), &p).unwrap(),
        AggregateCache::new(Some(&redis_url()), &p).unwrap(),
    ];
    let key = IndicatorKey {
        kind: Aggregate::Report,
        formula_version: "v",
        unit: "49".into(),
        start: 0,
        end: 1,
        bucket: 1,
    };
    let version = DataVersion { reference: 1, scope: 7 };
    let computed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let calls = (0..50).map(|i| {
        let (computed, gate, cache, key) =
            (computed.clone(), gate.clone(), caches[i % 2].clone(), key.clone());
        async move {
            cache
                .get_or_compute(&key, version, Ttl::Fixed(Duration::from_secs(60)), || async move {
                    computed.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Ok::<_, std::io::Error>("42".to_owned())
                })
                .await
        }
    });
    let all = async {
        tokio::join!(futures_util::future::join_all(calls), async {
            // Let the single computation finish once it started.
            while computed.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            gate.notify_waiters();
        })
    };
    // A second computation would wait for the gate forever.
    let (results, ()) = tokio::time::timeout(Duration::from_secs(15), all).await.expect("one computation");
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|v| v.as_str() == "42")));
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    assert_eq!(redis_keys(&redis_url(), &p).await.len(), 1, "the value, and no lock left behind");
}

/// A private Redis server on a free port, stopped on drop.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        PrivateRedis { port, child: Some(child) }
    }

    async fn wait_ready(&self) {
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..200 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("private redis did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the cache reports Redis healthy within 5 s.
async fn became_ok(app: &dvc_gateway::app::App) -> bool {
    for _ in 0..100 {
        if app.cache.health().await == CacheHealth::Ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[actix_web::test]
async fn a_slow_or_stopped_redis_degrades_to_direct_answers_and_caching_resumes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = PrivateRedis::start(port);
    redis.wait_ready().await;
    let (db, _) = sample_app(Backend::Sqlite).await;
    let p = prefix();
    let app = app_with_redis(&db, &redis.url(), &p);
    let s = schema(&app);
    let base = serve(app.clone()).await;
    assert_eq!(readyz(&base).await, (200, json!({"database": "ok", "cache": "ok"})));
    let expected = run(&s, &app, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(on_time_den(&expected), 120);
    assert_eq!(app.cache.health().await, CacheHealth::Ok);
    assert_eq!(redis_keys(&redis.url(), &p).await.len(), 1);

    // Redis slow: paused for 3 s, every command waits (the pause ends by itself: an UNPAUSE would wait too).
    // Answers still come, computed directly once the cache's short timeout passes, well before the pause ends,
    // and readiness reports the degradation.
    let mut admin =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CLIENT").arg("PAUSE").arg(3000).arg("ALL").query_async::<()>(&mut admin).await.unwrap();
    app.cache.clear_local();
    let asked = Instant::now();
    assert_eq!(run(&s, &app, Caller::Anonymous, Q, json!({"u": "49"})).await, expected);
    assert!(
        asked.elapsed() < Duration::from_millis(2000),
        "the answer did not wait for Redis: {:?}",
        asked.elapsed()
    );
    assert_eq!(app.cache.health().await, CacheHealth::Degraded);
    // Still ready (it answers, computing directly), and says why it is slower.
    assert_eq!(readyz(&base).await, (200, json!({"database": "ok", "cache": "degraded"})));
    assert!(became_ok(&app).await, "the cache recovers when Redis answers again");

    redis.stop();
    app.cache.clear_local();
    // Answers keep coming, computed directly, and readiness reports the degradation.
    for unit in ["49", "48", "25"] {
        let v = run(&s, &app, Caller::Anonymous, Q, json!({"u": unit})).await;
        assert!(v["errors"].is_null(), "{v}");
    }
    assert_eq!(run(&s, &app, Caller::Anonymous, Q, json!({"u": "49"})).await, expected);
    assert_eq!(app.cache.health().await, CacheHealth::Degraded);
    assert_eq!(readyz(&base).await, (200, json!({"database": "ok", "cache": "degraded"})));

    // Redis returns on the same port: caching resumes by itself.
    let redis2 = PrivateRedis::start(port);
    redis2.wait_ready().await;
    assert!(became_ok(&app).await, "the cache reconnects");
    assert_eq!(readyz(&base).await, (200, json!({"database": "ok", "cache": "ok"})));
    app.cache.clear_local();
    run(&s, &app, Caller::Anonymous, Q, json!({"u": "51"})).await;
    assert_eq!(redis_keys(&redis2.url(), &p).await.len(), 1, "new answers are cached in Redis again");
}

#[tokio::test]
async fn report_subscribers_get_a_new_report_when_the_data_changes() {
    use futures_util::StreamExt;
    let (db, app) = sample_app(Backend::Sqlite).await;
    let s = schema(&app);
    let q = "subscription { indicatorReportChanged(unitCode: \"49\", period: { year: 2024 }) { groups { metrics { key denominator } } } }";
    let req = async_graphql::Request::new(q)
        .data(Caller::Anonymous)
        .data(dvc_gateway::graphql::Loaders::new(&app.db));
    let mut stream = s.execute_stream(req);
    let first = serde_json::to_value(stream.next().await.unwrap()).unwrap();
    assert_eq!(
        on_time_den(&json!({"data": {"indicators": first["data"]["indicatorReportChanged"]}})),
        120,
        "{first}"
    );
    // Data of another province changes nothing here: no report over two polls.
    let elsewhere = EXTRA_DOSSIER.replace("EXTRA-0001", "EXTRA-0002").replace("\"20000\"", "\"8000\"");
    assert!(import_str(&crate::support::app(&db), &elsewhere, false).await.committed);
    assert!(tokio::time::timeout(Duration::from_millis(4500), stream.next()).await.is_err(), "no report");
    // A write from another process: the next report includes it.
    assert!(import_str(&crate::support::app(&db), EXTRA_DOSSIER, false).await.committed);
    let next =
        tokio::time::timeout(Duration::from_secs(15), stream.next()).await.expect("a new report").unwrap();
    let next = serde_json::to_value(next).unwrap();
    assert_eq!(
        on_time_den(&json!({"data": {"indicators": next["data"]["indicatorReportChanged"]}})),
        121,
        "{next}"
    );
}

/// Changes EXTRA-0001's status through `app`'s API as an officer of the province: the answer.
async fn change_extra_status(app: &dvc_gateway::app::App, to: &str) -> serde_json::Value {
    let q = format!("mutation {{ changeDossierStatus(code: \"EXTRA-0001\", status: {to}) {{ status }} }}");
    run(&schema(app), app, staff(Role::Officer, "49"), &q, json!({})).await
}

/// An app on `db` whose reads of data versions are counted, listening for writes once its lease is taken.
async fn listening_counted(db: &TestDb) -> (dvc_gateway::app::App, Arc<AtomicUsize>) {
    let mut conn = db.conn.clone();
    let reads = Arc::new(AtomicUsize::new(0));
    let counter = reads.clone();
    conn.set_metric_callback(move |info| {
        if info.statement.sql.contains("FROM data_change") {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let app = dvc_gateway::app::App::new(conn, settings()).expect("app");
    app.listen_for_writes();
    assert!(app.freshness.armed_within(Duration::from_secs(10)).await, "the lease is taken");
    (app, reads)
}

/// An app that does not listen: a writer as from another process, such as the importer.
fn not_listening(db: &TestDb) -> dvc_gateway::app::App {
    dvc_gateway::app::App::new(db.conn.clone(), settings()).expect("app")
}

#[tokio::test]
async fn a_listening_instance_answers_without_reading_the_version_and_still_includes_every_acknowledged_write()
 {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, reads) = listening_counted(&db).await;
    let b = app(&db);
    assert!(b.freshness.armed_within(Duration::from_secs(10)).await);
    assert!(import_str(&b, SAMPLE, false).await.committed);
    let sa = schema(&a);
    let first = run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(on_time_den(&first), 120, "{first}");
    assert!(reads.swap(0, Ordering::SeqCst) > 0);
    for _ in 0..5 {
        assert_eq!(run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await, first);
    }
    assert_eq!(reads.swap(0, Ordering::SeqCst), 0, "cached answers read no version while nothing is written");

    // A write from another process is in the very next answer.
    assert!(import_str(&not_listening(&db), EXTRA_DOSSIER, false).await.committed);
    assert_eq!(on_time_den(&run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await), 121);
    assert_eq!(reads.swap(0, Ordering::SeqCst), 1, "the write made the next answer read the version again");
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(reads.swap(0, Ordering::SeqCst), 0);

    // A write through another instance's API is taken in before it is acknowledged.
    let v = change_extra_status(&b, "PROCESSING").await;
    assert!(v["errors"].is_null(), "{v}");
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(
        reads.swap(0, Ordering::SeqCst),
        1,
        "b's write ended a's remembered version before it was acknowledged"
    );
}

#[tokio::test]
async fn a_lease_that_takes_nothing_in_holds_writers_until_it_lapses_and_no_longer() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, _) = listening_counted(&db).await;
    assert!(import_str(&a, SAMPLE, false).await.committed);
    // A reader that stopped taking in announcements (hung, or cut off) with two seconds of lease left.
    db.conn
        .execute_unprepared(
            "INSERT INTO cache_reader (id, lease_until, taken_in) VALUES ('hung', now() + interval '2 seconds', 0)",
        )
        .await
        .unwrap();
    let started = Instant::now();
    assert!(import_str(&not_listening(&db), EXTRA_DOSSIER, false).await.committed);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "the writer waited for the live lease: {waited:?}");
    assert!(waited < Duration::from_secs(5), "and not past it: {waited:?}");
    let v = run(&schema(&a), &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(on_time_den(&v), 121, "{v}");

    // A write that fails acknowledges nothing: its error comes at once, whatever the leases.
    db.conn
        .execute_unprepared(
            "UPDATE cache_reader SET lease_until = now() + interval '4 seconds', taken_in = 0 WHERE id = 'hung'",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let refused = change_extra_status(&a, "RECEIVED").await;
    assert!(!refused["errors"].is_null(), "{refused}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_instance_that_loses_its_listening_connection_reads_versions_until_it_listens_again() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, reads) = listening_counted(&db).await;
    assert!(import_str(&a, SAMPLE, false).await.committed);
    let sa = schema(&a);
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    reads.swap(0, Ordering::SeqCst);
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'dvc-cache-reader {}'",
        a.freshness.id()
    );
    let killed: i64 = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, kill))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(killed, 1, "one listening connection");
    let cut = Instant::now();
    while a.freshness.is_armed() {
        assert!(cut.elapsed() < Duration::from_secs(1), "the instance noticed the lost connection at once");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile a write elsewhere: the answers that follow include it, read or remembered.
    assert!(import_str(&not_listening(&db), EXTRA_DOSSIER, false).await.committed);
    let v = run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(on_time_den(&v), 121, "{v}");
    // (The import above waited for this instance's lease: until it listened again, or the lease lapsed.)
    assert!(a.freshness.armed_within(Duration::from_secs(10)).await, "listening again");
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    reads.swap(0, Ordering::SeqCst);
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(reads.swap(0, Ordering::SeqCst), 0, "remembered again");

    // A stopping instance gives its lease back: no writer waits for it, and it remembers nothing any more.
    a.freshness.release(&a.db).await;
    assert!(!a.freshness.is_armed());
    let live = "SELECT COUNT(*) FROM cache_reader WHERE lease_until > now()";
    let live = |db: &TestDb| {
        let q = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, live);
        let conn = db.conn.clone();
        async move { conn.query_one_raw(q).await.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap() }
    };
    assert_eq!(live(&db).await, 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(live(&db).await, 0, "and does not take one again");
    run(&sa, &a, Caller::Anonymous, Q, json!({"u": "49"})).await;
    assert_eq!(reads.swap(0, Ordering::SeqCst), 1, "versions are read again");
}

#[tokio::test]
async fn a_kept_whole_answer_is_sent_again_only_while_its_data_does_not_move() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, reads) = listening_counted(&db).await;
    assert!(import_str(&a, SAMPLE, false).await.committed);
    let base = serve(a.clone()).await;
    let c = reqwest::Client::new();
    let ask = |body: serde_json::Value, token: Option<String>| {
        let mut r = c.post(format!("{base}/graphql")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let year = json!({"query": Q, "variables": {"u": "49"}});
    let first = ask(year.clone(), None).await;
    assert_eq!(on_time_den(&first), 120, "{first}");
    reads.swap(0, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(ask(year.clone(), None).await, first);
    }
    assert_eq!(reads.swap(0, Ordering::SeqCst), 0);
    let kept = || async {
        let metrics = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let line =
            metrics.lines().find(|l| l.starts_with("graphql_kept_answers_total ")).expect("the counter");
        line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    assert_eq!(kept().await, 3);

    // A write from another process: the next answer includes it, and is then kept in its turn.
    assert!(import_str(&not_listening(&db), EXTRA_DOSSIER, false).await.committed);
    let after = ask(year.clone(), None).await;
    assert_eq!(on_time_den(&after), 121, "{after}");
    assert_eq!(ask(year.clone(), None).await, after);

    // Other variables are another answer; a token goes down the whole path (and gets the same numbers).
    let other = ask(json!({"query": Q, "variables": {"u": "20000"}}), None).await;
    assert!(other["errors"].is_null(), "{other}");
    assert_ne!(other, after);
    assert_eq!(kept().await, 4, "the second answer after the import was a kept one");
    assert_eq!(ask(year.clone(), Some(token(Role::Leader, Some("49"), "leader"))).await, after);
    assert_eq!(kept().await, 4, "neither the other variables nor the token were answered from what was kept");

    // A status changed through the API moves the province's version: the kept answer is not sent again.
    let officer = token(Role::Officer, Some("49"), "officer");
    let moved = ask(
        json!({"query": "mutation { changeDossierStatus(code: \"EXTRA-0001\", status: PROCESSING) { status } }"}),
        Some(officer),
    )
    .await;
    assert!(moved["errors"].is_null(), "{moved}");
    reads.swap(0, Ordering::SeqCst);
    assert_eq!(on_time_den(&ask(year.clone(), None).await), 121);
    assert_eq!(reads.swap(0, Ordering::SeqCst), 1, "the answer after the write read the version again");
}
