//! Pull consumption (Kafka-Bridge-like), safe with app restarts and many pollers.
//!
//! The consumer runtime hands records to a buffer in offset order. A `poll` hands them out under
//! a *lease*: an identifier of that poll's records, valid for `KAFKA_SIDECAR_PULL_LEASE`. A
//! `commit` names its lease and acknowledges, with Kafka's meaning (the offset of the next record
//! to read), only the records of that partition below the offset that were handed out under that
//! lease — never what another poller, or an earlier life of the app, received. A `nack` names
//! records of its lease that failed: they are retried with the runtime's backoff or dead-lettered
//! at once. Records whose lease expired unacknowledged are handed out again, in offset order per
//! partition, by the next poll.
//!
//! A record's handler finishes only when it is acknowledged or nacked, so the runtime commits
//! nothing the app has not acknowledged; unacknowledged records are redelivered after a restart
//! or rebalance.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use kafkadeps::{HandlerError, Record};
use serde::Deserialize;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// Records of one partition handed out but not yet acknowledged, at most.
pub(crate) const WINDOW_PER_PARTITION: usize = 1000;
/// Largest `max_records` of one poll.
pub(crate) const MAX_RECORDS: usize = 10_000;
/// Longest `timeout_ms` of one poll.
pub(crate) const MAX_TIMEOUT_MS: u64 = 30_000;

/// How a record's handler ends: acknowledged, or failed as the app said.
type Outcome = Result<(), HandlerError>;

/// Why a commit or nack was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LeaseError {
    /// The lease expired, or was never handed out by this sidecar process.
    Expired,
}

/// One record the runtime handed over, waiting for the app or held by it.
#[derive(Debug)]
struct Pending {
    record: Record,
    done: oneshot::Sender<Outcome>,
    /// The lease it was last handed out under.
    lease: Option<u64>,
}

/// A topic-partition.
type Tp = (String, i32);

/// Everything the buffer holds.
#[derive(Debug, Default)]
struct Held {
    /// Per topic and partition, by offset.
    records: BTreeMap<String, BTreeMap<i32, BTreeMap<i64, Pending>>>,
    /// Offsets nacked for a retry and not handed back by the runtime yet (its backoff): their
    /// partitions wait, so the retry keeps its place in the partition's order.
    retrying: HashMap<Tp, std::collections::BTreeSet<i64>>,
    /// Nacks for a retry each offset had, while it has not finished.
    nacks: HashMap<(Tp, i64), u32>,
    /// Live leases and when they expire.
    leases: HashMap<u64, Instant>,
    next_lease: u64,
    /// Where the next poll starts taking, so no partition starves the others.
    rotation: usize,
}

/// Records waiting for the app, and records the app holds.
#[derive(Debug)]
pub(crate) struct PullBuffer {
    held: Mutex<Held>,
    arrived: Notify,
    lease: Duration,
    /// The runtime's attempts per record: a nack for a retry at the last one dead-letters it.
    attempts: u32,
    /// Random per process: a lease of an earlier sidecar process is never valid in this one.
    nonce: u64,
}

/// What one poll handed out.
#[derive(Debug)]
pub(crate) struct Leased {
    /// The lease's identifier; `None` when no record was handed out.
    pub(crate) lease: Option<String>,
    pub(crate) records: Vec<Record>,
}

/// `POST /v1/consumers/{group}/poll`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PollRequest {
    #[serde(default = "default_max_records")]
    pub(crate) max_records: usize,
    #[serde(default = "default_timeout_ms")]
    pub(crate) timeout_ms: u64,
}

fn default_max_records() -> usize {
    100
}
fn default_timeout_ms() -> u64 {
    1000
}

impl PollRequest {
    /// Checks the bounds.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_records == 0 || self.max_records > MAX_RECORDS {
            return Err(format!("max_records must be 1..={MAX_RECORDS}"));
        }
        if self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(format!("timeout_ms must be 0..={MAX_TIMEOUT_MS}"));
        }
        Ok(())
    }
}

/// `POST /v1/consumers/{group}/commit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitRequest {
    /// The `lease` of the poll answer that handed the records out.
    pub(crate) lease: String,
    pub(crate) offsets: Vec<CommitOffset>,
}

/// The next offset to read of one partition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// `POST /v1/consumers/{group}/nack`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NackRequest {
    /// The `lease` of the poll answer that handed the records out.
    pub(crate) lease: String,
    /// The records that failed (each its own offset, not the next one).
    pub(crate) records: Vec<CommitOffset>,
    /// What to do with them.
    #[serde(default)]
    pub(crate) action: NackAction,
    /// Why they failed: logged, and the dead-letter record's exception message.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// What a nack asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NackAction {
    /// Hand the record out again after the runtime's backoff; dead-lettered once its attempts
    /// (`KAFKA_SIDECAR_DELIVER_ATTEMPTS`) are spent.
    #[default]
    Retry,
    /// Write it to the dead-letter topic now.
    DeadLetter,
}

