//! A conversation's messages: newest first, while its contact exists, and only those of
//! contacts that still exist.

use super::*;
use crate::testing::local_store;

fn message(id: &str, contact_id: &str, sent_at: &str) -> Message {
    Message {
        id: id.into(),
        conversation_id: "conv-1".into(),
        contact_id: contact_id.into(),
        text: "hello".into(),
        sent_at: super::at(sent_at),
        attachments: vec![],
    }
}

#[tokio::test]
async fn messages_page_newest_first_leaving_out_contacts_that_are_gone() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    let history = [
        message("m1", "c1", "2026-01-01T10:01:00Z"),
        message("m2", "c1", "2026-01-01T10:02:00Z"),
        message("x1", "deleted", "2026-01-01T10:03:00Z"),
    ];
    store.import_messages(&org, &history, NOW).await.unwrap();
    let (mut seen, mut start, mut pages) = (Vec::new(), None, 0);
    loop {
        let (messages, next) = store
            .messages(&org, "conv-1", next_page(2, start))
            .await
            .unwrap()
            .unwrap();
        assert!(messages.len() <= 2);
        seen.extend(messages.into_iter().map(|m| m.id));
        pages += 1;
        start = next;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["m2", "m1", "m-c1"]);
    assert!(pages >= 2, "two messages a page");
    assert!(
        store
            .messages(&org, "conv-x", page(10))
            .await
            .unwrap()
            .is_none()
    );
    let foreign = raw_key(
        &crate::keys::conversation_pk(&self::org(), "conv-1"),
        "MSG#2026-01-01T10:02:00Z#m2",
    );
    let err = store
        .messages(&org, "conv-1", next_page(2, Some(foreign)))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::ForeignCursor), "{err:?}");
}
