//! Delivering to an app over HTTP (push) through running peers, side by side on the same broker:
//! end-to-end latency from the producer's send to the app's receipt at a fixed rate, delivery
//! throughput of a backlog, the peers' CPU per 1,000 records and resident memory. This process
//! is the producer (raw rdkafka, kafkadeps' durable settings) and the app: it serves
//! `POST /{peer}/{topic}` on `--app-listen` and answers 200 at once.
//!
//! ```sh
//! push-peers --app-listen 127.0.0.1:8090 \
//!   --peer 'kafkadeps-sidecar|TOPIC_A|PID' --peer 'daprd|TOPIC_B|PID' \
//!   [--rounds 3] [--rate 1000] [--seconds 10] [--backlog 20000]
//! ```
//!
//! Each peer consumes its own topic (6 partitions, created beforehand) and pushes to
//! `/{peer}/{topic}`: the sidecar's envelope (`{"topic", …, "value": …}`) or the CloudEvent
//! daprd wraps a raw record in (`data_base64`, with `rawPayload`); either way the value carries
//! its send time (a push without one fails the run). `GET
//! /dapr/subscribe` answers `[]` (daprd asks; its subscription is declared in a file).
//! `benches/peers/push-peers.sh` starts the peers and runs this.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use kafkadeps_benches::delivery::{Load, Peer, Received, compare};

type Apps = Arc<HashMap<String, Arc<Received>>>;

fn options() -> (String, Vec<Peer>, usize, Load) {
    let value = kafkadeps_benches::flag;
    let peers = kafkadeps_benches::flags("--peer")
        .into_iter()
        .map(|w| {
            let parts: Vec<&str> = w.split('|').collect();
            let [name, topic, pid] = parts[..] else {
                panic!("--peer NAME|TOPIC|PID, not {w}");
            };
            Peer {
                name: name.to_owned(),
                topic: topic.to_owned(),
                pid: pid.parse().expect("--peer …|PID"),
            }
        })
        .collect();
    (
        value("--app-listen").expect("--app-listen HOST:PORT"),
        peers,
        value("--rounds").map_or(3, |v| v.parse().expect("--rounds N")),
        Load {
            rate: value("--rate").map_or(1000, |v| v.parse().expect("--rate N")),
            seconds: value("--seconds").map_or(10, |v| v.parse().expect("--seconds S")),
            backlog: value("--backlog").map_or(20_000, |v| v.parse().expect("--backlog N")),
        },
    )
}

/// The record value in a push: in the sidecar's envelope, or in the CloudEvent daprd wraps a
/// raw payload in (`data_base64`, or `data`).
fn sent_value(push: serde_json::Value) -> serde_json::Value {
    if let Some(value) = push.get("value") {
        return value.clone();
    }
    if let Some(b64) = push.get("data_base64").and_then(|b| b.as_str()) {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
    }
    push.get("data").cloned().unwrap_or(push)
}

/// The app: records the latency of every pushed record.
async fn serve_app(listen: &str, apps: Apps) {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/dapr/subscribe",
            get(|| async { axum::Json(Vec::<()>::new()) }),
        )
        .route(
            "/{peer}/{topic}",
            post(
                |axum::extract::State(apps): axum::extract::State<Apps>,
                 axum::extract::Path((peer, _topic)): axum::extract::Path<(String, String)>,
                 body: axum::body::Bytes| async move {
                    let Some(app) = apps.get(&peer) else {
                        return axum::http::StatusCode::NOT_FOUND;
                    };
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                        return axum::http::StatusCode::BAD_REQUEST;
                    };
                    app.record(&sent_value(v));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(apps);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("app listen");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("app") });
}

#[tokio::main]
async fn main() {
    let (listen, peers, rounds, load) = options();
    let apps: Apps = Arc::new(
        peers
            .iter()
            .map(|p| (p.name.clone(), Arc::new(Received::default())))
            .collect(),
    );
    serve_app(&listen, Arc::clone(&apps)).await;
    let received: Vec<&Received> = peers.iter().map(|p| &*apps[&p.name]).collect();
    compare(&peers, &received, rounds, load, "send → app").await;
}
