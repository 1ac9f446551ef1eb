//! The one error of the service layer, sized to what a client must react to. Each variant maps to a stable
//! `extensions.code` in the GraphQL layer; an internal fault says only "internal error" to the client and is
//! logged once, here, with the request's span (and so its request id).

use crate::db::indicators::DrillError;
use crate::db::lifecycle::WriteError;
use crate::domain::time::PeriodError;
use crate::indicators::IndicatorError;

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
    /// The database cannot be reached, or had no free connection within the time a request may wait for one:
    /// the client may try again.
    #[error("the database is unavailable; try again")]
    Unavailable,
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
            ApiError::Unavailable => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let cause = cause.to_string();
        tracing::error!(%cause, "internal error");
        ApiError::Internal(cause)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if unreachable(&e) {
            tracing::warn!(cause = %e, "the database is unavailable");
            ApiError::Unavailable
        } else {
            ApiError::internal(e)
        }
    }
}

/// Whether a database error says the database could not be reached (down, the network cut, the pool out of
/// connections for longer than a request waits), rather than that a statement failed.
pub fn unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(s)) | DbErr::Exec(RuntimeErr::SqlxError(s)) => {
            matches!(**s, Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed)
        }
        _ => false,
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => ApiError::NotFound,
            WriteError::Validation(m) => ApiError::Validation(m),
            WriteError::Conflict(m) => ApiError::Conflict(m),
            WriteError::Db(e) => e.into(),
        }
    }
}

impl From<IndicatorError> for ApiError {
    fn from(e: IndicatorError) -> Self {
        match e {
            IndicatorError::UnknownUnit(_) => ApiError::NotFound,
            IndicatorError::Period(p) => ApiError::Validation(p.to_string()),
            IndicatorError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(e) => e.into(),
                Err(shared) => ApiError::internal(shared),
            },
            IndicatorError::Db(e) => e.into(),
            other @ IndicatorError::Cached(_) => ApiError::internal(other),
        }
    }
}

impl From<PeriodError> for ApiError {
    fn from(e: PeriodError) -> Self {
        ApiError::Validation(e.to_string())
    }
}

impl From<DrillError> for ApiError {
    fn from(e: DrillError) -> Self {
        match e {
            DrillError::Db(d) => d.into(),
            other => ApiError::Validation(other.to_string()),
        }
    }
}

impl From<crate::audit::Unrecorded> for ApiError {
    fn from(e: crate::audit::Unrecorded) -> Self {
        ApiError::internal(e)
    }
}
