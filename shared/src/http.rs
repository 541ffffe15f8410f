//! HTTP glue shared by every function: routing on method and raw path, authorization before
//! anything else, JSON bodies in and out.

use std::collections::HashMap;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{Caller, Capability};
use crate::cursor::{self, LastEvaluatedKey, ListScope, PageRequest};
use crate::error::ApiError;
use crate::ids::PathId;

pub use crate::body::MAX_BODY_BYTES;

/// What a route's handler answers: a response, or an error the HTTP edge turns into the
/// contract's error body.
pub type HttpResult = Result<Response<Body>, ApiError>;

/// One route a function serves, written as in `template.yaml` (`/attributes/{key}`), with the
/// capability a caller needs before anything else about the request is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<R> {
    pub method: &'static str,
    pub path: &'static str,
    pub id: R,
    pub capability: Capability,
}

impl<R> Route<R> {
    pub const fn new(
        method: &'static str,
        path: &'static str,
        id: R,
        capability: Capability,
    ) -> Self {
        Self {
            method,
            path,
            id,
            capability,
        }
    }
}

/// A function's route table, one line a path, as `template.yaml` spells it, with the methods it
/// answers: `"/contacts/{id}" { GET => GetContact: Read, PATCH => EditContact: FillAttributes }`
/// (method, the name the function dispatches on, the capability it needs), after the binary
/// `template.yaml` builds to serve them: `binary = "toggle-vip";`. Declares `enum RouteId` with
/// one variant per route, and its [`RouteTable`], so a route is named once.
#[macro_export]
macro_rules! routes {
    (
        binary = $binary:literal;
        $($path:literal { $($method:ident => $id:ident: $capability:ident),+ $(,)? })*
    ) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum RouteId {
            $($($id),+),*
        }

        impl $crate::http::RouteTable for RouteId {
            const BINARY: &'static str = $binary;
            const ROUTES: &'static [$crate::http::Route<RouteId>] = &[$($($crate::http::Route::new(
                stringify!($method),
                $path,
                RouteId::$id,
                $crate::auth::Capability::$capability,
            )),+),*];
        }
    };
}

/// The routes of one function, named by its route ids (see [`routes!`](crate::routes)).
pub trait RouteTable: Copy + Send + Sync + std::fmt::Debug + 'static {
    /// The binary `template.yaml` builds to serve these routes.
    const BINARY: &'static str;
    const ROUTES: &'static [Route<Self>];
}

/// A function's own router. The same table answers requests and tells the local runtime and the
/// tests which routes the function claims, so the template cannot drift from the code.
pub struct Router<R: Copy + 'static> {
    routes: &'static [Route<R>],
    by_method: HashMap<Method, matchit::Router<usize>>,
}

/// A request matched to its route, from a caller allowed to use it.
#[derive(Debug)]
pub struct Matched<R: 'static> {
    pub id: R,
    pub caller: Caller,
    route: &'static Route<R>,
    /// Percent-decoded path parameters, in path order.
    params: Vec<(String, String)>,
}

impl<R> Matched<R> {
    /// A decoded path parameter (empty when the route has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// A path parameter as the id type it must be: one that cannot be valid names nothing,
    /// so it is the `404` of that resource without a read.
    pub fn id<T: PathId>(&self, name: &str) -> Result<T, ApiError> {
        T::parse(self.param(name)).map_err(|_| ApiError::NotFound(T::WHAT))
    }

    /// The list this request reads, for binding cursors: route, parent ids and `filter`.
    pub fn list_scope(&self, filter: &str) -> ListScope {
        let route = format!("{} {}", self.route.method, self.route.path);
        let parent: Vec<&str> = self.params.iter().map(|(_, v)| v.as_str()).collect();
        ListScope::new(&self.caller.org, &route, &parent, filter)
    }

    /// The page a list request asks for, its cursor checked against this list (`filter`
    /// included), and the list's scope, which the next cursor is bound to.
    pub fn page(&self, req: &Request, filter: &str) -> Result<(ListScope, PageRequest), ApiError> {
        let scope = self.list_scope(filter);
        let page = page_request(req, &scope)?;
        Ok((scope, page))
    }
}

