//! The live stream of each connected agent, so that revoking an agent (service) ends the
//! stream the gRPC ingest holds, and a newer stream of the same agent supersedes the older.
//! Neither owns the other: both reach this registry through the service.
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// What the service tells a live stream from outside: end it, or send the agent something.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Revoked,
    Superseded,
    /// Ask the agent for its inventory now.
    RequestInventory,
    /// A signed restart order.
    Action(Box<proto::Action>),
}

/// The live stream of each connected agent, so revocation can end it at once.
#[derive(Default)]
pub struct StreamRegistry {
    next_id: AtomicU64,
    streams: Mutex<HashMap<String, (u64, mpsc::Sender<Control>)>>,
}

impl StreamRegistry {
    pub fn register(&self, agent_id: &str) -> (u64, mpsc::Receiver<Control>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(16);
        let previous = self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent_id.to_owned(), (id, tx));
        if let Some((_, old)) = previous {
            let _ = old.try_send(Control::Superseded);
        }
        (id, rx)
    }

    /// Removes the stream if it is still the registered one; true if it was.
    pub fn unregister(&self, agent_id: &str, id: u64) -> bool {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if streams
            .get(agent_id)
            .is_some_and(|(current, _)| *current == id)
        {
            streams.remove(agent_id);
            return true;
        }
        false
    }

    /// Hands `control` to the agent's live stream; false if it has none (or it is full).
    pub fn send(&self, agent_id: &str, control: Control) -> bool {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .get(agent_id)
            .is_some_and(|(_, tx)| tx.try_send(control).is_ok())
    }

    /// Ends the agent's live stream with `Revoked`; false if it has none.
    pub fn revoke(&self, agent_id: &str) -> bool {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .get(agent_id)
            .is_some_and(|(_, tx)| tx.try_send(Control::Revoked).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_registered_again_supersedes_the_old_one() {
        let registry = StreamRegistry::default();
        let (first, mut first_rx) = registry.register("a");
        let (second, _second_rx) = registry.register("a");
        assert_eq!(first_rx.try_recv().unwrap(), Control::Superseded);
        assert!(
            !registry.unregister("a", first),
            "the old stream must not remove the new one"
        );
        assert!(registry.revoke("a"));
        assert!(registry.unregister("a", second));
        assert!(!registry.revoke("a"));
    }
}
