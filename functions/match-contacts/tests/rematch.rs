//! An org-wide re-match too large for one invocation continues in the next, and every contact
//! ends filed once under the new matching attribute in a group counted right.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;

use match_contacts::{App, MatchTuning};
use shared::clock::Env;
use shared::ids::OrgId;
use shared::invocation::{BudgetPolicy, Deadline};
use shared::matching::MatchJob;
use shared::serve::Build;
use shared::testing::{TestQueue, local_services, new_org, seed_contacts, seeded_contact};

#[tokio::test]
async fn a_rematch_continues_across_invocations_and_refiles_each_contact_once() {
    let local = local_services().await;
    let name = new_org("rematch");
    let org = OrgId::parse(&name).unwrap();
    // Three contacts share each phone number.
    let contacts: Vec<_> = (0..290)
        .map(|n| seeded_contact(n, &format!("+1555{:04}", n % 100)))
        .collect();
    let mut by_phone: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &contacts {
        by_phone
            .entry(c.platform["phone"].clone())
            .or_default()
            .push(c.id.clone());
    }
    seed_contacts(&local.store(), &org, contacts).await;
    let (mut settings, _) = local.store().org_config(&org).await.unwrap();
    settings.value.matching_attribute = Some("phone".into());
    settings.value.match_generation = 1;
    local
        .store()
        .save_settings(&org, &settings, Env::system().now(), None)
        .await
        .unwrap();

    let queue = TestQueue::new(&format!("match-{name}")).await;
    // Pages of 100 and 2 pages an invocation: 290 contacts cannot be refiled in one. How
    // DynamoDB cuts its pages decides how many invocations it takes, so the test asserts the
    // hand-over, not a count of pages.
    let (services, sends) =
        local::testing::services_watched("match-contacts", &[(queue.url(), "MatchQueue")]).await;
    sends.watch_sends(&name);
    let app = App::build(&services, &Env::system()).tuned(MatchTuning {
        page_size: 100,
        budget: BudgetPolicy::Steps(2),
    });
    queue
        .queue()
        .send(&MatchJob::Org {
            org_id: org.clone(),
            generation: 1,
            progress: None,
        })
        .await
        .unwrap();
    let invocations = queue.drain(&app).await;
    let mut continuations = sends.sent_to(&name, queue.url());
    continuations.retain(|m| m.body["type"] == "org");
    assert!(
        !continuations.is_empty(),
        "the re-match handed over to another invocation"
    );
    assert_eq!(
        invocations,
        continuations.len() + 1,
        "every invocation but the last queued the next one, and nothing else ran"
    );
    assert!(
        continuations
            .iter()
            .all(|m| m.body["progress"].is_object() && m.body["generation"] == 1),
        "each goes on from where the last stopped, for the same generation: {continuations:?}"
    );

    let mut seen = 0;
    let mut wrong = Vec::new();
    let mut stored = Vec::new();
    local
        .store()
        .for_each_contact_page(&org, |page| stored.extend(page))
        .await
        .unwrap();
    for contact in stored {
        seen += 1;
        let mut expected: Vec<String> = by_phone[&contact.platform["phone"]]
            .iter()
            .filter(|id| **id != contact.id)
            .cloned()
            .collect();
        expected.sort();
        let preview = local.store().linked_preview(&org, &contact).await.unwrap();
        let mut linked = preview.ids.clone();
        linked.sort();
        // Seeded at version 1: exactly one re-filing makes it 2. Each group counted: 2 others.
        if linked != expected
            || preview.count != expected.len()
            || contact.match_generation != 1
            || contact.version != 3
        {
            wrong.push((contact.id, linked, contact.version));
        }
    }
    assert_eq!(seen, 290);
    assert!(
        wrong.is_empty(),
        "{} contacts are wrong, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
}

#[tokio::test]
async fn a_contact_changed_or_deleted_between_the_rematch_s_two_walks_leaves_its_old_group() {
    let local = local_services().await;
    let name = new_org("stale-links");
    let org = OrgId::parse(&name).unwrap();
    let shared_phone = "+15550000";
    let mut contacts: Vec<_> = (0..4).map(|n| seeded_contact(n, shared_phone)).collect();
    // A fifth was linked ahead by an earlier delivery under a phone a CRM record has changed
    // since, without a move.
    let earlier_phone = "+15551111";
    let mut relinked = seeded_contact(4, shared_phone);
    relinked.match_pending = Some(shared::contacts::PendingLink {
        generation: 1,
        hash: shared::contacts::match_hash(earlier_phone).unwrap(),
    });
    contacts.push(relinked.clone());
    let ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
    seed_contacts(&local.store(), &org, contacts).await;
    let store = local.store();
    let earlier_link = [(
        shared::contacts::match_hash(earlier_phone).unwrap(),
        relinked.id.clone(),
    )];
    store
        .put_match_links(&org, 1, &earlier_link, "2026-01-01T10:00:00Z")
        .await
        .unwrap();
    let (mut settings, _) = store.org_config(&org).await.unwrap();
    settings.value.matching_attribute = Some("phone".into());
    settings.value.match_generation = 1;
    store
        .save_settings(&org, &settings, Env::system().now(), None)
        .await
        .unwrap();

    let queue = TestQueue::new(&format!("match-{name}")).await;
    let services =
        local::testing::services_as("match-contacts", &[(queue.url(), "MatchQueue")]).await;
    // One page an invocation: the first walk (the links) ends, the second (the filings) waits.
    let app = App::build(&services, &Env::system()).tuned(MatchTuning {
        page_size: 100,
        budget: BudgetPolicy::Steps(1),
    });
    let job = MatchJob::Org {
        org_id: org.clone(),
        generation: 1,
        progress: None,
    };
    app.relink(job, Deadline::longest()).await.unwrap();
    let group = |phone: &str| {
        let hash = shared::contacts::match_hash(phone).unwrap();
        let store = store.clone();
        let org = org.clone();
        async move {
            let mut members = store.match_group(&org, 1, &hash).await.unwrap();
            members.sort();
            members
        }
    };
    let mut everyone = ids.clone();
    everyone.sort();
    assert_eq!(
        group(shared_phone).await,
        everyone,
        "linked ahead of filing"
    );

    // Between the walks an agent changes one contact's phone and an admin deletes another,
    // through the paths their functions take.
    let (settings, definitions) = store.org_config(&org).await.unwrap();
    let mut moved = store.contact(&org, &ids[0]).await.unwrap().unwrap();
    let read_version = moved.version;
    moved.platform.insert("phone".into(), "+15559999".into());
    let change = shared::matching::refile(&mut moved, &settings.value, &definitions.value).unwrap();
    assert_eq!(change.from, shared::contacts::match_hash(shared_phone));
    store
        .save_edited_contact(&org, &moved, read_version, Some(&change), &[])
        .await
        .unwrap();
    app.relink(
        change.job(&org, moved.typed_id().unwrap()),
        Deadline::longest(),
    )
    .await
    .unwrap();
    let deleted = store.contact(&org, &ids[1]).await.unwrap().unwrap();
    let record = shared::deletion::DeletionRecord {
        id: "01a1fc70-0000-7000-8000-0000000000d1".into(),
        contact_id: deleted.id.clone(),
        contact_hint: "C…".into(),
        platform: "sms".into(),
        deleted_at: "2026-01-01T10:00:00Z".into(),
        deleted_by: shared::notes::Person {
            id: "user-admin-1".into(),
            name: "Dana Admin".into(),
        },
    };
    store.delete_contact(&org, &deleted, &record).await.unwrap();

    queue.drain(&app).await;
    let mut stayed = vec![ids[2].clone(), ids[3].clone(), ids[4].clone()];
    stayed.sort();
    assert_eq!(
        group(shared_phone).await,
        stayed,
        "neither the moved nor the deleted contact is left in the group"
    );
    assert_eq!(group("+15559999").await, vec![ids[0].clone()]);
    assert_eq!(
        group(earlier_phone).await,
        Vec::<String>::new(),
        "the link written ahead under the earlier phone went with its replacement"
    );
    let third = store.contact(&org, &ids[2]).await.unwrap().unwrap();
    assert_eq!(third.match_pending, None, "filed: nothing is left ahead");
    let preview = store.linked_preview(&org, &third).await.unwrap();
    let mut others = vec![ids[3].clone(), ids[4].clone()];
    others.sort();
    let mut shown = preview.ids.clone();
    shown.sort();
    // (The deleted member leaves the count at the purge's recount, which is not run here.)
    assert_eq!(shown, others);
}
