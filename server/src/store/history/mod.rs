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
use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::{AssertSqlSafe, Row};

use super::chunk::{self, Block};
use super::samples::SampleRow;
use super::{Store, StoreError};

mod fold;
mod layout;
mod legacy;
mod query;
mod retention;
mod series;

pub use series::SeriesValue;
pub(in crate::store) use series::{SeriesIds, insert_series};

use layout::{Figures, RAW_WIDTH};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// An hour's raw chunks are merged into one this long after the hour ends...
const SEAL_AFTER_MS: i64 = 2 * MINUTE_MS;
/// ...or as soon as this many have piled up...
const MERGE_AT: usize = 32;
/// ...or once no sample of it came for this long (its host went quiet, and the hour may well
/// stay as it is: six missed samples at the usual 10 s).
const QUIET_AFTER_MS: i64 = MINUTE_MS;
/// Host-hours folded per transaction, so the batch writer never waits long: with a thousand
/// live hosts, 64 held the writer for a few hundred milliseconds every 30 s, which is what
/// live updates then waited for.
const FOLD_GROUPS_PER_TX: usize = 8;
/// Chunk rows per INSERT statement (eight parameters each).
const CHUNKS_PER_INSERT: usize = 64;

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

    /// The stored layer code of the host totals at this layer.
    fn code(self) -> i64 {
        match self {
            Layer::Raw => 0,
            Layer::Minute => 1,
            Layer::Hour => 2,
        }
    }

    /// The stored layer code of the labelled series at this layer.
    fn series_code(self) -> i64 {
        3 + self.code()
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

/// `agent_id = $n` for an agent, `agent_id is null` for the local host.
fn host_filter(agent_id: Option<&str>, n: usize) -> String {
    match agent_id {
        Some(_) => format!("agent_id = ${n}"),
        None => "agent_id is null".into(),
    }
}

/// Whether a host-hour's raw chunks are merged into one now: the hour is over (and
/// [`SEAL_AFTER_MS`] has passed), [`MERGE_AT`] have piled up, or its newest sample is
/// [`QUIET_AFTER_MS`] old.
fn merge_due(period: i64, chunks: &[StoredChunk], now: i64) -> bool {
    let sealed = period.saturating_add(HOUR_MS + SEAL_AFTER_MS) <= now;
    let newest = chunks
        .iter()
        .filter_map(|c| c.block.as_ref())
        .filter_map(|b| b.ts.iter().max())
        .max();
    let quiet = newest.is_some_and(|ts| ts.saturating_add(QUIET_AFTER_MS) <= now);
    sealed || chunks.len() >= MERGE_AT || quiet
}

/// A chunk about to be inserted.
struct NewChunk<'a> {
    agent_id: Option<&'a str>,
    /// [`Layer::code`] or [`Layer::series_code`].
    code: i64,
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
                .bind(c.code)
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

/// Stores host samples as pending raw chunks: one per host and hour they fall in. Returns
/// their figures, for [`Unfolded::add`] once the transaction is committed.
pub(in crate::store) async fn insert_samples(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[&SampleRow],
) -> Result<NewFigures, StoreError> {
    let mut groups: BTreeMap<(Option<&str>, i64), Block> = BTreeMap::new();
    for s in rows {
        groups
            .entry((s.agent_id.as_deref(), floor(s.ts_ms, HOUR_MS)))
            .or_insert_with(|| Block::new(RAW_WIDTH))
            .push(s.ts_ms, &s.columns());
    }
    let figures = NewFigures(
        groups
            .iter()
            .map(|((agent_id, period), block)| {
                let key = (agent_id.map(str::to_owned), *period);
                (key, layout::points(Layer::Raw, block))
            })
            .collect(),
    );
    let chunks: Vec<NewChunk> = groups
        .into_iter()
        .map(|((agent_id, period), block)| NewChunk {
            agent_id,
            code: Layer::Raw.code(),
            period,
            pending: true,
            block,
        })
        .collect();
    insert_chunks(tx, &chunks).await?;
    Ok(figures)
}

/// A host-hour: agent id (`None` for the local host) and the hour's start.
type HostHour = (Option<String>, i64);

/// Figures by time.
type Points = Vec<(i64, Figures)>;

/// Figures of samples just stored, by host-hour: what [`Unfolded::add`] takes.
pub(in crate::store) struct NewFigures(Vec<(HostHour, Points)>);

/// The 1-minute figures of every host's samples not folded yet, in memory. A live hour gets
/// its 1-minute rollup only once it is folded (when due), so the fleet overview's
/// sparklines, which read every host's rollups at once, add these to them. The two never
/// overlap: a sample is in a rollup exactly when its chunk is no longer pending. Both sides
/// change while the write turn is held: samples are added after each commit, a host-hour's
/// figures dropped after the fold that took it in. Read from the pending chunks at start.
#[derive(Default)]
pub(in crate::store) struct Unfolded {
    hours: std::sync::Mutex<HashMap<HostHour, BTreeMap<i64, Figures>>>,
}

impl Unfolded {
    fn hours(&self) -> std::sync::MutexGuard<'_, HashMap<HostHour, BTreeMap<i64, Figures>>> {
        self.hours.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(in crate::store) fn add(&self, new: NewFigures) {
        let mut hours = self.hours();
        for (key, points) in new.0 {
            layout::bucket(hours.entry(key).or_default(), MINUTE_MS, points);
        }
    }

    /// A host-hour was folded: its samples are in the rollups now.
    fn forget(&self, agent_id: Option<&str>, period: i64) {
        self.hours().remove(&(agent_id.map(str::to_owned), period));
    }

    /// A host was deleted with its history.
    pub(in crate::store) fn forget_host(&self, agent_id: &str) {
        self.hours()
            .retain(|(host, _), _| host.as_deref() != Some(agent_id));
    }

    /// The minutes in `[from_ms, to_ms)`, by host.
    fn minutes(&self, from_ms: i64, to_ms: i64) -> Vec<(Option<String>, Points)> {
        let first_hour = floor(from_ms, HOUR_MS);
        self.hours()
            .iter()
            .filter(|((_, period), _)| *period >= first_hour && *period < to_ms)
            .map(|((host, _), minutes)| {
                let points = minutes
                    .range(from_ms..to_ms)
                    .map(|(ts, f)| (*ts, *f))
                    .collect();
                (host.clone(), points)
            })
            .collect()
    }
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

/// A stored chunk's block; an unreadable one is reported (once) and skipped.
fn decode_or_report(id: i64, data: &[u8]) -> Option<Block> {
    chunk::decode(data)
        .inspect_err(|e| {
            if unreadable_chunks().report(id) {
                tracing::error!(chunk = id, error = %e, "skipping an unreadable history chunk");
            }
        })
        .ok()
}

async fn read_chunks<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    db: E,
    agent_id: Option<&str>,
    code: i64,
    from_period: i64,
    to_period: i64,
) -> Result<Vec<StoredChunk>, StoreError> {
    let sql = format!(
        "select host_chunk_id, pending, data from host_chunk \
         where layer = $1 and period >= $2 and period < $3 and {} order by period, host_chunk_id",
        host_filter(agent_id, 4)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(code)
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
            let block = decode_or_report(id, &data);
            Ok(StoredChunk {
                id,
                pending: r.try_get::<i64, _>("pending")? != 0,
                block,
            })
        })
        .collect()
}

