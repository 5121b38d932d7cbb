//! The event hub: wakes request waiters and feeds event streams, from the outbox.
//!
//! Every change that matters is written to the `events` table in its own transaction, whatever path made it
//! (API, policy, expiry…). The store signals after each commit; the tailer task reads the new rows in commit
//! order and hands each to the hub, which wakes the waiters of that request and broadcasts it to the streams.
//! Nothing publishes by hand, so no path can forget to. With several replicas, the next issue's PostgreSQL
//! `LISTEN/NOTIFY` only has to trigger the same signal.

use crate::store::{Store, StoredEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How many events a slow stream may fall behind before it re-reads from the database.
const STREAM_BUFFER: usize = 4096;
/// Rows read per round by the tailer.
const TAIL_BATCH: u32 = 1000;
/// The tailer also looks every so often without a signal (a signal from another process never arrives).
const TAIL_FALLBACK: Duration = Duration::from_secs(1);

pub struct Hub {
    stream: broadcast::Sender<Arc<StoredEvent>>,
    waiters: Mutex<HashMap<String, Waiters>>,
}

/// The waiters of one request: the channel that wakes them, and how many there are. Counted under the hub's
/// lock (not with the channel's receiver count, which changes outside it), so the last one out removes the entry.
struct Waiters {
    latest: watch::Sender<Option<Arc<StoredEvent>>>,
    count: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Self { stream: broadcast::channel(STREAM_BUFFER).0, waiters: Mutex::default() }
    }
}

/// A registration for one request's events; dropping it unregisters.
pub struct RequestWatch {
    hub: Arc<Hub>,
    request_id: String,
    /// Holds the request's latest event once one arrives after registering.
    pub events: watch::Receiver<Option<Arc<StoredEvent>>>,
}

impl Drop for RequestWatch {
    fn drop(&mut self) {
        let mut waiters = self.hub.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = waiters.get_mut(&self.request_id) {
            entry.count -= 1;
            if entry.count == 0 {
                waiters.remove(&self.request_id);
            }
        }
    }
}

impl Hub {
    /// Registers interest in `request_id`. Register before reading the request, so an event committed between
    /// the read and the wait is still seen.
    pub fn watch(self: &Arc<Self>, request_id: &str) -> RequestWatch {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = waiters
            .entry(request_id.to_owned())
            .or_insert_with(|| Waiters { latest: watch::channel(None).0, count: 0 });
        entry.count += 1;
        let events = entry.latest.subscribe();
        drop(waiters);
        RequestWatch { hub: self.clone(), request_id: request_id.to_owned(), events }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.stream.subscribe()
    }

    /// Whether anyone waits on a request or follows the stream.
    fn has_listeners(&self) -> bool {
        self.stream.receiver_count() > 0 || !self.waiters.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Number of requests somebody is waiting on (for tests and metrics).
    pub fn watched_requests(&self) -> usize {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn deliver(&self, event: StoredEvent) {
        let event = Arc::new(event);
        if let Some(id) = &event.request_id {
            let waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = waiters.get(id) {
                // Waiters answer with the event's own copy of the request: no database read per waiter.
                entry.latest.send_replace(Some(event.clone()));
            }
        }
        // No subscribers is not an error.
        let _ = self.stream.send(event);
    }
}

/// Reads new outbox rows after every commit signal (and at least every second) and hands them to the hub.
/// Starts after the newest event that exists when it starts: streams catch up on history from the database.
pub async fn run_tailer(hub: Arc<Hub>, store: Arc<dyn Store>, mut stopped: watch::Receiver<bool>) {
    let signal = store.commit_signal();
    let mut last = loop {
        match store.latest_event_seq().await {
            Ok(seq) => break seq,
            Err(e) => {
                tracing::warn!(error = %e, "event tailer cannot start yet");
                tokio::select! {
                    () = tokio::time::sleep(TAIL_FALLBACK) => {},
                    _ = stopped.changed() => return,
                }
            }
        }
    };
    loop {
        // Register for the next signal before reading, so a commit during the read is not missed.
        let next_commit = signal.notified();
        tokio::pin!(next_commit);
        next_commit.as_mut().enable();
        // Nobody listening: skip the events (a cheap lookup of the newest sequence instead of reading and
        // rendering every row). Read the sequence first, then check: a listener that arrives after the check
        // registered after that read, so what it needs is either newer than `last` or already visible to it.
        let skip_to = if hub.has_listeners() {
            None
        } else {
            match store.latest_event_seq().await {
                Ok(newest) if !hub.has_listeners() => Some(newest),
                _ => None,
            }
        };
        match skip_to {
            Some(newest) => last = last.max(newest),
            None => loop {
                match store.events_after(last, TAIL_BATCH, None).await {
                    Ok(events) => {
                        let full = events.len() == TAIL_BATCH as usize;
                        for event in events {
                            last = last.max(event.seq);
                            hub.deliver(event);
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event tailer could not read the outbox");
                        break;
                    }
                }
            },
        }
        tokio::select! {
            () = &mut next_commit => {},
            () = tokio::time::sleep(TAIL_FALLBACK) => {},
            _ = stopped.changed() => return,
        }
    }
}
