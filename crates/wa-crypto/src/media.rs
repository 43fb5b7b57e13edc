//! Media encryption: the 32-byte `mediaKey` of a message expands (HKDF-SHA256, no salt, an info
//! string per media type) into 112 bytes: `iv` 0..16, `cipherKey` 16..48, `macKey` 48..80,
//! `refKey` 80..112. The file is AES-256-CBC (PKCS#7) under `cipherKey`/`iv`, followed by the
//! first 10 bytes of HMAC-SHA256(macKey, iv || ciphertext).
//!
//! The one-shot functions suit messages held in memory; [`MediaEncryptor`] and
//! [`MediaDecryptor`] process a file chunk by chunk with constant memory.
use aes::Aes256;
use cbc::cipher::array::Array;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::CryptoError;

/// Length of the truncated HMAC appended to an encrypted media file.
pub const MEDIA_MAC_LEN: usize = 10;
/// Length of the expanded media key material.
pub const MEDIA_KEYS_LEN: usize = 112;
const BLOCK: usize = 16;

/// The media types WhatsApp distinguishes when expanding a media key. Several share an info
/// string (a sticker is expanded as an image, a voice note as audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Gif,
    Ptt,
    Ptv,
    Product,
    ProductCatalogImage,
    ProfilePicture,
    ThumbnailDocument,
    ThumbnailImage,
    ThumbnailVideo,
    ThumbnailLink,
    History,
    AppState,
    PaymentBackground,
    BizCoverPhoto,
}

impl MediaType {
    /// Every type, for tables and tests.
    pub const ALL: [MediaType; 19] = [
        Self::Image,
        Self::Video,
        Self::Audio,
        Self::Document,
        Self::Sticker,
        Self::Gif,
        Self::Ptt,
        Self::Ptv,
        Self::Product,
        Self::ProductCatalogImage,
        Self::ProfilePicture,
        Self::ThumbnailDocument,
        Self::ThumbnailImage,
        Self::ThumbnailVideo,
        Self::ThumbnailLink,
        Self::History,
        Self::AppState,
        Self::PaymentBackground,
        Self::BizCoverPhoto,
    ];

    /// The name Baileys uses for the type (`MediaType` in its typings).
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Gif => "gif",
            Self::Ptt => "ptt",
            Self::Ptv => "ptv",
            Self::Product => "product",
            Self::ProductCatalogImage => "product-catalog-image",
            Self::ProfilePicture => "ppic",
            Self::ThumbnailDocument => "thumbnail-document",
            Self::ThumbnailImage => "thumbnail-image",
            Self::ThumbnailVideo => "thumbnail-video",
            Self::ThumbnailLink => "thumbnail-link",
            Self::History => "md-msg-hist",
            Self::AppState => "md-app-state",
            Self::PaymentBackground => "payment-bg-image",
            Self::BizCoverPhoto => "biz-cover-photo",
        }
    }

    /// The type of a Baileys media type name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The HKDF info string. Profile pictures and catalog images have an empty middle word,
    /// which leaves two spaces in the string; WhatsApp derives them that way.
    pub fn hkdf_info(self) -> &'static str {
        match self {
            Self::Image | Self::Sticker | Self::Product | Self::BizCoverPhoto => {
                "WhatsApp Image Keys"
            }
            Self::Video | Self::Gif | Self::Ptv => "WhatsApp Video Keys",
            Self::Audio | Self::Ptt => "WhatsApp Audio Keys",
            Self::Document => "WhatsApp Document Keys",
            Self::ProfilePicture | Self::ProductCatalogImage => "WhatsApp  Keys",
            Self::ThumbnailDocument => "WhatsApp Document Thumbnail Keys",
            Self::ThumbnailImage => "WhatsApp Image Thumbnail Keys",
            Self::ThumbnailVideo => "WhatsApp Video Thumbnail Keys",
            Self::ThumbnailLink => "WhatsApp Link Thumbnail Keys",
            Self::History => "WhatsApp History Keys",
            Self::AppState => "WhatsApp App State Keys",
            Self::PaymentBackground => "WhatsApp Payment Background Keys",
        }
    }
}

/// The expanded key material of one media key.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    pub ref_key: [u8; 32],
}

impl std::fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKeys(..)")
    }
}

impl Drop for MediaKeys {
    fn drop(&mut self) {
        self.iv.zeroize();
        self.cipher_key.zeroize();
        self.mac_key.zeroize();
        self.ref_key.zeroize();
    }
}

