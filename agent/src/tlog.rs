//! The transparency log's mathematics, shared by the server (which appends and proves) and
//! the agent (which checks before it acts): RFC 6962 Merkle tree hashing, inclusion and
//! consistency proofs (made and checked as RFC 9162 describes), and checkpoints in the C2SP
//! `tlog-checkpoint` format, a signed note (`signed-note`) with an Ed25519 signature.
//!
//! Proofs are made from the hashes of complete subtrees (`Node`): a log that keeps, as leaves
//! arrive, the hash of every subtree that becomes complete can answer any proof with
//! O(log n) lookups (`inclusion_nodes`, `consistency_nodes` say which, `inclusion_proof`
//! and `consistency_proof` assemble them).
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A SHA-256 hash of the tree.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete subtree: the `2^level` leaves from `index * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub level: u32,
    pub index: u64,
}

impl Node {
    /// The first leaf it covers.
    pub fn start(self) -> u64 {
        self.index << self.level
    }

    /// One past its last leaf.
    pub fn end(self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// The complete subtrees that leaf `size - 1`'s arrival completes, smallest first: the
/// nodes a log stores when it appends that leaf (the leaf itself is level 0).
pub fn completed_by(size: u64) -> impl Iterator<Item = Node> {
    let levels = if size == 0 {
        0
    } else {
        size.trailing_zeros() + 1
    };
    (0..levels).map(move |level| Node {
        level,
        index: (size - 1) >> level,
    })
}

/// The complete subtrees that make up leaves `start..end`, largest first, when `start` is a
/// multiple of the largest power of two below `end - start` (as every range of a proof is).
fn range_nodes(start: u64, end: u64, out: &mut Vec<Node>) {
    let mut at = start;
    while at < end {
        let left = end - at;
        // The largest power of two that fits and keeps the node aligned.
        let mut level = 63 - left.leading_zeros();
        while at & ((1u64 << level) - 1) != 0 {
            level -= 1;
        }
        out.push(Node {
            level,
            index: at >> level,
        });
        at += 1 << level;
    }
}

/// The hash of leaves `start..end` from the hashes of its complete subtrees, largest first.
fn fold(hashes: &[Hash]) -> Hash {
    let mut iter = hashes.iter().rev();
    let Some(last) = iter.next() else {
        return empty_root();
    };
    iter.fold(*last, |right, left| node_hash(left, &right))
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// One element of a proof: the hash of the leaves `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u64,
    end: u64,
}

/// RFC 6962 PATH(m, D[start..end]): the spans whose hashes prove leaf `m`.
fn path(m: u64, start: u64, end: u64, out: &mut Vec<Span>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, start, start + k, out);
        out.push(Span {
            start: start + k,
            end,
        });
    } else {
        path(m - k, start + k, end, out);
        out.push(Span {
            start,
            end: start + k,
        });
    }
}

/// RFC 6962 SUBPROOF(m, D[start..end], b).
fn subproof(m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<Span>) {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(Span { start, end });
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, start + k, complete, out);
        out.push(Span {
            start: start + k,
            end,
        });
    } else {
        subproof(m - k, start + k, end, false, out);
        out.push(Span {
            start,
            end: start + k,
        });
    }
}

/// What a proof needs from the log: each element's complete subtrees, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    /// How many of `nodes` each proof element is made of, in order.
    parts: Vec<usize>,
    nodes: Vec<Node>,
}

impl ProofPlan {
    fn new(spans: Vec<Span>) -> Self {
        let mut nodes = Vec::new();
        let parts = spans
            .iter()
            .map(|s| {
                let before = nodes.len();
                range_nodes(s.start, s.end, &mut nodes);
                nodes.len() - before
            })
            .collect();
        ProofPlan { parts, nodes }
    }

    /// The complete subtrees whose hashes the proof is made of (look each up).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The proof, from the hashes of `nodes()` in their order.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, TlogError> {
        if hashes.len() != self.nodes.len() {
            return Err(TlogError::Malformed(
                "the proof's nodes and hashes differ in number",
            ));
        }
        let mut at = 0;
        Ok(self
            .parts
            .iter()
            .map(|&n| {
                at += n;
                fold(&hashes[at - n..at])
            })
            .collect())
    }
}

/// The nodes that prove leaf `index` in the tree of `size` leaves.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<ProofPlan, TlogError> {
    if index >= size {
        return Err(TlogError::OutOfRange);
    }
    let mut spans = Vec::new();
    path(index, 0, size, &mut spans);
    Ok(ProofPlan::new(spans))
}

