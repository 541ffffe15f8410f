//! `edit-contact`: the agent's contact panel — list, view and edit contacts, and read their
//! conversation history.

use std::collections::HashMap;

use lambda_http::Request;
use serde::{Deserialize, Serialize};
use shared::ApiError;
use shared::auth::{Caller, Capability};
use shared::clock::rfc3339;
use shared::contacts::{Contact, ContactSummary, PendingJob, ValueSource, validate_edit};
use shared::crm::{ChangedBy, ConversationRef, CrmJob, LookupTrigger, lookup_due, lookup_values};
use shared::cursor::{ListScope, PageRequest};
use shared::events::Outbox;
use shared::follow_ups;
use shared::http::{HttpResult, Matched, Page, if_match, json_body, ok, query_param, with_etag};
use shared::ids::{ContactId, ConversationId};
use shared::matching::refile;
use shared::serve::HttpFunction;
use shared::store::{ExistingContact, SaveError, StatusContext, retry_on_conflict};

shared::routes! {
    binary = "edit-contact";
    "/contacts" { GET => ListContacts: ReadContacts }
    "/contacts/{id}" { GET => GetContact: ReadContacts, PATCH => EditContact: FillAttributes }
    "/contacts/{id}/conversations" { GET => ContactConversations: ReadContacts }
    "/contacts/{id}/linked" { GET => LinkedContacts: ReadContacts }
    "/conversations/{conversation_id}/messages" { GET => ConversationMessages: ReadContacts }
    "/conversations/{conversation_id}" { PATCH => SetConversationStatus: ChangeStatus }
}

// `crm` is `crm-sync`'s queue: write-backs after a status change.
shared::app!(pub struct App { store, blobs, matching, crm });

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: ConversationStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ConversationStatus {
    Open,
    Pending,
    Closed,
}

impl ConversationStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Closed => "closed",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    attributes: HashMap<String, Option<String>>,
}

#[derive(Serialize)]
struct AttachmentView {
    id: String,
    content_type: String,
    size: u64,
    download_url: String,
}

#[derive(Serialize)]
struct MessageView {
    id: String,
    text: String,
    sent_at: String,
    attachments: Vec<AttachmentView>,
}

impl App {
    /// Newest first; `?vip=true` is the VIP group, which needs the VIP feature of the plan.
    #[tracing::instrument(skip_all, fields(org = %route.caller.org))]
    async fn list(&self, route: &Matched<RouteId>, req: &Request) -> HttpResult {
        let vip_only = match query_param(req, "vip").as_deref() {
            None => false,
            Some("true") => true,
            Some(_) => return Err(ApiError::bad_field("vip", "vip filters with vip=true only")),
        };
        let filter = if vip_only {
            route.caller.require(Capability::Vip)?;
            "vip=true"
        } else {
            ""
        };
        let (scope, page) = route.page(req, filter)?;
        // `validated` depends on the org's connection, read beside the page.
        let org = &route.caller.org;
        let (listed, crm) = tokio::join!(
            self.store.list_contacts(org, page, vip_only),
            self.store.crm_connection(org)
        );
        let ((contacts, next), crm) = (listed?, crm?);
        let items: Vec<ContactSummary> = contacts.iter().map(|c| c.summary(crm.as_ref())).collect();
        Ok(ok(&Page::new(items, &scope, next)))
    }

