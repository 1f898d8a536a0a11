//! The admission webhook end to end: a real kube-apiserver + etcd (built from their Go modules by
//! `scripts/kube.sh`) calls `kafkadeps-sidecar inject` over HTTPS on 127.0.0.1, and the pods it
//! stores are mutated — or denied — as the annotations ask. Also: the injector chart's manifests
//! are accepted by the real API server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use kafkadeps_tests::kube::{ApiServer, webhook_certificate};
use kafkadeps_tests::{free_port, repo_root, unique, workspace_bin};
use serde_json::{Value, json};

/// `kafkadeps-sidecar inject` on 127.0.0.1, killed when dropped.
struct Injector {
    child: Child,
    port: u16,
}

impl Injector {
    fn start(cert: &Path, key: &Path, ca: &Path) -> Self {
        let port = free_port();
        let child = Command::new(workspace_bin("kafkadeps-sidecar"))
            .args(["inject", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .env(
                "KAFKADEPS_INJECTOR_BOOTSTRAP_SERVERS",
                "prod-kafka-kafka-bootstrap.kafka:9092",
            )
            .env("KAFKADEPS_INJECTOR_SIDECAR_IMAGE", "kafkadeps/sidecar:test")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the injector");
        let injector = Self { child, port };
        let started = Instant::now();
        while injector.get(ca, "/readyz").0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "injector not up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        injector
    }

    /// GET over HTTPS trusting `ca`: (status, body).
    fn get(&self, ca: &Path, path: &str) -> (u16, String) {
        self.curl(ca, &["-X", "GET"], path)
    }

    fn curl(&self, ca: &Path, args: &[&str], path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(ca)
            .args(args)
            .args(["-w", "\n%{http_code}"])
            .arg(format!("https://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pod(name: &str, annotations: Value, init: bool) -> Value {
    let mut spec = json!({
        "containers": [
            {"name": "orders", "image": "example/orders:1", "env": [{"name": "LOG_LEVEL", "value": "info"}]},
            {"name": "log-shipper", "image": "fluent/fluent-bit:3"}
        ]
    });
    if init {
        spec["initContainers"] = json!([{"name": "migrate", "image": "example/migrate:1"}]);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "orders"}, "annotations": annotations},
        "spec": spec
    })
}

fn declarations() -> Value {
    json!({
        "kafkadeps.io/inject": "true",
        "kafkadeps.io/produces": "orders.v1(partitions=12, retention.ms=7d)",
        "kafkadeps.io/consumes": "payments.v1",
        "kafkadeps.io/group": "orders",
        "kafkadeps.io/app-port": "8080"
    })
}

fn names(containers: &Value) -> Vec<String> {
    containers
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| c["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn has_env(container: &Value, name: &str) -> bool {
    container["env"]
        .as_array()
        .is_some_and(|env| env.iter().any(|e| e["name"] == name))
}

/// A real API server calling a running injector for every pod created in namespace `shop`
/// (`other` has no injection label), once the webhook has mutated a first pod.
struct Webhooked {
    api: ApiServer,
    injector: Injector,
    ca: PathBuf,
    /// The first pod the webhook mutated, as the API server answered its creation.
    first: Value,
}

impl Webhooked {
    fn start() -> Self {
        let api = ApiServer::start();
        let dir = std::env::temp_dir().join(unique("webhook-certs"));
        let (ca, cert, key) = webhook_certificate(&dir);
        let injector = Injector::start(&cert, &key, &ca);
        let ca_bundle =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&ca).expect("ca"));
        api.create(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            &json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "kafkadeps-injector"},
                "webhooks": [{
                    "name": "inject.kafkadeps.io",
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "reinvocationPolicy": "IfNeeded",
                    "timeoutSeconds": 5,
                    "namespaceSelector": {"matchLabels": {"kafkadeps.io/injection": "enabled"}},
                    "clientConfig": {"url": format!("https://127.0.0.1:{}/mutate", injector.port), "caBundle": ca_bundle},
                    "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}]
                }]
            }),
        );
        for (ns, enabled) in [("shop", true), ("other", false)] {
            let labels = if enabled {
                json!({"kafkadeps.io/injection": "enabled"})
            } else {
                json!({})
            };
            api.create(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
            );
        }
        // The API server picks up the webhook configuration asynchronously: wait for a first mutation.
        let started = Instant::now();
        let first = loop {
            let name = unique("probe");
            let r = api.request(
                "POST",
                "/api/v1/namespaces/shop/pods",
                Some(&pod(&name, declarations(), true)),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            if names(&r.body["spec"]["initContainers"])
                .first()
                .map(String::as_str)
                == Some("kafkadeps")
            {
                break r.body;
            }
            api.request(
                "DELETE",
                &format!("/api/v1/namespaces/shop/pods/{name}"),
                None,
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the webhook was never called"
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        Self {
            api,
            injector,
            ca,
            first,
        }
    }
}

#[test]
fn pods_are_stored_injected_as_their_annotations_ask() {
    let webhooked = Webhooked::start();
    let (api, first) = (&webhooked.api, &webhooked.first);
    the_first_pod_has_a_native_sidecar_and_its_apps_point_at_it(api, first);
    credentials_are_mounted_from_secrets_and_never_copied(api);
    pods_opted_out_elsewhere_or_already_injected_are_left_alone(api);
}

fn the_first_pod_has_a_native_sidecar_and_its_apps_point_at_it(api: &ApiServer, first: &Value) {
    // Injected: a native sidecar first among the init containers, the app containers pointed at it.
    let stored = api.request(
        "GET",
        &format!(
            "/api/v1/namespaces/shop/pods/{}",
            first["metadata"]["name"].as_str().expect("name")
        ),
        None,
    );
    assert_eq!(stored.status, 200);
    let spec = &stored.body["spec"];
    assert_eq!(names(&spec["initContainers"]), ["kafkadeps", "migrate"]);
    let sidecar = &spec["initContainers"][0];
    assert_eq!(sidecar["restartPolicy"], "Always");
    assert_eq!(sidecar["image"], "kafkadeps/sidecar:test");
    assert_eq!(sidecar["startupProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"], true);
    // Drained by SIGTERM once the app exited: no preStop hook, which would run at once.
    assert!(sidecar["lifecycle"].is_null(), "{}", sidecar["lifecycle"]);
    let env: std::collections::BTreeMap<String, String> = sidecar["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_owned(),
                e["value"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        env["KAFKA_BOOTSTRAP_SERVERS"],
        "prod-kafka-kafka-bootstrap.kafka:9092"
    );
    assert_eq!(
        env["KAFKA_PRODUCES"],
        "orders.v1(partitions=12, retention.ms=7d)"
    );
    assert_eq!(
        env["KAFKA_SIDECAR_DELIVER_URL"],
        "http://127.0.0.1:8080/kafka"
    );
    assert_eq!(env["KAFKA_APP"], "orders");
    for c in spec["containers"].as_array().expect("containers") {
        assert!(has_env(c, "KAFKA_SIDECAR_URL"), "{}", c["name"]);
    }
    assert!(
        has_env(&spec["containers"][0], "LOG_LEVEL"),
        "existing env kept"
    );
    assert_eq!(
        stored.body["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
}

fn credentials_are_mounted_from_secrets_and_never_copied(api: &ApiServer) {
    // Credentials: the Secrets (Strimzi's layout) are mounted read-only into the sidecar and
    // its file variables point at them; no secret value is in the pod.
    api.create(
        "/api/v1/namespaces/shop/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "orders"},
                "stringData": {"password": "s3cret-scram-password"}}),
    );
    let mut secured = declarations();
    secured["kafkadeps.io/sasl-mechanism"] = json!("SCRAM-SHA-512");
    secured["kafkadeps.io/sasl-username"] = json!("orders");
    secured["kafkadeps.io/user-secret"] = json!("orders");
    secured["kafkadeps.io/ca-secret"] = json!("prod-kafka-cluster-ca-cert");
    let with_credentials = api.create(
        "/api/v1/namespaces/shop/pods",
        &pod("secured", secured, false),
    );
    let spec = &with_credentials["spec"];
    let volumes: Vec<(String, String)> = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| {
            Some((
                v["name"].as_str()?.to_owned(),
                v["secret"]["secretName"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert!(
        volumes.contains(&("kafkadeps-user".into(), "orders".into()))
            && volumes.contains(&("kafkadeps-ca".into(), "prod-kafka-cluster-ca-cert".into())),
        "{volumes:?}"
    );
    let sidecar = &spec["initContainers"][0];
    let mounts = sidecar["volumeMounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().all(|m| m["readOnly"] == true) && mounts.len() == 2,
        "{mounts:?}"
    );
    let value = |name: &str| {
        sidecar["env"]
            .as_array()
            .and_then(|env| env.iter().find(|e| e["name"] == name))
            .map(|e| e["value"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        value("KAFKA_SASL_PASSWORD_FILE").as_deref(),
        Some("/var/run/kafkadeps/user/password")
    );
    assert_eq!(
        value("KAFKA_SSL_CA_LOCATION").as_deref(),
        Some("/var/run/kafkadeps/ca/ca.crt")
    );
    assert_eq!(
        value("KAFKA_SECURITY_PROTOCOL").as_deref(),
        Some("sasl_ssl")
    );
    assert!(value("KAFKA_SASL_PASSWORD").is_none());
    assert!(
        !with_credentials
            .to_string()
            .contains("s3cret-scram-password"),
        "no secret value in the pod"
    );
    // The app containers get none of it.
    for c in spec["containers"].as_array().expect("containers") {
        let mounted = c["volumeMounts"].as_array().cloned().unwrap_or_default();
        assert!(
            mounted
                .iter()
                .all(|m| !m["name"].as_str().unwrap_or("").starts_with("kafkadeps")),
            "{mounted:?}"
        );
    }
}

fn pods_opted_out_elsewhere_or_already_injected_are_left_alone(api: &ApiServer) {
    // Opted out, or in a namespace without the label: stored as sent.
    let out = api.create(
        "/api/v1/namespaces/shop/pods",
        &pod(
            "opted-out",
            json!({"kafkadeps.io/inject": "false", "kafkadeps.io/topic": "t"}),
            false,
        ),
    );
    assert!(out["spec"]["initContainers"].is_null());
    assert!(!has_env(&out["spec"]["containers"][0], "KAFKA_SIDECAR_URL"));
    let other = api.create(
        "/api/v1/namespaces/other/pods",
        &pod("elsewhere", declarations(), false),
    );
    assert!(other["spec"]["initContainers"].is_null());

    // Without native sidecars: a first regular container whose postStart waits for readiness.
    let mut annotations = declarations();
    annotations["kafkadeps.io/native-sidecar"] = json!("false");
    let regular = api.create(
        "/api/v1/namespaces/shop/pods",
        &pod("regular", annotations, false),
    );
    assert_eq!(
        names(&regular["spec"]["containers"]),
        ["kafkadeps", "orders", "log-shipper"]
    );
    assert_eq!(
        regular["spec"]["containers"][0]["lifecycle"]["postStart"]["exec"]["command"][1],
        "wait"
    );

    // Already carrying the sidecar: left unchanged.
    let mut manual = pod("manual", declarations(), false);
    manual["spec"]["initContainers"] = json!([{"name": "kafkadeps", "image": "kafkadeps/sidecar:mine", "restartPolicy": "Always"}]);
    let kept = api.create("/api/v1/namespaces/shop/pods", &manual);
    assert_eq!(names(&kept["spec"]["initContainers"]), ["kafkadeps"]);
    assert_eq!(
        kept["spec"]["initContainers"][0]["image"],
        "kafkadeps/sidecar:mine"
    );
}

#[test]
fn invalid_pods_are_denied_typos_warned_and_bad_reviews_refused() {
    let Webhooked {
        api, injector, ca, ..
    } = Webhooked::start();
    // Invalid declarations: denied with the SDK's message.
    let mut invalid = declarations();
    invalid["kafkadeps.io/produces"] = json!("orders.v1(retention.mss=7d)");
    let denied = api.request(
        "POST",
        "/api/v1/namespaces/shop/pods",
        Some(&pod("invalid", invalid, false)),
    );
    assert!(denied.status >= 400, "{}", denied.body);
    let message = denied.body["message"].as_str().expect("message");
    assert!(
        message.contains("denied the request")
            && message.contains("KAFKA_PRODUCES")
            && message.contains("did you mean `retention.ms`?"),
        "{message}"
    );
    assert_eq!(
        api.request("GET", "/api/v1/namespaces/shop/pods/invalid", None)
            .status,
        404
    );

    // Unknown kafkadeps.io keys: admitted, with a did-you-mean warning for the client.
    let mut typo = declarations();
    typo["kafkadeps.io/grup"] = json!("orders");
    let warned = api.request(
        "POST",
        "/api/v1/namespaces/shop/pods",
        Some(&pod("typo", typo, false)),
    );
    assert_eq!(warned.status, 201, "{}", warned.body);
    assert!(
        warned
            .warnings
            .iter()
            .any(|w| w.contains("did you mean kafkadeps.io/group")),
        "{:?}",
        warned.warnings
    );

    // Malformed reviews sent directly: 400, and the webhook keeps serving.
    for body in [
        "{",
        r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
    ] {
        let (status, _) = injector.curl(
            &ca,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
            "/mutate",
        );
        assert_eq!(status, 400);
    }
    let (status, metrics) = injector.get(&ca, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("kafkadeps_injector_reviews_total{outcome=\"injected\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kafkadeps_injector_reviews_total{outcome=\"denied\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_rotated_certificate_is_picked_up_without_a_restart() {
    let dir = std::env::temp_dir().join(unique("webhook-certs"));
    let (ca, cert, key) = webhook_certificate(&dir);
    let injector = Injector::start(&cert, &key, &ca);
    // A rotated certificate (new CA) is picked up without a restart.
    let rotated = dir.join("rotated");
    let (new_ca, new_cert, new_key) = webhook_certificate(&rotated);
    std::fs::copy(&new_key, &key).expect("key");
    std::fs::copy(&new_cert, &cert).expect("cert");
    let started = Instant::now();
    while injector.get(&new_ca, "/readyz").0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "certificate not reloaded"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_ne!(
        injector.get(&ca, "/readyz").0,
        200,
        "the old certificate is gone"
    );
}

#[test]
fn the_injector_charts_manifests_are_accepted_by_a_real_api_server() {
    let helm = std::env::var("KAFKADEPS_HELM").unwrap_or_else(|_| "helm".to_owned());
    let out = Command::new(helm)
        .args(["template", "kafkadeps-injector"])
        .arg(repo_root().join("charts/kafkadeps-injector"))
        .args([
            "--namespace",
            "kafkadeps",
            "--set",
            "dashboard.enabled=true",
        ])
        .output()
        .expect("helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = std::env::temp_dir().join(format!("{}.yaml", unique("injector")));
    std::fs::write(&path, &out.stdout).expect("write");
    let json = Command::new(kafkadeps_tests::python())
        .arg(repo_root().join("tests/python/manifests.py"))
        .arg("json")
        .arg(&path)
        .output()
        .expect("python");
    let objects: Vec<Value> = serde_json::from_slice(&json.stdout).expect("objects");
    let api = ApiServer::start();
    api.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kafkadeps"}}),
    );
    let mut kinds = Vec::new();
    for o in &objects {
        let kind = o["kind"].as_str().expect("kind");
        let path = match kind {
            "MutatingWebhookConfiguration" => {
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations".to_owned()
            }
            "Deployment" => "/apis/apps/v1/namespaces/kafkadeps/deployments".to_owned(),
            "PodDisruptionBudget" => {
                "/apis/policy/v1/namespaces/kafkadeps/poddisruptionbudgets".to_owned()
            }
            other => format!("/api/v1/namespaces/kafkadeps/{}s", other.to_lowercase()),
        };
        let stored = api.create(&path, o);
        if kind == "MutatingWebhookConfiguration" {
            let webhook = &stored["webhooks"][0];
            assert_eq!(webhook["failurePolicy"], "Fail");
            assert_eq!(webhook["sideEffects"], "None");
            assert!(webhook["clientConfig"]["caBundle"].is_string());
        }
        kinds.push(kind.to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount"
        ]
    );
}
