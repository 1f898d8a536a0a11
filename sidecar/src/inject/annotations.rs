//! The `kafkadeps.io/*` pod annotations: the env contract, one annotation per variable, read and
//! validated by the SDK's own parser (so a pod is denied with the messages the SDK would give).

use std::collections::BTreeMap;

use kafkadeps_core::config::Settings;

use super::credentials::{self, SecretMount};
use super::settings::InjectorSettings;

/// The annotation prefix.
pub(crate) const PREFIX: &str = "kafkadeps.io/";
/// `"true"` injects, `"false"` opts a pod out.
pub(crate) const INJECT: &str = "kafkadeps.io/inject";

/// Annotations that map one-to-one to variables of the env contract.
pub(crate) const TO_ENV: &[(&str, &str)] = &[
    ("kafkadeps.io/bootstrap-servers", "KAFKA_BOOTSTRAP_SERVERS"),
    ("kafkadeps.io/topic", "KAFKA_TOPIC"),
    ("kafkadeps.io/produces", "KAFKA_PRODUCES"),
    ("kafkadeps.io/consumes", "KAFKA_CONSUMES"),
    ("kafkadeps.io/group", "KAFKA_GROUP_ID"),
    ("kafkadeps.io/topic-defaults", "KAFKA_TOPIC_DEFAULTS"),
    ("kafkadeps.io/topic-policy", "KAFKA_TOPIC_POLICY"),
];
const DELIVER_URL: &str = "kafkadeps.io/deliver-url";
const APP_PORT: &str = "kafkadeps.io/app-port";
const IMAGE: &str = "kafkadeps.io/sidecar-image";
const CPU: &str = "kafkadeps.io/sidecar-cpu";
const MEMORY: &str = "kafkadeps.io/sidecar-memory";
const NATIVE: &str = "kafkadeps.io/native-sidecar";
/// The sidecar's `KAFKA_SIDECAR_SHUTDOWN_GRACE`: how long its whole drain may take.
const SHUTDOWN_GRACE: &str = "kafkadeps.io/shutdown-grace";

/// Every annotation the injector reads.
fn known() -> impl Iterator<Item = &'static str> {
    [
        INJECT,
        DELIVER_URL,
        APP_PORT,
        IMAGE,
        CPU,
        MEMORY,
        NATIVE,
        SHUTDOWN_GRACE,
    ]
    .into_iter()
    .chain(TO_ENV.iter().map(|(a, _)| *a))
    .chain(credentials::TO_ENV.iter().map(|(a, _)| *a))
    .chain([credentials::USER_SECRET, credentials::CA_SECRET])
}

/// What the pod asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No `kafkadeps.io/inject: "true"`: leave the pod alone.
    Skip,
    /// Inject the sidecar.
    Inject(Box<Declared>),
}

/// The validated declarations of an injected pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declared {
    /// The sidecar's environment, in a stable order.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) image: String,
    pub(crate) cpu: String,
    pub(crate) memory: String,
    pub(crate) native: bool,
    /// How long the sidecar's drain may take (`KAFKA_SIDECAR_SHUTDOWN_GRACE`).
    pub(crate) drain: std::time::Duration,
    /// Secrets mounted read-only into the sidecar (credentials, the cluster CA).
    pub(crate) secrets: Vec<SecretMount>,
    /// Warnings for the API client (unknown annotations, the SDK's declaration warnings).
    pub(crate) warnings: Vec<String>,
}

