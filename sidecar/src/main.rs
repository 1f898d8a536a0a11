//! `kafkadeps-sidecar`: kafkadeps for services in any language.
//!
//! Subcommands: `serve` (the local HTTP API, `docs/sidecar.md`), `drain` / `wait` (its lifecycle hooks),
//! `inject` (the admission webhook, `docs/injection.md`), `plan` (show what `ensure`
//! would do), `ensure` (make the cluster match the declarations; the init-container mode). Exit
//! codes are documented in `docs/declarations.md`.

mod exit;
mod hooks;
mod inject;
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
    Inject(inject::InjectArgs),
    /// The preStop hook: ask the local `serve` to drain, wait until it has.
    Drain {
        /// How long to wait for the drain.
        #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Print what `ensure` would do: `+` create, `~` change, `!` drift left alone, `=` unchanged.
    Plan {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// How long to wait for the cluster.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
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
    if !matches!(cli.command, Command::Serve | Command::Inject(_)) {
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
            Command::Inject(args) => inject::run(args).await,
            Command::Plan { output, timeout } => provision::plan(output, timeout).await,
            Command::Ensure { timeout, output } => provision::ensure(output, timeout).await,
        }
    });
    ExitCode::from(code)
}

/// Human-readable warnings on stderr for `plan` and `ensure` (stdout is their output).
fn init_stderr_logs() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
}
