//! The Helm charts with the real `helm` CLI: lint, render with several values files, validate
//! the manifests against the Kubernetes schemas (kubernetes-validate) and Strimzi's KafkaTopic
//! schema, and parse the rendered env with the SDK's own parser — the chart and the SDK cannot
//! drift apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use kafkadeps::Settings;
use kafkadeps::config::TopicPolicy;
use kafkadeps_tests::{python, repo_root};
use serde_json::Value;

fn helm() -> String {
    std::env::var("KAFKADEPS_HELM").unwrap_or_else(|_| "helm".to_owned())
}

const LIBRARY: &str = "charts/kafkadeps";
const INJECTOR: &str = "charts/kafkadeps-injector";
const EXAMPLE: &str = "examples/charts/orders-service";
const BILLING: &str = "examples/charts/billing-service";

/// `helm dependency update` of the example chart, once per test process.
fn example_chart() -> PathBuf {
    updated_chart(EXAMPLE)
}

/// The example billing-service chart (a consumer that autoscales), updated once per process.
fn billing_chart() -> PathBuf {
    updated_chart(BILLING)
}

fn updated_chart(dir: &'static str) -> PathBuf {
    static READY: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let chart = repo_root().join(dir);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if !ready.contains(&dir) {
        let out = Command::new(helm())
            .args(["dependency", "update", "--skip-refresh"])
            .arg(&chart)
            .output()
            .expect("helm (scripts/test.sh builds it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ready.push(dir);
    }
    chart
}

/// Runs helm; Ok(stdout) or Err(stderr).
fn run_helm(args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm())
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("helm (scripts/test.sh builds it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn template(chart: &Path, values: &[&str], extra: &[&str]) -> Result<String, String> {
    let chart = chart.to_string_lossy().into_owned();
    let mut args = vec!["template", "release", chart.as_str(), "--namespace", "shop"];
    for v in values {
        args.extend(["-f", v]);
    }
    args.extend(extra);
    run_helm(&args)
}

/// Writes `yaml` to a scratch file.
fn scratch_file(yaml: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.yaml", kafkadeps_tests::unique("rendered")));
    std::fs::write(&path, yaml).expect("write rendered manifests");
    path
}

/// Validates rendered manifests against the Kubernetes schemas; returns the summary.
fn validate_kubernetes(yaml: &str) -> Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/manifests.py"))
        .arg("validate")
        .arg(scratch_file(yaml))
        .output()
        .expect("python with kubernetes-validate (scripts/test.sh installs it)");
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "invalid manifests: {summary}");
    summary
}

/// The rendered objects as JSON.
fn objects(yaml: &str) -> Vec<Value> {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/manifests.py"))
        .arg("json")
        .arg(scratch_file(yaml))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("objects JSON")
}

