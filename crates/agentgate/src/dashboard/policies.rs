//! Policies (admin): the list, a form to create or edit one (validated by the API's own code, errors shown in
//! place), enable/disable, and simulating a request against the draft in the form.

use super::session::{FormFields, chrome};
use super::{Chrome, FormPost, PageError, PageResult, Session, display_time, pretty_json, require, urlencode};
use crate::app::SharedState;
use crate::error::AppError;
use crate::http::extract::{PathId, QueryParams};
use crate::http::policies::{create_policy, replace_policy, simulate_body};
use crate::store::Page;
use agentgate_core::auth::Scope;
use agentgate_core::wire::Policy;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

const LIST_LIMIT: u32 = 100;
const EXAMPLE_RULES: &str = r#"[
  { "match": { "action": "send_email" }, "decision": "route_to_human" }
]"#;
const EXAMPLE_REQUEST: &str = r#"{ "action": "send_email", "urgency": "normal", "params": {} }"#;

pub struct PolicyRow {
    pub id: String,
    pub name: String,
    pub priority: i64,
    pub enabled: bool,
    pub rules: usize,
    pub version: i64,
    pub updated: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "policies.html")]
pub struct ListPage {
    chrome: Chrome,
    policies: Vec<PolicyRow>,
    total: u64,
}

/// The editor's fields as shown (what was typed, even when invalid).
pub struct PolicyForm {
    pub id: Option<String>,
    pub name: String,
    pub priority: String,
    pub enabled: bool,
    pub rules: String,
    pub request: String,
    pub error: Option<String>,
    /// The simulation's outcome: the decision and the explanation as JSON.
    pub simulation: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "policy_form.html")]
pub struct FormPage {
    chrome: Chrome,
    p: PolicyForm,
}

