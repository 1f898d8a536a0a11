//! The mutation: a pure function from a pod and its validated declarations to JSONPatch
//! operations. No I/O, unit-tested on its own and through fixtures.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, ExecAction, HTTPGetAction, Lifecycle,
    LifecycleHandler, Pod, Probe, ResourceRequirements, SeccompProfile, SecurityContext,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kafkadeps_core::config::vars::sidecar::URL as SIDECAR_URL_VAR;
use serde_json::{Value, json};

use super::annotations::Declared;

/// Name of the injected container; its presence makes the pod "already injected".
pub(crate) const SIDECAR_NAME: &str = "kafkadeps";
/// Where app containers find the sidecar's data API.
pub(crate) const SIDECAR_URL: &str = "http://127.0.0.1:4195";
/// The sidecar's admin server port (`/metrics`, `/livez`, `/readyz`).
pub(crate) const ADMIN_PORT: i32 = 9464;

/// Whether the pod already carries the sidecar (a reinvocation, or added by hand).
pub(crate) fn already_injected(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .any(|c| c.name == SIDECAR_NAME)
    })
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

fn pointer(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

/// The patch injecting the sidecar; empty when the pod has it already.
pub(crate) fn patch(pod: &Pod, declared: &Declared) -> Vec<PatchOperation> {
    if already_injected(pod) {
        return Vec::new();
    }
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let mut ops = Vec::new();
    let sidecar = serde_json::to_value(sidecar(declared)).unwrap_or(Value::Null);
    if declared.native {
        // First among the init containers: it starts before them and outlives the app.
        if spec.init_containers.as_ref().is_some_and(|c| !c.is_empty()) {
            ops.push(add(pointer(&["spec", "initContainers", "0"]), sidecar));
        } else {
            ops.push(add(pointer(&["spec", "initContainers"]), json!([sidecar])));
        }
    } else {
        // First container: its postStart hook holds the app containers until it is ready.
        ops.push(add(pointer(&["spec", "containers", "0"]), sidecar));
    }
    let url = serde_json::to_value(EnvVar {
        name: SIDECAR_URL_VAR.into(),
        value: Some(SIDECAR_URL.into()),
        value_from: None,
    })
    .unwrap_or(Value::Null);
    let shift = usize::from(!declared.native);
    for (i, c) in spec.containers.iter().enumerate() {
        let index = (i + shift).to_string();
        match &c.env {
            Some(env) if env.iter().any(|e| e.name == SIDECAR_URL_VAR) => {}
            Some(env) if !env.is_empty() => {
                ops.push(add(
                    pointer(&["spec", "containers", &index, "env", "-"]),
                    url.clone(),
                ));
            }
            _ => ops.push(add(
                pointer(&["spec", "containers", &index, "env"]),
                json!([url.clone()]),
            )),
        }
    }
    let annotations = pod.metadata.annotations.as_ref();
    let missing = |key: &str| annotations.is_none_or(|a| !a.contains_key(key));
    let scrape = [
        ("prometheus.io/scrape", "true".to_owned()),
        ("prometheus.io/port", ADMIN_PORT.to_string()),
        ("prometheus.io/path", "/metrics".to_owned()),
    ];
    if annotations.is_none() {
        let map: serde_json::Map<String, Value> = scrape
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        ops.push(add(
            pointer(&["metadata", "annotations"]),
            Value::Object(map),
        ));
    } else if missing("prometheus.io/scrape") {
        for (k, v) in scrape.iter().filter(|(k, _)| missing(k)) {
            ops.push(add(
                pointer(&["metadata", "annotations", k]),
                Value::String(v.clone()),
            ));
        }
    }
    // The Secrets the sidecar mounts, as pod volumes (read-only files).
    if !declared.secrets.is_empty() {
        let volumes: Vec<Value> = declared
            .secrets
            .iter()
            .map(|s| json!({"name": s.volume, "secret": {"secretName": s.secret, "defaultMode": 0o444}}))
            .collect();
        if spec.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
            for v in volumes {
                ops.push(add(pointer(&["spec", "volumes", "-"]), v));
            }
        } else {
            ops.push(add(pointer(&["spec", "volumes"]), Value::Array(volumes)));
        }
    }
    // The pod's grace covers the app's own shutdown, then the sidecar's drain.
    if spec.termination_grace_period_seconds.is_none() {
        ops.push(add(
            pointer(&["spec", "terminationGracePeriodSeconds"]),
            json!(termination_grace(declared)),
        ));
    }
    ops
}

