//! The server's certificate chain: a root key (WhatsApp's, pinned in every client) signs an
//! intermediate certificate, whose key signs the leaf, whose key is the server's Noise static
//! key. Certificates are protobufs: `details` (serial, issuer serial, key, validity) and a
//! 64-byte XEdDSA signature over the encoded details.
use wa_crypto::KeyPair;
use wa_crypto::curve;
use wa_proto::cert_chain::NoiseCertificate;
use wa_proto::cert_chain::noise_certificate::Details;
use wa_proto::{CertChain, ProtoMessage};

use crate::CertError;

/// WhatsApp's root public key (Curve25519, no type prefix).
pub const WA_CERT_ROOT: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];
/// The serial of the root; an intermediate must name it as its issuer.
pub const ROOT_SERIAL: u32 = 0;

/// What a verified chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    pub intermediate_serial: u32,
    pub leaf_serial: u32,
    pub intermediate_key: [u8; 32],
}

fn signature_of<'a>(
    cert: &'a NoiseCertificate,
    which: &'static str,
) -> Result<(&'a [u8], &'a [u8]), CertError> {
    let details = cert.details.as_deref().ok_or(CertError::Missing(which))?;
    let sig = cert.signature.as_deref().ok_or(CertError::Missing(which))?;
    if sig.len() != 64 {
        return Err(CertError::SignatureLength {
            which,
            got: sig.len(),
        });
    }
    Ok((details, sig))
}

fn check_time(d: &Details, which: &'static str, now: u64) -> Result<(), CertError> {
    if let Some(not_before) = d.not_before
        && now < not_before
    {
        return Err(CertError::NotYetValid {
            which,
            not_before,
            now,
        });
    }
    if let Some(not_after) = d.not_after
        && now > not_after
    {
        return Err(CertError::Expired {
            which,
            not_after,
            now,
        });
    }
    Ok(())
}

/// Verifies an encoded `CertChain` for a server whose static key is `server_static`, against
/// `root` (normally [`WA_CERT_ROOT`]), at `now` (Unix seconds). Checks, in order: both parts
/// present with 64-byte signatures; the intermediate signed by the root; its issuer is the
/// root serial and its key is 32 bytes; the leaf signed by the intermediate's key; the leaf's
/// issuer serial is the intermediate's serial; the leaf key is the server static key; each
/// certificate within its validity times where it states them.
pub fn verify_chain(
    encoded: &[u8],
    server_static: &[u8; 32],
    root: &[u8; 32],
    now: u64,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(encoded).map_err(|_| CertError::ChainDecode)?;
    let intermediate = chain
        .intermediate
        .as_ref()
        .ok_or(CertError::Missing("intermediate"))?;
    let leaf = chain.leaf.as_ref().ok_or(CertError::Missing("leaf"))?;
    let (int_raw, int_sig) = signature_of(intermediate, "intermediate")?;
    let (leaf_raw, leaf_sig) = signature_of(leaf, "leaf")?;

    if !curve::verify(root, int_raw, int_sig) {
        return Err(CertError::UntrustedIntermediate);
    }
    let int = Details::decode(int_raw).map_err(|_| CertError::DetailsDecode("intermediate"))?;
    let issuer = int.issuer_serial.unwrap_or(0);
    if issuer != ROOT_SERIAL {
        return Err(CertError::IntermediateIssuer {
            got: issuer,
            expected: ROOT_SERIAL,
        });
    }
    let int_key: [u8; 32] = int
        .key
        .as_deref()
        .unwrap_or_default()
        .try_into()
        .map_err(|_| CertError::IntermediateKeyLength(int.key.as_ref().map_or(0, Vec::len)))?;

    if !curve::verify(&int_key, leaf_raw, leaf_sig) {
        return Err(CertError::LeafSignature);
    }
    let lf = Details::decode(leaf_raw).map_err(|_| CertError::DetailsDecode("leaf"))?;
    let int_serial = int.serial.unwrap_or(0);
    let leaf_issuer = lf.issuer_serial.unwrap_or(0);
    if leaf_issuer != int_serial {
        return Err(CertError::IssuerSerialMismatch {
            got: leaf_issuer,
            expected: int_serial,
        });
    }
    if !wa_crypto::mac::ct_eq(lf.key.as_deref().unwrap_or_default(), server_static) {
        return Err(CertError::LeafKeyMismatch);
    }
    check_time(&int, "intermediate", now)?;
    check_time(&lf, "leaf", now)?;
    Ok(VerifiedChain {
        intermediate_serial: int_serial,
        leaf_serial: lf.serial.unwrap_or(0),
        intermediate_key: int_key,
    })
}