impl<R: Copy + 'static> Router<R> {
    /// Panics on a malformed route table: that is a programming error caught by every test.
    #[allow(clippy::expect_used)]
    pub fn new(routes: &'static [Route<R>]) -> Self {
        let mut by_method: HashMap<Method, matchit::Router<usize>> = HashMap::new();
        for (at, route) in routes.iter().enumerate() {
            let method = Method::from_bytes(route.method.as_bytes()).expect("route method");
            by_method
                .entry(method)
                .or_default()
                .insert(route.path, at)
                .unwrap_or_else(|e| panic!("route {} {}: {e}", route.method, route.path));
        }
        Self { routes, by_method }
    }

    /// Matches the request and checks the caller's role and plan for the route, before any
    /// handler logic (idempotent replays included) runs.
    pub fn authorize(&self, req: &Request) -> Result<Matched<R>, ApiError> {
        let path = request_path(req);
        let Some(found) = self
            .by_method
            .get(req.method())
            .and_then(|router| router.at(path).ok())
        else {
            return Err(self.unmatched(path));
        };
        // A path another method routes literally (`/attributes/order`) is that route's alone:
        // it never reaches a route of this method as a parameter.
        if !found.params.is_empty() && self.literal_methods(path).next().is_some() {
            return Err(self.unmatched(path));
        }
        let route = &self.routes[*found.value];
        let params = found
            .params
            .iter()
            .map(|(name, raw)| Ok((name.to_owned(), decode_param(name, raw)?)))
            .collect::<Result<_, ApiError>>()?;
        let caller = Caller::from_request(req)?;
        caller.require(route.capability)?;
        Ok(Matched {
            id: route.id,
            caller,
            route,
            params,
        })
    }

    fn unmatched(&self, path: &str) -> ApiError {
        unmatched(
            self.by_method
                .iter()
                .map(|(method, router)| (method.as_str(), router)),
            path,
        )
    }

    /// The methods with a route naming this path without parameters.
    fn literal_methods<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.by_method
            .iter()
            .filter(move |(_, router)| router.at(path).is_ok_and(|m| m.params.is_empty()))
            .map(|(method, _)| method.as_str())
    }
}

/// For a request no route takes, given each method's routes: `405` with the methods routed for
/// its path (`allow`; only those naming it literally when some do), or `404` when none is.
pub fn unmatched<'a, V: 'a>(
    routes: impl Iterator<Item = (&'a str, &'a matchit::Router<V>)>,
    path: &str,
) -> ApiError {
    let matching: Vec<(&str, bool)> = routes
        .filter_map(|(method, router)| Some((method, router.at(path).ok()?.params.is_empty())))
        .collect();
    let literal = matching.iter().any(|(_, literal)| *literal);
    let mut allow: Vec<&str> = matching
        .into_iter()
        .filter(|(_, is_literal)| *is_literal || !literal)
        .map(|(method, _)| method)
        .collect();
    if allow.is_empty() {
        return ApiError::NotFound("route");
    }
    allow.sort_unstable();
    ApiError::MethodNotAllowed {
        allow: allow.join(", "),
    }
}

/// The path as the client sent it (API Gateway's `rawPath`), still percent-encoded.
pub fn request_path(req: &Request) -> &str {
    let path = req.raw_http_path();
    if path.is_empty() {
        req.uri().path()
    } else {
        path
    }
}

fn decode_param(name: &str, raw: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .filter(|value| !value.is_empty())
        .map(|value| value.into_owned())
        .ok_or_else(|| ApiError::bad_field(name, format!("`{name}` is not a valid id")))
}

/// Parses a JSON body into `T` (see [`crate::body`]).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    crate::body::parse(req.body().as_ref())
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
    /// The page, with the store's last key turned into a cursor bound to the list.
    pub fn new(items: Vec<T>, scope: &ListScope, next: Option<LastEvaluatedKey>) -> Self {
        Self {
            items,
            next_cursor: next.map(|key| cursor::encode(scope, &key)),
        }
    }
}

/// `?limit=` and `?cursor=` of a list request, the cursor checked against the list it is for.
fn page_request(req: &Request, scope: &ListScope) -> Result<PageRequest, ApiError> {
    PageRequest::parse(
        scope,
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

/// A JSON response. The API's types always serialise; should one ever fail, the answer is the
/// contract's opaque 500 and the cause is logged.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => raw_json(status, body),
        Err(err) => {
            let err = ApiError::internal(err);
            raw_json(err.status(), err.to_body().to_string())
        }
    }
}

/// A response whose body is already JSON text.
pub fn raw_json(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn ok<T: Serialize>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut response = json(err.status(), &err.to_body());
    if let ApiError::MethodNotAllowed { allow } = err
        && let Ok(value) = HeaderValue::from_str(allow)
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    if let ApiError::RateLimited {
        retry_after_seconds,
        ..
    } = err
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
    }
    response
}

