//! The one error policy of the API: every error a client sees carries a stable `extensions.code`, and internal
//! errors say only "internal error" (the cause is logged once, here, with the request id of the span).

use async_graphql::{Error, ErrorExtensions};

use crate::db::lifecycle::WriteError;

/// An error as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, or outside the caller's scope (the two look the same).
    #[error("not found")]
    NotFound,
    /// The operation needs a token.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller's role may not do this.
    #[error("the {0} role may not do this")]
    Forbidden(&'static str),
    /// The input breaks a rule.
    #[error("{0}")]
    Validation(String),
    /// Another write changed the record first.
    #[error("{0}")]
    Conflict(String),
    /// A fault the client cannot fix; the cause is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "NOT_FOUND",
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::Validation(_) => "VALIDATION",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let cause = cause.to_string();
        tracing::error!(%cause, "internal error");
        ApiError::Internal(cause)
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> Error {
        Error::new(self.to_string()).extend_with(|_, e| e.set("code", self.code()))
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => ApiError::NotFound,
            WriteError::Validation(m) => ApiError::Validation(m),
            WriteError::Conflict(m) => ApiError::Conflict(m),
            WriteError::Db(e) => ApiError::internal(e),
        }
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
