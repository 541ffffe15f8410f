//! The demo CRM `./scripts/test` starts beside the runtime, and connecting an org to it.

use serde_json::{Value, json};

use crate::{Api, Caller, inbound};

/// The demo CRM `./scripts/test` starts beside the runtime.
pub fn demo_crm_url() -> String {
    std::env::var("DEMO_CRM_URL").expect("DEMO_CRM_URL is set by ./scripts/test")
}

/// The demo CRM's tenant for one org: its lookup URL, and a way to set what it answers.
pub struct DemoCrm {
    pub lookup_url: String,
    control: String,
    calls: String,
    http: reqwest::Client,
}

impl DemoCrm {
    pub fn for_org(org: &str) -> Self {
        let base = format!("{}/t/{org}", demo_crm_url());
        Self {
            lookup_url: format!("{base}/lookup"),
            control: format!("{base}/_control"),
            calls: format!("{base}/_calls"),
            http: reqwest::Client::new(),
        }
    }

    /// `{"secrets", "records", "behaviour"}` as `local::demo_crm` reads them.
    pub async fn set(&self, config: Value) {
        let status = self
            .http
            .put(&self.control)
            .json(&config)
            .send()
            .await
            .expect("demo CRM")
            .status();
        assert_eq!(status.as_u16(), 204);
    }

    /// The calls it received: `{"webhook_id", "signatures", "verified", "body"}`.
    pub async fn calls(&self) -> Vec<Value> {
        let list: Value = self
            .http
            .get(&self.calls)
            .send()
            .await
            .expect("demo CRM")
            .json()
            .await
            .expect("json");
        list["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Connects the org to its demo CRM tenant, which then holds the secret: the secret.
pub async fn connect_demo_crm(
    admin: &Caller,
    crm: &DemoCrm,
    records: Value,
    behaviour: &str,
) -> String {
    let connection = json!({"lookup_url": crm.lookup_url});
    let config = json!({"records": records, "behaviour": behaviour});
    connect_demo_crm_with(admin, crm, connection, config).await
}

/// `PUT /crm` with `connection`, then hands the demo CRM `config` (`records`, `behaviour`,
/// `writeback`) with the new secret: the secret.
pub async fn connect_demo_crm_with(
    admin: &Caller,
    crm: &DemoCrm,
    connection: Value,
    mut config: Value,
) -> String {
    let connected = admin.put("/crm", &connection).await.expect(200);
    let secret = connected["signing_secret"].as_str().unwrap().to_owned();
    config["secrets"] = json!([secret]);
    crm.set(config).await;
    secret
}

/// Requests a lookup and waits until it is no longer pending: the contact view.
pub async fn looked_up(caller: &Caller, contact: &str) -> Value {
    let path = format!("/contacts/{contact}/crm-lookup");
    let pending = caller.post(&path, &json!({})).await.expect(202);
    assert_eq!(pending["crm"]["status"], "pending");
    caller
        .view_when(contact, "the lookup finishing", |view| {
            view["crm"]["status"] != "pending"
        })
        .await
}

/// The DynamoDB requests of a first message, a later message and an edit of a lookup value in
/// a fresh org, connected to its demo CRM or not (the budget test and the CRM bench compare them).
pub async fn message_and_edit_requests(api: &Api, org: &str, crm: bool) -> [usize; 3] {
    let admin = api.caller(org, "admin", "enterprise").await;
    admin
        .create_attribute(&json!({"label": "Customer number", "type": "text", "lookup": true}))
        .await;
    if crm {
        connect_demo_crm(&admin, &DemoCrm::for_org(org), json!([]), "answer").await;
    }
    let first = api.inbound(&inbound(org, "sms", "+1", "c1", "m1")).await;
    let contact = first.body["contact_id"].as_str().unwrap().to_owned();
    let later = api.inbound(&inbound(org, "sms", "+1", "c1", "m2")).await;
    let edit = admin
        .edit(&contact, json!({"customer_number": "C-1"}))
        .await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    [
        first.dynamodb_requests(),
        later.dynamodb_requests(),
        edit.dynamodb_requests(),
    ]
}