/// Validates Strimzi objects (KafkaTopic, KafkaUser) against Strimzi's schemas; returns how many
/// were valid.
fn validate_strimzi(objects: &[&Value]) -> usize {
    use std::io::Write;
    let modules = PathBuf::from(
        std::env::var("KAFKADEPS_NODE_MODULES")
            .expect("KAFKADEPS_NODE_MODULES (scripts/test.sh installs tests/node)"),
    );
    let dir = modules.parent().expect("node package dir");
    let script = dir.join("validate-strimzi.mjs");
    std::fs::copy(repo_root().join("tests/node/validate-strimzi.mjs"), &script)
        .expect("copy the validator next to its node_modules");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(objects).expect("json").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("node output");
    let result: Value = serde_json::from_slice(&out.stdout).expect("validator JSON");
    assert!(out.status.success(), "invalid for Strimzi: {result}");
    result["valid"].as_u64().expect("count") as usize
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The env of a container as the pod would see it (valueFrom resolved to stand-in values).
fn env_of(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| {
                    let name = e["name"].as_str().expect("name").to_owned();
                    let value = match e.get("value") {
                        Some(v) => v.as_str().expect("string value").to_owned(),
                        None if e["valueFrom"].get("fieldRef").is_some() => {
                            "orders-7d9f-abc".into()
                        }
                        None => "from-a-secret".into(),
                    };
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

const EXAMPLE_VALUES: &[&[&str]] = &[
    &[],
    &["examples/charts/orders-service/ci/verify-strimzi-values.yaml"],
    &["examples/charts/orders-service/ci/sidecar-values.yaml"],
    &["examples/charts/orders-service/ci/explicit-sidecar-values.yaml"],
];

const INJECTOR_VALUES: &[&[&str]] = &[
    &[],
    &["charts/kafkadeps-injector/ci/cert-manager-values.yaml"],
    &["charts/kafkadeps-injector/ci/production-values.yaml"],
];

#[test]
fn every_chart_lints_strict_with_each_values_file() {
    let example = example_chart();
    let example = example.to_string_lossy();
    run_helm(&["lint", "--strict", LIBRARY]).expect("library chart lints");
    for values in EXAMPLE_VALUES {
        let mut args = vec!["lint", "--strict", example.as_ref()];
        for v in *values {
            args.extend(["-f", v]);
        }
        run_helm(&args).unwrap_or_else(|e| panic!("{values:?}: {e}"));
    }
    for values in INJECTOR_VALUES {
        let mut args = vec!["lint", "--strict", INJECTOR];
        for v in *values {
            args.extend(["-f", v]);
        }
        run_helm(&args).unwrap_or_else(|e| panic!("{values:?}: {e}"));
    }
}

#[test]
fn the_example_renders_valid_manifests_with_every_values_file() {
    let chart = example_chart();
    for values in EXAMPLE_VALUES {
        let yaml = template(&chart, values, &[]).unwrap_or_else(|e| panic!("{values:?}: {e}"));
        let summary = validate_kubernetes(&yaml);
        assert!(
            summary["validated"]
                .as_array()
                .expect("list")
                .contains(&"Deployment".into()),
            "{summary}"
        );
        let objects = objects(&yaml);
        let topics = of_kind(&objects, "KafkaTopic");
        if values.iter().any(|v| v.contains("strimzi")) {
            // orders.v1, Orders_Legacy and payments.v1's dead-letter topic: payments.v1 is only
            // consumed, so it is its owner's resource.
            assert_eq!(validate_strimzi(&topics), 3);
        } else {
            assert!(topics.is_empty());
        }
    }
}

#[test]
fn the_sidecar_variants_render_annotations_and_containers() {
    let chart = example_chart();
    let injected = objects(
        &template(
            &chart,
            &["examples/charts/orders-service/ci/sidecar-values.yaml"],
            &[],
        )
        .expect("render"),
    );
    let pod = &of_kind(&injected, "Deployment")[0]["spec"]["template"];
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["kafkadeps.io/inject"], "true");
    assert_eq!(annotations["kafkadeps.io/app-port"], "8080");
    assert_eq!(annotations["prometheus.io/port"], "9500");
    assert_eq!(annotations["kafkadeps.io/group"], "orders");
    // The annotations carry the same declarations the env would.
    let settings = Settings::from_vars([
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            annotations["kafkadeps.io/bootstrap-servers"]
                .as_str()
                .expect("bootstrap"),
        ),
        (
            "KAFKA_PRODUCES",
            annotations["kafkadeps.io/produces"]
                .as_str()
                .expect("produces"),
        ),
        (
            "KAFKA_CONSUMES",
            annotations["kafkadeps.io/consumes"]
                .as_str()
                .expect("consumes"),
        ),
        ("KAFKA_GROUP_ID", "orders"),
    ])
    .expect("annotations parse");
    assert_eq!(
        settings
            .topic("orders.v1")
            .expect("orders.v1")
            .spec
            .partitions,
        12
    );
    let app = &pod["spec"]["containers"][0];
    assert_eq!(
        env_of(app),
        [(
            "KAFKA_SIDECAR_URL".to_owned(),
            "http://127.0.0.1:4195".to_owned()
        )]
    );

    let explicit = objects(
        &template(
            &chart,
            &["examples/charts/orders-service/ci/explicit-sidecar-values.yaml"],
            &[],
        )
        .expect("render"),
    );
    let spec = &of_kind(&explicit, "Deployment")[0]["spec"]["template"]["spec"];
    let sidecar = &spec["initContainers"][0];
    assert_eq!(sidecar["restartPolicy"], "Always", "a native sidecar");
    assert_eq!(sidecar["startupProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(sidecar["securityContext"]["readOnlyRootFilesystem"], true);
    // Drained by SIGTERM once the app exited: no preStop hook, which would run at once.
    assert!(sidecar["lifecycle"].is_null(), "{}", sidecar["lifecycle"]);
    let env: BTreeMap<_, _> = env_of(sidecar).into_iter().collect();
    assert_eq!(
        env["KAFKA_SIDECAR_DELIVER_URL"],
        "http://127.0.0.1:8080/kafka"
    );
    Settings::from_vars(env.clone()).expect("the sidecar's env parses");
}

#[test]
fn rendered_env_is_parsed_by_the_sdk_into_the_model_the_values_describe() {
    let chart = example_chart();
    let rendered = objects(&template(&chart, &[], &[]).expect("render"));
    let container =
        &of_kind(&rendered, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    let settings = Settings::from_vars(env_of(container)).expect("the SDK accepts the chart's env");
    assert_eq!(
        settings.bootstrap_servers,
        "my-cluster-kafka-bootstrap:9092"
    );
    assert_eq!(settings.group_id, "orders");
    assert_eq!(settings.topic_policy, TopicPolicy::Create);
    let orders = settings.topic("orders.v1").expect("orders.v1");
    assert_eq!(orders.spec.partitions, 12);
    assert_eq!(orders.spec.config["retention.ms"], "604800000");
    assert!(orders.usage.produce && !orders.usage.consume);
    assert_eq!(
        settings.topic("orders.audit").expect("audit").spec.config["cleanup.policy"],
        "compact"
    );
    assert!(
        settings
            .topic("payments.v1")
            .expect("payments")
            .usage
            .consume
    );
    assert!(settings.topic("payments.v1.dlq").is_some());

    // With the Topic Operator owning topics, the KafkaTopic resources say exactly what the SDK
    // will verify.
    let values = ["examples/charts/orders-service/ci/verify-strimzi-values.yaml"];
    let rendered = objects(&template(&chart, &values, &[]).expect("render"));
    let container =
        &of_kind(&rendered, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    let settings = Settings::from_vars(env_of(container)).expect("env parses");
    assert_eq!(settings.topic_policy, TopicPolicy::Verify);
    let topics = of_kind(&rendered, "KafkaTopic");
    // One KafkaTopic per owned topic; a dependency (payments.v1) is its owner's resource.
    assert_eq!(topics.len(), settings.owned_topics().count());
    assert!(!settings.topic("payments.v1").expect("payments").is_owned());
    assert!(
        topics
            .iter()
            .all(|kt| kt["metadata"]["name"] != "payments.v1"),
        "no KafkaTopic for a dependency"
    );
    for kt in topics {
        let name = kt["spec"]["topicName"]
            .as_str()
            .or(kt["metadata"]["name"].as_str())
            .expect("name");
        let topic = settings
            .topic(name)
            .unwrap_or_else(|| panic!("{name} not in the SDK model"));
        assert_eq!(kt["spec"]["partitions"], topic.spec.partitions, "{name}");
        assert_eq!(kt["spec"]["replicas"], topic.spec.replicas, "{name}");
        let config: BTreeMap<String, String> = kt["spec"]["config"]
            .as_object()
            .expect("config")
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        assert_eq!(config, topic.spec.config, "{name}");
    }
    assert_eq!(
        settings.topic("Orders_Legacy").expect("legacy").spec.config["cleanup.policy"],
        "compact,delete"
    );

    // The KafkaUser: valid for Strimzi, and its ACLs are exactly what `acls` derives.
    let users = of_kind(&rendered, "KafkaUser");
    assert_eq!(users.len(), 1);
    assert_eq!(validate_strimzi(&users), 1);
    let rendered_acls: std::collections::BTreeSet<(String, String, Vec<String>)> = users[0]["spec"]
        ["authorization"]["acls"]
        .as_array()
        .expect("acls")
        .iter()
        .map(|a| {
            (
                a["resource"]["type"].as_str().unwrap_or("").to_owned(),
                a["resource"]["name"]
                    .as_str()
                    .unwrap_or("kafka-cluster")
                    .to_owned(),
                a["operations"]
                    .as_array()
                    .expect("operations")
                    .iter()
                    .map(|o| o.as_str().unwrap_or("").to_owned())
                    .collect(),
            )
        })
        .collect();
    let derived: std::collections::BTreeSet<(String, String, Vec<String>)> =
        kafkadeps::access::required_acls(&settings, kafkadeps::access::AclOptions::default())
            .iter()
            .map(|a| {
                let kind = match a.resource {
                    kafkadeps::access::ResourceKind::Cluster => "cluster",
                    kafkadeps::access::ResourceKind::Group => "group",
                    kafkadeps::access::ResourceKind::TransactionalId => "transactionalId",
                    _ => "topic",
                };
                (
                    kind.to_owned(),
                    a.name.clone(),
                    a.operations.iter().map(|o| o.as_str().to_owned()).collect(),
                )
            })
            .collect();
    assert_eq!(
        rendered_acls, derived,
        "the chart and the SDK derive the same ACLs"
    );
}

#[test]
fn the_injector_renders_a_valid_webhook_with_each_values_file() {
    let chart = repo_root().join(INJECTOR);
    for values in INJECTOR_VALUES {
        let yaml = template(&chart, values, &[]).unwrap_or_else(|e| panic!("{values:?}: {e}"));
        validate_kubernetes(&yaml);
        let objects = objects(&yaml);
        let config = of_kind(&objects, "MutatingWebhookConfiguration");
        let webhook = &config[0]["webhooks"][0];
        assert_eq!(webhook["sideEffects"], "None");
        assert_eq!(webhook["reinvocationPolicy"], "IfNeeded");
        assert_eq!(webhook["admissionReviewVersions"][0], "v1");
        assert_eq!(
            webhook["namespaceSelector"]["matchLabels"]["kafkadeps.io/injection"],
            "enabled"
        );
        assert_eq!(webhook["rules"][0]["operations"][0], "CREATE");
        assert_eq!(webhook["clientConfig"]["service"]["path"], "/mutate");
        assert!(webhook["timeoutSeconds"].as_i64().expect("timeout") <= 5);
        let deployment = of_kind(&objects, "Deployment")[0];
        assert!(deployment["spec"]["replicas"].as_i64().expect("replicas") >= 2);
        let pod = &deployment["spec"]["template"]["spec"];
        assert!(pod["affinity"]["podAntiAffinity"].is_object());
        assert_eq!(pod["automountServiceAccountToken"], false);
        let container = &pod["containers"][0];
        assert_eq!(container["args"][0], "inject");
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"][0],
            "ALL"
        );
        assert_eq!(of_kind(&objects, "PodDisruptionBudget").len(), 1);
        assert!(
            of_kind(&objects, "Role").is_empty() && of_kind(&objects, "ClusterRole").is_empty()
        );
        let cert_manager = values.iter().any(|v| !v.is_empty());
        if cert_manager {
            assert!(
                config[0]["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].is_string()
            );
            assert_eq!(of_kind(&objects, "Certificate").len(), 1);
        } else {
            assert_eq!(webhook["failurePolicy"], "Fail", "the default");
            let secret = of_kind(&objects, "Secret")[0];
            assert_eq!(
                webhook["clientConfig"]["caBundle"],
                secret["data"]["ca.crt"]
            );
        }
    }
    let with_dashboard = objects(
        &template(
            &chart,
            &["charts/kafkadeps-injector/ci/cert-manager-values.yaml"],
            &[],
        )
        .expect("render"),
    );
    let cm = of_kind(&with_dashboard, "ConfigMap")[0];
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join(INJECTOR).join("dashboards/kafkadeps.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let rendered: Value =
        serde_json::from_str(cm["data"]["kafkadeps.json"].as_str().expect("data")).expect("JSON");
    assert_eq!(rendered, shipped);
}

#[test]
fn the_example_values_schema_is_the_library_schema() {
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(p)).expect(p)).expect(p)
    };
    let library = read("charts/kafkadeps/values.schema.json");
    for chart in ["orders-service", "billing-service"] {
        let example = read(&format!("examples/charts/{chart}/values.schema.json"));
        assert_eq!(
            example["properties"]["kafka"], library["properties"]["kafka"],
            "{chart}"
        );
    }
}

#[test]
fn invalid_values_fail_rendering_with_the_documented_messages() {
    let chart = example_chart();
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--set", "kafka.produces[0].name=bad topic!"],
            "topic name \"bad topic!\" is invalid: use 1-249 characters of a-z A-Z 0-9 . _ -",
            "/kafka/produces/0/name",
        ),
        (
            &[
                "--set",
                "kafka.produces[0].name=orders.v1",
                "--set",
                "kafka.produces[0].partitions=0",
            ],
            "topic \"orders.v1\": partitions must be 1..100000 (got 0)",
            "/kafka/produces/0/partitions",
        ),
        (
            &["--set", "kafka.topicPolicy=sometimes"],
            "kafka.topicPolicy \"sometimes\" is not one of create, reconcile, verify",
            "/kafka/topicPolicy",
        ),
        (
            &["--set", "kafka.bootstrapServers="],
            "kafka.bootstrapServers is required",
            "/kafka/bootstrapServers",
        ),
        (
            &[
                "--set",
                "kafka.consumes[0].name=payments.v1",
                "--set",
                "kafka.consumes[0].partitions=12",
            ],
            "topic \"payments.v1\" is only consumed, so its partitions and replicas are its owner's",
            "/kafka/consumes/0",
        ),
    ];
    for (set, message, schema_path) in cases {
        // The values schema refuses them first, naming the field…
        let error = template(&chart, &[], set).expect_err("schema refuses");
        assert!(
            error.contains(schema_path) || error.contains(&schema_path.replace('/', ".")[1..]),
            "{set:?}: {error}"
        );
        // …and the templates themselves, for charts that include the library without the schema.
        let mut skip = set.to_vec();
        skip.push("--skip-schema-validation");
        let error = template(&chart, &[], &skip).expect_err("template fails");
        assert!(
            error.contains("kafkadeps: ") && error.contains(message),
            "{set:?}: {error}"
        );
    }
}

#[test]
fn the_injector_chart_deploys_the_observer_with_only_pod_listing_rights() {
    let chart = repo_root().join(INJECTOR);
    let yaml = template(
        &chart,
        &["charts/kafkadeps-injector/ci/production-values.yaml"],
        &[
            "--set",
            "observer.enabled=true",
            "--set",
            "observer.namespace=shop",
        ],
    )
    .expect("render");
    validate_kubernetes(&yaml);
    let objects = objects(&yaml);
    let observer = of_kind(&objects, "Deployment")
        .into_iter()
        .find(|d| {
            d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-observer"))
        })
        .expect("observer deployment");
    let container = &observer["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        [
            "observe",
            "--kubernetes",
            "--listen",
            "0.0.0.0:9465",
            "--interval",
            "5s",
            "--namespace",
            "shop"
        ]
    );
    assert!(env_of(container).contains(&(
        "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
        "prod-kafka-kafka-bootstrap.kafka:9093".to_owned()
    )));
    let role = of_kind(&objects, "ClusterRole")[0];
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    );
    // Without bootstrap servers it cannot observe anything: refused at render.
    let err = template(&chart, &[], &["--set", "observer.enabled=true"]).unwrap_err();
    assert!(
        err.contains("observer.enabled needs injector.bootstrapServers"),
        "{err}"
    );
}

