//! # kafkadeps — declarative Kafka dependencies for microservices
//!
//! A service declares the topics it produces and consumes (through `KAFKA_*` environment
//! variables, pod annotations or a Helm include); kafkadeps makes sure those topics exist with
//! the declared settings and hands out durable producers and consumers.

pub mod config;
mod connection;
pub mod topics;
