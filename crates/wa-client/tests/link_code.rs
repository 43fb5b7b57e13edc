//! Pairing with a phone-number code: our client against the primary (phone) side written here
//! from the protocol description (whatsmeow's pair-code.go / WhatsApp Web), with wa-crypto's
//! primitives only. The test scripts the server's stanzas over a real loopback websocket.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wa_binary::Node;
use wa_client::{Client, Config, CredsChange, CredsField, CredsUpdate, Event, Events};
use wa_crypto::KeyPair;
use wa_noise::{Event as NoiseEvent, MintOptions, NoiseSession, ResponderConfig, mint_chain};
use wa_proto::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac, ClientPayload,
};
use wa_store::{AuthenticationCreds, CachedKeyStore, EngineKeyStore, KeyStore, MemoryEngine};

/// One scripted connection: nodes the client sends come out of `rx`, nodes put in `tx` go
/// to the client.
struct Scripted {
    url: String,
    root: KeyPair,
    payload: mpsc::UnboundedReceiver<ClientPayload>,
    rx: mpsc::UnboundedReceiver<Node>,
    tx: mpsc::UnboundedSender<Node>,
}

async fn scripted() -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/chat", listener.local_addr().unwrap());
    let root = KeyPair::generate();
    let stat = KeyPair::generate();
    let chain = mint_chain(&root, &stat.public, &MintOptions::default()).encode();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Node>();
    let (pl_tx, pl_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let (mut sink, mut stream) = ws.split();
        let mut noise = NoiseSession::responder(ResponderConfig::new(stat, chain));
        loop {
            tokio::select! {
                m = stream.next() => {
                    let Some(Ok(WsMessage::Binary(b))) = m else { break };
                    if noise.handle_data(1_750_000_000, &b).is_err() { break; }
                    while let Some(ev) = noise.poll_event() {
                        match ev {
                            NoiseEvent::ClientFinished(id) => { let _ = pl_tx.send(id.payload); }
                            NoiseEvent::Frame(f) => { let _ = in_tx.send(wa_binary::decode_frame(&f).unwrap()); }
                            NoiseEvent::ServerVerified(_) => {}
                        }
                    }
                    while let Some(t) = noise.poll_transmit() {
                        let _ = sink.send(WsMessage::Binary(t.into())).await;
                    }
                }
                Some(n) = out_rx.recv() => {
                    noise.send(&wa_binary::encode_frame(&n).unwrap()).unwrap();
                    while let Some(t) = noise.poll_transmit() {
                        let _ = sink.send(WsMessage::Binary(t.into())).await;
                    }
                }
            }
        }
    });
    Scripted {
        url,
        root,
        payload: pl_rx,
        rx: in_rx,
        tx: out_tx,
    }
}

async fn recv_where(rx: &mut mpsc::UnboundedReceiver<Node>, pred: impl Fn(&Node) -> bool) -> Node {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = rx.recv().await.expect("client gone");
            if pred(&n) {
                return n;
            }
        }
    })
    .await
    .expect("expected stanza in time")
}

