//! The HTTP edge: GraphQL over HTTP (POST JSON for everything, GET for queries only), the WebSocket endpoint
//! for subscriptions, health, readiness, metrics and GraphiQL. Tokens are verified here, once, and handed to the
//! schema as a typed [`crate::auth::Caller`] with where the request came from ([`RequestMeta`]).

pub mod access;
pub mod answers;
pub mod assets;
pub mod error;
pub mod graphiql;
pub mod metrics;
pub mod scorecard;
mod ws;

use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType};
use serde::Deserialize;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use self::error::EdgeError;
use crate::app::{App, Authentication};
use crate::auth::{Caller, Verified};
use crate::graphql::{GatewaySchema, Loaders};
use crate::rate::Bucket;
use crate::service::RequestMeta;
pub use metrics::Metrics;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Everything the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub app: App,
    pub schema: GatewaySchema,
    pub metrics: Metrics,
    /// The batch loaders of this worker's pool, shared by its requests.
    pub loaders: Loaders,
    /// Parsed documents by their text, so that a query asked again is not parsed again.
    pub documents: Documents,
    /// Whole answers to anonymous indicator queries of settled windows, kept while their data does not move.
    pub answers: answers::Answers,
    /// Becomes `true` when the gateway stops: WebSocket connections close with 1001.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// Routes of the gateway.
pub fn routes(cfg: &mut web::ServiceConfig, edge: HttpState) {
    let limit = edge.app.settings.limits.max_body_bytes;
    let graphiql = edge.app.settings.graphiql;
    let scorecard = edge.app.settings.scorecard;
    let introspection = edge.app.settings.introspection;
    cfg.app_data(web::Data::new(edge))
        .app_data(web::PayloadConfig::new(limit))
        .service(
            web::resource("/graphql").route(web::post().to(graphql_post)).route(web::get().to(graphql_get)),
        )
        .service(web::resource("/graphql/ws").route(web::get().to(ws::graphql_ws)))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
    if graphiql {
        graphiql::routes(cfg, introspection);
    }
    if scorecard {
        scorecard::routes(cfg);
    }
}

fn error_body(message: &str, code: &str, request_id: Option<&str>) -> serde_json::Value {
    let mut extensions = serde_json::json!({ "code": code });
    if let Some(id) = request_id {
        extensions["requestId"] = serde_json::Value::from(id);
    }
    serde_json::json!({ "errors": [ { "message": message, "extensions": extensions } ] })
}

/// Answers every response with the `X-Request-Id` of the request's log lines.
pub async fn request_id_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let mut res = next.call(req).await?;
    if let Some(v) = id.and_then(|id| header::HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

/// The id of the request's log lines, which every error the client sees carries as `extensions.requestId` and
/// every response as the `X-Request-Id` header.
fn request_id_of(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(ToString::to_string)
}

fn wants_graphql_response(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(GRAPHQL_RESPONSE))
}

/// The media type of a request's answer: the GraphQL response type when the client accepts it.
fn content_type(req: &HttpRequest) -> &'static str {
    if wants_graphql_response(req) { GRAPHQL_RESPONSE } else { "application/json" }
}

fn request_error(
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
    message: &str,
    code: &str,
) -> HttpResponse {
    let ct = content_type(req);
    let body = error_body(message, code, request_id_of(req).as_deref());
    HttpResponse::build(status).insert_header((header::CONTENT_TYPE, ct)).json(body)
}

/// Where a request comes from: the peer's address, or the client's as a trusted proxy forwards it (see
/// [`crate::rate::client_addr`]; any client can write the header, so no other is believed), and the request id of
/// its log lines.
fn request_meta(edge: &HttpState, req: &HttpRequest) -> RequestMeta {
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let addr = crate::rate::client_addr(
        req.peer_addr().map(|a| a.ip()),
        forwarded,
        &edge.app.settings.trusted_proxies,
    );
    RequestMeta {
        client_addr: addr.map(|a| a.to_string()),
        request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
        expires_at: None,
    }
}

