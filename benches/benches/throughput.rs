//! Producer and consumer throughput: kafkadeps vs raw rdkafka with the identical durable config,
//! same run, same broker. Needs a running cluster (`scripts/kafka.sh up`, or
//! `KAFKA_BOOTSTRAP_SERVERS`). Run with:
//!
//! ```sh
//! scripts/kafka.sh up && cargo bench -p kafkadeps-benches --bench throughput
//! ```
//!
//! Prints msgs/s for each side and the kafkadeps/raw ratio (median of the rounds). The producer
//! rounds fill the topic; the consumer then reads all of it, from the first record to the last
//! (a backlog of 1–2 million records: fetching from the brokers included, as a service working
//! through a backlog sees it). Also printed: the process's CPU time per consumed record for each
//! side, which is what the consumer runtime costs beyond raw rdkafka when CPU, not Kafka, is short.

use kafkadeps_benches::{
    Consumed, bootstrap, consume_kafkadeps, consume_raw, produce_kafkadeps, produce_raw,
    raw_producer, settings, unique,
};

const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when benching.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!(
        "throughput, {ROUNDS} rounds each, median; cluster {}",
        bootstrap()
    );
    println!(
        "{:<10} {:>6} {:>14} {:>14} {:>8}",
        "side", "size", "raw msg/s", "kafkadeps msg/s", "ratio"
    );
    // BENCH_ONLY=producer|consumer runs one side.
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
        for round in 0..ROUNDS {
            // Alternate who goes first so neither side always gets the warm broker.
            if round % 2 == 0 {
                r.push(produce_raw(&raw, &topic, n, &payload).await);
                k.push(produce_kafkadeps(&producer, &topic, n, &payload).await);
            } else {
                k.push(produce_kafkadeps(&producer, &topic, n, &payload).await);
                r.push(produce_raw(&raw, &topic, n, &payload).await);
            }
        }
        let (r, k) = (median(r), median(k));
        if only != "consumer" {
            println!(
                "{:<10} {:>5}B {:>14.0} {:>14.0} {:>8.3}",
                "producer",
                size,
                r,
                k,
                k / r
            );
        }
        if only == "producer" {
            continue;
        }
        // The topic now holds 2 * ROUNDS * n records: read all of them.
        let total = 2 * ROUNDS * n;
        let (r, k) = consume_rounds(&topic, total).await;
        let rate = |c: &[Consumed]| median(c.iter().map(|c| c.per_second).collect());
        let cpu = |c: &[Consumed]| median(c.iter().map(|c| c.cpu_per_record_us(total)).collect());
        println!(
            "{:<10} {:>5}B {:>14.0} {:>14.0} {:>8.3}",
            "consumer",
            size,
            rate(&r),
            rate(&k),
            rate(&k) / rate(&r)
        );
        println!(
            "{:<10} {:>5}B {:>12.2}µs {:>12.2}µs {:>8.3}",
            "cpu/record",
            size,
            cpu(&r),
            cpu(&k),
            cpu(&k) / cpu(&r)
        );
    }
    println!("cpu/record: process CPU time (all threads) per consumed record, raw and kafkadeps");
}

/// `ROUNDS` reads of `count` records from the start of `topic` by each side, each with a new
/// group, alternating which side goes first.
async fn consume_rounds(topic: &str, count: usize) -> (Vec<Consumed>, Vec<Consumed>) {
    let (mut r, mut k) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
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
