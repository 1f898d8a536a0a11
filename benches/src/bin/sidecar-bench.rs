//! Producing through `kafkadeps-sidecar serve` against producing with the SDK directly, same
//! broker, same durable settings: throughput with single-record and 100-record requests, added
//! latency at a fixed rate, and the sidecar's resident memory idle and under load.
//!
//! ```sh
//! cargo build --release -p kafkadeps-benches --bin sidecar-bench
//! KAFKADEPS_SIDECAR_BIN=$(scripts/build-sidecar.sh) \
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092 \
//!   $CARGO_TARGET_DIR/release/sidecar-bench
//! ```

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kafkadeps_benches::{bootstrap, unique};
use kafkadeps_tests::sidecar::kafka_ms;

/// 100-byte JSON value.
fn value(i: usize) -> serde_json::Value {
    serde_json::json!({ "n": i, "pad": "x".repeat(80) })
}

struct Sidecar {
    child: Child,
    url: String,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sidecar {
    fn start(topic: &str) -> Self {
        // The shipped build (scripts/build-sidecar.sh) when named, else the one next to this.
        let bin = std::env::var_os(kafkadeps_tests::SIDECAR_BIN)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::env::current_exe()
                    .expect("exe")
                    .with_file_name("kafkadeps-sidecar")
            });
        let port = kafkadeps_tests::free_port();
        let child = Command::new(bin)
            .arg("serve")
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
            .env("KAFKA_PRODUCES", format!("{topic}(partitions=6)"))
            .env("KAFKA_TOPIC_REPLICAS", "clamp")
            .env("KAFKA_SIDECAR_LISTEN", format!("127.0.0.1:{port}"))
            .env("KAFKA_SIDECAR_MAX_BODY_BYTES", "16777216")
            .env("KAFKA_METRICS_LISTEN", "off")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("KAFKADEPS_SIDECAR_BIN, or kafkadeps-sidecar next to this binary");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `VmRSS` and `VmHWM` in MiB.
    fn memory(&self) -> (f64, f64) {
        kafkadeps_benches::pid_memory(self.child.id())
    }
}

async fn post(client: &reqwest::Client, url: &str, records: Vec<serde_json::Value>) {
    let r = client
        .post(url)
        .json(&serde_json::json!({ "records": records }))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// Posts one request; returns the milliseconds the sidecar added: the request's latency minus
/// the time it spent waiting for Kafka (its `Server-Timing: kafka;dur=<ms>` header).
async fn post_added_ms(client: &reqwest::Client, url: &str, record: serde_json::Value) -> f64 {
    let started = Instant::now();
    let r = client
        .post(url)
        .json(&serde_json::json!({ "records": [record] }))
        .send()
        .await
        .expect("request");
    let total = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(r.status(), 200);
    let kafka = kafka_ms(&r).expect("Server-Timing: kafka;dur=<ms>");
    total - kafka
}

/// Records per second through the sidecar: `clients` loops, `per_request` records each.
async fn sidecar_throughput(url: &str, total: usize, clients: usize, per_request: usize) -> f64 {
    let (client, url) = (reqwest::Client::new(), url.to_owned());
    kafkadeps_benches::requests_per_second(total, clients, per_request, move |r| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let records = (0..per_request)
                .map(|i| serde_json::json!({"key": format!("k{}", (r * per_request + i) % 1000), "value": value(i)}))
                .collect();
            post(&client, &url, records).await;
        }
    })
    .await
}

