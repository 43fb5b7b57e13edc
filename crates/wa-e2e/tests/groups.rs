//! Groups between three of our clients through the test server: create, sender-key messages
//! both ways, the distribution message only to devices that lack our key, a removed member
//! who gets nothing afterwards while the rest still decrypt (our key rotated), a re-added
//! member, and the stub messages of membership changes. (Interop with the real Baileys:
//! `__test__/client-groups.test.mjs`.)

mod common;

use common::*;
use wa_client::groups::ParticipantAction;
use wa_client::{Event, MessagesUpsert};
use wa_proto::web_message_info::StubType;

/// The next upsert of someone else's text in `group` (our own sends are upserted too).
async fn group_text(events: &mut wa_client::Events, group: &str) -> (MessagesUpsert, String) {
    next(events, |e| match e {
        Event::MessagesUpsert(u)
            if u.messages[0].key.remote_jid == group
                && !u.messages[0].key.from_me
                && u.messages[0].info.message.as_ref().and_then(text).is_some() =>
        {
            Some((u.clone(), upsert_text(u)))
        }
        _ => None,
    })
    .await
}

/// The next stub message of `kind` in `group`.
async fn stub(events: &mut wa_client::Events, group: &str, kind: StubType) -> Vec<String> {
    next(events, |e| match e {
        Event::MessagesUpsert(u)
            if u.messages[0].key.remote_jid == group
                && u.messages[0].info.message_stub_type == Some(kind as i32) =>
        {
            Some(u.messages[0].info.message_stub_parameters.clone())
        }
        _ => None,
    })
    .await
}

