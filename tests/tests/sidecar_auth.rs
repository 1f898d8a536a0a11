//! The data API off loopback: without `KAFKA_SIDECAR_TOKEN_FILE` the sidecar refuses to start
//! (exit 64); with it, every request must carry the bearer token (401 otherwise), and the
//! `drain` hook sends it.

use std::process::Command;
use std::time::{Duration, Instant};

use kafkadeps_tests::sidecar::{Sidecar, scratch};
use kafkadeps_tests::{bootstrap, free_port, sidecar_bin, unique};

#[test]
fn off_loopback_without_a_token_the_sidecar_refuses_to_start() {
    // The process exits before it binds anything.
    let started = Instant::now();
    let out = Command::new(sidecar_bin())
        .arg("serve")
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_PRODUCES", unique("auth-refused"))
        .env("KAFKA_SIDECAR_LISTEN", format!("0.0.0.0:{}", free_port()))
        .env("KAFKA_METRICS_LISTEN", "off")
        .output()
        .expect("run the sidecar");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "exit 64: {stderr}");
    assert!(stderr.contains("KAFKA_SIDECAR_TOKEN_FILE"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "at once");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_request_must_carry_it() {
    const TOKEN: &str = "kd-test-token-5b1c0e";
    let dir = scratch("sidecar-auth");
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let topic = unique("auth");
    let token_path = token_file.display().to_string();
    let mut sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_SIDECAR_TOKEN_FILE", &token_path),
        ],
    );
    sidecar.ready().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/topics/{topic}/records", sidecar.url());
    let body = serde_json::json!({"records": [{"key": "k", "value": 1}]});

    for auth in [None, Some("not-the-token"), Some("")] {
        let mut request = http.post(&url).json(&body);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 401, "token {auth:?}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let problem: serde_json::Value = response.json().await.expect("problem body");
        assert_eq!(
            problem["type"], "https://kafkadeps.io/problems/unauthorized",
            "{problem}"
        );
        assert_eq!(problem["status"], 401);
    }
    let response = http
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );

    // The preStop hook authenticates with the same file; the sidecar drains and exits 0.
    assert_eq!(sidecar.drain().await, Some(0), "drain");
    assert_eq!(sidecar.exit_code(Duration::from_secs(60)).await, Some(0));
    assert!(
        !sidecar.log_text().contains(TOKEN),
        "the token is never logged"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
