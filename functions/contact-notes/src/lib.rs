//! `contact-notes`: notes on contacts and, kept apart, notes on conversations. Any agent may
//! edit or delete any note; the author is always the caller from the token.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Deserialize;
use shared::auth::Caller;
use shared::clock::rfc3339;
use shared::http::{
    HttpResult, Matched, Page, if_match, json, json_body, no_content, ok, with_etag,
};
use shared::idempotency::{self, AboutContact};
use shared::ids::{ContactId, ConversationId, NoteId};
use shared::notes::{Note, NoteParent, NoteText, Person};
use shared::serve::HttpFunction;
use shared::store::NoteEdit;

shared::routes! {
    binary = "contact-notes";
    "/contacts/{id}/notes" { GET => ListContactNotes: Read, POST => AddContactNote: WriteNotes }
    "/contacts/{id}/notes/{note_id}" {
        PATCH => EditContactNote: WriteNotes, DELETE => DeleteContactNote: WriteNotes
    }
    "/conversations/{conversation_id}/notes" {
        GET => ListConversationNotes: Read, POST => AddConversationNote: WriteNotes
    }
    "/conversations/{conversation_id}/notes/{note_id}" {
        PATCH => EditConversationNote: WriteNotes, DELETE => DeleteConversationNote: WriteNotes
    }
}

shared::app!(pub struct App { store });

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

enum Action {
    List,
    Add,
    Edit,
    Delete,
}

impl App {
    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn add(&self, caller: &Caller, parent: NoteParent<'_>, req: &Request) -> HttpResult {
        let body: NoteBody = json_body(req)?;
        let now = rfc3339(self.env.now());
        let note = Note {
            id: self.env.ids.new_id(),
            text: NoteText::parse(&body.text)?,
            author: Person::from(caller),
            created_at: now.clone(),
            updated_at: now,
            updated_by: None,
            version: 1,
        };
        let contact = self.store.add_note(&caller.org, parent, &note).await?;
        tracing::info!(note = %note.id, parent = parent.name(), "note added");
        let mut response = with_etag(json(StatusCode::CREATED, &note), note.version);
        response.extensions_mut().insert(AboutContact(contact));
        Ok(response)
    }

    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn edit(
        &self,
        caller: &Caller,
        parent: NoteParent<'_>,
        note_id: &str,
        req: &Request,
    ) -> HttpResult {
        let body: NoteBody = json_body(req)?;
        let text = NoteText::parse(&body.text)?;
        let expected = if_match(req)?;
        let now = rfc3339(self.env.now());
        let by = Person::from(caller);
        let edit = NoteEdit {
            text: text.as_str(),
            by: &by,
            at: &now,
        };
        let note = self
            .store
            .update_note(&caller.org, parent, note_id, &edit, expected)
            .await?;
        Ok(with_etag(ok(&note), note.version))
    }

    /// `expected`: the version an `If-Match` names, if any.
    #[tracing::instrument(skip(self, caller), fields(org = %caller.org, user = %caller.user_id))]
    async fn delete(
        &self,
        caller: &Caller,
        parent: NoteParent<'_>,
        note_id: &str,
        expected: Option<u64>,
    ) -> HttpResult {
        self.store
            .delete_note(&caller.org, parent, note_id, expected)
            .await?;
        tracing::info!(note = %note_id, "note deleted");
        Ok(no_content())
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        use RouteId::*;
        let caller = &route.caller;
        let (contact, conversation): (ContactId, ConversationId);
        let parent = match route.id {
            ListContactNotes | AddContactNote | EditContactNote | DeleteContactNote => {
                contact = route.id("id")?;
                NoteParent::Contact(&contact)
            }
            ListConversationNotes
            | AddConversationNote
            | EditConversationNote
            | DeleteConversationNote => {
                conversation = route.id("conversation_id")?;
                NoteParent::Conversation(&conversation)
            }
        };
        let action = match route.id {
            ListContactNotes | ListConversationNotes => Action::List,
            AddContactNote | AddConversationNote => Action::Add,
            EditContactNote | EditConversationNote => Action::Edit,
            DeleteContactNote | DeleteConversationNote => Action::Delete,
        };
        match action {
            Action::List => {
                let (scope, page) = route.page(req, "")?;
                let (items, next) = self.store.list_notes(&caller.org, parent, page).await?;
                Ok(ok(&Page::new(items, &scope, next)))
            }
            Action::Add => {
                idempotency::once(&self.store, &self.env, caller, req, || {
                    self.add(caller, parent, req)
                })
                .await
            }
            Action::Edit => {
                let note: NoteId = route.id("note_id")?;
                self.edit(caller, parent, &note, req).await
            }
            Action::Delete => {
                let note: NoteId = route.id("note_id")?;
                self.delete(caller, parent, &note, if_match(req)?).await
            }
        }
    }
}
