//! What the export handler tests share: an app on its own queue, seeded contacts, the files
//! an export wrote, and jobs as the store holds them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking
#![allow(dead_code)] // each test binary uses its own part of this

use export_contacts::{App, Tuning};
use serde_json::Value;
use shared::clock::Env;
use shared::config::Config;
use shared::exports::ExportTask;
use shared::ids::{ExportId, OrgId};
use shared::services::Services;
use shared::testing::{
    invoke, load_event, local_services, new_org, seed_contacts, seeded_contact, unpolled_queue,
    with_caller,
};

pub const SAMPLE_JOB: &str = "01a1fc60-0000-7000-8000-00000000e001";

/// Jobs go to a queue of their own: these tests are the worker, not the local runtime.
pub async fn app(local: &Services, tuning: Tuning) -> App {
    App::tuned(
        local.store().clone(),
        local.blobs().clone(),
        unpolled_queue("export-handler-tests").await,
        Env::system(),
        tuning,
    )
}

pub async fn http(app: &App, org: &str, name: &str, role: Option<&str>, job: &str) -> (u16, Value) {
    let text = with_caller(load_event("export-contacts", name), org, role)
        .to_string()
        .replace(SAMPLE_JOB, job);
    invoke(app, &text).await
}

/// Clients of the local endpoint and an org of its own (named after `name`) holding `count`
/// contacts with unique phone numbers, half of them VIP.
pub async fn org_with_contacts(name: &str, count: usize) -> (Services, String) {
    let local = local_services().await;
    let org = new_org(name);
    seed(&local, &org, count).await;
    (local, org)
}

async fn seed(local: &Services, org: &str, count: usize) {
    let contacts = (0..count)
        .map(|n| seeded_contact(n, &format!("+1555{n:04}")))
        .collect();
    seed_contacts(&local.store(), &OrgId::parse(org).unwrap(), contacts).await;
}

pub fn uuid_v7() -> String {
    use shared::clock::IdGenerator;
    shared::clock::UuidV7.new_id()
}

pub async fn s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(&Config::from_env().unwrap().aws().await)
}

/// Objects under the job's prefix, by key.
pub async fn files(org: &str, job: &str) -> Vec<String> {
    let prefix = shared::keys::export_prefix(&OrgId::parse(org).unwrap(), job);
    s3().await
        .list_objects_v2()
        .bucket("inbox-local-databucket")
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect()
}

pub async fn text_of(key: &str) -> String {
    let object = s3()
        .await
        .get_object()
        .bucket("inbox-local-databucket")
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub async fn lines_of(key: &str) -> usize {
    text_of(key).await.lines().filter(|l| !l.is_empty()).count()
}

pub async fn job(local: &Services, org: &str, id: &str) -> shared::exports::ExportJob {
    local
        .store()
        .export_job(&OrgId::parse(org).unwrap(), id)
        .await
        .unwrap()
        .unwrap()
}

/// Starts a manual CSV export through the HTTP handler; the job id.
pub async fn start(app: &App, org: &str) -> String {
    let text = with_caller(load_event("export-contacts", "start-export"), org, None)
        .to_string()
        .replace(r#"\"filter\": {\"vip\": true}"#, r#"\"filter\": null"#)
        .replace("export-2026-01-01", &new_org("key"));
    let (status, body) = invoke(app, &text).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub fn task(org: &str, id: &str) -> ExportTask {
    ExportTask {
        org_id: OrgId::parse(org).unwrap(),
        export_id: ExportId::parse(id).unwrap(),
        lease: None,
    }
}
