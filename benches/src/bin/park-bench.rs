//! What per-key parking is for: how long the other keys of a partition wait while one key
//! fails, retried in place vs parked (`KAFKA_RETRY_MODE=park`).
//!
//! One partition; key `bad` comes first, then `OTHERS` records of ten other keys. The handler
//! fails `bad` for `FAIL_SECS` seconds (retryably, 200 ms backoff), then succeeds. Printed per
//! mode: the time from the first handled record until every other key's record was handled,
//! and until `bad` was. Needs a cluster (`KAFKA_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092):
//!
//! ```sh
//! scripts/kafka.sh up --brokers 3
//! cargo build --release -p kafkadeps-benches --bin park-bench
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092 \
//!   $CARGO_TARGET_DIR/release/park-bench          # FAIL_SECS=5 OTHERS=1000 by default
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is right

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkadeps::config::RetryMode;
use kafkadeps::{HandlerError, OutgoingRecord, Record};
use kafkadeps_benches::{bootstrap, unique};

/// When the handler saw the last other key's record and `bad`'s success.
#[derive(Default)]
struct Progress {
    first: Option<Instant>,
    others_done: usize,
    others_at: Option<Instant>,
    bad_at: Option<Instant>,
}

async fn run(mode: RetryMode, fail_for: Duration, others: usize) -> (Duration, Duration) {
    let topic = unique("park-bench");
    let settings = kafkadeps::Settings::builder(bootstrap())
        .app("park-bench")
        .group_id(unique("park-bench-g"))
        .var("KAFKA_TOPIC", format!("{topic}(partitions=1)"))
        .retry_mode(mode)
        .clamp_replicas()
        .metrics_listen("off")
        .build()
        .expect("settings");
    let kafka = kafkadeps::Kafka::start(settings).await.expect("start");
    let producer = kafka.producer();
    producer
        .send(
            OutgoingRecord::new(&topic)
                .with_key("bad")
                .with_payload(*b"0"),
        )
        .await
        .expect("ack");
    let sends: Vec<_> = (0..others)
        .map(|i| {
            producer.send(
                OutgoingRecord::new(&topic)
                    .with_key(format!("k{}", i % 10))
                    .with_payload(i.to_string()),
            )
        })
        .collect();
    for s in sends {
        s.await.expect("ack");
    }
    let progress = Arc::new(Mutex::new(Progress::default()));
    let done = Arc::new(tokio::sync::Notify::new());
    let (p, d) = (Arc::clone(&progress), Arc::clone(&done));
    let (_stats, running) = kafka
        .consumer()
        .max_attempts(u32::MAX)
        .backoff(Duration::from_millis(200), Duration::from_millis(200))
        .without_signal_handlers()
        .shutdown_on(async move { d.notified().await })
        .start(move |record: Record| {
            let progress = Arc::clone(&p);
            async move {
                let now = Instant::now();
                let mut p = progress.lock().unwrap();
                let first = *p.first.get_or_insert(now);
                if record.key() == Some(b"bad") {
                    if now.duration_since(first) < fail_for {
                        return Err(HandlerError::retryable("a dependency of this key is down"));
                    }
                    p.bad_at = Some(now);
                } else {
                    p.others_done += 1;
                    if p.others_done == others {
                        p.others_at = Some(now);
                    }
                }
                Ok(())
            }
        })
        .expect("consumer");
    let running = tokio::spawn(running);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let p = progress.lock().unwrap();
        if p.others_at.is_some() && p.bad_at.is_some() {
            break;
        }
    }
    done.notify_one();
    running.await.unwrap().expect("shutdown");
    kafka.shutdown(Duration::from_secs(5)).await;
    let p = progress.lock().unwrap();
    let first = p.first.unwrap();
    (
        p.others_at.unwrap().duration_since(first),
        p.bad_at.unwrap().duration_since(first),
    )
}

#[tokio::main]
async fn main() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let fail_for = Duration::from_secs(env("FAIL_SECS", 5));
    let others = usize::try_from(env("OTHERS", 1000)).unwrap();
    println!(
        "one partition: key `bad` fails for {fail_for:?}, then {others} records of ten other keys"
    );
    println!("| mode | other keys all handled after | failing key handled after |");
    println!("|---|---|---|");
    for mode in [RetryMode::InPlace, RetryMode::Park] {
        let (others_at, bad_at) = run(mode, fail_for, others).await;
        println!(
            "| {mode} | {:.3} s | {:.3} s |",
            others_at.as_secs_f64(),
            bad_at.as_secs_f64()
        );
    }
}
