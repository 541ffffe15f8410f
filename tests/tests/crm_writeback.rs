//! CRM write-back through the local runtime, against the demo CRM: an agent's change to a
//! CRM-managed value is sent when a conversation changes status (by an agent or a message),
//! a refused change fails, a lookup never overwrites a pending change; conversation status.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{
    Api, Caller, DemoCrm, connect_demo_crm_with, entry, fresh, inbound, looked_up, new_org,
};
use serde_json::{Value, json};

/// An org whose agents may edit the CRM-managed `account`, connected to its demo CRM with a
/// write-back URL, and a contact in conversation `c1`: (admin, agent, crm, contact).
async fn writing_back(
    api: &Api,
    org: &str,
    writeback: &str,
) -> (Caller, Caller, DemoCrm, String, String) {
    let admin = api.caller(org, "admin", "enterprise").await;
    let agent = api.caller(org, "agent", "enterprise").await;
    admin
        .create_attribute(&json!({"label": "Account", "type": "text", "crm_managed": true}))
        .await;
    admin.set_settings(&json!({"crm_edit_enabled": true})).await;
    let crm = DemoCrm::for_org(org);
    let writeback_url = crm.lookup_url.replace("/lookup", "/writeback");
    let connection = json!({"lookup_url": crm.lookup_url, "writeback_url": writeback_url});
    let records = json!([{"match": "+351944", "id": "R-7", "attributes": {"account": "ACME"}}]);
    let config = json!({"records": records, "writeback": writeback});
    let secret = connect_demo_crm_with(&admin, &crm, connection, config).await;
    let contact = api.contact_from(org, "whatsapp", "+351944", "c1").await;
    (admin, agent, crm, contact, secret)
}

/// An agent's change to the CRM-managed `account`: the contact view.
async fn edit_account(agent: &Caller, contact: &str, value: &str) -> Value {
    agent
        .edit(contact, json!({"account": value}))
        .await
        .expect(200)
}

/// Waits until the contact's `account` has left `pending`: the view.
async fn settled(caller: &Caller, contact: &str) -> Value {
    caller
        .view_when(contact, "the write-back settling", |view| {
            entry(view, "account").unwrap()["sync"] != "pending"
        })
        .await
}

#[tokio::test]
async fn an_agents_change_is_written_back_when_a_conversation_changes_status() {
    let (api, org) = fresh();
    let (_, agent, crm, contact, _) = writing_back(&api, &org, "accept").await;
    let view = edit_account(&agent, &contact, "Globex").await;
    let account = entry(&view, "account").unwrap();
    assert_eq!(account["sync"], "pending");
    assert_eq!(account["source"], "agent");

    let same = agent.set_status("c1", "open").await;
    assert_eq!(
        same["status"], "open",
        "an unchanged status changes nothing"
    );
    let closed = agent.set_status("c1", "closed").await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["contact_id"], contact);

    let view = settled(&agent, &contact).await;
    let account = entry(&view, "account").unwrap();
    assert_eq!(account["sync"], "synced");
    assert_eq!(account["value"], "Globex");
    let call = write_back_call(&crm).await;
    let write_backs = crm
        .calls()
        .await
        .into_iter()
        .filter(|c| c["body"]["type"] == "contact.updated")
        .count();
    assert_eq!(write_backs, 1, "the unchanged status sent nothing");
    // Events of one contact arrive in order: the change's event comes after any the
    // unchanged status could have told.
    let events = api
        .events_when(&org, "conversation.status_changed", 1)
        .await;
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "conversation.status_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (&changes[0]["data"]["from"], &changes[0]["data"]["to"]),
        (&json!("open"), &json!("closed"))
    );
    assert_eq!(call["verified"], true);
    assert_eq!(call["body"]["attributes"], json!({"account": "Globex"}));
    assert_eq!(
        call["body"]["conversation"],
        json!({"id": "c1", "status": "closed"})
    );
    assert_eq!(call["body"]["contact"]["id"], contact);
    assert_eq!(call["body"]["changed_by"]["name"], "Test User");
    let listed = agent
        .get(&format!("/contacts/{contact}/conversations"))
        .await
        .expect(200);
    assert_eq!(listed["items"][0]["status"], "closed");
}

#[tokio::test]
async fn a_refused_change_fails_and_the_next_lookup_brings_back_the_crms_value() {
    let (api, org) = fresh();
    let (_, agent, _, contact, _) = writing_back(&api, &org, "conflict").await;
    edit_account(&agent, &contact, "Globex").await;
    agent.set_status("c1", "pending").await;
    let view = settled(&agent, &contact).await;
    let account = entry(&view, "account").unwrap();
    assert_eq!(account["sync"], "failed");
    assert_eq!(
        account["value"], "Globex",
        "the agent's value stays in sight"
    );

    let view = looked_up(&agent, &contact).await;
    let account = entry(&view, "account").unwrap();
    assert_eq!(account["value"], "ACME");
    assert_eq!(account["source"], "crm");
    assert_eq!(account["sync"], Value::Null);
}

#[tokio::test]
async fn a_lookup_never_overwrites_a_change_waiting_to_be_written_back() {
    let (api, org) = fresh();
    let (_, agent, _, contact, _) = writing_back(&api, &org, "accept").await;
    edit_account(&agent, &contact, "Globex").await;
    let view = looked_up(&agent, &contact).await;
    assert_eq!(view["crm"]["status"], "found");
    let account = entry(&view, "account").unwrap();
    assert_eq!(account["value"], "Globex");
    assert_eq!(account["sync"], "pending");
    assert_eq!(account["source"], "agent");
}

#[tokio::test]
async fn conversation_status_is_one_of_three_for_any_caller_of_the_org() {
    let (api, org) = fresh();
    api.contact_from(&org, "sms", "+351955", "c1").await;
    let agent = api.caller(&org, "agent", "team").await;
    agent
        .patch("/conversations/c1", &json!({"status": "archived"}))
        .await
        .expect_error_at(422, "validation_failed", "status");
    agent
        .patch("/conversations/c1", &json!({"status": "closed", "x": 1}))
        .await
        .expect_error(400, "bad_request");
    agent
        .patch("/conversations/nope", &json!({"status": "closed"}))
        .await
        .expect_error(404, "not_found");
    api.caller(&new_org(), "admin", "enterprise")
        .await
        .patch("/conversations/c1", &json!({"status": "closed"}))
        .await
        .expect_error(404, "not_found");
    let done = agent.set_status("c1", "pending").await;
    assert_eq!(done["status"], "pending");
}

#[tokio::test]
async fn a_status_change_from_the_channel_writes_back_pending_values() {
    let (api, org) = fresh();
    let (_, agent, crm, contact, _) = writing_back(&api, &org, "accept").await;
    edit_account(&agent, &contact, "Initech").await;
    let mut closing = inbound(&org, "whatsapp", "+351944", "c1", "m2");
    closing["conversation"]["status"] = json!("closed");
    api.ingest(&closing).await;
    let view = settled(&agent, &contact).await;
    assert_eq!(entry(&view, "account").unwrap()["sync"], "synced");
    let call = write_back_call(&crm).await;
    assert_eq!(call["body"]["attributes"], json!({"account": "Initech"}));
    assert_eq!(call["body"]["conversation"]["status"], "closed");
    assert_eq!(call["body"]["changed_by"]["name"], "whatsapp");
}

/// The write-back call the demo CRM received.
async fn write_back_call(crm: &DemoCrm) -> Value {
    crm.calls()
        .await
        .into_iter()
        .find(|c| c["body"]["type"] == "contact.updated")
        .expect("a write-back call")
}
