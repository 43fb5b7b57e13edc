//! Pairing a registering companion: the phone scans its QR (or the user types its pairing
//! code on the phone), the server sends `pair-success` with the ADV identity, checks the
//! companion's `pair-device-sign`, registers the device and ends the stream with 515 so the
//! companion logs in.

use base64::Engine as _;
use wa_binary::Node;
use wa_crypto::curve::agree;
use wa_vocab::{S_WHATSAPP_NET, device_jid};

use crate::account::{Companion, normalize_number};
use crate::adv;
use crate::devices::notify_devices;
use crate::error::{Result, TestServerError};
use crate::linkcode::{self, PrimaryHello};
use crate::nodes::{self, attr, child_array, child_bytes};
use crate::state::{
    ConnId, LinkEntered, LinkRequest, Pairing, Phase, RequestId, ServerEvent, State,
};

/// The parts of a pairing QR string: `[https://wa.me/settings/linked_devices#]ref,noise,
/// identity,advSecret[,platform]` (base64 keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrData {
    pub pairing_ref: String,
    pub noise_key: [u8; 32],
    pub identity: [u8; 32],
    pub adv_secret: Vec<u8>,
    pub platform: Option<String>,
}

impl QrData {
    pub fn parse(qr: &str) -> Result<Self> {
        let body = qr.rsplit_once('#').map_or(qr, |(_, b)| b).trim();
        let parts: Vec<&str> = body.split(',').collect();
        if parts.len() < 4 {
            return Err(TestServerError::BadQr("expected ref,noise,identity,secret"));
        }
        let b64 = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
        };
        let key = |s: &str, what| -> Result<[u8; 32]> {
            b64(s)
                .and_then(|b| b.try_into().ok())
                .ok_or(TestServerError::BadQr(what))
        };
        if parts[0].is_empty() {
            return Err(TestServerError::BadQr("empty ref"));
        }
        let adv_secret = b64(parts[3])
            .filter(|s| !s.is_empty())
            .ok_or(TestServerError::BadQr("adv secret is not base64"))?;
        Ok(Self {
            pairing_ref: parts[0].to_owned(),
            noise_key: key(parts[1], "noise key is not 32 bytes of base64")?,
            identity: key(parts[2], "identity key is not 32 bytes of base64")?,
            adv_secret,
            platform: parts.get(4).map(|s| (*s).to_owned()),
        })
    }
}

/// The phone scans a QR shown by a registering companion.
pub(crate) fn scan_qr(
    state: &mut State,
    now: u64,
    qr: &str,
    number: &str,
    push_name: Option<&str>,
) -> Result<RequestId> {
    let qr = QrData::parse(qr)?;
    let number = normalize_number(number)?;
    let (conn, index) = state
        .conns
        .iter()
        .find_map(|(id, c)| match &c.phase {
            Phase::Registering(r) => r
                .refs
                .iter()
                .position(|x| *x == qr.pairing_ref)
                .map(|i| (*id, i)),
            _ => None,
        })
        .ok_or(TestServerError::UnknownRef)?;
    let Some(Phase::Registering(r)) = state.phase(conn) else {
        return Err(TestServerError::UnknownRef);
    };
    if now >= r.refs_issued_at + state.config.ref_expiry(index) {
        return Err(TestServerError::QrExpired);
    }
    if r.reg.noise_key != qr.noise_key || r.reg.identity != qr.identity {
        return Err(TestServerError::QrKeyMismatch);
    }
    if r.pairing.is_some() {
        return Err(TestServerError::PairingFailed(
            "this companion is already being paired".into(),
        ));
    }
    state.ensure_account(&number, push_name)?;
    let request = state.next_request();
    start_pair(state, conn, &number, &qr.adv_secret, Some(request), now);
    Ok(request)
}

/// Step 2 of code pairing, the costly part: what the phone computes from the typed code.
/// Separate so a driver can run it off its event loop.
pub(crate) fn link_code_material(state: &State, number: &str) -> Result<Vec<u8>> {
    let number = normalize_number(number)?;
    state
        .conns
        .values()
        .rev()
        .find_map(|c| match &c.phase {
            Phase::Registering(r) => r
                .link
                .as_ref()
                .filter(|l| l.number == number && l.entered.is_none())
                .map(|l| l.wrapped.clone()),
            _ => None,
        })
        .ok_or(TestServerError::NoPairingCodeRequest(number))
}

