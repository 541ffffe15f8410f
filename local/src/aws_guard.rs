//! The HTTP client under every SDK client of a locally hosted function: what stands between the
//! function and the local AWS endpoints, so that they behave as AWS does.
//! - IAM: each call is checked, before it is sent, against the function's own policy in
//!   `template.yaml` (`iam`); a call it does not grant is answered as AWS answers it, with
//!   `AccessDeniedException` (`AccessDenied` from S3), and never reaches the endpoint.
//! - Brownouts: a chosen share of DynamoDB requests fails before it is sent, half throttled
//!   (`ProvisionedThroughputExceededException`, 400) and half `InternalServerError` (500), for
//!   every org or for chosen orgs (`Faults`).
//! - DynamoDB Local's stream records write an empty map as `{}` instead of `{"M": {}}`, which
//!   the SDK refuses with the whole page; the event source's reads are mended as they arrive.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::iam::{Arns, Call, Denied, Policy};

/// What every function's guard shares: how ARNs are named, the table's partition keys, faults,
/// and the process's one HTTP client, which sends what the guard lets through.
#[derive(Debug, Clone)]
pub struct Guard {
    arns: Arc<Arns>,
    /// The partition key attribute of the table (`""`) and of each index, by index name.
    hash_keys: Arc<BTreeMap<String, String>>,
    pub faults: Faults,
    inner: SharedHttpClient,
}

impl Guard {
    pub fn new(
        arns: Arns,
        hash_keys: BTreeMap<String, String>,
        faults: Faults,
        inner: SharedHttpClient,
    ) -> Self {
        Self {
            arns: Arc::new(arns),
            hash_keys: Arc::new(hash_keys),
            faults,
            inner,
        }
    }

    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    /// The HTTP client of a function's SDK clients: every call checked against `policy`, and
    /// DynamoDB requests subject to the faults.
    pub fn for_function(&self, policy: Arc<Policy>) -> SharedHttpClient {
        self.client(Some(policy))
    }

    /// The HTTP client of the event sources the runtime plays (Lambda's own calls, made with the
    /// permissions SAM gives an event source): unchecked and unfaulted, stream reads mended.
    pub fn for_event_sources(&self) -> SharedHttpClient {
        self.client(None)
    }

    fn client(&self, policy: Option<Arc<Policy>>) -> SharedHttpClient {
        SharedHttpClient::new(GuardedClient {
            inner: self.inner.clone(),
            policy,
            guard: self.clone(),
        })
    }

    /// The IAM calls an HTTP request to AWS makes.
    fn calls(&self, request: &HttpRequest) -> Result<Vec<Call>, String> {
        match target(request) {
            Some((service, operation)) => {
                let body = request
                    .body()
                    .bytes()
                    .map(serde_json::from_slice::<Value>)
                    .transpose()
                    .map_err(|e| format!("a {service} request body that is not JSON: {e}"))?
                    .unwrap_or(Value::Null);
                match service {
                    "DynamoDB_20120810" => Ok(self.dynamodb_calls(operation, &body)),
                    "AmazonSQS" => Ok(self.sqs_calls(operation, &body)),
                    "TrentService" => Ok(vec![Call::new(
                        format!("kms:{operation}"),
                        self.arns.key_named(text(&body, "KeyId")),
                    )]),
                    "AWSEvents" => Ok(self.events_calls(operation, &body)),
                    other => Err(format!("calls to {other} are not modelled locally")),
                }
            }
            None => s3_calls(request),
        }
    }

