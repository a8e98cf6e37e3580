//! Labelled series beside the host totals: one per core, file system, interface and
//! container, and swap and load. Each series has a number (`series_name`, one row per host,
//! family and label, cached in memory); its values live in `host_chunk` under layer codes of
//! their own ([`Layer::series_code`]), through the same three layers as the totals:
//!
//! - raw chunks, one per host and hour per commit: rows of (series, value), ordered by series
//!   then time so each series' values sit together for the codec;
//! - 1-hour rollups, one chunk per host and day, kept up to date by each fold of an hour:
//!   rows of (series, count, mean, minimum, maximum);
//! - 1-minute rollups of the same shape, written only when an hour's raw values expire
//!   ([`keep_minutes`]): while they are kept, a query at minute steps reads them instead, so
//!   the series cost no second copy for the raw retention (a third of their bytes) and the
//!   fold no work per minute.
//!
//! Values are integers scaled by their family ([`scale`]): percentages and load in
//! hundredths, bytes and rates whole; rollups keep the scaled figures.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::SeriesFamily;
use sqlx::{AssertSqlSafe, Row};

use super::layout::Stat;
use super::*;
use crate::store::HistoryBucket;

/// One value of a labelled series, as a sample carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    pub family: SeriesFamily,
    /// The core, mount point, interface or container name.
    pub label: String,
    pub value: f64,
}

/// Columns of a raw series chunk: the series, then the scaled value.
const RAW_SERIES_WIDTH: usize = 2;
/// Columns of a series rollup: the series, count, mean, minimum, maximum.
const ROLLUP_SERIES_WIDTH: usize = 5;

/// The stored number of a family (never reordered: it is in every `series_name` row).
fn family_code(family: SeriesFamily) -> i64 {
    match family {
        SeriesFamily::CpuCore => 1,
        SeriesFamily::Swap => 2,
        SeriesFamily::Load => 3,
        SeriesFamily::Filesystem => 4,
        SeriesFamily::InterfaceRx => 5,
        SeriesFamily::InterfaceTx => 6,
        SeriesFamily::ContainerCpu => 7,
        SeriesFamily::ContainerMemory => 8,
    }
}

fn family_of(code: i64) -> Option<SeriesFamily> {
    SeriesFamily::ALL
        .into_iter()
        .find(|f| family_code(*f) == code)
}

/// How a family's values are kept as integers.
fn scale(family: SeriesFamily) -> f64 {
    match family {
        SeriesFamily::CpuCore
        | SeriesFamily::Swap
        | SeriesFamily::Load
        | SeriesFamily::Filesystem
        | SeriesFamily::ContainerCpu => 100.0,
        SeriesFamily::InterfaceRx | SeriesFamily::InterfaceTx | SeriesFamily::ContainerMemory => {
            1.0
        }
    }
}

/// `series_name` numbers by host (`""` for the local host), family code and label. Only
/// names whose row is committed are kept, so a rolled-back write leaves no number behind.
#[derive(Default)]
pub struct SeriesIds {
    known: std::sync::Mutex<HashMap<String, HostSeries>>,
}

/// One host's series numbers by family code and label.
type HostSeries = HashMap<i64, HashMap<String, i64>>;

/// Raw rows of (series, time, scaled value) by host and hour.
type RawGroups<'a> = BTreeMap<(Option<&'a str>, i64), Vec<(i64, i64, i64)>>;

/// Series numbered inside a transaction, to remember once it commits.
#[derive(Default)]
pub struct NewSeriesNames(Vec<(String, i64, String, i64)>);

impl SeriesIds {
    fn get(&self, host: &str, family: i64, label: &str) -> Option<i64> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(host)?.get(&family)?.get(label).copied()
    }

    /// Remembers the names of a committed transaction.
    pub fn remember(&self, names: NewSeriesNames) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        for (host, family, label, id) in names.0 {
            known
                .entry(host)
                .or_default()
                .entry(family)
                .or_default()
                .insert(label, id);
        }
    }
}

