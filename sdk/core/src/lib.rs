//! The kafkadeps declaration model, without librdkafka and without network I/O (it reads only
//! the password file `KAFKA_SASL_PASSWORD_FILE` names): what the SDK, the sidecar, the admission
//! webhook and the derive macro share.
//!
//! - [`config`]: the `KAFKA_*` contract — the registry of every variable with its default, the
//!   declaration grammar, validation and topic-name rules — read through one injectable
//!   [`config::Env`];
//! - [`naming`]: the topics kafkadeps derives from declared ones (dead-letter topics);
//! - [`plan`]: declarations compared with a described cluster (pure);
//! - [`access`]: the authorizer rights a declaration set needs;
//! - [`suggest`]: the did-you-mean rule every error message uses.
//!
//! Services use these through the `kafkadeps` crate, which re-exports them; tools that must not
//! link librdkafka depend on this crate alone.
//!
//! ```
//! use kafkadeps_core::config::Settings;
//! use kafkadeps_core::plan::{ClusterState, plan};
//!
//! let settings = Settings::from_vars([
//!     ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
//!     ("KAFKA_PRODUCES", "orders.v1(partitions=6)"),
//! ])?;
//! let pending = plan(&settings, &ClusterState::new(3, Default::default()))?;
//! assert_eq!(pending.topics[0].topic, "orders.v1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod access;
pub mod config;
pub mod naming;
pub mod plan;
pub mod suggest;
pub mod warning;

pub use warning::Warning;
