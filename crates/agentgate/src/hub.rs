//! The event hub: wakes request waiters and feeds event streams, from the outbox.
//!
//! Every change that matters is written to the `events` table in its own transaction, whatever path made it
//! (API, policy, expiry…). The store signals after each commit; the tailer task reads the new rows in commit
//! order and hands each to the hub, which answers or wakes the waiters of that request and broadcasts it to the
//! streams. A long poll registers a call (`watch_with`) that writes its answer as the final event is handed out.
//! Nothing publishes by hand, so no path can forget to. With several replicas, the next issue's PostgreSQL
//! `LISTEN/NOTIFY` only has to trigger the same signal.

use crate::store::{Store, StoredEvent};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Numbers the `on_final` calls, so each registration can remove its own.
    registrations: AtomicU64,
}

/// Told of a request's final event by the task handing it out (a long poll writes its answer there and then,
/// through its `connections::AnswerLine`).
pub trait FinalListener: Send + Sync {
    /// Called for each registration of the request in turn, back to back: keep it to what cannot wait.
    fn on_final(&self, event: &StoredEvent);

    /// Called for each registration once every `on_final` call of the event is done: what can wait for the
    /// others (waking the task that finishes up).
    fn after_all(&self) {}
}

impl<F: Fn(&StoredEvent) + Send + Sync> FinalListener for F {
    fn on_final(&self, event: &StoredEvent) {
        self(event);
    }
}

/// One registration's listener (a closure will do when it has nothing to put off until `after_all`).
pub type OnFinal = Box<dyn FinalListener>;

/// The waiters of one request: the channel that wakes them, and how many there are. Counted under the hub's
/// lock (not with the channel's receiver count, which changes outside it), so the last one out removes the entry.
struct Waiters {
    latest: watch::Sender<Option<Arc<StoredEvent>>>,
    count: usize,
    /// Told (and dropped) when the final event arrives, before the channel wakes anyone; in the order they
    /// registered, so the longest-waiting client is answered first.
    on_final: BTreeMap<u64, OnFinal>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            stream: broadcast::channel(STREAM_BUFFER).0,
            waiters: Mutex::default(),
            registrations: AtomicU64::new(0),
        }
    }
}

/// A registration for one request's events; dropping it unregisters.
pub struct RequestWatch {
    hub: Arc<Hub>,
    request_id: String,
    on_final: Option<u64>,
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
            } else if let Some(number) = self.on_final {
                entry.on_final.remove(&number);
            }
        }
    }
}

impl Hub {
    /// Registers interest in `request_id`. Register before reading the request, so an event committed between
    /// the read and the wait is still seen.
    pub fn watch(self: &Arc<Self>, request_id: &str) -> RequestWatch {
        self.register(request_id, None)
    }

    /// [`Hub::watch`], and `on_final` is told of the request's final event as it is handed out, before the
    /// channel wakes anyone.
    pub fn watch_with(self: &Arc<Self>, request_id: &str, on_final: OnFinal) -> RequestWatch {
        self.register(request_id, Some(on_final))
    }

