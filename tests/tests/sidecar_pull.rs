//! Pull consumption through the real sidecar binary, as an app sees it over HTTP: leases, so
//! that an app restarting mid-batch or several pollers sharing one sidecar lose nothing; lease
//! expiry; nacks (retry, dead-letter); redelivery after a sidecar restart.

use std::collections::BTreeSet;
use std::time::Duration;

use kafkadeps::consumer::dlq_headers;
use kafkadeps_tests::sidecar::{
    Polled, Puller, Sidecar, all_committed, assert_first_processing_in_order,
    assert_partition_order, journal, processed_keys, run_app, run_app_with, scratch,
};
use kafkadeps_tests::{committed_offsets, read_all, unique};

/// A ready sidecar producing and pull-consuming a new topic of `partitions` in a new group,
/// with `env` on top, and `count` records produced through it by the Python app (keys
/// `order-0`…).
async fn pull_pipeline(
    dir: &std::path::Path,
    partitions: u32,
    env: &[(&str, &str)],
    count: usize,
) -> (Sidecar, String, String) {
    let (topic, group) = (unique("sc-pull"), unique("sc-pull-g"));
    let declared = format!("{topic}(partitions={partitions})");
    let mut all = vec![
        ("KAFKA_PRODUCES", declared.as_str()),
        ("KAFKA_CONSUMES", topic.as_str()),
        ("KAFKA_GROUP_ID", group.as_str()),
    ];
    all.extend_from_slice(env);
    let sidecar = Sidecar::start(dir, &all);
    sidecar.ready().await;
    if count > 0 {
        let count = count.to_string();
        run_app(
            &sidecar.url(),
            None,
            &["produce", "--topic", &topic, "--count", &count],
        )
        .await;
    }
    (sidecar, topic, group)
}

/// Polls until `n` records were handed out (by one poll or several, each with its lease).
async fn poll_until(pull: &Puller, n: usize) -> Vec<Polled> {
    let mut polls = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while polls
        .iter()
        .map(|p: &Polled| p.records.len())
        .sum::<usize>()
        < n
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} records polled in time"
        );
        let polled = pull.poll(n, 10_000).await;
        if !polled.records.is_empty() {
            polls.push(polled);
        }
    }
    polls
}

/// The (partition, offset) of every record of `polls`, in the order handed out.
fn positions(polls: &[Polled]) -> Vec<(i32, i64)> {
    polls.iter().flat_map(Polled::positions).collect()
}

