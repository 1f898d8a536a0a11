//! Which keys are parked, per source partition: shared by the source side (which parks keys and
//! sends records behind them) and the retry reader (which finishes them).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::consumer::partitions::lock;
use crate::consumer::worker::Tp;

/// One parked key: the offsets, in its source partition, of its records that wait in the retry
/// partition. The smallest is the one to handle first (a key's records are in offset order in
/// their source partition); a copy of a later one reached before it follows it to the end of
/// the retry partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) waiting: BTreeSet<i64>,
}

/// What the reader does with a record of a parked key that it reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// It is the key's first unfinished record: handle it.
    Handle,
    /// An earlier record of its key is still unfinished (it went back to the end of the retry
    /// partition): follow it there.
    Follow,
}

#[derive(Debug, Default)]
struct Partition {
    /// The retry partition has been read to its end once since the assignment: every parked
    /// key is known.
    ready: bool,
    keys: HashMap<Vec<u8>, Key>,
}

/// The parked keys of the source partitions this member owns.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    partitions: Mutex<HashMap<Tp, Partition>>,
    changed: Notify,
}

impl Parked {
    /// `tp` was assigned: its parked keys are unknown until [`Parked::rebuilt`].
    pub(super) fn assigned(&self, tp: Tp) {
        lock(&self.partitions).insert(tp, Partition::default());
    }

    /// The retry partition of `tp` was read to its end: these keys are parked.
    pub(super) fn rebuilt(&self, tp: &Tp, keys: HashMap<Vec<u8>, Key>) {
        if let Some(p) = lock(&self.partitions).get_mut(tp) {
            p.keys = keys;
            p.ready = true;
        }
        self.changed.notify_waiters();
    }

    /// `tp` was revoked.
    pub(super) fn revoked(&self, tp: &Tp) {
        lock(&self.partitions).remove(tp);
        self.changed.notify_waiters();
    }

    /// Waits until the parked keys of `tp` are known; `false` when `tp` is not assigned here.
    pub(super) async fn wait_ready(&self, tp: &Tp) -> bool {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match lock(&self.partitions).get(tp) {
                Some(p) if p.ready => return true,
                Some(_) => {}
                None => return false,
            }
            changed.await;
        }
    }

    /// Parks the record of `key` at `offset` if the key is parked; whether it was.
    pub(super) fn park_behind(&self, tp: &Tp, key: &[u8], offset: i64) -> bool {
        let mut partitions = lock(&self.partitions);
        match partitions.get_mut(tp).and_then(|p| p.keys.get_mut(key)) {
            Some(k) => {
                k.waiting.insert(offset);
                true
            }
            None => false,
        }
    }

    /// Parks the record of `key` at `offset` (parking the key if it was not).
    pub(super) fn park(&self, tp: &Tp, key: &[u8], offset: i64) {
        if let Some(p) = lock(&self.partitions).get_mut(tp) {
            p.keys
                .entry(key.to_vec())
                .or_default()
                .waiting
                .insert(offset);
        }
    }

    /// The reader reached a copy of the record of `key` at `offset` (of the source partition).
    pub(super) fn turn(&self, tp: &Tp, key: &[u8], offset: i64) -> Turn {
        let partitions = lock(&self.partitions);
        let first = partitions
            .get(tp)
            .and_then(|p| p.keys.get(key))
            .and_then(|k| k.waiting.first().copied());
        match first {
            Some(first) if first < offset => Turn::Follow,
            _ => Turn::Handle,
        }
    }

    /// The record of `key` at `offset` finished (handled or dead-lettered), or did not reach
    /// the retry topic after all: the key is unparked when it was its last.
    pub(super) fn finished(&self, tp: &Tp, key: &[u8], offset: i64) {
        let mut partitions = lock(&self.partitions);
        let Some(p) = partitions.get_mut(tp) else {
            return;
        };
        if let Some(k) = p.keys.get_mut(key) {
            k.waiting.remove(&offset);
            if k.waiting.is_empty() {
                p.keys.remove(key);
            }
        }
    }

    /// Whether `key` is parked on `tp` (for tests and logs).
    #[cfg(test)]
    pub(super) fn is_parked(&self, tp: &Tp, key: &[u8]) -> bool {
        lock(&self.partitions)
            .get(tp)
            .is_some_and(|p| p.keys.contains_key(key))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tp() -> Tp {
        (Arc::from("t"), 0)
    }

    #[test]
    fn a_key_stays_parked_until_its_last_record_finished_and_later_records_follow_the_first() {
        let parked = Parked::default();
        parked.assigned(tp());
        parked.rebuilt(&tp(), HashMap::new());
        assert!(!parked.park_behind(&tp(), b"k", 10), "not parked yet");
        parked.park(&tp(), b"k", 10); // the record at source offset 10 failed
        assert!(parked.park_behind(&tp(), b"k", 11));
        assert!(!parked.park_behind(&tp(), b"other", 12));
        assert_eq!(parked.turn(&tp(), b"k", 10), Turn::Handle);
        // 10 failed again and went back to the end; its follower is reached first.
        assert_eq!(parked.turn(&tp(), b"k", 11), Turn::Follow);
        assert_eq!(parked.turn(&tp(), b"k", 10), Turn::Handle);
        parked.finished(&tp(), b"k", 10);
        assert!(parked.is_parked(&tp(), b"k"), "11 still waits");
        assert_eq!(parked.turn(&tp(), b"k", 11), Turn::Handle);
        parked.finished(&tp(), b"k", 11);
        assert!(!parked.is_parked(&tp(), b"k"));
        // A copy handled again after a crash is not held back by anything.
        assert_eq!(parked.turn(&tp(), b"k", 10), Turn::Handle);
    }

    #[tokio::test]
    async fn source_records_wait_until_the_retry_partition_was_read() {
        let parked = Arc::new(Parked::default());
        parked.assigned(tp());
        let waiting = {
            let parked = Arc::clone(&parked);
            tokio::spawn(async move { parked.wait_ready(&tp()).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        parked.rebuilt(
            &tp(),
            HashMap::from([(
                b"k".to_vec(),
                Key {
                    waiting: BTreeSet::from([3]),
                },
            )]),
        );
        assert!(waiting.await.unwrap());
        assert!(parked.park_behind(&tp(), b"k", 4));
        parked.revoked(&tp());
        assert!(!parked.wait_ready(&tp()).await);
    }
}
