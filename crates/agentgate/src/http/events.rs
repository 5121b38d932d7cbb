//! `GET /api/events`: server-sent events from the outbox, with `Last-Event-ID` resumption.
//!
//! A stream subscribes to the hub first, then replays what it missed from the `events` table (after
//! `Last-Event-ID`), then follows live events; event ids are the outbox's commit sequence, so a resumed stream
//! never skips or repeats one. A stream that falls too far behind the hub re-reads from the table.

use super::extract::{Authorized, QueryParams, ReadRequests};
use crate::app::SharedState;
use crate::error::{AppError, AppResult};
use crate::store::StoredEvent;
use agentgate_core::audit::event;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

const EVENT_TYPES: [&str; 5] = [
    event::REQUEST_CREATED,
    event::REQUEST_APPROVED,
    event::REQUEST_DENIED,
    event::REQUEST_DECIDED,
    event::REQUEST_EXPIRED,
];
const REPLAY_PAGE: u32 = 500;

struct Filter {
    request_id: Option<String>,
    types: Option<Vec<String>>,
}

impl Filter {
    fn admits(&self, event: &StoredEvent) -> bool {
        self.request_id.as_ref().is_none_or(|id| event.request_id.as_ref() == Some(id))
            && self.types.as_ref().is_none_or(|types| types.contains(&event.event_type))
    }
}

struct Cursor {
    state: SharedState,
    filter: Filter,
    /// The last sequence number sent (or skipped by the filter).
    last: i64,
    replay: VecDeque<StoredEvent>,
    caught_up: bool,
    live: tokio::sync::broadcast::Receiver<Arc<StoredEvent>>,
}

impl Cursor {
    /// The next event to send, or `None` when the stream should end.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.replay.pop_front() {
                self.last = event.seq;
                if self.filter.admits(&event) {
                    return Some(to_sse(&event));
                }
                continue;
            }
            if !self.caught_up {
                match self.state.store.events_after(self.last, REPLAY_PAGE, self.filter.request_id.as_deref()).await {
                    Ok(page) => {
                        self.caught_up = page.len() < REPLAY_PAGE as usize;
                        self.replay.extend(page);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream could not read the outbox");
                        return None;
                    }
                }
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(event) if event.seq <= self.last => continue,
                    Ok(event) => {
                        self.last = event.seq;
                        if self.filter.admits(&event) {
                            return Some(to_sse(&event));
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.caught_up = false,
                    Err(RecvError::Closed) => return None,
                },
                () = self.state.shutdown.cancelled() => return None,
            }
        }
    }
}

fn to_sse(event: &StoredEvent) -> Event {
    Event::default().id(event.seq.to_string()).event(&event.event_type).data(&event.body)
}

/// `GET /api/events?requestId=&type=request.created,request.decided`; resumes after `Last-Event-ID` (header, or
/// `lastEventId` in the query); without one, only events from now on.
pub async fn stream(
    State(state): State<SharedState>,
    _auth: Authorized<ReadRequests>,
    headers: HeaderMap,
    query: QueryParams,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    event_stream(state, &headers, &query).await
}

/// The stream itself, for whoever has already checked the caller may read requests (the API's bearer key, or a
/// dashboard session).
pub async fn event_stream(
    state: SharedState,
    headers: &HeaderMap,
    query: &QueryParams,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>> {
    let types = match query.get("type") {
        None => None,
        Some(list) => {
            let types: Vec<String> =
                list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
            if types.is_empty() || types.iter().any(|t| !EVENT_TYPES.contains(&t.as_str())) {
                return Err(AppError::bad_request(format!(
                    "type must be a comma-separated list of: {}",
                    EVENT_TYPES.join(", ")
                )));
            }
            Some(types)
        }
    };
    let filter = Filter { request_id: query.get("requestId").map(str::to_owned), types };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query.get("lastEventId"))
        .map(|text| text.trim().parse::<i64>().ok().filter(|n| *n >= 0))
        .map(|parsed| parsed.ok_or_else(|| AppError::bad_request("Last-Event-ID must be a non-negative integer")))
        .transpose()?;
    // Subscribe before reading where to start, so nothing committed in between is lost.
    let live = state.hub.subscribe();
    let last = match resume {
        Some(seq) => seq,
        None => state.store.latest_event_seq().await?,
    };
    let cursor = Cursor { state, filter, last, replay: VecDeque::new(), caught_up: resume.is_none(), live };
    let stream =
        futures::stream::unfold(
            cursor,
            |mut cursor| async move { cursor.next().await.map(|event| (Ok(event), cursor)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
