//! Media retry through the server core: a phone sends an image whose file then expires; the
//! device that got it asks with `<receipt type="server-error">`; the phone uploads the file
//! again and answers with `<notification type="mediaretry">`, or with the failure it is set to.

mod common;

use common::*;
use prost::Message as _;
use wa_binary::Node;
use wa_crypto::media_retry::{media_retry_open, media_retry_seal};
use wa_testserver::MediaRetryAnswer;
use wa_testserver::media::Lookup;

const PHONE: &str = "15553090";
const ME: &str = "15553091";

/// The phone sends an image (a file put on the host) to `ME`; returns the id, key and path.
fn phone_sends_image(h: &mut Harness) -> (String, Vec<u8>, String) {
    let media_key = vec![7u8; 32];
    let path = h.server.media().put(b"encrypted file".to_vec(), h.now);
    let message = wa_proto::Message {
        image_message: Some(Box::new(wa_proto::message::ImageMessage {
            direct_path: Some(path.clone()),
            media_key: Some(media_key.clone()),
            ..Default::default()
        })),
        ..Default::default()
    };
    let id = h
        .server
        .phone_send_message(h.now, PHONE, &format!("{ME}@s.whatsapp.net"), message)
        .unwrap();
    h.step();
    (id, media_key, path)
}

fn request(id: &str, media_key: &[u8], enc_id: &str) -> Node {
    let iv = [3u8; 12];
    let plain = wa_proto::ServerErrorReceipt {
        stanza_id: Some(id.to_owned()),
    }
    .encode_to_vec();
    Node::new("receipt")
        .attr("id", id.to_owned())
        .attr("to", format!("{ME}@s.whatsapp.net"))
        .attr("type", "server-error")
        .children(vec![
            Node::new("encrypt").children(vec![
                Node::new("enc_p").bytes(media_retry_seal(media_key, enc_id, &iv, &plain)),
                Node::new("enc_iv").bytes(iv.to_vec()),
            ]),
            Node::new("rmr")
                .attr("jid", format!("{PHONE}@s.whatsapp.net"))
                .attr("from_me", "false"),
        ])
}

/// The next `<notification type="mediaretry">` for `c` (other stanzas before it are dropped).
fn mediaretry(h: &mut Harness, c: wa_testserver::ConnId) -> Node {
    while let Some(n) = h.recv(c) {
        if n.tag == "notification" && n.get_attr("type") == Some("mediaretry") {
            return n;
        }
    }
    panic!("no mediaretry notification");
}

fn answer(n: &Node, id: &str, media_key: &[u8]) -> wa_proto::MediaRetryNotification {
    assert_eq!(n.get_attr("type"), Some("mediaretry"));
    assert_eq!(n.get_attr("id"), Some(id));
    let rmr = n.child("rmr").expect("the request's rmr comes back");
    assert_eq!(
        rmr.get_attr("jid"),
        Some(format!("{PHONE}@s.whatsapp.net").as_str())
    );
    let enc = n.child("encrypt").expect("encrypt");
    let p = enc.child("enc_p").unwrap().content_bytes().unwrap();
    let iv = enc.child("enc_iv").unwrap().content_bytes().unwrap();
    let plain = media_retry_open(media_key, id, iv, p).expect("sealed under the retry key");
    wa_proto::MediaRetryNotification::decode(plain.as_slice()).unwrap()
}

#[test]
fn the_phone_uploads_an_expired_file_again_and_answers() {
    let mut h = Harness::new();
    let (_me, c) = h.online_device(ME);
    let (id, media_key, path) = phone_sends_image(&mut h);
    let got = h.expect(c, "message");
    assert_eq!(
        got.get_attr("type"),
        Some("media"),
        "a file rides type=media"
    );
    assert!(h.server.media().expire(&path));
    h.send(c, &request(&id, &media_key, &id));
    let note = answer(&mediaretry(&mut h, c), &id, &media_key);
    assert_eq!(note.stanza_id.as_deref(), Some(id.as_str()));
    assert_eq!(note.result, Some(1), "SUCCESS");
    let new_path = note.direct_path.expect("a new direct path");
    assert_ne!(new_path, path);
    assert_eq!(
        h.server.media().lookup(&new_path),
        Lookup::Found(std::sync::Arc::new(b"encrypted file".to_vec()))
    );
    assert_eq!(h.server.media().lookup(&path), Lookup::Gone);
    assert_eq!(h.server.stats().phone_media_retries, 1);
    let receipts = h.server.phone_receipts(PHONE).unwrap();
    assert!(
        receipts
            .iter()
            .any(|r| r.id == id && r.kind == "server-error")
    );
}

#[test]
fn failures_the_phone_can_be_set_to() {
    let mut h = Harness::new();
    let (_me, c) = h.online_device(ME);
    // A request that does not open under the message's key: DECRYPTION_ERROR.
    let (id, media_key, _) = phone_sends_image(&mut h);
    h.send(c, &request(&id, &media_key, "another id"));
    let note = answer(&mediaretry(&mut h, c), &id, &media_key);
    assert_eq!((note.result, note.direct_path), (Some(3), None));

    h.server
        .set_media_retry_answer(PHONE, MediaRetryAnswer::Result(2))
        .unwrap();
    let (id, media_key, _) = phone_sends_image(&mut h);
    h.send(c, &request(&id, &media_key, &id));
    let note = answer(&mediaretry(&mut h, c), &id, &media_key);
    assert_eq!(
        (note.result, note.direct_path),
        (Some(2), None),
        "NOT_FOUND"
    );

    h.server
        .set_media_retry_answer(PHONE, MediaRetryAnswer::ErrorNode(2))
        .unwrap();
    let (id, media_key, _) = phone_sends_image(&mut h);
    h.send(c, &request(&id, &media_key, &id));
    let n = mediaretry(&mut h, c);
    assert_eq!(n.child("error").unwrap().get_attr("code"), Some("2"));
    assert!(n.child("encrypt").is_none() && n.child("rmr").is_some());

    h.server
        .set_media_retry_answer(PHONE, MediaRetryAnswer::Garbled)
        .unwrap();
    let (id, media_key, _) = phone_sends_image(&mut h);
    h.send(c, &request(&id, &media_key, &id));
    let n = mediaretry(&mut h, c);
    assert_eq!(n.get_attr("id"), Some(id.as_str()));
    assert!(n.child("encrypt").is_none() && n.child("rmr").is_none());

    // A request for a message the phone never sent reaches nobody and answers nothing.
    h.send(c, &request("NOPE", &media_key, "NOPE"));
    assert!(h.drain(c).iter().all(|n| n.tag != "notification"));
}

#[test]
fn answers_are_parsed_from_their_names() {
    assert_eq!(
        MediaRetryAnswer::parse("not_found", None).unwrap(),
        MediaRetryAnswer::Result(2)
    );
    assert_eq!(
        MediaRetryAnswer::parse("error", Some(9)).unwrap(),
        MediaRetryAnswer::ErrorNode(9)
    );
    assert_eq!(
        MediaRetryAnswer::parse("maybe", None).unwrap_err().code(),
        "ERR_WA_TESTSERVER_BAD_OPTION"
    );
}
