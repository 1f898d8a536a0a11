//! Container lifecycle hooks around `serve`:
//! * `kafkadeps-sidecar drain` (`preStop`): asks the local `serve` to drain (`POST /v1/shutdown`)
//!   and waits until its data API has closed.
//! * `kafkadeps-sidecar wait` (`postStart`, when the sidecar is not a native sidecar): waits until
//!   `/readyz` of the local admin server answers 200, so the kubelet starts the app only then.

use std::time::{Duration, Instant};

use kafkadeps::config::vars::sidecar::TOKEN_FILE;

use crate::exit;

/// Where a server of `serve` is reachable from inside the pod: the address in `variable` (or
/// `serve`'s default), with a wildcard host replaced by the loopback.
fn local_address(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .replace("0.0.0.0", "127.0.0.1")
}

/// A client for the loopback (no proxies).
fn client() -> Result<reqwest::Client, u8> {
    reqwest::Client::builder().no_proxy().build().map_err(|e| {
        eprintln!("error: cannot create an HTTP client: {e}");
        exit::SOFTWARE
    })
}

/// Runs `drain`; returns the exit code.
pub(crate) async fn drain(timeout: Duration) -> u8 {
    let address = local_address("KAFKA_SIDECAR_LISTEN", "127.0.0.1:4195");
    let client = match client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let deadline = Instant::now() + timeout;
    let mut request = client
        .post(format!("http://{address}/v1/shutdown"))
        .timeout(timeout);
    // The data API wants the bearer token when it has one.
    if let Some(token) = std::env::var_os(TOKEN_FILE)
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
    {
        request = request.bearer_auth(token);
    }
    match request.send().await {
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

/// Runs `wait`; returns the exit code (0 once ready, 69 after the timeout).
pub(crate) async fn wait(timeout: Duration) -> u8 {
    let address = local_address("KAFKA_METRICS_LISTEN", "127.0.0.1:9464");
    let client = match client() {
        Ok(c) => c,
        Err(code) => return code,
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
