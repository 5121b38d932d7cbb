//! Home: what is waiting, most urgent first, with counts and the oldest wait; refreshed live.

use super::requests::RequestView;
use super::session::chrome;
use super::{Chrome, PageResult, Session, age};
use crate::app::{SharedState, now};
use crate::http::extract::QueryParams;
use crate::store::{Page, RequestFilter};
use agentgate_core::auth::Scope;
use agentgate_core::request::{RequestStatus, Urgency};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

/// Pending requests listed on the home page; the counts cover all of them.
const PENDING_SHOWN: u32 = 50;
const RECENT_SHOWN: u32 = 5;

pub struct UrgencyCount {
    pub urgency: &'static str,
    pub count: u64,
}

/// The live part of the home page.
pub struct HomeData {
    pub pending_total: u64,
    pub by_urgency: Vec<UrgencyCount>,
    pub oldest_wait: Option<String>,
    pub pending: Vec<RequestView>,
    pub recent: Vec<RequestView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    chrome: Chrome,
    data: Option<HomeData>,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html", block = "live")]
pub struct HomeFragment {
    data: Option<HomeData>,
}

fn urgency_rank(u: Urgency) -> u8 {
    match u {
        Urgency::Critical => 0,
        Urgency::High => 1,
        Urgency::Normal => 2,
        Urgency::Low => 3,
    }
}

async fn load(state: &SharedState) -> PageResult<HomeData> {
    let pending_filter = RequestFilter { status: Some(RequestStatus::Pending), ..Default::default() };
    let (mut pending, pending_total) =
        state.store.list_requests(&pending_filter, Page { limit: PENDING_SHOWN, offset: 0 }).await?;
    let mut by_urgency = Vec::with_capacity(4);
    for urgency in [Urgency::Critical, Urgency::High, Urgency::Normal, Urgency::Low] {
        let filter = RequestFilter { urgency: Some(urgency), ..pending_filter.clone() };
        let (_, count) = state.store.list_requests(&filter, Page { limit: 1, offset: 0 }).await?;
        by_urgency.push(UrgencyCount { urgency: urgency.as_str(), count });
    }
    // Lists are newest first, so the oldest pending request is the last one.
    let oldest = match pending_total {
        0 => None,
        n if n <= u64::from(PENDING_SHOWN) => pending.last().cloned(),
        n => state.store.list_requests(&pending_filter, Page { limit: 1, offset: n - 1 }).await?.0.pop(),
    };
    let now = now();
    pending.sort_by_key(|r| (urgency_rank(r.urgency), r.created_at.0));
    let (recent, _) =
        state.store.list_requests(&RequestFilter::default(), Page { limit: RECENT_SHOWN, offset: 0 }).await?;
    Ok(HomeData {
        pending_total,
        by_urgency,
        oldest_wait: oldest.map(|r| age(r.created_at, now)),
        pending: pending.iter().map(|r| RequestView::new(r, now)).collect(),
        recent: recent.iter().map(|r| RequestView::new(r, now)).collect(),
    })
}

pub async fn page(State(state): State<SharedState>, session: Session, query: QueryParams) -> PageResult<HomePage> {
    let data = if session.principal.allows(Scope::RequestRead) { Some(load(&state).await?) } else { None };
    Ok(HomePage { chrome: chrome(&session, "home", &query), data })
}

pub async fn fragment(State(state): State<SharedState>, session: Session) -> PageResult<HomeFragment> {
    super::require(&session.principal, Scope::RequestRead)?;
    Ok(HomeFragment { data: Some(load(&state).await?) })
}
