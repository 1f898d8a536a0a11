//! Per-key parking (`KAFKA_RETRY_MODE=park`) against the real cluster: a failing key does not
//! delay the other keys of its partition, every key keeps its order, a key that always fails
//! ends in the dead-letter topic, and parking survives a restart and a second member joining.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkadeps::consumer::{dlq_headers, park};
use kafkadeps::{HandlerError, OutgoingRecord, Record};
use kafkadeps_tests::{committed_offsets, eventually, read_all, start_kafka, unique};

/// What a handler saw: key, sequence number, the attempt at it, and when it finished.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    seq: u32,
    ok: bool,
    at: Instant,
    topic: String,
}

type Journal = Arc<Mutex<Vec<Seen>>>;

/// `records` as (key, seq) JSON values to `topic`, in order, one partition.
async fn produce(kafka: &kafkadeps::Kafka, topic: &str, records: &[(&str, u32)]) {
    for (key, seq) in records {
        kafka
            .producer()
            .send(OutgoingRecord::json(topic, key, seq).expect("JSON"))
            .await
            .expect("acknowledged");
    }
}

/// A handler journaling what it sees; `fails(key, seq, attempt)` says whether that attempt
/// fails retryably.
fn handler(
    journal: &Journal,
    fails: impl Fn(&str, u32, u32) -> bool + Send + Sync + 'static,
) -> impl Fn(Record) -> futures::future::BoxFuture<'static, Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    let journal = Arc::clone(journal);
    let attempts = Arc::new(Mutex::new(BTreeMap::<(String, u32), u32>::new()));
    let fails = Arc::new(fails);
    move |record: Record| {
        let (journal, attempts, fails) = (
            Arc::clone(&journal),
            Arc::clone(&attempts),
            Arc::clone(&fails),
        );
        Box::pin(async move {
            let key = record.key_str().unwrap_or_default().to_owned();
            let seq: u32 = record.json()?;
            let attempt = {
                let mut a = attempts.lock().expect("attempts");
                let n = a.entry((key.clone(), seq)).or_insert(0);
                *n += 1;
                *n
            };
            let ok = !fails(&key, seq, attempt);
            journal.lock().expect("journal").push(Seen {
                key,
                seq,
                ok,
                at: Instant::now(),
                topic: record.topic().to_owned(),
            });
            if ok {
                Ok(())
            } else {
                Err(HandlerError::retryable("the ledger is busy"))
            }
        })
    }
}

