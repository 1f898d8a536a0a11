//! Topic provisioning against the real cluster: the library and the `plan` / `ensure` CLI.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use kafkadeps::config::Settings;
use kafkadeps::topics::{Change, ProvisionError, Provisioner, TopicOutcome};
use kafkadeps_tests::{bootstrap, broker_count, create_topic, describe_topic, sidecar_bin, unique};

const TIMEOUT: Duration = Duration::from_secs(60);

fn settings(vars: &[(&str, &str)]) -> Arc<Settings> {
    let boot = bootstrap();
    let base = [
        ("KAFKA_BOOTSTRAP_SERVERS", boot.as_str()),
        ("KAFKA_APP", "provision-test"),
    ];
    Arc::new(Settings::from_vars(base.iter().chain(vars).copied()).expect("valid settings"))
}

fn provisioner(vars: &[(&str, &str)]) -> Provisioner {
    Provisioner::new(settings(vars)).expect("provisioner")
}

fn sidecar(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(sidecar_bin())
        .args(args)
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_APP", "provision-cli-test")
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

#[tokio::test]
async fn creates_then_is_idempotent() {
    let (a, b, c) = (
        unique("prov-create-a"),
        unique("prov-create-b"),
        unique("prov-create-c"),
    );
    let produces = format!("{a}(partitions=4, retention.ms=7d), {b}(cleanup.policy=compact)");
    let p = provisioner(&[("KAFKA_PRODUCES", &produces), ("KAFKA_CONSUMES", &c)]);
    let report = p.ensure(TIMEOUT).await.expect("ensure");
    assert_eq!(report.outcomes[&a], TopicOutcome::Created);
    assert_eq!(report.outcomes[&b], TopicOutcome::Created);
    assert_eq!(report.outcomes[&c], TopicOutcome::Created);
    let dlq = format!("{c}.dlq");
    assert_eq!(
        report.outcomes[&dlq],
        TopicOutcome::Created,
        "a consumed topic gets its dead-letter topic"
    );
    assert_eq!(describe_topic(&dlq).await.1, 3);
    let (partitions, replicas, config) = describe_topic(&a).await;
    assert_eq!((partitions, replicas), (4, 3));
    assert_eq!(config["retention.ms"], "604800000");
    assert_eq!(config["min.insync.replicas"], "2");
    assert_eq!(config["unclean.leader.election.enable"], "false");
    assert_eq!(describe_topic(&b).await.2["cleanup.policy"], "compact");

    let again = p.ensure(TIMEOUT).await.expect("second ensure");
    assert!(
        again
            .outcomes
            .values()
            .all(|o| *o == TopicOutcome::Unchanged),
        "{:?}",
        again.outcomes
    );
    assert!(
        again
            .plan
            .topics
            .iter()
            .all(|t| t.changes == [Change::Unchanged]),
        "{}",
        again.plan
    );
}

#[tokio::test]
async fn grows_partitions_and_never_shrinks() {
    let t = unique("prov-grow");
    provisioner(&[("KAFKA_PRODUCES", &format!("{t}(partitions=2)"))])
        .ensure(TIMEOUT)
        .await
        .expect("create");
    let report = provisioner(&[("KAFKA_PRODUCES", &format!("{t}(partitions=5)"))])
        .ensure(TIMEOUT)
        .await
        .expect("grow");
    assert_eq!(report.outcomes[&t], TopicOutcome::Updated);
    assert_eq!(describe_topic(&t).await.0, 5);
    let shrink = provisioner(&[("KAFKA_PRODUCES", &format!("{t}(partitions=1)"))])
        .ensure(TIMEOUT)
        .await
        .expect("no shrink");
    assert!(
        shrink
            .remaining
            .drift()
            .any(|(_, c)| matches!(c, Change::Drift { what, .. } if what == "partitions"))
    );
    assert_eq!(describe_topic(&t).await.0, 5);
}

#[tokio::test]
async fn create_reports_drift_and_reconcile_fixes_only_declared_keys() {
    let t = unique("prov-drift");
    // Created outside kafkadeps with an extra, undeclared key.
    create_topic(
        &t,
        3,
        3,
        &[
            ("min.insync.replicas", "2"),
            ("retention.ms", "3600000"),
            ("segment.ms", "7200000"),
        ],
    )
    .await;

    let decl = format!("{t}(retention.ms=1d)");
    let create = provisioner(&[("KAFKA_PRODUCES", &decl)])
        .ensure(TIMEOUT)
        .await
        .expect("create policy");
    let drift: Vec<_> = create.remaining.drift().collect();
    assert!(
        drift.iter().any(|(_, c)| matches!(c, Change::Drift { what, actual, .. } if what == "retention.ms" && actual == "3600000")),
        "{}",
        create.remaining
    );
    assert_eq!(
        describe_topic(&t).await.2["retention.ms"],
        "3600000",
        "create does not alter configs"
    );

    let reconcile = provisioner(&[
        ("KAFKA_PRODUCES", &decl),
        ("KAFKA_TOPIC_POLICY", "reconcile"),
    ])
    .ensure(TIMEOUT)
    .await
    .expect("reconcile");
    assert_eq!(reconcile.outcomes[&t], TopicOutcome::Updated);
    assert!(
        reconcile.remaining.drift().next().is_none(),
        "{}",
        reconcile.remaining
    );
    let config = describe_topic(&t).await.2;
    assert_eq!(config["retention.ms"], "86400000");
    assert_eq!(
        config["segment.ms"], "7200000",
        "an undeclared key is untouched"
    );
    assert_eq!(config["min.insync.replicas"], "2");
}

#[tokio::test]
async fn verify_fails_on_missing_topic_and_drift() {
    let t = unique("prov-verify");
    let err = provisioner(&[("KAFKA_PRODUCES", &t), ("KAFKA_TOPIC_POLICY", "verify")])
        .ensure(TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, ProvisionError::VerifyFailed(_)), "{err}");
    assert!(err.to_string().contains("actual missing"), "{err}");

    let out = sidecar(
        &["ensure", "--timeout", "30s"],
        &[("KAFKA_PRODUCES", &t), ("KAFKA_TOPIC_POLICY", "verify")],
    );
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    create_topic(
        &t,
        3,
        3,
        &[
            ("min.insync.replicas", "2"),
            ("unclean.leader.election.enable", "false"),
        ],
    )
    .await;
    let out = sidecar(
        &["ensure", "--timeout", "30s"],
        &[("KAFKA_PRODUCES", &t), ("KAFKA_TOPIC_POLICY", "verify")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sidecar(
        &["ensure"],
        &[
            ("KAFKA_PRODUCES", &format!("{t}(retention.ms=2d)")),
            ("KAFKA_TOPIC_POLICY", "verify"),
        ],
    );
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    assert!(text(&out).contains("! "), "{}", text(&out));
}

#[tokio::test]
async fn replicas_above_brokers_error_or_clamp() {
    let brokers = broker_count();
    let t = unique("prov-replicas");
    let too_many = (brokers + 2).to_string();
    let decl = format!("{t}(replicas={too_many}, min.insync.replicas=2)");
    let err = provisioner(&[("KAFKA_PRODUCES", &decl)])
        .ensure(TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "topic `{t}` declares {too_many} replicas but the cluster has {brokers} broker(s); lower replicas, or set KAFKA_TOPIC_REPLICAS=clamp for development"
        )
    );
    let out = sidecar(&["ensure"], &[("KAFKA_PRODUCES", &decl)]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));

    let report = provisioner(&[("KAFKA_PRODUCES", &decl), ("KAFKA_TOPIC_REPLICAS", "clamp")])
        .ensure(TIMEOUT)
        .await
        .expect("clamp");
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.to_string().contains("clamped")),
        "{:?}",
        report.plan.warnings
    );
    assert_eq!(describe_topic(&t).await.1, brokers);
}

