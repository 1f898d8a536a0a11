//! Pulling records over HTTP through running peers, side by side on the same broker: end-to-end
//! latency from the producer's send to the poll answer that hands the record to the app at a
//! fixed rate, delivery throughput of a backlog, the peers' CPU per 1,000 records and resident
//! memory (measured as push-peers measures push, by `kafkadeps_benches::delivery`). This process
//! is the producer and the app: one loop per peer that polls, then commits what it got.
//!
//! ```sh
//! pull-peers \
//!   --peer 'kafkadeps-sidecar|sidecar|http://127.0.0.1:8080/v1/consumers/GROUP|TOPIC_A|PID' \
//!   --peer 'strimzi-bridge|bridge|http://127.0.0.1:8081/consumers/GROUP|TOPIC_B|PID' \
//!   [--rounds 3] [--rate 200] [--seconds 10] [--backlog 20000] [--max-records 500]
//! ```
//!
//! Each peer consumes its own topic (6 partitions, created beforehand) for its group:
//! - `sidecar`: `kafkadeps-sidecar serve` in pull mode; the loop posts `…/poll`
//!   (`max_records`, a 1 s long poll) and commits each answer's lease with the next offset of
//!   every partition it held.
//! - `bridge`: the Strimzi Kafka Bridge; the loop creates a consumer instance (JSON format,
//!   `enable.auto.commit=false`, `read_committed`, from the earliest offset), subscribes it to the
//!   topic, then `GET …/records?timeout=1000` and commits the next offsets explicitly (the
//!   bridge's consumer returns at most `max.poll.records`, 500 by default, per poll).
//!
//! `benches/peers/pull-peers.sh` starts the peers and runs this.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafkadeps_benches::delivery::{Load, Peer, Received, compare};
use serde_json::{Value, json};

/// Which pull API a peer has.
#[derive(Clone, Copy)]
enum Api {
    Sidecar,
    Bridge,
}

struct Puller {
    peer: Peer,
    api: Api,
    /// The group's base URL (`…/v1/consumers/{group}` or `…/consumers/{group}`).
    url: String,
}

fn options() -> (Vec<Puller>, usize, Load, usize) {
    let value = kafkadeps_benches::flag;
    let pullers = kafkadeps_benches::flags("--peer")
        .into_iter()
        .map(|w| {
            let parts: Vec<&str> = w.split('|').collect();
            let [name, api, url, topic, pid] = parts[..] else {
                panic!("--peer NAME|sidecar or bridge|GROUP-URL|TOPIC|PID, not {w}");
            };
            Puller {
                peer: Peer {
                    name: name.to_owned(),
                    topic: topic.to_owned(),
                    pid: pid.parse().expect("--peer …|PID"),
                },
                api: match api {
                    "sidecar" => Api::Sidecar,
                    "bridge" => Api::Bridge,
                    other => panic!("--peer …|{other}|…: the API is `sidecar` or `bridge`"),
                },
                url: url.trim_end_matches('/').to_owned(),
            }
        })
        .collect();
    (
        pullers,
        value("--rounds").map_or(3, |v| v.parse().expect("--rounds N")),
        Load {
            rate: value("--rate").map_or(200, |v| v.parse().expect("--rate N")),
            seconds: value("--seconds").map_or(10, |v| v.parse().expect("--seconds S")),
            backlog: value("--backlog").map_or(20_000, |v| v.parse().expect("--backlog N")),
        },
        value("--max-records").map_or(500, |v| v.parse().expect("--max-records N")),
    )
}

/// Posts `body` as JSON of `content_type`; the answer's body (see [`answer`]).
async fn post(client: &reqwest::Client, url: &str, content_type: &str, body: &Value) -> Vec<u8> {
    let request = client
        .post(url)
        .header("content-type", content_type)
        .body(serde_json::to_vec(body).expect("JSON"));
    answer(request, "POST", url).await
}

