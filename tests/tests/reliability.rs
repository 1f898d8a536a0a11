//! The reliability harness (`benches/src/bin/chaos.rs`, `docs/reliability.md`) in its short
//! form: every fault phase once, a few thousand records per path, on the real 3-broker cluster.
//! Fails on any acknowledged record lost, any key's records processed out of order, or a process
//! outliving its shutdown grace when the cluster goes away.
//!
//! The harness kills, stops and restarts brokers, so it runs only against the cluster this
//! checkout started (`KAFKADEPS_TEST_FAULTS=1`), alone in its test binary.

use std::process::Command;
use std::time::{Duration, Instant};

use kafkadeps_tests::{faults_enabled, start_all_brokers, unique, workspace_bin};

/// Phases × paths in the harness's table.
const ROWS: usize = 10 * 3;

/// Leaves all three brokers running whatever happened to the harness (a stopped or SIGSTOPped
/// broker would break every later test).
struct BrokersBack;

impl Drop for BrokersBack {
    fn drop(&mut self) {
        let cache = std::env::var("KAFKADEPS_CACHE").unwrap_or_else(|_| {
            format!(
                "{}/.cache/kafkadeps",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        for node in ["1", "2", "3"] {
            if let Ok(pid) = std::fs::read_to_string(format!("{cache}/run/b3/node{node}/pid")) {
                let _ = Command::new("kill").args(["-CONT", pid.trim()]).status();
            }
        }
        start_all_brokers();
    }
}

#[test]
fn every_acknowledged_record_is_processed_in_key_order_through_every_fault() {
    if !faults_enabled() {
        eprintln!("skipping the fault harness: KAFKA_BOOTSTRAP_SERVERS is not the local cluster");
        return;
    }
    let _brokers = BrokersBack;
    let json = std::env::temp_dir().join(format!("{}.json", unique("chaos-short")));
    let mut harness = Command::new(workspace_bin("chaos"))
        .args(["--short", "--json"])
        .arg(&json)
        .spawn()
        .expect("start the chaos harness");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = harness.try_wait().expect("wait for the harness") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30 * 60) {
            let _ = harness.kill();
            let _ = harness.wait();
            panic!("the harness ran for more than 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json).expect("the harness writes its --json report"),
    )
    .expect("report JSON");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), ROWS, "a row per phase and path: {report:#}");
    for row in rows {
        let at = format!("{} / {}", row["phase"], row["path"]);
        assert!(
            row["acknowledged"].as_u64() > Some(0),
            "{at}: records flowed"
        );
        assert_eq!(row["lost"], 0, "{at}: nothing acknowledged was lost");
        assert_eq!(row["reordered"], 0, "{at}: every key stayed in order");
    }
    let exits = report["shutdown"].as_array().expect("shutdown");
    assert_eq!(
        exits.len(),
        3,
        "both sidecars and the SDK service: {exits:?}"
    );
    for exit in exits {
        assert!(
            exit["exit_ms"].as_u64() <= exit["grace_ms"].as_u64(),
            "exited within its grace: {exit}"
        );
    }
    assert!(status.success(), "the harness failed: {status}");
    let _ = std::fs::remove_file(&json);
}
