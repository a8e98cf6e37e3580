//! The fold: pending raw chunks into merged hours, 1-minute and 1-hour rollups.
use std::collections::BTreeMap;

use futures::FutureExt;
use sqlx::{AssertSqlSafe, Row};

use super::layout::{RAW_WIDTH, bucket, points, rollup_block};
use super::*;
use crate::store::chunk::Block;

/// Folds one host's hour: merges its raw chunks into one once the hour is over (or once
/// many have piled up), settles the pending ones (unreadable ones too, so they are not read
/// again every pass), rewrites the hour's 1-minute rollup and its row of the day's 1-hour
/// rollup. Returns the new samples.
pub(super) async fn fold_hour(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    period: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let chunks = read_chunks(
        &mut **tx,
        agent_id,
        Layer::Raw.code(),
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
    // The hour's figures from its minutes' exact counts, sums and extremes (not the rounded
    // means the minute rollup keeps).
    let mut hour = BTreeMap::new();
    bucket(
        &mut hour,
        HOUR_MS,
        minutes.iter().map(|(ts, f)| (*ts, *f)).collect(),
    );
    if readable.len() > 1 && merge_due(period, &chunks, now) {
        for_chunks(tx, "delete from host_chunk", &readable).await?;
        let merged = NewChunk {
            agent_id,
            code: Layer::Raw.code(),
            period,
            pending: false,
            block: Block::concat(RAW_WIDTH, chunks.into_iter().filter_map(|c| c.block)),
        };
        insert_chunks(tx, std::slice::from_ref(&merged)).await?;
    }
    for_chunks(tx, "update host_chunk set pending = 0", &pending_ids).await?;
    let minutes = rollup_block(&minutes);
    replace_rollup(tx, agent_id, Layer::Minute.code(), period, minutes).await?;
    replace_hour(tx, agent_id, period, hour).await?;
    series::fold_hour(tx, agent_id, period, now).await?;
    Ok(new_samples)
}

/// Puts one hour's figures, taken from its raw samples, into its day's 1-hour rollup in place
/// of the hour's old row. The day's other hours are kept as that rollup has them: a fold
/// reads one small chunk per host-hour, not the day's 1-minute rollups.
async fn replace_hour(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    period: i64,
    this_hour: BTreeMap<i64, layout::Figures>,
) -> Result<(), StoreError> {
    let day = floor(period, DAY_MS);
    let code = Layer::Hour.code();
    let mut hours = BTreeMap::new();
    for c in read_chunks(&mut **tx, agent_id, code, day, day.saturating_add(1)).await? {
        if let Some(b) = &c.block {
            let others = points(Layer::Hour, b)
                .into_iter()
                .filter(|(ts, _)| floor(*ts, HOUR_MS) != period)
                .collect();
            bucket(&mut hours, HOUR_MS, others);
        }
    }
    hours.extend(this_hour);
    replace_rollup(tx, agent_id, code, day, rollup_block(&hours)).await
}

impl Store {
    /// Folds the raw chunks of every host-hour that is ready ([`ready_hours`](Self::ready_hours))
    /// into the rollups (merging an hour's chunks into one). Returns how many samples were
    /// folded in.
    pub async fn roll_up(&self) -> Result<u64, StoreError> {
        self.roll_up_at(proto::clock::now_ms()).await
    }

    /// [`roll_up`](Self::roll_up) as at `now` (unix milliseconds), which decides what is due.
    pub async fn roll_up_at(&self, now: i64) -> Result<u64, StoreError> {
        let mut folded = 0u64;
        let ready = self.ready_hours(now).await?;
        'batches: for batch in ready.chunks(FOLD_GROUPS_PER_TX) {
            let turn = self.write_turn().await;
            let mut tx = self.write_tx().await?;
            let mut agent_samples = 0u64;
            for (agent_id, period) in batch {
                let agent_id = agent_id.as_deref();
                // A host-hour that cannot be folded (a bug meeting odd data) is settled unfolded,
                // counted and logged once, instead of failing every pass; the rest of its
                // transaction is folded again with the next ones.
                let attempt =
                    std::panic::AssertUnwindSafe(fold_hour(&mut tx, agent_id, *period, now))
                        .catch_unwind()
                        .await;
                let new_samples = match attempt {
                    Ok(result) => result?,
                    Err(panic) => {
                        drop(tx);
                        drop(turn);
                        let why = crate::health::panic_message(&*panic);
                        self.skip_unfoldable(agent_id, *period, &why).await?;
                        let rest: Vec<_> = batch
                            .iter()
                            .filter(|(a, p)| (a.as_deref(), *p) != (agent_id, *period))
                            .cloned()
                            .collect();
                        folded += self.fold_groups(&rest, now).await?;
                        continue 'batches;
                    }
                };
                folded += new_samples;
                if agent_id.is_some() {
                    agent_samples += new_samples;
                }
            }
            tx.commit().await.map_err(StoreError::from_sqlx)?;
            for (agent_id, period) in batch {
                self.unfolded.forget(agent_id.as_deref(), *period);
            }
            drop(turn);
            self.folded_agent_samples
                .fetch_add(agent_samples, std::sync::atomic::Ordering::Relaxed);
        }
        self.reclaim_free_pages().await;
        if folded > 0 {
            self.empty_wal().await;
        }
        Ok(folded)
    }

    /// Folds these host-hours, one transaction each (after a panic in their shared one).
    async fn fold_groups(
        &self,
        groups: &[(Option<String>, i64)],
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut folded = 0;
        for (agent_id, period) in groups {
            let agent_id = agent_id.as_deref();
            let turn = self.write_turn().await;
            let mut tx = self.write_tx().await?;
            let attempt = std::panic::AssertUnwindSafe(fold_hour(&mut tx, agent_id, *period, now))
                .catch_unwind()
                .await;
            match attempt {
                Ok(result) => {
                    let new_samples = result?;
                    tx.commit().await.map_err(StoreError::from_sqlx)?;
                    self.unfolded.forget(agent_id, *period);
                    folded += new_samples;
                    if agent_id.is_some() {
                        self.folded_agent_samples
                            .fetch_add(new_samples, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Err(panic) => {
                    drop(tx);
                    drop(turn);
                    let why = crate::health::panic_message(&*panic);
                    self.skip_unfoldable(agent_id, *period, &why).await?;
                }
            }
        }
        Ok(folded)
    }

    /// The host-hours with pending raw chunks that are due a fold: the hour is over (and
    /// [`SEAL_AFTER_MS`] has passed), [`MERGE_AT`] chunks of it have piled up, or no sample
    /// of it has come for [`QUIET_AFTER_MS`] (its host went quiet). A live hour is otherwise
    /// left pending: reads take it from its raw chunks, and folding it every pass rewrote its
    /// rollups (and every page they touch) every 30 s, most of what live ingest wrote.
    async fn ready_hours(&self, now: i64) -> Result<Vec<(Option<String>, i64)>, StoreError> {
        let rows = sqlx::query(
            "select agent_id, period from host_chunk where pending = 1 group by agent_id, period \
             having period <= $1 or count(*) >= $2 or max(last_ts) <= $3",
        )
        .bind(now.saturating_sub(HOUR_MS + SEAL_AFTER_MS))
        // Both layers' chunks count: a commit writes one of each.
        .bind(2 * MERGE_AT as i64)
        .bind(now.saturating_sub(QUIET_AFTER_MS))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("agent_id")?, r.try_get("period")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Copies the write-ahead log into the database and empties the file once it has grown
    /// past 4 MiB (SQLite keeps it at its largest otherwise, and after a burst of writes it
    /// can be half the size of the database). Readers still on it are waited for (within the
    /// busy timeout); the batch writer waits for the turn only.
    async fn empty_wal(&self) {
        if self.dialect != crate::store::Dialect::Sqlite {
            return;
        }
        let _turn = self.write_turn().await;
        // Its second column: the frames in the log.
        let frames = sqlx::query("pragma wal_checkpoint(passive)")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(1));
        match frames {
            Ok(frames) if frames > 1024 => {
                if let Err(e) = sqlx::query("pragma wal_checkpoint(truncate)")
                    .execute(&self.pool)
                    .await
                {
                    tracing::warn!(error = %e, "cannot empty the write-ahead log");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot checkpoint the write-ahead log"),
        }
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
            "update host_chunk set pending = 0 where layer in ($1, $2) and period = $3 and {}",
            host_filter(agent_id, 4)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(Layer::Raw.code())
            .bind(Layer::Raw.series_code())
            .bind(period);
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        let _turn = self.write_turn().await;
        query.execute(&self.pool).await?;
        // Settled without a rollup: not in the sparklines either.
        self.unfolded.forget(agent_id, period);
        self.skipped_hours
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Gives the pages that merged and expired chunks left free back to the file system
    /// (SQLite in incremental auto-vacuum mode), once there are enough to matter.
    pub(super) async fn reclaim_free_pages(&self) {
        if self.dialect != crate::store::Dialect::Sqlite {
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
        {
            let started = std::time::Instant::now();
            match sqlx::query("pragma incremental_vacuum")
                .execute(&self.pool)
                .await
            {
                Ok(_) => tracing::debug!(
                    free,
                    pages,
                    took_ms = started.elapsed().as_millis() as u64,
                    "free database pages returned"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot return free database pages"),
            }
        }
    }
}
