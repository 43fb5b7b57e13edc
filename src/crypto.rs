//! Binding of `wa-crypto`. The raw functions here are wrapped by `lib/crypto.js` into
//! Baileys' names and shapes (`Curve`, `hkdf(buf, len, { salt, info })`, ...), so their
//! typings are written by hand in `lib/types/10-crypto.d.ts`.

use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice, Env, Task};
use napi_derive::napi;
use wa_crypto::media::{MediaDecryptor as Dec, MediaEncryptor as Enc};
use wa_crypto::{CryptoError, KeyPair, LtHash, MediaType, cipher, curve, hash, kdf, mac, media};

use crate::bytes::Bytes;
use crate::errors::{JsFail, Result, coded};

fn crypto_err(e: CryptoError) -> JsFail {
    coded(e.code(), e)
}

fn key32(what: &str, b: &[u8]) -> Result<[u8; 32]> {
    b.try_into().map_err(|_| {
        coded(
            "ERR_WA_CRYPTO_KEY_LENGTH",
            format!("{what} must be 32 bytes, got {}", b.len()),
        )
    })
}

fn public_key(b: &[u8]) -> Result<[u8; 32]> {
    curve::parse_public(b).map_err(crypto_err)
}

fn media_type(name: &str) -> Result<MediaType> {
    MediaType::from_name(name).ok_or_else(|| {
        coded(
            "ERR_WA_CRYPTO_MEDIA_TYPE",
            format!("unknown media type {name:?}"),
        )
    })
}

/// A Curve25519 key pair as Baileys holds it: 32-byte private and public keys.
#[napi(object)]
pub struct CurveKeyPair {
    pub private: Buffer,
    pub public: Buffer,
}

#[napi(js_name = "cryptoGenerateKeyPair", skip_typescript, catch_unwind)]
pub fn generate_key_pair() -> CurveKeyPair {
    let k = KeyPair::generate();
    CurveKeyPair {
        private: k.private.to_vec().into(),
        public: k.public.to_vec().into(),
    }
}

#[napi(js_name = "cryptoPublicFromPrivate", skip_typescript, catch_unwind)]
pub fn public_from_private(private: BufferSlice) -> Result<Bytes> {
    Ok(KeyPair::from_private(key32("private key", &private)?)
        .public
        .to_vec()
        .into())
}

#[napi(js_name = "cryptoSharedKey", skip_typescript, catch_unwind)]
pub fn shared_key(private: BufferSlice, public: BufferSlice) -> Result<Bytes> {
    let private = key32("private key", &private)?;
    Ok(curve::agree(&private, &public_key(&public)?)
        .to_vec()
        .into())
}

#[napi(js_name = "cryptoSign", skip_typescript, catch_unwind)]
pub fn sign(private: BufferSlice, message: BufferSlice) -> Result<Bytes> {
    let private = key32("private key", &private)?;
    Ok(curve::sign(&private, &message).to_vec().into())
}

#[napi(js_name = "cryptoVerify", skip_typescript, catch_unwind)]
pub fn verify(public: BufferSlice, message: BufferSlice, signature: BufferSlice) -> Result<bool> {
    Ok(curve::verify(&public_key(&public)?, &message, &signature))
}

#[napi(js_name = "cryptoHkdf", skip_typescript, catch_unwind)]
pub fn hkdf(
    ikm: BufferSlice,
    length: u32,
    salt: Option<BufferSlice>,
    info: Option<BufferSlice>,
) -> Result<Bytes> {
    let salt = salt.as_deref().unwrap_or_default();
    let info = info.as_deref().unwrap_or_default();
    kdf::hkdf_sha256(&ikm, salt, info, length as usize)
        .map(Into::into)
        .map_err(crypto_err)
}

#[napi(js_name = "cryptoGcmEncrypt", skip_typescript, catch_unwind)]
pub fn gcm_encrypt(
    plain: BufferSlice,
    key: BufferSlice,
    iv: BufferSlice,
    aad: BufferSlice,
) -> Result<Bytes> {
    cipher::gcm_encrypt(&key, &iv, &aad, &plain)
        .map(Into::into)
        .map_err(crypto_err)
}

#[napi(js_name = "cryptoGcmDecrypt", skip_typescript, catch_unwind)]
pub fn gcm_decrypt(
    sealed: BufferSlice,
    key: BufferSlice,
    iv: BufferSlice,
    aad: BufferSlice,
) -> Result<Bytes> {
    cipher::gcm_decrypt(&key, &iv, &aad, &sealed)
        .map(Into::into)
        .map_err(crypto_err)
}

#[napi(js_name = "cryptoCtr", skip_typescript, catch_unwind)]
pub fn ctr(data: BufferSlice, key: BufferSlice, iv: BufferSlice) -> Result<Bytes> {
    cipher::ctr_apply(&key, &iv, &data)
        .map(Into::into)
        .map_err(crypto_err)
}

