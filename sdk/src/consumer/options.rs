//! Tuning of the consumer runtime. The defaults suit most services.

use std::time::Duration;

/// How records of one partition are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scheduling {
    /// One record of a partition at a time, in offset order (the default).
    #[default]
    Partition,
    /// Records with different keys run concurrently (up to `lanes` per partition); records with
    /// the same key stay in order. Commits never pass the lowest unfinished offset.
    Key {
        /// Concurrent records per partition.
        lanes: usize,
    },
    /// Handlers of a partition are *started* in offset order and up to `window` of them run at
    /// once, finishing in any order; commits never pass the lowest unfinished offset. Made for
    /// handlers that hand records on and wait for an external acknowledgement (the sidecar's
    /// pull API). When the partition is revoked or the consumer stops, unfinished handlers are
    /// cancelled (dropped) and their records redelivered, so handlers must be cancel-safe.
    Pipelined {
        /// Handlers in flight per partition.
        window: usize,
    },
}

/// Options of [`crate::consumer::ConsumerBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerOptions {
    /// Scheduling within a partition.
    pub scheduling: Scheduling,
    /// Attempts for a retryable failure before the record is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Backoff after the first failed attempt; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff.
    pub max_backoff: Duration,
    /// How often finished offsets are committed (and always on revoke and shutdown).
    pub commit_interval: Duration,
    /// How long shutdown waits for handlers in flight.
    pub shutdown_grace: Duration,
    /// How long a revoke waits for the revoked partitions' handlers.
    pub revoke_timeout: Duration,
    /// Records buffered per lane (approximately: records are handed over in batches); up to 8
    /// times as many more wait per partition before it is paused.
    pub queue_per_lane: usize,
    /// How often lag is sampled (log end and committed offsets of the assignment).
    pub lag_interval: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            scheduling: Scheduling::Partition,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            commit_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            revoke_timeout: Duration::from_secs(10),
            queue_per_lane: 1024,
            lag_interval: Duration::from_secs(5),
        }
    }
}

impl ConsumerOptions {
    /// Lanes per partition.
    pub(crate) fn lanes(&self) -> usize {
        match self.scheduling {
            Scheduling::Partition | Scheduling::Pipelined { .. } => 1,
            Scheduling::Key { lanes } => lanes.max(1),
        }
    }

    /// Capacity of a lane's queue in batches (a poll batch holds up to 256 records).
    pub(crate) fn batches_per_lane(&self) -> usize {
        (self.queue_per_lane / 128).max(2)
    }

    /// Handlers started before earlier ones finished, per partition (1 unless pipelined).
    pub(crate) fn window(&self) -> usize {
        match self.scheduling {
            Scheduling::Pipelined { window } => window.max(1),
            Scheduling::Partition | Scheduling::Key { .. } => 1,
        }
    }

    /// How long shutdown waits for in-flight handlers: the grace, less what the last commit and
    /// leaving the group keep of it (a fifth, at most 5 s). The whole shutdown stays within
    /// `shutdown_grace`.
    pub(crate) fn drain_timeout(&self) -> Duration {
        self.shutdown_grace
            .saturating_sub((self.shutdown_grace / 5).min(Duration::from_secs(5)))
    }

    /// How long the last commit of a shutdown may keep trying (through a rebalance under way)
    /// after the drain timeout: half of what [`Self::drain_timeout`] keeps of the grace, the
    /// rest is for leaving the group.
    pub(crate) fn last_commit_timeout(&self) -> Duration {
        self.shutdown_grace.saturating_sub(self.drain_timeout()) / 2
    }

    /// The delay after failed attempt number `attempt` (1-based).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let o = ConsumerOptions::default();
        assert_eq!(o.backoff(1), Duration::from_millis(100));
        assert_eq!(o.backoff(2), Duration::from_millis(200));
        assert_eq!(o.backoff(4), Duration::from_millis(800));
        assert_eq!(o.backoff(30), Duration::from_secs(10));
        assert_eq!(o.lanes(), 1);
        assert_eq!(
            ConsumerOptions {
                scheduling: Scheduling::Key { lanes: 0 },
                ..o
            }
            .lanes(),
            1
        );
    }
}
