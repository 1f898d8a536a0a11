//! Shared pieces of the benchmarks: kafkadeps and raw rdkafka doing the same job with the same
//! durable configuration.

pub mod delivery;

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
    raw_producer_with(&[]).await
}

/// [`raw_producer`] with `overrides` of its configuration (e.g. `linger.ms`).
pub async fn raw_producer_with(overrides: &[(&str, &str)]) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap());
    for (k, v) in kafkadeps::producer::DURABLE_PRODUCER
        .iter()
        .chain(overrides)
    {
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

/// Sends `n` records through kafkadeps (`send` of an `OutgoingRecord`: its key and payload are
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
        inflight.push(
            p.send(
                kafkadeps::OutgoingRecord::new(topic)
                    .with_key(key)
                    .with_payload(payload),
            ),
        );
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
/// the CPU time spent from before the consumer was created until then, by the whole process and
/// by its threads.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Records per second, first record to the `n`th.
    pub per_second: f64,
    /// Process CPU time (all threads) from before the consumer existed to the `n`th record.
    pub cpu: Duration,
    /// CPU time of the thread that takes the records from librdkafka: raw's poll loop (which
    /// also handles them), kafkadeps' poll thread (which hands them on).
    pub poll_thread: Duration,
    /// CPU time of the process's threads meanwhile, summed by [`ThreadKind`].
    pub by_kind: Vec<(ThreadKind, Duration)>,
}

impl Consumed {
    /// CPU microseconds per record.
    pub fn cpu_per_record_us(&self, n: usize) -> f64 {
        per_record_us(self.cpu, n)
    }

    /// The poll thread's CPU microseconds per record.
    pub fn poll_thread_per_record_us(&self, n: usize) -> f64 {
        per_record_us(self.poll_thread, n)
    }

    /// CPU microseconds per record of the threads of one kind.
    pub fn kind_per_record_us(&self, kind: ThreadKind, n: usize) -> f64 {
        per_record_us(cpu_of(&self.by_kind, kind), n)
    }
}

/// The CPU time of one kind of thread in sums by kind.
fn cpu_of(by_kind: &[(ThreadKind, Duration)], kind: ThreadKind) -> Duration {
    by_kind
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, cpu)| *cpu)
        .sum()
}

fn per_record_us(cpu: Duration, n: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / n as f64
}

/// What a thread of the benchmark process does, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadKind {
    /// kafkadeps' poll thread (`kafkadeps-consumer`).
    KafkadepsPoll,
    /// kafkadeps' intake thread (`kafkadeps-intake`).
    KafkadepsIntake,
    /// Tokio's threads: kafkadeps' partition workers run there (and raw's poll loop, in a
    /// blocking-pool thread).
    Tokio,
    /// librdkafka's own threads (`rdk:*`): fetching and parsing, the same for both sides.
    Librdkafka,
    /// Anything else.
    Other,
}

impl ThreadKind {
    /// The kind of a thread named `comm` (the kernel keeps 15 bytes of a name).
    pub fn of(comm: &str) -> Self {
        if comm.starts_with("kafkadeps-consu") {
            Self::KafkadepsPoll
        } else if comm.starts_with("kafkadeps-intak") {
            Self::KafkadepsIntake
        } else if comm.starts_with("tokio-") {
            Self::Tokio
        } else if comm.starts_with("rdk:") {
            Self::Librdkafka
        } else {
            Self::Other
        }
    }
}

/// User + system CPU time of this process so far, all threads (`/proc/self/stat`, in the
/// kernel's fixed 100 Hz clock ticks).
pub fn process_cpu() -> Duration {
    stat_cpu("/proc/self/stat").expect("/proc/self/stat")
}

/// User + system CPU time of the calling thread so far (`/proc/thread-self/stat`).
pub fn thread_cpu() -> Duration {
    stat_cpu("/proc/thread-self/stat").expect("/proc/thread-self/stat")
}

/// The CPU time in a `stat` file of `/proc`: `None` when it is gone (a thread that ended).
fn stat_cpu(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: utime and stime
    // are the 12th and 13th.
    let after = &stat[stat.rfind(')')? + 2..];
    let ticks: u64 = after
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse::<u64>().expect("ticks"))
        .sum();
    Some(Duration::from_millis(ticks * 10))
}

/// User + system CPU time of process `pid` so far, all its threads; zero when it is gone.
pub fn pid_cpu(pid: u32) -> Duration {
    stat_cpu(&format!("/proc/{pid}/stat")).unwrap_or_default()
}

/// Resident memory of process `pid` now and at its peak (`VmRSS`, `VmHWM`), MiB; zeros when it
/// is gone.
pub fn pid_memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mib = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (mib("VmRSS:"), mib("VmHWM:"))
}

/// Every thread of this process now: its id, [`ThreadKind`] and CPU time so far.
pub fn threads_cpu() -> Vec<(u32, ThreadKind, Duration)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let tid: u32 = task.file_name().to_str()?.parse().ok()?;
            let dir = task.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            let cpu = stat_cpu(dir.join("stat").to_str()?)?;
            Some((tid, ThreadKind::of(comm.trim_end()), cpu))
        })
        .collect()
}