    fn dynamodb_calls(&self, operation: &str, body: &Value) -> Vec<Call> {
        let table_call = |action: &str, table: &str, keys: Vec<String>| Call {
            leading_keys: keys,
            ..Call::new(format!("dynamodb:{action}"), self.arns.table(table))
        };
        let hash_key = |index: &str| self.hash_keys.get(index).cloned().unwrap_or_default();
        let key_of = |item: &Value| -> Vec<String> {
            item.get(hash_key(""))
                .and_then(|v| v.get("S"))
                .and_then(Value::as_str)
                .map(|k| vec![k.to_owned()])
                .unwrap_or_default()
        };
        let table = text(body, "TableName");
        match operation {
            "GetItem" | "DeleteItem" | "UpdateItem" => {
                vec![table_call(operation, table, key_of(&body["Key"]))]
            }
            "PutItem" => vec![table_call(operation, table, key_of(&body["Item"]))],
            "Query" | "Scan" => {
                let index = text(body, "IndexName");
                let resource = if index.is_empty() {
                    self.arns.table(table)
                } else {
                    format!("{}/index/{index}", self.arns.table(table))
                };
                let keys = partition_value(body, &hash_key(index))
                    .into_iter()
                    .collect();
                vec![Call {
                    leading_keys: keys,
                    ..Call::new(format!("dynamodb:{operation}"), resource)
                }]
            }
            "BatchGetItem" | "BatchWriteItem" => object(&body["RequestItems"])
                .map(|(table, request)| {
                    let keys = if operation == "BatchGetItem" {
                        array(&request["Keys"]).flat_map(key_of).collect()
                    } else {
                        array(request)
                            .flat_map(|w| {
                                key_of(&w["PutRequest"]["Item"])
                                    .into_iter()
                                    .chain(key_of(&w["DeleteRequest"]["Key"]))
                            })
                            .collect()
                    };
                    table_call(operation, table, keys)
                })
                .collect(),
            // IAM checks each item of a transaction as its own action.
            "TransactWriteItems" | "TransactGetItems" => array(&body["TransactItems"])
                .filter_map(|item| {
                    let (kind, inner) = object(item).next()?;
                    let action = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem",
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "Get" => "GetItem",
                        _ => kind.as_str(),
                    };
                    let keys = key_of(&inner["Key"])
                        .into_iter()
                        .chain(key_of(&inner["Item"]))
                        .collect();
                    Some(table_call(action, text(inner, "TableName"), keys))
                })
                .collect(),
            _ => vec![table_call(operation, table, Vec::new())],
        }
    }

    fn sqs_calls(&self, operation: &str, body: &Value) -> Vec<Call> {
        let action = operation.strip_suffix("Batch").unwrap_or(operation);
        let queue = match text(body, "QueueUrl") {
            "" => self.arns.queue(text(body, "QueueName")),
            url => self.arns.queue_of_url(url),
        };
        vec![Call::new(format!("sqs:{action}"), queue)]
    }

    fn events_calls(&self, operation: &str, body: &Value) -> Vec<Call> {
        let bus = |name: &str| match name {
            "" => self.arns.event_bus("default"),
            arn if arn.starts_with("arn:") => arn.to_owned(),
            name => self.arns.event_bus(name),
        };
        match operation {
            "PutEvents" => array(&body["Entries"])
                .map(|entry| Call::new("events:PutEvents", bus(text(entry, "EventBusName"))))
                .collect(),
            _ => vec![Call::new(
                format!("events:{operation}"),
                bus(text(body, "EventBusName")),
            )],
        }
    }
}

