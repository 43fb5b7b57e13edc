//! The simulated primary phone of an account (device 0): real Signal keys, a published
//! prekey bundle, sessions with every device that writes to it, an inbox of what it
//! decrypted, and the messages it sent (kept for retry receipts).
//!
//! Signal runs through `wa-signal`'s operations over its in-memory store. Those are async
//! over store traits, but the in-memory store never waits, so each call completes on its
//! first poll ([`now_or_never`]); the server core stays synchronous and deterministic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::task::{Context, Poll, Waker};

use wa_crypto::KeyPair;
use wa_crypto::curve;
use wa_signal::protocol;
use wa_signal::store::StoreCommit;
use wa_signal::{
    Batch, Encrypted, GroupEncrypted, LocalIdentity, MemoryStore, MessageKind, PreKeyBundle,
    ProtocolAddress, SenderKeyName, SignedPreKey,
};

use crate::inbox::InboxMessage;
use crate::seed::Seed;

/// Polls a future once. `None` if it would wait (which the in-memory store never does).
pub(crate) fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// One device's published keys, as a key fetch or a retry receipt carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub signed_pre_key_id: u32,
    pub signed_pre_key: [u8; 32],
    pub signed_pre_key_signature: Vec<u8>,
    pub pre_key: Option<(u32, [u8; 32])>,
}

impl Bundle {
    /// The bundle in `wa-signal`'s form (33-byte prefixed keys, as libsignal hands them over).
    pub fn to_signal(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            identity_key: curve::prefix_public(&self.identity).to_vec(),
            signed_pre_key_id: self.signed_pre_key_id,
            signed_pre_key: curve::prefix_public(&self.signed_pre_key).to_vec(),
            signed_pre_key_signature: self.signed_pre_key_signature.clone(),
            pre_key: self
                .pre_key
                .map(|(id, k)| (id, curve::prefix_public(&k).to_vec())),
        }
    }
}

/// What the phone sent, kept so a retry receipt can be answered by encrypting it again.
#[derive(Debug, Clone)]
pub(crate) struct PhoneSent {
    /// The chat the message went to.
    pub chat: String,
    /// The padded plaintext for the recipient's devices.
    pub plaintext: Vec<u8>,
    /// The padded plaintext for the account's own companions (a DeviceSentMessage).
    pub dsm_plaintext: Vec<u8>,
    pub timestamp: u64,
    pub retries: HashMap<String, u32>,
}

/// A receipt the phone got for something it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneReceipt {
    pub id: String,
    /// The device that sent the receipt.
    pub from: String,
    /// `delivery`, `read`, `played`, ...
    pub kind: String,
}

/// How the phone answers a media retry request (`<receipt type="server-error">`) for a
/// message it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaRetryAnswer {
    /// Upload the file again under a new direct path and answer SUCCESS (NOT_FOUND when the
    /// host never had the file).
    #[default]
    Reupload,
    /// Answer with this `MediaRetryNotification.ResultType` and no path (0 GENERAL_ERROR,
    /// 2 NOT_FOUND, 3 DECRYPTION_ERROR).
    Result(i32),
    /// Answer with `<error code=N/>` in place of the encrypted notification.
    ErrorNode(u32),
    /// Answer with an `<encrypt>` that does not decrypt (random bytes).
    Forged,
    /// Answer with a notification that has neither `<encrypt>` nor `<rmr>`.
    Garbled,
}

impl MediaRetryAnswer {
    /// From its name: `reupload`, `not_found`, `general_error`, `decryption_error` (results),
    /// `error` (with `code`, 2 by default), `forged`, `garbled`.
    pub fn parse(name: &str, code: Option<u32>) -> crate::error::Result<Self> {
        Ok(match name {
            "reupload" | "success" => Self::Reupload,
            "general_error" => Self::Result(0),
            "not_found" => Self::Result(2),
            "decryption_error" => Self::Result(3),
            "error" => Self::ErrorNode(code.unwrap_or(2)),
            "forged" => Self::Forged,
            "garbled" => Self::Garbled,
            other => {
                return Err(crate::error::TestServerError::BadOption(format!(
                    "media retry answer {other:?} (reupload, not_found, general_error, decryption_error, error, forged, garbled)"
                )));
            }
        })
    }
}

