//! Which offset of a partition may be committed: the lowest offset dispatched but not finished,
//! or one past the highest finished when nothing is pending. Records finish out of order in
//! per-key mode; the commit never passes an unfinished one.

use std::collections::VecDeque;

/// Offsets of one partition in flight.
#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionTracker {
    /// Offsets dispatched (in fetch order, so increasing) and not yet all finished before them:
    /// `(offset, finished)`. The front is always unfinished.
    window: VecDeque<(i64, bool)>,
    /// Dispatched and not finished.
    pending: usize,
    /// One past the highest offset dispatched.
    next: Option<i64>,
    /// The last offset committed (the "next record to read" meaning).
    committed: Option<i64>,
}

impl PartitionTracker {
    /// A record at `offset` was handed to a handler.
    pub(crate) fn dispatched(&mut self, offset: i64) {
        self.window.push_back((offset, false));
        self.pending += 1;
        self.next = Some(self.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// The handler of `offset` finished (processed or dead-lettered).
    pub(crate) fn finished(&mut self, offset: i64) {
        let found = match self.window.front() {
            // In-order lanes finish the lowest offset first.
            Some(&(lowest, false)) if lowest == offset => Some(0),
            _ => self.find_unfinished(offset),
        };
        if let Some(i) = found {
            self.window[i].1 = true;
            self.pending -= 1;
        }
        while self.window.front().is_some_and(|(_, done)| *done) {
            self.window.pop_front();
        }
    }

    fn find_unfinished(&self, offset: i64) -> Option<usize> {
        match self.window.binary_search_by_key(&offset, |(o, _)| *o) {
            Ok(i) if !self.window[i].1 => Some(i),
            // Offsets out of order (never expected): look it up one by one.
            _ => self
                .window
                .iter()
                .position(|&(o, done)| o == offset && !done),
        }
    }

    /// The offset to commit now (Kafka's meaning: the next record to read), if it moved past
    /// the last commit.
    pub(crate) fn committable(&self) -> Option<i64> {
        let candidate = match self.window.front() {
            Some(&(lowest, _)) => lowest,
            None => self.next?,
        };
        (self.committed.is_none_or(|c| candidate > c)).then_some(candidate)
    }

    /// Records that `offset` was committed.
    pub(crate) fn committed(&mut self, offset: i64) {
        self.committed = Some(self.committed.map_or(offset, |c| c.max(offset)));
    }

    /// Records dispatched and not finished.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::PartitionTracker;

    #[test]
    fn commits_only_up_to_the_lowest_unfinished() {
        let mut t = PartitionTracker::default();
        assert_eq!(t.committable(), None);
        for o in 10..15 {
            t.dispatched(o);
        }
        assert_eq!(t.committable(), Some(10));
        t.finished(11);
        t.finished(12);
        assert_eq!(t.committable(), Some(10), "10 is still running");
        t.finished(10);
        assert_eq!(t.committable(), Some(13));
        t.committed(13);
        assert_eq!(t.committable(), None, "nothing new");
        t.finished(13);
        t.finished(14);
        assert_eq!(t.committable(), Some(15));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn in_order_processing_moves_one_by_one() {
        let mut t = PartitionTracker::default();
        t.dispatched(0);
        t.finished(0);
        assert_eq!(t.committable(), Some(1));
        t.committed(1);
        t.dispatched(1);
        assert_eq!(
            t.committable(),
            None,
            "1 is pending; 1 was already committed"
        );
    }

    proptest::proptest! {
        #[test]
        fn the_commit_is_always_the_lowest_unfinished(
            start in 0i64..1_000,
            order in proptest::collection::vec(0usize..1_000, 1..200),
        ) {
            let n = order.len();
            let mut t = PartitionTracker::default();
            for o in start..start + n as i64 {
                t.dispatched(o);
            }
            // Finish in a shuffled order derived from `order`.
            let mut left: Vec<i64> = (start..start + n as i64).collect();
            let mut finished = std::collections::BTreeSet::new();
            for pick in order {
                let o = left.remove(pick % left.len());
                t.finished(o);
                finished.insert(o);
                let lowest = (start..start + n as i64).find(|x| !finished.contains(x));
                proptest::prop_assert_eq!(t.committable(), Some(lowest.unwrap_or(start + n as i64)));
                proptest::prop_assert_eq!(t.in_flight(), n - finished.len());
            }
        }
    }
}
