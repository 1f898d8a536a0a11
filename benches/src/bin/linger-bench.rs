//! The producer's latency/CPU trade-off, per `linger.ms`: a lone record's end-to-end latency at a
//! low rate (one record every 5 ms, the handler of the SDK's consumer runtime timing it from the
//! send call), what an idle producer costs, and throughput and CPU per record under load.
//!
//! ```sh
//! cargo build --release -p kafkadeps-benches --bin linger-bench
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092 \
//!   $CARGO_TARGET_DIR/release/linger-bench [--lingers 0,1,5,20] [--rounds 3] [--seconds 10]
//! ```
//!
//! Rounds alternate the settings so every setting sees the same broker conditions; the table
//! holds medians over rounds. CPU is the whole process's (producer and consumer), so the
//! differences between rows are the producer's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafkadeps::{HandlerError, Kafka, OutgoingRecord, Record, Settings};
use kafkadeps_benches::{bootstrap, median, percentile, process_cpu, produce_kafkadeps, unique};

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

struct Args {
    lingers: Vec<String>,
    rounds: usize,
    seconds: u64,
    rate: u32,
}

fn args() -> Args {
    let value = kafkadeps_benches::flag;
    Args {
        lingers: value("--lingers")
            .unwrap_or_else(|| "0,1,5,20".into())
            .split(',')
            .map(str::to_owned)
            .collect(),
        rounds: value("--rounds").map_or(3, |v| v.parse().expect("--rounds N")),
        seconds: value("--seconds").map_or(10, |v| v.parse().expect("--seconds S")),
        rate: value("--rate").map_or(200, |v| v.parse().expect("--rate N")),
    }
}

/// One round of one setting.
struct Round {
    e2e_p50_ms: f64,
    e2e_p99_ms: f64,
    ack_p50_ms: f64,
    low_rate_cpu_pct: f64,
    idle_cpu_pct: f64,
    burst_per_s: f64,
    burst_cpu_us_per_record: f64,
}

fn settings(linger: &str, topic: &str, group: &str) -> Settings {
    let mut builder = Settings::builder(bootstrap())
        .app("linger-bench")
        .group_id(group)
        .produces(format!("{topic}(partitions=6)"))
        .consumes(topic)
        .clamp_replicas()
        .metrics_listen("off");
    if linger != "default" {
        builder = builder.client_property("linger.ms", linger);
    }
    builder.build().expect("settings")
}

async fn round(linger: &str, a: &Args) -> Round {
    let (topic, group) = (unique("linger"), unique("linger-g"));
    let kafka = Kafka::start(settings(linger, &topic, &group))
        .await
        .expect("kafkadeps starts");
    let n = usize::try_from(u64::from(a.rate) * a.seconds).expect("count");
    let e2e = Arc::new(Mutex::new(Vec::<f64>::with_capacity(n)));
    let all_seen = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(tokio::sync::Notify::new());
    let (seen, done, stopped) = (Arc::clone(&e2e), Arc::clone(&all_seen), Arc::clone(&stop));
    let (_stats, running) = kafka
        .consumer()
        .without_signal_handlers()
        .shutdown_on(async move { stopped.notified().await })
        .start(move |record: Record| {
            let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
            async move {
                let sent: u64 = std::str::from_utf8(record.payload().unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let ms = micros_now().saturating_sub(sent) as f64 / 1000.0;
                let mut seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                seen.push(ms);
                if seen.len() == n {
                    done.notify_one();
                }
                Ok::<(), HandlerError>(())
            }
        })
        .expect("consumer starts");
    let consumer = tokio::spawn(running);
    // Let the group settle (assignment) before timing anything.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let producer = kafka.producer().clone();
    let cpu_start = process_cpu();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / a.rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut acks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tick.tick().await;
        let (p, topic) = (producer.clone(), topic.clone());
        acks.spawn(async move {
            let record = OutgoingRecord::new(&topic).with_payload(micros_now().to_string());
            let sent = Instant::now();
            p.send(record).await.expect("acknowledged");
            sent.elapsed().as_secs_f64() * 1000.0
        });
    }
    let mut ack_ms = Vec::with_capacity(n);
    while let Some(ms) = acks.join_next().await {
        ack_ms.push(ms.expect("send task"));
    }
    tokio::time::timeout(Duration::from_secs(60), all_seen.notified())
        .await
        .expect("every record reached the handler");
    let low_rate_cpu_pct =
        (process_cpu() - cpu_start).as_secs_f64() / started.elapsed().as_secs_f64() * 100.0;

    // Idle: the producer has nothing to send (the consumer keeps polling, as in every row).
    let (cpu_idle, idle_started) = (process_cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu_pct =
        (process_cpu() - cpu_idle).as_secs_f64() / idle_started.elapsed().as_secs_f64() * 100.0;
    stop.notify_one();
    consumer.await.expect("consumer task").expect("consumer");

    // Under load: 200,000 records of 100 B, 10,000 in flight.
    const BURST: usize = 200_000;
    let cpu_burst = process_cpu();
    let burst_per_s = produce_kafkadeps(&producer, &topic, BURST, &[b'x'; 100]).await;
    let burst_cpu_us_per_record = (process_cpu() - cpu_burst).as_secs_f64() * 1e6 / BURST as f64;
    let _ = kafka.shutdown(Duration::from_secs(10)).await;

    let mut e2e = e2e
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    e2e.sort_by(f64::total_cmp);
    ack_ms.sort_by(f64::total_cmp);
    Round {
        e2e_p50_ms: percentile(&e2e, 0.5),
        e2e_p99_ms: percentile(&e2e, 0.99),
        ack_p50_ms: percentile(&ack_ms, 0.5),
        low_rate_cpu_pct,
        idle_cpu_pct,
        burst_per_s,
        burst_cpu_us_per_record,
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let mut results: Vec<Vec<Round>> = a.lingers.iter().map(|_| Vec::new()).collect();
    for r in 0..a.rounds {
        for (i, linger) in a.lingers.iter().enumerate() {
            let got = round(linger, &a).await;
            eprintln!(
                "round {r} linger.ms={linger}: e2e p50 {:.2} ms, p99 {:.2} ms, ack p50 {:.2} ms, \
                 CPU {:.1} % at {}/s, idle {:.2} %, burst {:.0}/s at {:.2} µs/record",
                got.e2e_p50_ms,
                got.e2e_p99_ms,
                got.ack_p50_ms,
                got.low_rate_cpu_pct,
                a.rate,
                got.idle_cpu_pct,
                got.burst_per_s,
                got.burst_cpu_us_per_record
            );
            results[i].push(got);
        }
    }
    println!(
        "| linger.ms | e2e p50 ms | e2e p99 ms | ack p50 ms | CPU % at {}/s | idle CPU % | \
         records/s under load | CPU µs/record under load |",
        a.rate
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (linger, rounds) in a.lingers.iter().zip(&results) {
        let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        println!(
            "| {linger} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.0} | {:.2} |",
            m(|r| r.e2e_p50_ms),
            m(|r| r.e2e_p99_ms),
            m(|r| r.ack_p50_ms),
            m(|r| r.low_rate_cpu_pct),
            m(|r| r.idle_cpu_pct),
            m(|r| r.burst_per_s),
            m(|r| r.burst_cpu_us_per_record),
        );
    }
}
