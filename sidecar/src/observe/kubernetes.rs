//! `--kubernetes`: services discovered from the cluster's pods through the API server — the
//! `kafkadeps.io/*` annotations the injector reads, and the literal `KAFKA_*` env of their
//! containers (values from ConfigMaps and Secrets are not resolved). A pod's service is its
//! `app.kubernetes.io/name` (or `app`) label, else its `KAFKA_APP`, else its name; replicas are
//! one service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::sampler::Sampler;
use super::services::{Service, service};
use crate::inject::annotations::TO_ENV;

const IN_CLUSTER: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach the API server: in the cluster by default (its service account), or as given.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct KubeArgs {
    /// With `--kubernetes`: the API server (default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`).
    #[arg(long)]
    kube_api: Option<String>,
    /// With `--kubernetes`: a file holding the bearer token (default: the service account's).
    #[arg(long)]
    kube_token_file: Option<PathBuf>,
    /// With `--kubernetes`: the API server's CA certificate (default: the service account's).
    #[arg(long)]
    kube_ca_file: Option<PathBuf>,
}

/// A client of the API server.
pub(crate) struct KubeApi {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl KubeApi {
    pub(crate) fn new(args: &KubeArgs) -> Result<Self, String> {
        let base = match &args.kube_api {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
                    "not in a cluster (no KUBERNETES_SERVICE_HOST); give --kube-api".to_owned()
                })?;
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                format!("https://{host}:{port}")
            }
        };
        let read = |given: &Option<PathBuf>, default: &str| -> Result<Vec<u8>, String> {
            let path = given
                .clone()
                .unwrap_or_else(|| Path::new(IN_CLUSTER).join(default));
            std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
        };
        let token = String::from_utf8_lossy(&read(&args.kube_token_file, "token")?)
            .trim()
            .to_owned();
        let cas = reqwest::Certificate::from_pem_bundle(&read(&args.kube_ca_file, "ca.crt")?)
            .map_err(|e| format!("the API server's CA is not PEM: {e}"))?;
        let client = cas
            .into_iter()
            .fold(
                reqwest::Client::builder(),
                reqwest::ClientBuilder::add_root_certificate,
            )
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot create the API client: {e}"))?;
        Ok(Self {
            base,
            token,
            client,
        })
    }

    /// The pods of `namespace` (or of every namespace).
    async fn pods(&self, namespace: Option<&str>) -> Result<serde_json::Value, String> {
        let url = match namespace {
            Some(ns) => format!("{}/api/v1/namespaces/{ns}/pods", self.base),
            None => format!("{}/api/v1/pods", self.base),
        };
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", crate::serve::chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: {status}"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not a pod list: {e}"))
    }
}

/// Lists the pods every `interval` and replaces the sampler's discovered services.
pub(crate) async fn discover(
    sampler: Arc<Sampler>,
    api: KubeApi,
    namespace: Option<String>,
    bootstrap: String,
    interval: Duration,
) {
    loop {
        match api.pods(namespace.as_deref()).await {
            Ok(pods) => sampler.set_discovered(services(&pods, &bootstrap)),
            Err(e) => {
                tracing::warn!(error = %e, "observe: cannot list pods; keeping the services found before")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// The kafkadeps services of a pod list.
pub(crate) fn services(pods: &serde_json::Value, bootstrap: &str) -> Vec<Service> {
    let mut found: BTreeMap<String, Service> = BTreeMap::new();
    for pod in pods["items"].as_array().into_iter().flatten() {
        let meta = &pod["metadata"];
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (annotation, var) in TO_ENV {
            if let Some(v) = meta["annotations"][*annotation].as_str() {
                env.insert((*var).to_owned(), v.trim().to_owned());
            }
        }
        for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
            for e in container["env"].as_array().into_iter().flatten() {
                if let (Some(name), Some(value)) = (e["name"].as_str(), e["value"].as_str())
                    && name.starts_with("KAFKA_")
                {
                    env.entry(name.to_owned())
                        .or_insert_with(|| value.to_owned());
                }
            }
        }
        if !["KAFKA_PRODUCES", "KAFKA_CONSUMES", "KAFKA_TOPIC"]
            .iter()
            .any(|v| env.contains_key(*v))
        {
            continue;
        }
        let labels = &meta["labels"];
        let name = labels["app.kubernetes.io/name"]
            .as_str()
            .or_else(|| labels["app"].as_str())
            .or_else(|| env.get("KAFKA_APP").map(String::as_str))
            .or_else(|| meta["name"].as_str())
            .unwrap_or("unknown")
            .to_owned();
        match service(&name, &env, bootstrap) {
            Ok(s) => {
                found.insert(name, s);
            }
            Err(e) => {
                tracing::warn!(pod = meta["name"].as_str().unwrap_or(""), error = %e, "observe: a pod's declarations are invalid; skipped")
            }
        }
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_declare_services_by_annotation_or_env_and_replicas_are_one() {
        let pods = serde_json::json!({"items": [
            {"metadata": {"name": "billing-1", "labels": {"app": "billing"},
                          "annotations": {"kafkadeps.io/inject": "true", "kafkadeps.io/consumes": "orders.v1"}},
             "spec": {"containers": [{"name": "app"}]}},
            {"metadata": {"name": "billing-2", "labels": {"app": "billing"},
                          "annotations": {"kafkadeps.io/inject": "true", "kafkadeps.io/consumes": "orders.v1"}},
             "spec": {"containers": [{"name": "app"}]}},
            {"metadata": {"name": "orders-7d9"},
             "spec": {"containers": [{"name": "app", "env": [
                 {"name": "KAFKA_APP", "value": "orders"},
                 {"name": "KAFKA_PRODUCES", "value": "orders.v1"},
                 {"name": "KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}}]}]}},
            {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "nginx"}]}}
        ]});
        let found = services(&pods, "127.0.0.1:9092");
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["billing", "orders"]);
        assert!(
            found[0]
                .settings
                .consumed_topics()
                .any(|t| t.name == "orders.v1")
        );
        assert!(
            found[1]
                .settings
                .produced_topics()
                .any(|t| t.name == "orders.v1")
        );
    }
}
