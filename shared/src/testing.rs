//! For handler tests: the same clients and resources the local runtime uses, found from the
//! environment `scripts/test` sets up (`TABLE_NAME`, `AWS_ENDPOINT_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support fails a test by panicking

use crate::config::Config;
use crate::services::Services;

/// The store over the table `scripts/test` points at.
pub async fn local_store() -> crate::store::Store {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    crate::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)
}

/// Bucket and queue names follow the local runtime's provisioning of `template.yaml`.
pub async fn local_services() -> Services {
    let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
    let sdk = config.aws().await;
    let bucket = config
        .require("BUCKET_NAME")
        .unwrap_or_else(|_| "inbox-local-databucket".into());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut urls = Vec::new();
    let queues = [
        "MatchQueue",
        "PurgeQueue",
        "ExportQueue",
        "CrmQueue",
        "EventsDeadLetterQueue",
    ];
    for queue in queues {
        let url = sqs
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the local runtime provisioned {queue}: {e}"))
            .queue_url
            .expect("a queue URL");
        urls.push(url);
    }
    let [
        match_queue_url,
        purge_queue_url,
        export_queue_url,
        crm_queue_url,
        parked_events_queue_url,
    ] = <[String; 5]>::try_from(urls).expect("five queues");
    let endpoints = crate::services::Endpoints {
        table: config.table_name.clone(),
        bucket,
        match_queue_url,
        purge_queue_url,
        export_queue_url,
        crm_queue_url,
        parked_events_queue_url,
        crm_key_id: LOCAL_CRM_KEY.to_owned(),
        event_bus_name: LOCAL_EVENT_BUS.to_owned(),
    };
    Services::new(&sdk, endpoints, crate::crm::Loopback::Allowed)
}

/// The alias under which the local runtime creates the template's CRM secret key.
pub const LOCAL_CRM_KEY: &str = "alias/CrmSecretKey";

/// The name under which the local runtime creates the template's event bus.
pub const LOCAL_EVENT_BUS: &str = "ContactEvents";

/// A queue nobody polls, for handler tests that drive a worker themselves while the local
/// runtime's pollers serve the template's queues.
pub async fn unpolled_queue(name: &str) -> crate::queue::Queue {
    TestQueue::new(name).await.queue()
}

/// A queue of the test's own that no poller reads: the test delivers its messages itself, one
/// record an invocation, as Lambda's event source would, and counts the invocations.
pub struct TestQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl TestQueue {
    pub async fn new(name: &str) -> Self {
        let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
        let sqs = aws_sdk_sqs::Client::new(&config.aws().await);
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("a local queue")
            .queue_url
            .expect("a queue URL");
        Self { sqs, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The queue as a function sends to it.
    pub fn queue(&self) -> crate::queue::Queue {
        crate::queue::Queue::new(self.sqs.clone(), self.url.clone())
    }

    /// Delivers every message, one an invocation with `deadline` each, until the queue is empty
    /// (a continuation a function queues is delivered too); a delivery it reports failed stays
    /// on the queue. Returns the number of invocations.
    pub async fn drain<F: crate::serve::QueueFunction>(&self, function: &F) -> usize {
        use aws_lambda_events::event::sqs::SqsEvent;
        let mut invocations = 0;
        loop {
            let Some(message) = self.receive(1).await.into_iter().next() else {
                return invocations;
            };
            let receipt = message.receipt_handle.clone();
            let mut event = SqsEvent::default();
            event.records = vec![as_delivered(message)];
            invocations += 1;
            let response = function
                .handle_batch(event, crate::invocation::Deadline::longest())
                .await;
            if response.batch_item_failures.is_empty() {
                self.delete(receipt).await;
            }
        }
    }

    /// The next message as Lambda's event source hands it over (with its receipt handle).
    pub async fn receive_one(&self) -> aws_lambda_events::event::sqs::SqsMessage {
        let message = self.receive(1).await.into_iter().next();
        as_delivered(message.expect("a message on the test queue"))
    }

    /// Up to `max` messages, waiting a second for the first.
    async fn receive(&self, max: i32) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("the test queue")
            .messages
            .unwrap_or_default()
    }

    async fn delete(&self, receipt_handle: Option<String>) {
        self.sqs
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle.unwrap_or_default())
            .send()
            .await
            .expect("delete a handled message");
    }
}

/// A received message as Lambda's SQS event source hands it to a function.
fn as_delivered(message: aws_sdk_sqs::types::Message) -> aws_lambda_events::event::sqs::SqsMessage {
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = message.message_id;
    record.receipt_handle = message.receipt_handle;
    record.body = message.body;
    record
}

