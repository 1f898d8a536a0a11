//! kafkadeps where users run it: the images (`scripts/images.sh build`) on a real Kubernetes
//! node (`scripts/kube.sh up DIR --node`: API server, controller manager, scheduler, containerd,
//! kubelet), installed with the real helm, against the test cluster.
//!
//! One node serves every step, in order: the injector chart; the example services' charts
//! (orders-service → billing-service, on the SDK) and an injected Python app (through its
//! sidecar); a roll of each Deployment under load; a pod deleted under load; the sidecar
//! SIGKILLed; a real Prometheus scraping the pods through their annotations. Every record is
//! accounted for through Kafka itself: what reached a source topic must reach its output topic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafkadeps_tests::containers::image_tag;
use kafkadeps_tests::kube::ApiServer;
use kafkadeps_tests::{
    ReadRecord, bootstrap, end_offsets, eventually, free_port, http_get, read_all, repo_root,
    unique,
};
use serde_json::{Value, json};

const NS: &str = "shop";
/// Orders (and Python records) a second while the steps run.
const RATE: u32 = 20;
const GRACE_SECONDS: u64 = 45;

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// The topics and groups of one run (the Kafka cluster is shared with other tests).
struct Names {
    orders: String,
    billed: String,
    billing_group: String,
    py: String,
    done: String,
    py_group: String,
}

impl Names {
    fn new() -> Self {
        Self {
            orders: unique("e2e-orders"),
            billed: unique("e2e-billed"),
            billing_group: unique("e2e-billing"),
            py: unique("e2e-py"),
            done: unique("e2e-py-done"),
            py_group: unique("e2e-py-g"),
        }
    }
}

/// The cluster with its node, and the helm that installs into it.
struct Cluster {
    api: ApiServer,
    tag: String,
    values: PathBuf,
}