/// Replaces the rollup chunk of layer `code` for a host and period with `block` (none when
/// it is empty).
async fn replace_rollup(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    code: i64,
    period: i64,
    block: Block,
) -> Result<(), StoreError> {
    let sql = format!(
        "delete from host_chunk where layer = $1 and period = $2 and {}",
        host_filter(agent_id, 3)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(code).bind(period);
    if let Some(id) = agent_id {
        query = query.bind(id.to_owned());
    }
    query.execute(&mut **tx).await?;
    if !block.is_empty() {
        let chunk = NewChunk {
            agent_id,
            code,
            period,
            pending: false,
            block,
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

impl Store {
    /// The hours in `[first_hour, to_ms)` where a host has raw chunks of layer `raw_code` not
    /// yet folded: their rollups are behind, so reads take those hours from the raw chunks.
    async fn stale_hours(
        &self,
        agent_id: Option<&str>,
        raw_code: i64,
        first_hour: i64,
        to_ms: i64,
    ) -> Result<BTreeSet<i64>, StoreError> {
        self.raw_hours(agent_id, raw_code, first_hour, to_ms, true)
            .await
    }

    /// The hours in `[first_hour, to_ms)` with raw chunks under `raw_code`: every one, or
    /// with `pending_only` those holding samples not folded yet.
    async fn raw_hours(
        &self,
        agent_id: Option<&str>,
        raw_code: i64,
        first_hour: i64,
        to_ms: i64,
        pending_only: bool,
    ) -> Result<BTreeSet<i64>, StoreError> {
        let pending = if pending_only { "pending = 1 and" } else { "" };
        let sql = format!(
            "select distinct period from host_chunk where layer = $1 and {pending} period >= $2 and period < $3 and {}",
            host_filter(agent_id, 4)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(raw_code)
            .bind(first_hour)
            .bind(to_ms);
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| r.try_get("period"))
            .collect::<Result<_, _>>()?)
    }

    /// Appends a sample (the local collector's).
    pub async fn insert_host_sample(&self, s: &SampleRow) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.write_tx().await?;
        let figures = insert_samples(&mut tx, &[s]).await?;
        let series = [(s.agent_id.as_deref(), s.ts_ms, s.series.as_slice())];
        let names = insert_series(&mut tx, &self.series_ids, &series).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        self.series_ids.remember(names);
        self.unfolded.add(figures);
        Ok(())
    }

    /// Reads the figures of the samples not folded yet ([`Unfolded`]), at start.
    pub(in crate::store) async fn load_unfolded(&self) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "select host_chunk_id, agent_id, period, data from host_chunk where layer = $1 and pending = 1",
        )
        .bind(Layer::Raw.code())
        .fetch_all(&self.pool)
        .await?;
        let mut new = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get("host_chunk_id")?;
            let data: Vec<u8> = r.try_get("data")?;
            if let Some(block) = decode_or_report(id, &data) {
                let key = (r.try_get("agent_id")?, r.try_get("period")?);
                new.push((key, layout::points(Layer::Raw, &block)));
            }
        }
        self.unfolded.add(NewFigures(new));
        Ok(())
    }

    /// History chunks not yet folded into the rollups.
    pub async fn pending_chunks(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("select count(*) as n from host_chunk where pending = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
