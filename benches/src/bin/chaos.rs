//! The reliability harness: kafkadeps' three paths driven at a fixed rate on the local 3-broker
//! cluster while faults are injected, one phase each, and every acknowledged record accounted
//! for at the app's acknowledgement boundary — the way Kafka's `replication_test.py` and Jepsen's
//! Kafka analyses count. See `docs/reliability.md`.
//!
//! ```sh
//! scripts/kafka.sh up --brokers 3
//! cargo build --release -p kafkadeps-benches --bin chaos --bin chaos-service -p kafkadeps-sidecar
//! KAFKADEPS_SIDECAR_BIN=$(scripts/build-sidecar.sh) $CARGO_TARGET_DIR/release/chaos [--short] [--json FILE] [--phases 0,4]
//! ```
//!
//! `--short`: 60 records/s per path, 12 s phases, 2 kills (the test suite's run); otherwise
//! 200/s, 40 s and 4. `--json FILE`: the configuration, one row per phase and path and the
//! shutdown exits. `--phases`: run only these phases (indexes into the table, baseline is 0).
//! The SDK service logs to `chaos-service.log` in the run's directory: `CHAOS_SERVICE_LOG` is its
//! `RUST_LOG` (default `warn`), `CHAOS_SERVICE_DEBUG=broker,cgrp` librdkafka debug contexts for
//! it. Exit codes: 0 all
//! targets of correctness held, 1 a record was lost, a key was reordered or a process outlived
//! its grace, 64 bad arguments.
//!
//! Paths: **sdk** — the harness's SDK producer → topic → `chaos-service` (the SDK consumer
//! runtime, a process of its own) → output topic, read back; **push** — HTTP produce requests to a
//! sidecar (with `Idempotency-Key`) → topic → pushed to the harness's HTTP app; **pull** — the
//! same through a second sidecar, polled and committed under leases by the harness's pull app.
//! Each record carries its id, key, per-key sequence number, send time and phase.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkadeps_tests::sidecar::Sidecar;
use kafkadeps_tests::{kafka_sh, metadata_client, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

const KEYS: u32 = 48;
const PARTITIONS: i32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Path3 {
    Sdk,
    Push,
    Pull,
}

const PATHS: [Path3; 3] = [Path3::Sdk, Path3::Push, Path3::Pull];

impl Path3 {
    fn name(self) -> &'static str {
        match self {
            Self::Sdk => "sdk",
            Self::Push => "push",
            Self::Pull => "pull",
        }
    }
}

/// What every record carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    id: u64,
    key: u32,
    seq: u32,
    sent_ms: i64,
    phase: usize,
}

/// One record the harness sent.
#[derive(Debug, Clone)]
struct Sent {
    path: Path3,
    phase: usize,
    acked: bool,
}

/// One record an app processed (first or again).
#[derive(Debug, Clone)]
struct Processed {
    path: Path3,
    payload: Payload,
    at_ms: i64,
}

/// Everything observed, shared by the tasks.
#[derive(Default)]
struct Ledger {
    sent: Mutex<HashMap<u64, Sent>>,
    processed: Mutex<Vec<Processed>>,
    refused: Mutex<BTreeMap<(usize, Path3, String), u64>>,
    /// When each phase began (ms since the epoch, phase index), in order.
    began: Mutex<Vec<(i64, usize)>>,
}

