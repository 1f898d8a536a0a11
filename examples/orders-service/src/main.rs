//! orders-service: declares `orders.v1` and produces orders to it, durably.
//!
//! Run with:
//! ```sh
//! scripts/kafka.sh up
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 KAFKA_APP=orders KAFKA_TOPIC_REPLICAS=clamp \
//!   KAFKA_PRODUCES='orders.v1(partitions=3, retention.ms=7d)' KAFKA_LOG_FORMAT=pretty \
//!   cargo run -p example-orders-service -- 10
//! ```
//! The argument is how many orders to send (default 10); `--poison` sends one record that is not
//! an order (the consumer dead-letters it); `--rate N` sends N orders a second until SIGTERM (as a
//! Deployment does), then waits for the acknowledgements of those in flight and exits 0. Order
//! ids are `order-<i>`, or `<HOSTNAME>-<start ms>-<i>` with `--rate` (unique across processes,
//! also of pods sharing the node's hostname on its network). Logs are JSON lines on stdout unless
//! `KAFKA_LOG_FORMAT=pretty`.

use serde::Serialize;

/// An order as it travels on `orders.v1`.
#[derive(Debug, Serialize)]
struct Order {
    order_id: String,
    customer: String,
    amount_cents: i64,
}

fn order(id: String, i: u32) -> Order {
    Order {
        customer: format!("customer-{}", i % 3),
        amount_cents: 1000 + i64::from(i) * 7,
        order_id: id,
    }
}

/// Sends `rate` orders a second until SIGTERM or Ctrl-C; then flushes and returns.
async fn produce_at(
    kafka: &kafkadeps::Kafka,
    topic: &str,
    rate: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "orders".to_owned());
    let prefix = format!("{host}-{started}");
    let producer = kafka.producer();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1) / rate.max(1));
    let mut in_flight = tokio::task::JoinSet::new();
    let stop = kafkadeps::consumer::terminated();
    tokio::pin!(stop);
    let mut i = 0u32;
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {}
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                done??;
                continue;
            }
        }
        let order = order(format!("{prefix}-{i}"), i);
        i += 1;
        let record = kafkadeps::OutgoingRecord::json(topic, &order.order_id, &order)?;
        let (producer, topic) = (producer.clone(), topic.to_owned());
        in_flight.spawn(async move {
            let delivery = producer.send(record).await?;
            tracing::info!(
                order_id = %order.order_id, topic = %topic,
                partition = delivery.partition, offset = delivery.offset,
                "Produced order."
            );
            Ok::<_, kafkadeps::ProduceError>(())
        });
    }
    tracing::info!(
        sent = i,
        "Stopping: waiting for the acknowledgements in flight."
    );
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    let undelivered = kafka.shutdown(std::time::Duration::from_secs(10)).await;
    tracing::info!(
        sent = i,
        undelivered,
        "Orders acknowledged by all in-sync replicas."
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);

    // Parse + validate the KAFKA_* declarations, ensure the declared topics exist.
    let kafka = kafkadeps::Kafka::from_env().await?;
    let producer = kafka.producer();
    let topic = kafka
        .settings()
        .produced_topics()
        .next()
        .map(|t| t.name.clone())
        .ok_or("declare a topic in KAFKA_PRODUCES")?;

    if arg.as_deref() == Some("--poison") {
        let record = kafkadeps::OutgoingRecord::new(&topic)
            .with_key("poison")
            .with_payload(b"this is not an order".to_vec());
        let delivery = producer.send(record).await?;
        tracing::info!(topic = %topic, partition = delivery.partition, offset = delivery.offset, "Produced a poison record.");
        return Ok(());
    }
    if arg.as_deref() == Some("--rate") {
        let rate: u32 = std::env::args()
            .nth(2)
            .ok_or("--rate needs orders per second")?
            .parse()?;
        return produce_at(&kafka, &topic, rate).await;
    }
    let count: u32 = arg.map(|s| s.parse()).transpose()?.unwrap_or(10);

    let sends = (0..count).map(|i| {
        let (producer, topic) = (producer.clone(), topic.clone());
        let order = order(format!("order-{i}"), i);
        let record = kafkadeps::OutgoingRecord::json(&topic, &order.order_id, &order);
        async move {
            let delivery = producer.send(record?).await?;
            tracing::info!(
                order_id = %order.order_id, topic = %topic,
                partition = delivery.partition, offset = delivery.offset,
                "Produced order."
            );
            Ok::<_, kafkadeps::Error>(())
        }
    });
    for result in futures::future::join_all(sends).await {
        result?;
    }
    let undelivered = kafka.shutdown(std::time::Duration::from_secs(10)).await;
    tracing::info!(
        count,
        undelivered,
        "Orders acknowledged by all in-sync replicas."
    );
    Ok(())
}
