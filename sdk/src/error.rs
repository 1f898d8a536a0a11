//! The crate's error: one type for code that calls several kafkadeps APIs.
//!
//! Each API returns its own error ([`ConfigError`], [`StartError`], [`ProvisionError`],
//! [`ProduceError`], [`ConsumeError`], [`CodecError`]), so a caller handling one concern matches
//! only its variants. [`Error`] wraps any of them (through `?`) for a `main` or a task that uses
//! several; its `Display` is the wrapped error's and its `source()` chain is unchanged.

use crate::codec::CodecError;
use crate::config::ConfigError;
use crate::consumer::ConsumeError;
use crate::kafka::StartError;
use crate::producer::ProduceError;
use crate::topics::ProvisionError;

/// Any kafkadeps error.
///
/// ```no_run
/// # async fn service() -> kafkadeps::Result<()> {
/// let kafka = kafkadeps::Kafka::from_env().await?; // a StartError
/// let record = kafkadeps::OutgoingRecord::json("orders.v1", "o-1", &42)?; // a CodecError
/// kafka.producer().send(record).await?; // a ProduceError
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The declarations or settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// kafkadeps could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Topics could not be planned or ensured.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// A send failed; the record is inside.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// The consumer runtime stopped with an error.
    #[error(transparent)]
    Consume(#[from] ConsumeError),
    /// A payload could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl Error {
    /// Whether the same call may succeed later: a send Kafka did not acknowledge in time, or a
    /// cluster that was unreachable while topics were ensured.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Produce(e) => e.is_retriable(),
            Self::Provision(e) | Self::Start(StartError::Provision(e)) => e.is_retriable(),
            _ => false,
        }
    }
}

/// `Result` with kafkadeps' [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapped_error_keeps_its_message_and_retriability() {
        let unsettled = ProvisionError::Unsettled("orders.v1 has no leader yet".into());
        let message = unsettled.to_string();
        let error = Error::from(StartError::from(unsettled));
        assert!(error.is_retriable());
        assert_eq!(error.to_string(), "declared topics could not be ensured");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some(message.as_str()));

        let undeclared = Error::from(ProduceError::UndeclaredTopic("payments.v1".into()));
        assert!(!undeclared.is_retriable());
        assert!(undeclared.to_string().contains("KAFKA_PRODUCES"));
    }
}