/// The devices `account`'s sender-key memory lists for `group`.
async fn memory(account: &Paired, group: &str) -> Vec<String> {
    let got = account
        .keys
        .get(wa_store::KeyType::SenderKeyMemory, &[group.to_owned()])
        .await
        .unwrap();
    match got.get(group) {
        Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_our_clients_sends_removes_and_rotates() {
    let server = server("e2e-groups").await;
    let pa = pair(&server, "15553330001").await;
    let pb = pair(&server, "15553330002").await;
    let pc = pair(&server, "15553330003").await;
    let (a, mut ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;
    let (c, mut ec) = login(&server, &pc).await;

    let meta = a
        .group_create(
            "e2e",
            &[
                "15553330002@s.whatsapp.net".into(),
                "15553330003@s.whatsapp.net".into(),
            ],
        )
        .await
        .unwrap();
    let g = meta.id.clone();
    assert_eq!(meta.participants.len(), 3);
    for ev in [&mut eb, &mut ec] {
        let up = next(ev, |e| match e {
            Event::GroupsUpsert(list) => list.iter().find(|u| u.metadata.id == g).cloned(),
            _ => None,
        })
        .await;
        assert_eq!(up.metadata.subject, "e2e");
    }

    a.send_text(&g, "one").await.unwrap();
    assert_eq!(group_text(&mut eb, &g).await.1, "one");
    assert_eq!(group_text(&mut ec, &g).await.1, "one");
    let (u, _) = {
        b.send_text(&g, "from b").await.unwrap();
        group_text(&mut ea, &g).await
    };
    let author = u.messages[0].key.participant.clone().unwrap();
    assert!(
        author.contains("15553330002") || author.ends_with("@lid"),
        "{author}"
    );
    assert_eq!(group_text(&mut ec, &g).await.1, "from b");

    // A remembers who holds its key (Baileys' sender-key-memory): every device but the one
    // sending: A's phone, and B's and C's phones and companions.
    let holders = memory(&pa, &g).await;
    assert_eq!(holders.len(), 5, "{holders:?}");
    assert!(holders.iter().any(|d| d.ends_with(":1@lid")), "{holders:?}");
    a.send_text(&g, "two").await.unwrap();
    assert_eq!(group_text(&mut eb, &g).await.1, "two");
    assert_eq!(group_text(&mut ec, &g).await.1, "two");

    // C is removed: everyone sees it, A rotates, C gets nothing more, B still reads A.
    let r = a
        .group_participants_update(
            &g,
            &["15553330003@s.whatsapp.net".into()],
            ParticipantAction::Remove,
        )
        .await
        .unwrap();
    assert_eq!(r[0].status, "200");
    let removed = stub(&mut eb, &g, StubType::GroupParticipantRemove).await;
    assert_eq!(removed.len(), 1);
    stub(&mut ec, &g, StubType::GroupParticipantRemove).await;
    stub(&mut ea, &g, StubType::GroupParticipantRemove).await;
    // Rotated: the memory was cleared, and the next send gives the new key to A's phone and
    // B's two devices only.
    assert!(memory(&pa, &g).await.is_empty());
    a.send_text(&g, "after c").await.unwrap();
    assert_eq!(group_text(&mut eb, &g).await.1, "after c");
    assert_eq!(memory(&pa, &g).await.len(), 3);
    b.send_text(&g, "b after c").await.unwrap();
    assert_eq!(group_text(&mut ea, &g).await.1, "b after c");
    let leaked = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        group_text(&mut ec, &g),
    )
    .await;
    assert!(
        leaked.is_err(),
        "a removed member got a message: {leaked:?}"
    );

    // C comes back and reads what follows.
    a.group_participants_update(
        &g,
        &["15553330003@s.whatsapp.net".into()],
        ParticipantAction::Add,
    )
    .await
    .unwrap();
    stub(&mut ec, &g, StubType::GroupParticipantAdd).await;
    a.send_text(&g, "welcome back").await.unwrap();
    assert_eq!(group_text(&mut ec, &g).await.1, "welcome back");
    assert_eq!(group_text(&mut eb, &g).await.1, "welcome back");

    // Metadata agrees everywhere.
    let ma = a.group_metadata(&g).await.unwrap();
    let mc = c.group_metadata(&g).await.unwrap();
    assert_eq!(ma.participants.len(), 3);
    assert_eq!(ma, mc);
    server.stop().await;
}

/// Hostile sender-key traffic in a group: a member's `skmsg` with a forged signature, and a
/// distribution message for the group from someone who is not in it. Each is refused or kept
/// apart; the group's real keys are untouched, and everyone goes on reading everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_foreign_sender_keys_do_not_poison_a_group() {
    use prost::Message as _;
    use wa_binary::Node;
    use wa_signal::{SenderKeyName, SenderKeyRecord};

    let server = server("e2e-groups-forged").await;
    let pa = pair(&server, "15553340001").await;
    let pb = pair(&server, "15553340002").await;
    let pc = pair(&server, "15553340003").await;
    let (a, mut ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;
    let (c, _ec) = login(&server, &pc).await;
    let g = a
        .group_create("forged", &["15553340002@s.whatsapp.net".into()])
        .await
        .unwrap()
        .id;
    next(&mut eb, |e| match e {
        Event::GroupsUpsert(list) => list.iter().find(|u| u.metadata.id == g).map(|_| ()),
        _ => None,
    })
    .await;
    b.send_text(&g, "real 1").await.unwrap();
    assert_eq!(group_text(&mut ea, &g).await.1, "real 1");

    // B's sender key, one step ahead, with its signature broken: only someone holding B's
    // private signing key could make a valid one.
    let b_me = pb.creds.me.as_ref().unwrap().lid.clone().unwrap();
    let name = SenderKeyName::from_jids(&g, &b_me).unwrap().to_string();
    let stored = pb
        .keys
        .get(wa_store::KeyType::SenderKey, std::slice::from_ref(&name))
        .await
        .unwrap();
    let bytes = match stored.get(&name).unwrap() {
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        other => wa_store::bufferjson::bytes(other).unwrap(),
    };
    let mut record = SenderKeyRecord::from_stored(&bytes).unwrap();
    let forged_text = wa_proto::Message {
        conversation: Some("forged".into()),
        ..Default::default()
    };
    let mut ct = wa_signal::group::encrypt(
        &mut record,
        &wa_client::nodes::pad(forged_text.encode_to_vec()),
    )
    .unwrap();
    *ct.last_mut().unwrap() ^= 0x01;
    b.send_node(
        Node::new("message")
            .attr("to", g.clone())
            .attr("id", "FORGED00000000000001")
            .attr("type", "text")
            .attr("addressing_mode", "lid")
            .children(vec![
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "skmsg")
                    .bytes(ct),
            ]),
    )
    .await
    .unwrap();
    // A shows an undecryptable placeholder (and asks B again); the forged text never appears.
    let stub = next(&mut ea, |e| match e {
        Event::MessagesUpsert(u) if u.messages[0].key.id == "FORGED00000000000001" => {
            Some(u.messages[0].clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        stub.info.message_stub_type,
        Some(StubType::Ciphertext as i32)
    );
    assert!(stub.info.message.is_none());
    // B's real next message uses the step the forgery claimed: A's state did not move.
    b.send_text(&g, "real 2").await.unwrap();
    assert_eq!(group_text(&mut ea, &g).await.1, "real 2");

    // C is not in the group and sends A, one to one, a distribution message for it. A keeps it
    // under C's name only: B's key and A's own are untouched, and the server never routes C's
    // group messages, so it opens nothing.
    let foreign = wa_signal::MemoryStore::new(wa_signal::LocalIdentity::new(
        wa_signal::keys::generate_identity(),
        7,
    ));
    let c_me = pc.creds.me.as_ref().unwrap().lid.clone().unwrap();
    let c_name = SenderKeyName::from_jids(&g, &c_me).unwrap();
    let dist = wa_signal::protocol::group_distribution(&foreign, &c_name)
        .await
        .unwrap();
    c.send_message(
        "15553340001@s.whatsapp.net",
        wa_proto::Message {
            conversation: Some("psst".into()),
            sender_key_distribution_message: Some(Box::new(
                wa_proto::message::SenderKeyDistributionMessage {
                    group_id: Some(g.clone()),
                    axolotl_sender_key_distribution_message: Some(dist),
                },
            )),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    next(&mut ea, |e| match e {
        Event::MessagesUpsert(u)
            if u.messages[0].info.message.as_ref().and_then(text) == Some("psst") =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    b.send_text(&g, "real 3").await.unwrap();
    assert_eq!(group_text(&mut ea, &g).await.1, "real 3");
    a.send_text(&g, "still here").await.unwrap();
    assert_eq!(group_text(&mut eb, &g).await.1, "still here");
    // A message "from C" in the group is refused by the server: C is not a member.
    assert!(c.send_text(&g, "let me in").await.is_err());
}