pub struct Phone {
    pub(crate) registration_id: u32,
    signed: SignedPreKey,
    store: MemoryStore,
    published: BTreeMap<u32, [u8; 32]>,
    next_pre_key: u32,
    batch: u32,
    pub(crate) inbox: Vec<InboxMessage>,
    pub(crate) sent: HashMap<String, PhoneSent>,
    pub(crate) receipts: Vec<PhoneReceipt>,
    pub(crate) decrypt_failures: u64,
    pub(crate) media_retry: MediaRetryAnswer,
    /// Per group JID: the devices (number, device id) that hold the phone's current sender key
    /// there, so only new devices get a distribution message (Baileys' `sender-key-memory`).
    pub(crate) sender_key_memory: HashMap<String, BTreeSet<(String, u16)>>,
}

impl Phone {
    /// Keeps a message the phone opened, with the envelope's id, time (or `now`) and push
    /// name. A message that only carried a sender key has nothing to show: `false`.
    pub(crate) fn keep(
        &mut self,
        envelope: &wa_binary::Node,
        chat: String,
        from_me: bool,
        participant: String,
        message: wa_proto::Message,
        now: u64,
    ) -> bool {
        if message == wa_proto::Message::default() {
            return false;
        }
        self.inbox.push(InboxMessage {
            id: envelope.get_attr("id").unwrap_or_default().to_owned(),
            remote_jid: chat,
            from_me,
            participant,
            timestamp: envelope
                .get_attr("t")
                .and_then(|t| t.parse().ok())
                .unwrap_or(now / 1000),
            push_name: envelope.get_attr("notify").map(str::to_owned),
            message,
        });
        true
    }

    /// The phone of the account `label`; its identity is the account key.
    pub fn new(seed: &Seed, label: &str, identity: &KeyPair, batch: u32) -> Self {
        let registration_id = 1 + seed.number(&format!("{label} registration"), 0x3ffe) as u32;
        let spk = seed.key_pair(&format!("{label} signed prekey"));
        let signature = curve::sign(&identity.private, &spk.public_prefixed());
        let signed = SignedPreKey {
            id: 1,
            key_pair: spk,
            signature,
        };
        let store = MemoryStore::new(LocalIdentity::new(identity.clone(), registration_id));
        store.add_signed_pre_key(signed.id, signed.key_pair.clone());
        let mut phone = Self {
            registration_id,
            signed,
            store,
            published: BTreeMap::new(),
            next_pre_key: 1,
            batch: batch.max(1),
            inbox: Vec::new(),
            sent: HashMap::new(),
            receipts: Vec::new(),
            decrypt_failures: 0,
            media_retry: MediaRetryAnswer::default(),
            sender_key_memory: HashMap::new(),
        };
        phone.top_up();
        phone
    }

    fn top_up(&mut self) {
        if self.published.len() as u32 > self.batch / 4 {
            return;
        }
        for _ in 0..self.batch {
            let id = self.next_pre_key;
            self.next_pre_key = if self.next_pre_key >= 0x00ff_ffff {
                1
            } else {
                self.next_pre_key + 1
            };
            let kp = KeyPair::generate();
            self.published.insert(id, kp.public);
            self.store.add_pre_key(id, kp);
        }
    }

    /// One-time prekeys still published.
    pub fn published_pre_keys(&self) -> usize {
        self.published.len()
    }

    /// The bundle a key fetch hands out; consumes one one-time prekey.
    pub fn take_bundle(&mut self, identity: &[u8; 32]) -> Bundle {
        let pre_key = self.take_pre_key();
        Bundle {
            registration_id: self.registration_id,
            identity: *identity,
            signed_pre_key_id: self.signed.id,
            signed_pre_key: self.signed.key_pair.public,
            signed_pre_key_signature: self.signed.signature.to_vec(),
            pre_key,
        }
    }

