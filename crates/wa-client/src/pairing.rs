//! Linking and unlinking this companion device: the QR string, the checks on `pair-success`
//! and our countersignature (pure, used by the sans-IO core), pairing with a phone-number code
//! (both the request and the phone's answer), and logout.
//!
//! Unlike Baileys 7.0.0-rc14 (whose `Curve.verify` accepts any signature), the phone's
//! account signature over our identity is really verified: a server that cannot produce it
//! does not get a paired device.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use wa_binary::Node;
use wa_proto::{AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};
use wa_store::AuthenticationCreds;
use wa_store::creds::{AdvSignedDeviceIdentity as StoredAccount, ProtocolAddress, SignalIdentity};

use wa_store::Me;
use wa_vocab::{S_WHATSAPP_NET, adv, link_code};

use crate::config::Browser;
use crate::ctx::{Client, lock};
use crate::error::{ClientError, Disconnect};
use crate::event::CredsField;
use crate::nodes;

/// `ADVEncryptionType.HOSTED`.
const HOSTED: i32 = 1;

/// The QR text for one ref, exactly as Baileys builds it (`buildPairingQRData`).
pub fn qr_string(ref_: &str, creds: &AuthenticationCreds, browser: &Browser) -> String {
    format!(
        "https://wa.me/settings/linked_devices#{},{},{},{},{}",
        ref_,
        STANDARD.encode(&creds.noise_key.public),
        STANDARD.encode(&creds.signed_identity_key.public),
        creds.adv_secret_key,
        browser.companion_platform_id()
    )
}

/// What a verified `pair-success` gives: the reply to send and the credential changes.
#[derive(Debug, Clone)]
pub struct Paired {
    pub reply: Node,
    pub me_id: String,
    pub me_lid: Option<String>,
    pub biz_name: Option<String>,
    pub platform: Option<String>,
    pub account: StoredAccount,
    pub identity: SignalIdentity,
}

fn missing(what: &str) -> ClientError {
    ClientError::Pairing(format!("pair-success without {what}"))
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32], ClientError> {
    wa_crypto::curve::parse_public(bytes)
        .map_err(|_| ClientError::Pairing(format!("{what} is not a Curve25519 public key")))
}

