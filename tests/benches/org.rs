//! A mid-sized org on the local stack: `BENCH_ORG_CONTACTS` contacts (default 10,000), each
//! from its first message through ingest (pairs sharing a phone number), then an export of them
//! all and an org-wide re-match, under the runtime's invocation timeout (`./scripts/bench` sets
//! `LOCAL_MAX_TIMEOUT_S=3` unless told otherwise, so both continue across invocations). Prints
//! each stage's time and the peak memory (`VmHWM`) of the local endpoints: DynamoDB Local and
//! moto. Run with `./scripts/bench --bench org`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use api_tests::{Api, env_count, inbound, new_org, poll_until};
use futures::StreamExt;
use serde_json::json;

/// Messages in flight at once, as several channel pollers would send them.
const SENDERS: usize = 16;

/// The peak resident memory of process `pid` so far, in MiB, if it can be read.
fn peak_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The local endpoints' peak memory, from the pids `scripts/lib.sh` exports.
fn endpoint_peaks() -> String {
    ["DYNAMODB_LOCAL_PID", "MOTO_PID"]
        .iter()
        .map(|var| {
            let peak = std::env::var(var).ok().and_then(|pid| peak_mib(&pid));
            match peak {
                Some(mib) => format!("{var}: {mib:.0} MiB"),
                None => format!("{var}: not known"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let count = env_count("BENCH_ORG_CONTACTS", 10_000);
    let api = Api::new();
    let org = new_org();
    let admin = api.caller(&org, "admin", "enterprise").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    let timeout = std::env::var("LOCAL_MAX_TIMEOUT_S").unwrap_or_else(|_| "none".into());
    println!("org bench: {count} contacts, LOCAL_MAX_TIMEOUT_S={timeout}");

    let seeding = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..count)
        .map(|n| {
            let api = &api;
            let org = &org;
            async move {
                let mut message = inbound(
                    org,
                    "whatsapp",
                    &format!("+3519{n:08}"),
                    &format!("conv-{n}"),
                    &format!("m-{n}"),
                );
                message["sender"]["attributes"] = json!({"phone": format!("+351 8{:08}", n / 2)});
                api.contact_of(&message).await
            }
        })
        .buffered(SENDERS)
        .collect()
        .await;
    let took = seeding.elapsed().as_secs_f64();
    println!(
        "ingest: {count} first messages in {took:.1} s ({:.0} messages/s); {}",
        count as f64 / took,
        endpoint_peaks()
    );

    let (every, within) = (Duration::from_millis(500), Duration::from_secs(1800));
    let exporting = Instant::now();
    let job = admin
        .post("/exports", &json!({"format": "csv"}))
        .await
        .expect(202);
    let path = format!("/exports/{}", job["id"].as_str().unwrap());
    poll_until("the export finishing", every, within, || async {
        let job = admin.get(&path).await.expect(200);
        assert_ne!(job["status"], "failed", "{job}");
        job["status"] == "succeeded"
    })
    .await;
    let job = admin.get(&path).await.expect(200);
    assert_eq!(job["rows"], count, "{job}");
    let took = exporting.elapsed().as_secs_f64();
    println!(
        "export: {count} rows in {took:.1} s ({:.0} rows/s); {}",
        count as f64 / took,
        endpoint_peaks()
    );

    let rematching = Instant::now();
    admin
        .set_settings(&json!({"matching_attribute": "phone"}))
        .await;
    // The walk goes newest first, so the oldest pair is filed and counted last.
    let (last, partner) = (&ids[0], &ids[1]);
    poll_until("the re-match finishing", every, within, || async {
        let view = agent.view(last).await;
        view["linked_contact_ids"] == json!([partner]) && view["linked_count"] == 1
    })
    .await;
    let took = rematching.elapsed().as_secs_f64();
    println!(
        "re-match: {count} contacts in {took:.1} s ({:.0} contacts/s); {}",
        count as f64 / took,
        endpoint_peaks()
    );
}