/// Per key, the sequence numbers handled successfully, in the order they were.
fn done_in_order(journal: &[Seen]) -> BTreeMap<String, Vec<u32>> {
    let mut by_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for s in journal.iter().filter(|s| s.ok) {
        by_key.entry(s.key.clone()).or_default().push(s.seq);
    }
    by_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_key_does_not_delay_the_other_keys_and_every_key_keeps_its_order() {
    kafkadeps_tests::init_logs();
    let topic = unique("park-order");
    let group = unique("park-order-g");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "park-order"),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
        ("KAFKA_RETRY_MODE", "park"),
    ])
    .await;
    // Key `bad` is interleaved with ten other keys; its first record fails three times.
    let mut records = Vec::new();
    for seq in 0..5 {
        records.push(("bad", seq));
        for k in 0..10 {
            records.push((
                ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"][k],
                seq,
            ));
        }
    }
    produce(&kafka, &topic, &records).await;
    let journal: Journal = Arc::default();
    let done = Arc::new(tokio::sync::Notify::new());
    let d = Arc::clone(&done);
    let started = Instant::now();
    let (_stats, running) = kafka
        .consumer()
        .max_attempts(5)
        .backoff(Duration::from_secs(1), Duration::from_secs(1))
        .without_signal_handlers()
        .shutdown_on(async move { d.notified().await })
        .start(handler(&journal, |key, seq, attempt| {
            key == "bad" && seq == 0 && attempt <= 3
        }))
        .expect("consumer starts");
    let running = tokio::spawn(running);
    let j = Arc::clone(&journal);
    let total = records.len();
    eventually(Duration::from_secs(60), "every record handled", || {
        let n = j.lock().unwrap().iter().filter(|s| s.ok).count();
        async move { (n >= total).then_some(()) }
    })
    .await;
    eventually(Duration::from_secs(30), "source offsets committed", || {
        let c = committed_offsets(&group, &topic, 1);
        async move { (c == [total as i64]).then_some(()) }
    })
    .await;
    done.notify_one();
    running.await.unwrap().expect("graceful shutdown");

    let journal = journal.lock().unwrap().clone();
    let by_key = done_in_order(&journal);
    for (key, seqs) in &by_key {
        assert_eq!(
            seqs,
            &[0, 1, 2, 3, 4],
            "key {key}: each record once, in order"
        );
    }
    assert_eq!(by_key.len(), 11);
    // The failing key's backoff is three times 1 s; the other keys were finished long before
    // its first success.
    let bad_first_ok = journal
        .iter()
        .find(|s| s.key == "bad" && s.ok)
        .expect("bad done")
        .at;
    let others_done = journal
        .iter()
        .filter(|s| s.key != "bad")
        .map(|s| s.at)
        .max()
        .expect("others");
    assert!(
        bad_first_ok.duration_since(started) >= Duration::from_secs(3),
        "three backoffs of 1 s"
    );
    assert!(
        others_done + Duration::from_secs(2) < bad_first_ok,
        "the other keys finished {:?} after start, the failing key {:?}",
        others_done.duration_since(started),
        bad_first_ok.duration_since(started)
    );
    assert!(
        journal.iter().all(|s| s.topic == topic),
        "redelivered records carry their original topic"
    );
    let failures = journal.iter().filter(|s| !s.ok).count();
    assert_eq!(failures, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_that_always_fails_is_dead_lettered_after_its_attempts_and_its_key_goes_on() {
    kafkadeps_tests::init_logs();
    let topic = unique("park-dlq");
    let group = unique("park-dlq-g");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "park-dlq"),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
        ("KAFKA_RETRY_MODE", "park"),
    ])
    .await;
    produce(
        &kafka,
        &topic,
        &[("doomed", 0), ("other", 0), ("doomed", 1), ("other", 1)],
    )
    .await;
    let journal: Journal = Arc::default();
    let done = Arc::new(tokio::sync::Notify::new());
    let d = Arc::clone(&done);
    let (_stats, running) = kafka
        .consumer()
        .max_attempts(3)
        .backoff(Duration::from_millis(100), Duration::from_millis(200))
        .without_signal_handlers()
        .shutdown_on(async move { d.notified().await })
        .start(handler(&journal, |key, seq, _| key == "doomed" && seq == 0))
        .expect("consumer starts");
    let running = tokio::spawn(running);
    let dead = read_all(&format!("{topic}.dlq"), 1, Duration::from_secs(60)).await;
    let j = Arc::clone(&journal);
    eventually(
        Duration::from_secs(60),
        "the key's later record handled",
        || {
            let ok = j
                .lock()
                .unwrap()
                .iter()
                .any(|s| s.key == "doomed" && s.seq == 1 && s.ok);
            async move { ok.then_some(()) }
        },
    )
    .await;
    done.notify_one();
    running.await.unwrap().expect("graceful shutdown");

    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "doomed");
    let header = |name: &str| dead[0].header(name);
    assert_eq!(header(dlq_headers::ORIGINAL_TOPIC), topic.as_bytes());
    assert_eq!(header(dlq_headers::ORIGINAL_PARTITION), 0i32.to_be_bytes());
    assert_eq!(header(dlq_headers::ORIGINAL_OFFSET), 0i64.to_be_bytes());
    assert_eq!(
        header(dlq_headers::ORIGINAL_CONSUMER_GROUP),
        group.as_bytes()
    );
    assert_eq!(header(dlq_headers::EXCEPTION_FQCN), b"kafkadeps.retryable");
    assert!(
        dead[0]
            .headers
            .iter()
            .all(|(k, _)| !k.starts_with("kafkadeps-retry-")),
        "parking headers stay in the retry topic"
    );
    let journal = journal.lock().unwrap().clone();
    let doomed: Vec<(u32, bool)> = journal
        .iter()
        .filter(|s| s.key == "doomed")
        .map(|s| (s.seq, s.ok))
        .collect();
    assert_eq!(
        doomed,
        [(0, false), (0, false), (0, false), (1, true)],
        "three attempts, then the key's next record"
    );
    // The retry topic holds what was parked, with where it came from.
    let parked = read_all(&format!("{topic}.retry"), 3, Duration::from_secs(30)).await;
    assert!(parked.iter().all(|r| {
        r.headers
            .iter()
            .any(|(k, v)| k == park::ORIGINAL_TOPIC && v == topic.as_bytes())
    }));
}

