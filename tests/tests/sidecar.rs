//! The sidecar against the real cluster, driven by the real Python example app over real HTTP:
//! push consumption, retries and dead letters, crashes, graceful drain, the error contract and
//! the OpenAPI document. Pull consumption: `sidecar_pull.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafkadeps::consumer::dlq_headers;
use kafkadeps_tests::sidecar::{
    App, Received, Sidecar, all_committed, assert_partition_order, journal, kafka_ms, metric_sum,
    processed_keys, run_app, scratch,
};
use kafkadeps_tests::{eventually, http_get, python, read_all, repo_root, unique};

const RECORDS: usize = 10_000;

/// A push pipeline: the Python app receiving, and a sidecar producing and consuming a new topic
/// in a new group and pushing to the app.
struct Push {
    app: App,
    sidecar: Sidecar,
    topic: String,
    group: String,
}

/// [`push_setup`], ready, with `count` records produced by the app through the sidecar.
async fn push_pipeline(
    dir: &std::path::Path,
    partitions: u32,
    app_env: &[(&str, &str)],
    count: usize,
) -> Push {
    push_pipeline_with(dir, partitions, app_env, &[], count).await
}

/// The app receiving (with `app_env`) and a sidecar (with `sidecar_env`, not ready yet)
/// producing and consuming a new topic of `partitions` in a new group, pushing to the app.
fn push_setup(
    dir: &std::path::Path,
    partitions: u32,
    app_env: &[(&str, &str)],
    sidecar_env: &[(&str, &str)],
) -> Push {
    let (topic, group) = (unique("sc-push"), unique("sc-push-g"));
    let app = App::receive(dir, app_env);
    let declared = format!("{topic}(partitions={partitions})");
    let deliver_url = app.deliver_url();
    let mut env = vec![
        ("KAFKA_PRODUCES", declared.as_str()),
        ("KAFKA_CONSUMES", topic.as_str()),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("KAFKA_SIDECAR_DELIVER_URL", deliver_url.as_str()),
    ];
    env.extend_from_slice(sidecar_env);
    let sidecar = Sidecar::start(dir, &env);
    Push {
        app,
        sidecar,
        topic,
        group,
    }
}

/// [`push_pipeline`] with extra sidecar variables.
async fn push_pipeline_with(
    dir: &std::path::Path,
    partitions: u32,
    app_env: &[(&str, &str)],
    sidecar_env: &[(&str, &str)],
    count: usize,
) -> Push {
    let push = push_setup(dir, partitions, app_env, sidecar_env);
    let Push { sidecar, topic, .. } = &push;
    sidecar.ready().await;
    let count = count.to_string();
    run_app(
        &sidecar.url(),
        None,
        &["produce", "--topic", topic, "--count", &count],
    )
    .await;
    push
}

