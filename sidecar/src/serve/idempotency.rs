//! `Idempotency-Key` on produce requests: a repeat of a key within the window
//! (`KAFKA_SIDECAR_IDEMPOTENCY_WINDOW`) is answered with the first request's outcome without
//! writing again — also while the first request is still in flight: the repeat waits for it.
//!
//! Per key the outcome of every record of the request is remembered. A repeat after a fully
//! acknowledged request replays its answer; a repeat after a partly failed one sends only the
//! records that were not acknowledged, so retrying until success stores each record once (a
//! record that failed with a timeout may still have been stored by Kafka; see `docs/sidecar.md`).
//! A key reused with another request (route, topic, headers that shape the records, or body) is
//! refused. The work runs in its own task, so a client that gives up does not cancel it.
//!
//! Memory is bounded: at most `max_keys` keys and [`MAX_REMEMBERED_RECORDS`] record outcomes are
//! kept; past either bound the oldest keys are forgotten early (logged).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use tokio::sync::watch;

use super::envelope::Offset;

/// The request header.
pub(crate) const HEADER: &str = "idempotency-key";
/// The header a replayed answer carries.
pub(crate) const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest accepted key.
pub(crate) const MAX_KEY_LEN: usize = 255;
/// Record outcomes remembered over all keys, at most.
pub(crate) const MAX_REMEMBERED_RECORDS: usize = 1_000_000;

/// Why a record of a request was not acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The error with its causes.
    pub(crate) message: String,
    /// Whether retrying may succeed.
    pub(crate) retriable: bool,
}

/// What happened to each record of a request, in request order.
pub(crate) type Outcomes = Vec<Result<Offset, Failure>>;

/// The identity of a request, for telling a repeat from another request under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64, u64);

/// The remembered keys of one sidecar process.
#[derive(Debug)]
pub(crate) struct Idempotency {
    window: Duration,
    max_keys: usize,
    keys: Mutex<Keys>,
    hashers: (RandomState, RandomState),
}

#[derive(Debug, Default)]
struct Keys {
    by_key: HashMap<String, Entry>,
    /// Keys in the order they were first seen, with their generation (a forgotten and reused
    /// key has a newer one).
    order: VecDeque<(String, u64)>,
    generation: u64,
    /// Outcomes held by every completed entry.
    remembered: usize,
    /// Keys forgotten before their window ended.
    evicted: u64,
}

#[derive(Debug)]
struct Entry {
    fingerprint: Fingerprint,
    generation: u64,
    since: Instant,
    state: State,
}

#[derive(Debug)]
enum State {
    /// A request is working on it; its outcome arrives on the channel (or the sender is
    /// dropped if the work ended without one).
    InFlight(watch::Receiver<Option<Arc<Outcomes>>>),
    Done(Arc<Outcomes>),
}

/// What a request with a key does.
#[derive(Debug)]
pub(crate) enum Begin {
    /// Send the records; `previous` holds the outcome of an earlier, partly failed attempt
    /// (send only its failed records). Complete the slot with the outcome.
    Execute {
        previous: Option<Arc<Outcomes>>,
        slot: Slot,
    },
    /// Another request with this key is in flight: wait for it, then begin again.
    Wait(watch::Receiver<Option<Arc<Outcomes>>>),
    /// Every record of the first request was acknowledged: answer with its outcome.
    Replay(Arc<Outcomes>),
    /// The key was used with another request.
    Conflict,
}

/// The right to complete one key's entry. Dropped without completing, the entry is forgotten
/// (nothing was sent) and waiting repeats begin again.
#[derive(Debug)]
pub(crate) struct Slot {
    keys: Arc<Idempotency>,
    key: String,
    generation: u64,
    done: Option<watch::Sender<Option<Arc<Outcomes>>>>,
    /// The outcome of the earlier attempt this one retries: kept if this one sends nothing.
    previous: Option<Arc<Outcomes>>,
}

/// Why an `Idempotency-Key` header is refused.
pub(crate) fn parse_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("give one Idempotency-Key header".into());
    }
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| (0x20..0x7f).contains(&b))
        })
        .ok_or_else(|| {
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters")
        })?;
    Ok(Some(key.to_owned()))
}

impl Idempotency {
    pub(crate) fn new(window: Duration, max_keys: usize) -> Self {
        Self {
            window,
            max_keys: max_keys.max(1),
            keys: Mutex::new(Keys::default()),
            hashers: (RandomState::new(), RandomState::new()),
        }
    }

