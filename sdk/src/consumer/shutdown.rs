//! When a consumer (or transactional runner) should stop: a future of the caller's, and
//! SIGTERM/SIGINT unless the application handles signals itself.

use std::future::Future;
use std::pin::Pin;

/// The stop conditions of one runner.
#[derive(Default)]
pub(crate) struct Shutdown {
    external: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ignore_signals: bool,
}

impl Shutdown {
    /// Also stop when `signal` completes.
    pub(crate) fn on(&mut self, signal: impl Future<Output = ()> + Send + 'static) {
        self.external = Some(Box::pin(signal));
    }

    /// Do not react to SIGTERM/SIGINT.
    pub(crate) fn ignore_signals(&mut self) {
        self.ignore_signals = true;
    }

    /// Whether SIGTERM/SIGINT stop the runner.
    pub(crate) fn handles_signals(&self) -> bool {
        !self.ignore_signals
    }

    /// Resolves when a stop condition is met.
    pub(crate) async fn requested(self) {
        let external = async {
            match self.external {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = external => {}
            () = os_signal(!self.ignore_signals) => {}
        }
    }
}

/// Resolves on SIGTERM or SIGINT (never, when `enabled` is false).
async fn os_signal(enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    terminated().await;
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C elsewhere): the stop request of
/// an orchestrator. For servers that drive their own graceful shutdown.
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
