//! The HTTP front door: what API Gateway does for the deployed stack (route on the template's
//! routes, check the JWT, cap the body, build the v2 event) plus the local-only `/_local` routes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::ApiError;
use shared::auth::{Plan, Role};
use shared::http::MAX_BODY_BYTES;
use shared::ids::OrgId;

use crate::authorizer::{Authorizer, TokenRequest};
use crate::functions::{HttpHandler, Registry, ScheduleHandler};
use crate::metering;
use crate::received_events::ReceivedEvents;
use crate::template::Template;

pub struct Gateway {
    routes: HashMap<String, matchit::Router<(String, HttpHandler)>>,
    authorizer: Authorizer,
    schedules: Vec<Value>,
    /// `{"name", "timeout_s"}` of every function, with the timeout its invocations get here.
    functions: Vec<Value>,
    /// Schedule name → the function it runs.
    scheduled: HashMap<String, (String, ScheduleHandler)>,
    ingest: Arc<ingest_messages::App>,
    received: ReceivedEvents,
    aws: LocalAws,
}

/// What the runtime puts between the functions and the local AWS endpoints.
pub struct LocalAws {
    /// Every function's IAM policy, with what its calls used and were refused.
    pub policies: Vec<Arc<crate::iam::Policy>>,
    pub faults: crate::aws_guard::Faults,
}

impl Gateway {
    pub fn new(
        template: &Template,
        registry: &Registry,
        authorizer: Authorizer,
        received: ReceivedEvents,
        aws: LocalAws,
    ) -> anyhow::Result<Self> {
        registry.check_against(template)?;
        let mut routes: HashMap<String, matchit::Router<(String, HttpHandler)>> = HashMap::new();
        for (function, route) in template.http_routes() {
            let handler = registry.http[function.binary.as_str()].handler.clone();
            routes
                .entry(route.method.clone())
                .or_default()
                .insert(route.path.clone(), (route.path.clone(), handler))
                .map_err(|e| anyhow::anyhow!("route {} {}: {e}", route.method, route.path))?;
        }
        let schedules = template
            .schedules()
            .map(|(f, name, expression)| json!({"name": name, "function": f.binary, "expression": expression}))
            .collect();
        let scheduled = template
            .schedules()
            .map(|(f, name, _)| {
                let handler = registry.scheduled[f.binary.as_str()].clone();
                (name.to_owned(), (f.binary.clone(), handler))
            })
            .collect();
        let functions = registry
            .timeouts
            .all()
            .map(|(name, timeout)| json!({"name": name, "timeout_s": timeout.as_secs()}))
            .collect();
        Ok(Self {
            routes,
            authorizer,
            schedules,
            functions,
            scheduled,
            ingest: registry.ingest.clone(),
            received,
            aws,
        })
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/_local/token", get(token))
            .route("/_local/functions", get(functions))
            .route("/_local/schedules", get(schedules))
            .route("/_local/schedules/{name}", post(fire_schedule))
            .route("/_local/inbound", post(inbound))
            .route("/_local/events", get(received_events))
            .route("/_local/iam", get(iam_usage))
            .route("/_local/faults", get(fault_counts).put(set_faults))
            .fallback(invoke)
            .with_state(Arc::new(self))
    }
}

/// API Gateway refuses a request line much longer than this; the local runtime answers the
/// contract's `414` instead of letting the connection fail.
const MAX_URI_BYTES: usize = 8 * 1024;

impl Gateway {
    /// `405` with the methods the template routes for this path, or `404` when it routes none.
    fn unmatched(&self, path: &str) -> ApiError {
        shared::http::unmatched(
            self.routes
                .iter()
                .map(|(method, router)| (method.as_str(), router)),
            path,
        )
    }
}

fn error(err: ApiError) -> Response {
    to_axum(shared::http::error_response(&err))
}

/// A function's answer as the HTTP API sends it on.
fn to_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}

#[derive(Deserialize)]
struct TokenQuery {
    org: Option<String>,
    role: Option<String>,
    plan: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    iss: Option<String>,
    aud: Option<String>,
    expires_in: Option<i64>,
}

