//! The converter from the row-per-sample tables of earlier versions.
use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use super::layout::{Figures, Stat};
use super::*;

/// Raw rows of the legacy table are converted ten minutes at a time, rollup rows one chunk
/// period at a time, so memory stays bounded whatever the fleet.
const LEGACY_RAW_PAGE_MS: i64 = 10 * MINUTE_MS;

impl Store {
    /// Moves host history kept in the row tables of earlier versions into chunks (raw samples
    /// as pending chunks, which the next fold rolls up; rollups older than the raw samples as
    /// they were), then drops those tables. Does nothing once done.
    pub(in crate::store) async fn convert_legacy_history(&self) -> Result<(), StoreError> {
        let exists = match self.dialect {
            crate::store::Dialect::Sqlite => {
                "select count(*) as n from sqlite_master where type = 'table' and name = 'legacy_host_sample'"
            }
            crate::store::Dialect::Postgres => {
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
                        series: Vec::new(),
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
                    let mut figures: Figures = [Stat::EMPTY; super::layout::FIGURES.len()];
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
                    let block = super::layout::rollup_block(buckets);
                    replace_rollup(&mut tx, agent_id.as_deref(), layer.code(), period, block)
                        .await?;
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
        if self.dialect == crate::store::Dialect::Sqlite {
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