/// Verifies the bearer token, if any, and that its unit exists; a refusal is recorded and answered 401 (503 when
/// the unit tree cannot be read). The meta gains the token's expiry.
async fn authenticate(
    edge: &HttpState,
    req: &HttpRequest,
    meta: &mut RequestMeta,
) -> Result<Caller, Box<HttpResponse>> {
    let header = req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    let addr = meta.client_addr.clone().unwrap_or_default();
    // An address that failed too often waits out the window before any token of its is checked again.
    if header.is_some()
        && let Err(secs) = edge.app.limiter.check(Bucket::AuthFailure, &addr).await
    {
        return Err(Box::new(EdgeError::RateLimited(secs).respond(req)));
    }
    match edge.app.authenticate(header).await {
        Ok(Verified { caller, expires_at }) => {
            meta.expires_at = (caller != Caller::Anonymous).then_some(expires_at);
            Ok(caller)
        }
        Err(Authentication::Refused(e)) => {
            let _ = edge.app.limiter.take(Bucket::AuthFailure, &addr, 1).await;
            edge.metrics.errors.with_label_values(&["UNAUTHENTICATED"]).inc();
            crate::service::refused_token(&edge.app, meta, &e.to_string()).await;
            Err(Box::new(EdgeError::Unauthenticated(e.to_string()).respond(req)))
        }
        Err(Authentication::Unavailable(e)) => {
            tracing::error!(error = %e, "the unit tree could not be read to check a token");
            edge.metrics.errors.with_label_values(&["UNAVAILABLE"]).inc();
            Err(Box::new(EdgeError::Unavailable.respond(req)))
        }
    }
}

/// Parsed documents by their text (at most [`DOCUMENTS_BYTES`] of text): clients ask the same few queries with
/// different variables, and parsing costs more than the rest of a small query's answer.
pub type Documents = moka::future::Cache<String, Arc<ExecutableDocument>>;

/// How much query text the document cache holds.
pub const DOCUMENTS_BYTES: u64 = 8 << 20;

pub fn documents() -> Documents {
    moka::future::Cache::builder()
        .weigher(|text: &String, _: &Arc<ExecutableDocument>| u32::try_from(text.len()).unwrap_or(u32::MAX))
        .max_capacity(DOCUMENTS_BYTES)
        .build()
}

/// The request's document: `cached` (the one parsed before from the same text), or parsed now (and kept if it
/// parses).
async fn parse<'r>(
    documents: &Documents,
    cached: Option<Arc<ExecutableDocument>>,
    request: &'r mut async_graphql::Request,
) -> Result<&'r ExecutableDocument, async_graphql::ServerError> {
    match cached {
        Some(doc) => request.set_parsed_query(ExecutableDocument::clone(&doc)),
        None => {
            if let Ok(doc) = request.parsed_query() {
                let doc = Arc::new(doc.clone());
                documents.insert(request.query.clone(), doc).await;
            }
        }
    }
    request.parsed_query()
}

