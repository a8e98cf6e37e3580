//! Reading history: buckets of one figure from the coarsest layer that fits the step.
use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::layout::{Figures, bucket, points};
use super::*;
use crate::store::{HistoryBucket, SampleRow};

impl Store {
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
        let figure = super::layout::slot(metric);
        let mut buckets: BTreeMap<i64, Figures> = BTreeMap::new();
        let in_range = |(ts, _): &(i64, Figures)| *ts >= from_ms && *ts < to_ms;
        let first_hour = floor(from_ms, HOUR_MS);
        if layer == Layer::Raw {
            for c in read_chunks(&self.pool, agent_id, Layer::Raw.code(), first_hour, to_ms).await?
            {
                if let Some(b) = &c.block {
                    let p = points(Layer::Raw, b).into_iter().filter(in_range).collect();
                    bucket(&mut buckets, step_ms, p);
                }
            }
        } else {
            let stale = self
                .stale_hours(agent_id, Layer::Raw.code(), first_hour, to_ms)
                .await?;
            let first = floor(from_ms, layer.period_ms());
            for c in read_chunks(&self.pool, agent_id, layer.code(), first, to_ms).await? {
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
                    Layer::Raw.code(),
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

    /// Every raw sample of a host in `[from_ms, to_ms)`, oldest first, once each.
    pub async fn raw_samples(
        &self,
        agent_id: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SampleRow>, StoreError> {
        let mut rows = Vec::new();
        let first_hour = floor(from_ms, HOUR_MS);
        for c in read_chunks(&self.pool, agent_id, Layer::Raw.code(), first_hour, to_ms).await? {
            if let Some(b) = &c.block {
                rows.extend(
                    (0..b.len())
                        .map(|r| SampleRow::from_columns(b, r))
                        .filter(|s| s.ts_ms >= from_ms && s.ts_ms < to_ms),
                );
            }
        }
        rows.sort_by_key(|s| s.ts_ms);
        rows.dedup_by_key(|s| s.ts_ms);
        Ok(rows)
    }

    /// The mean of each of `metrics` per `step_ms` bucket in `[from_ms, to_ms)` for every
    /// host at once (keyed by agent id, `None` for the local host), read from the 1-minute
    /// rollups in one query and the figures of the samples not folded yet (in memory,
    /// [`Unfolded`]): the fleet overview's sparklines. Buckets without samples are left out.
    pub async fn fleet_means(
        &self,
        metrics: &[app::Metric],
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<HashMap<Option<String>, Vec<(i64, Vec<f64>)>>, StoreError> {
        let step_ms = step_ms.max(MINUTE_MS);
        let rows = sqlx::query(
            "select agent_id, host_chunk_id, data from host_chunk \
             where layer = $1 and period >= $2 and period < $3",
        )
        .bind(Layer::Minute.code())
        .bind(floor(from_ms, HOUR_MS))
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut hosts: HashMap<Option<String>, BTreeMap<i64, Figures>> = HashMap::new();
        for row in rows {
            let agent_id: Option<String> = row.try_get("agent_id")?;
            let id: i64 = row.try_get("host_chunk_id")?;
            let data: Vec<u8> = row.try_get("data")?;
            let Some(block) = decode_or_report(id, &data) else {
                continue;
            };
            let p = points(Layer::Minute, &block)
                .into_iter()
                .filter(|(ts, _)| *ts >= from_ms && *ts < to_ms)
                .collect();
            bucket(hosts.entry(agent_id).or_default(), step_ms, p);
        }
        for (agent_id, points) in self.unfolded.minutes(from_ms, to_ms) {
            bucket(hosts.entry(agent_id).or_default(), step_ms, points);
        }
        let slots: Vec<usize> = metrics.iter().map(|m| super::layout::slot(*m)).collect();
        Ok(hosts
            .into_iter()
            .map(|(host, buckets)| {
                let series = buckets
                    .into_iter()
                    .map(|(ts, figures)| (ts, slots.iter().map(|s| figures[*s].avg()).collect()))
                    .collect();
                (host, series)
            })
            .collect())
    }

    /// The time of every raw sample stored for a host, oldest first (for audits and tests).
    pub async fn raw_sample_times(&self, agent_id: Option<&str>) -> Result<Vec<i64>, StoreError> {
        let mut times = Vec::new();
        for c in read_chunks(&self.pool, agent_id, Layer::Raw.code(), i64::MIN, i64::MAX).await? {
            if let Some(b) = c.block {
                times.extend(b.ts);
            }
        }
        times.sort_unstable();
        Ok(times)
    }
}
