//! Packed chunks: many rows of one host's history in one blob. Timestamps are kept as
//! deltas of deltas, every column as deltas of integers divided by the column's common
//! divisor, all as zigzag varints, column after column; the whole is then deflated. A regular
//! 10 s series of slowly changing figures costs a byte or two per value before deflate.
use std::io::{Read, Write};

/// The format written by [`encode`]; the first byte of every chunk.
const VERSION: u8 = 1;
/// Bounds that keep a corrupt or hostile blob from asking for unbounded memory.
const MAX_ROWS: u64 = 1 << 20;
const MAX_COLUMNS: u64 = 64;
const MAX_INFLATED: u64 = 64 << 20;

/// Rows of integer columns, column-major: `columns[c][r]` is column `c` of row `r`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    pub ts: Vec<i64>,
    pub columns: Vec<Vec<i64>>,
}

impl Block {
    /// An empty block of `width` columns.
    pub fn new(width: usize) -> Self {
        Block {
            ts: Vec::new(),
            columns: vec![Vec::new(); width],
        }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends a row; `values` must have one value per column.
    pub fn push(&mut self, ts: i64, values: &[i64]) {
        debug_assert_eq!(values.len(), self.columns.len());
        self.ts.push(ts);
        for (column, v) in self.columns.iter_mut().zip(values) {
            column.push(*v);
        }
    }

    /// Row `r`'s values, in column order.
    pub fn row(&self, r: usize) -> impl Iterator<Item = i64> + '_ {
        self.columns.iter().map(move |c| c[r])
    }

    /// The rows of every block, ordered by time (rows of equal time keep their order).
    pub fn concat(width: usize, blocks: impl IntoIterator<Item = Block>) -> Block {
        let mut rows: Vec<(i64, Vec<i64>)> = Vec::new();
        for b in blocks {
            rows.extend((0..b.len()).map(|r| (b.ts[r], b.row(r).collect())));
        }
        rows.sort_by_key(|(ts, _)| *ts);
        let mut out = Block::new(width);
        for (ts, values) in rows {
            out.push(ts, &values);
        }
        out
    }
}

/// A chunk that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("a history chunk is corrupt: {0}")]
pub struct ChunkError(&'static str);

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Packs a block. Every row must have a value in every column.
pub fn encode(block: &Block) -> Vec<u8> {
    let mut raw = Vec::with_capacity(block.len() * (block.columns.len() + 1) * 2 + 8);
    put(&mut raw, block.len() as u64);
    put(&mut raw, block.columns.len() as u64);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for &ts in &block.ts {
        let delta = ts.wrapping_sub(prev);
        put(&mut raw, zigzag(delta.wrapping_sub(prev_delta)));
        (prev, prev_delta) = (ts, delta);
    }
    for column in &block.columns {
        let divisor = column
            .iter()
            .fold(0u64, |g, v| gcd(g, v.unsigned_abs()))
            .clamp(1, i64::MAX as u64);
        // A divisor of 2^63 (a lone i64::MIN) is not a positive i64: store such a column as is.
        let divisor = if column.iter().all(|v| v % divisor as i64 == 0) {
            divisor
        } else {
            1
        };
        put(&mut raw, divisor);
        let mut prev = 0i64;
        for &v in column {
            // `divisor` divides `v` and is positive, so the division is exact and cannot overflow.
            let q = v / divisor as i64;
            put(&mut raw, zigzag(q.wrapping_sub(prev)));
            prev = q;
        }
    }
    let mut out = vec![VERSION];
    let mut deflate = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = deflate.write_all(&raw);
    let _ = deflate.finish();
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> Result<u64, ChunkError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or(ChunkError("it ends early"))?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkError("a number is too long"))
    }
}

