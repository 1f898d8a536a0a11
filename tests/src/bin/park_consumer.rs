//! Test helper: a kafkadeps consumer in park mode (`KAFKA_RETRY_MODE=park` from the
//! environment) that appends `key seq` to a file (the first argument) for every record it
//! handled. The first attempt at every record of a key listed in `PARK_FAIL_KEYS` (comma
//! separated) fails retryably, so those keys stay parked while the test kills and restarts it.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: park_consumer <output file>")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let file = Arc::new(Mutex::new(file));
    let failing: Arc<HashSet<String>> = Arc::new(
        std::env::var("PARK_FAIL_KEYS")
            .unwrap_or_default()
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let tried = Arc::new(Mutex::new(HashSet::<(String, u32)>::new()));
    let kafka = kafkadeps::Kafka::from_env().await?;
    kafka
        .consumer()
        .max_attempts(1000)
        .backoff(
            std::time::Duration::from_millis(300),
            std::time::Duration::from_millis(300),
        )
        .run(move |record| {
            let (file, failing, tried) =
                (Arc::clone(&file), Arc::clone(&failing), Arc::clone(&tried));
            async move {
                let key = record.key_str().unwrap_or_default().to_owned();
                let seq: u32 = record.json()?;
                let first = tried
                    .lock()
                    .map_err(|_| kafkadeps::HandlerError::permanent("lock poisoned"))?
                    .insert((key.clone(), seq));
                if first && failing.contains(&key) {
                    return Err(kafkadeps::HandlerError::retryable("first attempt fails"));
                }
                let mut f = file
                    .lock()
                    .map_err(|_| kafkadeps::HandlerError::permanent("lock poisoned"))?;
                f.write_all(format!("{key} {seq}\n").as_bytes())
                    .map_err(kafkadeps::HandlerError::retryable)?;
                Ok(())
            }
        })
        .await?;
    Ok(())
}
