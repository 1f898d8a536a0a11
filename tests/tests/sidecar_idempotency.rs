//! `Idempotency-Key` on the sidecar's produce routes, against the real cluster: a retry after a
//! client-side timeout and concurrent repeats write once; a retry after a partial failure sends
//! only the failed records; a key reused for another request is refused.

use std::time::Duration;

use kafkadeps_tests::sidecar::{Sidecar, scratch};
use kafkadeps_tests::{read_all, unique};

/// A ready sidecar producing a new topic of `partitions`, with `env` on top.
async fn producing(
    dir: &std::path::Path,
    partitions: u32,
    env: &[(&str, &str)],
) -> (Sidecar, String) {
    let topic = unique("sc-idem");
    let declared = format!("{topic}(partitions={partitions})");
    let mut all = vec![("KAFKA_PRODUCES", declared.as_str())];
    all.extend_from_slice(env);
    let sidecar = Sidecar::start(dir, &all);
    sidecar.ready().await;
    (sidecar, topic)
}

fn records_url(sidecar: &Sidecar, topic: &str) -> String {
    format!("{}/v1/topics/{topic}/records", sidecar.url())
}

/// POSTs `body` with `key`; the status, whether it was a replay, and the JSON body.
async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &serde_json::Value,
) -> (u16, bool, serde_json::Value) {
    let response = client
        .post(url)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("produce");
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (
        response.status().as_u16(),
        replayed,
        response.json().await.expect("JSON body"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_client_side_timeout_writes_once() {
    let dir = scratch("sidecar-idem-timeout");
    // Every send waits 700 ms in the producer: the first request outlives its client.
    let (sidecar, topic) = producing(&dir, 1, &[("KAFKA_CLIENT_LINGER_MS", "700")]).await;
    let url = records_url(&sidecar, &topic);
    let body = serde_json::json!({"records": [{"key": "order-1", "value": {"total": 9.5}}]});
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let first = impatient
        .post(&url)
        .header("Idempotency-Key", "retry-1")
        .json(&body)
        .send()
        .await;
    assert!(
        first.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the first request timed out on the client: {first:?}"
    );
    // The retry arrives while the first request is still in flight: it waits for it.
    let client = reqwest::Client::new();
    let (status, replayed, retry) = post(&client, &url, "retry-1", &body).await;
    assert_eq!(status, 200, "{retry}");
    assert!(replayed, "answered with the first request's outcome");
    // Once done, repeats are replayed at once.
    let (status, replayed, again) = post(&client, &url, "retry-1", &body).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, retry);
    let stored = read_all(&topic, 1, Duration::from_secs(60)).await;
    assert_eq!(stored.len(), 1, "written once: {stored:?}");
    assert_eq!(retry["offsets"][0]["offset"], stored[0].offset);

    // Another request under the same key is refused, and writes nothing.
    let other = serde_json::json!({"records": [{"key": "order-2"}]});
    let (status, _, problem) = post(&client, &url, "retry-1", &other).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["type"],
        "https://kafkadeps.io/problems/idempotency-key-reused"
    );
    // A new key is a new request.
    let (status, replayed, _) = post(&client, &url, "retry-2", &body).await;
    assert_eq!((status, replayed), (200, false));
    assert_eq!(read_all(&topic, 2, Duration::from_secs(60)).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_repeats_write_once() {
    let dir = scratch("sidecar-idem-concurrent");
    let (sidecar, topic) = producing(&dir, 3, &[]).await;
    let url = records_url(&sidecar, &topic);
    let records: Vec<_> = (0..20)
        .map(|i| serde_json::json!({"key": format!("k{i}"), "value": i}))
        .collect();
    let body = serde_json::json!({ "records": records });
    let client = reqwest::Client::new();
    let answers =
        futures::future::join_all((0..10).map(|_| post(&client, &url, "batch-7f3a", &body))).await;
    assert!(
        answers.iter().all(|(status, _, _)| *status == 200),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|(_, replayed, _)| !replayed).count(),
        1,
        "one request wrote, the others got its answer"
    );
    assert!(answers.iter().all(|(_, _, a)| *a == answers[0].2));
    let stored = read_all(&topic, 20, Duration::from_secs(60)).await;
    assert_eq!(stored.len(), 20, "each record written once");
    // A key that is no key is refused before anything is sent.
    let (status, _, problem) = post(&client, &url, &"k".repeat(300), &body).await;
    assert_eq!(status, 400, "{problem}");

    // CloudEvents too.
    let events = format!("{}/v1/topics/{topic}/events", sidecar.url());
    let event = serde_json::json!({"specversion": "1.0", "id": "e-1", "source": "/test",
        "type": "order.created", "data": {"n": 1}});
    let send = || {
        client
            .post(&events)
            .header("Idempotency-Key", "event-e-1")
            .header("content-type", "application/cloudevents+json")
            .json(&event)
            .send()
    };
    let (a, b) = futures::future::join(send(), send()).await;
    let (a, b) = (a.expect("event"), b.expect("event"));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(
        a.json::<serde_json::Value>().await.expect("a"),
        b.json::<serde_json::Value>().await.expect("b")
    );
    assert_eq!(
        read_all(&topic, 21, Duration::from_secs(60)).await.len(),
        21
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_partial_failure_sends_only_the_failed_records() {
    let dir = scratch("sidecar-idem-partial");
    let (sidecar, topic) = producing(&dir, 1, &[]).await;
    let url = records_url(&sidecar, &topic);
    // The second record names a partition the topic does not have: Kafka refuses it.
    let body = serde_json::json!({"records": [
        {"key": "stored", "value": 1},
        {"key": "refused", "value": 2, "partition": 7}
    ]});
    let client = reqwest::Client::new();
    for attempt in 0..2 {
        let (status, replayed, problem) = post(&client, &url, "partial-1", &body).await;
        assert_eq!(
            (status, replayed),
            (500, false),
            "attempt {attempt}: {problem}"
        );
        assert_eq!(problem["offsets"][0]["offset"], 0, "{problem}");
        assert!(problem["offsets"][1]["error"].is_string(), "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("sends only the failed ones")),
            "{problem}"
        );
    }
    let stored = read_all(&topic, 1, Duration::from_secs(60)).await;
    let keys: Vec<_> = stored.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        ["stored"],
        "the acknowledged record was not sent again"
    );
}
