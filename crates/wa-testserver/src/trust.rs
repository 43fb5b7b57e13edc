//! The server's own trust root: a root key, an intermediate certificate signed by it and a
//! leaf for the server's Noise static key, so a client that checks the chain trusts this
//! server when it is given the root's public key instead of WhatsApp's.

use wa_crypto::KeyPair;
use wa_noise::{MintOptions, mint_chain_with};

use crate::seed::Seed;

/// Root, server static key and the encoded `CertChain` the server sends in its ServerHello.
#[derive(Clone)]
pub struct TrustRoot {
    root: KeyPair,
    static_key: KeyPair,
    chain: Vec<u8>,
}

impl TrustRoot {
    /// Everything derived from the seed.
    pub fn from_seed(seed: &Seed) -> Self {
        let root = seed.key_pair("trust root");
        let intermediate = seed.key_pair("trust intermediate");
        let static_key = seed.key_pair("noise static");
        let chain = mint_chain_with(
            &root,
            &intermediate,
            &static_key.public,
            &MintOptions::default(),
        )
        .encode();
        Self {
            root,
            static_key,
            chain,
        }
    }

    /// The key clients must trust (in place of WhatsApp's `WA_CERT_ROOT`).
    pub fn root_public(&self) -> [u8; 32] {
        self.root.public
    }

    pub fn static_key(&self) -> &KeyPair {
        &self.static_key
    }

    /// The encoded `CertChain`.
    pub fn chain(&self) -> &[u8] {
        &self.chain
    }
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}