async fn token(State(gw): State<Arc<Gateway>>, Query(q): Query<TokenQuery>) -> Response {
    let org = q.org.unwrap_or_else(|| "demo".into());
    if OrgId::parse(&org).is_err() {
        return error(ApiError::bad_field(
            "org",
            "org must be 1..64 of A-Z a-z 0-9 _ -",
        ));
    }
    let role = q.role.unwrap_or_else(|| "agent".into());
    if Role::parse(&role).is_none() {
        return error(ApiError::bad_field(
            "role",
            "role must be admin, agent or automation",
        ));
    }
    if q.plan.as_deref().is_some_and(|p| Plan::parse(p).is_none()) {
        return error(ApiError::bad_field(
            "plan",
            "plan must be team, business or enterprise",
        ));
    }
    let sub = q.sub.unwrap_or_else(|| format!("{org}-{role}"));
    let name = q.name.unwrap_or_else(|| format!("Local {role}"));
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), sub.into());
    claims.insert("name".into(), name.into());
    claims.insert("org_id".into(), org.into());
    claims.insert("role".into(), role.into());
    if let Some(plan) = q.plan {
        claims.insert("plan".into(), plan.into());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let request = TokenRequest {
        claims,
        issuer: q.iss,
        audience: q.aud,
        expires_in: q.expires_in,
    };
    match gw.authorizer.mint(request, now) {
        Ok(token) => axum::Json(json!({"token": token})).into_response(),
        Err(err) => error(ApiError::internal(err)),
    }
}

async fn functions(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(json!({"items": gw.functions})).into_response()
}

async fn schedules(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(json!({"items": gw.schedules})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FireRequest {
    /// The scheduled time the event carries; now when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    time: Option<time::OffsetDateTime>,
}

/// Runs a schedule's function now with the event EventBridge would send, and answers once it
/// has finished: `{"name", "function", "time", "result"}`.
async fn fire_schedule(
    State(gw): State<Arc<Gateway>>,
    Path(name): Path<String>,
    body: String,
) -> Response {
    let Some((function, handler)) = gw.scheduled.get(&name) else {
        return error(ApiError::NotFound("schedule"));
    };
    let request: FireRequest = if body.trim().is_empty() {
        FireRequest::default()
    } else {
        match serde_json::from_str(&body) {
            Ok(request) => request,
            Err(err) => return error(ApiError::bad_request(format!("{err}"))),
        }
    };
    let time = shared::clock::rfc3339(request.time.unwrap_or_else(time::OffsetDateTime::now_utc));
    let event = json!({
        "version": "0",
        "id": uuid::Uuid::now_v7().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time,
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:000000000000:rule/{name}")],
        "detail": {},
    });
    match handler(event).await {
        Ok(result) => {
            axum::Json(json!({"name": name, "function": function, "time": time, "result": result}))
                .into_response()
        }
        Err(_) => error(ApiError::internal(format!("schedule {name} failed"))),
    }
}

/// Runs ingest on one inbound message, as its SQS event source would, and says what it made.
async fn inbound(State(gw): State<Arc<Gateway>>, body: String) -> Response {
    let (outcome, requests) = metering::metered(gw.ingest.ingest_body(&body)).await;
    let mut response = match outcome {
        Ok(ingested) => axum::Json(ingested).into_response(),
        Err(ingest_messages::IngestError::Failed(err)) => error(err.into()),
        Err(malformed) => error(ApiError::bad_request(malformed.to_string())),
    };
    response
        .headers_mut()
        .insert(metering::HEADER, requests.into());
    response
}

async fn invoke(
    State(gw): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: AxumBody,
) -> Response {
    let path = uri.path();
    if uri.to_string().len() > MAX_URI_BYTES {
        return error(ApiError::UriTooLong {
            limit: MAX_URI_BYTES,
        });
    }
    let Some(((template_path, handler), params)) = gw
        .routes
        .get(method.as_str())
        .and_then(|r| r.at(path).ok())
        .map(|m| {
            (
                m.value.clone(),
                m.params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect::<HashMap<_, _>>(),
            )
        })
    else {
        return error(gw.unmatched(path));
    };
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return error(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let Some(claims) = gw.authorizer.verify(authorization) else {
        return error(ApiError::Unauthorized);
    };
    let event = v2_event(
        &method,
        &uri,
        &headers,
        &body,
        &template_path,
        params,
        claims,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(err) => {
            tracing::error!(%err, "could not build the Lambda event");
            return error(ApiError::internal(err));
        }
    };
    let (mut response, requests) = metering::metered(handler(request)).await;
    response
        .headers_mut()
        .insert(metering::HEADER, requests.into());
    to_axum(response)
}

/// The API Gateway HTTP API (payload v2.0) event for this request.
fn v2_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    template_path: &str,
    path_params: HashMap<String, String>,
    claims: HashMap<String, String>,
) -> Value {
    let mut joined: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let now = time::OffsetDateTime::now_utc();
    let route_key = format!("{method} {template_path}");
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": joined,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "pathParameters": if path_params.is_empty() { Value::Null } else { json!(path_params) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": joined.get("host").cloned().unwrap_or_else(|| "localhost".into()),
            "domainPrefix": "local",
            "requestId": uuid::Uuid::now_v7().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.to_string(),
            "timeEpoch": now.unix_timestamp() * 1000,
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": joined.get("user-agent").cloned().unwrap_or_default(),
            },
        },
        "body": if body.is_empty() { Value::Null } else { Value::String(body) },
        "isBase64Encoded": encoded,
    })
}

