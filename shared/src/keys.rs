//! Every DynamoDB key string of the table is built here, and only here.
//! Every partition key starts with `ORG#<org>` so no item can belong to two tenants.

use crate::ids::OrgId;

pub const PK: &str = "PK";
pub const SK: &str = "SK";

pub const SETTINGS_SK: &str = "SETTINGS";
pub const ATTRIBUTE_DEFINITIONS_SK: &str = "ATTRDEFS";
pub const CRM_SK: &str = "CRM";

/// The partition holding an org's own singletons (settings, attribute definitions, exports).
pub fn org_pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

/// One window's count of an org's uses of something limited, beside its singletons.
pub fn allowance_sk(purpose: &str, window_start: i64) -> String {
    format!("ALLOWANCE#{purpose}#{window_start}")
}

pub const PROFILE_SK: &str = "PROFILE";
pub const IDENTITY_SK: &str = "ID";

/// A contact's own partition: its profile, conversations and notes.
pub fn contact_pk(org: &OrgId, contact: &str) -> String {
    format!("ORG#{org}#C#{contact}")
}

/// The claim on one sender identity: `scope` is the network for networks with global user ids
/// (X, Instagram) and the channel otherwise.
/// The org and contact a profile's partition key names: the relay reads keys off the stream.
/// Org ids cannot hold `#`, so the first `#C#` ends the org.
pub fn parse_contact_pk(pk: &str) -> Option<(OrgId, &str)> {
    let (org, contact) = pk.strip_prefix("ORG#")?.split_once("#C#")?;
    Some((OrgId::parse(org).ok()?, contact))
}

pub fn identity_pk(org: &OrgId, scope: &str, user_id: &str) -> String {
    format!("ORG#{org}#ID#{scope}#{user_id}")
}

/// How many GSI1 keys an org's contacts are spread over. Every profile write also writes its
/// index entry, and one index key takes about 1,000 writes a second; eight lift an org's ceiling
/// eightfold, for eight parallel queries a listing page.
pub const CONTACT_INDEX_SHARDS: u32 = 8;

/// GSI1: one shard of an org's contacts, newest first (contact ids are UUID v7).
pub fn contacts_index_pk(org: &OrgId, shard: u32) -> String {
    format!("ORG#{org}#CONTACTS#{shard}")
}

/// The listing shard a contact's index entry lives in, the same for every write of it: FNV-1a
/// of its id (UUID v7 ids share their leading time bits, so the hash takes every byte).
pub fn contact_index_shard(contact: &str) -> u32 {
    let hash = contact
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    u32::try_from(hash % u64::from(CONTACT_INDEX_SHARDS)).unwrap_or(0)
}

pub fn contacts_index_sk(contact: &str) -> String {
    format!("{CONTACT_INDEX_SK_PREFIX}{contact}")
}

pub const CONTACT_INDEX_SK_PREFIX: &str = "C#";

/// GSI2, sparse: only VIP contacts carry it.
pub fn vip_index_pk(org: &OrgId) -> String {
    format!("ORG#{org}#VIP")
}

/// Contacts sharing one value of the matching attribute under one matching generation. The
/// value is a SHA-256 of the normalised value, so no email or phone number sits in a key.
pub fn match_pk(org: &OrgId, generation: u64, value_hash: &str) -> String {
    format!("ORG#{org}#MATCH#{generation}#{value_hash}")
}

pub fn match_sk(contact: &str) -> String {
    format!("{MATCH_MEMBER_PREFIX}{contact}")
}

/// What a match link's sort key starts with.
pub const MATCH_MEMBER_PREFIX: &str = "C#";

/// The match group's head, in its own partition before its members: how many there are.
pub const MATCH_GROUP_SK: &str = "#GROUP";

/// GSI2: the conversations of one match group's members, newest first: the cross-channel
/// history of each of them in one query, whatever the group's size.
pub fn group_history_pk(org: &OrgId, generation: u64, value_hash: &str) -> String {
    format!("ORG#{org}#HISTORY#MATCH#{generation}#{value_hash}")
}

/// GSI2: the conversations of a contact filed under no match group.
pub fn contact_history_pk(org: &OrgId, contact: &str) -> String {
    format!("ORG#{org}#HISTORY#C#{contact}")
}

/// A conversation's place in a history: by its last message, then its id.
pub fn history_sk(last_message_at: &str, conversation: &str) -> String {
    format!("{last_message_at}#{conversation}")
}

/// A conversation's own partition: its messages (and, later, its notes).
pub fn conversation_pk(org: &OrgId, conversation: &str) -> String {
    format!("ORG#{org}#CONV#{conversation}")
}

