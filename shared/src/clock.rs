//! Time and id generation, injected so tests can pin them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub trait IdGenerator: Send + Sync {
    /// A new UUID v7 as a string: sortable by creation time.
    fn new_id(&self) -> String;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

pub struct UuidV7;

impl IdGenerator for UuidV7 {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// A clock that stands still until moved.
pub struct FixedClock(std::sync::Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn at(instant: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(instant))
    }

    pub fn advance(&self, by: time::Duration) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ids `00000000-0000-7000-8000-000000000001`, `…2`, …: valid UUID v7 shapes, predictable.
#[derive(Default)]
pub struct SequentialIds(AtomicU64);

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> String {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        format!("00000000-0000-7000-8000-{n:012x}")
    }
}

/// The clock and id source a function runs with.
#[derive(Clone)]
pub struct Env {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

impl Env {
    pub fn system() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// RFC 3339 UTC with second precision, the contract's time format.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    // Only years outside 0..=9999 fail to format; no clock or request produces one.
    t.format(&Rfc3339).unwrap_or_default()
}

/// A point in time as it is stored and compared: RFC 3339 in UTC to the second
/// (`2026-01-01T10:00:00Z`). The text has one form per instant, so its order, in code, in sort
/// keys and in DynamoDB conditions alike, is the order of the times.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(String);

impl Timestamp {
    pub fn at(t: OffsetDateTime) -> Self {
        Self(rfc3339(t))
    }

    /// Any RFC 3339 time, in whatever offset and precision, as the instant's one form.
    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::at)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Timestamp {
    type Error = time::error::Parse;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_timestamp_has_one_form_per_instant_so_text_order_is_time_order() {
        let late_in_lisbon = Timestamp::parse("2026-01-01T10:30:00.75+01:00").unwrap();
        let early_in_utc = Timestamp::parse("2026-01-01T09:45:00Z").unwrap();
        assert_eq!(late_in_lisbon.as_str(), "2026-01-01T09:30:00Z");
        assert!(late_in_lisbon < early_in_utc, "9:30 UTC is before 9:45 UTC");
        assert_eq!(
            serde_json::from_str::<Timestamp>("\"2026-01-01T09:30:00+00:00\"").unwrap(),
            late_in_lisbon
        );
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(
            rfc3339(datetime!(2026-01-01 12:30:05.123 +02:00)),
            "2026-01-01T10:30:05Z"
        );
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at(datetime!(2026-01-01 0:00 UTC));
        assert_eq!(clock.now(), clock.now());
        clock.advance(time::Duration::hours(1));
        assert_eq!(clock.now(), datetime!(2026-01-01 1:00 UTC));
    }

    #[test]
    fn sequential_ids_are_distinct_and_ordered() {
        let ids = SequentialIds::default();
        let (a, b) = (ids.new_id(), ids.new_id());
        assert!(a < b);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
