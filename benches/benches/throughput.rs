//! Producer and consumer throughput: kafkadeps vs raw rdkafka with the identical durable config,
//! same run, same broker. Needs a running cluster (`scripts/kafka.sh up`, or
//! `KAFKA_BOOTSTRAP_SERVERS`). Run with:
//!
//! ```sh
//! scripts/kafka.sh up && cargo bench -p kafkadeps-benches --bench throughput
//! ```
//!
//! Prints msgs/s for each side and the kafkadeps/raw ratio (median of the rounds). The consumer
//! is read twice: `consumer` takes the first n records (a burst librdkafka has mostly prefetched,
//! so the figure is client CPU per record), `consumer*` the whole topic (steady state, fetching
//! included).

use kafkadeps_benches::{
    bootstrap, consume_kafkadeps, consume_raw, produce_kafkadeps, produce_raw, raw_producer,
    settings, unique,
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
        let rounds = if only == "consumer" { 1 } else { ROUNDS };
        for round in 0..rounds {
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

        // The topic now holds 2 * rounds * n records. Two readings: the first n records (a
        // burst librdkafka has mostly prefetched: client CPU per record), and the whole topic
        // (steady state: fetching from the brokers included, as a service consuming a backlog).
        let total = 2 * rounds * n;
        for (side, count) in [("consumer", n), ("consumer*", total)] {
            let (r, k) = consume_rounds(&topic, count).await;
            println!(
                "{:<10} {:>5}B {:>14.0} {:>14.0} {:>8.3}",
                side,
                size,
                r,
                k,
                k / r
            );
        }
    }
    println!("consumer: the first n records (prefetched burst); consumer*: the whole topic");
}

/// Medians of `ROUNDS` reads of `count` records from the start of `topic`, each side with a new
/// group, raw first.
async fn consume_rounds(topic: &str, count: usize) -> (f64, f64) {
    let (mut r, mut k) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = topic.to_owned();
        r.push(
            tokio::task::spawn_blocking(move || consume_raw(&t, count))
                .await
                .expect("raw"),
        );
        let kafka = kafkadeps::Kafka::start(settings(topic, &unique("kd-group")))
            .await
            .expect("kafkadeps");
        k.push(consume_kafkadeps(&kafka, count).await);
    }
    (median(r), median(k))
}