/// The number of a host's series, made when it is new.
async fn series_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    family: i64,
    label: &str,
) -> Result<i64, StoreError> {
    let sql = format!(
        "select series_id from series_name where family = $1 and label = $2 and {}",
        host_filter(agent_id, 3)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(family)
        .bind(label.to_owned());
    if let Some(id) = agent_id {
        query = query.bind(id.to_owned());
    }
    if let Some(row) = query.fetch_optional(&mut **tx).await? {
        return Ok(row.try_get("series_id")?);
    }
    let row = sqlx::query(
        "insert into series_name (agent_id, family, label) values ($1, $2, $3) returning series_id",
    )
    .bind(agent_id.map(str::to_owned))
    .bind(family)
    .bind(label.to_owned())
    .fetch_one(&mut **tx)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(row.try_get("series_id")?)
}

/// Stores the series values of samples as pending raw chunks, one per host and hour. Returns
/// the series numbered on the way, for [`SeriesIds::remember`] after the commit.
pub(in crate::store) async fn insert_series(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ids: &SeriesIds,
    rows: &[(Option<&str>, i64, &[SeriesValue])],
) -> Result<NewSeriesNames, StoreError> {
    // Numbers from memory first (no lock is held across a query), then the missing ones.
    let mut numbered: Vec<Option<i64>> = Vec::new();
    for (agent_id, _, values) in rows {
        let host = agent_id.unwrap_or("");
        numbered.extend(
            values
                .iter()
                .map(|v| ids.get(host, family_code(v.family), &v.label)),
        );
    }
    let mut fresh = NewSeriesNames::default();
    let mut made: HashMap<(Option<&str>, i64, &str), i64> = HashMap::new();
    let mut groups = RawGroups::new();
    let mut at = 0;
    for (agent_id, ts, values) in rows {
        for v in values.iter() {
            let known = numbered[at];
            at += 1;
            if !v.value.is_finite() {
                continue;
            }
            let code = family_code(v.family);
            let id = match known.or_else(|| made.get(&(*agent_id, code, &v.label)).copied()) {
                Some(id) => id,
                None => {
                    let id = series_id(tx, *agent_id, code, &v.label).await?;
                    made.insert((*agent_id, code, &v.label), id);
                    fresh
                        .0
                        .push((agent_id.unwrap_or("").to_owned(), code, v.label.clone(), id));
                    id
                }
            };
            // `as` saturates: no reported figure can make this panic.
            let scaled = (v.value * scale(v.family)).round() as i64;
            groups
                .entry((*agent_id, floor(*ts, HOUR_MS)))
                .or_default()
                .push((id, *ts, scaled));
        }
    }
    let chunks: Vec<NewChunk> = groups
        .into_iter()
        .map(|((agent_id, period), rows)| NewChunk {
            agent_id,
            code: Layer::Raw.series_code(),
            period,
            pending: true,
            block: raw_block(rows),
        })
        .collect();
    insert_chunks(tx, &chunks).await?;
    Ok(fresh)
}

/// Rows of (series, time, scaled value) as a raw chunk, series by series.
fn raw_block(mut rows: Vec<(i64, i64, i64)>) -> Block {
    rows.sort_unstable_by_key(|(id, ts, _)| (*id, *ts));
    let mut b = Block::new(RAW_SERIES_WIDTH);
    for (id, ts, value) in rows {
        b.push(ts, &[id, value]);
    }
    b
}

/// Every row of a series chunk of `layer` as (series, time, figure); a chunk of the wrong
/// width reads as nothing.
fn points(layer: Layer, b: &Block) -> Vec<(i64, i64, Stat)> {
    let width = match layer {
        Layer::Raw => RAW_SERIES_WIDTH,
        Layer::Minute | Layer::Hour => ROLLUP_SERIES_WIDTH,
    };
    if b.columns.len() != width {
        return Vec::new();
    }
    let c = &b.columns;
    (0..b.len())
        .map(|r| {
            let stat = match layer {
                Layer::Raw => Stat::one(c[1][r] as f64),
                Layer::Minute | Layer::Hour => Stat {
                    n: c[1][r],
                    sum: c[2][r] as f64 * c[1][r] as f64,
                    min: c[3][r] as f64,
                    max: c[4][r] as f64,
                },
            };
            (c[0][r], b.ts[r], stat)
        })
        .collect()
}

/// Figures by (series, bucket start).
type Buckets = BTreeMap<(i64, i64), Stat>;

fn bucket(into: &mut Buckets, unit: i64, points: impl IntoIterator<Item = (i64, i64, Stat)>) {
    for (id, ts, stat) in points {
        into.entry((id, floor(ts, unit)))
            .or_insert(Stat::EMPTY)
            .merge(stat);
    }
}

fn rollup_block(buckets: &Buckets) -> Block {
    let mut b = Block::new(ROLLUP_SERIES_WIDTH);
    for ((id, ts), s) in buckets {
        b.push(
            *ts,
            &[
                *id,
                s.n,
                s.avg().round() as i64,
                s.min.round() as i64,
                s.max.round() as i64,
            ],
        );
    }
    b
}

/// The series half of [`fold::fold_hour`](super::fold): merges the hour's raw series chunks
/// once it is over (or once many piled up), settles the pending ones and rewrites the hour's
/// rows of the day's 1-hour series rollup.
pub(super) async fn fold_hour(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    period: i64,
    now: i64,
) -> Result<(), StoreError> {
    let code = Layer::Raw.series_code();
    let chunks = read_chunks(&mut **tx, agent_id, code, period, period.saturating_add(1)).await?;
    if chunks.is_empty() {
        return Ok(());
    }
    let pending_ids: Vec<i64> = chunks.iter().filter(|c| c.pending).map(|c| c.id).collect();
    let readable: Vec<i64> = chunks
        .iter()
        .filter(|c| c.block.is_some())
        .map(|c| c.id)
        .collect();
    let mut hour = Buckets::new();
    for b in chunks.iter().filter_map(|c| c.block.as_ref()) {
        bucket(&mut hour, HOUR_MS, points(Layer::Raw, b));
    }
    if readable.len() > 1 && merge_due(period, &chunks, now) {
        for_chunks(tx, "delete from host_chunk", &readable).await?;
        let rows = chunks
            .iter()
            .filter_map(|c| c.block.as_ref())
            .filter(|b| b.columns.len() == RAW_SERIES_WIDTH)
            .flat_map(|b| (0..b.len()).map(move |r| (b.columns[0][r], b.ts[r], b.columns[1][r])))
            .collect();
        let merged = NewChunk {
            agent_id,
            code,
            period,
            pending: false,
            block: raw_block(rows),
        };
        insert_chunks(tx, std::slice::from_ref(&merged)).await?;
    }
    for_chunks(tx, "update host_chunk set pending = 0", &pending_ids).await?;
    let day = floor(period, DAY_MS);
    let code = Layer::Hour.series_code();
    let mut hours = Buckets::new();
    for c in read_chunks(&mut **tx, agent_id, code, day, day.saturating_add(1)).await? {
        if let Some(b) = &c.block {
            let others = points(Layer::Hour, b)
                .into_iter()
                .filter(|(_, ts, _)| floor(*ts, HOUR_MS) != period);
            bucket(&mut hours, HOUR_MS, others);
        }
    }
    hours.extend(hour);
    replace_rollup(tx, agent_id, code, day, rollup_block(&hours)).await
}

/// Writes the 1-minute series rollup of a host-hour from its raw values, before they expire.
pub(super) async fn keep_minutes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent_id: Option<&str>,
    period: i64,
) -> Result<(), StoreError> {
    let raw = Layer::Raw.series_code();
    let mut minutes = Buckets::new();
    for c in read_chunks(&mut **tx, agent_id, raw, period, period.saturating_add(1)).await? {
        if let Some(b) = &c.block {
            bucket(&mut minutes, MINUTE_MS, points(Layer::Raw, b));
        }
    }
    if minutes.is_empty() {
        return Ok(());
    }
    let block = rollup_block(&minutes);
    replace_rollup(tx, agent_id, Layer::Minute.series_code(), period, block).await
}

