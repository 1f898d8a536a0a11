//! Bytes other languages understand: records kafkadeps writes in each format are decoded by a
//! real Python peer (confluent-kafka + the CloudEvents SDK), and records the Python peer writes
//! are decoded by kafkadeps.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkadeps::OutgoingRecord;
use kafkadeps::codec::cloudevents::cloudevents::{AttributesReader, Data};
use kafkadeps::codec::cloudevents::{self as ce, Mode};
use kafkadeps_tests::{bootstrap, python_peer, start_kafka, unique};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq, kafkadeps::Event)]
#[event(topic = "interop-orders", key = order_id, format = "cloudevents",
        ce_type = "com.acme.order.created", ce_source = "/orders")]
struct OrderCreated {
    order_id: String,
    amount_cents: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_peer_decodes_what_kafkadeps_writes() {
    let topic = unique("interop-out");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "interop"),
        (
            "KAFKA_PRODUCES",
            &format!("{topic}(partitions=1), interop-orders"),
        ),
    ])
    .await;
    let p = kafka.producer();
    p.send(
        OutgoingRecord::json(
            &topic,
            "json-1",
            &serde_json::json!({"order_id": "json-1", "amount_cents": 1}),
        )
        .expect("JSON"),
    )
    .await
    .unwrap();
    let binary = ce::event(
        "/orders",
        "com.acme.order.created",
        serde_json::json!({"order_id": "bin-1"}),
    )
    .unwrap();
    p.send(OutgoingRecord::cloud_event(&topic, binary, Mode::Binary).unwrap())
        .await
        .unwrap();
    let mut structured = ce::event(
        "/orders",
        "com.acme.order.shipped",
        serde_json::json!({"order_id": "str-1"}),
    )
    .unwrap();
    structured.set_extension(ce::PARTITION_KEY, "str-key");
    p.send(OutgoingRecord::cloud_event(&topic, structured, Mode::Structured).unwrap())
        .await
        .unwrap();

    let got =
        tokio::task::spawn_blocking(move || python_peer(&["consume", &bootstrap(), &topic, "3"]))
            .await
            .unwrap();
    assert_eq!(got[0]["kind"], "json");
    assert_eq!(got[0]["key"], "json-1");
    assert_eq!(got[0]["value"]["order_id"], "json-1");
    assert_eq!(got[1]["kind"], "ce-binary");
    assert_eq!(got[1]["type"], "com.acme.order.created");
    assert_eq!(got[1]["source"], "/orders");
    assert_eq!(got[1]["data"]["order_id"], "bin-1");
    assert_eq!(
        got[1]["id"].as_str().unwrap().len(),
        36,
        "kafkadeps filled a UUID id"
    );
    assert!(
        got[1]["time"].as_str().is_some_and(|t| t.starts_with("20")),
        "kafkadeps filled the time"
    );
    assert_eq!(got[2]["kind"], "ce-structured");
    assert_eq!(got[2]["type"], "com.acme.order.shipped");
    assert_eq!(got[2]["data"]["order_id"], "str-1");
    assert_eq!(got[2]["partitionkey"], "str-key");
    assert_eq!(
        got[2]["key"], "str-key",
        "the partitionkey extension is the record key"
    );

    // A derived event type: topic, key and CloudEvents attributes from the type.
    let order = OrderCreated {
        order_id: unique("o"),
        amount_cents: 1250,
    };
    p.publish(&order).await.unwrap();
    let key = order.order_id.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        python_peer(&["consume-key", &bootstrap(), "interop-orders", &key])
    })
    .await
    .unwrap();
    let last = decoded.first().expect("the published order");
    assert_eq!(last["kind"], "ce-binary");
    assert_eq!(last["type"], "com.acme.order.created");
    assert_eq!(last["partitionkey"], order.order_id.as_str());
    assert_eq!(last["data"]["amount_cents"], 1250);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafkadeps_decodes_what_the_python_peer_writes() {
    let topic = unique("interop-in");
    let t = topic.clone();
    tokio::task::spawn_blocking(move || {
        let kafka_topic_exists = Command::new(workspace_sidecar())
            .args(["ensure"])
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
            .env("KAFKA_PRODUCES", format!("{t}(partitions=1)"))
            .status()
            .unwrap();
        assert!(kafka_topic_exists.success());
        python_peer(&["produce", &bootstrap(), &t]);
    })
    .await
    .unwrap();
    let kafka = start_kafka(&[
        ("KAFKA_APP", "interop-in"),
        ("KAFKA_GROUP_ID", &unique("interop-in")),
        ("KAFKA_CONSUMES", &format!("{topic}(min.partitions=1)")),
    ])
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let done = Arc::new(tokio::sync::Notify::new());
    let d = Arc::clone(&done);
    let (_stats, running) = kafka
        .consumer()
        .without_signal_handlers()
        .shutdown_on(async move { d.notified().await })
        .start(move |record| {
            let s = Arc::clone(&s);
            async move {
                let entry = if record.is_cloud_event() {
                    let e = record.cloud_event()?;
                    let data = match e.data() {
                        Some(Data::Json(v)) => v.clone(),
                        Some(Data::Binary(b)) => serde_json::from_slice(b).unwrap_or_default(),
                        Some(Data::String(t)) => serde_json::from_str(t).unwrap_or_default(),
                        None => serde_json::Value::Null,
                    };
                    serde_json::json!({"id": e.id(), "type": e.ty(), "source": e.source().to_string(),
                        "partitionkey": e.extension(ce::PARTITION_KEY).map(|v| v.to_string()), "data": data})
                } else {
                    serde_json::json!({"json": record.json::<serde_json::Value>()?})
                };
                s.lock().unwrap().push(entry);
                Ok(())
            }
        })
        .unwrap();
    let consumer = tokio::spawn(running);
    kafkadeps_tests::eventually(Duration::from_secs(60), "three records decoded", || {
        let n = seen.lock().unwrap().len();
        async move { (n >= 3).then_some(()) }
    })
    .await;
    done.notify_one();
    consumer.await.unwrap().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0]["json"]["order_id"], "py-1");
    for (entry, mode) in seen[1..].iter().zip(["binary", "structured"]) {
        assert_eq!(entry["id"], format!("py-{mode}"));
        assert_eq!(entry["type"], "com.acme.order.created");
        assert_eq!(entry["source"], "/python");
        assert_eq!(entry["partitionkey"], format!("py-{mode}-key"));
        assert_eq!(entry["data"]["order_id"], format!("py-{mode}"));
        assert_eq!(entry["data"]["amount_cents"], 7);
    }
}

fn workspace_sidecar() -> std::path::PathBuf {
    kafkadeps_tests::sidecar_bin()
}
