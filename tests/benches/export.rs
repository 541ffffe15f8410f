//! The export worker over 1,000, 10,000 and 100,000 contacts (`BENCH_EXPORT_SIZES` to change):
//! wall time, rows per second against a raw paging Query of the same index on the same
//! endpoint, and peak RSS. Each export runs in a child process of its own, like a Lambda
//! worker, so its peak (`VmHWM`) is the worker's alone. Run with `./scripts/bench --bench export`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::time::Instant;

use api_tests::{batch_put, new_org, raw_dynamodb, seeded_contact};
use aws_sdk_dynamodb::types::AttributeValue;
use export_contacts::{App, Attempt, Tuning};
use shared::channel::Network;
use shared::clock::Env;
use shared::contacts::Contact;
use shared::exports::{ExportFilter, ExportFormat, ExportJob, ExportTask, ExportTrigger};
use shared::ids::{ExportId, OrgId};
use shared::keys;
use shared::store::contact_item;
use shared::testing::{local_services, unpolled_queue};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

const CHILD: &str = "BENCH_EXPORT_CHILD";

/// The child: builds its clients and runs one job, as a worker invocation would.
async fn run_child(spec: &str) {
    let (org, id) = spec.split_once('/').unwrap();
    let local = local_services().await;
    let app = App::tuned(
        local.store(),
        local.blobs(),
        unpolled_queue("export-bench").await,
        Env::system(),
        Tuning::default(),
    );
    let task = ExportTask {
        org_id: OrgId::parse(org).unwrap(),
        export_id: ExportId::parse(id).unwrap(),
        lease: None,
    };
    let started = Instant::now();
    let outcome = app
        .attempt(&task, shared::invocation::Deadline::longest())
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let Attempt::Succeeded { rows } = outcome else {
        panic!("{outcome:?}");
    };
    println!("{rows} {secs} {}", peak_rss_kib());
}

async fn seed(client: &aws_sdk_dynamodb::Client, table: &str, org: &OrgId, count: usize) {
    let contacts = (0..count).map(|i| {
        let name = format!("Person {i}, \"bench\"");
        let mut contact = Contact {
            vip: i % 10 == 0,
            platform: BTreeMap::from([
                ("followers".to_owned(), format!("{}", i * 7)),
                (
                    "bio".to_owned(),
                    "Coffee, cycling and customer service".to_owned(),
                ),
                ("location".to_owned(), "Lisbon".to_owned()),
            ]),
            ..seeded_contact(uuid::Uuid::now_v7().to_string(), name, Network::X)
        };
        contact.profile.handle = Some(format!("@person{i}"));
        contact.profile.avatar_url = Some(format!("https://cdn.example/{i}.png"));
        contact_item(org, &contact).unwrap()
    });
    batch_put(client, table, contacts).await;
}

/// Pages every shard of the listing index with nothing but the Query: the ceiling the worker is
/// held against.
async fn raw_query(client: &aws_sdk_dynamodb::Client, table: &str, org: &OrgId) -> usize {
    let mut rows = 0;
    for shard in 0..keys::CONTACT_INDEX_SHARDS {
        let mut start = None;
        loop {
            let out = client
                .query()
                .table_name(table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::contacts_index_pk(org, shard)),
                )
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            rows += out.items.map_or(0, |i| i.len());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
    }
    rows
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        return run_child(&spec).await;
    }
    let sizes: Vec<usize> = std::env::var("BENCH_EXPORT_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("sizes are numbers"))
        .collect();
    let local = local_services().await;
    let (client, table) = raw_dynamodb().await;
    println!(
        "{:>8} {:>6} {:>9} {:>10} {:>12} {:>10} {:>13}",
        "contacts", "format", "export s", "rows/s", "raw Query/s", "file MiB", "peak RSS MiB"
    );
    for count in sizes {
        let org = OrgId::parse(&new_org()).unwrap();
        let seeding = Instant::now();
        seed(&client, &table, &org, count).await;
        eprintln!(
            "seeded {count} contacts in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let raw_rows = raw_query(&client, &table, &org).await;
        let raw_secs = started.elapsed().as_secs_f64();
        assert_eq!(raw_rows, count);

        for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
            let job = ExportJob::new(
                uuid::Uuid::now_v7().to_string(),
                format,
                ExportFilter::default(),
                ExportTrigger::Manual,
                "2026-01-01T00:00:00Z",
            );
            local.store().create_export(&org, &job).await.unwrap();
            let output = tokio::process::Command::new(std::env::current_exe().unwrap())
                .env(CHILD, format!("{org}/{}", job.id))
                .output()
                .await
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let line = String::from_utf8(output.stdout).unwrap();
            let figures: Vec<f64> = line
                .split_whitespace()
                .map(|f| f.parse().unwrap())
                .collect();
            let (rows, secs, peak_kib) = (figures[0], figures[1], figures[2]);
            assert_eq!(rows as usize, count);
            let done = local
                .store()
                .export_job(&org, &job.id)
                .await
                .unwrap()
                .unwrap();
            let size = local
                .blobs()
                .size(done.object_key.as_deref().unwrap())
                .await
                .unwrap()
                .expect("the export's file");
            println!(
                "{:>8} {:>6} {:>9.2} {:>10.0} {:>12.0} {:>10.1} {:>13.1}",
                count,
                format.extension(),
                secs,
                rows / secs,
                raw_rows as f64 / raw_secs,
                size as f64 / 1048576.0,
                peak_kib / 1024.0,
            );
        }
    }
}