impl NackRequest {
    /// The handler outcome the nacked records get.
    fn outcome(&self) -> HandlerError {
        let reason = self
            .reason
            .clone()
            .unwrap_or_else(|| "the app nacked the record".to_owned());
        match self.action {
            NackAction::Retry => HandlerError::retryable(reason),
            NackAction::DeadLetter => HandlerError::permanent(reason),
        }
    }
}

impl PullBuffer {
    /// A buffer whose polls lease records for `lease`, for a runtime that gives each record
    /// `attempts` attempts.
    pub(crate) fn new(lease: Duration, attempts: u32) -> Self {
        let nonce = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Self {
            held: Mutex::new(Held::default()),
            arrived: Notify::new(),
            lease,
            attempts: attempts.max(1),
            nonce,
        }
    }

    /// How long a poll's lease lasts.
    pub(crate) fn lease_duration(&self) -> Duration {
        self.lease
    }

    /// The consumer runtime's handler: queue the record (synchronously, so in offset order),
    /// then finish when the app acknowledges or nacks it. Dropped on revoke or shutdown
    /// (cancel-safe: the record is then skipped by polls and redelivered by Kafka).
    pub(crate) fn handle(&self, record: Record) -> impl Future<Output = Outcome> + Send + use<> {
        let (done, finished) = oneshot::channel();
        if let Ok(mut held) = self.held.lock() {
            // A retried record is back: its partition moves on from it.
            let tp = (record.topic().to_owned(), record.partition());
            if let Some(offsets) = held.retrying.get_mut(&tp) {
                offsets.remove(&record.offset());
                if offsets.is_empty() {
                    held.retrying.remove(&tp);
                }
            }
            held.insert(Pending {
                record,
                done,
                lease: None,
            });
        }
        self.arrived.notify_waiters();
        async move {
            finished
                .await
                .unwrap_or_else(|_| Err(HandlerError::retryable("the pull buffer was dropped")))
        }
    }