/// Turns a handler's outcome into the response, logging internal failures once.
pub fn respond(result: HttpResult) -> Response<Body> {
    result.unwrap_or_else(|err| error_response(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> Request {
        http::Request::builder()
            .body(lambda_http::Body::Text(body.into()))
            .unwrap()
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Id {
        Read,
        Write,
        Notes,
        Order,
    }

    const ROUTES: &[Route<Id>] = &[
        Route {
            method: "GET",
            path: "/things/{id}",
            id: Id::Read,
            capability: Capability::Read,
        },
        Route {
            method: "PATCH",
            path: "/things/{id}",
            id: Id::Write,
            capability: Capability::ManageSettings,
        },
        Route {
            method: "GET",
            path: "/things/{id}/notes",
            id: Id::Notes,
            capability: Capability::WriteNotes,
        },
        Route {
            method: "PUT",
            path: "/things/order",
            id: Id::Order,
            capability: Capability::ManageSettings,
        },
    ];

    /// An API Gateway v2 request as the HTTP API hands it over, with verified claims.
    fn gateway_request(method: &str, raw_path: &str, role: &str, plan: &str) -> Request {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "t",
                "timeEpoch": 0,
                "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "t"},
                "authorizer": {"jwt": {"claims": {"org_id": "acme", "sub": "u-1",
                                                  "role": role, "plan": plan}, "scopes": null}}
            }
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn authorize(
        method: &str,
        path: &str,
        role: &str,
        plan: &str,
    ) -> Result<Matched<Id>, ApiError> {
        Router::new(ROUTES).authorize(&gateway_request(method, path, role, plan))
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        let matched = authorize("GET", "/things/conv%201%23a%3Fb", "agent", "team").unwrap();
        assert_eq!((matched.id, matched.param("id")), (Id::Read, "conv 1#a?b"));
        let err = authorize("GET", "/things/%FF%FE", "agent", "team").unwrap_err();
        assert_eq!(
            (err.code(), err.to_body()["error"]["field"].clone()),
            ("bad_request", "id".into())
        );
    }

    #[test]
    fn a_method_the_path_does_not_take_is_405_naming_those_it_does() {
        let err = authorize("DELETE", "/things/1", "admin", "team").unwrap_err();
        assert_eq!(err.code(), "method_not_allowed");
        let response = error_response(&err);
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET, PATCH");
        let err = authorize("GET", "/nothing", "admin", "team").unwrap_err();
        assert_eq!(err.code(), "not_found");
    }

    #[test]
    fn a_path_routed_literally_never_reaches_another_methods_parameter_route() {
        assert_eq!(
            authorize("PUT", "/things/order", "admin", "team")
                .unwrap()
                .id,
            Id::Order
        );
        for method in ["GET", "PATCH", "DELETE"] {
            let err = authorize(method, "/things/order", "admin", "team").unwrap_err();
            let response = error_response(&err);
            assert_eq!(response.status(), 405, "{method}");
            assert_eq!(response.headers()[header::ALLOW], "PUT", "{method}");
        }
        assert_eq!(
            authorize("PATCH", "/things/orders", "admin", "team")
                .unwrap()
                .id,
            Id::Write
        );
    }

    #[test]
    fn a_rate_limited_answer_says_when_to_try_again() {
        let response = error_response(&ApiError::RateLimited {
            message: "tested too often",
            retry_after_seconds: 15,
        });
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "15");
    }

    #[test]
    fn the_routes_capability_is_checked_before_the_handler_runs() {
        assert!(authorize("PATCH", "/things/1", "admin", "team").is_ok());
        let err = authorize("PATCH", "/things/1", "agent", "enterprise").unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = authorize("GET", "/things/1/notes", "agent", "team").unwrap_err();
        assert_eq!(err.code(), "plan_required");
    }

    #[test]
    fn a_list_scope_names_route_parent_and_filter() {
        let a = authorize("GET", "/things/1/notes", "agent", "business").unwrap();
        let b = authorize("GET", "/things/2/notes", "agent", "business").unwrap();
        let c = authorize("GET", "/things/1", "agent", "business").unwrap();
        assert_eq!(a.list_scope(""), a.list_scope(""));
        assert_ne!(a.list_scope(""), b.list_scope(""));
        assert_ne!(a.list_scope(""), c.list_scope(""));
        assert_ne!(a.list_scope(""), a.list_scope("vip=true"));
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
}
