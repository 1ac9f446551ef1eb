//! Subscriptions over WebSocket (`graphql-transport-ws`), authenticated exactly like HTTP.
//!
//! The protocol itself is async-graphql's engine; this transport puts the edge's rules around it:
//! - a token in the `Authorization` header of the upgrade is checked like any HTTP request (401 before the
//!   upgrade); a token in the `connection_init` payload (`{"Authorization": "Bearer …"}`) is checked the same way,
//!   and a bad one closes the socket with 4403, never falls back to anonymous;
//! - the connection closes with 4401 when its token expires (and every event is checked again by the service);
//! - one message may not exceed the HTTP body limit, continuation frames included (1009), and a connection
//!   holds at most `MAX_SUBSCRIPTIONS` subscriptions (a further `subscribe` gets an `error` for its id).

use std::collections::HashSet;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::Data;
use async_graphql::http::{ClientMessage, WebSocket, WebSocketProtocols, WsMessage};
use futures_util::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{HttpState, authenticate, request_meta};
use crate::auth::Caller;
use crate::domain::time::now;
use crate::service::RequestMeta;

const PROTOCOL: &str = "graphql-transport-ws";
/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

fn close(code: u16, why: &str) -> CloseReason {
    CloseReason { code: CloseCode::from(code), description: Some(why.to_owned()) }
}

/// `GET /graphql/ws`.
pub async fn graphql_ws(
    edge: web::Data<HttpState>,
    req: HttpRequest,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let offered = req
        .headers()
        .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == PROTOCOL));
    if !offered {
        return Ok(super::error::EdgeError::NoSubprotocol.respond(&req));
    }
    let mut meta = request_meta(&edge, &req);
    let upgrade = req.headers().contains_key(actix_web::http::header::AUTHORIZATION);
    let caller = match authenticate(&edge, &req, &mut meta).await {
        Ok(c) => c,
        Err(refusal) => return Ok(*refusal),
    };
    let (response, session, stream) = actix_ws::handle_with_protocols(&req, body, &[PROTOCOL])?;
    let limit = edge.app.settings.limits.max_body_bytes;
    let stream = stream.max_frame_size(limit).aggregate_continuations().max_continuation_size(limit);
    let from_upgrade = upgrade.then_some((caller, meta.expires_at));
    actix_web::rt::spawn(serve(edge.into_inner(), meta, from_upgrade, session, stream));
    Ok(response)
}

/// What a client message is to the transport.
enum Incoming {
    Message(Box<ClientMessage>),
    Ping(actix_web::web::Bytes),
    Ignore,
    Closed,
    Fault(CloseReason),
}

async fn next(stream: &mut actix_ws::AggregatedMessageStream) -> Incoming {
    match stream.next().await {
        None | Some(Ok(AggregatedMessage::Close(_))) => Incoming::Closed,
        Some(Ok(AggregatedMessage::Ping(b))) => Incoming::Ping(b),
        Some(Ok(AggregatedMessage::Pong(_))) => Incoming::Ignore,
        Some(Ok(AggregatedMessage::Text(t))) => parse(t.as_bytes()),
        Some(Ok(AggregatedMessage::Binary(b))) => parse(&b),
        Some(Err(actix_ws::ProtocolError::Overflow | actix_ws::ProtocolError::Io(_))) => {
            Incoming::Fault(close(1009, "message too big"))
        }
        Some(Err(_)) => Incoming::Fault(close(1002, "protocol error")),
    }
}

fn parse(bytes: &[u8]) -> Incoming {
    match ClientMessage::from_bytes(bytes) {
        Ok(m) => Incoming::Message(Box::new(m)),
        Err(_) => Incoming::Fault(close(4400, "invalid message")),
    }
}

/// The `Authorization` value of a `connection_init` payload: `{"Authorization": "Bearer …"}`, or the same inside
/// `"headers"` (as some clients send it), any case. `Err` when such a key holds something other than a string: a
/// credential that cannot be read is refused, never taken for none.
fn init_token(payload: &Option<serde_json::Value>) -> Result<Option<String>, ()> {
    let Some(p) = payload.as_ref().and_then(|p| p.as_object()) else { return Ok(None) };
    let find = |m: &serde_json::Map<String, serde_json::Value>| {
        m.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone())
    };
    let value = find(p).or_else(|| p.get("headers").and_then(|h| h.as_object()).and_then(find));
    match value {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}

/// A server message with a code on each of its errors (an `error` message's payload is the list of errors, a
/// `next` message's is a response that may hold some).
fn with_codes(text: String, parsed: bool) -> String {
    let Ok(mut message) = serde_json::from_str::<serde_json::Value>(&text) else { return text };
    let errors = match message["type"].as_str() {
        Some("error") => message.get_mut("payload"),
        _ => message.get_mut("payload").and_then(|p| p.get_mut("errors")),
    };
    match errors.and_then(|e| e.as_array_mut()) {
        Some(errors) => super::error::add_codes_json(errors, parsed),
        None => return text,
    }
    message.to_string()
}