#[napi(js_name = "cryptoCbcEncrypt", skip_typescript, catch_unwind)]
pub fn cbc_encrypt(plain: BufferSlice, key: BufferSlice, iv: BufferSlice) -> Result<Bytes> {
    cipher::cbc_encrypt(&key, &iv, &plain)
        .map(Into::into)
        .map_err(crypto_err)
}

#[napi(js_name = "cryptoCbcDecrypt", skip_typescript, catch_unwind)]
pub fn cbc_decrypt(data: BufferSlice, key: BufferSlice, iv: BufferSlice) -> Result<Bytes> {
    cipher::cbc_decrypt(&key, &iv, &data)
        .map(Into::into)
        .map_err(crypto_err)
}

#[napi(js_name = "cryptoHmac", skip_typescript, catch_unwind)]
pub fn hmac(data: BufferSlice, key: BufferSlice, variant: String) -> Result<Bytes> {
    match variant.as_str() {
        "sha256" => Ok(mac::hmac_sha256(&key, &data).to_vec().into()),
        "sha512" => Ok(mac::hmac_sha512(&key, &data).to_vec().into()),
        other => Err(coded(
            "ERR_WA_CRYPTO_HMAC_VARIANT",
            format!("unsupported HMAC variant {other:?}"),
        )),
    }
}

#[napi(js_name = "cryptoSha256", skip_typescript, catch_unwind)]
pub fn sha256(data: BufferSlice) -> Bytes {
    hash::sha256(&data).to_vec().into()
}

#[napi(js_name = "cryptoSha512", skip_typescript, catch_unwind)]
pub fn sha512(data: BufferSlice) -> Bytes {
    hash::sha512(&data).to_vec().into()
}

#[napi(js_name = "cryptoMd5", skip_typescript, catch_unwind)]
pub fn md5(data: BufferSlice) -> Bytes {
    hash::md5(&data).to_vec().into()
}

#[napi(js_name = "cryptoPairingCode", skip_typescript, catch_unwind)]
pub fn pairing_code(bytes: BufferSlice) -> String {
    wa_crypto::pairing::pairing_code_from_bytes(&bytes)
}

/// PBKDF2 with 2^17 rounds takes tens of milliseconds: it runs on libuv's thread pool.
pub struct PairingKeyTask {
    code: String,
    salt: Vec<u8>,
}

impl Task for PairingKeyTask {
    type Output = [u8; 32];
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(wa_crypto::pairing::derive_pairing_code_key(
            &self.code, &self.salt,
        ))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Buffer> {
        Ok(output.to_vec().into())
    }
}

#[napi(js_name = "cryptoDerivePairingCodeKey", skip_typescript, catch_unwind)]
pub fn derive_pairing_code_key(code: String, salt: Buffer) -> AsyncTask<PairingKeyTask> {
    AsyncTask::new(PairingKeyTask {
        code,
        salt: salt.to_vec(),
    })
}

/// The expansion of a media key: `iv`, `cipherKey`, `macKey` (as Baileys' `getMediaKeys`) and `refKey`.
#[napi(object)]
pub struct MediaKeys {
    pub iv: Buffer,
    pub cipher_key: Buffer,
    pub mac_key: Buffer,
    pub ref_key: Buffer,
}

#[napi(js_name = "cryptoMediaKeys", skip_typescript, catch_unwind)]
pub fn media_keys(media_key: BufferSlice, media_type_name: String) -> Result<MediaKeys> {
    let k = media::media_keys(&media_key, media_type(&media_type_name)?);
    Ok(MediaKeys {
        iv: k.iv.to_vec().into(),
        cipher_key: k.cipher_key.to_vec().into(),
        mac_key: k.mac_key.to_vec().into(),
        ref_key: k.ref_key.to_vec().into(),
    })
}

#[napi(js_name = "cryptoMediaInfo", skip_typescript, catch_unwind)]
pub fn media_info(media_type_name: String) -> Result<String> {
    Ok(media_type(&media_type_name)?.hkdf_info().to_owned())
}

struct Digest {
    pub mac: Buffer,
    pub file_sha256: Buffer,
    pub file_enc_sha256: Buffer,
    pub file_length: f64,
}

fn digest_js(d: media::MediaDigest) -> Digest {
    Digest {
        mac: d.mac.to_vec().into(),
        file_sha256: d.file_sha256.to_vec().into(),
        file_enc_sha256: d.file_enc_sha256.to_vec().into(),
        // Exact up to 2^53 bytes, far beyond any file WhatsApp carries.
        file_length: d.file_length as f64,
    }
}

/// An encrypted media file (`data` = ciphertext followed by the 10-byte `mac`) and the
/// digests an upload needs.
#[napi(object)]
pub struct EncryptedMedia {
    pub data: Buffer,
    pub mac: Buffer,
    pub file_sha256: Buffer,
    pub file_enc_sha256: Buffer,
    pub file_length: f64,
}