/// Checks a `pair-success` IQ and builds the `pair-device-sign` reply.
pub fn pair_success(stanza: &Node, creds: &AuthenticationCreds) -> Result<Paired, ClientError> {
    let id = stanza.get_attr("id").unwrap_or_default().to_owned();
    let ps = stanza
        .child("pair-success")
        .ok_or_else(|| missing("pair-success"))?;
    let identity_node = ps
        .child("device-identity")
        .ok_or_else(|| missing("device-identity"))?;
    let device_node = ps.child("device").ok_or_else(|| missing("device"))?;
    let me_id = device_node
        .get_attr("jid")
        .ok_or_else(|| missing("device jid"))?
        .to_owned();
    let me_lid = device_node.get_attr("lid").map(str::to_owned);
    let biz_name = ps
        .child("biz")
        .and_then(|b| b.get_attr("name"))
        .map(str::to_owned);
    let platform = ps
        .child("platform")
        .and_then(|p| p.get_attr("name"))
        .map(str::to_owned);

    let wrapped = AdvSignedDeviceIdentityHmac::decode(
        identity_node
            .content_bytes()
            .ok_or_else(|| missing("device-identity bytes"))?,
    )
    .map_err(|e| ClientError::Pairing(format!("device-identity: {e}")))?;
    let details = wrapped.details.ok_or_else(|| missing("identity details"))?;
    let hmac = wrapped.hmac.ok_or_else(|| missing("identity hmac"))?;
    let adv_secret = wa_store::bufferjson::decode_base64(&creds.adv_secret_key)
        .ok_or_else(|| ClientError::Creds("creds.advSecretKey is not base64".into()))?;
    let hosted_account = wrapped.account_type == Some(HOSTED);
    let expected = if hosted_account {
        wa_crypto::mac::hmac_sha256_parts(&adv_secret, &[&adv::HOSTED_ACCOUNT_SIG_PREFIX, &details])
    } else {
        wa_crypto::mac::hmac_sha256(&adv_secret, &details)
    };
    if !wa_crypto::mac::ct_eq(&expected, &hmac) {
        return Err(ClientError::Pairing(
            "Invalid account signature (HMAC)".into(),
        ));
    }

    let mut account = AdvSignedDeviceIdentity::decode(details.as_slice())
        .map_err(|e| ClientError::Pairing(format!("signed identity: {e}")))?;
    let device_details = account
        .details
        .clone()
        .ok_or_else(|| missing("device details"))?;
    let account_key = account
        .account_signature_key
        .clone()
        .ok_or_else(|| missing("account signature key"))?;
    let account_sig = account
        .account_signature
        .clone()
        .ok_or_else(|| missing("account signature"))?;
    let device_identity = AdvDeviceIdentity::decode(device_details.as_slice())
        .map_err(|e| ClientError::Pairing(format!("device identity: {e}")))?;
    let key_index = device_identity
        .key_index
        .ok_or_else(|| missing("keyIndex in the device identity"))?;
    let our_identity = &creds.signed_identity_key.public;
    let signed = adv::account_signature_message(
        &device_details,
        our_identity,
        device_identity.device_type == Some(HOSTED),
    );
    let phone_key = key32(&account_key, "account signature key")?;
    if !wa_crypto::curve::verify(&phone_key, &signed, &account_sig) {
        return Err(ClientError::Pairing(
            "Failed to verify account signature".into(),
        ));
    }

    let private: [u8; 32] = creds
        .signed_identity_key
        .private
        .as_slice()
        .try_into()
        .map_err(|_| {
            ClientError::Creds("creds.signedIdentityKey.private is not 32 bytes".into())
        })?;
    let to_sign = adv::device_signature_message(&device_details, our_identity, &account_key);
    account.device_signature = Some(wa_crypto::curve::sign(&private, &to_sign).to_vec());

    // The reply leaves the account key out (Baileys' encodeSignedDeviceIdentity(account, false)).
    let reply_identity = AdvSignedDeviceIdentity {
        account_signature_key: None,
        ..account.clone()
    };
    let reply = Node::new("iq")
        .attr("to", S_WHATSAPP_NET)
        .attr("type", "result")
        .attr("id", id)
        .children(vec![Node::new("pair-device-sign").children(vec![
            Node::new("device-identity")
                .attr("key-index", key_index.to_string())
                .bytes(reply_identity.encode_to_vec()),
        ])]);

    let identity = SignalIdentity {
        identifier: ProtocolAddress {
            name: me_lid.clone().unwrap_or_default(),
            device_id: 0,
        },
        identifier_key: wa_crypto::curve::prefix_public(&phone_key).to_vec(),
    };
    Ok(Paired {
        reply,
        me_id,
        me_lid,
        biz_name,
        platform,
        account: StoredAccount {
            details: account.details,
            account_signature_key: account.account_signature_key,
            account_signature: account.account_signature,
            device_signature: account.device_signature,
            extra: Default::default(),
        },
        identity,
    })
}

/// Our signed device identity as sent with prekey messages (`device-identity` node), with the
/// account signature key included (Baileys' `encodeSignedDeviceIdentity(account, true)`).
pub fn encode_account(account: &StoredAccount) -> Vec<u8> {
    AdvSignedDeviceIdentity {
        details: account.details.clone(),
        account_signature_key: account
            .account_signature_key
            .clone()
            .filter(|k| !k.is_empty()),
        account_signature: account.account_signature.clone(),
        device_signature: account.device_signature.clone(),
    }
    .encode_to_vec()
}