/// Expands a media key (any length; WhatsApp's are 32 bytes) for `media_type`.
pub fn media_keys(media_key: &[u8], media_type: MediaType) -> MediaKeys {
    let mut out = [0u8; MEDIA_KEYS_LEN];
    crate::kdf::hkdf_sha256_into(media_key, b"", media_type.hkdf_info().as_bytes(), &mut out)
        .expect("112 bytes is within HKDF-SHA256's output limit");
    let keys = MediaKeys {
        iv: out[..16].try_into().expect("16 bytes"),
        cipher_key: out[16..48].try_into().expect("32 bytes"),
        mac_key: out[48..80].try_into().expect("32 bytes"),
        ref_key: out[80..].try_into().expect("32 bytes"),
    };
    out.zeroize();
    keys
}

/// What an upload needs besides the encrypted bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDigest {
    /// The 10-byte MAC, also the last 10 bytes of the encrypted file.
    pub mac: [u8; MEDIA_MAC_LEN],
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the encrypted file including the MAC (`fileEncSha256`).
    pub file_enc_sha256: [u8; 32],
    /// Length of the plaintext (`fileLength`).
    pub file_length: u64,
}

/// An encrypted media file: `ciphertext || mac`, with its digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedMedia {
    pub data: Vec<u8>,
    pub digest: MediaDigest,
}

/// Encrypts a whole file held in memory.
pub fn encrypt_media(media_key: &[u8], media_type: MediaType, plain: &[u8]) -> EncryptedMedia {
    let mut enc = MediaEncryptor::new(&media_keys(media_key, media_type));
    let mut data = Vec::with_capacity(plain.len() + BLOCK + MEDIA_MAC_LEN);
    enc.update(plain, &mut data);
    let digest = enc.finish(&mut data);
    EncryptedMedia { data, digest }
}

/// Decrypts `ciphertext || mac`, checking the MAC (in constant time) before decrypting.
pub fn decrypt_media(
    media_key: &[u8],
    media_type: MediaType,
    data: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let keys = media_keys(media_key, media_type);
    if data.len() < MEDIA_MAC_LEN {
        return Err(CryptoError::Truncated(data.len()));
    }
    let (cipher, mac) = data.split_at(data.len() - MEDIA_MAC_LEN);
    let expected = crate::mac::hmac_sha256_parts(&keys.mac_key, &[&keys.iv, cipher]);
    if !crate::mac::ct_eq(&expected[..MEDIA_MAC_LEN], mac) {
        return Err(CryptoError::BadMac);
    }
    crate::cipher::cbc_decrypt(&keys.cipher_key, &keys.iv, cipher)
}

/// Streaming media encryption: feed plaintext chunks of any size with [`update`], then
/// [`finish`] writes the padded last block and the MAC. Output is appended to a caller's
/// buffer, so a 2 GB file never needs 2 GB of memory.
///
/// [`update`]: MediaEncryptor::update
/// [`finish`]: MediaEncryptor::finish
pub struct MediaEncryptor {
    cbc: cbc::Encryptor<Aes256>,
    mac: Hmac<Sha256>,
    plain_hash: Sha256,
    enc_hash: Sha256,
    pending: [u8; BLOCK],
    pending_len: usize,
    length: u64,
}

impl std::fmt::Debug for MediaEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEncryptor")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl MediaEncryptor {
    pub fn new(keys: &MediaKeys) -> Self {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.mac_key).expect("any key length");
        mac.update(&keys.iv);
        Self {
            cbc: cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into()),
            mac,
            plain_hash: Sha256::new(),
            enc_hash: Sha256::new(),
            pending: [0; BLOCK],
            pending_len: 0,
            length: 0,
        }
    }

    /// Encrypts `plain`, appending every completed block to `out`.
    pub fn update(&mut self, mut plain: &[u8], out: &mut Vec<u8>) {
        self.plain_hash.update(plain);
        self.length += plain.len() as u64;
        let start = out.len();
        if self.pending_len > 0 {
            let take = (BLOCK - self.pending_len).min(plain.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&plain[..take]);
            self.pending_len += take;
            plain = &plain[take..];
            if self.pending_len < BLOCK {
                return;
            }
            out.extend_from_slice(&self.pending);
            self.pending_len = 0;
        }
        let whole = plain.len() - plain.len() % BLOCK;
        out.extend_from_slice(&plain[..whole]);
        let rest = &plain[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
        self.encrypt_tail(out, start);
    }

    fn encrypt_tail(&mut self, out: &mut [u8], start: usize) {
        let fresh = &mut out[start..];
        let (blocks, rest) = Array::slice_as_chunks_mut(fresh);
        debug_assert!(rest.is_empty());
        self.cbc.encrypt_blocks(blocks);
        self.mac.update(fresh);
        self.enc_hash.update(fresh);
    }

    /// Pads and encrypts the last block, appends the 10-byte MAC, and returns the digests.
    pub fn finish(mut self, out: &mut Vec<u8>) -> MediaDigest {
        let start = out.len();
        let pad = (BLOCK - self.pending_len) as u8;
        out.extend_from_slice(&self.pending[..self.pending_len]);
        out.resize(start + BLOCK, pad);
        self.encrypt_tail(out, start);
        let full: [u8; 32] = self.mac.finalize().into_bytes().into();
        let mac: [u8; MEDIA_MAC_LEN] = full[..MEDIA_MAC_LEN].try_into().expect("10 bytes");
        out.extend_from_slice(&mac);
        self.enc_hash.update(mac);
        self.pending.zeroize();
        MediaDigest {
            mac,
            file_sha256: self.plain_hash.finalize().into(),
            file_enc_sha256: self.enc_hash.finalize().into(),
            file_length: self.length,
        }
    }
}

