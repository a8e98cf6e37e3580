//! Dropping history past each layer's retention.
use sqlx::Row;

use super::*;

impl Store {
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
        self.keep_series_minutes(raw_cutoff(now_ms, raw_ms), raw_cutoff(now_ms, minute_ms))
            .await?;
        for (i, (layer, keep)) in [
            (Layer::Raw, raw_ms),
            (Layer::Minute, minute_ms),
            (Layer::Hour, hour_ms),
        ]
        .into_iter()
        .enumerate()
        {
            // The host totals and the labelled series of a layer are kept alike.
            let done =
                sqlx::query("delete from host_chunk where layer in ($1, $2) and period <= $3")
                    .bind(layer.code())
                    .bind(layer.series_code())
                    .bind(match layer {
                        Layer::Raw | Layer::Minute => raw_cutoff(now_ms, keep),
                        Layer::Hour => now_ms.saturating_sub(keep).saturating_sub(DAY_MS),
                    })
                    .execute(&self.pool)
                    .await?;
            removed[i] = done.rows_affected();
        }
        self.reclaim_free_pages().await;
        Ok(removed)
    }

    /// Writes the 1-minute series rollups of the host-hours whose raw values are about to
    /// expire (period at most `raw_cutoff`), unless the rollup would expire as well.
    async fn keep_series_minutes(
        &self,
        raw_cutoff: i64,
        minute_cutoff: i64,
    ) -> Result<(), StoreError> {
        let groups: Vec<(Option<String>, i64)> = sqlx::query(
            "select distinct agent_id, period from host_chunk where layer = $1 and period <= $2 and period > $3",
        )
        .bind(Layer::Raw.series_code())
        .bind(raw_cutoff)
        .bind(minute_cutoff)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("agent_id")?, r.try_get("period")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        // A few host-hours per transaction, as the fold does, so the batch writer never waits long.
        for batch in groups.chunks(FOLD_GROUPS_PER_TX) {
            let _turn = self.write_turn().await;
            let mut tx = self.write_tx().await?;
            for (agent_id, period) in batch {
                series::keep_minutes(&mut tx, agent_id.as_deref(), *period).await?;
            }
            tx.commit().await.map_err(StoreError::from_sqlx)?;
        }
        Ok(())
    }
}

/// The newest hour (period) wholly older than `keep` before `now_ms`.
fn raw_cutoff(now_ms: i64, keep: i64) -> i64 {
    now_ms.saturating_sub(keep).saturating_sub(HOUR_MS)
}