#[derive(Deserialize)]
struct EventsQuery {
    org: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<String>,
}

/// `GET /_local/events?org=&type=&limit=`: what the bus received for an org, oldest first (the
/// newest `limit`, 1..1000, default 100).
async fn received_events(
    State(gateway): State<Arc<Gateway>>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let Some(org) = q.org.as_deref().and_then(|o| OrgId::parse(o).ok()) else {
        return error(ApiError::bad_field("org", "org must be an org id"));
    };
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return error(ApiError::bad_field("limit", "limit must be 1..1000")),
    };
    let items = gateway
        .received
        .of_org(org.as_str(), q.kind.as_deref(), limit);
    axum::Json(json!({ "items": items })).into_response()
}

/// `GET /_local/iam`: each function's grants, which of them its calls used, and the calls it
/// was refused, so a grant nothing uses (least privilege) and a call the policy lacks both show.
async fn iam_usage(State(gateway): State<Arc<Gateway>>) -> Response {
    let items: Vec<Value> = gateway
        .aws
        .policies
        .iter()
        .map(|policy| {
            let used = policy.used();
            let (used_grants, unused): (Vec<_>, Vec<_>) =
                policy.grants().into_iter().partition(|g| used.contains(g));
            let denied: Vec<Value> = policy
                .denied()
                .into_iter()
                .map(|(action, resource)| json!({"action": action, "resource": resource}))
                .collect();
            json!({"function": policy.function, "used": used_grants, "unused": unused, "denied": denied})
        })
        .collect();
    axum::Json(json!({ "items": items })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsRequest {
    org: String,
    /// The share (0..1) of the org's DynamoDB requests that fail; 0 ends the brownout.
    dynamodb_failures: Option<f64>,
    /// Holds the org's next DynamoDB request of this operation before it is sent.
    pause: Option<String>,
    /// Lets the held request go on.
    #[serde(default)]
    resume: bool,
    /// Cancels the org's next `TransactWriteItems` with this reason on its first item.
    cancel_transaction: Option<String>,
    /// Serves the org's next batch of this operation (`BatchGetItem`, `BatchWriteItem`) for its
    /// first key or item, the rest handed back unprocessed.
    unprocessed: Option<String>,
}

/// `PUT /_local/faults {"org", "dynamodb_failures"?, "pause"?, "resume"?,
/// "cancel_transaction"?, "unprocessed"?}`: a brownout of one org's DynamoDB requests (half throttled, half
/// 500s, before they are sent), a one-shot pause point (`"pause": "TransactWriteItems"` holds
/// the org's next such request until `"resume": true`) and a one-shot cancellation
/// (`"cancel_transaction": "TransactionConflict"` cancels the org's next transaction as DynamoDB
/// does) and a one-shot partial batch (`"unprocessed": "BatchWriteItem"`), so tests inject
/// failures and races into their own org beside the others.
async fn set_faults(
    State(gateway): State<Arc<Gateway>>,
    axum::Json(request): axum::Json<FaultsRequest>,
) -> Response {
    if OrgId::parse(&request.org).is_err() {
        return error(ApiError::bad_field("org", "org must be an org id"));
    }
    let faults = &gateway.aws.faults;
    if let Some(share) = request.dynamodb_failures {
        if !(0.0..=1.0).contains(&share) {
            return error(ApiError::bad_field(
                "dynamodb_failures",
                "dynamodb_failures must be a share from 0 to 1",
            ));
        }
        faults.set_org(&request.org, share);
    }
    if let Some(reason) = &request.cancel_transaction {
        faults.cancel_next_transaction(&request.org, reason);
    }
    if let Some(operation) = &request.unprocessed {
        faults.leave_unprocessed(&request.org, operation);
    }
    if let Some(operation) = &request.pause {
        faults.pause(&request.org, operation);
    }
    if request.resume && !faults.resume(&request.org) {
        return error(ApiError::bad_field(
            "resume",
            "no request of the org is held",
        ));
    }
    axum::Json(json!(faults.counts(Some(&request.org)))).into_response()
}

#[derive(Deserialize)]
struct FaultsQuery {
    org: Option<String>,
}

/// `GET /_local/faults?org=`: DynamoDB requests seen under a brownout and failed (all orgs),
/// and whether the org has a request held at its pause point.
async fn fault_counts(
    State(gateway): State<Arc<Gateway>>,
    Query(q): Query<FaultsQuery>,
) -> Response {
    axum::Json(json!(gateway.aws.faults.counts(q.org.as_deref()))).into_response()
}
