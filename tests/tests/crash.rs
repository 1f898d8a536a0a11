//! Whole processes crashing and stopping: at-least-once under SIGKILL, exactly-once transactions
//! across a crash, and SIGTERM during produce load.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafkadeps_tests::{
    bootstrap, committed_offsets, eventually, read_all, start_kafka, unique, workspace_bin,
};

/// A crashed member's partitions move after 6 s instead of 45 s. A client setting of the classic
/// protocol only: under the new one the broker's session timeout (45 s) applies.
const QUICK_CLASSIC_SESSION: [(&str, &str); 2] = [
    ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
    ("KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "1000"),
];

/// Starts the workspace binary `bin` with exactly `vars` (and the broker, warn logs and a
/// metrics port of its own).
fn spawn(bin: &str, args: &[&str], vars: &[(&str, &str)]) -> Child {
    Command::new(workspace_bin(bin))
        .args(args)
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("RUST_LOG", "warn")
        .env("KAFKA_METRICS_LISTEN", "127.0.0.1:0")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn helper")
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn lines(path: &Path) -> Vec<(i32, i64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (p, o) = l.split_once(' ')?;
            Some((p.parse().ok()?, o.parse().ok()?))
        })
        .collect()
}

/// A pseudo-random delay in `0..max_ms`, different in every trial.
fn jitter(max_ms: u64) -> Duration {
    Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * max_ms / 256)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_consumers_lose_nothing_and_duplicate_only_what_was_in_flight() {
    sigkilled_consumers("classic", 5).await;
}

/// The same under the new group protocol (KIP-848), with one kill: a crashed member's
/// partitions wait for the broker's session timeout (45 s), not a client setting.
#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_consumers_lose_nothing_under_the_new_group_protocol() {
    sigkilled_consumers("consumer", 1).await;
}

