//! The audit log and its transparency log: rows, complete-subtree hashes, signed heads, and
//! the server's signing keys (sealed).
use agent::tlog::{self, Hash, Node};
use sqlx::Row;

use super::{Store, StoreError};

/// One entry of the audit log, as stored (the leaf of the same index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub leaf_index: u64,
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// A server key as stored: its public half and its sealed private half.
#[derive(Debug, Clone)]
pub struct ServerKeyRow {
    pub public_key: Vec<u8>,
    pub sealed_private: String,
}

fn hash_of(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a transparency log hash is not 32 bytes".into()))
}

fn as_index(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("a negative log index".into()))
}

fn as_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt("a log index past i64".into()))
}

impl Store {
    /// Appends an audit entry as the log's next leaf, in one transaction with the subtrees it
    /// completes; `leaf` makes the leaf's hash from the index the entry gets. Appends wait for
    /// each other (the head row), so indexes have no gaps.
    pub async fn append_audit(
        &self,
        ts_ms: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
        leaf: impl FnOnce(u64) -> Hash,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let size: i64 = sqlx::query(
            "update tlog_head set size = size + 1 where tlog_head_id = 1 returning size",
        )
        .fetch_one(&mut *tx)
        .await?
        .try_get("size")?;
        let size = as_index(size)?;
        let index = size - 1;
        sqlx::query(
            "insert into audit_log (leaf_index, ts, actor, action, subject, detail) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(as_db(index)?)
        .bind(ts_ms)
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        // The leaf, then each subtree it completes: the right child is the one just made,
        // the left one is stored.
        let mut below = leaf(index);
        for node in tlog::completed_by(size) {
            if node.level > 0 {
                let left: Vec<u8> =
                    sqlx::query("select hash from tlog_node where level = $1 and node_index = $2")
                        .bind(i64::from(node.level - 1))
                        .bind(as_db(node.index * 2)?)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("hash")?;
                below = tlog::node_hash(&hash_of(left)?, &below);
            }
            sqlx::query("insert into tlog_node (level, node_index, hash) values ($1, $2, $3)")
                .bind(i64::from(node.level))
                .bind(as_db(node.index)?)
                .bind(below.to_vec())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(index)
    }

    /// How many leaves the log has.
    pub async fn tlog_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query("select size from tlog_head where tlog_head_id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("size")?;
        as_index(size)
    }

    /// The stored hashes of complete subtrees, in the order asked.
    pub async fn tlog_nodes(&self, nodes: &[Node]) -> Result<Vec<Hash>, StoreError> {
        let mut hashes = Vec::with_capacity(nodes.len());
        for node in nodes {
            let row =
                sqlx::query("select hash from tlog_node where level = $1 and node_index = $2")
                    .bind(i64::from(node.level))
                    .bind(as_db(node.index)?)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "the transparency log has no node {} at level {}",
                            node.index, node.level
                        ))
                    })?;
            hashes.push(hash_of(row.try_get("hash")?)?);
        }
        Ok(hashes)
    }

    /// The stored leaf hashes from leaf `from`, in order, at most `limit`.
    pub async fn tlog_leaves(&self, from: u64, limit: u32) -> Result<Vec<(u64, Hash)>, StoreError> {
        let rows = sqlx::query(
            "select node_index, hash from tlog_node where level = 0 and node_index >= $1 \
             order by node_index limit $2",
        )
        .bind(as_db(from)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    as_index(r.try_get("node_index")?)?,
                    hash_of(r.try_get("hash")?)?,
                ))
            })
            .collect()
    }

    /// Audit entries, newest first, before leaf `before` (all when None), at most `limit`.
    pub async fn audit_entries(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        // Past the last index is the same as none.
        let before = i64::try_from(before.unwrap_or(u64::MAX)).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "select leaf_index, ts, actor, action, subject, detail from audit_log \
             where leaf_index < $1 order by leaf_index desc limit $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    /// Every audit entry in the order of the log, from leaf `from`, at most `limit`.
    pub async fn audit_entries_from(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "select leaf_index, ts, actor, action, subject, detail from audit_log \
             where leaf_index >= $1 order by leaf_index limit $2",
        )
        .bind(as_db(from)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    /// Keeps a signed head (the first one made for a size stays).
    pub async fn save_checkpoint(
        &self,
        size: u64,
        note: &str,
        at_s: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into tlog_checkpoint (size, note, created_at) values ($1, $2, $3) \
             on conflict (size) do nothing",
        )
        .bind(as_db(size)?)
        .bind(note)
        .bind(at_s)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The signed head kept for `size`.
    pub async fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select note from tlog_checkpoint where size = $1")
            .bind(as_db(size)?)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("note")).transpose()?)
    }

    /// Every signed head kept, smallest first.
    pub async fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = sqlx::query("select size, note from tlog_checkpoint order by size")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((as_index(r.try_get("size")?)?, r.try_get("note")?)))
            .collect()
    }

    /// The server key kept for `purpose`.
    pub async fn server_key(&self, purpose: &str) -> Result<Option<ServerKeyRow>, StoreError> {
        let row =
            sqlx::query("select public_key, sealed_private from server_key where purpose = $1")
                .bind(purpose)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(ServerKeyRow {
                public_key: r.try_get("public_key")?,
                sealed_private: r.try_get("sealed_private")?,
            })
        })
        .transpose()
    }

    /// Keeps a key for `purpose` unless one is there already (a replica made it first).
    pub async fn insert_server_key(
        &self,
        purpose: &str,
        key: &ServerKeyRow,
        at_s: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into server_key (purpose, public_key, sealed_private, created_at) \
             values ($1, $2, $3, $4) on conflict (purpose) do nothing",
        )
        .bind(purpose)
        .bind(key.public_key.clone())
        .bind(&key.sealed_private)
        .bind(at_s)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }
}

fn audit_row(r: &sqlx::any::AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        leaf_index: as_index(r.try_get("leaf_index")?)?,
        ts_ms: r.try_get("ts")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        detail: r.try_get("detail")?,
    })
}
