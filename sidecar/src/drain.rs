//! `kafkadeps-sidecar drain`: the `preStop` hook. Asks the local `serve` to drain
//! (`POST /v1/shutdown`) and waits until its data API has closed.

use std::time::{Duration, Instant};

use crate::exit;

/// Where `serve` listens, from `KAFKA_SIDECAR_LISTEN` (the same default).
fn data_api() -> String {
    std::env::var("KAFKA_SIDECAR_LISTEN")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:4195".to_owned())
        .replace("0.0.0.0", "127.0.0.1")
}

/// Runs the hook; returns the exit code.
pub(crate) async fn run(timeout: Duration) -> u8 {
    let address = data_api();
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot create an HTTP client: {e}");
            return exit::SOFTWARE;
        }
    };
    let deadline = Instant::now() + timeout;
    match client
        .post(format!("http://{address}/v1/shutdown"))
        .timeout(timeout)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            eprintln!(
                "error: the sidecar at {address} refused to drain: {}",
                r.status()
            );
            return exit::SOFTWARE;
        }
        // Nothing listens: already stopped.
        Err(e) if e.is_connect() => return exit::OK,
        Err(e) => {
            eprintln!("error: cannot reach the sidecar at {address}: {e}");
            return exit::UNAVAILABLE;
        }
    }
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            return exit::OK;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("error: the sidecar at {address} was still draining after {timeout:?}");
    exit::UNAVAILABLE
}
