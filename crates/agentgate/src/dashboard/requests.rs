//! Requests: the filtered list, one request's detail, and deciding it (through the API's own `decide_as`).

use super::session::chrome;
use super::{Chrome, FormPost, PageError, PageResult, Pager, Session, age, display_time, pretty_json, query_string};
use crate::app::{SharedState, now};
use crate::error::AppError;
use crate::http::extract::{PathId, QueryParams};
use crate::http::requests::{decide_as, request_not_found};
use crate::store::RequestFilter;
use agentgate_core::Timestamp;
use agentgate_core::auth::Scope;
use agentgate_core::request::{RequestStatus, Urgency, Verdict};
use agentgate_core::wire::{ApprovalRequest, AuditEntry};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

const PAGE_SIZE: u32 = 25;

/// A request as the pages show it.
#[derive(Clone)]
pub struct RequestView {
    pub id: String,
    pub action: String,
    pub status: &'static str,
    pub urgency: &'static str,
    pub created: String,
    pub created_iso: String,
    pub age: String,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

impl RequestView {
    pub fn new(r: &ApprovalRequest, now: Timestamp) -> Self {
        Self {
            id: r.id.clone(),
            action: r.action.clone(),
            status: r.status.as_str(),
            urgency: r.urgency.as_str(),
            created: display_time(r.created_at),
            created_iso: r.created_at.to_iso(),
            age: age(r.created_at, now),
            decided_by: r.decided_by.clone(),
            decision_reason: r.decision_reason.clone(),
        }
    }

