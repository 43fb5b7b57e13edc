//! The realistic stanza corpus, as frames written by the real Baileys 7 encoder
//! (`scripts/gen-binary-corpus.mjs`): each decodes, and re-encodes to Baileys' exact bytes.

use std::path::PathBuf;

use wa_binary::{Content, decode_frame, encode_frame, inflate};

fn frames() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn corpus_round_trips_to_baileys_bytes() {
    let frames = frames();
    assert!(frames.len() >= 15, "corpus present");
    for (name, frame) in frames {
        let node = decode_frame(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        let baileys_plain = if frame[0] & 2 != 0 {
            let mut v = vec![0];
            v.extend(inflate(&frame[1..], 1 << 24).unwrap());
            v
        } else {
            frame.clone()
        };
        assert_eq!(encode_frame(&node).unwrap(), baileys_plain, "{name}");
    }
}

#[test]
fn corpus_content_is_what_the_stanzas_say() {
    let frames: std::collections::HashMap<_, _> = frames().into_iter().collect();
    let group = decode_frame(&frames["iq-group-metadata-500"]).unwrap();
    let g = group.child("group").unwrap();
    assert_eq!(g.get_attr("size"), Some("500"));
    assert_eq!(g.children_by_tag("participant").count(), 500);
    assert!(
        g.children_by_tag("participant")
            .all(|p| p.get_attr("jid").unwrap().ends_with("@lid"))
    );
    assert_eq!(g.get_attr("subject"), Some("Família & amigos 🎉"));

    let out = decode_frame(&frames["message-out-fanout"]).unwrap();
    let tos: Vec<_> = out
        .child("participants")
        .unwrap()
        .children_by_tag("to")
        .collect();
    assert_eq!(tos.len(), 4);
    let enc = tos[3].child("enc").unwrap();
    assert_eq!(enc.get_attr("type"), Some("pkmsg"));
    assert!(matches!(&enc.content, Content::Bytes(b) if b.len() == 420));
    assert!(tos[3].get_attr("jid").unwrap().ends_with(":7@lid"));
}

#[test]
fn a_head_is_encoded_as_the_node_without_its_content() {
    for (name, frame) in frames() {
        let node = decode_frame(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut head = wa_binary::Node::new(node.tag.clone());
        head.attrs = node.attrs.clone();
        let want = wa_binary::encode(&head).unwrap();
        assert_eq!(wa_binary::encode_head(&node).unwrap(), want, "{name}");
        assert_eq!(wa_binary::decode(&want).unwrap(), head, "{name}");
    }
}