/// `X-Amz-Target: Service.Operation`, the JSON protocols' operation; S3 has none.
fn target(request: &HttpRequest) -> Option<(&str, &str)> {
    request.headers().get("x-amz-target")?.split_once('.')
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn object(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// The partition key value a query's key condition names (`#k = :v` or `PK = :v`).
fn partition_value(body: &Value, hash_key: &str) -> Option<String> {
    let condition = text(body, "KeyConditionExpression");
    let names = &body["ExpressionAttributeNames"];
    condition.split(" AND ").find_map(|clause| {
        let (name, value) = clause.trim().trim_matches(['(', ')']).split_once('=')?;
        let name = name.trim();
        let name = names.get(name).and_then(Value::as_str).unwrap_or(name);
        (name == hash_key).then(|| {
            body["ExpressionAttributeValues"][value.trim()]["S"]
                .as_str()
                .map(str::to_owned)
        })?
    })
}

/// S3's REST calls: the action from method, query and headers; the resource from bucket and key.
fn s3_calls(request: &HttpRequest) -> Result<Vec<Call>, String> {
    let uri: http::Uri = request
        .uri()
        .parse()
        .map_err(|e| format!("an S3 request URI that does not parse: {e}"))?;
    let host = uri.host().unwrap_or_default();
    let path = uri.path().trim_start_matches('/');
    let path_style = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost";
    let (bucket, key) = if path_style {
        path.split_once('/').unwrap_or((path, ""))
    } else {
        (host.split('.').next().unwrap_or_default(), path)
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let (bucket, key) = (decode(bucket), decode(key));
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let object = |key: &str| format!("{}/{key}", Arns::bucket(&bucket));
    let call = |action: &str, resource: String| Call::new(format!("s3:{action}"), resource);
    let calls = match (request.method(), key.is_empty()) {
        ("GET", true) => {
            let mut list = call("ListBucket", Arns::bucket(&bucket));
            list.prefix = query.get("prefix").cloned();
            vec![list]
        }
        ("POST", true) if query.contains_key("delete") => {
            let body = request.body().bytes().unwrap_or_default();
            let body = String::from_utf8_lossy(body);
            body.split("<Key>")
                .skip(1)
                .filter_map(|rest| rest.split_once("</Key>").map(|(k, _)| k))
                .map(|k| call("DeleteObject", object(&xml_unescape(k))))
                .collect()
        }
        ("GET" | "HEAD", false) => vec![call("GetObject", object(&key))],
        ("PUT", false) => {
            let mut calls = vec![call("PutObject", object(&key))];
            if let Some(source) = request.headers().get("x-amz-copy-source") {
                let source = decode(source.trim_start_matches('/'));
                calls.push(call("GetObject", format!("arn:aws:s3:::{source}")));
            }
            calls
        }
        ("POST", false) => vec![call("PutObject", object(&key))],
        ("DELETE", false) if query.contains_key("uploadId") => {
            vec![call("AbortMultipartUpload", object(&key))]
        }
        ("DELETE", false) => vec![call("DeleteObject", object(&key))],
        (method, _) => return Err(format!("S3 {method} {uri} is not modelled locally")),
    };
    Ok(calls)
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The failures injected into DynamoDB requests: a share of every org's, or of chosen orgs'.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

#[derive(Debug, Default)]
struct FaultState {
    everywhere: f64,
    by_org: HashMap<String, f64>,
    /// One-shot pause points: an org's next DynamoDB request of an operation waits, before it
    /// is sent, until it is resumed (a race injected at the exact point).
    pauses: HashMap<String, Pause>,
    /// One-shot cancellations: an org's next `TransactWriteItems` is cancelled, before it is
    /// sent, with this reason on its first item (`TransactionConflict`, say), as DynamoDB
    /// cancels one that meets another transaction on an item.
    cancels: HashMap<String, String>,
    /// Transactions cancelled so far.
    cancelled: u64,
    /// One-shot partial batches: an org's next `BatchGetItem` or `BatchWriteItem` (the value)
    /// is served for its first key or item only, and hands the rest back unprocessed, as
    /// DynamoDB does when a batch meets its size limit or throttling.
    unprocessed: HashMap<String, String>,
    /// Requests seen, and failed, under a share above 0.
    seen: u64,
    failed: u64,
    /// Requests failed, by the org they named.
    failed_by_org: HashMap<String, u64>,
    /// The SQS messages sent for the orgs watched, oldest first.
    sent: HashMap<String, Vec<SentMessage>>,
}

/// An SQS message a function sent, as it went to the queue: what a test reads of a message
/// that is delayed, and so cannot be received yet.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub queue_url: String,
    pub body: Value,
    pub delay_seconds: u64,
}

#[derive(Debug)]
struct Pause {
    operation: String,
    /// Set once a request has stopped there.
    held: bool,
    resume: Arc<tokio::sync::Notify>,
}

/// How injected failures have gone so far.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct FaultCounts {
    pub requests: u64,
    pub failed: u64,
    /// Requests of the org asked about failed so far.
    pub org_failed: u64,
    /// Whether a request of the org asked about is held at its pause point.
    pub held: bool,
    /// Transactions cancelled by a one-shot cancellation (all orgs).
    pub cancelled: u64,
    /// Whether the org asked about has a cancellation still waiting for its transaction.
    pub cancel_pending: bool,
    /// Whether the org asked about has a partial batch still waiting for its batch.
    pub unprocessed_pending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Throttled,
    InternalError,
}

impl Faults {
    /// Fails `share` (0..=1) of every DynamoDB request.
    pub fn everywhere(share: f64) -> Self {
        let faults = Self::default();
        faults.lock().everywhere = share;
        faults
    }

    /// Fails `share` of the DynamoDB requests that name `org`'s keys (0 stops it).
    pub fn set_org(&self, org: &str, share: f64) {
        let mut state = self.lock();
        if share > 0.0 {
            state.by_org.insert(org.to_owned(), share);
        } else {
            state.by_org.remove(org);
        }
    }

    /// Holds `org`'s next DynamoDB `operation` (`TransactWriteItems`, say) before it is sent,
    /// until [`Faults::resume`].
    pub fn pause(&self, org: &str, operation: &str) {
        let pause = Pause {
            operation: operation.to_owned(),
            held: false,
            resume: Arc::default(),
        };
        self.lock().pauses.insert(org.to_owned(), pause);
    }

    /// Lets the request held for `org` go on (and ends its pause point); `false` if none was held.
    pub fn resume(&self, org: &str) -> bool {
        match self.lock().pauses.remove(org) {
            Some(pause) => {
                pause.resume.notify_one();
                pause.held
            }
            None => false,
        }
    }

    /// The counts, and whether `org` has a request held.
    pub fn counts(&self, org: Option<&str>) -> FaultCounts {
        let state = self.lock();
        FaultCounts {
            requests: state.seen,
            failed: state.failed,
            org_failed: org
                .and_then(|org| state.failed_by_org.get(org))
                .copied()
                .unwrap_or(0),
            held: org
                .and_then(|org| state.pauses.get(org))
                .is_some_and(|p| p.held),
            cancelled: state.cancelled,
            cancel_pending: org.is_some_and(|org| state.cancels.contains_key(org)),
            unprocessed_pending: org.is_some_and(|org| state.unprocessed.contains_key(org)),
        }
    }

    /// Keeps every SQS message sent from now on whose body names `org` (`org_id`).
    pub fn watch_sends(&self, org: &str) {
        self.lock().sent.entry(org.to_owned()).or_default();
    }

    /// The messages sent for `org` since [`Faults::watch_sends`], oldest first.
    pub fn sent(&self, org: &str) -> Vec<SentMessage> {
        self.lock().sent.get(org).cloned().unwrap_or_default()
    }

    /// [`Faults::sent`], only those sent to `queue_url`.
    pub fn sent_to(&self, org: &str, queue_url: &str) -> Vec<SentMessage> {
        let mut sent = self.sent(org);
        sent.retain(|m| m.queue_url == queue_url);
        sent
    }

    /// Keeps the messages of a `SendMessage` or `SendMessageBatch` whose org is watched.
    fn observe_sends(&self, body: &[u8]) {
        // The runtime's own functions send all day; only a test that watches pays for a parse.
        if self.lock().sent.is_empty() {
            return;
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let queue_url = text(&request, "QueueUrl").to_owned();
        let entries: Vec<&Value> = match request.get("Entries") {
            Some(entries) => array(entries).collect(),
            None => vec![&request],
        };
        let mut state = self.lock();
        for entry in entries {
            let Ok(body) = serde_json::from_str::<Value>(text(entry, "MessageBody")) else {
                continue;
            };
            if let Some(sent) = state.sent.get_mut(text(&body, "org_id")) {
                sent.push(SentMessage {
                    queue_url: queue_url.clone(),
                    delay_seconds: entry["DelaySeconds"].as_u64().unwrap_or(0),
                    body,
                });
            }
        }
    }

    /// Cancels `org`'s next `TransactWriteItems` with `reason` on its first item.
    pub fn cancel_next_transaction(&self, org: &str, reason: &str) {
        self.lock()
            .cancels
            .insert(org.to_owned(), reason.to_owned());
    }

    /// Serves `org`'s next `operation` (`BatchGetItem` or `BatchWriteItem`) for its first key or
    /// item only, the rest handed back unprocessed.
    pub fn leave_unprocessed(&self, org: &str, operation: &str) {
        self.lock()
            .unprocessed
            .insert(org.to_owned(), operation.to_owned());
    }

    /// What is done to this DynamoDB request instead of sending it now, if anything: a share's
    /// failure first, then an org's one-shot cancellation, partial batch, or pause point.
    fn inject(&self, operation: &str, body: &[u8]) -> Option<Injected> {
        let org = org_named(body);
        let mut state = self.lock();
        if let Some(fault) = state.pick(org) {
            return Some(Injected::Failed(fault));
        }
        if let Some(reason) = state.cancellation(operation, org?) {
            return Some(Injected::Cancelled(reason));
        }
        if state
            .unprocessed
            .get(org?)
            .is_some_and(|op| op == operation)
        {
            state.unprocessed.remove(org?);
            return Some(Injected::Partial);
        }
        state.hold(operation, org?).map(Injected::Held)
    }

    #[cfg(test)]
    fn pick(&self, body: &[u8]) -> Option<Fault> {
        self.lock().pick(org_named(body))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the faults do to one DynamoDB request.
enum Injected {
    Failed(Fault),
    /// Cancelled (a transaction), with this reason.
    Cancelled(String),
    /// Sent once it is resumed.
    Held(Arc<tokio::sync::Notify>),
    /// A batch served for its first key or item only.
    Partial,
}

impl FaultState {
    /// Whether a request naming `org` fails, and how: the n-th request under a share fails when
    /// a hash of n falls below it, so a run's failures are spread evenly and the same every time.
    fn pick(&mut self, org: Option<&str>) -> Option<Fault> {
        let share = match org.and_then(|org| self.by_org.get(org)) {
            Some(share) => *share,
            None => self.everywhere,
        };
        if share <= 0.0 {
            return None;
        }
        self.seen += 1;
        let roll = splitmix(self.seen) as f64 / u64::MAX as f64;
        if roll >= share {
            return None;
        }
        self.failed += 1;
        if let Some(org) = org {
            *self.failed_by_org.entry(org.to_owned()).or_default() += 1;
        }
        Some(if self.failed % 2 == 1 {
            Fault::Throttled
        } else {
            Fault::InternalError
        })
    }

    /// The reason this transaction is cancelled with, if it is the one an org's cancellation is
    /// for.
    fn cancellation(&mut self, operation: &str, org: &str) -> Option<String> {
        if operation != "TransactWriteItems" {
            return None;
        }
        let reason = self.cancels.remove(org)?;
        self.cancelled += 1;
        Some(reason)
    }

    /// Where this request must wait, if it is the one an org's pause point is for.
    fn hold(&mut self, operation: &str, org: &str) -> Option<Arc<tokio::sync::Notify>> {
        let pause = self.pauses.get_mut(org)?;
        if pause.held || pause.operation != operation {
            return None;
        }
        pause.held = true;
        Some(pause.resume.clone())
    }
}

/// The org whose keys a DynamoDB request names first (`"ORG#<org>#…` or `"ORG#<org>"`).
fn org_named(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"ORG#")? + 5;
    let rest = &text[start..];
    let end = rest.find(['#', '"'])?;
    Some(&rest[..end])
}

fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug)]
struct GuardedClient {
    inner: SharedHttpClient,
    policy: Option<Arc<Policy>>,
    guard: Guard,
}

impl HttpClient for GuardedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GuardedConnector {
            inner: self.inner.http_connector(settings, components),
            policy: self.policy.clone(),
            guard: self.guard.clone(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct GuardedConnector {
    inner: SharedHttpConnector,
    policy: Option<Arc<Policy>>,
    guard: Guard,
}

impl HttpConnector for GuardedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(policy) = &self.policy {
            let calls = self.guard.calls(&request);
            let refused = match &calls {
                Ok(calls) => calls.iter().find_map(|call| policy.check(call).err()),
                Err(unknown) => Some(Denied {
                    action: unknown.clone(),
                    resource: "*".into(),
                    explicit: false,
                }),
            };
            if let Some(denied) = refused {
                tracing::error!(
                    function = %policy.function,
                    action = %denied.action,
                    resource = %denied.resource,
                    "AccessDenied: the function's policy in template.yaml does not allow this call"
                );
                return HttpConnectorFuture::ready(Ok(access_denied(
                    &request,
                    &policy.function,
                    &denied,
                )));
            }
            if let Some(("AmazonSQS", "SendMessage" | "SendMessageBatch")) = target(&request) {
                let body = request.body().bytes().unwrap_or_default();
                self.guard.faults.observe_sends(body);
            }
            if let Some(("DynamoDB_20120810", operation)) = target(&request) {
                let body = request.body().bytes().unwrap_or_default();
                match self.guard.faults.inject(operation, body) {
                    Some(Injected::Failed(fault)) => {
                        return HttpConnectorFuture::ready(Ok(dynamodb_fault(fault)));
                    }
                    Some(Injected::Cancelled(reason)) => {
                        let cancelled = transaction_cancelled(&reason, body);
                        return HttpConnectorFuture::ready(Ok(cancelled));
                    }
                    Some(Injected::Held(resume)) => {
                        let inner = self.inner.clone();
                        return HttpConnectorFuture::new(async move {
                            resume.notified().await;
                            inner.call(request).await
                        });
                    }
                    Some(Injected::Partial) => {
                        if let Some((first, rest)) = split_batch(operation, body) {
                            let mut request = request;
                            request
                                .headers_mut()
                                .insert("content-length", first.len().to_string());
                            *request.body_mut() = SdkBody::from(first);
                            let sent = self.inner.call(request);
                            return rewritten(sent, move |body| unprocessed(body, rest));
                        }
                    }
                    None => {}
                }
            }
            let calls = calls.unwrap_or_default();
            if let Some(bucket) = unlisted_bucket(&request, &calls, policy) {
                return self.hiding_missing_objects(request, policy.clone(), bucket);
            }
        }
        let mends_stream_records =
            target(&request) == Some(("DynamoDBStreams_20120810", "GetRecords"));
        let sent = self.inner.call(request);
        if !mends_stream_records {
            return sent;
        }
        rewritten(sent, mend_stream_records)
    }
}

/// The response to `sent`, its body passed through `rewrite` (kept as it is when that answers
/// `None`).
fn rewritten(
    sent: HttpConnectorFuture,
    rewrite: impl FnOnce(&[u8]) -> Option<Vec<u8>> + Send + 'static,
) -> HttpConnectorFuture {
    HttpConnectorFuture::new(async move {
        let response = sent.await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(ConnectorError::io)?
            .to_bytes();
        let body = rewrite(&body).unwrap_or_else(|| body.to_vec());
        let mut out = HttpResponse::new(status, SdkBody::from(body));
        for (name, value) in headers.iter() {
            if !name.eq_ignore_ascii_case("content-length") {
                out.headers_mut().insert(name.to_owned(), value.to_owned());
            }
        }
        Ok(out)
    })
}

/// A batch request cut to its first key (`BatchGetItem`) or item (`BatchWriteItem`) of its
/// first table, and the rest of that table's request as DynamoDB hands it back unprocessed
/// (`{"<table>": …}`); `None` when there is nothing to leave over.
fn split_batch(operation: &str, body: &[u8]) -> Option<(Vec<u8>, Value)> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let tables = request.get_mut("RequestItems")?.as_object_mut()?;
    let (table, wanted) = tables.iter_mut().next()?;
    let list = match operation {
        "BatchGetItem" => wanted.get_mut("Keys")?,
        "BatchWriteItem" => &mut *wanted,
        _ => return None,
    }
    .as_array_mut()?;
    if list.len() < 2 {
        return None;
    }
    let rest = list.split_off(1);
    let mut left = wanted.clone();
    match operation {
        "BatchGetItem" => left["Keys"] = Value::Array(rest),
        _ => left = Value::Array(rest),
    }
    let left = json!({ table.clone(): left });
    Some((serde_json::to_vec(&request).ok()?, left))
}

/// A successful batch response with `left` handed back unprocessed.
fn unprocessed(body: &[u8], left: Value) -> Option<Vec<u8>> {
    let mut response: Value = serde_json::from_slice(body).ok()?;
    let field = if response.get("Responses").is_some() {
        "UnprocessedKeys"
    } else if response.get("UnprocessedItems").is_some() {
        "UnprocessedItems"
    } else {
        return None;
    };
    response[field] = left;
    serde_json::to_vec(&response).ok()
}

impl GuardedConnector {
    /// S3 answers a read of a missing object with `403 AccessDenied`, not `404`, to a caller
    /// that may not list the bucket: it will not tell it which keys exist.
    fn hiding_missing_objects(
        &self,
        request: HttpRequest,
        policy: Arc<Policy>,
        bucket: String,
    ) -> HttpConnectorFuture {
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let response = sent.await?;
            if response.status().as_u16() != 404 {
                return Ok(response);
            }
            let denied = Denied {
                action: "s3:ListBucket".into(),
                resource: Arns::bucket(&bucket),
                explicit: false,
            };
            Ok(s3_access_denied(&policy.function, &denied))
        })
    }
}

