//! oauth-harness: conformance and load testing for OAuth 2.0 authorization servers, with a
//! built-in reference server that behaves like Noorle's documented API and the RFCs.
//!
//! See `ARCHITECTURE.md` for the map of modules and how data flows between them.

pub mod assert;
pub mod cli;
pub mod client;
pub mod clock;
pub mod compat;
pub mod contract;
pub mod coverage;
pub mod dpop;
pub mod endpoint;
pub mod exit;
pub mod jose;
pub mod keys;
pub mod load;
pub mod mutate;
pub mod oauth;
pub mod polling;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod secret;
pub mod server;
pub mod smoke;
pub mod snapshot;
