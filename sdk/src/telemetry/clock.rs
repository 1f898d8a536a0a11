//! The clock of the per-record durations (`kafkadeps_producer_send_duration_seconds`,
//! `kafkadeps_consumer_handler_duration_seconds`): read two or one times per record, so its cost
//! shows in throughput. It reads the CPU's time-stamp counter where that is invariant and
//! calibrated against the OS clock (cheaper to read than `std::time::Instant`), and falls back
//! to the OS clock elsewhere.

pub(crate) use quanta::Instant;

/// Calibrates the clock (about a millisecond, once per process) on a blocking thread, so that
/// no send or handler pays for it on an async one.
pub(crate) async fn calibrate() {
    let _ = tokio::task::spawn_blocking(Instant::now).await;
}
