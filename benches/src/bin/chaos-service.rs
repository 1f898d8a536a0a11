//! The SDK service of the reliability harness (`chaos`): consumes the topic in `KAFKA_CONSUMES`
//! with kafkadeps' runtime and, for every record, writes the same key and value to the topic in
//! `KAFKA_PRODUCES` before the record counts as processed — so what it processed, and in which
//! order per key, can be read back from Kafka after it was killed. Stops on SIGTERM.

use kafkadeps::{HandlerError, Kafka, Record};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kafka = Kafka::from_env().await?;
    let out = kafka
        .settings()
        .produced_topics()
        .map(|t| t.name.clone())
        .find(|t| !t.ends_with(kafkadeps::consumer::DLQ_SUFFIX))
        .ok_or("declare the output topic in KAFKA_PRODUCES")?;
    let producer = kafka.producer();
    kafka
        .consumer()
        // Different keys of a partition run concurrently; one key stays in order, which is
        // what the harness checks.
        .scheduling(kafkadeps::consumer::Scheduling::Key { lanes: 32 })
        .run(move |record: Record| {
            let (producer, out) = (producer.clone(), out.clone());
            async move {
                let mut copy = kafkadeps::OutgoingRecord::new(out)
                    .with_payload(record.payload().unwrap_or_default());
                if let Some(key) = record.key() {
                    copy = copy.with_key(key);
                }
                producer
                    .send(copy)
                    .await
                    .map(|_| ())
                    .map_err(HandlerError::retryable)
            }
        })
        .await?;
    kafka.shutdown(std::time::Duration::from_secs(10)).await;
    Ok(())
}