/// A sample event from `events/<function>/<name>.json`.
pub fn load_event(function: &str, name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../events/{function}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Points an API Gateway event's verified claims at `org` (and `role`, if given).
pub fn with_caller(
    mut event: serde_json::Value,
    org: &str,
    role: Option<&str>,
) -> serde_json::Value {
    let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["org_id"] = org.into();
    if let Some(role) = role {
        claims["role"] = role.into();
    }
    event
}

/// Status and JSON body of a handler's response.
pub fn decode(response: lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => serde_json::Value::Null,
    };
    (status, body)
}

/// Runs an API Gateway v2 event (its JSON text) through a function's handler, as Lambda
/// would: the status and the JSON body.
pub async fn invoke<F: crate::serve::HttpFunction>(
    app: &F,
    event: &str,
) -> (u16, serde_json::Value) {
    let request = lambda_http::request::from_str(event).expect("a valid v2 event");
    // Boxed: the handler's future is deep enough to overflow the layout query of a test's future.
    decode(Box::pin(app.handle(request)).await)
}

/// The contact id the sample events in `events/` name.
pub const SAMPLE_CONTACT: &str = "01a1fc52-0000-7000-8000-000000000001";

/// A function's handler with an org of the test's own and a contact in it, for running the
/// function's sample events (`events/<binary>/`) against them.
pub struct OverContact<F> {
    pub app: F,
    pub org: String,
    pub contact_id: String,
}

impl<F: crate::serve::HttpFunction> OverContact<F> {
    /// A sample event as the sample's caller, on this org and contact.
    pub async fn run(&self, name: &str) -> (u16, serde_json::Value) {
        self.run_as(name, None, &[]).await
    }

    /// A sample event as a caller with `role` (the sample's, if `None`), on this org and
    /// contact, with each `(sample, own)` id of `also` replaced.
    pub async fn run_as(
        &self,
        name: &str,
        role: Option<&str>,
        also: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        self.run_in(&self.org, name, role, also).await
    }

    /// Each sample event, sent by a caller of another org with this contact's id, finds
    /// nothing there: 404.
    pub async fn assert_other_orgs_find_nothing(&self, names: &[&str]) {
        let stranger = new_org("stranger");
        for name in names {
            let (status, body) = self.run_in(&stranger, name, None, &[]).await;
            assert_eq!(status, 404, "{name} in another org: {body}");
        }
    }

    async fn run_in(
        &self,
        org: &str,
        name: &str,
        role: Option<&str>,
        also: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        use crate::http::RouteTable;
        let event = with_caller(load_event(F::RouteId::BINARY, name), org, role);
        let mut text = event.to_string().replace(SAMPLE_CONTACT, &self.contact_id);
        for (sample, own) in also {
            text = text.replace(sample, own);
        }
        invoke(&self.app, &text).await
    }
}

