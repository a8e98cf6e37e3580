//! The audit log: what the acts append, and what the API reads of it (entries, signed heads,
//! inclusion and consistency proofs).
use std::sync::Arc;

use agent::tlog::Hash;
use app::{ApiError, Field, Me};

use super::Vantage;
use crate::store::AuditRow;
use crate::transparency::Log;

/// One act for the log: who did what to what.
pub struct Act<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: &'a str,
}

/// An entry as the API shows it.
pub fn entry(row: AuditRow) -> app::AuditEntry {
    app::AuditEntry {
        index: row.leaf_index,
        ts_ms: row.ts_ms,
        time: app::rfc3339_from_millis(row.ts_ms),
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        detail: row.detail,
    }
}

/// A signed head as the API shows it.
pub fn checkpoint_info(head: SignedHead) -> app::TransparencyCheckpoint {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    app::TransparencyCheckpoint {
        origin: head.origin,
        size: head.size,
        root: b64.encode(head.root),
        note: head.note,
        public_key: b64.encode(head.public_key),
    }
}

/// A signed head of the log, with what verifies it.
pub struct SignedHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub note: String,
    pub public_key: [u8; 32],
}

impl Vantage {
    /// Sets the log up (once, at start-up).
    pub fn set_log(&self, log: Log) {
        let _ = self.log.set(Arc::new(log));
    }

    /// The key agents pin at enrollment to check restart orders and the log's checkpoints
    /// (empty before the log is set up).
    pub fn action_key(&self) -> [u8; 32] {
        self.log
            .get()
            .map_or([0; 32], |l| l.public_key().to_bytes())
    }

    pub(crate) fn log(&self) -> Result<&Arc<Log>, ApiError> {
        self.log.get().ok_or_else(|| {
            tracing::error!("the audit log is not set up");
            ApiError::Internal
        })
    }

    /// Appends an act to the audit log; its index. The act has happened: a failure here is
    /// logged and answered as an internal error.
    pub(crate) async fn audit(&self, act: Act<'_>) -> Result<u64, ApiError> {
        let index = self
            .log()?
            .append(
                proto::clock::now_ms(),
                act.actor,
                act.action,
                act.subject,
                act.detail,
            )
            .await
            .inspect_err(|e| {
                tracing::error!(action = act.action, error = %e, "cannot append to the audit log")
            })?;
        Ok(index)
    }

    /// Audit entries, newest first, before index `before`, at most `limit` (1 to 1,000).
    pub async fn audit_entries(
        &self,
        _caller: &Me,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, ApiError> {
        Ok(self
            .store
            .audit_entries(before, limit.clamp(1, 1000))
            .await?)
    }

    /// The log's signed head now.
    pub async fn signed_head(&self, _caller: &Me) -> Result<SignedHead, ApiError> {
        let log = self.log()?;
        let (head, note) = log.checkpoint().await?;
        Ok(SignedHead {
            origin: head.origin,
            size: head.size,
            root: head.root,
            note,
            public_key: log.public_key().to_bytes(),
        })
    }

    /// Entry `index`, its leaf hash and the proof it is in the tree of `size` leaves (the
    /// current size when None).
    pub async fn inclusion_proof(
        &self,
        _caller: &Me,
        index: u64,
        size: Option<u64>,
    ) -> Result<(AuditRow, u64, Vec<Hash>), ApiError> {
        let log = self.log()?;
        let held = log.size().await?;
        let size = size.unwrap_or(held);
        if size > held {
            return Err(fewer_entries(size));
        }
        let proof = log.inclusion(index, size).await?.ok_or_else(|| {
            ApiError::invalid(
                Field::LogIndex,
                format!("index {index} is not in a tree of {size} entries"),
            )
        })?;
        let entry = self.audit_entry(index).await?.ok_or(ApiError::NotFound)?;
        Ok((entry, size, proof))
    }

    /// Entry `index` of the log, if the log has it.
    pub(crate) async fn audit_entry(&self, index: u64) -> Result<Option<AuditRow>, ApiError> {
        Ok(self
            .store
            .audit_entries_from(index, 1)
            .await?
            .into_iter()
            .next()
            .filter(|e| e.leaf_index == index))
    }

    /// The proof that the log of `from` entries is a prefix of the log of `to` entries.
    pub async fn consistency_proof(
        &self,
        _caller: &Me,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, ApiError> {
        if from > to {
            return Err(ApiError::invalid(
                Field::LogSize,
                format!("from ({from}) is past to ({to})"),
            ));
        }
        let log = self.log()?;
        if to > log.size().await? {
            return Err(fewer_entries(to));
        }
        log.consistency(from, to).await?.ok_or(ApiError::Internal)
    }
}

fn fewer_entries(size: u64) -> ApiError {
    ApiError::invalid(
        Field::LogSize,
        format!("the log has fewer than {size} entries"),
    )
}
