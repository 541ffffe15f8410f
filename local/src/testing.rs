//! For handler tests: a function's clients as the deployed function has them, every AWS call
//! checked against its own policy in `template.yaml`, so the paths only handler tests reach
//! deterministically (continuations after a deadline, retries, deaths) prove its policy too.

#![allow(clippy::expect_used)] // test support fails a test by panicking

use std::path::Path;
use std::sync::Arc;

use shared::config::Config;
use shared::crm::Loopback;
use shared::services::Services;

use crate::aws_guard::{Faults, Guard};
use crate::provision::LocalResources;
use crate::template::Template;

/// The local resources, as `shared::testing::local_services` finds them, under the logical ids
/// of `template.yaml`, with `queues` (`(url, logical id)`: a test's own queue standing in for
/// the template's) added, for the function `binary`.
pub async fn services_as(binary: &str, queues: &[(&str, &str)]) -> Services {
    services_watched(binary, queues).await.0
}

/// [`services_as`], with the faults its calls go through, to inject failures or read what it
/// sent.
pub async fn services_watched(binary: &str, queues: &[(&str, &str)]) -> (Services, Faults) {
    let local = shared::testing::local_services().await;
    let at = local.endpoints();
    let template = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
        .expect("template.yaml");
    let mut resources = LocalResources {
        table: at.table.clone(),
        buckets: [("DataBucket".to_owned(), at.bucket.clone())].into(),
        queue_urls: [
            ("MatchQueue", &at.match_queue_url),
            ("PurgeQueue", &at.purge_queue_url),
            ("ExportQueue", &at.export_queue_url),
            ("CrmQueue", &at.crm_queue_url),
            ("EventsDeadLetterQueue", &at.parked_events_queue_url),
        ]
        .into_iter()
        .map(|(id, url)| (id.to_owned(), url.clone()))
        .collect(),
        key_ids: [("CrmSecretKey".to_owned(), at.crm_key_id.clone())].into(),
        event_buses: [("ContactEvents".to_owned(), at.event_bus_name.clone())].into(),
        ..Default::default()
    };
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
    let mut arns = crate::local_arns(&template, &resources, region);
    for (url, logical_id) in queues {
        arns.queue_at_url(url, logical_id);
        resources
            .queue_urls
            .insert((*logical_id).to_owned(), (*url).to_owned());
    }
    let inner = sdk.http_client().expect("the SDK config's HTTP client");
    let faults = Faults::default();
    let guard = Guard::new(arns, crate::hash_keys(&template), faults.clone(), inner);
    let function = template
        .functions
        .iter()
        .find(|f| f.binary == binary)
        .unwrap_or_else(|| panic!("template.yaml has no function {binary}"));
    let policy = crate::function_policy(function, guard.arns()).expect("the function's policy");
    let sdk = sdk
        .to_builder()
        .http_client(guard.for_function(Arc::new(policy)))
        .build();
    let endpoints = resources
        .endpoints()
        .expect("every resource the code names");
    (Services::new(&sdk, endpoints, Loopback::Allowed), faults)
}