/// The type and id of a server message.
#[derive(serde::Deserialize)]
struct Outgoing {
    r#type: String,
    id: Option<String>,
}

async fn serve(
    edge: std::sync::Arc<HttpState>,
    mut meta: RequestMeta,
    from_upgrade: Option<(Caller, Option<i64>)>,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let reason = run(&edge, &mut meta, from_upgrade, &mut session, &mut stream).await;
    let _ = session.close(reason).await;
}

/// Serves one connection until it ends; returns how to close it.
async fn run(
    edge: &HttpState,
    meta: &mut RequestMeta,
    from_upgrade: Option<(Caller, Option<i64>)>,
    session: &mut Session,
    stream: &mut actix_ws::AggregatedMessageStream,
) -> Option<CloseReason> {
    let caller = match initialise(edge, meta, from_upgrade, session, stream).await {
        Ok(caller) => caller,
        Err(reason) => return reason,
    };
    let mut data = Data::default();
    let subject = caller.sub().map(str::to_owned);
    data.insert(caller);
    data.insert(meta.clone());
    data.insert(edge.loaders.clone());
    data.insert(edge.app.clone());
    let (to_engine, from_client) = tokio::sync::mpsc::unbounded_channel();
    let engine = WebSocket::from_message_stream(
        edge.schema.clone(),
        UnboundedReceiverStream::new(from_client).map(Ok),
        WebSocketProtocols::GraphQLWS,
    )
    .connection_data(data);
    let _ = to_engine.send(ClientMessage::ConnectionInit { payload: None });
    relay(edge, meta, subject.as_deref(), session, stream, engine, to_engine).await
}

/// Waits for `connection_init` (answering only pings until then) and finds its caller; `Err` is how to close.
async fn initialise(
    edge: &HttpState,
    meta: &mut RequestMeta,
    from_upgrade: Option<(Caller, Option<i64>)>,
    session: &mut Session,
    stream: &mut actix_ws::AggregatedMessageStream,
) -> Result<Caller, Option<CloseReason>> {
    let deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        let incoming = tokio::select! {
            _ = &mut deadline => return Err(Some(close(4408, "connection initialisation timeout"))),
            m = next(stream) => m,
        };
        match incoming {
            Incoming::Message(m) if matches!(*m, ClientMessage::ConnectionInit { .. }) => {
                let ClientMessage::ConnectionInit { payload } = *m else { continue };
                return init_caller(edge, meta, &payload, from_upgrade).await.map_err(Some);
            }
            Incoming::Message(m) if matches!(*m, ClientMessage::Ping { .. }) => {
                if session.text(r#"{"type":"pong"}"#).await.is_err() {
                    return Err(None);
                }
            }
            Incoming::Ping(_) | Incoming::Ignore => {}
            Incoming::Message(_) => return Err(Some(close(4401, "Unauthorized"))),
            Incoming::Closed => return Err(None),
            Incoming::Fault(r) => return Err(Some(r)),
        }
    }
}

/// The caller of a connection: the token in `connection_init` if it has one, else the upgrade request's.
async fn init_caller(
    edge: &HttpState,
    meta: &mut RequestMeta,
    payload: &Option<serde_json::Value>,
    from_upgrade: Option<(Caller, Option<i64>)>,
) -> Result<Caller, CloseReason> {
    match (init_token(payload), from_upgrade) {
        (Err(()), _) => {
            let why = "the Authorization header must be `Bearer <token>`";
            crate::service::refused_token(&edge.app, meta, why).await;
            Err(close(4403, &format!("Forbidden: {why}")))
        }
        (Ok(Some(token)), _) => match edge.app.authenticate(Some(&token)).await {
            Ok(v) => {
                meta.expires_at = (v.caller != Caller::Anonymous).then_some(v.expires_at);
                Ok(v.caller)
            }
            Err(crate::app::Authentication::Refused(why)) => {
                crate::service::refused_token(&edge.app, meta, &why.to_string()).await;
                Err(close(4403, &format!("Forbidden: {why}")))
            }
            // The unit tree could not be read: the client may try again (1011, a server fault).
            Err(e @ crate::app::Authentication::Unavailable(_)) => {
                tracing::error!(error = %e, "a WebSocket token could not be checked");
                Err(close(1011, "the service is unavailable; try again"))
            }
        },
        (Ok(None), Some((caller, _))) => Ok(caller),
        (Ok(None), None) => Ok(Caller::Anonymous),
    }
}

/// The subscriptions a connection holds, bounded, and those whose query did not parse (their errors are
/// `GRAPHQL_PARSE_FAILED`).
#[derive(Default)]
struct Subscriptions {
    active: HashSet<String>,
    unparsed: HashSet<String>,
}

