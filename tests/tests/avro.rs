//! Avro over a Confluent-API schema registry: kafkadeps' records are read by confluent-kafka's
//! AvroDeserializer, confluent-kafka's AvroSerializer records are read by kafkadeps with a newer
//! reader schema, and an incompatible schema is refused with the registry's reason. The registry
//! is `KAFKADEPS_SCHEMA_REGISTRY` when set, else the test crate's fixture serving the documented
//! subset of the Confluent API (no Confluent-compatible registry installs from the package
//! registries here).

use kafkadeps::codec::avro::{AvroReader, AvroWriter, SubjectStrategy};
use kafkadeps::codec::schema_registry::{RegistryError, SchemaRegistry};
use kafkadeps_tests::{bootstrap, python_peer, read_all, start_kafka, unique};
use serde::{Deserialize, Serialize};

const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[
  {"name":"order_id","type":"string"},{"name":"amount_cents","type":"long"}]}"#;
/// v2 adds a field with a default: it reads v1 records.
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[
  {"name":"order_id","type":"string"},{"name":"amount_cents","type":"long"},
  {"name":"currency","type":"string","default":"EUR"}]}"#;
/// Changes a field's type: not backward compatible.
const ORDER_BROKEN: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[
  {"name":"order_id","type":"string"},{"name":"amount_cents","type":"string"}]}"#;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct OrderV1 {
    order_id: String,
    amount_cents: i64,
}

#[derive(Debug, Deserialize, PartialEq)]
struct OrderV2 {
    order_id: String,
    amount_cents: i64,
    currency: String,
}

async fn registry_url() -> String {
    match std::env::var("KAFKADEPS_SCHEMA_REGISTRY") {
        Ok(url) => url,
        Err(_) => kafkadeps_tests::schema_registry::start().await,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn confluent_kafka_reads_kafkadeps_avro() {
    let topic = unique("avro-out");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "avro"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
    ])
    .await;
    let url = registry_url().await;
    let registry = SchemaRegistry::new(url.clone());
    let writer = AvroWriter::new(&registry, &topic, ORDER_V1, SubjectStrategy::TopicName)
        .await
        .expect("schema registered");
    for i in 0..3 {
        let order = OrderV1 {
            order_id: format!("rs-{i}"),
            amount_cents: 10 * i,
        };
        kafka
            .producer()
            .send(writer.record(&order.order_id, &order).unwrap())
            .await
            .unwrap();
    }
    let (t, r) = (topic.clone(), url.clone());
    let got = tokio::task::spawn_blocking(move || {
        python_peer(&["avro-consume", &bootstrap(), &t, &r, "3"])
    })
    .await
    .unwrap();
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g["magic"], 0);
        assert_eq!(g["schema_id"], writer.schema_id());
        assert_eq!(g["value"]["order_id"], format!("rs-{i}"));
        assert_eq!(g["value"]["amount_cents"], 10 * i as i64);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kafkadeps_reads_confluent_kafka_avro_with_a_newer_reader_schema() {
    let topic = unique("avro-in");
    let _kafka = start_kafka(&[
        ("KAFKA_APP", "avro-in"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
    ])
    .await;
    let url = registry_url().await;
    let (t, r) = (topic.clone(), url.clone());
    tokio::task::spawn_blocking(move || python_peer(&["avro-produce", &bootstrap(), &t, &r, "3"]))
        .await
        .unwrap();
    let records = read_all(&topic, 3, std::time::Duration::from_secs(60)).await;
    let reader = AvroReader::new(SchemaRegistry::new(url), ORDER_V2).unwrap();
    for (i, r) in records.iter().enumerate() {
        let raw = read_raw(&topic, r.offset).await;
        let order: OrderV2 = reader
            .decode(&raw)
            .await
            .expect("v1 record read with the v2 schema");
        assert_eq!(
            order,
            OrderV2 {
                order_id: format!("py-avro-{i}"),
                amount_cents: 100 + i as i64,
                currency: "EUR".into()
            }
        );
    }
    // Not the wire format: a poison record, not a panic.
    assert!(reader.decode::<OrderV2>(b"plain text").await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incompatible_schema_is_refused_with_the_registrys_reason() {
    let topic = unique("avro-compat");
    let url = registry_url().await;
    let registry = SchemaRegistry::new(url.clone());
    AvroWriter::new(&registry, &topic, ORDER_V1, SubjectStrategy::TopicName)
        .await
        .expect("v1");
    AvroWriter::new(&registry, &topic, ORDER_V2, SubjectStrategy::TopicName)
        .await
        .expect("v2 is a compatible evolution");
    let err = AvroWriter::new(&registry, &topic, ORDER_BROKEN, SubjectStrategy::TopicName)
        .await
        .unwrap_err();
    let text = format!("{err}");
    assert!(
        matches!(
            err,
            kafkadeps::codec::avro::AvroError::Registry(RegistryError::Incompatible { .. })
        ),
        "{text}"
    );
    assert!(text.contains(&format!("{topic}-value")), "{text}");
}

/// The raw value bytes of one record (the reader test decodes them itself).
async fn read_raw(topic: &str, offset: i64) -> Vec<u8> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("raw"))
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    tokio::task::spawn_blocking(move || {
        loop {
            if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_secs(1)) {
                return m.payload().unwrap_or_default().to_vec();
            }
        }
    })
    .await
    .expect("reader")
}
