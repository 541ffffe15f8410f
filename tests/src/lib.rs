//! Black-box test harness: talks HTTP to the local runtime that `scripts/test` started
//! (`INBOX_API_URL`). Every test works in an org of its own, so tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod bench;
mod browser;
mod crm;
mod routes;

pub use bench::{
    Timings, batch_put, env_count, poll_until, raw_dynamodb, seeded_contact, stored_under,
};
pub use browser::Browser;
pub use crm::{
    DemoCrm, connect_demo_crm, connect_demo_crm_with, demo_crm_url, looked_up,
    message_and_edit_requests,
};
pub use routes::Request;

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub fn base_url() -> String {
    std::env::var("INBOX_API_URL").expect(
        "INBOX_API_URL is not set: run the black-box tests through ./scripts/test, which starts the local runtime",
    )
}

/// A fresh org id nobody else uses.
pub fn new_org() -> String {
    format!("t-{}", uuid::Uuid::now_v7().simple())
}

/// Where a test starts: a client of the runtime and an org of the test's own, so that tests
/// run in parallel without seeing each other's data.
pub fn fresh() -> (Api, String) {
    (Api::new(), new_org())
}

/// `fresh`, with the first caller of the org, of `role` on `plan`.
pub async fn fresh_as(role: &str, plan: &str) -> (Api, String, Caller) {
    let (api, org) = fresh();
    let caller = api.caller(&org, role, plan).await;
    (api, org, caller)
}

/// `fresh_as("agent", plan)` and a WhatsApp contact of the org: `(api, org, agent, notes)`,
/// `notes` being the contact's notes path.
pub async fn notes_as(plan: &str) -> (Api, String, Caller, String) {
    let (api, org, agent) = fresh_as("agent", plan).await;
    let contact = api.contact_from(&org, "whatsapp", "+1", "c1").await;
    (api, org, agent, format!("/contacts/{contact}/notes"))
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The contract's error code, or "" when the body is not an error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// An error as `expect_error` wants it, naming `field` (the body's path to the bad value).
    #[track_caller]
    pub fn expect_error_at(&self, status: u16, code: &str, field: &str) {
        self.expect_error(status, code);
        assert_eq!(self.field(), field, "body: {}", self.body);
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "an error needs a message: {}",
            self.body
        );
    }
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

