//! Push pipelines of the sidecar tests: the Python app receiving and a sidecar producing and
//! consuming a new topic in a new group, pushing to the app; and the HTTP helpers the sidecar
//! tests share.

use std::path::Path;
use std::time::Duration;

use crate::eventually;
use crate::sidecar::{App, Received, Sidecar, journal, run_app};

/// A push pipeline: the Python app receiving, and a sidecar producing and consuming a new topic
/// in a new group and pushing to the app.
pub struct Push {
    /// The app receiving pushes (its journal records each).
    pub app: App,
    /// The sidecar producing, consuming and pushing.
    pub sidecar: Sidecar,
    /// The topic, new for the test.
    pub topic: String,
    /// The consumer group, new for the test.
    pub group: String,
}

/// [`push_setup`], ready, with `count` records produced by the app through the sidecar.
pub async fn push_pipeline(
    dir: &Path,
    partitions: u32,
    app_env: &[(&str, &str)],
    count: usize,
) -> Push {
    push_pipeline_with(dir, partitions, app_env, &[], count).await
}

/// The app receiving (with `app_env`) and a sidecar (with `sidecar_env`, not ready yet)
/// producing and consuming a new topic of `partitions` in a new group, pushing to the app.
pub fn push_setup(
    dir: &Path,
    partitions: u32,
    app_env: &[(&str, &str)],
    sidecar_env: &[(&str, &str)],
) -> Push {
    let (topic, group) = (crate::unique("sc-push"), crate::unique("sc-push-g"));
    let app = App::receive(dir, app_env);
    let declared = format!("{topic}(partitions={partitions})");
    let deliver_url = app.deliver_url();
    let mut env = vec![
        ("KAFKA_PRODUCES", declared.as_str()),
        ("KAFKA_CONSUMES", topic.as_str()),
        ("KAFKA_GROUP_ID", group.as_str()),
        ("KAFKA_SIDECAR_DELIVER_URL", deliver_url.as_str()),
    ];
    env.extend_from_slice(sidecar_env);
    let sidecar = Sidecar::start(dir, &env);
    Push {
        app,
        sidecar,
        topic,
        group,
    }
}

/// [`push_pipeline`] with extra sidecar variables.
pub async fn push_pipeline_with(
    dir: &Path,
    partitions: u32,
    app_env: &[(&str, &str)],
    sidecar_env: &[(&str, &str)],
    count: usize,
) -> Push {
    let push = push_setup(dir, partitions, app_env, sidecar_env);
    let Push { sidecar, topic, .. } = &push;
    sidecar.ready().await;
    let count = count.to_string();
    run_app(
        &sidecar.url(),
        None,
        &["produce", "--topic", topic, "--count", &count],
    )
    .await;
    push
}

/// Waits until the app's journal satisfies `done`; returns its entries.
pub async fn journal_when(
    path: &Path,
    deadline: Duration,
    what: &str,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    eventually(deadline, what, || {
        let entries = journal(path);
        let ok = done(&entries);
        async move { ok.then_some(entries) }
    })
    .await
}

/// Checks one error response: status, problem+json, fields consistent with the status.
pub async fn expect_problem(response: reqwest::Response, status: u16, kind: &str) {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("https://kafkadeps.io/problems/{kind}"),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

/// A request producing a minimal CloudEvent `id` in the HTTP binary mode to `topic`.
pub fn binary_event(
    client: &reqwest::Client,
    sidecar: &Sidecar,
    topic: &str,
    id: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/v1/topics/{topic}/events", sidecar.url()))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/test")
        .header("ce-type", "t")
        .header("content-type", "application/json")
        .body("{}")
}
