//! A latency histogram with the layout of HdrHistogram, for INFO latencystats.
//!
//! Redis records every command's duration in nanoseconds into an HdrHistogram tracking 1 ns to
//! 1 s with two significant figures, and INFO reports chosen percentiles of it. This is the same
//! layout (256 sub-buckets per power of two, half of them shared with the bucket below), so a
//! percentile here falls on the same value boundaries as Redis's: the highest value equivalent
//! to the recorded one at two significant figures.

/// The smallest and largest values recorded; others are clamped, as Redis clamps them.
pub const LOWEST: u64 = 1;
pub const HIGHEST: u64 = 1_000_000_000;

/// log2 of the sub-bucket count: the smallest power of two at least 2 × 10^2 (two figures).
const SUB_BUCKET_MAGNITUDE: u32 = 8;
const SUB_BUCKET_COUNT: u64 = 1 << SUB_BUCKET_MAGNITUDE;
const HALF_MAGNITUDE: u32 = SUB_BUCKET_MAGNITUDE - 1;
const HALF_COUNT: u64 = SUB_BUCKET_COUNT / 2;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;

/// Buckets until one's range passes HIGHEST: 256 << 22 is the first above 10^9.
const BUCKETS: usize = 23;
const COUNTS: usize = (BUCKETS + 1) * HALF_COUNT as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; COUNTS].into_boxed_slice(),
            total: 0,
        }
    }
}

fn bucket_index(v: u64) -> u32 {
    let pow2ceiling = 64 - (v | SUB_BUCKET_MASK).leading_zeros();
    pow2ceiling - (HALF_MAGNITUDE + 1)
}

fn counts_index(v: u64) -> usize {
    let bucket = bucket_index(v);
    let sub = v >> bucket;
    (((bucket as u64 + 1) << HALF_MAGNITUDE) + sub - HALF_COUNT) as usize
}

/// The lowest value counted at `index`.
fn value_at_index(index: usize) -> u64 {
    let mut bucket = (index as i64 >> HALF_MAGNITUDE) - 1;
    let mut sub = (index as u64 & (HALF_COUNT - 1)) + HALF_COUNT;
    if bucket < 0 {
        sub -= HALF_COUNT;
        bucket = 0;
    }
    sub << bucket
}

/// The highest value that counts the same as `v`.
fn highest_equivalent(v: u64) -> u64 {
    let bucket = bucket_index(v);
    let sub = v >> bucket;
    let lowest = sub << bucket;
    let adjusted = if sub >= SUB_BUCKET_COUNT {
        bucket + 1
    } else {
        bucket
    };
    lowest + (1u64 << adjusted) - 1
}

fn lowest_equivalent(v: u64) -> u64 {
    let bucket = bucket_index(v);
    (v >> bucket) << bucket
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        let v = v.clamp(LOWEST, HIGHEST);
        self.counts[counts_index(v)] += 1;
        self.total += 1;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Adds another histogram's counts (another shard's, for INFO).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The value below which `percentile` percent of the recorded values fall, as
    /// HdrHistogram's `hdr_value_at_percentile` answers: the highest equivalent value of the
    /// bucket where the count reaches that share (the lowest, for percentile 0).
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let p = percentile.min(100.0);
        let wanted = ((p / 100.0 * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        let mut value = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                value = value_at_index(i);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }
}

impl Histogram {
    /// LATENCY HISTOGRAM's buckets: for each power of two from 1024 ns up, the count of
    /// values at or below it (to its highest equivalent value), in microseconds, where that
    /// count grew. These are the steps of HdrHistogram's logarithmic iterator as Redis walks
    /// it, so the bucket labels (1, 2, 4, 8, 16, 33, 66... µs) are Redis's.
    pub fn log_buckets(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut level: u64 = 1024;
        let mut counted = 0;
        let mut below = 0;
        let mut previous = 0;
        while below < self.total {
            let top = counts_index(level);
            // The iterator cannot step past the last counter: what lies above the last
            // level inside the range is never reported, as in Redis.
            if top >= COUNTS {
                break;
            }
            while counted <= top {
                below += self.counts[counted];
                counted += 1;
            }
            if below > previous {
                out.push((highest_equivalent(level) / 1000, below));
                previous = below;
            }
            level *= 2;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.value_at_percentile(50.0), 50);
        assert_eq!(h.value_at_percentile(100.0), 100);
        assert_eq!(h.value_at_percentile(0.0), 1);
    }

    #[test]
    fn large_values_keep_two_significant_figures() {
        let mut h = Histogram::default();
        h.record(1_234_567);
        let p = h.value_at_percentile(50.0);
        // Within the bucket's resolution (1/128 of the power of two), and at its top.
        assert!(p >= 1_234_567 && p - 1_234_567 < 1_234_567 / 100, "{p}");
        assert_eq!(highest_equivalent(p), p);
    }

    #[test]
    fn index_and_value_agree_everywhere() {
        for v in [1, 255, 256, 257, 511, 512, 1000, 65_535, 1 << 20, HIGHEST] {
            let i = counts_index(v);
            assert!(i < COUNTS, "{v}");
            assert!(value_at_index(i) <= v && v <= highest_equivalent(value_at_index(i)));
        }
    }

    #[test]
    fn log_buckets_are_cumulative_by_powers_of_two() {
        let mut h = Histogram::default();
        for v in [500, 1000, 1500, 3000, 20_000, 20_000] {
            h.record(v);
        }
        assert_eq!(h.log_buckets(), [(1, 2), (2, 3), (4, 4), (33, 6)]);
        assert!(Histogram::default().log_buckets().is_empty());
    }

    #[test]
    fn out_of_range_is_clamped_and_merge_adds() {
        let mut a = Histogram::default();
        a.record(0);
        a.record(u64::MAX);
        let mut b = Histogram::default();
        b.record(10);
        a.merge(&b);
        assert_eq!(a.total(), 3);
        assert_eq!(a.value_at_percentile(0.0), 1);
        assert!(a.value_at_percentile(100.0) >= HIGHEST);
    }
}