/// A consumer of `protocol` SIGKILLed `kill_count` times mid-stream, then run to the end.
async fn sigkilled_consumers(protocol: &str, kill_count: usize) {
    const RECORDS: usize = 6000;
    let topic = unique("crash-alo");
    let group = unique("crash-alo-group");
    let decl = format!("{topic}(partitions=3)");
    // The consumer depends on the producer's topic and needs its three partitions.
    let consumed = format!("{topic}(min.partitions=3)");
    let kafka = start_kafka(&[("KAFKA_APP", "crash-alo"), ("KAFKA_PRODUCES", &decl)]).await;
    let producer = kafka.producer();
    let sends = (0..RECORDS).map(|i| {
        let (producer, topic) = (producer.clone(), topic.clone());
        async move {
            producer
                .send(
                    kafkadeps::OutgoingRecord::json(&topic, format!("k{}", i % 50), &i)
                        .expect("JSON"),
                )
                .await
        }
    });
    for r in futures::future::join_all(sends).await {
        r.expect("acknowledged");
    }
    let dir = std::env::temp_dir().join(unique("crash-alo"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = dir.join("processed.txt");
    let out_arg = out.to_string_lossy().into_owned();
    let mut vars = vec![
        ("KAFKA_APP", "crash-alo"),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("KAFKA_CONSUMES", consumed.as_str()),
        ("KAFKA_GROUP_PROTOCOL", protocol),
    ];
    if protocol == "classic" {
        vars.extend(QUICK_CLASSIC_SESSION);
    }

    let mut allowed_duplicates = 0;
    let mut kills = 0;
    for trial in 0..kill_count {
        let before = lines(&out).len();
        if before >= RECORDS {
            break;
        }
        let mut child = spawn("crash_consumer", &[&out_arg], &vars);
        // Kill while records are being processed: after some progress and at least one periodic
        // commit (every second), at a random point.
        eventually(
            Duration::from_secs(120),
            "the consumer makes progress",
            || {
                let n = lines(&out).len();
                async move { (n > before + 20 || n >= RECORDS).then_some(()) }
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1200) + jitter(1000)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
        // What the crash leaves uncommitted is what may be processed again.
        let committed = committed_offsets(&group, &topic, 3);
        let this_trial = &lines(&out)[before..];
        let in_flight = this_trial
            .iter()
            .filter(|(p, o)| *o >= committed[*p as usize])
            .count();
        eprintln!(
            "trial {trial}: processed {} records, committed {committed:?}, {in_flight} uncommitted at the kill",
            this_trial.len()
        );
        allowed_duplicates += in_flight;
    }
    assert!(
        kills >= kill_count,
        "{kill_count} kills landed mid-stream (records: {})",
        lines(&out).len()
    );

    let child = spawn("crash_consumer", &[&out_arg], &vars);
    eventually(
        Duration::from_secs(180),
        "every record processed after the restarts",
        || {
            let distinct: HashSet<(i32, i64)> = lines(&out).into_iter().collect();
            async move { (distinct.len() == RECORDS).then_some(()) }
        },
    )
    .await;
    sigterm(&child);
    let status = child.wait_with_output().expect("exit").status;
    assert!(status.success(), "graceful exit on SIGTERM: {status}");

    let all = lines(&out);
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(distinct.len(), RECORDS, "nothing lost");
    let duplicates = all.len() - distinct.len();
    eprintln!(
        "{duplicates} duplicates, {allowed_duplicates} records were uncommitted at the kills"
    );
    assert!(
        duplicates <= allowed_duplicates,
        "{duplicates} duplicates > {allowed_duplicates} in flight at the kills"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_transform_survives_a_crash() {
    const RECORDS: usize = 1500;
    let input = unique("eos-in");
    let output = unique("eos-out");
    let group = unique("eos-group");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "eos-test"),
        (
            "KAFKA_PRODUCES",
            &format!("{input}(partitions=3), {output}(partitions=3)"),
        ),
    ])
    .await;
    let vars = [
        ("KAFKA_APP", "eos-transform"),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("KAFKA_CONSUMES", input.as_str()),
        ("KAFKA_PRODUCES", output.as_str()),
        ("OUTPUT_TOPIC", output.as_str()),
        ("KAFKA_GROUP_PROTOCOL", "classic"),
        QUICK_CLASSIC_SESSION[0],
        QUICK_CLASSIC_SESSION[1],
    ];
    let mut first = spawn("eos_transform", &[], &vars);
    // Inputs keep arriving while the transform runs, so the kill lands mid-way.
    let producer = kafka.producer();
    let t = input.clone();
    let feeding = tokio::spawn(async move {
        for i in 0..RECORDS {
            producer
                .send(kafkadeps::OutgoingRecord::json(&t, format!("k{i}"), &i).expect("JSON"))
                .await
                .expect("input acknowledged");
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(3) + jitter(1000)).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let second = spawn("eos_transform", &[], &vars);
    feeding.await.unwrap();

    let outputs = read_all(&output, RECORDS, Duration::from_secs(180)).await;
    sigterm(&second);
    second.wait_with_output().expect("exit");
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in &outputs {
        *count.entry(r.payload.as_str()).or_default() += 1;
    }
    assert_eq!(count.len(), RECORDS, "every input has an output");
    let repeated: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "read_committed sees each input once: {repeated:?}"
    );
    assert_eq!(outputs.len(), RECORDS);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_keeps_every_acknowledged_record_and_exits_within_the_grace() {
    let topic = unique("sigterm-load");
    let mut child = spawn(
        "load_producer",
        &[],
        &[
            ("KAFKA_APP", "sigterm-load"),
            ("KAFKA_PRODUCES", &format!("{topic}(partitions=3)")),
        ],
    );
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked = HashSet::new();
    let start = Instant::now();
    while acked.len() < 3000 {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the producer acknowledges records");
        if let Some(key) = line.strip_prefix("ack ") {
            acked.insert(key.to_owned());
        }
        assert!(start.elapsed() < Duration::from_secs(120), "load too slow");
    }
    let stopped_at = Instant::now();
    sigterm(&child);
    let status = child.wait().expect("exit");
    let took = stopped_at.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(15),
        "exited {took:?} after SIGTERM; grace is 10 s"
    );
    reader.join().unwrap();
    let mut undelivered = None;
    for line in rx.try_iter() {
        if let Some(key) = line.strip_prefix("ack ") {
            acked.insert(key.to_owned());
        } else if let Some(n) = line.strip_prefix("undelivered ") {
            undelivered = n.parse::<usize>().ok();
        }
    }
    assert_eq!(
        undelivered,
        Some(0),
        "a graceful stop delivers what was queued"
    );
    let in_topic: HashSet<String> = read_all(&topic, acked.len(), Duration::from_secs(120))
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    let missing: Vec<_> = acked
        .iter()
        .filter(|k| !in_topic.contains(*k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
}