/// The conversation's entry in its contact's partition, for the contact's history.
pub fn conversation_sk(conversation: &str) -> String {
    format!("CONV#{conversation}")
}

pub const CONVERSATION_SK_PREFIX: &str = "CONV#";

/// In a conversation's partition: who the conversation belongs to. Notes check it exists.
pub const CONVERSATION_OWNER_SK: &str = "OWNER";

/// Notes sort just before their parent's head item (`OWNER`, `PROFILE`), so one descending
/// query from the head returns the head and the newest notes.
pub fn note_sk(note: &str) -> String {
    format!("NOTE#{note}")
}

pub const NOTE_SK_PREFIX: &str = "NOTE#";

/// An idempotency record of one `Idempotency-Key`.
pub fn idempotency_pk(org: &OrgId, key: &str) -> String {
    format!("ORG#{org}#IDEM#{key}")
}

pub const IDEMPOTENCY_SK: &str = "IDEM";

/// In a contact's partition: a pointer to an idempotency record whose stored response holds
/// the contact's data, written with the response only while the contact exists, so its purge
/// finds every one with a strongly consistent query.
pub fn contact_idempotency_ref_sk(record_pk: &str) -> String {
    format!("{CONTACT_IDEMPOTENCY_REF_PREFIX}{record_pk}")
}

pub const CONTACT_IDEMPOTENCY_REF_PREFIX: &str = "IDEMREF#";

/// Messages sort by time; the message id makes a redelivered message land on the same key.
pub fn message_sk(sent_at: &str, message: &str) -> String {
    format!("MSG#{sent_at}#{message}")
}

pub const MESSAGE_SK_PREFIX: &str = "MSG#";

/// A message id's claim in its conversation: a message id is stored once, whatever `sent_at`
/// a redelivery carries.
pub fn message_id_sk(message: &str) -> String {
    format!("MSGID#{message}")
}

/// Where a contact's attachment objects live in the bucket.
/// Where the messaging layer puts an org's incoming objects; an inbound message's `s3_key` must
/// name one of these and nothing else in the bucket.
pub fn incoming_prefix(org: &OrgId) -> String {
    format!("incoming/{org}/")
}

/// True for the key of an object the messaging layer uploaded for `org`: under its incoming
/// prefix, with no empty, `.` or `..` segment and no control characters.
pub fn is_incoming_object(org: &OrgId, key: &str) -> bool {
    key.strip_prefix(&incoming_prefix(org)).is_some_and(|rest| {
        !rest.is_empty()
            && !rest.chars().any(char::is_control)
            && rest.split('/').all(|s| !matches!(s, "" | "." | ".."))
    })
}

pub fn attachment_prefix(org: &OrgId, contact: &str) -> String {
    format!("attachments/{org}/{contact}/")
}

/// The deleted-contacts log of an org, newest first by UUID v7.
pub fn audit_pk(org: &OrgId) -> String {
    format!("ORG#{org}#AUDIT")
}

pub fn deletion_sk(audit_id: &str) -> String {
    format!("DEL#{audit_id}")
}

pub const DELETION_SK_PREFIX: &str = "DEL#";

/// A deletion whose cascade (notes, conversations, messages, attachments) has not finished.
pub fn purge_sk(contact: &str) -> String {
    format!("PURGE#{contact}")
}

/// An export job in its org's partition, newest first by UUID v7.
pub fn export_sk(export: &str) -> String {
    format!("EXPORT#{export}")
}

pub const EXPORT_SK_PREFIX: &str = "EXPORT#";

pub const EXPORT_SCHEDULE_SK: &str = "EXPORTSCHEDULE";

/// GSI2, sparse: the export schedules due in one UTC hour, across orgs, so the hourly trigger
/// reads only what it starts. The only key not under one org: the scheduler has no caller; each
/// item it finds names its org, and the base-table key stays `ORG#o`.
pub fn schedules_due_pk(hour_utc: u8) -> String {
    format!("EXPORTSCHEDULES#H{hour_utc:02}")
}

/// Where one job's files live in the bucket; each worker attempt writes its own object, so a
/// dying attempt can never leave a half-written file under the name of a finished one.
pub fn export_prefix(org: &OrgId, export: &str) -> String {
    format!("exports/{org}/{export}/")
}

pub fn export_object(org: &OrgId, export: &str, attempt: u64, extension: &str) -> String {
    format!(
        "{}attempt-{attempt}.{extension}",
        export_prefix(org, export)
    )
}

