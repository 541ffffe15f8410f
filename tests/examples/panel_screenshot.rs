//! The README's screenshot (`./scripts/screenshots`): the demo org of `./scripts/dev` as an
//! agent sees Ana Lima after a bot filled her tier and made her a VIP, and an agent left a note.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use api_tests::{Api, Browser};
use serde_json::json;

#[tokio::main]
async fn main() {
    let api = Api::new();
    let agent = api
        .caller_named("demo", "agent", "enterprise", "demo-agent", "Alex Agent")
        .await;
    let bot = api
        .caller_named("demo", "automation", "enterprise", "demo-bot", "Order bot")
        .await;
    let contacts = agent.get("/contacts").await.expect(200);
    let ana = contacts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Ana Lima")
        .expect("./scripts/dev seeds Ana Lima")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        bot.edit(&ana, json!({"customer_tier": "Gold"}))
            .await
            .status,
        200
    );
    bot.put(&format!("/contacts/{ana}/vip"), &json!({}))
        .await
        .expect(200);
    agent
        .note(
            &format!("/contacts/{ana}/notes"),
            "Order #1042 is late: courier says Friday.",
        )
        .await;
    let browser = Browser::open(&format!(
        "/?org=demo&role=agent&plan=enterprise&contact={ana}"
    ))
    .await;
    browser.wait_for_text(".badge", "Validated").await;
    browser.wait_for_text(".note-list", "Order #1042").await;
    browser
        .wait_for_text(".event-list", "contact.vip_changed")
        .await;
    browser.screenshot("panel").await;
    browser.close().await;
}
