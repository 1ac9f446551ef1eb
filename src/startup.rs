//! Builds the app and binds the listener (port 0 in tests).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App as ActixApp, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::app::App;
use crate::graphql::{GatewaySchema, build_schema};
use crate::http::error::json_errors;
use crate::http::{HttpState, Metrics, PathOnlySpan, routes};

/// A bound, not yet awaited server and the address it listens on.
pub struct Running {
    pub server: Server,
    pub addr: std::net::SocketAddr,
}

/// Binds `listener` and serves the gateway on it.
pub fn run(app: App, listener: TcpListener) -> std::io::Result<Running> {
    let schema = build_schema(app.clone());
    run_with_schema(app, schema, listener)
}

/// [`run`] with a schema built by the caller (with extensions of its own, such as tracing or fault injection).
pub fn run_with_schema(app: App, schema: GatewaySchema, listener: TcpListener) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let edge = HttpState { schema, app, metrics: Metrics::new() };
    let server = HttpServer::new(move || {
        let edge = edge.clone();
        ActixApp::new()
            .wrap(json_errors())
            .wrap(actix_web::middleware::from_fn(crate::http::request_id_header))
            .wrap(TracingLogger::<PathOnlySpan>::new())
            .configure(move |cfg| routes(cfg, edge))
    })
    .listen(listener)?
    .run();
    Ok(Running { server, addr })
}