/// The message ids an SQS batch answer reports as failed, in order.
pub fn failed_records(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<&str> {
    let failures = response.batch_item_failures.iter();
    failures.map(|f| f.item_identifier.as_str()).collect()
}

/// A caller of org `o` (user `u`, named `U`) with this role and plan, as verified claims make
/// one: for unit tests of the rules that depend on who asks.
pub fn caller(role: crate::auth::Role, plan: crate::auth::Plan) -> crate::auth::Caller {
    crate::auth::Caller {
        org: crate::ids::OrgId::parse("o").unwrap(),
        user_id: crate::ids::UserId::parse("u").unwrap(),
        name: "U".into(),
        role,
        plan,
    }
}

/// A fresh org id for one test.
pub fn new_org(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A Tuesday of a week the test owns, for firing the hourly export trigger. The trigger starts
/// every org's due schedule, so a test that fires it works in a far-future year drawn from its
/// own org id: another test's firings land in other years, outside the periods it counts.
pub fn own_week(org: &str) -> time::Date {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    org.hash(&mut hasher);
    let year = 2100 + i32::try_from(hasher.finish() % 7800).unwrap_or_default();
    let week = 1 + u8::try_from(hasher.finish() / 7800 % 48).unwrap_or_default();
    time::Date::from_iso_week_date(year, week, time::Weekday::Tuesday).expect("weeks 1..=48 exist")
}

/// What the local bus delivers for one org, read from a queue of the test's own that a rule on
/// the bus fills, so a handler test sees the events a relay published.
pub struct BusTap {
    queue: TestQueue,
}

impl BusTap {
    pub async fn for_org(org: &str) -> Self {
        let config = Config::from_env().expect("TABLE_NAME is set by scripts/test");
        let events = aws_sdk_eventbridge::Client::new(&config.aws().await);
        let name = format!("tap-{org}");
        let queue = TestQueue::new(&name).await;
        let arn = queue
            .sqs
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("a queue ARN");
        let pattern =
            serde_json::json!({"source": [crate::events::SOURCE], "detail": {"org_id": [org]}});
        events
            .put_rule()
            .name(&name)
            .event_bus_name(LOCAL_EVENT_BUS)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("a tap rule");
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(LOCAL_EVENT_BUS)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("tap")
                    .arn(arn)
                    .build()
                    .expect("a target"),
            )
            .send()
            .await
            .expect("the tap rule's target");
        Self { queue }
    }

    /// The events delivered so far and until `count` have arrived (at most 90 s), in order.
    pub async fn received(&self, count: usize) -> Vec<serde_json::Value> {
        self.received_until(|events| events.len() >= count).await
    }

    /// The events delivered so far and until those received satisfy `done`, in order: at most
    /// 90 s, as the shared relay can be minutes of events behind while the whole suite runs.
    pub async fn received_until(
        &self,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        for _ in 0..90 {
            if done(&events) {
                break;
            }
            for message in self.queue.receive(10).await {
                let envelope: serde_json::Value =
                    serde_json::from_str(message.body.as_deref().unwrap_or("{}")).expect("json");
                events.push(envelope["detail"].clone());
                self.queue.delete(message.receipt_handle).await;
            }
        }
        events
    }
}

/// A contact as the listing shows it, with `phone` as its only value, for seeding.
pub fn seeded_contact(n: usize, phone: &str) -> crate::contacts::Contact {
    use crate::clock::IdGenerator;
    let mut contact = crate::contacts::Contact {
        vip: n.is_multiple_of(2),
        platform: [("phone".to_owned(), phone.to_owned())].into(),
        version: 1,
        ..crate::contacts::Contact::new(
            crate::clock::UuidV7.new_id(),
            crate::channel::Network::Sms,
            "2026-01-01T10:00:00Z",
        )
    };
    contact.profile.name = format!("Contact {n}");
    contact
}

/// Writes contacts straight to their profile items, many at once: the jobs under test only
/// read the listing index, and a plain put keeps seeding thousands cheap on moto (whose
/// transactions copy the whole table).
pub async fn seed_contacts(
    store: &crate::store::Store,
    org: &crate::ids::OrgId,
    contacts: Vec<crate::contacts::Contact>,
) {
    let mut writes = tokio::task::JoinSet::new();
    for chunk in contacts.chunks(contacts.len().div_ceil(16).max(1)) {
        let (store, org, chunk) = (store.clone(), org.clone(), chunk.to_vec());
        writes.spawn(async move {
            for contact in &chunk {
                store.save_contact(&org, contact, 0).await.expect("seeded");
            }
        });
    }
    while let Some(done) = writes.join_next().await {
        done.expect("a seeding task");
    }
}

/// Connects `org` to a CRM with a write-back URL on a host nothing answers at: for tests that
/// read the jobs queued for it, never their calls.
pub async fn connect_writing_back(store: &crate::store::Store, org: &crate::ids::OrgId) {
    let url = |path: &str| {
        let url = format!("https://crm.example.com/{path}");
        crate::crm::CrmUrl::parse("url", &url, crate::crm::Loopback::Refused).expect("a CRM URL")
    };
    let connection = crate::crm::CrmConnection {
        connection_id: "k1".into(),
        lookup_url: url("lookup"),
        writeback_url: Some(url("writeback")),
        lookup_ttl_minutes: 60,
        secret: crate::crm::SealedSecret {
            ciphertext: "c2VhbGVk".into(),
            hint: "abcd".into(),
        },
        retiring: None,
        version: 1,
        consecutive_failures: 0,
        paused_until: None,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    };
    let created = store.create_crm_connection(org, &connection).await;
    assert!(created.expect("the connection written"), "a new connection");
}

/// An agent's change at `at` to the contact's CRM-managed value `account`, waiting for the
/// conversation's next status to be written back.
pub async fn account_change_pending(
    store: &crate::store::Store,
    org: &crate::ids::OrgId,
    contact_id: &str,
    at: &str,
) {
    let edit = crate::contacts::ValueChange {
        key: "account".into(),
        definition_id: "def-account".into(),
        value: Some("Globex".into()),
        source: crate::contacts::ValueSource::Agent,
        sync: Some(crate::contacts::SyncState::Pending),
    };
    let written = store
        .update_values(org, contact_id, &[edit], None, at, (&[], &[]))
        .await
        .expect("the change written");
    assert!(written.is_some(), "the contact exists");
}