    fn register(self: &Arc<Self>, request_id: &str, on_final: Option<OnFinal>) -> RequestWatch {
        let number = on_final.as_ref().map(|_| self.registrations.fetch_add(1, Ordering::Relaxed));
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = waiters.entry(request_id.to_owned()).or_insert_with(|| Waiters {
            latest: watch::channel(None).0,
            count: 0,
            on_final: BTreeMap::new(),
        });
        entry.count += 1;
        if let (Some(number), Some(call)) = (number, on_final) {
            entry.on_final.insert(number, call);
        }
        let events = entry.latest.subscribe();
        drop(waiters);
        RequestWatch { hub: self.clone(), request_id: request_id.to_owned(), on_final: number, events }
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
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            let on_final = match waiters.get_mut(id) {
                Some(entry) if event.is_final() => std::mem::take(&mut entry.on_final),
                _ => BTreeMap::new(),
            };
            if !on_final.is_empty() {
                // Called without the lock: they write to sockets, and new waiters must not wait for that.
                drop(waiters);
                for listener in on_final.values() {
                    listener.on_final(&event);
                }
                for listener in on_final.values() {
                    listener.after_all();
                }
                waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            }
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
                // Decisions this process just committed first, from memory (no read between a decision and its
                // waiters); then the outbox, for everything else.
                for event in store.take_committed_after(last) {
                    last = event.seq;
                    hub.deliver(event);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use agentgate_core::audit::event;
    use agentgate_core::timestamp::Timestamp;
    use std::sync::atomic::AtomicUsize;

    fn stored(seq: i64, event_type: &str, request_id: &str) -> StoredEvent {
        StoredEvent {
            seq,
            id: format!("evt-{seq}"),
            event_type: event_type.to_owned(),
            request_id: Some(request_id.to_owned()),
            created_at: Timestamp(0),
            body: String::new(),
            request_json: bytes::Bytes::from(format!("{{\"seq\":{seq}}}")),
        }
    }

    /// An `on_final` that counts its calls and keeps the last event's sequence number.
    fn counting() -> (OnFinal, Arc<AtomicUsize>, Arc<AtomicU64>) {
        let (calls, last) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)));
        let (c, l) = (calls.clone(), last.clone());
        let call: OnFinal = Box::new(move |event: &StoredEvent| {
            c.fetch_add(1, Ordering::SeqCst);
            l.store(event.seq as u64, Ordering::SeqCst);
        });
        (call, calls, last)
    }

    #[test]
    fn on_final_is_called_once_with_the_final_event_and_not_for_others() {
        let hub = Arc::new(Hub::default());
        let (call, calls, last) = counting();
        let mut watch = hub.watch_with("r1", call);
        hub.deliver(stored(1, event::REQUEST_CREATED, "r1"));
        hub.deliver(stored(2, event::REQUEST_APPROVED, "other"));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "neither a creation nor another request's event is final here");
        hub.deliver(stored(3, event::REQUEST_APPROVED, "r1"));
        hub.deliver(stored(4, event::REQUEST_DECIDED, "r1"));
        assert_eq!((calls.load(Ordering::SeqCst), last.load(Ordering::SeqCst)), (1, 3), "called once, first final");
        // The channel still carries the latest event to the same waiter.
        assert_eq!(watch.events.borrow_and_update().as_ref().map(|e| e.seq), Some(4));
        drop(watch);
        assert_eq!(hub.watched_requests(), 0);
    }

    #[test]
    fn the_longest_waiting_registration_is_called_first() {
        let hub = Arc::new(Hub::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let watches: Vec<RequestWatch> = (0..20)
            .map(|i| {
                let order = order.clone();
                hub.watch_with(
                    "r1",
                    Box::new(move |_: &StoredEvent| order.lock().unwrap_or_else(|p| p.into_inner()).push(i)),
                )
            })
            .collect();
        hub.deliver(stored(1, event::REQUEST_DENIED, "r1"));
        assert_eq!(*order.lock().unwrap_or_else(|p| p.into_inner()), (0..20).collect::<Vec<_>>());
        drop(watches);
    }

    /// Records `on_final` and `after_all` calls as `("final", i)` and `("after", i)`.
    struct Recording(usize, Arc<Mutex<Vec<(&'static str, usize)>>>);

    impl FinalListener for Recording {
        fn on_final(&self, _: &StoredEvent) {
            self.1.lock().unwrap_or_else(|p| p.into_inner()).push(("final", self.0));
        }

        fn after_all(&self) {
            self.1.lock().unwrap_or_else(|p| p.into_inner()).push(("after", self.0));
        }
    }

    #[test]
    fn every_registration_is_told_of_the_final_event_before_any_is_told_after_all() {
        let hub = Arc::new(Hub::default());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let watches: Vec<RequestWatch> =
            (0..3).map(|i| hub.watch_with("r1", Box::new(Recording(i, calls.clone())))).collect();
        hub.deliver(stored(1, event::REQUEST_APPROVED, "r1"));
        hub.deliver(stored(2, event::REQUEST_DECIDED, "r1"));
        let calls = calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(calls, [("final", 0), ("final", 1), ("final", 2), ("after", 0), ("after", 1), ("after", 2)]);
        drop(watches);
    }

    #[test]
    fn a_dropped_registration_is_not_called_and_the_others_are() {
        let hub = Arc::new(Hub::default());
        let (gone, gone_calls, _) = counting();
        let (kept, kept_calls, _) = counting();
        let plain = hub.watch("r1");
        let dropped = hub.watch_with("r1", gone);
        let staying = hub.watch_with("r1", kept);
        drop(dropped);
        hub.deliver(stored(7, event::REQUEST_EXPIRED, "r1"));
        assert_eq!(gone_calls.load(Ordering::SeqCst), 0);
        assert_eq!(kept_calls.load(Ordering::SeqCst), 1);
        assert_eq!(plain.events.borrow().as_ref().map(|e| e.seq), Some(7), "plain watchers are woken as before");
        drop((plain, staying));
        assert_eq!(hub.watched_requests(), 0);
    }
}
