//! Test helper: a kafkadeps consumer that appends `partition offset` to a file for every record
//! it finished, so a test can SIGKILL it at any point and count what was processed.
//! Configured by the KAFKA_* environment; the file is the first argument.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: crash_consumer <output file>")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let file = Arc::new(Mutex::new(file));
    let delay = Duration::from_millis(
        std::env::var("HANDLER_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    );
    let kafka = kafkadeps::Kafka::from_env().await?;
    kafka
        .consumer()
        .run(move |record| {
            let file = Arc::clone(&file);
            async move {
                let delay = delay;
                // Some work, so kills land while handlers run.
                tokio::time::sleep(delay).await;
                let line = format!("{} {}\n", record.partition(), record.offset());
                let mut f = file
                    .lock()
                    .map_err(|_| kafkadeps::HandlerError::permanent("lock poisoned"))?;
                f.write_all(line.as_bytes())
                    .map_err(kafkadeps::HandlerError::retryable)?;
                Ok(())
            }
        })
        .await?;
    Ok(())
}
