//! The sidecar's own settings (`KAFKA_SIDECAR_*`), next to the `KAFKA_*` declarations the SDK
//! reads. Every invalid variable is reported, not only the first.

use std::net::SocketAddr;
use std::time::Duration;

// The variables are part of the SDK's registry of the contract (one place for every name).
pub(crate) use kafkadeps::config::vars::sidecar::{
    DELIVER_ATTEMPTS, DELIVER_TIMEOUT, DELIVER_URL, IDEMPOTENCY_MAX_KEYS, IDEMPOTENCY_WINDOW,
    LISTEN, MAX_BODY_BYTES, MAX_INFLIGHT, ORDERING, PULL_LEASE, SHUTDOWN_GRACE, TOKEN_FILE,
};

/// How a push consumer schedules the records of one partition (`KAFKA_SIDECAR_ORDERING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum PushOrdering {
    /// One push per partition at a time, in offset order.
    #[default]
    Partition,
    /// Records of different keys are pushed in parallel (up to `KAFKA_SIDECAR_MAX_INFLIGHT` per
    /// partition, keys hashed to that many lanes); one key's records one at a time, in order.
    Key,
}
use kafkadeps::config::{ConfigError, Env, Problem, Secret};

/// How long the whole drain may take unless `KAFKA_SIDECAR_SHUTDOWN_GRACE` says otherwise.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Settings of `kafkadeps-sidecar serve`.
#[derive(Debug, Clone)]
pub(crate) struct SidecarOptions {
    pub(crate) listen: SocketAddr,
    /// The bearer token every data API request must carry (`KAFKA_SIDECAR_TOKEN_FILE`).
    pub(crate) token: Option<Secret>,
    pub(crate) deliver_url: Option<reqwest::Url>,
    pub(crate) max_inflight: usize,
    pub(crate) ordering: PushOrdering,
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
            token: None,
            deliver_url: None,
            max_inflight: 16,
            ordering: PushOrdering::Partition,
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
    /// Reads the settings from `env` (the same source as the declarations); returns every
    /// problem found.
    pub(crate) fn from_source(env: &Env) -> Result<Self, ConfigError> {
        let lookup = |name: &str| env.get(name);
        let mut o = Self::default();
        let mut errors = Vec::new();
        let mut read = |name: &str, apply: &mut dyn FnMut(&str) -> Result<(), String>| {
            if let Some(v) = lookup(name)
                && let Err(e) = apply(v.trim())
            {
                errors.push(Problem::new(name, e));
            }
        };
        read(LISTEN, &mut |v| {
            o.listen = v
                .parse()
                .map_err(|_| format!("`{v}` is not an address like 127.0.0.1:4195"))?;
            Ok(())
        });
        read(TOKEN_FILE, &mut |v| {
            o.token = Some(read_token(v)?);
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
        read(ORDERING, &mut |v| {
            o.ordering = match v.to_ascii_lowercase().as_str() {
                "partition" => PushOrdering::Partition,
                "key" => PushOrdering::Key,
                _ => return Err(format!("`{v}` is neither `partition` nor `key`")),
            };
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
        if o.ordering == PushOrdering::Key
            && o.deliver_url.is_none()
            && lookup(DELIVER_URL).is_none()
        {
            errors.push(Problem::new(
                ORDERING,
                format!("`key` schedules pushes, so it needs push mode ({DELIVER_URL}); pull mode hands each partition's records out in offset order and the app may process them in any order"),
            ));
        }
        // Pull mode hands records out and waits for the app's commit; a parked record would be
        // redelivered by the retry reader behind the app's back.
        if lookup(kafkadeps::config::vars::RETRY_MODE)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("park"))
            && o.deliver_url.is_none()
            && lookup(DELIVER_URL).is_none()
        {
            errors.push(Problem::new(
                kafkadeps::config::vars::RETRY_MODE,
                format!("`park` is for push mode ({DELIVER_URL}); in pull mode the app retries what it nacks"),
            ));
        }
        // Off loopback, anyone who reaches the port could produce and consume as this service.
        if !o.listen.ip().is_loopback() && o.token.is_none() && lookup(TOKEN_FILE).is_none() {
            errors.push(Problem::new(
                LISTEN,
                format!(
                "`{}` is not a loopback address, so other pods and hosts can reach the data API; set {TOKEN_FILE} to a file holding a bearer token every request must carry, or listen on 127.0.0.1",
                o.listen
            ),
            ));
        }
        if errors.is_empty() {
            Ok(o)
        } else {
            Err(ConfigError::new(errors))
        }
    }
}

/// The token in the file `path` (surrounding whitespace removed; empty is an error).
fn read_token(path: &str) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("`{path}` is empty"));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the token in `{path}` contains whitespace"));
    }
    Ok(Secret::new(token))
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
        SidecarOptions::from_source(&Env::from_pairs(vars.iter().copied()))
            .map_err(|e| e.problems.iter().map(ToString::to_string).collect())
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

    fn token_file(name: &str, content: &str) -> String {
        let path = std::env::temp_dir().join(format!("kd-token-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    #[test]
    fn reads_every_variable() {
        let token = token_file("every", "s3cr3t-token\n");
        let o = parse(&[
            (LISTEN, "0.0.0.0:9000"),
            (TOKEN_FILE, &token),
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
        assert_eq!(o.token.as_ref().map(Secret::expose), Some("s3cr3t-token"));
        assert!(
            !format!("{o:?}").contains("s3cr3t"),
            "the token is redacted"
        );
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
    fn key_ordering_is_for_push_mode() {
        assert_eq!(parse(&[]).unwrap().ordering, PushOrdering::Partition);
        let push = parse(&[
            (DELIVER_URL, "http://127.0.0.1:8080/kafka"),
            (ORDERING, "Key"),
        ]);
        assert_eq!(push.unwrap().ordering, PushOrdering::Key);
        let errors = parse(&[(ORDERING, "key")]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(ORDERING) && errors[0].contains(DELIVER_URL),
            "{errors:?}"
        );
        let errors = parse(&[("KAFKA_RETRY_MODE", "park")]).unwrap_err();
        assert!(
            errors[0].starts_with("KAFKA_RETRY_MODE") && errors[0].contains(DELIVER_URL),
            "{errors:?}"
        );
        let errors = parse(&[(ORDERING, "keys")]).unwrap_err();
        assert!(
            errors[0].contains("neither `partition` nor `key`"),
            "{errors:?}"
        );
    }

    #[test]
    fn off_loopback_the_data_api_needs_a_token() {
        let errors = parse(&[(LISTEN, "0.0.0.0:4195")]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(TOKEN_FILE), "{errors:?}");
        assert!(parse(&[(LISTEN, "[::1]:4195")]).is_ok(), "IPv6 loopback");
        let empty = token_file("empty", " \n");
        let errors = parse(&[(LISTEN, "0.0.0.0:4195"), (TOKEN_FILE, &empty)]).unwrap_err();
        assert_eq!(errors.len(), 1, "only the empty file: {errors:?}");
        assert!(errors[0].contains("is empty"), "{errors:?}");
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
