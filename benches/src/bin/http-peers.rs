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
//!   [--direct T] [--rounds 3] [--rate 1000] [--seconds 20]
//! ```
//!
//! The sidecar's and the bridge's APIs take `{"records": [{"key": …, "value": …}]}`; a peer
//! marked `dapr` takes Dapr's publish and bulk publish requests (see [`Api::Dapr`]). All answer
//! success once the records are acknowledged. `benches/peers/http-peers.sh` starts the peers and
//! runs this.
//!
//! With `--direct T`, two more rows are measured in every round: this process producing the
//! fixed-rate phase's records to topic `T` itself with raw rdkafka and kafkadeps' durable
//! settings, timed from when each record was due to its acknowledgement, lingering 20 ms (the
//! sidecar's default) and 0 ms (sent at once). They are the baseline of each peer's added
//! latency: the peer's p50 and p99 minus those of the direct client with the same linger (a
//! peer's `linger=N` field, after its API; 20 by default). None of the peers lets its broker
//! acknowledgement be timed apart from its HTTP round trip, so this is what "added" means here.
//!
//! A round runs every row's throughput phases first, waits for the brokers to settle, then every
//! row's fixed-rate phase (each order alternating between rounds), so no tail carries the load
//! of a throughput phase.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkadeps_benches::{
    median, percentile as pct, pid_cpu, pid_memory, raw_producer_with, requests_per_second,
};
use rdkafka::producer::{FutureProducer, FutureRecord};

struct Peer {
    name: String,
    url: String,
    content_type: String,
    pid: u32,
    api: Api,
    /// The producer linger it is compared with (`linger=N`; 20 ms by default).
    linger_ms: u32,
}

/// A row of the table: a peer over HTTP, or the direct client producing with `linger_ms`.
enum Row {
    Http(Arc<Peer>),
    Direct {
        name: String,
        topic: String,
        linger_ms: u32,
        producer: FutureProducer,
    },
}

