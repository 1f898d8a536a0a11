//! Shutting down while the cluster goes away — a whole namespace or node going down: the brokers
//! stop at the same moment the sidecar and an SDK service get SIGTERM (and just before). Each
//! process must exit within its documented grace, saying in its log what it could not commit.
//!
//! The test runs its own single-broker cluster (`scripts/kafka.sh up --brokers 1`, port 9092), so
//! stopping it disturbs no other test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafkadeps_tests::sidecar::{App, Sidecar, run_app, scratch};
use kafkadeps_tests::{eventually, http_get, kafka_sh, unique, workspace_bin};

const SINGLE: &str = "127.0.0.1:9092";
/// The sidecar's whole drain (`KAFKA_SIDECAR_SHUTDOWN_GRACE`).
const SIDECAR_GRACE: Duration = Duration::from_secs(8);
/// An SDK service: the consumer's default shutdown grace (30 s) and the example's producer flush
/// (10 s).
const SERVICE_GRACE: Duration = Duration::from_secs(40);

struct Service {
    child: Child,
    log: std::path::PathBuf,
}

impl Service {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the exit; how long it took from `since`.
    fn exited_within(&mut self, since: Instant, bound: Duration) -> Duration {
        loop {
            if self.child.try_wait().expect("wait").is_some() {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < bound,
                "still running {:?} after SIGTERM:\n{}",
                since.elapsed(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether some connection to 127.0.0.1:`port` is established (from `/proc/net/tcp`).
fn connected_to(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == local && f[3] == "01"
        })
}

fn term(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// Runs one ordering: `broker_first` stops the broker this long before the SIGTERMs (zero: at the
/// same moment).
async fn cluster_goes_away(broker_first: Duration) {
    kafka_sh(&["up", "--brokers", "1"]);
    let dir = scratch("shutdown");
    let (topic, group) = (unique("sd-topic"), unique("sd-g"));
    let declared = format!("{topic}(partitions=2)");
    let grace = format!("{}s", SIDECAR_GRACE.as_secs());
    let mut sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", SINGLE),
            ("KAFKA_TOPIC_REPLICAS", "clamp"),
            ("KAFKA_PRODUCES", &declared),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_SIDECAR_SHUTDOWN_GRACE", &grace),
        ],
    );
    sidecar.ready().await;
    run_app(
        &sidecar.url(),
        None,
        &["produce", "--topic", &topic, "--count", "50"],
    )
    .await;
    // An SDK service consuming the same topic in its own group.
    let log = dir.join("billing.log");
    let out = std::fs::File::create(&log).expect("log");
    let metrics = format!("127.0.0.1:{}", kafkadeps_tests::free_port());
    let mut service = Service {
        child: Command::new(workspace_bin("example-billing-service"))
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", SINGLE)
            .env("KAFKA_TOPIC_REPLICAS", "clamp")
            .env("KAFKA_APP", "sd-billing")
            .env("KAFKA_GROUP_ID", unique("sd-billing"))
            .env("KAFKA_CONSUMES", &topic)
            .env("KAFKA_METRICS_LISTEN", &metrics)
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("billing-service"),
        log,
    };
    eventually(Duration::from_secs(120), "the service is ready", || {
        let ok = matches!(http_get(&metrics, "/readyz"), Ok((200, _)));
        async move { ok.then_some(()) }
    })
    .await;
    // Both hold an uncommitted pull batch / in-flight work when everything goes away.
    let _ = reqwest::Client::new()
        .post(format!("{}/v1/consumers/{group}/poll", sidecar.url()))
        .json(&serde_json::json!({"max_records": 10, "timeout_ms": 5000}))
        .send()
        .await;

    // `down` deletes the cluster's data once the broker has exited: it must be over before the
    // next ordering's `up`, or it deletes the data of the broker that `up` just started.
    let stop_broker = || tokio::task::spawn_blocking(|| kafka_sh(&["down", "--brokers", "1"]));
    let mut stopping = None;
    if !broker_first.is_zero() {
        stopping = Some(stop_broker());
        tokio::time::sleep(broker_first).await;
    }
    let since = Instant::now();
    term(sidecar.pid());
    term(service.child.id());
    let stopping = stopping.unwrap_or_else(stop_broker);
    let sidecar_took = {
        let deadline = SIDECAR_GRACE + Duration::from_secs(5);
        let code = sidecar.exit_code(deadline).await;
        assert!(
            matches!(code, Some(0 | 69)),
            "exit {code:?}:\n{}",
            sidecar.log_text()
        );
        since.elapsed()
    };
    let service_took = service.exited_within(since, SERVICE_GRACE + Duration::from_secs(5));
    eprintln!(
        "broker stopped {broker_first:?} before SIGTERM: sidecar exited after {sidecar_took:?}, the SDK service after {service_took:?}"
    );
    assert!(
        !sidecar.log_text().contains("panicked"),
        "{}",
        sidecar.log_text()
    );
    assert!(!service.log().contains("panicked"), "{}", service.log());
    // Killed by the second-signal path? No: it ended on its own, within the grace.
    assert!(!sidecar.log_text().contains("second SIGTERM"));
    stopping.await.expect("the broker stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn processes_exit_within_their_grace_when_the_cluster_goes_away() {
    cluster_goes_away(Duration::ZERO).await;
    cluster_goes_away(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_ends_a_long_drain_at_once() {
    let dir = scratch("shutdown-twice");
    let (topic, group) = (unique("sd-twice"), unique("sd-twice-g"));
    // Every push takes a minute: the drain waits for the one in flight (up to its grace).
    let app = App::receive(&dir, &[("APP_DELAY_MS", "60000")]);
    let deliver = app.deliver_url();
    let mut sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_SIDECAR_DELIVER_URL", &deliver),
            ("KAFKA_SIDECAR_DELIVER_TIMEOUT", "120s"),
            ("KAFKA_SIDECAR_SHUTDOWN_GRACE", "90s"),
        ],
    );
    sidecar.ready().await;
    run_app(
        &sidecar.url(),
        None,
        &["produce", "--topic", &topic, "--count", "3"],
    )
    .await;
    // A push is in flight once the sidecar holds a connection to the app.
    let port = app.port;
    eventually(Duration::from_secs(60), "a push in flight", || {
        let open = connected_to(port);
        async move { open.then_some(()) }
    })
    .await;
    sidecar.signal("-TERM");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(sidecar.running(), "the drain waits for the push in flight");
    let second = Instant::now();
    sidecar.signal("-TERM");
    assert_eq!(sidecar.exit_code(Duration::from_secs(10)).await, Some(69));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "{:?}",
        second.elapsed()
    );
    assert!(
        sidecar.log_text().contains("second SIGTERM"),
        "{}",
        sidecar.log_text()
    );
}