/// Sends the phone's `primary_hello` to the companion waiting for a code for `number`.
pub(crate) fn enter_pairing_code(
    state: &mut State,
    now: u64,
    number: &str,
    hello: Option<PrimaryHello>,
) -> Result<RequestId> {
    let number = normalize_number(number)?;
    let conn = state
        .conns
        .iter()
        .rev()
        .find_map(|(id, c)| match &c.phase {
            Phase::Registering(r)
                if r.link
                    .as_ref()
                    .is_some_and(|l| l.number == number && l.entered.is_none()) =>
            {
                Some(*id)
            }
            _ => None,
        })
        .ok_or_else(|| TestServerError::NoPairingCodeRequest(number.clone()))?;
    // A code that does not unwrap to a key at all cannot match.
    let hello = hello.ok_or(TestServerError::PairingCodeMismatch)?;
    let account_public = state.ensure_account(&number, None)?.identity.public;
    let request = state.next_request();
    let Some(Phase::Registering(r)) = state.phase_mut(conn) else {
        return Err(TestServerError::NoPairingCodeRequest(number));
    };
    let Some(link) = r.link.as_mut() else {
        return Err(TestServerError::NoPairingCodeRequest(number));
    };
    let pairing_ref = link.pairing_ref.clone();
    link.entered = Some(LinkEntered {
        request: Some(request),
        primary_ephemeral: hello.primary_ephemeral.clone(),
        companion_ephemeral: hello.companion_ephemeral,
    });
    let id = state.next_stanza_id();
    let notification = Node::new("notification")
        .attr("from", S_WHATSAPP_NET)
        .attr("id", id)
        .attr("type", "link_code_companion_reg")
        .attr("t", (now / 1000).to_string())
        .children(vec![
            Node::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children(vec![
                    Node::new("link_code_pairing_ref").bytes(pairing_ref),
                    Node::new("primary_identity_pub").bytes(account_public.to_vec()),
                    Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(hello.wrapped.to_vec()),
                ]),
        ]);
    state.send(conn, &notification, now);
    Ok(request)
}

/// Sends `pair-success` to a registering connection.
fn start_pair(
    state: &mut State,
    conn: ConnId,
    number: &str,
    adv_secret: &[u8],
    request: Option<RequestId>,
    now: u64,
) {
    let Some(Phase::Registering(r)) = state.phase(conn) else {
        return;
    };
    let companion_identity = r.reg.identity;
    let Some(account) = state.accounts.get_mut(number) else {
        return;
    };
    let (device, key_index) = account.allocate_device();
    let issued = adv::issue(
        &account.identity,
        account.raw_id,
        now / 1000,
        key_index,
        &companion_identity,
        adv_secret,
    );
    let jid = device_jid(&account.number, device, S_WHATSAPP_NET);
    let lid = device_jid(&account.lid, device, wa_binary::Server::Lid.as_str());
    let iq_id = state.next_stanza_id();
    let node = nodes::iq_set(
        &iq_id,
        Some("md"),
        vec![Node::new("pair-success").children(vec![
            Node::new("device-identity").bytes(issued.container.clone()),
            Node::new("platform").attr("name", "android"),
            Node::new("device").attr("jid", jid).attr("lid", lid),
        ])],
    )
    .attr("t", (now / 1000).to_string());
    let deadline = now + state.config.pairing_timeout_ms;
    if let Some(Phase::Registering(r)) = state.phase_mut(conn) {
        r.pairing = Some(Pairing {
            request,
            iq_id,
            number: number.to_owned(),
            device,
            key_index,
            issued,
            platform: "android".into(),
            deadline,
        });
    }
    state.send(conn, &node, now);
}

/// A stanza from a connection that is registering.
pub(crate) fn on_registration_node(state: &mut State, conn: ConnId, node: Node, now: u64) {
    if node.tag != "iq" {
        return;
    }
    let id = attr(&node, "id").unwrap_or_default();
    match node.get_attr("type") {
        Some("result") => {
            if node.child("pair-device-sign").is_some() {
                on_pair_device_sign(state, conn, &id, &node, now);
            }
        }
        Some("error") => on_pair_error(state, conn, &id, &node),
        _ => {
            let first = node.child_nodes().first().map(|c| c.tag.to_string());
            match (node.get_attr("xmlns"), first.as_deref()) {
                (Some("w:p"), _) => state.send(conn, &nodes::iq_result(&id), now),
                (Some("md"), Some("link_code_companion_reg")) => {
                    on_link_code(state, conn, &id, &node, now)
                }
                _ => {
                    state.stats.unknown_iqs += 1;
                    state.send(conn, &nodes::iq_error(&id, 401, "not-authorized"), now);
                }
            }
        }
    }
}