/// The bucket of an object read (`GET`, `HEAD`; its `calls`) by a function that may not list it.
fn unlisted_bucket(request: &HttpRequest, calls: &[Call], policy: &Policy) -> Option<String> {
    if target(request).is_some() || !matches!(request.method(), "GET" | "HEAD") {
        return None;
    }
    let read = calls.iter().find(|c| c.action == "s3:GetObject")?;
    let bucket = read
        .resource
        .strip_prefix("arn:aws:s3:::")?
        .split('/')
        .next()?
        .to_owned();
    let list = Call::new("s3:ListBucket", Arns::bucket(&bucket));
    (!policy.allows(&list)).then_some(bucket)
}

/// A stream page with every empty map written `{"M": {}}`; `None` when it needs nothing.
fn mend_stream_records(body: &[u8]) -> Option<Vec<u8>> {
    fn mend(value: &mut Value) -> bool {
        match value {
            Value::Object(map) if map.is_empty() => {
                map.insert("M".into(), Value::Object(Default::default()));
                true
            }
            Value::Object(map) => {
                let mut changed = false;
                if let Some(Value::Object(inner)) = map.get_mut("M") {
                    for v in inner.values_mut() {
                        changed |= mend(v);
                    }
                }
                if let Some(Value::Array(items)) = map.get_mut("L") {
                    for v in items {
                        changed |= mend(v);
                    }
                }
                changed
            }
            _ => false,
        }
    }
    let mut page: Value = serde_json::from_slice(body).ok()?;
    let mut changed = false;
    for record in page.get_mut("Records")?.as_array_mut()? {
        for image in ["Keys", "NewImage", "OldImage"] {
            if let Some(Value::Object(item)) =
                record.get_mut("dynamodb").and_then(|d| d.get_mut(image))
            {
                for value in item.values_mut() {
                    changed |= mend(value);
                }
            }
        }
    }
    changed.then(|| serde_json::to_vec(&page).ok()).flatten()
}