impl Ledger {
    fn processed(&self, path: Path3, payload: Payload) {
        if let Ok(mut p) = self.processed.lock() {
            p.push(Processed {
                path,
                payload,
                at_ms: now_ms(),
            });
        }
    }
    /// The phase running at `ms`.
    fn phase_at(began: &[(i64, usize)], ms: i64) -> usize {
        began
            .iter()
            .take_while(|(at, _)| *at <= ms)
            .last()
            .map_or(0, |(_, phase)| *phase)
    }
    /// Acknowledged records not processed yet.
    fn unprocessed(&self) -> usize {
        let done: std::collections::HashSet<(Path3, u64)> = self
            .processed
            .lock()
            .map(|p| p.iter().map(|p| (p.path, p.payload.id)).collect())
            .unwrap_or_default();
        self.sent
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|(id, sent)| sent.acked && !done.contains(&(sent.path, **id)))
                    .count()
            })
            .unwrap_or(0)
    }
    fn refused(&self, phase: usize, path: Path3, why: String) {
        if let Ok(mut r) = self.refused.lock() {
            *r.entry((phase, path, why)).or_default() += 1;
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// The run's knobs (`--short` for the test suite).
#[derive(Debug, Clone, Serialize)]
struct Config {
    rate: u32,
    phase_secs: u64,
    kills: u32,
    short: bool,
    /// Indexes into [`PHASES`] to run (all by default; `--phases 0,1`).
    phases: Vec<usize>,
    /// `KAFKA_GROUP_PROTOCOL` of every consumer (`--group-protocol consumer|classic`; unset:
    /// each one's default, `auto`).
    group_protocol: Option<String>,
}

/// The fault phases, in order.
const PHASES: &[&str] = &[
    "baseline",
    "broker kill -9 (a leader)",
    "broker SIGSTOP 10 s",
    "rolling restart",
    "5x traffic spike",
    "consumer SIGKILL",
    "sidecar SIGKILL",
    "pull app restart",
    "rebalance storm",
    "cluster stop + SIGTERM",
];

/// How long a phase's backlog may take to drain before the next phase starts anyway (a killed
/// group member's partitions move only after its session timeout, 45 s by default).
const SETTLE: Duration = Duration::from_secs(150);
/// The sidecar's documented shutdown grace (`KAFKA_SIDECAR_SHUTDOWN_GRACE`, default).
const SIDECAR_GRACE: Duration = Duration::from_secs(25);
/// chaos-service's: the consumer runtime's default grace (30 s) and its producer flush (10 s).
const SERVICE_GRACE: Duration = Duration::from_secs(40);

/// The processes and topics of a run.
struct Rig {
    dir: PathBuf,
    sdk_in: String,
    sdk_out: String,
    sdk_group: String,
    push_topic: String,
    pull_topic: String,
    pull_group: String,
    /// `KAFKA_GROUP_PROTOCOL` for the SDK service, if chosen.
    group_protocol: Option<String>,
    services: Mutex<Vec<Child>>,
    /// A restarted sidecar keeps its addresses.
    push_sidecar: tokio::sync::Mutex<Sidecar>,
    pull_sidecar: tokio::sync::Mutex<Sidecar>,
    /// How each process ended in the cluster-stop phase.
    exits: Mutex<Vec<Exit>>,
}

/// How a process ended after SIGTERM while the cluster went away.
#[derive(Debug, Clone, Serialize)]
struct Exit {
    process: &'static str,
    code: Option<i32>,
    exit_ms: u64,
    grace_ms: u64,
}

impl Exit {
    fn within_grace(&self) -> bool {
        self.exit_ms <= self.grace_ms
    }
}

fn service_bin() -> PathBuf {
    std::env::current_exe()
        .expect("exe")
        .with_file_name("chaos-service")
}

impl Rig {
    /// Waits (90 s at most) until every partition of the three input topics is fully
    /// replicated again after a broker fault.
    fn wait_in_sync(&self) {
        wait_in_sync(
            &[&self.sdk_in, &self.push_topic, &self.pull_topic],
            Duration::from_secs(90),
        );
    }

    fn spawn_service(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("chaos-service.log"))
            .expect("log");
        Command::new(service_bin())
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", kafkadeps_tests::bootstrap())
            .env("KAFKA_APP", "chaos-service")
            .env("KAFKA_GROUP_ID", &self.sdk_group)
            .env(
                "KAFKA_CONSUMES",
                format!("{}(min.partitions={PARTITIONS})", self.sdk_in),
            )
            .env(
                "KAFKA_PRODUCES",
                format!("{}(partitions={PARTITIONS})", self.sdk_out),
            )
            .env("KAFKA_METRICS_LISTEN", "off")
            .env(
                "RUST_LOG",
                std::env::var("CHAOS_SERVICE_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .envs(std::env::var("CHAOS_SERVICE_DEBUG").map(|d| ("KAFKA_CLIENT_DEBUG", d)))
            .envs(
                self.group_protocol
                    .iter()
                    .map(|p| ("KAFKA_GROUP_PROTOCOL", p.as_str())),
            )
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("chaos-service next to chaos (cargo build --bin chaos-service)")
    }
}

fn term(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn reap(mut child: Child, deadline: Duration) {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The node leading partition 0 of `topic`.
fn leader(topic: &str) -> Option<i32> {
    let md = metadata_client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()?;
    md.topics()
        .first()?
        .partitions()
        .iter()
        .find(|p| p.id() == 0)
        .map(|p| p.leader())
        .filter(|l| *l > 0)
}

/// Waits until every partition of `topics` has its full ISR again.
fn wait_in_sync(topics: &[&str], deadline: Duration) {
    let started = Instant::now();
    while started.elapsed() < deadline {
        let ok = topics.iter().all(|t| {
            metadata_client()
                .fetch_metadata(Some(t), Duration::from_secs(5))
                .ok()
                .and_then(|md| {
                    md.topics().first().map(|t| {
                        t.partitions()
                            .iter()
                            .all(|p| p.isr().len() == p.replicas().len() && p.leader() > 0)
                    })
                })
                .unwrap_or(false)
        });
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("chaos: partitions still not in sync after {deadline:?}");
}

fn broker_pid(node: i32) -> Option<String> {
    let cache = std::env::var("KAFKADEPS_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/kafkadeps",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    std::fs::read_to_string(format!("{cache}/run/b3/node{node}/pid"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Sends one path's records: a task per key, each record in turn (a key's records in order), at
/// `rate` records a second over all keys (times the spike factor), each retried until
/// acknowledged (HTTP with its `Idempotency-Key`) or the run stops.
#[allow(clippy::too_many_arguments)]
fn producers(
    path: Path3,
    ledger: &Arc<Ledger>,
    ids: &Arc<AtomicU64>,
    phase: &Arc<AtomicUsize>,
    spike: &Arc<AtomicU32>,
    running: &Arc<AtomicBool>,
    rate: u32,
    sdk: Option<(kafkadeps::Producer, String)>,
    http: Option<(String, String)>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..KEYS)
        .map(|key| {
            let (ledger, ids, phase, spike, running) = (
                Arc::clone(ledger),
                Arc::clone(ids),
                Arc::clone(phase),
                Arc::clone(spike),
                Arc::clone(running),
            );
            let (sdk, http) = (sdk.clone(), http.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                let mut next = tokio::time::Instant::now();
                let mut seq = 0u32;
                while running.load(Ordering::SeqCst) {
                    let per_key = f64::from(rate * spike.load(Ordering::SeqCst)) / f64::from(KEYS);
                    next += Duration::from_secs_f64(1.0 / per_key.max(0.1));
                    tokio::time::sleep_until(next).await;
                    let id = ids.fetch_add(1, Ordering::SeqCst);
                    let ph = phase.load(Ordering::SeqCst);
                    let payload = Payload {
                        id,
                        key,
                        seq,
                        sent_ms: now_ms(),
                        phase: ph,
                    };
                    seq += 1;
                    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
                    if let Ok(mut s) = ledger.sent.lock() {
                        s.insert(id, Sent { path, phase: ph, acked: false });
                    }
                    let key_text = format!("k{key}");
                    let acked = loop {
                        if !running.load(Ordering::SeqCst) {
                            break false;
                        }
                        let result: Result<(), String> = if let Some((producer, topic)) = &sdk {
                            producer
                                .send(
                                    kafkadeps::OutgoingRecord::new(topic.as_str())
                                        .with_key(&key_text)
                                        .with_payload(bytes.as_slice()),
                                )
                                .await
                                .map(|_| ())
                                .map_err(|e| match e {
                                    kafkadeps::ProduceError::Delivery { source, .. } => source
                                        .rdkafka_error_code()
                                        .map_or_else(|| "error".to_owned(), |c| format!("{c:?}")),
                                    other => other.to_string(),
                                })
                        } else if let Some((base, topic)) = &http {
                            let body = serde_json::json!({"records": [{
                                "key": key_text,
                                "value": serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
                            }]});
                            match client
                                .post(format!("{base}/v1/topics/{topic}/records"))
                                .header("idempotency-key", format!("chaos-{id}"))
                                .json(&body)
                                .send()
                                .await
                            {
                                Ok(r) if r.status() == 200 => Ok(()),
                                Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                                Err(e) if e.is_connect() => Err("connection refused".to_owned()),
                                Err(e) if e.is_timeout() => Err("timeout".to_owned()),
                                Err(_) => Err("connection error".to_owned()),
                            }
                        } else {
                            Ok(())
                        };
                        match result {
                            Ok(()) => break true,
                            Err(why) => {
                                ledger.refused(ph, path, why);
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    };
                    if acked
                        && let Ok(mut s) = ledger.sent.lock()
                        && let Some(sent) = s.get_mut(&id)
                    {
                        sent.acked = true;
                    }
                }
            })
        })
        .collect()
}

/// Reads what chaos-service processed (its output topic) into the ledger.
fn read_sdk_output(topic: String, ledger: Arc<Ledger>, running: Arc<AtomicBool>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafkadeps_tests::bootstrap())
        .set("group.id", unique("chaos-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        // A position the restarted cluster no longer knows is read again from the start, not
        // skipped to the end (what was read already is recognised by its offset and id).
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let _ = tpl.add_partition_offset(&topic, p, Offset::Beginning);
    }
    consumer.assign(&tpl).expect("assign");
    // An offset alone does not name a record: when the whole cluster stops, a leader's records
    // above what its followers had (never acknowledged to the service, which writes them again)
    // can be visible for a moment and then truncated, and the offsets are reused by the records
    // written after the restart.
    let mut read = std::collections::HashSet::new();
    while running.load(Ordering::SeqCst) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200))
            && let Some(payload) = m
                .payload()
                .and_then(|b| serde_json::from_slice::<Payload>(b).ok())
            && read.insert((m.partition(), m.offset(), payload.id))
            && let Ok(mut p) = ledger.processed.lock()
        {
            p.push(Processed {
                path: Path3::Sdk,
                payload,
                at_ms: m.timestamp().to_millis().unwrap_or_else(now_ms),
            });
        }
    }
}

/// The pushed records' app: `POST /kafka/{topic}` with the sidecar's envelope.
async fn push_app(ledger: Arc<Ledger>) -> String {
    use axum::Router;
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route(
        "/kafka/{topic}",
        post(move |axum::Json(envelope): axum::Json<serde_json::Value>| {
            let ledger = Arc::clone(&ledger);
            async move {
                if let Ok(p) = serde_json::from_value::<Payload>(envelope["value"].clone()) {
                    ledger.processed(Path3::Push, p);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/kafka")
}

/// The pull app: polls and commits under leases; `restart` abandons the batch in hand half
/// processed (an app container dying mid-batch) and starts again with no lease.
async fn pull_app(
    base: String,
    group: String,
    ledger: Arc<Ledger>,
    running: Arc<AtomicBool>,
    restart: Arc<AtomicBool>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    while running.load(Ordering::SeqCst) {
        let polled = client
            .post(format!("{base}/v1/consumers/{group}/poll"))
            .json(&serde_json::json!({"max_records": 50, "timeout_ms": 500}))
            .send()
            .await;
        let Ok(response) = polled else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Ok(body) = response.json::<serde_json::Value>().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let records = body["records"].as_array().cloned().unwrap_or_default();
        let Some(lease) = body["lease"].as_str().map(str::to_owned) else {
            continue;
        };
        let dying = restart.swap(false, Ordering::SeqCst);
        let take = if dying {
            records.len() / 2
        } else {
            records.len()
        };
        let mut next: BTreeMap<(String, i64), i64> = BTreeMap::new();
        for r in &records[..take] {
            if let Ok(p) = serde_json::from_value::<Payload>(r["value"].clone()) {
                ledger.processed(Path3::Pull, p);
            }
            let (t, part, off) = (
                r["topic"].as_str().unwrap_or_default().to_owned(),
                r["partition"].as_i64().unwrap_or(0),
                r["offset"].as_i64().unwrap_or(0),
            );
            let e = next.entry((t, part)).or_insert(0);
            *e = (*e).max(off + 1);
        }
        if dying {
            continue;
        }
        let offsets: Vec<_> = next
            .iter()
            .map(|((t, p), o)| serde_json::json!({"topic": t, "partition": p, "offset": o}))
            .collect();
        let _ = client
            .post(format!("{base}/v1/consumers/{group}/commit"))
            .json(&serde_json::json!({"lease": lease, "offsets": offsets}))
            .send()
            .await;
    }
}

/// One phase's fault, run while the phase's records flow.
async fn fault(
    phase: &str,
    rig: &Arc<Rig>,
    cfg: &Config,
    restart: &Arc<AtomicBool>,
    spike: &Arc<AtomicU32>,
) {
    let secs = Duration::from_secs(cfg.phase_secs);
    let blocking = |f: Box<dyn FnOnce() + Send>| tokio::task::spawn_blocking(f);
    match phase {
        "broker kill -9 (a leader)" => {
            let rig = Arc::clone(rig);
            let _ = blocking(Box::new(move || {
                let node = leader(&rig.sdk_in).unwrap_or(1).to_string();
                kafka_sh(&["kill", &node]);
                std::thread::sleep(Duration::from_secs(10).min(secs));
                kafka_sh(&["start", &node]);
                rig.wait_in_sync();
            }))
            .await;
        }
        "broker SIGSTOP 10 s" => {
            let rig = Arc::clone(rig);
            let _ = blocking(Box::new(move || {
                let node = leader(&rig.sdk_in).unwrap_or(2);
                if let Some(pid) = broker_pid(node) {
                    let _ = Command::new("kill").args(["-STOP", &pid]).status();
                    std::thread::sleep(Duration::from_secs(10));
                    let _ = Command::new("kill").args(["-CONT", &pid]).status();
                }
                rig.wait_in_sync();
            }))
            .await;
        }
        "rolling restart" => {
            let rig = Arc::clone(rig);
            let _ = blocking(Box::new(move || {
                for node in ["1", "2", "3"] {
                    kafka_sh(&["stop", node]);
                    kafka_sh(&["start", node]);
                    rig.wait_in_sync();
                }
            }))
            .await;
        }
        "5x traffic spike" => {
            spike.store(5, Ordering::SeqCst);
            tokio::time::sleep(secs).await;
            spike.store(1, Ordering::SeqCst);
        }
        "consumer SIGKILL" => {
            for _ in 0..cfg.kills {
                tokio::time::sleep(secs / (cfg.kills + 1)).await;
                if let Ok(mut services) = rig.services.lock() {
                    if let Some(mut s) = services.pop() {
                        let _ = s.kill();
                        let _ = s.wait();
                    }
                    services.push(rig.spawn_service());
                }
            }
        }
        "sidecar SIGKILL" => {
            tokio::time::sleep(secs / 3).await;
            for sidecar in [&rig.push_sidecar, &rig.pull_sidecar] {
                let mut s = sidecar.lock().await;
                s.signal("-KILL");
                let restarted = s.restart(&rig.dir);
                *s = restarted;
            }
        }
        "cluster stop + SIGTERM" => {
            tokio::time::sleep(secs / 3).await;
            let exits = cluster_goes_away(rig).await;
            if let Ok(mut e) = rig.exits.lock() {
                e.extend(exits);
            }
        }
        "pull app restart" => {
            for _ in 0..cfg.kills {
                tokio::time::sleep(secs / (cfg.kills + 1)).await;
                restart.store(true, Ordering::SeqCst);
            }
        }
        "rebalance storm" => {
            let step = Duration::from_secs(3);
            let started = Instant::now();
            let mut joined: Vec<Child> = Vec::new();
            while started.elapsed() < secs {
                if joined.len() < 2 {
                    joined.push(rig.spawn_service());
                } else if let Some(member) = joined.pop() {
                    term(&member);
                    let _ =
                        tokio::task::spawn_blocking(move || reap(member, Duration::from_secs(40)))
                            .await;
                }
                tokio::time::sleep(step).await;
            }
            for member in joined {
                term(&member);
                let _ = tokio::task::spawn_blocking(move || reap(member, Duration::from_secs(40)))
                    .await;
            }
        }
        _ => {}
    }
}

/// A whole namespace or node going down: the brokers get SIGTERM at the same moment as the SDK
/// service and both sidecars. Measures how long each client process takes to exit, then brings
/// everything back (the cluster, then the clients) so what was acknowledged before is processed.
async fn cluster_goes_away(rig: &Arc<Rig>) -> Vec<Exit> {
    let brokers: Vec<String> = (1..=3).filter_map(broker_pid).collect();
    let services = rig
        .services
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    let at = Instant::now();
    let _ = Command::new("kill").arg("-TERM").args(&brokers).status();
    for s in &services {
        term(s);
    }
    let (mut push, mut pull) = (rig.push_sidecar.lock().await, rig.pull_sidecar.lock().await);
    push.signal("-TERM");
    pull.signal("-TERM");
    let elapsed_ms = |at: Instant| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
    let service_exits = tokio::task::spawn_blocking(move || {
        services
            .into_iter()
            .map(|mut child| {
                let deadline = SERVICE_GRACE * 3;
                while child.try_wait().ok().flatten().is_none() && at.elapsed() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let code = child.try_wait().ok().flatten().and_then(|s| s.code());
                let exit_ms = elapsed_ms(at);
                let _ = child.kill();
                let _ = child.wait();
                Exit {
                    process: "sdk service",
                    code,
                    exit_ms,
                    grace_ms: u64::try_from(SERVICE_GRACE.as_millis()).unwrap_or(u64::MAX),
                }
            })
            .collect::<Vec<_>>()
    });
    let mut exits = Vec::new();
    for (name, sidecar) in [("push sidecar", &mut push), ("pull sidecar", &mut pull)] {
        while sidecar.running() && at.elapsed() < SIDECAR_GRACE * 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        exits.push(Exit {
            process: name,
            code: sidecar.exited().and_then(|s| s.code()),
            exit_ms: elapsed_ms(at),
            grace_ms: u64::try_from(SIDECAR_GRACE.as_millis()).unwrap_or(u64::MAX),
        });
    }
    exits.extend(service_exits.await.unwrap_or_default());
    // The brokers' own shutdown (KRaft quorum gone) may stall: a minute, then SIGKILL.
    let _ = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let alive = |pid: &String| {
            Command::new("kill")
                .args(["-0", pid])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        while brokers.iter().any(alive) && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
        }
        // Those that exited are gone already: no "No such process" noise.
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&brokers)
            .stderr(Stdio::null())
            .status();
    })
    .await;
    let topics = [
        rig.sdk_in.clone(),
        rig.push_topic.clone(),
        rig.pull_topic.clone(),
    ];
    let _ = tokio::task::spawn_blocking(move || {
        kafkadeps_tests::start_all_brokers();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        wait_in_sync(&topics, Duration::from_secs(120));
    })
    .await;
    for sidecar in [&mut push, &mut pull] {
        let restarted = sidecar.restart(&rig.dir);
        **sidecar = restarted;
    }
    if let Ok(mut services) = rig.services.lock() {
        services.push(rig.spawn_service());
    }
    exits
}

/// One row of the table.
#[derive(Debug, Serialize)]
struct Row {
    phase: String,
    path: &'static str,
    acknowledged: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    refused: BTreeMap<String, u64>,
    p50_ms: i64,
    p99_ms: i64,
    max_ms: i64,
    /// Where the lost records are, once [`locate_lost`] looked (absent when none was lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    lost_where: Option<LostWhere>,
    #[serde(skip)]
    lost_ids: Vec<u64>,
}

/// Where a row's lost records are: still in the path's input topic (an app or sidecar
/// acknowledged work it never did) or gone from it (Kafka lost records it acknowledged).
#[derive(Debug, Serialize)]
struct LostWhere {
    in_input_topic: u64,
    missing_from_input_topic: u64,
    /// Of those in the input topic, how many sit below the group's committed offset: the
    /// consumer committed past them without their output.
    below_committed_offset: u64,
    /// How many are in the output topic after all (the SDK path: the harness's reader missed
    /// them, the service did not).
    #[serde(skip_serializing_if = "Option::is_none")]
    in_output_topic: Option<u64>,
    /// How many are in the consumer's dead-letter topic (its retries ran out).
    dead_lettered: u64,
}

fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rows(ledger: &Ledger, phases: &[usize]) -> Vec<Row> {
    let sent = ledger.sent.lock().map(|s| s.clone()).unwrap_or_default();
    let processed = ledger
        .processed
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    let refused = ledger.refused.lock().map(|r| r.clone()).unwrap_or_default();
    let began = ledger.began.lock().map(|b| b.clone()).unwrap_or_default();
    // First processing of each id and per-key order over first processings. A record processed
    // again, and a key's record processed before an earlier one, count in the phase running when
    // it happened (a crash redelivers what was sent before it).
    let mut first: HashMap<(Path3, u64), &Processed> = HashMap::new();
    let mut again: HashMap<(Path3, u64), usize> = HashMap::new();
    let mut highest: HashMap<(Path3, u32), u32> = HashMap::new();
    let mut reordered: HashMap<(usize, Path3), u64> = HashMap::new();
    for p in &processed {
        let id = (p.path, p.payload.id);
        if first.contains_key(&id) {
            again
                .entry(id)
                .or_insert_with(|| Ledger::phase_at(&began, p.at_ms));
            continue;
        }
        first.insert(id, p);
        let high = highest.entry((p.path, p.payload.key)).or_insert(0);
        if p.payload.seq < *high {
            *reordered
                .entry((Ledger::phase_at(&began, p.at_ms), p.path))
                .or_default() += 1;
        }
        *high = (*high).max(p.payload.seq);
    }
    let mut out = Vec::new();
    for (i, phase) in PHASES.iter().enumerate() {
        if !phases.contains(&i) {
            continue;
        }
        for path in PATHS {
            let mine: Vec<(u64, &Sent)> = sent
                .iter()
                .filter(|(_, s)| s.phase == i && s.path == path)
                .map(|(id, s)| (*id, s))
                .collect();
            let acked: Vec<u64> = mine
                .iter()
                .filter(|(_, s)| s.acked)
                .map(|(id, _)| *id)
                .collect();
            let lost: Vec<u64> = acked
                .iter()
                .filter(|id| !first.contains_key(&(path, **id)))
                .copied()
                .collect();
            if !lost.is_empty() {
                eprintln!(
                    "chaos: {phase} / {}: acknowledged, never processed: ids {:?}",
                    path.name(),
                    &lost[..lost.len().min(20)]
                );
            }
            let duplicated = again
                .iter()
                .filter(|((p, _), phase)| *p == path && **phase == i)
                .count();
            let mut delays: Vec<i64> = mine
                .iter()
                .filter_map(|(id, _)| first.get(&(path, *id)))
                .map(|p| p.at_ms - p.payload.sent_ms)
                .collect();
            delays.sort_unstable();
            out.push(Row {
                phase: (*phase).to_owned(),
                path: path.name(),
                acknowledged: acked.len() as u64,
                lost: lost.len() as u64,
                duplicated: duplicated as u64,
                reordered: reordered.get(&(i, path)).copied().unwrap_or(0),
                refused: refused
                    .iter()
                    .filter(|((ph, p, _), _)| *ph == i && *p == path)
                    .map(|((_, _, why), n)| (why.clone(), *n))
                    .collect(),
                p50_ms: percentile(&delays, 0.5),
                p99_ms: percentile(&delays, 0.99),
                max_ms: delays.last().copied().unwrap_or(0),
                lost_where: None,
                lost_ids: lost,
            });
        }
    }
    out
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<26} {:<5} {:>7} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8}  refused",
        "phase", "path", "acked", "lost", "dup", "reorder", "p50 ms", "p99 ms", "max ms"
    );
    for r in rows {
        let refused: Vec<String> = r.refused.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!(
            "{:<26} {:<5} {:>7} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8}  {}",
            r.phase,
            r.path,
            r.acknowledged,
            r.lost,
            r.duplicated,
            r.reordered,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            if refused.is_empty() {
                "-".to_owned()
            } else {
                refused.join(", ")
            }
        );
    }
}

fn print_exits(exits: &[Exit]) {
    if exits.is_empty() {
        return;
    }
    println!("\ncluster stop + SIGTERM: each process's exit after SIGTERM");
    println!(
        "{:<14} {:>6} {:>9} {:>9}  within grace",
        "process", "code", "exit ms", "grace ms"
    );
    for e in exits {
        println!(
            "{:<14} {:>6} {:>9} {:>9}  {}",
            e.process,
            e.code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            e.exit_ms,
            e.grace_ms,
            if e.within_grace() { "yes" } else { "NO" }
        );
    }
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("chaos"));
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let short = args.iter().any(|a| a == "--short");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let cfg = Config {
        rate: if short { 60 } else { 200 },
        phase_secs: if short { 12 } else { 40 },
        kills: if short { 2 } else { 4 },
        short,
        phases: match args.iter().position(|a| a == "--phases") {
            Some(i) => args
                .get(i + 1)
                .map(|list| {
                    list.split(',')
                        .filter_map(|n| n.trim().parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            None => (0..PHASES.len()).collect(),
        },
        group_protocol: args
            .iter()
            .position(|a| a == "--group-protocol")
            .map(|i| args.get(i + 1).cloned().unwrap_or_default()),
    };
    if cfg
        .group_protocol
        .as_deref()
        .is_some_and(|p| p != "consumer" && p != "classic")
    {
        eprintln!("chaos: --group-protocol takes consumer or classic");
        std::process::exit(64);
    }
    if cfg.phases.is_empty() || cfg.phases.iter().any(|i| *i >= PHASES.len()) {
        eprintln!(
            "chaos: --phases takes indexes 0..{} separated by commas",
            PHASES.len() - 1
        );
        std::process::exit(64);
    }
    let dir = scratch();
    eprintln!("chaos: {cfg:?}, logs in {}", dir.display());
    let push_topic = unique("chaos-push");
    let pull_topic = unique("chaos-pull");
    let pull_group = unique("chaos-pull-g");
    let ledger = Arc::new(Ledger::default());
    let app_url = push_app(Arc::clone(&ledger)).await;
    let sidecar = |topic: &str, group: &str, extra: &[(&str, &str)]| {
        let declared = format!("{topic}(partitions={PARTITIONS})");
        let mut env = vec![
            ("KAFKA_PRODUCES", declared.as_str()),
            ("KAFKA_CONSUMES", topic),
            ("KAFKA_GROUP_ID", group),
            ("RUST_LOG", "warn"),
        ];
        if let Some(p) = &cfg.group_protocol {
            env.push(("KAFKA_GROUP_PROTOCOL", p));
        }
        env.extend_from_slice(extra);
        Sidecar::start(&dir, &env)
    };
    let sdk_in = unique("chaos-sdk-in");
    let push_group = unique("chaos-push-g");
    let rig = Arc::new(Rig {
        dir: dir.clone(),
        sdk_out: unique("chaos-sdk-out"),
        sdk_group: unique("chaos-sdk-g"),
        push_sidecar: tokio::sync::Mutex::new(sidecar(
            &push_topic,
            &push_group,
            &[("KAFKA_SIDECAR_DELIVER_URL", &app_url)],
        )),
        pull_sidecar: tokio::sync::Mutex::new(sidecar(
            &pull_topic,
            &pull_group,
            &[("KAFKA_SIDECAR_PULL_LEASE", "5s")],
        )),
        sdk_in,
        push_topic,
        pull_topic,
        pull_group,
        group_protocol: cfg.group_protocol.clone(),
        services: Mutex::new(Vec::new()),
        exits: Mutex::new(Vec::new()),
    });
    let inputs = [
        Input {
            path: Path3::Sdk,
            topic: rig.sdk_in.clone(),
            group: rig.sdk_group.clone(),
            output: Some(rig.sdk_out.clone()),
        },
        Input {
            path: Path3::Push,
            topic: rig.push_topic.clone(),
            group: push_group,
            output: None,
        },
        Input {
            path: Path3::Pull,
            topic: rig.pull_topic.clone(),
            group: rig.pull_group.clone(),
            output: None,
        },
    ];
    let (push_url, push_admin) = {
        let s = rig.push_sidecar.lock().await;
        (s.url(), s.admin.clone())
    };
    let (pull_url, pull_admin) = {
        let s = rig.pull_sidecar.lock().await;
        (s.url(), s.admin.clone())
    };
    wait_ready(&push_admin).await;
    wait_ready(&pull_admin).await;
    if let Ok(mut services) = rig.services.lock() {
        services.push(rig.spawn_service());
    }
    let producer = kafkadeps::Kafka::start(
        kafkadeps::Settings::builder(kafkadeps_tests::bootstrap())
            .app("chaos")
            .produces(format!("{}(partitions={PARTITIONS})", rig.sdk_in))
            .metrics_listen("off")
            .build()
            .expect("settings"),
    )
    .await
    .expect("SDK producer");

    let (phase, spike) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU32::new(1)));
    let (running, consuming) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(true)),
    );
    let ids = Arc::new(AtomicU64::new(0));
    let restart = Arc::new(AtomicBool::new(false));
    let reader = {
        let (t, l, r) = (
            rig.sdk_out.clone(),
            Arc::clone(&ledger),
            Arc::clone(&consuming),
        );
        std::thread::spawn(move || read_sdk_output(t, l, r))
    };
    let puller = tokio::spawn(pull_app(
        pull_url.clone(),
        rig.pull_group.clone(),
        Arc::clone(&ledger),
        Arc::clone(&consuming),
        Arc::clone(&restart),
    ));
    let mut tasks = producers(
        Path3::Sdk,
        &ledger,
        &ids,
        &phase,
        &spike,
        &running,
        cfg.rate,
        Some((producer.producer(), rig.sdk_in.clone())),
        None,
    );
    for (path, url, topic) in [
        (Path3::Push, push_url, rig.push_topic.clone()),
        (Path3::Pull, pull_url, rig.pull_topic.clone()),
    ] {
        tasks.extend(producers(
            path,
            &ledger,
            &ids,
            &phase,
            &spike,
            &running,
            cfg.rate,
            None,
            Some((url, topic)),
        ));
    }

    for (i, name) in PHASES.iter().enumerate() {
        if !cfg.phases.contains(&i) {
            continue;
        }
        phase.store(i, Ordering::SeqCst);
        if let Ok(mut began) = ledger.began.lock() {
            began.push((now_ms(), i));
        }
        eprintln!("chaos: phase {i}: {name}");
        let started = Instant::now();
        fault(name, &rig, &cfg, &restart, &spike).await;
        let rest = Duration::from_secs(cfg.phase_secs).saturating_sub(started.elapsed());
        tokio::time::sleep(rest).await;
        // The next phase starts once this one's backlog is processed, so its figures are its own.
        let settle = Instant::now();
        while ledger.unprocessed() > 0 && settle.elapsed() < SETTLE {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    running.store(false, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let settle = Instant::now();
    while ledger.unprocessed() > 0 && settle.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Late duplicates (a redelivery after the last record was processed) still count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    consuming.store(false, Ordering::SeqCst);
    let _ = puller.await;
    let _ = reader.join();
    let services = rig
        .services
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    let _ = tokio::task::spawn_blocking(move || {
        for s in services {
            term(&s);
            reap(s, SERVICE_GRACE);
        }
    })
    .await;
    let _ = producer.shutdown(Duration::from_secs(10)).await;
    let exits = rig.exits.lock().map(|e| e.clone()).unwrap_or_default();
    // Every task holding the rig has ended: stop the sidecars the way Kubernetes would.
    if let Ok(rig) = Arc::try_unwrap(rig) {
        for sidecar in [rig.push_sidecar, rig.pull_sidecar] {
            let mut s = sidecar.into_inner();
            s.signal("-TERM");
            let _ = s.exit_code(SIDECAR_GRACE * 2).await;
        }
    }
    let mut table = rows(&ledger, &cfg.phases);
    locate_lost(&mut table, &inputs).await;
    print_table(&table);
    print_exits(&exits);
    if let Some(path) = json {
        let doc = serde_json::json!({ "config": cfg, "rows": table, "shutdown": exits });
        if let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default()) {
            eprintln!("chaos: cannot write {}: {e}", path.display());
        }
    }
    let failed = table.iter().any(|r| r.lost > 0 || r.reordered > 0)
        || exits.iter().any(|e| !e.within_grace());
    std::process::exit(i32::from(failed));
}

/// A path's topics and consumer group, where its lost records are looked for.
struct Input {
    path: Path3,
    topic: String,
    group: String,
    /// Where the path's app writes what it processed, if it does (the SDK service).
    output: Option<String>,
}

/// For every row that lost records, looks them up in the path's input topic and prints where
/// they are, so a loss names its culprit: Kafka (gone from the input topic) or the consumer
/// (still there, and maybe committed past).
async fn locate_lost(table: &mut [Row], inputs: &[Input]) {
    for input in inputs {
        let lost: std::collections::HashSet<u64> = table
            .iter()
            .filter(|r| r.path == input.path.name())
            .flat_map(|r| r.lost_ids.iter().copied())
            .collect();
        if lost.is_empty() {
            continue;
        }
        let (topic, group, output, dlq) = (
            input.topic.clone(),
            input.group.clone(),
            input.output.clone(),
            kafkadeps::consumer::dlq_topic(&input.topic),
        );
        let found = tokio::task::spawn_blocking(move || {
            let found = read_ids(&topic, &lost);
            let written = output.map(|out| read_ids(&out, &lost));
            let dead = read_ids(&dlq, &lost);
            let committed = kafkadeps_tests::committed_offsets(&group, &topic, PARTITIONS);
            (found, written, dead, committed)
        })
        .await;
        let Ok((found, written, dead, committed)) = found else {
            continue;
        };
        for row in table.iter_mut().filter(|r| r.path == input.path.name()) {
            if row.lost_ids.is_empty() {
                continue;
            }
            let here: Vec<(u64, i32, i64)> = row
                .lost_ids
                .iter()
                .filter_map(|id| found.get(id).map(|(p, o)| (*id, *p, *o)))
                .collect();
            let below = here
                .iter()
                .filter(|(_, p, o)| {
                    usize::try_from(*p)
                        .ok()
                        .and_then(|p| committed.get(p))
                        .is_some_and(|committed| o < committed)
                })
                .count() as u64;
            let in_output = written
                .as_ref()
                .map(|w| row.lost_ids.iter().filter(|id| w.contains_key(id)).count() as u64);
            let dead_lettered = row
                .lost_ids
                .iter()
                .filter(|id| dead.contains_key(id))
                .count();
            eprintln!(
                "chaos: {} / {}: of {} lost, {} are in {} (first: {:?}), {} are not; \
                 {below} below the committed offsets {:?}; in the output topic: {:?}; \
                 dead-lettered: {dead_lettered}",
                row.phase,
                row.path,
                row.lost_ids.len(),
                here.len(),
                input.topic,
                &here[..here.len().min(10)],
                row.lost_ids.len() - here.len(),
                committed,
                in_output,
            );
            row.lost_where = Some(LostWhere {
                in_input_topic: here.len() as u64,
                missing_from_input_topic: (row.lost_ids.len() - here.len()) as u64,
                below_committed_offset: below,
                in_output_topic: in_output,
                dead_lettered: dead_lettered as u64,
            });
        }
    }
}

/// Reads `topic` from the beginning to its end (read_committed, as the apps read it) and
/// returns where each of `wanted` sits: (partition, offset).
fn read_ids(topic: &str, wanted: &std::collections::HashSet<u64>) -> HashMap<u64, (i32, i64)> {
    let mut found = HashMap::new();
    let Ok(consumer) = ClientConfig::new()
        .set("bootstrap.servers", kafkadeps_tests::bootstrap())
        .set("group.id", unique("chaos-locate"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create::<BaseConsumer>()
    else {
        return found;
    };
    // The topic's own partitions: a dead-letter topic need not have the input's.
    let partitions: Vec<i32> = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()
        .and_then(|md| {
            md.topics()
                .first()
                .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        })
        .unwrap_or_default();
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in partitions {
        let _ = tpl.add_partition_offset(topic, p, Offset::Beginning);
        // An empty partition (low = high) has nothing to read.
        if let Ok((low, high)) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))
            && high > low
        {
            ends.insert(p, high);
        }
    }
    if consumer.assign(&tpl).is_err() {
        return found;
    }
    // The position, not the last record's offset, says a partition is read: read_committed
    // skips aborted records and transaction markers.
    let at_end = |consumer: &BaseConsumer| {
        consumer.position().is_ok_and(|tpl| {
            ends.iter().all(|(p, end)| {
                matches!(
                    tpl.find_partition(topic, *p).map(|e| e.offset()),
                    Some(Offset::Offset(o)) if o >= *end
                )
            })
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) && !at_end(&consumer) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200))
            && let Some(payload) = m
                .payload()
                .and_then(|b| serde_json::from_slice::<Payload>(b).ok())
            && wanted.contains(&payload.id)
        {
            found.insert(payload.id, (m.partition(), m.offset()));
        }
    }
    found
}

async fn wait_ready(admin: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if matches!(kafkadeps_tests::http_get(admin, "/readyz"), Ok((200, _))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("sidecar at {admin} not ready");
}