/// Records per second with the SDK, `concurrency` sends in flight.
async fn direct_throughput(
    p: &kafkadeps::Producer,
    topic: &str,
    total: usize,
    concurrency: usize,
) -> f64 {
    let start = Instant::now();
    let mut inflight = FuturesUnordered::new();
    for i in 0..total {
        let payload = serde_json::to_vec(&value(i)).expect("json");
        let record = kafkadeps::OutgoingRecord::new(topic)
            .with_key(format!("k{}", i % 1000))
            .with_payload(payload);
        let p = p.clone();
        inflight.push(async move { p.send(record).await });
        if inflight.len() >= concurrency {
            inflight.next().await.expect("one").expect("ack");
        }
    }
    while let Some(r) = inflight.next().await {
        r.expect("ack");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Latencies (ms) of single-record sends issued at `rate` per second for `duration`, through
/// `a` and `b` alternately at each tick, so both see the same broker conditions.
async fn latencies<A, B, FA, FB>(rate: u32, duration: Duration, a: A, b: B) -> (Vec<f64>, Vec<f64>)
where
    A: Fn(usize) -> FA,
    B: Fn(usize) -> FB,
    FA: std::future::Future<Output = ()> + Send + 'static,
    FB: std::future::Future<Output = ()> + Send + 'static,
{
    let timed = |fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
        tokio::spawn(async move {
            let t = Instant::now();
            fut.await;
            t.elapsed().as_secs_f64() * 1000.0
        })
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let n = (duration.as_secs_f64() * f64::from(rate)) as usize;
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        ticker.tick().await;
        if i % 2 == 0 {
            ta.push(timed(Box::pin(a(i))));
            tb.push(timed(Box::pin(b(i))));
        } else {
            tb.push(timed(Box::pin(b(i))));
            ta.push(timed(Box::pin(a(i))));
        }
    }
    let mut out = (Vec::with_capacity(n), Vec::with_capacity(n));
    for t in ta {
        out.0.push(t.await.expect("latency task"));
    }
    for t in tb {
        out.1.push(t.await.expect("latency task"));
    }
    out.0.sort_by(f64::total_cmp);
    out.1.sort_by(f64::total_cmp);
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let topic = unique("sidecar-bench");
    let sidecar = Sidecar::start(&topic);
    let client = reqwest::Client::new();
    let records_url = format!("{}/v1/topics/{topic}/records", sidecar.url);
    let started = Instant::now();
    loop {
        if let Ok(r) = client
            .post(&records_url)
            .json(&serde_json::json!({"records": [{"value": 0}]}))
            .send()
            .await
            && r.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sidecar not ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "sidecar start to first acknowledged record: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _) = sidecar.memory();

    let mut settings = kafkadeps_benches::settings(&topic, &unique("unused"));
    settings.topics.retain(|t| t.name == topic);
    let kafka = kafkadeps::Kafka::start(settings).await.expect("kafkadeps");
    let producer = kafka.producer();

    // SIDECAR_BENCH_ONLY=latency skips the throughput rounds.
    let latency_only = std::env::var("SIDECAR_BENCH_ONLY").is_ok_and(|v| v == "latency");
    let rounds = if latency_only { 0 } else { 3 };
    let (mut single, mut batched, mut direct_single, mut direct_batched) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        single.push(sidecar_throughput(&records_url, 30_000, 64, 1).await);
        direct_single.push(direct_throughput(&producer, &topic, 30_000, 64).await);
        batched.push(sidecar_throughput(&records_url, 200_000, 16, 100).await);
        direct_batched.push(direct_throughput(&producer, &topic, 200_000, 1600).await);
    }
    let (_, peak_rss) = sidecar.memory();

    let rate = 200;
    let window = Duration::from_secs(15);
    let added = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (via_sidecar, direct) = {
        let (client, url, added) = (client.clone(), records_url.clone(), Arc::clone(&added));
        let (producer, topic) = (producer.clone(), topic.clone());
        latencies(
            rate,
            window,
            move |i| {
                let (client, url, added) = (client.clone(), url.clone(), Arc::clone(&added));
                async move {
                    let record = serde_json::json!({"key": format!("k{i}"), "value": value(i)});
                    let ms = post_added_ms(&client, &url, record).await;
                    added.lock().expect("samples").push(ms);
                }
            },
            move |i| {
                let (producer, topic) = (producer.clone(), topic.clone());
                async move {
                    let record = kafkadeps::OutgoingRecord::new(topic)
                        .with_key(format!("k{i}"))
                        .with_payload(serde_json::to_vec(&value(i)).expect("json"));
                    producer.send(record).await.expect("ack");
                }
            },
        )
        .await
    };

    println!("| measure | via sidecar | direct SDK | sidecar/direct |");
    println!("|---|---|---|---|");
    let row = |name: &str, s: f64, d: f64| println!("| {name} | {s:.0} | {d:.0} | {:.2} |", s / d);
    row(
        "records/s, 1-record requests (64 clients)",
        median(single),
        median(direct_single),
    );
    row(
        "records/s, 100-record requests (16 clients)",
        median(batched),
        median(direct_batched),
    );
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (s, d) = (pct(&via_sidecar, p), pct(&direct, p));
        println!(
            "| {name} latency at {rate}/s each (ms) | {s:.2} | {d:.2} | {:+.2} ms |",
            s - d
        );
    }
    let mut added = std::mem::take(&mut *added.lock().expect("samples"));
    added.sort_by(f64::total_cmp);
    println!(
        "| added by the sidecar per request, p50 / p99 (ms; latency − Server-Timing kafka dur) | {:.2} / {:.2} | | |",
        pct(&added, 0.5),
        pct(&added, 0.99)
    );
    println!("| sidecar RSS idle / peak (MiB) | {idle_rss:.1} / {peak_rss:.1} | | |");
    let _ = kafka.shutdown(Duration::from_secs(10)).await;
}
