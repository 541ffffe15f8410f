//! The demo panel and the API reference, used as a person uses them: in headless Chromium,
//! each journey in an org of its own, every screen checked by axe-core, each journey leaving a
//! screenshot in `.local/screenshots` (`./scripts/screenshots` copies the agent's to the README).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api_tests::{
    Browser, DemoCrm, connect_demo_crm_with, define, demo_crm_url, entry, fresh, inbound, keys,
};
use fantoccini::key::Key;
use serde_json::json;

fn panel(org: &str, role: &str, plan: &str, rest: &str) -> String {
    format!("/?org={org}&role={role}&plan={plan}{rest}")
}

/// The attribute keys in display order, as the API lists them.
async fn order(admin: &api_tests::Caller) -> Vec<String> {
    keys(&admin.get("/attributes").await.expect(200))
}

fn before(keys: &[String], first: &str, second: &str) -> bool {
    let at = |k: &str| keys.iter().position(|x| x == k).unwrap();
    at(first) < at(second)
}

#[tokio::test]
async fn an_admin_shapes_attributes_connects_the_crm_exports_and_deletes_a_contact() {
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "enterprise").await;
    api.ingest(&inbound(&org, "x_dm", "ana", "c-ana", "m1"))
        .await;
    let (bruno, _) = api
        .ingest(&inbound(&org, "whatsapp", "bruno", "c-bruno", "m2"))
        .await;
    let browser = Browser::open(&panel(&org, "admin", "enterprise", "&view=settings")).await;
    browser.wait_for_text(".definitions", "Followers").await;
    browser.assert_accessible("admin settings").await;

    // A text attribute, then a dropdown that first has too few options.
    browser.fill("Label", "Customer ID").await;
    browser.click("Add attribute").await;
    browser.wait_for_text(".definitions", "Customer ID").await;
    browser.fill("Label", "Customer tier").await;
    browser.choose("Type", "Dropdown").await;
    browser
        .fill("Options, one per line (at least 2)", "Gold")
        .await;
    browser.click("Add attribute").await;
    let said = browser.wait_for_text("#new-options-error", "").await;
    assert!(!said.is_empty(), "the options field says what is wrong");
    assert!(!order(&admin).await.contains(&"customer_tier".to_owned()));
    browser
        .fill("Options, one per line (at least 2)", "Gold\nSilver")
        .await;
    browser.click("Add attribute").await;
    browser.wait_for_text(".definitions", "Customer tier").await;
    assert!(before(&order(&admin).await, "customer_id", "customer_tier"));

    // Reordered by keyboard (Alt+↑ on the row's handle), and by its move button.
    let handle = browser
        .find("button.handle[aria-label^='Reorder Customer tier']")
        .await;
    let count = order(&admin).await.len();
    // Where the page shows the tier (its handle names its position): the page shows a move once
    // it has read the order again, after the API has it.
    let shown_at = |position: usize| {
        format!("button.handle[aria-label='Reorder Customer tier: position {position} of {count}']")
    };
    browser.alt_key(&handle, Key::Up).await;
    api_tests::eventually("the tier moved up", || async {
        before(&order(&admin).await, "customer_tier", "customer_id").then_some(())
    })
    .await;
    browser.find(&shown_at(count - 1)).await;
    browser.click("Move Customer tier down").await;
    api_tests::eventually("the tier moved down", || async {
        before(&order(&admin).await, "customer_id", "customer_tier").then_some(())
    })
    .await;
    browser.find(&shown_at(count)).await;
    let row = |label: &'static str| {
        format!("//li[contains(@class, 'definition')][.//strong[normalize-space()='{label}']]")
    };
    let tier = browser
        .find_xpath(&row("Customer tier"), "the tier's row")
        .await;
    let first = browser.find_xpath(&row("Followers"), "the first row").await;
    browser.drag(&tier, &first).await;
    api_tests::eventually("the tier dragged to the top", || async {
        (order(&admin).await.first().map(String::as_str) == Some("customer_tier")).then_some(())
    })
    .await;
    browser
        .wait_for_text("ol.definitions > li:first-child", "Customer tier")
        .await;

    // The demo CRM is filled in; the secret is shown once, handed to the CRM, and tested.
    let lookup = browser.field("Lookup URL").await;
    let prefilled = lookup.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(prefilled, format!("{}/t/{org}/lookup", demo_crm_url()));
    browser.click("Connect").await;
    let secret = browser
        .field("Signing secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.click("Give it to the demo CRM").await;
    browser
        .wait_for_text(".secret", "The demo CRM now verifies")
        .await;
    browser.click("I have saved it").await;
    browser.click("Test connection").await;
    let result = browser.wait_for_text(".test-result", "Test passed").await;
    assert!(result.contains("HTTP 200"), "{result}");
    let calls = DemoCrm::for_org(&org).calls().await;
    assert!(
        calls
            .iter()
            .any(|c| c["verified"] == true && c["body"]["type"] == "ping"),
        "the test call was signed with the secret shown: {calls:?}"
    );
    browser.wait_for_text(".health", "Healthy").await;
    assert!(
        !browser.has("#crm-secret").await,
        "the secret is not shown again"
    );

    // An export runs, and its link downloads the file.
    browser.click("Start export").await;
    let link = browser.link("Download CSV").await;
    let href = link.attr("href").await.unwrap().unwrap();
    let (status, file) = api.download(&href).await;
    assert_eq!(status.as_u16(), 200);
    let csv = String::from_utf8(file).unwrap();
    assert!(
        csv.starts_with("contact_id,name,handle,network,vip,validated"),
        "{csv}"
    );
    assert!(csv.contains("Person ana") && csv.contains("Person bruno"));
    browser
        .assert_accessible("admin settings with a connection and an export")
        .await;

    // A contact is deleted behind a confirmation and found in the log.
    browser
        .goto(&panel(
            &org,
            "admin",
            "enterprise",
            &format!("&contact={bruno}"),
        ))
        .await;
    browser.wait_for_text("#contact-name", "Person bruno").await;
    browser.click("Delete contact").await;
    browser.click("Delete for good").await;
    browser.find(".contact.empty").await;
    browser
        .wait_without_text(".contact-list", "Person bruno")
        .await;
    admin
        .get(&format!("/contacts/{bruno}"))
        .await
        .expect_error(404, "not_found");
    browser.link("Admin settings").await.click().await.unwrap();
    let log = browser.wait_for_text("table.deleted", "Dana Admin").await;
    assert!(log.contains("whatsapp"), "{log}");
    assert!(
        !log.contains("Person bruno"),
        "the log keeps a hint only: {log}"
    );
    browser.screenshot("admin").await;
    browser.close().await;
}