/// Seconds an app gets to stop before its sidecar drains, in the grace the injector sets.
pub(crate) const APP_SHUTDOWN_SECONDS: u64 = 30;

/// The `terminationGracePeriodSeconds` the injector gives a pod that sets none: Kubernetes'
/// default 30 s for the app, then the sidecar's whole drain.
pub(crate) fn termination_grace(declared: &Declared) -> u64 {
    APP_SHUTDOWN_SECONDS + declared.drain.as_secs().max(1)
}

/// A warning when the pod's own grace does not exceed the sidecar's drain: the kubelet would
/// kill the sidecar before it committed what the app processed.
pub(crate) fn grace_warning(pod: &Pod, declared: &Declared) -> Option<String> {
    let grace = pod.spec.as_ref()?.termination_grace_period_seconds?;
    let drain = declared.drain.as_secs();
    (u64::try_from(grace).unwrap_or(0) <= drain).then(|| {
        format!(
            "terminationGracePeriodSeconds={grace} does not exceed the kafkadeps sidecar's drain ({drain}s, kafkadeps.io/shutdown-grace): the kubelet may kill it before it committed; use at least {}",
            termination_grace(declared)
        )
    })
}

/// The sidecar container.
pub(crate) fn sidecar(d: &Declared) -> Container {
    let http = |path: &str| HTTPGetAction {
        path: Some(path.into()),
        port: IntOrString::Int(ADMIN_PORT),
        ..HTTPGetAction::default()
    };
    let exec = |args: &[&str]| LifecycleHandler {
        exec: Some(ExecAction {
            command: Some(args.iter().map(|a| (*a).to_owned()).collect()),
        }),
        ..LifecycleHandler::default()
    };
    let mut env: Vec<EnvVar> = d
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            value_from: None,
        })
        .collect();
    env.push(EnvVar {
        name: "KAFKA_METRICS_LISTEN".into(),
        value: Some(format!("0.0.0.0:{ADMIN_PORT}")),
        value_from: None,
    });
    Container {
        name: SIDECAR_NAME.into(),
        image: Some(d.image.clone()),
        args: Some(vec!["serve".into()]),
        restart_policy: d.native.then(|| "Always".to_owned()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("kafkadeps-admin".into()),
            container_port: ADMIN_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        startup_probe: d.native.then(|| Probe {
            http_get: Some(http("/readyz")),
            period_seconds: Some(1),
            failure_threshold: Some(300),
            ..Probe::default()
        }),
        readiness_probe: Some(Probe {
            http_get: Some(http("/readyz")),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        liveness_probe: Some(Probe {
            http_get: Some(http("/livez")),
            period_seconds: Some(10),
            failure_threshold: Some(6),
            ..Probe::default()
        }),
        // A native sidecar gets SIGTERM once the app containers have exited — the moment to
        // drain. Its preStop hook would run at the start of the pod's termination, next to the
        // app's SIGTERM, and drain while the app still sends: so it has none. A regular
        // container is stopped with the app; its hooks hold the app back until the sidecar is
        // ready and drain it explicitly.
        lifecycle: (!d.native).then(|| Lifecycle {
            pre_stop: Some(exec(&["kafkadeps-sidecar", "drain"])),
            post_start: Some(exec(&["kafkadeps-sidecar", "wait", "--timeout", "300s"])),
            ..Lifecycle::default()
        }),
        volume_mounts: (!d.secrets.is_empty()).then(|| {
            d.secrets
                .iter()
                .map(|s| VolumeMount {
                    name: s.volume.to_owned(),
                    mount_path: s.path.to_owned(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                })
                .collect()
        }),
        resources: Some(ResourceRequirements {
            requests: Some(
                [
                    ("cpu".to_owned(), Quantity(d.cpu.clone())),
                    ("memory".to_owned(), Quantity(d.memory.clone())),
                ]
                .into(),
            ),
            limits: Some([("memory".to_owned(), Quantity(d.memory.clone()))].into()),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(native: bool) -> Declared {
        Declared {
            env: vec![
                ("KAFKA_BOOTSTRAP_SERVERS".into(), "kafka:9092".into()),
                ("KAFKA_TOPIC".into(), "orders".into()),
            ],
            image: "kafkadeps/sidecar:test".into(),
            cpu: "50m".into(),
            memory: "64Mi".into(),
            native,
            drain: crate::serve::DEFAULT_SHUTDOWN_GRACE,
            secrets: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn pod(json: Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn apply(pod: &Pod, ops: Vec<PatchOperation>) -> Pod {
        let mut doc = serde_json::to_value(pod).unwrap();
        json_patch::patch(&mut doc, &ops).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn native_sidecar_goes_first_among_init_containers() {
        let p = pod(json!({"metadata": {"annotations": {"x": "y"}}, "spec": {
            "initContainers": [{"name": "migrate"}],
            "containers": [{"name": "app", "env": [{"name": "A", "value": "1"}]}, {"name": "b"}]}}));
        let out = apply(&p, patch(&p, &declared(true)));
        let spec = out.spec.unwrap();
        let init = spec.init_containers.unwrap();
        assert_eq!(init[0].name, SIDECAR_NAME);
        assert_eq!(init[0].restart_policy.as_deref(), Some("Always"));
        assert_eq!(init[1].name, "migrate");
        for c in &spec.containers {
            assert!(
                c.env
                    .as_ref()
                    .unwrap()
                    .iter()
                    .any(|e| e.name == "KAFKA_SIDECAR_URL")
            );
        }
        assert_eq!(spec.containers[0].env.as_ref().unwrap()[0].name, "A");
        let a = out.metadata.annotations.unwrap();
        assert_eq!(a["prometheus.io/port"], "9464");
        assert_eq!(a["x"], "y");
    }

    #[test]
    fn without_native_sidecars_a_first_container_holds_the_app() {
        let p = pod(json!({"spec": {"containers": [{"name": "app"}]}}));
        let out = apply(&p, patch(&p, &declared(false)));
        let containers = out.spec.unwrap().containers;
        assert_eq!(containers[0].name, SIDECAR_NAME);
        let hook = containers[0]
            .lifecycle
            .as_ref()
            .unwrap()
            .post_start
            .as_ref()
            .unwrap();
        assert_eq!(
            hook.exec.as_ref().unwrap().command.as_ref().unwrap()[1],
            "wait"
        );
        assert!(containers[0].restart_policy.is_none());
        assert_eq!(
            containers[1].env.as_ref().unwrap()[0].name,
            "KAFKA_SIDECAR_URL"
        );
    }

    #[test]
    fn idempotent_and_respects_existing_settings() {
        let p = pod(
            json!({"metadata": {"annotations": {"prometheus.io/scrape": "false"}},
            "spec": {"containers": [{"name": "app", "env": [{"name": "KAFKA_SIDECAR_URL", "value": "http://x"}]}]}}),
        );
        let once = apply(&p, patch(&p, &declared(true)));
        assert_eq!(
            once.metadata.annotations.as_ref().unwrap().len(),
            1,
            "scrape opt-out kept"
        );
        assert_eq!(
            once.spec.as_ref().unwrap().containers[0]
                .env
                .as_ref()
                .unwrap()
                .len(),
            1
        );
        assert!(
            patch(&once, &declared(true)).is_empty(),
            "a second run changes nothing"
        );
    }

    #[test]
    fn the_sidecar_is_locked_down() {
        let c = sidecar(&declared(true));
        let sc = c.security_context.unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
        assert_eq!(
            c.startup_probe.unwrap().http_get.unwrap().path.as_deref(),
            Some("/readyz")
        );
        let env = c.env.unwrap();
        assert!(env.iter().any(|e| e.name == "KAFKA_TOPIC"));
    }

    #[test]
    fn the_pod_gets_a_grace_above_the_drain_or_a_warning() {
        let d = declared(true);
        let bare =
            pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app"}]}}));
        let ops = serde_json::to_value(patch(&bare, &d)).unwrap();
        let grace = ops
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == "/spec/terminationGracePeriodSeconds")
            .expect("set when absent");
        assert_eq!(grace["value"], 55, "30 s for the app, then the 25 s drain");
        assert!(grace_warning(&bare, &d).is_none());
        let short = pod(json!({"metadata": {"name": "p"},
            "spec": {"terminationGracePeriodSeconds": 20, "containers": [{"name": "app"}]}}));
        let ops = serde_json::to_value(patch(&short, &d)).unwrap();
        assert!(
            !ops.as_array()
                .unwrap()
                .iter()
                .any(|op| op["path"] == "/spec/terminationGracePeriodSeconds"),
            "the pod's own value is kept"
        );
        let warning = grace_warning(&short, &d).expect("a warning");
        assert!(
            warning.contains("terminationGracePeriodSeconds=20") && warning.contains("55"),
            "{warning}"
        );
    }
}