    /// Hands out up to `max` records under a new lease, waiting up to `timeout` for the first;
    /// returns early (empty) when `stopping` resolves.
    pub(crate) async fn poll(
        &self,
        max: usize,
        timeout: Duration,
        stopping: impl Future<Output = ()>,
    ) -> Leased {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline, stopping);
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (taken, next_expiry) = self.take(max);
            if taken.records.is_empty() {
                let expiry = async {
                    match next_expiry {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = &mut arrived => {}
                    () = expiry => {}
                    () = &mut deadline => return taken,
                    () = &mut stopping => return taken,
                }
            } else {
                return taken;
            }
        }
    }

    /// Takes what is ready now; also says when the next live lease expires (its records may
    /// then be handed out again).
    fn take(&self, max: usize) -> (Leased, Option<Instant>) {
        let now = Instant::now();
        let Ok(mut held) = self.held.lock() else {
            return (
                Leased {
                    lease: None,
                    records: Vec::new(),
                },
                None,
            );
        };
        let held = &mut *held;
        held.leases.retain(|_, expires| *expires > now);
        let id = held.next_lease;
        let mut out = Vec::new();
        let mut again = 0;
        let partitions: Vec<(String, i32)> = held
            .records
            .iter()
            .flat_map(|(t, ps)| ps.keys().map(move |p| (t.clone(), *p)))
            .collect();
        let n = partitions.len();
        for i in 0..n {
            if out.len() >= max {
                break;
            }
            let (topic, partition) = &partitions[(held.rotation + i) % n];
            let leases = &held.leases;
            let Some(records) = held
                .records
                .get_mut(topic)
                .and_then(|ps| ps.get_mut(partition))
            else {
                continue;
            };
            // Records whose handler was dropped (revoked partition, shutdown) are redelivered
            // by Kafka to whoever owns the partition next.
            records.retain(|_, p| !p.done.is_closed());
            // One lease at a time per partition, in offset order: nothing is handed out behind
            // a record another live lease holds or a retry waits for.
            let waiting_retry = held
                .retrying
                .get(&(topic.clone(), *partition))
                .and_then(|offsets| offsets.first().copied());
            for (offset, pending) in records.iter_mut() {
                if out.len() >= max || waiting_retry.is_some_and(|r| *offset > r) {
                    break;
                }
                if pending.lease.is_some_and(|l| leases.contains_key(&l)) {
                    break;
                }
                again += usize::from(pending.lease.is_some());
                pending.lease = Some(id);
                out.push(pending.record.clone());
            }
        }
        held.rotation = held.rotation.wrapping_add(1);
        if again > 0 {
            tracing::info!(
                records = again,
                "Records whose lease expired unacknowledged are handed out again."
            );
        }
        held.records.retain(|_, ps| {
            ps.retain(|_, records| !records.is_empty());
            !ps.is_empty()
        });
        let lease = if out.is_empty() {
            None
        } else {
            held.next_lease += 1;
            held.leases.insert(id, now + self.lease);
            Some(self.lease_name(id))
        };
        let next_expiry = held.leases.values().min().copied();
        (
            Leased {
                lease,
                records: out,
            },
            next_expiry,
        )
    }

    fn lease_name(&self, id: u64) -> String {
        format!("{:016x}-{id}", self.nonce)
    }

    /// The live lease named `name`.
    fn live_lease(&self, held: &Held, name: &str) -> Result<u64, LeaseError> {
        let id = name
            .strip_prefix(&format!("{:016x}-", self.nonce))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or(LeaseError::Expired)?;
        match held.leases.get(&id) {
            Some(expires) if *expires > Instant::now() => Ok(id),
            _ => Err(LeaseError::Expired),
        }
    }

    /// Acknowledges every record of `lease` below each offset; returns how many.
    pub(crate) fn commit(
        &self,
        lease: &str,
        offsets: &[CommitOffset],
    ) -> Result<usize, LeaseError> {
        self.finish(
            lease,
            offsets,
            |records, o| records.range(..o).map(|(offset, _)| *offset).collect(),
            |_, _| Ok(()),
        )
    }

    /// Fails the named records of `lease` as `request` says; returns how many. A record nacked
    /// for a retry holds its partition back until the runtime hands it out again — unless that
    /// was its last attempt (it is then dead-lettered).
    pub(crate) fn nack(&self, request: &NackRequest) -> Result<usize, LeaseError> {
        let attempts = self.attempts;
        self.finish(
            &request.lease,
            &request.records,
            |records, o| records.contains_key(&o).then_some(o).into_iter().collect(),
            |held, (tp, offset)| {
                let nacks = held.nacks.entry((tp.clone(), offset)).or_insert(0);
                *nacks += 1;
                if request.action == NackAction::Retry && *nacks < attempts {
                    held.retrying.entry(tp).or_default().insert(offset);
                } else {
                    // Dead-lettered now, or at its last attempt: it does not come back.
                    held.nacks.remove(&(tp, offset));
                }
                Err(request.outcome())
            },
        )
    }

    /// Ends the handlers of the records `select` picks for each named partition and offset, if
    /// they were handed out under `lease`, with `outcome`.
    fn finish(
        &self,
        lease: &str,
        named: &[CommitOffset],
        select: impl Fn(&BTreeMap<i64, Pending>, i64) -> Vec<i64>,
        outcome: impl Fn(&mut Held, (Tp, i64)) -> Outcome,
    ) -> Result<usize, LeaseError> {
        let Ok(mut held) = self.held.lock() else {
            return Err(LeaseError::Expired);
        };
        let held = &mut *held;
        let id = self.live_lease(held, lease)?;
        let mut finished = 0;
        for o in named {
            let Some(records) = held
                .records
                .get_mut(&o.topic)
                .and_then(|ps| ps.get_mut(&o.partition))
            else {
                continue;
            };
            let mut ended = Vec::new();
            for offset in select(records, o.offset) {
                if records.get(&offset).is_some_and(|p| p.lease == Some(id))
                    && let Some(pending) = records.remove(&offset)
                {
                    ended.push((offset, pending));
                }
            }
            for (offset, pending) in ended {
                let tp = (o.topic.clone(), o.partition);
                let result = outcome(held, (tp.clone(), offset));
                if result.is_ok() {
                    held.nacks.remove(&(tp, offset));
                }
                if pending.done.send(result).is_ok() {
                    finished += 1;
                }
            }
        }
        // A partition this lease held may be free for a waiting poll now.
        self.arrived.notify_waiters();
        Ok(finished)
    }
}

