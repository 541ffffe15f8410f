//! Opaque list cursors and page sizes.
//!
//! A cursor wraps DynamoDB's `LastEvaluatedKey` together with the list that issued it: the org,
//! the route, the parent (a contact or a conversation) and the filter. Any other list refuses
//! it; the store also checks that the key has the shape its own query would have returned.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, DomainError};
use crate::ids::OrgId;
use crate::keys;

pub const DEFAULT_LIMIT: i32 = 25;
pub const MAX_LIMIT: i32 = 100;

/// Which list a cursor belongs to: the org, and a tag naming route, parent and filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScope {
    org: OrgId,
    tag: String,
}

impl ListScope {
    /// `route` is the route as declared (`GET /contacts/{id}/notes`), `parent` the decoded path
    /// parameters in order, `filter` the query filters that shape the list (`vip=true`).
    pub fn new(org: &OrgId, route: &str, parent: &[&str], filter: &str) -> Self {
        let mut hasher = Sha256::new();
        for part in [route].iter().chain(parent).chain([&filter]) {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        let tag = URL_SAFE_NO_PAD.encode(&hasher.finalize()[..12]);
        Self {
            org: org.clone(),
            tag,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorBody {
    o: String,
    s: String,
    k: BTreeMap<String, String>,
}

pub type LastEvaluatedKey = HashMap<String, AttributeValue>;

/// Where a job's walk of a listing stands, kept in its checkpoint between invocations: the
/// listing's `LastEvaluatedKey`, whose parts are all strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position(BTreeMap<String, String>);

impl Position {
    pub fn of(key: &LastEvaluatedKey) -> Self {
        Self(
            key.iter()
                .filter_map(|(name, value)| value.as_s().ok().map(|s| (name.clone(), s.clone())))
                .collect(),
        )
    }

    pub fn key(&self) -> LastEvaluatedKey {
        self.0
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect()
    }
}

pub fn encode(scope: &ListScope, key: &LastEvaluatedKey) -> String {
    let k = key
        .iter()
        .filter_map(|(name, value)| value.as_s().ok().map(|s| (name.clone(), s.clone())))
        .collect();
    let body = CursorBody {
        o: scope.org.to_string(),
        s: scope.tag.clone(),
        k,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

pub fn decode(scope: &ListScope, cursor: &str) -> Result<LastEvaluatedKey, ApiError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    let partition_keys_are_ours = body
        .k
        .iter()
        .filter(|(name, _)| name.ends_with("PK"))
        .all(|(_, value)| keys::belongs_to_org(&scope.org, value));
    if body.o != scope.org.as_str()
        || body.s != scope.tag
        || body.k.is_empty()
        || !partition_keys_are_ours
    {
        return Err(bad_cursor());
    }
    Ok(body
        .k
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

/// The one answer to a cursor that does not belong to the list it was sent to.
pub fn bad_cursor() -> ApiError {
    ApiError::bad_field("cursor", "the cursor is not valid for this list")
}

/// `?limit=` and `?cursor=` of a list request.
#[derive(Debug, Default)]
pub struct PageRequest {
    pub limit: i32,
    pub start: Option<LastEvaluatedKey>,
}

impl PageRequest {
    pub fn parse(
        scope: &ListScope,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, ApiError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_field("limit", format!("limit must be 1..{MAX_LIMIT}"))
                })?,
        };
        let start = cursor.map(|c| decode(scope, c)).transpose()?;
        Ok(Self { limit, start })
    }
}

/// What a start key must look like for one query: each attribute by name, either exactly a
/// value or starting with a prefix. A key with other attributes, or other values, is refused
/// before DynamoDB sees it.
pub enum KeyPart<'a> {
    Exactly(&'a str, String),
    Prefix(&'a str, &'a str),
}

/// A page may start only inside the list being read: a start key from another partition (a
/// cursor forged or carried over from another list) is refused.
pub fn check_start(start: Option<&LastEvaluatedKey>, parts: &[KeyPart]) -> Result<(), DomainError> {
    let Some(start) = start else { return Ok(()) };
    let text = |name: &str| start.get(name).and_then(|v| v.as_s().ok());
    let fits = start.len() == parts.len()
        && parts.iter().all(|part| match part {
            KeyPart::Exactly(name, value) => text(name) == Some(value),
            KeyPart::Prefix(name, prefix) => text(name).is_some_and(|v| v.starts_with(prefix)),
        });
    fits.then_some(()).ok_or(DomainError::ForeignCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }

    fn notes_of(org_id: &str, contact: &str) -> ListScope {
        ListScope::new(&org(org_id), "GET /contacts/{id}/notes", &[contact], "")
    }

    fn lek(pk: &str) -> LastEvaluatedKey {
        HashMap::from([
            ("PK".to_string(), AttributeValue::S(pk.into())),
            ("SK".to_string(), AttributeValue::S("NOTE#1".into())),
        ])
    }

    #[test]
    fn a_cursor_round_trips_for_its_list() {
        let scope = notes_of("acme", "c1");
        let key = lek("ORG#acme#C#c1");
        assert_eq!(decode(&scope, &encode(&scope, &key)).unwrap(), key);
    }

    #[test]
    fn another_orgs_cursor_is_refused() {
        let cursor = encode(&notes_of("acme", "c1"), &lek("ORG#acme#C#c1"));
        assert_eq!(
            decode(&notes_of("globex", "c1"), &cursor)
                .unwrap_err()
                .code(),
            "bad_request"
        );
    }

    #[test]
    fn a_cursor_is_refused_by_another_route_parent_or_filter() {
        let acme = org("acme");
        let cursor = encode(&notes_of("acme", "c1"), &lek("ORG#acme#C#c1"));
        for other in [
            notes_of("acme", "c2"),
            ListScope::new(
                &acme,
                "GET /conversations/{conversation_id}/notes",
                &["c1"],
                "",
            ),
            ListScope::new(&acme, "GET /contacts/{id}/notes", &["c1"], "vip=true"),
        ] {
            assert_eq!(decode(&other, &cursor).unwrap_err().code(), "bad_request");
        }
        // Parts cannot be shifted from one to the other to make the same tag.
        assert_ne!(
            ListScope::new(&acme, "a", &["bc"], ""),
            ListScope::new(&acme, "ab", &["c"], "")
        );
    }

    #[test]
    fn a_forged_cursor_pointing_at_another_partition_is_refused() {
        let scope = notes_of("acme", "c1");
        let forged = encode(&scope, &lek("ORG#globex#C#1"));
        assert!(decode(&scope, &forged).is_err());
        assert!(decode(&scope, "not base64 !").is_err());
        assert!(decode(&scope, &URL_SAFE_NO_PAD.encode(b"{}")).is_err());
    }

    #[test]
    fn a_start_key_must_have_the_shape_of_the_query() {
        let key = lek("ORG#acme#C#c1");
        let parts = [
            KeyPart::Exactly("PK", "ORG#acme#C#c1".into()),
            KeyPart::Prefix("SK", "NOTE#"),
        ];
        assert!(check_start(Some(&key), &parts).is_ok());
        assert!(check_start(None, &parts).is_ok());
        let other_parent = lek("ORG#acme#C#c2");
        assert!(check_start(Some(&other_parent), &parts).is_err());
        let mut extra = key.clone();
        extra.insert("GSI1PK".into(), AttributeValue::S("ORG#acme".into()));
        assert!(check_start(Some(&extra), &parts).is_err());
        let mut wrong_sk = key;
        wrong_sk.insert("SK".into(), AttributeValue::S("PROFILE".into()));
        assert!(check_start(Some(&wrong_sk), &parts).is_err());
    }

    #[test]
    fn limits_outside_the_range_are_bad_requests() {
        let scope = notes_of("acme", "c1");
        assert_eq!(PageRequest::parse(&scope, None, None).unwrap().limit, 25);
        assert_eq!(
            PageRequest::parse(&scope, Some("100"), None).unwrap().limit,
            100
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            let err = PageRequest::parse(&scope, Some(bad), None).unwrap_err();
            assert_eq!(err.code(), "bad_request", "{bad}");
        }
    }
}
