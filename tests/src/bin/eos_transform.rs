//! Test helper: exactly-once consume-transform-produce. For every input record of the consumed
//! topic it writes one record `<partition>:<offset>` to the topic named by `OUTPUT_TOPIC`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let output = std::env::var("OUTPUT_TOPIC")?;
    let kafka = kafkadeps::Kafka::from_env().await?;
    kafka
        .transactional()
        .max_batch(50)
        .run(move |record| {
            let output = output.clone();
            async move {
                let id = format!("{}:{}", record.partition(), record.offset());
                Ok(vec![
                    kafkadeps::OutgoingRecord::new(output)
                        .with_key(&id)
                        .with_payload(id.clone().into_bytes()),
                ])
            }
        })
        .await?;
    Ok(())
}
