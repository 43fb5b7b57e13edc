//! After the Noise handshake: a registration payload starts pairing, a login payload logs a
//! known companion in.

use base64::Engine as _;
use wa_binary::Node;
use wa_crypto::curve;
use wa_noise::ClientIdentity;
use wa_vocab::{S_WHATSAPP_NET, device_jid, read_be};

use crate::account::SignedKey;
use crate::delivery::flush_offline;
use crate::nodes;
use crate::state::{
    ConnId, DeviceAddr, LoginRefusal, Phase, Registering, Registration, Session, State,
};

/// Routing info the server hands out in `<ib><edge_routing>`; clients send it back in the
/// `ED` preface of their next connection.
pub const ROUTING_INFO: &[u8] = &[0x08, 0x08, 0x08, 0x02];

pub(crate) fn on_client_finished(state: &mut State, conn: ConnId, id: ClientIdentity, now: u64) {
    let payload = &id.payload;
    if let Some(username) = payload.username {
        login(state, conn, &id, username, payload.device.unwrap_or(0), now);
    } else if payload.device_pairing_data.is_some() {
        register(state, conn, &id, now);
    } else {
        // Neither a login nor a registration: WhatsApp refuses the payload.
        state.send(conn, &nodes::failure(400), now);
        state.close(conn, false, now);
    }
}

fn register(state: &mut State, conn: ConnId, id: &ClientIdentity, now: u64) {
    let Some(reg) = parse_registration(id) else {
        state.send(conn, &nodes::failure(400), now);
        state.close(conn, false, now);
        return;
    };
    state.stats.registrations += 1;
    let count = state.config.qr_ref_count.max(1);
    let refs: Vec<String> = (0..count)
        .map(|_| {
            let r: [u8; 18] = wa_crypto::random_bytes();
            format!("2@{}", base64::engine::general_purpose::STANDARD.encode(r))
        })
        .collect();
    let iq_id = state.next_stanza_id();
    let pair_device = Node::new("pair-device").children(
        refs.iter()
            .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
            .collect(),
    );
    let deadline = now + state.config.ref_expiry(count - 1);
    if let Some(phase) = state.phase_mut(conn) {
        *phase = Phase::Registering(Box::new(Registering {
            reg,
            refs,
            refs_issued_at: now,
            pairing: None,
            link: None,
            deadline,
        }));
    }
    state.send(
        conn,
        &nodes::iq_set(&iq_id, Some("md"), vec![pair_device]),
        now,
    );
}

/// The companion's keys from its registration payload; `None` when they are malformed or the
/// signed prekey's signature does not verify.
fn parse_registration(id: &ClientIdentity) -> Option<Registration> {
    let d = id.payload.device_pairing_data.as_ref()?;
    let identity: [u8; 32] = d.e_ident.as_deref()?.try_into().ok()?;
    if d.e_keytype.as_deref() != Some(&[5u8][..]) {
        return None;
    }
    let registration_id = read_be(d.e_regid.as_deref()?)?;
    let skey_id = read_be(d.e_skey_id.as_deref()?)?;
    let skey: [u8; 32] = d.e_skey_val.as_deref()?.try_into().ok()?;
    let sig = d.e_skey_sig.as_deref()?;
    if sig.len() != 64 || !curve::verify(&identity, &curve::prefix_public(&skey), sig) {
        return None;
    }
    Some(Registration {
        noise_key: id.client_static,
        identity,
        registration_id,
        signed_pre_key: SignedKey {
            id: skey_id,
            public: skey,
            signature: sig.to_vec(),
        },
        push_name: id.payload.push_name.clone(),
    })
}

fn login(
    state: &mut State,
    conn: ConnId,
    id: &ClientIdentity,
    username: u64,
    device: u32,
    now: u64,
) {
    if now < state.refuse_logins_until {
        state.stats.logins_refused += 1;
        match state.refusal {
            LoginRefusal::StreamError(code) => {
                state.stream_error(conn, nodes::stream_error_code(code), now)
            }
            LoginRefusal::Failure(reason) => {
                state.send(conn, &nodes::failure(reason), now);
                state.close(conn, false, now);
            }
        }
        return;
    }
    let number = username.to_string();
    let known = u16::try_from(device)
        .ok()
        .filter(|d| *d != 0)
        .and_then(|d| {
            state
                .accounts
                .get(&number)
                .and_then(|a| a.companions.get(&d))
                .filter(|c| c.noise_key == id.client_static)
                .map(|c| (d, c.paired_at))
        });
    let Some((device, paired_at)) = known else {
        // Unknown or unlinked device, or another device's credentials: logged out.
        state.stats.logins_refused += 1;
        state.send(conn, &nodes::failure(401), now);
        state.close(conn, false, now);
        return;
    };
    let addr = DeviceAddr {
        number: number.clone(),
        device,
    };
    if let Some(old) = state.online.get(&addr).copied()
        && old != conn
    {
        state.stream_error(old, nodes::stream_error_replaced(), now);
    }
    let active = !id.payload.passive.unwrap_or(false);
    state.online.insert(addr.clone(), conn);
    if let Some(phase) = state.phase_mut(conn) {
        *phase = Phase::LoggedIn(Session {
            addr: addr.clone(),
            active,
        });
    }
    state.stats.logins += 1;
    let lid = state
        .accounts
        .get(&number)
        .map(|a| device_jid(&a.lid, device, wa_binary::Server::Lid.as_str()))
        .unwrap_or_default();
    let success = Node::new("success")
        .attr("t", (now / 1000).to_string())
        .attr("props", "1")
        .attr("abprops", "1")
        .attr("location", "lla")
        .attr("creation", (paired_at / 1000).to_string())
        .attr("lid", lid);
    state.send(conn, &success, now);
    let routing = Node::new("ib").attr("from", S_WHATSAPP_NET).children(vec![
        Node::new("edge_routing").children(vec![Node::new("routing_info").bytes(ROUTING_INFO)]),
    ]);
    state.send(conn, &routing, now);
    if active {
        flush_offline(state, conn, &addr, now);
    }
}
