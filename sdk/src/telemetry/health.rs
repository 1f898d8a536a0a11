//! Liveness and readiness. Readiness is the conjunction of components (topics ensured, producer
//! connected, each consumer assigned or legitimately idle); any fatal client error makes it
//! false with the reason, so a pod never reports Ready while consuming nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The state of one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum ComponentState {
    /// Not ready yet, and why.
    Starting(String),
    /// Ready.
    Ready,
    /// Failed for good, and why.
    Failed(String),
    /// Draining for shutdown.
    Stopping,
}

/// Readiness as served on `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// Every component is ready.
    pub ready: bool,
    /// Each component's state.
    pub components: BTreeMap<String, ComponentState>,
}

/// The process's health registry.
#[derive(Debug, Default)]
pub struct Health {
    components: Mutex<BTreeMap<String, ComponentState>>,
    /// Heartbeats (unix ms) of loops that must keep turning, for `/livez`.
    heartbeats: Mutex<BTreeMap<String, &'static AtomicU64>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long a loop may go without a heartbeat before the process counts as wedged.
pub(crate) const WEDGED_AFTER: Duration = Duration::from_secs(60);

impl Health {
    /// Sets a component's state.
    pub fn set(&self, component: &str, state: ComponentState) {
        let mut c = self
            .components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if c.get(component) != Some(&state) {
            tracing::info!(component, state = ?state, "Health changed.");
        }
        c.insert(component.to_owned(), state);
    }

    /// Removes a component (e.g. a consumer that stopped cleanly).
    pub fn remove(&self, component: &str) {
        self.components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(component);
    }

    /// Current readiness.
    pub fn readiness(&self) -> Readiness {
        let components = self
            .components
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let ready =
            !components.is_empty() && components.values().all(|s| *s == ComponentState::Ready);
        Readiness { ready, components }
    }

    /// A heartbeat slot for a loop named `name`; the loop stores `now` in it as it turns.
    pub(crate) fn heartbeat(&self, name: &str) -> &'static AtomicU64 {
        let mut h = self
            .heartbeats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        h.entry(name.to_owned())
            .or_insert_with(|| Box::leak(Box::new(AtomicU64::new(now_ms()))))
    }

    /// Marks a heartbeat slot as turning now.
    pub(crate) fn beat(slot: &AtomicU64) {
        slot.store(now_ms(), Ordering::Relaxed);
    }

    /// Marks a loop as finished (no longer watched).
    pub(crate) fn retire(slot: &AtomicU64) {
        slot.store(u64::MAX, Ordering::Relaxed);
    }

    /// Loops that have not turned for 60 seconds.
    pub fn wedged(&self) -> Vec<String> {
        let now = now_ms();
        let limit = u64::try_from(WEDGED_AFTER.as_millis()).unwrap_or(u64::MAX);
        self.heartbeats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, slot)| {
                let last = slot.load(Ordering::Relaxed);
                last != u64::MAX && now.saturating_sub(last) > limit
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// The process-wide health registry.
pub fn health() -> &'static Health {
    static HEALTH: OnceLock<Health> = OnceLock::new();
    HEALTH.get_or_init(Health::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_component_is() {
        let h = Health::default();
        assert!(!h.readiness().ready, "nothing registered is not ready");
        h.set("topics", ComponentState::Starting("ensuring".into()));
        h.set("producer", ComponentState::Ready);
        assert!(!h.readiness().ready);
        h.set("topics", ComponentState::Ready);
        assert!(h.readiness().ready);
        h.set("consumer", ComponentState::Failed("fenced".into()));
        let r = h.readiness();
        assert!(!r.ready);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["components"]["consumer"]["status"], "failed");
        assert_eq!(json["components"]["consumer"]["reason"], "fenced");
    }

    #[test]
    fn wedged_loops_are_reported() {
        let h = Health::default();
        let slot = h.heartbeat("poll");
        assert!(h.wedged().is_empty());
        slot.store(1, Ordering::Relaxed);
        assert_eq!(h.wedged(), ["poll"]);
        Health::retire(slot);
        assert!(h.wedged().is_empty());
    }
}