/// The CPU time each thread alive at `until` spent since `since` (a snapshot of
/// [`threads_cpu`]; threads started meanwhile count from zero), summed by kind.
pub fn cpu_by_kind(
    since: &[(u32, ThreadKind, Duration)],
    until: &[(u32, ThreadKind, Duration)],
) -> Vec<(ThreadKind, Duration)> {
    let mut sums: Vec<(ThreadKind, Duration)> = Vec::new();
    for (tid, kind, cpu) in until {
        let before = since
            .iter()
            .find(|(t, k, _)| t == tid && k == kind)
            .map_or(Duration::ZERO, |(_, _, cpu)| *cpu);
        let spent = cpu.saturating_sub(before);
        match sums.iter_mut().find(|(k, _)| k == kind) {
            Some((_, sum)) => *sum += spent,
            None => sums.push((*kind, spent)),
        }
    }
    sums
}

/// A raw at-least-once consumer: poll, handle (no-op), commit the next offsets every second.
pub fn consume_raw(topic: &str, n: usize) -> Consumed {
    let (cpu, own, threads) = (process_cpu(), thread_cpu(), threads_cpu());
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
        poll_thread: thread_cpu().saturating_sub(own),
        by_kind: cpu_by_kind(&threads, &threads_cpu()),
    }
}

/// Consumes `n` records through kafkadeps' runtime with a no-op handler.
pub async fn consume_kafkadeps(kafka: &kafkadeps::Kafka, n: usize) -> Consumed {
    let (cpu, threads) = (process_cpu(), threads_cpu());
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
    let by_kind = cpu_by_kind(&threads, &threads_cpu());
    stop.notify_one();
    handle.await.expect("join").expect("consumer ok");
    let poll_thread = cpu_of(&by_kind, ThreadKind::KafkadepsPoll);
    Consumed {
        per_second: n as f64 / elapsed,
        cpu,
        poll_thread,
        by_kind,
    }
}

/// Records per second of `total` records sent in requests of `per_request` by `clients`
/// concurrent loops: `send(i)` sends the `i`th request (records `i * per_request ..`) and
/// returns once it was answered.
pub async fn requests_per_second<F, Fut>(
    total: usize,
    clients: usize,
    per_request: usize,
    send: F,
) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let requests = total / per_request;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (send, next) = (send.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let r = next.fetch_add(1, Ordering::Relaxed);
                    if r >= requests {
                        break;
                    }
                    send(r).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    (requests * per_request) as f64 / start.elapsed().as_secs_f64()
}

/// The value after `flag` on this process's command line (`--rate 200`), if given.
pub fn flag(flag: &str) -> Option<String> {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == flag)
        .and_then(|i| argv.get(i + 1))
        .cloned()
}

/// Every value given after `flag` (`--peer A --peer B`), in order.
pub fn flags(flag: &str) -> Vec<String> {
    let argv: Vec<String> = std::env::args().collect();
    argv.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
}

/// The `q` quantile (0..=1) of `sorted`, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The median of `v` (the upper one of an even count); NaN when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_known_by_their_kernel_names() {
        // The kernel keeps the first 15 bytes of a thread's name.
        assert_eq!(ThreadKind::of("kafkadeps-consu"), ThreadKind::KafkadepsPoll);
        assert_eq!(
            ThreadKind::of("kafkadeps-intak"),
            ThreadKind::KafkadepsIntake
        );
        assert_eq!(ThreadKind::of("kafkadeps-lag"), ThreadKind::Other);
        assert_eq!(ThreadKind::of("tokio-rt-worker"), ThreadKind::Tokio);
        assert_eq!(ThreadKind::of("rdk:broker1"), ThreadKind::Librdkafka);
        assert_eq!(ThreadKind::of("throughput-1b2c"), ThreadKind::Other);
    }

    #[test]
    fn cpu_by_kind_counts_what_each_thread_spent_in_between() {
        let ms = Duration::from_millis;
        let since = [
            (1, ThreadKind::Librdkafka, ms(100)),
            (2, ThreadKind::KafkadepsPoll, ms(50)),
            (3, ThreadKind::Other, ms(70)),
        ];
        let until = [
            (1, ThreadKind::Librdkafka, ms(130)),
            (2, ThreadKind::KafkadepsPoll, ms(90)),
            // Started in between: all of its time counts.
            (4, ThreadKind::Librdkafka, ms(20)),
            // A new thread reusing an ended one's id under another name.
            (3, ThreadKind::KafkadepsIntake, ms(10)),
        ];
        let by_kind = cpu_by_kind(&since, &until);
        assert_eq!(cpu_of(&by_kind, ThreadKind::Librdkafka), ms(50));
        assert_eq!(cpu_of(&by_kind, ThreadKind::KafkadepsPoll), ms(40));
        assert_eq!(cpu_of(&by_kind, ThreadKind::KafkadepsIntake), ms(10));
        assert_eq!(cpu_of(&by_kind, ThreadKind::Other), Duration::ZERO);
    }

    #[test]
    fn this_threads_cpu_time_is_among_the_processs() {
        // Burn CPU until the kernel has charged this thread a tick (a generous deadline: the
        // machine may be busy with other tests).
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        while thread_cpu().is_zero() && Instant::now() < deadline {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        let own = thread_cpu();
        assert!(own > Duration::ZERO, "no CPU time charged in 60 s");
        assert!(process_cpu() >= own);
        assert!(!threads_cpu().is_empty());
    }
}