/// The `companion_hello` IQ of pairing by code: our pairing ephemeral key wrapped under the
/// code (PBKDF2, 2^17 rounds: run it off the async threads).
pub fn link_code_hello(
    creds: &AuthenticationCreds,
    phone_jid: &str,
    code: &str,
    browser: &Browser,
    id: &str,
) -> Result<Node, ClientError> {
    let public: [u8; 32] = creds
        .pairing_ephemeral_key_pair
        .public
        .as_slice()
        .try_into()
        .map_err(|_| ClientError::Creds("creds.pairingEphemeralKeyPair is not 32 bytes".into()))?;
    let salt: [u8; 32] = wa_crypto::random_bytes();
    let iv: [u8; 16] = wa_crypto::random_bytes();
    let wrapped = wa_crypto::pairing::wrap_with_pairing_code(code, &salt, &iv, &public);
    Ok(Node::new("iq")
        .attr("to", S_WHATSAPP_NET)
        .attr("type", "set")
        .attr("id", id.to_owned())
        .attr("xmlns", "md")
        .children(vec![
            Node::new("link_code_companion_reg")
                .attr("jid", phone_jid.to_owned())
                .attr("stage", "companion_hello")
                .attr("should_show_push_notification", "true")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                        .bytes(wrapped.to_vec()),
                    Node::new("companion_server_auth_key_pub")
                        .bytes(creds.noise_key.public.clone()),
                    Node::new("companion_platform_id")
                        .text(browser.companion_platform_id().to_owned()),
                    Node::new("companion_platform_display")
                        .text(format!("{} ({})", browser.name, browser.os)),
                    Node::new("link_code_pairing_nonce").text("0"),
                ]),
        ]))
}

/// What the companion does when the phone has typed the code: unwrap the phone's ephemeral
/// key, send our identity encrypted to it, and derive the new ADV secret.
pub struct LinkCodeFinish {
    pub iq: Node,
    /// The new `creds.advSecretKey` (base64).
    pub adv_secret_key: String,
}

/// Handles the `link_code_companion_reg` notification (slow: PBKDF2).
pub fn link_code_finish(
    notification: &Node,
    creds: &AuthenticationCreds,
    id: &str,
) -> Result<LinkCodeFinish, ClientError> {
    let reg = notification
        .child("link_code_companion_reg")
        .ok_or_else(|| ClientError::Protocol("no link_code_companion_reg".into()))?;
    let get = |tag: &str| {
        reg.child(tag)
            .and_then(Node::content_bytes)
            .ok_or_else(|| ClientError::Protocol(format!("link code notification without {tag}")))
    };
    let ref_ = get("link_code_pairing_ref")?;
    let primary_identity = key32(get("primary_identity_pub")?, "primary identity")?;
    let wrapped = get("link_code_pairing_wrapped_primary_ephemeral_pub")?;
    let code = creds
        .pairing_code
        .as_deref()
        .ok_or_else(|| ClientError::Pairing("no pairing code was requested".into()))?;
    let primary_ephemeral = wa_crypto::pairing::unwrap_with_pairing_code(code, wrapped)
        .map_err(|e| ClientError::Pairing(format!("wrapped primary key: {e}")))?;
    let priv32 = |k: &[u8], what: &str| -> Result<[u8; 32], ClientError> {
        k.try_into()
            .map_err(|_| ClientError::Creds(format!("{what} private key is not 32 bytes")))
    };
    let eph_priv = priv32(
        &creds.pairing_ephemeral_key_pair.private,
        "pairing ephemeral",
    )?;
    let id_priv = priv32(&creds.signed_identity_key.private, "identity")?;
    let companion_shared = wa_crypto::curve::agree(&eph_priv, &primary_ephemeral);
    let random: [u8; 32] = wa_crypto::random_bytes();
    let salt: [u8; 32] = wa_crypto::random_bytes();
    let key = wa_crypto::kdf::hkdf_sha256(&companion_shared, &salt, link_code::KEY_BUNDLE_INFO, 32)
        .map_err(|e| ClientError::Pairing(e.to_string()))?;
    let plain = [
        &creds.signed_identity_key.public[..],
        &primary_identity,
        &random,
    ]
    .concat();
    let iv: [u8; 12] = wa_crypto::random_bytes();
    let sealed = wa_crypto::cipher::gcm_encrypt(&key, &iv, &[], &plain)
        .map_err(|e| ClientError::Pairing(e.to_string()))?;
    let bundle = [&salt[..], &iv, &sealed].concat();
    let identity_shared = wa_crypto::curve::agree(&id_priv, &primary_identity);
    let adv = wa_crypto::kdf::hkdf_sha256(
        &[&companion_shared[..], &identity_shared, &random].concat(),
        &[],
        link_code::ADV_SECRET_INFO,
        32,
    )
    .map_err(|e| ClientError::Pairing(e.to_string()))?;
    let me = creds
        .me
        .as_ref()
        .map(|m| m.id.as_str())
        .ok_or_else(|| ClientError::Pairing("no phone number was given".into()))?;
    let iq = Node::new("iq")
        .attr("to", S_WHATSAPP_NET)
        .attr("type", "set")
        .attr("id", id.to_owned())
        .attr("xmlns", "md")
        .children(vec![
            Node::new("link_code_companion_reg")
                .attr("jid", me.to_owned())
                .attr("stage", "companion_finish")
                .children(vec![
                    Node::new("link_code_pairing_wrapped_key_bundle").bytes(bundle),
                    Node::new("companion_identity_public")
                        .bytes(creds.signed_identity_key.public.clone()),
                    Node::new("link_code_pairing_ref").bytes(ref_.to_vec()),
                ]),
        ]);
    Ok(LinkCodeFinish {
        iq,
        adv_secret_key: STANDARD.encode(adv),
    })
}

