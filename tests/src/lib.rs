//! Shared helpers for the integration tests: where the real cluster is, unique names, the
//! `scripts/kafka.sh` fault helpers, and polling with deadlines.
//!
//! The tests expect the 3-broker cluster of `scripts/kafka.sh up --brokers 3` unless
//! `KAFKA_BOOTSTRAP_SERVERS` points elsewhere (then fault tests that kill brokers are skipped
//! unless `KAFKADEPS_TEST_FAULTS=1`, since they can only kill brokers this checkout started).

pub mod containers;
pub mod kube;
pub mod push;
pub mod schema_registry;
pub mod secure;
pub mod sidecar;

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Bootstrap list of the 3-broker cluster started by `scripts/kafka.sh up --brokers 3`.
pub const LOCAL_CLUSTER: &str = "127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092";

/// The cluster under test: `KAFKA_BOOTSTRAP_SERVERS`, or the local 3-broker cluster.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| LOCAL_CLUSTER.to_owned())
}

/// Whether tests may kill and restart brokers (only the local cluster of `scripts/kafka.sh`).
pub fn faults_enabled() -> bool {
    std::env::var("KAFKADEPS_TEST_FAULTS")
        .map_or_else(|_| bootstrap() == LOCAL_CLUSTER, |v| v == "1")
}

/// A name nobody else uses: `<prefix>-<uuid>`, so tests run in parallel and repeatedly.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The checkout's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Runs `scripts/kafka.sh <args>` and panics with its output when it fails.
pub fn kafka_sh(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/kafka.sh"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/kafka.sh: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scripts/kafka.sh {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts every node of the 3-broker cluster that is not running, all at once (the nodes form
/// their KRaft quorum together: one at a time, the first would wait for the others).
pub fn start_all_brokers() {
    let starts: Vec<_> = ["1", "2", "3"]
        .into_iter()
        .map(|n| std::thread::spawn(move || kafka_sh(&["start", n])))
        .collect();
    for s in starts {
        let _ = s.join();
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or panics with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A plain rdkafka admin client for test set-up and assertions.
pub fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client")
}

/// A plain rdkafka consumer used only to read cluster metadata.
pub fn metadata_client() -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("metadata client")
}

/// Number of brokers the cluster reports.
pub fn broker_count() -> usize {
    metadata_client()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata")
        .brokers()
        .len()
}

/// Creates `topic` with raw rdkafka and waits until every partition has a leader.
pub async fn create_topic(topic: &str, partitions: i32, replicas: i32, config: &[(&str, &str)]) {
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas));
    for (k, v) in config {
        new = new.set(k, v);
    }
    let res = admin()
        .create_topics([&new], &AdminOptions::new())
        .await
        .expect("create_topics");
    for r in res {
        r.expect("topic created");
    }
    wait_for_leaders(topic, partitions as usize).await;
}

/// Waits until `topic` has `partitions` partitions, each with a leader.
pub async fn wait_for_leaders(topic: &str, partitions: usize) {
    let client = metadata_client();
    eventually(
        Duration::from_secs(60),
        "every partition has a leader",
        || {
            let md = client
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .ok();
            async move {
                let md = md?;
                let t = md.topics().first()?;
                (t.error().is_none()
                    && t.partitions().len() == partitions
                    && t.partitions().iter().all(|p| p.leader() >= 0))
                .then_some(())
            }
        },
    )
    .await;
}

/// Path of a binary of the workspace, built next to the test executable
/// (`scripts/test.sh` builds them with `cargo build --workspace --bins` first).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join(name))
        .expect("target dir");
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Variable naming the `kafkadeps-sidecar` binary the sidecar, provisioning and interop tests run:
/// `scripts/test.sh` sets it to the build that ships in the sidecar image
/// (`scripts/build-sidecar.sh`: static, no webhook, no GSSAPI). Unset, they use the workspace's.
pub const SIDECAR_BIN: &str = "KAFKADEPS_SIDECAR_BIN";

/// The `kafkadeps-sidecar` binary under test (see [`SIDECAR_BIN`]).
pub fn sidecar_bin() -> PathBuf {
    match std::env::var_os(SIDECAR_BIN) {
        Some(path) => PathBuf::from(path),
        None => workspace_bin("kafkadeps-sidecar"),
    }
}

/// Describes `topic`: (partitions, replication factor, configs).
pub async fn describe_topic(
    topic: &str,
) -> (usize, usize, std::collections::BTreeMap<String, String>) {
    use rdkafka::admin::ResourceSpecifier;
    let md = metadata_client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let t = &md.topics()[0];
    assert!(
        t.error().is_none(),
        "topic {topic} not found: {:?}",
        t.error()
    );
    let replicas = t
        .partitions()
        .iter()
        .map(|p| p.replicas().len())
        .min()
        .unwrap_or(0);
    let configs = admin()
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describe_configs")
        .remove(0)
        .expect("config resource");
    let config = configs
        .entries
        .into_iter()
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect();
    (t.partitions().len(), replicas, config)
}

/// A consumer of a test's [`kafkadeps::Kafka`] running on its own task, without signal
/// handlers, until [`Member::stop`].
pub struct Member {
    stop: std::sync::Arc<tokio::sync::Notify>,
    /// Its counters (rebalances, assigned partitions, commits).
    pub stats: kafkadeps::consumer::ConsumerStats,
    task: tokio::task::JoinHandle<Result<(), kafkadeps::ConsumeError>>,
}

