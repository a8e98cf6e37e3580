//! 1-minute and 1-hour rollups of host samples, and retention of every layer.
use sqlx::{AssertSqlSafe, Row};

use super::samples::metric_expression;
use super::{Store, StoreError};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// The figures a rollup keeps, as SQL over `host_sample`.
const FIGURES: [(&str, app::Metric); 5] = [
    ("cpu", app::Metric::Cpu),
    ("mem", app::Metric::Memory),
    ("disk", app::Metric::Disk),
    ("rx", app::Metric::NetRx),
    ("tx", app::Metric::NetTx),
];

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

    fn table(self) -> &'static str {
        match self {
            Layer::Raw => "host_sample",
            Layer::Minute => "host_rollup_1m",
            Layer::Hour => "host_rollup_1h",
        }
    }
}

/// The column prefix of a metric in the rollup tables.
pub fn rollup_prefix(metric: app::Metric) -> &'static str {
    FIGURES
        .iter()
        .find(|(_, m)| *m == metric)
        .map_or("cpu", |(p, _)| p)
}

fn floor(ts: i64, unit: i64) -> i64 {
    ts.div_euclid(unit) * unit
}

impl Store {
    /// Folds samples stored since the last run into the rollups. Buckets that received any
    /// new sample (live or backfilled) are recomputed from the layer below. Returns how many
    /// new samples were folded in.
    pub async fn roll_up(&self) -> Result<u64, StoreError> {
        // Inside the write transaction, so the position and the rolled-up rows agree.
        let mut tx = self.write_tx().await?;
        let position: i64 =
            sqlx::query("select host_sample_id from rollup_position where rollup_position_id = 1")
                .fetch_one(&mut *tx)
                .await?
                .try_get("host_sample_id")?;
        let span = sqlx::query(
            "select max(host_sample_id) as top, min(ts) as first_ts, max(ts) as last_ts, count(*) as n \
             from host_sample where host_sample_id > $1",
        )
        .bind(position)
        .fetch_one(&mut *tx)
        .await?;
        let n: i64 = span.try_get("n")?;
        if n == 0 {
            return Ok(0);
        }
        let top: i64 = span.try_get("top")?;
        let (first_ts, last_ts): (i64, i64) = (span.try_get("first_ts")?, span.try_get("last_ts")?);
        let (from, to) = (
            floor(first_ts, MINUTE_MS),
            floor(last_ts, MINUTE_MS) + MINUTE_MS,
        );
        let (hour_from, hour_to) = (floor(from, HOUR_MS), floor(to - 1, HOUR_MS) + HOUR_MS);

        let raw_figures: String = FIGURES
            .iter()
            .map(|(p, m)| {
                let e = metric_expression(*m);
                format!("avg({e}) as {p}_avg, min({e}) as {p}_min, max({e}) as {p}_max")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let rolled_figures: String = FIGURES
            .iter()
            .map(|(p, _)| format!("sum({p}_avg * n) / sum(n) as {p}_avg, min({p}_min) as {p}_min, max({p}_max) as {p}_max"))
            .collect::<Vec<_>>()
            .join(", ");
        let columns: String = FIGURES
            .iter()
            .map(|(p, _)| format!("{p}_avg, {p}_min, {p}_max"))
            .collect::<Vec<_>>()
            .join(", ");

        sqlx::query("delete from host_rollup_1m where ts >= $1 and ts < $2")
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "insert into host_rollup_1m (agent_id, ts, n, {columns}) \
             select agent_id, (ts / $3) * $3, count(*), {raw_figures} from host_sample \
             where ts >= $1 and ts < $2 and host_sample_id <= $4 group by 1, 2"
        )))
        .bind(from)
        .bind(to)
        .bind(MINUTE_MS)
        .bind(top)
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from host_rollup_1h where ts >= $1 and ts < $2")
            .bind(hour_from)
            .bind(hour_to)
            .execute(&mut *tx)
            .await?;
        sqlx::query(AssertSqlSafe(format!(
            "insert into host_rollup_1h (agent_id, ts, n, {columns}) \
             select agent_id, (ts / $3) * $3, sum(n), {rolled_figures} from host_rollup_1m \
             where ts >= $1 and ts < $2 group by 1, 2"
        )))
        .bind(hour_from)
        .bind(hour_to)
        .bind(HOUR_MS)
        .execute(&mut *tx)
        .await?;
        sqlx::query("update rollup_position set host_sample_id = $1 where rollup_position_id = 1")
            .bind(top)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(n as u64)
    }

    /// Deletes what is older than each layer's retention. Returns rows removed per layer.
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
            let done = sqlx::query(AssertSqlSafe(format!(
                "delete from {} where ts < $1",
                layer.table()
            )))
            .bind(now_ms - keep)
            .execute(&self.pool)
            .await?;
            removed[i] = done.rows_affected();
        }
        Ok(removed)
    }
}

/// The history query over a rollup layer: per step bucket, the sample-weighted mean and the
/// extremes of the rolled-up buckets inside it, merged with the raw samples stored since the
/// last rollup, so the newest figures show at every step.
pub fn rollup_history_sql(layer: Layer, metric: app::Metric, host_filter: &str) -> String {
    let p = rollup_prefix(metric);
    let e = metric_expression(metric);
    format!(
        "select bucket, sum(s) / sum(n) as avg_v, min(lo) as min_v, max(hi) as max_v from ( \
           select (ts / $1) * $1 as bucket, sum({p}_avg * n) as s, sum(n) as n, min({p}_min) as lo, max({p}_max) as hi \
           from {table} where ts >= $2 and ts < $3 and {host_filter} group by 1 \
           union all \
           select (ts / $1) * $1 as bucket, sum({e}) as s, count(*) as n, min({e}) as lo, max({e}) as hi \
           from host_sample where ts >= $2 and ts < $3 and {host_filter} \
           and host_sample_id > (select host_sample_id from rollup_position where rollup_position_id = 1) group by 1 \
         ) layered group by bucket order by bucket",
        table = layer.table()
    )
}