#[tokio::test]
async fn cli_plan_text_json_and_exit_codes() {
    let t = unique("prov-cli");
    let out = sidecar(
        &["plan"],
        &[("KAFKA_PRODUCES", &format!("{t}(partitions=2)"))],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("+ {t}  create  partitions=2 replicas=3")),
        "{stdout}"
    );

    let out = sidecar(&["plan", "--output", "json"], &[("KAFKA_PRODUCES", &t)]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    assert_eq!(json["topics"][0]["topic"], t.as_str());
    assert_eq!(json["topics"][0]["changes"][0]["action"], "create");

    let out = sidecar(
        &["ensure"],
        &[("KAFKA_PRODUCES", "bad name, x(partitions=0)")],
    );
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 problems") && stderr.contains("KAFKA_PRODUCES: topic name `bad name`"),
        "{stderr}"
    );

    let out = Command::new(sidecar_bin())
        .args(["ensure", "--timeout", "2s"])
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .env("KAFKA_PRODUCES", &t)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unavailable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_ensures_create_each_topic_once() {
    let topics: Vec<String> = (0..3).map(|i| unique(&format!("prov-race{i}"))).collect();
    let produces = topics
        .iter()
        .map(|t| format!("{t}(partitions=6)"))
        .collect::<Vec<_>>()
        .join(", ");
    let children: Vec<_> = (0..10)
        .map(|_| {
            Command::new(sidecar_bin())
                .args(["ensure", "--output", "json", "--timeout", "120s"])
                .env_clear()
                .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
                .env("KAFKA_APP", "race")
                .env("KAFKA_PRODUCES", &produces)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut created = std::collections::BTreeMap::<String, usize>::new();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
        for t in &topics {
            if report["outcomes"][t] == "created" {
                *created.entry(t.clone()).or_default() += 1;
            }
        }
    }
    for t in &topics {
        assert_eq!(
            created.get(t),
            Some(&1),
            "topic {t} created by exactly one process: {created:?}"
        );
        assert_eq!(describe_topic(t).await.0, 6);
    }
}

/// Whether the ELF executable at `path` names a dynamic loader (a `PT_INTERP` program header).
fn has_interpreter(path: &std::path::Path) -> bool {
    let elf = std::fs::read(path).expect("read binary");
    assert_eq!(
        &elf[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    let u16_at = |o: usize| usize::from(u16::from_le_bytes([elf[o], elf[o + 1]]));
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes"));
    let phoff = usize::try_from(phoff).expect("program headers offset");
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let o = phoff + i * size;
        u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes")) == 3 // PT_INTERP
    })
}

/// The build that ships in the sidecar image (`scripts/build-sidecar.sh`, handed to the tests in
/// KAFKADEPS_SIDECAR_BIN by `scripts/test.sh`; every sidecar test runs it) is one static
/// executable without Kerberos or the webhook, and says so up front instead of failing later.
#[test]
fn the_shipped_sidecar_build_is_static_and_says_what_it_leaves_out() {
    let bin = std::env::var_os(kafkadeps_tests::SIDECAR_BIN).unwrap_or_else(|| {
        panic!(
            "set {} to the output of scripts/build-sidecar.sh (scripts/test.sh does)",
            kafkadeps_tests::SIDECAR_BIN
        )
    });
    let bin = std::path::PathBuf::from(bin);
    assert!(
        !has_interpreter(&bin),
        "{} is dynamically linked",
        bin.display()
    );
    assert!(
        has_interpreter(&std::env::current_exe().unwrap()),
        "the check can tell"
    );

    let out = sidecar(
        &["plan"],
        &[
            ("KAFKA_PRODUCES", "orders"),
            ("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
            ("KAFKA_SASL_MECHANISM", "GSSAPI"),
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("KAFKA_SASL_MECHANISM: GSSAPI (Kerberos) is not built in"),
        "{}",
        text(&out)
    );

    let out = sidecar(&["inject", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(out.status.code(), Some(70), "{}", text(&out));
    assert!(
        text(&out).contains("no admission webhook"),
        "{}",
        text(&out)
    );
}
