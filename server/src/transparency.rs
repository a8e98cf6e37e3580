//! The audit log as a transparency log: each security-relevant act is a row of `audit_log`
//! and the leaf of the same index of an RFC 6962 tree (`agent::tlog`), whose heads the
//! server signs as C2SP checkpoints with a key of its own (never the TLS key), kept sealed
//! in the database so replicas sign alike. Anyone holding the rows, a checkpoint and its
//! public key can check that nothing was edited, removed, reordered or forked.
use agent::tlog::{self, Checkpoint, Hash};
use anyhow::Context;
use ed25519_dalek::{SigningKey, VerifyingKey};
use ring::rand::SecureRandom;

use crate::seal::SealKey;
use crate::store::{AuditRow, ServerKeyRow, Store, StoreError};

/// The purpose of the log's key in `server_key` (and of its sealing).
const LOG_KEY: &str = "transparency_log";

/// The bytes of leaf `index`: the domain, then the index, the time and each text field with
/// its length (big-endian), so no two different entries have the same bytes.
pub fn leaf_data(row: &AuditRow) -> Vec<u8> {
    tlog::audit_leaf(
        row.leaf_index,
        row.ts_ms,
        &row.actor,
        &row.action,
        &row.subject,
        &row.detail,
    )
}

/// The leaf hash of a stored row.
pub fn leaf_hash(row: &AuditRow) -> Hash {
    tlog::leaf_hash(&leaf_data(row))
}

/// The log's name in its checkpoints: `vantage/` and the first 16 hex digits of SHA-256 over
/// its public key, so two installations never share one.
pub fn origin_of(key: &VerifyingKey) -> String {
    tlog::origin_of(key)
}

/// The log, appended to and proved from the store.
pub struct Log {
    store: Store,
    key: SigningKey,
    origin: String,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("origin", &self.origin).finish()
    }
}

impl Log {
    /// The log over `store`, with its signing key (made and kept on first use).
    pub async fn open(store: Store, seal: &SealKey) -> anyhow::Result<Log> {
        let key = match store.server_key(LOG_KEY).await? {
            Some(row) => open_key(&row, seal)?,
            None => {
                let mut secret = [0u8; 32];
                ring::rand::SystemRandom::new()
                    .fill(&mut secret)
                    .map_err(|_| anyhow::anyhow!("no randomness for the log's key"))?;
                let key = SigningKey::from_bytes(&secret);
                let row = ServerKeyRow {
                    public_key: key.verifying_key().as_bytes().to_vec(),
                    sealed_private: seal.seal(LOG_KEY, &secret)?,
                };
                store
                    .insert_server_key(LOG_KEY, &row, proto::clock::now_s())
                    .await?;
                // Another replica may have made its own first: the one kept is the key.
                let kept = store
                    .server_key(LOG_KEY)
                    .await?
                    .context("the log's key was not kept")?;
                open_key(&kept, seal)?
            }
        };
        let origin = origin_of(&key.verifying_key());
        Ok(Log { store, key, origin })
    }

    /// The name in the log's checkpoints.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The key its checkpoints verify with.
    /// The signed-note key id of the log's key, which the action tokens it signs name.
    pub fn key_id(&self) -> [u8; 4] {
        tlog::key_id(&self.origin, &self.key.verifying_key())
    }

