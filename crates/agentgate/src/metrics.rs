//! Prometheus metrics, served at `GET /metrics`.
//!
//! Each gateway keeps its own [`Metrics`] (in `AppState`, not a process-wide registry), so several gateways in
//! one process (the tests) never count into each other. Labels are closed sets: the route label is axum's
//! matched route pattern (`/api/requests/{id}`), never the raw path, so ids cannot blow up the series count.
//!
//! Counters and histograms are updated where things happen (the HTTP layer, the one decision path, the webhook
//! worker, the limiter). Gauges that describe stored state (pending requests, the delivery queue) are read from
//! the database when scraped, so every replica reports the same truth instead of its own partial view.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// Who or what made a decision (`agentgate_decisions_total{source}`).
pub mod source {
    /// A policy rule, at creation.
    pub const POLICY: &str = "policy";
    /// A person through the API (or a client built on it: CLI, SDKs, MCP).
    pub const HUMAN: &str = "human";
    /// A one-click decision link.
    pub const LINK: &str = "link";
    /// A chat channel (Slack, Discord buttons).
    pub const CHANNEL: &str = "channel";
    /// The expiry sweeper.
    pub const EXPIRY: &str = "expiry";
}

/// Outcomes of one delivery attempt (`agentgate_deliveries_total{outcome}`).
pub mod outcome {
    pub const DELIVERED: &str = "delivered";
    /// Failed, and will be tried again.
    pub const RETRYING: &str = "retrying";
    /// Failed for the last time.
    pub const FAILED: &str = "failed";
}

/// The channel label of webhook deliveries.
pub const WEBHOOK: &str = "webhook";

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    decisions: IntCounterVec,
    time_to_decision: HistogramVec,
    deliveries: IntCounterVec,
    rate_limited: IntCounter,
    retention_deleted: IntCounterVec,
    pending_requests: IntGaugeVec,
    delivery_queue: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // The names and label sets below are fixed at compile time, so building them cannot fail at run time;
        // a mistake here fails every test that starts a gateway.
        fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
            registry.register(Box::new(c.clone())).expect("metric names are unique and valid");
            c
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(&registry, IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"))
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            register(&registry, IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge"))
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let opts = HistogramOpts::new(name, help).buckets(buckets);
            register(&registry, HistogramVec::new(opts, labels).expect("valid histogram"))
        };
        Self {
            http_requests: counter(
                "agentgate_http_requests_total",
                "HTTP requests answered, by method, route pattern and status.",
                &["method", "route", "status"],
            ),
            http_duration: histogram(
                "agentgate_http_request_duration_seconds",
                "Time to answer an HTTP request (to the response head), by method, route pattern and status.",
                &["method", "route", "status"],
                vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
            ),
            decisions: counter(
                "agentgate_decisions_total",
                "Requests decided or expired, by source (policy, human, link, channel, expiry) and outcome.",
                &["source", "outcome"],
            ),
            time_to_decision: histogram(
                "agentgate_time_to_decision_seconds",
                "Time from a request's creation to its decision, by source.",
                &["source"],
                vec![0.1, 1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4.0 * 3600.0, 86_400.0, 7.0 * 86_400.0],
            ),
            deliveries: counter(
                "agentgate_deliveries_total",
                "Delivery attempts, by channel (webhook, slack, discord, email) and outcome (delivered, retrying, \
                 failed).",
                &["channel", "outcome"],
            ),
            rate_limited: register(
                &registry,
                IntCounter::new(
                    "agentgate_rate_limit_rejections_total",
                    "Requests refused with 429 by the per-key rate limit.",
                )
                .expect("valid counter"),
            ),
            retention_deleted: counter(
                "agentgate_retention_deleted_total",
                "Rows deleted by the retention sweeper, by kind (decision_tokens, deliveries, audit).",
                &["kind"],
            ),
            pending_requests: gauge(
                "agentgate_pending_requests",
                "Requests waiting for a decision, by urgency (read from the database at scrape time).",
                &["urgency"],
            ),
            delivery_queue: gauge(
                "agentgate_delivery_queue_depth",
                "Deliveries waiting to be sent or retried, by channel (read from the database at scrape time).",
                &["channel"],
            ),
            registry,
        }
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }

    /// A decision (or expiry) by `source`, `outcome` being the new status; `waited` is the time since the
    /// request's creation, when known.
    pub fn decision(&self, source: &str, outcome: &str, waited: Option<Duration>) {
        self.decisions.with_label_values(&[source, outcome]).inc();
        if let Some(waited) = waited {
            self.time_to_decision.with_label_values(&[source]).observe(waited.as_secs_f64());
        }
    }

    /// A decided request, by `source`: its outcome and how long it waited since creation.
    pub fn decided(&self, source: &str, request: &agentgate_core::wire::ApprovalRequest) {
        let waited =
            request.decided_at.map(|at| Duration::from_millis(u64::try_from(at.0 - request.created_at.0).unwrap_or(0)));
        self.decision(source, request.status.as_str(), waited);
    }

    /// Decisions counted without a time (the expiry sweeper knows how many, not since when).
    pub fn decisions(&self, source: &str, outcome: &str, count: u64) {
        self.decisions.with_label_values(&[source, outcome]).inc_by(count);
    }

    /// One delivery attempt's outcome on `channel` (`webhook`, `slack`, …): see [`outcome`].
    pub fn delivery_outcome(&self, channel: &str, outcome: &str) {
        self.deliveries.with_label_values(&[channel, outcome]).inc();
    }

    /// Counts one attempt of a webhook or channel notification by what became of it.
    pub fn delivery_attempted(&self, channel: &str, status: agentgate_core::webhook::DeliveryStatus) {
        use agentgate_core::webhook::DeliveryStatus;
        let outcome = match status {
            DeliveryStatus::Success => outcome::DELIVERED,
            DeliveryStatus::Pending => outcome::RETRYING,
            DeliveryStatus::Failed => outcome::FAILED,
        };
        self.delivery_outcome(channel, outcome);
    }

    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub fn retention_deleted(&self, kind: &str, rows: u64) {
        self.retention_deleted.with_label_values(&[kind]).inc_by(rows);
    }

    /// Sets the stored-state gauges (at scrape time). Every urgency is set, so one that drops to zero reads 0
    /// instead of keeping its last value.
    pub fn set_pending(&self, counts: &[(agentgate_core::request::Urgency, u64)]) {
        for urgency in agentgate_core::request::Urgency::ALL {
            let n = counts.iter().find(|(u, _)| *u == urgency).map_or(0, |(_, n)| *n);
            self.pending_requests.with_label_values(&[urgency.as_str()]).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn set_queue_depth(&self, channel: &str, depth: u64) {
        self.delivery_queue.with_label_values(&[channel]).set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on a metric the registry itself rejected at registration.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