fn on_pair_error(state: &mut State, conn: ConnId, id: &str, node: &Node) {
    let Some(Phase::Registering(r)) = state.phase_mut(conn) else {
        return;
    };
    if r.pairing.as_ref().is_none_or(|p| p.iq_id != id) {
        return;
    }
    let Some(pairing) = r.pairing.take() else {
        return;
    };
    let text = node
        .child("error")
        .and_then(|e| e.get_attr("text"))
        .unwrap_or("error")
        .to_owned();
    if let Some(request) = pairing.request {
        state.events.push_back(ServerEvent::PairingFailed {
            request,
            error: TestServerError::PairingFailed(format!("the companion refused: {text}")),
        });
    }
}

fn on_pair_device_sign(state: &mut State, conn: ConnId, id: &str, node: &Node, now: u64) {
    let Some(Phase::Registering(r)) = state.phase_mut(conn) else {
        return;
    };
    if r.pairing.as_ref().is_none_or(|p| p.iq_id != id) {
        return;
    }
    let Some(pairing) = r.pairing.take() else {
        return;
    };
    let reg = r.reg.clone();
    let reply = node
        .child("pair-device-sign")
        .and_then(|s| s.child("device-identity"));
    let key_index_ok = reply
        .and_then(|d| d.get_attr("key-index"))
        .is_some_and(|k| k == pairing.key_index.to_string());
    let Some(account) = state.accounts.get_mut(&pairing.number) else {
        return;
    };
    let verified = reply
        .and_then(|d| d.content_bytes())
        .ok_or("no device-identity")
        .and_then(|bytes| {
            if key_index_ok {
                Ok(bytes)
            } else {
                Err("key-index does not match the issued one")
            }
        })
        .and_then(|bytes| {
            adv::verify_device_sign(
                &pairing.issued,
                &account.identity.public,
                &reg.identity,
                bytes,
            )
        });
    match verified {
        Ok(full) => {
            account.companions.insert(
                pairing.device,
                Companion {
                    device: pairing.device,
                    key_index: pairing.key_index,
                    noise_key: reg.noise_key,
                    identity: reg.identity,
                    registration_id: reg.registration_id,
                    signed_pre_key: reg.signed_pre_key.clone(),
                    pre_keys: Default::default(),
                    adv: full,
                    platform: pairing.platform.clone(),
                    paired_at: now,
                    uploaded_total: 0,
                },
            );
            account.devices_changed = now / 1000;
            if let (Some(name), true) = (&reg.push_name, account.push_name == account.number) {
                account.push_name = name.clone();
            }
            let jid = device_jid(&account.number, pairing.device, S_WHATSAPP_NET);
            state.stats.pairings += 1;
            if let Some(request) = pairing.request {
                state.events.push_back(ServerEvent::Paired { request, jid });
            }
            notify_devices(state, &pairing.number, "add", pairing.device, now);
            // The companion must log in on a new connection.
            state.stream_error(conn, nodes::stream_error_code(515), now);
        }
        Err(why) => {
            tracing::debug!(why, "pair-device-sign refused");
            if let Some(request) = pairing.request {
                state.events.push_back(ServerEvent::PairingFailed {
                    request,
                    error: TestServerError::PairingFailed(format!(
                        "pair-device-sign refused: {why}"
                    )),
                });
            }
            state.stream_error(conn, nodes::stream_error_code(500), now);
        }
    }
}

fn on_link_code(state: &mut State, conn: ConnId, id: &str, node: &Node, now: u64) {
    let Some(reg) = node.child("link_code_companion_reg") else {
        return;
    };
    match reg.get_attr("stage") {
        Some("companion_hello") => on_companion_hello(state, conn, id, reg, now),
        Some("companion_finish") => on_companion_finish(state, conn, id, reg, now),
        _ => state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now),
    }
}

