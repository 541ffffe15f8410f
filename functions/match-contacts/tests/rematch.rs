//! An org-wide re-match too large for one invocation continues in the next, and every contact
//! ends filed once under the new matching attribute in a group counted right.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;

use match_contacts::{App, MatchTuning};
use shared::clock::Env;
use shared::ids::OrgId;
use shared::invocation::BudgetPolicy;
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
    let continuations: Vec<_> = sends
        .sent(&name)
        .into_iter()
        .filter(|m| m.queue_url == queue.url() && m.body["type"] == "org")
        .collect();
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
            || contact.version != 2
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
