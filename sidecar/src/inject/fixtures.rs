//! Fixture tests: realistic AdmissionReviews (`sidecar/tests/fixtures/admission/*.review.json`)
//! through [`review`](super::review::review); the returned patch is applied with the `json-patch`
//! library, the result must deserialize into `k8s-openapi`'s `Pod` and equal the golden file
//! (`*.golden.json`). `UPDATE_GOLDEN=1` rewrites the goldens (review the diff).

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::review::review;
use super::settings::InjectorSettings;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission")
}

fn settings() -> InjectorSettings {
    InjectorSettings {
        bootstrap_servers: Some("prod-kafka-kafka-bootstrap.kafka:9092".into()),
        sidecar_image: "kafkadeps/sidecar:0.1.0".into(),
        ..InjectorSettings::default()
    }
}

/// The patch bytes of a response, which must be base64 text (as the AdmissionReview API
/// documents `response.patch`).
fn patch_of(response: &Value) -> Option<Vec<u8>> {
    use base64::Engine;
    match &response["patch"] {
        Value::Null => None,
        Value::String(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("the patch is base64"),
        ),
        other => panic!("the patch must be base64 text, not {other}"),
    }
}

/// What a fixture produces: the decision and the pod as stored.
fn outcome(request: &Value) -> Value {
    let body = serde_json::to_vec(request).unwrap();
    let (answer, _) = review(&body, &settings()).expect("well-formed");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    let response = &answer["response"];
    assert_eq!(
        response["uid"], request["request"]["uid"],
        "the uid is echoed"
    );
    let pod = patch_of(response).map(|patch| {
        assert_eq!(response["patchType"], "JSONPatch");
        let ops: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
        let mut doc = request["request"]["object"].clone();
        json_patch::patch(&mut doc, &ops).expect("the patch applies");
        let typed: Pod = serde_json::from_value(doc).expect("the result is a Pod");
        serde_json::to_value(typed).unwrap()
    });
    json!({
        "allowed": response["allowed"],
        "message": response["status"]["message"],
        "warnings": response["warnings"],
        "pod": pod,
    })
}

#[test]
fn every_fixture_matches_its_golden_file() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".review.json"))
        else {
            continue;
        };
        let request: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let got = outcome(&request);
        let golden = dir().join(format!("{name}.golden.json"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(&golden)
                .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1)", golden.display())),
        )
        .unwrap();
        assert_eq!(got, want, "{name}");
        seen += 1;
    }
    assert!(seen >= 8, "fixtures found: {seen}");
}

#[test]
fn what_the_fixtures_decide() {
    let load = |name: &str| -> Value {
        let text = std::fs::read_to_string(dir().join(format!("{name}.review.json"))).unwrap();
        outcome(&serde_json::from_str(&text).unwrap())
    };
    let injected = load("deployment-pod");
    assert_eq!(injected["allowed"], true);
    let pod: Pod = serde_json::from_value(injected["pod"].clone()).unwrap();
    let spec = pod.spec.unwrap();
    let init = spec.init_containers.unwrap();
    assert_eq!(
        init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["kafkadeps", "migrate"]
    );
    for name in ["already-injected", "opted-out", "update-is-ignored"] {
        let o = load(name);
        assert_eq!(
            (o["allowed"].clone(), o["pod"].clone()),
            (json!(true), Value::Null),
            "{name}"
        );
    }
    let denied = load("invalid-declarations");
    assert_eq!(denied["allowed"], false);
    let message = denied["message"].as_str().unwrap();
    assert!(
        message.contains("KAFKA_PRODUCES") && message.contains("bad topic!"),
        "{message}"
    );
    let warned = load("unknown-annotation");
    assert!(
        warned["warnings"][0]
            .as_str()
            .unwrap()
            .contains("did you mean kafkadeps.io/consumes"),
        "{warned}"
    );
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    for body in [
        &b""[..],
        b"{",
        b"[]",
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
        br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":{"spec":7}}}"#,
    ] {
        assert!(review(body, &settings()).is_err(), "{}", String::from_utf8_lossy(body));
    }
}

/// Every fixture request, for mutation.
fn fixture_requests() -> Vec<Value> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            name.ends_with(".review.json").then(|| {
                let text = std::fs::read_to_string(&path).unwrap();
                (name, serde_json::from_str(&text).unwrap())
            })
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, v)| v).collect()
}

/// Every location in `v` (JSON pointers), the root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,20}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"kafkadeps.io/inject": "true", "kafkadeps.io/produces": "x(partitions=0"})),
    ]
}

proptest::proptest! {
    /// A fixture with any one value replaced by anything, or its bytes cut or flipped, is
    /// answered (the uid echoed) or refused as malformed: never a panic.
    #[test]
    fn mutated_admission_reviews_are_answered_or_refused(
        which in 0usize..64,
        location in 0usize..10_000,
        value in any_json(),
        cut in proptest::option::of(0usize..4000),
        flip in proptest::option::of((0usize..4000, 0u8..=255)),
    ) {
        let requests = fixture_requests();
        let mut request = requests[which % requests.len()].clone();
        let mut all = Vec::new();
        pointers(&request, String::new(), &mut all);
        let at = &all[location % all.len()];
        if at.is_empty() {
            request = value;
        } else if let Some(slot) = request.pointer_mut(at) {
            *slot = value;
        }
        let mut body = serde_json::to_vec(&request).unwrap();
        if let Some(n) = cut {
            body.truncate(n % (body.len() + 1));
        }
        if let Some((i, b)) = flip
            && !body.is_empty()
        {
            let i = i % body.len();
            body[i] = b;
        }
        if let Ok((answer, _)) = review(&body, &settings()) {
            proptest::prop_assert_eq!(&answer["kind"], "AdmissionReview");
            proptest::prop_assert!(answer["response"]["allowed"].is_boolean(), "{answer}");
        }
    }

    /// Any `kafkadeps.io/*` annotations are a decision (skip, inject, deny with a message): never
    /// a panic.
    #[test]
    fn any_annotations_are_a_decision(
        annotations in proptest::collection::btree_map(
            "kafkadeps\\.io/(inject|topic|produces|consumes|group|topic-policy|app-port|deliver-url|sidecar-cpu|sidecar-memory|native-sidecar|shutdown-grace|[a-z-]{1,12})",
            "\\PC{0,30}",
            0..8,
        ),
        inject in proptest::prop_oneof![
            proptest::strategy::Just("true"),
            proptest::strategy::Just("false"),
            proptest::strategy::Just("yes"),
        ],
    ) {
        let mut annotations = annotations;
        annotations.insert("kafkadeps.io/inject".into(), inject.into());
        if let Err(reason) =
            super::annotations::decide(&annotations, &Default::default(), &settings())
        {
            proptest::prop_assert!(!reason.is_empty());
        }
    }
}