#[tokio::test]
async fn an_agent_fills_values_marks_a_vip_adds_a_note_and_sees_the_crm_validate_and_sync() {
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "enterprise").await;
    define(
        &admin,
        &[
            json!({"label": "Customer tier", "type": "dropdown", "options": ["Bronze", "Silver", "Gold"]}),
            json!({"label": "Account owner", "type": "text", "crm_managed": true}),
        ],
    )
    .await;
    admin
        .set_settings(&json!({"crm_edit_enabled": true, "vip_routing_team": "VIP desk"}))
        .await;
    let crm = DemoCrm::for_org(&org);
    let writeback = format!("{}/t/{org}/writeback", demo_crm_url());
    connect_demo_crm_with(
        &admin,
        &crm,
        json!({"lookup_url": crm.lookup_url, "writeback_url": writeback}),
        json!({"records": [{"match": "ana", "id": "CRM-7", "url": "https://crm.example/accounts/7",
                            "attributes": {"account_owner": "Dana Sales"}}]}),
    )
    .await;
    let (ana, _) = api
        .ingest(&inbound(&org, "x_dm", "ana", "c-ana", "m1"))
        .await;
    let browser = Browser::open(&panel(
        &org,
        "agent",
        "enterprise",
        &format!("&contact={ana}"),
    ))
    .await;
    browser.wait_for_text("#contact-name", "Person ana").await;
    browser.wait_for_text(".validation", "Not validated").await;

    // A lookup validates her and fills the CRM-managed value.
    browser.click("Look up in CRM").await;
    browser.wait_for_text(".badge", "Validated").await;
    let record = browser.link("CRM record CRM-7").await;
    assert_eq!(
        record.attr("href").await.unwrap().as_deref(),
        Some("https://crm.example/accounts/7")
    );
    browser
        .wait_for_text(".attribute-list .value", "Dana Sales")
        .await;

    // An empty value offers "Add"; the dropdown fills it.
    browser.click("Add Customer tier").await;
    browser
        .find("#attr-customer_tier")
        .await
        .select_by_label("Gold")
        .await
        .unwrap();
    browser.click("Save").await;
    browser
        .wait_for_text(".attribute-list .value", "Gold")
        .await;
    assert_eq!(
        entry(&admin.view(&ana).await, "customer_tier").unwrap()["value"],
        "Gold"
    );

    // A value the contract refuses is named beside its field, and nothing is written.
    browser.click("Edit Account owner").await;
    let field = browser.find("#attr-account_owner").await;
    field.clear().await.unwrap();
    field.send_keys(&"x".repeat(1001)).await.unwrap();
    browser.click("Save").await;
    browser.find("#attr-account_owner-error").await;
    assert_eq!(
        entry(&admin.view(&ana).await, "account_owner").unwrap()["value"],
        "Dana Sales"
    );
    field.clear().await.unwrap();
    field.send_keys("Sam Support").await.unwrap();
    browser.click("Save").await;
    browser
        .wait_for_text(".attribute-list", "Sync pending")
        .await;

    // VIP: the button fills in.
    browser.click("★ VIP").await;
    eventually_pressed(&browser).await;
    assert_eq!(admin.view(&ana).await["vip"], true);

    // A note, with its counter, author and time.
    browser.fill("New note", "Prefers email").await;
    browser.wait_for_text(".counter", "13 / 2000").await;
    browser.click("Add note").await;
    let note = browser.wait_for_text(".note", "Prefers email").await;
    assert!(note.contains("Alex Agent"), "{note}");

    // Closing the conversation writes the pending value back to the CRM.
    browser.choose("Status", "Closed").await;
    browser
        .wait_for_text(".attribute-list", "Synced to the CRM")
        .await;
    let written = crm.calls().await;
    assert!(
        written
            .iter()
            .any(|c| c["verified"] == true
                && c["body"]["attributes"]["account_owner"] == "Sam Support"),
        "{written:?}"
    );
    // The events tail shows what the bus received. The stream relay is the whole suite's and
    // drains every org's changes in order, so the bus may take a while behind a heavy test;
    // the tail must show the events once the bus has them.
    api_tests::retry("the bus receiving the status change", 3000, || async {
        let events = api.events(&org, None).await;
        let kinds = api_tests::types(&events);
        (kinds.contains(&"contact.vip_changed") && kinds.contains(&"conversation.status_changed"))
            .then_some(())
    })
    .await;
    browser
        .wait_for_text(".event-list", "contact.vip_changed")
        .await;
    browser
        .wait_for_text(".event-list", "conversation.status_changed")
        .await;
    browser.assert_accessible("agent workspace").await;
    browser.screenshot("agent").await;

    // Someone else changes her meanwhile: the panel says so and reloads. (With the events tail
    // live, the panel would read her again on their change; off, it meets the change on save.)
    browser
        .find(".events input[type=checkbox]")
        .await
        .click()
        .await
        .unwrap();
    let other = api
        .caller_as(&org, "agent", "enterprise", "other-agent")
        .await;
    assert_eq!(
        other
            .edit(&ana, json!({"customer_tier": "Silver"}))
            .await
            .status,
        200
    );
    browser.click("Edit Customer tier").await;
    browser
        .find("#attr-customer_tier")
        .await
        .select_by_label("Bronze")
        .await
        .unwrap();
    browser.click("Save").await;
    browser
        .wait_for_text(".problem", "Someone else changed")
        .await;
    assert_eq!(
        entry(&admin.view(&ana).await, "customer_tier").unwrap()["value"],
        "Silver"
    );
    browser.click("Reload").await;
    browser
        .wait_without_text(".problem", "Someone else changed")
        .await;
    browser
        .wait_for_text(".attribute-list .value", "Silver")
        .await;

    // Any note can be edited and deleted.
    browser.click("Edit the note by Alex Agent").await;
    browser.fill("Edit note", "Prefers email, not DMs").await;
    browser.click("Save").await;
    let edited = browser.wait_for_text(".note", "not DMs").await;
    assert!(edited.contains("edited by Alex Agent"), "{edited}");
    browser.click("Delete the note by Alex Agent").await;
    browser.click("Delete note").await;
    browser
        .wait_without_text(".note-list", "Prefers email")
        .await;
    let notes = admin
        .get(&format!("/contacts/{ana}/notes"))
        .await
        .expect(200);
    assert_eq!(notes["items"], json!([]));
    browser.close().await;
}

