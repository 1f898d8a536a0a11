//! W3C trace context through the sidecar, both ways, with spans off (passed through) and on
//! (continued).

use std::time::Duration;

use kafkadeps_tests::push::{Push, binary_event, journal_when, push_setup};
use kafkadeps_tests::read_all;
use kafkadeps_tests::sidecar::{Sidecar, scratch};

/// A caller's W3C trace context, and another one a record carries itself.
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const OWN: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// POSTs records `a` (no headers) and `b` (its own `traceparent`) with the caller's trace.
async fn produce_traced(sidecar: &Sidecar, topic: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .header("traceparent", CALLER)
        .header("tracestate", "app=1")
        .json(&serde_json::json!({"records": [
            {"key": "a", "value": 1},
            {"key": "b", "value": 2, "headers": {"traceparent": OWN}},
        ]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

fn header(record: &kafkadeps_tests::ReadRecord, name: &str) -> Option<String> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// The trace id of a `traceparent`.
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a traceparent")
}

#[tokio::test(flavor = "multi_thread")]
async fn without_spans_the_callers_trace_passes_through_the_sidecar_both_ways() {
    let dir = scratch("sidecar-trace");
    let Push {
        app,
        sidecar,
        topic,
        ..
    } = push_setup(&dir, 1, &[], &[]);
    sidecar.ready().await;
    produce_traced(&sidecar, &topic).await;
    let event = binary_event(&reqwest::Client::new(), &sidecar, &topic, "evt-t")
        .header("traceparent", CALLER)
        .send()
        .await
        .expect("event");
    assert_eq!(event.status(), 200);
    // A trace header that is no valid HTTP header value is left out of the push, which succeeds.
    let bad = reqwest::Client::new()
        .post(format!("{}/v1/topics/{topic}/records", sidecar.url()))
        .json(&serde_json::json!({"records": [
            {"key": "c", "value": 3, "headers": {"traceparent": "not\na trace"}},
        ]}))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 200);

    let stored = read_all(&topic, 4, Duration::from_secs(60)).await;
    let by_key = |key: &str| {
        stored
            .iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("record {key}: {stored:?}"))
    };
    assert_eq!(header(by_key("a"), "traceparent").as_deref(), Some(CALLER));
    assert_eq!(header(by_key("a"), "tracestate").as_deref(), Some("app=1"));
    // A record's own trace context wins over the request's.
    assert_eq!(header(by_key("b"), "traceparent").as_deref(), Some(OWN));
    assert_eq!(header(by_key("b"), "tracestate"), None);
    let event = stored
        .iter()
        .find(|r| r.headers.iter().any(|(k, v)| k == "ce_id" && v == b"evt-t"))
        .expect("the event on Kafka");
    assert_eq!(header(event, "traceparent").as_deref(), Some(CALLER));

    let pushed = journal_when(&app.journal, Duration::from_secs(60), "four pushes", |e| {
        e.len() >= 4
    })
    .await;
    assert!(pushed.iter().all(|e| e.status == 200), "{pushed:?}");
    let pushed_trace = |key: &str| {
        pushed
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .and_then(|e| e.traceparent.clone())
    };
    assert_eq!(pushed_trace("a").as_deref(), Some(CALLER));
    assert_eq!(pushed_trace("b").as_deref(), Some(OWN));
    assert_eq!(pushed_trace("evt-t").as_deref(), Some(CALLER));
    assert_eq!(pushed_trace("c"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_spans_the_sidecar_continues_the_callers_trace() {
    let dir = scratch("sidecar-trace-otlp");
    // Spans are recorded once an OTLP endpoint is set; nothing listens there (export failures
    // are only logged), the trace context on Kafka and on the pushes is what is checked.
    let endpoint = format!("http://127.0.0.1:{}", kafkadeps_tests::free_port());
    let Push {
        app,
        sidecar,
        topic,
        ..
    } = push_setup(&dir, 1, &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    sidecar.ready().await;
    produce_traced(&sidecar, &topic).await;

    let stored = read_all(&topic, 2, Duration::from_secs(60)).await;
    let on_kafka = |key: &str| {
        let record = stored.iter().find(|r| r.key == key).expect("record");
        header(record, "traceparent").expect("a traceparent on Kafka")
    };
    // The sidecar's send span continues the caller's trace: same trace, a span of its own.
    let a = on_kafka("a");
    assert_eq!(trace_id(&a), trace_id(CALLER));
    assert_ne!(a, CALLER);
    // A record's own trace context wins: its send continues that trace.
    let b = on_kafka("b");
    assert_eq!(trace_id(&b), trace_id(OWN));
    assert_ne!(b, OWN);

    let pushed = journal_when(&app.journal, Duration::from_secs(60), "two pushes", |e| {
        e.len() >= 2
    })
    .await;
    let to_app = pushed
        .iter()
        .find(|e| e.key.as_deref() == Some("a"))
        .and_then(|e| e.traceparent.clone())
        .expect("a traceparent on the push");
    // The push carries the sidecar's `process` span: the same trace, yet another span.
    assert_eq!(trace_id(&to_app), trace_id(CALLER));
    assert_ne!(to_app, a);
}
