//! Delivery to an app through running peers (push or pull), measured the same way for both:
//! this process produces (raw rdkafka, kafkadeps' durable settings) records stamped with their
//! send time, and whatever receives them — an app the peers push to, or a loop polling a peer —
//! hands each value to [`Received::record`]. A round is a fixed-rate phase of 1 KB records
//! (send → app latency) and a backlog of 100 B records produced at once (records/s to the app),
//! with the peer process's CPU per 1,000 records and its resident memory.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{median, percentile as pct, pid_cpu, pid_memory};

/// A running peer that delivers `topic`'s records (its own topic, 6 partitions).
pub struct Peer {
    /// Its name in the table.
    pub name: String,
    /// The topic it delivers, which this process produces to.
    pub topic: String,
    /// Its process, whose CPU and memory are measured.
    pub pid: u32,
}

/// What the app has received from one peer since the last reset.
#[derive(Default)]
pub struct Received {
    count: AtomicUsize,
    /// Send-to-receipt, ms.
    latencies: Mutex<Vec<f64>>,
}

impl Received {
    /// Counts one delivered record whose value is `value`, with its latency when the value
    /// carries its send time (`sent_us`).
    pub fn record(&self, value: &serde_json::Value) {
        let received = now_us();
        if let Some(sent) = value["sent_us"].as_u64() {
            let ms = received.saturating_sub(sent) as f64 / 1000.0;
            self.latencies.lock().expect("latencies").push(ms);
        }
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn reset(&self) {
        self.count.store(0, Ordering::SeqCst);
        self.latencies.lock().expect("latencies").clear();
    }

    /// Waits until `n` records arrived; panics after `deadline`.
    async fn wait_for(&self, n: usize, deadline: Duration, who: &str) {
        let start = Instant::now();
        while self.count.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < deadline,
                "{who}: {} of {n} records after {deadline:?}",
                self.count.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn payload(n: usize, size: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "n": n, "sent_us": now_us(), "pad": "x".repeat(size.saturating_sub(40))
    }))
    .expect("JSON")
}

/// Sends `n` records of about `size` bytes to `topic`, at `rate` per second (or as fast as the
/// producer goes with `None`), each stamped with its send time.
async fn produce(p: &FutureProducer, topic: &str, n: usize, size: usize, rate: Option<u32>) {
    let mut tick = rate.map(|r| {
        let mut t = tokio::time::interval(Duration::from_secs(1) / r);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    let mut inflight = FuturesUnordered::new();
    for i in 0..n {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let (key, value) = ((i % 1000).to_string(), payload(i, size));
        let fut = loop {
            match p.send_result(FutureRecord::to(topic).key(&key).payload(&value)) {
                Ok(f) => break f,
                Err(_) => {
                    inflight.next().await;
                }
            }
        };
        inflight.push(fut);
        // Keep acknowledgements flowing without holding the tick loop.
        while inflight.len() > 10_000 {
            inflight.next().await;
        }
    }
    while let Some(r) = inflight.next().await {
        r.expect("ack").expect("produced");
    }
}

/// The phases of a round.
#[derive(Clone, Copy)]
pub struct Load {
    /// Records per second of the fixed-rate phase.
    pub rate: u32,
    /// Length of the fixed-rate phase.
    pub seconds: u64,
    /// Records of the backlog phase.
    pub backlog: usize,
}

#[derive(Default)]
struct Round {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    backlog_per_s: f64,
    cpu_ms_per_1000: f64,
    rss_idle: f64,
    rss_peak: f64,
}

async fn round(p: &FutureProducer, peer: &Peer, got: &Received, load: Load) -> Round {
    let rss_idle = pid_memory(peer.pid).0;
    let cpu = pid_cpu(peer.pid);
    got.reset();
    let n = usize::try_from(u64::from(load.rate) * load.seconds).expect("count");
    produce(p, &peer.topic, n, 1000, Some(load.rate)).await;
    got.wait_for(n, Duration::from_secs(300), &peer.name).await;
    let mut l = std::mem::take(&mut *got.latencies.lock().expect("latencies"));
    assert!(
        l.len() >= n,
        "{}: {} of {n} records carried their send time",
        peer.name,
        l.len()
    );
    l.sort_by(f64::total_cmp);
    got.reset();
    let start = Instant::now();
    produce(p, &peer.topic, load.backlog, 100, None).await;
    got.wait_for(load.backlog, Duration::from_secs(600), &peer.name)
        .await;
    let backlog_per_s = load.backlog as f64 / start.elapsed().as_secs_f64();
    Round {
        p50: pct(&l, 0.5),
        p90: pct(&l, 0.9),
        p99: pct(&l, 0.99),
        p999: pct(&l, 0.999),
        backlog_per_s,
        cpu_ms_per_1000: pid_cpu(peer.pid).saturating_sub(cpu).as_secs_f64() * 1000.0
            / ((n + load.backlog) as f64 / 1000.0),
        rss_idle,
        rss_peak: pid_memory(peer.pid).1,
    }
}

/// Warms each peer up (a first record delivered: subscribed, partitions assigned; then a
/// thousand: connections, a JVM's JIT), runs `rounds` rounds alternating which peer goes first,
/// and prints the medians as a Markdown table whose latency column is headed `what` (e.g.
/// "send → app"). `received[i]` is what reaches the app from `peers[i]`.
pub async fn compare(
    peers: &[Peer],
    received: &[&Received],
    rounds: usize,
    load: Load,
    what: &str,
) {
    assert!(!peers.is_empty(), "name at least one --peer");
    let producer = crate::raw_producer().await;
    for (peer, got) in peers.iter().zip(received) {
        got.reset();
        produce(&producer, &peer.topic, 1, 100, None).await;
        got.wait_for(1, Duration::from_secs(180), &peer.name).await;
        got.reset();
        produce(&producer, &peer.topic, 1000, 100, None).await;
        got.wait_for(1000, Duration::from_secs(180), &peer.name)
            .await;
    }
    let mut results: Vec<Vec<Round>> = peers.iter().map(|_| Vec::new()).collect();
    for r in 0..rounds {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..peers.len()).collect()
        } else {
            (0..peers.len()).rev().collect()
        };
        for i in order {
            let peer = &peers[i];
            let got = round(&producer, peer, received[i], load).await;
            eprintln!(
                "round {r} {}: {what} p50 {:.2} p99 {:.2} ms at {}/s, backlog {:.0} rec/s, \
                 {:.1} CPU ms/1000, RSS {:.1} → {:.1} MiB",
                peer.name,
                got.p50,
                got.p99,
                load.rate,
                got.backlog_per_s,
                got.cpu_ms_per_1000,
                got.rss_idle,
                got.rss_peak
            );
            results[i].push(got);
        }
    }
    println!(
        "| peer | {what} p50 / p90 / p99 / p99.9 ms at {} rec/s of 1 KB | backlog of {} × 100 B, \
         records/s to the app | CPU ms / 1,000 records | RSS idle / peak MiB |",
        load.rate, load.backlog
    );
    println!("|---|---|---|---|---|");
    for (peer, rounds) in peers.iter().zip(&results) {
        let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        println!(
            "| {} | {:.2} / {:.2} / {:.2} / {:.2} | {:.0} | {:.1} | {:.1} / {:.1} |",
            peer.name,
            m(|r| r.p50),
            m(|r| r.p90),
            m(|r| r.p99),
            m(|r| r.p999),
            m(|r| r.backlog_per_s),
            m(|r| r.cpu_ms_per_1000),
            m(|r| r.rss_idle),
            m(|r| r.rss_peak),
        );
    }
}