/// Waits until the app's journal satisfies `done`; returns its entries.
async fn journal_when(
    path: &std::path::Path,
    deadline: Duration,
    what: &str,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    eventually(deadline, what, || {
        let entries = journal(path);
        let ok = done(&entries);
        async move { ok.then_some(entries) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn push_delivers_ten_thousand_records_once_each_in_partition_order() {
    let dir = scratch("sidecar-push");
    let Push {
        app,
        sidecar,
        topic,
        group,
    } = push_pipeline(&dir, 3, &[], RECORDS).await;
    let entries = journal_when(
        &app.journal,
        Duration::from_secs(120),
        "10k records pushed",
        |e| processed_keys(e).len() == RECORDS,
    )
    .await;
    let keys = processed_keys(&entries);
    assert!(keys.values().all(|n| *n == 1), "a record was pushed twice");
    assert_eq!(entries.len(), RECORDS, "only successful pushes happened");
    assert_partition_order(&entries);
    all_committed(&group, &topic, 3, RECORDS as i64).await;

    // The sidecar's own admin server serves the SDK's metrics.
    let (status, metrics) = http_get(&sidecar.admin, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    let ok = [("topic", topic.as_str()), ("outcome", "ok")];
    assert_eq!(
        metric_sum(&metrics, "kafkadeps_producer_messages_total", &ok),
        RECORDS as f64
    );
    assert_eq!(
        metric_sum(&metrics, "kafkadeps_consumer_messages_total", &ok),
        RECORDS as f64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn push_retries_server_errors_in_order_and_dead_letters_client_errors() {
    let dir = scratch("sidecar-faults");
    let faults = [("APP_FAULTS", "order-5=500,500;order-9=400")];
    let Push {
        app,
        sidecar,
        topic,
        group,
    } = push_pipeline(&dir, 1, &faults, 20).await;
    let entries = journal_when(
        &app.journal,
        Duration::from_secs(60),
        "20 records handled",
        |e| processed_keys(e).len() == 19 && e.iter().any(|e| e.status == 400),
    )
    .await;
    let five: Vec<u16> = entries
        .iter()
        .filter(|e| e.key.as_deref() == Some("order-5"))
        .map(|e| e.status)
        .collect();
    assert_eq!(five, [500, 500, 200], "retried in place until it succeeded");
    let nine: Vec<u16> = entries
        .iter()
        .filter(|e| e.key.as_deref() == Some("order-9"))
        .map(|e| e.status)
        .collect();
    assert_eq!(nine, [400], "a 4xx is not retried");
    // Nothing after offset 5 was pushed before its retries succeeded.
    let five_done = entries
        .iter()
        .position(|e| e.key.as_deref() == Some("order-5") && e.status == 200)
        .expect("order-5 done");
    assert!(entries[..five_done].iter().all(|e| e.offset <= 5));
    assert_partition_order(&entries);
    assert!(processed_keys(&entries).values().all(|n| *n == 1));

    let dead = read_all(&format!("{topic}.dlq"), 1, Duration::from_secs(60)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "order-9");
    let header = |name: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("header {name}"))
    };
    assert_eq!(header(dlq_headers::ORIGINAL_TOPIC), topic.as_bytes());
    assert_eq!(header(dlq_headers::ORIGINAL_OFFSET), 9i64.to_be_bytes());
    assert_eq!(
        header(dlq_headers::ORIGINAL_CONSUMER_GROUP),
        group.as_bytes()
    );
    assert!(String::from_utf8_lossy(&header(dlq_headers::EXCEPTION_MESSAGE)).contains("400"));
    all_committed(&group, &topic, 1, 20).await;

    // Every push attempt is counted by the app's status class, and timed.
    let pushes = |metrics: &str, class: &str| {
        metric_sum(
            metrics,
            "kafkadeps_sidecar_pushes_total",
            &[("topic", topic.as_str()), ("status_class", class)],
        )
    };
    let metrics = eventually(Duration::from_secs(30), "22 pushes counted", || {
        let scraped = http_get(&sidecar.admin, "/metrics").ok().map(|(_, m)| m);
        async move { scraped.filter(|m| pushes(m, "2xx") == 19.0) }
    })
    .await;
    assert_eq!(pushes(&metrics, "5xx"), 2.0, "{metrics}");
    assert_eq!(pushes(&metrics, "4xx"), 1.0, "{metrics}");
    let topic_label = [("topic", topic.as_str())];
    assert_eq!(
        metric_sum(
            &metrics,
            "kafkadeps_sidecar_push_duration_seconds_count",
            &topic_label
        ),
        22.0
    );
    // The app's produce requests are counted by route template, never by topic name.
    let records = [
        ("route", "/v1/topics/{topic}/records"),
        ("status_class", "2xx"),
    ];
    let produced = metric_sum(&metrics, "kafkadeps_sidecar_requests_total", &records);
    assert!(produced >= 1.0, "{metrics}");
    assert_eq!(
        metric_sum(
            &metrics,
            "kafkadeps_sidecar_request_duration_seconds_count",
            &records[..1]
        ),
        produced
    );
    assert!(!metrics.contains(&format!("route=\"/v1/topics/{topic}")));
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_run_in_parallel_across_partitions_up_to_the_inflight_limit() {
    let dir = scratch("sidecar-inflight");
    // Bind the sidecar: an unbound field would be dropped (and the process killed) at once.
    let Push {
        app,
        sidecar: _sidecar,
        ..
    } = push_pipeline_with(
        &dir,
        6,
        &[("APP_DELAY_MS", "200")],
        &[("KAFKA_SIDECAR_MAX_INFLIGHT", "2")],
        40,
    )
    .await;
    let entries = journal_when(
        &app.journal,
        Duration::from_secs(60),
        "40 records pushed",
        |e| processed_keys(e).len() == 40,
    )
    .await;
    let most = entries.iter().map(|e| e.concurrent).max().unwrap_or(0);
    assert_eq!(most, 2, "6 partitions pushed 2 at a time");
    assert_partition_order(&entries);
}

#[tokio::test(flavor = "multi_thread")]
async fn key_ordering_pushes_keys_of_one_partition_in_parallel_each_key_in_order() {
    let dir = scratch("sidecar-key-order");
    let push = push_setup(
        &dir,
        1,
        &[("APP_DELAY_MS", "200")],
        &[
            ("KAFKA_SIDECAR_ORDERING", "key"),
            ("KAFKA_SIDECAR_MAX_INFLIGHT", "4"),
        ],
    );
    push.sidecar.ready().await;
    // Six keys, four records each, interleaved, in one partition.
    let records: Vec<serde_json::Value> = (0..24)
        .map(|i| serde_json::json!({"key": format!("key-{}", i % 6), "value": {"n": i}}))
        .collect();
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/v1/topics/{}/records",
            push.sidecar.url(),
            push.topic
        ))
        .json(&serde_json::json!({ "records": records }))
        .send()
        .await
        .expect("produce");
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let entries = journal_when(
        &push.app.journal,
        Duration::from_secs(60),
        "24 records pushed",
        |e| e.iter().filter(|r| r.status == 200).count() >= 24,
    )
    .await;
    let most = entries.iter().map(|e| e.concurrent).max().unwrap_or(0);
    assert!(
        (2..=4).contains(&most),
        "keys of one partition pushed in parallel, at most 4 at once: {most}"
    );
    // Each key's records arrive in offset order, each once.
    let mut last: std::collections::BTreeMap<String, i64> = Default::default();
    for e in &entries {
        let key = e.key.clone().expect("keyed");
        let prev = last.insert(key.clone(), e.offset);
        assert!(
            prev.is_none_or(|p| p < e.offset),
            "{key}: offset {} pushed after {prev:?}",
            e.offset
        );
    }
    assert_eq!(entries.len(), 24, "each record pushed once");
    assert_eq!(last.len(), 6);
}

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

/// Checks one error response: status, problem+json, fields consistent with the status.
async fn expect_problem(response: reqwest::Response, status: u16, kind: &str) {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://kafkadeps.io/problems/{kind}"),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_error_contract_is_problem_details_and_never_a_panic() {
    let dir = scratch("sidecar-errors");
    let (topic, consumed, group) = (unique("sc-err"), unique("sc-err-in"), unique("sc-err-g"));
    let mut sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_CONSUMES", &consumed),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_SIDECAR_MAX_BODY_BYTES", "1024"),
        ],
    );
    sidecar.ready().await;
    let base = sidecar.url();
    let client = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let records = format!("/v1/topics/{topic}/records");
    let events = format!("/v1/topics/{topic}/events");
    let poll = format!("/v1/consumers/{group}/poll");
    let commit = format!("/v1/consumers/{group}/commit");
    let nack = format!("/v1/consumers/{group}/nack");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            records.as_str(),
            "{not json".into(),
            400,
            "malformed-request",
        ),
        (
            records.as_str(),
            r#"{"records":"x"}"#.into(),
            400,
            "malformed-request",
        ),
        (
            records.as_str(),
            r#"{"records":[{"key":1}]}"#.into(),
            400,
            "malformed-request",
        ),
        (
            records.as_str(),
            r#"{"records":[]}"#.into(),
            400,
            "malformed-request",
        ),
        (
            records.as_str(),
            r#"{"records":[{"value_base64":"!"}]}"#.into(),
            400,
            "malformed-request",
        ),
        (
            records.as_str(),
            format!(r#"{{"records":[{{"value":"{}"}}]}}"#, "x".repeat(2000)),
            413,
            "body-too-large",
        ),
        (
            "/v1/topics/not-declared/records",
            r#"{"records":[{"value":1}]}"#.into(),
            404,
            "undeclared-topic",
        ),
        (
            "/v1/topics/not-declared/events",
            "{}".into(),
            404,
            "undeclared-topic",
        ),
        (events.as_str(), "{}".into(), 400, "malformed-request"),
        (
            "/v1/consumers/other-group/poll",
            "{}".into(),
            404,
            "unknown-group",
        ),
        (
            "/v1/consumers/other-group/commit",
            r#"{"offsets":[]}"#.into(),
            404,
            "unknown-group",
        ),
        (
            poll.as_str(),
            r#"{"max_records":0}"#.into(),
            400,
            "malformed-request",
        ),
        (
            poll.as_str(),
            r#"{"timeout_ms":"soon"}"#.into(),
            400,
            "malformed-request",
        ),
        (
            commit.as_str(),
            r#"{"lease":"l","offsets":[{"topic":"t","partition":0,"offset":-1}]}"#.into(),
            400,
            "malformed-request",
        ),
        (
            commit.as_str(),
            r#"{"offsets":[]}"#.into(),
            400,
            "malformed-request",
        ),
        (
            commit.as_str(),
            r#"{"lease":"made-up","offsets":[]}"#.into(),
            409,
            "lease-expired",
        ),
        (
            nack.as_str(),
            r#"{"lease":"l","records":[],"action":"later"}"#.into(),
            400,
            "malformed-request",
        ),
        (
            "/v1/consumers/other-group/nack",
            r#"{"lease":"l","records":[]}"#.into(),
            404,
            "unknown-group",
        ),
        ("/v2/nothing", "{}".into(), 404, "not-found"),
    ];
    for (path, body, status, kind) in &cases {
        let response = post(path, body).await.expect("request");
        expect_problem(response, *status, kind).await;
    }
    let wrong_method = client
        .get(format!("{base}{records}"))
        .send()
        .await
        .expect("get");
    expect_problem(wrong_method, 405, "method-not-allowed").await;

    // The same body is fine below the limit; the server is alive and ready throughout.
    let ok = post(&records, r#"{"records":[{"key":"k","value":{"ok":true}}]}"#)
        .await
        .expect("produce");
    assert_eq!(ok.status(), 200);
    assert!(sidecar.running(), "log:\n{}", sidecar.log_text());
    assert_eq!(http_get(&sidecar.admin, "/livez").expect("livez").0, 200);
    assert!(!sidecar.log_text().contains("panicked"));
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

#[tokio::test(flavor = "multi_thread")]
async fn cloud_events_over_http_become_cloud_events_on_kafka_and_are_pushed_as_such() {
    let dir = scratch("sidecar-ce");
    let (topic, group) = (unique("sc-ce"), unique("sc-ce-g"));
    let app = App::receive(&dir, &[]);
    let sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_SIDECAR_DELIVER_URL", &app.deliver_url()),
        ],
    );
    sidecar.ready().await;
    let client = reqwest::Client::new();
    let events = format!("{}/v1/topics/{topic}/events", sidecar.url());
    let binary = client
        .post(&events)
        .header("ce-specversion", "1.0")
        .header("ce-id", "evt-1")
        .header("ce-type", "com.example.order.created")
        .header("ce-source", "/orders")
        .header("content-type", "application/json")
        .body(r#"{"order":1}"#)
        .send()
        .await
        .expect("binary event");
    assert_eq!(binary.status(), 200);
    let structured = client
        .post(format!("{events}?mode=structured"))
        .header("content-type", "application/cloudevents+json")
        .body(
            r#"{"specversion":"1.0","id":"evt-2","type":"com.example.order.created","source":"/orders","datacontenttype":"application/json","data":{"order":2}}"#,
        )
        .send()
        .await
        .expect("structured event");
    assert_eq!(structured.status(), 200);

    let stored = read_all(&topic, 2, Duration::from_secs(60)).await;
    let binary_on_kafka = stored
        .iter()
        .find(|r| r.headers.iter().any(|(k, v)| k == "ce_id" && v == b"evt-1"))
        .expect("binary mode on Kafka: ce_ headers");
    assert_eq!(binary_on_kafka.payload, r#"{"order":1}"#);
    assert!(stored.iter().any(|r| {
        r.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with(b"application/cloudevents+json"))
    }));

    let pushed = journal_when(
        &app.journal,
        Duration::from_secs(60),
        "both events pushed",
        |e| e.len() == 2,
    )
    .await;
    for e in &pushed {
        let event = e.event.as_ref().expect("pushed as a CloudEvent");
        assert_eq!(event["type"], "com.example.order.created");
        assert_eq!(event["source"], "/orders");
    }
    let ids: BTreeSet<String> = pushed
        .iter()
        .filter_map(|e| e.event.as_ref()?["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["evt-1".to_owned(), "evt-2".to_owned()])
    );
}

#[test]
fn the_openapi_document_is_valid_and_served() {
    let file = repo_root().join("sidecar/openapi.json");
    let out = std::process::Command::new(python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator (scripts/test.sh installs tests/requirements.txt)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_path_is_served_and_the_document_is_the_file() {
    let dir = scratch("sidecar-openapi");
    let topic = unique("sc-doc");
    let sidecar = Sidecar::start(&dir, &[("KAFKA_PRODUCES", &topic)]);
    let client = reqwest::Client::new();
    let served = eventually(Duration::from_secs(10), "the data API listens", || {
        let client = client.clone();
        let url = format!("{}/openapi.json", sidecar.url());
        async move { client.get(url).send().await.ok()?.text().await.ok() }
    })
    .await;
    let file = std::fs::read_to_string(repo_root().join("sidecar/openapi.json")).expect("file");
    assert_eq!(served, file);
    let doc: serde_json::Value = serde_json::from_str(&file).expect("JSON");
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{topic}", &topic).replace("{group}", "g");
        for method in ops.as_object().expect("operations").keys() {
            // Every documented operation exists: the opposite method is refused with 405, not 404.
            let other = if method == "get" {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let response = client
                .request(other, format!("{}{concrete}", sidecar.url()))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_answers_say_how_long_kafka_took() {
    let dir = scratch("sidecar-timing");
    let topic = unique("sc-timing");
    let sidecar = Sidecar::start(&dir, &[("KAFKA_PRODUCES", &topic)]);
    sidecar.ready().await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let response = client
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .json(&serde_json::json!({"records": [{"key": "k", "value": 1}, {"key": "l", "value": 2}]}))
        .send()
        .await
        .expect("request");
    let total = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(response.status(), 200);
    let kafka = kafka_ms(&response).expect("Server-Timing: kafka;dur=<ms>");
    assert!(
        kafka > 0.0 && kafka <= total,
        "kafka {kafka} ms of {total} ms"
    );

    let response = binary_event(&client, &sidecar, &topic, "1")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(kafka_ms(&response).is_some_and(|ms| ms > 0.0));
}

/// A request producing a minimal CloudEvent `id` in the HTTP binary mode to `topic`.
fn binary_event(
    client: &reqwest::Client,
    sidecar: &Sidecar,
    topic: &str,
    id: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/v1/topics/{topic}/events", sidecar.url()))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/test")
        .header("ce-type", "t")
        .header("content-type", "application/json")
        .body("{}")
}

/// A caller's W3C trace context, and another one a record carries itself.
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const OWN: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// POSTs records `a` (no headers) and `b` (its own `traceparent`) with the caller's trace.
async fn produce_traced(sidecar: &Sidecar, topic: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .header("traceparent", CALLER)
        .header("tracestate", "app=1")
        .json(&serde_json::json!({"records": [
            {"key": "a", "value": 1},
            {"key": "b", "value": 2, "headers": {"traceparent": OWN}},
        ]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

fn header(record: &kafkadeps_tests::ReadRecord, name: &str) -> Option<String> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// The trace id of a `traceparent`.
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a traceparent")
}

#[tokio::test(flavor = "multi_thread")]
async fn without_spans_the_callers_trace_passes_through_the_sidecar_both_ways() {
    let dir = scratch("sidecar-trace");
    let Push {
        app,
        sidecar,
        topic,
        ..
    } = push_setup(&dir, 1, &[], &[]);
    sidecar.ready().await;
    produce_traced(&sidecar, &topic).await;
    let event = binary_event(&reqwest::Client::new(), &sidecar, &topic, "evt-t")
        .header("traceparent", CALLER)
        .send()
        .await
        .expect("event");
    assert_eq!(event.status(), 200);
    // A trace header that is no valid HTTP header value is left out of the push, which succeeds.
    let bad = reqwest::Client::new()
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .json(&serde_json::json!({"records": [
            {"key": "c", "value": 3, "headers": {"traceparent": "not\na trace"}},
        ]}))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 200);

    let stored = read_all(&topic, 4, Duration::from_secs(60)).await;
    let by_key = |key: &str| {
        stored
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("record {key}: {stored:?}"))
    };
    assert_eq!(header(by_key("a"), "traceparent").as_deref(), Some(CALLER));
    assert_eq!(header(by_key("a"), "tracestate").as_deref(), Some("app=1"));
    // A record's own trace context wins over the request's.
    assert_eq!(header(by_key("b"), "traceparent").as_deref(), Some(OWN));
    assert_eq!(header(by_key("b"), "tracestate"), None);
    let event = stored
        .iter()
        .find(|r| r.headers.iter().any(|(k, v)| k == "ce_id" && v == b"evt-t"))
        .expect("the event on Kafka");
    assert_eq!(header(event, "traceparent").as_deref(), Some(CALLER));

    let pushed = journal_when(&app.journal, Duration::from_secs(60), "four pushes", |e| {
        e.len() >= 4
    })
    .await;
    assert!(pushed.iter().all(|e| e.status == 200), "{pushed:?}");
    let pushed_trace = |key: &str| {
        pushed
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .and_then(|e| e.traceparent.clone())
    };
    assert_eq!(pushed_trace("a").as_deref(), Some(CALLER));
    assert_eq!(pushed_trace("b").as_deref(), Some(OWN));
    assert_eq!(pushed_trace("evt-t").as_deref(), Some(CALLER));
    assert_eq!(pushed_trace("c"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_spans_the_sidecar_continues_the_callers_trace() {
    let dir = scratch("sidecar-trace-otlp");
    // Spans are recorded once an OTLP endpoint is set; nothing listens there (export failures
    // are only logged), the trace context on Kafka and on the pushes is what is checked.
    let endpoint = format!("http://127.0.0.1:{}", kafkadeps_tests::free_port());
    let Push {
        app,
        sidecar,
        topic,
        ..
    } = push_setup(&dir, 1, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    sidecar.ready().await;
    produce_traced(&sidecar, &topic).await;

    let stored = read_all(&topic, 2, Duration::from_secs(60)).await;
    let on_kafka = |key: &str| {
        let record = stored.iter().find(|r| r.key == key).expect("record");
        header(record, "traceparent").expect("a traceparent on Kafka")
    };
    // The sidecar's send span continues the caller's trace: same trace, a span of its own.
    let a = on_kafka("a");
    assert_eq!(trace_id(&a), trace_id(CALLER));
    assert_ne!(a, CALLER);
    // A record's own trace context wins: its send continues that trace.
    let b = on_kafka("b");
    assert_eq!(trace_id(&b), trace_id(OWN));
    assert_ne!(b, OWN);

    let pushed = journal_when(&app.journal, Duration::from_secs(60), "two pushes", |e| {
        e.len() >= 2
    })
    .await;
    let to_app = pushed
        .iter()
        .find(|e| e.key.as_deref() == Some("a"))
        .and_then(|e| e.traceparent.clone())
        .expect("a traceparent on the push");
    // The push carries the sidecar's `process` span: the same trace, yet another span.
    assert_eq!(trace_id(&to_app), trace_id(CALLER));
    assert_ne!(to_app, a);
}
