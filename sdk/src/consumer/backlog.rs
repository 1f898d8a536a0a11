//! The backlog between the poll thread and the intake: batches polled and not yet dispatched.
//! A rebalance waits until every batch polled before it was dispatched
//! ([`Backlog::wait_caught_up`]), so revoked partitions are drained and committed with all their
//! polled records.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::partitions::lock;

/// Batches polled and not yet dispatched, shared by the poll thread (and its rebalance
/// callback) and the intake thread.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    counts: Mutex<Counts>,
    caught_up: Condvar,
}

#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    dispatched: u64,
    /// The intake thread has ended: nothing will be dispatched any more.
    closed: bool,
}

impl Backlog {
    /// A batch goes to the intake.
    pub(super) fn sent(&self) {
        lock(&self.counts).sent += 1;
    }

    /// The intake dispatched a batch.
    pub(super) fn dispatched(&self) {
        let mut counts = lock(&self.counts);
        counts.dispatched += 1;
        if counts.dispatched >= counts.sent {
            self.caught_up.notify_all();
        }
    }

    /// The intake ended.
    pub(super) fn close(&self) {
        lock(&self.counts).closed = true;
        self.caught_up.notify_all();
    }

    /// Blocks until every batch sent so far is dispatched (or the intake ended), up to
    /// `timeout`; whether it was.
    pub(super) fn wait_caught_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut counts = lock(&self.counts);
        while counts.dispatched < counts.sent && !counts.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            counts = self
                .caught_up
                .wait_timeout(counts, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn waits_until_every_sent_batch_is_dispatched() {
        let backlog = Arc::new(Backlog::default());
        assert!(backlog.wait_caught_up(Duration::ZERO), "nothing sent yet");
        backlog.sent();
        backlog.sent();
        assert!(!backlog.wait_caught_up(Duration::from_millis(20)));
        let intake = {
            let backlog = Arc::clone(&backlog);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                backlog.dispatched();
                backlog.dispatched();
            })
        };
        assert!(backlog.wait_caught_up(Duration::from_secs(30)));
        intake.join().expect("intake");
    }
}
