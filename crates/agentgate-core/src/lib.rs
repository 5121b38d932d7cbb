//! AgentGate's domain, free of I/O.
//!
//! - [`request`]: approval requests, their statuses and the lifecycle rules that say what may happen next.
//! - [`policy`]: the policy language, its validation and the engine that turns a request into a decision.
//! - [`audit`]: the kinds of audit-trail entries and outbox events.
//! - [`auth`]: API-key scopes and what each one allows.
//! - [`overrides`]: temporary "needs a human" rules for an agent, which only ever make outcomes stricter.
//! - [`routing`]: which channels (Slack, Discord, e-mail, webhook) hear about a request.
//! - [`webhook`]: which events a webhook may subscribe to, and the retry schedule of failed deliveries.
//! - [`net`]: SSRF rules: which hosts and addresses an outbound webhook may reach.
//! - [`wire`]: the JSON shapes of the HTTP API, shared by the server and the client crate.
//! - [`timestamp`]: millisecond timestamps and their ISO-8601 wire form.
//!
//! Nothing here reads a clock, a socket or a file: callers pass `now` and ids in, so every rule is a pure
//! function that tests, benchmarks and fuzzers can call directly.

pub mod audit;
pub mod auth;
pub mod net;
pub mod overrides;
pub mod policy;
pub mod request;
pub mod routing;
pub mod timestamp;
pub mod webhook;
pub mod wire;

pub use timestamp::Timestamp;