/// Streaming media decryption. The last 10 bytes of the input are the MAC and the last block
/// carries the padding, so the decryptor holds back up to 26 bytes until [`finish`].
///
/// Plaintext leaves [`update`] before the MAC at the end of the file can be checked: a caller
/// that streams it onwards must discard everything when [`finish`] fails. Use
/// [`decrypt_media`] to check first.
///
/// [`update`]: MediaDecryptor::update
/// [`finish`]: MediaDecryptor::finish
pub struct MediaDecryptor {
    cbc: cbc::Decryptor<Aes256>,
    mac: Hmac<Sha256>,
    enc_hash: Sha256,
    /// Input not yet decrypted: at most one block plus the MAC, or a partial block.
    held: Vec<u8>,
}

impl std::fmt::Debug for MediaDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaDecryptor(..)")
    }
}

/// What the decryptor must keep back: the MAC and the block that holds the padding.
const HOLD: usize = MEDIA_MAC_LEN + BLOCK;

impl MediaDecryptor {
    pub fn new(keys: &MediaKeys) -> Self {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.mac_key).expect("any key length");
        mac.update(&keys.iv);
        Self {
            cbc: cbc::Decryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into()),
            mac,
            enc_hash: Sha256::new(),
            held: Vec::with_capacity(HOLD + BLOCK),
        }
    }

    /// Decrypts what can be decrypted of `data` so far, appending plaintext to `out`.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.enc_hash.update(data);
        let total = self.held.len() + data.len();
        if total <= HOLD {
            self.held.extend_from_slice(data);
            return;
        }
        // Decrypt every whole block that is certainly not the last one.
        let ready = (total - HOLD) / BLOCK * BLOCK;
        let start = out.len();
        let from_held = ready.min(self.held.len());
        out.extend_from_slice(&self.held[..from_held]);
        let from_data = ready - from_held;
        out.extend_from_slice(&data[..from_data]);
        self.held.drain(..from_held);
        self.held.extend_from_slice(&data[from_data..]);
        let fresh = &mut out[start..];
        self.mac.update(fresh);
        let (blocks, rest) = Array::slice_as_chunks_mut(fresh);
        debug_assert!(rest.is_empty());
        self.cbc.decrypt_blocks(blocks);
    }

    /// Checks the MAC, strips the padding and appends the last plaintext bytes to `out`.
    /// Returns SHA-256 of the whole encrypted input (`fileEncSha256`).
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<[u8; 32], CryptoError> {
        if self.held.len() < MEDIA_MAC_LEN {
            return Err(CryptoError::Truncated(self.held.len()));
        }
        let (last, mac) = self.held.split_at(self.held.len() - MEDIA_MAC_LEN);
        if last.len() != BLOCK {
            return Err(CryptoError::CbcPadding);
        }
        self.mac.update(last);
        let expected: [u8; 32] = self.mac.finalize().into_bytes().into();
        if !crate::mac::ct_eq(&expected[..MEDIA_MAC_LEN], mac) {
            return Err(CryptoError::BadMac);
        }
        let mut block: [u8; BLOCK] = last.try_into().expect("one block");
        self.cbc.decrypt_block((&mut block).into());
        let pad = block[BLOCK - 1] as usize;
        if pad == 0 || pad > BLOCK || block[BLOCK - pad..].iter().any(|&b| b as usize != pad) {
            return Err(CryptoError::CbcPadding);
        }
        out.extend_from_slice(&block[..BLOCK - pad]);
        block.zeroize();
        Ok(self.enc_hash.finalize().into())
    }
}

