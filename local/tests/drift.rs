//! The template, the functions' own route tables and the OpenAPI document must agree.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region};
use local::functions::Registry;
use local::template::Template;
use shared::clock::Env;
use shared::services::Services;

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn registry() -> Registry {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build();
    let unused = || "unused".to_owned();
    let unused = shared::services::Endpoints {
        table: unused(),
        bucket: unused(),
        match_queue_url: unused(),
        purge_queue_url: unused(),
        export_queue_url: unused(),
        crm_queue_url: unused(),
        parked_events_queue_url: unused(),
        crm_key_id: unused(),
        event_bus_name: unused(),
    };
    let services = Services::new(&sdk, unused, shared::crm::Loopback::Refused);
    Registry::build(&|_| services.clone(), &Env::system(), Default::default())
}

/// Why the runtime refuses to start with this template text.
fn refusal(template: &str) -> String {
    let template = Template::parse(template).unwrap();
    registry().check_against(&template).unwrap_err().to_string()
}

/// `text` with one more event on `manage-attributes`, written before its `DeleteAttribute`.
fn with_event(text: &str, event: &str) -> String {
    let anchor = "        DeleteAttribute:\n";
    text.replacen(anchor, &format!("{event}{anchor}"), 1)
}

/// `text` without the part from `from` up to and including the first `through` after it.
fn without(text: &str, from: &str, through: &str) -> String {
    let start = text.find(from).unwrap();
    let end = start + text[start..].find(through).unwrap() + through.len();
    format!("{}{}", &text[..start], &text[end..])
}

fn template_text() -> String {
    std::fs::read_to_string(repo_file("template.yaml")).expect("template.yaml")
}

#[test]
fn every_template_route_has_a_handler_and_every_handler_a_route() {
    let template = Template::parse(&template_text()).unwrap();
    registry().check_against(&template).unwrap();
}

#[test]
fn a_template_route_without_a_handler_stops_the_runtime() {
    let extra = with_event(
        &template_text(),
        "        Ghost:\n          Type: HttpApi\n          Properties: { ApiId: !Ref HttpApi, Path: /ghost, Method: GET }\n",
    );
    let err = refusal(&extra);
    assert!(err.contains("GET /ghost"), "{err}");
}

#[test]
fn a_handler_route_missing_from_the_template_stops_the_runtime() {
    let missing = without(
        &template_text(),
        "        DeleteAttribute:\n",
        "Method: DELETE }\n",
    );
    let err = refusal(&missing);
    assert!(err.contains("DELETE /attributes/{key}"), "{err}");
}

#[test]
fn a_schedule_without_a_local_function_stops_the_runtime_and_so_does_the_reverse() {
    let text = template_text();
    let extra = with_event(
        &text,
        "        Nightly:\n          Type: Schedule\n          Properties: { Schedule: rate(1 day) }\n",
    );
    let err = refusal(&extra);
    assert!(
        err.contains("schedule Nightly of manage-attributes"),
        "{err}"
    );

    let missing = without(&text, "        HourlyExports:\n", "scheduled exports.\n");
    let err = refusal(&missing);
    assert!(err.contains("export-scheduler runs on a schedule"), "{err}");
}

#[test]
fn the_openapi_document_describes_exactly_the_template_routes() {
    let template = Template::parse(&template_text()).unwrap();
    let declared: BTreeSet<(String, String)> = template
        .http_routes()
        .map(|(_, r)| (r.method.clone(), r.path.clone()))
        .collect();

    let text = std::fs::read_to_string(repo_file("openapi.yaml")).expect("openapi.yaml");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("openapi.yaml is YAML");
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, operation) in item.as_mapping().expect("path item") {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let responses = operation["responses"].as_mapping().expect("responses");
            assert!(
                responses.contains_key("401"),
                "{method} {path:?} must document 401"
            );
            documented.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(documented, declared);
}

#[test]
fn the_runtime_makes_only_the_kms_keys_a_function_is_handed() {
    let template = Template::parse(&template_text()).unwrap();
    assert_eq!(template.keys, ["CrmSecretKey"], "not the alarm topic's key");
}

/// The listing index projects exactly what a listed contact reads: a field missing from
/// `NonKeyAttributes` would list as empty (or fail to read), an extra one costs index writes.
#[test]
fn the_listing_index_projects_exactly_the_listed_contact() {
    let template = Template::parse(&template_text()).unwrap();
    let gsi1 = template
        .table
        .global_secondary_indexes
        .iter()
        .find(|i| i.index_name == shared::store::CONTACTS_INDEX)
        .unwrap();
    assert_eq!(gsi1.projection.projection_type, "INCLUDE");
    let projected: BTreeSet<String> = gsi1.projection.non_key_attributes.iter().cloned().collect();
    let mut listed = shared::contacts::Contact::new(
        "0190b8a0-0000-7000-8000-000000000001".into(),
        shared::channel::Network::Whatsapp,
        "2026-01-01T00:00:00Z",
    );
    listed.profile.handle = Some("@someone".into());
    listed.crm = Some(shared::crm::ContactCrm {
        connection_id: "conn".into(),
        status: shared::contacts::LookupStatus::Found,
        record_id: None,
        record_url: None,
        last_lookup_at: None,
        error: None,
    });
    let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(listed.listed()).unwrap();
    let read: BTreeSet<String> = item.into_keys().collect();
    assert_eq!(projected, read);
}
