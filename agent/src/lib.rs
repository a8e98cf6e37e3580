//! The Vantage agent: host collectors, its identity, and the stream client.
#![forbid(unsafe_code)]

pub mod actions;
pub mod certs;
pub mod collect;
pub mod docker;
pub mod eat;
pub mod exposition;
pub mod files;
pub mod identity;
pub mod install;
pub mod inventory;
pub mod metrics;
pub mod run;
pub mod spool;
pub mod stream;
pub mod tlog;
pub mod units;