/// Reads the pod's annotations (and the `app` labels for `KAFKA_APP`). `Err` is the denial
/// message.
pub(crate) fn decide(
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    defaults: &InjectorSettings,
) -> Result<Decision, String> {
    match annotations.get(INJECT).map(|v| v.trim()) {
        Some("true") => {}
        None | Some("false") => return Ok(Decision::Skip),
        Some(other) => {
            return Err(format!(
                "{INJECT}: `{other}` is neither \"true\" nor \"false\""
            ));
        }
    }
    let mut warnings = unknown_annotations(annotations);
    let mut problems = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    for (annotation, var) in TO_ENV {
        if let Some(v) = annotations
            .get(*annotation)
            .filter(|v| !v.trim().is_empty())
        {
            env.push(((*var).to_owned(), v.trim().to_owned()));
        }
    }
    if !env.iter().any(|(k, _)| k == "KAFKA_BOOTSTRAP_SERVERS") {
        match &defaults.bootstrap_servers {
            Some(b) => env.insert(0, ("KAFKA_BOOTSTRAP_SERVERS".to_owned(), b.clone())),
            None => problems.push(
                "kafkadeps.io/bootstrap-servers is required (the injector has no default bootstrap servers)"
                    .to_owned(),
            ),
        }
    }
    let secrets = credentials::apply(
        annotations,
        defaults.ca_secret.as_deref(),
        &mut env,
        &mut problems,
    );
    if let Some(app) = labels
        .get("app.kubernetes.io/name")
        .or_else(|| labels.get("app"))
    {
        env.push(("KAFKA_APP".to_owned(), app.clone()));
    }
    match (annotations.get(DELIVER_URL), annotations.get(APP_PORT)) {
        (Some(_), Some(_)) => problems.push(format!("give {DELIVER_URL} or {APP_PORT}, not both")),
        (Some(url), None) => {
            let url = url.trim();
            if url.starts_with("http://") || url.starts_with("https://") {
                env.push(("KAFKA_SIDECAR_DELIVER_URL".to_owned(), url.to_owned()));
            } else {
                problems.push(format!("{DELIVER_URL}: `{url}` is not an http:// URL"));
            }
        }
        (None, Some(port)) => match port.trim().parse::<u16>() {
            Ok(p) if p > 0 => env.push((
                "KAFKA_SIDECAR_DELIVER_URL".to_owned(),
                format!("http://127.0.0.1:{p}/kafka"),
            )),
            _ => problems.push(format!("{APP_PORT}: `{port}` is not a port number")),
        },
        (None, None) => {}
    }
    let native = match annotations.get(NATIVE).map(|v| v.trim()) {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            problems.push(format!(
                "{NATIVE}: `{other}` is neither \"true\" nor \"false\""
            ));
            true
        }
    };
    let quantity = |name: &str, default: &str, problems: &mut Vec<String>| -> String {
        let v = annotations
            .get(name)
            .map_or(default, |v| v.trim())
            .to_owned();
        if !is_quantity(&v) {
            problems.push(format!(
                "{name}: `{v}` is not a Kubernetes quantity (e.g. 100m, 64Mi)"
            ));
        }
        v
    };
    let drain = match annotations.get(SHUTDOWN_GRACE).map(|v| v.trim()) {
        None => crate::serve::DEFAULT_SHUTDOWN_GRACE,
        Some(v) => match humantime::parse_duration(v) {
            Ok(d) if !d.is_zero() => {
                env.push((
                    kafkadeps_core::config::vars::sidecar::SHUTDOWN_GRACE.to_owned(),
                    v.to_owned(),
                ));
                d
            }
            _ => {
                problems.push(format!(
                    "{SHUTDOWN_GRACE}: `{v}` is not a duration like 25s"
                ));
                crate::serve::DEFAULT_SHUTDOWN_GRACE
            }
        },
    };
    let cpu = quantity(CPU, &defaults.sidecar_cpu, &mut problems);
    let memory = quantity(MEMORY, &defaults.sidecar_memory, &mut problems);
    let image = annotations
        .get(IMAGE)
        .map_or(defaults.sidecar_image.as_str(), |v| v.trim())
        .to_owned();
    if problems.is_empty() {
        // One parser: the SDK reads the same variables the sidecar will.
        match Settings::from_vars(credentials::for_validation(&env)) {
            Ok(settings) => warnings.extend(settings.warnings.iter().map(ToString::to_string)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(Decision::Inject(Box::new(Declared {
        env,
        image,
        cpu,
        memory,
        native,
        drain,
        secrets,
        warnings,
    })))
}

/// Warnings for `kafkadeps.io/*` keys the injector does not know, with a did-you-mean.
fn unknown_annotations(annotations: &BTreeMap<String, String>) -> Vec<String> {
    annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX) && !known().any(|n| n == k.as_str()))
        .map(|k| match kafkadeps_core::suggest::closest(k, known()) {
            Some(n) => format!("unknown annotation {k}; did you mean {n}?"),
            None => format!("unknown annotation {k} (ignored)"),
        })
        .collect()
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix.
fn is_quantity(v: &str) -> bool {
    let suffixes = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E", "",
    ];
    suffixes.iter().any(|s| {
        v.strip_suffix(s).is_some_and(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                && n.chars().filter(|c| *c == '.').count() <= 1
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn defaults() -> InjectorSettings {
        InjectorSettings {
            bootstrap_servers: Some("kafka:9092".into()),
            ..InjectorSettings::default()
        }
    }

    #[test]
    fn skips_pods_without_the_opt_in() {
        let d = defaults();
        assert_eq!(decide(&map(&[]), &map(&[]), &d), Ok(Decision::Skip));
        assert_eq!(
            decide(&map(&[(INJECT, "false")]), &map(&[]), &d),
            Ok(Decision::Skip)
        );
        assert!(decide(&map(&[(INJECT, "yes")]), &map(&[]), &d).is_err());
    }

    #[test]
    fn renders_the_env_contract() {
        let a = map(&[
            (INJECT, "true"),
            ("kafkadeps.io/produces", "orders.v1(partitions=12)"),
            ("kafkadeps.io/consumes", "payments.v1"),
            ("kafkadeps.io/group", "orders"),
            (APP_PORT, "8080"),
        ]);
        let Ok(Decision::Inject(d)) = decide(&a, &map(&[("app", "orders")]), &defaults()) else {
            panic!("not injected")
        };
        let env: BTreeMap<_, _> = d.env.iter().cloned().collect();
        assert_eq!(env["KAFKA_BOOTSTRAP_SERVERS"], "kafka:9092");
        assert_eq!(env["KAFKA_PRODUCES"], "orders.v1(partitions=12)");
        assert_eq!(env["KAFKA_APP"], "orders");
        assert_eq!(
            env["KAFKA_SIDECAR_DELIVER_URL"],
            "http://127.0.0.1:8080/kafka"
        );
        assert!(d.native);
        assert_eq!((d.cpu.as_str(), d.memory.as_str()), ("50m", "64Mi"));
    }

    #[test]
    fn invalid_declarations_give_the_sdk_message() {
        let a = map(&[
            (INJECT, "true"),
            ("kafkadeps.io/produces", "orders(retention.mss=1)"),
        ]);
        let e = decide(&a, &map(&[]), &defaults()).unwrap_err();
        assert!(e.contains("KAFKA_PRODUCES"), "{e}");
        assert!(e.contains("did you mean `retention.ms`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_warnings_with_a_suggestion() {
        let a = map(&[
            (INJECT, "true"),
            ("kafkadeps.io/produce", "orders"),
            ("kafkadeps.io/consumes", "orders"),
        ]);
        let Ok(Decision::Inject(d)) = decide(&a, &map(&[]), &defaults()) else {
            panic!("not injected")
        };
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("kafkadeps.io/produce;") && w.contains("kafkadeps.io/produces")),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn checks_its_own_annotations() {
        let bad = map(&[
            (INJECT, "true"),
            ("kafkadeps.io/topic", "t"),
            (APP_PORT, "http"),
            (CPU, "lots"),
            (NATIVE, "maybe"),
        ]);
        let e = decide(&bad, &map(&[]), &defaults()).unwrap_err();
        for part in [APP_PORT, CPU, NATIVE] {
            assert!(e.contains(part), "{e}");
        }
        let no_bootstrap = InjectorSettings::default();
        let e = decide(
            &map(&[(INJECT, "true"), ("kafkadeps.io/topic", "t")]),
            &map(&[]),
            &no_bootstrap,
        )
        .unwrap_err();
        assert!(e.contains("bootstrap-servers is required"), "{e}");
        assert!(
            is_quantity("1.5Gi") && is_quantity("250m") && !is_quantity("1..5") && !is_quantity("")
        );
    }
}
