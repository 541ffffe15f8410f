//! `toggle-vip`: designate and undesignate VIP contacts. The VIP group itself is
//! `GET /contacts?vip=true`, read from the sparse index this function maintains.

use lambda_http::Request;
use shared::ApiError;
use shared::attributes::VIP_KEY;
use shared::auth::Caller;
use shared::clock::rfc3339;
use shared::contacts::Contact;
use shared::events::Outbox;
use shared::http::{HttpResult, Matched, if_match, ok, with_etag};
use shared::ids::ContactId;
use shared::serve::HttpFunction;

shared::routes! {
    binary = "toggle-vip";
    "/contacts/{id}/vip" { PUT => Designate: Vip, DELETE => Undesignate: Vip }
}

shared::app!(pub struct App { store });

impl App {
    /// Sets the contact's VIP flag; setting it to what it already is changes nothing. Only the
    /// flag is written, so it never waits for edits of other fields.
    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn set_vip(
        &self,
        caller: &Caller,
        id: &str,
        vip: bool,
        expected: Option<u64>,
    ) -> HttpResult {
        let existing = self
            .store
            .existing_contact(&caller.org, id, expected)
            .await?;
        let (settings, definitions) = (&existing.settings.value, &existing.definitions.value);
        if !definitions.vip_enabled() {
            return Err(ApiError::FeatureDisabled(format!(
                "the {VIP_KEY} attribute is switched off for this organisation"
            )));
        }
        let contact = if existing.contact.vip == vip {
            existing.contact
        } else {
            let now = rfc3339(self.env.now());
            let mut outbox = Outbox::new(&caller.org, &self.env);
            outbox.vip_changed(id, vip, settings);
            match self
                .store
                .set_vip(&caller.org, id, vip, expected, &now, outbox.events())
                .await?
            {
                Some(written) => {
                    tracing::info!(contact = %written.id, vip, "VIP changed");
                    written
                }
                None => self.already_set(caller, id, vip, expected).await?,
            }
        };
        let linked = self.store.linked_preview(&caller.org, &contact).await?;
        let view = contact.view(definitions, settings, existing.crm.as_ref(), caller, linked);
        Ok(with_etag(ok(&view), contact.version))
    }
}

impl App {
    /// After a VIP write wrote nothing: a concurrent twin already set the flag (the outcome the
    /// caller asked for, told once), or the contact is gone or past the caller's `If-Match`.
    async fn already_set(
        &self,
        caller: &Caller,
        id: &str,
        vip: bool,
        expected: Option<u64>,
    ) -> Result<Contact, ApiError> {
        match self.store.contact(&caller.org, id).await? {
            Some(current) if current.vip == vip && expected.is_none() => Ok(current),
            _ => Err(self.store.why_not_written(&caller.org, id).await.into()),
        }
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        let vip = route.id == RouteId::Designate;
        let contact: ContactId = route.id("id")?;
        self.set_vip(&route.caller, &contact, vip, if_match(req)?)
            .await
    }
}
