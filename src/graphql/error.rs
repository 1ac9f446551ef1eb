//! How service errors reach clients: every error carries a stable `extensions.code` (see
//! [`ApiError::code`](crate::service::ApiError::code)), and internal faults say only "internal error".

use async_graphql::{Error, ErrorExtensions};

use crate::service::ApiError;

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
