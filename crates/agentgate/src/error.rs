//! The one error type of the HTTP layer, and the one place errors become responses.
//!
//! Client mistakes carry their message to the client as `{"error": "..."}`. Anything else is logged with its
//! cause and answered with a bare 500 (or 503 when the database is unreachable), so internals never leak.

use crate::store::StoreError;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    /// The key's rate limit is used up; a client may retry after this many seconds.
    #[error("Rate limit exceeded")]
    RateLimited { retry_after_seconds: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
}

impl AppError {
    /// The status and the message a client may see; causes of server-side failures are logged here, not sent.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, (*m).to_owned()),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            Self::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string()),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, self.to_string()),
            Self::Store(StoreError::Unavailable(cause)) => {
                tracing::error!(%cause, "database unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "Database unavailable; try again shortly".to_owned())
            }
            Self::Store(StoreError::Invalid(cause)) => {
                tracing::debug!(%cause, "value refused by the database");
                (StatusCode::BAD_REQUEST, "Invalid value: text must be valid UTF-8 without NUL characters".to_owned())
            }
            Self::Store(StoreError::Database(cause)) => {
                tracing::error!(%cause, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".to_owned())
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".to_owned())
            }
        }
    }
}

impl AppError {
    /// The status and the JSON body `{"error": …}` a client sees.
    pub fn status_and_body(&self) -> (StatusCode, bytes::Bytes) {
        let (status, message) = self.status_and_message();
        (status, json!({ "error": message }).to_string().into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        let body = ([(header::CONTENT_TYPE, "application/json")], body);
        match self {
            Self::RateLimited { retry_after_seconds } => {
                (status, [(header::RETRY_AFTER, retry_after_seconds.to_string())], body).into_response()
            }
            _ => (status, body).into_response(),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