/// Encrypts a whole media file held in memory under `mediaKey` for `mediaType` (a Baileys
/// media type name such as `image`, `ptt`, `md-app-state`).
#[napi(catch_unwind)]
pub fn encrypt_media(
    plain: Buffer,
    media_key: Buffer,
    media_type_name: String,
) -> Result<EncryptedMedia> {
    let e = media::encrypt_media(&media_key, media_type(&media_type_name)?, &plain);
    let d = digest_js(e.digest);
    Ok(EncryptedMedia {
        data: e.data.into(),
        mac: d.mac,
        file_sha256: d.file_sha256,
        file_enc_sha256: d.file_enc_sha256,
        file_length: d.file_length,
    })
}

/// Decrypts `ciphertext || mac`, checking the MAC first (code `ERR_WA_CRYPTO_BAD_MAC`).
#[napi(catch_unwind)]
pub fn decrypt_media(data: Buffer, media_key: Buffer, media_type_name: String) -> Result<Buffer> {
    media::decrypt_media(&media_key, media_type(&media_type_name)?, &data)
        .map(Into::into)
        .map_err(crypto_err)
}

fn finished() -> JsFail {
    coded("ERR_WA_CRYPTO_FINISHED", "the stream has already finished")
}

/// Streaming media encryption with constant memory: `update(chunk)` returns ciphertext,
/// `finish()` the last block with the MAC and the file's digests.
#[napi]
pub struct MediaEncryptor {
    inner: Option<Enc>,
}

#[napi]
impl MediaEncryptor {
    #[napi(constructor, catch_unwind)]
    pub fn new(media_key: Buffer, media_type_name: String) -> Result<Self> {
        let keys = media::media_keys(&media_key, media_type(&media_type_name)?);
        Ok(Self {
            inner: Some(Enc::new(&keys)),
        })
    }

    #[napi(catch_unwind)]
    pub fn update(&mut self, chunk: Buffer) -> Result<Buffer> {
        let enc = self.inner.as_mut().ok_or_else(finished)?;
        let mut out = Vec::with_capacity(chunk.len() + 16);
        enc.update(&chunk, &mut out);
        Ok(out.into())
    }

    /// The last block and the MAC, and the digests of the whole file.
    #[napi(catch_unwind)]
    pub fn finish(&mut self) -> Result<EncryptedMedia> {
        let enc = self.inner.take().ok_or_else(finished)?;
        let mut out = Vec::with_capacity(32);
        let d = digest_js(enc.finish(&mut out));
        Ok(EncryptedMedia {
            data: out.into(),
            mac: d.mac,
            file_sha256: d.file_sha256,
            file_enc_sha256: d.file_enc_sha256,
            file_length: d.file_length,
        })
    }
}

/// Streaming media decryption. Plaintext from `update` is released before the MAC at the end
/// of the file is checked: discard it all if `finish()` throws.
#[napi]
pub struct MediaDecryptor {
    inner: Option<Dec>,
}

#[napi]
impl MediaDecryptor {
    #[napi(constructor, catch_unwind)]
    pub fn new(media_key: Buffer, media_type_name: String) -> Result<Self> {
        let keys = media::media_keys(&media_key, media_type(&media_type_name)?);
        Ok(Self {
            inner: Some(Dec::new(&keys)),
        })
    }

    #[napi(catch_unwind)]
    pub fn update(&mut self, chunk: Buffer) -> Result<Buffer> {
        let dec = self.inner.as_mut().ok_or_else(finished)?;
        let mut out = Vec::with_capacity(chunk.len());
        dec.update(&chunk, &mut out);
        Ok(out.into())
    }

    /// Checks the MAC and returns the last plaintext bytes.
    #[napi(catch_unwind)]
    pub fn finish(&mut self) -> Result<Buffer> {
        let dec = self.inner.take().ok_or_else(finished)?;
        let mut out = Vec::with_capacity(16);
        dec.finish(&mut out).map_err(crypto_err)?;
        Ok(out.into())
    }
}

#[napi(js_name = "cryptoLtHashSubtractThenAdd", skip_typescript, catch_unwind)]
pub fn lt_hash_subtract_then_add(
    base: BufferSlice,
    subtract: Vec<BufferSlice>,
    add: Vec<BufferSlice>,
) -> Result<Bytes> {
    let bytes: [u8; 128] = base.as_ref().try_into().map_err(|_| {
        coded(
            "ERR_WA_CRYPTO_LTHASH_LENGTH",
            format!("an LTHash is 128 bytes, got {}", base.len()),
        )
    })?;
    let mut h = LtHash::from_bytes(bytes);
    h.subtract_then_add(
        subtract.iter().map(|b| b.as_ref()),
        add.iter().map(|b| b.as_ref()),
    );
    Ok(h.0.to_vec().into())
}
