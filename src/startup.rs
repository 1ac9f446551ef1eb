//! Builds the app and binds the listener (port 0 in tests).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App as ActixApp, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::app::App;
use crate::graphql::{GatewaySchema, build_schema};
use crate::http::error::json_errors;
use crate::http::{HttpState, Metrics, RequestSpan, routes};

/// How long a stopping gateway waits for the requests in flight before it closes their connections.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A bound, not yet awaited server and the address it listens on.
pub struct Running {
    pub server: Server,
    pub addr: std::net::SocketAddr,
    /// Set to `true` to stop: WebSocket connections close (1001) and [`Running::stop`] drains the rest.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// A handle that stops the server gracefully: no new connections, WebSockets closed with 1001 ("going
    /// away"), the requests in flight finished (for at most [`SHUTDOWN_GRACE`]).
    pub fn stopper(&self) -> impl Future<Output = ()> + use<> {
        let (handle, stopping) = (self.server.handle(), self.stopping.clone());
        async move {
            let _ = stopping.send(true);
            handle.stop(true).await;
        }
    }
}

/// Binds `listener` and serves the gateway on it.
pub fn run(app: App, listener: TcpListener) -> std::io::Result<Running> {
    let schema = build_schema(app.clone());
    run_with_schema(app, schema, listener)
}

/// [`run`] with a schema built by the caller (with extensions of its own, such as tracing or fault injection).
pub fn run_with_schema(app: App, schema: GatewaySchema, listener: TcpListener) -> std::io::Result<Running> {
    run_with_pools(app, schema, listener, Vec::new())
}

/// Connections a worker opens as it starts, so that its first requests do not wait for them.
const WARM_CONNECTIONS: usize = 2;

/// Opens [`WARM_CONNECTIONS`] of a worker's pool from the worker's own thread (the factory runs there).
fn warm(db: &sea_orm::DatabaseConnection) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    for _ in 0..WARM_CONNECTIONS {
        let db = db.clone();
        actix_web::rt::spawn(async move {
            let _ = db.ping().await;
        });
    }
}

/// The number of HTTP worker threads: one per core.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// [`run_with_schema`], each of the [`workers`] HTTP worker threads on a pool of `pools` of its own (see
/// [`crate::db::connect_per_worker`]; the app's own pool when there are fewer pools than workers).
pub fn run_with_pools(
    app: App,
    schema: GatewaySchema,
    listener: TcpListener,
    pools: Vec<sea_orm::DatabaseConnection>,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
    let loaders = crate::graphql::Loaders::new(&app.db);
    let edge = HttpState {
        schema,
        app,
        metrics: Metrics::new(),
        loaders,
        documents: crate::http::documents(),
        answers: crate::http::answers::Answers::default(),
        stopping: stopping_rx,
    };
    let pools = std::sync::Arc::new(std::sync::Mutex::new(pools));
    let server = HttpServer::new(move || {
        let mut edge = edge.clone();
        if let Some(db) = pools.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            edge.app = edge.app.with_db(db);
            edge.loaders = crate::graphql::Loaders::new(&edge.app.db);
            warm(&edge.app.db);
        }
        ActixApp::new()
            .wrap(json_errors())
            .wrap(actix_web::middleware::from_fn(crate::http::request_id_header))
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(move |cfg| routes(cfg, edge))
    })
    .workers(workers())
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    // The caller decides when to stop (see `cli::serve`), so that WebSockets are told first.
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(Running { server, addr, stopping })
}
