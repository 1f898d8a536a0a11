//! # kafkadeps — declarative Kafka dependencies for microservices
//!
//! A service declares the topics it produces and consumes (through `KAFKA_*` environment
//! variables, pod annotations or a Helm include); kafkadeps makes sure those topics exist with
//! the declared settings and hands out durable producers and consumers.
//!
//! ## A tour
//!
//! ```no_run
//! use kafkadeps::{HandlerError, Kafka, OutgoingRecord, Record};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Order {
//!     id: String,
//!     cents: i64,
//! }
//!
//! # async fn tour() -> kafkadeps::Result<()> {
//! // KAFKA_BOOTSTRAP_SERVERS=… KAFKA_PRODUCES=orders.v1 KAFKA_CONSUMES=payments.v1:
//! // reads and validates the declarations, then creates or checks the declared topics.
//! let kafka = Kafka::from_env().await?;
//!
//! // A durable producer: acks=all, idempotent. The future resolves once the record is in
//! // every in-sync replica.
//! let order = Order { id: "o-1".into(), cents: 1250 };
//! let record = OutgoingRecord::json("orders.v1", &order.id, &order)?;
//! let delivery = kafka.producer().send(record).await?;
//! println!("stored at {}/{}", delivery.partition, delivery.offset);
//!
//! // A consumer that commits an offset only after its handler returned Ok; a failing record
//! // is retried with backoff, then dead-lettered to `payments.v1.dlq`.
//! kafka
//!     .consumer()
//!     .run(|record: Record| async move {
//!         let paid: serde_json::Value = record.json()?;
//!         println!("{} paid: {paid}", record.key_str().unwrap_or("?"));
//!         Ok::<(), HandlerError>(())
//!     })
//!     .await?;
//!
//! // On SIGTERM `run` drains and commits; then flush what is still in flight.
//! kafka.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```
//!
//! Every API returns its own error type; [`Error`] (and [`Result`]) wraps any of them for code
//! that calls several.
//!
//! - [`config`]: the `KAFKA_*` contract (from [`kafkadeps_core`], which needs no librdkafka),
//!   and [`Settings::builder`] for code-first services;
//! - [`producer`]: [`Producer`] (one `send` of an [`OutgoingRecord`], `publish` of [`Event`]
//!   types);
//! - [`consumer`]: the consumer runtime, its options, dead letters and shutdown, and
//!   exactly-once consume-transform-produce ([`consumer::TransactionalProducer`]);
//! - [`topics`]: `plan` and `ensure` of the declared topics; [`access`]: the ACLs they need;
//! - [`codec`]: JSON, CloudEvents and Avro payloads; [`telemetry`]: metrics, health, logs and
//!   trace propagation; [`admin_server`]: `/metrics`, `/livez`, `/readyz`.
//!
//! Features: `derive` (`#[derive(Event)]`), `cloudevents`, `avro` (with a schema-registry
//! client) and `gssapi` (Kerberos through Cyrus SASL) are on by default; `vendored` builds
//! OpenSSL, libcurl and zlib from source for a self-contained binary.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin_server;
pub mod codec;
pub mod config;
pub mod connection;
pub mod consumer;
mod error;
mod event;
mod kafka;
pub mod producer;
mod record;
mod refusal;
pub mod telemetry;
pub mod topics;

/// The declaration model, re-exported from [`kafkadeps_core`] (it needs no librdkafka).
pub use kafkadeps_core::access;

pub use codec::{Codec, CodecError, Json};
pub use config::DEFAULT_ENSURE_TIMEOUT;
pub use config::{ConfigError, Declaration, Settings};
pub use consumer::{ConsumeError, HandlerError};
pub use error::{Error, Result};
pub use event::{Event, EventFormat};
pub use kafka::{Kafka, StartError};
pub use kafkadeps_core::Warning;
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use kafkadeps_macros::Event;
pub use producer::{Delivery, ProduceError, Producer};
pub use record::{OutgoingRecord, Record, RecordTimestamp};
pub use refusal::Refusal;

/// The README's code, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct Readme;
