//! How service errors reach clients: every error carries a stable `extensions.code` (see
//! [`ApiError::code`](crate::service::ApiError::code)), and internal faults say only "internal error".

use async_graphql::{Error, ErrorExtensions};

use crate::service::ApiError;

/// The query exceeds a request limit (depth, complexity, directives, recursion, root fields, aliases, the cost
/// of its indicator reports); on a WebSocket also the number of subscriptions. The schema's own refusals
/// ([`super::cost`]) name it here, the HTTP edge gives it to the engine's (`http::error`).
pub const LIMIT: &str = "LIMIT";

/// The request ran longer than `REQUEST_TIMEOUT_MS` and was stopped (its statements too, on PostgreSQL). A
/// mutation that timed out was either not applied or applied just before: retrying it with its
/// `expectedVersion` is safe.
pub const TIMEOUT: &str = "TIMEOUT";

impl ErrorExtensions for ApiError {
    fn extend(&self) -> Error {
        Error::new(self.to_string()).extend_with(|_, e| e.set("code", self.code()))
    }
}

/// `Result<T, impl Into<ApiError>>` → the GraphQL result with the error's code.
pub trait IntoGql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> IntoGql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().extend())
    }
}