fn spawn_member(out: &std::path::Path, vars: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(kafkadeps_tests::workspace_bin("park_consumer"))
        .arg(out)
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", kafkadeps_tests::bootstrap())
        .env("RUST_LOG", "warn")
        .env("KAFKA_METRICS_LISTEN", "127.0.0.1:0")
        // A killed member's partitions move after 6 s instead of 45 s.
        .env("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000")
        .env("KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "1000")
        .envs(vars.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn park_consumer")
}

/// The `key seq` lines the members wrote, in order.
fn handled(path: &std::path::Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, s) = l.split_once(' ')?;
            Some((k.to_owned(), s.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parking_survives_a_sigkill_and_a_restart_with_nothing_lost_and_key_order_kept() {
    members_while_keys_are_parked(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parking_survives_a_second_member_joining_with_nothing_lost_and_key_order_kept() {
    members_while_keys_are_parked(false).await;
}

/// Keys k3, k7 and k11 fail the first attempt at every record, so they stay parked. With
/// `kill`, the first member is SIGKILLed mid-way and restarted, and then a second one joins;
/// without, the first keeps running and a second one joins mid-way.
async fn members_while_keys_are_parked(kill: bool) {
    const KEYS: u32 = 20;
    const PER_KEY: u32 = 15;
    let topic = unique("park-crash");
    let group = unique("park-crash-g");
    let declared = format!("{topic}(partitions=4)");
    let vars = [
        ("KAFKA_APP", "park-crash"),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("KAFKA_TOPIC", declared.as_str()),
        ("KAFKA_RETRY_MODE", "park"),
        ("PARK_FAIL_KEYS", "k3,k7,k11"),
    ];
    let kafka = start_kafka(&vars[..4]).await;
    let dir = std::env::temp_dir().join(unique("park-members"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = dir.join("handled");
    let keys: Vec<String> = (0..KEYS).map(|k| format!("k{k}")).collect();
    let producing = {
        let (producer, topic, keys) = (kafka.producer(), topic.clone(), keys.clone());
        tokio::spawn(async move {
            for seq in 0..PER_KEY {
                for key in &keys {
                    producer
                        .send(OutgoingRecord::json(&topic, key, &seq).expect("JSON"))
                        .await
                        .expect("acknowledged");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut first = spawn_member(&out, &vars);
    eventually(
        Duration::from_secs(60),
        "progress, with keys parked",
        || {
            let n = handled(&out).len();
            async move { (n >= 60).then_some(()) }
        },
    )
    .await;
    let mut restarted = if kill {
        first.kill().expect("SIGKILL");
        first.wait().expect("reaped");
        // The restarted member and a second one share the partitions from here.
        let restarted = spawn_member(&out, &vars);
        tokio::time::sleep(Duration::from_secs(2)).await;
        restarted
    } else {
        first
    };
    let mut joined = spawn_member(&out, &vars);
    producing.await.expect("producer");
    eventually(
        Duration::from_secs(120),
        "every record handled after the kill",
        || {
            let distinct: std::collections::HashSet<(String, u32)> =
                handled(&out).into_iter().collect();
            async move { (distinct.len() == (KEYS * PER_KEY) as usize).then_some(()) }
        },
    )
    .await;
    for member in [&mut restarted, &mut joined] {
        member.kill().ok();
        member.wait().ok();
    }
    let all = handled(&out);
    // Per key, the first handling of each record is in order (a record handled again after the
    // kill may repeat, never overtake).
    let mut first_seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (key, seq) in &all {
        if seen.insert((key.clone(), *seq)) {
            first_seen.entry(key.clone()).or_default().push(*seq);
        }
    }
    for key in &keys {
        assert_eq!(
            first_seen.get(key).map(Vec::as_slice),
            Some(&(0..PER_KEY).collect::<Vec<_>>()[..]),
            "key {key}: nothing lost, first handled in order"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}
