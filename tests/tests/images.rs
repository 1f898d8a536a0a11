//! The `kafkadeps/sidecar` image (`scripts/images.sh build`) as a real container against the
//! test cluster: locked down as a pod runs it (non-root, read-only root filesystem, no
//! capabilities), ready, producing and pulling through its data API, draining on SIGTERM.

use std::time::Duration;

use kafkadeps_tests::containers::{Container, image_tag};
use kafkadeps_tests::sidecar::Puller;
use kafkadeps_tests::{bootstrap, eventually, free_port, http_get, unique};

/// A field of `/proc/<pid>/status`.
fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("process status")
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_image_runs_locked_down_produces_pulls_and_drains() {
    let Some(tag) = image_tag() else {
        eprintln!("skipping: KAFKADEPS_IMAGE_TAG is unset (scripts/test.sh builds the images)");
        return;
    };
    let (topic, group) = (unique("img"), unique("img-g"));
    let (data, admin) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let declared = format!("{topic}(partitions=2)");
    let container = Container::run(
        &unique("kafkadeps-sidecar"),
        &format!("kafkadeps/sidecar:{tag}"),
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", &bootstrap()),
            ("KAFKA_PRODUCES", &declared),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_SIDECAR_LISTEN", &data),
            ("KAFKA_METRICS_LISTEN", &admin),
        ],
        &["serve"],
    );
    eventually(Duration::from_secs(120), "the container is ready", || {
        let admin = admin.clone();
        async move { matches!(http_get(&admin, "/readyz"), Ok((200, _))).then_some(()) }
    })
    .await;

    // Locked down: uid/gid 65532, no capability at all, the root filesystem read-only.
    let pid = container.pid();
    assert!(
        status_field(pid, "Uid").starts_with("65532\t"),
        "runs as 65532"
    );
    assert!(
        status_field(pid, "Gid").starts_with("65532\t"),
        "group 65532"
    );
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(pid, set), "0000000000000000", "{set}");
    }
    assert_eq!(container.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let root = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .expect("the root mount");
    assert!(
        root.split(' ')
            .nth(5)
            .is_some_and(|o| o.split(',').any(|f| f == "ro")),
        "root mounted read-only: {root}"
    );

    // Produce and pull through the data API.
    let client = reqwest::Client::new();
    let records: Vec<_> = (0..50)
        .map(|i| serde_json::json!({"key": format!("k{i}"), "value": {"n": i}}))
        .collect();
    let produced = client
        .post(format!("http://{data}/v1/topics/{topic}/records"))
        .json(&serde_json::json!({ "records": records }))
        .send()
        .await
        .expect("produce");
    assert_eq!(produced.status(), 200);
    let pull = Puller::at(&format!("http://{data}"), &group);
    let mut keys = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while keys.len() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "pulled {} of 50",
            keys.len()
        );
        let polled = pull.poll(50, 5000).await;
        if polled.records.is_empty() {
            continue;
        }
        keys.extend(polled.keys());
        let mut next = std::collections::BTreeMap::new();
        for (p, o) in polled.positions() {
            let n = next.entry(p).or_insert(0);
            *n = (*n).max(o + 1);
        }
        let offsets: Vec<_> = next.iter().map(|(p, o)| (topic.as_str(), *p, *o)).collect();
        let (status, body) = pull.commit(polled.lease(), &offsets).await;
        assert_eq!(status, 200, "{body}");
    }

    // SIGTERM drains and exits 0.
    container.signal("TERM");
    assert_eq!(container.exit_code(Duration::from_secs(60)).await, 0);
    let logs = container.logs();
    assert!(logs.contains("Stopped cleanly."), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
