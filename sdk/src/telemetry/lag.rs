//! Consumer lag in time, estimated the way the platform design's lag exporter does it: keep
//! `(time, offset)` samples of each partition's log end; the lag of a committed offset `c` is
//! how long ago the log end was at `c`, interpolating between the samples around it:
//! `t(c) = t2 - (o2 - c) * (t2 - t1) / (o2 - o1)`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples kept per partition (one per sampling interval).
const MAX_SAMPLES: usize = 720;

/// Log-end samples of one partition.
#[derive(Debug, Default, Clone)]
pub struct EndSamples {
    samples: VecDeque<(Instant, i64)>,
}

impl EndSamples {
    /// Records that the log end was `offset` at `at`.
    pub fn record(&mut self, at: Instant, offset: i64) {
        if let Some(&(_, last)) = self.samples.back() {
            if offset < last {
                // The partition was truncated or recreated: start over.
                self.samples.clear();
            } else if offset == last && self.samples.len() >= 2 {
                // No new records: move the newest sample's time instead of adding one, so
                // samples stay spread over the offsets that matter.
                let n = self.samples.len();
                if self.samples[n - 2].1 == last {
                    self.samples[n - 1].0 = at;
                    return;
                }
            }
        }
        self.samples.push_back((at, offset));
        if self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    /// Lag in records of `committed` against the newest log end.
    pub fn lag_messages(&self, committed: i64) -> i64 {
        self.samples
            .back()
            .map_or(0, |&(_, end)| (end - committed).max(0))
    }

    /// Lag in time of `committed` at `now`: zero when caught up; otherwise how long ago the log
    /// end was at `committed` (at least the age of the oldest sample when older than all).
    pub fn lag_time(&self, committed: i64, now: Instant) -> Duration {
        let Some(&(_, end)) = self.samples.back() else {
            return Duration::ZERO;
        };
        if committed >= end {
            return Duration::ZERO;
        }
        // The first sample whose offset is beyond `committed`: the end passed `committed`
        // between it and the sample before.
        let idx = self
            .samples
            .iter()
            .position(|&(_, o)| o > committed)
            .unwrap_or(0);
        let (t2, o2) = self.samples[idx];
        let when = if idx == 0 {
            t2
        } else {
            let (t1, o1) = self.samples[idx - 1];
            let span = t2.duration_since(t1).as_secs_f64();
            let back = (o2 - committed) as f64 / (o2 - o1) as f64 * span;
            t2.checked_sub(Duration::from_secs_f64(back.max(0.0)))
                .unwrap_or(t1)
        };
        now.saturating_duration_since(when)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_samples() {
        let t0 = Instant::now();
        let mut s = EndSamples::default();
        s.record(t0, 0);
        s.record(t0 + Duration::from_secs(10), 100);
        s.record(t0 + Duration::from_secs(20), 300);
        let now = t0 + Duration::from_secs(20);
        assert_eq!(s.lag_time(300, now), Duration::ZERO);
        // The end was at 50 halfway between 0 s and 10 s.
        assert_eq!(s.lag_time(50, now).as_secs(), 15);
        // The end was at 200 at 15 s.
        assert_eq!(s.lag_time(200, now).as_secs(), 5);
        assert_eq!(s.lag_messages(200), 100);
    }

    #[test]
    fn grows_with_wall_time_while_nothing_is_committed() {
        let t0 = Instant::now();
        let mut s = EndSamples::default();
        for i in 0..=30 {
            s.record(t0 + Duration::from_secs(i), i64::try_from(i).unwrap() * 10);
        }
        let now = t0 + Duration::from_secs(30);
        assert_eq!(s.lag_time(100, now).as_secs(), 20);
        assert_eq!(s.lag_time(100, now + Duration::from_secs(5)).as_secs(), 25);
    }

    #[test]
    fn idle_partitions_do_not_pile_up_samples() {
        let t0 = Instant::now();
        let mut s = EndSamples::default();
        for i in 0..100 {
            s.record(t0 + Duration::from_secs(i), 42);
        }
        assert_eq!(s.samples.len(), 2);
        assert_eq!(
            s.lag_time(42, t0 + Duration::from_secs(200)),
            Duration::ZERO
        );
    }
}
