//! A histogram of durations for per-record paths: the bucket is found from the value's binary
//! exponent (no search), counts are atomics (no lock). Exported exactly like a
//! `prometheus_client` histogram with buckets `100 µs × 2^i`, `i = 0..20`, plus `+Inf`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Finite buckets; their upper bounds are `FIRST_BOUND_NANOS × 2^i`.
const BUCKETS: usize = 20;
/// The first bucket's upper bound: 100 µs.
const FIRST_BOUND_NANOS: u64 = 100_000;

/// Durations from 100 µs to ~52 s in 20 doubling buckets. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct DurationHistogram {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS + 1],
    sum_nanos: AtomicU64,
}

/// The bucket of a duration: the smallest `i` with `nanos <= FIRST_BOUND_NANOS × 2^i`, or
/// `BUCKETS` (`+Inf`) past the last bound.
fn bucket_of(nanos: u64) -> usize {
    // nanos <= B × 2^i  <=>  ceil(nanos / B) <= 2^i.
    let units = nanos.div_ceil(FIRST_BOUND_NANOS);
    if units <= 1 {
        return 0;
    }
    let i = (u64::BITS - (units - 1).leading_zeros()) as usize;
    i.min(BUCKETS)
}

impl DurationHistogram {
    /// Counts one duration.
    pub(crate) fn observe(&self, d: Duration) {
        let nanos = nanos_of(d);
        let c = &self.inner;
        c.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        c.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Durations one task observed and has not added to the shared histogram yet: plain counts,
/// added in one go by [`PendingDurations::flush_into`] (a few atomic additions per flush instead
/// of two per duration, on counters every lane of the consumer shares).
#[derive(Debug, Default)]
pub(crate) struct PendingDurations {
    buckets: [u64; BUCKETS + 1],
    sum_nanos: u64,
}

impl PendingDurations {
    /// Counts one duration, locally.
    pub(crate) fn observe(&mut self, d: Duration) {
        let nanos = nanos_of(d);
        self.buckets[bucket_of(nanos)] += 1;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
    }

    /// Adds what was counted to `histogram` and starts over.
    pub(crate) fn flush_into(&mut self, histogram: &DurationHistogram) {
        let c = &histogram.inner;
        for (shared, n) in c.buckets.iter().zip(&mut self.buckets) {
            if *n > 0 {
                shared.fetch_add(std::mem::take(n), Ordering::Relaxed);
            }
        }
        c.sum_nanos
            .fetch_add(std::mem::take(&mut self.sum_nanos), Ordering::Relaxed);
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let c = &self.inner;
        let first = FIRST_BOUND_NANOS as f64 / 1e9;
        let buckets: Vec<(f64, u64)> = c
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // As `prometheus_client::metrics::histogram::exponential_buckets` computes them.
                let upper = if i == BUCKETS {
                    f64::INFINITY
                } else {
                    first * 2f64.powf(i as f64)
                };
                (upper, n.load(Ordering::Relaxed))
            })
            .collect();
        // Read separately from the buckets (a scrape during sends may be off by the records in
        // progress); the count is made consistent with the buckets it is printed with.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = c.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
    use prometheus_client::registry::Registry;

    fn text(register: impl FnOnce(&mut Registry)) -> String {
        let mut r = Registry::default();
        register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
        out
    }

    #[test]
    fn buckets_match_prometheus_clients_exponential_buckets() {
        let values_nanos = [
            0,
            1,
            99_999,
            100_000,
            100_001,
            200_000,
            250_000,
            1_000_000,
            20_000_000,
            52_428_800_000,
            52_428_800_001,
            3_600_000_000_000,
        ];
        let ours = DurationHistogram::default();
        let theirs = Histogram::new(exponential_buckets(0.0001, 2.0, 20));
        for n in values_nanos {
            ours.observe(Duration::from_nanos(n));
            theirs.observe(n as f64 / 1e9);
        }
        let a = text(|r| r.register("d", "h", ours.clone()));
        let b = text(|r| r.register("d", "h", theirs.clone()));
        let buckets = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.starts_with("d_bucket") || l.starts_with("d_count"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(buckets(&a), buckets(&b));
        assert_eq!(buckets(&a).len(), 22, "20 bounds, +Inf, count:\n{a}");
    }

    #[test]
    fn pending_durations_add_up_to_what_observing_directly_gives() {
        let values = [0u64, 99_999, 150_000, 150_000, 3_000_000, u64::MAX / 4];
        let direct = DurationHistogram::default();
        let flushed = DurationHistogram::default();
        let mut pending = PendingDurations::default();
        for (i, n) in values.iter().enumerate() {
            direct.observe(Duration::from_nanos(*n));
            pending.observe(Duration::from_nanos(*n));
            if i == 2 {
                pending.flush_into(&flushed);
            }
        }
        let text_of = |h: &DurationHistogram| text(|r| r.register("d", "h", h.clone()));
        assert_ne!(text_of(&direct), text_of(&flushed), "not all flushed yet");
        pending.flush_into(&flushed);
        assert_eq!(text_of(&direct), text_of(&flushed));
        // Flushing again adds nothing.
        pending.flush_into(&flushed);
        assert_eq!(text_of(&direct), text_of(&flushed));
    }

    #[test]
    fn bucket_bounds_are_inclusive() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(100_000), 0);
        assert_eq!(bucket_of(100_001), 1);
        assert_eq!(bucket_of(200_000), 1);
        assert_eq!(bucket_of(200_001), 2);
        assert_eq!(bucket_of(100_000 << 19), 19);
        assert_eq!(bucket_of((100_000 << 19) + 1), BUCKETS);
        assert_eq!(bucket_of(u64::MAX), BUCKETS);
    }
}
