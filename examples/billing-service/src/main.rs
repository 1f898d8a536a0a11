//! billing-service: consumes `orders.v1` with retries and a dead-letter topic.
//!
//! Run with:
//! ```sh
//! scripts/kafka.sh up
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 KAFKA_APP=billing KAFKA_TOPIC_REPLICAS=clamp \
//!   KAFKA_CONSUMES=orders.v1 KAFKA_LOG_FORMAT=pretty cargo run -p example-billing-service -- 10
//! ```
//! With an argument N it stops after N records were billed or dead-lettered; without, it runs
//! until SIGTERM / Ctrl-C. Orders whose amount is a multiple of 3 fail once with a transient
//! error (retried); records that are not orders are poison and go to `orders.v1.dlq`.
//! When it also declares a produced topic (`KAFKA_PRODUCES=billed.v1`), every billed order is
//! written there before the order counts as processed: `{order_id, amount_cents, ordered_ms}`,
//! keyed by the order id (`ordered_ms` is the order record's timestamp, so a reader can tell
//! the end-to-end delay).
//! `/metrics`, `/livez` and `/readyz` are served on `KAFKA_METRICS_LISTEN` (default `0.0.0.0:9464`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use kafkadeps::{HandlerError, Producer, Record};
use serde::{Deserialize, Serialize};

/// An order as billing reads it.
#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    customer: String,
    amount_cents: i64,
}

/// What billing writes for each billed order.
#[derive(Debug, Serialize)]
struct Billed<'a> {
    order_id: &'a str,
    amount_cents: i64,
    ordered_ms: Option<i64>,
}

/// Where billed orders go, when a produced topic is declared.
struct Output {
    producer: Producer,
    topic: String,
}

/// Counts handled records and signals when the expected number is reached.
struct Progress {
    done: AtomicU32,
    expect: Option<u32>,
    finished: tokio::sync::Notify,
}

impl Progress {
    fn handled(&self) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if self.expect.is_some_and(|e| n >= e) {
            self.finished.notify_one();
        }
    }
}

async fn bill(
    record: Record,
    progress: Arc<Progress>,
    failed_once: Arc<Mutex<HashSet<String>>>,
    output: Arc<Option<Output>>,
) -> Result<(), HandlerError> {
    let order: Order = match record.json() {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(
                topic = record.topic(),
                partition = record.partition(),
                offset = record.offset(),
                "Not an order; dead-lettering it."
            );
            progress.handled();
            return Err(e.into());
        }
    };
    let first_failure = order.amount_cents % 3 == 0
        && failed_once
            .lock()
            .map(|mut s| s.insert(order.order_id.clone()))
            .unwrap_or(false);
    if first_failure {
        tracing::warn!(order_id = %order.order_id, "Billing failed transiently; it will be retried.");
        return Err(HandlerError::retryable("payment provider timed out"));
    }
    if let Some(out) = output.as_ref() {
        let billed = Billed {
            order_id: &order.order_id,
            amount_cents: order.amount_cents,
            ordered_ms: record.timestamp_millis(),
        };
        // Not acknowledged: the order is retried (at-least-once, so it may be written twice).
        out.producer
            .send(kafkadeps::OutgoingRecord::json(
                &out.topic,
                &order.order_id,
                &billed,
            )?)
            .await
            .map_err(HandlerError::retryable)?;
    }
    tracing::info!(
        order_id = %order.order_id, customer = %order.customer, amount_cents = order.amount_cents,
        topic = record.topic(), partition = record.partition(), offset = record.offset(),
        "Billed order."
    );
    progress.handled();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let expect: Option<u32> = std::env::args().nth(1).map(|s| s.parse()).transpose()?;
    let kafka = kafkadeps::Kafka::from_env().await?;
    let progress = Arc::new(Progress {
        done: AtomicU32::new(0),
        expect,
        finished: tokio::sync::Notify::new(),
    });
    let failed_once = Arc::new(Mutex::new(HashSet::new()));
    let output = Arc::new(kafka.settings().produced_topics().next().map(|t| Output {
        producer: kafka.producer(),
        topic: t.name.clone(),
    }));

    let stop = Arc::clone(&progress);
    let p = Arc::clone(&progress);
    kafka
        .consumer()
        .max_attempts(3)
        .shutdown_on(async move { stop.finished.notified().await })
        .run(move |record| {
            bill(
                record,
                Arc::clone(&p),
                Arc::clone(&failed_once),
                Arc::clone(&output),
            )
        })
        .await?;
    tracing::info!(
        records = progress.done.load(Ordering::SeqCst),
        "Billing stopped; offsets committed."
    );
    let undelivered = kafka.shutdown(std::time::Duration::from_secs(10)).await;
    if undelivered > 0 {
        return Err(format!("{undelivered} billed record(s) not acknowledged").into());
    }
    Ok(())
}
