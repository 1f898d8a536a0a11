//! Test helper: produces keyed records as fast as 64 concurrent senders can, printing `ack <key>`
//! for every acknowledged record, until SIGTERM; then shuts the producer down gracefully and
//! prints `undelivered <n>`. Topic: the first of KAFKA_PRODUCES.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kafka = kafkadeps::Kafka::from_env().await?;
    let topic = kafka
        .settings()
        .produced_topics()
        .next()
        .map(|t| t.name.clone())
        .ok_or("no topic")?;
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let out = Arc::new(Mutex::new(tokio::io::stdout()));
    let mut term = signal(SignalKind::terminate())?;
    println!("ready");
    let senders: Vec<_> = (0..64)
        .map(|_| {
            let (producer, stop, next, out, topic) = (
                kafka.producer(),
                Arc::clone(&stop),
                Arc::clone(&next),
                Arc::clone(&out),
                topic.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("k{}", next.fetch_add(1, Ordering::SeqCst));
                    if producer
                        .send(kafkadeps::OutgoingRecord::json(&topic, &key, &key).expect("JSON"))
                        .await
                        .is_ok()
                    {
                        let mut o = out.lock().await;
                        let _ = o.write_all(format!("ack {key}\n").as_bytes()).await;
                    }
                }
            })
        })
        .collect();
    term.recv().await;
    stop.store(true, Ordering::SeqCst);
    let undelivered = kafka.shutdown(Duration::from_secs(10)).await;
    for s in senders {
        let _ = s.await;
    }
    let mut o = out.lock().await;
    o.write_all(format!("undelivered {undelivered}\n").as_bytes())
        .await?;
    o.flush().await?;
    Ok(())
}