fn on_companion_hello(state: &mut State, conn: ConnId, id: &str, reg: &Node, now: u64) {
    let number = reg.get_attr("jid").and_then(|j| normalize_number(j).ok());
    let wrapped = child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")
        .filter(|w| w.len() >= wa_crypto::pairing::WRAPPED_KEY_LEN)
        .map(<[u8]>::to_vec);
    let auth_key = child_array::<32>(reg, "companion_server_auth_key_pub");
    let extended = now + state.config.ref_expiry(state.config.qr_ref_count);
    let Some(Phase::Registering(r)) = state.phase_mut(conn) else {
        return;
    };
    let (Some(number), Some(wrapped), Some(auth_key)) = (number, wrapped, auth_key) else {
        state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now);
        return;
    };
    if auth_key != r.reg.noise_key {
        state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now);
        return;
    }
    let pairing_ref: [u8; 16] = wa_crypto::random_bytes();
    let pairing_ref = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(pairing_ref)
        .into_bytes();
    r.link = Some(LinkRequest {
        number,
        wrapped,
        pairing_ref: pairing_ref.clone(),
        entered: None,
    });
    // While a code is pending the refs stop running out.
    r.deadline = r.deadline.max(extended);
    let reply = nodes::iq_result_with(
        id,
        vec![
            Node::new("link_code_companion_reg")
                .children(vec![Node::new("link_code_pairing_ref").bytes(pairing_ref)]),
        ],
    );
    state.send(conn, &reply, now);
}

fn on_companion_finish(state: &mut State, conn: ConnId, id: &str, reg: &Node, now: u64) {
    let bundle = child_bytes(reg, "link_code_pairing_wrapped_key_bundle").map(<[u8]>::to_vec);
    let companion_identity = child_array::<32>(reg, "companion_identity_public");
    let pairing_ref = child_bytes(reg, "link_code_pairing_ref").map(<[u8]>::to_vec);
    let Some(Phase::Registering(r)) = state.phase_mut(conn) else {
        return;
    };
    let registered_identity = r.reg.identity;
    let Some(link) = r.link.as_mut() else {
        state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now);
        return;
    };
    if pairing_ref.as_deref() != Some(link.pairing_ref.as_slice()) {
        state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now);
        return;
    }
    let Some(entered) = link.entered.take() else {
        state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now);
        return;
    };
    let number = link.number.clone();
    let opened = bundle.as_deref().and_then(|b| {
        linkcode::open_key_bundle(&entered.primary_ephemeral, &entered.companion_ephemeral, b)
    });
    let Some(account) = state.accounts.get(&number) else {
        return;
    };
    let account_public = account.identity.public;
    let checked = opened.filter(|(_, plain)| {
        plain[..32] == registered_identity
            && companion_identity == Some(registered_identity)
            && plain[32..64] == account_public
    });
    let Some((shared, plain)) = checked else {
        // A mistyped code: the bundle does not open. The companion may be given the code
        // again, so the request stays open.
        if let Some(request) = entered.request {
            state.events.push_back(ServerEvent::PairingFailed {
                request,
                error: TestServerError::PairingCodeMismatch,
            });
        }
        state.send(conn, &nodes::iq_error(id, 400, "bad-request"), now);
        return;
    };
    let identity_shared = agree(&account.identity.private, &registered_identity);
    let adv_secret = linkcode::adv_secret(&shared, &identity_shared, &plain[64..]);
    state.send(conn, &nodes::iq_result(id), now);
    start_pair(state, conn, &number, &adv_secret, entered.request, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_strings() {
        let k = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let qr = format!("https://wa.me/settings/linked_devices#2@abc,{k},{k},{k},1");
        let d = QrData::parse(&qr).unwrap();
        assert_eq!(d.pairing_ref, "2@abc");
        assert_eq!(d.noise_key, [7; 32]);
        assert_eq!(d.platform.as_deref(), Some("1"));
        let bare = QrData::parse(&format!("2@abc,{k},{k},{k}")).unwrap();
        assert_eq!(bare.platform, None);
        for bad in [
            "",
            "a,b",
            &format!(",{k},{k},{k}"),
            &format!("r,xx,{k},{k}"),
            &format!("r,{k},{k},!!"),
        ] {
            assert!(
                matches!(QrData::parse(bad), Err(TestServerError::BadQr(_))),
                "{bad}"
            );
        }
    }
}
