//! Bad input never crashes the sidecar: generated and mutated bodies, paths, methods and headers
//! thrown at every operation of the data API of a running sidecar get a documented status — a
//! problem-details error for anything but a success — and the server keeps serving.

use std::time::Duration;

use kafkadeps_tests::sidecar::{Sidecar, scratch};
use kafkadeps_tests::{http_get, unique};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A JSON value of any shape, some of them close to what the operations accept.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e12f64..1e12).prop_map(|f| serde_json::json!(f)),
        "\\PC{0,16}".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("records"),
            Just("key"),
            Just("value_base64"),
            Just("lease")
        ]
        .prop_map(|s| serde_json::json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("records".to_owned()),
                    Just("key".to_owned()),
                    Just("key_base64".to_owned()),
                    Just("value".to_owned()),
                    Just("value_base64".to_owned()),
                    Just("headers".to_owned()),
                    Just("partition".to_owned()),
                    Just("max_records".to_owned()),
                    Just("timeout_ms".to_owned()),
                    Just("lease".to_owned()),
                    Just("offsets".to_owned()),
                    Just("topic".to_owned()),
                    Just("offset".to_owned()),
                    Just("action".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..4,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One request: an operation (or a random path), a method, headers and a body.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    method: reqwest::Method,
    content_type: Option<String>,
    idempotency_key: Option<String>,
    body: Vec<u8>,
}

fn request(topic: String, group: String) -> impl Strategy<Value = Request> {
    let path = prop_oneof![
        Just(format!("/v1/topics/{topic}/records")),
        Just(format!("/v1/topics/{topic}/events")),
        Just(format!("/v1/topics/{topic}/events?mode=structured")),
        Just(format!("/v1/consumers/{group}/poll")),
        Just(format!("/v1/consumers/{group}/commit")),
        Just(format!("/v1/consumers/{group}/nack")),
        Just("/v1/topics/undeclared/records".to_owned()),
        Just("/v1/consumers/other/poll".to_owned()),
        "/[a-zA-Z0-9%._~-]{0,12}(/[a-zA-Z0-9%._~{}-]{0,12}){0,4}",
    ];
    let body = prop_oneof![
        json().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(br#"{"records":[{"key":"k","value":{"n":1}}]}"#.to_vec()),
        Just(br#"{"records":[{"key":"k","partition":99999}]}"#.to_vec()),
        Just(br#"{"max_records":5,"timeout_ms":0}"#.to_vec()),
        Just(br#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#.to_vec()),
    ];
    (
        path,
        prop_oneof![
            4 => Just(reqwest::Method::POST),
            1 => Just(reqwest::Method::GET),
            1 => Just(reqwest::Method::PUT),
            1 => Just(reqwest::Method::DELETE),
        ],
        prop::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("application/cloudevents+json".to_owned()),
            Just("application/cloudevents-batch+json".to_owned()),
            "\\PC{0,12}",
        ]),
        prop::option::of("[ -~]{0,300}"),
        body,
    )
        .prop_map(
            |(path, method, content_type, idempotency_key, body)| Request {
                path,
                method,
                content_type,
                idempotency_key,
                body,
            },
        )
}

/// The statuses `path` documents (sidecar/openapi.json).
fn documented(path: &str, status: u16) -> bool {
    let op = path.split('?').next().unwrap_or(path);
    let allowed: &[u16] = if op.ends_with("/records") {
        &[200, 400, 404, 405, 413, 422, 500, 503]
    } else if op.ends_with("/events") {
        &[200, 400, 404, 405, 413, 415, 422, 500, 503]
    } else if op.ends_with("/poll") {
        &[200, 400, 404, 405, 409, 413, 503]
    } else if op.ends_with("/commit") || op.ends_with("/nack") {
        &[200, 400, 404, 405, 409, 413]
    } else {
        &[200, 404, 405]
    };
    allowed.contains(&status)
}

#[test]
fn generated_requests_get_documented_answers_and_the_server_keeps_serving() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = scratch("sidecar-fuzz");
    let (topic, group) = (unique("sc-fuzz"), unique("sc-fuzz-g"));
    let sidecar = Sidecar::start(
        &dir,
        &[
            ("KAFKA_PRODUCES", &topic),
            ("KAFKA_CONSUMES", &topic),
            ("KAFKA_GROUP_ID", &group),
            ("KAFKA_SIDECAR_MAX_BODY_BYTES", "4096"),
        ],
    );
    rt.block_on(sidecar.ready());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let base = sidecar.url();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&request(topic, group), |r| {
        let (status, content_type) = rt.block_on(async {
            let mut req = client
                .request(r.method.clone(), format!("{base}{}", r.path))
                .body(r.body.clone());
            if let Some(ct) = &r.content_type
                && let Ok(v) = reqwest::header::HeaderValue::from_str(ct)
            {
                req = req.header("content-type", v);
            }
            if let Some(k) = &r.idempotency_key
                && let Ok(v) = reqwest::header::HeaderValue::from_str(k)
            {
                req = req.header("idempotency-key", v);
            }
            let response = req.send().await.expect("the sidecar answers");
            let ct = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (response.status().as_u16(), ct)
        });
        prop_assert!(
            documented(&r.path, status),
            "{} {}: {status}",
            r.method,
            r.path
        );
        if status >= 400 {
            prop_assert_eq!(
                content_type,
                "application/problem+json",
                "{} {}: {}",
                r.method,
                r.path,
                status
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\nsidecar log:\n{}", sidecar.log_text());
    }
    assert_eq!(http_get(&sidecar.admin, "/livez").expect("livez").0, 200);
    assert_eq!(http_get(&sidecar.admin, "/readyz").expect("readyz").0, 200);
    assert!(
        !sidecar.log_text().contains("panicked"),
        "{}",
        sidecar.log_text()
    );
}
