//! The calls the black-box tests make over and over, each with the status a passing test
//! expects, so a test reads as the steps it takes rather than as paths and bodies.

use std::borrow::Borrow;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Caller, Reply};

/// A request in a test's table of cases: method, path and body.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

impl Request {
    fn new(method: Method, path: impl AsRef<str>, body: Option<&Value>) -> Self {
        let path = path.as_ref().to_owned();
        Self {
            method,
            path,
            body: body.cloned(),
        }
    }

    pub fn get(path: impl AsRef<str>) -> Self {
        Self::new(Method::GET, path, None)
    }

    pub fn delete(path: impl AsRef<str>) -> Self {
        Self::new(Method::DELETE, path, None)
    }

    pub fn post(path: impl AsRef<str>, body: impl Borrow<Value>) -> Self {
        Self::new(Method::POST, path, Some(body.borrow()))
    }

    pub fn patch(path: impl AsRef<str>, body: impl Borrow<Value>) -> Self {
        Self::new(Method::PATCH, path, Some(body.borrow()))
    }

    pub fn put(path: impl AsRef<str>, body: impl Borrow<Value>) -> Self {
        Self::new(Method::PUT, path, Some(body.borrow()))
    }
}

impl Caller {
    /// Sends each request in order and expects each to succeed in exactly its budget of
    /// DynamoDB requests (the local runtime counts them, retries included).
    pub async fn expect_budgets(&self, cases: &[(Request, usize)]) {
        for (Request { method, path, body }, budget) in cases {
            let reply = self.send(method.clone(), path, body.as_ref()).await;
            assert!(reply.status.is_success(), "{method} {path}: {}", reply.body);
            assert_eq!(reply.dynamodb_requests(), *budget, "{method} {path}");
        }
    }

    /// Sends each request in order and expects every one to fail with `status` and `code`
    /// (a route closed to the caller's role, plan or org, or an object that is not there).
    pub async fn expect_each_error(&self, status: u16, code: &str, requests: &[Request]) {
        for Request { method, path, body } in requests {
            let reply = self.send(method.clone(), path, body.as_ref()).await;
            let got = (reply.status.as_u16(), reply.code());
            assert_eq!(got, (status, code), "{method} {path}: {}", reply.body);
            reply.expect_error(status, code);
        }
    }

    /// `GET /contacts/{id}`: the contact view.
    pub async fn view(&self, contact: &str) -> Value {
        self.get(&format!("/contacts/{contact}")).await.expect(200)
    }

    /// `PATCH /contacts/{id}` with these attribute values; the reply, for the test to judge.
    pub async fn edit(&self, contact: &str, attributes: Value) -> Reply {
        self.patch(
            &format!("/contacts/{contact}"),
            &json!({ "attributes": attributes }),
        )
        .await
    }

    /// Polls the contact view until `done` holds for it (background work: matching, lookups,
    /// write-backs): the view.
    pub async fn view_when(
        &self,
        contact: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        crate::eventually(what, || async {
            let view = self.view(contact).await;
            done(&view).then_some(view)
        })
        .await
    }

    /// Polls a contact's cross-channel history (every page, `limit` a page) until `done`
    /// holds for its conversation ids: a group's history follows a move in the background, and
    /// is read from an index. The ids, newest first.
    pub async fn history_when(
        &self,
        contact: &str,
        limit: usize,
        what: &str,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let list = format!("/contacts/{contact}/conversations");
        crate::eventually(what, || async {
            let pages = self.pages(&list, limit).await;
            let ids: Vec<String> = pages.iter().flat_map(crate::ids).collect();
            done(&ids).then_some(ids)
        })
        .await
    }

    /// `POST /attributes` that must create the definition: the definition.
    pub async fn create_attribute(&self, body: &Value) -> Value {
        self.post("/attributes", body).await.expect(201)
    }

    /// A custom text attribute with this label (its key is the label in snake case).
    pub async fn define_text(&self, label: &str) -> Value {
        self.create_attribute(&json!({"label": label, "type": "text"}))
            .await
    }

    /// `PATCH /settings` that must be accepted: the settings.
    pub async fn set_settings(&self, body: &Value) -> Value {
        self.patch("/settings", body).await.expect(200)
    }

    /// `POST` of a note to a notes list (a contact's or a conversation's): the note.
    pub async fn note(&self, notes: &str, text: &str) -> Value {
        self.post(notes, &json!({ "text": text })).await.expect(201)
    }

    /// How many items the first page of a list holds.
    /// Polls a list read from an index (the contacts list, the VIP filter) until `done` holds
    /// for its first page: on AWS a global secondary index shows a write a moment after it.
    pub async fn list_when(&self, list: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        crate::eventually(what, || async {
            let page = self.get(list).await.expect(200);
            done(&page).then_some(page)
        })
        .await
    }

    pub async fn count(&self, list: &str) -> usize {
        self.get(list).await.expect(200)["items"]
            .as_array()
            .expect("items")
            .len()
    }

    /// Every page of a list (a path without a query), `limit` items a page, following
    /// `next_cursor` to the end: the pages, in order.
    pub async fn pages(&self, list: &str, limit: usize) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut path = format!("{list}?limit={limit}");
        loop {
            let page = self.get(&path).await.expect(200);
            let next = page["next_cursor"]
                .as_str()
                .map(|cursor| format!("{list}?limit={limit}&cursor={cursor}"));
            pages.push(page);
            match next {
                Some(next) => path = next,
                None => return pages,
            }
        }
    }

    /// `PUT /contacts/{id}/vip` that must be accepted: the contact view.
    pub async fn make_vip(&self, contact: &str) -> Value {
        self.put(&format!("/contacts/{contact}/vip"), &json!(null))
            .await
            .expect(200)
    }

    /// `PATCH /conversations/{id}` to a status, which must be accepted: the conversation.
    pub async fn set_status(&self, conversation: &str, status: &str) -> Value {
        self.patch(
            &format!("/conversations/{conversation}"),
            &json!({ "status": status }),
        )
        .await
        .expect(200)
    }
}
