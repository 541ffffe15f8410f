//! Deleting a contact and the deleted-contacts log, through the local runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api_tests::{Request, fresh, inbound, new_org};
use serde_json::json;

#[tokio::test]
async fn eight_parallel_deletes_make_one_204_and_one_audit_record() {
    let (api, org) = fresh();
    // A sender id no generated (hex) id can contain, so finding it in the record means a leak.
    let mut message = inbound(&org, "x_dm", "sender-xyz", "c1", "m1");
    message["sender"]["name"] = json!("Ana Lima");
    message["sender"]["handle"] = json!("@analima");
    let id = api.contact_of(&message).await;
    let admin = api.caller(&org, "admin", "team").await;
    let path = format!("/contacts/{id}");
    let replies = futures::future::join_all((0..8).map(|_| admin.delete(&path))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        7,
        "{statuses:?}"
    );
    let missing = [Request::get(&path), Request::delete(&path)];
    admin.expect_each_error(404, "not_found", &missing).await;

    let log = admin.get("/deleted-contacts").await.expect(200);
    let records = log["items"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record["contact_id"].clone(), record["platform"].clone()),
        (json!(id), json!("x"))
    );
    assert_eq!(record["contact_hint"], "A. L. · @a…");
    assert_eq!(
        record["deleted_by"],
        json!({"id": format!("{org}-admin"), "name": "Test User"})
    );
    let text = record.to_string();
    assert!(
        !text.contains("Lima") && !text.contains("analima") && !text.contains("sender-xyz"),
        "{text}"
    );
}

#[tokio::test]
async fn a_deleted_contacts_history_goes_and_a_returning_sender_starts_afresh() {
    let (api, org) = fresh();
    let mut first = inbound(&org, "whatsapp", "+351911", "conv-old", "m1");
    first["message"]["attachments"] =
        json!([{"id": "a1", "content_type": "image/png", "content_base64": "iVBORw0KGgo="}]);
    let old = api.contact_of(&first).await;
    let agent = api.caller(&org, "agent", "business").await;
    agent
        .note(&format!("/contacts/{old}/notes"), "private remark")
        .await;
    agent
        .note("/conversations/conv-old/notes", "conversation remark")
        .await;
    let messages = agent
        .get("/conversations/conv-old/messages")
        .await
        .expect(200);
    let download = messages["items"][0]["attachments"][0]["download_url"]
        .as_str()
        .unwrap()
        .to_owned();

    let admin = api.caller(&org, "admin", "business").await;
    assert_eq!(admin.delete(&format!("/contacts/{old}")).await.status, 204);
    let missing = [
        Request::get(format!("/contacts/{old}")),
        Request::get(format!("/contacts/{old}/notes")),
    ];
    agent.expect_each_error(404, "not_found", &missing).await;
    // Gone for every reader at the 204, while the purge has not run yet.
    agent
        .get("/conversations/conv-old/messages")
        .await
        .expect_error(404, "not_found");
    agent
        .get("/conversations/conv-old/notes")
        .await
        .expect_error(404, "not_found");
    // The history answers 404 from the 204 on; the purge removes the files behind it (a link
    // handed out before then serves nothing: S3 answers 403 or 404 for a missing object).
    let files = format!("attachments/{org}/{old}/");
    api_tests::eventually("the attachment object gone", || async {
        api.stored_objects(&files).await.is_empty().then_some(())
    })
    .await;
    assert_ne!(api.download(&download).await.0.as_u16(), 200);
    // And the purge leaves no item of it: its partition, its conversation's, its identity.
    for prefix in [
        format!("ORG#{org}#C#{old}"),
        format!("ORG#{org}#CONV#conv-old"),
        format!("ORG#{org}#ID#"),
    ] {
        api_tests::eventually(&format!("nothing stored under {prefix}"), || async {
            (api_tests::stored_under(&prefix).await == 0).then_some(())
        })
        .await;
    }

    let fresh = api
        .contact_from(&org, "whatsapp", "+351911", "conv-new")
        .await;
    assert_ne!(fresh, old);
    let view = agent.view(&fresh).await;
    assert_eq!(view["version"], 1);
    assert_eq!(agent.count(&format!("/contacts/{fresh}/notes")).await, 0);
    let history = agent
        .get(&format!("/contacts/{fresh}/conversations"))
        .await
        .expect(200);
    let ids = api_tests::ids(&history);
    assert_eq!(ids, ["conv-new"]);
}

#[tokio::test]
async fn only_admins_delete_and_list_and_only_their_own_orgs_contacts() {
    let (api, org) = fresh();
    let id = api.contact_from(&org, "sms", "+1", "c").await;
    let agent = api.caller(&org, "agent", "enterprise").await;
    let path = format!("/contacts/{id}");
    let admins_only = [Request::delete(&path), Request::get("/deleted-contacts")];
    agent
        .expect_each_error(403, "forbidden", &admins_only)
        .await;
    let stranger = api.caller(&new_org(), "admin", "enterprise").await;
    stranger.delete(&path).await.expect_error(404, "not_found");
    agent.view(&id).await;

    let admin = api.caller(&org, "admin", "team").await;
    assert_eq!(admin.delete(&path).await.status, 204);
    assert_eq!(stranger.count("/deleted-contacts").await, 0);
    assert_eq!(admin.count("/deleted-contacts?limit=1").await, 1);
    admin
        .get("/deleted-contacts?limit=0")
        .await
        .expect_error(400, "bad_request");
}
