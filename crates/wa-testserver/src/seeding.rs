//! Accounts made in bulk, for benchmarks of big groups: each with its simulated phone and
//! `devices - 1` silent companions. A silent companion has real keys (an identity, a signed
//! prekey and one-time prekeys, so a sender can start a Signal session with it) but no
//! connection and no queue: what is routed to it is counted and dropped, so a benchmark
//! measures the sender, not the server holding thousands of undeliverable stanzas. The phone
//! of a seeded account is silent too: it would otherwise open every group message it is sent
//! (a session setup each) and answer with a receipt, work that belongs to neither side of a
//! benchmark of the sender.

use std::collections::BTreeMap;

use wa_crypto::curve;

use crate::account::{Companion, SignedKey};
use crate::error::{Result, TestServerError};
use crate::state::State;

/// One-time prekeys each silent companion publishes: the first session needs one.
const SILENT_PRE_KEYS: u32 = 2;

/// Most accounts one call makes (a guard against a typo costing minutes of key generation).
pub const MAX_SEEDED: usize = 20_000;

/// Makes `count` accounts numbered `{prefix}{index:06}` with `devices` devices each (the phone
/// and `devices - 1` silent companions); returns their phone-number user JIDs. Accounts that
/// exist already are reused, and get companions up to `devices`.
pub(crate) fn seed_accounts(
    state: &mut State,
    prefix: &str,
    count: usize,
    devices: u16,
    now: u64,
) -> Result<Vec<String>> {
    if count > MAX_SEEDED || devices == 0 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TestServerError::BadOption(format!(
            "seed accounts: 1..={MAX_SEEDED} accounts, at least one device, a numeric prefix \
             (got {count}, {devices}, {prefix:?})"
        )));
    }
    let seed = state.seed.clone();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let number = format!("{prefix}{i:06}");
        let mut silent = Vec::new();
        let account = state.ensure_account(&number, Some(&format!("Member {i}")))?;
        while (account.companions.len() as u16) + 1 < devices {
            let (device, key_index) = account.allocate_device();
            let label = format!("silent {number} {device}");
            let identity = seed.key_pair(&format!("{label} identity"));
            let spk = seed.key_pair(&format!("{label} signed prekey"));
            let signature = curve::sign(&identity.private, &spk.public_prefixed()).to_vec();
            let pre_keys: BTreeMap<u32, [u8; 32]> = (1..=SILENT_PRE_KEYS)
                .map(|id| (id, seed.key_pair(&format!("{label} prekey {id}")).public))
                .collect();
            account.companions.insert(
                device,
                Companion {
                    device,
                    key_index,
                    noise_key: seed.bytes(&format!("{label} noise")),
                    identity: identity.public,
                    registration_id: 1 + seed.number(&format!("{label} registration"), 0x3ffe)
                        as u32,
                    signed_pre_key: SignedKey {
                        id: 1,
                        public: spk.public,
                        signature,
                    },
                    pre_keys,
                    adv: Vec::new(),
                    platform: "silent".to_owned(),
                    paired_at: now,
                    uploaded_total: u64::from(SILENT_PRE_KEYS),
                },
            );
            account.devices_changed = now / 1000;
            silent.push(crate::state::DeviceAddr {
                number: number.clone(),
                device,
            });
        }
        silent.push(crate::state::DeviceAddr {
            number: number.clone(),
            device: 0,
        });
        state.silent.extend(silent);
        out.push(format!("{number}@s.whatsapp.net"));
    }
    Ok(out)
}
