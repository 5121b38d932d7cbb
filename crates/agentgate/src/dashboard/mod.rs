//! The web dashboard: server-rendered pages (askama) with htmx for live fragments, served by `agentgate serve`
//! on the API's port.
//!
//! A person signs in with an API key, which is exchanged for a server-side session (see [`session`]); the key
//! itself never reaches the browser again. Every request re-checks the key through the same
//! [`crate::auth::Authenticator`] as the API, so a revoked key's session stops at once, and every page and action
//! checks the same scopes. Every change goes through the same functions as the API handlers (deciding, keys,
//! webhooks, policies), so the audit trail and outbox cannot tell the two apart except by the label.
//!
//! Pages work with JavaScript off: forms post normally and answer with a redirect (or the page with the error in
//! place). With JavaScript, `assets/app.js` adds the decision and confirmation modals and follows
//! `/dashboard/events` to refresh the `data-live` fragments.

mod assets;
mod audit;
mod home;
mod keys;
mod policies;
mod requests;
pub mod session;
mod webhooks;

use crate::app::SharedState;
use crate::auth::Principal;
use crate::error::AppError;
use agentgate_core::Timestamp;
use agentgate_core::auth::Scope;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use session::{FormPost, Session};
use std::sync::Arc;

/// The dashboard's routes (`/dashboard/...`, `/assets/...`), with their own security headers.
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(home::page))
        .route("/dashboard/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard/fragments/home", get(home::fragment))
        .route("/dashboard/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/dashboard/sign-out", post(session::sign_out))
        .route("/dashboard/events", get(session::events))
        .route("/dashboard/requests", get(requests::list))
        .route("/dashboard/fragments/requests", get(requests::list_fragment))
        .route("/dashboard/requests/{id}", get(requests::detail))
        .route("/dashboard/requests/{id}/summary", get(requests::summary_fragment))
        .route("/dashboard/requests/{id}/decide", post(requests::decide))
        .route("/dashboard/audit", get(audit::page))
        .route("/dashboard/audit.csv", get(audit::csv))
        .route("/dashboard/policies", get(policies::list).post(policies::create))
        .route("/dashboard/policies/new", get(policies::new_form))
        .route("/dashboard/policies/simulate", post(policies::simulate))
        .route("/dashboard/policies/{id}", get(policies::edit_form).post(policies::save))
        .route("/dashboard/policies/{id}/toggle", post(policies::toggle))
        .route("/dashboard/keys", get(keys::list).post(keys::create))
        .route("/dashboard/keys/new", get(keys::new_form))
        .route("/dashboard/keys/{id}", get(keys::edit_form).post(keys::save))
        .route("/dashboard/keys/{id}/revoke", post(keys::revoke))
        .route("/dashboard/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/dashboard/webhooks/new", get(webhooks::new_form))
        .route("/dashboard/webhooks/{id}", get(webhooks::detail))
        .route("/dashboard/webhooks/{id}/deliveries", get(webhooks::deliveries_fragment))
        .route("/dashboard/webhooks/{id}/toggle", post(webhooks::toggle))
        .route("/dashboard/webhooks/{id}/test", post(webhooks::test))
        .route("/dashboard/webhooks/{id}/delete", post(webhooks::delete))
        .route("/assets/{name}", get(assets::serve))
        .route_layer(middleware::from_fn(security_headers))
}

/// Only our own scripts and styles, no framing, forms only to ourselves; pages are never cached (they show
/// what a session may see), assets are (see [`assets`]).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if !is_asset && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What every page's frame needs: who is signed in, what they may see, the CSRF token for its forms.
pub struct Chrome {
    /// The navigation entry of the page (`home`, `requests`, …).
    pub page: &'static str,
    pub key_name: String,
    pub csrf: String,
    pub can_read: bool,
    pub can_decide: bool,
    pub can_manage_webhooks: bool,
    pub is_admin: bool,
    pub notice: Option<&'static str>,
    pub assets: &'static assets::AssetUrls,
}

impl Chrome {
    pub fn new(session: &Session, page: &'static str) -> Self {
        let p = &session.principal;
        Self {
            page,
            key_name: p.name.clone(),
            csrf: session.csrf.clone(),
            can_read: p.allows(Scope::RequestRead),
            can_decide: p.allows(Scope::RequestDecide),
            can_manage_webhooks: p.allows(Scope::WebhookManage),
            is_admin: p.allows(Scope::Admin),
            notice: None,
            assets: assets::urls(),
        }
    }

