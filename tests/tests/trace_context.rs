//! Trace continuity: a record produced inside a span is processed in a span of the same trace
//! (W3C trace context in the record headers), checked with an in-memory span exporter.
//! Alone in its binary: it installs the process's tracing subscriber.

use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use kafkadeps_tests::{start_kafka, unique};

#[tokio::test(flavor = "multi_thread")]
async fn a_consumed_record_continues_the_producers_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .init();

    let topic = unique("trace");
    let kafka = start_kafka(&[
        ("KAFKA_APP", "trace"),
        ("KAFKA_GROUP_ID", &unique("trace-group")),
        ("KAFKA_TOPIC", &format!("{topic}(partitions=1)")),
    ])
    .await;
    let checkout = tracing::info_span!("checkout");
    let trace_id = checkout.context().span().span_context().trace_id();
    // A send starts when it is called: its span's parent is the span current at the call (as
    // inside an `#[instrument]`ed function), not one the returned future is instrumented with.
    let producer = kafka.producer();
    let sent = checkout.in_scope(|| {
        producer.send(kafkadeps::OutgoingRecord::json(&topic, "k", &"payload").expect("JSON"))
    });
    sent.await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let s = std::sync::Arc::clone(&stop);
    let (_stats, running) = kafka
        .consumer()
        .without_signal_handlers()
        .shutdown_on(async move { s.notified().await })
        .start(move |record| {
            let tx = tx.clone();
            async move {
                let seen = tracing::Span::current()
                    .context()
                    .span()
                    .span_context()
                    .trace_id();
                let header = record
                    .header("traceparent")
                    .map(|h| String::from_utf8_lossy(h).into_owned());
                let _ = tx.send((seen, header));
                Ok(())
            }
        })
        .unwrap();
    let consumer = tokio::spawn(running);
    let (seen, header) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .unwrap()
        .unwrap();
    stop.notify_one();
    consumer.await.unwrap().unwrap();

    let header = header.expect("traceparent header on the record");
    assert!(header.contains(&trace_id.to_string()), "{header}");
    assert_eq!(
        seen, trace_id,
        "the handler span continues the producer's trace"
    );
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().unwrap();
    let send = spans
        .iter()
        .find(|s| s.name == format!("send {topic}"))
        .expect("send span");
    let process = spans
        .iter()
        .find(|s| s.name == format!("process {topic}"))
        .expect("process span");
    assert_eq!(send.span_context.trace_id(), trace_id);
    assert_eq!(process.span_context.trace_id(), trace_id);
    assert_eq!(send.span_kind, opentelemetry::trace::SpanKind::Producer);
    assert_eq!(process.span_kind, opentelemetry::trace::SpanKind::Consumer);
    let system = process
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "messaging.system")
        .map(|kv| kv.value.to_string());
    assert_eq!(system.as_deref(), Some("kafka"));
}