/// Validates the ScaledObjects of `yaml` against KEDA's CRD schema (from its Go module).
fn validate_keda(yaml: &str) -> Value {
    let crd = std::env::var("KAFKADEPS_KEDA_CRD")
        .expect("KAFKADEPS_KEDA_CRD (scripts/test.sh fetches KEDA's CRD)");
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/manifests.py"))
        .args(["crd", &crd])
        .arg(scratch_file(yaml))
        .output()
        .expect("python");
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "invalid for KEDA: {summary}");
    summary
}

#[test]
fn the_library_renders_a_keda_scaled_object_on_lag_in_seconds_valid_for_keda() {
    let chart = billing_chart();
    let values = "examples/charts/billing-service/ci/autoscaling-values.yaml";
    let yaml = template(&chart, &[values], &[]).expect("render");
    validate_kubernetes(&yaml);
    assert_eq!(
        validate_keda(&yaml)["validated"].as_array().map(Vec::len),
        Some(1)
    );
    let rendered = objects(&yaml);
    let scaled = of_kind(&rendered, "ScaledObject")[0];
    let deployment = of_kind(&rendered, "Deployment")[0];
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert_eq!(scaled["spec"]["minReplicaCount"], 0, "scale to zero");
    assert_eq!(
        scaled["spec"]["maxReplicaCount"], 12,
        "capped at the consumed topic's partitions"
    );
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    assert_eq!(
        trigger["metadata"]["query"],
        "max(kafkadeps_group_lag_seconds{group=\"billing\"})"
    );
    assert_eq!(trigger["metadata"]["threshold"], "10");
    // Off by default; refused without the Prometheus to ask.
    let plain = objects(&template(&chart, &[], &[]).expect("render"));
    assert!(of_kind(&plain, "ScaledObject").is_empty());
    assert!(
        of_kind(&rendered, "HorizontalPodAutoscaler").is_empty(),
        "autoscaler keda (the default) renders no HPA"
    );
    let err = template(
        &chart,
        &[],
        &[
            "--set",
            "kafka.autoscaling.enabled=true",
            "--set",
            "kafka.autoscaling.maxReplicas=3",
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("kafka.autoscaling.prometheusAddress is required"),
        "{err}"
    );
}

#[test]
fn the_library_renders_an_hpa_on_the_external_lag_metric_valid_for_kubernetes() {
    let chart = billing_chart();
    let hpa_values = [
        "--set",
        "kafka.autoscaling.autoscaler=hpa",
        "--set",
        "kafka.autoscaling.enabled=true",
        "--set",
        "kafka.autoscaling.maxReplicas=50",
        "--set",
        "kafka.consumes[0].name=orders.v1",
        "--set",
        "kafka.consumes[0].minPartitions=6",
    ];
    let yaml = template(&chart, &[], &hpa_values).expect("render");
    assert_eq!(
        validate_kubernetes(&yaml)["validated"]
            .as_array()
            .map(|kinds| kinds
                .iter()
                .filter(|k| *k == "HorizontalPodAutoscaler")
                .count()),
        Some(1),
        "validated strictly against autoscaling/v2"
    );
    let rendered = objects(&yaml);
    assert!(of_kind(&rendered, "ScaledObject").is_empty());
    let hpa = of_kind(&rendered, "HorizontalPodAutoscaler")[0];
    let deployment = of_kind(&rendered, "Deployment")[0];
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]})
    );
    assert_eq!(hpa["spec"]["minReplicas"], 1, "an HPA cannot scale to zero");
    assert_eq!(hpa["spec"]["maxReplicas"], 6, "capped at the partitions");
    assert_eq!(
        hpa["spec"]["metrics"][0],
        serde_json::json!({"type": "External", "external": {
            "metric": {"name": "kafkadeps_group_lag_seconds",
                       "selector": {"matchLabels": {"group": "billing"}}},
            "target": {"type": "AverageValue", "averageValue": "10"}}})
    );
    assert_eq!(
        hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        300
    );
    // Scale to zero is KEDA's: refused with the HPA; an unknown autoscaler is refused by the
    // schema.
    let mut zero = hpa_values.to_vec();
    zero.extend(["--set", "kafka.autoscaling.minReplicas=0"]);
    let err = template(&chart, &[], &zero).unwrap_err();
    assert!(
        err.contains("minReplicas must be at least 1 with autoscaler hpa"),
        "{err}"
    );
    let mut unknown = hpa_values.to_vec();
    unknown.extend(["--set", "kafka.autoscaling.autoscaler=vpa"]);
    let err = template(&chart, &[], &unknown).unwrap_err();
    assert!(err.contains("autoscaler"), "{err}");
}