impl Row {
    fn name(&self) -> &str {
        match self {
            Row::Http(peer) => &peer.name,
            Row::Direct { name, .. } => name,
        }
    }
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

fn peers_and_options() -> (Vec<Peer>, Option<String>, usize, u32, u64) {
    let value = kafkadeps_benches::flag;
    let peers = kafkadeps_benches::flags("--peer")
        .into_iter()
        .map(|w| {
            let parts: Vec<&str> = w.split('|').collect();
            let (&[name, url, content_type, pid], extra) = parts.split_at(4.min(parts.len()))
            else {
                panic!("--peer NAME|URL|CONTENT_TYPE|PID[|records|dapr][|linger=N], not {w}");
            };
            let mut peer = Peer {
                name: name.to_owned(),
                url: url.to_owned(),
                content_type: content_type.to_owned(),
                pid: pid.parse().expect("--peer …|PID"),
                api: Api::Records,
                linger_ms: 20,
            };
            for field in extra {
                match *field {
                    "records" => peer.api = Api::Records,
                    "dapr" => peer.api = Api::Dapr,
                    other => match other.strip_prefix("linger=") {
                        Some(ms) => peer.linger_ms = ms.parse().expect("--peer …|linger=N"),
                        None => panic!("--peer …|PID|…: records, dapr or linger=N, not {other}"),
                    },
                }
            }
            peer
        })
        .collect();
    (
        peers,
        value("--direct"),
        value("--rounds").map_or(3, |v| v.parse().expect("--rounds N")),
        value("--rate").map_or(1000, |v| v.parse().expect("--rate N")),
        value("--seconds").map_or(20, |v| v.parse().expect("--seconds S")),
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

/// What one round measured of one row (NaN: not measured for it).
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

impl Round {
    fn unmeasured() -> Self {
        Self {
            single: f64::NAN,
            batched: f64::NAN,
            cpu_ms_per_1000: f64::NAN,
            p50: f64::NAN,
            p90: f64::NAN,
            p99: f64::NAN,
            p999: f64::NAN,
            rss_idle: f64::NAN,
            rss_load: f64::NAN,
        }
    }
}

const SINGLE: usize = 20_000;
const BATCHED: usize = 200_000;

/// Acknowledgement times (ms, sorted) of the fixed-rate phase's records produced directly,
/// each timed from when it was due.
async fn direct_latencies(
    producer: &FutureProducer,
    topic: &str,
    rate: u32,
    seconds: u64,
) -> Vec<f64> {
    let n = usize::try_from(u64::from(rate) * seconds).expect("count");
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut acks = Vec::with_capacity(n);
    for i in 0..n {
        let due = tick.tick().await.into_std();
        let r = record(i, 1000);
        let (key, value) = (
            r["key"].as_str().expect("key").to_owned(),
            serde_json::to_vec(&r["value"]).expect("JSON"),
        );
        let ack = producer
            .send_result(FutureRecord::to(topic).key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .expect("queued");
        // A task each, so an acknowledgement is timed when it arrives.
        acks.push(tokio::spawn(async move {
            ack.await.expect("ack").expect("produced");
            due.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut out = Vec::with_capacity(n);
    for ack in acks {
        out.push(ack.await.expect("ack task"));
    }
    out.sort_by(f64::total_cmp);
    out
}

/// The throughput phases of one row (nothing for the direct client): records/s, CPU, RSS.
async fn loaded(row: &Row) -> Round {
    let Row::Http(peer) = row else {
        return Round::unmeasured();
    };
    let rss_idle = pid_memory(peer.pid).0;
    let cpu = pid_cpu(peer.pid);
    let single = throughput(peer, SINGLE, 64, 1).await;
    let batched = throughput(peer, BATCHED, 16, 100).await;
    let cpu_ms_per_1000 = pid_cpu(peer.pid).saturating_sub(cpu).as_secs_f64() * 1000.0
        / ((SINGLE + BATCHED) as f64 / 1000.0);
    Round {
        single,
        batched,
        cpu_ms_per_1000,
        rss_idle,
        rss_load: pid_memory(peer.pid).1,
        ..Round::unmeasured()
    }
}

/// The fixed-rate phase of one row, into `round`.
async fn latency(row: &Row, rate: u32, seconds: u64, round: &mut Round) {
    let l = match row {
        Row::Http(peer) => {
            let l = latencies(peer, rate, seconds).await;
            round.rss_load = round.rss_load.max(pid_memory(peer.pid).1);
            l
        }
        Row::Direct {
            topic, producer, ..
        } => direct_latencies(producer, topic, rate, seconds).await,
    };
    round.p50 = pct(&l, 0.5);
    round.p90 = pct(&l, 0.9);
    round.p99 = pct(&l, 0.99);
    round.p999 = pct(&l, 0.999);
}

/// Between the throughput phases and the fixed-rate phases: the brokers finish what the load
/// left them (replication, log flushes), so no row's tail carries another's load.
const SETTLE: Duration = Duration::from_secs(5);

/// `v` with `decimals`, or a dash when it was not measured.
fn cell(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        "—".to_owned()
    } else {
        format!("{v:.decimals$}")
    }
}

#[tokio::main]
async fn main() {
    let (peers, direct, rounds, rate, seconds) = peers_and_options();
    assert!(!peers.is_empty(), "name at least one --peer");
    let mut rows: Vec<Row> = peers.into_iter().map(|p| Row::Http(Arc::new(p))).collect();
    for peer in &rows {
        if let Row::Http(peer) = peer {
            // Warm-up: one request first (a peer may create its Kafka producer on the first
            // one), then connections, metadata and the JIT of a JVM peer.
            throughput(peer, 1, 1, 1).await;
            throughput(peer, 2_000, 8, 1).await;
        }
    }
    if let Some(topic) = direct {
        for linger_ms in [20, 0] {
            let linger = linger_ms.to_string();
            rows.push(Row::Direct {
                name: format!("direct client (rdkafka, linger {linger_ms} ms)"),
                topic: topic.clone(),
                linger_ms,
                producer: raw_producer_with(&[("linger.ms", &linger)]).await,
            });
        }
    }
    let mut results: Vec<Vec<Round>> = rows.iter().map(|_| Vec::new()).collect();
    for r in 0..rounds {
        // Alternate which row goes first.
        let order: Vec<usize> = if r % 2 == 0 {
            (0..rows.len()).collect()
        } else {
            (0..rows.len()).rev().collect()
        };
        let mut got: Vec<Round> = Vec::new();
        for &i in &order {
            got.push(loaded(&rows[i]).await);
        }
        tokio::time::sleep(SETTLE).await;
        for (&i, got) in order.iter().zip(&mut got) {
            latency(&rows[i], rate, seconds, got).await;
        }
        for (i, got) in order.into_iter().zip(got) {
            eprintln!(
                "round {r} {}: {:.0} rec/s single, {:.0} rec/s batched, {:.1} CPU ms/1000, \
                 p50 {:.2} p99 {:.2} ms at {rate}/s, RSS {:.1} → {:.1} MiB",
                rows[i].name(),
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
    let medians: Vec<Round> = results
        .iter()
        .map(|rounds| {
            let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
            Round {
                single: m(|r| r.single),
                batched: m(|r| r.batched),
                cpu_ms_per_1000: m(|r| r.cpu_ms_per_1000),
                p50: m(|r| r.p50),
                p90: m(|r| r.p90),
                p99: m(|r| r.p99),
                p999: m(|r| r.p999),
                rss_idle: m(|r| r.rss_idle),
                rss_load: m(|r| r.rss_load),
            }
        })
        .collect();
    // The direct client's medians by linger: each peer's baseline.
    let baseline = |linger: u32| {
        rows.iter()
            .zip(&medians)
            .find(|(row, _)| matches!(row, Row::Direct { linger_ms, .. } if *linger_ms == linger))
            .map(|(_, m)| (m.p50, m.p99))
    };
    println!(
        "| peer | records/s, 1-record requests (64 clients) | records/s, 100-record requests (16 clients) | \
         CPU ms / 1,000 records | p50 / p90 / p99 / p99.9 ms at {rate} req/s of 1 KB | \
         added p50 / p99 ms (over the direct client, same linger) | RSS idle / peak MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (row, m) in rows.iter().zip(&medians) {
        let added = match row {
            Row::Http(peer) => baseline(peer.linger_ms).map_or_else(
                || "—".to_owned(),
                |(p50, p99)| format!("{:+.2} / {:+.2}", m.p50 - p50, m.p99 - p99),
            ),
            Row::Direct { .. } => "baseline".to_owned(),
        };
        println!(
            "| {} | {} | {} | {} | {:.2} / {:.2} / {:.2} / {:.2} | {added} | {} / {} |",
            row.name(),
            cell(m.single, 0),
            cell(m.batched, 0),
            cell(m.cpu_ms_per_1000, 1),
            m.p50,
            m.p90,
            m.p99,
            m.p999,
            cell(m.rss_idle, 1),
            cell(m.rss_load, 1),
        );
    }
}
