//! The admission webhook under load: 1,000 AdmissionReviews (a Deployment-created pod with
//! several containers, the `deployment-pod` fixture) answered by a release
//! `kafkadeps-sidecar inject` over HTTPS on one keep-alive connection; latency p50/p99/max.
//!
//! ```sh
//! cargo build --release -p kafkadeps-sidecar -p kafkadeps-benches --bin inject-bench --bin kafkadeps-sidecar
//! $CARGO_TARGET_DIR/release/inject-bench
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("inject-bench-{}", std::process::id()));
    let (ca, cert, key) = kafkadeps_tests::kube::webhook_certificate(&dir);
    let port = kafkadeps_tests::free_port();
    let bin = std::env::current_exe()
        .expect("exe")
        .with_file_name("kafkadeps-sidecar");
    let mut child = Command::new(bin)
        .args(["inject", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["--bootstrap-servers", "kafka:9092"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("kafkadeps-sidecar next to this binary");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("ca")).expect("pem");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("https://127.0.0.1:{port}/mutate");
    let fixture = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sidecar/tests/fixtures/admission/deployment-pod.review.json"),
    )
    .expect("fixture");
    let started = Instant::now();
    while client
        .get(format!("https://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "injector not up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let send = || async {
        let t = Instant::now();
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(fixture.clone())
            .send()
            .await
            .expect("review");
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.expect("body");
        assert!(body.windows(9).any(|w| w == b"JSONPatch"), "a patch");
        t.elapsed().as_secs_f64() * 1000.0
    };
    for _ in 0..100 {
        send().await;
    }
    let mut ms = Vec::with_capacity(1000);
    let all = Instant::now();
    for _ in 0..1000 {
        ms.push(send().await);
    }
    let total = all.elapsed();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!("| AdmissionReviews | p50 (ms) | p99 (ms) | max (ms) | reviews/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| 1,000 sequential (after 100 warm-up) | {:.3} | {:.3} | {:.3} | {:.0} |",
        pct(0.5),
        pct(0.99),
        ms[ms.len() - 1],
        1000.0 / total.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
