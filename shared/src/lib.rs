//! The one library crate: domain rules, storage, auth and HTTP glue shared by every function.

pub mod attributes;
pub mod auth;
pub mod blobs;
pub mod body;
pub mod bus;
pub mod channel;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod crm;
pub mod cursor;
pub mod deletion;
pub mod error;
pub mod events;
pub mod exports;
pub mod follow_ups;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod invocation;
pub mod keys;
pub mod matching;
pub mod metrics;
pub mod notes;
pub mod queue;
pub mod redact;
pub mod retry;
pub mod secrets;
pub mod serve;
pub mod services;
pub mod settings;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod text;
pub mod tls;

pub use error::{ApiError, DomainError};