    /// With a one-line notice from a redirect (`?notice=<code>`); unknown codes show nothing, so no text from
    /// the URL ever reaches the page.
    pub fn with_notice(mut self, code: Option<&str>) -> Self {
        self.notice = code.and_then(notice_text);
        self
    }
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "decided" => "Decision recorded.",
        "key-revoked" => "The API key was revoked.",
        "key-saved" => "The API key was saved.",
        "policy-saved" => "The policy was saved.",
        "policy-enabled" => "The policy was enabled.",
        "policy-disabled" => "The policy was disabled.",
        "webhook-enabled" => "The webhook was enabled.",
        "webhook-disabled" => "The webhook was disabled.",
        "webhook-deleted" => "The webhook was deleted.",
        "signed-out" => "You have signed out.",
        _ => return None,
    })
}

/// A page that could not be shown, as a page: the sign-in page for a missing session, an error page otherwise.
pub enum PageError {
    /// No (valid) session: sign in, then come back to `next`.
    SignIn {
        next: String,
        htmx: bool,
    },
    App(AppError),
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::App(AppError::Store(e))
    }
}

pub type PageResult<T> = Result<T, PageError>;

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
    assets: &'static assets::AssetUrls,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next, htmx } => {
                let target = format!("/dashboard/sign-in?next={}", urlencode(&next));
                if htmx {
                    // htmx follows this header with a full page load instead of swapping a sign-in form into a
                    // fragment.
                    let mut response = StatusCode::UNAUTHORIZED.into_response();
                    if let Ok(value) = HeaderValue::from_str(&target) {
                        response.headers_mut().insert("hx-redirect", value);
                    }
                    response
                } else {
                    Redirect::to(&target).into_response()
                }
            }
            Self::App(e) => error_page(&e),
        }
    }
}

pub fn error_page(e: &AppError) -> Response {
    let (status, message) = e.status_and_message();
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Conflict",
        s if s.is_client_error() => "Something is wrong with that request",
        _ => "Something went wrong",
    };
    (status, ErrorPage { status: status.as_u16(), title, message, assets: assets::urls() }).into_response()
}

/// 403 unless the session's key holds `scope` (or `admin`), worded like the API's refusal.
pub fn require(principal: &Arc<Principal>, scope: Scope) -> Result<(), PageError> {
    if principal.allows(scope) {
        Ok(())
    } else {
        Err(PageError::App(AppError::Forbidden(format!("Missing required scope: {scope}"))))
    }
}

pub fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s.trim_start_matches('=').to_owned()).unwrap_or_default()
}

/// A timestamp as people read it on the page (UTC); `app.js` rewrites it in the reader's own time zone.
pub fn display_time(t: Timestamp) -> String {
    let iso = t.to_iso();
    format!("{} {} UTC", &iso[..10.min(iso.len())], iso.get(11..16).unwrap_or(""))
}

/// "3 min", "2 h 5 min", "4 d": how long ago `then` was.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let minutes = (now.0 - then.0).max(0) / 60_000;
    match minutes {
        0 => "under a minute".to_owned(),
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), m / 60 % 24),
    }
}

/// Page links of a list: where the previous and next pages start, and what this page shows.
pub struct Pager {
    pub first: u64,
    pub last: u64,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the page's query string without `offset`.
    pub fn new(base: &str, offset: u64, limit: u32, shown: usize, total: u64) -> Self {
        let link = |offset: u64| {
            let sep = if base.is_empty() { "" } else { "&" };
            format!("?{base}{sep}offset={offset}")
        };
        let limit = u64::from(limit);
        Self {
            first: if shown == 0 { 0 } else { offset + 1 },
            last: offset + shown as u64,
            total,
            prev: (offset > 0).then(|| link(offset.saturating_sub(limit))),
            next: (offset + (shown as u64) < total).then(|| link(offset + limit)),
        }
    }
}

/// A query string of the non-empty pairs, for links that keep a page's filters.
pub fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let kept: Vec<(&str, &str)> =
        pairs.iter().filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (*k, v))).collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// JSON shown to people: indented.
pub fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
