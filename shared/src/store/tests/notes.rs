//! Notes on a contact or a conversation, under a live parent.

use super::*;
use crate::notes::{Note, NoteParent, NoteText, Person};
use crate::testing::local_store;

fn note(id: &str) -> Note {
    Note {
        id: id.into(),
        text: NoteText::parse("call back").unwrap(),
        author: Person {
            id: "u".into(),
            name: "Agent".into(),
        },
        created_at: NOW.into(),
        updated_at: NOW.into(),
        updated_by: None,
        version: 1,
    }
}

#[tokio::test]
async fn imported_notes_are_listed_like_added_ones() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    let conversation = NoteParent::Conversation("conv-1");
    let history = ["01b-1", "01b-2", "01b-3"].map(note);
    store
        .import_notes(&org, conversation, &history)
        .await
        .unwrap();
    let (listed, _) = store
        .list_notes(&org, conversation, page(10))
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["01b-3", "01b-2", "01b-1"]
    );
}

#[tokio::test]
async fn notes_live_under_a_live_parent_newest_first() {
    let (store, org) = (local_store().await, org());
    ingested(&store, &org, "c1", "conv-1").await;
    let contact = NoteParent::Contact("c1");
    for id in ["01a-1", "01a-2"] {
        assert_eq!(
            store.add_note(&org, contact, &note(id)).await.unwrap(),
            "c1"
        );
    }
    let conversation = NoteParent::Conversation("conv-1");
    assert_eq!(
        store
            .add_note(&org, conversation, &note("01a-3"))
            .await
            .unwrap(),
        "c1"
    );
    let (notes, _) = store.list_notes(&org, contact, page(10)).await.unwrap();
    assert_eq!(
        notes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["01a-2", "01a-1"]
    );
    let missing = store
        .add_note(&org, NoteParent::Contact("c9"), &note("01a-4"))
        .await;
    assert!(matches!(missing, Err(DomainError::NotFound(_))));
    let by = Person {
        id: "u2".into(),
        name: "Other".into(),
    };
    let edit = NoteEdit {
        text: "done",
        by: &by,
        at: NOW,
    };
    let stale = store
        .update_note(&org, contact, "01a-1", &edit, Some(5))
        .await;
    assert!(matches!(stale, Err(DomainError::Stale(_))));
    let edited = store
        .update_note(&org, contact, "01a-1", &edit, Some(1))
        .await
        .unwrap();
    assert_eq!((edited.version, edited.text.as_str()), (2, "done"));
    store
        .delete_note(&org, contact, "01a-1", None)
        .await
        .unwrap();
    let again = store.delete_note(&org, contact, "01a-1", None).await;
    assert!(matches!(again, Err(DomainError::NotFound(_))));
}