async fn execute(
    edge: &HttpState,
    req: &HttpRequest,
    mut request: async_graphql::Request,
    get: bool,
) -> HttpResponse {
    let mut meta = request_meta(edge, req);
    let caller = match authenticate(edge, req, &mut meta).await {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let name = request.operation_name.clone();
    // An anonymous request asked before may be answered with the bytes kept for it (see [`answers`]): only one
    // whose document was parsed before and may be kept is looked up (the others spare the key's making).
    let cached = edge.documents.get(&request.query).await;
    let may_keep = |op: Option<&_>| caller == Caller::Anonymous && op.is_some_and(answers::keepable);
    let mut answer_key = None;
    if cached.as_deref().is_some_and(|doc| may_keep(chosen_operation(doc, name.as_deref()))) {
        answer_key = answers::key(&request);
        if let Some(key) = &answer_key
            && let Some(answer) = edge.answers.get(&edge.app, key).await
        {
            return kept_answer(edge, req, &meta, name.as_deref(), &answer).await;
        }
    }
    // Parsed once, here: the schema reuses the document, and whether it parsed names the code of the errors
    // that come without one.
    let variables = request.variables.clone();
    let mut public = 0;
    let mut keepable = false;
    let (parsed, op) = match parse(&edge.documents, cached, &mut request).await {
        Ok(doc) => {
            public = crate::graphql::cost::public_weight(doc, &variables);
            let chosen = chosen_operation(doc, name.as_deref());
            keepable = may_keep(chosen);
            (true, chosen.map(|o| o.ty))
        }
        Err(_) => (false, None),
    };
    // The key its answer is kept under, when it may be kept.
    let answer_key = if keepable { answer_key.or_else(|| answers::key(&request)) } else { None };
    // GraphQL over HTTP: a GET request may only carry a query.
    if get && matches!(op, Some(OperationType::Mutation) | Some(OperationType::Subscription)) {
        return EdgeError::MutationByGet.respond(req);
    }
    // Public lookups and computations count per client address; a caller with a token counts per subject.
    let limited = match caller.sub() {
        Some(sub) => edge.app.limiter.take(Bucket::Subject, sub, 1).await,
        None => {
            edge.app
                .limiter
                .take(Bucket::Public, meta.client_addr.as_deref().unwrap_or_default(), public)
                .await
        }
    };
    if let Err(secs) = limited {
        edge.metrics.errors.with_label_values(&["RATE_LIMITED"]).inc();
        return EdgeError::RateLimited(secs).respond(req);
    }
    let operation = edge.metrics.operation_label(request.operation_name.as_deref());
    let started = Instant::now();
    let request_id = meta.request_id.clone();
    // This worker's app (its own pool): resolvers find it before the schema's.
    let mut request = request.data(caller).data(meta).data(edge.loaders.clone()).data(edge.app.clone());
    // What the resolvers read, noted for an answer that may be kept.
    let basis = answer_key.is_some().then(|| Arc::new(answers::AnswerBasis::default()));
    if let Some(basis) = &basis {
        request = request.data(basis.clone());
    }
    let limit = edge.app.settings.limits.request_timeout;
    // Dropping the execution on timeout drops its statements (a transaction rolls back); PostgreSQL stops them
    // by its own `statement_timeout`, set to the same limit. A panic while it runs ends this request alone, with
    // a 500 that says no more than `INTERNAL` and the request id; the cause goes to the log.
    let run = std::panic::AssertUnwindSafe(tokio::time::timeout(limit, edge.schema.execute(request)));
    let mut response = match futures_util::FutureExt::catch_unwind(run).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => error::timed_out(limit),
        Err(panic) => {
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(cause = %cause, "a request panicked; it is answered 500 and the gateway serves on");
            edge.metrics.errors.with_label_values(&["INTERNAL"]).inc();
            return EdgeError::Internal.respond(req);
        }
    };
    error::add_codes(&mut response, parsed);
    if let Some(id) = &request_id {
        for e in &mut response.errors {
            e.extensions.get_or_insert_with(Default::default).set("requestId", id.as_str());
        }
    }
    let outcome = if response.errors.is_empty() { "ok" } else { "error" };
    finished(edge, req, &operation, outcome, started, request_id.as_deref());
    for e in &response.errors {
        let code = e
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .map(|v| v.to_string().trim_matches('"').to_owned());
        edge.metrics.errors.with_label_values(&[code.as_deref().unwrap_or("GRAPHQL")]).inc();
    }
    let graphql_response = wants_graphql_response(req);
    // With the GraphQL response media type, a request that failed before execution (no data) is a 400.
    let status =
        if graphql_response && response.data == async_graphql::Value::Null && !response.errors.is_empty() {
            actix_web::http::StatusCode::BAD_REQUEST
        } else {
            actix_web::http::StatusCode::OK
        };
    let ct = content_type(req);
    let body = match serde_json::to_vec(&response) {
        Ok(body) => web::Bytes::from(body),
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be serialised");
            return EdgeError::Internal.respond(req);
        }
    };
    if let (Some(key), Some(basis)) = (answer_key, &basis)
        && response.errors.is_empty()
    {
        edge.answers.keep(key, body.clone(), basis, public).await;
    }
    HttpResponse::build(status).insert_header((header::CONTENT_TYPE, ct)).body(body)
}

