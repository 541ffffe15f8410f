//! `crm-sync`: the org's CRM connection (connect, read, rotate the secret, test, disconnect),
//! manual lookups, and the worker behind the CRM queue that calls the customer's endpoints.
//! Nothing else ever calls a CRM: requests and ingest only enqueue.

mod client;
mod worker;

use std::collections::BTreeMap;

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::clock::{Env, rfc3339};
use shared::contacts::LookupStatus;
use shared::crm::{
    ContactCrm, CrmConnection, CrmJob, CrmUrl, LOOKUP_TTL_DEFAULT_MINUTES, LOOKUP_TTL_MAX_MINUTES,
    LookupCall, LookupContact, Loopback, ROTATION_OVERLAP_SECONDS, RetiringSecret, SigningSecret,
};
use shared::events::Outbox;
use shared::http::{HttpResult, Matched, json, json_body, no_content, non_null, ok};
use shared::idempotency;
use shared::ids::{ContactId, OrgId};
use shared::queue::Queue;
use shared::secrets::SecretSeal;
use shared::serve::{Build, HttpFunction};
use shared::services::Services;
use shared::store::{Allowance, CrmEndpoints, SaveError, Store, retry_on_conflict};
use shared::{ApiError, DomainError};

use client::CrmClient;

shared::routes! {
    binary = "crm-sync";
    "/crm" { PUT => Connect: Crm, GET => Read: Crm, DELETE => Disconnect: Crm }
    "/crm/rotate-secret" { POST => RotateSecret: Crm }
    "/crm/test" { POST => Test: Crm }
    "/contacts/{id}/crm-lookup" { POST => Lookup: CrmLookup }
}

pub struct App {
    store: Store,
    crm: Queue,
    matching: Queue,
    seal: SecretSeal,
    loopback: Loopback,
    client: CrmClient,
    env: Env,
}

impl Build for App {
    fn build(s: &Services, env: &Env) -> Self {
        Self {
            store: s.store(),
            crm: s.crm(),
            matching: s.matching(),
            seal: s.seal(),
            loopback: s.loopback(),
            // Building fails only without a TLS backend, which this binary always has.
            #[allow(clippy::expect_used)]
            client: CrmClient::new(s.loopback()).expect("an HTTP client"),
            env: env.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    lookup_url: String,
    writeback_url: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    lookup_ttl_minutes: Option<u32>,
}

#[derive(Serialize)]
struct Connected<'a> {
    #[serde(flatten)]
    view: shared::crm::CrmConnectionView,
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_secret: Option<&'a str>,
}

#[derive(Serialize)]
struct TestResult {
    ok: bool,
    status: Option<u16>,
    latency_ms: u128,
    error: Option<String>,
}

const NO_CONNECTION: &str = "crm connection";

/// What a call that waits out the breaker's pause comes to.
const PAUSED: &str = "calls to the CRM are paused after repeated failures";

/// How often an org may test its connection: each test calls a URL the admin chose.
pub const CRM_TESTS: Allowance = Allowance {
    purpose: "crm_test",
    per_window: 10,
    seconds: 60,
};

impl App {
    fn now(&self) -> String {
        rfc3339(self.env.now())
    }

    async fn connection(&self, org: &OrgId) -> Result<CrmConnection, ApiError> {
        self.store
            .crm_connection(org)
            .await?
            .ok_or(ApiError::NotFound(NO_CONNECTION))
    }

