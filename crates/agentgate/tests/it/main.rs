//! The integration suite: one test binary, each test starting the real gateway on 127.0.0.1:0 with its own
//! database and talking HTTP to it. One binary keeps link time down on small machines.
//!
//! Every test runs on SQLite (a file of its own). With `AGENTGATE_TEST_DATABASE_URL` set, `every_test_on_postgres`
//! runs this whole binary a second time with `AGENTGATE_TEST_BACKEND=postgres`, where each test gets a PostgreSQL
//! database of its own instead.

mod support;

mod audit;
mod bad_input;
mod channels;
mod cli;
mod client;
mod concurrency;
mod dashboard;
mod keys;
mod links;
mod long_poll;
mod mcp;
mod ops;
mod ops_schemathesis;
mod policies;
mod policy_language;
mod postgres;
mod process;
mod ratelimit;
mod requests;
mod scopes;
mod sdk;
mod sdk_python;
mod sdk_typescript;
mod smoke;
mod waiting;
mod webhooks;
