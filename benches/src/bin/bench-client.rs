//! One whole process doing one job, for A/B timing of kafkadeps against raw rdkafka with the
//! identical durable configuration (time two of these with any process timer, e.g.
//! `/usr/bin/time -v`, alternating A and B):
//!
//! ```text
//! bench-client fill      TOPIC N SIZE   create TOPIC (6 partitions) and write N records (not timed)
//! bench-client produce   raw|kafkadeps TOPIC N SIZE   write N records, 10,000 in flight
//! bench-client consume   raw|kafkadeps TOPIC N        read N records with a new group, no-op handler,
//!                                                     commits after processing
//! ```
//! The cluster is `KAFKA_BOOTSTRAP_SERVERS` (default 127.0.0.1:9092).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const WINDOW: usize = 10_000;

/// The offsets to commit as a partition list.
fn tpl(topic: &str, next: &std::collections::HashMap<i32, i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in next {
        let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(*o));
    }
    tpl
}

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn group() -> String {
    format!(
        "bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    )
}

fn settings(topic: &str) -> kafkadeps::Settings {
    kafkadeps::Settings::builder(bootstrap())
        .app("bench-client")
        .group_id(group())
        .produces(format!("{topic}(partitions=6)"))
        .consumes(format!("{topic}(partitions=6)"))
        .clamp_replicas()
        .metrics_listen("off")
        .build()
        .expect("settings")
}

async fn produce_raw(topic: &str, n: usize, size: usize) {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap());
    for (k, v) in kafkadeps::producer::DURABLE_PRODUCER {
        c.set(*k, *v);
    }
    let p: FutureProducer = c.create().expect("producer");
    let payload = vec![b'x'; size];
    let mut inflight = FuturesUnordered::new();
    for i in 0..n {
        let key = (i % 1000).to_string();
        let fut = loop {
            match p.send_result(FutureRecord::to(topic).key(&key).payload(&payload)) {
                Ok(f) => break f,
                Err(_) => {
                    inflight.next().await;
                }
            }
        };
        inflight.push(fut);
        if inflight.len() >= WINDOW {
            inflight
                .next()
                .await
                .expect("delivery")
                .expect("ack")
                .expect("ok");
        }
    }
    while let Some(r) = inflight.next().await {
        r.expect("ack").expect("ok");
    }
}

async fn produce_kafkadeps(topic: &str, n: usize, size: usize) {
    let kafka = kafkadeps::Kafka::start(settings(topic))
        .await
        .expect("kafkadeps");
    let p = kafka.producer();
    let payload = vec![b'x'; size];
    let mut inflight = FuturesUnordered::new();
    for i in 0..n {
        let record = kafkadeps::OutgoingRecord::new(topic)
            .key((i % 1000).to_string())
            .payload(payload.clone());
        let p = p.clone();
        inflight.push(async move { p.send_record(record).await });
        if inflight.len() >= WINDOW {
            inflight.next().await.expect("delivery").expect("ok");
        }
    }
    while let Some(r) = inflight.next().await {
        r.expect("ok");
    }
}

fn consume_raw(topic: &str, n: usize) {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap())
        .set("group.id", group());
    for (k, v) in kafkadeps::consumer::DURABLE_CONSUMER {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer = c.create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = 0;
    let mut last_commit = Instant::now();
    // Next offset to commit per partition (after processing), committed every second.
    let mut next: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
    while got < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                std::hint::black_box(m.payload());
                next.insert(m.partition(), m.offset() + 1);
                got += 1;
            }
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
        if last_commit.elapsed() > Duration::from_secs(1) && !next.is_empty() {
            let _ = consumer.commit(&tpl(topic, &next), CommitMode::Async);
            next.clear();
            last_commit = Instant::now();
        }
    }
    let _ = consumer.commit(&tpl(topic, &next), CommitMode::Sync);
}

async fn consume_kafkadeps(topic: &str, n: usize) {
    let t0 = Instant::now();
    let trace = std::env::var("BENCH_TRACE").is_ok();
    let kafka = kafkadeps::Kafka::start(settings(topic))
        .await
        .expect("kafkadeps");
    if trace {
        eprintln!("{:?} started", t0.elapsed());
    }
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let (c, d) = (Arc::clone(&count), Arc::clone(&done));
    kafka
        .consumer()
        .without_signal_handlers()
        .shutdown_on(async move { done.notified().await })
        .run(move |record| {
            let (c, d) = (Arc::clone(&c), Arc::clone(&d));
            async move {
                std::hint::black_box(record.payload());
                let k = c.fetch_add(1, Ordering::Relaxed) + 1;
                if trace && (k == 1 || k % 100_000 == 0) {
                    eprintln!("{:?} {k} records", t0.elapsed());
                }
                if k == n {
                    d.notify_one();
                }
                Ok(())
            }
        })
        .await
        .expect("consumer");
    if trace {
        eprintln!("{:?} stopped", t0.elapsed());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<usize>().expect("a number");
    match (arg(0).as_str(), arg(1).as_str()) {
        ("fill", _) => produce_kafkadeps(&arg(1), num(2), num(3)).await,
        ("produce", "raw") => produce_raw(&arg(2), num(3), num(4)).await,
        ("produce", "kafkadeps") => produce_kafkadeps(&arg(2), num(3), num(4)).await,
        ("consume", "raw") => {
            let (t, n) = (arg(2), num(3));
            tokio::task::spawn_blocking(move || consume_raw(&t, n))
                .await
                .expect("raw");
        }
        ("consume", "kafkadeps") => consume_kafkadeps(&arg(2), num(3)).await,
        _ => {
            eprintln!(
                "usage: bench-client fill TOPIC N SIZE | produce raw|kafkadeps TOPIC N SIZE | consume raw|kafkadeps TOPIC N"
            );
            std::process::exit(2);
        }
    }
}