/// The nodes that prove the tree of `old` leaves is a prefix of the tree of `new` leaves.
pub fn consistency_nodes(old: u64, new: u64) -> Result<ProofPlan, TlogError> {
    if old > new {
        return Err(TlogError::OutOfRange);
    }
    let mut spans = Vec::new();
    if old != 0 && old != new {
        subproof(old, 0, new, true, &mut spans);
    }
    Ok(ProofPlan::new(spans))
}

/// The nodes whose hashes make the root of the tree of `size` leaves (largest first).
pub fn root_nodes(size: u64) -> Vec<Node> {
    let mut nodes = Vec::new();
    range_nodes(0, size, &mut nodes);
    nodes
}

/// The root from the hashes of `root_nodes(size)`.
pub fn root_from(hashes: &[Hash]) -> Hash {
    fold(hashes)
}

/// Why a proof or checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    #[error("the index or size is outside the tree")]
    OutOfRange,
    #[error("the proof does not lead to the root")]
    Mismatch,
    #[error("the proof has the wrong length")]
    WrongLength,
    #[error("{0}")]
    Malformed(&'static str),
    #[error("the checkpoint has no valid signature of {0}")]
    Unsigned(String),
}

/// Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves whose root is
/// `root` (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::OutOfRange);
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(TlogError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(TlogError::WrongLength);
    }
    if &r == root {
        Ok(())
    } else {
        Err(TlogError::Mismatch)
    }
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root` (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), TlogError> {
    if old > new {
        return Err(TlogError::OutOfRange);
    }
    if old == new {
        return match (proof.is_empty(), old_root == new_root) {
            (false, _) => Err(TlogError::WrongLength),
            (true, true) => Ok(()),
            (true, false) => Err(TlogError::Mismatch),
        };
    }
    if old == 0 {
        // The empty tree is a prefix of every tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(TlogError::WrongLength)
        };
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut iter = path.iter();
    let first = iter.next().ok_or(TlogError::WrongLength)?;
    let (mut fr, mut sr) = (*first, *first);
    for c in iter {
        if snode == 0 {
            return Err(TlogError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(TlogError::WrongLength);
    }
    if &fr == old_root && &sr == new_root {
        Ok(())
    } else {
        Err(TlogError::Mismatch)
    }
}

/// The domain of an audit log leaf's bytes.
const AUDIT_LEAF_DOMAIN: &[u8] = b"vantage/audit-leaf/v1\0";

/// The bytes of audit log leaf `index`: the domain, then the index, the time (unix ms) and
/// each text field with its length, big-endian. What the server hashes into its log and an
/// agent rebuilds to check an order's entry.
pub fn audit_leaf(
    index: u64,
    ts_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Vec<u8> {
    let mut out = AUDIT_LEAF_DOMAIN.to_vec();
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&ts_ms.to_be_bytes());
    for field in [actor, action, subject, detail] {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// The log's name in its checkpoints: `vantage/` and the first 16 hex digits of SHA-256 over
/// its public key, so two installations never share one (and an agent derives it from the
/// key it pinned).
pub fn origin_of(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("vantage/{hex}")
}

/// A tree head: the log's name, its size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// Notes longer than this are refused unread.
const MAX_NOTE: usize = 16 * 1024;

/// The 4-byte key ID of a signed-note Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4].
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, each on its line.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// The signed note, signed by `key` under the origin's name.
    pub fn sign(&self, key: &SigningKey) -> String {
        let text = self.text();
        let signature = key.sign(text.as_bytes());
        let mut blob = key_id(&self.origin, &key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.origin, BASE64.encode(blob))
    }

    /// Parses a signed note and checks it carries a valid signature of `origin`'s `key`
    /// (signatures of other keys are ignored, as the signed-note spec asks).
    pub fn verify(note: &str, origin: &str, key: &VerifyingKey) -> Result<Checkpoint, TlogError> {
        if note.len() > MAX_NOTE {
            return Err(TlogError::Malformed("the checkpoint is too long"));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(TlogError::Malformed(
                "the checkpoint holds control characters",
            ));
        }
        let (text, signatures) = note
            .split_once("\n\n")
            .map(|(t, s)| (&note[..t.len() + 1], s))
            .ok_or(TlogError::Malformed("the checkpoint has no signatures"))?;
        if !signatures.ends_with('\n') {
            return Err(TlogError::Malformed(
                "the checkpoint does not end with a newline",
            ));
        }
        let want = key_id(origin, key);
        let mut verified = false;
        for line in signatures[..signatures.len() - 1].split('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or(TlogError::Malformed(
                "a signature line does not start with an em dash",
            ))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(TlogError::Malformed("a signature line has no signature"))?;
            let blob = BASE64
                .decode(blob)
                .map_err(|_| TlogError::Malformed("a signature is not base64"))?;
            if blob.len() < 4 {
                return Err(TlogError::Malformed("a signature is too short"));
            }
            if name != origin || blob[..4] != want {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| TlogError::Unsigned(origin.to_owned()))?;
            key.verify_strict(text.as_bytes(), &signature)
                .map_err(|_| TlogError::Unsigned(origin.to_owned()))?;
            verified = true;
        }
        if !verified {
            return Err(TlogError::Unsigned(origin.to_owned()));
        }
        Self::parse_text(text, origin)
    }

    fn parse_text(text: &str, origin: &str) -> Result<Checkpoint, TlogError> {
        let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
        let name = lines.next().unwrap_or_default();
        if name != origin {
            return Err(TlogError::Malformed("the checkpoint is of another log"));
        }
        let size = lines.next().unwrap_or_default();
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(TlogError::Malformed(
                "the checkpoint's size is not a decimal number",
            ));
        }
        let size = size
            .parse()
            .map_err(|_| TlogError::Malformed("the checkpoint's size is too large"))?;
        let root: Hash = BASE64
            .decode(lines.next().unwrap_or_default())
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(TlogError::Malformed(
                "the checkpoint's root is not a base64 SHA-256 hash",
            ))?;
        if lines.any(str::is_empty) {
            return Err(TlogError::Malformed("the checkpoint has an empty line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// RFC 6962 MTH, straight from its definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// Every complete subtree of the leaves, as a log stores them on append.
    fn stored(leaves: &[Hash]) -> HashMap<Node, Hash> {
        let mut nodes = HashMap::new();
        for size in 1..=leaves.len() as u64 {
            for node in completed_by(size) {
                let hash = if node.level == 0 {
                    leaves[node.index as usize]
                } else {
                    let left = Node {
                        level: node.level - 1,
                        index: node.index * 2,
                    };
                    let right = Node {
                        level: node.level - 1,
                        index: node.index * 2 + 1,
                    };
                    node_hash(&nodes[&left], &nodes[&right])
                };
                nodes.insert(node, hash);
            }
        }
        nodes
    }

    fn lookup(nodes: &HashMap<Node, Hash>, plan: &[Node]) -> Vec<Hash> {
        plan.iter().map(|n| nodes[n]).collect()
    }

    #[test]
    fn the_root_of_stored_subtrees_is_the_rfc_6962_root() {
        let all = leaves(70);
        let nodes = stored(&all);
        let hex: String = empty_root().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for n in 0..=70u64 {
            let root = root_from(&lookup(&nodes, &root_nodes(n)));
            assert_eq!(root, mth(&all[..n as usize]), "size {n}");
        }
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The reference tree of Certificate Transparency's test data: every other
    /// implementation of RFC 6962 agrees on these heads and proofs.
    #[test]
    fn the_reference_tree_has_the_published_heads_and_proofs() {
        let data = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let all: Vec<Hash> = data.iter().map(|d| leaf_hash(&unhex(d))).collect();
        let nodes = stored(&all);
        for (n, root) in roots.iter().enumerate() {
            let got = root_from(&lookup(&nodes, &root_nodes(n as u64 + 1)));
            assert_eq!(got.to_vec(), unhex(root), "size {}", n + 1);
        }
        let plan = inclusion_nodes(0, 8).unwrap();
        let proof = plan.assemble(&lookup(&nodes, plan.nodes())).unwrap();
        let want = [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ];
        let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
        let want: Vec<Vec<u8>> = want.iter().map(|h| unhex(h)).collect();
        assert_eq!(proof, want);
    }

    #[test]
    fn every_leaf_is_proved_in_every_tree_and_nothing_else_is() {
        let all = leaves(40);
        let nodes = stored(&all);
        for size in 1..=40u64 {
            let root = mth(&all[..size as usize]);
            for index in 0..size {
                let plan = inclusion_nodes(index, size).unwrap();
                let proof = plan.assemble(&lookup(&nodes, plan.nodes())).unwrap();
                let leaf = &all[index as usize];
                assert_eq!(verify_inclusion(leaf, index, size, &proof, &root), Ok(()));
                // Another leaf, another index, a shorter or altered proof: refused.
                let other = &all[((index + 1) % size) as usize];
                if size > 1 {
                    assert!(verify_inclusion(other, index, size, &proof, &root).is_err());
                    assert!(
                        verify_inclusion(leaf, (index + 1) % size, size, &proof, &root).is_err()
                    );
                    assert!(verify_inclusion(leaf, index, size, &proof[1..], &root).is_err());
                    let mut bent = proof.clone();
                    bent[0][0] ^= 1;
                    assert!(verify_inclusion(leaf, index, size, &bent, &root).is_err());
                }
                assert_eq!(
                    verify_inclusion(leaf, size, size, &proof, &root),
                    Err(TlogError::OutOfRange)
                );
            }
        }
    }

    #[test]
    fn every_prefix_is_consistent_with_every_later_tree_and_a_fork_is_not() {
        let all = leaves(36);
        let nodes = stored(&all);
        let mut forked = all.clone();
        forked[5] = leaf_hash(b"edited");
        for new in 0..=36u64 {
            let new_root = mth(&all[..new as usize]);
            for old in 0..=new {
                let old_root = mth(&all[..old as usize]);
                let plan = consistency_nodes(old, new).unwrap();
                let proof = plan.assemble(&lookup(&nodes, plan.nodes())).unwrap();
                assert_eq!(
                    verify_consistency(old, new, &proof, &old_root, &new_root),
                    Ok(()),
                    "{old} -> {new}"
                );
                if old > 5 {
                    // A log that rewrote leaf 5 cannot prove itself consistent with the old head.
                    let fork_root = mth(&forked[..old as usize]);
                    assert!(verify_consistency(old, new, &proof, &fork_root, &new_root).is_err());
                }
                if !proof.is_empty() {
                    let mut bent = proof.clone();
                    let last = bent.len() - 1;
                    bent[last][31] ^= 1;
                    assert!(verify_consistency(old, new, &bent, &old_root, &new_root).is_err());
                    assert!(
                        verify_consistency(old, new, &proof[..last], &old_root, &new_root).is_err()
                    );
                }
            }
        }
        assert_eq!(consistency_nodes(3, 2), Err(TlogError::OutOfRange));
    }

    #[test]
    fn appending_stores_one_node_per_completed_subtree() {
        let got: Vec<Node> = completed_by(8).collect();
        assert_eq!(
            got,
            vec![
                Node { level: 0, index: 7 },
                Node { level: 1, index: 3 },
                Node { level: 2, index: 1 },
                Node { level: 3, index: 0 },
            ]
        );
        assert_eq!(
            completed_by(5).collect::<Vec<_>>(),
            vec![Node { level: 0, index: 4 }]
        );
        assert_eq!(completed_by(0).count(), 0);
    }

    #[test]
    fn a_checkpoint_is_a_signed_note_only_its_key_verifies() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let head = Checkpoint {
            origin: "vantage.example/log".into(),
            size: 20852163,
            root: leaf_hash(b"root"),
        };
        let note = head.sign(&key);
        let lines: Vec<&str> = note.split('\n').collect();
        assert_eq!(lines[0], "vantage.example/log");
        assert_eq!(lines[1], "20852163");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} vantage.example/log "));
        let origin = &head.origin;
        assert_eq!(
            Checkpoint::verify(&note, origin, &key.verifying_key()),
            Ok(head.clone())
        );

        // Another key's signature alone proves nothing; beside ours it is ignored.
        assert!(matches!(
            Checkpoint::verify(&note, origin, &other.verifying_key()),
            Err(TlogError::Unsigned(_))
        ));
        let theirs = head.sign(&other);
        let both = format!("{note}{}", theirs.rsplit_once("\n\n").unwrap().1);
        assert_eq!(
            Checkpoint::verify(&both, origin, &key.verifying_key()),
            Ok(head.clone())
        );

        // A changed size or root, another log's name, a broken layout: refused.
        let edited = note.replacen("20852163", "20852164", 1);
        assert!(Checkpoint::verify(&edited, origin, &key.verifying_key()).is_err());
        assert!(Checkpoint::verify(&note, "other.example/log", &key.verifying_key()).is_err());
        for bad in [
            note.replace("\n\n", "\n"),
            note.trim_end().to_owned(),
            note.replace('\u{2014}', "-"),
            format!("{}\u{7}", note),
            "x".repeat(MAX_NOTE + 1),
        ] {
            assert!(
                Checkpoint::verify(&bad, origin, &key.verifying_key()).is_err(),
                "{bad:?}"
            );
        }
        let leading_zero = Checkpoint {
            size: 0,
            ..head.clone()
        }
        .sign(&key);
        assert_eq!(
            Checkpoint::verify(&leading_zero, origin, &key.verifying_key())
                .unwrap()
                .size,
            0
        );
    }
}