    #[tracing::instrument(skip_all, fields(org = %caller.org))]
    async fn connect(&self, caller: &Caller, req: &Request) -> HttpResult {
        let body: ConnectBody = json_body(req)?;
        let lookup_url = CrmUrl::parse("lookup_url", &body.lookup_url, self.loopback)?;
        let writeback_url = body
            .writeback_url
            .as_deref()
            .map(|u| CrmUrl::parse("writeback_url", u, self.loopback))
            .transpose()?;
        let urls = [
            ("lookup_url", Some(&lookup_url)),
            ("writeback_url", writeback_url.as_ref()),
        ];
        for (field, url) in urls {
            if let Some(url) = url
                && !client::resolves_publicly(url, self.loopback).await
            {
                return Err(ApiError::validation(
                    field,
                    format!("{field} must resolve only to public addresses"),
                ));
            }
        }
        let ttl = body
            .lookup_ttl_minutes
            .unwrap_or(LOOKUP_TTL_DEFAULT_MINUTES);
        if !(1..=LOOKUP_TTL_MAX_MINUTES).contains(&ttl) {
            return Err(ApiError::validation(
                "lookup_ttl_minutes",
                "lookup_ttl_minutes is 1 to 10080".to_owned(),
            ));
        }
        let endpoints = CrmEndpoints {
            lookup_url: &lookup_url,
            writeback_url: writeback_url.as_ref(),
            lookup_ttl_minutes: ttl,
        };
        // Made once: a create that loses to another's goes on to change the endpoints.
        let secret = SigningSecret::generate();
        let (connection, created) = retry_on_conflict(|| async {
            let now = self.now();
            let Some(existing) = self.store.crm_connection(&caller.org).await? else {
                let connection = CrmConnection {
                    connection_id: self.env.ids.new_id(),
                    lookup_url: lookup_url.clone(),
                    writeback_url: writeback_url.clone(),
                    lookup_ttl_minutes: ttl,
                    secret: self.seal.seal(&caller.org, &secret).await?,
                    retiring: None,
                    version: 1,
                    consecutive_failures: 0,
                    paused_until: None,
                    last_error: None,
                    created_at: now.clone(),
                    updated_at: now,
                };
                if !self
                    .store
                    .create_crm_connection(&caller.org, &connection)
                    .await?
                {
                    return Err(SaveError::<ApiError>::Conflict);
                }
                return Ok((connection, true));
            };
            let (org, id) = (&caller.org, &existing.connection_id);
            match self
                .store
                .set_crm_endpoints(org, id, endpoints, &now)
                .await?
            {
                Some(connection) => Ok((connection, false)),
                None => Err(SaveError::Conflict),
            }
        })
        .await?;
        tracing::info!(created, "crm connection saved");
        Ok(ok(&Connected {
            view: connection.view(),
            signing_secret: created.then(|| secret.expose()),
        }))
    }

    /// Makes a new secret and keeps the one it replaces for a day. A rotation that races
    /// another change reads the connection again, so the secret it retires is the one that
    /// signed until then.
    #[tracing::instrument(skip_all, fields(org = %caller.org))]
    async fn rotate(&self, caller: &Caller) -> HttpResult {
        let secret = SigningSecret::generate();
        let sealed = self.seal.seal(&caller.org, &secret).await?;
        retry_on_conflict(|| async {
            let current = self.connection(&caller.org).await?;
            let now = self.env.now();
            let retiring = RetiringSecret {
                secret: current.secret.clone(),
                until: rfc3339(now + time::Duration::seconds(ROTATION_OVERLAP_SECONDS)),
            };
            let (org, at) = (&caller.org, rfc3339(now));
            match self
                .store
                .rotate_crm_secret(org, &current, &sealed, &retiring, &at)
                .await?
            {
                true => Ok(()),
                false => Err(SaveError::<ApiError>::Conflict),
            }
        })
        .await?;
        tracing::info!("crm signing secret rotated");
        Ok(ok(
            &serde_json::json!({ "signing_secret": secret.expose() }),
        ))
    }

    /// The secrets every call is signed with: the current one, and the old one for a day
    /// after a rotation.
    async fn signing_secrets(
        &self,
        org: &OrgId,
        connection: &CrmConnection,
    ) -> Result<Vec<SigningSecret>, DomainError> {
        let mut secrets = vec![self.seal.open(org, &connection.secret).await?];
        if let Some(retiring) = &connection.retiring
            && self.now() < retiring.until
        {
            secrets.push(self.seal.open(org, &retiring.secret).await?);
        }
        Ok(secrets)
    }

    /// Sends a lookup (or a ping) to the connection's lookup URL, signed with every current
    /// secret under a new webhook id.
    async fn send_lookup(
        &self,
        org: &OrgId,
        connection: &CrmConnection,
        call: &LookupCall<'_>,
    ) -> Result<client::Reply, DomainError> {
        let secrets = self.signing_secrets(org, connection).await?;
        let (id, at) = (self.env.ids.new_id(), self.env.now().unix_timestamp());
        let reply = self
            .client
            .call(&connection.lookup_url, &secrets, &id, at, call);
        reply.await
    }

