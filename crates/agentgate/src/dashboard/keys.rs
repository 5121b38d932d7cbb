//! API keys (admin): the list with usage, create (the secret shown once), edit, revoke; all through the API's
//! own key functions, so each change is audited the same way.

use super::session::{FormFields, chrome};
use super::{Chrome, FormPost, PageError, PageResult, Session, display_time, require};
use crate::app::SharedState;
use crate::error::AppError;
use crate::http::extract::{PathId, QueryParams};
use crate::http::keys::{create_key, list_keys, revoke_key, update_key};
use agentgate_core::Timestamp;
use agentgate_core::auth::Scope;
use agentgate_core::wire::{ApiKey, CreatedApiKey};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit: String,
    pub created: String,
    pub last_used: String,
    pub today: u64,
    pub last7: u64,
    pub last30: u64,
    pub active: bool,
}

impl KeyRow {
    fn new(k: &ApiKey) -> Self {
        let seconds = |s: i64| display_time(Timestamp(s.saturating_mul(1000)));
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.clone(),
            rate_limit: k.rate_limit.map_or("Unlimited".to_owned(), |n| format!("{n}/min")),
            created: seconds(k.created_at),
            last_used: k.last_used_at.map_or("Never".to_owned(), seconds),
            today: k.usage.today,
            last7: k.usage.last7_days,
            last30: k.usage.last30_days,
            active: k.active,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "keys.html")]
pub struct ListPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    created: Option<CreatedApiKey>,
}

/// The create/edit form as shown.
pub struct KeyForm {
    pub id: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit: String,
    pub error: Option<String>,
    pub all_scopes: Vec<&'static str>,
}

impl KeyForm {
    pub fn has(&self, scope: &&str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "key_form.html")]
pub struct FormPage {
    chrome: Chrome,
    k: KeyForm,
}

fn all_scopes() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.as_str()).collect()
}

pub async fn list(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<ListPage> {
    require(&session.principal, Scope::Admin)?;
    let keys = list_keys(&state).await?.iter().map(KeyRow::new).collect();
    Ok(ListPage { chrome: chrome(&session, "keys", &query), keys, created: None })
}

pub async fn new_form(session: Session, query: QueryParams) -> PageResult<FormPage> {
    require(&session.principal, Scope::Admin)?;
    let k = KeyForm {
        id: None,
        name: String::new(),
        scopes: vec!["request:create".into(), "request:read".into()],
        rate_limit: String::new(),
        error: None,
        all_scopes: all_scopes(),
    };
    Ok(FormPage { chrome: chrome(&session, "keys", &query), k })
}

pub async fn edit_form(
    State(state): State<SharedState>,
    session: Session,
    PathId(id): PathId,
    query: QueryParams,
) -> PageResult<FormPage> {
    require(&session.principal, Scope::Admin)?;
    let key =
        state.store.get_api_key(&id).await?.ok_or(PageError::App(AppError::NotFound("API key not found".into())))?;
    let k = KeyForm {
        id: Some(key.id),
        name: key.name,
        scopes: key.scopes,
        rate_limit: key.rate_limit.map(|n| n.to_string()).unwrap_or_default(),
        error: None,
        all_scopes: all_scopes(),
    };
    Ok(FormPage { chrome: chrome(&session, "keys", &query), k })
}

fn form_from_fields(id: Option<String>, fields: &FormFields) -> KeyForm {
    KeyForm {
        id,
        name: fields.raw("name").to_owned(),
        scopes: fields.all("scopes").into_iter().map(str::to_owned).collect(),
        rate_limit: fields.raw("rateLimit").to_owned(),
        error: None,
        all_scopes: all_scopes(),
    }
}

/// The API body of a form; an empty rate limit means unlimited.
fn key_body(form: &KeyForm) -> Result<Map<String, Value>, AppError> {
    let rate_limit = match form.rate_limit.trim() {
        "" => Value::Null,
        text => json!(
            text.parse::<u64>().map_err(|_| AppError::bad_request("rateLimit must be a positive integer or empty"))?
        ),
    };
    let mut body = Map::new();
    body.insert("name".into(), json!(form.name));
    body.insert("scopes".into(), json!(form.scopes));
    body.insert("rateLimit".into(), rate_limit);
    Ok(body)
}

fn refused(session: &Session, mut form: KeyForm, e: AppError) -> PageResult<Response> {
    let (status, message) = e.status_and_message();
    if status.is_server_error() || status == StatusCode::NOT_FOUND {
        return Err(PageError::App(e));
    }
    form.error = Some(message);
    Ok((status, FormPage { chrome: Chrome::new(session, "keys"), k: form }).into_response())
}

/// Creates a key and shows the list with its secret, this once (not a redirect: the secret is never in a URL).
pub async fn create(State(state): State<SharedState>, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    let form = form_from_fields(None, &post.fields);
    let created = match key_body(&form) {
        Ok(body) => create_key(&state, &post.session.principal, body).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(created) => {
            let keys = list_keys(&state).await?.iter().map(KeyRow::new).collect();
            let page = ListPage { chrome: Chrome::new(&post.session, "keys"), keys, created: Some(created) };
            Ok((StatusCode::CREATED, page).into_response())
        }
        Err(e) => refused(&post.session, form, e),
    }
}

pub async fn save(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    let form = form_from_fields(Some(id.clone()), &post.fields);
    let saved = match key_body(&form) {
        Ok(body) => update_key(&state, &post.session.principal, &id, body).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(Redirect::to("/dashboard/keys?notice=key-saved").into_response()),
        Err(e) => refused(&post.session, form, e),
    }
}

pub async fn revoke(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    revoke_key(&state, &post.session.principal, &id).await?;
    Ok(Redirect::to("/dashboard/keys?notice=key-revoked").into_response())
}
