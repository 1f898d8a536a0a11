//! `kafkadeps-sidecar serve`: the `KAFKA_*` contract over a local HTTP API.
//!
//! Start-up: read the sidecar's and the declarations' variables (exit 64 when invalid), listen
//! on `KAFKA_SIDECAR_LISTEN` at once (requests get 503 + `Retry-After` until ready), start the
//! SDK ([`kafkadeps::Kafka::start`]: admin server, ensure, producer), then the consumer in push
//! or pull mode. Shutdown (SIGTERM, SIGINT or `POST /v1/shutdown`): stop accepting, finish
//! in-flight produce requests, drain deliveries and commit, flush the producer, exit 0.

mod consume;
mod envelope;
mod idempotency;
mod metrics;
mod options;
mod problem;
mod produce;
mod pull;
mod push;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use kafkadeps::config::{ConfigError, Env};
use kafkadeps::consumer::Scheduling;
use kafkadeps::telemetry::ComponentState;
use kafkadeps::{ConsumeError, Kafka};

use crate::exit;
#[cfg(feature = "inject")]
pub(crate) use options::DEFAULT_SHUTDOWN_GRACE;
use options::{PushOrdering, SidecarOptions};
use push::Pusher;
use state::{AppState, Consumption};

/// The sidecar's readiness component: its data API serves produce and pull requests.
const DATA_API: &str = "data-api";

/// Runs until a graceful shutdown; returns the exit code.
pub(crate) async fn run() -> u8 {
    kafkadeps::telemetry::logging::init_from_env();
    let env = Env::process();
    let (options, settings) = match (
        SidecarOptions::from_source(&env),
        kafkadeps::config::load(&env),
    ) {
        (Ok(o), Ok(s)) => (o, s),
        (o, s) => {
            // One report of every problem, the sidecar's settings first.
            let problems = o
                .err()
                .into_iter()
                .chain(s.err())
                .flat_map(|e| e.problems)
                .collect();
            eprintln!("{}", ConfigError::new(problems));
            return exit::INVALID_DECLARATIONS;
        }
    };
    let state = Arc::new(AppState::new(options.clone(), &settings));
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(address = %options.listen, error = %e, "Cannot listen (KAFKA_SIDECAR_LISTEN).");
            return exit::SOFTWARE;
        }
    };
    let address = listener.local_addr().unwrap_or(options.listen);
    let server = tokio::spawn({
        let app =
            routes::router(Arc::clone(&state)).into_make_service_with_connect_info::<SocketAddr>();
        let stopped = state.stopped();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }
    });
    tracing::info!(address = %address, "Data API listening.");
    tokio::spawn(on_signals(Arc::clone(&state)));

    // Ready only once requests are served: the SDK's components turn ready inside
    // `Kafka::start`, a moment before the data API has the started handle.
    let health = kafkadeps::telemetry::health();
    health.set(
        DATA_API,
        ComponentState::Starting("declared topics are being ensured".into()),
    );
    metrics::SidecarMetrics::global();
    let kafka = tokio::select! {
        started = Kafka::start(settings) => match started {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %chain(&e), "Cannot start.");
                return match e {
                    kafkadeps::StartError::Config(_)
                    | kafkadeps::StartError::Provision(
                        kafkadeps::topics::ProvisionError::Plan(
                            kafkadeps::topics::PlanError::WeakReplicas { .. }
                        ),
                    ) => exit::INVALID_DECLARATIONS,
                    _ => exit::UNAVAILABLE,
                };
            }
        },
        () = state.stopped() => return exit::OK,
    };
    state.started(kafka.clone());
    health.set(DATA_API, ComponentState::Ready);
    let consumed = consume(&kafka, &state).await;
    // The consumer is done (drained and committed) or there was none: stop the server,
    // letting in-flight produce requests finish, then flush the producer.
    state.request_shutdown("the consumer stopped");
    // The whole drain — deliveries, in-flight requests, the producer's flush — fits in
    // KAFKA_SIDECAR_SHUTDOWN_GRACE from the moment it began, so it ends inside the pod's grace.
    let remaining = || {
        state
            .drain_deadline()
            .saturating_duration_since(std::time::Instant::now())
    };
    match tokio::time::timeout(remaining(), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "Data API failed."),
        Ok(Err(_)) => tracing::error!("Data API task failed."),
        Err(_) => tracing::warn!("In-flight requests did not finish within the grace period."),
    }
    let undelivered = kafka.shutdown(remaining()).await;
    match consumed {
        Err(e) => {
            tracing::error!(error = %chain(&e), "Consumer failed.");
            exit::UNAVAILABLE
        }
        Ok(()) if undelivered > 0 => exit::UNAVAILABLE,
        Ok(()) => {
            tracing::info!("Stopped cleanly.");
            exit::OK
        }
    }
}

/// Runs the consumer of the declared topics until shutdown (or waits for shutdown when
/// nothing is consumed).
async fn consume(kafka: &Kafka, state: &Arc<AppState>) -> Result<(), ConsumeError> {
    let options = &state.options;
    let builder = kafka
        .consumer()
        .without_signal_handlers()
        .shutdown_on(state.stopped())
        .shutdown_grace(options.shutdown_grace);
    match &state.consumption {
        Consumption::None => {
            state.stopped().await;
            Ok(())
        }
        Consumption::Push(url) => {
            let pusher = Pusher::new(url.clone(), options.max_inflight, options.deliver_timeout)
                .map_err(|e| {
                    tracing::error!(error = %e, "Cannot create the HTTP client.");
                    ConsumeError::Crashed
                })?;
            let pusher = Arc::new(pusher);
            let state = Arc::clone(state);
            let scheduling = match options.ordering {
                PushOrdering::Partition => Scheduling::Partition,
                PushOrdering::Key => Scheduling::Key {
                    lanes: options.max_inflight,
                },
            };
            builder
                .max_attempts(options.deliver_attempts)
                .scheduling(scheduling)
                .run(move |record| {
                    let (pusher, state) = (Arc::clone(&pusher), Arc::clone(&state));
                    async move { pusher.deliver(&record, || state.is_draining()).await }
                })
                .await
        }
        Consumption::Pull(buffer) => {
            let buffer = Arc::clone(buffer);
            builder
                .max_attempts(options.deliver_attempts)
                .scheduling(Scheduling::Pipelined {
                    window: pull::WINDOW_PER_PARTITION,
                })
                .run(move |record| buffer.handle(record))
                .await
        }
    }
}

/// SIGTERM and SIGINT start the graceful drain; a second one ends the process at once (exit 69),
/// as an operator who cannot wait for the drain expects.
async fn on_signals(state: Arc<AppState>) {
    kafkadeps::consumer::terminated().await;
    state.request_shutdown("SIGTERM or SIGINT");
    kafkadeps::consumer::terminated().await;
    tracing::warn!(
        "A second SIGTERM/SIGINT: exiting without finishing the drain; uncommitted records are redelivered, unacknowledged produce requests fail."
    );
    std::process::exit(i32::from(exit::UNAVAILABLE));
}

/// An error with its causes, on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
