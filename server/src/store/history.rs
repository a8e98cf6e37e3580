//! Host history in packed chunks ([`chunk`](super::chunk)): one table, three layers.
//!
//! - Raw samples: the batch writer stores each commit's samples of a host as one chunk per
//!   hour they fall in, marked pending. The fold (every 30 s) merges an hour's chunks into
//!   one once the hour is over (or once many have piled up), and recomputes that hour's
//!   1-minute rollup and that day's 1-hour rollup from what is stored, so late backfills are
//!   folded in like live samples.
//! - 1-minute rollups: one chunk per host and hour, one row per minute.
//! - 1-hour rollups: one chunk per host and day (UTC), one row per hour.
//!
//! Values are stored as integers: CPU and load in hundredths, bytes exact, network rates in
//! whole bytes per second, rollup percentages in hundredths of a percent.
use std::collections::{BTreeMap, BTreeSet};

use futures::FutureExt;
use sqlx::{AssertSqlSafe, Row};

use super::chunk::{self, Block};
use super::samples::{HistoryBucket, SampleRow};
use super::{Store, StoreError};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// An hour's raw chunks are merged into one this long after the hour ends...
const SEAL_AFTER_MS: i64 = 2 * MINUTE_MS;
/// ...or as soon as this many have piled up.
const MERGE_AT: usize = 32;
/// Host-hours folded per transaction, so the batch writer never waits long.
const FOLD_GROUPS_PER_TX: i64 = 64;
/// Chunk rows per INSERT statement (eight parameters each).
const CHUNKS_PER_INSERT: usize = 64;

/// Raw columns: CPU, load 1/5/15 (hundredths), memory total/used, swap total/used, disk
/// total/used (bytes), network in/out (bytes per second).
const RAW_WIDTH: usize = 12;
/// The charted figures, in rollup column order.
const FIGURES: [app::Metric; 5] = [
    app::Metric::Cpu,
    app::Metric::Memory,
    app::Metric::Disk,
    app::Metric::NetRx,
    app::Metric::NetTx,
];
/// Rollup columns: sample count, then mean, minimum and maximum of each figure.
const ROLLUP_WIDTH: usize = 1 + 3 * FIGURES.len();

/// A stored layer of host history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Raw,
    Minute,
    Hour,
}

impl Layer {
    /// The coarsest layer whose resolution still fits a step of `step_ms`.
    pub fn for_step(step_ms: i64) -> Layer {
        if step_ms >= HOUR_MS {
            Layer::Hour
        } else if step_ms >= MINUTE_MS {
            Layer::Minute
        } else {
            Layer::Raw
        }
    }

    fn code(self) -> i64 {
        match self {
            Layer::Raw => 0,
            Layer::Minute => 1,
            Layer::Hour => 2,
        }
    }

    /// The span of one chunk of this layer.
    fn period_ms(self) -> i64 {
        match self {
            Layer::Raw | Layer::Minute => HOUR_MS,
            Layer::Hour => DAY_MS,
        }
    }
}

fn floor(ts: i64, unit: i64) -> i64 {
    // Saturating: a time near i64::MIN has no whole unit below it.
    ts.div_euclid(unit).saturating_mul(unit)
}

fn hundredths(v: f64) -> i64 {
    // `as` saturates and maps NaN to 0: no input can make this panic.
    (v * 100.0).round() as i64
}

/// How a figure is kept in a rollup: percentages in hundredths, rates in whole units.
fn scale(metric: app::Metric) -> f64 {
    match metric {
        app::Metric::Cpu | app::Metric::Memory | app::Metric::Disk => 100.0,
        app::Metric::NetRx | app::Metric::NetTx => 1.0,
    }
}

fn raw_values(s: &SampleRow) -> [i64; RAW_WIDTH] {
    [
        hundredths(s.cpu_pct),
        hundredths(s.load[0]),
        hundredths(s.load[1]),
        hundredths(s.load[2]),
        s.mem_total,
        s.mem_used,
        s.swap_total,
        s.swap_used,
        s.disk_total,
        s.disk_used,
        s.net_rx_bps.round() as i64,
        s.net_tx_bps.round() as i64,
    ]
}

fn percent(used: i64, total: i64) -> f64 {
    if total > 0 {
        used as f64 * 100.0 / total as f64
    } else {
        0.0
    }
}

