//! Live event streams (SSE) by the credential that opened them, so revoking an API token,
//! ending a session or disabling a user ends their streams at once.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Every open live stream, under each of its keys (`session:…`, `token:…`, `user:…`).
#[derive(Default)]
pub struct Subscriptions {
    next_id: AtomicU64,
    by_key: Mutex<HashMap<String, Vec<(u64, CancellationToken)>>>,
}

/// One open stream: cancelled when any of its keys is ended; forgotten when dropped.
pub struct Subscription {
    registry: Arc<Subscriptions>,
    id: u64,
    keys: Vec<String>,
    /// Cancelled when the stream must end.
    pub ended: CancellationToken,
}

impl Subscriptions {
    /// Registers a stream under `keys`.
    pub fn open(self: &Arc<Self>, keys: Vec<String>) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        let mut by_key = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            by_key
                .entry(key.clone())
                .or_default()
                .push((id, ended.clone()));
        }
        Subscription {
            registry: self.clone(),
            id,
            keys,
            ended,
        }
    }

    /// Ends every stream opened under `key`; returns how many.
    pub fn end(&self, key: &str) -> usize {
        let streams = self
            .by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .unwrap_or_default();
        for (_, token) in &streams {
            token.cancel();
        }
        streams.len()
    }

    /// Streams open now.
    pub fn len(&self) -> usize {
        let by_key = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<u64> = by_key.values().flatten().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// True when no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut by_key = self
            .registry
            .by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for key in &self.keys {
            if let Some(list) = by_key.get_mut(key) {
                list.retain(|(id, _)| *id != self.id);
                if list.is_empty() {
                    by_key.remove(key);
                }
            }
        }
    }
}

/// The key of a browser session (by the hash of its cookie).
pub fn session_key(session_hash: &str) -> String {
    format!("session:{session_hash}")
}

/// The key of an API token.
pub fn token_key(api_token_id: i64) -> String {
    format!("token:{api_token_id}")
}

/// The key of a user.
pub fn user_key(user_id: i64) -> String {
    format!("user:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ending_a_key_ends_its_streams_and_dropping_forgets_them() {
        let registry = Arc::new(Subscriptions::default());
        let a = registry.open(vec![session_key("s1"), user_key(1)]);
        let b = registry.open(vec![token_key(7), user_key(1)]);
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.end(&token_key(7)), 1);
        assert!(b.ended.is_cancelled() && !a.ended.is_cancelled());
        drop(b);
        assert_eq!(registry.len(), 1);
        assert_eq!(registry.end(&user_key(1)), 1);
        assert!(a.ended.is_cancelled());
        drop(a);
        assert!(registry.is_empty());
    }
}
