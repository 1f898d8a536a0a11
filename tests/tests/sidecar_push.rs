//! The sidecar's push mode against the real cluster, driven by the real Python example app over
//! real HTTP: delivery in partition order, retries and dead letters, parallel partitions, key
//! ordering, CloudEvents, and the push metrics.

use std::collections::BTreeSet;
use std::time::Duration;

use kafkadeps::consumer::dlq_headers;
use kafkadeps_tests::push::{Push, journal_when, push_pipeline, push_pipeline_with, push_setup};
use kafkadeps_tests::sidecar::{
    App, Sidecar, all_committed, assert_partition_order, metric_sum, processed_keys, scratch,
};
use kafkadeps_tests::{eventually, http_get, read_all, unique};

const RECORDS: usize = 10_000;

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

#[tokio::test(flavor = "multi_thread")]
async fn park_mode_pushes_the_other_keys_while_a_failing_key_waits_in_the_retry_topic() {
    let dir = scratch("sidecar-park");
    let faults = [("APP_FAULTS", "order-5=500,500")];
    let park = [
        ("KAFKA_RETRY_MODE", "park"),
        ("KAFKA_SIDECAR_DELIVER_ATTEMPTS", "5"),
    ];
    let Push {
        app,
        sidecar: _sidecar,
        topic,
        group,
    } = push_pipeline_with(&dir, 1, &faults, &park, 20).await;
    let entries = journal_when(
        &app.journal,
        Duration::from_secs(60),
        "20 records pushed",
        |e| processed_keys(e).len() == 20,
    )
    .await;
    let five: Vec<u16> = entries
        .iter()
        .filter(|e| e.key.as_deref() == Some("order-5"))
        .map(|e| e.status)
        .collect();
    assert_eq!(five, [500, 500, 200], "retried from the retry topic");
    // Unlike in place, the records after order-5 did not wait for its retries.
    let five_done = entries
        .iter()
        .position(|e| e.key.as_deref() == Some("order-5") && e.status == 200)
        .expect("order-5 done");
    assert!(
        entries[..five_done]
            .iter()
            .any(|e| e.offset > 5 && e.status == 200),
        "later keys went on while order-5 was parked"
    );
    assert!(processed_keys(&entries).values().all(|n| *n == 1));
    all_committed(&group, &topic, 1, 20).await;
    let parked = read_all(&format!("{topic}.retry"), 2, Duration::from_secs(30)).await;
    assert!(parked.iter().all(|r| r.key == "order-5"));
}
