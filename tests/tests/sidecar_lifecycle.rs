//! The sidecar's lifecycle against the real cluster: SIGKILL and restart lose nothing, SIGTERM under
//! load keeps every acknowledged record, and requests get 503 until the cluster is reachable.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafkadeps_tests::push::{Push, expect_problem, journal_when, push_pipeline};
use kafkadeps_tests::sidecar::{Sidecar, all_committed, journal, processed_keys, scratch};
use kafkadeps_tests::{eventually, http_get, read_all, unique};

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_sidecar_loses_nothing_after_a_restart() {
    let dir = scratch("sidecar-kill");
    let Push {
        app,
        mut sidecar,
        topic,
        group,
    } = push_pipeline(&dir, 3, &[("APP_DELAY_MS", "2")], 5000).await;
    let path = app.journal.clone();
    journal_when(
        &path,
        Duration::from_secs(60),
        "deliveries under way",
        |e| e.len() >= 500,
    )
    .await;
    sidecar.signal("-KILL");
    let delivered_before = processed_keys(&journal(&path)).len();
    assert!(delivered_before < 5000, "killed mid-stream");
    let restarted = sidecar.restart(&dir);
    restarted.ready().await;
    let entries = journal_when(&path, Duration::from_secs(120), "all 5000 delivered", |e| {
        processed_keys(e).len() == 5000
    })
    .await;
    let expected: BTreeSet<String> = (0..5000).map(|i| format!("order-{i}")).collect();
    assert_eq!(
        processed_keys(&entries)
            .into_keys()
            .collect::<BTreeSet<_>>(),
        expected
    );
    all_committed(&group, &topic, 3, 5000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_produce_load_keeps_every_acknowledged_record() {
    let dir = scratch("sidecar-term");
    let topic = unique("sc-term");
    let declared = format!("{topic}(partitions=3)");
    let mut sidecar = Sidecar::start(&dir, &[("KAFKA_PRODUCES", &declared)]);
    sidecar.ready().await;
    let url = format!("{}/v1/topics/{topic}/records", sidecar.url());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (url, stop) = (url.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                let mut batch = 0;
                while !stop.load(Ordering::SeqCst) {
                    let keys: Vec<String> = (0..10).map(|i| format!("c{c}-b{batch}-{i}")).collect();
                    batch += 1;
                    let records: Vec<_> = keys
                        .iter()
                        .map(|k| serde_json::json!({"key": k, "value": {"k": k}}))
                        .collect();
                    match client
                        .post(&url)
                        .json(&serde_json::json!({ "records": records }))
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => acknowledged.extend(keys),
                        Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    sidecar.signal("-TERM");
    let code = sidecar.exit_code(Duration::from_secs(60)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = BTreeSet::new();
    for c in clients {
        acknowledged.extend(c.await.expect("client"));
    }
    assert_eq!(code, Some(0), "log:\n{}", sidecar.log_text());
    assert!(
        acknowledged.len() > 100,
        "load was running: {}",
        acknowledged.len()
    );
    let stored: BTreeSet<String> = read_all(&topic, acknowledged.len(), Duration::from_secs(60))
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    let missing: Vec<_> = acknowledged.difference(&stored).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_get_503_with_retry_after_until_the_cluster_is_reachable() {
    let dir = scratch("sidecar-unready");
    let topic = unique("sc-unready");
    let nowhere = format!("127.0.0.1:{}", kafkadeps_tests::free_port());
    let sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_BOOTSTRAP_SERVERS", &nowhere),
            ("KAFKA_ENSURE_TIMEOUT", "60s"),
        ],
    );
    let client = reqwest::Client::new();
    let url = format!("{}/v1/topics/{topic}/records", sidecar.url());
    let response = eventually(Duration::from_secs(10), "the data API listens", || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"records": [{"value": 1}]}))
                .send()
                .await
                .ok()
        }
    })
    .await;
    assert_eq!(response.headers()["retry-after"], "1");
    expect_problem(response, 503, "unavailable").await;
    assert_eq!(http_get(&sidecar.admin, "/readyz").expect("readyz").0, 503);
    // …so the postStart hook gives up with 69 after its timeout.
    assert_eq!(sidecar.wait_hook("1s").await, Some(69));
}
