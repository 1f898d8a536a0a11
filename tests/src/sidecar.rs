//! Processes of the sidecar tests: a real `kafkadeps-sidecar serve` and the real Python example
//! app (`examples/python-app/app.py`), each killed when dropped, with their output in files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{
    bootstrap, committed_offsets, eventually, free_port, http_get, python, repo_root, sidecar_bin,
    unique,
};

/// A scratch directory of one test.
pub fn scratch(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A running `kafkadeps-sidecar serve`.
pub struct Sidecar {
    child: Child,
    /// Data API address (`host:port`).
    pub data: String,
    /// Admin server address (`host:port`).
    pub admin: String,
    /// Its stdout and stderr.
    pub log: PathBuf,
    env: Vec<(String, String)>,
}

impl Sidecar {
    /// Starts the sidecar with the cluster under test, free ports and `env` on top.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let data = format!("127.0.0.1:{}", free_port());
        let admin = format!("127.0.0.1:{}", free_port());
        let mut all = vec![
            ("KAFKA_BOOTSTRAP_SERVERS".to_owned(), bootstrap()),
            ("KAFKA_SIDECAR_LISTEN".to_owned(), data.clone()),
            ("KAFKA_METRICS_LISTEN".to_owned(), admin.clone()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Self::spawn(dir, data, admin, all)
    }

    fn spawn(dir: &Path, data: String, admin: String, env: Vec<(String, String)>) -> Self {
        let log = dir.join(format!("sidecar-{}.log", unique("run")));
        let out = std::fs::File::create(&log).expect("sidecar log");
        let err = out.try_clone().expect("sidecar log");
        let child = Command::new(sidecar_bin())
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start kafkadeps-sidecar");
        Self {
            child,
            data,
            admin,
            log,
            env,
        }
    }

    /// A new process with the same settings and addresses, once this one ended (a killed
    /// process holds its ports until it is gone).
    pub fn restart(&mut self, dir: &Path) -> Self {
        let started = std::time::Instant::now();
        while self.child.try_wait().ok().flatten().is_none()
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        Self::spawn(dir, self.data.clone(), self.admin.clone(), self.env.clone())
    }

    /// `http://<data address>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.data)
    }

    /// Waits until `/readyz` answers 200. Generous: a sidecar restarted after a SIGKILL joins its
    /// group only once the killed member's session expired (`session.timeout.ms`, 45 s).
    pub async fn ready(&self) {
        let admin = self.admin.clone();
        eventually(Duration::from_secs(180), "the sidecar is ready", || {
            let admin = admin.clone();
            async move { matches!(http_get(&admin, "/readyz"), Ok((200, _))).then_some(()) }
        })
        .await;
    }

    /// Runs `kafkadeps-sidecar drain` (the preStop hook) against this sidecar; its exit code.
    pub async fn drain(&self) -> Option<i32> {
        tokio::process::Command::new(sidecar_bin())
            .args(["drain", "--timeout", "60s"])
            .env("KAFKA_SIDECAR_LISTEN", &self.data)
            // The hook reads the same token file as the sidecar, as in a pod.
            .envs(
                self.env
                    .iter()
                    .filter(|(k, _)| k == "KAFKA_SIDECAR_TOKEN_FILE")
                    .map(|(k, v)| (k, v)),
            )
            .status()
            .await
            .expect("run drain")
            .code()
    }

    /// Runs `kafkadeps-sidecar wait` (the postStart hook) against this sidecar; its exit code.
    pub async fn wait_hook(&self, timeout: &str) -> Option<i32> {
        tokio::process::Command::new(sidecar_bin())
            .args(["wait", "--timeout", timeout])
            .env("KAFKA_METRICS_LISTEN", &self.admin)
            .status()
            .await
            .expect("run wait")
            .code()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-KILL`, `-TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits for the process to end and returns its exit code.
    pub async fn exit_code(&mut self, deadline: Duration) -> Option<i32> {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                started.elapsed() < deadline,
                "the sidecar did not exit within {deadline:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// How the process ended, once it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process's output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example Python app (`examples/python-app/app.py`).
pub fn app_script() -> PathBuf {
    repo_root().join("examples/python-app/app.py")
}

/// The app in `receive` mode, answering the sidecar's pushes.
pub struct App {
    child: Child,
    /// Port it listens on.
    pub port: u16,
    /// Its journal: one JSON line per delivery attempt.
    pub journal: PathBuf,
}

impl App {
    /// Starts `app.py receive` with `env` (e.g. `APP_FAULTS`).
    pub fn receive(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let journal = dir.join("received.jsonl");
        let child = Command::new(python())
            .arg(app_script())
            .arg("receive")
            .env("APP_PORT", port.to_string())
            .env("APP_RECEIVED", &journal)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the Python app");
        Self {
            child,
            port,
            journal,
        }
    }

    /// `KAFKA_SIDECAR_DELIVER_URL` for this app.
    pub fn deliver_url(&self) -> String {
        format!("http://127.0.0.1:{}/kafka", self.port)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `app.py <args>` against the sidecar at `sidecar_url` to the end; panics on failure.
pub async fn run_app(sidecar_url: &str, journal: Option<&Path>, args: &[&str]) {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(app_script())
        .args(args)
        .env("KAFKA_SIDECAR_URL", sidecar_url);
    if let Some(j) = journal {
        cmd.env("APP_RECEIVED", j);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("the Python app finished in time")
        .expect("run the Python app");
    assert!(
        out.status.success(),
        "app.py {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One line of an app journal.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<String>,
    /// Status the app answered (200 for pulled records).
    pub status: u16,
    /// The CloudEvent, when the push was one.
    #[serde(default)]
    pub event: Option<serde_json::Value>,
    /// Pushes the app was handling when this one arrived (itself included; 0 for pulls).
    #[serde(default)]
    pub concurrent: u32,
    /// The push's `traceparent` header, if it had one.
    #[serde(default)]
    pub traceparent: Option<String>,
}

/// The journal's entries so far.
pub fn journal(path: &Path) -> Vec<Received> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("journal line"))
        .collect()
}

/// How many times each key was answered with 2xx.
pub fn processed_keys(entries: &[Received]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in entries.iter().filter(|e| e.status / 100 == 2) {
        *out.entry(e.key.clone().unwrap_or_default()).or_default() += 1;
    }
    out
}

/// Asserts that, per partition, the offsets processed for the first time appear in increasing
/// order (records processed again after a crash or an expired lease may repeat earlier ones).
pub fn assert_first_processing_in_order(entries: &[Received]) {
    let mut seen = std::collections::BTreeSet::new();
    let first: Vec<Received> = entries
        .iter()
        .filter(|e| e.status / 100 == 2)
        .filter(|e| seen.insert((e.topic.clone(), e.partition, e.offset)))
        .cloned()
        .collect();
    assert_partition_order(&first);
}

/// Asserts that, per partition, the successfully processed offsets appear in increasing order.
pub fn assert_partition_order(entries: &[Received]) {
    let mut last: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.status / 100 == 2) {
        let tp = (e.topic.clone(), e.partition);
        if let Some(prev) = last.get(&tp) {
            assert!(
                e.offset > *prev,
                "{}-{}: offset {} processed after {prev}",
                e.topic,
                e.partition,
                e.offset
            );
        }
        last.insert(tp, e.offset);
    }
}

/// The sum of a counter family's samples whose labels contain all of `labels`, from an
/// OpenMetrics text.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

/// `dur` of the `kafka` metric of a produce answer's `Server-Timing` header, in milliseconds: how
/// long the sidecar waited for Kafka's acknowledgements.
pub fn kafka_ms(response: &reqwest::Response) -> Option<f64> {
    response
        .headers()
        .get("server-timing")?
        .to_str()
        .ok()?
        .strip_prefix("kafka;dur=")?
        .split(';')
        .next()?
        .parse()
        .ok()
}

/// Runs `app.py <args>` with `env` against the sidecar at `sidecar_url` to the end; its exit
/// code and output.
pub async fn run_app_with(
    sidecar_url: &str,
    journal: Option<&Path>,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(app_script())
        .args(args)
        .env("KAFKA_SIDECAR_URL", sidecar_url)
        .envs(env.iter().copied());
    if let Some(j) = journal {
        cmd.env("APP_RECEIVED", j);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("the Python app finished in time")
        .expect("run the Python app");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A pull-mode client of one sidecar's group, speaking the data API directly.
pub struct Puller {
    client: reqwest::Client,
    base: String,
}

/// One poll answer.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Polled {
    /// The lease the records were handed out under (`None` when there are none).
    pub lease: Option<String>,
    /// How long the lease lasts.
    pub lease_expires_in_ms: u64,
    /// The records' envelopes.
    pub records: Vec<serde_json::Value>,
}

impl Polled {
    /// The records' (partition, offset), in answer order.
    pub fn positions(&self) -> Vec<(i32, i64)> {
        self.records
            .iter()
            .map(|r| {
                (
                    i32::try_from(r["partition"].as_i64().expect("partition")).expect("i32"),
                    r["offset"].as_i64().expect("offset"),
                )
            })
            .collect()
    }

    /// The records' keys.
    pub fn keys(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| r["key"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The lease, which a poll with records has.
    pub fn lease(&self) -> &str {
        self.lease
            .as_deref()
            .expect("a poll with records has a lease")
    }
}

impl Puller {
    /// A client of `sidecar`'s pull API for `group`.
    pub fn new(sidecar: &Sidecar, group: &str) -> Self {
        Self::at(&sidecar.url(), group)
    }

    /// A client of the pull API of the sidecar at `url` (`http://host:port`) for `group`.
    pub fn at(url: &str, group: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("{url}/v1/consumers/{group}"),
        }
    }

    async fn post(&self, op: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}/{op}", self.base))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{op}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Polls up to `max` records, waiting up to `timeout_ms` for the first.
    pub async fn poll(&self, max: usize, timeout_ms: u64) -> Polled {
        let (status, body) = self
            .post(
                "poll",
                &serde_json::json!({"max_records": max, "timeout_ms": timeout_ms}),
            )
            .await;
        assert_eq!(status, 200, "poll: {body}");
        serde_json::from_value(body).expect("poll answer")
    }

    /// Commits `offsets` (topic, partition, next offset) under `lease`: status and body.
    pub async fn commit(
        &self,
        lease: &str,
        offsets: &[(&str, i32, i64)],
    ) -> (u16, serde_json::Value) {
        let offsets: Vec<_> = offsets
            .iter()
            .map(|(t, p, o)| serde_json::json!({"topic": t, "partition": p, "offset": o}))
            .collect();
        self.post(
            "commit",
            &serde_json::json!({"lease": lease, "offsets": offsets}),
        )
        .await
    }

    /// Nacks the records at `offsets` (topic, partition, offset) of `lease` with `action`.
    pub async fn nack(
        &self,
        lease: &str,
        records: &[(&str, i32, i64)],
        action: &str,
        reason: &str,
    ) -> (u16, serde_json::Value) {
        let records: Vec<_> = records
            .iter()
            .map(|(t, p, o)| serde_json::json!({"topic": t, "partition": p, "offset": o}))
            .collect();
        self.post(
            "nack",
            &serde_json::json!({"lease": lease, "records": records, "action": action, "reason": reason}),
        )
        .await
    }
}

/// Waits until the group committed `total` records over `partitions` partitions of `topic`.
pub async fn all_committed(group: &str, topic: &str, partitions: i32, total: i64) {
    let (group, topic) = (group.to_owned(), topic.to_owned());
    eventually(Duration::from_secs(60), "every record committed", || {
        let (group, topic) = (group.clone(), topic.clone());
        async move {
            let sum: i64 = committed_offsets(&group, &topic, partitions)
                .iter()
                .map(|o| (*o).max(0))
                .sum();
            (sum == total).then_some(())
        }
    })
    .await;
}
