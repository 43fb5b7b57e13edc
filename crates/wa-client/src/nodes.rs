//! Stanza pieces every feature uses, as pure functions: IQs, acks, message ids, the
//! participant hash and message padding. Feature-specific stanzas live with their feature
//! (prekeys, devices, sessions, receipts).

use base64::Engine as _;
use wa_binary::Node;
use wa_vocab::S_WHATSAPP_NET;

use crate::error::ClientError;

/// An IQ to the server.
pub fn iq(xmlns: &str, ty: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("to", S_WHATSAPP_NET)
        .attr("type", ty.to_owned())
        .attr("xmlns", xmlns.to_owned())
        .children(children)
}

/// The `ack` of a received stanza (Baileys' `buildAckStanza`).
pub fn ack(node: &Node, error: Option<u16>, me_id: Option<&str>) -> Node {
    let mut a = Node::new("ack")
        .attr("id", node.get_attr("id").unwrap_or_default().to_owned())
        .attr("to", node.get_attr("from").unwrap_or_default().to_owned())
        .attr("class", node.tag.to_string());
    if let Some(e) = error {
        a = a.attr("error", e.to_string());
    }
    for k in ["participant", "recipient", "type"] {
        if let Some(v) = node.get_attr(k) {
            a = a.attr(k, v.to_owned());
        }
    }
    if node.tag == "message"
        && let Some(me) = me_id
    {
        a = a.attr("from", me.to_owned());
    }
    a
}

/// Baileys' `generateMessageIDV2`: `3EB0` + 18 hex digits of sha256(time, user, random).
pub fn message_id(me_user: Option<&str>, now_secs: u64) -> String {
    let mut data = Vec::with_capacity(44);
    data.extend_from_slice(&now_secs.to_be_bytes());
    let mut user = [0u8; 20];
    if let Some(u) = me_user {
        let s = format!("{u}@c.us");
        let n = s.len().min(20);
        user[..n].copy_from_slice(&s.as_bytes()[..n]);
    }
    data.extend_from_slice(&user);
    data.extend_from_slice(&wa_crypto::message_random::<16>());
    let hash = wa_crypto::hash::sha256(&data);
    // 18 digits: the first 9 bytes.
    let mut id = String::with_capacity(22);
    id.push_str("3EB0");
    push_upper_hex(&mut id, &hash[..9]);
    id
}

/// Upper-case hex of `bytes`, by hand: a `format!` per byte was 1.6% of a sent text's CPU.
fn push_upper_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// The participant hash of a fan-out: `2:` + base64(sha256(sorted device JIDs joined))[..6].
pub fn phash(jids: &[String]) -> String {
    let mut sorted = jids.to_vec();
    sorted.sort();
    let digest = wa_crypto::hash::sha256(sorted.concat().as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    format!("2:{}", &b64[..6])
}

/// Random padding of 1..=16 bytes, each equal to the pad length (Baileys' `writeRandomPadMax16`).
pub fn pad(mut msg: Vec<u8>) -> Vec<u8> {
    let r: [u8; 1] = wa_crypto::message_random();
    let n = (r[0] & 0x0f) + 1;
    msg.extend(std::iter::repeat_n(n, usize::from(n)));
    msg
}

pub fn unpad(msg: &[u8]) -> Result<&[u8], ClientError> {
    let n = usize::from(
        *msg.last()
            .ok_or_else(|| ClientError::Protocol("empty plaintext".into()))?,
    );
    if n == 0 || n > msg.len() {
        return Err(ClientError::Protocol(format!(
            "unpad given {} bytes, but pad is {n}",
            msg.len()
        )));
    }
    Ok(&msg[..msg.len() - n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_bounds() {
        for _ in 0..200 {
            let p = pad(vec![1, 2, 3]);
            assert!((4..=19).contains(&p.len()));
            assert_eq!(unpad(&p).unwrap(), &[1, 2, 3]);
        }
        assert!(unpad(&[]).is_err());
        assert!(unpad(&[1, 9]).is_err());
    }

    #[test]
    fn phash_matches_definition() {
        let jids = vec!["b@s.whatsapp.net".to_owned(), "a@s.whatsapp.net".to_owned()];
        let digest = wa_crypto::hash::sha256(b"a@s.whatsapp.netb@s.whatsapp.net");
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(phash(&jids), format!("2:{}", &b64[..6]));
    }

    #[test]
    fn message_ids_look_like_baileys() {
        let id = message_id(Some("15551234567"), 1_700_000_000);
        assert_eq!(id.len(), 22);
        assert!(id.starts_with("3EB0"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(id, message_id(Some("15551234567"), 1_700_000_000));
        let bytes: Vec<u8> = (0..=255).collect();
        let mut hex = String::new();
        push_upper_hex(&mut hex, &bytes);
        let want: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex, want);
    }

    #[test]
    fn acks_copy_baileys_attributes() {
        let msg = Node::new("message")
            .attr("id", "X")
            .attr("from", "1@s.whatsapp.net")
            .attr("participant", "2@s.whatsapp.net")
            .attr("type", "text");
        let a = ack(&msg, Some(500), Some("3:1@s.whatsapp.net"));
        assert_eq!(a.get_attr("class"), Some("message"));
        assert_eq!(a.get_attr("to"), Some("1@s.whatsapp.net"));
        assert_eq!(a.get_attr("error"), Some("500"));
        assert_eq!(a.get_attr("participant"), Some("2@s.whatsapp.net"));
        assert_eq!(a.get_attr("from"), Some("3:1@s.whatsapp.net"));
    }
}