async fn eventually_pressed(browser: &Browser) {
    api_tests::eventually("the VIP button pressed", || async {
        let button = browser.button("★ VIP").await;
        (button.attr("aria-pressed").await.unwrap().as_deref() == Some("true")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_team_plan_agent_and_an_automation_client_see_what_they_may_not_do_explained() {
    let (api, org) = fresh();
    let admin = api.caller(&org, "admin", "enterprise").await;
    admin.define_text("Customer ID").await;
    let (contact, _) = api
        .ingest(&inbound(&org, "whatsapp", "carla", "c-carla", "m1"))
        .await;

    let browser = Browser::open(&panel(
        &org,
        "agent",
        "team",
        &format!("&contact={contact}"),
    ))
    .await;
    browser.wait_for_text("#contact-name", "Person carla").await;
    browser
        .wait_for_text(".explain", "VIP needs the Business or Enterprise plan")
        .await;
    browser
        .wait_for_text(".explain", "Filling in attributes needs the Business")
        .await;
    browser
        .wait_for_text(".explain", "Adding and editing notes needs the Business")
        .await;
    for hidden in [
        "★ VIP",
        "Add Customer ID",
        "Add note",
        "Look up in CRM",
        "Delete contact",
    ] {
        assert!(
            !browser.has_button(hidden).await,
            "{hidden} is hidden on the team plan"
        );
    }
    assert!(
        !browser.has(".contacts input").await,
        "no VIP group filter on the team plan"
    );
    assert!(
        browser.find_all(".tabs a").await.len() == 2,
        "no admin settings for an agent"
    );
    browser.assert_accessible("team-plan agent").await;

    // An automation client (a bot) may mark a VIP, but notes, lookups, deleting and settings are not its.
    browser
        .goto(&panel(
            &org,
            "automation",
            "enterprise",
            &format!("&view=settings&contact={contact}"),
        ))
        .await;
    browser.wait_for_text("#contact-name", "Person carla").await;
    browser
        .wait_for_text(".explain", "Notes are for people")
        .await;
    assert!(browser.has_button("★ VIP").await);
    assert!(browser.has_button("Add Customer ID").await);
    for hidden in ["Look up in CRM", "Delete contact", "Add attribute"] {
        assert!(
            !browser.has_button(hidden).await,
            "{hidden} is hidden from automation"
        );
    }
    browser.assert_accessible("automation client").await;

    // A team-plan admin shapes attributes, but the CRM and exports are the Enterprise plan's.
    browser
        .goto(&panel(&org, "admin", "team", "&view=settings"))
        .await;
    browser.wait_for_text(".definitions", "Customer ID").await;
    for why in [
        "Marking attributes CRM-managed or lookup needs the Enterprise plan",
        "Connecting a CRM needs the Enterprise plan",
        "Exports need the Enterprise plan",
    ] {
        browser.wait_for_text(".explain", why).await;
    }
    assert!(
        !browser.has("#crm-lookup").await,
        "no CRM form on the team plan"
    );
    assert!(browser.has_button("Add attribute").await);
    browser.assert_accessible("team-plan admin settings").await;
    browser.screenshot("restricted").await;
    browser.close().await;
}

#[tokio::test]
async fn the_api_reference_renders_the_contract_tries_a_call_and_lists_the_event_schemas() {
    let (_api, org) = fresh();
    let browser = Browser::open("/docs/api").await;
    browser.fill("Org", &org).await;
    browser.click("Use a token").await;
    browser
        .wait_for_text("#token-state", &format!("Authorized as admin of {org}"))
        .await;
    browser
        .find("#operations-default-getSettings button.opblock-summary-control")
        .await
        .click()
        .await
        .unwrap();
    browser.click("Try it out").await;
    browser.click("Execute").await;
    let answer = browser
        .wait_for_text(
            "#operations-default-getSettings .live-responses-table",
            "200",
        )
        .await;
    assert!(answer.contains("\"plan\": \"enterprise\""), "{answer}");
    browser.assert_accessible("API reference").await;
    browser.screenshot("api-reference").await;

    browser.goto("/docs/events").await;
    for kind in [
        "contact.created",
        "contact.updated",
        "contact.vip_changed",
        "contact.validated_changed",
        "contact.deleted",
        "conversation.started",
        "conversation.status_changed",
    ] {
        let id = format!("#schema-{}", kind.replace('.', "-"));
        let heading = browser.find(&id).await.text().await.unwrap();
        assert_eq!(heading, kind);
    }
    browser.assert_accessible("event catalogue").await;

    browser.goto("/docs").await;
    browser.link("CRM guide").await.click().await.unwrap();
    browser.wait_for_text("h1", "CRM").await;
    browser.assert_accessible("CRM guide").await;
    browser.close().await;
}