/// Rows an invocation encoded but could not upload as a part yet, for the next one.
pub fn export_pending(org: &OrgId, export: &str, lease: u64) -> String {
    format!("{}pending-{lease}", export_prefix(org, export))
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

    #[test]
    fn a_profile_key_names_its_org_and_contact() {
        let org = OrgId::parse("acme-1").unwrap();
        let pk = contact_pk(&org, "0190-c");
        assert_eq!(parse_contact_pk(&pk), Some((org, "0190-c")));
        assert_eq!(parse_contact_pk("ORG#acme#AUDIT"), None);
        assert_eq!(parse_contact_pk("ORG#a#b#C#c"), None, "no org id holds #");
    }

    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }

    #[test]
    fn org_partition_is_tenant_prefixed() {
        assert_eq!(org_pk(&org("acme")), "ORG#acme");
    }

    #[test]
    fn contact_keys_are_tenant_prefixed() {
        let acme = org("acme");
        for key in [
            contact_pk(&acme, "c1"),
            identity_pk(&acme, "x", "123"),
            contacts_index_pk(&acme, 3),
            match_pk(&acme, 2, "ab12"),
            conversation_pk(&acme, "v1"),
        ] {
            assert!(belongs_to_org(&acme, &key), "{key}");
            assert!(!belongs_to_org(&org("acm"), &key), "{key}");
        }
        assert_eq!(contact_pk(&acme, "c1"), "ORG#acme#C#c1");
        assert_eq!(
            identity_pk(&acme, "whatsapp", "+351"),
            "ORG#acme#ID#whatsapp#+351"
        );
        assert_eq!(match_pk(&acme, 3, "ff"), "ORG#acme#MATCH#3#ff");
        assert_eq!(
            message_sk("2026-01-01T10:00:00Z", "m-1"),
            "MSG#2026-01-01T10:00:00Z#m-1"
        );
        assert!(message_sk("2026-01-01T10:00:00Z", "m") < message_sk("2026-01-01T10:00:01Z", "a"));
        assert_eq!(attachment_prefix(&acme, "c1"), "attachments/acme/c1/");
    }

    #[test]
    fn export_keys() {
        let acme = org("acme");
        assert_eq!(export_sk("e1"), "EXPORT#e1");
        assert!(export_sk("e1").starts_with(EXPORT_SK_PREFIX));
        assert!(!EXPORT_SCHEDULE_SK.starts_with(EXPORT_SK_PREFIX));
        assert_eq!(schedules_due_pk(7), "EXPORTSCHEDULES#H07");
        let object = export_object(&acme, "e1", 2, "csv");
        assert_eq!(object, "exports/acme/e1/attempt-2.csv");
        assert!(object.starts_with(&export_prefix(&acme, "e1")));
        assert!(!export_prefix(&acme, "e1").starts_with(&export_prefix(&acme, "e")));
    }

    #[test]
    fn notes_sort_between_their_prefix_and_their_parents_head() {
        let note = note_sk("01a1fc72-51d2-7747-aad4-737470e33a35");
        assert!(NOTE_SK_PREFIX < note.as_str());
        assert!(note.as_str() < PROFILE_SK && note.as_str() < CONVERSATION_OWNER_SK);
        assert!(message_sk("2026-01-01T00:00:00Z", "m").as_str() < NOTE_SK_PREFIX);
        assert!(conversation_sk("v").as_str() < NOTE_SK_PREFIX);
    }

    #[test]
    fn only_the_orgs_incoming_objects_can_be_attached() {
        let acme = org("acme");
        assert!(is_incoming_object(&acme, "incoming/acme/m-1/photo.png"));
        for key in [
            "incoming/acme/",
            "incoming/acme2/x",
            "incoming/globex/x",
            "attachments/acme/c1/x",
            "exports/acme/e1/attempt-1.csv",
            "incoming/acme/../../exports/acme/e1",
            "incoming/acme//x",
            "incoming/acme/./x",
            "incoming/acme/x\u{0}",
            "x",
        ] {
            assert!(!is_incoming_object(&acme, key), "{key}");
        }
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

    #[test]
    fn contacts_spread_evenly_over_the_listing_shards_and_stay_in_theirs() {
        let mut counts = [0u32; CONTACT_INDEX_SHARDS as usize];
        for n in 0..8000 {
            let id = format!("01a24a3b-{n:04x}-7209-9b66-4dd1f8a9ef63");
            let shard = contact_index_shard(&id);
            assert_eq!(shard, contact_index_shard(&id), "a contact keeps its shard");
            counts[shard as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (850..=1150).contains(c)),
            "{counts:?}"
        );
    }
}
