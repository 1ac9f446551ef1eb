//! Over real HTTP: status codes, headers, body limits, GET rules, tokens.

use dvc_gateway::auth::Role;
use serde_json::json;

use crate::support::*;

#[actix_web::test]
async fn the_http_edge_follows_graphql_over_http() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;
    let c = reqwest::Client::new();

    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Queries by POST and GET.
    let q = json!({"query": "{ dossierStatus(code: \"000.00.20022-250514-00000\") { status } }"});
    let r = c.post(format!("{base}/graphql")).json(&q).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["data"]["dossierStatus"]["status"], "RETURNED");
    let r =
        c.get(format!("{base}/graphql")).query(&[("query", "{ sectors { code } }")]).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Mutations only by POST.
    let r = c
        .get(format!("{base}/graphql"))
        .query(&[("query", "mutation { answerFeedback(code: \"x\", answer: \"y\") { code } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");

    // JSON bodies only, bounded in size.
    let r = c
        .post(format!("{base}/graphql"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let big = json!({"query": format!("{{ sectors {{ code }} }} #{}", "x".repeat(400_000))});
    let r = c.post(format!("{base}/graphql")).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A bad or expired token is a 401, never anonymous access.
    let r = c.post(format!("{base}/graphql")).bearer_auth("abc.def.ghi").json(&q).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r =
        c.post(format!("{base}/graphql")).header("authorization", "Token x").json(&q).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let good = token(Role::Leader, Some("49"), "leader-1");
    let r = c
        .post(format!("{base}/graphql"))
        .bearer_auth(&good)
        .json(&json!({"query": "{ viewer { role unitCode } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["data"]["viewer"]["role"], "LEADER");

    // Depth is bounded.
    let deep = json!({"query": "{ units { children { children { children { children { children { children { children { children { children { children { children { code } } } } } } } } } } } } }"});
    let r = c.post(format!("{base}/graphql")).json(&deep).send().await.unwrap();
    let v = r.json::<serde_json::Value>().await.unwrap();
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{v}");

    // Errors never carry SQL or driver text.
    let r = c
        .post(format!("{base}/graphql"))
        .bearer_auth(&good)
        .json(&json!({"query": "{ dossiers(first: 5, after: \"%%%\") { edges { cursor } } }"}))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("VALIDATION") && !body.to_lowercase().contains("sql"), "{body}");

    // Metrics count operations.
    let m = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("graphql_requests_total") && m.contains("db_pool_connections"), "{m}");
}

#[actix_web::test]
async fn status_changes_reach_subscribers_over_graphql_transport_ws() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;
    let c = reqwest::Client::new();
    let officer = token(Role::Officer, Some("49"), "officer-1");
    let post = |q: serde_json::Value| c.post(format!("{base}/graphql")).bearer_auth(&officer).json(&q).send();
    let v: serde_json::Value = post(
        json!({"query": r#"mutation { receiveDossier(input: { procedureCode: "2.004001", unitCode: "20022",
        channel: ONLINE, applicant: { idNumber: "012345678901", name: "Trần Thị B" } }) { code } }"#}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let code = v["data"]["receiveDossier"]["code"].as_str().unwrap().to_owned();

    let mut req = format!("{}/graphql/ws", base.replace("http", "ws")).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    let sub = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($c: String!) { dossierStatusChanged(code: $c) { code status } }", "variables": {"c": code}}});
    ws.send(Message::text(sub.to_string())).await.unwrap();
    // First the status as it stands, which also proves the subscription is listening.
    let first = next_json(&mut ws).await;
    assert_eq!(first["payload"]["data"]["dossierStatusChanged"]["status"], "RECEIVED", "{first}");
    let q = format!(r#"mutation {{ changeDossierStatus(code: "{code}", status: PROCESSING) {{ status }} }}"#);
    let v: serde_json::Value = post(json!({"query": q})).await.unwrap().json().await.unwrap();
    assert_eq!(v["data"]["changeDossierStatus"]["status"], "PROCESSING");
    let second = next_json(&mut ws).await;
    assert_eq!(second["type"], "next");
    assert_eq!(second["payload"]["data"]["dossierStatusChanged"]["status"], "PROCESSING", "{second}");
}

/// The next text frame of a WebSocket, as JSON.
async fn next_json<S>(ws: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    use futures_util::StreamExt;
    loop {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = ws.next().await.unwrap().unwrap() {
            return serde_json::from_str(&t).unwrap();
        }
    }
}
