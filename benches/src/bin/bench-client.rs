//! One whole process doing one job, for A/B timing of kafkadeps against raw rdkafka with the
//! identical durable configuration (time two of these with any process timer, e.g.
//! `/usr/bin/time -v`, alternating A and B; see docs/benchmarks.md):
//!
//! ```text
//! bench-client fill      TOPIC N SIZE                 create TOPIC (6 partitions), write N records
//! bench-client produce   raw|kafkadeps TOPIC N SIZE   write N records, 10,000 in flight
//! bench-client consume   raw|kafkadeps TOPIC N        read N records with a new group, no-op
//!                                                     handler, commits after processing; prints
//!                                                     CPU per record by kind of thread
//! ```
//! The cluster is `KAFKA_BOOTSTRAP_SERVERS` (default 127.0.0.1:9092).

use kafkadeps_benches::{
    Consumed, consume_kafkadeps, consume_raw, produce_kafkadeps, produce_raw, raw_producer,
    settings, unique,
};

async fn start(topic: &str) -> kafkadeps::Kafka {
    kafkadeps::Kafka::start(settings(topic, &unique("bench-client")))
        .await
        .expect("kafkadeps")
}

/// CPU time per record: the process, the thread polling librdkafka, and each kind of thread.
fn print_cpu(consumed: &Consumed, n: usize) {
    let kinds: Vec<String> = consumed
        .by_kind
        .iter()
        .map(|(kind, _)| format!("{kind:?} {:.3}", consumed.kind_per_record_us(*kind, n)))
        .collect();
    eprintln!(
        "cpu µs/record: process {:.3}, poll thread {:.3}; {}",
        consumed.cpu_per_record_us(n),
        consumed.poll_thread_per_record_us(n),
        kinds.join(", ")
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<usize>().expect("a number");
    let rate = match (arg(0).as_str(), arg(1).as_str()) {
        ("fill", _) => {
            produce_kafkadeps(
                &start(&arg(1)).await.producer(),
                &arg(1),
                num(2),
                &vec![b'x'; num(3)],
            )
            .await
        }
        ("produce", "raw") => {
            produce_raw(&raw_producer().await, &arg(2), num(3), &vec![b'x'; num(4)]).await
        }
        ("produce", "kafkadeps") => {
            produce_kafkadeps(
                &start(&arg(2)).await.producer(),
                &arg(2),
                num(3),
                &vec![b'x'; num(4)],
            )
            .await
        }
        ("consume", "raw") => {
            let (t, n) = (arg(2), num(3));
            let consumed = tokio::task::spawn_blocking(move || consume_raw(&t, n))
                .await
                .expect("raw");
            print_cpu(&consumed, num(3));
            consumed.per_second
        }
        ("consume", "kafkadeps") => {
            let consumed = consume_kafkadeps(&start(&arg(2)).await, num(3)).await;
            print_cpu(&consumed, num(3));
            consumed.per_second
        }
        _ => {
            eprintln!(
                "usage: bench-client fill TOPIC N SIZE | produce raw|kafkadeps TOPIC N SIZE | consume raw|kafkadeps TOPIC N"
            );
            std::process::exit(2);
        }
    };
    eprintln!("{rate:.0} records/s");
}
