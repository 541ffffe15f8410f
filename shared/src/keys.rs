//! Every DynamoDB key string of the table is built here, and only here.
//! Every partition key starts with `ORG#<org>` so no item can belong to two tenants.

use crate::ids::OrgId;

pub const PK: &str = "PK";
pub const SK: &str = "SK";

pub const SETTINGS_SK: &str = "SETTINGS";
pub const ATTRIBUTE_DEFINITIONS_SK: &str = "ATTRDEFS";

/// The partition holding an org's own singletons (settings, attribute definitions, exports).
pub fn org_pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

/// True when a key value belongs to `org`'s partitions: used to refuse foreign cursors.
pub fn belongs_to_org(org: &OrgId, key_value: &str) -> bool {
    let prefix = org_pk(org);
    key_value == prefix
        || key_value
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }

    #[test]
    fn org_partition_is_tenant_prefixed() {
        assert_eq!(org_pk(&org("acme")), "ORG#acme");
    }

    #[test]
    fn key_ownership_respects_the_separator() {
        let acme = org("acme");
        assert!(belongs_to_org(&acme, "ORG#acme"));
        assert!(belongs_to_org(&acme, "ORG#acme#C#1"));
        assert!(!belongs_to_org(&acme, "ORG#acme2#C#1"));
        assert!(!belongs_to_org(&acme, "ORG#acm"));
        assert!(!belongs_to_org(&acme, "SETTINGS"));
    }
}
