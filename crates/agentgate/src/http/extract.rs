//! Extractors that turn every malformed input into a clear 4xx `{"error": ...}`.

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::Page;
use agentgate_core::auth::Scope;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A JSON request body: 400 when it is missing or malformed, 413 when it exceeds `BODY_SIZE_LIMIT`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::bad_request("Could not read the request body")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::bad_request("Request body required"));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| AppError::bad_request(format!("Malformed JSON body: {e}")))
    }
}

impl JsonBody {
    /// The body as an object, or 400.
    pub fn into_object(self) -> Result<serde_json::Map<String, Value>, AppError> {
        match self.0 {
            Value::Object(map) => Ok(map),
            _ => Err(AppError::bad_request("Request body must be a JSON object")),
        }
    }
}

/// Query parameters; a malformed query string is a 400.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|_| AppError::bad_request("Malformed query string"))
    }
}

impl QueryParams {
    /// A non-empty parameter (an empty value means "no filter", as the dashboard sends).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `limit` (1..=max_limit is kept; larger values are clamped to max_limit, as the reference did) and `offset`.
    pub fn page(&self, default_limit: u32, max_limit: u32) -> Result<Page, AppError> {
        let limit = match self.get("limit") {
            None => default_limit,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n >= 1 => u32::try_from(n.min(u64::from(max_limit))).unwrap_or(max_limit),
                _ => return Err(AppError::bad_request("limit must be a positive integer")),
            },
        };
        let offset = match self.get("offset") {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= i64::MAX as u64)
                .ok_or_else(|| AppError::bad_request("offset must be a non-negative integer"))?,
        };
        Ok(Page { limit, offset })
    }

    /// An enumerated parameter: absent, or one of the allowed values (400 otherwise).
    pub fn parse_enum<T: std::str::FromStr>(&self, name: &str, allowed: &str) -> Result<Option<T>, AppError> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| AppError::bad_request(format!("{name} must be one of: {allowed}"))))
            .transpose()
    }
}

/// Path segment ids; anything undecodable is a 400.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathId(p.0))
            .map_err(|_| AppError::bad_request("Malformed id in path"))
    }
}

/// A route's required scope, as a type, so the requirement is written in the handler's signature.
pub trait RequiredScope {
    const SCOPE: Scope;
}

macro_rules! scope_marker {
    ($name:ident, $scope:expr) => {
        pub struct $name;
        impl RequiredScope for $name {
            const SCOPE: Scope = $scope;
        }
    };
}
scope_marker!(CreateRequests, Scope::RequestCreate);
scope_marker!(ReadRequests, Scope::RequestRead);
scope_marker!(DecideRequests, Scope::RequestDecide);
scope_marker!(ManageWebhooks, Scope::WebhookManage);
scope_marker!(Admin, Scope::Admin);

/// The authenticated principal, proven to hold scope `R` (or `admin`); 403 otherwise.
pub struct Authorized<R> {
    pub principal: Arc<Principal>,
    _scope: PhantomData<R>,
}

impl<S: Send + Sync, R: RequiredScope> FromRequestParts<S> for Authorized<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let principal = parts
            .extensions
            .get::<Arc<Principal>>()
            .cloned()
            .ok_or(AppError::Unauthorized("Missing Authorization header"))?;
        if !principal.allows(R::SCOPE) {
            return Err(AppError::Forbidden(format!("Missing required scope: {}", R::SCOPE)));
        }
        Ok(Self { principal, _scope: PhantomData })
    }
}

/// Reads an optional string field: absent or null is `None`, anything but a string is a 400 naming the field.
pub fn optional_string(body: &serde_json::Map<String, Value>, field: &str) -> Result<Option<String>, AppError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AppError::bad_request(format!("{field} must be a string"))),
    }
}
