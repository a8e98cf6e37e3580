//! How a host sample is laid out in chunks: the raw columns by name, the charted figures,
//! and the rollup columns (count, then mean, minimum and maximum of each figure).
use std::collections::BTreeMap;

use app::Metric;

use super::{Layer, floor};
use crate::store::chunk::Block;
use crate::store::samples::SampleRow;

/// The raw columns, in stored order. CPU and load are kept in hundredths, bytes exact,
/// network rates in whole bytes per second.
#[derive(Debug, Clone, Copy)]
enum Raw {
    Cpu,
    Load1,
    Load5,
    Load15,
    MemTotal,
    MemUsed,
    SwapTotal,
    SwapUsed,
    /// Used plus available bytes of every real file system.
    DiskSize,
    DiskUsed,
    NetRx,
    NetTx,
}

/// Columns of a raw chunk.
pub(super) const RAW_WIDTH: usize = Raw::NetTx as usize + 1;

/// The charted figures, in rollup column order.
pub(super) const FIGURES: [Metric; 5] = [
    Metric::Cpu,
    Metric::Memory,
    Metric::Disk,
    Metric::NetRx,
    Metric::NetTx,
];

/// Which aggregate of a figure a rollup column holds.
#[derive(Debug, Clone, Copy)]
enum Aggregate {
    Mean,
    Min,
    Max,
}

/// The rollup column that holds the sample count.
const COUNT: usize = 0;
/// Columns of a rollup chunk.
const ROLLUP_WIDTH: usize = 1 + 3 * FIGURES.len();

/// Where figure `f` (its place in [`FIGURES`]) keeps its aggregate in a rollup row.
fn rollup_column(f: usize, aggregate: Aggregate) -> usize {
    1 + 3 * f + aggregate as usize
}

/// Where a metric sits in [`FIGURES`] and in [`Figures`].
pub(super) fn slot(metric: Metric) -> usize {
    FIGURES.iter().position(|m| *m == metric).unwrap_or(0)
}

fn hundredths(v: f64) -> i64 {
    // `as` saturates and maps NaN to 0: no input can make this panic.
    (v * 100.0).round() as i64
}

/// How a figure is kept in a rollup: percentages in hundredths, rates in whole units.
fn scale(metric: Metric) -> f64 {
    match metric {
        Metric::Cpu | Metric::Memory | Metric::Disk => 100.0,
        Metric::NetRx | Metric::NetTx => 1.0,
    }
}

impl SampleRow {
    /// This sample as a raw chunk row.
    pub(in crate::store) fn columns(&self) -> [i64; RAW_WIDTH] {
        let mut c = [0; RAW_WIDTH];
        c[Raw::Cpu as usize] = hundredths(self.cpu_pct);
        c[Raw::Load1 as usize] = hundredths(self.load[0]);
        c[Raw::Load5 as usize] = hundredths(self.load[1]);
        c[Raw::Load15 as usize] = hundredths(self.load[2]);
        c[Raw::MemTotal as usize] = self.mem_total;
        c[Raw::MemUsed as usize] = self.mem_used;
        c[Raw::SwapTotal as usize] = self.swap_total;
        c[Raw::SwapUsed as usize] = self.swap_used;
        c[Raw::DiskSize as usize] = self.disk_total;
        c[Raw::DiskUsed as usize] = self.disk_used;
        c[Raw::NetRx as usize] = self.net_rx_bps.round() as i64;
        c[Raw::NetTx as usize] = self.net_tx_bps.round() as i64;
        c
    }

    /// Row `r` of a raw chunk, back as a sample of the local host (the chunk names its host).
    pub(in crate::store) fn from_columns(b: &Block, r: usize) -> SampleRow {
        let c = |col: Raw| b.columns[col as usize][r];
        SampleRow {
            agent_id: None,
            ts_ms: b.ts[r],
            cpu_pct: c(Raw::Cpu) as f64 / 100.0,
            load: [Raw::Load1, Raw::Load5, Raw::Load15].map(|l| c(l) as f64 / 100.0),
            mem_total: c(Raw::MemTotal),
            mem_used: c(Raw::MemUsed),
            swap_total: c(Raw::SwapTotal),
            swap_used: c(Raw::SwapUsed),
            disk_total: c(Raw::DiskSize),
            disk_used: c(Raw::DiskUsed),
            net_rx_bps: c(Raw::NetRx) as f64,
            net_tx_bps: c(Raw::NetTx) as f64,
            series: Vec::new(),
        }
    }
}