    /// The fingerprint of a request made of `parts`.
    pub(crate) fn fingerprint<'a>(
        &self,
        parts: impl IntoIterator<Item = &'a [u8]> + Clone,
    ) -> Fingerprint {
        let hash = |state: &RandomState| {
            let mut h = state.build_hasher();
            for part in parts.clone() {
                h.write_usize(part.len());
                h.write(part);
            }
            h.finish()
        };
        Fingerprint(hash(&self.hashers.0), hash(&self.hashers.1))
    }

    /// Looks `key` up for a request with `fingerprint`.
    pub(crate) fn begin(self: &Arc<Self>, key: &str, fingerprint: Fingerprint) -> Begin {
        // A panic while the lock was held leaves consistent state: no partial updates.
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        keys.expire(now, self.window);
        let keys = &mut *keys;
        let generation = keys.generation;
        match keys.by_key.get_mut(key) {
            Some(entry) if entry.fingerprint != fingerprint => return Begin::Conflict,
            Some(entry) => match &entry.state {
                State::InFlight(rx) => return Begin::Wait(rx.clone()),
                State::Done(outcomes) if outcomes.iter().all(Result::is_ok) => {
                    return Begin::Replay(Arc::clone(outcomes));
                }
                State::Done(outcomes) => {
                    // Retry the failed records under the same entry (its window keeps running).
                    let previous = Arc::clone(outcomes);
                    let (tx, rx) = watch::channel(None);
                    entry.state = State::InFlight(rx);
                    let generation = entry.generation;
                    keys.remembered -= previous.len();
                    return Begin::Execute {
                        previous: Some(Arc::clone(&previous)),
                        slot: self.slot(key, generation, tx, Some(previous)),
                    };
                }
            },
            None => {}
        }
        let (tx, rx) = watch::channel(None);
        keys.generation += 1;
        keys.by_key.insert(
            key.to_owned(),
            Entry {
                fingerprint,
                generation,
                since: now,
                state: State::InFlight(rx),
            },
        );
        keys.order.push_back((key.to_owned(), generation));
        keys.bound(self.max_keys);
        Begin::Execute {
            previous: None,
            slot: self.slot(key, generation, tx, None),
        }
    }

    fn slot(
        self: &Arc<Self>,
        key: &str,
        generation: u64,
        tx: watch::Sender<Option<Arc<Outcomes>>>,
        previous: Option<Arc<Outcomes>>,
    ) -> Slot {
        Slot {
            keys: Arc::clone(self),
            key: key.to_owned(),
            generation,
            done: Some(tx),
            previous,
        }
    }
}

impl Slot {
    /// Remembers the outcome and hands it to the repeats waiting for it.
    pub(crate) fn complete(mut self, outcomes: Outcomes) -> Arc<Outcomes> {
        let outcomes = Arc::new(outcomes);
        if let Ok(mut keys) = self.keys.keys.lock()
            && let Some(entry) = keys.by_key.get_mut(&self.key)
            && entry.generation == self.generation
        {
            entry.state = State::Done(Arc::clone(&outcomes));
            keys.remembered += outcomes.len();
            keys.bound(self.keys.max_keys);
        }
        if let Some(done) = self.done.take() {
            done.send_replace(Some(Arc::clone(&outcomes)));
        }
        outcomes
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.done.is_none() {
            return;
        }
        if let Ok(mut keys) = self.keys.keys.lock()
            && let Some(entry) = keys.by_key.get_mut(&self.key)
            && entry.generation == self.generation
        {
            match self.previous.take() {
                Some(previous) => {
                    let n = previous.len();
                    entry.state = State::Done(previous);
                    keys.remembered += n;
                }
                None => {
                    keys.by_key.remove(&self.key);
                }
            }
        }
        // Dropping the sender wakes the waiting repeats, which begin again.
    }
}

