//! billing-service: consumes `orders.v1` with retries and a dead-letter topic.
//!
//! Run with:
//! ```sh
//! scripts/kafka.sh up
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 KAFKA_APP=billing KAFKA_TOPIC_REPLICAS=clamp \
//!   KAFKA_CONSUMES=orders.v1 cargo run -p example-billing-service -- 10
//! ```
//! With an argument N it stops after N records were billed or dead-lettered; without, it runs
//! until SIGTERM / Ctrl-C. Orders whose amount is a multiple of 3 fail once with a transient
//! error (retried); records that are not orders are poison and go to `orders.v1.dlq`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use kafkadeps::HandlerError;
use serde::Deserialize;

/// An order as billing reads it.
#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    customer: String,
    amount_cents: i64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let expect: Option<u32> = std::env::args().nth(1).map(|s| s.parse()).transpose()?;

    let kafka = kafkadeps::Kafka::from_env().await?;
    let done = Arc::new(AtomicU32::new(0));
    let finished = Arc::new(tokio::sync::Notify::new());
    let failed_once = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));

    let (d, f) = (Arc::clone(&done), Arc::clone(&finished));
    let consumer = kafka
        .consumer()
        .max_attempts(3)
        .shutdown_on(async move { f.notified().await });
    let (d2, f2) = (Arc::clone(&d), Arc::clone(&finished));
    consumer
        .run(move |record| {
            let (done, finished, failed_once) =
                (Arc::clone(&d2), Arc::clone(&f2), Arc::clone(&failed_once));
            async move {
                let count = |done: &AtomicU32| {
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if expect.is_some_and(|e| n >= e) {
                        finished.notify_one();
                    }
                };
                let order: Order = match record.json() {
                    Ok(o) => o,
                    Err(e) => {
                        println!(
                            "poison record at {}/{} offset {}: dead-lettered",
                            record.topic(),
                            record.partition(),
                            record.offset()
                        );
                        count(&done);
                        return Err(e.into());
                    }
                };
                if order.amount_cents % 3 == 0
                    && failed_once
                        .lock()
                        .map(|mut s| s.insert(order.order_id.clone()))
                        .unwrap_or(false)
                {
                    println!(
                        "billing {} failed transiently; it will be retried",
                        order.order_id
                    );
                    return Err(HandlerError::retryable("payment provider timed out"));
                }
                println!(
                    "billed {} for {} ({} cents) from partition {} offset {}",
                    order.order_id,
                    order.customer,
                    order.amount_cents,
                    record.partition(),
                    record.offset()
                );
                count(&done);
                Ok(())
            }
        })
        .await?;
    println!(
        "billing-service: {} records handled, offsets committed",
        d.load(Ordering::SeqCst)
    );
    Ok(())
}
