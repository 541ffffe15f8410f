//! `Idempotency-Key` on `POST` routes: the same key with the same request within 24 hours
//! replays the first response without a second effect; with another request it is a 422.
//! A key belongs to the caller (org and user) who first used it; the route's role and plan are
//! checked before this runs; only successful responses are stored.

use std::future::Future;
use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::clock::Env;
use crate::error::ApiError;
use crate::http::{HttpResult, no_content};
use crate::secrets::SecretSeal;
use crate::store::{Claim, Store, StoredResponse};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a claim without a response holds its key: longer than any API request may run (API
/// Gateway stops them at 30 s), so a request that died between claim and completion frees its
/// key for the retry within a minute, not a day.
pub const CLAIM_WINDOW: Duration = Duration::from_secs(60);
const MAX_KEY_LEN: usize = 255;
/// How long a second request waits for the first one holding its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(5);

fn request_hash(req: &Request) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(crate::http::request_path(req).as_bytes());
    hasher.update(b"\n");
    hasher.update(req.body().as_ref());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Marks a response as holding a contact's data (a note's text, say): its stored copy is then
/// removed with the contact.
#[derive(Debug, Clone)]
pub struct AboutContact(pub String);

/// The stored key: the caller's own, so two users of an org never share one.
fn caller_key(caller: &Caller, key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(caller.user_id.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(key.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    let valid =
        !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(ApiError::bad_field(
            "Idempotency-Key",
            format!("an idempotency key is 1..{MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

fn to_stored(response: &Response<Body>) -> StoredResponse {
    let body = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    StoredResponse {
        status: response.status().as_u16(),
        body,
        etag: response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = if stored.body.is_empty() {
        let mut response = no_content();
        *response.status_mut() = status;
        response
    } else {
        crate::http::raw_json(status, stored.body)
    };
    let headers = response.headers_mut();
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    if let Some(etag) = stored.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// Runs `run` once per idempotency key (none given: always). A successful outcome is stored and
/// replayed; any error releases the key, so the request can be corrected or retried.
pub async fn once<F, Fut>(
    store: &Store,
    env: &Env,
    caller: &Caller,
    req: &Request,
    run: F,
) -> HttpResult
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = HttpResult>,
{
    once_with(store, env, caller, req, None, run).await
}

/// [`once`] for a response that holds a secret: its stored copy is sealed with `seal` (KMS,
/// bound to the org), never kept in clear, and opened to replay it.
pub async fn once_sealed<F, Fut>(
    store: &Store,
    env: &Env,
    caller: &Caller,
    req: &Request,
    seal: &SecretSeal,
    run: F,
) -> HttpResult
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = HttpResult>,
{
    once_with(store, env, caller, req, Some(seal), run).await
}

/// What a sealed stored body starts with.
const SEALED: &str = "sealed:";

async fn once_with<F, Fut>(
    store: &Store,
    env: &Env,
    caller: &Caller,
    req: &Request,
    seal: Option<&SecretSeal>,
    run: F,
) -> HttpResult
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = HttpResult>,
{
    let Some(key) = parse_key(req)? else {
        return run().await;
    };
    let key = caller_key(caller, &key);
    let hash = request_hash(req);
    let waited = std::time::Instant::now();
    loop {
        let now = env.now().unix_timestamp();
        let claimed_until = now + CLAIM_WINDOW.as_secs() as i64;
        match store
            .claim_idempotency_key(&caller.org, &key, &hash, now, claimed_until)
            .await?
        {
            Claim::Won => {
                let outcome = run().await;
                match &outcome {
                    Ok(response) if response.status().is_success() => {
                        let about = response.extensions().get::<AboutContact>();
                        let mut stored = to_stored(response);
                        if let Some(seal) = seal {
                            let sealed = seal.seal_text(&caller.org, &stored.body).await?;
                            stored.body = format!("{SEALED}{sealed}");
                        }
                        let kept_until = env.now().unix_timestamp() + WINDOW.as_secs() as i64;
                        store
                            .complete_idempotency_key(
                                &caller.org,
                                &key,
                                &hash,
                                &stored,
                                about.map(|a| a.0.as_str()),
                                kept_until,
                            )
                            .await?
                    }
                    _ => store.release_idempotency_key(&caller.org, &key).await?,
                }
                return outcome;
            }
            Claim::Taken(record) if record.request_hash != hash => {
                return Err(ApiError::validation(
                    "Idempotency-Key",
                    "this idempotency key was used with a different request",
                ));
            }
            Claim::Taken(record) => {
                if let Some(mut response) = record.response {
                    if let Some(sealed) = response.body.strip_prefix(SEALED) {
                        let seal = seal.ok_or_else(|| {
                            ApiError::internal("a sealed response with no seal to open it")
                        })?;
                        response.body = seal.open_text(&caller.org, sealed).await?;
                    }
                    return Ok(replay(response));
                }
                if waited.elapsed() > WAIT_FOR_FIRST {
                    return Err(ApiError::conflict(
                        Some("Idempotency-Key"),
                        "a request with this idempotency key is still in progress",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, body: &str, key: Option<&str>) -> Request {
        let mut builder = http::Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header(HEADER, key);
        }
        builder.body(Body::Text(body.into())).unwrap()
    }

    #[test]
    fn the_hash_covers_method_path_and_body() {
        let a = request_hash(&req("POST", "/contacts/1/notes", r#"{"text":"a"}"#, None));
        assert_eq!(
            a,
            request_hash(&req("POST", "/contacts/1/notes", r#"{"text":"a"}"#, None))
        );
        assert_ne!(
            a,
            request_hash(&req("POST", "/contacts/1/notes", r#"{"text":"b"}"#, None))
        );
        assert_ne!(
            a,
            request_hash(&req("POST", "/contacts/2/notes", r#"{"text":"a"}"#, None))
        );
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(
            parse_key(&req("POST", "/", "", Some("abc-123")))
                .unwrap()
                .as_deref(),
            Some("abc-123")
        );
        assert_eq!(parse_key(&req("POST", "/", "", None)).unwrap(), None);
        assert!(parse_key(&req("POST", "/", "", Some(&"k".repeat(256)))).is_err());
        assert!(parse_key(&req("POST", "/", "", Some("has space"))).is_err());
    }

    #[test]
    fn a_replay_carries_the_first_status_body_and_etag() {
        let response = replay(StoredResponse {
            status: 201,
            body: "{}".into(),
            etag: Some("\"1\"".into()),
        });
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()[header::ETAG], "\"1\"");
        assert_eq!(response.headers()[REPLAYED_HEADER], "true");
    }
}
