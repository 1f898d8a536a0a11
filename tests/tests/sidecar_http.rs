//! The sidecar's HTTP contract: problem details for every error and never a panic, the OpenAPI
//! document (valid, served, every path served), and `Server-Timing` on produce answers.

use std::time::Duration;

use kafkadeps_tests::push::{binary_event, expect_problem};
use kafkadeps_tests::sidecar::{Sidecar, kafka_ms, scratch};
use kafkadeps_tests::{eventually, http_get, python, repo_root, unique};

/// Posts each `(path, JSON body, status, problem kind)` and expects that problem document.
async fn expect_problems<P: AsRef<str>>(sidecar: &Sidecar, cases: &[(P, String, u16, &str)]) {
    let client = reqwest::Client::new();
    for (path, body, status, kind) in cases {
        let response = client
            .post(format!("{}{}", sidecar.url(), path.as_ref()))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        expect_problem(response, *status, kind).await;
    }
}

/// The sidecar answered everything so far without dying or panicking.
fn assert_alive(sidecar: &mut Sidecar) {
    assert!(sidecar.running(), "log:\n{}", sidecar.log_text());
    assert_eq!(http_get(&sidecar.admin, "/livez").expect("livez").0, 200);
    assert!(!sidecar.log_text().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_produce_requests_and_unknown_routes_are_problem_details() {
    let dir = scratch("sidecar-produce-errors");
    let topic = unique("sc-err");
    let mut sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_SIDECAR_MAX_BODY_BYTES", "1024"),
        ],
    );
    sidecar.ready().await;
    let records = format!("/v1/topics/{topic}/records");
    let events = format!("/v1/topics/{topic}/events");
    let malformed = |body: &str| (records.as_str(), body.to_owned(), 400, "malformed-request");
    let cases = vec![
        malformed("{not json"),
        malformed(r#"{"records":"x"}"#),
        malformed(r#"{"records":[{"key":1}]}"#),
        malformed(r#"{"records":[]}"#),
        malformed(r#"{"records":[{"value_base64":"!"}]}"#),
        (
            records.as_str(),
            format!(r#"{{"records":[{{"value":"{}"}}]}}"#, "x".repeat(2000)),
            413,
            "body-too-large",
        ),
        (
            "/v1/topics/not-declared/records",
            r#"{"records":[{"value":1}]}"#.into(),
            404,
            "undeclared-topic",
        ),
        (
            "/v1/topics/not-declared/events",
            "{}".into(),
            404,
            "undeclared-topic",
        ),
        (events.as_str(), "{}".into(), 400, "malformed-request"),
        ("/v2/nothing", "{}".into(), 404, "not-found"),
    ];
    expect_problems(&sidecar, &cases).await;
    let client = reqwest::Client::new();
    let wrong_method = client
        .get(format!("{}{records}", sidecar.url()))
        .send()
        .await
        .expect("get");
    expect_problem(wrong_method, 405, "method-not-allowed").await;

    // A body below the limit is produced; the server stayed alive and ready throughout.
    let ok = client
        .post(format!("{}{records}", sidecar.url()))
        .header("content-type", "application/json")
        .body(r#"{"records":[{"key":"k","value":{"ok":true}}]}"#)
        .send()
        .await
        .expect("produce");
    assert_eq!(ok.status(), 200);
    assert_alive(&mut sidecar);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_consumer_requests_are_problem_details() {
    let dir = scratch("sidecar-consumer-errors");
    let (consumed, group) = (unique("sc-err-in"), unique("sc-err-g"));
    let mut sidecar = Sidecar::start(
        &dir,
        &[("KAFKA_CONSUMES", &consumed), ("KAFKA_GROUP_ID", &group)],
    );
    sidecar.ready().await;
    let poll = format!("/v1/consumers/{group}/poll");
    let commit = format!("/v1/consumers/{group}/commit");
    let nack = format!("/v1/consumers/{group}/nack");
    let malformed =
        |path: &str, body: &str| (path.to_owned(), body.to_owned(), 400, "malformed-request");
    let cases = vec![
        malformed(&poll, r#"{"max_records":0}"#),
        malformed(&poll, r#"{"timeout_ms":"soon"}"#),
        malformed(
            &commit,
            r#"{"lease":"l","offsets":[{"topic":"t","partition":0,"offset":-1}]}"#,
        ),
        malformed(&commit, r#"{"offsets":[]}"#),
        (
            commit.clone(),
            r#"{"lease":"made-up","offsets":[]}"#.into(),
            409,
            "lease-expired",
        ),
        malformed(&nack, r#"{"lease":"l","records":[],"action":"later"}"#),
        (
            "/v1/consumers/other-group/poll".into(),
            "{}".into(),
            404,
            "unknown-group",
        ),
        (
            "/v1/consumers/other-group/commit".into(),
            r#"{"offsets":[]}"#.into(),
            404,
            "unknown-group",
        ),
        (
            "/v1/consumers/other-group/nack".into(),
            r#"{"lease":"l","records":[]}"#.into(),
            404,
            "unknown-group",
        ),
    ];
    expect_problems(&sidecar, &cases).await;
    assert_alive(&mut sidecar);
}

#[test]
fn the_openapi_document_is_valid_and_served() {
    let file = repo_root().join("sidecar/openapi.json");
    let out = std::process::Command::new(python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator (scripts/test.sh installs tests/requirements.txt)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_path_is_served_and_the_document_is_the_file() {
    let dir = scratch("sidecar-openapi");
    let topic = unique("sc-doc");
    let sidecar = Sidecar::start(&dir, &[("KAFKA_PRODUCES", &topic)]);
    let client = reqwest::Client::new();
    let served = eventually(Duration::from_secs(10), "the data API listens", || {
        let client = client.clone();
        let url = format!("{}/openapi.json", sidecar.url());
        async move { client.get(url).send().await.ok()?.text().await.ok() }
    })
    .await;
    let file = std::fs::read_to_string(repo_root().join("sidecar/openapi.json")).expect("file");
    assert_eq!(served, file);
    let doc: serde_json::Value = serde_json::from_str(&file).expect("JSON");
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{topic}", &topic).replace("{group}", "g");
        for method in ops.as_object().expect("operations").keys() {
            // Every documented operation exists: the opposite method is refused with 405, not 404.
            let other = if method == "get" {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let response = client
                .request(other, format!("{}{concrete}", sidecar.url()))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_answers_say_how_long_kafka_took() {
    let dir = scratch("sidecar-timing");
    let topic = unique("sc-timing");
    let sidecar = Sidecar::start(&dir, &[("KAFKA_PRODUCES", &topic)]);
    sidecar.ready().await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let response = client
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .json(&serde_json::json!({"records": [{"key": "k", "value": 1}, {"key": "l", "value": 2}]}))
        .send()
        .await
        .expect("request");
    let total = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(response.status(), 200);
    let kafka = kafka_ms(&response).expect("Server-Timing: kafka;dur=<ms>");
    assert!(
        kafka > 0.0 && kafka <= total,
        "kafka {kafka} ms of {total} ms"
    );

    let response = binary_event(&client, &sidecar, &topic, "1")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(kafka_ms(&response).is_some_and(|ms| ms > 0.0));
}
