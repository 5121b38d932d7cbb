//! Sign-in sessions and the checks every dashboard request passes.
//!
//! Signing in exchanges an API key for a session: a random 32-byte id in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` behind HTTPS), stored server-side as its SHA-256 with the key's hash and a CSRF token, so
//! every replica sharing the database knows it. Each request finds the session, then re-checks the key through
//! the authenticator (a revoked key ends the session) and reads its scopes. Every form post must carry the
//! session's CSRF token (a hidden field, or the `X-CSRF-Token` header) and, when the browser says where it comes
//! from, come from this origin.

use super::{Chrome, PageError, PageResult, assets, error_page, require};
use crate::app::{SharedState, now};
use crate::auth::{Principal, hash_key};
use crate::error::AppError;
use crate::http::extract::QueryParams;
use crate::store::sessions::SessionRecord;
use agentgate_core::auth::Scope;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::RngCore;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const COOKIE_NAME: &str = "agentgate_session";
/// How long a session lasts from sign-in (no sliding renewal: a stolen cookie is worth a working day at most).
const SESSION_TTL_MS: i64 = 12 * 3_600_000;
const CSRF_FIELD: &str = "_csrf";
const CSRF_HEADER: &str = "x-csrf-token";
/// Longest form body a dashboard form sends (policy rules are the largest).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A signed-in person: the principal of the key they signed in with (re-checked on this request).
pub struct Session {
    pub principal: Arc<Principal>,
    pub csrf: String,
    id_hash: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value().to_owned())
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Whether the browser reached us over HTTPS (directly or through a proxy that says so).
fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

impl FromRequestParts<SharedState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, PageError> {
        let sign_in = || PageError::SignIn {
            next: parts.uri.path_and_query().map_or("/dashboard".to_owned(), |p| p.as_str().to_owned()),
            htmx: is_htmx(&parts.headers),
        };
        let Some(id) = session_cookie(&parts.headers) else { return Err(sign_in()) };
        let id_hash = hash_key(&id);
        let Some(record) = state.store.find_session(&id_hash, now()).await? else { return Err(sign_in()) };
        let Some(principal) = state.auth.authenticate_hash(&record.key_hash, state.store.as_ref()).await? else {
            // The key was revoked: the session ends with it.
            state.store.delete_session(&id_hash).await?;
            return Err(sign_in());
        };
        tracing::Span::current().record("actor", principal.actor.as_str());
        Ok(Self { principal, csrf: record.csrf_token, id_hash })
    }
}

/// The fields of a urlencoded form body, in order (a field may repeat, like checkboxes).
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first value of `name` as sent (not trimmed), or "".
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// A form post by a signed-in person, its CSRF token and origin checked (403 otherwise).
pub struct FormPost {
    pub session: Session,
    pub fields: FormFields,
}

fn forbidden(message: &str) -> PageError {
    PageError::App(AppError::Forbidden(message.to_owned()))
}

/// A cross-site post is refused when the browser names its origin (`Origin`, or `Sec-Fetch-Site`); the CSRF
/// token is the check for clients that send neither.
fn check_origin(headers: &HeaderMap) -> Result<(), PageError> {
    // Behind a proxy that rewrites `Host`, the browser's host is in `X-Forwarded-Host` (a header a cross-site form
    // cannot set).
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
        if !same || host.is_empty() {
            return Err(forbidden("This form was sent from another site"));
        }
    } else if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(forbidden("This form was sent from another site"));
    }
    Ok(())
}

async fn read_form(req: Request) -> Result<(Parts, FormFields), PageError> {
    let (parts, body) = req.into_parts();
    let bytes =
        axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| PageError::App(AppError::PayloadTooLarge))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| PageError::App(AppError::bad_request("The form could not be read")))?;
    Ok((parts, FormFields(fields)))
}

impl FromRequest<SharedState> for FormPost {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, PageError> {
        let (mut parts, fields) = read_form(req).await?;
        let session = Session::from_request_parts(&mut parts, state).await?;
        check_origin(&parts.headers)?;
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| fields.get(CSRF_FIELD).map(str::to_owned))
            .unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(forbidden("This form has expired. Reload the page and try again."));
        }
        Ok(Self { session, fields })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignInPage {
    next: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    assets: &'static assets::AssetUrls,
}

/// Only a path inside the dashboard, so the sign-in form cannot be used to send someone elsewhere.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| n.starts_with("/dashboard") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/dashboard")
        .to_owned()
}

pub async fn sign_in_page(query: QueryParams) -> Response {
    SignInPage {
        next: safe_next(query.get("next")),
        error: None,
        notice: query.get("notice").and_then(super::notice_text),
        assets: assets::urls(),
    }
    .into_response()
}

/// Exchanges an API key for a session (the key is checked like a bearer key, then forgotten).
pub async fn sign_in(State(state): State<SharedState>, req: Request) -> PageResult<Response> {
    let (parts, fields) = read_form(req).await?;
    check_origin(&parts.headers)?;
    let next = safe_next(fields.get("next"));
    let secret = fields.get("key").unwrap_or("");
    let principal =
        if secret.is_empty() { None } else { state.auth.authenticate(secret, state.store.as_ref()).await? };
    let Some(principal) = principal else {
        let page = SignInPage { next, error: Some("That API key is not valid."), notice: None, assets: assets::urls() };
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    let id = random_token();
    let created_at = now();
    state
        .store
        .insert_session(SessionRecord {
            id_hash: hash_key(&id),
            key_hash: hash_key(secret),
            key_id: principal.key_id.clone(),
            csrf_token: random_token(),
            created_at,
            expires_at: created_at.add_millis(SESSION_TTL_MS),
        })
        .await?;
    tracing::info!(actor = %principal.actor, "dashboard sign-in");
    let cookie = cookie::Cookie::build((COOKIE_NAME, id))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(is_https(&parts.headers))
        .max_age(cookie::time::Duration::milliseconds(SESSION_TTL_MS))
        .build();
    let mut response = Redirect::to(&next).into_response();
    set_cookie(&mut response, &cookie);
    Ok(response)
}

fn set_cookie(response: &mut Response, cookie: &cookie::Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub async fn sign_out(State(state): State<SharedState>, form: FormPost) -> PageResult<Response> {
    state.store.delete_session(&form.session.id_hash).await?;
    let mut response = Redirect::to("/dashboard/sign-in?notice=signed-out").into_response();
    let mut gone = cookie::Cookie::build((COOKIE_NAME, "")).path("/").http_only(true).build();
    gone.make_removal();
    set_cookie(&mut response, &gone);
    Ok(response)
}

/// `GET /dashboard/events`: the API's event stream, for a session that may read requests.
pub async fn events(
    State(state): State<SharedState>,
    session: Session,
    headers: HeaderMap,
    query: QueryParams,
) -> PageResult<Response> {
    require(&session.principal, Scope::RequestRead)?;
    match crate::http::events::event_stream(state, &headers, &query).await {
        Ok(stream) => Ok(stream.into_response()),
        Err(e) => Ok(error_page(&e)),
    }
}

/// The chrome for a page, from a session (re-exported for the page modules).
pub fn chrome(session: &Session, page: &'static str, query: &QueryParams) -> Chrome {
    Chrome::new(session, page).with_notice(query.get("notice"))
}
