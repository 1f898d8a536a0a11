//! Broker faults on the real 3-broker cluster. Tests in this binary kill and restart brokers, so
//! they take turns (one global lock) and every test leaves all three brokers running.

use std::time::Duration;

use futures::StreamExt;
use kafkadeps_tests::{
    bootstrap, broker_count, create_topic, eventually, faults_enabled, kafka_sh, metadata_client,
    unique,
};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::Mutex;

static ONE_FAULT_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn durable_producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer")
}

fn isr_sizes(topic: &str) -> Vec<usize> {
    let md = metadata_client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.isr().len())
        .collect()
}

async fn produce(producer: &FutureProducer, topic: &str, range: std::ops::Range<u32>) {
    for i in range {
        let payload = format!("record-{i}");
        producer
            .send(
                FutureRecord::to(topic).key(&payload).payload(&payload),
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("record {i} not acknowledged: {e}"));
    }
}

/// Restarts every node of the local cluster that is down, whatever the test did.
struct RestartOnDrop;
impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        for n in ["1", "2", "3"] {
            let _ = std::process::Command::new("bash")
                .arg(kafkadeps_tests::repo_root().join("scripts/kafka.sh"))
                .args(["start", n])
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_cluster_replicates_and_survives_a_broker_kill() {
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
    assert_eq!(broker_count(), 3, "the test cluster must have 3 brokers");
    let topic = unique("foundation");
    create_topic(&topic, 3, 3, &[("min.insync.replicas", "2")]).await;
    assert_eq!(
        isr_sizes(&topic),
        vec![3, 3, 3],
        "every partition has 3 in-sync replicas"
    );

    let producer = durable_producer();
    produce(&producer, &topic, 0..30).await;

    let group = unique("foundation-group");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut seen = std::collections::BTreeSet::new();
    let mut stream = consumer.stream();
    tokio::time::timeout(Duration::from_secs(60), async {
        while seen.len() < 30 {
            let m = stream.next().await.expect("stream").expect("record");
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    })
    .await
    .expect("all 30 records consumed within 60 s");
    drop(stream);

    if !faults_enabled() {
        eprintln!("skipping the broker kill: KAFKA_BOOTSTRAP_SERVERS is not the local cluster");
        return;
    }
    let _restart = RestartOnDrop;
    let victim = "2";
    kafka_sh(&["kill", victim]);
    // acks=all with min.insync.replicas=2 keeps working with two of three brokers.
    produce(&producer, &topic, 30..60).await;
    eventually(
        Duration::from_secs(60),
        "ISR shrinks to 2 after the kill",
        || {
            let sizes = isr_sizes(&topic);
            async move { sizes.iter().all(|&n| n == 2).then_some(()) }
        },
    )
    .await;

    kafka_sh(&["start", victim]);
    eventually(
        Duration::from_secs(90),
        "ISR returns to 3 after the restart",
        || {
            let sizes = isr_sizes(&topic);
            async move { (sizes == vec![3, 3, 3]).then_some(()) }
        },
    )
    .await;
    produce(&producer, &topic, 60..70).await;
}