impl Api {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base_url(),
        }
    }

    /// A token from the runtime's `/_local/token`; `query` pairs as that route takes them.
    pub async fn token(&self, query: &[(&str, &str)]) -> String {
        let body = self.local_json("token", query).await;
        body["token"].as_str().expect("token string").to_owned()
    }

    /// A local-only route of the runtime (`/_local/{route}`) that must answer with success:
    /// its JSON body.
    async fn local_json(&self, route: &str, query: &[(&str, &str)]) -> Value {
        let reply = self
            .http
            .get(format!("{}/_local/{route}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route} request: {e}"));
        assert!(reply.status().is_success(), "{route}: {}", reply.status());
        reply.json().await.expect("a JSON body")
    }

    /// A request with no token (the local-only routes, or an anonymous caller).
    pub async fn anonymous(&self, method: Method, path: &str) -> Reply {
        self.raw(method, path, None, None, &[]).await
    }

    pub async fn caller(&self, org: &str, role: &str, plan: &str) -> Caller {
        self.caller_as(org, role, plan, &format!("{org}-{role}"))
            .await
    }

    /// A caller with a chosen user id (`sub`), to be the same person under another role or plan.
    pub async fn caller_as(&self, org: &str, role: &str, plan: &str, sub: &str) -> Caller {
        self.caller_named(org, role, plan, sub, "Test User").await
    }

    /// A caller with a chosen user id and display name, for what records its author.
    pub async fn caller_named(
        &self,
        org: &str,
        role: &str,
        plan: &str,
        sub: &str,
        name: &str,
    ) -> Caller {
        let query = [
            ("org", org),
            ("role", role),
            ("plan", plan),
            ("name", name),
            ("sub", sub),
        ];
        let token = self.token(&query).await;
        Caller {
            api: self.clone(),
            token,
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request reaches the runtime");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }
}

impl Api {
    /// A brownout of `org`'s DynamoDB requests: the runtime fails `share` of them (half
    /// throttled, half 500s) before they are sent; 0 ends it. Answers the runtime's counts of
    /// requests seen under a brownout and failed, all orgs together, and failed of this org
    /// (`org_failed`).
    pub async fn brownout(&self, org: &str, share: f64) -> Value {
        self.faults(serde_json::json!({"org": org, "dynamodb_failures": share}))
            .await
    }

    /// Holds `org`'s next DynamoDB request of `operation` (`TransactWriteItems`, say) before it
    /// is sent, until [`Api::resume`]: a race injected at that exact point.
    pub async fn pause(&self, org: &str, operation: &str) {
        self.faults(serde_json::json!({"org": org, "pause": operation}))
            .await;
    }

    /// Lets the request held at `org`'s pause point go on.
    pub async fn resume(&self, org: &str) {
        self.faults(serde_json::json!({"org": org, "resume": true}))
            .await;
    }

    /// Cancels `org`'s next `TransactWriteItems` as DynamoDB does, with `reason`
    /// (`TransactionConflict`, `ThrottlingError`, …) on its first item.
    pub async fn cancel_next_transaction(&self, org: &str, reason: &str) {
        let counts = self
            .faults(serde_json::json!({"org": org, "cancel_transaction": reason}))
            .await;
        assert_eq!(counts["cancel_pending"], true, "{counts}");
    }

    /// Serves `org`'s next batch of `operation` (`BatchGetItem`, `BatchWriteItem`) for its first
    /// key or item only, handing the rest back unprocessed as DynamoDB does.
    pub async fn leave_unprocessed(&self, org: &str, operation: &str) {
        let counts = self
            .faults(serde_json::json!({"org": org, "unprocessed": operation}))
            .await;
        assert_eq!(counts["unprocessed_pending"], true, "{counts}");
    }

    /// Whether `org`'s injected partial batch still waits for its batch.
    pub async fn partial_batch_pending(&self, org: &str) -> bool {
        self.local_json("faults", &[("org", org)]).await["unprocessed_pending"] == true
    }

    /// Whether `org`'s injected cancellation still waits for a transaction.
    pub async fn cancellation_pending(&self, org: &str) -> bool {
        self.local_json("faults", &[("org", org)]).await["cancel_pending"] == true
    }

    /// Whether a request of `org` is held at its pause point.
    pub async fn held(&self, org: &str) -> bool {
        self.local_json("faults", &[("org", org)]).await["held"] == true
    }

    async fn faults(&self, body: Value) -> Value {
        let reply = self
            .http
            .put(format!("{}/_local/faults", self.base))
            .json(&body)
            .send()
            .await
            .expect("the runtime takes faults");
        assert!(reply.status().is_success(), "faults: {}", reply.status());
        reply.json().await.expect("fault counts")
    }
}

impl Api {
    /// Ingests a message that must be accepted: `(contact_id, conversation_id)`.
    pub async fn ingest(&self, message: &Value) -> (String, String) {
        let reply = self.inbound(message).await.expect(200);
        let text = |name: &str| reply[name].as_str().expect(name).to_owned();
        (text("contact_id"), text("conversation_id"))
    }

    /// Ingests a message that must be accepted and answers the contact it went to.
    pub async fn contact_of(&self, message: &Value) -> String {
        self.ingest(message).await.0
    }

    /// The contact of a message from `user` on `channel` in `conversation`, which must be
    /// accepted. Each call sends a new message (its id is new), never a redelivery.
    pub async fn contact_from(
        &self,
        org: &str,
        channel: &str,
        user: &str,
        conversation: &str,
    ) -> String {
        let message = uuid::Uuid::now_v7().to_string();
        self.contact_of(&inbound(org, channel, user, conversation, &message))
            .await
    }

    /// Hands an inbound message to the runtime's ingest, as the channels' queue would.
    pub async fn inbound(&self, message: &Value) -> Reply {
        let body = serde_json::to_vec(message).expect("json");
        self.raw(Method::POST, "/_local/inbound", None, Some(body), &[])
            .await
    }

    /// Fetches a URL the API handed out (a presigned download link).
    pub async fn download(&self, url: &str) -> (StatusCode, Vec<u8>) {
        let (status, _, bytes) = self.download_with_headers(url).await;
        (status, bytes)
    }

    /// The keys of the objects under `prefix` in the stack's bucket, sorted.
    pub async fn stored_objects(&self, prefix: &str) -> Vec<String> {
        let sdk = shared::config::Config::from_env()
            .expect("the test environment")
            .aws()
            .await;
        let listed = aws_sdk_s3::Client::new(&sdk)
            .list_objects_v2()
            .bucket("inbox-local-databucket")
            .prefix(prefix)
            .send()
            .await
            .expect("listing the bucket");
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    /// [`Api::download`] with the response's headers: how a browser would treat the file.
    pub async fn download_with_headers(
        &self,
        url: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let response = self.http.get(url).send().await.expect("download");
        let (status, headers) = (response.status(), response.headers().clone());
        (
            status,
            headers,
            response.bytes().await.expect("bytes").to_vec(),
        )
    }
}

impl Api {
    /// What the local bus received for an org (of one type, if given), in the order they were
    /// made: by id (UUID v7, made in order by the runtime's one process), never in the order they
    /// arrived. EventBridge and the standard queue behind the tap keep no order on AWS, so a
    /// test that read arrival order would pass only where the emulator happens to keep it.
    pub async fn events(&self, org: &str, kind: Option<&str>) -> Vec<Value> {
        let mut query = vec![("org", org), ("limit", "1000")];
        query.extend(kind.map(|k| ("type", k)));
        let body = self.local_json("events", &query).await;
        let mut events = body["items"].as_array().expect("items").clone();
        events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        events
    }

    /// The org's events, oldest first, once `count` of them are of type `kind` (the relay
    /// publishes after the write commits). Events of one contact arrive in the order of its
    /// changes, so whatever a change before the awaited one told has arrived too.
    pub async fn events_when(&self, org: &str, kind: &str, count: usize) -> Vec<Value> {
        eventually(&format!("{count} {kind} event(s)"), || async {
            let events = self.events(org, None).await;
            let seen = events.iter().filter(|e| e["type"] == kind).count();
            (seen >= count).then_some(events)
        })
        .await
    }
}

/// The types of events in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect()
}

/// An inbound message in the contract's shape, for tests to adjust.
pub fn inbound(
    org: &str,
    channel: &str,
    user_id: &str,
    conversation: &str,
    message: &str,
) -> Value {
    serde_json::json!({
        "org_id": org,
        "channel": channel,
        "sender": {"user_id": user_id, "handle": format!("@{user_id}"), "name": format!("Person {user_id}"),
                   "avatar_url": format!("https://cdn.example/{user_id}.png"), "attributes": {}},
        "conversation": {"id": conversation, "status": "open"},
        "message": {"id": message, "text": format!("hello from {user_id}"), "sent_at": "2026-01-01T10:00:00Z"}
    })
}

impl Reply {
    /// How many DynamoDB requests the runtime counted for this request.
    pub fn dynamodb_requests(&self) -> usize {
        self.headers
            .get("x-local-dynamodb-requests")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("the local runtime reports DynamoDB requests")
    }
}

/// A signed-in user of one org, with a client of its own (a clone shares the connection pool).
pub struct Caller {
    api: Api,
    pub token: String,
}

impl Caller {
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = serde_json::to_vec(body).expect("json");
        self.api
            .raw(method, path, Some(&self.token), Some(body), headers)
            .await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| serde_json::to_vec(b).expect("json"));
        self.api
            .raw(method, path, Some(&self.token), body, &[])
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// The export job once it has succeeded or failed.
    pub async fn finished_export(&self, id: &str) -> Value {
        eventually(&format!("export {id} finishing"), || async {
            let job = self.get(&format!("/exports/{id}")).await.expect(200);
            (job["status"] == "succeeded" || job["status"] == "failed").then_some(job)
        })
        .await
    }

    /// A `POST` with an `Idempotency-Key`.
    pub async fn post_with_key(&self, path: &str, body: &Value, key: &str) -> Reply {
        self.send_with(Method::POST, path, body, &[("idempotency-key", key)])
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn raw_body(&self, method: Method, path: &str, body: &[u8]) -> Reply {
        self.api
            .raw(method, path, Some(&self.token), Some(body.to_vec()), &[])
            .await
    }
}

/// Creates three custom attributes: `customer_id` (text), `tier` (dropdown Gold/Silver) and
/// `old_field` (switched off).
pub async fn sample_attributes(admin: &Caller) {
    define(
        admin,
        &[
            serde_json::json!({"label": "Customer ID", "type": "text"}),
            serde_json::json!({"label": "Tier", "type": "dropdown", "options": ["Gold", "Silver"]}),
            serde_json::json!({"label": "Old field", "type": "text", "enabled": false}),
        ],
    )
    .await;
}

/// Creates custom attributes from `POST /attributes` bodies, in order.
pub async fn define(admin: &Caller, bodies: &[Value]) {
    for body in bodies {
        admin.create_attribute(body).await;
    }
}

/// Polls `check` every 100 ms until it answers `Some` (background work: matching, purges,
/// exports), for up to 30 s; then fails the test naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    retry(what, 300, check).await
}

