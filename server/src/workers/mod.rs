//! Background loops: each ticks, skips missed ticks, logs errors and keeps going, and stops
//! when the shutdown token is cancelled.
mod collect;
mod housekeeping;
mod staleness;

pub use collect::local_collection;
pub use housekeeping::{Retention, housekeeping};
pub use staleness::agent_staleness;
