//! `toggle-vip`: designate and undesignate VIP contacts. The VIP group itself is
//! `GET /contacts?vip=true`, read from the sparse index this function maintains.

use lambda_http::{Body, Request, Response};
use shared::ApiError;
use shared::attributes::VIP_KEY;
use shared::auth::{Caller, Capability};
use shared::clock::{Env, rfc3339};
use shared::http::{Route, Router, ok, respond, with_etag};
use shared::store::{ContactContext, SaveError, Store, retry_on_conflict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Designate,
    Undesignate,
}

pub const ROUTES: &[Route<RouteId>] = &[
    Route {
        method: "PUT",
        path: "/contacts/{id}/vip",
        id: RouteId::Designate,
    },
    Route {
        method: "DELETE",
        path: "/contacts/{id}/vip",
        id: RouteId::Undesignate,
    },
];

pub struct App {
    store: Store,
    env: Env,
    router: Router<RouteId>,
}

impl App {
    pub fn new(store: Store, env: Env) -> Self {
        Self {
            store,
            env,
            router: Router::new(ROUTES),
        }
    }

    pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
        ROUTES.iter().map(|r| (r.method, r.path))
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        respond(self.dispatch(req).await)
    }

    async fn dispatch(&self, req: Request) -> Result<Response<Body>, ApiError> {
        let route = self.router.at(&req)?;
        let caller = Caller::from_request(&req)?;
        let id = route.params.get("id").cloned().unwrap_or_default();
        let vip = route.id == RouteId::Designate;
        self.set_vip(&caller, &id, vip).await
    }

    /// Sets the contact's VIP flag; setting it to what it already is changes nothing.
    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn set_vip(
        &self,
        caller: &Caller,
        id: &str,
        vip: bool,
    ) -> Result<Response<Body>, ApiError> {
        caller.require(Capability::Vip)?;
        let (contact, view) = retry_on_conflict(|| async {
            let ContactContext {
                settings,
                definitions,
                contact,
            } = self.store.contact_context(&caller.org, id).await?;
            let mut contact = contact.ok_or(ApiError::NotFound("contact"))?;
            if !definitions.value.vip_enabled() {
                return Err(ApiError::FeatureDisabled(format!(
                    "the {VIP_KEY} attribute is switched off for this organisation"
                ))
                .into());
            }
            if contact.vip != vip {
                let expected = contact.version;
                contact.vip = vip;
                contact.version += 1;
                contact.updated_at = rfc3339(self.env.now());
                self.store
                    .save_contact(&caller.org, &contact, expected)
                    .await?;
                tracing::info!(contact = %contact.id, vip, "VIP changed");
            }
            let view = contact.view(&definitions.value, &settings.value, caller);
            Ok::<_, SaveError>((contact, view))
        })
        .await?;
        Ok(with_etag(ok(&view), contact.version))
    }
}
