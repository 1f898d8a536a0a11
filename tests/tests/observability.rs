//! Observability of a running service: `/metrics` after real traffic (parsed by the Python
//! OpenMetrics parser and scraped by a real Prometheus server), JSON logs, no secrets in output,
//! lag in time, and the Grafana dashboard's queries.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkadeps_tests::{
    bootstrap, eventually, free_port, http_get, python, start_kafka, unique, workspace_bin,
};

fn spawn_billing(args: &[&str], vars: &[(&str, &str)], stdout: Stdio) -> Child {
    Command::new(workspace_bin("example-billing-service"))
        .args(args)
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .envs(vars.iter().copied())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn billing-service")
}

fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Parses OpenMetrics text with the Python reference parser; returns `name{labels} value` lines.
fn parse_openmetrics(text: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with prometheus-client (scripts/test.sh installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to the parser");
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "the OpenMetrics parser rejected /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sample(parsed: &[String], name_and_labels: &str) -> Option<f64> {
    parsed.iter().find_map(|l| {
        l.strip_prefix(name_and_labels)
            .and_then(|v| v.trim().parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_of_a_running_service_after_real_traffic() {
    const ORDERS: usize = 40;
    let topic = unique("obs-orders");
    let group = unique("obs-billing");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut billing = spawn_billing(
        &[],
        &[
            ("KAFKA_APP", "billing"),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_METRICS_LISTEN", &listen),
            ("RUST_LOG", "warn"),
        ],
        Stdio::null(),
    );
    eventually(Duration::from_secs(60), "billing-service is ready", || {
        let r = http_get(&listen, "/readyz").ok();
        async move { r.filter(|(s, _)| *s == 200).map(|_| ()) }
    })
    .await;

    // A real Prometheus server scrapes the service every second.
    let (mut prometheus, prom_addr, dir) = scraping_prometheus(&listen);

    let kafka = start_kafka(&[("KAFKA_APP", "obs-orders"), ("KAFKA_PRODUCES", &topic)]).await;
    for i in 0..ORDERS {
        let order = serde_json::json!({"order_id": format!("o{i}"), "customer": "c", "amount_cents": 1000 + 3 * i + 1});
        kafka
            .producer()
            .send(kafkadeps::OutgoingRecord::json(&topic, format!("o{i}"), &order).expect("JSON"))
            .await
            .unwrap();
    }
    let ok = format!("kafkadeps_consumer_messages_total{{outcome=\"ok\",topic=\"{topic}\"}}");
    let parsed = eventually(
        Duration::from_secs(60),
        "the service's /metrics counts every record",
        || {
            let text = http_get(&listen, "/metrics")
                .map(|(_, b)| b)
                .unwrap_or_default();
            let ok = ok.clone();
            async move {
                let parsed = parse_openmetrics(&text);
                (sample(&parsed, &ok) == Some(ORDERS as f64)).then_some(parsed)
            }
        },
    )
    .await;
    the_service_exported_what_it_did(&parsed, &topic, ORDERS);

    prometheus_counted(&prom_addr, ORDERS as f64).await;

    let _ = prometheus.kill();
    let _ = prometheus.wait();
    sigterm(&billing);
    assert!(billing.wait().unwrap().success());
    std::fs::remove_dir_all(dir).ok();
}

/// A real Prometheus scraping `target` every second: (its process, its address, its directory).
fn scraping_prometheus(target: &str) -> (std::process::Child, String, std::path::PathBuf) {
    let prom_port = free_port();
    let dir = std::env::temp_dir().join(unique("prometheus"));
    std::fs::create_dir_all(&dir).expect("prometheus directory");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: billing\n    static_configs: [{{ targets: ['{target}'] }}]\n"),
    )
    .expect("prometheus.yml");
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package, installed by scripts/test.sh)");
    (prometheus, format!("127.0.0.1:{prom_port}"), dir)
}

/// The consumer's, the build's and the plan's families after `orders` records of `topic`, and
/// the test process's own producer metrics for them.
fn the_service_exported_what_it_did(parsed: &[String], topic: &str, orders: usize) {
    assert_eq!(
        sample(parsed, "kafkadeps_consumer_assigned_partitions{}"),
        Some(3.0)
    );
    let handled = sample(
        parsed,
        &format!("kafkadeps_consumer_handler_duration_seconds_count{{topic=\"{topic}\"}}"),
    );
    assert!(handled.expect("handler durations") >= orders as f64);
    let rebalances = sample(parsed, "kafkadeps_consumer_rebalances_total{}");
    assert!(rebalances.expect("rebalances") >= 1.0);
    assert!(
        parsed
            .iter()
            .any(|l| l.starts_with("kafkadeps_build_info{version="))
    );
    assert!(
        parsed
            .iter()
            .any(|l| l.starts_with("kafkadeps_topic_plan{action=") && l.contains(topic)),
        "the start-up plan is exported"
    );
    // The test process's own producer counted its sends.
    let own = kafkadeps::telemetry::encode_metrics();
    assert!(
        own.contains(&format!(
            "kafkadeps_producer_messages_total{{topic=\"{topic}\",outcome=\"ok\"}} {orders}"
        )),
        "{own}"
    );
}

/// Waits until the Prometheus at `prom_addr` has scraped
/// `kafkadeps_consumer_messages_total{outcome="ok"}` at `expected`.
async fn prometheus_counted(prom_addr: &str, expected: f64) {
    let path = "/api/v1/query?query=kafkadeps_consumer_messages_total%7Boutcome%3D%22ok%22%7D";
    eventually(
        Duration::from_secs(60),
        "Prometheus scraped the counter",
        || {
            let body = http_get(prom_addr, path)
                .map(|(_, b)| b)
                .unwrap_or_default();
            async move {
                let json: serde_json::Value = serde_json::from_str(&body).ok()?;
                let v = json["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()?;
                (v == expected).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stdout_line_is_json_and_processed_records_carry_fields() {
    let topic = unique("obs-logs");
    let kafka = start_kafka(&[("KAFKA_APP", "obs-logs"), ("KAFKA_PRODUCES", &topic)]).await;
    // Records o0 and o1 belong to a trace (their producer's span, as a traceparent header).
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    for i in 0..5 {
        let order =
            serde_json::json!({"order_id": format!("o{i}"), "customer": "c", "amount_cents": 1001});
        let mut record =
            kafkadeps::OutgoingRecord::json(&topic, format!("o{i}"), &order).expect("JSON");
        if i < 2 {
            record = record.with_header(
                "traceparent",
                format!("00-{TRACE_ID}-00f067aa0ba902b{i}-01"),
            );
        }
        kafka.producer().send(record).await.unwrap();
    }
    let billing = spawn_billing(
        &["5"],
        &[
            ("KAFKA_APP", "billing"),
            ("KAFKA_GROUP_ID", &unique("obs-logs-group")),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_METRICS_LISTEN", "127.0.0.1:0"),
            ("RUST_LOG", "info,kafkadeps=debug"),
        ],
        Stdio::piped(),
    );
    // billing-service stops by itself after 5 records when given the count.
    let out = tokio::task::spawn_blocking(move || billing.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.trim().is_empty());
    let mut processed = Vec::new();
    for line in stdout.lines() {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(json.get(key).is_some(), "{key} missing: {line}");
        }
        if json["message"] == "Processed record." {
            processed.push(json);
        }
    }
    assert!(
        !processed.is_empty(),
        "debug logs show processed records:\n{stdout}"
    );
    for p in &processed {
        assert_eq!(p["topic"], topic.as_str());
        assert!(p["partition"].is_i64() && p["offset"].is_i64(), "{p}");
        assert!(p.get("group").is_some());
    }
    // Lines about a traced record carry its trace, so logs join traces; others carry none.
    let traced: Vec<&serde_json::Value> = processed
        .iter()
        .filter(|p| p.get("trace_id").is_some())
        .collect();
    assert_eq!(traced.len(), 2, "{processed:?}");
    for p in traced {
        assert_eq!(p["trace_id"], TRACE_ID, "{p}");
        assert!(
            p["span_id"]
                .as_str()
                .unwrap()
                .starts_with("00f067aa0ba902b"),
            "{p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sasl_password_never_appears_in_output() {
    const SECRET: &str = "s3cret-Do-Not-Log-4711";
    let out = Command::new(workspace_bin("example-orders-service"))
        .arg("1")
        .env_clear()
        // SASL against a plaintext listener: the connection fails, with plenty of logging.
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_APP", "leak-check")
        .env("KAFKA_PRODUCES", unique("obs-secret"))
        .env("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")
        .env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        .env("KAFKA_SASL_USERNAME", "svc")
        .env("KAFKA_SASL_PASSWORD", SECRET)
        .env("KAFKA_CLIENT_DEBUG", "security,conf,broker")
        .env("KAFKA_METRICS_LISTEN", "off")
        .env("KAFKA_ENSURE_TIMEOUT", "5s")
        .env("RUST_LOG", "trace")
        .output()
        .expect("run orders-service");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(all.len() > 100, "the run logged something: {all}");
    assert!(!all.contains(SECRET), "the password leaked");
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_in_seconds_grows_while_paused_and_returns_to_zero() {
    let topic = unique("obs-lag");
    let group = unique("obs-lag-group");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "obs-lag"),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
    ])
    .await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = Arc::clone(&gate);
    let stop = Arc::new(tokio::sync::Notify::new());
    let s = Arc::clone(&stop);
    let (_stats, running) = kafka
        .consumer()
        .lag_interval(Duration::from_millis(500))
        .without_signal_handlers()
        .shutdown_on(async move { s.notified().await })
        .start(move |_record| {
            let g = Arc::clone(&g);
            async move {
                // Paused until the test opens the gate.
                g.acquire()
                    .await
                    .map(|p| p.forget())
                    .map_err(kafkadeps::HandlerError::permanent)?;
                Ok(())
            }
        })
        .unwrap();
    let consumer = tokio::spawn(running);
    let producing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (p, t, flag) = (kafka.producer(), topic.clone(), Arc::clone(&producing));
    let producer = tokio::spawn(async move {
        let mut n = 0u32;
        while flag.load(std::sync::atomic::Ordering::SeqCst) {
            p.send(kafkadeps::OutgoingRecord::json(&t, "k", &n).expect("JSON"))
                .await
                .unwrap();
            n += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        n
    });
    let lag = |topic: &str| {
        let text = kafkadeps::telemetry::encode_metrics();
        let prefix = format!("kafkadeps_consumer_lag_seconds{{topic=\"{topic}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse::<f64>().ok()))
    };
    eventually(Duration::from_secs(60), "lag is being measured", || {
        let v = lag(&topic);
        async move { v.filter(|v| *v > 0.5) }
    })
    .await;
    let (t1, l1) = (Instant::now(), lag(&topic).unwrap());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (t2, l2) = (Instant::now(), lag(&topic).unwrap());
    let wall = (t2 - t1).as_secs_f64();
    assert!(
        (l2 - l1) > wall - 2.5 && (l2 - l1) < wall + 2.5,
        "lag grew {l1:.2} -> {l2:.2} s over {wall:.2} s of wall time"
    );
    producing.store(false, std::sync::atomic::Ordering::SeqCst);
    let produced = producer.await.unwrap();
    gate.add_permits(produced as usize + 10);
    eventually(
        Duration::from_secs(60),
        "lag returns to ~0 after catching up",
        || {
            let v = lag(&topic);
            async move { v.filter(|v| *v < 0.5) }
        },
    )
    .await;
    let text = kafkadeps::telemetry::encode_metrics();
    assert!(
        text.contains(&format!(
            "kafkadeps_consumer_lag_messages{{topic=\"{topic}\"}} 0"
        )),
        "{text}"
    );
    stop.notify_one();
    consumer.await.unwrap().unwrap();
}

#[test]
fn every_dashboard_query_references_an_existing_metric() {
    let path =
        kafkadeps_tests::repo_root().join("charts/kafkadeps-injector/dashboards/kafkadeps.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let exported: BTreeSet<&str> = kafkadeps::telemetry::METRIC_FAMILIES
        .iter()
        .copied()
        .collect();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    let mut titles = Vec::new();
    for panel in panels {
        titles.push(panel["title"].as_str().unwrap().to_lowercase());
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("kafkadeps_"))
                .collect();
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                let family = ["_total", "_bucket", "_sum", "_count", "_info"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                assert!(
                    exported.contains(family) || exported.contains(name),
                    "dashboard query uses {name}, which kafkadeps does not export ({exported:?})"
                );
            }
        }
    }
    for needed in [
        "produced",
        "error",
        "dead-letter",
        "lag (records)",
        "lag (seconds)",
        "send latency",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(needed)),
            "a panel for {needed}"
        );
    }
}