    /// A one-time prekey taken off the published list (for a retry receipt's keys).
    pub fn take_pre_key(&mut self) -> Option<(u32, [u8; 32])> {
        self.top_up();
        let first = self.published.keys().next().copied();
        first.and_then(|id| self.published.remove(&id).map(|k| (id, k)))
    }

    pub fn has_session(&self, address: &ProtocolAddress) -> bool {
        self.store
            .session(address)
            .is_some_and(|r| r.has_open_session())
    }

    /// Starts a session from a device's bundle.
    pub fn install_bundle(
        &self,
        address: &ProtocolAddress,
        bundle: &PreKeyBundle,
        now_ms: u64,
    ) -> Result<(), String> {
        now_or_never(protocol::process_bundle(
            &self.store,
            address,
            bundle,
            now_ms as i64,
        ))
        .ok_or_else(|| "store pending".to_owned())?
        .map_err(|e| e.to_string())
    }

    pub fn encrypt(
        &self,
        address: &ProtocolAddress,
        plaintext: &[u8],
    ) -> Result<Encrypted, String> {
        now_or_never(protocol::encrypt(&self.store, address, plaintext))
            .ok_or_else(|| "store pending".to_owned())?
            .map_err(|e| e.to_string())
    }

    pub fn decrypt(
        &self,
        address: &ProtocolAddress,
        kind: MessageKind,
        ciphertext: &[u8],
        now_ms: u64,
    ) -> Result<Vec<u8>, String> {
        now_or_never(protocol::decrypt(
            &self.store,
            address,
            kind,
            ciphertext,
            now_ms as i64,
        ))
        .ok_or_else(|| "store pending".to_owned())?
        .map(|d| d.plaintext)
        .map_err(|e| e.to_string())
    }

    pub fn signed_pre_key(&self) -> &SignedPreKey {
        &self.signed
    }

    /// Encrypts with the phone's own sender key `name` (made on first use); the ciphertext and
    /// the distribution message that lets members decrypt it.
    pub fn group_encrypt(
        &self,
        name: &SenderKeyName,
        plaintext: &[u8],
    ) -> Result<GroupEncrypted, String> {
        now_or_never(protocol::group_encrypt(&self.store, name, plaintext))
            .ok_or_else(|| "store pending".to_owned())?
            .map_err(|e| e.to_string())
    }

    /// The distribution message of the phone's own sender key `name` (made on first use).
    pub fn group_distribution(&self, name: &SenderKeyName) -> Result<Vec<u8>, String> {
        now_or_never(protocol::group_distribution(&self.store, name))
            .ok_or_else(|| "store pending".to_owned())?
            .map_err(|e| e.to_string())
    }

    /// Forgets the sender key `name` (the phone's own: the next send makes a new one; another
    /// device's: the next message from it cannot be decrypted until it sends its key again).
    pub fn drop_sender_key(&self, name: &SenderKeyName) {
        let batch = Batch {
            sender_keys: vec![(name.clone(), None)],
            ..Batch::default()
        };
        if now_or_never(self.store.commit(batch)).is_none() {
            tracing::debug!("phone store pending while dropping a sender key");
        }
    }

    /// Whether the phone holds a sender key `name`.
    pub fn has_sender_key(&self, name: &SenderKeyName) -> bool {
        self.store.sender_key(name).is_some_and(|r| !r.is_empty())
    }

    /// Takes in another device's sender key (`SenderKeyDistributionMessage`).
    pub fn group_process_distribution(
        &self,
        name: &SenderKeyName,
        message: &[u8],
    ) -> Result<(), String> {
        now_or_never(protocol::group_process_distribution(
            &self.store,
            name,
            message,
        ))
        .ok_or_else(|| "store pending".to_owned())?
        .map_err(|e| e.to_string())
    }