impl Held {
    fn insert(&mut self, pending: Pending) {
        let (partition, offset) = (pending.record.partition(), pending.record.offset());
        match self.records.get_mut(pending.record.topic()) {
            Some(partitions) => partitions.entry(partition).or_default(),
            None => self
                .records
                .entry(pending.record.topic().to_owned())
                .or_default()
                .entry(partition)
                .or_default(),
        }
        .insert(offset, pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(partition: i32, offset: i64) -> Record {
        Record::from_parts("t", partition, offset, None, Some(b"{}"), &[])
    }

    fn at(partition: i32, offset: i64) -> CommitOffset {
        CommitOffset {
            topic: "t".into(),
            partition,
            offset,
        }
    }

    fn offsets(leased: &Leased) -> Vec<i64> {
        leased.records.iter().map(Record::offset).collect()
    }

    async fn poll(buffer: &PullBuffer, max: usize) -> Leased {
        buffer
            .poll(max, Duration::from_millis(10), std::future::pending())
            .await
    }

    fn lease(leased: &Leased) -> &str {
        leased.lease.as_deref().expect("a lease")
    }

    #[tokio::test]
    async fn commit_finishes_handlers_below_the_offset_only() {
        let buffer = PullBuffer::new(Duration::from_secs(30), 3);
        let handlers: Vec<_> = (0..3)
            .map(|o| tokio::spawn(buffer.handle(rec(0, o))))
            .collect();
        let polled = poll(&buffer, 10).await;
        assert_eq!(offsets(&polled), [0, 1, 2]);
        assert_eq!(buffer.commit(lease(&polled), &[at(0, 2)]), Ok(2));
        let mut handlers = handlers.into_iter();
        assert!(handlers.next().unwrap().await.unwrap().is_ok());
        assert!(handlers.next().unwrap().await.unwrap().is_ok());
        let third = handlers.next().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished(), "offset 2 is not acknowledged");
    }

    #[tokio::test]
    async fn a_commit_acknowledges_only_what_its_lease_handed_out() {
        let buffer = PullBuffer::new(Duration::from_secs(30), 3);
        let _handlers: Vec<_> = (0..4).map(|o| buffer.handle(rec(0, o))).collect();
        let _other: Vec<_> = (0..2).map(|o| buffer.handle(rec(1, o))).collect();
        let first = poll(&buffer, 2).await;
        let second = poll(&buffer, 10).await;
        // A partition is one lease's at a time: the second poller gets the other partition.
        assert_eq!(
            (offsets(&first), offsets(&second)),
            (vec![0, 1], vec![0, 1])
        );
        assert!(first.records.iter().all(|r| r.partition() == 0));
        assert!(second.records.iter().all(|r| r.partition() == 1));
        assert_ne!(first.lease, second.lease);
        // The second poller commits past partition 0's end: the first poller's records stay.
        assert_eq!(buffer.commit(lease(&second), &[at(0, 4), at(1, 2)]), Ok(2));
        assert!(
            poll(&buffer, 10).await.records.is_empty(),
            "partition 0 still the first's"
        );
        assert_eq!(buffer.commit(lease(&first), &[at(0, 4)]), Ok(2));
        assert_eq!(
            buffer.commit(lease(&first), &[at(0, 4)]),
            Ok(0),
            "nothing twice"
        );
        assert_eq!(offsets(&poll(&buffer, 10).await), [2, 3], "then in order");
    }

    #[tokio::test]
    async fn a_retried_record_keeps_its_place_in_the_partition() {
        let buffer = PullBuffer::new(Duration::from_secs(30), 2);
        let mut h0 = Box::pin(buffer.handle(rec(0, 0)));
        let _h1 = buffer.handle(rec(0, 1));
        let polled = poll(&buffer, 1).await;
        assert_eq!(offsets(&polled), [0]);
        let retry = NackRequest {
            lease: lease(&polled).to_owned(),
            records: vec![at(0, 0)],
            action: NackAction::Retry,
            reason: None,
        };
        assert_eq!(buffer.nack(&retry), Ok(1));
        assert!(h0.as_mut().await.is_err());
        // While the runtime backs off, offset 1 waits behind the retried offset 0.
        assert!(poll(&buffer, 10).await.records.is_empty());
        let _again = buffer.handle(rec(0, 0));
        let polled = poll(&buffer, 10).await;
        assert_eq!(offsets(&polled), [0, 1], "the retry first, then the rest");
        // The last attempt's nack does not hold the partition: the runtime dead-letters it.
        let last = NackRequest {
            lease: lease(&polled).to_owned(),
            ..retry
        };
        assert_eq!(buffer.nack(&last), Ok(1));
        assert_eq!(buffer.commit(lease(&polled), &[at(0, 2)]), Ok(1));
        let _h2 = buffer.handle(rec(0, 2));
        assert_eq!(offsets(&poll(&buffer, 10).await), [2]);
    }

    #[tokio::test]
    async fn records_of_an_expired_lease_are_handed_out_again_in_order() {
        let buffer = PullBuffer::new(Duration::from_millis(50), 3);
        let _handlers: Vec<_> = (0..3).map(|o| buffer.handle(rec(0, o))).collect();
        let first = poll(&buffer, 10).await;
        assert_eq!(offsets(&first), [0, 1, 2]);
        assert!(poll(&buffer, 10).await.records.is_empty(), "leased");
        // A poll that waits gets them once the lease expired.
        let again = buffer
            .poll(10, Duration::from_secs(5), std::future::pending())
            .await;
        assert_eq!(offsets(&again), [0, 1, 2]);
        assert_eq!(
            buffer.commit(lease(&first), &[at(0, 3)]),
            Err(LeaseError::Expired)
        );
        assert_eq!(buffer.commit(lease(&again), &[at(0, 3)]), Ok(3));
    }

    #[tokio::test]
    async fn nack_fails_the_named_records_as_asked() {
        let buffer = PullBuffer::new(Duration::from_secs(30), 3);
        let handlers: Vec<_> = (0..2)
            .map(|o| tokio::spawn(buffer.handle(rec(0, o))))
            .collect();
        let polled = poll(&buffer, 10).await;
        let nack = |offset, action| NackRequest {
            lease: lease(&polled).to_owned(),
            records: vec![at(0, offset)],
            action,
            reason: Some("no".into()),
        };
        assert_eq!(buffer.nack(&nack(0, NackAction::Retry)), Ok(1));
        assert_eq!(buffer.nack(&nack(1, NackAction::DeadLetter)), Ok(1));
        let kinds: Vec<_> = futures::future::join_all(handlers)
            .await
            .into_iter()
            .map(|h| h.unwrap().unwrap_err().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                kafkadeps::consumer::FailureKind::Retryable,
                kafkadeps::consumer::FailureKind::Permanent
            ]
        );
    }

