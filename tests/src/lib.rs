//! Black-box test harness: talks HTTP to the local runtime that `scripts/test` started
//! (`INBOX_API_URL`). Every test works in an org of its own, so tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub fn base_url() -> String {
    std::env::var("INBOX_API_URL").expect(
        "INBOX_API_URL is not set: run the black-box tests through ./scripts/test, which starts the local runtime",
    )
}

/// The demo CRM `./scripts/test` starts beside the runtime.
pub fn demo_crm_url() -> String {
    std::env::var("DEMO_CRM_URL").expect("DEMO_CRM_URL is set by ./scripts/test")
}

/// The demo CRM's tenant for one org: its lookup URL, and a way to set what it answers.
pub struct DemoCrm {
    pub lookup_url: String,
    control: String,
    calls: String,
    http: reqwest::Client,
}

impl DemoCrm {
    pub fn for_org(org: &str) -> Self {
        let base = format!("{}/t/{org}", demo_crm_url());
        Self {
            lookup_url: format!("{base}/lookup"),
            control: format!("{base}/_control"),
            calls: format!("{base}/_calls"),
            http: reqwest::Client::new(),
        }
    }

    /// `{"secrets", "records", "behaviour"}` as `local::demo_crm` reads them.
    pub async fn set(&self, config: Value) {
        let status = self
            .http
            .put(&self.control)
            .json(&config)
            .send()
            .await
            .expect("demo CRM")
            .status();
        assert_eq!(status.as_u16(), 204);
    }

    /// The calls it received: `{"webhook_id", "signatures", "verified", "body"}`.
    pub async fn calls(&self) -> Vec<Value> {
        let list: Value = self
            .http
            .get(&self.calls)
            .send()
            .await
            .expect("demo CRM")
            .json()
            .await
            .expect("json");
        list["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Connects the org to its demo CRM tenant, which then holds the secret: the secret.
pub async fn connect_demo_crm(
    admin: &Caller<'_>,
    crm: &DemoCrm,
    records: Value,
    behaviour: &str,
) -> String {
    let connected = admin
        .put("/crm", &serde_json::json!({"lookup_url": crm.lookup_url}))
        .await
        .expect(200);
    let secret = connected["signing_secret"].as_str().unwrap().to_owned();
    crm.set(serde_json::json!({"secrets": [secret], "records": records, "behaviour": behaviour}))
        .await;
    secret
}

/// Requests a lookup and waits until it is no longer pending: the contact view.
pub async fn looked_up(caller: &Caller<'_>, contact: &str) -> Value {
    let path = format!("/contacts/{contact}/crm-lookup");
    let pending = caller.post(&path, &serde_json::json!({})).await.expect(202);
    assert_eq!(pending["crm"]["status"], "pending");
    eventually("the lookup finishing", || async {
        let view = caller
            .get(&format!("/contacts/{contact}"))
            .await
            .expect(200);
        (view["crm"]["status"] != "pending").then_some(view)
    })
    .await
}

/// A fresh org id nobody else uses.
pub fn new_org() -> String {
    format!("t-{}", uuid::Uuid::now_v7().simple())
}

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
        let reply = self
            .http
            .get(format!("{}/_local/token", self.base))
            .query(query)
            .send()
            .await
            .expect("token request");
        assert!(reply.status().is_success(), "token: {}", reply.status());
        let body: Value = reply.json().await.expect("token body");
        body["token"].as_str().expect("token string").to_owned()
    }

    pub async fn caller(&self, org: &str, role: &str, plan: &str) -> Caller<'_> {
        self.caller_as(org, role, plan, &format!("{org}-{role}"))
            .await
    }

    /// A caller with a chosen user id (`sub`), to be the same person under another role or plan.
    pub async fn caller_as(&self, org: &str, role: &str, plan: &str, sub: &str) -> Caller<'_> {
        let token = self
            .token(&[
                ("org", org),
                ("role", role),
                ("plan", plan),
                ("name", "Test User"),
                ("sub", sub),
            ])
            .await;
        Caller { api: self, token }
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