/// Labels in reading order: a leading number by value (`2` before `10`, `5m` before
/// `15m`), labels with one before those without, then text.
fn label_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> (Option<u64>, &str) {
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        (s[..digits].parse().ok(), &s[digits..])
    }
    let ((na, ra), (nb, rb)) = (split(a), split(b));
    match (na, nb) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| ra.cmp(rb)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// One family's series, each with its buckets.
pub type FamilySeries = Vec<(String, Vec<HistoryBucket>)>;

impl Store {
    /// Average, minimum and maximum of every series of `families` per `step_ms` bucket in
    /// `[from_ms, to_ms)`, from the coarsest layer that fits the step; hours with values not
    /// yet folded are read from their raw chunks, as for the totals. Every family asked for is
    /// in the answer, in the order given; series with no value in the range are left out.
    pub async fn series_history(
        &self,
        agent_id: Option<&str>,
        families: &[SeriesFamily],
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(SeriesFamily, FamilySeries)>, StoreError> {
        let step_ms = step_ms.max(1);
        let wanted: BTreeSet<i64> = families.iter().map(|f| family_code(*f)).collect();
        let sql = format!(
            "select series_id, family, label from series_name where {}",
            host_filter(agent_id, 1)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(id) = agent_id {
            query = query.bind(id.to_owned());
        }
        let mut names: HashMap<i64, (SeriesFamily, String)> = HashMap::new();
        for row in query.fetch_all(&self.pool).await? {
            let code: i64 = row.try_get("family")?;
            if let Some(family) = family_of(code).filter(|_| wanted.contains(&code)) {
                names.insert(row.try_get("series_id")?, (family, row.try_get("label")?));
            }
        }
        let mut buckets = Buckets::new();
        if !names.is_empty() {
            self.read_series(agent_id, &names, from_ms, to_ms, step_ms, &mut buckets)
                .await?;
        }
        let mut by_series: BTreeMap<i64, Vec<HistoryBucket>> = BTreeMap::new();
        for ((id, start_ms), s) in buckets {
            let k = names.get(&id).map_or(1.0, |(f, _)| scale(*f));
            by_series.entry(id).or_default().push(HistoryBucket {
                start_ms,
                avg: s.avg() / k,
                min: s.min / k,
                max: s.max / k,
            });
        }
        Ok(families
            .iter()
            .map(|family| {
                let mut series: FamilySeries = by_series
                    .iter()
                    .filter_map(|(id, points)| {
                        let (f, label) = names.get(id)?;
                        (f == family).then(|| (label.clone(), points.clone()))
                    })
                    .collect();
                series.sort_by(|a, b| label_order(&a.0, &b.0));
                (*family, series)
            })
            .collect())
    }

    /// The values of the series in `names` per bucket, from the layer that fits the step.
    async fn read_series(
        &self,
        agent_id: Option<&str>,
        names: &HashMap<i64, (SeriesFamily, String)>,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
        into: &mut Buckets,
    ) -> Result<(), StoreError> {
        let layer = Layer::for_step(step_ms);
        let first_hour = floor(from_ms, HOUR_MS);
        let keep = |(id, ts, _): &(i64, i64, Stat)| {
            *ts >= from_ms && *ts < to_ms && names.contains_key(id)
        };
        let raw = Layer::Raw.series_code();
        if layer == Layer::Raw {
            for c in read_chunks(&self.pool, agent_id, raw, first_hour, to_ms).await? {
                if let Some(b) = &c.block {
                    bucket(
                        into,
                        step_ms,
                        points(Layer::Raw, b).into_iter().filter(keep),
                    );
                }
            }
            return Ok(());
        }
        // At minute steps every hour whose raw values are kept is read from them (there is
        // no 1-minute rollup of it yet); at hour steps only those not folded yet.
        let pending_only = layer == Layer::Hour;
        let stale = self
            .raw_hours(agent_id, raw, first_hour, to_ms, pending_only)
            .await?;
        let first = floor(from_ms, layer.period_ms());
        for c in read_chunks(&self.pool, agent_id, layer.series_code(), first, to_ms).await? {
            if let Some(b) = &c.block {
                let p = points(layer, b)
                    .into_iter()
                    .filter(keep)
                    .filter(|(_, ts, _)| !stale.contains(&floor(*ts, HOUR_MS)));
                bucket(into, step_ms, p);
            }
        }
        for hour in stale {
            for c in read_chunks(&self.pool, agent_id, raw, hour, hour.saturating_add(1)).await? {
                if let Some(b) = &c.block {
                    bucket(
                        into,
                        step_ms,
                        points(Layer::Raw, b).into_iter().filter(keep),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollups_keep_each_series_apart() {
        let raw = raw_block(vec![
            (2, 10_000, 500),
            (1, 0, 100),
            (1, 10_000, 300),
            (2, 0, 700),
        ]);
        assert_eq!(raw.columns[0], vec![1, 1, 2, 2], "series by series");
        let mut minutes = Buckets::new();
        bucket(&mut minutes, MINUTE_MS, points(Layer::Raw, &raw));
        let stored = chunk::decode(&chunk::encode(&rollup_block(&minutes))).unwrap();
        let back = points(Layer::Minute, &stored);
        let one: Vec<_> = back
            .iter()
            .map(|(id, _, s)| (*id, s.n, s.avg(), s.min, s.max))
            .collect();
        assert_eq!(
            one,
            vec![(1, 2, 200.0, 100.0, 300.0), (2, 2, 600.0, 500.0, 700.0)]
        );
    }

    #[test]
    fn a_chunk_of_another_shape_reads_as_nothing() {
        let mut b = Block::new(3);
        b.push(0, &[1, 2, 3]);
        assert!(points(Layer::Raw, &b).is_empty());
        assert!(points(Layer::Hour, &b).is_empty());
    }

    #[test]
    fn cores_sort_by_number_and_names_by_text() {
        let mut labels = vec!["10", "2", "eth0", "1", "br0", "15m", "5m"];
        labels.sort_by(|a, b| label_order(a, b));
        assert_eq!(labels, vec!["1", "2", "5m", "10", "15m", "br0", "eth0"]);
    }

    #[test]
    fn every_family_has_its_own_stored_number() {
        let codes: BTreeSet<i64> = SeriesFamily::ALL.into_iter().map(family_code).collect();
        assert_eq!(codes.len(), SeriesFamily::ALL.len());
        for f in SeriesFamily::ALL {
            assert_eq!(family_of(family_code(f)), Some(f));
        }
    }
}
