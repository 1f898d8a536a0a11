//! Producing over HTTP through running peers, side by side on the same broker and topic:
//! throughput with single-record and 100-record requests, the round trip at a fixed rate, the
//! peers' resident memory and their CPU per 1,000 records. Each peer is named with its produce
//! URL, the content type its produce API takes, and its process id (for memory and CPU):
//!
//! ```sh
//! http-peers \
//!   --peer 'kafkadeps-sidecar|http://127.0.0.1:8080/v1/topics/T/records|application/json|PID' \
//!   --peer 'strimzi-bridge|http://127.0.0.1:8081/topics/T|application/vnd.kafka.json.v2+json|PID' \
//!   [--rounds 3] [--rate 1000] [--seconds 10]
//! ```
//!
//! Both APIs take `{"records": [{"key": …, "value": …}]}` and answer 200 once the records are
//! acknowledged. `benches/peers/strimzi-bridge.sh` starts the peers and runs this.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kafkadeps_benches::{median, percentile as pct};

struct Peer {
    name: String,
    url: String,
    content_type: String,
    pid: u32,
}

fn peers_and_options() -> (Vec<Peer>, usize, u32, u64) {
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .cloned()
    };
    let peers = argv
        .windows(2)
        .filter(|w| w[0] == "--peer")
        .map(|w| {
            let parts: Vec<&str> = w[1].split('|').collect();
            let [name, url, content_type, pid] = parts[..] else {
                panic!("--peer NAME|URL|CONTENT_TYPE|PID, not {}", w[1]);
            };
            Peer {
                name: name.to_owned(),
                url: url.to_owned(),
                content_type: content_type.to_owned(),
                pid: pid.parse().expect("--peer …|PID"),
            }
        })
        .collect();
    (
        peers,
        value("--rounds").map_or(3, |v| v.parse().expect("--rounds N")),
        value("--rate").map_or(1000, |v| v.parse().expect("--rate N")),
        value("--seconds").map_or(10, |v| v.parse().expect("--seconds S")),
    )
}

/// A record of about `size` bytes of JSON.
fn record(i: usize, size: usize) -> serde_json::Value {
    serde_json::json!({"key": format!("k{}", i % 1000), "value": {"n": i, "pad": "x".repeat(size.saturating_sub(20))}})
}

async fn post(client: &reqwest::Client, peer: &Peer, records: Vec<serde_json::Value>) {
    let body = serde_json::to_vec(&serde_json::json!({ "records": records })).expect("JSON");
    let r = client
        .post(&peer.url)
        .header("content-type", &peer.content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    assert!(
        status.is_success(),
        "{}: {status} {:?}",
        peer.name,
        r.text().await
    );
}

/// Records per second: `clients` loops posting `per_request` records of 100 B each.
async fn throughput(peer: &Arc<Peer>, total: usize, clients: usize, per_request: usize) -> f64 {
    let client = reqwest::Client::new();
    let requests = total / per_request;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, peer, next) = (client.clone(), Arc::clone(peer), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let r = next.fetch_add(1, Ordering::Relaxed);
                    if r >= requests {
                        break;
                    }
                    let records = (0..per_request)
                        .map(|i| record(r * per_request + i, 100))
                        .collect();
                    post(&client, &peer, records).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    (requests * per_request) as f64 / start.elapsed().as_secs_f64()
}

/// Round trips (ms, sorted) of single 1 KB records posted at `rate` per second for `seconds`.
async fn latencies(peer: &Arc<Peer>, rate: u32, seconds: u64) -> Vec<f64> {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let n = usize::try_from(u64::from(rate) * seconds).expect("count");
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tick.tick().await;
        let (client, peer) = (client.clone(), Arc::clone(peer));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            post(&client, &peer, vec![record(i, 1000)]).await;
            t.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("latency task"));
    }
    out.sort_by(f64::total_cmp);
    out
}

/// `VmRSS` and `VmHWM` of `pid`, MiB.
fn memory(pid: u32) -> (f64, f64) {
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

/// User + system CPU seconds of `pid` (and its threads) so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

/// What one round measured of one peer.
#[derive(Default)]
struct Round {
    single: f64,
    batched: f64,
    cpu_ms_per_1000: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    rss_idle: f64,
    rss_load: f64,
}

const SINGLE: usize = 20_000;
const BATCHED: usize = 200_000;

async fn round(peer: &Arc<Peer>, rate: u32, seconds: u64) -> Round {
    let rss_idle = memory(peer.pid).0;
    let cpu = cpu_seconds(peer.pid);
    let single = throughput(peer, SINGLE, 64, 1).await;
    let batched = throughput(peer, BATCHED, 16, 100).await;
    let cpu_ms_per_1000 =
        (cpu_seconds(peer.pid) - cpu) * 1000.0 / ((SINGLE + BATCHED) as f64 / 1000.0);
    let l = latencies(peer, rate, seconds).await;
    Round {
        single,
        batched,
        cpu_ms_per_1000,
        p50: pct(&l, 0.5),
        p90: pct(&l, 0.9),
        p99: pct(&l, 0.99),
        p999: pct(&l, 0.999),
        rss_idle,
        rss_load: memory(peer.pid).1,
    }
}

#[tokio::main]
async fn main() {
    let (peers, rounds, rate, seconds) = peers_and_options();
    assert!(!peers.is_empty(), "name at least one --peer");
    let peers: Vec<Arc<Peer>> = peers.into_iter().map(Arc::new).collect();
    // Warm-up: one request first (a peer may create its Kafka producer on the first one), then
    // connections, metadata and the JIT of a JVM peer.
    for peer in &peers {
        throughput(peer, 1, 1, 1).await;
        throughput(peer, 2_000, 8, 1).await;
    }
    let mut results: Vec<Vec<Round>> = peers.iter().map(|_| Vec::new()).collect();
    for r in 0..rounds {
        // Alternate which peer goes first.
        let order: Vec<usize> = if r % 2 == 0 {
            (0..peers.len()).collect()
        } else {
            (0..peers.len()).rev().collect()
        };
        for i in order {
            let got = round(&peers[i], rate, seconds).await;
            eprintln!(
                "round {r} {}: {:.0} rec/s single, {:.0} rec/s batched, {:.1} CPU ms/1000, \
                 p50 {:.2} p99 {:.2} ms at {rate}/s, RSS {:.1} → {:.1} MiB",
                peers[i].name,
                got.single,
                got.batched,
                got.cpu_ms_per_1000,
                got.p50,
                got.p99,
                got.rss_idle,
                got.rss_load
            );
            results[i].push(got);
        }
    }
    println!(
        "| peer | records/s, 1-record requests (64 clients) | records/s, 100-record requests (16 clients) | \
         CPU ms / 1,000 records | p50 / p90 / p99 / p99.9 ms at {rate} req/s of 1 KB | RSS idle / peak MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for (peer, rounds) in peers.iter().zip(&results) {
        let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {:.2} / {:.2} / {:.2} / {:.2} | {:.1} / {:.1} |",
            peer.name,
            m(|r| r.single),
            m(|r| r.batched),
            m(|r| r.cpu_ms_per_1000),
            m(|r| r.p50),
            m(|r| r.p90),
            m(|r| r.p99),
            m(|r| r.p999),
            m(|r| r.rss_idle),
            m(|r| r.rss_load),
        );
    }
}
