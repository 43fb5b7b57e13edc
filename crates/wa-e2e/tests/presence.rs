//! Presence between two of our clients through the test server: a subscription answered with
//! the contact's availability, availability changes (and a logout of the connection) heard by
//! the subscriber, chat states both ways, `markOnlineOnConnect` with a push name in the creds,
//! read receipts from `read_messages` seen as READ.

mod common;

use common::*;
use wa_client::presence::OutgoingPresence;
use wa_client::{Event, MessageKey, PresenceState, PresenceUpdate};
use wa_proto::web_message_info::Status;

fn presence_of<'a>(who: &'a str) -> impl FnMut(&Event) -> Option<PresenceUpdate> + 'a {
    move |e| match e {
        Event::Presence(u) if u.id == who => Some(u.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_chat_states_and_read_receipts_between_two_clients() {
    let server = server("e2e-presence").await;
    let pa = pair(&server, "15552230001").await;
    let mut pb = pair(&server, "15552230002").await;
    let (a, mut ea) = login(&server, &pa).await;
    let (b, mut eb) = login(&server, &pb).await;
    const A: &str = "15552230001@s.whatsapp.net";
    const B: &str = "15552230002@s.whatsapp.net";

    a.presence_subscribe(B, None).await.unwrap();
    let p = next(&mut ea, presence_of(B)).await;
    assert_eq!(p.participant, B);
    assert_eq!(p.presence.last_known, PresenceState::Unavailable);

    b.send_presence_update(OutgoingPresence::Available, None, Some("Bee"))
        .await
        .unwrap();
    let online = next(&mut eb, |e| match e {
        Event::Connection(u) => u.is_online,
        _ => None,
    })
    .await;
    assert!(online);
    let p = next(&mut ea, presence_of(B)).await;
    assert_eq!(p.presence.last_known, PresenceState::Available);

    // Chat states, both ways, in call order.
    let sends = [
        b.send_presence_update(OutgoingPresence::Composing, Some(A), None),
        b.send_presence_update(OutgoingPresence::Recording, Some(A), None),
        b.send_presence_update(OutgoingPresence::Paused, Some(A), None),
    ];
    for s in sends {
        s.await.unwrap();
    }
    for want in [
        PresenceState::Composing,
        PresenceState::Recording,
        PresenceState::Available,
    ] {
        assert_eq!(
            next(&mut ea, presence_of(B)).await.presence.last_known,
            want
        );
    }
    a.send_presence_update(OutgoingPresence::Composing, Some(B), None)
        .await
        .unwrap();
    let p = next(&mut eb, presence_of(A)).await;
    assert_eq!(p.presence.last_known, PresenceState::Composing);

    // Read receipts: A reads B's text; B sees READ.
    let sent = b.send_text(A, "read me").await.unwrap();
    let got = upsert(&mut ea).await;
    let key: MessageKey = got.messages[0].key.clone();
    a.read_messages(&[key]).await.unwrap();
    let status = next(&mut eb, |e| match e {
        Event::MessagesUpdate(u) if u[0].key.id == sent.key.id => {
            u[0].update.status.filter(|s| *s == Status::Read as i32)
        }
        _ => None,
    })
    .await;
    assert_eq!(status, Status::Read as i32);

    // B's connection ends: A hears it went away, with a last-seen time.
    b.end(None);
    let p = next(&mut ea, presence_of(B)).await;
    assert_eq!(p.presence.last_known, PresenceState::Unavailable);
    assert!(p.presence.last_seen.is_some());

    // B comes back with a push name in its creds: markOnlineOnConnect (default) says available.
    if let Some(me) = pb.creds.me.as_mut() {
        me.name = Some("Bee".into());
    }
    let (_b, _eb) = login(&server, &pb).await;
    let p = next(&mut ea, presence_of(B)).await;
    assert_eq!(p.presence.last_known, PresenceState::Available);
}
