//! The audit log: the API's filters (event type, action, actor, status, date range) as a form, pages, and the
//! same selection as CSV.

use super::session::chrome;
use super::{Chrome, PageResult, Pager, Session, display_time, query_string};
use crate::app::SharedState;
use crate::error::AppError;
use crate::http::audit::audit_filter;
use crate::http::extract::QueryParams;
use crate::store::Page;
use agentgate_core::auth::Scope;
use agentgate_core::wire::AuditEntry;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const PAGE_SIZE: u32 = 25;
/// Most rows one CSV export holds (newest first), read a page at a time.
const CSV_MAX_ROWS: u64 = 10_000;
const CSV_PAGE: u32 = 500;

pub struct EntryView {
    pub when: String,
    pub iso: String,
    pub event: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub action: Option<String>,
    pub status: Option<&'static str>,
}

impl EntryView {
    fn new(e: &AuditEntry) -> Self {
        let request = e.request.clone().flatten();
        Self {
            when: display_time(e.created_at),
            iso: e.created_at.to_iso(),
            event: e.event_type.clone(),
            actor: e.actor.clone(),
            request_id: e.request_id.clone(),
            action: request.as_ref().map(|r| r.action.clone()),
            status: request.map(|r| r.status.as_str()),
        }
    }
}

/// The filter form's current values and choices.
pub struct Filters {
    pub event_type: String,
    pub action: String,
    pub actor: String,
    pub status: String,
    pub from: String,
    pub to: String,
    pub event_types: Vec<&'static str>,
    pub actions: Vec<String>,
    pub actors: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    chrome: Chrome,
    f: Filters,
    entries: Vec<EntryView>,
    pager: Pager,
    csv_href: String,
    error: Option<String>,
}

fn filter_query(query: &QueryParams) -> String {
    query_string(&["eventType", "action", "actor", "status", "from", "to"].map(|k| (k, query.get(k))))
}

pub async fn page(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<Response> {
    super::require(&session.principal, Scope::RequestRead)?;
    let value = |k: &str| query.get(k).unwrap_or("").to_owned();
    let f = Filters {
        event_type: value("eventType"),
        action: value("action"),
        actor: value("actor"),
        status: value("status"),
        from: value("from"),
        to: value("to"),
        event_types: agentgate_core::audit::ALL.to_vec(),
        actions: state.store.audit_actions().await?,
        actors: state.store.audit_actors().await?,
    };
    let base = filter_query(&query);
    let csv_href = format!("/dashboard/audit.csv{}{base}", if base.is_empty() { "" } else { "?" });
    let chrome = chrome(&session, "audit", &query);
    // A bad filter (a date range backwards, say) is shown above the form, with the form as it was sent.
    let selection = query.page(PAGE_SIZE, 100).and_then(|page| Ok((page, audit_filter(&query)?)));
    let (page, filter) = match selection {
        Ok(selection) => selection,
        Err(e) => {
            let (status, message) = e.status_and_message();
            let pager = Pager::new(&base, 0, PAGE_SIZE, 0, 0);
            let page = AuditPage { chrome, f, entries: Vec::new(), pager, csv_href, error: Some(message) };
            return Ok((status, page).into_response());
        }
    };
    let (entries, total) = state.store.list_audit(&filter, page).await?;
    let pager = Pager::new(&base, page.offset, page.limit, entries.len(), total);
    let entries = entries.iter().map(EntryView::new).collect();
    Ok(AuditPage { chrome, f, entries, pager, csv_href, error: None }.into_response())
}

/// Spreadsheets run cells that start with these as formulas; a leading `'` keeps them text.
fn csv_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

pub async fn csv(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<Response> {
    super::require(&session.principal, Scope::RequestRead)?;
    let filter = audit_filter(&query)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(format!("writing CSV: {e}"));
    writer.write_record(["timestamp", "event", "actor", "request_id", "action", "status", "details"]).map_err(io)?;
    let mut offset = 0;
    while offset < CSV_MAX_ROWS {
        let (entries, _) = state.store.list_audit(&filter, Page { limit: CSV_PAGE, offset }).await?;
        for e in &entries {
            let request = e.request.clone().flatten();
            let details = if e.details.is_null() { String::new() } else { e.details.to_string() };
            writer
                .write_record([
                    e.created_at.to_iso(),
                    csv_cell(&e.event_type),
                    csv_cell(&e.actor),
                    csv_cell(e.request_id.as_deref().unwrap_or("")),
                    csv_cell(request.as_ref().map_or("", |r| r.action.as_str())),
                    request.map_or("", |r| r.status.as_str()).to_owned(),
                    csv_cell(&details),
                ])
                .map_err(io)?;
        }
        if entries.len() < CSV_PAGE as usize {
            break;
        }
        offset += u64::from(CSV_PAGE);
    }
    let body = writer.into_inner().map_err(|e| AppError::Internal(format!("writing CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"agentgate-audit.csv\"")),
        ],
        body,
    )
        .into_response())
}