/// `eventually` with `attempts` checks 100 ms apart instead of 300, for work with a tighter
/// promise than 30 s.
pub async fn retry<T, F, Fut>(what: &str, attempts: u32, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(done) = check().await {
            return done;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{what} did not happen within {} s",
        f64::from(attempts) / 10.0
    );
}

/// The entry of `list` (`{"items": [...]}` or a contact view's `attributes`) with this `key`.
pub fn entry<'a>(list: &'a Value, key: &str) -> Option<&'a Value> {
    let items = list.get("items").or_else(|| list.get("attributes"))?;
    items.as_array()?.iter().find(|d| d["key"] == key)
}

/// Keys of an attribute list (or a contact view's attributes) in display order.
pub fn keys(list: &Value) -> Vec<String> {
    let items = list.get("items").or_else(|| list.get("attributes"));
    column(items.expect("items or attributes"), "key")
}

/// Ids of a page's items in order.
pub fn ids(list: &Value) -> Vec<String> {
    column(&list["items"], "id")
}

/// One text field of every object in a JSON array, in order.
pub fn column(items: &Value, name: &str) -> Vec<String> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| d[name].as_str().expect(name).to_owned())
        .collect()
}

/// Asserts that `actual` holds each top-level field of `expected` with that value (a missing
/// field reads as `null`); fields `expected` does not name are not compared.
#[track_caller]
pub fn assert_fields(actual: &Value, expected: Value) {
    let named = expected.as_object().expect("expected is an object");
    let seen: serde_json::Map<String, Value> = named
        .keys()
        .map(|name| (name.clone(), actual[name.as_str()].clone()))
        .collect();
    assert_eq!(Value::Object(seen), expected);
}
