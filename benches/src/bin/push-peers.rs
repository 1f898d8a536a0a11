//! Delivering to an app over HTTP (push) through running peers, side by side on the same broker:
//! end-to-end latency from the producer's send to the app's receipt at a fixed rate, delivery
//! throughput of a backlog, the peers' CPU per 1,000 records and resident memory. This process
//! is the producer (raw rdkafka, kafkadeps' durable settings) and the app: it serves
//! `POST /{peer}/{topic}` on `--app-listen` and answers 200 at once.
//!
//! ```sh
//! push-peers --app-listen 127.0.0.1:8090 \
//!   --peer 'kafkadeps-sidecar|TOPIC_A|PID' --peer 'daprd|TOPIC_B|PID' \
//!   [--rounds 3] [--rate 1000] [--seconds 10] [--backlog 20000]
//! ```
//!
//! Each peer consumes its own topic (6 partitions, created beforehand) and pushes to
//! `/{peer}/{topic}`: the sidecar's envelope (`{"topic", …, "value": …}`) or the CloudEvent
//! daprd wraps a raw record in (`data_base64`, with `rawPayload`); either way the value carries
//! its send time (a push without one fails the run). `GET
//! /dapr/subscribe` answers `[]` (daprd asks; its subscription is declared in a file).
//! `benches/peers/push-peers.sh` starts the peers and runs this.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kafkadeps_benches::{median, percentile as pct, pid_cpu, pid_memory, raw_producer};
use rdkafka::producer::{FutureProducer, FutureRecord};

struct Peer {
    name: String,
    topic: String,
    pid: u32,
}

/// What the app has received for one peer since the last reset.
#[derive(Default)]
struct Received {
    count: AtomicUsize,
    /// Send-to-receipt, ms.
    latencies: Mutex<Vec<f64>>,
}

impl Received {
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

type Apps = Arc<HashMap<String, Arc<Received>>>;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn options() -> (String, Vec<Peer>, usize, u32, u64, usize) {
    let value = kafkadeps_benches::flag;
    let peers = kafkadeps_benches::flags("--peer")
        .into_iter()
        .map(|w| {
            let parts: Vec<&str> = w.split('|').collect();
            let [name, topic, pid] = parts[..] else {
                panic!("--peer NAME|TOPIC|PID, not {w}");
            };
            Peer {
                name: name.to_owned(),
                topic: topic.to_owned(),
                pid: pid.parse().expect("--peer …|PID"),
            }
        })
        .collect();
    (
        value("--app-listen").expect("--app-listen HOST:PORT"),
        peers,
        value("--rounds").map_or(3, |v| v.parse().expect("--rounds N")),
        value("--rate").map_or(1000, |v| v.parse().expect("--rate N")),
        value("--seconds").map_or(10, |v| v.parse().expect("--seconds S")),
        value("--backlog").map_or(20_000, |v| v.parse().expect("--backlog N")),
    )
}

/// The record value in a push: in the sidecar's envelope, or in the CloudEvent daprd wraps a
/// raw payload in (`data_base64`, or `data`).
fn sent_value(push: serde_json::Value) -> serde_json::Value {
    if let Some(value) = push.get("value") {
        return value.clone();
    }
    if let Some(b64) = push.get("data_base64").and_then(|b| b.as_str()) {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
    }
    push.get("data").cloned().unwrap_or(push)
}

/// The app: records the latency of every pushed record.
async fn serve_app(listen: &str, apps: Apps) {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/dapr/subscribe",
            get(|| async { axum::Json(Vec::<()>::new()) }),
        )
        .route(
            "/{peer}/{topic}",
            post(
                |axum::extract::State(apps): axum::extract::State<Apps>,
                 axum::extract::Path((peer, _topic)): axum::extract::Path<(String, String)>,
                 body: axum::body::Bytes| async move {
                    let received = now_us();
                    let Some(app) = apps.get(&peer) else {
                        return axum::http::StatusCode::NOT_FOUND;
                    };
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                        return axum::http::StatusCode::BAD_REQUEST;
                    };
                    let value = sent_value(v);
                    if let Some(sent) = value["sent_us"].as_u64() {
                        let ms = received.saturating_sub(sent) as f64 / 1000.0;
                        app.latencies.lock().expect("latencies").push(ms);
                    }
                    app.count.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(apps);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("app listen");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("app") });
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

async fn round(
    p: &FutureProducer,
    peer: &Peer,
    got: &Received,
    (rate, seconds, backlog): (u32, u64, usize),
) -> Round {
    let rss_idle = pid_memory(peer.pid).0;
    let cpu = pid_cpu(peer.pid);
    // Fixed rate, 1 KB records: the latency from send to receipt.
    got.reset();
    let n = usize::try_from(u64::from(rate) * seconds).expect("count");
    produce(p, &peer.topic, n, 1000, Some(rate)).await;
    got.wait_for(n, Duration::from_secs(300), &peer.name).await;
    let mut l = std::mem::take(&mut *got.latencies.lock().expect("latencies"));
    assert!(
        l.len() >= n,
        "{}: {} of {n} pushes carried their send time",
        peer.name,
        l.len()
    );
    l.sort_by(f64::total_cmp);
    // A backlog of 100 B records, produced at once: delivered records per second.
    got.reset();
    let start = Instant::now();
    produce(p, &peer.topic, backlog, 100, None).await;
    got.wait_for(backlog, Duration::from_secs(600), &peer.name)
        .await;
    let backlog_per_s = backlog as f64 / start.elapsed().as_secs_f64();
    Round {
        p50: pct(&l, 0.5),
        p90: pct(&l, 0.9),
        p99: pct(&l, 0.99),
        p999: pct(&l, 0.999),
        backlog_per_s,
        cpu_ms_per_1000: pid_cpu(peer.pid).saturating_sub(cpu).as_secs_f64() * 1000.0
            / ((n + backlog) as f64 / 1000.0),
        rss_idle,
        rss_peak: pid_memory(peer.pid).1,
    }
}

#[tokio::main]
async fn main() {
    let (listen, peers, rounds, rate, seconds, backlog) = options();
    assert!(!peers.is_empty(), "name at least one --peer");
    let apps: Apps = Arc::new(
        peers
            .iter()
            .map(|p| (p.name.clone(), Arc::new(Received::default())))
            .collect(),
    );
    serve_app(&listen, Arc::clone(&apps)).await;
    let producer = raw_producer().await;
    // Warm-up: each peer delivers a first record (subscribed, partitions assigned), then a
    // thousand (connections, JIT of a JVM peer).
    for peer in &peers {
        let got = &apps[&peer.name];
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
            let got = round(&producer, peer, &apps[&peer.name], (rate, seconds, backlog)).await;
            eprintln!(
                "round {r} {}: e2e p50 {:.2} p99 {:.2} ms at {rate}/s, backlog {:.0} rec/s, \
                 {:.1} CPU ms/1000, RSS {:.1} → {:.1} MiB",
                peer.name,
                got.p50,
                got.p99,
                got.backlog_per_s,
                got.cpu_ms_per_1000,
                got.rss_idle,
                got.rss_peak
            );
            results[i].push(got);
        }
    }
    println!(
        "| peer | send → app p50 / p90 / p99 / p99.9 ms at {rate} rec/s of 1 KB | backlog of \
         {backlog} × 100 B, records/s to the app | CPU ms / 1,000 records | RSS idle / peak MiB |"
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