async fn event(ev: &mut Events, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = ev.recv().await.expect("events ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("expected event in time")
}

/// The next `creds.update` that changes `field`.
async fn creds_update(ev: &mut Events, field: CredsField) -> CredsUpdate {
    match event(
        ev,
        |e| matches!(e, Event::Creds(u) if u.iter().any(|c| c.field() == field)),
    )
    .await
    {
        Event::Creds(u) => u,
        _ => unreachable!("matched a creds update"),
    }
}

fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8]) -> Vec<u8> {
    wa_crypto::kdf::hkdf_sha256(ikm, salt, info, 32).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_by_code_derives_the_phones_adv_secret() {
    let mut s = scripted().await;
    let keys: Arc<dyn KeyStore> = Arc::new(CachedKeyStore::new(
        Arc::new(EngineKeyStore::new(Arc::new(MemoryEngine::new()))),
        1024,
        None,
    ));
    let creds = AuthenticationCreds::generate();
    let (client, mut ev) = Client::connect(
        Config {
            url: s.url.clone(),
            trust_root: s.root.public,
            ..Config::default()
        },
        creds.clone(),
        keys,
    );
    let payload = s.payload.recv().await.unwrap();
    let companion_identity = payload.device_pairing_data.unwrap().e_ident.unwrap();

    // A custom code must have 8 characters.
    assert!(
        client
            .request_pairing_code("15550009999", Some("SHORT"))
            .await
            .is_err()
    );
    // The code is returned once the server has answered the companion_hello IQ.
    let requester = client.clone();
    let pending = tokio::spawn(async move {
        requester
            .request_pairing_code("+1 555 000 9999", None)
            .await
    });
    let patch = creds_update(&mut ev, CredsField::PairingCode).await;
    let me = patch.iter().find_map(|c| match c {
        CredsChange::Me(Some(m)) => Some(m.id.clone()),
        _ => None,
    });
    assert_eq!(me.as_deref(), Some("15550009999@s.whatsapp.net"));

    let hello = recv_where(&mut s.rx, |n| n.child("link_code_companion_reg").is_some()).await;
    let reg = hello.child("link_code_companion_reg").unwrap();
    assert_eq!(reg.get_attr("stage"), Some("companion_hello"));
    assert_eq!(reg.get_attr("jid"), Some("15550009999@s.whatsapp.net"));
    let bytes = |n: &Node, t: &str| n.child(t).unwrap().content_bytes().unwrap().to_vec();
    assert_eq!(
        bytes(reg, "companion_server_auth_key_pub"),
        creds.noise_key.public
    );
    let wrapped = bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub");
    assert_eq!(wrapped.len(), 80);
    assert!(
        !pending.is_finished(),
        "the code waits for the server's answer"
    );
    s.tx.send(
        Node::new("iq")
            .attr("id", hello.get_attr("id").unwrap().to_owned())
            .attr("type", "result"),
    )
    .unwrap();
    let code = pending.await.unwrap().unwrap();
    assert_eq!(code.len(), 8);
    assert!(
        code.bytes()
            .all(|b| wa_crypto::pairing::PAIRING_CODE_ALPHABET.contains(&b))
    );
    assert!(patch.contains(&CredsChange::PairingCode(Some(code.clone()))));

    // The phone: the user typed the code.
    let companion_eph = wa_crypto::pairing::unwrap_with_pairing_code(&code, &wrapped).unwrap();
    assert_eq!(
        companion_eph.as_slice(),
        creds.pairing_ephemeral_key_pair.public.as_slice()
    );
    let primary_eph = KeyPair::generate();
    let primary_identity = KeyPair::generate();
    let salt: [u8; 32] = wa_crypto::random_bytes();
    let iv: [u8; 16] = wa_crypto::random_bytes();
    let wrapped_primary =
        wa_crypto::pairing::wrap_with_pairing_code(&code, &salt, &iv, &primary_eph.public);
    s.tx.send(
        Node::new("notification")
            .attr("from", "s.whatsapp.net")
            .attr("id", "n1")
            .attr("type", "link_code_companion_reg")
            .children(vec![Node::new("link_code_companion_reg").children(vec![
                    Node::new("link_code_pairing_ref").bytes(b"REF-1".to_vec()),
                    Node::new("primary_identity_pub").bytes(primary_identity.public.to_vec()),
                    Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(wrapped_primary.to_vec()),
                ])]),
    )
    .unwrap();
    let finish = recv_where(&mut s.rx, |n| {
        n.child("link_code_companion_reg")
            .and_then(|r| r.get_attr("stage"))
            == Some("companion_finish")
    })
    .await;
    let fin = finish.child("link_code_companion_reg").unwrap();
    assert_eq!(bytes(fin, "link_code_pairing_ref"), b"REF-1");
    assert_eq!(bytes(fin, "companion_identity_public"), companion_identity);
    let bundle = bytes(fin, "link_code_pairing_wrapped_key_bundle");
    let shared = wa_crypto::curve::agree(&primary_eph.private, &companion_eph);
    let key = hkdf(
        &shared,
        &bundle[..32],
        b"link_code_pairing_key_bundle_encryption_key",
    );
    let plain = wa_crypto::cipher::gcm_decrypt(&key, &bundle[32..44], &[], &bundle[44..]).unwrap();
    assert_eq!(&plain[..32], companion_identity.as_slice());
    assert_eq!(&plain[32..64], &primary_identity.public);
    let companion_id32: [u8; 32] = companion_identity.as_slice().try_into().unwrap();
    let identity_shared = wa_crypto::curve::agree(&primary_identity.private, &companion_id32);
    let adv = hkdf(
        &[&shared[..], &identity_shared, &plain[64..96]].concat(),
        &[],
        b"adv_secret",
    );
    s.tx.send(
        Node::new("iq")
            .attr("id", finish.get_attr("id").unwrap().to_owned())
            .attr("type", "result"),
    )
    .unwrap();
    let done = creds_update(&mut ev, CredsField::AdvSecretKey).await;
    let expected = base64::engine::general_purpose::STANDARD.encode(&adv);
    assert!(
        done.contains(&CredsChange::AdvSecretKey(expected)),
        "both sides derived the same ADV secret"
    );
    assert!(done.contains(&CredsChange::Registered(true)));
    // An ack for the notification went back.
    recv_where(&mut s.rx, |n| {
        n.tag == "ack" && n.get_attr("id") == Some("n1")
    })
    .await;

    // pair-success authenticated with that secret and signed by the phone's identity.
    let details = AdvDeviceIdentity {
        raw_id: Some(1),
        timestamp: Some(1),
        key_index: Some(1),
        ..Default::default()
    }
    .encode_to_vec();
    let sig = wa_crypto::curve::sign(
        &primary_identity.private,
        &[&[6u8, 0][..], &details, &companion_identity].concat(),
    );
    let signed = AdvSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(primary_identity.public.to_vec()),
        account_signature: Some(sig.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let hmac = wa_crypto::mac::hmac_sha256(&adv, &signed).to_vec();
    s.tx.send(
        Node::new("iq")
            .attr("id", "ps")
            .attr("type", "result")
            .children(vec![Node::new("pair-success").children(vec![
                    Node::new("device-identity").bytes(
                        AdvSignedDeviceIdentityHmac {
                            details: Some(signed),
                            hmac: Some(hmac),
                            account_type: None,
                        }
                        .encode_to_vec(),
                    ),
                    Node::new("device")
                        .attr("jid", "15550009999:2@s.whatsapp.net")
                        .attr("lid", "4242:2@lid"),
                ])]),
    )
    .unwrap();
    recv_where(&mut s.rx, |n| n.child("pair-device-sign").is_some()).await;
    event(
        &mut ev,
        |e| matches!(e, Event::Connection(u) if u.is_new_login == Some(true)),
    )
    .await;
    let c = client.creds();
    assert_eq!(c.me.unwrap().id, "15550009999:2@s.whatsapp.net");
    assert!(c.registered);
}
