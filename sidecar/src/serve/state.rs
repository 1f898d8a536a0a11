//! What every request handler shares: the declarations, the Kafka handle once started, the
//! consumption mode, and the shutdown switch.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use kafkadeps::config::Settings;
use kafkadeps::{Kafka, Producer};
use tokio::sync::watch;

use super::idempotency::Idempotency;
use super::options::SidecarOptions;
use super::problem::Problem;
use super::pull::PullBuffer;

/// How consumed records reach the app.
#[derive(Debug)]
pub(crate) enum Consumption {
    /// Nothing is declared as consumed.
    None,
    /// POSTed to `KAFKA_SIDECAR_DELIVER_URL`.
    Push(reqwest::Url),
    /// Fetched by the app with `poll` and acknowledged with `commit`.
    Pull(Arc<PullBuffer>),
}

/// State of one `serve` process.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) options: SidecarOptions,
    pub(crate) group: String,
    pub(crate) consumption: Consumption,
    /// Produce requests' `Idempotency-Key`s.
    pub(crate) idempotency: Arc<Idempotency>,
    produced: HashSet<String>,
    kafka: OnceLock<Kafka>,
    draining: AtomicBool,
    drain_started: OnceLock<std::time::Instant>,
    stop: watch::Sender<bool>,
}

impl AppState {
    pub(crate) fn new(options: SidecarOptions, settings: &Settings) -> Self {
        let consumes = settings.consumed_topics().next().is_some();
        let consumption = match (&options.deliver_url, consumes) {
            (_, false) => Consumption::None,
            (Some(url), true) => Consumption::Push(url.clone()),
            (None, true) => Consumption::Pull(Arc::new(PullBuffer::new(
                options.pull_lease,
                options.deliver_attempts,
            ))),
        };
        Self {
            idempotency: Arc::new(Idempotency::new(
                options.idempotency_window,
                options.idempotency_max_keys,
            )),
            options,
            group: settings.group_id.clone(),
            consumption,
            produced: settings.produced_topics().map(|t| t.name.clone()).collect(),
            kafka: OnceLock::new(),
            draining: AtomicBool::new(false),
            drain_started: OnceLock::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Whether `topic` is declared as produced.
    pub(crate) fn produces(&self, topic: &str) -> bool {
        self.produced.contains(topic)
    }

    /// Makes the started Kafka handle available to requests.
    pub(crate) fn started(&self, kafka: Kafka) {
        let _ = self.kafka.set(kafka);
    }

    /// The producer, or 503 while starting or draining.
    pub(crate) fn producer(&self) -> Result<Producer, Problem> {
        if self.is_draining() {
            return Err(Problem::unavailable(
                "the sidecar is shutting down; send to its replacement",
            ));
        }
        self.kafka.get().map(Kafka::producer).ok_or_else(|| {
            Problem::unavailable("the sidecar is starting: declared topics are being ensured")
        })
    }

    /// When the whole drain must be over: `KAFKA_SIDECAR_SHUTDOWN_GRACE` after it began, less
    /// a twentieth of it (half a second at most) for closing the Kafka clients and exiting — as
    /// the SDK's consumer keeps — so the process is gone within the grace.
    pub(crate) fn drain_deadline(&self) -> std::time::Instant {
        let started = *self.drain_started.get_or_init(std::time::Instant::now);
        let grace = self.options.shutdown_grace;
        started + grace - (grace / 20).min(std::time::Duration::from_millis(500))
    }

    /// Whether a graceful shutdown has begun.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts the graceful drain (idempotent); `why` is logged once.
    pub(crate) fn request_shutdown(&self, why: &str) {
        let _ = self.drain_started.set(std::time::Instant::now());
        if !self.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(
                reason = why,
                "Draining: no new requests, finishing in-flight work."
            );
            self.stop.send_replace(true);
        }
    }

    /// Resolves once a shutdown was requested.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }
}
