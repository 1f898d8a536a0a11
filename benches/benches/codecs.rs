//! Encode/decode cost of each payload format for a ~1 KiB payload (no broker needed):
//! `cargo bench -p kafkadeps-benches --bench codecs`.

#![allow(clippy::unwrap_used)] // a benchmark: failing loudly is right
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafkadeps::codec::avro::{AvroReader, AvroWriter};
use kafkadeps::codec::cloudevents::{self as ce, Mode};
use kafkadeps::codec::schema_registry::SchemaRegistry;
use kafkadeps::{Codec, Json, Record};
use serde::{Deserialize, Serialize};

const SCHEMA: &str = r#"{"type":"record","name":"Order","fields":[
  {"name":"order_id","type":"string"},{"name":"amount_cents","type":"long"},
  {"name":"note","type":"string"}]}"#;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    order_id: String,
    amount_cents: i64,
    note: String,
}

fn order() -> Order {
    // ~1 KiB once encoded.
    Order {
        order_id: "order-000123".into(),
        amount_cents: 123_456,
        note: "x".repeat(990),
    }
}

fn record(bytes: &[u8], headers: &[(&str, &[u8])]) -> Record {
    Record::from_parts("bench", 0, 0, Some(b"order-000123"), Some(bytes), headers)
}

fn benches(c: &mut Criterion) {
    let value = order();
    let mut g = c.benchmark_group("codecs_1KiB");
    g.throughput(Throughput::Elements(1));

    let json = Codec::<Order>::encode(&Json, &value).unwrap();
    g.bench_function("json/encode", |b| {
        b.iter(|| Codec::<Order>::encode(&Json, std::hint::black_box(&value)).unwrap())
    });
    g.bench_function("json/decode", |b| {
        b.iter(|| Codec::<Order>::decode(&Json, std::hint::black_box(&json)).unwrap())
    });

    let data = serde_json::to_value(&value).unwrap();
    for (name, mode) in [
        ("cloudevents_binary", Mode::Binary),
        ("cloudevents_structured", Mode::Structured),
    ] {
        g.bench_function(format!("{name}/encode"), |b| {
            b.iter(|| {
                let event = ce::event("/orders", "com.acme.order.created", data.clone()).unwrap();
                kafkadeps::OutgoingRecord::cloud_event("bench", event, mode).unwrap()
            })
        });
        let out = kafkadeps::OutgoingRecord::cloud_event(
            "bench",
            ce::event("/orders", "t", data.clone()).unwrap(),
            mode,
        )
        .unwrap();
        let headers: Vec<(&str, &[u8])> = Vec::new();
        // Rebuild the consumed record with the encoded headers.
        let encoded_headers = kafkadeps_headers(&out);
        let hs: Vec<(&str, &[u8])> = encoded_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .chain(headers)
            .collect();
        let rec = record(out.payload().unwrap(), &hs);
        g.bench_function(format!("{name}/decode"), |b| {
            b.iter(|| ce::from_record(std::hint::black_box(&rec)).unwrap())
        });
    }

    let writer = AvroWriter::with_id("bench", SCHEMA, 1).unwrap();
    let avro = writer.encode(&value).unwrap();
    let reader = AvroReader::new(SchemaRegistry::new("http://127.0.0.1:1"), SCHEMA)
        .unwrap()
        .with_writer_schema(1, SCHEMA)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("avro/encode", |b| {
        b.iter(|| writer.encode(std::hint::black_box(&value)).unwrap())
    });
    g.bench_function("avro/decode", |b| {
        b.iter(|| {
            rt.block_on(reader.decode::<Order>(std::hint::black_box(&avro)))
                .unwrap()
        })
    });
    g.finish();
}

/// The headers of an outgoing record, as (name, value) pairs.
fn kafkadeps_headers(r: &kafkadeps::OutgoingRecord) -> Vec<(String, Vec<u8>)> {
    r.headers().to_vec()
}

criterion_group!(codecs, benches);
criterion_main!(codecs);