impl Client {
    /// Baileys' `requestPairingCode(phoneNumber, customPairingCode?)`: returns the code to type
    /// on the phone.
    pub async fn request_pairing_code(
        &self,
        phone: &str,
        custom: Option<&str>,
    ) -> Result<String, ClientError> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(ClientError::Argument(format!(
                "{phone:?} is not a phone number"
            )));
        }
        let code = match custom {
            Some(c) if c.chars().count() != 8 => {
                return Err(ClientError::Argument(
                    "Custom pairing code must be exactly 8 chars".into(),
                ));
            }
            Some(c) => c.to_owned(),
            None => wa_crypto::pairing::generate_pairing_code(),
        };
        let jid = format!("{digits}@{S_WHATSAPP_NET}");
        self.update_creds(&[CredsField::PairingCode, CredsField::Me], |c| {
            c.pairing_code = Some(code.clone());
            c.me = Some(Me {
                name: Some("~".into()),
                ..Me::new(jid.clone())
            });
        });
        let snapshot = self.creds();
        let browser = self.config().browser.clone();
        let code2 = code.clone();
        let node = tokio::task::spawn_blocking(move || {
            link_code_hello(&snapshot, &jid, &code2, &browser, "")
        })
        .await
        .map_err(|e| ClientError::Protocol(format!("pairing key task: {e}")))??;
        // Baileys only writes this IQ; we wait for the server's answer, so the code we return
        // is known to the server before anyone types it (and a refusal is an error here).
        self.query(without_id(node), None).await?;
        Ok(code)
    }

    /// The phone typed our code (`link_code_companion_reg` notification): finish the
    /// exchange; `pair-success` follows as with a QR.
    pub(crate) async fn on_link_code_entered(&self, node: &Node) -> Result<(), ClientError> {
        let snapshot = self.creds();
        let n = node.clone();
        let done = tokio::task::spawn_blocking(move || link_code_finish(&n, &snapshot, ""))
            .await
            .map_err(|e| ClientError::Protocol(format!("pairing task: {e}")))?;
        match done {
            Ok(f) => {
                lock(&self.inner.creds).adv_secret_key = f.adv_secret_key;
                self.query(without_id(f.iq), None).await?;
                self.update_creds(&[CredsField::AdvSecretKey, CredsField::Registered], |c| {
                    c.registered = true;
                });
            }
            Err(e) => tracing::warn!(code = e.code(), "pairing by code failed"),
        }
        Ok(())
    }

    /// Logs out: tells the server to remove this companion, then closes with 401.
    pub async fn logout(&self) -> Result<(), ClientError> {
        // As Baileys: the request is written, not awaited (the server ends the stream at once).
        let farewell = self.me().ok().map(|me| {
            Node::new("iq")
                .attr("to", S_WHATSAPP_NET)
                .attr("type", "set")
                .attr("id", nodes::message_id(None, crate::ctx::now_ms() / 1000))
                .attr("xmlns", "md")
                .children(vec![
                    Node::new("remove-companion-device")
                        .attr("jid", me.pn.to_string())
                        .attr("reason", "user_initiated"),
                ])
        });
        self.close_with(Disconnect::logged_out(), farewell);
        Ok(())
    }
}

/// The node without its `id` (the driver gives it a fresh tag).
fn without_id(node: Node) -> Node {
    Node {
        attrs: node.attrs.into_iter().filter(|(k, _)| k != "id").collect(),
        ..node
    }
}