/// Signs `details` with `signer` into a certificate.
pub fn sign_certificate(details: &Details, signer: &KeyPair) -> NoiseCertificate {
    let raw = details.encode_to_vec();
    let signature = curve::sign(&signer.private, &raw).to_vec();
    NoiseCertificate {
        details: Some(raw),
        signature: Some(signature),
    }
}

/// Parameters of a minted chain. Serials and validity default to what WhatsApp's servers use
/// in shape: issuer serials set explicitly (also when 0, see PROTOCOL-NOTES), no validity
/// window unless asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintOptions {
    pub intermediate_serial: u32,
    pub leaf_serial: u32,
    pub not_before: Option<u64>,
    pub not_after: Option<u64>,
}

impl Default for MintOptions {
    fn default() -> Self {
        Self {
            intermediate_serial: 1,
            leaf_serial: 2,
            not_before: None,
            not_after: None,
        }
    }
}

/// A root, an intermediate and a leaf for a test server.
#[derive(Debug, Clone)]
pub struct MintedChain {
    pub intermediate_key: KeyPair,
    pub chain: CertChain,
}

impl MintedChain {
    pub fn encode(&self) -> Vec<u8> {
        self.chain.encode_to_vec()
    }
}

/// Mints a chain under `root` for a server whose static public key is `server_static`. The
/// intermediate key is fresh.
pub fn mint_chain(root: &KeyPair, server_static: &[u8; 32], opts: &MintOptions) -> MintedChain {
    mint_chain_with(root, &KeyPair::generate(), server_static, opts)
}