fn json_response(status: http::StatusCode, kind: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({"__type": kind, "message": message, "Message": message});
    let mut response = HttpResponse::new(StatusCode::from(status), SdkBody::from(body.to_string()));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
        .headers_mut()
        .insert("x-amzn-requestid", "local-aws-guard");
    response
}

fn dynamodb_fault(fault: Fault) -> HttpResponse {
    match fault {
        Fault::Throttled => json_response(
            http::StatusCode::BAD_REQUEST,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        Fault::InternalError => json_response(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "Internal server error",
        ),
    }
}

/// DynamoDB's `TransactionCanceledException`: one reason per item, in order, `reason` on the
/// first and `None` on the others.
fn transaction_cancelled(reason: &str, body: &[u8]) -> HttpResponse {
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .map_or(1, |body| array(&body["TransactItems"]).count().max(1));
    let reasons: Vec<Value> = std::iter::once(json!({"Code": reason, "Message": reason}))
        .chain(std::iter::repeat_n(json!({"Code": "None"}), items - 1))
        .collect();
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r["Code"].as_str()).collect();
    let message = format!(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
        codes.join(", ")
    );
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": message,
        "CancellationReasons": reasons,
    });
    let mut response = HttpResponse::new(
        StatusCode::from(http::StatusCode::BAD_REQUEST),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// The refusal AWS sends: `AccessDeniedException` from the JSON services, `AccessDenied` from S3.
fn access_denied(request: &HttpRequest, function: &str, denied: &Denied) -> HttpResponse {
    let message = denial(function, denied);
    if target(request).is_some() {
        let mut response = json_response(
            http::StatusCode::BAD_REQUEST,
            "com.amazon.coral.service#AccessDeniedException",
            &message,
        );
        response
            .headers_mut()
            .insert("x-amzn-query-error", "AccessDenied;Sender");
        return response;
    }
    s3_error(&message)
}

fn s3_access_denied(function: &str, denied: &Denied) -> HttpResponse {
    s3_error(&denial(function, denied))
}

/// AWS's words for a refusal.
fn denial(function: &str, denied: &Denied) -> String {
    let why = if denied.explicit {
        "with an explicit deny in an identity-based policy"
    } else {
        "because no identity-based policy allows the action"
    };
    format!(
        "User: arn:aws:sts::{}:assumed-role/{function}-role/{function} is not authorized to \
         perform: {} on resource: {} {why}",
        crate::iam::ACCOUNT,
        denied.action,
        denied.resource
    )
}

fn s3_error(message: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
         <Message>{}</Message><RequestId>local-aws-guard</RequestId></Error>",
        message.replace('&', "&amp;").replace('<', "&lt;")
    );
    let mut response = HttpResponse::new(
        StatusCode::from(http::StatusCode::FORBIDDEN),
        SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("content-type", "application/xml");
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn guard() -> Guard {
        let mut arns = Arns::new("us-east-1");
        arns.alias_key("alias/CrmSecretKey", "CrmSecretKey");
        let hash_keys = BTreeMap::from([
            (String::new(), "PK".to_owned()),
            ("GSI1".to_owned(), "GSI1PK".to_owned()),
        ]);
        Guard::new(
            arns,
            hash_keys,
            Faults::default(),
            shared::tls::sdk_http_client(),
        )
    }

    fn json_request(target: &str, body: Value) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from(body.to_string()));
        request.set_uri("http://127.0.0.1:1/").unwrap();
        request.set_method("POST").unwrap();
        request
            .headers_mut()
            .insert("x-amz-target", target.to_owned());
        request
    }

    #[test]
    fn a_transaction_is_one_call_per_item_with_its_partition_key() {
        let request = json_request(
            "DynamoDB_20120810.TransactWriteItems",
            serde_json::json!({"TransactItems": [
                {"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "ORG#a"}, "SK": {"S": "X"}}}},
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "ORG#a#C#1"}, "SK": {"S": "PROFILE"}}}},
                {"Update": {"TableName": "t", "Key": {"PK": {"S": "ORG#a#C#1"}, "SK": {"S": "PROFILE"}}}},
            ]}),
        );
        let calls = guard().calls(&request).unwrap();
        let actions: Vec<_> = calls.iter().map(|c| c.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "dynamodb:ConditionCheckItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem"
            ]
        );
        assert_eq!(calls[1].leading_keys, ["ORG#a#C#1"]);
        assert_eq!(
            calls[0].resource,
            "arn:aws:dynamodb:us-east-1:000000000000:table/t"
        );
    }

    #[test]
    fn a_query_names_its_index_and_the_partition_value_of_its_key_condition() {
        let request = json_request(
            "DynamoDB_20120810.Query",
            serde_json::json!({"TableName": "t", "IndexName": "GSI1",
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :s)",
                "ExpressionAttributeNames": {"#pk": "GSI1PK", "#sk": "GSI1SK"},
                "ExpressionAttributeValues": {":pk": {"S": "ORG#a#CONTACTS"}, ":s": {"S": "C#"}}}),
        );
        let calls = guard().calls(&request).unwrap();
        assert_eq!(
            calls[0].resource,
            "arn:aws:dynamodb:us-east-1:000000000000:table/t/index/GSI1"
        );
        assert_eq!(calls[0].leading_keys, ["ORG#a#CONTACTS"]);
    }

    #[test]
    fn queues_keys_and_buses_are_named_by_their_arns() {
        let g = guard();
        let send = json_request(
            "AmazonSQS.SendMessageBatch",
            serde_json::json!({"QueueUrl": "http://127.0.0.1:1/123456789012/MatchQueue"}),
        );
        assert_eq!(
            g.calls(&send).unwrap(),
            [Call::new(
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:000000000000:MatchQueue"
            )]
        );
        let decrypt = json_request(
            "TrentService.Decrypt",
            serde_json::json!({"KeyId": "alias/CrmSecretKey"}),
        );
        assert_eq!(
            g.calls(&decrypt).unwrap()[0].resource,
            "arn:aws:kms:us-east-1:000000000000:key/CrmSecretKey"
        );
        let put = json_request(
            "AWSEvents.PutEvents",
            serde_json::json!({"Entries": [{"EventBusName": "ContactEvents"}]}),
        );
        assert_eq!(
            g.calls(&put).unwrap()[0].resource,
            "arn:aws:events:us-east-1:000000000000:event-bus/ContactEvents"
        );
    }

    #[test]
    fn s3_calls_are_read_from_method_query_and_headers() {
        let s3 = |method: &str, uri: &str, copy: Option<&str>, body: &str| {
            let mut request = HttpRequest::new(SdkBody::from(body.to_owned()));
            request.set_uri(uri).unwrap();
            request.set_method(method).unwrap();
            if let Some(source) = copy {
                request
                    .headers_mut()
                    .insert("x-amz-copy-source", source.to_owned());
            }
            s3_calls(&request).unwrap()
        };
        let base = "http://127.0.0.1:1/data";
        let list = s3(
            "GET",
            &format!("{base}?list-type=2&prefix=exports%2Fo%2F"),
            None,
            "",
        );
        assert_eq!(list[0].action, "s3:ListBucket");
        assert_eq!(list[0].prefix.as_deref(), Some("exports/o/"));
        let copy = s3(
            "PUT",
            &format!("{base}/attachments/o/c/m/a%20b.png"),
            Some("data/incoming/x.png"),
            "",
        );
        assert_eq!(
            copy,
            [
                Call::new(
                    "s3:PutObject",
                    "arn:aws:s3:::data/attachments/o/c/m/a b.png"
                ),
                Call::new("s3:GetObject", "arn:aws:s3:::data/incoming/x.png"),
            ]
        );
        let abort = s3(
            "DELETE",
            &format!("{base}/exports/o/x.csv?uploadId=1"),
            None,
            "",
        );
        assert_eq!(abort[0].action, "s3:AbortMultipartUpload");
        let delete = s3(
            "POST",
            &format!("{base}?delete"),
            None,
            "<Delete><Object><Key>attachments/a</Key></Object><Object><Key>attachments/b&amp;c</Key></Object></Delete>",
        );
        assert_eq!(
            delete
                .iter()
                .map(|c| c.resource.as_str())
                .collect::<Vec<_>>(),
            [
                "arn:aws:s3:::data/attachments/a",
                "arn:aws:s3:::data/attachments/b&c"
            ]
        );
    }

    #[test]
    fn faults_fail_the_chosen_share_of_an_orgs_requests_half_throttled() {
        let faults = Faults::default();
        faults.set_org("brown", 0.05);
        let body = br#"{"Key": {"PK": {"S": "ORG#brown#C#1"}}}"#;
        let other = br#"{"Key": {"PK": {"S": "ORG#green#C#1"}}}"#;
        let mut kinds = Vec::new();
        for _ in 0..4000 {
            assert_eq!(faults.pick(other), None, "another org is never failed");
            kinds.extend(faults.pick(body));
        }
        let failed = kinds.len();
        assert!((150..=250).contains(&failed), "{failed} of 4000 failed");
        let throttled = kinds.iter().filter(|k| **k == Fault::Throttled).count();
        assert_eq!(throttled, failed.div_ceil(2));
        faults.set_org("brown", 0.0);
        assert_eq!(faults.pick(body), None);
    }

    #[test]
    fn an_empty_map_in_a_stream_record_is_mended_and_the_rest_kept() {
        let page = br#"{"Records": [{"dynamodb": {"NewImage": {"data": {"M": {"toggles": {}, "n": {"N": "1"}}}, "l": {"L": [{}]}}, "Keys": {"PK": {"S": "x"}}}}], "NextShardIterator": "i"}"#;
        let mended: Value = serde_json::from_slice(&mend_stream_records(page).unwrap()).unwrap();
        let image = &mended["Records"][0]["dynamodb"]["NewImage"];
        assert_eq!(image["data"]["M"]["toggles"], serde_json::json!({"M": {}}));
        assert_eq!(image["data"]["M"]["n"], serde_json::json!({"N": "1"}));
        assert_eq!(image["l"]["L"][0], serde_json::json!({"M": {}}));
        assert_eq!(mended["NextShardIterator"], "i");
        let whole = br#"{"Records": [{"dynamodb": {"NewImage": {"m": {"M": {}}}}}]}"#;
        assert_eq!(mend_stream_records(whole), None, "nothing to mend");
    }
}
