//! kafkadeps on a secured Apache Kafka (`scripts/kafka.sh up --secure`): every client mechanism
//! produces and consumes through the real sidecar binary; a wrong password, an untrusted CA or a
//! missing client certificate ends `ensure` at once with exit 77 and the variable to fix; no
//! secret appears in logs, metrics or `plan` output.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafkadeps_tests::secure::SecureCluster;
use kafkadeps_tests::sidecar::{Puller, Sidecar, scratch};
use kafkadeps_tests::{http_get, sidecar_bin, unique};

/// What a single-broker cluster can hold (the durability floor needs `relaxed` there).
fn single_broker(topic: &str) -> String {
    format!("{topic}(replicas=1,min.insync.replicas=1)")
}

/// Runs `kafkadeps-sidecar <args>` with only `env`: exit code, stdout + stderr, and how long it
/// took.
fn sidecar_cli(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(sidecar_bin())
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run kafkadeps-sidecar");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text, started.elapsed())
}

/// Produces `n` records (keys `k-0`…) through `sidecar`'s data API; they must be acknowledged.
async fn produce(sidecar: &Sidecar, topic: &str, n: usize) {
    let records: Vec<_> = (0..n)
        .map(|i| serde_json::json!({"key": format!("k-{i}"), "value": {"n": i}}))
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .json(&serde_json::json!({ "records": records }))
        .send()
        .await
        .expect("produce");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// Produces 20 records through a sidecar authenticated by `env` and pulls them back; checks the
/// sidecar's log and metrics hold none of `secrets`.
async fn round_trip(principal: &str, env: Vec<(String, String)>, secrets: &[String]) {
    let cluster = SecureCluster::get();
    let prefix = format!("kd-sec-{principal}-");
    cluster.allow_prefix(&format!("User:{principal}"), &prefix);
    let (topic, group) = (unique(&prefix), unique(&prefix));
    let declared = single_broker(&topic);
    let mut all: Vec<(String, String)> = env;
    all.extend([
        ("KAFKA_PRODUCES".into(), declared),
        ("KAFKA_CONSUMES".into(), topic.clone()),
        ("KAFKA_GROUP_ID".into(), group.clone()),
        ("KAFKA_DURABILITY".into(), "relaxed".into()),
    ]);
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = scratch("secure");
    let sidecar = Sidecar::start(&dir, &pairs);
    sidecar.ready().await;

    produce(&sidecar, &topic, 20).await;

    let pull = Puller::new(&sidecar, &group);
    let mut keys = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys.len() < 20 {
        assert!(Instant::now() < deadline, "20 records pulled: {keys:?}");
        let polled = pull.poll(20, 5_000).await;
        if polled.records.is_empty() {
            continue;
        }
        keys.extend(polled.keys());
        let next: Vec<(&str, i32, i64)> = polled
            .positions()
            .into_iter()
            .map(|(p, o)| (topic.as_str(), p, o + 1))
            .collect();
        let (status, body) = pull.commit(polled.lease(), &next).await;
        assert_eq!(status, 200, "commit: {body}");
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 20, "every record once: {keys:?}");

    let (_, metrics) = http_get(&sidecar.admin, "/metrics").expect("metrics");
    let log = sidecar.log_text();
    for secret in secrets {
        assert!(!log.contains(secret.as_str()), "a secret in the log: {log}");
        assert!(
            !metrics.contains(secret.as_str()),
            "a secret in the metrics"
        );
    }
    drop(sidecar);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// [`round_trip`] as `user` over SASL_SSL with `mechanism`; the password must not leak.
async fn sasl_round_trip(user: &str, mechanism: &str) {
    let c = SecureCluster::get();
    round_trip(user, c.sasl_env(user, mechanism), &[c.password(user)]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_sha_512_produces_and_consumes() {
    sasl_round_trip("alice", "SCRAM-SHA-512").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_sha_256_produces_and_consumes() {
    sasl_round_trip("bob", "SCRAM-SHA-256").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_over_tls_produces_and_consumes() {
    sasl_round_trip("alice", "PLAIN").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_produces_and_consumes() {
    let c = SecureCluster::get();
    let key = std::fs::read_to_string(c.secrets.join("bob.key")).expect("key");
    // The key's base64 body must not leak (its first line is a constant header).
    let body_line = key.lines().nth(1).unwrap_or_default().to_owned();
    round_trip("bob", c.mtls_env("bob"), &[body_line]).await;
}

/// `ensure` with `env` changed by `change`: it must end with 77 well within its timeout, naming
/// `variable`, without `secret`.
fn refused(change: &[(&str, String)], variable: &str, secret: Option<&str>) {
    let c = SecureCluster::get();
    let topic = unique("kd-sec-refused-");
    let mut env = c.sasl_env("alice", "SCRAM-SHA-512");
    for (k, v) in change {
        env.retain(|(key, _)| key != k);
        if !v.is_empty() {
            env.push(((*k).to_owned(), v.clone()));
        }
    }
    env.push(("KAFKA_PRODUCES".into(), single_broker(&topic)));
    env.push(("KAFKA_DURABILITY".into(), "relaxed".into()));
    let (code, out, took) = sidecar_cli(&["ensure", "--timeout", "60s"], &env);
    assert_eq!(code, Some(77), "exit 77 (refused): {out}");
    assert!(out.contains(variable), "names {variable}: {out}");
    assert!(
        took < Duration::from_secs(20),
        "at once, not after retries: {took:?}"
    );
    if let Some(secret) = secret {
        assert!(!out.contains(secret), "the password leaked: {out}");
    }
}

#[test]
fn a_wrong_password_is_refused_at_once_naming_the_variable() {
    let dir = scratch("secure-wrong");
    let wrong = dir.join("wrong.password");
    std::fs::write(&wrong, "not-the-password-3f9a").expect("write");
    refused(
        &[("KAFKA_SASL_PASSWORD_FILE", wrong.display().to_string())],
        "KAFKA_SASL_PASSWORD_FILE",
        Some("not-the-password-3f9a"),
    );
}

#[test]
fn an_unknown_ca_is_refused_at_once_naming_the_variable() {
    let c = SecureCluster::get();
    refused(
        &[("KAFKA_SSL_CA_LOCATION", c.file("other-ca.crt"))],
        "KAFKA_SSL_CA_LOCATION",
        None,
    );
}

#[test]
fn a_missing_client_certificate_is_refused_at_once_naming_the_variable() {
    let c = SecureCluster::get();
    refused(
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", c.ssl.clone()),
            ("KAFKA_SECURITY_PROTOCOL", "SSL".into()),
            ("KAFKA_SASL_MECHANISM", String::new()),
            ("KAFKA_SASL_USERNAME", String::new()),
            ("KAFKA_SASL_PASSWORD_FILE", String::new()),
        ],
        "KAFKA_SSL_CERTIFICATE_LOCATION",
        None,
    );
}

#[test]
fn plan_output_holds_no_secret() {
    let c = SecureCluster::get();
    let topic = unique("kd-sec-plan-");
    // The password inline (KAFKA_SASL_PASSWORD) as well as the admin user's.
    let mut env = c.sasl_env("admin", "SCRAM-SHA-512");
    env.retain(|(k, _)| k != "KAFKA_SASL_PASSWORD_FILE");
    env.push(("KAFKA_SASL_PASSWORD".into(), c.password("admin")));
    env.push(("KAFKA_PRODUCES".into(), single_broker(&topic)));
    env.push(("KAFKA_DURABILITY".into(), "relaxed".into()));
    for output in ["text", "json"] {
        let (code, out, _) = sidecar_cli(&["plan", "--output", output], &env);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains(&topic), "the plan lists the topic: {out}");
        assert!(
            !out.contains(&c.password("admin")),
            "the password leaked: {out}"
        );
    }
}

/// The `kafka-acls` argument lines `kafkadeps-sidecar acls` derives for `env` and `principal`.
fn derived_acls(env: &[(String, String)], principal: &str) -> Vec<Vec<String>> {
    let (code, out, _) = sidecar_cli(
        &["acls", "--output", "kafka-acls", "--principal", principal],
        env,
    );
    assert_eq!(code, Some(0), "{out}");
    out.lines()
        .filter(|l| l.starts_with("--add"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Grants exactly what `acls` derives, as a platform pipeline would.
fn grant(env: &[(String, String)], principal: &str) -> Vec<Vec<String>> {
    let lines = derived_acls(env, principal);
    let cluster = SecureCluster::get();
    for args in &lines {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cluster.acls(&args);
    }
    lines
}

/// A pull consumer of `topic` in `group` through a ready sidecar: pulls `n` records, commits them
/// and dead-letters the first (a DLQ write).
async fn pull_and_dead_letter(sidecar: &Sidecar, topic: &str, group: &str, n: usize) {
    let pull = Puller::new(sidecar, group);
    let mut seen = 0;
    let mut dead_lettered = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < n {
        assert!(
            Instant::now() < deadline,
            "{n} records pulled, {seen} so far"
        );
        let polled = pull.poll(n, 5_000).await;
        if polled.records.is_empty() {
            continue;
        }
        let mut positions = polled.positions();
        if !dead_lettered {
            let (p, o) = positions.remove(0);
            let (status, body) = pull
                .nack(polled.lease(), &[(topic, p, o)], "dead_letter", "test")
                .await;
            assert_eq!(status, 200, "nack: {body}");
            dead_lettered = true;
            seen += 1;
        }
        if !positions.is_empty() {
            let next: Vec<(&str, i32, i64)> =
                positions.iter().map(|(p, o)| (topic, *p, o + 1)).collect();
            let (status, body) = pull.commit(polled.lease(), &next).await;
            assert_eq!(status, 200, "commit: {body}");
            seen += positions.len();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_exactly_the_derived_acls_runs_its_workload() {
    let c = SecureCluster::get();
    // Names outside the prefixes the mechanism tests grant alice.
    let (topic, group) = (unique("kd-lp"), unique("kd-lp-g"));
    let mut env = c.sasl_env("alice", "SCRAM-SHA-512");
    env.extend([
        ("KAFKA_APP".to_owned(), "kd-lp-app".to_owned()),
        ("KAFKA_PRODUCES".to_owned(), single_broker(&topic)),
        ("KAFKA_CONSUMES".to_owned(), topic.clone()),
        ("KAFKA_GROUP_ID".to_owned(), group.clone()),
        ("KAFKA_DURABILITY".to_owned(), "relaxed".to_owned()),
        ("KAFKA_TOPIC_REPLICAS".to_owned(), "clamp".to_owned()),
    ]);
    let granted = grant(&env, "User:alice");
    assert!(
        granted.iter().any(|a| a.contains(&"--group".to_owned())),
        "{granted:?}"
    );

    // ensure creates the topic and its dead-letter topic, the sidecar produces, pulls, commits,
    // dead-letters, samples lag and reports ready: all on exactly those ACLs.
    let (code, out, _) = sidecar_cli(&["ensure", "--timeout", "60s"], &env);
    assert_eq!(code, Some(0), "ensure with the derived ACLs: {out}");
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = scratch("secure-lp");
    let sidecar = Sidecar::start(&dir, &pairs);
    sidecar.ready().await;
    produce(&sidecar, &topic, 10).await;
    pull_and_dead_letter(&sidecar, &topic, &group, 10).await;
    let log = sidecar.log_text();
    assert!(
        !log.contains("uthorization"),
        "no authorization failure on the derived ACLs: {log}"
    );

    // A consume-only service under `verify` has no Create or Alter rights and still runs.
    let reader_group = unique("kd-lp-r");
    let mut reader = c.sasl_env("bob", "SCRAM-SHA-256");
    reader.extend([
        ("KAFKA_APP".to_owned(), "kd-lp-reader".to_owned()),
        ("KAFKA_CONSUMES".to_owned(), topic.clone()),
        ("KAFKA_GROUP_ID".to_owned(), reader_group.clone()),
        ("KAFKA_TOPIC_POLICY".to_owned(), "verify".to_owned()),
        ("KAFKA_DURABILITY".to_owned(), "relaxed".to_owned()),
        ("KAFKA_TOPIC_REPLICAS".to_owned(), "clamp".to_owned()),
    ]);
    let granted = grant(&reader, "User:bob");
    let flat: Vec<String> = granted.concat();
    for op in ["Create", "Alter", "AlterConfigs", "Write"] {
        // The reader's own dead-letter topic is the only thing it writes.
        let writes_only_its_dlq = op == "Write"
            && granted
                .iter()
                .filter(|a| a.contains(&"Write".to_owned()))
                .all(|a| a.iter().any(|x| x.ends_with(".dlq")));
        assert!(
            !flat.contains(&op.to_owned()) || writes_only_its_dlq,
            "a consume-only service under verify gets no {op}: {granted:?}"
        );
    }
    let pairs: Vec<(&str, &str)> = reader
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let reader_sidecar = Sidecar::start(&dir, &pairs);
    reader_sidecar.ready().await;
    let polled = Puller::new(&reader_sidecar, &reader_group)
        .poll(5, 10_000)
        .await;
    assert!(!polled.records.is_empty(), "the reader reads {topic}");
    drop((sidecar, reader_sidecar));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_the_acls_ensure_fails_with_the_authorization_error_not_a_hang() {
    let c = SecureCluster::get();
    let mut env = c.sasl_env("alice", "SCRAM-SHA-512");
    env.push(("KAFKA_PRODUCES".into(), single_broker(&unique("kd-noacl"))));
    env.push(("KAFKA_DURABILITY".into(), "relaxed".into()));
    let (code, out, took) = sidecar_cli(&["ensure", "--timeout", "60s"], &env);
    assert_eq!(code, Some(65), "the cluster refused the change: {out}");
    assert!(out.contains("TopicAuthorizationFailed"), "{out}");
    assert!(took < Duration::from_secs(30), "not a retry loop: {took:?}");
}