/// Sends `request` and returns the answer's body; panics on a transport error or a status that
/// is not a success, with the peer's answer.
async fn answer(request: reqwest::RequestBuilder, method: &str, url: &str) -> Vec<u8> {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status();
    let bytes = response.bytes().await.expect("answer").to_vec();
    assert!(
        status.is_success(),
        "{method} {url}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

/// Counts `records` (each with `topic`, `partition`, `offset`, `value`) as received and
/// returns the offsets to commit: per partition, the one after the last record.
fn receive(records: &[Value], got: &Received) -> Vec<Value> {
    let mut next: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for r in records {
        got.record(&r["value"]);
        let tp = (
            r["topic"].as_str().expect("topic").to_owned(),
            r["partition"].as_i64().expect("partition"),
        );
        let offset = r["offset"].as_i64().expect("offset") + 1;
        let e = next.entry(tp).or_insert(offset);
        *e = (*e).max(offset);
    }
    next.into_iter()
        .map(|((topic, partition), offset)| {
            json!({"topic": topic, "partition": partition, "offset": offset})
        })
        .collect()
}

/// The app's loop on the sidecar's pull API.
async fn pull_sidecar(url: String, max_records: usize, got: Arc<Received>) {
    let client = reqwest::Client::new();
    let (poll, commit) = (format!("{url}/poll"), format!("{url}/commit"));
    loop {
        let answer = post(
            &client,
            &poll,
            "application/json",
            &json!({"max_records": max_records, "timeout_ms": 1000}),
        )
        .await;
        let polled: Value = serde_json::from_slice(&answer).expect("poll answer");
        let records = polled["records"].as_array().expect("records");
        let offsets = receive(records, &got);
        if let Some(lease) = polled["lease"].as_str() {
            post(
                &client,
                &commit,
                "application/json",
                &json!({"lease": lease, "offsets": offsets}),
            )
            .await;
        }
    }
}

/// The app's loop on the bridge's consumer API.
async fn pull_bridge(url: String, topic: String, got: Arc<Received>) {
    const V2: &str = "application/vnd.kafka.v2+json";
    let client = reqwest::Client::new();
    let created = post(
        &client,
        &url,
        V2,
        &json!({
            "name": "pull-peers",
            "format": "json",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": false,
            "isolation.level": "read_committed",
        }),
    )
    .await;
    let created: Value = serde_json::from_slice(&created).expect("consumer instance");
    let base = created["base_uri"].as_str().expect("base_uri").to_owned();
    post(
        &client,
        &format!("{base}/subscription"),
        V2,
        &json!({"topics": [topic]}),
    )
    .await;
    let (records_url, offsets_url) = (
        format!("{base}/records?timeout=1000"),
        format!("{base}/offsets"),
    );
    loop {
        let request = client
            .get(&records_url)
            .header("accept", "application/vnd.kafka.json.v2+json");
        let bytes = answer(request, "GET", &records_url).await;
        let records: Vec<Value> = serde_json::from_slice(&bytes).expect("records");
        if records.is_empty() {
            continue;
        }
        let offsets = receive(&records, &got);
        post(&client, &offsets_url, V2, &json!({"offsets": offsets})).await;
    }
}

#[tokio::main]
async fn main() {
    let (pullers, rounds, load, max_records) = options();
    let received: Vec<Arc<Received>> = pullers
        .iter()
        .map(|_| Arc::new(Received::default()))
        .collect();
    for (p, got) in pullers.iter().zip(&received) {
        let (url, got) = (p.url.clone(), Arc::clone(got));
        let task = match p.api {
            Api::Sidecar => tokio::spawn(pull_sidecar(url, max_records, got)),
            Api::Bridge => tokio::spawn(pull_bridge(url, p.peer.topic.clone(), got)),
        };
        // A failing loop fails the run, not only its task.
        let name = p.peer.name.clone();
        tokio::spawn(async move {
            if task.await.is_err() {
                eprintln!("pull-peers: the loop of {name} failed");
                std::process::exit(1);
            }
        });
    }
    let peers: Vec<Peer> = pullers.into_iter().map(|p| p.peer).collect();
    let received: Vec<&Received> = received.iter().map(|r| &**r).collect();
    compare(&peers, &received, rounds, load, "send → poll").await;
}