/// Checks an encrypted file's MAC and hashes it as it streams past, without decrypting: a
/// download is verified whole before any plaintext is handed out.
pub struct MediaVerifier {
    mac: Hmac<Sha256>,
    enc_hash: Sha256,
    tail: Vec<u8>,
    length: u64,
}

impl std::fmt::Debug for MediaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaVerifier")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// What a verified file is: its length (MAC included) and SHA-256 (`fileEncSha256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMedia {
    pub enc_length: u64,
    pub file_enc_sha256: [u8; 32],
}

impl MediaVerifier {
    pub fn new(keys: &MediaKeys) -> Self {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.mac_key).expect("any key length");
        mac.update(&keys.iv);
        Self {
            mac,
            enc_hash: Sha256::new(),
            tail: Vec::with_capacity(2 * MEDIA_MAC_LEN),
            length: 0,
        }
    }

    /// Takes the next bytes of the encrypted file.
    pub fn update(&mut self, data: &[u8]) {
        self.enc_hash.update(data);
        self.length += data.len() as u64;
        // The last MEDIA_MAC_LEN bytes are the MAC, not MAC input: hold them back.
        if data.len() >= MEDIA_MAC_LEN {
            self.mac.update(&self.tail);
            self.tail.clear();
            let (body, last) = data.split_at(data.len() - MEDIA_MAC_LEN);
            self.mac.update(body);
            self.tail.extend_from_slice(last);
        } else {
            self.tail.extend_from_slice(data);
            let over = self.tail.len().saturating_sub(MEDIA_MAC_LEN);
            self.mac.update(&self.tail[..over]);
            self.tail.drain(..over);
        }
    }

    /// Checks the file's shape (whole blocks and the MAC) and its MAC.
    pub fn finish(self) -> Result<VerifiedMedia, CryptoError> {
        if self.length < (BLOCK + MEDIA_MAC_LEN) as u64 {
            return Err(CryptoError::Truncated(self.length as usize));
        }
        if !(self.length - MEDIA_MAC_LEN as u64).is_multiple_of(BLOCK as u64) {
            return Err(CryptoError::CbcPadding);
        }
        let expected: [u8; 32] = self.mac.finalize().into_bytes().into();
        if !crate::mac::ct_eq(&expected[..MEDIA_MAC_LEN], &self.tail) {
            return Err(CryptoError::BadMac);
        }
        Ok(VerifiedMedia {
            enc_length: self.length,
            file_enc_sha256: self.enc_hash.finalize().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_strings_and_names() {
        assert_eq!(MediaType::Image.hkdf_info(), "WhatsApp Image Keys");
        assert_eq!(MediaType::Ptt.hkdf_info(), "WhatsApp Audio Keys");
        assert_eq!(MediaType::History.hkdf_info(), "WhatsApp History Keys");
        assert_eq!(MediaType::AppState.hkdf_info(), "WhatsApp App State Keys");
        for t in MediaType::ALL {
            assert_eq!(MediaType::from_name(t.name()), Some(t));
        }
        assert_eq!(MediaType::from_name("nope"), None);
    }

    #[test]
    fn keys_split_the_112_byte_expansion() {
        let mk = [3u8; 32];
        let keys = media_keys(&mk, MediaType::Video);
        let full = crate::kdf::hkdf_sha256(&mk, b"", b"WhatsApp Video Keys", 112).unwrap();
        assert_eq!(&full[..16], keys.iv);
        assert_eq!(&full[16..48], keys.cipher_key);
        assert_eq!(&full[48..80], keys.mac_key);
        assert_eq!(&full[80..], keys.ref_key);
    }

    #[test]
    fn one_shot_matches_the_definition() {
        let mk = [9u8; 32];
        let plain = b"hello media".repeat(7);
        let enc = encrypt_media(&mk, MediaType::Image, &plain);
        let keys = media_keys(&mk, MediaType::Image);
        let cipher = crate::cipher::cbc_encrypt(&keys.cipher_key, &keys.iv, &plain).unwrap();
        let mac = crate::mac::hmac_sha256_parts(&keys.mac_key, &[&keys.iv, &cipher]);
        let mut expected = cipher.clone();
        expected.extend_from_slice(&mac[..10]);
        assert_eq!(enc.data, expected);
        assert_eq!(enc.digest.mac, mac[..10]);
        assert_eq!(enc.digest.file_sha256, crate::hash::sha256(&plain));
        assert_eq!(enc.digest.file_enc_sha256, crate::hash::sha256(&expected));
        assert_eq!(enc.digest.file_length, plain.len() as u64);
        assert_eq!(
            decrypt_media(&mk, MediaType::Image, &enc.data).unwrap(),
            plain
        );
        // The type is part of the key: the same bytes do not open as a video.
        assert_eq!(
            decrypt_media(&mk, MediaType::Video, &enc.data),
            Err(CryptoError::BadMac)
        );
    }

    #[test]
    fn tampering_is_a_mac_error() {
        let mk = [1u8; 32];
        let enc = encrypt_media(&mk, MediaType::Document, &[7u8; 100]);
        for i in [0, 50, enc.data.len() - 11, enc.data.len() - 1] {
            let mut bad = enc.data.clone();
            bad[i] ^= 0x40;
            assert_eq!(
                decrypt_media(&mk, MediaType::Document, &bad),
                Err(CryptoError::BadMac),
                "byte {i}"
            );
        }
        assert_eq!(
            decrypt_media(&mk, MediaType::Document, &enc.data[..9]),
            Err(CryptoError::Truncated(9))
        );
    }

    fn stream_decrypt(keys: &MediaKeys, data: &[u8], chunk: usize) -> Result<Vec<u8>, CryptoError> {
        let mut dec = MediaDecryptor::new(keys);
        let mut out = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            dec.update(c, &mut out);
        }
        let enc_sha = dec.finish(&mut out)?;
        assert_eq!(enc_sha, crate::hash::sha256(data));
        Ok(out)
    }

    #[test]
    fn streaming_equals_one_shot_for_every_split() {
        let mk = [5u8; 32];
        let keys = media_keys(&mk, MediaType::Audio);
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let whole = encrypt_media(&mk, MediaType::Audio, &plain);
            for chunk in [1usize, 3, 16, 17, 64, 4096] {
                let mut enc = MediaEncryptor::new(&keys);
                let mut out = Vec::new();
                for c in plain.chunks(chunk) {
                    enc.update(c, &mut out);
                }
                let digest = enc.finish(&mut out);
                assert_eq!(out, whole.data, "len {len} chunk {chunk}");
                assert_eq!(digest, whole.digest);
                assert_eq!(stream_decrypt(&keys, &out, chunk).unwrap(), plain);
            }
        }
    }

    #[test]
    fn streaming_decrypt_rejects_bad_input() {
        let mk = [6u8; 32];
        let keys = media_keys(&mk, MediaType::Image);
        let enc = encrypt_media(&mk, MediaType::Image, &[1u8; 40]);
        let mut bad = enc.data.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(stream_decrypt(&keys, &bad, 7), Err(CryptoError::BadMac));
        assert_eq!(
            stream_decrypt(&keys, &enc.data[..5], 7),
            Err(CryptoError::Truncated(5))
        );
        // A length that is not whole blocks plus the MAC.
        assert_eq!(
            stream_decrypt(&keys, &enc.data[1..], 7),
            Err(CryptoError::CbcPadding)
        );
    }

    #[test]
    fn the_verifier_agrees_with_the_mac_in_any_chunking() {
        let mk = [5u8; 32];
        let keys = media_keys(&mk, MediaType::Audio);
        let enc = encrypt_media(&mk, MediaType::Audio, &[3u8; 1000]);
        for chunk in [1, 3, 10, 11, 16, 333, 5000] {
            let mut v = MediaVerifier::new(&keys);
            enc.data.chunks(chunk).for_each(|c| v.update(c));
            let ok = v.finish().unwrap();
            assert_eq!(
                ok.file_enc_sha256, enc.digest.file_enc_sha256,
                "chunk {chunk}"
            );
            assert_eq!(ok.enc_length, enc.data.len() as u64);
            for i in [0, 500, enc.data.len() - 1] {
                let mut bad = enc.data.clone();
                bad[i] ^= 1;
                let mut v = MediaVerifier::new(&keys);
                bad.chunks(chunk).for_each(|c| v.update(c));
                assert_eq!(
                    v.finish(),
                    Err(CryptoError::BadMac),
                    "chunk {chunk} byte {i}"
                );
            }
        }
        let mut v = MediaVerifier::new(&keys);
        v.update(&enc.data[..20]);
        assert_eq!(v.finish(), Err(CryptoError::Truncated(20)));
        let mut v = MediaVerifier::new(&keys);
        v.update(&enc.data[..enc.data.len() - 1]);
        assert_eq!(v.finish(), Err(CryptoError::CbcPadding));
    }
}