    #[tokio::test]
    async fn leases_of_another_process_or_made_up_are_refused() {
        let buffer = PullBuffer::new(Duration::from_secs(30), 3);
        let _h = buffer.handle(rec(0, 0));
        let polled = poll(&buffer, 1).await;
        let other = PullBuffer::new(Duration::from_secs(30), 3);
        let _o = other.handle(rec(0, 0));
        let theirs = poll(&other, 1).await;
        assert_ne!(polled.lease, theirs.lease);
        for name in [lease(&theirs), "", "x", "0000000000000000-0"] {
            assert_eq!(
                buffer.commit(name, &[at(0, 1)]),
                Err(LeaseError::Expired),
                "{name}"
            );
        }
        assert!(
            poll(&buffer, 1).await.lease.is_none(),
            "no lease without records"
        );
    }

    #[tokio::test]
    async fn poll_waits_for_records_and_times_out() {
        let buffer = std::sync::Arc::new(PullBuffer::new(Duration::from_secs(30), 3));
        let empty = poll(&buffer, 10).await;
        assert!(empty.records.is_empty());
        let b = std::sync::Arc::clone(&buffer);
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Keep the handler alive (it would be cancelled when dropped) until acknowledged.
            b.handle(rec(1, 5)).await
        });
        let got = buffer
            .poll(10, Duration::from_secs(10), std::future::pending())
            .await;
        assert_eq!(offsets(&got), [5]);
        assert_eq!(buffer.commit(lease(&got), &[at(1, 6)]), Ok(1));
        assert!(later.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn cancelled_handlers_are_not_polled() {
        let buffer = PullBuffer::new(Duration::from_secs(30), 3);
        drop(buffer.handle(rec(0, 0)));
        let _kept = buffer.handle(rec(0, 1));
        assert_eq!(offsets(&poll(&buffer, 10).await), [1]);
    }

    #[test]
    fn bounds_are_checked() {
        let r: PollRequest = serde_json::from_str("{}").unwrap();
        assert_eq!((r.max_records, r.timeout_ms), (100, 1000));
        assert!(r.validate().is_ok());
        let r: PollRequest = serde_json::from_str(r#"{"max_records":0}"#).unwrap();
        assert!(r.validate().is_err());
        assert!(serde_json::from_str::<PollRequest>(r#"{"max":1}"#).is_err());
        assert!(serde_json::from_str::<CommitRequest>(r#"{"offsets":[]}"#).is_err());
        let n: NackRequest = serde_json::from_str(r#"{"lease":"l","records":[]}"#).unwrap();
        assert_eq!(n.action, NackAction::Retry);
        let n: NackRequest =
            serde_json::from_str(r#"{"lease":"l","records":[],"action":"dead_letter"}"#).unwrap();
        assert_eq!(n.action, NackAction::DeadLetter);
    }
}
