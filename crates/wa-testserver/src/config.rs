//! What a test server is started with. Every field has WhatsApp's value (or a sensible one for
//! tests) by default; tests shorten timers to keep their virtual clocks small.

/// How a group names its members, in participant lists, notifications and messages
/// (`addressing_mode`): their LIDs (with `phone_number` beside them) or their phone numbers
/// (with `lid`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum GroupAddressing {
    #[default]
    Lid,
    Pn,
}

impl GroupAddressing {
    /// The `addressing_mode` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupAddressing::Lid => "lid",
            GroupAddressing::Pn => "pn",
        }
    }
}

/// Configuration of a [`crate::Server`] (and of [`crate::TestServer`], which drives one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Everything long-lived (the trust root, the server's static key, each account's phone
    /// identity, LID and registration id) is derived from this seed, so a server started
    /// again with the same seed has the same root key and the same phones. `None` draws one.
    pub seed: Option<[u8; 32]>,
    /// A connection that has not finished the Noise handshake by then is closed.
    pub handshake_timeout_ms: u64,
    /// How long the first pairing ref lives (WhatsApp: 60 s).
    pub qr_first_ttl_ms: u64,
    /// How long each later ref lives (WhatsApp: 20 s).
    pub qr_next_ttl_ms: u64,
    /// How many refs one `pair-device` carries (WhatsApp: 6).
    pub qr_ref_count: usize,
    /// How long the server waits for the companion's `pair-device-sign` after `pair-success`.
    pub pairing_timeout_ms: u64,
    /// One-time prekeys each simulated phone publishes at a time; it tops up below a quarter.
    pub phone_pre_keys: u32,
    /// How groups created from now on address their members: by LID (WhatsApp's default for
    /// new groups, and what Baileys 7 assumes) or by phone number, as older groups do.
    pub group_addressing: GroupAddressing,
    /// What the `media_conn` IQ names as media host. [`crate::TestServer`] replaces it with
    /// its own HTTPS media host (`127.0.0.1:PORT`).
    pub media_host: String,
    /// The largest upload the media host takes (`maxContentLengthBytes`; larger: HTTP 413).
    pub media_max_bytes: u64,
    /// How long an upload `auth` from `media_conn` is accepted (`auth_ttl`, WhatsApp: 6 h).
    pub media_auth_ttl_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            seed: None,
            handshake_timeout_ms: 20_000,
            qr_first_ttl_ms: 60_000,
            qr_next_ttl_ms: 20_000,
            qr_ref_count: 6,
            pairing_timeout_ms: 30_000,
            phone_pre_keys: 50,
            group_addressing: GroupAddressing::Lid,
            media_host: "mmg.localhost".to_owned(),
            media_max_bytes: 104_857_600,
            media_auth_ttl_ms: 21_600_000,
        }
    }
}

impl ServerConfig {
    /// The default configuration with a seed made from any bytes (SHA-256 of them).
    pub fn seeded(seed: impl AsRef<[u8]>) -> Self {
        Self {
            seed: Some(wa_crypto::hash::sha256(seed.as_ref())),
            ..Self::default()
        }
    }

    /// The time after the `pair-device` IQ at which ref `i` stops being valid.
    pub fn ref_expiry(&self, i: usize) -> u64 {
        if i == 0 {
            self.qr_first_ttl_ms
        } else {
            self.qr_first_ttl_ms + self.qr_next_ttl_ms * i as u64
        }
    }
}
