//! `kafkadeps-sidecar`: kafkadeps for services in any language.
//!
//! Subcommands: `serve` (the local HTTP API, `docs/sidecar.md`), `drain` / `wait` (its lifecycle hooks),
//! `inject` (the admission webhook, `docs/injection.md`), `plan` (show what `ensure`
//! would do), `ensure` (make the cluster match the declarations; the init-container mode), `acls`
//! (the ACLs the declarations need), `observe` (group lag and the dependency graph from outside
//! the consumers, `docs/observability.md`). Exit codes are documented in `docs/declarations.md`.

mod acls;
mod exit;
mod hooks;
#[cfg(feature = "inject")]
mod inject;
mod observe;
mod provision;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// kafkadeps for services in any language.
#[derive(Debug, Parser)]
#[command(name = "kafkadeps-sidecar", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format of `plan` and `ensure`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    /// One line per topic and key, readable at a glance.
    Text,
    /// JSON for machines.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the local HTTP API: produce, push or pull consumption, `/metrics`, `/readyz`.
    Serve,
    /// The postStart hook of a non-native sidecar: wait until the local `serve` is ready.
    Wait {
        /// How long to wait.
        #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// The mutating admission webhook that injects the sidecar into annotated pods.
    #[cfg(feature = "inject")]
    Inject(inject::InjectArgs),
    /// Not built in (the `inject` feature is off): says so and where the webhook lives.
    #[cfg(not(feature = "inject"))]
    #[command(hide = true)]
    Inject {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        _args: Vec<String>,
    },
    /// The preStop hook: ask the local `serve` to drain, wait until it has.
    Drain {
        /// How long to wait for the drain.
        #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Print what `ensure` would do: `+` create, `~` change, `!` drift left alone, `x` unmet
    /// requirement of a dependency, `=` unchanged.
    Plan {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// How long to wait for the cluster.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Exit 0 when in sync, 2 when ensure would change something, 65 when the plan fails
        /// (verify drift, unmet requirements), so a pipeline can gate on it.
        #[arg(long)]
        exit_code: bool,
    },
    /// Print the ACLs the declarations need under KAFKA_TOPIC_POLICY, and nothing more.
    Acls {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: acls::AclOutput,
        /// The service's principal (default `User:<KAFKA_SASL_USERNAME or KAFKA_APP>`).
        #[arg(long)]
        principal: Option<String>,
        /// The service runs exactly-once transforms: add its transactional ids (`<app>-*`).
        #[arg(long)]
        transactional: bool,
    },
    /// Consumer-group lag and the dependency graph from outside the consumers: `/metrics` and
    /// `/graph` for every declared service, whether its pods run or not.
    Observe(observe::ObserveArgs),
    /// Make the cluster match the declarations under KAFKA_TOPIC_POLICY, wait for leaders.
    Ensure {
        /// How long to keep trying while the cluster is unavailable.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The servers log JSON lines on stdout like the SDK; the one-shot commands log to stderr.
    if !matches!(
        cli.command,
        Command::Serve | Command::Inject { .. } | Command::Observe(_)
    ) {
        init_stderr_logs();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkadeps-sidecar: cannot start the async runtime: {e}");
            return ExitCode::from(exit::SOFTWARE);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve::run().await,
            Command::Drain { timeout } => hooks::drain(timeout).await,
            Command::Wait { timeout } => hooks::wait(timeout).await,
            #[cfg(feature = "inject")]
            Command::Inject(args) => inject::run(args).await,
            #[cfg(not(feature = "inject"))]
            Command::Inject { .. } => {
                eprintln!(
                    "kafkadeps-sidecar: this build has no admission webhook (the `inject` feature \
                     is off, as in the sidecar image); run `inject` from the injector's image"
                );
                exit::SOFTWARE
            }
            Command::Plan {
                output,
                timeout,
                exit_code,
            } => provision::plan(output, timeout, exit_code).await,
            Command::Ensure { timeout, output } => provision::ensure(output, timeout).await,
            Command::Observe(args) => observe::run(args).await,
            Command::Acls {
                output,
                principal,
                transactional,
            } => acls::run(output, principal, transactional),
        }
    });
    ExitCode::from(code)
}

/// Human-readable warnings on stderr for `plan` and `ensure` (stdout is their output).
fn init_stderr_logs() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(kafkadeps::telemetry::logging::filter_from_env(
            tracing::Level::WARN,
        ))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
}
