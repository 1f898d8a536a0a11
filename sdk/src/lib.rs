//! # kafkadeps — declarative Kafka dependencies for microservices
//!
//! A service declares the topics it produces and consumes (through `KAFKA_*` environment
//! variables, pod annotations or a Helm include); kafkadeps makes sure those topics exist with
//! the declared settings and hands out durable producers and consumers.

pub mod admin_server;
pub mod codec;
pub mod config;
mod connection;
pub mod consumer;
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
pub use event::{Event, EventFormat};
pub use kafka::{Kafka, StartError};
#[cfg(feature = "derive")]
pub use kafkadeps_macros::Event;
pub use producer::{Delivery, ProduceError, Producer};
pub use record::{OutgoingRecord, Record};
pub use refusal::Refusal;