/// [`mint_chain`] with a given intermediate key (deterministic tests).
pub fn mint_chain_with(
    root: &KeyPair,
    intermediate_key: &KeyPair,
    server_static: &[u8; 32],
    opts: &MintOptions,
) -> MintedChain {
    let intermediate = sign_certificate(
        &Details {
            serial: Some(opts.intermediate_serial),
            issuer_serial: Some(ROOT_SERIAL),
            key: Some(intermediate_key.public.to_vec()),
            not_before: opts.not_before,
            not_after: opts.not_after,
        },
        root,
    );
    let leaf = sign_certificate(
        &Details {
            serial: Some(opts.leaf_serial),
            issuer_serial: Some(opts.intermediate_serial),
            key: Some(server_static.to_vec()),
            not_before: opts.not_before,
            not_after: opts.not_after,
        },
        intermediate_key,
    );
    MintedChain {
        intermediate_key: intermediate_key.clone(),
        chain: CertChain {
            leaf: Some(leaf),
            intermediate: Some(intermediate),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn setup() -> (KeyPair, KeyPair, KeyPair) {
        (
            KeyPair::from_private([1; 32]),
            KeyPair::from_private([2; 32]),
            KeyPair::from_private([3; 32]),
        )
    }

    fn reencode(chain: &CertChain) -> Vec<u8> {
        chain.encode_to_vec()
    }

    #[test]
    fn minted_chain_verifies() {
        let (root, int, server) = setup();
        let m = mint_chain_with(&root, &int, &server.public, &MintOptions::default());
        let v = verify_chain(&m.encode(), &server.public, &root.public, NOW).unwrap();
        assert_eq!(v.intermediate_serial, 1);
        assert_eq!(v.leaf_serial, 2);
        assert_eq!(v.intermediate_key, int.public);
    }

    #[test]
    fn issuer_serial_zero_is_on_the_wire() {
        // Baileys compares the intermediate's issuerSerial with === 0; an absent field decodes
        // as null there, so it must be encoded explicitly.
        let (root, int, server) = setup();
        let m = mint_chain_with(&root, &int, &server.public, &MintOptions::default());
        let raw = m
            .chain
            .intermediate
            .as_ref()
            .unwrap()
            .details
            .as_ref()
            .unwrap();
        assert!(
            raw.windows(2).any(|w| w == [0x10, 0x00]),
            "field 2 varint 0 present"
        );
    }

    #[test]
    fn each_check_has_its_own_error() {
        let (root, int, server) = setup();
        let other = KeyPair::from_private([9; 32]);
        let good = mint_chain_with(&root, &int, &server.public, &MintOptions::default());
        let v = |bytes: &[u8]| verify_chain(bytes, &server.public, &root.public, NOW);

        assert_eq!(v(b"\xff\xff"), Err(CertError::ChainDecode));
        let mut c = good.chain.clone();
        c.leaf = None;
        assert_eq!(v(&reencode(&c)), Err(CertError::Missing("leaf")));

        let mut c = good.chain.clone();
        c.intermediate
            .as_mut()
            .unwrap()
            .signature
            .as_mut()
            .unwrap()
            .pop();
        assert_eq!(
            v(&reencode(&c)),
            Err(CertError::SignatureLength {
                which: "intermediate",
                got: 63
            })
        );

        // another root
        let foreign = mint_chain_with(&other, &int, &server.public, &MintOptions::default());
        assert_eq!(v(&foreign.encode()), Err(CertError::UntrustedIntermediate));

        // a leaf from another intermediate
        let other_int = mint_chain_with(&root, &other, &server.public, &MintOptions::default());
        let mut c = good.chain.clone();
        c.leaf = other_int.chain.leaf.clone();
        assert_eq!(v(&reencode(&c)), Err(CertError::LeafSignature));

        // a properly signed leaf for another server key
        let swapped = mint_chain_with(&root, &int, &other.public, &MintOptions::default());
        assert_eq!(v(&swapped.encode()), Err(CertError::LeafKeyMismatch));

        // wrong issuer serial on the leaf
        let mut c = good.chain.clone();
        c.leaf = Some(sign_certificate(
            &Details {
                serial: Some(2),
                issuer_serial: Some(7),
                key: Some(server.public.to_vec()),
                ..Default::default()
            },
            &int,
        ));
        assert_eq!(
            v(&reencode(&c)),
            Err(CertError::IssuerSerialMismatch {
                got: 7,
                expected: 1
            })
        );

        // intermediate that claims another issuer than the root
        let mut c = good.chain.clone();
        c.intermediate = Some(sign_certificate(
            &Details {
                serial: Some(1),
                issuer_serial: Some(5),
                key: Some(int.public.to_vec()),
                ..Default::default()
            },
            &root,
        ));
        assert_eq!(
            v(&reencode(&c)),
            Err(CertError::IntermediateIssuer {
                got: 5,
                expected: 0
            })
        );

        // intermediate with a short key
        let mut c = good.chain.clone();
        c.intermediate = Some(sign_certificate(
            &Details {
                serial: Some(1),
                issuer_serial: Some(0),
                key: Some(vec![1; 31]),
                ..Default::default()
            },
            &root,
        ));
        assert_eq!(v(&reencode(&c)), Err(CertError::IntermediateKeyLength(31)));

        // details that are not a protobuf, properly signed
        let mut c = good.chain.clone();
        let junk = vec![0xff, 0xff, 0xff];
        c.intermediate = Some(NoiseCertificate {
            signature: Some(curve::sign(&root.private, &junk).to_vec()),
            details: Some(junk),
        });
        assert_eq!(
            v(&reencode(&c)),
            Err(CertError::DetailsDecode("intermediate"))
        );
    }

    #[test]
    fn validity_times() {
        let (root, int, server) = setup();
        let opts = MintOptions {
            not_before: Some(NOW - 10),
            not_after: Some(NOW + 10),
            ..Default::default()
        };
        let m = mint_chain_with(&root, &int, &server.public, &opts).encode();
        assert!(verify_chain(&m, &server.public, &root.public, NOW).is_ok());
        assert_eq!(
            verify_chain(&m, &server.public, &root.public, NOW - 11),
            Err(CertError::NotYetValid {
                which: "intermediate",
                not_before: NOW - 10,
                now: NOW - 11
            })
        );
        assert_eq!(
            verify_chain(&m, &server.public, &root.public, NOW + 11),
            Err(CertError::Expired {
                which: "intermediate",
                not_after: NOW + 10,
                now: NOW + 11
            })
        );
    }
}
