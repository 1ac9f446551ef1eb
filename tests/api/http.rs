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

#[actix_web::test]
async fn every_error_carries_a_code() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;
    let c = reqwest::Client::new();
    let graphql = format!("{base}/graphql");
    let post = |q: &str| c.post(&graphql).json(&json!({ "query": q })).send();
    let code = |v: &serde_json::Value| v["errors"][0]["extensions"]["code"].as_str().map(str::to_owned);

    // Parse and validation errors, the limits, and an argument that does not parse.
    for (query, expected) in [
        ("{ sectors { code ", "GRAPHQL_PARSE_FAILED"),
        ("{ sectors { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ sectors(first: 1) { code } }", "GRAPHQL_VALIDATION_FAILED"),
        ("query A { sectors { code } } query B { sectors { name } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ units { children { children { children { children { children { children { children { children { children { children { children { code } } } } } } } } } } } } }",
            "LIMIT",
        ),
        (
            r#"{ indicators(unitCode: "49", period: { from: "2024-13-01", to: "2025-01-01" }) { total } }"#,
            "VALIDATION",
        ),
    ] {
        let r = post(query).await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(code(&v).as_deref(), Some(expected), "{query}: {v}");
    }
    // With the GraphQL response media type, a request that fails before execution is a 400, with its code.
    let r = c
        .post(&graphql)
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "{ sectors { code "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().await.unwrap()).as_deref(), Some("GRAPHQL_PARSE_FAILED"));

    // What the HTTP server answers by itself is JSON with a code too.
    let big = json!({"query": format!("{{ sectors {{ code }} }} #{}", "x".repeat(400_000))});
    let cases = [
        (c.post(&graphql).json(&big), 413, "PAYLOAD_TOO_LARGE"),
        (c.post(&graphql).header("content-type", "text/plain").body("{}"), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (c.post(&graphql).header("content-type", "application/json").body("{not json"), 400, "BAD_REQUEST"),
        (c.put(&graphql).json(&json!({"query": "{ sectors { code } }"})), 405, "METHOD_NOT_ALLOWED"),
        (c.get(&graphql).query(&[("query", "mutation { x }")]), 405, "METHOD_NOT_ALLOWED"),
        (c.get(&graphql), 400, "BAD_REQUEST"),
        (c.get(format!("{base}/nowhere")), 404, "NOT_FOUND"),
        (c.put(format!("{base}/graphql/ws")), 405, "METHOD_NOT_ALLOWED"),
        (c.get(format!("{base}/graphql/ws")), 400, "BAD_REQUEST"),
        (
            c.post(&graphql).bearer_auth("abc.def.ghi").json(&json!({"query": "{ sectors { code } }"})),
            401,
            "UNAUTHENTICATED",
        ),
    ];
    for (request, status, expected) in cases {
        let r = request.send().await.unwrap();
        let url = r.url().to_string();
        assert_eq!(r.status(), status, "{url}");
        if status == 405 {
            assert!(r.headers().contains_key("allow"), "{url}: a 405 says what is allowed");
        }
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{url}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(code(&v).as_deref(), Some(expected), "{url}: {v}");
    }

    // Over the WebSocket: the errors of a subscription that does not parse, or does not validate.
    let mut req = format!("{}/graphql/ws", base.replace("http", "ws")).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    for (id, query, expected) in [
        ("1", "subscription { dossierStatusChanged(code: ", "GRAPHQL_PARSE_FAILED"),
        ("2", "subscription { dossierStatusChanged(code: \"x\") { nope } }", "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let sub = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
        ws.send(Message::text(sub.to_string())).await.unwrap();
        let m = loop {
            let m = next_json(&mut ws).await;
            if m["type"] != "complete" {
                break m;
            }
        };
        assert_eq!(m["id"].as_str(), Some(id), "{m}");
        // async-graphql answers a request that fails before execution with a `next` holding the errors.
        let first = if m["type"] == "error" { &m["payload"][0] } else { &m["payload"]["errors"][0] };
        assert_eq!(first["extensions"]["code"], expected, "{m}");
    }
}

#[actix_web::test]
async fn graphiql_is_served_from_the_binary() {
    let (_db, app) = sample_app(Backend::Sqlite).await;
    let base = serve(app).await;
    let c = reqwest::Client::new();

    let r = c.get(format!("{base}/graphiql")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
    let page = r.text().await.unwrap();

    // Every URL the page names is one of the binary's own, under /graphiql/.
    let urls: Vec<&str> = ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| page.split(attr).skip(1).map(|rest| rest.split('"').next().unwrap()))
        .collect();
    assert!(urls.len() >= 5, "{urls:?}");
    let mut local = Vec::new();
    for url in &urls {
        if url.starts_with("data:") {
            continue;
        }
        assert!(url.starts_with("/graphiql/") && !url.contains("//"), "the page names an outside URL: {url}");
        local.push(*url);
    }
    for marker in ["http://", "https://", "//unpkg", "//cdn"] {
        assert!(!page.contains(marker), "the page names an outside URL ({marker})");
    }

    // Each file is served with its type, the vendored ones for good (their names carry their versions).
    let mut served = 0;
    for asset in &dvc_gateway::http::graphiql::ASSETS {
        let r = c.get(format!("{base}/graphiql{}", asset.path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", asset.path);
        assert_eq!(r.headers()["content-type"], asset.content_type, "{}", asset.path);
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        let body = r.bytes().await.unwrap();
        assert!(!body.is_empty(), "{}", asset.path);
        if asset.path.contains('-') {
            assert!(
                cache.contains("immutable") && cache.contains("max-age=31536000"),
                "{}: {cache}",
                asset.path
            );
        } else {
            assert_eq!(cache, "no-cache", "{}", asset.path);
        }
        served += usize::from(local.contains(&format!("/graphiql{}", asset.path).as_str()));
    }
    assert_eq!(served, local.len(), "the page names {local:?}, the binary serves them all");
    let types: Vec<&str> = dvc_gateway::http::graphiql::ASSETS.iter().map(|a| a.content_type).collect();
    assert!(types.contains(&"text/javascript; charset=utf-8") && types.contains(&"text/css; charset=utf-8"));

    // The start script talks to this gateway only.
    let script = c.get(format!("{base}/graphiql/start.js")).send().await.unwrap().text().await.unwrap();
    assert!(!script.contains("http://") && !script.contains("https://"), "{script}");
    assert!(script.contains("/graphql/ws"), "subscriptions go over this gateway's WebSocket");

    // The schema, for GraphiQL's documentation and completion: its introspection nests too deep for /graphql.
    let r = c.get(format!("{base}/graphiql/schema.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["data"]["__schema"]["queryType"]["name"], "Query", "{v}");
    assert!(v.get("errors").is_none(), "{v}");

    // Compressed for browsers that accept it.
    let r = c
        .get(format!("{base}/graphiql/graphiql-3.9.0.min.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
}