/// Answers with a kept answer: counted by the rate limit, the metrics and the log like any other.
async fn kept_answer(
    edge: &HttpState,
    req: &HttpRequest,
    meta: &RequestMeta,
    operation_name: Option<&str>,
    answer: &answers::Answer,
) -> HttpResponse {
    let started = Instant::now();
    let addr = meta.client_addr.as_deref().unwrap_or_default();
    if let Err(secs) = edge.app.limiter.take(Bucket::Public, addr, answer.public_weight).await {
        edge.metrics.errors.with_label_values(&["RATE_LIMITED"]).inc();
        return EdgeError::RateLimited(secs).respond(req);
    }
    let operation = edge.metrics.operation_label(operation_name);
    edge.metrics.kept_answers.inc();
    finished(edge, req, &operation, "ok", started, meta.request_id.as_deref());
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, content_type(req))).body(answer.body.clone())
}

/// Counts an answered GraphQL request in the metrics and writes its access line.
fn finished(
    edge: &HttpState,
    req: &HttpRequest,
    operation: &str,
    outcome: &str,
    started: Instant,
    request_id: Option<&str>,
) {
    edge.metrics.latency.with_label_values(&[operation]).observe(started.elapsed().as_secs_f64());
    edge.metrics.requests.with_label_values(&[operation, outcome]).inc();
    access::log(&access::Line {
        method: req.method().as_str(),
        operation,
        outcome,
        micros: started.elapsed().as_micros() as u64,
        request_id,
    });
}

/// The operation of `doc` a request names (or its first, when it names none), as GraphQL over HTTP chooses it.
pub(crate) fn chosen_operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    let chosen = match name {
        Some(name) => doc.operations.iter().find(|(n, _)| n.map(|n| n.as_str()) == Some(name)),
        None => doc.operations.iter().next(),
    };
    chosen.map(|(_, o)| &o.node)
}

async fn graphql_post(edge: web::Data<HttpState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return EdgeError::NotJson.respond(&req);
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return EdgeError::NotGraphqlJson.respond(&req);
        }
    };
    execute(&edge, &req, request, false).await
}

#[derive(Deserialize)]
struct GetParams {
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
}

async fn graphql_get(edge: web::Data<HttpState>, req: HttpRequest) -> HttpResponse {
    let params: GetParams = match web::Query::<GetParams>::from_query(req.query_string()) {
        Ok(p) => p.into_inner(),
        Err(_) => {
            return EdgeError::NoQuery.respond(&req);
        }
    };
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables {
        match serde_json::from_str::<serde_json::Value>(&vars) {
            Ok(v) => request = request.variables(async_graphql::Variables::from_json(v)),
            Err(_) => {
                return EdgeError::VariablesNotJson.respond(&req);
            }
        }
    }
    execute(&edge, &req, request, true).await
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("ok")
}

async fn readyz(edge: web::Data<HttpState>) -> HttpResponse {
    let database = crate::db::ping(&edge.app.db).await;
    // A degraded cache still serves (answers are computed directly), so it does not make the instance unready.
    let cache = edge.app.cache.health().await;
    let body =
        serde_json::json!({ "database": if database { "ok" } else { "down" }, "cache": cache.as_str() });
    if database { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn metrics(edge: web::Data<HttpState>) -> HttpResponse {
    let (open, idle) = match edge.app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let p = edge.app.db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => {
            let p = edge.app.db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
    };
    edge.metrics.pool.with_label_values(&["open"]).set(i64::from(open));
    edge.metrics.pool.with_label_values(&["idle"]).set(idle as i64);
    if edge.app.reads.has_replicas() {
        let counts = &edge.app.reads.counts;
        for (target, n) in [("replica", &counts.replica), ("primary", &counts.fallback)] {
            let c = edge.metrics.replica_reads.with_label_values(&[target]);
            c.inc_by(n.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(c.get()));
        }
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(edge.metrics.render())
}

/// The root span of every request, with its request id only: tracing-actix-web's default one carries the URL,
/// whose query string (GET requests carry the query and its variables there) can hold personal data that must
/// never reach the logs, and the method and path are on the request's access line (see [`access`]).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let request_id = request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        // Its one field in every line logged while the request runs (the access line names the rest).
        tracing::info_span!(
            "http",
            request_id = %request_id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    /// The status and error are recorded on the span for failures only: nothing reads them from a span that ended
    /// well (no line is written when a span closes), and recording costs a formatting per request.
    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let failed = match outcome {
            Ok(r) => r.response().error().is_some() || r.status().is_server_error(),
            Err(_) => true,
        };
        if failed {
            DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}
