//! Opaque list cursors and page sizes.
//!
//! A cursor wraps DynamoDB's `LastEvaluatedKey` together with the org it was issued to. A cursor
//! from another org, or one whose partition keys are not the caller's, is refused.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::OrgId;
use crate::keys;

pub const DEFAULT_LIMIT: i32 = 25;
pub const MAX_LIMIT: i32 = 100;

#[derive(Serialize, Deserialize)]
struct CursorBody {
    o: String,
    k: BTreeMap<String, String>,
}

pub type LastEvaluatedKey = HashMap<String, AttributeValue>;

pub fn encode(org: &OrgId, key: &LastEvaluatedKey) -> String {
    let k = key
        .iter()
        .filter_map(|(name, value)| value.as_s().ok().map(|s| (name.clone(), s.clone())))
        .collect();
    let body = CursorBody {
        o: org.to_string(),
        k,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).expect("cursor serialises"))
}

pub fn decode(org: &OrgId, cursor: &str) -> Result<LastEvaluatedKey, ApiError> {
    let bad = || ApiError::bad_field("cursor", "the cursor is not valid for this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let partition_keys_are_ours = body
        .k
        .iter()
        .filter(|(name, _)| name.ends_with("PK"))
        .all(|(_, value)| keys::belongs_to_org(org, value));
    if body.o != org.as_str() || body.k.is_empty() || !partition_keys_are_ours {
        return Err(bad());
    }
    Ok(body
        .k
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

/// `?limit=` and `?cursor=` of a list request.
#[derive(Debug, Default)]
pub struct PageRequest {
    pub limit: i32,
    pub start: Option<LastEvaluatedKey>,
}

impl PageRequest {
    pub fn parse(org: &OrgId, limit: Option<&str>, cursor: Option<&str>) -> Result<Self, ApiError> {
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
        let start = cursor.map(|c| decode(org, c)).transpose()?;
        Ok(Self { limit, start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }

    fn lek(pk: &str) -> LastEvaluatedKey {
        HashMap::from([
            ("PK".to_string(), AttributeValue::S(pk.into())),
            ("SK".to_string(), AttributeValue::S("NOTE#1".into())),
        ])
    }

    #[test]
    fn a_cursor_round_trips_for_its_org() {
        let acme = org("acme");
        let key = lek("ORG#acme#C#1");
        assert_eq!(decode(&acme, &encode(&acme, &key)).unwrap(), key);
    }

    #[test]
    fn another_orgs_cursor_is_refused() {
        let cursor = encode(&org("acme"), &lek("ORG#acme#C#1"));
        assert_eq!(
            decode(&org("globex"), &cursor).unwrap_err().code(),
            "bad_request"
        );
    }

    #[test]
    fn a_forged_cursor_pointing_at_another_partition_is_refused() {
        let forged = encode(&org("acme"), &lek("ORG#globex#C#1"));
        assert!(decode(&org("acme"), &forged).is_err());
        assert!(decode(&org("acme"), "not base64 !").is_err());
        assert!(decode(&org("acme"), &URL_SAFE_NO_PAD.encode(b"{}")).is_err());
    }

    #[test]
    fn limits_outside_the_range_are_bad_requests() {
        let acme = org("acme");
        assert_eq!(PageRequest::parse(&acme, None, None).unwrap().limit, 25);
        assert_eq!(
            PageRequest::parse(&acme, Some("100"), None).unwrap().limit,
            100
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            let err = PageRequest::parse(&acme, Some(bad), None).unwrap_err();
            assert_eq!(err.code(), "bad_request", "{bad}");
        }
    }
}
