//! Webhooks (scope `webhook:manage`): the list, create (the secret shown once), enable/disable, delete, a test
//! delivery, and each webhook's recent deliveries; all through the API's own webhook functions.

use super::session::chrome;
use super::{Chrome, FormPost, PageError, PageResult, Session, display_time, require, urlencode};
use crate::app::SharedState;
use crate::error::AppError;
use crate::http::extract::{PathId, QueryParams};
use crate::http::webhooks::{create_webhook, delete_webhook, test_webhook, to_wire, update_webhook};
use crate::store::Page;
use agentgate_core::Timestamp;
use agentgate_core::auth::Scope;
use agentgate_core::webhook::{ALL_EVENTS, EVENTS};
use agentgate_core::wire::{CreatedWebhook, Webhook, WebhookDelivery};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

const RECENT_DELIVERIES: u32 = 20;
/// Deliveries previewed under each webhook of the list.
const PREVIEW_DELIVERIES: u32 = 5;

pub struct DeliveryView {
    pub event: String,
    pub status: String,
    pub attempts: u32,
    pub created: String,
    pub response_code: String,
    pub response: String,
}

impl DeliveryView {
    fn new(d: &WebhookDelivery) -> Self {
        let error = d.attempt_log.last().and_then(|a| a.error.clone());
        Self {
            event: d.event.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            created: display_time(Timestamp(d.created_at)),
            response_code: d.response_code.map_or("—".to_owned(), |c| c.to_string()),
            response: d.response_body.clone().or(error).unwrap_or_default(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks.html")]
pub struct ListPage {
    chrome: Chrome,
    webhooks: Vec<Webhook>,
    created: Option<CreatedWebhook>,
}

pub struct WebhookForm {
    pub url: String,
    pub events: Vec<String>,
    pub error: Option<String>,
    pub all_events: Vec<&'static str>,
}

impl WebhookForm {
    pub fn has(&self, event: &&str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "webhook_form.html")]
pub struct FormPage {
    chrome: Chrome,
    w: WebhookForm,
}

#[derive(Template, WebTemplate)]
#[template(path = "webhook.html")]
pub struct DetailPage {
    chrome: Chrome,
    webhook: Webhook,
    deliveries: Vec<DeliveryView>,
    /// The outcome of a test just sent.
    tested: Option<(bool, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "webhook.html", block = "deliveries")]
pub struct DeliveriesFragment {
    webhook: Webhook,
    deliveries: Vec<DeliveryView>,
}

fn all_events() -> Vec<&'static str> {
    EVENTS.iter().copied().chain([ALL_EVENTS]).collect()
}

fn not_found() -> PageError {
    PageError::App(AppError::NotFound("Webhook not found".into()))
}

pub async fn list(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<ListPage> {
    require(&session.principal, Scope::WebhookManage)?;
    let webhooks = state.store.list_webhooks().await?.iter().map(to_wire).collect();
    Ok(ListPage { chrome: chrome(&session, "webhooks", &query), webhooks, created: None })
}

pub async fn new_form(session: Session, query: QueryParams) -> PageResult<FormPage> {
    require(&session.principal, Scope::WebhookManage)?;
    let w = WebhookForm {
        url: String::new(),
        events: vec!["request.approved".into(), "request.denied".into()],
        error: None,
        all_events: all_events(),
    };
    Ok(FormPage { chrome: chrome(&session, "webhooks", &query), w })
}

/// Creates a webhook and shows the list with its signing secret, this once.
pub async fn create(State(state): State<SharedState>, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::WebhookManage)?;
    let url = post.fields.raw("url").to_owned();
    let events: Vec<String> = post.fields.all("events").into_iter().map(str::to_owned).collect();
    let mut body = Map::new();
    body.insert("url".into(), json!(url));
    body.insert("events".into(), json!(events));
    match create_webhook(&state, &post.session.principal, body).await {
        Ok(created) => {
            let webhooks = state.store.list_webhooks().await?.iter().map(to_wire).collect();
            let page = ListPage { chrome: Chrome::new(&post.session, "webhooks"), webhooks, created: Some(created) };
            Ok((StatusCode::CREATED, page).into_response())
        }
        Err(e) => {
            let (status, message) = e.status_and_message();
            if status.is_server_error() {
                return Err(PageError::App(e));
            }
            let w = WebhookForm { url, events, error: Some(message), all_events: all_events() };
            Ok((status, FormPage { chrome: Chrome::new(&post.session, "webhooks"), w }).into_response())
        }
    }
}

async fn deliveries(state: &SharedState, id: &str, limit: u32) -> PageResult<Vec<DeliveryView>> {
    let page = Page { limit, offset: 0 };
    Ok(state.store.list_deliveries(id, None, page).await?.0.iter().map(DeliveryView::new).collect())
}

pub async fn detail(
    State(state): State<SharedState>,
    session: Session,
    PathId(id): PathId,
    query: QueryParams,
) -> PageResult<DetailPage> {
    require(&session.principal, Scope::WebhookManage)?;
    let webhook = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    let deliveries = deliveries(&state, &id, RECENT_DELIVERIES).await?;
    Ok(DetailPage {
        chrome: chrome(&session, "webhooks", &query),
        webhook: to_wire(&webhook),
        deliveries,
        tested: None,
    })
}

pub async fn deliveries_fragment(
    State(state): State<SharedState>,
    session: Session,
    PathId(id): PathId,
) -> PageResult<DeliveriesFragment> {
    require(&session.principal, Scope::WebhookManage)?;
    let webhook = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    let deliveries = deliveries(&state, &id, PREVIEW_DELIVERIES).await?;
    Ok(DeliveriesFragment { webhook: to_wire(&webhook), deliveries })
}

pub async fn toggle(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::WebhookManage)?;
    let webhook = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    let mut body = Map::new();
    body.insert("enabled".into(), Value::Bool(!webhook.enabled));
    update_webhook(&state, &post.session.principal, &id, body).await?;
    let notice = if webhook.enabled { "webhook-disabled" } else { "webhook-enabled" };
    Ok(Redirect::to(&format!("/dashboard/webhooks?notice={}", urlencode(notice))).into_response())
}

pub async fn delete(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::WebhookManage)?;
    delete_webhook(&state, &post.session.principal, &id).await?;
    Ok(Redirect::to("/dashboard/webhooks?notice=webhook-deleted").into_response())
}

/// Sends a test delivery now and shows the webhook's page with the outcome and the delivery on top.
pub async fn test(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::WebhookManage)?;
    let tested = test_webhook(&state, id.clone()).await?;
    let webhook = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    let deliveries = deliveries(&state, &id, RECENT_DELIVERIES).await?;
    let message = match tested.response_code {
        Some(code) => format!("{} (HTTP {code})", tested.message),
        None => tested.message,
    };
    Ok(DetailPage {
        chrome: Chrome::new(&post.session, "webhooks"),
        webhook: to_wire(&webhook),
        deliveries,
        tested: Some((tested.succeeded, message)),
    }
    .into_response())
}
