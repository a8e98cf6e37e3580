//! What is wrong inside the server right now, for `/healthz`, `/readyz` and `/metrics`: each
//! part (the batch writer, a worker) reports its problem and clears it once it is past it, and
//! every panic of a supervised task is counted.
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The server's parts and their problems.
#[derive(Debug, Default)]
pub struct Health {
    problems: Mutex<BTreeMap<&'static str, String>>,
    panics: Mutex<BTreeMap<&'static str, u64>>,
    /// Agent events refused at the ingest's edge.
    refused_events: std::sync::atomic::AtomicU64,
}

impl Health {
    /// `part` is unwell for `reason` (replacing what it said before).
    pub fn set(&self, part: &'static str, reason: impl Into<String>) {
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(part, reason.into());
    }

    /// `part` is well again.
    pub fn clear(&self, part: &'static str) {
        let mut problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if problems.contains_key(part) {
            problems.remove(part);
            tracing::info!(part, "recovered");
        }
    }

    /// Every current problem, by part.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        problems.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// Counts a panic of `task`.
    pub fn count_panic(&self, task: &'static str) {
        *self
            .panics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(task)
            .or_default() += 1;
    }

    /// Panics per task since the start.
    pub fn panics(&self) -> Vec<(&'static str, u64)> {
        let panics = self.panics.lock().unwrap_or_else(|e| e.into_inner());
        panics.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

impl Health {
    /// Counts agent events refused by the ingest's checks.
    pub fn count_refused(&self, n: u64) {
        self.refused_events
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Agent events refused since the start.
    pub fn refused_events(&self) -> u64 {
        self.refused_events
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The message a panic carried, when it was text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
