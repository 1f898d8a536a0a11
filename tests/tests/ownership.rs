//! Declarations many teams share, against the real cluster through `kafkadeps-sidecar plan` and
//! `ensure`: a consumer never changes its owner's topic; its requirements are checked; a missing
//! dependency is waited for under `verify`; `plan --exit-code` gates a pipeline; the durability
//! floor holds.

use std::process::{Command, Output};
use std::time::Duration;

use kafkadeps::consumer::Scheduling;
use kafkadeps_tests::{
    bootstrap, create_topic, describe_topic, eventually, sidecar_bin, start_kafka, unique,
};

const DURABLE: &[(&str, &str)] = &[
    ("min.insync.replicas", "2"),
    ("unclean.leader.election.enable", "false"),
];

fn sidecar(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(sidecar_bin())
        .args(args)
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_APP", "ownership-test")
        .envs(vars.iter().copied())
        .output()
        .expect("run kafkadeps-sidecar")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The owner's topic: one partition, an hour of retention.
async fn owners_topic(partitions: i32) -> String {
    let t = unique("own-payments");
    let mut config = DURABLE.to_vec();
    config.push(("retention.ms", "3600000"));
    create_topic(&t, partitions, 3, &config).await;
    t
}

#[tokio::test]
async fn a_consumer_never_changes_its_owners_topic_under_any_policy() {
    let t = owners_topic(1).await;
    for policy in ["create", "reconcile", "verify"] {
        // What a consumer without an ownership model would have declared: the defaults.
        let out = sidecar(
            &["ensure", "--timeout", "30s"],
            &[("KAFKA_CONSUMES", &t), ("KAFKA_TOPIC_POLICY", policy)],
        );
        assert_eq!(out.status.code(), Some(0), "{policy}: {}", text(&out));
        let (partitions, _, config) = describe_topic(&t).await;
        assert_eq!(partitions, 1, "{policy}: the owner's partitions");
        assert_eq!(
            config["retention.ms"], "3600000",
            "{policy}: the owner's config"
        );
    }
    let dlq = format!("{t}.dlq");
    assert_eq!(
        describe_topic(&dlq).await.0,
        3,
        "the consumer owns its dead-letter topic (created under create)"
    );
}

#[tokio::test]
async fn a_dependencys_requirements_are_checked_not_enforced() {
    let small = owners_topic(1).await;
    let out = sidecar(
        &["ensure"],
        &[("KAFKA_CONSUMES", &format!("{small}(min.partitions=6)"))],
    );
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("x {small}"))
            && text(&out).contains("partitions required >= 6, actual 1"),
        "{}",
        text(&out)
    );
    assert_eq!(describe_topic(&small).await.0, 1, "not grown");

    let big = owners_topic(12).await;
    let consumes = format!("{big}(min.partitions=6, retention.ms=1h)");
    let out = sidecar(&["ensure"], &[("KAFKA_CONSUMES", &consumes)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sidecar(
        &["ensure"],
        &[("KAFKA_CONSUMES", &format!("{big}(retention.ms=2h)"))],
    );
    assert_eq!(
        out.status.code(),
        Some(65),
        "a required config value: {}",
        text(&out)
    );
    assert_eq!(describe_topic(&big).await.2["retention.ms"], "3600000");
}

#[tokio::test]
async fn a_consumer_owns_and_grows_a_topic_it_marks_owned() {
    let t = owners_topic(1).await;
    let consumes = format!("{t}(owned, partitions=4)");
    let out = sidecar(&["ensure"], &[("KAFKA_CONSUMES", &consumes)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(describe_topic(&t).await.0, 4);
}

#[tokio::test]
async fn under_verify_a_missing_dependency_is_waited_for() {
    let t = unique("own-later");
    let dlq = format!("{t}.dlq");
    create_topic(&dlq, 3, 3, DURABLE).await;
    let waiting = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || {
            sidecar(
                &["ensure", "--timeout", "60s"],
                &[("KAFKA_CONSUMES", &t), ("KAFKA_TOPIC_POLICY", "verify")],
            )
        })
    };
    // The owner creates it a moment later; the consumer's ensure then succeeds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!waiting.is_finished(), "still waiting for the dependency");
    create_topic(&t, 2, 3, DURABLE).await;
    let out = waiting.await.expect("ensure");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn plan_exit_codes_gate_a_pipeline() {
    let t = unique("own-plan");
    let produces = format!("{t}(partitions=2)");
    let plan = |extra: &[(&str, &str)]| {
        let mut vars = vec![("KAFKA_PRODUCES", produces.as_str())];
        vars.extend_from_slice(extra);
        sidecar(&["plan", "--exit-code", "--output", "json"], &vars)
    };
    let pending = plan(&[]);
    assert_eq!(
        pending.status.code(),
        Some(2),
        "changes pending: {}",
        text(&pending)
    );
    let json: serde_json::Value = serde_json::from_slice(&pending.stdout).expect("JSON");
    let change = &json["topics"][0]["changes"][0];
    assert_eq!(
        (&change["kind"], &change["key"], &change["safe"]),
        (&"create".into(), &"topic".into(), &true.into()),
        "{json}"
    );
    // Without --exit-code, plan succeeds whatever it finds.
    assert_eq!(
        sidecar(&["plan"], &[("KAFKA_PRODUCES", &produces)])
            .status
            .code(),
        Some(0)
    );

    assert_eq!(
        sidecar(&["ensure"], &[("KAFKA_PRODUCES", &produces)])
            .status
            .code(),
        Some(0)
    );
    let in_sync = plan(&[]);
    assert_eq!(
        in_sync.status.code(),
        Some(0),
        "in sync: {}",
        text(&in_sync)
    );

    let grow = sidecar(
        &["plan", "--exit-code", "--output", "json"],
        &[("KAFKA_PRODUCES", &format!("{t}(partitions=4)"))],
    );
    assert_eq!(grow.status.code(), Some(2), "{}", text(&grow));
    let json: serde_json::Value = serde_json::from_slice(&grow.stdout).expect("JSON");
    let change = &json["topics"][0]["changes"][0];
    assert_eq!(
        (&change["kind"], &change["safe"]),
        (&"add_partitions".into(), &false.into())
    );
    assert!(
        change["warning"]
            .as_str()
            .is_some_and(|w| w.contains("keyed records")),
        "{json}"
    );

    let violation = sidecar(
        &["plan", "--exit-code"],
        &[
            ("KAFKA_PRODUCES", &format!("{t}(partitions=4)")),
            ("KAFKA_TOPIC_POLICY", "verify"),
        ],
    );
    assert_eq!(
        violation.status.code(),
        Some(65),
        "verify drift: {}",
        text(&violation)
    );
}

#[tokio::test]
async fn the_durability_floor_needs_relaxed_durability() {
    let t = unique("own-weak");
    for (vars, what) in [
        (
            vec![("KAFKA_PRODUCES", format!("{t}(replicas=2)"))],
            "replicas=2 on 3 brokers",
        ),
        (
            vec![("KAFKA_PRODUCES", format!("{t}(min.insync.replicas=1)"))],
            "min.insync.replicas=1",
        ),
        (
            vec![
                ("KAFKA_PRODUCES", t.clone()),
                (
                    "KAFKA_TOPIC_DEFAULTS",
                    "unclean.leader.election.enable=true".into(),
                ),
            ],
            "unclean leader election in the defaults",
        ),
        (
            vec![
                ("KAFKA_PRODUCES", t.clone()),
                ("KAFKA_CLIENT_ACKS", "1".into()),
            ],
            "acks=1",
        ),
    ] {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = sidecar(&["ensure"], &vars);
        assert_eq!(out.status.code(), Some(64), "{what}: {}", text(&out));
        assert!(
            text(&out).contains("KAFKA_DURABILITY=relaxed"),
            "{what}: {}",
            text(&out)
        );
    }
    let out = sidecar(
        &["ensure"],
        &[
            (
                "KAFKA_PRODUCES",
                &format!("{t}(replicas=2, min.insync.replicas=1)"),
            ),
            ("KAFKA_DURABILITY", "relaxed"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(describe_topic(&t).await.1, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_group_starts_at_the_earliest_record() {
    let topic = unique("own-earliest");
    let producer =
        start_kafka(&[("KAFKA_APP", "own-earliest-p"), ("KAFKA_PRODUCES", &topic)]).await;
    for i in 0..5 {
        producer
            .producer()
            .send(kafkadeps::OutgoingRecord::json(&topic, format!("k{i}"), &i).expect("JSON"))
            .await
            .expect("sent");
    }
    // A group that never committed reads what was written before it existed
    // (auto.offset.reset=earliest).
    let consumer = start_kafka(&[
        ("KAFKA_APP", "own-earliest-c"),
        ("KAFKA_GROUP_ID", &unique("own-earliest-g")),
        ("KAFKA_CONSUMES", &topic),
    ])
    .await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = std::sync::Arc::clone(&seen);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(
        consumer
            .consumer()
            .scheduling(Scheduling::Partition)
            .without_signal_handlers()
            .shutdown_on(async move {
                let _ = stop_rx.await;
            })
            .run(move |r| {
                let s = std::sync::Arc::clone(&s);
                async move {
                    s.lock()
                        .expect("seen")
                        .push(r.key_str().unwrap_or_default().to_owned());
                    Ok(())
                }
            }),
    );
    eventually(Duration::from_secs(60), "the five earlier records", || {
        let n = seen.lock().expect("seen").len();
        async move { (n >= 5).then_some(()) }
    })
    .await;
    let _ = stop_tx.send(());
    run.await.expect("consumer task").expect("consumer");
    let mut keys = seen.lock().expect("seen").clone();
    keys.sort();
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
}
