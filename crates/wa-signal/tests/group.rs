//! Sender keys between our own devices: chain iteration, out-of-order delivery, limits,
//! forged messages, state bookkeeping.

mod common;

use common::now;
use wa_signal::group::{MAX_SENDER_KEY_STATES, SenderKeyRecord};
use wa_signal::protocol;
use wa_signal::{ErrorKind, MemoryStore, SenderKeyName};

fn name(group: &str, jid: &str) -> SenderKeyName {
    SenderKeyName::from_jids(group, jid).unwrap()
}

struct Group {
    sender: MemoryStore,
    reader: MemoryStore,
    name: SenderKeyName,
}

fn group() -> Group {
    let sender = MemoryStore::default();
    let reader = MemoryStore::default();
    let name = name("120363@g.us", "111:2@lid");
    let skdm = now(protocol::group_distribution(&sender, &name)).unwrap();
    now(protocol::group_process_distribution(&reader, &name, &skdm)).unwrap();
    Group {
        sender,
        reader,
        name,
    }
}

fn send(g: &Group, text: &str) -> Vec<u8> {
    now(protocol::group_encrypt(&g.sender, &g.name, text.as_bytes()))
        .unwrap()
        .ciphertext
}

fn read(g: &Group, m: &[u8]) -> Result<Vec<u8>, wa_signal::SignalError> {
    now(protocol::group_decrypt(&g.reader, &g.name, m))
}

#[test]
fn in_order_out_of_order_and_duplicates() {
    let g = group();
    let msgs: Vec<Vec<u8>> = (0..60).map(|i| send(&g, &format!("m{i}"))).collect();
    // Our own record never keeps skipped keys (Baileys' keeps one per message sent).
    let own = g.sender.sender_key(&g.name).unwrap();
    assert_eq!(own.message_key_count(), 0);
    assert_eq!(own.states[0].iteration, 60);
    let mut order: Vec<usize> = (0..60).collect();
    order.reverse();
    order.swap(3, 40);
    for &i in &order {
        assert_eq!(read(&g, &msgs[i]).unwrap(), format!("m{i}").as_bytes());
    }
    assert_eq!(g.reader.sender_key(&g.name).unwrap().message_key_count(), 0);
    let e = read(&g, &msgs[7]).unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_DUPLICATE");
    assert_eq!(e.address, "120363@g.us::111_1::2");
    // JSON in Baileys' form and binary give the same record back.
    for store in [&g.sender, &g.reader] {
        let r = store.sender_key(&g.name).unwrap();
        assert_eq!(SenderKeyRecord::from_json(&r.to_json()).unwrap(), r);
        assert_eq!(SenderKeyRecord::from_stored(&r.to_binary()).unwrap(), r);
    }
}

#[test]
fn limits_forgeries_and_unknown_senders() {
    let g = group();
    let msgs: Vec<Vec<u8>> = (0..2003).map(|i| send(&g, &i.to_string())).collect();
    let before = g.reader.sender_key(&g.name).unwrap();
    let e = read(&g, &msgs[2001]).unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_FUTURE_LIMIT");
    for at in [5, 64 + 3] {
        let mut forged = msgs[5].clone();
        let n = forged.len();
        forged[n - at] ^= 1; // in the signature, then in the ciphertext
        assert_eq!(
            read(&g, &forged).unwrap_err().code(),
            "ERR_WA_SIGNAL_BAD_SIGNATURE"
        );
    }
    let mut v = msgs[5].clone();
    v[0] = 0x23;
    assert_eq!(read(&g, &v).unwrap_err().code(), "ERR_WA_SIGNAL_VERSION");
    assert_eq!(
        read(&g, &msgs[5][..40]).unwrap_err().code(),
        "ERR_WA_SIGNAL_INVALID_MESSAGE"
    );
    assert_eq!(
        g.reader.sender_key(&g.name).unwrap(),
        before,
        "failures change nothing"
    );
    // 2000 ahead works; the keys in between are kept (2000 of them at most).
    assert_eq!(read(&g, &msgs[2000]).unwrap(), b"2000");
    assert_eq!(
        g.reader.sender_key(&g.name).unwrap().message_key_count(),
        2000
    );
    assert_eq!(read(&g, &msgs[0]).unwrap(), b"0");
    assert_eq!(read(&g, &msgs[2002]).unwrap(), b"2002");
    // A sender we have no distribution from.
    let other = name("120363@g.us", "222@s.whatsapp.net");
    let e = now(protocol::group_decrypt(&g.reader, &other, &msgs[1])).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::NoSenderKey(_)));
    assert_eq!(e.address, "120363@g.us::222::0");
}

#[test]
fn distribution_bookkeeping() {
    let g = group();
    let first = send(&g, "a");
    let second = send(&g, "b");
    assert_eq!(read(&g, &second).unwrap(), b"b");
    // The sender's later distribution (at iteration 2) for the chain we hold keeps ours, with
    // the skipped key for "a".
    let skdm = now(protocol::group_distribution(&g.sender, &g.name)).unwrap();
    now(protocol::group_process_distribution(
        &g.reader, &g.name, &skdm,
    ))
    .unwrap();
    let r = g.reader.sender_key(&g.name).unwrap();
    assert_eq!(r.states.len(), 1);
    assert_eq!(read(&g, &first).unwrap(), b"a");
    // New chains from a sender pile up to five, oldest dropped.
    let mut ids = vec![r.states[0].key_id];
    for _ in 0..6 {
        let fresh = MemoryStore::default();
        let skdm = now(protocol::group_distribution(&fresh, &g.name)).unwrap();
        now(protocol::group_process_distribution(
            &g.reader, &g.name, &skdm,
        ))
        .unwrap();
        ids.push(fresh.sender_key(&g.name).unwrap().states[0].key_id);
    }
    let r = g.reader.sender_key(&g.name).unwrap();
    assert_eq!(r.states.len(), MAX_SENDER_KEY_STATES);
    let kept: Vec<u32> = r.states.iter().map(|s| s.key_id).collect();
    assert_eq!(kept, ids[ids.len() - MAX_SENDER_KEY_STATES..]);
    // A malformed distribution is refused and changes nothing.
    let e = now(protocol::group_process_distribution(
        &g.reader,
        &g.name,
        &[0x33, 1, 2],
    ))
    .unwrap_err();
    assert_eq!(e.code(), "ERR_WA_SIGNAL_INVALID_MESSAGE");
    assert_eq!(g.reader.sender_key(&g.name).unwrap(), r);
}