pub async fn list(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<ListPage> {
    require(&session.principal, Scope::Admin)?;
    let (policies, total) = state.store.list_policies(Page { limit: LIST_LIMIT, offset: 0 }).await?;
    let policies = policies
        .into_iter()
        .map(|p| PolicyRow {
            rules: p.rules.len(),
            updated: display_time(p.updated_at),
            id: p.id,
            name: p.name,
            priority: p.priority,
            enabled: p.enabled,
            version: p.version,
        })
        .collect();
    Ok(ListPage { chrome: chrome(&session, "policies", &query), policies, total })
}

pub async fn new_form(session: Session, query: QueryParams) -> PageResult<FormPage> {
    require(&session.principal, Scope::Admin)?;
    let p = PolicyForm {
        id: None,
        name: String::new(),
        priority: "100".into(),
        enabled: true,
        rules: EXAMPLE_RULES.into(),
        request: EXAMPLE_REQUEST.into(),
        error: None,
        simulation: None,
    };
    Ok(FormPage { chrome: chrome(&session, "policies", &query), p })
}

fn not_found() -> PageError {
    PageError::App(AppError::NotFound("Policy not found".into()))
}

pub async fn edit_form(
    State(state): State<SharedState>,
    session: Session,
    PathId(id): PathId,
    query: QueryParams,
) -> PageResult<FormPage> {
    require(&session.principal, Scope::Admin)?;
    let policy = state.store.get_policy(&id).await?.ok_or_else(not_found)?;
    Ok(FormPage { chrome: chrome(&session, "policies", &query), p: form_of(&policy) })
}

fn form_of(policy: &Policy) -> PolicyForm {
    PolicyForm {
        id: Some(policy.id.clone()),
        name: policy.name.clone(),
        priority: policy.priority.to_string(),
        enabled: policy.enabled,
        rules: serde_json::to_string_pretty(&policy.rules).unwrap_or_default(),
        request: EXAMPLE_REQUEST.into(),
        error: None,
        simulation: None,
    }
}

fn form_from_fields(id: Option<String>, fields: &FormFields) -> PolicyForm {
    PolicyForm {
        id,
        name: fields.raw("name").to_owned(),
        priority: fields.raw("priority").to_owned(),
        enabled: fields.checked("enabled"),
        rules: fields.raw("rules").to_owned(),
        request: fields.get("request").unwrap_or(EXAMPLE_REQUEST).to_owned(),
        error: None,
        simulation: None,
    }
}

/// The API body a form stands for. Text that is not JSON (rules) or not a number (priority) is a 400 naming
/// the field; everything else is left to `PolicySpec::from_json`.
fn policy_body(form: &PolicyForm) -> Result<Value, AppError> {
    let rules: Value = serde_json::from_str(&form.rules)
        .map_err(|e| AppError::bad_request(format!("rules is not valid JSON: {e}")))?;
    let priority = match form.priority.trim() {
        "" => Value::Null,
        text => json!(text.parse::<i64>().map_err(|_| AppError::bad_request("priority must be an integer"))?),
    };
    Ok(json!({ "name": form.name, "priority": priority, "enabled": form.enabled, "rules": rules }))
}

/// The form again, with the refusal in place (status 400 for a validation error).
fn refused(session: &Session, mut form: PolicyForm, e: AppError) -> PageResult<Response> {
    let (status, message) = e.status_and_message();
    if status.is_server_error() {
        return Err(PageError::App(e));
    }
    form.error = Some(message);
    Ok((status, FormPage { chrome: Chrome::new(session, "policies"), p: form }).into_response())
}

pub async fn create(State(state): State<SharedState>, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    let form = form_from_fields(None, &post.fields);
    let created = match policy_body(&form) {
        Ok(body) => create_policy(&state, &post.session.principal, &body).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(_) => Ok(Redirect::to("/dashboard/policies?notice=policy-saved").into_response()),
        Err(e) => refused(&post.session, form, e),
    }
}

pub async fn save(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    let form = form_from_fields(Some(id.clone()), &post.fields);
    let saved = match policy_body(&form) {
        Ok(body) => replace_policy(&state, &post.session.principal, &id, &body).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(Redirect::to("/dashboard/policies?notice=policy-saved").into_response()),
        Err(e @ AppError::NotFound(_)) => Err(PageError::App(e)),
        Err(e) => refused(&post.session, form, e),
    }
}

pub async fn toggle(State(state): State<SharedState>, PathId(id): PathId, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    let policy = state.store.get_policy(&id).await?.ok_or_else(not_found)?;
    let body =
        json!({ "name": policy.name, "rules": policy.rules, "priority": policy.priority, "enabled": !policy.enabled });
    replace_policy(&state, &post.session.principal, &id, &body).await?;
    let notice = if policy.enabled { "policy-disabled" } else { "policy-enabled" };
    Ok(Redirect::to(&format!("/dashboard/policies?notice={}", urlencode(notice))).into_response())
}

/// Evaluates the form's request against the form's draft policy alone (nothing is stored), and shows the form
/// again with the outcome.
pub async fn simulate(State(state): State<SharedState>, post: FormPost) -> PageResult<Response> {
    require(&post.session.principal, Scope::Admin)?;
    let id = post.fields.get("id").map(str::to_owned);
    let mut form = form_from_fields(id, &post.fields);
    let outcome = async {
        let draft = policy_body(&form)?;
        let request: Value = serde_json::from_str(&form.request)
            .map_err(|e| AppError::bad_request(format!("request is not valid JSON: {e}")))?;
        let body = json!({ "request": request, "policies": [draft] });
        let Value::Object(body) = body else { return Err(AppError::Internal("simulate body".into())) };
        simulate_body(&state, body).await
    }
    .await;
    match outcome {
        Ok(result) => {
            let first = &result["results"][0];
            let decision = first["decision"].as_str().unwrap_or("").to_owned();
            form.simulation = Some((decision, pretty_json(first)));
            Ok((StatusCode::OK, FormPage { chrome: Chrome::new(&post.session, "policies"), p: form }).into_response())
        }
        Err(e) => refused(&post.session, form, e),
    }
}
