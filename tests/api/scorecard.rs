//! The scorecard page in a real browser: headless Chromium (Debian's package; `.ci/run` installs it), driven over
//! the DevTools protocol. The page must load and show the figures the API gives, follow the user to a district
//! and into a breakdown, open the drill-down lists with a pasted token, and say so (not go blank) when the gateway
//! cannot be reached.

use std::process::Stdio;
use std::time::{Duration, Instant};

use demo::{DemoOptions, generate};
use dvc_gateway::auth::Role;
use dvc_gateway::interchange::records::Record;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium and a DevTools connection to its page.
struct Browser {
    child: tokio::process::Child,
    ws: Socket,
    next_id: u64,
    _profile: tempfile::TempDir,
}

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&path).exists(),
        "the browser tests need Chromium at {path} (Debian: apt-get install chromium; .ci/run installs it)"
    );
    path
}

impl Browser {
    async fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1200,1600",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" names the port.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    return rest.split('/').next().unwrap().to_owned();
                }
            }
            panic!("Chromium ended without opening DevTools");
        })
        .await
        .expect("Chromium opens DevTools within 30 s");
        // Keep reading its log, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let targets: Vec<Value> =
            reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.unwrap().json().await.unwrap();
        let page = targets.iter().find(|t| t["type"] == "page").expect("a page target");
        let url = page["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut b = Browser { child, ws, next_id: 0, _profile: profile };
        b.call("Page.enable", json!({})).await;
        b.call("Runtime.enable", json!({})).await;
        b
    }

    /// One DevTools command and its result (events in between are skipped).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(Message::text(json!({"id": id, "method": method, "params": params}).to_string()))
            .await
            .unwrap();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answers within 30 s")
                .expect("DevTools connection open")
                .unwrap();
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    async fn eval(&mut self, expression: &str) -> Value {
        let r = self.evaluate(expression).await;
        assert!(r["exceptionDetails"].is_null(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    async fn evaluate(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "awaitPromise": true, "returnByValue": true});
        self.call("Runtime.evaluate", params).await
    }

    /// Waits until `expression` gives something other than null, false or "" (at most 20 s).
    async fn wait_for(&mut self, expression: &str, what: &str) -> Value {
        let start = Instant::now();
        loop {
            // While the page is still loading, its elements may be missing: that is "not yet".
            let r = self.evaluate(expression).await;
            let v = if r["exceptionDetails"].is_null() { r["result"]["value"].clone() } else { Value::Null };
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the page did not show {what} within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses and releases Enter, as a keyboard does, on whatever has the focus.
    async fn press_enter(&mut self) {
        for kind in ["keyDown", "keyUp"] {
            let key = json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"});
            self.call("Input.dispatchKeyEvent", key).await;
        }
    }

    async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// Saves a screenshot of the page when `SCORECARD_SCREENSHOTS` names a folder (for the README).
    async fn screenshot(&mut self, name: &str) {
        let Ok(dir) = std::env::var("SCORECARD_SCREENSHOTS") else { return };
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}))
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().unwrap()).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn api(base: &str, query: &str, token: Option<&str>) -> Value {
    let mut req = reqwest::Client::new().post(format!("{base}/graphql")).json(&json!({"query": query}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let v: Value = req.send().await.unwrap().json().await.unwrap();
    assert!(v["errors"].is_null(), "{v}");
    v["data"].clone()
}

/// The digits of a number as the page formats it (either language's separators).
fn digits(s: &str) -> i64 {
    s.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}

#[actix_web::test]
async fn the_scorecard_works_in_a_real_browser() {
    let mut records = Vec::new();
    generate(&DemoOptions { scale: 0.01, seed: 3 }, &mut |r| records.push(r));
    let text = records.iter().map(Record::to_line).collect::<Vec<_>>().join("\n");
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db);
    assert!(import_str(&app, &text, false).await.committed);
    let base = serve(app).await;
    let mut b = Browser::launch().await;

    // Quảng Nam's 2024 total, as the API gives it.
    let want = api(&base, r#"{ indicators(unitCode: "49", period: {year: 2024}) { total } }"#, None).await;
    b.navigate(&format!("{base}/scorecard#unit=49&year=2024")).await;
    let shown = b.wait_for("document.getElementById('total').dataset.value", "Quảng Nam's total").await;
    assert_eq!(
        shown.as_str().unwrap().parse::<f64>().unwrap(),
        want["indicators"]["total"].as_f64().unwrap()
    );
    let first_view = b.eval("window.scorecardFirstView").await;
    println!("scorecard: first view after {first_view} ms");
    // All nineteen metrics, the ranking of the eighteen districts and the twelve months of the series.
    b.wait_for("document.body.dataset.loaded", "the whole first view").await;
    assert_eq!(b.eval("document.querySelectorAll('#metrics tbody tr[data-key]').length").await, json!(19));
    let ranked = b.eval("document.querySelectorAll('#ranking tbody tr').length").await;
    assert_eq!(ranked, json!(18), "the districts are ranked");
    assert_eq!(b.eval("document.querySelectorAll('#seriesTable tbody tr').length").await, json!(12));
    assert_eq!(
        b.eval("document.querySelectorAll('#chart canvas').length").await,
        json!(1),
        "uPlot drew the chart"
    );
    assert_eq!(b.eval("document.getElementById('error').hidden").await, json!(true));
    b.screenshot("scorecard").await;

    // Switch to a district with the unit picker, as a user does.
    let districts = api(&base, r#"{ units(parentCode: "49", level: DISTRICT) { code name } }"#, None).await;
    let district = districts["units"][0]["code"].as_str().unwrap().to_owned();
    let name = districts["units"][0]["name"].as_str().unwrap().to_owned();
    let q = format!(
        r#"{{ indicators(unitCode: "{district}", period: {{year: 2024}}) {{ total groups {{ metrics {{ key numerator denominator }} }} }} }}"#
    );
    let want = api(&base, &q, None).await;
    b.eval(&format!(
        "(() => {{ const s = document.getElementById('unit'); s.focus(); s.value = '{district}'; \
         s.dispatchEvent(new Event('change')); return true; }})()"
    ))
    .await;
    let expect = want["indicators"]["total"].as_f64().unwrap();
    b.wait_for(
        &format!(
            "document.getElementById('unitName').textContent === {name:?} && document.getElementById('total').dataset.value"
        ),
        "the district's total",
    )
    .await;
    let shown = b.eval("document.getElementById('total').dataset.value").await;
    assert_eq!(shown.as_str().unwrap().parse::<f64>().unwrap(), expect);
    assert!(b.eval("location.hash").await.as_str().unwrap().contains(&format!("unit={district}")));

    // Open the breakdown of on-time processing: its groups add up to the metric.
    let on_time = want["indicators"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["metrics"].as_array().unwrap().clone())
        .find(|m| m["key"] == "ON_TIME_PROCESSING")
        .unwrap();
    // By keyboard: focus the metric's button and press Enter.
    b.eval("document.querySelector('button[data-metric=\"ON_TIME_PROCESSING\"]').focus(), true").await;
    b.press_enter().await;
    b.wait_for("document.getElementById('breakdownBox').dataset.loaded", "the breakdown").await;
    let cells: Vec<Vec<String>> = serde_json::from_value(
        b.eval(
            "[...document.querySelectorAll('#breakdown tbody tr')].map(r => [...r.cells].map(c => c.textContent))",
        )
        .await,
    )
    .unwrap();
    assert!(!cells.is_empty(), "the breakdown has groups");
    let num: i64 = cells.iter().map(|r| digits(&r[2])).sum();
    let den: i64 = cells.iter().map(|r| digits(&r[3])).sum();
    assert_eq!(num, on_time["numerator"].as_i64().unwrap());
    assert_eq!(den, on_time["denominator"].as_i64().unwrap());
    assert_eq!(b.eval("document.activeElement.id").await, json!("by"), "focus moves to the breakdown");
    // By procedure instead: the page asks again.
    b.eval(
        "(() => { const s = document.getElementById('by'); document.getElementById('breakdownBox').dataset.loaded = ''; \
         s.value = 'PROCEDURE'; s.dispatchEvent(new Event('change')); return true; })()",
    )
    .await;
    b.wait_for("document.getElementById('breakdownBox').dataset.loaded", "the breakdown by procedure").await;
    assert!(b.eval("location.hash").await.as_str().unwrap().contains("by=PROCEDURE"));
    b.screenshot("scorecard-breakdown").await;

    // On a slow network, by sector then at once by procedure: only the last choice's groups are shown (the
    // answer for sectors arrives too, and is dropped).
    let q = format!(
        r#"{{ indicatorBreakdown(unitCode: "{district}", period: {{year: 2024}}, metric: ON_TIME_PROCESSING, by: PROCEDURE, first: 20) {{ edges {{ node {{ code }} }} }} }}"#
    );
    let want: std::collections::BTreeSet<String> = api(&base, &q, None).await["indicatorBreakdown"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
        .collect();
    b.call("Network.enable", json!({})).await;
    let slow = json!({"offline": false, "latency": 400, "downloadThroughput": -1, "uploadThroughput": -1});
    b.call("Network.emulateNetworkConditions", slow).await;
    b.eval(
        "(() => { const s = document.getElementById('by'); document.getElementById('breakdownBox').dataset.loaded = ''; \
         s.value = 'SECTOR'; s.dispatchEvent(new Event('change')); \
         s.value = 'PROCEDURE'; s.dispatchEvent(new Event('change')); return true; })()",
    )
    .await;
    b.wait_for(
        "document.getElementById('breakdownBox').dataset.loaded",
        "the breakdown after two quick choices",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let shown: std::collections::BTreeSet<String> = serde_json::from_value(
        b.eval("[...document.querySelectorAll('#breakdown tbody tr')].map(r => r.dataset.code)").await,
    )
    .unwrap();
    assert_eq!(shown, want, "only the groups by procedure are shown");
    let fast = json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1});
    b.call("Network.emulateNetworkConditions", fast).await;

    // A LEADER's token opens the records behind a metric.
    let leader = token(Role::Leader, Some("49"), "leader-1");
    b.eval(&format!(
        "document.querySelector('#tokenBox').open = true; document.getElementById('token').value = '{leader}'; \
         document.getElementById('useToken').click(); true"
    ))
    .await;
    b.wait_for(
        "document.querySelector('button[data-records=\"ON_TIME_PROCESSING\"]')",
        "the records buttons",
    )
    .await;
    b.eval("document.querySelector('button[data-records=\"ON_TIME_PROCESSING\"]').click(), true").await;
    b.wait_for("document.getElementById('recordsBox').dataset.loaded", "the records").await;
    assert_eq!(b.eval("document.getElementById('error').hidden").await, json!(true));

    // English labels.
    b.eval("document.getElementById('lang').click(), true").await;
    assert_eq!(b.eval("document.documentElement.lang").await, json!("en"));
    assert_eq!(b.eval("document.querySelector('#summary [data-t=total]').textContent").await, json!("Total"));

    // The gateway becomes unreachable: the page says so and keeps what it showed.
    b.call("Network.enable", json!({})).await;
    b.call("Network.setBlockedURLs", json!({"urls": ["*/graphql*"]})).await;
    b.eval(
        "(() => { const s = document.getElementById('unit'); s.value = '49'; s.dispatchEvent(new Event('change')); \
         return true; })()",
    )
    .await;
    let message = b
        .wait_for(
            "!document.getElementById('error').hidden && document.getElementById('error').textContent",
            "an error",
        )
        .await;
    assert!(message.as_str().unwrap().contains("Cannot reach the dvc-gateway server"), "{message}");
    assert_ne!(
        b.eval("document.getElementById('total').textContent").await,
        json!(""),
        "the page is not blank"
    );

    // Loaded afresh while the gateway cannot be reached: a message, not a blank page.
    b.call("Page.reload", json!({"ignoreCache": true})).await;
    let message = b
        .wait_for(
            "!document.getElementById('error').hidden && document.getElementById('error').textContent",
            "an error",
        )
        .await;
    assert!(message.as_str().unwrap().contains("Không kết nối được"), "{message}");
}

#[actix_web::test]
async fn the_scorecard_is_served_from_the_binary_and_can_be_switched_off() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app.clone()).await;
    let page = reqwest::get(format!("{base}/scorecard")).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("connect-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    for asset in
        ["/scorecard/scorecard.js", "/scorecard/uplot-1.6.32.iife.min.js", "/scorecard/scorecard.css"]
    {
        assert!(html.contains(asset), "the page loads {asset}");
        assert_eq!(reqwest::get(format!("{base}{asset}")).await.unwrap().status(), 200, "{asset}");
    }
    let root = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = root.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/scorecard");

    let mut off = app.clone();
    let mut settings = (*off.settings).clone();
    settings.scorecard = false;
    off.settings = std::sync::Arc::new(settings);
    let base = serve(off).await;
    assert_eq!(reqwest::get(format!("{base}/scorecard")).await.unwrap().status(), 404);
}
