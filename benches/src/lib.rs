//! Shared pieces of the benchmarks: kafkadeps and raw rdkafka doing the same job with the same
//! durable configuration.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Sends kept in flight by the producer benchmarks.
pub const WINDOW: usize = 10_000;

/// The offsets to commit as a partition list.
pub fn tpl(topic: &str, next: &std::collections::HashMap<i32, i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in next {
        let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(*o));
    }
    tpl
}

/// The cluster: `KAFKA_BOOTSTRAP_SERVERS` or the single local broker.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A name no other run, and no other call in this run, uses (a consumer group reused across
/// rounds would start at the previous round's commit and never see its records).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "{prefix}-{}-{since_epoch}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// kafkadeps settings producing and consuming `topic` (6 partitions) in `group`.
pub fn settings(topic: &str, group: &str) -> kafkadeps::Settings {
    kafkadeps::Settings::builder(bootstrap())
        .app("bench")
        .group_id(group)
        .produces(format!("{topic}(partitions=6)"))
        .consumes(topic)
        .clamp_replicas()
        .metrics_listen("off")
        .build()
        .expect("settings")
}

/// A raw rdkafka producer with kafkadeps' durable configuration, connected (cluster metadata
/// fetched, as `Kafka::start` does for its producer) so neither side's timing includes that.
pub async fn raw_producer() -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap());
    for (k, v) in kafkadeps::producer::DURABLE_PRODUCER {
        c.set(*k, *v);
    }
    let producer: FutureProducer = c.create().expect("raw producer");
    tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(30))
            .expect("raw producer connects");
        producer
    })
    .await
    .expect("raw producer")
}

/// Sends `n` records with raw rdkafka; returns records per second.
pub async fn produce_raw(p: &FutureProducer, topic: &str, n: usize, payload: &[u8]) -> f64 {
    let start = Instant::now();
    let mut inflight = FuturesUnordered::new();
    for i in 0..n {
        let key = (i % 1000).to_string();
        let fut = loop {
            match p.send_result(FutureRecord::to(topic).key(&key).payload(payload)) {
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
    n as f64 / start.elapsed().as_secs_f64()
}

/// Sends `n` records through kafkadeps (`send_bytes`: key and payload borrowed for the call and
/// copied into librdkafka's queue, as raw rdkafka's `send_result` does); returns records per
/// second.
pub async fn produce_kafkadeps(
    p: &kafkadeps::Producer,
    topic: &str,
    n: usize,
    payload: &[u8],
) -> f64 {
    let start = Instant::now();
    let mut inflight = FuturesUnordered::new();
    for i in 0..n {
        let key = (i % 1000).to_string();
        inflight.push(p.send_bytes(topic, Some(key.as_bytes()), payload));
        if inflight.len() >= WINDOW {
            inflight.next().await.expect("delivery").expect("ok");
        }
    }
    while let Some(r) = inflight.next().await {
        r.expect("ok");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// What reading `n` records took: records per second from the first record to the `n`th, and
/// the process's CPU time (all threads, user + system) from before the consumer was created
/// until then.
#[derive(Debug, Clone, Copy)]
pub struct Consumed {
    /// Records per second, first record to the `n`th.
    pub per_second: f64,
    /// Process CPU time (all threads) from before the consumer existed to the `n`th record.
    pub cpu: Duration,
}

impl Consumed {
    /// CPU microseconds per record.
    pub fn cpu_per_record_us(&self, n: usize) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / n as f64
    }
}

/// User + system CPU time of this process so far, all threads (`/proc/self/stat`, in the
/// kernel's fixed 100 Hz clock ticks).
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) in parentheses: utime and stime
    // are the 12th and 13th.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let ticks: u64 = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse::<u64>().expect("ticks"))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A raw at-least-once consumer: poll, handle (no-op), commit the next offsets every second.
pub fn consume_raw(topic: &str, n: usize) -> Consumed {
    let cpu = process_cpu();
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap())
        .set("group.id", unique("raw-group"));
    for (k, v) in kafkadeps::consumer::DURABLE_CONSUMER {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer = c.create().expect("raw consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = 0;
    let mut start = None;
    let mut last_commit = Instant::now();
    // Next offset to commit per partition (after processing), committed every second.
    let mut next: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
    while got < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                start.get_or_insert_with(Instant::now);
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
    Consumed {
        per_second: n as f64 / start.map_or(1.0, |s| s.elapsed().as_secs_f64()),
        cpu: process_cpu().saturating_sub(cpu),
    }
}

/// Consumes `n` records through kafkadeps' runtime with a no-op handler.
pub async fn consume_kafkadeps(kafka: &kafkadeps::Kafka, n: usize) -> Consumed {
    let cpu = process_cpu();
    let count = Arc::new(AtomicUsize::new(0));
    let first = Arc::new(std::sync::OnceLock::<Instant>::new());
    let reached = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(tokio::sync::Notify::new());
    let (c, f, r) = (Arc::clone(&count), Arc::clone(&first), Arc::clone(&reached));
    let (_stats, running) = kafka
        .consumer()
        .without_signal_handlers()
        .shutdown_on({
            let stop = Arc::clone(&stop);
            async move { stop.notified().await }
        })
        // The work happens in the handler's synchronous part (no per-record clones of the
        // counters; the raw loop has none either); the future it returns is already finished.
        .start(move |record| {
            f.get_or_init(Instant::now);
            std::hint::black_box(record.payload());
            if c.fetch_add(1, Ordering::Relaxed) + 1 == n {
                r.notify_one();
            }
            std::future::ready(Ok(()))
        })
        .expect("consumer");
    let mut handle = tokio::spawn(running);
    tokio::select! {
        () = reached.notified() => {}
        ended = &mut handle => panic!("the consumer ended before {n} records: {ended:?}"),
    }
    let elapsed = first.get().map_or(1.0, |s| s.elapsed().as_secs_f64());
    let cpu = process_cpu().saturating_sub(cpu);
    stop.notify_one();
    handle.await.expect("join").expect("consumer ok");
    Consumed {
        per_second: n as f64 / elapsed,
        cpu,
    }
}