    /// Pings the lookup URL, as often as [`CRM_TESTS`] allows an org, and counts the call for
    /// the breaker like any other: a success after a fix lifts a pause at once. While calls are
    /// paused the test waits like them. The answer's `error` is one of a few fixed texts.
    #[tracing::instrument(skip_all, fields(org = %caller.org))]
    async fn test(&self, caller: &Caller) -> HttpResult {
        let connection = self.connection(&caller.org).await?;
        let now = self.env.now();
        if connection.paused_at(now) {
            return Ok(ok(&TestResult {
                ok: false,
                status: None,
                latency_ms: 0,
                error: Some(PAUSED.to_owned()),
            }));
        }
        if !self
            .store
            .take_allowance(&caller.org, CRM_TESTS, now.unix_timestamp())
            .await?
        {
            let window_left =
                CRM_TESTS.seconds - now.unix_timestamp().rem_euclid(CRM_TESTS.seconds);
            return Err(ApiError::RateLimited {
                message: "the CRM connection was tested too often",
                retry_after_seconds: u64::try_from(window_left).unwrap_or(1),
            });
        }
        let call = LookupCall {
            kind: "ping",
            contact: LookupContact {
                id: "",
                network: None,
                identities: vec![],
            },
            lookup: BTreeMap::new(),
        };
        let reply = self.send_lookup(&caller.org, &connection, &call).await?;
        let breaker = worker::breaker_outcome(&reply.outcome, self.env.now());
        self.store
            .record_crm_call(&caller.org, &connection, breaker)
            .await?;
        Ok(ok(&TestResult {
            ok: reply.outcome.is_ok(),
            status: (reply.status != 0).then_some(reply.status),
            latency_ms: reply.latency.as_millis(),
            error: reply.outcome.err().map(|f| f.to_string()),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %caller.org))]
    async fn disconnect(&self, caller: &Caller) -> HttpResult {
        if !self.store.delete_crm_connection(&caller.org).await? {
            return Err(ApiError::NotFound(NO_CONNECTION));
        }
        tracing::info!("crm connection removed");
        Ok(no_content())
    }

    /// Marks the contact's lookup pending and queues it, whatever the age of the last one.
    #[tracing::instrument(skip_all, fields(org = %caller.org, contact = %id))]
    async fn request_lookup(&self, caller: &Caller, id: &ContactId) -> HttpResult {
        let c = self.store.existing_contact(&caller.org, id, None).await?;
        let (contact, settings, definitions) = (c.contact, c.settings, c.definitions);
        let connection = c
            .crm
            .ok_or_else(|| ApiError::conflict(None, "the organisation has no CRM connection"))?;
        let previous = contact
            .crm
            .clone()
            .filter(|c| c.connection_id == connection.connection_id);
        let pending = ContactCrm {
            connection_id: connection.connection_id.clone(),
            status: LookupStatus::Pending,
            record_id: previous.as_ref().and_then(|p| p.record_id.clone()),
            record_url: previous.as_ref().and_then(|p| p.record_url.clone()),
            last_lookup_at: previous.and_then(|p| p.last_lookup_at),
            error: None,
        };
        let mut outbox = Outbox::new(&caller.org, &self.env);
        outbox.lookup_recorded(&contact, &pending, &[], &connection);
        let contact = self
            .store
            .record_lookup(&caller.org, id, &pending, &[], &self.now(), outbox.events())
            .await?
            .ok_or(ApiError::NotFound("contact"))?;
        self.crm
            .send(&CrmJob::Lookup {
                org_id: caller.org.clone(),
                contact_id: id.clone(),
            })
            .await?;
        let linked = self.store.linked_preview(&caller.org, &contact).await?;
        let view = contact.view(
            &definitions.value,
            &settings.value,
            Some(&connection),
            caller,
            linked,
        );
        let mut response = json(StatusCode::ACCEPTED, &view);
        // A stored copy for an idempotent retry goes with the contact.
        response
            .extensions_mut()
            .insert(idempotency::AboutContact(contact.id.clone()));
        Ok(response)
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        let caller = &route.caller;
        match route.id {
            RouteId::Connect => self.connect(caller, req).await,
            RouteId::Read => Ok(ok(&self.connection(&caller.org).await?.view())),
            RouteId::Disconnect => self.disconnect(caller).await,
            // A retried rotation answers the secret the first one made, and rotates once.
            RouteId::RotateSecret => {
                let (store, env, seal) = (&self.store, &self.env, &self.seal);
                idempotency::once_sealed(store, env, caller, req, seal, || self.rotate(caller))
                    .await
            }
            RouteId::Test => {
                idempotency::once(&self.store, &self.env, caller, req, || self.test(caller)).await
            }
            RouteId::Lookup => {
                let contact = route.id("id")?;
                idempotency::once(&self.store, &self.env, caller, req, || {
                    self.request_lookup(caller, &contact)
                })
                .await
            }
        }
    }
}