/// Unpacks a chunk written by [`encode`].
pub fn decode(data: &[u8]) -> Result<Block, ChunkError> {
    let (&version, packed) = data.split_first().ok_or(ChunkError("it is empty"))?;
    if version != VERSION {
        return Err(ChunkError("unknown format version"));
    }
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(packed)
        .take(MAX_INFLATED)
        .read_to_end(&mut raw)
        .map_err(|_| ChunkError("it does not inflate"))?;
    let mut r = Reader { bytes: &raw, at: 0 };
    let (rows, width) = (r.next()?, r.next()?);
    if rows > MAX_ROWS || width > MAX_COLUMNS {
        return Err(ChunkError("it claims too many rows or columns"));
    }
    // Every value takes at least one byte: a short blob cannot claim many rows.
    if (rows * (width + 1)) as usize > raw.len() {
        return Err(ChunkError("it ends early"));
    }
    let (rows, width) = (rows as usize, width as usize);
    let mut block = Block {
        ts: Vec::with_capacity(rows),
        columns: Vec::with_capacity(width),
    };
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for _ in 0..rows {
        let delta = prev_delta.wrapping_add(unzigzag(r.next()?));
        prev = prev.wrapping_add(delta);
        prev_delta = delta;
        block.ts.push(prev);
    }
    for _ in 0..width {
        let divisor = r.next()?;
        let divisor = i64::try_from(divisor).map_err(|_| ChunkError("bad divisor"))?;
        let mut column = Vec::with_capacity(rows);
        let mut prev = 0i64;
        for _ in 0..rows {
            prev = prev.wrapping_add(unzigzag(r.next()?));
            column.push(prev.wrapping_mul(divisor));
        }
        block.columns.push(column);
    }
    if r.at != raw.len() {
        return Err(ChunkError("it has bytes past its end"));
    }
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_block(rows: usize) -> Block {
        let mut b = Block::new(4);
        let mut mem = 4i64 << 30;
        for r in 0..rows as i64 {
            mem += ((r * 7919) % 2001 - 1000) * 4096;
            b.push(
                1_700_000_000_000 + r * 10_000 + (r % 3),
                &[(r * 37) % 10_000, mem, 8 << 30, -r * 5],
            );
        }
        b
    }

    #[test]
    fn blocks_come_back_as_written() {
        for rows in [0, 1, 2, 3, 360] {
            let b = sample_block(rows);
            assert_eq!(decode(&encode(&b)).unwrap(), b, "{rows} rows");
        }
        let mut extremes = Block::new(2);
        extremes.push(i64::MIN, &[i64::MIN, i64::MAX]);
        extremes.push(i64::MAX, &[0, -1]);
        extremes.push(0, &[i64::MAX, i64::MIN]);
        assert_eq!(decode(&encode(&extremes)).unwrap(), extremes);
    }

    #[test]
    fn a_regular_series_packs_into_a_few_bytes_per_row() {
        let b = sample_block(360);
        let size = encode(&b).len();
        // Five values per row (time and four columns).
        assert!(size < 360 * 5, "{size} bytes for 360 rows");
    }

    #[test]
    fn damaged_chunks_are_refused_without_panicking() {
        let good = encode(&sample_block(50));
        assert!(decode(&[]).is_err());
        assert!(decode(&[9, 1, 2, 3]).is_err());
        assert!(decode(&good[..good.len() / 2]).is_err());
        let mut flipped = good.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0x5a;
            let _ = decode(&flipped);
            flipped[i] ^= 0x5a;
        }
        // A chunk that claims a million rows but holds none.
        let mut raw = Vec::new();
        put(&mut raw, MAX_ROWS);
        put(&mut raw, 3);
        let mut claim = vec![VERSION];
        let mut d = flate2::write::DeflateEncoder::new(&mut claim, flate2::Compression::fast());
        d.write_all(&raw).unwrap();
        d.finish().unwrap();
        assert!(decode(&claim).is_err());
    }

    #[test]
    fn concat_orders_rows_by_time() {
        let mut a = Block::new(1);
        a.push(30, &[3]);
        a.push(10, &[1]);
        let mut b = Block::new(1);
        b.push(20, &[2]);
        let all = Block::concat(1, [a, b]);
        assert_eq!(all.ts, vec![10, 20, 30]);
        assert_eq!(all.columns, vec![vec![1, 2, 3]]);
    }

    proptest::proptest! {
        /// Any rows, extreme values included, come back exactly.
        #[test]
        fn any_block_round_trips(
            rows in proptest::collection::vec((proptest::prelude::any::<i64>(), proptest::collection::vec(proptest::prelude::any::<i64>(), 3)), 0..40),
        ) {
            let mut block = Block::new(3);
            for (ts, values) in &rows {
                block.push(*ts, values);
            }
            proptest::prop_assert_eq!(decode(&encode(&block)).unwrap(), block);
        }

        /// Any bytes: decoding never panics, and what decodes re-encodes to the same rows.
        #[test]
        fn any_bytes_decode_safely(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(block) = decode(&bytes) {
                proptest::prop_assert_eq!(decode(&encode(&block)).unwrap(), block);
            }
        }
    }
}
