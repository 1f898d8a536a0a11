//! Connections the cluster refused because of this client's credentials or TLS settings.
//!
//! librdkafka reports a rejected password or an untrusted certificate through its error callback
//! and then retries forever, which looks like an unreachable cluster. The contexts here recognise
//! those reports so that provisioning fails at once with an error naming the variable to fix.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext};

/// Why the cluster refused this client, with the setting to fix. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// SASL authentication failed: user name, password or mechanism.
    #[error(
        "the cluster rejected the SASL credentials ({detail}); check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE (or KAFKA_SASL_PASSWORD) and KAFKA_SASL_MECHANISM"
    )]
    Credentials {
        /// librdkafka's description.
        detail: String,
    },
    /// The broker's certificate is not signed by a CA this client trusts.
    #[error(
        "the broker's TLS certificate could not be verified ({detail}); set KAFKA_SSL_CA_LOCATION to the CA certificate that signed the cluster's certificates"
    )]
    UntrustedBroker {
        /// librdkafka's description.
        detail: String,
    },
    /// The broker ended the TLS handshake: typically a listener that requires a client
    /// certificate (mTLS) and got none, or one it does not trust.
    #[error(
        "the broker refused the TLS handshake ({detail}); a listener that requires client certificates needs KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION, signed by a CA the cluster trusts"
    )]
    Handshake {
        /// librdkafka's description.
        detail: String,
    },
}

impl Refusal {
    /// The refusal an error callback reports, if it is one.
    pub(crate) fn classify(code: Option<RDKafkaErrorCode>, reason: &str) -> Option<Self> {
        let detail = || reason.trim().to_owned();
        let lower = reason.to_ascii_lowercase();
        let sasl = matches!(
            code,
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
        ) || lower.contains("sasl authentication error");
        if sasl {
            return Some(Self::Credentials { detail: detail() });
        }
        let tls = matches!(code, Some(RDKafkaErrorCode::SSL))
            || lower.contains("ssl handshake failed")
            || lower.contains("ssl transport error")
            // The broker's TLS alert when a client certificate is missing or untrusted.
            || lower.contains("alert certificate required")
            || lower.contains("alert bad certificate")
            || lower.contains("alert unknown ca");
        if !tls {
            return None;
        }
        if lower.contains("certificate verify failed") || lower.contains("could not be verified") {
            Some(Self::UntrustedBroker { detail: detail() })
        } else {
            Some(Self::Handshake { detail: detail() })
        }
    }
}

/// The last refusal seen by one client.
#[derive(Debug, Default)]
struct RefusalWatch {
    last: Mutex<Option<Refusal>>,
}

impl RefusalWatch {
    /// Records `error` if it is a refusal; whether it was.
    fn observe(&self, error: &KafkaError, reason: &str) -> bool {
        let Some(refusal) = Refusal::classify(error.rdkafka_error_code(), reason) else {
            return false;
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref() != Some(&refusal) {
            tracing::error!(error = %refusal, "The Kafka cluster refused the connection.");
        }
        *last = Some(refusal);
        true
    }

    fn refusal(&self) -> Option<Refusal> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The context of the probe's client: refusals remembered, other errors left to the caller's
/// retries.
#[derive(Debug, Default)]
struct ProbeContext {
    refusals: Arc<RefusalWatch>,
}

impl ClientContext for ProbeContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !self.refusals.observe(&error, reason) {
            tracing::debug!(%error, reason, "librdkafka error.");
        }
    }
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// How long one poll of the probe's client waits for events.
const PROBE_POLL: Duration = Duration::from_millis(50);

/// A client with the caller's connection settings that sends nothing: a thread of its own
/// polls it for the errors librdkafka reports while connecting. (An admin client's own errors
/// are never served: rust-rdkafka polls only its results queue.) Dropping the probe stops the
/// thread and destroys the client before returning, within one poll.
#[derive(Debug)]
pub(crate) struct Probe {
    refusals: Arc<RefusalWatch>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    /// Connects a probe with `config`.
    pub(crate) fn start(config: &ClientConfig) -> KafkaResult<Self> {
        let context = ProbeContext::default();
        let refusals = Arc::clone(&context.refusals);
        let client: BaseProducer<ProbeContext> = config.create_with_context(context)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("kafkadeps-probe".into())
            .spawn(move || {
                while !stopped.load(AtomicOrdering::SeqCst) {
                    client.poll(PROBE_POLL);
                }
            })
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        Ok(Self {
            refusals,
            stop,
            thread: Some(thread),
        })
    }

    /// Why the cluster refused the connection, if it did.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        self.refusals.refusal()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, AtomicOrdering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_reports_become_refusals_naming_the_variable() {
        let sasl = Refusal::classify(
            Some(RDKafkaErrorCode::Authentication),
            "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        );
        assert!(matches!(sasl, Some(Refusal::Credentials { .. })));
        assert!(
            sasl.map(|r| r.to_string())
                .is_some_and(|s| s.contains("KAFKA_SASL_PASSWORD_FILE"))
        );

        let ca = Refusal::classify(
            Some(RDKafkaErrorCode::SSL),
            "ssl://127.0.0.1:9095/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified",
        );
        assert!(
            ca.map(|r| r.to_string())
                .is_some_and(|s| s.contains("KAFKA_SSL_CA_LOCATION"))
        );

        let mtls = Refusal::classify(
            Some(RDKafkaErrorCode::SSL),
            "ssl://127.0.0.1:9095/bootstrap: SSL transport error: error:0A00045C:SSL routines::tlsv13 alert certificate required",
        );
        assert!(
            mtls.map(|r| r.to_string())
                .is_some_and(|s| s.contains("KAFKA_SSL_CERTIFICATE_LOCATION"))
        );

        let missing = Refusal::classify(
            Some(RDKafkaErrorCode::BrokerTransportFailure),
            "ssl://127.0.0.1:9095/bootstrap: Receive failed: error:0A000412:SSL routines::ssl/tls alert bad certificate: SSL alert number 42",
        );
        assert!(matches!(missing, Some(Refusal::Handshake { .. })));

        assert_eq!(
            Refusal::classify(
                Some(RDKafkaErrorCode::BrokerTransportFailure),
                "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"
            ),
            None
        );
    }
}