impl Cluster {
    fn helm(&self, args: &[&str]) -> String {
        let helm = std::env::var("KAFKADEPS_HELM").unwrap_or_else(|_| "helm".to_owned());
        let out = Command::new(helm)
            .args(args)
            .arg("--kubeconfig")
            .arg(self.api.kubeconfig())
            .output()
            .expect("helm (scripts/test.sh builds it)");
        assert!(
            out.status.success(),
            "helm {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `helm upgrade --install` of `chart` as `release` in `namespace` with `values`.
    fn install(&self, release: &str, chart: &str, namespace: &str, values: &Value) {
        let file = self.values.join(format!("{}.json", unique(release)));
        std::fs::write(&file, values.to_string()).expect("values file");
        let chart = repo_root().join(chart);
        let (chart, file) = (chart.to_string_lossy(), file.to_string_lossy());
        // The example charts include the library chart from the checkout.
        if chart.contains("examples/charts") {
            self.helm(&["dependency", "update", "--skip-refresh", &chart]);
        }
        self.helm(&[
            "upgrade",
            "--install",
            release,
            &chart,
            "--namespace",
            namespace,
            "--create-namespace",
            "--values",
            &file,
            "--wait",
            "--timeout",
            "180s",
        ]);
    }

    fn pods(&self, namespace: &str, selector: &str) -> Vec<Value> {
        self.api.get(&format!(
            "/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
        ))["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The one running pod of `selector` once it is Ready (and the only pod).
    async fn ready_pod(&self, namespace: &str, selector: &str) -> Value {
        eventually(
            Duration::from_secs(180),
            &format!("{selector} ready"),
            || {
                let pods = self.pods(namespace, selector);
                async move {
                    let [pod] = pods.as_slice() else { return None };
                    (pod["metadata"]["deletionTimestamp"].is_null() && ready(pod))
                        .then(|| pod.clone())
                }
            },
        )
        .await
    }

    /// Waits until Deployment `name` rolled out completely: every pod updated, available, and
    /// the old ones gone.
    async fn rolled_out(&self, namespace: &str, name: &str, selector: &str) {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
        eventually(
            Duration::from_secs(240),
            &format!("{name} rolled out"),
            || {
                let d = self.api.get(&path);
                let pods = self.pods(namespace, selector);
                async move {
                    let (spec, status) = (&d["spec"], &d["status"]);
                    let want = spec["replicas"].as_i64()?;
                    (status["observedGeneration"] == d["metadata"]["generation"]
                        && status["updatedReplicas"].as_i64().unwrap_or(0) == want
                        && status["availableReplicas"].as_i64().unwrap_or(0) == want
                        && i64::try_from(pods.len()).ok()? == want)
                        .then_some(())
                }
            },
        )
        .await;
    }

    /// The container's log so far (every restart), from the kubelet's files.
    fn log(&self, pod: &Value, container: &str) -> String {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let dir = self
            .api
            .dir()
            .join("pod-logs")
            .join(format!("{NS}_{name}_{uid}"))
            .join(container);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect()
    }
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The CRI timestamp (ns since the epoch, from the RFC 3339 prefix) of the first line of `log`
/// that contains `needle`.
fn logged_at(log: &str, needle: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split(' ').next())
        .map(str::to_owned)
}

/// Values shared by the two example service charts.
fn service_values(c: &Cluster, image: &str, kafka: Value, args: &[&str], roll: &str) -> Value {
    json!({
        "image": {"repository": format!("kafkadeps/{image}"), "tag": c.tag, "pullPolicy": "Never"},
        "replicaCount": 1,
        "args": args,
        "env": [{"name": "ROLL", "value": roll}],
        "pod": {"hostNetwork": true, "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": GRACE_SECONDS},
        // One node, one host network: a pod's ports are free only once the old one is gone.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        "kafka": kafka,
    })
}

fn orders_values(c: &Cluster, n: &Names, roll: &str, rate: u32) -> Value {
    let rate = rate.to_string();
    service_values(
        c,
        "orders-service",
        json!({
            "bootstrapServers": bootstrap(), "app": "e2e-orders",
            "produces": [{"name": n.orders, "partitions": 3}], "consumes": [],
            "metrics": {"port": 19501},
        }),
        &["--rate", &rate],
        roll,
    )
}

fn billing_values(c: &Cluster, n: &Names, roll: &str) -> Value {
    service_values(
        c,
        "billing-service",
        json!({
            "bootstrapServers": bootstrap(), "app": "e2e-billing", "group": n.billing_group,
            "consumes": [{"name": n.orders}], "produces": [{"name": n.billed, "partitions": 3}],
            "metrics": {"port": 19502},
        }),
        &[],
        roll,
    )
}

/// The Python app's Deployment: annotated for injection, no sidecar of its own.
fn python_deployment(c: &Cluster, n: &Names, roll: &str, rate: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "python-app", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "python-app"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "labels": {"app": "python-app"},
                    "annotations": {
                        "kafkadeps.io/inject": "true",
                        "kafkadeps.io/produces": format!("{}(partitions=3), {}(partitions=3)", n.py, n.done),
                        "kafkadeps.io/consumes": n.py,
                        "kafkadeps.io/group": n.py_group,
                        "kafkadeps.io/app-port": "8080",
                    },
                },
                "spec": {
                    "hostNetwork": true,
                    "automountServiceAccountToken": false,
                    "terminationGracePeriodSeconds": GRACE_SECONDS,
                    "containers": [{
                        "name": "app",
                        "image": format!("kafkadeps/python-app:{}", c.tag),
                        "imagePullPolicy": "Never",
                        "args": ["serve", "--topic", n.py, "--rate", rate.to_string(), "--done-topic", n.done],
                        "env": [{"name": "ROLL", "value": roll}],
                        "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            },
        },
    })
}

/// Replaces the Python app's Deployment spec (a new `roll` or rate rolls it).
fn update_python(c: &Cluster, n: &Names, roll: &str, rate: u32) {
    let path = format!("/apis/apps/v1/namespaces/{NS}/deployments/python-app");
    let mut current = c.api.get(&path);
    current["spec"] = python_deployment(c, n, roll, rate)["spec"].clone();
    let r = c.api.request("PUT", &path, Some(&current));
    assert_eq!(r.status, 200, "{}", r.body);
}

/// What became of the records of a source topic: every key of `source` must be in `output`.
struct Accounting {
    /// Source records without an output record.
    lost: Vec<String>,
    /// Keys with more than one output record.
    duplicated: usize,
    /// Of those, keys of source records sent during `window` (the rolls).
    duplicated_in_window: usize,
    /// Largest delay from a source record to its first output, over sources in `window`.
    max_delay_ms: i64,
    sources: usize,
}

fn account(source: &[ReadRecord], output: &[ReadRecord], window: (i64, i64)) -> Accounting {
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for o in output {
        *count.entry(&o.key).or_default() += 1;
        let at = o.timestamp.unwrap_or(i64::MAX);
        first
            .entry(&o.key)
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }
    let lost = source
        .iter()
        .filter(|s| !first.contains_key(s.key.as_str()))
        .map(|s| s.key.clone())
        .collect();
    let max_delay_ms = source
        .iter()
        .filter_map(|s| {
            let sent = s.timestamp?;
            let done = *first.get(s.key.as_str())?;
            (window.0..=window.1).contains(&sent).then_some(done - sent)
        })
        .max()
        .unwrap_or(0);
    let in_window = |s: &&ReadRecord| {
        s.timestamp
            .is_some_and(|t| (window.0..=window.1).contains(&t))
    };
    Accounting {
        lost,
        duplicated_in_window: source
            .iter()
            .filter(in_window)
            .filter(|s| count.get(s.key.as_str()).is_some_and(|n| *n > 1))
            .count(),
        duplicated: count.values().filter(|n| **n > 1).count(),
        max_delay_ms,
        sources: source.len(),
    }
}

/// Waits until every record of `source` has an output in `output` (or the deadline passes), then
/// accounts for them: delays run from a source record's timestamp to its first output's.
async fn settle(source: &str, output: &str, window: (i64, i64)) -> Accounting {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let src = read_all(source, 0, Duration::from_secs(120)).await;
        let out = read_all(output, 0, Duration::from_secs(120)).await;
        let a = account(&src, &out, window);
        if a.lost.is_empty() || Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// A real Prometheus discovering pods through the API server and scraping those annotated with
/// `prometheus.io/scrape`, as the design's platform does.
fn prometheus(c: &Cluster, dir: &Path) -> (Child, String) {
    let port = free_port();
    let config = format!(
        r#"global: {{ scrape_interval: 2s }}
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        api_server: {api}
        tls_config: {{ ca_file: {ca} }}
        authorization: {{ credentials: {token} }}
    relabel_configs:
      - {{ source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true" }}
      - {{ source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme], action: drop, regex: https }}
      - {{ source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], target_label: __metrics_path__, regex: (.+) }}
      - {{ source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port], regex: "(.+);(.+)", replacement: "$1:$2", target_label: __address__ }}
      - {{ source_labels: [__meta_kubernetes_pod_name], target_label: pod }}
"#,
        api = c.api.url,
        ca = c.api.ca().display(),
        token = c.api.token(),
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus config");
    let bin = std::env::var("KAFKADEPS_PROMETHEUS").unwrap_or_else(|_| "prometheus".to_owned());
    let child = Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("prometheus.log"))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .spawn()
        .expect(
            "prometheus with Kubernetes discovery (KAFKADEPS_PROMETHEUS, built by scripts/test.sh)",
        );
    (child, format!("127.0.0.1:{port}"))
}

/// Finds the host pid of the `kafkadeps-sidecar serve` whose environment names `group`.
fn sidecar_pid(group: &str) -> Option<u32> {
    let needle = format!("KAFKA_GROUP_ID={group}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        (cmdline.starts_with(b"/usr/local/bin/kafkadeps-sidecar\0serve")
            && environ.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        .then_some(pid)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_real_node_pods_start_in_order_roll_drain_and_lose_nothing() {
    let Some(tag) = image_tag() else {
        eprintln!("skipping: KAFKADEPS_IMAGE_TAG is unset (scripts/test.sh builds the images)");
        return;
    };
    let scratch = std::env::temp_dir().join(unique("e2e"));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let c = Cluster {
        api: ApiServer::start_with_node(&tag),
        tag,
        values: scratch.clone(),
    };
    let n = Names::new();

    the_injector_chart_serves_the_webhook(&c).await;
    let (mut prom, prom_addr) = prometheus(&c, &scratch);
    the_services_start_with_their_sidecars_ready_first(&c, &n).await;
    let rolls = every_deployment_rolls_under_load(&c, &n).await;
    a_deleted_pod_drains_and_a_killed_sidecar_restarts(&c, &n).await;
    prometheus_scrapes_the_annotated_pods(&prom_addr).await;
    let _ = prom.kill();
    let _ = prom.wait();
    nothing_is_lost_once_the_producers_stop(&c, &n, rolls).await;
    std::fs::remove_dir_all(&scratch).ok();
}

/// Waits until `topic` holds at least `min` records; returns how many it holds.
async fn flowing(topic: &str, min: i64) -> i64 {
    eventually(
        Duration::from_secs(120),
        &format!("records in {topic}"),
        || {
            let got = end_offsets(topic);
            async move { (got >= min).then_some(got) }
        },
    )
    .await
}

async fn the_injector_chart_serves_the_webhook(c: &Cluster) {
    // 1. The injector chart: the webhook runs on the node, its configuration is live.
    let webhook_port = free_port();
    c.install(
        "kafkadeps-injector",
        "charts/kafkadeps-injector",
        "kafkadeps-system",
        &json!({
            "replicaCount": 1,
            "image": {"repository": "kafkadeps/injector", "tag": c.tag, "pullPolicy": "Never"},
            "hostNetwork": true,
            "webhook": {"url": format!("https://127.0.0.1:{webhook_port}/mutate")},
            "injector": {"port": webhook_port, "bootstrapServers": bootstrap(),
                         "sidecarImage": format!("kafkadeps/sidecar:{}", c.tag)},
        }),
    );
    let injector = c
        .ready_pod(
            "kafkadeps-system",
            "app.kubernetes.io/name=kafkadeps-injector",
        )
        .await;
    assert!(ready(&injector));
    let webhooks = c
        .api
        .get("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations");
    assert!(
        webhooks["items"]
            .as_array()
            .is_some_and(|ws| ws.iter().any(|w| {
                w["webhooks"][0]["clientConfig"]["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(&format!(":{webhook_port}/mutate")))
            })),
        "{webhooks}"
    );
    let readyz = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{webhook_port}/readyz"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&readyz.stdout),
        "200",
        "the webhook's /readyz"
    );
}

async fn the_services_start_with_their_sidecars_ready_first(c: &Cluster, n: &Names) {
    // 2. The services: orders → billing on the SDK, and the injected Python app.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "labels": {"kafkadeps.io/injection": "enabled"}}});
    c.api.create("/api/v1/namespaces", &ns);
    c.install(
        "billing",
        "examples/charts/billing-service",
        NS,
        &billing_values(c, n, "1"),
    );
    c.install(
        "orders",
        "examples/charts/orders-service",
        NS,
        &orders_values(c, n, "1", RATE),
    );
    c.api.create(
        &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
        &python_deployment(c, n, "1", RATE),
    );
    let py_pod = c.ready_pod(NS, "app=python-app").await;
    let spec = &py_pod["spec"];
    assert_eq!(
        spec["initContainers"][0]["name"], "kafkadeps",
        "injected first"
    );
    assert_eq!(
        spec["initContainers"][0]["restartPolicy"], "Always",
        "a native sidecar"
    );
    // The app started only once the sidecar was ready.
    let sidecar_ready = logged_at(&c.log(&py_pod, "kafkadeps"), r#""state":"Ready""#)
        .expect("the sidecar logged its readiness");
    let app_started = logged_at(&c.log(&py_pod, "app"), r#""listening""#).expect("the app started");
    assert!(
        sidecar_ready < app_started,
        "sidecar ready {sidecar_ready}, app {app_started}"
    );
    for selector in [
        "app.kubernetes.io/name=orders-service",
        "app.kubernetes.io/name=billing-service",
    ] {
        c.ready_pod(NS, selector).await;
    }
    flowing(&n.billed, 20).await;
    flowing(&n.done, 20).await;
}

/// Returns the rolls' window (ms since the epoch).
async fn every_deployment_rolls_under_load(c: &Cluster, n: &Names) -> (i64, i64) {
    // 3. Under load, roll each Deployment; old pods drain through their termination path.
    let roll_started = now_ms();
    c.install(
        "orders",
        "examples/charts/orders-service",
        NS,
        &orders_values(c, n, "2", RATE),
    );
    c.rolled_out(
        NS,
        "orders-orders-service",
        "app.kubernetes.io/name=orders-service",
    )
    .await;
    c.install(
        "billing",
        "examples/charts/billing-service",
        NS,
        &billing_values(c, n, "2"),
    );
    c.rolled_out(
        NS,
        "billing-billing-service",
        "app.kubernetes.io/name=billing-service",
    )
    .await;
    update_python(c, n, "2", RATE);
    c.rolled_out(NS, "python-app", "app=python-app").await;
    (roll_started, now_ms())
}

async fn a_deleted_pod_drains_and_a_killed_sidecar_restarts(c: &Cluster, n: &Names) {
    // 4. A pod deleted under load drains within its grace period; a SIGKILLed sidecar is
    // restarted by the kubelet while the app goes on.
    let billing = c
        .ready_pod(NS, "app.kubernetes.io/name=billing-service")
        .await;
    let deleted = Instant::now();
    let r = c.api.request(
        "DELETE",
        &format!("/api/v1/namespaces/{NS}/pods/{}", name(&billing)),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let drained = eventually(
        Duration::from_secs(GRACE_SECONDS + 30),
        "the deleted pod drained",
        || {
            let log = c.log(&billing, "billing");
            async move { log.contains("offsets committed").then(Instant::now) }
        },
    )
    .await;
    assert!(
        drained.duration_since(deleted) < Duration::from_secs(GRACE_SECONDS),
        "drained in {:?}",
        drained.duration_since(deleted)
    );
    c.ready_pod(NS, "app.kubernetes.io/name=billing-service")
        .await;

    let py_pod = c.ready_pod(NS, "app=python-app").await;
    let pid = sidecar_pid(&n.py_group).expect("the injected sidecar's process");
    let done_before = end_offsets(&n.done);
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let restarted = eventually(
        Duration::from_secs(120),
        "the kubelet restarted the sidecar",
        || {
            let pod = c
                .api
                .get(&format!("/api/v1/namespaces/{NS}/pods/{}", name(&py_pod)));
            async move {
                let s = &pod["status"]["initContainerStatuses"][0];
                (s["restartCount"].as_u64().unwrap_or(0) >= 1 && s["ready"] == true && ready(&pod))
                    .then_some(pod)
            }
        },
    )
    .await;
    assert_eq!(
        restarted["status"]["containerStatuses"][0]["restartCount"], 0,
        "the app kept running"
    );
    flowing(&n.done, done_before + 20).await;
}

async fn prometheus_scrapes_the_annotated_pods(prom_addr: &str) {
    // 5. Prometheus scrapes the pods through their annotations.
    let scraped = eventually(
        Duration::from_secs(120),
        "Prometheus scrapes the pods",
        || {
            let body = http_get(
                prom_addr,
                "/api/v1/query?query=sum%20by%20(pod)%20(kafkadeps_build_info)",
            )
            .map(|(_, b)| b)
            .unwrap_or_default();
            async move {
                let v: Value = serde_json::from_str(&body).ok()?;
                let pods: BTreeSet<String> = v["data"]["result"]
                    .as_array()?
                    .iter()
                    .filter_map(|r| r["metric"]["pod"].as_str().map(str::to_owned))
                    .collect();
                let kinds = ["orders-", "billing-", "python-app-"];
                kinds
                    .iter()
                    .all(|k| pods.iter().any(|p| p.starts_with(k)))
                    .then_some(pods)
            }
        },
    )
    .await;
    eprintln!("Prometheus scraped {scraped:?}");
}

async fn nothing_is_lost_once_the_producers_stop(c: &Cluster, n: &Names, window: (i64, i64)) {
    // The producers stop (orders scaled to none, the app rolled to a rate of 0); then every
    // record that reached a source topic must have reached its output.
    let mut stopped = orders_values(c, n, "3", RATE);
    stopped["replicaCount"] = json!(0);
    c.install("orders", "examples/charts/orders-service", NS, &stopped);
    update_python(c, n, "3", 0);
    c.rolled_out(NS, "python-app", "app=python-app").await;
    let orders = settle(&n.orders, &n.billed, window).await;
    let py = settle(&n.py, &n.done, window).await;
    // (pipeline, whether a graceful roll must duplicate nothing): the SDK pipeline does; the
    // sidecar pipeline occasionally processes a few records of the roll twice (at-least-once;
    // an open gap, docs/kubernetes.md), so there only loss fails the test.
    for (what, a, no_duplicates) in [
        ("orders → billing", &orders, true),
        ("python-app → python-app", &py, false),
    ] {
        eprintln!(
            "{what}: {} records, {} lost, {} duplicated keys ({} of records sent during the \
             rolls), largest end-to-end delay during the rolls {} ms",
            a.sources,
            a.lost.len(),
            a.duplicated,
            a.duplicated_in_window,
            a.max_delay_ms
        );
        assert!(a.sources > 100, "{what}: load was running");
        if no_duplicates {
            assert_eq!(
                a.duplicated_in_window, 0,
                "{what}: a graceful roll duplicates nothing"
            );
        }
        assert!(
            a.lost.is_empty(),
            "{what}: lost {:?}…",
            a.lost.iter().take(5).collect::<Vec<_>>()
        );
    }
}
