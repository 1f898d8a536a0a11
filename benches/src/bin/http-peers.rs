//! Producing over HTTP through running peers, side by side on the same broker and topic:
//! throughput with single-record and 100-record requests, the round trip at a fixed rate, the
//! peers' resident memory and their CPU per 1,000 records. Each peer is named with its produce
//! URL, the content type its produce API takes, and its process id (for memory and CPU):
//!
//! ```sh
//! http-peers \
//!   --peer 'kafkadeps-sidecar|http://127.0.0.1:8080/v1/topics/T/records|application/json|PID' \
//!   --peer 'strimzi-bridge|http://127.0.0.1:8081/topics/T|application/vnd.kafka.json.v2+json|PID' \
//!   --peer 'daprd|http://127.0.0.1:3500/v1.0/publish/kafka/T|application/json|PID|dapr' \
//!   [--rounds 3] [--rate 1000] [--seconds 10]
//! ```
//!
//! The sidecar's and the bridge's APIs take `{"records": [{"key": …, "value": …}]}`; a peer
//! marked `dapr` takes Dapr's publish and bulk publish requests (see [`Api::Dapr`]). All answer
//! success once the records are acknowledged. `benches/peers/http-peers.sh` starts the peers and
//! runs this.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkadeps_benches::{median, percentile as pct, pid_cpu, pid_memory, requests_per_second};

struct Peer {
    name: String,
    url: String,
    content_type: String,
    pid: u32,
    api: Api,
}

/// How a peer's produce API takes records.
#[derive(Clone, Copy)]
enum Api {
    /// `{"records": [{"key": …, "value": …}]}` to the URL (kafkadeps-sidecar, Strimzi bridge).
    Records,
    /// Dapr's publish API: one raw event per request to `…/v1.0/publish/PUBSUB/TOPIC`, or an
    /// array of entries to the bulk API `…/v1.0-alpha1/publish/bulk/PUBSUB/TOPIC`; keys as the
    /// `partitionKey` metadata, payloads raw (`metadata.rawPayload=true`, no CloudEvent).
    Dapr,
}

fn peers_and_options() -> (Vec<Peer>, usize, u32, u64) {
    let value = kafkadeps_benches::flag;
    let peers = kafkadeps_benches::flags("--peer")
        .into_iter()
        .map(|w| {
            let parts: Vec<&str> = w.split('|').collect();
            let (&[name, url, content_type, pid], api) = parts.split_at(4.min(parts.len())) else {
                panic!("--peer NAME|URL|CONTENT_TYPE|PID[|records|dapr], not {w}");
            };
            Peer {
                name: name.to_owned(),
                url: url.to_owned(),
                content_type: content_type.to_owned(),
                pid: pid.parse().expect("--peer …|PID"),
                api: match api {
                    [] | ["records"] => Api::Records,
                    ["dapr"] => Api::Dapr,
                    _ => panic!("--peer …|PID|API: records or dapr, not {w}"),
                },
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
    let (url, body) = match peer.api {
        Api::Records => (peer.url.clone(), serde_json::json!({ "records": records })),
        Api::Dapr if records.len() == 1 => {
            let r = &records[0];
            (
                format!(
                    "{}?metadata.rawPayload=true&metadata.partitionKey={}",
                    peer.url,
                    r["key"].as_str().expect("key")
                ),
                r["value"].clone(),
            )
        }
        Api::Dapr => {
            let entries: Vec<_> = records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    serde_json::json!({
                        "entryId": i.to_string(),
                        "event": r["value"],
                        "contentType": "application/json",
                        "metadata": {"partitionKey": r["key"]},
                    })
                })
                .collect();
            (
                format!(
                    "{}?metadata.rawPayload=true",
                    peer.url
                        .replacen("/v1.0/publish/", "/v1.0-alpha1/publish/bulk/", 1)
                ),
                serde_json::Value::Array(entries),
            )
        }
    };
    let r = client
        .post(url)
        .header("content-type", &peer.content_type)
        .body(serde_json::to_vec(&body).expect("JSON"))
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
    let (client, peer) = (reqwest::Client::new(), Arc::clone(peer));
    requests_per_second(total, clients, per_request, move |r| {
        let (client, peer) = (client.clone(), Arc::clone(&peer));
        async move {
            let records = (0..per_request)
                .map(|i| record(r * per_request + i, 100))
                .collect();
            post(&client, &peer, records).await;
        }
    })
    .await
}

/// Connections of the fixed-rate phase: a bounded pool, each one connection used by one request
/// at a time, as an application's HTTP client pool would be. (Unbounded, a peer that holds a
/// Kafka producer per connection — the Strimzi bridge — would be measured opening producers.)
const CONNECTIONS: usize = 32;

/// Round trips (ms, sorted) of single 1 KB records sent at `rate` per second for `seconds` over
/// [`CONNECTIONS`] connections. Each is timed from when it was due, so a peer that falls behind
/// the rate has its queueing counted (no coordinated omission).
async fn latencies(peer: &Arc<Peer>, rate: u32, seconds: u64) -> Vec<f64> {
    let n = usize::try_from(u64::from(rate) * seconds).expect("count");
    let (due_tx, due_rx) = tokio::sync::mpsc::channel::<(usize, Instant)>(n.max(1));
    let due_rx = Arc::new(tokio::sync::Mutex::new(due_rx));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (peer, due_rx) = (Arc::clone(peer), Arc::clone(&due_rx));
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            tokio::spawn(async move {
                let mut took = Vec::new();
                loop {
                    let next = due_rx.lock().await.recv().await;
                    let Some((i, due)) = next else { break };
                    post(&client, &peer, vec![record(i, 1000)]).await;
                    took.push(due.elapsed().as_secs_f64() * 1000.0);
                }
                took
            })
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..n {
        let due = tick.tick().await.into_std();
        due_tx.send((i, due)).await.expect("workers");
    }
    drop(due_tx);
    let mut out = Vec::with_capacity(n);
    for w in workers {
        out.extend(w.await.expect("latency worker"));
    }
    out.sort_by(f64::total_cmp);
    out
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
    let rss_idle = pid_memory(peer.pid).0;
    let cpu = pid_cpu(peer.pid);
    let single = throughput(peer, SINGLE, 64, 1).await;
    let batched = throughput(peer, BATCHED, 16, 100).await;
    let cpu_ms_per_1000 = pid_cpu(peer.pid).saturating_sub(cpu).as_secs_f64() * 1000.0
        / ((SINGLE + BATCHED) as f64 / 1000.0);
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
        rss_load: pid_memory(peer.pid).1,
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
