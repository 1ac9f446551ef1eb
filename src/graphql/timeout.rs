//! Every query and mutation stops at `REQUEST_TIMEOUT_MS`, whatever carries it (HTTP, or a WebSocket
//! `subscribe` message holding a query): an extension around execution answers `TIMEOUT` and drops the
//! execution, and with it its statements (on PostgreSQL the session's `statement_timeout` stops them on the
//! server too). A subscription's stream is not one request and runs until it ends.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Response, ServerError};

/// The extension's factory, with the limit of the settings.
pub struct Timeout(pub Duration);

impl ExtensionFactory for Timeout {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TimeoutCheck(self.0))
    }
}

struct TimeoutCheck(Duration);

#[async_trait::async_trait]
impl Extension for TimeoutCheck {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match tokio::time::timeout(self.0, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![timed_out(self.0)]),
        }
    }
}

/// The error of a request stopped at its timeout.
pub fn timed_out(limit: Duration) -> ServerError {
    let mut e = ServerError::new(
        format!(
            "the request took longer than the limit of {} ms (REQUEST_TIMEOUT_MS) and was stopped",
            limit.as_millis()
        ),
        None,
    );
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", super::error::TIMEOUT);
    e.extensions = Some(ext);
    e
}
