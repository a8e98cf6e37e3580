//! The transparency log's cost at a million leaves (issue 13): a SQLite store filled with
//! LEAVES audit entries (their leaves and every complete subtree, the rows appends write,
//! written here in bulk), then, timed at that size: appends through `transparency::Log`
//! (each its own transaction, as the server does), a signed checkpoint, inclusion proofs of
//! random entries and consistency proofs between random sizes. Every proof is checked with
//! `agent::tlog` against the checkpoint. Prints one JSON line. Run by `bench/tlog.sh`.
//!   cargo run --release -p server --example tlog_cost -- [LEAVES] [SAMPLES]
use std::time::Instant;

use agent::tlog;
use server::seal::SealKey;
use server::store::{AuditRow, Store};
use server::transparency::{Log, leaf_hash};

/// A deterministic pseudo-random number below `n`.
fn pick(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % n
}

fn entry(index: u64) -> AuditRow {
    AuditRow {
        leaf_index: index,
        ts_ms: 1_700_000_000_000 + index as i64,
        actor: "admin".into(),
        action: "login".into(),
        subject: "admin".into(),
        detail: format!("from 10.0.{}.{}", (index >> 8) & 255, index & 255),
    }
}

fn micros(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    serde_json::json!({
        "mean_us": (v.iter().sum::<f64>() / v.len() as f64 * 10.0).round() / 10.0,
        "p50_us": (at(0.5) * 10.0).round() / 10.0,
        "p99_us": (at(0.99) * 10.0).round() / 10.0,
    })
}

/// Writes entries `0..leaves` and their subtrees straight into the tables.
async fn fill(url: &str, leaves: u64) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await?;
    let mut tx = pool.begin().await?;
    // The subtrees still open on the right, as (level, hash), largest first.
    let mut open: Vec<(u32, tlog::Hash)> = Vec::new();
    for index in 0..leaves {
        let row = entry(index);
        sqlx::query(
            "insert into audit_log (leaf_index, ts, actor, action, subject, detail) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(index as i64)
        .bind(row.ts_ms)
        .bind(&row.actor)
        .bind(&row.action)
        .bind(&row.subject)
        .bind(&row.detail)
        .execute(&mut *tx)
        .await?;
        let mut node = (0u32, leaf_hash(&row));
        let mut node_index = index;
        loop {
            sqlx::query("insert into tlog_node (level, node_index, hash) values ($1, $2, $3)")
                .bind(i64::from(node.0))
                .bind(node_index as i64)
                .bind(node.1.to_vec())
                .execute(&mut *tx)
                .await?;
            match open.last() {
                Some(&(level, left)) if level == node.0 => {
                    open.pop();
                    node = (level + 1, tlog::node_hash(&left, &node.1));
                    node_index >>= 1;
                }
                _ => break,
            }
        }
        open.push(node);
        if index % 100_000 == 99_999 {
            tx.commit().await?;
            tx = pool.begin().await?;
        }
    }
    sqlx::query("update tlog_head set size = $1 where tlog_head_id = 1")
        .bind(leaves as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    pool.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("usage: tlog_cost [LEAVES] [SAMPLES]"))?;
    let leaves = args.first().copied().unwrap_or(1_000_000);
    let samples = args.get(1).copied().unwrap_or(1_000).max(1);
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("vantage.db").display()
    );
    let store = Store::open(&url).await?;
    let started = Instant::now();
    fill(&url, leaves).await?;
    let fill_s = started.elapsed().as_secs_f64();
    let seal = SealKey::load_or_create(&dir.path().join("secret.key"))?;
    let log = Log::open(store.clone(), &seal).await?;

    let mut appends = Vec::new();
    for k in 0..samples {
        let row = entry(leaves + k);
        let t = Instant::now();
        log.append(
            row.ts_ms,
            &row.actor,
            &row.action,
            &row.subject,
            &row.detail,
        )
        .await?;
        appends.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let t = Instant::now();
    let (head, _) = log.checkpoint().await?;
    let checkpoint_us = t.elapsed().as_secs_f64() * 1e6;
    anyhow::ensure!(head.size == leaves + samples, "the head covers every entry");

    let mut inclusions = Vec::new();
    let mut path_len = 0;
    for k in 0..samples {
        let index = pick(k, head.size);
        let t = Instant::now();
        let proof = log
            .inclusion(index, head.size)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no proof"))?;
        inclusions.push(t.elapsed().as_secs_f64() * 1e6);
        tlog::verify_inclusion(
            &leaf_hash(&entry(index)),
            index,
            head.size,
            &proof,
            &head.root,
        )
        .map_err(|e| anyhow::anyhow!("entry {index}: {e}"))?;
        path_len = path_len.max(proof.len());
    }
    let mut consistencies = Vec::new();
    for k in 0..samples {
        let from = pick(k + samples, head.size) + 1;
        let t = Instant::now();
        let proof = log
            .consistency(from, head.size)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no proof"))?;
        consistencies.push(t.elapsed().as_secs_f64() * 1e6);
        // The old head, from the stored subtrees, must be a prefix of the new one.
        let old_root = tlog::root_from(&store.tlog_nodes(&tlog::root_nodes(from)).await?);
        tlog::verify_consistency(from, head.size, &proof, &old_root, &head.root)
            .map_err(|e| anyhow::anyhow!("{from} -> {}: {e}", head.size))?;
    }
    store.close().await;
    let db_bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("vantage.db"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "leaves": head.size,
            "fill_s": (fill_s * 10.0).round() / 10.0,
            "append": micros(appends),
            "checkpoint_us": checkpoint_us.round(),
            "inclusion_proof": micros(inclusions),
            "consistency_proof": micros(consistencies),
            "longest_inclusion_path": path_len,
            "database_bytes_per_entry": (db_bytes as f64 / head.size as f64).round(),
            "proofs_checked": 2 * samples,
        })
    );
    Ok(())
}
