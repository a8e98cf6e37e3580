//! Dropping history past each layer's retention.
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