    /// Takes the `senderKeyDistributionMessage` out of `message` (what is left is the content)
    /// and keeps the sender key of `author` in the group it names. With `chat` given, a key for
    /// another group is ignored: a member may only hand out its key in the group it writes to.
    /// A key that does not parse is dropped (the next skmsg then asks for it again).
    pub fn accept_distribution(
        &self,
        author: &ProtocolAddress,
        message: &mut wa_proto::Message,
        chat: Option<&str>,
    ) {
        let Some(skdm) = message.sender_key_distribution_message.take() else {
            return;
        };
        let (Some(group), Some(body)) =
            (skdm.group_id, skdm.axolotl_sender_key_distribution_message)
        else {
            return;
        };
        let is_group_chat =
            wa_binary::Jid::parse(&group).is_ok_and(|j| j.is_group() || j.is_status_broadcast());
        if !is_group_chat || chat.is_some_and(|c| c != group) {
            return;
        }
        let name = SenderKeyName::new(group, author.clone());
        if let Err(e) = self.group_process_distribution(&name, &body) {
            tracing::debug!(error = %e, "phone dropped a sender key distribution");
        }
    }

    /// Decrypts a sender-key message from `name` (a member device in a group).
    pub fn group_decrypt(
        &self,
        name: &SenderKeyName,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, String> {
        now_or_never(protocol::group_decrypt(&self.store, name, ciphertext))
            .ok_or_else(|| "store pending".to_owned())?
            .map_err(|e| e.to_string())
    }
}

/// Appends WhatsApp's random padding: 1..=16 bytes, each the pad length.
pub fn pad(mut message: Vec<u8>) -> Vec<u8> {
    let [r]: [u8; 1] = wa_crypto::random_bytes();
    let n = (r & 0x0f) + 1;
    message.extend(std::iter::repeat_n(n, usize::from(n)));
    message
}

/// Removes the padding; `None` when the last byte claims more than there is.
pub fn unpad(data: &[u8]) -> Option<&[u8]> {
    let n = usize::from(*data.last()?);
    if n == 0 || n > data.len() {
        return None;
    }
    Some(&data[..data.len() - n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_refuses_lies() {
        for _ in 0..50 {
            let p = pad(vec![1, 2, 3]);
            assert!((4..=19).contains(&p.len()));
            assert_eq!(unpad(&p), Some(&[1u8, 2, 3][..]));
        }
        assert_eq!(unpad(&[]), None);
        assert_eq!(unpad(&[1, 9]), None);
        assert_eq!(unpad(&[1, 0]), None);
    }

    #[test]
    fn two_phones_talk() {
        let seed = Seed::new([7; 32]);
        let a_id = seed.key_pair("a");
        let b_id = seed.key_pair("b");
        let mut a = Phone::new(&seed, "a", &a_id, 8);
        let b = Phone::new(&seed, "b", &b_id, 8);
        let a_addr = ProtocolAddress::new("111", 0).unwrap();
        let b_addr = ProtocolAddress::new("222", 0).unwrap();
        let bundle = a.take_bundle(&a_id.public);
        assert_eq!(a.published_pre_keys(), 7);
        b.install_bundle(&a_addr, &bundle.to_signal(), 1).unwrap();
        assert!(b.has_session(&a_addr));
        let e = b.encrypt(&a_addr, b"hello").unwrap();
        assert_eq!(e.kind, MessageKind::PreKey);
        let plain = a.decrypt(&b_addr, e.kind, &e.body, 2).unwrap();
        assert_eq!(plain, b"hello");
        let back = a.encrypt(&b_addr, b"hi back").unwrap();
        assert_eq!(back.kind, MessageKind::Whisper);
        assert_eq!(
            b.decrypt(&a_addr, back.kind, &back.body, 3).unwrap(),
            b"hi back"
        );
        // the same seed gives the same registration id and signed prekey
        let again = Phone::new(&seed, "a", &a_id, 8);
        assert_eq!(again.registration_id, a.registration_id);
        assert_eq!(again.signed.key_pair.public, a.signed.key_pair.public);
    }

    #[test]
    fn prekeys_top_up() {
        let seed = Seed::new([1; 32]);
        let id = seed.key_pair("x");
        let mut p = Phone::new(&seed, "x", &id, 8);
        let mut ids = std::collections::HashSet::new();
        for _ in 0..40 {
            let b = p.take_bundle(&id.public);
            assert!(ids.insert(b.pre_key.unwrap().0), "prekey ids never repeat");
        }
    }
}
