
/* ---- crypto (lib/crypto.js): Baileys' names and shapes over wa-crypto ---- */

/** Bytes accepted by the crypto helpers. */
export type Bytes = Buffer | Uint8Array

/** Curve25519 keys and libsignal-style (XEdDSA) signatures, as Baileys' `Curve`. */
export declare const Curve: {
  generateKeyPair(): CurveKeyPair
  /** X25519 agreement; the public key may carry the 0x05 prefix. */
  sharedKey(privateKey: Bytes, publicKey: Bytes): Buffer
  /** A 64-byte signature, byte-equal to libsignal-node's for the same key and message. */
  sign(privateKey: Bytes, message: Bytes): Buffer
  /** Really verifies (unlike Baileys 7.0.0-rc14); false for a malformed key or signature. */
  verify(publicKey: Bytes, message: Bytes, signature: Bytes): boolean
}
export declare function signedKeyPair(
  identityKeyPair: CurveKeyPair,
  keyId: number,
): { keyPair: CurveKeyPair; signature: Buffer; keyId: number }
/** Prefixes the 0x05 key type to a 32-byte public key (33-byte keys pass through). */
export declare function generateSignalPubKey(pubKey: Bytes): Bytes
/** HKDF-SHA256; no salt means the all-zero salt. */
export declare function hkdf(
  buffer: Bytes,
  expandedLength: number,
  info?: { salt?: Bytes; info?: string | Bytes },
): Buffer
/** AES-256-GCM; the 16-byte tag follows the ciphertext. */
export declare function aesEncryptGCM(plaintext: Bytes, key: Bytes, iv: Bytes, additionalData: Bytes): Buffer
export declare function aesDecryptGCM(ciphertext: Bytes, key: Bytes, iv: Bytes, additionalData: Bytes): Buffer
export declare function aesEncryptCTR(plaintext: Bytes, key: Bytes, iv: Bytes): Buffer
export declare function aesDecryptCTR(ciphertext: Bytes, key: Bytes, iv: Bytes): Buffer
/** AES-256-CBC (PKCS#7) with a random IV prefixed to the result. */
export declare function aesEncrypt(buffer: Bytes, key: Bytes): Buffer
/** AES-256-CBC with the given IV (Baileys' spelling of the name). */
export declare function aesEncrypWithIV(buffer: Bytes, key: Bytes, iv: Bytes): Buffer
/** AES-256-CBC decryption of `iv || ciphertext`. */
export declare function aesDecrypt(buffer: Bytes, key: Bytes): Buffer
export declare function aesDecryptWithIV(buffer: Bytes, key: Bytes, iv: Bytes): Buffer
export declare function hmacSign(buffer: Bytes, key: Bytes, variant?: 'sha256' | 'sha512'): Buffer
export declare function sha256(buffer: Bytes): Buffer
export declare function sha512(buffer: Bytes): Buffer
export declare function md5(buffer: Bytes): Buffer
/** The pairing-code key: PBKDF2-SHA256(code, salt, 131072 rounds, 32 bytes), off the main thread. */
export declare function derivePairingCodeKey(pairingCode: string, salt: Bytes): Promise<Buffer>
/** The pairing-code alphabet encoding (5 bytes -> 8 characters). */
export declare function bytesToCrockford(buffer: Bytes): string
/** The HKDF info string of a Baileys media type, e.g. `WhatsApp Image Keys`. */
export declare function hkdfInfoKey(mediaType: string): string
/** Expands a media key (bytes or base64) for a Baileys media type name. */
export declare function getMediaKeys(buffer: Bytes | string, mediaType: string): Promise<MediaKeys>
/** App-state LTHash (128 bytes, u16 LE lanes), as Baileys' `LT_HASH_ANTI_TAMPERING`. */
export declare const LT_HASH_ANTI_TAMPERING: {
  subtractThenAdd(base: Bytes, subtract: Bytes[], add: Bytes[]): Buffer
}