    pub fn is_pending(&self) -> bool {
        self.status == "pending"
    }
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct ListData {
    pub requests: Vec<RequestView>,
    pub pager: Pager,
    /// The URL this list's fragment refreshes from.
    pub live_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "requests.html")]
pub struct ListPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    action: String,
    urgency: String,
    status: String,
    urgencies: [&'static str; 4],
    data: ListData,
}

#[derive(Template, WebTemplate)]
#[template(path = "requests.html", block = "table")]
pub struct ListFragment {
    data: ListData,
}

const URGENCIES: [&str; 4] = ["critical", "high", "normal", "low"];

async fn load_list(state: &SharedState, query: &QueryParams) -> PageResult<(ListData, Vec<Tab>, [String; 3])> {
    let page = query.page(PAGE_SIZE, 100)?;
    let status = query.parse_enum::<RequestStatus>("status", "pending, approved, denied, expired")?;
    let urgency = query.parse_enum::<Urgency>("urgency", "low, normal, high, critical")?;
    let action = query.get("action").map(str::to_owned);
    let filter = RequestFilter { status, action: action.clone(), urgency };
    let (requests, total) = state.store.list_requests(&filter, page).await?;
    let now = now();
    let status_text = status.map(RequestStatus::as_str);
    let urgency_text = urgency.map(Urgency::as_str);
    let base = query_string(&[("status", status_text), ("action", action.as_deref()), ("urgency", urgency_text)]);
    let tabs = [("All", None), ("Pending", Some("pending")), ("Approved", Some("approved"))]
        .into_iter()
        .chain([("Denied", Some("denied")), ("Expired", Some("expired"))])
        .map(|(label, value)| Tab {
            label,
            href: format!(
                "/dashboard/requests?{}",
                query_string(&[("status", value), ("action", action.as_deref()), ("urgency", urgency_text)])
            ),
            current: value == status_text,
        })
        .collect();
    let data = ListData {
        requests: requests.iter().map(|r| RequestView::new(r, now)).collect(),
        pager: Pager::new(&base, page.offset, page.limit, requests.len(), total),
        live_url: format!(
            "/dashboard/fragments/requests?{base}{}offset={}",
            if base.is_empty() { "" } else { "&" },
            page.offset
        ),
    };
    let fields =
        [action.unwrap_or_default(), urgency_text.unwrap_or("").to_owned(), status_text.unwrap_or("").to_owned()];
    Ok((data, tabs, fields))
}

pub async fn list(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<ListPage> {
    super::require(&session.principal, Scope::RequestRead)?;
    let (data, tabs, [action, urgency, status]) = load_list(&state, &query).await?;
    Ok(ListPage {
        chrome: chrome(&session, "requests", &query),
        tabs,
        action,
        urgency,
        status,
        urgencies: URGENCIES,
        data,
    })
}

pub async fn list_fragment(
    State(state): State<SharedState>,
    session: Session,
    query: QueryParams,
) -> PageResult<ListFragment> {
    super::require(&session.principal, Scope::RequestRead)?;
    let (data, _, _) = load_list(&state, &query).await?;
    Ok(ListFragment { data })
}

pub struct TimelineEntry {
    pub label: &'static str,
    pub when: String,
    pub iso: String,
}

pub struct AuditView {
    pub when: String,
    pub iso: String,
    pub event: String,
    pub actor: String,
    pub details: String,
}

impl AuditView {
    pub fn new(e: &AuditEntry) -> Self {
        Self {
            when: display_time(e.created_at),
            iso: e.created_at.to_iso(),
            event: e.event_type.clone(),
            actor: e.actor.clone(),
            details: if e.details.is_null() { String::new() } else { e.details.to_string() },
        }
    }
}

/// Everything the detail page shows of one request.
pub struct Detail {
    pub request: RequestView,
    /// Whether this session may decide it now (scope, pending, not past its expiry).
    pub decidable: bool,
    pub require_reason: bool,
    pub approvers: Option<Vec<String>>,
    pub params: String,
    pub context: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    pub audit: Vec<AuditView>,
    /// Why the last decision attempt was refused, shown in place.
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "request.html")]
pub struct DetailPage {
    chrome: Chrome,
    d: Detail,
}

#[derive(Template, WebTemplate)]
#[template(path = "request.html", block = "summary")]
pub struct SummaryFragment {
    chrome: Chrome,
    d: Detail,
}

async fn load_detail(state: &SharedState, session: &Session, id: &str) -> PageResult<Detail> {
    let request = state.store.get_request(id).await?.ok_or_else(request_not_found)?;
    let audit = state.store.request_audit(id).await?.unwrap_or_default();
    let now = now();
    let mut timeline = vec![TimelineEntry {
        label: "Created",
        when: display_time(request.created_at),
        iso: request.created_at.to_iso(),
    }];
    let mut push = |label, t: Option<Timestamp>| {
        if let Some(t) = t {
            timeline.push(TimelineEntry { label, when: display_time(t), iso: t.to_iso() });
        }
    };
    push("Updated", Some(request.updated_at));
    push("Decided", request.decided_at);
    push("Expires", request.expires_at.filter(|_| request.status == RequestStatus::Pending));
    let overdue = request.expires_at.is_some_and(|at| at <= now);
    let context =
        (!request.context.as_object().is_some_and(serde_json::Map::is_empty)).then(|| pretty_json(&request.context));
    Ok(Detail {
        decidable: session.principal.allows(Scope::RequestDecide)
            && request.status == RequestStatus::Pending
            && !overdue,
        require_reason: request.require_reason,
        approvers: request.approvers.clone(),
        params: pretty_json(&request.params),
        context,
        timeline,
        audit: audit.iter().map(AuditView::new).collect(),
        request: RequestView::new(&request, now),
        error: None,
    })
}

pub async fn detail(
    State(state): State<SharedState>,
    session: Session,
    PathId(id): PathId,
    query: QueryParams,
) -> PageResult<DetailPage> {
    super::require(&session.principal, Scope::RequestRead)?;
    let d = load_detail(&state, &session, &id).await?;
    Ok(DetailPage { chrome: chrome(&session, "requests", &query), d })
}

pub async fn summary_fragment(
    State(state): State<SharedState>,
    session: Session,
    PathId(id): PathId,
    query: QueryParams,
) -> PageResult<SummaryFragment> {
    super::require(&session.principal, Scope::RequestRead)?;
    let d = load_detail(&state, &session, &id).await?;
    Ok(SummaryFragment { chrome: chrome(&session, "requests", &query), d })
}

/// A decision from the detail page's form (or its modal). Refusals (reason required, already decided, not an
/// approver) come back as the page with the reason in place.
pub async fn decide(State(state): State<SharedState>, PathId(id): PathId, form: FormPost) -> PageResult<Response> {
    let session = form.session;
    super::require(&session.principal, Scope::RequestDecide)?;
    let verdict = match form.fields.get("decision") {
        Some("approved") => Verdict::Approved,
        Some("denied") => Verdict::Denied,
        _ => return Err(PageError::App(AppError::bad_request("decision must be 'approved' or 'denied'"))),
    };
    let reason = form.fields.get("reason").map(str::to_owned);
    match decide_as(&state, &session.principal, id.clone(), verdict, reason, Some("dashboard".to_owned())).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/dashboard/requests/{}?notice=decided", super::urlencode(&id))).into_response())
        }
        Err(e @ (AppError::BadRequest(_) | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            let (status, message) = e.status_and_message();
            let mut d = load_detail(&state, &session, &id).await?;
            d.error = Some(message);
            let chrome = Chrome::new(&session, "requests");
            Ok((status, DetailPage { chrome, d }).into_response())
        }
        Err(e) => Err(PageError::App(e)),
    }
}