    /// Signs an Emergency Action Token with the log's key (the key agents pin at
    /// enrollment); the token's bytes and the signature.
    pub fn sign_eat(&self, eat: &agent::eat::Eat) -> (Vec<u8>, [u8; 64]) {
        eat.sign(&self.key)
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Appends an act; its index in the log.
    pub async fn append(
        &self,
        ts_ms: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<u64, StoreError> {
        self.store
            .append_audit(ts_ms, actor, action, subject, detail, |leaf_index| {
                leaf_hash(&AuditRow {
                    leaf_index,
                    ts_ms,
                    actor: actor.to_owned(),
                    action: action.to_owned(),
                    subject: subject.to_owned(),
                    detail: detail.to_owned(),
                })
            })
            .await
    }

    /// The signed head of the log as it is now: the one kept for this size, or a new one
    /// (kept).
    pub async fn checkpoint(&self) -> Result<(Checkpoint, String), StoreError> {
        let size = self.store.tlog_size().await?;
        if let Some(note) = self.store.checkpoint(size).await? {
            let head = Checkpoint::verify(&note, &self.origin, &self.public_key())
                .map_err(|e| StoreError::Corrupt(format!("a kept checkpoint: {e}")))?;
            return Ok((head, note));
        }
        let root = tlog::root_from(&self.store.tlog_nodes(&tlog::root_nodes(size)).await?);
        let head = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = head.sign(&self.key);
        self.store
            .save_checkpoint(size, &note, proto::clock::now_s())
            .await?;
        Ok((head, note))
    }

    /// How many entries the log holds.
    pub async fn size(&self) -> Result<u64, StoreError> {
        self.store.tlog_size().await
    }

    /// The proof that leaf `index` is in the tree of `size` leaves (at most the log's
    /// `size()`; None for an index outside that tree).
    pub async fn inclusion(&self, index: u64, size: u64) -> Result<Option<Vec<Hash>>, StoreError> {
        let Ok(plan) = tlog::inclusion_nodes(index, size) else {
            return Ok(None);
        };
        let hashes = self.store.tlog_nodes(plan.nodes()).await?;
        plan.assemble(&hashes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves (`to`
    /// at most the log's `size()`; None when `from` is past `to`).
    pub async fn consistency(&self, from: u64, to: u64) -> Result<Option<Vec<Hash>>, StoreError> {
        let Ok(plan) = tlog::consistency_nodes(from, to) else {
            return Ok(None);
        };
        let hashes = self.store.tlog_nodes(plan.nodes()).await?;
        plan.assemble(&hashes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// What `verify_log` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub origin: String,
    pub entries: u64,
    /// Signed heads checked against the entries (those kept, and the saved one).
    pub checkpoints: usize,
}

/// Entries read at a time.
const PAGE: u32 = 1000;

/// Checks the whole log offline, from the store alone (no secret needed): every entry in
/// order from 0, each giving its stored leaf hash, and every signed head (those kept, and
/// `saved`, a checkpoint kept elsewhere) matching the root the entries give at its size.
/// `key` is the log's public key (by default the one the store names). The error names the
/// first entry found edited, removed or reordered, or the head the log no longer agrees with.
pub async fn verify_log(
    store: &Store,
    saved: Option<&str>,
    key: Option<VerifyingKey>,
) -> anyhow::Result<Verified> {
    let key = match key {
        Some(k) => k,
        None => {
            let row = store
                .server_key(LOG_KEY)
                .await?
                .context("the store has no transparency log key (no server ever started on it)")?;
            let bytes: [u8; 32] = row
                .public_key
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("the log's public key is not 32 bytes"))?;
            VerifyingKey::from_bytes(&bytes).context("the log's public key is not Ed25519")?
        }
    };
    let origin = origin_of(&key);
    // Every head to hold the entries to, by size: (root, what it is, for the message).
    let mut heads: std::collections::BTreeMap<u64, Vec<(Hash, String)>> = Default::default();
    for (size, note) in store.checkpoints().await? {
        let head = Checkpoint::verify(&note, &origin, &key).map_err(|e| {
            anyhow::anyhow!("the checkpoint kept for {size} entries does not verify: {e}")
        })?;
        anyhow::ensure!(
            head.size == size,
            "the checkpoint kept for {size} entries is for {}",
            head.size
        );
        heads.entry(size).or_default().push((
            head.root,
            format!("the checkpoint signed at {size} entries"),
        ));
    }
    let saved_size = match saved {
        Some(note) => {
            let head = Checkpoint::verify(note, &origin, &key)
                .map_err(|e| anyhow::anyhow!("the saved checkpoint does not verify: {e}"))?;
            heads.entry(head.size).or_default().push((
                head.root,
                format!("the saved checkpoint ({} entries)", head.size),
            ));
            Some(head.size)
        }
        None => None,
    };
    let checkpoints = heads.values().map(Vec::len).sum();
    let size = store.tlog_size().await?;
    // The tree so far: the roots of its complete subtrees, largest first.
    let mut subtrees: Vec<(u32, Hash)> = Vec::new();
    let mut next = 0u64;
    let check_heads = |count: u64, subtrees: &[(u32, Hash)]| -> anyhow::Result<()> {
        if let Some(list) = heads.get(&count) {
            let hashes: Vec<Hash> = subtrees.iter().map(|(_, h)| *h).collect();
            let root = tlog::root_from(&hashes);
            for (signed, what) in list {
                anyhow::ensure!(
                    &root == signed,
                    "the log forked: its first {count} entries no longer give the root of {what}"
                );
            }
        }
        Ok(())
    };
    check_heads(0, &subtrees)?;
    loop {
        let rows = store.audit_entries_from(next, PAGE).await?;
        let leaves = store.tlog_leaves(next, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for (i, row) in rows.iter().enumerate() {
            anyhow::ensure!(
                row.leaf_index == next,
                "entry {next} is missing (the next one stored is {})",
                row.leaf_index
            );
            let leaf = leaf_hash(row);
            match leaves.get(i) {
                Some((index, stored)) if *index == next && *stored == leaf => {}
                Some((index, _)) if *index == next => anyhow::bail!(
                    "entry {next} was edited or moved: its fields no longer give its leaf in the log"
                ),
                _ => anyhow::bail!("entry {next} has no leaf in the log"),
            }
            subtrees.push((0, leaf));
            while subtrees.len() >= 2
                && subtrees[subtrees.len() - 1].0 == subtrees[subtrees.len() - 2].0
            {
                let (level, right) = subtrees.pop().expect("two subtrees");
                let (_, left) = subtrees.pop().expect("two subtrees");
                subtrees.push((level + 1, tlog::node_hash(&left, &right)));
            }
            next += 1;
            check_heads(next, &subtrees)?;
        }
    }
    if let Some(saved) = saved_size {
        anyhow::ensure!(
            saved <= next,
            "the saved checkpoint covers {saved} entries but the log holds {next}: entries were removed"
        );
    }
    anyhow::ensure!(
        next == size,
        "the log's head says {size} entries but {next} are stored"
    );
    if let Some((&last, _)) = heads.iter().next_back() {
        anyhow::ensure!(
            last <= next,
            "a checkpoint covers {last} entries but the log holds {next}: entries were removed"
        );
    }
    Ok(Verified {
        origin,
        entries: next,
        checkpoints,
    })
}

fn open_key(row: &ServerKeyRow, seal: &SealKey) -> anyhow::Result<SigningKey> {
    let secret: [u8; 32] = seal
        .open(LOG_KEY, &row.sealed_private)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the log's sealed key is not 32 bytes"))?;
    let key = SigningKey::from_bytes(&secret);
    anyhow::ensure!(
        key.verifying_key().as_bytes().as_slice() == row.public_key.as_slice(),
        "the log's sealed key does not match its public key"
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: u64, detail: &str) -> AuditRow {
        AuditRow {
            leaf_index: index,
            ts_ms: 1_700_000_000_000,
            actor: "admin".into(),
            action: "login".into(),
            subject: "admin".into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_leaf_names_its_index_and_every_field_apart() {
        assert_ne!(leaf_hash(&row(0, "x")), leaf_hash(&row(1, "x")));
        assert_ne!(leaf_hash(&row(0, "x")), leaf_hash(&row(0, "y")));
        // Moving a byte from one field to the next changes the leaf.
        let a = AuditRow {
            subject: "ab".into(),
            detail: "c".into(),
            ..row(0, "")
        };
        let b = AuditRow {
            subject: "a".into(),
            detail: "bc".into(),
            ..row(0, "")
        };
        assert_ne!(leaf_data(&a), leaf_data(&b));
        assert!(leaf_data(&a).starts_with(b"vantage/audit-leaf/v1\0"));
    }

    #[test]
    fn the_origin_is_the_keys() {
        let a = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let b = SigningKey::from_bytes(&[2; 32]).verifying_key();
        assert_ne!(origin_of(&a), origin_of(&b));
        assert!(origin_of(&a).starts_with("vantage/"));
        assert_eq!(origin_of(&a).len(), "vantage/".len() + 16);
    }
}