    /// The contact of a WhatsApp sender, made by its first message in `conversation`.
    pub async fn whatsapp_contact(&self, org: &str, user: &str, conversation: &str) -> String {
        let message = inbound(org, "whatsapp", user, conversation, &format!("m-{user}"));
        self.contact_of(&message).await
    }

    /// Hands an inbound message to the runtime's ingest, as the channels' queue would.
    pub async fn inbound(&self, message: &Value) -> Reply {
        let body = serde_json::to_vec(message).expect("json");
        self.raw(Method::POST, "/_local/inbound", None, Some(body), &[])
            .await
    }

    /// Fetches a URL the API handed out (a presigned download link).
    pub async fn download(&self, url: &str) -> (StatusCode, Vec<u8>) {
        let response = self.http.get(url).send().await.expect("download");
        let status = response.status();
        (status, response.bytes().await.expect("bytes").to_vec())
    }
}

impl Api {
    /// What the local bus received for an org (of one type, if given), oldest first.
    pub async fn events(&self, org: &str, kind: Option<&str>) -> Vec<Value> {
        let mut query = vec![("org", org), ("limit", "1000")];
        query.extend(kind.map(|k| ("type", k)));
        let reply = self
            .http
            .get(format!("{}/_local/events", self.base))
            .query(&query)
            .send()
            .await
            .expect("events request");
        assert!(reply.status().is_success(), "events: {}", reply.status());
        let body: Value = reply.json().await.expect("events body");
        body["items"].as_array().expect("items").clone()
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

/// A signed-in user of one org.
pub struct Caller<'a> {
    api: &'a Api,
    pub token: String,
}

impl Caller<'_> {
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
pub async fn sample_attributes(admin: &Caller<'_>) {
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
pub async fn define(admin: &Caller<'_>, bodies: &[Value]) {
    for body in bodies {
        admin.post("/attributes", body).await.expect(201);
    }
}

/// Polls `check` every 100 ms until it answers `Some` (background work: matching, purges,
/// exports), for up to 30 s; then fails the test naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(done) = check().await {
            return done;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 30 s");
}

/// The entry of `list` (`{"items": [...]}` or a contact view's `attributes`) with this `key`.
pub fn entry<'a>(list: &'a Value, key: &str) -> Option<&'a Value> {
    let items = list.get("items").or_else(|| list.get("attributes"))?;
    items.as_array()?.iter().find(|d| d["key"] == key)
}

/// Keys of an attribute list in display order.
pub fn keys(list: &Value) -> Vec<String> {
    field_of_items(list, "key")
}

/// Ids of a page's items in order.
pub fn ids(list: &Value) -> Vec<String> {
    field_of_items(list, "id")
}

fn field_of_items(list: &Value, name: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d[name].as_str().expect(name).to_owned())
        .collect()
}

/// Latency figures of one measured operation.
pub struct Timings {
    pub name: &'static str,
    samples: Vec<std::time::Duration>,
}

impl Timings {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            samples: Vec::new(),
        }
    }

    pub fn record(&mut self, took: std::time::Duration) {
        self.samples.push(took);
    }

    /// The `p`th percentile (0..=100) in milliseconds, nearest-rank.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        self.samples.sort();
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil().max(1.0) as usize - 1;
        self.samples[rank.min(self.samples.len() - 1)].as_secs_f64() * 1000.0
    }
}

/// Writes items straight to the table, 25 per `BatchWriteItem`, until none is left unprocessed.
/// Items are taken from the iterator as they are written, so seeding holds one batch at a time.
pub async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: impl IntoIterator<Item = HashMap<String, AttributeValue>>,
) {
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let batch: Vec<WriteRequest> = items
            .by_ref()
            .take(25)
            .map(|item| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        let mut pending = HashMap::from([(table.to_owned(), batch)]);
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .expect("a batch write");
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, v| !v.is_empty());
        }
    }
}

/// A DynamoDB client and table for raw baseline requests against the runtime's endpoint.
pub async fn raw_dynamodb() -> (aws_sdk_dynamodb::Client, String) {
    let config = shared::config::Config::from_env().expect("TABLE_NAME and AWS_ENDPOINT_URL");
    let client = aws_sdk_dynamodb::Client::new(&config.aws().await);
    (client, config.table_name)
}