    fn job_queues(&self) -> follow_ups::JobQueues<'_> {
        follow_ups::JobQueues {
            crm: &self.crm,
            matching: &self.matching,
        }
    }

    #[tracing::instrument(skip(self, caller), fields(org = %caller.org))]
    async fn view(&self, caller: &Caller, id: &str) -> HttpResult {
        let c = self.store.existing_contact(&caller.org, id, None).await?;
        self.answer_view(caller, &c).await
    }

    /// The contact's view, with its match group's first members, tagged with its version.
    async fn answer_view(&self, caller: &Caller, c: &ExistingContact) -> HttpResult {
        let linked = self.store.linked_preview(&caller.org, &c.contact).await?;
        let view = c.contact.view(
            &c.definitions.value,
            &c.settings.value,
            c.crm.as_ref(),
            caller,
            linked,
        );
        Ok(with_etag(ok(&view), c.contact.version))
    }

    /// Values change field by field, so agents editing different attributes of one contact
    /// all succeed; a change that moves the contact to another match group is written with
    /// its match links in one transaction on the version read.
    #[tracing::instrument(skip(self, caller, req), fields(org = %caller.org, user = %caller.user_id))]
    async fn edit(&self, caller: &Caller, id: &str, req: &Request) -> HttpResult {
        let body: EditBody = json_body(req)?;
        let expected = if_match(req)?;
        let now = rfc3339(self.env.now());
        let edited = retry_on_conflict(|| async {
            let context = self
                .store
                .existing_contact(&caller.org, id, expected)
                .await?;
            let ExistingContact {
                settings,
                definitions,
                crm,
                contact,
            } = &context;
            let source = ValueSource::of(caller);
            let changes = validate_edit(
                &body.attributes,
                &definitions.value,
                &settings.value,
                source,
            )?;
            if changes.is_empty() {
                return Ok(context);
            }
            let mut outbox = Outbox::new(&caller.org, &self.env);
            outbox.contact_updated(&contact.id, contact.changed_keys(&changes), source);
            let mut updated = contact.clone();
            updated.apply(&changes);
            // A changed lookup value looks the contact up again (queued, never waited for).
            let look_up = crm.as_ref().is_some_and(|connection| {
                lookup_values(contact, &definitions.value)
                    != lookup_values(&updated, &definitions.value)
                    && lookup_due(
                        &updated,
                        &definitions.value,
                        connection,
                        LookupTrigger::LookupValueChanged,
                        self.env.now(),
                    )
            });
            let moved = refile(&mut updated, &settings.value, &definitions.value);
            // What the change asks of the workers is written with it.
            let mut jobs = Vec::new();
            if let Some(moved) = &moved {
                let job = moved.job(&caller.org, contact.typed_id()?);
                jobs.push(PendingJob::Match(job));
            }
            if look_up {
                jobs.push(PendingJob::Crm(CrmJob::Lookup {
                    org_id: caller.org.clone(),
                    contact_id: contact.typed_id()?,
                }));
            }
            let Some(moved) = moved else {
                let told = (outbox.events(), jobs.as_slice());
                let Some(written) = self
                    .store
                    .update_values(&caller.org, id, &changes, expected, &now, told)
                    .await?
                else {
                    return Err(self.store.why_not_written(&caller.org, id).await.into());
                };
                let edited = ExistingContact {
                    contact: written,
                    ..context
                };
                return Ok(edited);
            };
            updated.version = contact.version + 1;
            updated.updated_at = now.clone();
            updated.pending_jobs.extend(jobs);
            self.store
                .save_edited_contact(
                    &caller.org,
                    &updated,
                    contact.version,
                    Some(&moved),
                    outbox.events(),
                )
                .await?;
            let edited = ExistingContact {
                contact: updated,
                ..context
            };
            Ok::<_, SaveError<ApiError>>(edited)
        })
        .await
        .map_err(|err| match err {
            // With If-Match, losing the race means the caller's version is no longer current.
            ApiError::Conflict { .. } if expected.is_some() => ApiError::PreconditionFailed,
            err => err,
        })?;
        let contact = &edited.contact;
        // This change's jobs, and any a change before it died without queueing (a retry that
        // finds nothing left to change queues those too).
        follow_ups::queue_pending(&self.store, self.job_queues(), &caller.org, contact).await?;
        tracing::info!(contact = %contact.id, version = contact.version, "contact edited");
        self.answer_view(caller, &edited).await
    }

    /// The contact's and its linked contacts' conversations, newest first.
    #[tracing::instrument(skip_all, fields(org = %route.caller.org))]
    async fn conversations(&self, route: &Matched<RouteId>, req: &Request) -> HttpResult {
        let (scope, page, contact) = self.page_of_contact(route, req).await?;
        let (items, next) = self
            .store
            .linked_conversations(&route.caller.org, &contact, page)
            .await?;
        Ok(ok(&Page::new(items, &scope, next)))
    }

    /// A list under the path's contact: its cursor scope, the page asked for and the contact
    /// (`404` when it is not the caller's org's).
    async fn page_of_contact(
        &self,
        route: &Matched<RouteId>,
        req: &Request,
    ) -> Result<(ListScope, PageRequest, Contact), ApiError> {
        let id: ContactId = route.id("id")?;
        let (scope, page) = route.page(req, "")?;
        let contact = self
            .store
            .contact(&route.caller.org, &id)
            .await?
            .ok_or(ApiError::NotFound("contact"))?;
        Ok((scope, page, contact))
    }

    /// Every contact linked to this one, a page at a time: the whole match group, however
    /// large, where the view carries only the first of them.
    #[tracing::instrument(skip_all, fields(org = %route.caller.org))]
    async fn linked(&self, route: &Matched<RouteId>, req: &Request) -> HttpResult {
        let (scope, page, contact) = self.page_of_contact(route, req).await?;
        let (linked, next) = self
            .store
            .linked_contacts(&route.caller.org, &contact, page)
            .await?;
        let items: Vec<_> = linked.iter().map(|c| c.linked_view()).collect();
        Ok(ok(&Page::new(items, &scope, next)))
    }

    /// Changes a conversation's status; a change (not a repeat) is told as an event and sends
    /// the contact's pending CRM-managed values to the CRM, through the CRM queue.
    #[tracing::instrument(skip_all, fields(org = %route.caller.org))]
    async fn set_status(&self, route: &Matched<RouteId>, req: &Request) -> HttpResult {
        let conversation: ConversationId = route.id("conversation_id")?;
        let body: StatusBody = json_body(req)?;
        let caller = &route.caller;
        let to = body.status.as_str();
        let now = rfc3339(self.env.now());
        let (context, changed) = retry_on_conflict(|| async {
            let mut context = self
                .store
                .status_context(&caller.org, &conversation)
                .await?
                .ok_or(ApiError::NotFound("conversation"))?;
            let current = &context.conversation;
            if current.status == to {
                return Ok((context, false));
            }
            let mut outbox = Outbox::new(&caller.org, &self.env);
            outbox.status_changed(&current.id, &current.contact_id, &current.status, to);
            // A change sends the contact's pending CRM-managed values to the CRM; the job is
            // written with the change.
            let contact = &context.contact;
            let writes_back = context
                .crm
                .as_ref()
                .is_some_and(|c| c.writeback_url.is_some());
            let mut jobs = Vec::new();
            if writes_back && !contact.pending_writes().is_empty() {
                jobs.push(PendingJob::Crm(CrmJob::WriteBack {
                    org_id: caller.org.clone(),
                    contact_id: contact.typed_id()?,
                    conversation: ConversationRef {
                        id: current.id.clone(),
                        status: to.to_owned(),
                    },
                    changed_by: ChangedBy {
                        id: caller.user_id.to_string(),
                        name: caller.name.clone(),
                    },
                    webhook_id: self.env.ids.new_id(),
                    first_tried_at: now.clone(),
                    attempt: 0,
                }));
            }
            let told = (outbox.events(), jobs.as_slice());
            self.store
                .set_conversation_status(&caller.org, current, to, &now, told)
                .await?;
            context.contact.pending_jobs.extend(jobs);
            Ok::<_, SaveError<ApiError>>((context, true))
        })
        .await?;
        let StatusContext {
            mut conversation,
            contact,
            ..
        } = context;
        // The change's write-back, and any a change before it died without queueing.
        follow_ups::queue_pending(&self.store, self.job_queues(), &caller.org, &contact).await?;
        if changed {
            conversation.status = to.to_owned();
            tracing::info!(status = %conversation.status, "conversation status changed");
        }
        Ok(ok(&conversation))
    }

    /// A conversation's messages while it and its contact exist.
    #[tracing::instrument(skip_all, fields(org = %route.caller.org))]
    async fn messages(&self, route: &Matched<RouteId>, req: &Request) -> HttpResult {
        let conversation: ConversationId = route.id("conversation_id")?;
        let (caller, conversation_id) = (&route.caller, &*conversation);
        let (scope, page) = route.page(req, "")?;
        let (messages, next) = self
            .store
            .messages(&caller.org, conversation_id, page)
            .await?
            .ok_or(ApiError::NotFound("conversation"))?;
        let mut items = Vec::with_capacity(messages.len());
        for message in messages {
            let mut attachments = Vec::with_capacity(message.attachments.len());
            for a in message.attachments {
                attachments.push(AttachmentView {
                    download_url: self
                        .blobs
                        .attachment_link(&a.s3_key, &a.content_type, &a.id)
                        .await?,
                    id: a.id,
                    content_type: a.content_type,
                    size: a.size,
                });
            }
            items.push(MessageView {
                id: message.id,
                text: message.text,
                sent_at: message.sent_at.into(),
                attachments,
            });
        }
        Ok(ok(&Page::new(items, &scope, next)))
    }
}

impl HttpFunction for App {
    type RouteId = RouteId;

    async fn dispatch(&self, route: Matched<RouteId>, req: &Request) -> HttpResult {
        match route.id {
            RouteId::ListContacts => self.list(&route, req).await,
            RouteId::GetContact => {
                self.view(&route.caller, &route.id::<ContactId>("id")?)
                    .await
            }
            RouteId::EditContact => {
                let contact: ContactId = route.id("id")?;
                Box::pin(self.edit(&route.caller, &contact, req)).await
            }
            RouteId::ContactConversations => self.conversations(&route, req).await,
            RouteId::LinkedContacts => self.linked(&route, req).await,
            RouteId::ConversationMessages => self.messages(&route, req).await,
            RouteId::SetConversationStatus => self.set_status(&route, req).await,
        }
    }
}