impl Subscriptions {
    /// Records a `start`; `false` when the connection already holds `max` others.
    fn start(&mut self, id: &str, query: &str, max: usize) -> bool {
        if !self.active.contains(id) && self.active.len() >= max {
            return false;
        }
        self.active.insert(id.to_owned());
        if async_graphql::parser::parse_query(query).is_err() {
            self.unparsed.insert(id.to_owned());
        }
        true
    }

    fn stop(&mut self, id: &str) {
        self.active.remove(id);
    }

    /// A server message on its way out, with codes on its errors; forgets subscriptions it ends.
    fn outgoing(&mut self, mut text: String) -> String {
        if let Ok(Outgoing { r#type, id: Some(id) }) = serde_json::from_str::<Outgoing>(&text) {
            if r#type == "error" || (r#type == "next" && text.contains("\"errors\"")) {
                text = with_codes(text, !self.unparsed.contains(&id));
            }
            if r#type == "complete" || r#type == "error" {
                self.active.remove(&id);
                self.unparsed.remove(&id);
            }
        }
        text
    }
}

/// Counts an operation a socket starts against the rate limits, as an HTTP request would be counted.
async fn rate_limited(
    edge: &HttpState,
    meta: &RequestMeta,
    subject: Option<&str>,
    payload: &async_graphql::Request,
) -> Result<(), u64> {
    use crate::rate::Bucket;
    match subject {
        Some(sub) => edge.app.limiter.take(Bucket::Subject, sub, 1).await,
        None => {
            let Ok(doc) = async_graphql::parser::parse_query(&payload.query) else { return Ok(()) };
            let weight = crate::graphql::cost::public_weight(&doc, &payload.variables);
            let addr = meta.client_addr.as_deref().unwrap_or_default();
            edge.app.limiter.take(Bucket::Public, addr, weight).await
        }
    }
}

/// Passes messages between the client and the engine until either ends or the token expires.
#[allow(clippy::too_many_arguments)] // the connection's parts, each used by the loop
async fn relay(
    edge: &HttpState,
    meta: &RequestMeta,
    subject: Option<&str>,
    session: &mut Session,
    stream: &mut actix_ws::AggregatedMessageStream,
    mut engine: impl futures_util::Stream<Item = WsMessage> + Unpin,
    to_engine: tokio::sync::mpsc::UnboundedSender<ClientMessage>,
) -> Option<CloseReason> {
    let max = edge.app.settings.limits.max_subscriptions;
    let mut subscriptions = Subscriptions::default();
    let expiry = meta.expires_at.map_or(Duration::MAX, |t| Duration::from_micros((t - now()).max(0) as u64));
    let expired = tokio::time::sleep(expiry.min(Duration::from_secs(100 * 365 * 86_400)));
    tokio::pin!(expired);
    let mut stopping = edge.stopping.clone();
    // Without anyone able to stop the server (its handle dropped), this never fires.
    let stopped = async move {
        if stopping.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut expired => return Some(close(4401, "Unauthorized: the token has expired")),
            _ = &mut stopped => return Some(close(1001, "the server is stopping; reconnect")),
            out = engine.next() => match out {
                Some(WsMessage::Text(text)) => {
                    if session.text(subscriptions.outgoing(text)).await.is_err() {
                        return None;
                    }
                }
                Some(WsMessage::Close(code, why)) => return Some(close(code, &why)),
                None => return None,
            },
            incoming = next(stream) => match incoming {
                Incoming::Message(m) if matches!(*m, ClientMessage::Start { .. }) => {
                    let ClientMessage::Start { id, payload } = *m else { continue };
                    // The rate limits of HTTP apply to each operation a socket starts.
                    if let Err(secs) = rate_limited(edge, meta, subject, &payload).await {
                        let refused = serde_json::json!({"id": id, "type": "error", "payload": [{
                            "message": crate::http::error::EdgeError::RateLimited(secs).to_string(),
                            "extensions": {"code": "RATE_LIMITED", "retryAfter": secs}}]});
                        if session.text(refused.to_string()).await.is_err() {
                            return None;
                        }
                        continue;
                    }
                    if !subscriptions.start(&id, &payload.query, max) {
                        let refused = serde_json::json!({"id": id, "type": "error", "payload": [{
                            "message": format!("a connection holds at most {max} subscriptions"),
                            "extensions": {"code": super::error::LIMIT}}]});
                        if session.text(refused.to_string()).await.is_err() {
                            return None;
                        }
                        continue;
                    }
                    let _ = to_engine.send(ClientMessage::Start { id, payload });
                }
                Incoming::Message(m) => {
                    if let ClientMessage::Stop { id } = &*m {
                        subscriptions.stop(id);
                    }
                    let _ = to_engine.send(*m);
                }
                Incoming::Ping(b) => {
                    if session.pong(&b).await.is_err() {
                        return None;
                    }
                }
                Incoming::Ignore => {}
                Incoming::Closed => return None,
                Incoming::Fault(r) => return Some(r),
            },
        }
    }
}
