//! Container lifecycle hooks around `serve`:
//! * `kafkadeps-sidecar drain` (`preStop`): asks the local `serve` to drain (`POST /v1/shutdown`)
//!   and waits until its data API has closed.
//! * `kafkadeps-sidecar wait` (`postStart`, when the sidecar is not a native sidecar): waits until
//!   `/readyz` of the local admin server answers 200, so the kubelet starts the app only then.

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

/// Runs `drain`; returns the exit code.
pub(crate) async fn drain(timeout: Duration) -> u8 {
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

/// Where the admin server listens, from `KAFKA_METRICS_LISTEN` (the same default).
fn admin_server() -> String {
    std::env::var("KAFKA_METRICS_LISTEN")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:9464".to_owned())
        .replace("0.0.0.0", "127.0.0.1")
}

/// Runs `wait`; returns the exit code (0 once ready, 69 after the timeout).
pub(crate) async fn wait(timeout: Duration) -> u8 {
    let address = admin_server();
    let Ok(client) = reqwest::Client::builder().no_proxy().build() else {
        return exit::SOFTWARE;
    };
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let ready = client
            .get(format!("http://{address}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return exit::OK;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("error: the sidecar at {address} was not ready after {timeout:?}");
    exit::UNAVAILABLE
}
