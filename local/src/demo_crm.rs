//! A stand-in for a customer's CRM endpoints, for `./scripts/dev` and the tests. It speaks the
//! contract exactly: it refuses calls whose Standard Webhooks signature does not verify with a
//! secret it was given, and answers lookups from the records it holds. Each tenant (a path
//! segment: an org id in tests, `demo` for the demo org) has its own secrets, records and
//! behaviour, so tests can run side by side.
//!
//! - `POST /t/{tenant}/lookup`: the lookup URL.
//! - `POST /t/{tenant}/writeback`: the write-back URL; answers 204, or as `writeback` says
//!   (`"conflict"`: 409, `"status_500"`: 500).
//! - `PUT /t/{tenant}/_control` `{"secrets": [..], "records": [{"match": "<user id or lookup
//!   value>", "id", "url"?, "attributes": {..}}], "behaviour": "answer"|"status_500"|"slow"|
//!   "redirect"|"not_json"|"oversized"}`.
//! - `GET /t/{tenant}/_calls`: the calls received, with their headers and whether they verified.
//! - `PUT /t/{tenant}/_secrets` `{"secrets": [..]}`: only the secrets, as an admin pastes a new
//!   one into their endpoint's configuration; the demo panel's "Give it to the demo CRM" button
//!   sends it from the runtime's page, so this one route answers any origin (CORS).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::crm::SigningSecret;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Tenant {
    pub secrets: Vec<String>,
    pub records: Vec<Record>,
    pub behaviour: Behaviour,
    pub writeback: WriteBackAnswer,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteBackAnswer {
    #[default]
    Accept,
    Conflict,
    #[serde(rename = "status_500")]
    Status500,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// An identity's user id or a lookup value that finds this record.
    #[serde(rename = "match")]
    pub matches: String,
    pub id: String,
    pub url: Option<String>,
    #[serde(default)]
    pub attributes: HashMap<String, Option<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Answer,
    #[serde(rename = "status_500")]
    Status500,
    Slow,
    Redirect,
    NotJson,
    Oversized,
}

#[derive(Debug, Clone, Serialize)]
struct Call {
    webhook_id: String,
    signatures: usize,
    verified: bool,
    /// A verified write-back whose `webhook-id` was seen before: answered, not applied again.
    duplicate: bool,
    body: Value,
}

#[derive(Default)]
struct Tenants {
    config: HashMap<String, Tenant>,
    calls: HashMap<String, Vec<Call>>,
    /// The `webhook-id`s of the write-backs each tenant applied.
    applied: HashMap<String, std::collections::HashSet<String>>,
}

type Shared = Arc<Mutex<Tenants>>;