/// Count, sum, minimum and maximum of one figure over a span of time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stat {
    pub(super) n: i64,
    pub(super) sum: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Stat {
    pub(super) const EMPTY: Stat = Stat {
        n: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    pub(super) fn one(v: f64) -> Stat {
        Stat {
            n: 1,
            sum: v,
            min: v,
            max: v,
        }
    }

    pub(super) fn merge(&mut self, o: Stat) {
        self.n += o.n;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    pub(super) fn avg(&self) -> f64 {
        if self.n > 0 {
            self.sum / self.n as f64
        } else {
            0.0
        }
    }
}

/// One [`Stat`] per charted figure, in [`FIGURES`] order (index with [`slot`]).
pub(super) type Figures = [Stat; FIGURES.len()];

/// Every row of a chunk of `layer` as (time, figures).
pub(super) fn points(layer: Layer, b: &Block) -> Vec<(i64, Figures)> {
    (0..b.len())
        .map(|r| {
            let figures = match layer {
                Layer::Raw => {
                    let sample = SampleRow::from_columns(b, r);
                    FIGURES.map(|m| Stat::one(sample.figure(m)))
                }
                Layer::Minute | Layer::Hour => {
                    let n = b.columns[COUNT][r];
                    std::array::from_fn(|f| {
                        let s = scale(FIGURES[f]);
                        let at = |a: Aggregate| b.columns[rollup_column(f, a)][r] as f64 / s;
                        Stat {
                            n,
                            sum: at(Aggregate::Mean) * n as f64,
                            min: at(Aggregate::Min),
                            max: at(Aggregate::Max),
                        }
                    })
                }
            };
            (b.ts[r], figures)
        })
        .collect()
}

/// Folds points into buckets of `unit` ms.
pub(super) fn bucket(into: &mut BTreeMap<i64, Figures>, unit: i64, points: Vec<(i64, Figures)>) {
    for (ts, figures) in points {
        let slot = into
            .entry(floor(ts, unit))
            .or_insert([Stat::EMPTY; FIGURES.len()]);
        for (s, f) in slot.iter_mut().zip(figures) {
            s.merge(f);
        }
    }
}

/// The rollup chunk of bucketed figures.
pub(super) fn rollup_block(buckets: &BTreeMap<i64, Figures>) -> Block {
    let mut b = Block::new(ROLLUP_WIDTH);
    for (ts, figures) in buckets {
        let mut row = vec![0; ROLLUP_WIDTH];
        row[COUNT] = figures[0].n;
        for (f, s) in figures.iter().enumerate() {
            let k = scale(FIGURES[f]);
            row[rollup_column(f, Aggregate::Mean)] = (s.avg() * k).round() as i64;
            row[rollup_column(f, Aggregate::Min)] = (s.min * k).round() as i64;
            row[rollup_column(f, Aggregate::Max)] = (s.max * k).round() as i64;
        }
        b.push(*ts, &row);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunk;

    fn sample(ts_ms: i64, cpu: f64, mem_used: i64, rx: f64) -> SampleRow {
        SampleRow {
            agent_id: None,
            ts_ms,
            cpu_pct: cpu,
            load: [0.5, 0.25, 0.0],
            mem_total: 1000,
            mem_used,
            swap_total: 0,
            swap_used: 0,
            disk_total: 4000,
            disk_used: 1000,
            net_rx_bps: rx,
            net_tx_bps: 0.0,
            series: Vec::new(),
        }
    }

    #[test]
    fn a_raw_row_reads_back_as_the_sample() {
        let s = sample(10_000, 12.34, 250, 99.0);
        let mut raw = Block::new(RAW_WIDTH);
        raw.push(s.ts_ms, &s.columns());
        assert_eq!(SampleRow::from_columns(&raw, 0), s);
    }

    #[test]
    fn rollups_keep_count_mean_and_extremes() {
        let mut raw = Block::new(RAW_WIDTH);
        for (i, cpu) in [10.0, 30.0, 20.0].into_iter().enumerate() {
            let s = sample(
                i as i64 * 10_000,
                cpu,
                250 * (i as i64 + 1),
                100.0 * i as f64,
            );
            raw.push(s.ts_ms, &s.columns());
        }
        let mut minutes = BTreeMap::new();
        bucket(
            &mut minutes,
            super::super::MINUTE_MS,
            points(Layer::Raw, &raw),
        );
        let stored = chunk::decode(&chunk::encode(&rollup_block(&minutes))).unwrap();
        let back = points(Layer::Minute, &stored);
        assert_eq!(back.len(), 1);
        let f = back[0].1;
        let (cpu, mem, disk, rx) = (
            f[slot(Metric::Cpu)],
            f[slot(Metric::Memory)],
            f[slot(Metric::Disk)],
            f[slot(Metric::NetRx)],
        );
        assert_eq!((cpu.n, cpu.avg(), cpu.min, cpu.max), (3, 20.0, 10.0, 30.0));
        assert_eq!((mem.avg(), mem.min, mem.max), (50.0, 25.0, 75.0));
        assert_eq!(disk.avg(), 25.0);
        assert_eq!((rx.avg(), rx.max), (100.0, 200.0));
    }
}
