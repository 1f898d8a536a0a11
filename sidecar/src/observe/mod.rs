//! `kafkadeps-sidecar observe`: consumer-group lag and the dependency graph from outside the
//! consumers — so lag exists when a deployment is scaled to zero or crash-looping, exactly when
//! autoscaling and alerting need it.
//!
//! It reads the declarations of every kafkadeps service (a static file of their `KAFKA_*`
//! environments, and/or, with `--kubernetes`, the pods' `kafkadeps.io/*` annotations and
//! literal `KAFKA_*` env through the API server), samples each consumer group's committed
//! offsets and its topics' log ends every `--interval`, and serves on `--listen`:
//!
//! * `/metrics`: `kafkadeps_group_lag_messages{group,topic}`,
//!   `kafkadeps_group_lag_seconds{group,topic}`,
//!   `kafkadeps_group_committed_offset{group,topic,partition}`, `kafkadeps_group_members{group}`,
//!   `kafkadeps_group_stable{group}`, `kafkadeps_dependency_info{service,topic,role}`;
//! * `/graph` (JSON), `/graph?format=dot` (Graphviz), `/graph?format=mermaid`: services → the
//!   topics they produce and consume → groups, with each consuming edge's lag and each topic's
//!   owner;
//! * `/livez`, `/readyz`.

mod describe;
mod graph;
#[cfg(feature = "inject")]
mod kubernetes;
mod metrics;
mod sampler;
mod services;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kafkadeps::config::Env;

use crate::exit;
use sampler::Sampler;
use services::Service;

/// `kafkadeps-sidecar observe` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ObserveArgs {
    /// Where `/metrics` and `/graph` are served.
    #[arg(long, default_value = "0.0.0.0:9465")]
    listen: SocketAddr,
    /// How often the groups are sampled.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// A JSON file of services: `[{"name": "billing", "env": {"KAFKA_CONSUMES": "orders.v1"}}]`
    /// (each `env` is a service's `KAFKA_*` contract).
    #[arg(long)]
    declarations: Option<PathBuf>,
    /// Discover services from the pods of the cluster this runs in (or of `KUBECONFIG`).
    #[arg(long)]
    kubernetes: bool,
    /// With `--kubernetes`: only this namespace (default: all).
    #[arg(long)]
    namespace: Option<String>,
    #[cfg(feature = "inject")]
    #[command(flatten)]
    kube: kubernetes::KubeArgs,
}

#[derive(Clone)]
struct AppState {
    sampler: Arc<Sampler>,
}

/// Runs until SIGTERM/SIGINT.
pub(crate) async fn run(args: ObserveArgs) -> u8 {
    kafkadeps::telemetry::logging::init_from_env();
    let connection = match kafkadeps::config::load(&Env::process()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return exit::INVALID_DECLARATIONS;
        }
    };
    if args.declarations.is_none() && !args.kubernetes {
        eprintln!(
            "observe: give --declarations FILE and/or --kubernetes: there is nothing to observe"
        );
        return exit::INVALID_DECLARATIONS;
    }
    let mut found: Vec<Service> = Vec::new();
    if let Some(path) = &args.declarations {
        match services::from_file(path, &connection.bootstrap_servers) {
            Ok(s) => found.extend(s),
            Err(e) => {
                eprintln!("observe: {e}");
                return exit::INVALID_DECLARATIONS;
            }
        }
    }
    let discover = args.kubernetes;
    #[cfg(not(feature = "inject"))]
    if discover {
        eprintln!(
            "observe: this build has no Kubernetes client (the `inject` feature is off); use the injector's image"
        );
        return exit::SOFTWARE;
    }
    let sampler = match Sampler::new(Arc::new(connection), found) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("observe: cannot create the Kafka client: {e}");
            return exit::UNAVAILABLE;
        }
    };
    #[cfg(feature = "inject")]
    if discover {
        let api = match kubernetes::KubeApi::new(&args.kube) {
            Ok(api) => api,
            Err(e) => {
                eprintln!("observe: {e}");
                return exit::INVALID_DECLARATIONS;
            }
        };
        let sampler = Arc::clone(&sampler);
        let namespace = args.namespace.clone();
        let bootstrap = sampler.bootstrap().to_owned();
        let interval = args.interval;
        tokio::spawn(async move {
            kubernetes::discover(sampler, api, namespace, bootstrap, interval).await;
        });
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("observe: cannot listen on {}: {e}", args.listen);
            return exit::UNAVAILABLE;
        }
    };
    tracing::info!(address = %args.listen, "Observing consumer groups (/metrics, /graph).");
    {
        let sampler = Arc::clone(&sampler);
        let interval = args.interval;
        tokio::spawn(async move { sampler.run(interval).await });
    }
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/graph", get(graph_handler))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .with_state(AppState { sampler });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(kafkadeps::consumer::terminated())
        .await;
    match served {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("observe: {e}");
            exit::SOFTWARE
        }
    }
}

async fn metrics_handler() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        kafkadeps::telemetry::encode_metrics(),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct GraphQuery {
    format: Option<String>,
}

async fn graph_handler(State(state): State<AppState>, Query(q): Query<GraphQuery>) -> Response {
    let graph = state.sampler.graph();
    match q.format.as_deref().unwrap_or("json") {
        "dot" => ([(header::CONTENT_TYPE, "text/vnd.graphviz")], graph.dot()).into_response(),
        "mermaid" => ([(header::CONTENT_TYPE, "text/plain")], graph.mermaid()).into_response(),
        _ => axum::Json(graph).into_response(),
    }
}
