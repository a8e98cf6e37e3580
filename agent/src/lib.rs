//! The Vantage agent: host collectors and (later) the stream client.
//!
//! The collectors are pure parsers over `/proc` text plus a small [`collect::HostCollector`]
//! that reads the files, keeps the previous counters and turns them into rates.
#![forbid(unsafe_code)]

pub mod collect;
