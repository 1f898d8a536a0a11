//! Producer and consumer throughput: kafkadeps vs raw rdkafka with the identical durable config,
//! same run, same broker. Needs a running cluster (`scripts/kafka.sh up`, or
//! `KAFKA_BOOTSTRAP_SERVERS`). Run with:
//!
//! ```sh
//! scripts/kafka.sh up && cargo bench -p kafkadeps-benches --bench throughput
//! ```
//!
//! Prints msgs/s for each side (medians) and the kafkadeps/raw ratio: the median of the ratios
//! of the rounds, each round one run of either side back to back (alternating which goes first),
//! so a drift of the shared machine between rounds does not enter the ratio. The producer rounds
//! fill the topic; the consumer then reads a backlog of 2,000,000 (100 B) or 1,000,000 (1 KiB)
//! records from its start, first record to last: fetching from the brokers included, as a service
//! working through a backlog sees it. Also printed: the process's CPU time per consumed record for
//! each side — what the consumer runtime costs beyond raw rdkafka when CPU, not Kafka, is short.

use kafkadeps_benches::{
    Consumed, ThreadKind, bootstrap, consume_kafkadeps, consume_raw, produce_kafkadeps,
    produce_raw, raw_producer, settings, unique,
};

/// Producer rounds (each side sends n records per round).
const PRODUCE_ROUNDS: usize = 15;
/// Consumer rounds (each side reads the backlog once per round).
const CONSUME_ROUNDS: usize = 7;
/// The backlog the consumer reads, in producer rounds' worth of records (both sides').
const BACKLOG_ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One row: the medians of each side and the median of the rounds' kafkadeps/raw ratios.
fn row(side: &str, size: usize, raw: &[f64], kafkadeps: &[f64], unit: &str) {
    let ratios = raw.iter().zip(kafkadeps).map(|(r, k)| k / r).collect();
    let (r, k) = (median(raw.to_vec()), median(kafkadeps.to_vec()));
    let digits = if unit.is_empty() { 0 } else { 2 };
    println!(
        "{side:<10} {size:>5}B {r:>12.digits$}{unit:<2} {k:>12.digits$}{unit:<2} {:>8.3}",
        median(ratios)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when benching.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!(
        "throughput, {PRODUCE_ROUNDS} producer / {CONSUME_ROUNDS} consumer rounds; medians, and the median of the rounds' ratios; cluster {}",
        bootstrap()
    );
    println!(
        "{:<10} {:>6} {:>14} {:>14} {:>8}",
        "side", "size", "raw msg/s", "kafkadeps msg/s", "ratio"
    );
    // BENCH_ONLY=producer|consumer prints one side.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (size, n) in [(100usize, 200_000usize), (1024, 100_000)] {
        let payload = vec![b'x'; size];
        let topic = unique(&format!("bench-{size}"));
        let kafka = kafkadeps::Kafka::start(settings(&topic, &unique("kd-group")))
            .await
            .expect("kafkadeps");
        let producer = kafka.producer();
        let raw = raw_producer().await;
        let (mut r, mut k) = (Vec::new(), Vec::new());
        // Every round runs even with BENCH_ONLY=consumer: they fill the topic the consumer reads.
        for round in 0..PRODUCE_ROUNDS {
            // Alternate who goes first so neither side always gets the warm broker.
            if round % 2 == 0 {
                r.push(produce_raw(&raw, &topic, n, &payload).await);
                k.push(produce_kafkadeps(&producer, &topic, n, &payload).await);
            } else {
                k.push(produce_kafkadeps(&producer, &topic, n, &payload).await);
                r.push(produce_raw(&raw, &topic, n, &payload).await);
            }
        }
        if only != "consumer" {
            row("producer", size, &r, &k, "");
        }
        if only == "producer" {
            continue;
        }
        let backlog = 2 * BACKLOG_ROUNDS * n;
        let (r, k) = consume_rounds(&topic, backlog).await;
        let rate = |c: &[Consumed]| c.iter().map(|c| c.per_second).collect::<Vec<_>>();
        let cpu = |c: &[Consumed]| {
            c.iter()
                .map(|c| c.cpu_per_record_us(backlog))
                .collect::<Vec<_>>()
        };
        row("consumer", size, &rate(&r), &rate(&k), "");
        row("cpu/record", size, &cpu(&r), &cpu(&k), "µs");
        let poll = |c: &[Consumed]| {
            c.iter()
                .map(|c| c.poll_thread_per_record_us(backlog))
                .collect::<Vec<_>>()
        };
        row("poll/rec", size, &poll(&r), &poll(&k), "µs");
        let kind = |c: &[Consumed], kind| {
            median(
                c.iter()
                    .map(|c| c.kind_per_record_us(kind, backlog))
                    .collect(),
            )
        };
        println!(
            "{:<10} {size:>5}B librdkafka {:.2}µs / {:.2}µs; kafkadeps intake {:.2}µs, tokio (workers) {:.2}µs",
            "threads",
            kind(&r, ThreadKind::Librdkafka),
            kind(&k, ThreadKind::Librdkafka),
            kind(&k, ThreadKind::KafkadepsIntake),
            kind(&k, ThreadKind::Tokio),
        );
    }
    println!("cpu/record: process CPU time (all threads) per consumed record, raw and kafkadeps");
    println!(
        "poll/rec: CPU time per record of the thread polling librdkafka (raw: its whole loop, handler included; kafkadeps: the poll thread, which hands records on)"
    );
    println!(
        "threads: CPU time per record of librdkafka's threads (raw / kafkadeps) and of kafkadeps' other threads (medians)"
    );
}

/// `CONSUME_ROUNDS` reads of `count` records from the start of `topic` by each side, each with
/// a new group, alternating which side goes first.
async fn consume_rounds(topic: &str, count: usize) -> (Vec<Consumed>, Vec<Consumed>) {
    let (mut r, mut k) = (Vec::new(), Vec::new());
    for round in 0..CONSUME_ROUNDS {
        let raw = async {
            let t = topic.to_owned();
            tokio::task::spawn_blocking(move || consume_raw(&t, count))
                .await
                .expect("raw")
        };
        let kafkadeps = async {
            let kafka = kafkadeps::Kafka::start(settings(topic, &unique("kd-group")))
                .await
                .expect("kafkadeps");
            consume_kafkadeps(&kafka, count).await
        };
        if round % 2 == 0 {
            r.push(raw.await);
            k.push(kafkadeps.await);
        } else {
            k.push(kafkadeps.await);
            r.push(raw.await);
        }
    }
    (r, k)
}
