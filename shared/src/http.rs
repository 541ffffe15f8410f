//! HTTP glue shared by every function: routing on method and raw path, JSON bodies in and out.

use std::collections::HashMap;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cursor::{self, LastEvaluatedKey, PageRequest};
use crate::error::ApiError;
use crate::ids::OrgId;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One route a function serves, written as in `template.yaml` (`/attributes/{key}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<R> {
    pub method: &'static str,
    pub path: &'static str,
    pub id: R,
}

/// A function's own router. The same table answers requests and tells the local runtime and the
/// tests which routes the function claims, so the template cannot drift from the code.
pub struct Router<R: Copy + 'static> {
    by_method: HashMap<Method, matchit::Router<R>>,
}

pub struct Matched<R> {
    pub id: R,
    pub params: HashMap<String, String>,
}

impl<R: Copy + 'static> Router<R> {
    pub fn new(routes: &'static [Route<R>]) -> Self {
        let mut by_method: HashMap<Method, matchit::Router<R>> = HashMap::new();
        for route in routes {
            let method = Method::from_bytes(route.method.as_bytes()).expect("route method");
            by_method
                .entry(method)
                .or_default()
                .insert(route.path, route.id)
                .unwrap_or_else(|e| panic!("route {} {}: {e}", route.method, route.path));
        }
        Self { by_method }
    }

    pub fn at(&self, req: &Request) -> Result<Matched<R>, ApiError> {
        let path = req.raw_http_path();
        let path = if path.is_empty() {
            req.uri().path()
        } else {
            path
        };
        let found = self
            .by_method
            .get(req.method())
            .and_then(|router| router.at(path).ok())
            .ok_or(ApiError::NotFound("route"))?;
        let params = found
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Matched {
            id: *found.value,
            params,
        })
    }
}

/// Parses a JSON body into `T`. Malformed JSON, a wrong type or an unknown field is a 400 that
/// names the field when it can; an oversized body is a 413.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = if path.is_empty() || path == "." {
            unknown_field_name(&inner.to_string())
        } else {
            Some(path)
        };
        let message = if inner.is_syntax() || inner.is_eof() {
            "the body is not valid JSON".to_owned()
        } else {
            strip_position(&inner.to_string())
        };
        ApiError::BadRequest { message, field }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_request("the body is not valid JSON"))?;
    Ok(value)
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Deserialises a present field that must not be `null` (an absent one stays `None`).
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A field of a partial update that may be absent (keep), `null` (clear) or a value (set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Patch::Set(value),
            None => Patch::Clear,
        })
    }
}

/// A page of a list answer: `{"items": [...], "next_cursor": "..."|null}`.
#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page, with the store's last key turned into a cursor bound to `org`.
    pub fn new(items: Vec<T>, org: &OrgId, next: Option<LastEvaluatedKey>) -> Self {
        Self {
            items,
            next_cursor: next.map(|key| cursor::encode(org, &key)),
        }
    }
}

/// `?limit=` and `?cursor=` of a list request, the cursor checked against the caller's org.
pub fn page_request(req: &Request, org: &OrgId) -> Result<PageRequest, ApiError> {
    PageRequest::parse(
        org,
        query_param(req, "limit").as_deref(),
        query_param(req, "cursor").as_deref(),
    )
}

/// The version an `If-Match` header asks for (`"3"`, `3`, `W/"3"`); `None` when absent or `*`.
/// A value that can never match is `412 precondition_failed`.
pub fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(raw) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or_default().trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| ApiError::PreconditionFailed)
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).expect("response serialises");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("valid response")
}

pub fn ok<T: Serialize>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("valid response")
}

pub fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    let value = HeaderValue::from_str(&format!("\"{version}\"")).expect("etag is ascii");
    response.headers_mut().insert(header::ETAG, value);
    response
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    json(err.status(), &err.to_body())
}

/// Turns a handler's outcome into the response, logging internal failures once.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(|err| error_response(&err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        label: String,
        #[serde(default, deserialize_with = "non_null")]
        enabled: Option<bool>,
        #[serde(default)]
        team: Patch<String>,
    }

    fn req(body: &str) -> Request {
        http::Request::builder()
            .body(lambda_http::Body::Text(body.into()))
            .unwrap()
    }

    fn err(body: &str) -> ApiError {
        json_body::<Sample>(&req(body)).unwrap_err()
    }

    #[test]
    fn wrong_shapes_are_bad_requests_naming_the_field() {
        let e = err(r#"{"label": 5}"#);
        assert_eq!(
            (e.code(), e.to_body()["error"]["field"].clone()),
            ("bad_request", "label".into())
        );
        let e = err(r#"{"label": "x", "colour": "red"}"#);
        assert_eq!(e.to_body()["error"]["field"], "colour");
        let e = err(r#"{"label": "x", "enabled": null}"#);
        assert_eq!(e.to_body()["error"]["field"], "enabled");
        assert_eq!(
            err(r#"{"#).to_body()["error"]["message"],
            "the body is not valid JSON"
        );
        assert_eq!(err("").code(), "bad_request");
        assert_eq!(err("[1]").code(), "bad_request");
        assert_eq!(err(r#"{"label":"x"} {}"#).code(), "bad_request");
    }

    #[test]
    fn patch_fields_tell_absent_from_null() {
        let b: Sample = json_body(&req(r#"{"label": "x"}"#)).unwrap();
        assert_eq!(
            (b.label.as_str(), b.enabled, b.team),
            ("x", None, Patch::Keep)
        );
        let b: Sample = json_body(&req(r#"{"label": "x", "team": null}"#)).unwrap();
        assert_eq!(b.team, Patch::Clear);
        let b: Sample = json_body(&req(r#"{"label": "x", "team": "t"}"#)).unwrap();
        assert_eq!(b.team, Patch::Set("t".into()));
    }

    #[test]
    fn if_match_reads_strong_weak_and_bare_versions() {
        let with = |value: &str| {
            let req: Request = http::Request::builder()
                .header(header::IF_MATCH, value)
                .body(lambda_http::Body::Empty)
                .unwrap();
            if_match(&req)
        };
        assert_eq!(with("\"3\"").unwrap(), Some(3));
        assert_eq!(with("W/\"4\"").unwrap(), Some(4));
        assert_eq!(with("5").unwrap(), Some(5));
        assert_eq!(with("*").unwrap(), None);
        assert_eq!(with("\"abc\"").unwrap_err().code(), "precondition_failed");
        assert_eq!(if_match(&req("")).unwrap(), None);
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let big = format!(r#"{{"label": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(err(&big).code(), "payload_too_large");
    }
}
