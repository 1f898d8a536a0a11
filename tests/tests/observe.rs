//! `kafkadeps-sidecar observe` against the real cluster and the real API server: a group with no
//! members has its lag reported, and growing; services are discovered from pods; the dependency
//! graph is served as JSON, DOT and Mermaid.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kafkadeps::OutgoingRecord;
use kafkadeps_tests::kube::ApiServer;
use kafkadeps_tests::sidecar::metric_sum;
use kafkadeps_tests::{
    Member, bootstrap, eventually, free_port, http_get, start_kafka, unique, workspace_bin,
};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The observer, killed when dropped.
struct Observer {
    child: Child,
    addr: String,
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn observe(args: &[&str]) -> Observer {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(workspace_bin("kafkadeps-sidecar"))
        .arg("observe")
        .args(["--listen", &addr, "--interval", "1s"])
        .args(args)
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_METRICS_LISTEN", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn kafkadeps-sidecar observe");
    Observer { child, addr }
}

async fn produce(kafka: &kafkadeps::Kafka, topic: &str, n: usize) {
    for i in 0..n {
        kafka
            .producer()
            .send(OutgoingRecord::json(topic, format!("k{i}"), &i).expect("JSON"))
            .await
            .expect("acknowledged");
    }
}

/// Commits `offset` for partition 0 of `topic` in `group`, as a consumer that then goes away.
fn commit(group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("offset");
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

fn metric(addr: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (_, text) = http_get(addr, "/metrics").ok()?;
    text.contains(name).then(|| metric_sum(&text, name, labels))
}

fn write_declarations(dir: &Path, json: &serde_json::Value) -> String {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("services.json");
    std::fs::write(&path, json.to_string()).expect("declarations");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_with_no_members_has_its_lag_reported_and_growing() {
    let topic = unique("obs-lag");
    let group = unique("obs-lag-g");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "obs-lag"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
    ])
    .await;
    produce(&kafka, &topic, 30).await;
    let dir = std::env::temp_dir().join(unique("observe"));
    let file = write_declarations(
        &dir,
        &serde_json::json!([
            {"name": "orders", "env": {"KAFKA_PRODUCES": format!("{topic}(partitions=1)")}},
            {"name": "billing", "env": {"KAFKA_CONSUMES": topic, "KAFKA_GROUP_ID": group}},
        ]),
    );
    // Nobody consumes: the group has no members and nothing committed.
    let observer = observe(&["--declarations", &file]);
    let group_topic = [("group", group.as_str()), ("topic", topic.as_str())];
    let addr = observer.addr.clone();
    eventually(Duration::from_secs(60), "lag of 30 records", || {
        let lag = metric(&addr, "kafkadeps_group_lag_messages", &group_topic);
        async move { (lag == Some(30.0)).then_some(()) }
    })
    .await;
    let seconds =
        |addr: &str| metric(addr, "kafkadeps_group_lag_seconds", &group_topic).unwrap_or(0.0);
    let first = seconds(&addr);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = seconds(&addr);
    assert!(
        later >= first + 1.5,
        "lag in time grows while nobody consumes: {first:.2} -> {later:.2} s"
    );
    let g = [("group", group.as_str())];
    assert_eq!(metric(&addr, "kafkadeps_group_members", &g), Some(0.0));
    assert_eq!(metric(&addr, "kafkadeps_group_stable", &g), Some(0.0));
    assert_eq!(
        metric(
            &addr,
            "kafkadeps_dependency_info",
            &[
                ("service", "billing"),
                ("topic", topic.as_str()),
                ("role", "consumer")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &addr,
            "kafkadeps_dependency_info",
            &[
                ("service", "orders"),
                ("topic", topic.as_str()),
                ("role", "producer")
            ]
        ),
        Some(1.0)
    );
    // More records: more lag; a commit: less.
    produce(&kafka, &topic, 10).await;
    commit(&group, &topic, 5);
    eventually(Duration::from_secs(30), "lag of 35 records", || {
        let lag = metric(&addr, "kafkadeps_group_lag_messages", &group_topic);
        async move { (lag == Some(35.0)).then_some(()) }
    })
    .await;
    assert_eq!(
        metric(
            &addr,
            "kafkadeps_group_committed_offset",
            &[("group", group.as_str()), ("partition", "0")]
        ),
        Some(5.0)
    );

    // The graph: orders → topic → group → billing, the consuming edge with its lag.
    let (status, body) = http_get(&addr, "/graph").expect("graph");
    assert_eq!(status, 200);
    let graph: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let consumed = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"] == "consumed-by")
        .expect("consuming edge")
        .clone();
    assert_eq!(consumed["from"]["name"], topic.as_str());
    assert_eq!(consumed["to"]["name"], group.as_str());
    assert_eq!(consumed["lag"]["messages"], 35);
    let owner = graph["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == topic.as_str())
        .expect("topic")["owner"]
        .clone();
    assert_eq!(owner, "orders");
    let (_, dot) = http_get(&addr, "/graph?format=dot").expect("dot");
    assert!(dot.contains("digraph kafkadeps"), "{dot}");
    assert!(
        dot.contains(&format!("\"service:orders\" -> \"topic:{topic}\"")),
        "{dot}"
    );
    let (_, mermaid) = http_get(&addr, "/graph?format=mermaid").expect("mermaid");
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("lag 35"), "{mermaid}");
    std::fs::remove_dir_all(dir).ok();
}

/// Members and stability are reported for groups of both protocols: the new one (KIP-848),
/// which the classic DescribeGroups request does not describe, and the classic one; and back to
/// no members once the consumers left.
#[tokio::test(flavor = "multi_thread")]
async fn members_of_groups_of_either_protocol_are_counted() {
    for protocol in ["consumer", "classic"] {
        let topic = unique("obs-members");
        let group = unique(&format!("obs-members-{protocol}"));
        let vars = [
            ("KAFKA_APP", "obs-members"),
            ("KAFKA_PRODUCES", &*format!("{topic}(partitions=2)")),
            ("KAFKA_CONSUMES", &*topic),
            ("KAFKA_GROUP_ID", &*group),
            ("KAFKA_GROUP_PROTOCOL", protocol),
        ];
        let (first, second) = (start_kafka(&vars).await, start_kafka(&vars).await);
        let members = [
            Member::start(&first, |_r| async { Ok(()) }),
            Member::start(&second, |_r| async { Ok(()) }),
        ];
        let dir = std::env::temp_dir().join(unique("observe-members"));
        let file = write_declarations(
            &dir,
            &serde_json::json!([
                {"name": "billing", "env": {"KAFKA_CONSUMES": topic, "KAFKA_GROUP_ID": group}},
            ]),
        );
        let observer = observe(&["--declarations", &file]);
        let addr = observer.addr.clone();
        let g = [("group", group.as_str())];
        eventually(
            Duration::from_secs(90),
            &format!("2 members of the stable {protocol} group"),
            || {
                let (members, stable) = (
                    metric(&addr, "kafkadeps_group_members", &g),
                    metric(&addr, "kafkadeps_group_stable", &g),
                );
                async move { (members == Some(2.0) && stable == Some(1.0)).then_some(()) }
            },
        )
        .await;
        for member in members {
            member.stop().await.expect("clean stop");
        }
        eventually(
            Duration::from_secs(90),
            &format!("no members of the {protocol} group after they left"),
            || {
                let members = metric(&addr, "kafkadeps_group_members", &g);
                async move { (members == Some(0.0)).then_some(()) }
            },
        )
        .await;
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn services_are_discovered_from_pods_through_the_api_server() {
    let api = tokio::task::spawn_blocking(ApiServer::start)
        .await
        .expect("api server");
    let topic = unique("obs-kube");
    let group = unique("obs-kube-g");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "obs-kube"),
        ("KAFKA_PRODUCES", &format!("{topic}(partitions=1)")),
    ])
    .await;
    produce(&kafka, &topic, 12).await;
    // A pod as the injector sees it (annotations) — whether or not it ever runs.
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "billing-0",
            "labels": {"app": "billing-k"},
            "annotations": {
                "kafkadeps.io/inject": "true",
                "kafkadeps.io/consumes": topic,
                "kafkadeps.io/group": group,
            }
        },
        "spec": {"containers": [{"name": "app", "image": "example/billing:1"}]}
    });
    let created = api.request("POST", "/api/v1/namespaces/default/pods", Some(&pod));
    assert!(created.status == 201, "{:?}", created.body);
    let dir = std::env::temp_dir().join(unique("observe-kube"));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, api.token()).unwrap();
    let (token, ca) = (token.display().to_string(), api.ca().display().to_string());
    let observer = observe(&[
        "--kubernetes",
        "--namespace",
        "default",
        "--kube-api",
        &api.url,
        "--kube-token-file",
        &token,
        "--kube-ca-file",
        &ca,
    ]);
    let addr = observer.addr.clone();
    let group_topic = [("group", group.as_str()), ("topic", topic.as_str())];
    eventually(
        Duration::from_secs(60),
        "the pod's group and its lag",
        || {
            let lag = metric(&addr, "kafkadeps_group_lag_messages", &group_topic);
            async move { (lag == Some(12.0)).then_some(()) }
        },
    )
    .await;
    assert_eq!(
        metric(
            &addr,
            "kafkadeps_dependency_info",
            &[
                ("service", "billing-k"),
                ("topic", topic.as_str()),
                ("role", "consumer")
            ]
        ),
        Some(1.0)
    );
    std::fs::remove_dir_all(dir).ok();
}
