//! `/readyz` and `/livez` of the process's admin server: not ready before the declared topics are
//! ensured, ready once they are and the consumer holds its assignment, not ready after a fatal
//! client error (a static member fenced by another with the same `group.instance.id`).
//! Alone in its binary: health is process-wide.

use std::time::Duration;

use kafkadeps_tests::{bootstrap, eventually, http_get, start_kafka, unique};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

#[tokio::test(flavor = "multi_thread")]
async fn readyz_follows_ensure_assignment_and_fatal_errors() {
    let topic = unique("ready");
    let group = unique("ready-group");
    // 1. The cluster cannot be reached yet: the admin server answers, not ready, and says why.
    let unreachable = kafkadeps::Settings::from_vars([
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("KAFKA_APP", "ready"),
        ("KAFKA_TOPIC", topic.as_str()),
        ("KAFKA_METRICS_LISTEN", "127.0.0.1:0"),
        ("KAFKA_ENSURE_TIMEOUT", "8s"),
    ])
    .unwrap();
    let starting = tokio::spawn(kafkadeps::Kafka::start(unreachable));
    let addr = eventually(Duration::from_secs(10), "the admin server is up", || {
        let a = kafkadeps::admin_server::address();
        async move { a }
    })
    .await
    .to_string();
    let (status, body) = http_get(&addr, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], false);
    assert_eq!(json["components"]["topics"]["status"], "starting", "{body}");
    assert_eq!(http_get(&addr, "/livez").unwrap().0, 200);
    assert!(
        starting.await.unwrap().is_err(),
        "ensure gives up after KAFKA_ENSURE_TIMEOUT"
    );
    let (status, body) = http_get(&addr, "/readyz").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("\"failed\""), "{body}");

    // 2. The real cluster: topics ensured, producer connected, consumer assigned -> ready.
    let kafka = start_kafka(&[
        ("KAFKA_APP", "ready"),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
        ("KAFKA_GROUP_ID", &group),
        ("KAFKA_GROUP_INSTANCE_ID", "static-member-1"),
        ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "10000"),
    ])
    .await;
    let (_stats, running) = kafka
        .consumer()
        .without_signal_handlers()
        .start(|_r| async { Ok(()) })
        .unwrap();
    let consumer = tokio::spawn(running);
    let body = eventually(
        Duration::from_secs(60),
        "ready with topics, producer and consumer",
        || {
            let r = http_get(&addr, "/readyz").ok();
            async move { r.filter(|(s, _)| *s == 200).map(|(_, b)| b) }
        },
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], true);
    for c in ["topics", "producer", &format!("consumer:{group}")] {
        assert_eq!(json["components"][c]["status"], "ready", "{c}: {body}");
    }

    // 3. Another member with the same static instance id fences ours: a fatal error.
    let intruder: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", &group)
        .set("group.instance.id", "static-member-1")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "10000")
        .create()
        .unwrap();
    intruder.subscribe(&[&topic]).unwrap();
    let poller = tokio::task::spawn_blocking(move || {
        for _ in 0..300 {
            let _ = intruder.poll(Duration::from_millis(100));
        }
    });
    let body = eventually(
        Duration::from_secs(60),
        "not ready after the fatal error",
        || {
            let r = http_get(&addr, "/readyz").ok();
            async move { r.filter(|(s, _)| *s == 503).map(|(_, b)| b) }
        },
    )
    .await;
    assert!(body.contains("fatal consumer error"), "{body}");
    let result = tokio::time::timeout(Duration::from_secs(60), consumer)
        .await
        .expect("run returns")
        .unwrap();
    assert!(
        matches!(result, Err(kafkadeps::ConsumeError::Fatal(_))),
        "{result:?}"
    );
    poller.abort();
}