pub fn router(initial: HashMap<String, Tenant>) -> axum::Router {
    let state: Shared = Arc::new(Mutex::new(Tenants {
        config: initial,
        ..Tenants::default()
    }));
    axum::Router::new()
        .route("/t/{tenant}/lookup", post(lookup))
        .route("/t/{tenant}/writeback", post(writeback))
        .route("/t/{tenant}/_control", put(control))
        .route("/t/{tenant}/_calls", get(calls))
        .route(
            "/t/{tenant}/_secrets",
            put(set_secrets).layer(tower_http::cors::CorsLayer::permissive()),
        )
        .with_state(state)
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, Tenants> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn control(
    State(state): State<Shared>,
    Path(tenant): Path<String>,
    Json(config): Json<Tenant>,
) -> StatusCode {
    lock(&state).config.insert(tenant, config);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Secrets {
    secrets: Vec<String>,
}

async fn set_secrets(
    State(state): State<Shared>,
    Path(tenant): Path<String>,
    Json(body): Json<Secrets>,
) -> StatusCode {
    lock(&state).config.entry(tenant).or_default().secrets = body.secrets;
    StatusCode::NO_CONTENT
}

async fn calls(State(state): State<Shared>, Path(tenant): Path<String>) -> Json<Value> {
    let calls = lock(&state).calls.get(&tenant).cloned().unwrap_or_default();
    Json(json!({ "items": calls }))
}

/// How far a call's `webhook-timestamp` may be from now: older is a replay, newer forged.
const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;

/// Verifies a call as the README tells customers to: the timestamp within five minutes of
/// `now`, then any `v1,` signature in the header equal, in constant time, to the one a held
/// secret makes. `(signatures given, verified, webhook-id)`.
fn verifies(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[String],
    now: i64,
) -> (usize, bool, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let given: Vec<&str> = signature.split(' ').filter(|s| !s.is_empty()).collect();
    let fresh = timestamp.parse::<i64>().ok().filter(|ts| {
        ts.checked_sub(now)
            .is_some_and(|skew| skew.abs() <= TIMESTAMP_TOLERANCE_SECONDS)
    });
    let Some(timestamp) = fresh else {
        return (given.len(), false, id);
    };
    let verified = secrets.iter().any(|secret| {
        let Ok(expected) =
            SigningSecret::from_text(secret.clone()).and_then(|s| s.sign(&id, timestamp, body))
        else {
            return false;
        };
        given.iter().any(|sig| {
            sig.starts_with("v1,")
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    sig.as_bytes(),
                    expected.as_bytes(),
                )
                .is_ok()
        })
    });
    (given.len(), verified, id)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A call to a tenant's lookup or write-back URL, recorded on arrival with whether its
/// signature verified, so a handler only decides the answer.
struct Received {
    config: Tenant,
    body: Value,
    verified: bool,
}

impl FromRequest<Shared> for Received {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Path(tenant) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let bytes = axum::body::to_bytes(body, 2 * 1024 * 1024)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        let config = lock(state).config.get(&tenant).cloned().unwrap_or_default();
        let (signatures, verified, webhook_id) =
            verifies(&parts.headers, &bytes, &config.secrets, unix_now());
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut tenants = lock(state);
        // A receiver drops repeats by `webhook-id`: a retry of a write-back it applied.
        let applies =
            parts.uri.path().ends_with("/writeback") && config.writeback == WriteBackAnswer::Accept;
        let duplicate = verified
            && applies
            && !tenants
                .applied
                .entry(tenant.clone())
                .or_default()
                .insert(webhook_id.clone());
        tenants.calls.entry(tenant).or_default().push(Call {
            webhook_id,
            signatures,
            verified,
            duplicate,
            body: body.clone(),
        });
        Ok(Self {
            config,
            body,
            verified,
        })
    }
}

async fn writeback(call: Received) -> StatusCode {
    match (call.verified, call.config.writeback) {
        (false, _) => StatusCode::UNAUTHORIZED,
        (true, WriteBackAnswer::Accept) => StatusCode::NO_CONTENT,
        (true, WriteBackAnswer::Conflict) => StatusCode::CONFLICT,
        (true, WriteBackAnswer::Status500) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn lookup(call: Received) -> Response {
    let Received {
        config,
        body: parsed,
        verified,
    } = call;
    if !verified {
        return (StatusCode::UNAUTHORIZED, "signature does not verify").into_response();
    }
    match config.behaviour {
        Behaviour::Answer => {}
        Behaviour::Status500 => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Behaviour::Redirect => {
            return (StatusCode::FOUND, [("location", "http://169.254.169.254/")]).into_response();
        }
        Behaviour::NotJson => return (StatusCode::OK, "<html>hello</html>").into_response(),
        Behaviour::Oversized => {
            let big = "x".repeat(300 * 1024);
            return Json(json!({ "status": "not_found", "padding": big })).into_response();
        }
    }
    if parsed["type"] == "ping" {
        return Json(json!({ "status": "not_found" })).into_response();
    }
    let mut keys: Vec<String> = parsed["contact"]["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["user_id"].as_str().map(str::to_owned))
        .collect();
    keys.extend(
        parsed["lookup"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_str().map(str::to_owned)),
    );
    let found: Vec<&Record> = config
        .records
        .iter()
        .filter(|r| keys.contains(&r.matches))
        .collect();
    match found.as_slice() {
        [] => Json(json!({ "status": "not_found" })).into_response(),
        [record] => Json(json!({
            "status": "found",
            "record": { "id": record.id, "url": record.url, "attributes": record.attributes }
        }))
        .into_response(),
        _ => Json(json!({ "status": "multiple" })).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test fails by panicking

    use super::*;

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    #[test]
    fn a_call_verifies_only_fresh_with_an_exact_v1_signature_of_a_held_secret() {
        let secret = SigningSecret::generate();
        let held = [secret.expose().to_owned()];
        let (now, body) = (1_800_000_000, br#"{"type":"ping"}"#);
        let signed = |at: i64| secret.sign("msg_1", at, body).unwrap();
        let verified = |headers: HeaderMap| verifies(&headers, body, &held, now).1;

        assert!(verified(headers("msg_1", now, &signed(now))));
        assert!(verified(headers("msg_1", now - 300, &signed(now - 300))));
        let other = SigningSecret::generate().sign("msg_1", now, body).unwrap();
        assert!(verified(headers(
            "msg_1",
            now,
            &format!("{other} {}", signed(now))
        )));

        for (why, refused) in [
            (
                "older than five minutes",
                headers("msg_1", now - 301, &signed(now - 301)),
            ),
            (
                "from the future",
                headers("msg_1", now + 301, &signed(now + 301)),
            ),
            ("another id", headers("msg_2", now, &signed(now))),
            ("another secret", headers("msg_1", now, &other)),
            (
                "not v1",
                headers("msg_1", now, &signed(now).replacen("v1,", "v2,", 1)),
            ),
            (
                "longer",
                headers("msg_1", now, &format!("{}AA", signed(now))),
            ),
            ("shorter", headers("msg_1", now, &signed(now)[..20])),
        ] {
            assert!(!verified(refused), "{why}");
        }
        assert!(!verifies(&headers("msg_1", now, &signed(now)), b"{}", &held, now).1);
    }
}