impl Member {
    /// Starts consuming the declared topics with `handler`.
    pub fn start<F, Fut>(kafka: &kafkadeps::Kafka, handler: F) -> Self
    where
        F: Fn(kafkadeps::Record) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), kafkadeps::HandlerError>> + Send + 'static,
    {
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        let s = std::sync::Arc::clone(&stop);
        let (stats, running) = kafka
            .consumer()
            .without_signal_handlers()
            .shutdown_on(async move { s.notified().await })
            .start(handler)
            .expect("consumer starts");
        Self {
            stop,
            stats,
            task: tokio::spawn(running),
        }
    }

    /// Asks the consumer to drain and stop; returns how it ended.
    pub async fn stop(self) -> Result<(), kafkadeps::ConsumeError> {
        self.stop.notify_one();
        self.task.await.expect("consumer task")
    }
}

/// Starts kafkadeps with `vars` on the cluster under test (no process env involved).
pub async fn start_kafka(vars: &[(&str, &str)]) -> kafkadeps::Kafka {
    let boot = bootstrap();
    // One admin server per process, on an ephemeral loopback port.
    let settings = kafkadeps::Settings::from_vars(
        [
            ("KAFKA_BOOTSTRAP_SERVERS", boot.as_str()),
            ("KAFKA_METRICS_LISTEN", "127.0.0.1:0"),
        ]
        .iter()
        .chain(vars)
        .copied(),
    )
    .expect("valid settings");
    kafkadeps::Kafka::start(settings)
        .await
        .expect("kafkadeps starts")
}

/// One record read back for assertions.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key as text.
    pub key: String,
    /// Payload as text.
    pub payload: String,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp in ms since the epoch, if it has one.
    pub timestamp: Option<i64>,
}

impl ReadRecord {
    /// The value of header `name`; panics when the record has none (a test's assertion).
    pub fn header(&self, name: &str) -> &[u8] {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_else(|| panic!("header {name} missing from {self:?}"))
    }
}

/// Reads every partition of `topic` from the beginning (`read_committed`) until `expected`
/// records arrived and nothing more comes for a second, or panics after `deadline`.
pub async fn read_all(topic: &str, expected: usize, deadline: Duration) -> Vec<ReadRecord> {
    use rdkafka::message::Headers;
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("reader");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let task = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut quiet_since = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    quiet_since = Instant::now();
                    out.push(ReadRecord {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                        payload: String::from_utf8_lossy(m.payload().unwrap_or_default())
                            .into_owned(),
                        headers: m
                            .headers()
                            .map(|hs| {
                                hs.iter()
                                    .map(|h| {
                                        (h.key.to_owned(), h.value.unwrap_or_default().to_vec())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        timestamp: m.timestamp().to_millis(),
                    });
                }
                Some(Err(e)) => panic!("reading {}: {e}", out.len()),
                None => {}
            }
            if out.len() >= expected && quiet_since.elapsed() > Duration::from_secs(1) {
                return out;
            }
            assert!(
                start.elapsed() < deadline,
                "read only {} of {expected} records within {deadline:?}",
                out.len()
            );
        }
    });
    task.await.expect("reader task")
}

/// The sum of `topic`'s log-end offsets: how many records it holds (for a topic written without
/// transactions), 0 while it does not exist.
pub fn end_offsets(topic: &str) -> i64 {
    let client = metadata_client();
    let Ok(md) = client.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return 0;
    };
    md.topics()
        .first()
        .map(|t| {
            t.partitions()
                .iter()
                .filter_map(|p| {
                    client
                        .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                        .ok()
                        .map(|(_, high)| high)
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Committed offsets of `group` for `topic`'s partitions (-1001 when none).
pub fn committed_offsets(group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .create()
        .expect("offsets reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    // A failed answer is asked again: a group's coordinator can move or still be loading
    // (NotCoordinator, CoordinatorLoadInProgress), which says nothing about the offsets.
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
            Ok(committed) => break committed,
            Err(e) if Instant::now() < deadline => {
                eprintln!("committed offsets of {group}: {e}; asking again");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("committed offsets of {group}: {e}"),
        }
    };
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1001,
            },
        )
        .collect()
}

/// Routes kafkadeps' logs (`RUST_LOG`, default `warn`) to the test output, shown on failure.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A plain HTTP/1.1 GET to `addr` (`host:port`); returns the status and the body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// The Python interpreter with the test peers (`KAFKADEPS_PYTHON`, set by scripts/test.sh).
pub fn python() -> String {
    std::env::var("KAFKADEPS_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A free loopback TCP port for a server a test starts, handed out once per test process.
///
/// It is chosen below the kernel's ephemeral range (`ip_local_port_range`): a port the kernel
/// assigned (`127.0.0.1:0`) and that was released again is soon given to some client connection
/// of the many a test run makes, and the server that was meant to listen on it cannot.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = 10_000u16;
    assert!(
        ephemeral_start > low + 1000,
        "ephemeral ports start at {ephemeral_start}"
    );
    let mut handed_out = HANDED_OUT.lock().expect("ports");
    for _ in 0..10_000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(handed_out.len());
        let offset = h.finish() % u64::from(ephemeral_start - low);
        let port = low + u16::try_from(offset).expect("below the ephemeral range");
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port in {low}..{ephemeral_start}");
}

/// Runs `tests/python/interop.py` with `args` (the Python peer: confluent-kafka, CloudEvents,
/// Avro) and returns the JSON lines it printed.
pub fn python_peer(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/interop.py"))
        .args(args)
        .output()
        .expect("python peer (scripts/test.sh installs tests/requirements.txt)");
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("peer JSON"))
        .collect()
}