/// The charted figures of raw row `r`.
fn raw_figures(b: &Block, r: usize) -> [f64; 5] {
    let c = |i: usize| b.columns[i][r];
    [
        c(0) as f64 / 100.0,
        percent(c(5), c(4)),
        percent(c(9), c(8)),
        c(10) as f64,
        c(11) as f64,
    ]
}

/// Count, sum, minimum and maximum of one figure over a span of time.
#[derive(Debug, Clone, Copy)]
struct Stat {
    n: i64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Stat {
    const EMPTY: Stat = Stat {
        n: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    fn one(v: f64) -> Stat {
        Stat {
            n: 1,
            sum: v,
            min: v,
            max: v,
        }
    }

    fn merge(&mut self, o: Stat) {
        self.n += o.n;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    fn avg(&self) -> f64 {
        if self.n > 0 {
            self.sum / self.n as f64
        } else {
            0.0
        }
    }
}

type Figures = [Stat; 5];

/// Every row of a chunk of `layer` as (time, figures).
fn points(layer: Layer, b: &Block) -> Vec<(i64, Figures)> {
    (0..b.len())
        .map(|r| {
            let figures = match layer {
                Layer::Raw => raw_figures(b, r).map(Stat::one),
                Layer::Minute | Layer::Hour => {
                    let n = b.columns[0][r];
                    std::array::from_fn(|f| {
                        let s = scale(FIGURES[f]);
                        let at = |k: usize| b.columns[1 + 3 * f + k][r] as f64 / s;
                        Stat {
                            n,
                            sum: at(0) * n as f64,
                            min: at(1),
                            max: at(2),
                        }
                    })
                }
            };
            (b.ts[r], figures)
        })
        .collect()
}

/// Folds points into buckets of `unit` ms.
fn bucket(into: &mut BTreeMap<i64, Figures>, unit: i64, points: Vec<(i64, Figures)>) {
    for (ts, figures) in points {
        let slot = into.entry(floor(ts, unit)).or_insert([Stat::EMPTY; 5]);
        for (s, f) in slot.iter_mut().zip(figures) {
            s.merge(f);
        }
    }
}

/// The rollup chunk of bucketed figures.
fn rollup_block(buckets: &BTreeMap<i64, Figures>) -> Block {
    let mut b = Block::new(ROLLUP_WIDTH);
    for (ts, figures) in buckets {
        let mut row = Vec::with_capacity(ROLLUP_WIDTH);
        row.push(figures[0].n);
        for (f, s) in figures.iter().enumerate() {
            let k = scale(FIGURES[f]);
            row.extend([
                (s.avg() * k).round() as i64,
                (s.min * k).round() as i64,
                (s.max * k).round() as i64,
            ]);
        }
        b.push(*ts, &row);
    }
    b
}

/// `agent_id = $n` for an agent, `agent_id is null` for the local host.
fn host_filter(agent_id: Option<&str>, n: usize) -> String {
    match agent_id {
        Some(_) => format!("agent_id = ${n}"),
        None => "agent_id is null".into(),
    }
}

/// A chunk about to be inserted.
struct NewChunk<'a> {
    agent_id: Option<&'a str>,
    layer: Layer,
    period: i64,
    pending: bool,
    block: Block,
}

async fn insert_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    chunks: &[NewChunk<'_>],
) -> Result<(), StoreError> {
    for group in chunks.chunks(CHUNKS_PER_INSERT) {
        let values: Vec<String> = (0..group.len())
            .map(|r| {
                let p: Vec<String> = (1..=8).map(|c| format!("${}", r * 8 + c)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "insert into host_chunk (agent_id, layer, period, first_ts, last_ts, n, pending, data) values {}",
            values.join(", ")
        );
        // Up to 64 texts (one per row count): kept out of each connection's statement cache.
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for c in group {
            query = query
                .bind(c.agent_id.map(str::to_owned))
                .bind(c.layer.code())
                .bind(c.period)
                .bind(c.block.ts.iter().copied().min().unwrap_or(c.period))
                .bind(c.block.ts.iter().copied().max().unwrap_or(c.period))
                .bind(c.block.len() as i64)
                .bind(i64::from(c.pending))
                .bind(chunk::encode(&c.block));
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    Ok(())
}

/// Stores host samples as pending raw chunks: one per host and hour they fall in.
pub(super) async fn insert_samples(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[&SampleRow],
) -> Result<(), StoreError> {
    let mut groups: BTreeMap<(Option<&str>, i64), Block> = BTreeMap::new();
    for s in rows {
        groups
            .entry((s.agent_id.as_deref(), floor(s.ts_ms, HOUR_MS)))
            .or_insert_with(|| Block::new(RAW_WIDTH))
            .push(s.ts_ms, &raw_values(s));
    }
    let chunks: Vec<NewChunk> = groups
        .into_iter()
        .map(|((agent_id, period), block)| NewChunk {
            agent_id,
            layer: Layer::Raw,
            period,
            pending: true,
            block,
        })
        .collect();
    insert_chunks(tx, &chunks).await
}

/// Chunks that could not be decoded: each is skipped wherever it is read, logged the first
/// time and counted once (`vantage_history_unreadable_chunks_total`).
#[derive(Default)]
pub struct UnreadableChunks {
    seen: std::sync::Mutex<BTreeSet<i64>>,
}

impl UnreadableChunks {
    /// Remembers chunk `id`; true the first time.
    fn report(&self, id: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(id)
    }

    /// How many distinct chunks could not be read since the start.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The process's record of unreadable chunks: chunk ids are unique per database, and one
/// process serves one database.
pub fn unreadable_chunks() -> &'static UnreadableChunks {
    static SEEN: std::sync::OnceLock<UnreadableChunks> = std::sync::OnceLock::new();
    SEEN.get_or_init(UnreadableChunks::default)
}

/// A stored chunk, read back.
struct StoredChunk {
    id: i64,
    pending: bool,
    block: Option<Block>,
}

async fn read_chunks<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    agent_id: Option<&str>,
    layer: Layer,
    from_period: i64,
    to_period: i64,
) -> Result<Vec<StoredChunk>, StoreError> {
    let sql = format!(
        "select host_chunk_id, pending, data from host_chunk \
         where layer = $1 and period >= $2 and period < $3 and {} order by period, host_chunk_id",
        host_filter(agent_id, 4)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(layer.code())
        .bind(from_period)
        .bind(to_period);
    if let Some(id) = agent_id {
        query = query.bind(id.to_owned());
    }
    let rows = query.fetch_all(db).await?;
    rows.into_iter()
        .map(|r| {
            let id: i64 = r.try_get("host_chunk_id")?;
            let data: Vec<u8> = r.try_get("data")?;
            let block = chunk::decode(&data)
                .inspect_err(|e| {
                    if unreadable_chunks().report(id) {
                        tracing::error!(chunk = id, error = %e, "skipping an unreadable history chunk");
                    }
                })
                .ok();
            Ok(StoredChunk {
                id,
                pending: r.try_get::<i64, _>("pending")? != 0,
                block,
            })
        })
        .collect()
}

async fn replace_rollup(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    layer: Layer,
    period: i64,
    buckets: &BTreeMap<i64, Figures>,
) -> Result<(), StoreError> {
    let sql = format!(
        "delete from host_chunk where layer = $1 and period = $2 and {}",
        host_filter(agent_id, 3)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(layer.code())
        .bind(period);
    if let Some(id) = agent_id {
        query = query.bind(id.to_owned());
    }
    query.execute(&mut **tx).await?;
    if !buckets.is_empty() {
        let chunk = NewChunk {
            agent_id,
            layer,
            period,
            pending: false,
            block: rollup_block(buckets),
        };
        insert_chunks(tx, std::slice::from_ref(&chunk)).await?;
    }
    Ok(())
}

/// Runs `statement` (a delete or update of `host_chunk`) on the chunks with these ids.
async fn for_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    statement: &str,
    ids: &[i64],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(AssertSqlSafe(format!(
        "{statement} where host_chunk_id in ({list})"
    )))
    // One text per id list: not worth a place in the statement cache.
    .persistent(false)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Folds one host's hour: merges its raw chunks into one once the hour is over (or once
/// many have piled up), settles the pending ones (unreadable ones too, so they are not read
/// again every pass) and rewrites the hour's 1-minute rollup. Returns the new samples.
async fn fold_hour(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    period: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let chunks = read_chunks(
        &mut **tx,
        agent_id,
        Layer::Raw,
        period,
        period.saturating_add(1),
    )
    .await?;
    let new_samples = chunks
        .iter()
        .filter(|c| c.pending)
        .filter_map(|c| c.block.as_ref())
        .map(|b| b.len() as u64)
        .sum();
    let pending_ids: Vec<i64> = chunks.iter().filter(|c| c.pending).map(|c| c.id).collect();
    let readable: Vec<i64> = chunks
        .iter()
        .filter(|c| c.block.is_some())
        .map(|c| c.id)
        .collect();
    let mut minutes = BTreeMap::new();
    for b in chunks.iter().filter_map(|c| c.block.as_ref()) {
        bucket(&mut minutes, MINUTE_MS, points(Layer::Raw, b));
    }
    let sealed = period.saturating_add(HOUR_MS + SEAL_AFTER_MS) <= now;
    if readable.len() > 1 && (sealed || readable.len() >= MERGE_AT) {
        for_chunks(tx, "delete from host_chunk", &readable).await?;
        let merged = NewChunk {
            agent_id,
            layer: Layer::Raw,
            period,
            pending: false,
            block: Block::concat(RAW_WIDTH, chunks.into_iter().filter_map(|c| c.block)),
        };
        insert_chunks(tx, std::slice::from_ref(&merged)).await?;
    }
    for_chunks(tx, "update host_chunk set pending = 0", &pending_ids).await?;
    replace_rollup(tx, agent_id, Layer::Minute, period, &minutes).await?;
    Ok(new_samples)
}

impl Store {
    /// Appends a sample (the local collector's).
    pub async fn insert_host_sample(&self, s: &SampleRow) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        insert_samples(&mut tx, &[s]).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Folds raw chunks stored since the last run into the rollups (merging each finished
    /// hour's chunks into one). Returns how many samples were folded in.
    pub async fn roll_up(&self) -> Result<u64, StoreError> {
        let mut folded = 0u64;
        'batches: loop {
            let now = proto::clock::now_ms();
            let mut tx = self.write_tx().await?;
            let groups: Vec<(Option<String>, i64)> = sqlx::query(AssertSqlSafe(format!(
                "select distinct agent_id, period from host_chunk where pending = 1 limit {FOLD_GROUPS_PER_TX}"
            )))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("agent_id")?, r.try_get("period")?)))
            .collect::<Result<_, sqlx::Error>>()?;
            if groups.is_empty() {
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                break;
            }
            let mut days = BTreeSet::new();
            let mut agent_samples = 0u64;
            for (agent_id, period) in &groups {
                let agent_id = agent_id.as_deref();
                // A host-hour that cannot be folded (a bug meeting odd data) is settled unfolded,
                // counted and logged once, instead of failing every pass.
                let attempt =
                    std::panic::AssertUnwindSafe(fold_hour(&mut tx, agent_id, *period, now))
                        .catch_unwind()
                        .await;
                let new_samples = match attempt {
                    Ok(result) => result?,
                    Err(panic) => {
                        drop(tx);
                        let why = crate::health::panic_message(&*panic);
                        self.skip_unfoldable(agent_id, *period, &why).await?;
                        continue 'batches;
                    }
                };
                folded += new_samples;
                if agent_id.is_some() {
                    agent_samples += new_samples;
                }
                days.insert((agent_id, floor(*period, DAY_MS)));
            }
            for (agent_id, day) in days {
                let mut hours = BTreeMap::new();
                for c in read_chunks(
                    &mut *tx,
                    agent_id,
                    Layer::Minute,
                    day,
                    day.saturating_add(DAY_MS),
                )
                .await?
                {
                    if let Some(b) = &c.block {
                        bucket(&mut hours, HOUR_MS, points(Layer::Minute, b));
                    }
                }
                replace_rollup(&mut tx, agent_id, Layer::Hour, day, &hours).await?;
            }
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            self.folded_agent_samples
                .fetch_add(agent_samples, std::sync::atomic::Ordering::Relaxed);
        }
        self.reclaim_free_pages().await;
        Ok(folded)
    }

    /// Marks a host-hour's raw chunks folded without folding them (their samples stay
    /// readable as raw history) and counts it.
    async fn skip_unfoldable(
        &self,
        agent_id: Option<&str>,
        period: i64,
        why: &str,
    ) -> Result<(), StoreError> {
        tracing::error!(agent_id = ?agent_id, period, panic = %why, "cannot fold a host-hour of history; skipping it");
        let sql = format!(
            "update host_chunk set pending = 0 where layer = $1 and period = $2 and {}",
            host_filter(agent_id, 3)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(Layer::Raw.code())
            .bind(period);
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        query.execute(&self.pool).await?;
        self.skipped_hours
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Gives the pages that merged and expired chunks left free back to the file system
    /// (SQLite in incremental auto-vacuum mode), once there are enough to matter.
    async fn reclaim_free_pages(&self) {
        if self.dialect != super::Dialect::Sqlite {
            return;
        }
        let counts = sqlx::query(
            "select f.freelist_count as free, p.page_count as pages from pragma_freelist_count() f, pragma_page_count() p",
        )
        .fetch_one(&self.pool)
        .await
        .and_then(|r| Ok((r.try_get::<i64, _>("free")?, r.try_get::<i64, _>("pages")?)));
        if let Ok((free, pages)) = counts
            && free >= 256
            && free * 10 >= pages
            && let Err(e) = sqlx::query("pragma incremental_vacuum")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "cannot return free database pages");
        }
    }

    /// Average, minimum and maximum of `metric` per `step_ms` bucket in `[from_ms, to_ms)`,
    /// read from the coarsest layer that fits the step. Hours whose rollups are not yet
    /// current (new samples arrived since the last fold) are read from their raw samples, so
    /// the newest figures show at every step.
    pub async fn history(
        &self,
        agent_id: Option<&str>,
        metric: app::Metric,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<HistoryBucket>, StoreError> {
        let step_ms = step_ms.max(1);
        let layer = Layer::for_step(step_ms);
        let figure = FIGURES.iter().position(|m| *m == metric).unwrap_or(0);
        let mut buckets: BTreeMap<i64, Figures> = BTreeMap::new();
        let in_range = |(ts, _): &(i64, Figures)| *ts >= from_ms && *ts < to_ms;
        let first_hour = floor(from_ms, HOUR_MS);
        if layer == Layer::Raw {
            for c in read_chunks(&self.pool, agent_id, Layer::Raw, first_hour, to_ms).await? {
                if let Some(b) = &c.block {
                    let p = points(Layer::Raw, b).into_iter().filter(in_range).collect();
                    bucket(&mut buckets, step_ms, p);
                }
            }
        } else {
            let sql = format!(
                "select distinct period from host_chunk where pending = 1 and period >= $1 and period < $2 and {}",
                host_filter(agent_id, 3)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(first_hour).bind(to_ms);
            if let Some(id) = agent_id {
                query = query.bind(id.to_owned());
            }
            let stale: BTreeSet<i64> = query
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| r.try_get("period"))
                .collect::<Result<_, _>>()?;
            let first = floor(from_ms, layer.period_ms());
            for c in read_chunks(&self.pool, agent_id, layer, first, to_ms).await? {
                if let Some(b) = &c.block {
                    let p = points(layer, b)
                        .into_iter()
                        .filter(in_range)
                        .filter(|(ts, _)| !stale.contains(&floor(*ts, HOUR_MS)))
                        .collect();
                    bucket(&mut buckets, step_ms, p);
                }
            }
            for hour in stale {
                for c in read_chunks(
                    &self.pool,
                    agent_id,
                    Layer::Raw,
                    hour,
                    hour.saturating_add(1),
                )
                .await?
                {
                    if let Some(b) = &c.block {
                        let p = points(Layer::Raw, b).into_iter().filter(in_range).collect();
                        bucket(&mut buckets, step_ms, p);
                    }
                }
            }
        }
        Ok(buckets
            .into_iter()
            .map(|(start_ms, figures)| {
                let s = figures[figure];
                HistoryBucket {
                    start_ms,
                    avg: s.avg(),
                    min: s.min,
                    max: s.max,
                }
            })
            .collect())
    }

    /// The time of every raw sample stored for a host, oldest first (for audits and tests).
    pub async fn raw_sample_times(&self, agent_id: Option<&str>) -> Result<Vec<i64>, StoreError> {
        let mut times = Vec::new();
        for c in read_chunks(&self.pool, agent_id, Layer::Raw, i64::MIN, i64::MAX).await? {
            if let Some(b) = c.block {
                times.extend(b.ts);
            }
        }
        times.sort_unstable();
        Ok(times)
    }

    /// History chunks not yet folded into the rollups.
    pub async fn pending_chunks(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("select count(*) as n from host_chunk where pending = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Deletes the chunks that lie wholly before each layer's retention (so history is
    /// removed an hour, or for 1-hour rollups a day, at a time). Returns chunks removed per
    /// layer.
    pub async fn apply_retention(
        &self,
        now_ms: i64,
        raw_ms: i64,
        minute_ms: i64,
        hour_ms: i64,
    ) -> Result<[u64; 3], StoreError> {
        let mut removed = [0; 3];
        for (i, (layer, keep)) in [
            (Layer::Raw, raw_ms),
            (Layer::Minute, minute_ms),
            (Layer::Hour, hour_ms),
        ]
        .into_iter()
        .enumerate()
        {
            let done = sqlx::query("delete from host_chunk where layer = $1 and period <= $2")
                .bind(layer.code())
                .bind(
                    now_ms
                        .saturating_sub(keep)
                        .saturating_sub(layer.period_ms()),
                )
                .execute(&self.pool)
                .await?;
            removed[i] = done.rows_affected();
        }
        self.reclaim_free_pages().await;
        Ok(removed)
    }
}

/// Raw rows of the legacy table are converted ten minutes at a time, rollup rows one chunk
/// period at a time, so memory stays bounded whatever the fleet.
const LEGACY_RAW_PAGE_MS: i64 = 10 * MINUTE_MS;

impl Store {
    /// Moves host history kept in the row tables of earlier versions into chunks (raw samples
    /// as pending chunks, which the next fold rolls up; rollups older than the raw samples as
    /// they were), then drops those tables. Does nothing once done.
    pub(super) async fn convert_legacy_history(&self) -> Result<(), StoreError> {
        let exists = match self.dialect {
            super::Dialect::Sqlite => {
                "select count(*) as n from sqlite_master where type = 'table' and name = 'legacy_host_sample'"
            }
            super::Dialect::Postgres => {
                "select count(*) as n from information_schema.tables \
                 where table_schema = current_schema() and table_name = 'legacy_host_sample'"
            }
        };
        let n: i64 = sqlx::query(exists)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        if n == 0 {
            return Ok(());
        }
        tracing::info!("converting stored host history to packed chunks");
        let mut samples = 0u64;
        let mut cursor = i64::MIN;
        while let Some(start) = self.legacy_next("legacy_host_sample", cursor).await? {
            let page = floor(start, LEGACY_RAW_PAGE_MS);
            let rows = sqlx::query(
                "select agent_id, ts, cpu_pct, load1, load5, load15, mem_total, mem_used, swap_total, swap_used, \
                 disk_total, disk_used, net_rx_bps, net_tx_bps from legacy_host_sample where ts >= $1 and ts < $2",
            )
            .bind(page)
            .bind(page + LEGACY_RAW_PAGE_MS)
            .fetch_all(&self.pool)
            .await?;
            let rows: Vec<SampleRow> = rows
                .into_iter()
                .map(|r| {
                    Ok(SampleRow {
                        agent_id: r.try_get::<Option<String>, _>("agent_id")?.map(Into::into),
                        ts_ms: r.try_get("ts")?,
                        cpu_pct: r.try_get("cpu_pct")?,
                        load: [
                            r.try_get("load1")?,
                            r.try_get("load5")?,
                            r.try_get("load15")?,
                        ],
                        mem_total: r.try_get("mem_total")?,
                        mem_used: r.try_get("mem_used")?,
                        swap_total: r.try_get("swap_total")?,
                        swap_used: r.try_get("swap_used")?,
                        disk_total: r.try_get("disk_total")?,
                        disk_used: r.try_get("disk_used")?,
                        net_rx_bps: r.try_get("net_rx_bps")?,
                        net_tx_bps: r.try_get("net_tx_bps")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
            samples += rows.len() as u64;
            let mut tx = self.write_tx().await?;
            insert_samples(&mut tx, &rows.iter().collect::<Vec<_>>()).await?;
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            cursor = page + LEGACY_RAW_PAGE_MS;
        }
        for (table, layer) in [
            ("legacy_host_rollup_1m", Layer::Minute),
            ("legacy_host_rollup_1h", Layer::Hour),
        ] {
            let mut cursor = i64::MIN;
            while let Some(start) = self.legacy_next(table, cursor).await? {
                let period = floor(start, layer.period_ms());
                let columns: Vec<String> = ["cpu", "mem", "disk", "rx", "tx"]
                    .iter()
                    .map(|p| format!("{p}_avg, {p}_min, {p}_max"))
                    .collect();
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "select agent_id, ts, n, {} from {table} where ts >= $1 and ts < $2",
                    columns.join(", ")
                )))
                .bind(period)
                .bind(period + layer.period_ms())
                .fetch_all(&self.pool)
                .await?;
                let mut hosts: BTreeMap<Option<String>, BTreeMap<i64, Figures>> = BTreeMap::new();
                for r in rows {
                    let n: i64 = r.try_get("n")?;
                    let mut figures = [Stat::EMPTY; 5];
                    for (f, p) in ["cpu", "mem", "disk", "rx", "tx"].iter().enumerate() {
                        let avg: f64 = r.try_get(format!("{p}_avg").as_str())?;
                        figures[f] = Stat {
                            n,
                            sum: avg * n as f64,
                            min: r.try_get(format!("{p}_min").as_str())?,
                            max: r.try_get(format!("{p}_max").as_str())?,
                        };
                    }
                    hosts
                        .entry(r.try_get("agent_id")?)
                        .or_default()
                        .insert(r.try_get("ts")?, figures);
                }
                let mut tx = self.write_tx().await?;
                for (agent_id, buckets) in &hosts {
                    replace_rollup(&mut tx, agent_id.as_deref(), layer, period, buckets).await?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                cursor = period + layer.period_ms();
            }
        }
        for table in [
            "legacy_host_sample",
            "legacy_host_rollup_1m",
            "legacy_host_rollup_1h",
        ] {
            sqlx::query(AssertSqlSafe(format!("drop table {table}")))
                .execute(&self.pool)
                .await?;
        }
        if self.dialect == super::Dialect::Sqlite {
            // Earlier files were made without auto-vacuum; one VACUUM turns it on (every
            // connection asks for incremental mode) and gives back the dropped tables' pages.
            sqlx::query("vacuum").execute(&self.pool).await?;
        }
        tracing::info!(samples, "host history converted");
        Ok(())
    }

    /// The earliest `ts` at or after `cursor` in a legacy table.
    async fn legacy_next(&self, table: &str, cursor: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "select min(ts) as t from {table} where ts >= $1"
        )))
        .bind(cursor)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("t")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollups_keep_count_mean_and_extremes() {
        let mut raw = Block::new(RAW_WIDTH);
        for (i, cpu) in [10.0, 30.0, 20.0].into_iter().enumerate() {
            let mut v = [0i64; RAW_WIDTH];
            v[0] = hundredths(cpu);
            (v[4], v[5]) = (1000, 250 * (i as i64 + 1));
            v[10] = 100 * i as i64;
            raw.push(i as i64 * 10_000, &v);
        }
        let mut minutes = BTreeMap::new();
        bucket(&mut minutes, MINUTE_MS, points(Layer::Raw, &raw));
        let stored = chunk::decode(&chunk::encode(&rollup_block(&minutes))).unwrap();
        let back = points(Layer::Minute, &stored);
        assert_eq!(back.len(), 1);
        let [cpu, mem, _, rx, _] = back[0].1;
        assert_eq!((cpu.n, cpu.avg(), cpu.min, cpu.max), (3, 20.0, 10.0, 30.0));
        assert_eq!((mem.avg(), mem.min, mem.max), (50.0, 25.0, 75.0));
        assert_eq!((rx.avg(), rx.max), (100.0, 200.0));
    }

    #[test]
    fn the_layer_follows_the_step() {
        assert_eq!(Layer::for_step(10_000), Layer::Raw);
        assert_eq!(Layer::for_step(60_000), Layer::Minute);
        assert_eq!(Layer::for_step(3_600_000), Layer::Hour);
    }
}