impl Keys {
    /// Forgets keys older than `window`.
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((key, generation)) = self.order.front() {
            match self.by_key.get(key) {
                Some(e) if e.generation == *generation && now.duration_since(e.since) < window => {
                    break;
                }
                _ => {
                    let (key, generation) = self.order.pop_front().unwrap_or_default();
                    self.forget(&key, generation);
                }
            }
        }
    }

    /// Forgets the oldest keys while over a bound.
    fn bound(&mut self, max_keys: usize) {
        while self.by_key.len() > max_keys || self.remembered > MAX_REMEMBERED_RECORDS {
            let Some((key, generation)) = self.order.pop_front() else {
                break;
            };
            if self.forget(&key, generation) {
                self.evicted += 1;
                if self.evicted % 10_000 == 1 {
                    tracing::warn!(
                        evicted = self.evicted,
                        "Idempotency keys forgotten before their window ended: more keys or records than the sidecar remembers."
                    );
                }
            }
        }
    }

    /// Forgets `key` if it is still of `generation`; whether it was.
    fn forget(&mut self, key: &str, generation: u64) -> bool {
        match self.by_key.get(key) {
            Some(e) if e.generation == generation => {
                if let Some(Entry {
                    state: State::Done(outcomes),
                    ..
                }) = self.by_key.remove(key)
                {
                    self.remembered -= outcomes.len();
                }
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(window: Duration, max: usize) -> Arc<Idempotency> {
        Arc::new(Idempotency::new(window, max))
    }

    fn ok(offset: i64) -> Result<Offset, Failure> {
        Ok(Offset {
            partition: 0,
            offset,
        })
    }

    fn failed() -> Result<Offset, Failure> {
        Err(Failure {
            message: "timed out".into(),
            retriable: true,
        })
    }

    fn execute(begin: Begin) -> (Option<Arc<Outcomes>>, Slot) {
        match begin {
            Begin::Execute { previous, slot } => (previous, slot),
            other => panic!("expected Execute, got {other:?}"),
        }
    }

    #[test]
    fn a_repeat_replays_and_another_request_under_the_key_conflicts() {
        let k = keys(Duration::from_secs(60), 10);
        let (a, b) = (k.fingerprint([&b"a"[..]]), k.fingerprint([&b"b"[..]]));
        assert_ne!(a, b);
        let (previous, slot) = execute(k.begin("k1", a));
        assert!(previous.is_none());
        assert!(matches!(k.begin("k1", b), Begin::Conflict));
        assert!(matches!(k.begin("k1", a), Begin::Wait(_)));
        slot.complete(vec![ok(7)]);
        match k.begin("k1", a) {
            Begin::Replay(o) => assert_eq!(o[0].as_ref().unwrap().offset, 7),
            other => panic!("{other:?}"),
        }
        assert!(matches!(k.begin("k1", b), Begin::Conflict));
        assert!(matches!(k.begin("k2", b), Begin::Execute { .. }));
    }

    #[tokio::test]
    async fn a_waiting_repeat_gets_the_first_outcome() {
        let k = keys(Duration::from_secs(60), 10);
        let f = k.fingerprint([&b"x"[..]]);
        let (_, slot) = execute(k.begin("k", f));
        let Begin::Wait(mut rx) = k.begin("k", f) else {
            panic!("in flight")
        };
        let waiter = tokio::spawn(async move { rx.wait_for(Option::is_some).await.is_ok() });
        slot.complete(vec![ok(1)]);
        assert!(waiter.await.unwrap());
    }

    #[test]
    fn a_partly_failed_request_retries_only_its_failed_records() {
        let k = keys(Duration::from_secs(60), 10);
        let f = k.fingerprint([&b"x"[..]]);
        let (_, slot) = execute(k.begin("k", f));
        slot.complete(vec![ok(1), failed()]);
        let (previous, slot) = execute(k.begin("k", f));
        let previous = previous.expect("the earlier outcome");
        assert!(previous[0].is_ok() && previous[1].is_err());
        // An attempt that sends nothing (e.g. 503 while draining) keeps the earlier outcome.
        drop(slot);
        let (previous, slot) = execute(k.begin("k", f));
        assert!(previous.expect("kept")[0].is_ok());
        slot.complete(vec![ok(1), ok(2)]);
        assert!(matches!(k.begin("k", f), Begin::Replay(_)));
    }

    #[test]
    fn an_attempt_that_sent_nothing_is_forgotten() {
        let k = keys(Duration::from_secs(60), 10);
        let (a, b) = (k.fingerprint([&b"a"[..]]), k.fingerprint([&b"b"[..]]));
        drop(execute(k.begin("k", a)).1);
        assert!(matches!(k.begin("k", b), Begin::Execute { .. }));
    }

    #[test]
    fn keys_are_forgotten_after_the_window_and_past_the_cap() {
        let k = keys(Duration::from_millis(20), 2);
        let f = k.fingerprint([&b"x"[..]]);
        for key in ["a", "b", "c"] {
            execute(k.begin(key, f)).1.complete(vec![ok(0)]);
        }
        assert!(matches!(k.begin("b", f), Begin::Replay(_)));
        assert!(
            matches!(k.begin("a", f), Begin::Execute { .. }),
            "over the cap"
        );
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            matches!(k.begin("c", f), Begin::Execute { .. }),
            "past the window"
        );
    }

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        let parse = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(HEADER, v.parse().unwrap());
            parse_key(&h)
        };
        assert_eq!(parse_key(&HeaderMap::new()), Ok(None));
        assert_eq!(parse("order-1 retry"), Ok(Some("order-1 retry".into())));
        assert!(parse("").is_err());
        assert!(parse(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(parse("tab\there").is_err());
    }
}
