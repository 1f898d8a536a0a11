//! The producer and the consumer runtime against the real cluster, in process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkadeps::consumer::{Scheduling, dlq_headers};
use kafkadeps::{HandlerError, OutgoingRecord, ProduceError};
use kafkadeps_tests::{Member, committed_offsets, eventually, read_all, start_kafka, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_thousand_keyed_records_exactly_once_in_key_order() {
    let topic = unique("rt-100k");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "rt-100k"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=6)")),
    ])
    .await;
    const KEYS: usize = 200;
    const PER_KEY: usize = 500;
    let tasks: Vec<_> = (0..KEYS)
        .map(|k| {
            let (producer, topic) = (kafka.producer(), topic.clone());
            tokio::spawn(async move {
                for seq in 0..PER_KEY {
                    producer
                        .send(OutgoingRecord::json(&topic, format!("key-{k}"), &seq).expect("JSON"))
                        .await
                        .expect("acknowledged");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("sender");
    }
    let records = read_all(&topic, KEYS * PER_KEY, Duration::from_secs(180)).await;
    assert_eq!(
        records.len(),
        KEYS * PER_KEY,
        "exactly 100k records in the topic"
    );
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut sorted = records.clone();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    for r in &sorted {
        by_key
            .entry(r.key.as_str())
            .or_default()
            .push(r.payload.parse().expect("seq"));
    }
    assert_eq!(by_key.len(), KEYS);
    for (key, seqs) in by_key {
        assert_eq!(
            seqs,
            (0..PER_KEY).collect::<Vec<_>>(),
            "key {key} in order, each once"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_local_queue_makes_sends_wait_in_line_and_keeps_their_order() {
    let topic = unique("rt-full-queue");
    const ROOM: usize = 10;
    const SENDS: usize = 2_000;
    let kafka = start_kafka(&[
        ("KAFKA_APP", "rt-full-queue"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
        (
            "KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES",
            &ROOM.to_string(),
        ),
    ])
    .await;
    let p = kafka.producer();
    // Every send is made before any is awaited: the first ROOM go to librdkafka, the rest wait
    // in their futures (the caller's memory), not in an unbounded buffer.
    let sends: Vec<_> = (0..SENDS)
        .map(|i| {
            p.send(
                OutgoingRecord::new(&topic)
                    .with_key(b"one-key")
                    .with_payload(i.to_string()),
            )
        })
        .collect();
    assert!(p.in_flight() <= ROOM, "queued: {}", p.in_flight());
    let waiting = format!("{:?}", sends[SENDS - 1]);
    assert!(waiting.contains("waiting for room"), "{waiting}");
    for (i, sent) in futures::future::join_all(sends)
        .await
        .into_iter()
        .enumerate()
    {
        sent.unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    let mut records = read_all(&topic, SENDS, Duration::from_secs(120)).await;
    records.sort_by_key(|r| r.offset);
    let seqs: Vec<usize> = records
        .iter()
        .map(|r| r.payload.parse().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (0..SENDS).collect::<Vec<_>>(),
        "each once, in call order"
    );
}

#[tokio::test]
async fn undeclared_topics_are_refused_before_sending() {
    let topic = unique("rt-declared");
    let kafka = start_kafka(&[("KAFKA_APP", "rt"), ("KAFKA_PRODUCES", &topic)]).await;
    let err = kafka
        .producer()
        .send(OutgoingRecord::json("not-declared", "k", &1).expect("JSON"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProduceError::UndeclaredTopic(ref t) if t == "not-declared"),
        "{err}"
    );
    assert!(err.to_string().contains("KAFKA_PRODUCES"));
    let ok = kafka
        .producer()
        .send(OutgoingRecord::json(&topic, "k", &1).expect("JSON"))
        .await
        .expect("declared topic");
    assert!(ok.offset >= 0);
}

#[tokio::test]
async fn each_send_writes_exactly_its_parts() {
    let topic = unique("rt-parts");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "rt-parts"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
    ])
    .await;
    let p = kafka.producer();
    let err = p
        .send(OutgoingRecord::new("not-declared").with_payload(*b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProduceError::UndeclaredTopic(ref t) if t == "not-declared"),
        "{err}"
    );
    p.send(
        OutgoingRecord::new(&topic)
            .with_key(b"k-bytes")
            .with_payload(*b"raw \x00 bytes"),
    )
    .await
    .expect("bytes");
    p.send(OutgoingRecord::new(&topic).with_payload(*b"no key"))
        .await
        .expect("no key");
    p.send(OutgoingRecord::json(&topic, "k-json", &serde_json::json!({"n": 1})).expect("JSON"))
        .await
        .expect("json");
    p.send(
        OutgoingRecord::new(&topic)
            .with_key("k-record")
            .with_payload(b"record".to_vec())
            .with_header("h1", "v1")
            .with_header("h2", ""),
    )
    .await
    .expect("record");
    let records = read_all(&topic, 4, Duration::from_secs(60)).await;
    let seen: Vec<_> = records
        .iter()
        .map(|r| (r.key.as_str(), r.payload.as_str(), r.headers.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("k-bytes", "raw \x00 bytes", vec![]),
            ("", "no key", vec![]),
            (
                "k-json",
                r#"{"n":1}"#,
                vec![("content-type".to_owned(), b"application/json".to_vec())]
            ),
            (
                "k-record",
                "record",
                vec![
                    ("h1".to_owned(), b"v1".to_vec()),
                    ("h2".to_owned(), Vec::new())
                ]
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_retry_and_dead_letters_keep_order() {
    let topic = unique("rt-poison");
    let group = unique("rt-poison-group");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "rt-poison"),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
    ])
    .await;
    let p = kafka.producer();
    for (key, payload) in [
        ("a", "\"ok-1\""),
        ("b", "not json"),
        ("c", "\"fail-twice\""),
        ("d", "\"always-fail\""),
        ("e", "\"ok-2\""),
    ] {
        p.send(
            OutgoingRecord::new(&topic)
                .with_key(key)
                .with_payload(payload.as_bytes().to_vec())
                .with_header("trace", "t-1"),
        )
        .await
        .expect("sent");
    }
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let attempts = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let (l, a) = (Arc::clone(&log), Arc::clone(&attempts));
    let done = Arc::new(tokio::sync::Notify::new());
    let d = Arc::clone(&done);
    let consumer = kafka
        .consumer()
        .max_attempts(3)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .without_signal_handlers()
        .shutdown_on(async move { d.notified().await });
    let (_stats, running) = consumer
        .start(move |record| {
            let (log, attempts) = (Arc::clone(&l), Arc::clone(&a));
            async move {
                let value: String = record.json()?;
                let n = {
                    let mut a = attempts.lock().unwrap();
                    let n = a.entry(value.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                log.lock().unwrap().push(format!("{value}#{n}"));
                match value.as_str() {
                    "fail-twice" if n <= 2 => Err(HandlerError::retryable("flaky dependency")),
                    "always-fail" => Err(HandlerError::retryable("dependency down")),
                    _ => Ok(()),
                }
            }
        })
        .expect("consumer starts");
    let handle = tokio::spawn(running);
    eventually(
        Duration::from_secs(60),
        "all five records finished and committed",
        || {
            let committed = committed_offsets(&group, &topic, 1);
            async move { (committed == [5]).then_some(()) }
        },
    )
    .await;
    done.notify_one();
    handle.await.unwrap().expect("graceful shutdown");

    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "ok-1#1",
            "fail-twice#1",
            "fail-twice#2",
            "fail-twice#3",
            "always-fail#1",
            "always-fail#2",
            "always-fail#3",
            "ok-2#1"
        ],
        "in order; retried in place; the poison record never reached the handler body"
    );
    let dead = read_all(&format!("{topic}.dlq"), 2, Duration::from_secs(60)).await;
    assert_eq!(
        dead.len(),
        2,
        "the poison record and the always-failing one"
    );
    the_dead_letters_carry_their_origin_and_cause(&dead, &topic, &group);
}

/// Spring's `kafka_dlt-*` headers on the poison record (`b`, offset 1) and the always-failing one
/// (`d`, offset 3) of `topic`'s single partition, consumed by `group`.
fn the_dead_letters_carry_their_origin_and_cause(
    dead: &[kafkadeps_tests::ReadRecord],
    topic: &str,
    group: &str,
) {
    let header = |r: &kafkadeps_tests::ReadRecord, name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no header {name}"))
    };
    let poison = dead.iter().find(|r| r.key == "b").expect("poison in DLQ");
    assert_eq!(poison.payload, "not json");
    assert_eq!(
        header(poison, dlq_headers::ORIGINAL_TOPIC),
        topic.as_bytes()
    );
    assert_eq!(
        header(poison, dlq_headers::ORIGINAL_PARTITION),
        0i32.to_be_bytes()
    );
    assert_eq!(
        header(poison, dlq_headers::ORIGINAL_OFFSET),
        1i64.to_be_bytes()
    );
    assert_eq!(
        header(poison, dlq_headers::ORIGINAL_CONSUMER_GROUP),
        group.as_bytes()
    );
    assert_eq!(
        header(poison, dlq_headers::EXCEPTION_FQCN),
        b"kafkadeps.poison"
    );
    assert!(
        String::from_utf8_lossy(&header(poison, dlq_headers::EXCEPTION_MESSAGE))
            .contains("cannot decode the payload as JSON")
    );
    assert_eq!(header(poison, "trace"), b"t-1", "original headers are kept");
    assert_eq!(header(poison, dlq_headers::ORIGINAL_TIMESTAMP).len(), 8);
    let failed = dead
        .iter()
        .find(|r| r.key == "d")
        .expect("always-fail in DLQ");
    assert_eq!(
        header(failed, dlq_headers::ORIGINAL_OFFSET),
        3i64.to_be_bytes()
    );
    assert_eq!(
        header(failed, dlq_headers::EXCEPTION_FQCN),
        b"kafkadeps.retryable"
    );
    assert!(
        String::from_utf8_lossy(&header(failed, dlq_headers::EXCEPTION_MESSAGE))
            .contains("dependency down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_concurrency_keeps_key_order_and_commits_the_lowest_unfinished() {
    let topic = unique("rt-keys");
    let group = unique("rt-keys-group");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "rt-keys"),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
    ])
    .await;
    for i in 0..200u32 {
        kafka
            .producer()
            .send(OutgoingRecord::json(&topic, format!("k{}", i % 10), &i).expect("JSON"))
            .await
            .unwrap();
    }
    let seen = Arc::new(Mutex::new(BTreeMap::<String, Vec<u32>>::new()));
    let running_now = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let max_parallel = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (s, r, m) = (
        Arc::clone(&seen),
        Arc::clone(&running_now),
        Arc::clone(&max_parallel),
    );
    let done = Arc::new(tokio::sync::Notify::new());
    let d = Arc::clone(&done);
    let (_stats, running) = kafka
        .consumer()
        .scheduling(Scheduling::Key { lanes: 8 })
        .without_signal_handlers()
        .shutdown_on(async move { d.notified().await })
        .start(move |record| {
            let (seen, running_now, max_parallel) =
                (Arc::clone(&s), Arc::clone(&r), Arc::clone(&m));
            async move {
                let now = running_now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                max_parallel.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                let v: u32 = record.json()?;
                // Uneven work so keys overtake each other.
                tokio::time::sleep(Duration::from_millis(u64::from(v % 7) * 2)).await;
                seen.lock()
                    .unwrap()
                    .entry(record.key_str().unwrap().to_owned())
                    .or_default()
                    .push(v);
                running_now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
        })
        .unwrap();
    let handle = tokio::spawn(running);
    eventually(Duration::from_secs(60), "all 200 committed", || {
        let c = committed_offsets(&group, &topic, 1);
        async move { (c == [200]).then_some(()) }
    })
    .await;
    done.notify_one();
    handle.await.unwrap().unwrap();
    let seen = seen.lock().unwrap();
    for (key, values) in seen.iter() {
        let k: u32 = key[1..].parse().unwrap();
        let want: Vec<u32> = (0..20).map(|i| i * 10 + k).collect();
        assert_eq!(values, &want, "key {key} in order, each once");
    }
    assert!(
        max_parallel.load(std::sync::atomic::Ordering::SeqCst) > 1,
        "different keys ran concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_joining_and_leaving_loses_nothing_and_keeps_key_order_new_protocol() {
    member_joining_and_leaving("consumer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_joining_and_leaving_loses_nothing_and_keeps_key_order_classic_protocol() {
    member_joining_and_leaving("classic").await;
}

/// A second member joins a consuming group and later leaves, under `protocol`.
#[allow(clippy::unwrap_used)] // the body of two tests: a failed step fails them
async fn member_joining_and_leaving(protocol: &str) {
    kafkadeps_tests::init_logs();
    let topic = unique("rt-rebalance");
    let group = unique("rt-rebalance-group");
    let vars = [
        ("KAFKA_APP", "rt-rebalance"),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("KAFKA_GROUP_PROTOCOL", protocol),
    ];
    let decl = format!("{topic}(partitions=6)");
    let mut all = vars.to_vec();
    all.push(("KAFKA_TOPIC", &decl));
    let kafka_a = start_kafka(&all).await;
    let kafka_b = start_kafka(&all).await;
    let events = Arc::new(Mutex::new(Vec::<(String, u32, char)>::new()));
    let handler = |who: char, events: Arc<Mutex<Vec<(String, u32, char)>>>| {
        move |record: kafkadeps::Record| {
            let events = Arc::clone(&events);
            async move {
                let v: u32 = record.json()?;
                tokio::time::sleep(Duration::from_millis(2)).await;
                events
                    .lock()
                    .unwrap()
                    .push((record.key_str().unwrap().to_owned(), v, who));
                Ok::<(), HandlerError>(())
            }
        }
    };
    let stop_a = Arc::new(tokio::sync::Notify::new());
    let stop_b = Arc::new(tokio::sync::Notify::new());
    let (sa, sb) = (Arc::clone(&stop_a), Arc::clone(&stop_b));
    let (stats_a, run_a) = kafka_a
        .consumer()
        .without_signal_handlers()
        .shutdown_on(async move { sa.notified().await })
        .start(handler('a', Arc::clone(&events)))
        .unwrap();
    let a = tokio::spawn(run_a);

    const TOTAL: u32 = 3000;
    let producer = kafka_a.producer();
    let t = topic.clone();
    let produce = tokio::spawn(async move {
        for i in 0..TOTAL {
            producer
                .send(OutgoingRecord::json(&t, format!("k{}", i % 30), &i).expect("JSON"))
                .await
                .unwrap();
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    eventually(
        Duration::from_secs(60),
        "consumer A has processed records",
        || {
            let n = events.lock().unwrap().len();
            async move { (n > 300).then_some(()) }
        },
    )
    .await;
    let (stats_b, run_b) = kafka_b
        .consumer()
        .without_signal_handlers()
        .shutdown_on(async move { sb.notified().await })
        .start(handler('b', Arc::clone(&events)))
        .unwrap();
    let b = tokio::spawn(run_b);
    eventually(
        Duration::from_secs(60),
        "consumer B got partitions and processed records",
        || {
            let n = events.lock().unwrap().iter().filter(|e| e.2 == 'b').count();
            async move { (n > 100).then_some(()) }
        },
    )
    .await;
    stop_b.notify_one();
    b.await.unwrap().expect("B leaves cleanly");
    produce.await.unwrap();
    eventually(Duration::from_secs(90), "every record processed", || {
        let n = events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1)
            .collect::<std::collections::HashSet<_>>()
            .len();
        async move { (n == TOTAL as usize).then_some(()) }
    })
    .await;
    stop_a.notify_one();
    a.await.unwrap().expect("A shuts down cleanly");
    assert!(stats_a.rebalances() >= 2 && stats_b.rebalances() >= 1);

    let events = events.lock().unwrap();
    let mut first_seen: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for (key, v, _) in events.iter() {
        if seen.insert(*v) {
            first_seen.entry(key.as_str()).or_default().push(*v);
        }
    }
    for (key, values) in first_seen {
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(
            values, sorted,
            "key {key} first processed in order across the rebalances"
        );
        assert_eq!(values.len(), 100, "key {key}: nothing lost");
    }
    // Revoked partitions are drained and committed before they move, so duplicates only come
    // from a commit the cluster refused (e.g. its coordinator moving); never more than what the
    // moved partitions had buffered.
    let duplicates = events.len() - TOTAL as usize;
    if duplicates > 0 {
        let mut count = HashMap::new();
        for (k, v, who) in events.iter() {
            count
                .entry(*v)
                .or_insert_with(Vec::new)
                .push((k.clone(), *who));
        }
        let dups: Vec<_> = count.iter().filter(|(_, w)| w.len() > 1).take(20).collect();
        eprintln!("{duplicates} duplicates: {dups:?}");
    }
    assert!(duplicates <= 3 * 256, "{duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_shutdown_leaves_the_group_at_once_new_protocol() {
    // The new protocol's session timeout is the broker's (45 s by default).
    graceful_shutdown_leaves_the_group(&[("KAFKA_GROUP_PROTOCOL", "consumer")]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_shutdown_leaves_the_group_at_once_classic_protocol() {
    graceful_shutdown_leaves_the_group(&[
        ("KAFKA_GROUP_PROTOCOL", "classic"),
        ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "45000"),
    ])
    .await;
}

/// A member that stops gracefully hands its partitions over at once, not after its session
/// timeout.
#[allow(clippy::unwrap_used)] // the body of two tests: a failed step fails them
async fn graceful_shutdown_leaves_the_group(protocol: &[(&str, &str)]) {
    let topic = unique("rt-leave");
    let group = unique("rt-leave-group");
    let mut vars = vec![
        ("KAFKA_APP", "rt-leave"),
        ("KAFKA_GROUP_ID", group.as_str()),
    ];
    vars.extend_from_slice(protocol);
    let decl = format!("{topic}(partitions=3)");
    let mut all = vars.clone();
    all.push(("KAFKA_TOPIC", &decl));
    let a = Member::start(&start_kafka(&all).await, |_r| async { Ok(()) });
    eventually(Duration::from_secs(60), "A holds the partitions", || {
        let n = a.stats.assigned_partitions();
        async move { (n == 3).then_some(()) }
    })
    .await;
    a.stop().await.expect("A stops cleanly");
    // A left the group: B gets the partitions now, not after A's 45 s session timeout.
    let started = std::time::Instant::now();
    let b = Member::start(&start_kafka(&all).await, |_r| async { Ok(()) });
    eventually(Duration::from_secs(60), "B holds the partitions", || {
        let n = b.stats.assigned_partitions();
        async move { (n == 3).then_some(()) }
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "B waited {:?}",
        started.elapsed()
    );
    b.stop().await.expect("B stops cleanly");
}

/// A handler twice as long as `max.poll.interval.ms` does not get its member evicted: the
/// runtime keeps polling (the partition paused) while the handler runs, so there is no
/// rebalance and nothing is handled twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_handler_twice_the_max_poll_interval_keeps_its_member_and_runs_once() {
    const INTERVAL_MS: u64 = 6_000;
    let topic = unique("rt-long-handler");
    let group = unique("rt-long-handler-g");
    let interval = INTERVAL_MS.to_string();
    let kafka = start_kafka(&[
        ("KAFKA_APP", "rt-long-handler"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
        ("KAFKA_CONSUMES", &topic),
        ("KAFKA_GROUP_ID", &group),
        // The broker's smallest session timeout; librdkafka wants the poll interval >= it.
        ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", &interval),
        ("KAFKA_CLIENT_MAX_POLL_INTERVAL_MS", &interval),
    ])
    .await;
    for key in ["slow", "next-1", "next-2"] {
        kafka
            .producer()
            .send(OutgoingRecord::json(&topic, key, &key).expect("JSON"))
            .await
            .expect("acknowledged");
    }
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let stamps: Arc<Mutex<Vec<Option<kafkadeps::RecordTimestamp>>>> = Arc::default();
    let (c, t) = (Arc::clone(&calls), Arc::clone(&stamps));
    let member = Member::start(&kafka, move |record| {
        let (c, t) = (Arc::clone(&c), Arc::clone(&t));
        async move {
            let key = record.key_str().unwrap_or_default().to_owned();
            c.lock().unwrap().push(key.clone());
            t.lock().unwrap().push(record.timestamp());
            if key == "slow" {
                tokio::time::sleep(Duration::from_millis(2 * INTERVAL_MS)).await;
            }
            Ok::<(), HandlerError>(())
        }
    });
    eventually(Duration::from_secs(90), "all three records handled", || {
        let n = calls.lock().unwrap().len();
        async move { (n >= 3).then_some(()) }
    })
    .await;
    // An evicted member would rejoin and get the slow record again: give that time to show.
    tokio::time::sleep(Duration::from_millis(INTERVAL_MS)).await;
    assert_eq!(
        *calls.lock().unwrap(),
        ["slow", "next-1", "next-2"],
        "each record handled once, in order"
    );
    assert_eq!(member.stats.rebalances(), 1, "only the first assignment");
    // The producer stamped each record (CreateTime), a moment ago.
    let now = std::time::SystemTime::now();
    for stamp in stamps.lock().unwrap().iter() {
        let Some(kafkadeps::RecordTimestamp::Created(ms)) = stamp else {
            panic!("a CreateTime timestamp: {stamp:?}");
        };
        let age = now
            .duration_since(stamp.and_then(|s| s.time()).expect("after the epoch"))
            .expect("in the past");
        assert!(age < Duration::from_secs(300), "{ms} ms is {age:?} old");
    }
    member.stop().await.expect("clean stop");
    assert_eq!(
        committed_offsets(&group, &topic, 1),
        [3],
        "all three committed"
    );
}

/// `KAFKA_GROUP_PROTOCOL=consumer` or `auto` means the new protocol (KIP-848) on a cluster that
/// serves it (Apache Kafka 4.x does), and so does unset (the default is `auto`); `classic`, or
/// `auto` with a property only the classic protocol knows, means classic. Asked of the cluster
/// itself (Apache Kafka's GroupsCommand lists each group's type).
#[tokio::test(flavor = "multi_thread")]
async fn the_group_protocol_is_the_declared_one_where_the_cluster_serves_it() {
    if kafkadeps_tests::bootstrap() != kafkadeps_tests::LOCAL_CLUSTER {
        eprintln!("skipped: lists groups with scripts/kafka.sh, on the local cluster only");
        return;
    }
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "Consumer"),
        (&[("KAFKA_GROUP_PROTOCOL", "consumer")], "Consumer"),
        (&[("KAFKA_GROUP_PROTOCOL", "auto")], "Consumer"),
        (
            &[
                ("KAFKA_GROUP_PROTOCOL", "auto"),
                ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "10000"),
            ],
            "Classic",
        ),
    ];
    for (extra, expected) in cases {
        let topic = unique("rt-protocol");
        let group = unique("rt-protocol-g");
        let mut vars = vec![
            ("KAFKA_APP", "rt-protocol"),
            ("KAFKA_TOPIC", topic.as_str()),
            ("KAFKA_GROUP_ID", group.as_str()),
        ];
        vars.extend_from_slice(extra);
        let member = Member::start(&start_kafka(&vars).await, |_r| async { Ok(()) });
        eventually(Duration::from_secs(60), "partitions assigned", || {
            let n = member.stats.assigned_partitions();
            async move { (n > 0).then_some(()) }
        })
        .await;
        let g = group.clone();
        let listed = tokio::task::spawn_blocking(move || {
            kafkadeps_tests::kafka_sh(&["groups", "--list", "--consumer"])
                .lines()
                .find(|l| l.split_whitespace().next() == Some(g.as_str()))
                .map(str::to_owned)
        })
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("group {group} listed"));
        assert_eq!(
            listed.split_whitespace().nth(1),
            Some(expected),
            "{extra:?}: {listed}"
        );
        member.stop().await.expect("clean stop");
    }
}
