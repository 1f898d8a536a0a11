//! The sidecar's own settings (`KAFKA_SIDECAR_*`), next to the `KAFKA_*` declarations the SDK
//! reads. Every invalid variable is reported, not only the first.

use std::net::SocketAddr;
use std::time::Duration;

// The variables are part of the SDK's registry of the contract (one place for every name).
pub(crate) use kafkadeps::config::vars::sidecar::{
    DELIVER_ATTEMPTS, DELIVER_TIMEOUT, DELIVER_URL, IDEMPOTENCY_MAX_KEYS, IDEMPOTENCY_WINDOW,
    LISTEN, MAX_BODY_BYTES, MAX_INFLIGHT, PULL_LEASE, SHUTDOWN_GRACE,
};

/// How long the whole drain may take unless `KAFKA_SIDECAR_SHUTDOWN_GRACE` says otherwise.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Settings of `kafkadeps-sidecar serve`.
#[derive(Debug, Clone)]
pub(crate) struct SidecarOptions {
    pub(crate) listen: SocketAddr,
    pub(crate) deliver_url: Option<reqwest::Url>,
    pub(crate) max_inflight: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) deliver_timeout: Duration,
    pub(crate) deliver_attempts: u32,
    pub(crate) shutdown_grace: Duration,
    pub(crate) pull_lease: Duration,
    pub(crate) idempotency_window: Duration,
    pub(crate) idempotency_max_keys: usize,
}

impl Default for SidecarOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4195)),
            deliver_url: None,
            max_inflight: 16,
            max_body_bytes: 4 * 1024 * 1024,
            deliver_timeout: Duration::from_secs(30),
            deliver_attempts: 10,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            pull_lease: Duration::from_secs(30),
            idempotency_window: Duration::from_secs(600),
            idempotency_max_keys: 100_000,
        }
    }
}

impl SidecarOptions {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, Vec<String>> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads the settings through `lookup`; returns every problem found.
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<String>> {
        let mut o = Self::default();
        let mut errors = Vec::new();
        let mut read = |name: &str, apply: &mut dyn FnMut(&str) -> Result<(), String>| {
            if let Some(v) = lookup(name)
                && let Err(e) = apply(v.trim())
            {
                errors.push(format!("{name}: {e}"));
            }
        };
        read(LISTEN, &mut |v| {
            o.listen = v
                .parse()
                .map_err(|_| format!("`{v}` is not an address like 127.0.0.1:4195"))?;
            Ok(())
        });
        read(DELIVER_URL, &mut |v| {
            o.deliver_url = Some(deliver_url(v)?);
            Ok(())
        });
        read(MAX_INFLIGHT, &mut |v| {
            o.max_inflight = positive(v)?;
            Ok(())
        });
        read(MAX_BODY_BYTES, &mut |v| {
            o.max_body_bytes = positive(v)?;
            Ok(())
        });
        read(DELIVER_TIMEOUT, &mut |v| {
            o.deliver_timeout = duration(v)?;
            Ok(())
        });
        read(DELIVER_ATTEMPTS, &mut |v| {
            o.deliver_attempts =
                u32::try_from(positive(v)?).map_err(|_| format!("`{v}` is too large"))?;
            Ok(())
        });
        read(SHUTDOWN_GRACE, &mut |v| {
            o.shutdown_grace = duration(v)?;
            Ok(())
        });
        read(PULL_LEASE, &mut |v| {
            o.pull_lease = duration(v)?;
            Ok(())
        });
        read(IDEMPOTENCY_WINDOW, &mut |v| {
            o.idempotency_window = duration(v)?;
            Ok(())
        });
        read(IDEMPOTENCY_MAX_KEYS, &mut |v| {
            o.idempotency_max_keys = positive(v)?;
            Ok(())
        });
        if errors.is_empty() {
            Ok(o)
        } else {
            Err(errors)
        }
    }
}

fn positive(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{v}` is not a positive whole number")),
    }
}

fn duration(v: &str) -> Result<Duration, String> {
    match humantime::parse_duration(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("`{v}` is not a duration like 30s or 500ms")),
    }
}

fn deliver_url(v: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(v).map_err(|e| format!("`{v}` is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("`{v}` must be an http:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{v}` must not have a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<SidecarOptions, Vec<String>> {
        SidecarOptions::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_loopback_and_pull() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.listen.to_string(), "127.0.0.1:4195");
        assert!(o.deliver_url.is_none());
        assert_eq!(o.max_inflight, 16);
        assert_eq!(o.pull_lease, Duration::from_secs(30));
        assert_eq!(o.idempotency_window, Duration::from_secs(600));
    }

    #[test]
    fn reads_every_variable() {
        let o = parse(&[
            (LISTEN, "0.0.0.0:9000"),
            (DELIVER_URL, "http://127.0.0.1:8080/kafka"),
            (MAX_INFLIGHT, "4"),
            (MAX_BODY_BYTES, "1024"),
            (DELIVER_TIMEOUT, "2s"),
            (DELIVER_ATTEMPTS, "3"),
            (SHUTDOWN_GRACE, "5s"),
            (PULL_LEASE, "3s"),
            (IDEMPOTENCY_WINDOW, "1m"),
            (IDEMPOTENCY_MAX_KEYS, "10"),
        ])
        .unwrap();
        assert_eq!(o.listen.port(), 9000);
        assert_eq!(
            o.deliver_url.unwrap().as_str(),
            "http://127.0.0.1:8080/kafka"
        );
        assert_eq!(
            (o.max_inflight, o.max_body_bytes, o.deliver_attempts),
            (4, 1024, 3)
        );
        assert_eq!(o.deliver_timeout, Duration::from_secs(2));
        assert_eq!(o.shutdown_grace, Duration::from_secs(5));
        assert_eq!(o.pull_lease, Duration::from_secs(3));
        assert_eq!(o.idempotency_window, Duration::from_secs(60));
        assert_eq!(o.idempotency_max_keys, 10);
    }

    #[test]
    fn reports_all_problems() {
        let errors = parse(&[
            (LISTEN, "localhost"),
            (DELIVER_URL, "ftp://x"),
            (MAX_INFLIGHT, "0"),
            (DELIVER_TIMEOUT, "soon"),
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with(LISTEN), "{errors:?}");
        assert!(errors[1].contains("http://"), "{errors:?}");
    }
}
