//! The integration suite: one test binary, each test starting the real gateway on 127.0.0.1:0 with its own
//! SQLite file and talking HTTP to it. One binary keeps link time down on small machines.

mod support;

mod audit;
mod bad_input;
mod cli;
mod client;
mod concurrency;
mod dashboard;
mod keys;
mod links;
mod mcp;
mod policies;
mod policy_language;
mod process;
mod ratelimit;
mod requests;
mod scopes;
mod sdk;
mod smoke;
mod waiting;
mod webhooks;