fn all_keys(count: usize) -> BTreeSet<String> {
    (0..count).map(|i| format!("order-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_delivers_ten_thousand_records_with_explicit_commits() {
    const RECORDS: usize = 10_000;
    let dir = scratch("sidecar-pull");
    let (sidecar, topic, group) = pull_pipeline(&dir, 3, &[], RECORDS).await;
    let path = dir.join("pulled.jsonl");
    let count = RECORDS.to_string();
    run_app(
        &sidecar.url(),
        Some(&path),
        &[
            "pull",
            "--group",
            &group,
            "--expect",
            &count,
            "--max-records",
            "500",
        ],
    )
    .await;
    let entries = journal(&path);
    let keys = processed_keys(&entries);
    assert_eq!(keys.len(), RECORDS);
    assert!(keys.values().all(|n| *n == 1), "a record was pulled twice");
    assert_partition_order(&entries);
    all_committed(&group, &topic, 3, RECORDS as i64).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_restarting_mid_batch_under_a_running_sidecar_loses_nothing() {
    let dir = scratch("sidecar-pull-restart");
    let (sidecar, topic, group) =
        pull_pipeline(&dir, 3, &[("KAFKA_SIDECAR_PULL_LEASE", "3s")], 100).await;
    let path = dir.join("pulled.jsonl");
    // The first life polls 50 records, processes 30 of them and dies without committing.
    let (code, out) = run_app_with(
        &sidecar.url(),
        Some(&path),
        &[],
        &[
            "pull",
            "--group",
            &group,
            "--max-records",
            "50",
            "--exit-after",
            "30",
        ],
    )
    .await;
    assert_eq!(code, Some(3), "the first life died mid-batch: {out}");
    assert_eq!(processed_keys(&journal(&path)).len(), 30);
    // The restarted app commits what it gets; the first life's records come back to it once
    // their lease expired, and nothing is committed that was not processed.
    run_app(
        &sidecar.url(),
        Some(&path),
        &["pull", "--group", &group, "--expect", "100"],
    )
    .await;
    let entries = journal(&path);
    let processed: BTreeSet<String> = processed_keys(&entries).into_keys().collect();
    assert_eq!(processed, all_keys(100), "every record was processed");
    // The restarted app waited for the dead one's lease: each partition went on in order.
    assert_first_processing_in_order(&entries);
    all_committed(&group, &topic, 3, 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pollers_sharing_a_sidecar_acknowledge_only_their_own_records() {
    const RECORDS: usize = 2000;
    let dir = scratch("sidecar-pull-workers");
    let (sidecar, topic, group) =
        pull_pipeline(&dir, 3, &[("KAFKA_SIDECAR_PULL_LEASE", "2s")], RECORDS).await;
    let path = dir.join("pulled.jsonl");
    // Three workers poll one sidecar at once and commit independently; each drops every fourth
    // batch unprocessed (a worker recycled), which the others' commits must not acknowledge.
    let count = RECORDS.to_string();
    run_app(
        &sidecar.url(),
        Some(&path),
        &[
            "pull",
            "--group",
            &group,
            "--expect",
            &count,
            "--workers",
            "3",
            "--max-records",
            "20",
            "--abandon-every",
            "4",
        ],
    )
    .await;
    let entries = journal(&path);
    // A partition is worked by one poller at a time, so its records were processed in order.
    assert_first_processing_in_order(&entries);
    let processed: BTreeSet<String> = processed_keys(&entries).into_keys().collect();
    let lost: Vec<_> = all_keys(RECORDS)
        .difference(&processed)
        .take(5)
        .cloned()
        .collect();
    assert!(lost.is_empty(), "0 lost, but not processed: {lost:?}…");
    all_committed(&group, &topic, 3, RECORDS as i64).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn records_whose_lease_expired_are_handed_out_again_in_offset_order() {
    let dir = scratch("sidecar-pull-lease");
    let (sidecar, topic, group) =
        pull_pipeline(&dir, 1, &[("KAFKA_SIDECAR_PULL_LEASE", "2s")], 10).await;
    let pull = Puller::new(&sidecar, &group);
    let first = poll_until(&pull, 10).await;
    assert!(first.iter().all(|p| p.lease_expires_in_ms == 2000));
    assert_eq!(
        positions(&first),
        (0..10).map(|o| (0, o)).collect::<Vec<_>>()
    );
    // Leased: nobody else gets them meanwhile.
    assert!(pull.poll(10, 0).await.records.is_empty());
    // Polls waiting past the expiry get them again, in offset order, under new leases.
    let again = poll_until(&pull, 10).await;
    assert_eq!(positions(&again), positions(&first));
    for (old, new) in first.iter().zip(&again) {
        assert_ne!(old.lease, new.lease);
        let (status, body) = pull.commit(old.lease(), &[(&topic, 0, 10)]).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["type"], "https://kafkadeps.io/problems/lease-expired");
    }
    let mut acknowledged = 0;
    for p in &again {
        let (status, body) = pull.commit(p.lease(), &[(&topic, 0, 10)]).await;
        assert_eq!(status, 200, "{body}");
        acknowledged += body["acknowledged"].as_u64().expect("acknowledged");
    }
    assert_eq!(acknowledged, 10);
    all_committed(&group, &topic, 1, 10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nacked_record_is_retried_and_a_dead_lettered_one_lands_in_the_dlq() {
    let dir = scratch("sidecar-pull-nack");
    let (sidecar, topic, group) = pull_pipeline(&dir, 1, &[], 5).await;
    let pull = Puller::new(&sidecar, &group);
    let polls = poll_until(&pull, 5).await;
    let lease_of = |offset: i64| {
        polls
            .iter()
            .find(|p| p.positions().contains(&(0, offset)))
            .map(Polled::lease)
            .expect("handed out")
    };
    let (status, body) = pull
        .nack(lease_of(1), &[(&topic, 0, 1)], "retry", "database down")
        .await;
    assert_eq!((status, body["nacked"].as_u64()), (200, Some(1)), "{body}");
    let (status, body) = pull
        .nack(lease_of(3), &[(&topic, 0, 3)], "dead_letter", "bad payload")
        .await;
    assert_eq!((status, body["nacked"].as_u64()), (200, Some(1)), "{body}");
    // The commits acknowledge the others; the nacked ones are no longer their lease's.
    let mut acknowledged = 0;
    for p in &polls {
        let (status, body) = pull.commit(p.lease(), &[(&topic, 0, 5)]).await;
        assert_eq!(status, 200, "{body}");
        acknowledged += body["acknowledged"].as_u64().expect("acknowledged");
    }
    assert_eq!(acknowledged, 3);
    // The retried record comes back after the runtime's backoff, under a new lease.
    let retried = pull.poll(5, 10_000).await;
    assert_eq!(retried.positions(), [(0, 1)]);
    assert_eq!(retried.keys(), ["order-1"]);
    assert!(
        committed_offsets(&group, &topic, 1)[0] <= 1,
        "the commit does not pass the retried record"
    );
    let (status, _) = pull.commit(retried.lease(), &[(&topic, 0, 2)]).await;
    assert_eq!(status, 200);
    all_committed(&group, &topic, 1, 5).await;

    let dead = read_all(&format!("{topic}.dlq"), 1, Duration::from_secs(60)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "order-3");
    let header = |name: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("header {name}"))
    };
    assert_eq!(header(dlq_headers::ORIGINAL_TOPIC), topic.as_bytes());
    assert_eq!(header(dlq_headers::ORIGINAL_PARTITION), 0i32.to_be_bytes());
    assert_eq!(header(dlq_headers::ORIGINAL_OFFSET), 3i64.to_be_bytes());
    assert_eq!(
        header(dlq_headers::ORIGINAL_CONSUMER_GROUP),
        group.as_bytes()
    );
    assert_eq!(header(dlq_headers::EXCEPTION_FQCN), b"kafkadeps.permanent");
    assert!(
        String::from_utf8_lossy(&header(dlq_headers::EXCEPTION_MESSAGE)).contains("bad payload")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pulled_but_uncommitted_records_are_redelivered_after_a_sidecar_restart() {
    let dir = scratch("sidecar-redeliver");
    let (topic, group) = (unique("sc-redo"), unique("sc-redo-g"));
    let declared = format!("{topic}(partitions=1)");
    let env = [
        ("KAFKA_PRODUCES", declared.as_str()),
        ("KAFKA_CONSUMES", topic.as_str()),
        ("KAFKA_GROUP_ID", group.as_str()),
    ];
    let mut sidecar = Sidecar::start(&dir, &env);
    // The postStart hook of a non-native sidecar returns once the sidecar is ready.
    assert_eq!(sidecar.wait_hook("60s").await, Some(0));
    sidecar.ready().await;
    run_app(
        &sidecar.url(),
        None,
        &["produce", "--topic", &topic, "--count", "10"],
    )
    .await;
    let pull = Puller::new(&sidecar, &group);
    let first = poll_until(&pull, 10).await;
    assert_eq!(
        positions(&first),
        (0..10).map(|o| (0, o)).collect::<Vec<_>>()
    );
    let mut acknowledged = 0;
    for p in &first {
        let (status, body) = pull.commit(p.lease(), &[(&topic, 0, 6)]).await;
        assert_eq!(status, 200, "{body}");
        acknowledged += body["acknowledged"].as_u64().expect("acknowledged");
    }
    assert_eq!(acknowledged, 6);
    // The preStop hook drains: acknowledged records are committed, the process exits 0.
    assert_eq!(sidecar.drain().await, Some(0));
    assert_eq!(sidecar.exit_code(Duration::from_secs(10)).await, Some(0));
    assert_eq!(committed_offsets(&group, &topic, 1), [6]);

    let restarted = sidecar.restart(&dir);
    restarted.ready().await;
    let pull = Puller::new(&restarted, &group);
    // A lease of the earlier process is not this one's.
    let (status, _) = pull.commit(first[0].lease(), &[(&topic, 0, 10)]).await;
    assert_eq!(status, 409);
    let again = pull.poll(10, 5000).await;
    assert_eq!(
        again.positions().first(),
        Some(&(0, 6)),
        "redelivered from the commit: {:?}",
        again.positions()
    );
}
