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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_partition_leader_while_producing_loses_and_duplicates_nothing() {
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
    if !faults_enabled() {
        eprintln!("skipping: KAFKA_BOOTSTRAP_SERVERS is not the local cluster");
        return;
    }
    let _restart = RestartOnDrop;
    const RECORDS: usize = 6000;
    let topic = unique("leader-kill");
    let kafka = kafkadeps_tests::start_kafka(&[
        ("KAFKA_APP", "leader-kill"),
        (
            "KAFKA_PRODUCES",
            &format!("{topic}(partitions=3, replicas=3, min.insync.replicas=2)"),
        ),
    ])
    .await;
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..32)
        .map(|t| {
            let (producer, topic, acked) = (
                kafka.producer(),
                topic.clone(),
                std::sync::Arc::clone(&acked),
            );
            tokio::spawn(async move {
                for i in (t..RECORDS).step_by(32) {
                    let key = format!("r{i}");
                    producer
                        .send(kafkadeps::OutgoingRecord::json(&topic, &key, &i).expect("JSON"))
                        .await
                        .unwrap_or_else(|e| panic!("{key} not acknowledged: {e}"));
                    acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually(
        Duration::from_secs(60),
        "a third of the records acknowledged",
        || {
            let n = acked.load(std::sync::atomic::Ordering::SeqCst);
            async move { (n > RECORDS / 3).then_some(()) }
        },
    )
    .await;
    let md = metadata_client()
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .expect("metadata");
    let leader = md.topics()[0].partitions()[0].leader();
    assert!((1..=3).contains(&leader), "partition 0 has a leader");
    kafka_sh(&["kill", &leader.to_string()]);
    for s in senders {
        s.await
            .expect("every send acknowledged despite the leader crash");
    }
    kafka_sh(&["start", &leader.to_string()]);

    let records = kafkadeps_tests::read_all(&topic, RECORDS, Duration::from_secs(120)).await;
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for r in &records {
        *seen.entry(r.key.clone()).or_default() += 1;
    }
    assert_eq!(seen.len(), RECORDS, "every acknowledged record is present");
    let dup: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        dup.is_empty(),
        "idempotence: no record written twice: {dup:?}"
    );
    eventually(Duration::from_secs(90), "ISR back to 3", || {
        let sizes = isr_sizes(&topic);
        async move { (sizes == vec![3, 3, 3]).then_some(()) }
    })
    .await;
}
