'use strict'
// The crypto primitives under Baileys' names and shapes (lib/Utils/crypto.js,
// messages-media.js, lt-hash.js, generics.js), backed by wa-crypto. One deliberate
// difference: Curve.verify really verifies (Baileys 7.0.0-rc14 returns true for any
// 64-byte signature).
const { randomBytes } = require('node:crypto')
const native = require('../native.js')
const { codedError } = require('./errors.js')

const KEY_BUNDLE_TYPE = Buffer.from([5])

// napi reads Node Buffers; Baileys hands over Uint8Arrays too (e.g. protobuf bytes).
function buf(b) {
  if (Buffer.isBuffer(b)) return b
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  if (typeof b === 'string') return Buffer.from(b, 'utf8')
  if (b instanceof ArrayBuffer) return Buffer.from(b)
  throw codedError('ERR_WA_CRYPTO_INPUT', `expected bytes, got ${b === null ? 'null' : typeof b}`, TypeError)
}

const sharedKey = native.cryptoSharedKey
const sign = native.cryptoSign
const verify = native.cryptoVerify
const hkdfNative = native.cryptoHkdf
const gcmEncrypt = native.cryptoGcmEncrypt
const gcmDecrypt = native.cryptoGcmDecrypt
const ctr = native.cryptoCtr
const cbcEncrypt = native.cryptoCbcEncrypt
const cbcDecrypt = native.cryptoCbcDecrypt
const hmac = native.cryptoHmac
const mediaKeys = native.cryptoMediaKeys
const mediaInfo = native.cryptoMediaInfo
const ltHash = native.cryptoLtHashSubtractThenAdd
const encryptMediaNative = native.encryptMedia
const decryptMediaNative = native.decryptMedia

/** prefixes the 0x05 type byte to a 32-byte public key */
const generateSignalPubKey = (pubKey) =>
  pubKey.length === 33 ? pubKey : Buffer.concat([KEY_BUNDLE_TYPE, pubKey])

const Curve = {
  generateKeyPair: () => native.cryptoGenerateKeyPair(),
  sharedKey: (privateKey, publicKey) => sharedKey(buf(privateKey), buf(publicKey)),
  sign: (privateKey, message) => sign(buf(privateKey), buf(message)),
  // A malformed key or signature is `false`, as in Baileys; a wrong signature is `false` too.
  verify: (pubKey, message, signature) => {
    try {
      return verify(buf(pubKey), buf(message), buf(signature))
    } catch {
      return false
    }
  },
}

const signedKeyPair = (identityKeyPair, keyId) => {
  const preKey = Curve.generateKeyPair()
  const pubKey = generateSignalPubKey(preKey.public)
  const signature = Curve.sign(identityKeyPair.private, pubKey)
  return { keyPair: preKey, signature, keyId }
}

const hkdf = (buffer, expandedLength, { salt, info } = {}) =>
  hkdfNative(buf(buffer), expandedLength, salt ? buf(salt) : undefined, info ? buf(info) : undefined)

const aesEncryptGCM = (plaintext, key, iv, additionalData) =>
  gcmEncrypt(buf(plaintext), buf(key), buf(iv), buf(additionalData ?? Buffer.alloc(0)))
const aesDecryptGCM = (ciphertext, key, iv, additionalData) =>
  gcmDecrypt(buf(ciphertext), buf(key), buf(iv), buf(additionalData ?? Buffer.alloc(0)))
const aesEncryptCTR = (plaintext, key, iv) => ctr(buf(plaintext), buf(key), buf(iv))
const aesDecryptCTR = (ciphertext, key, iv) => ctr(buf(ciphertext), buf(key), buf(iv))
const aesDecryptWithIV = (buffer, key, iv) => cbcDecrypt(buf(buffer), buf(key), buf(iv))
const aesDecrypt = (buffer, key) => aesDecryptWithIV(buf(buffer).subarray(16), key, buf(buffer).subarray(0, 16))
const aesEncrypWithIV = (buffer, key, iv) => cbcEncrypt(buf(buffer), buf(key), buf(iv))
const aesEncrypt = (buffer, key) => {
  const iv = randomBytes(16)
  return Buffer.concat([iv, aesEncrypWithIV(buffer, key, iv)])
}
const hmacSign = (buffer, key, variant = 'sha256') => hmac(buf(buffer), buf(key), variant)
const sha256 = (buffer) => native.cryptoSha256(buf(buffer))
const sha512 = (buffer) => native.cryptoSha512(buf(buffer))
const md5 = (buffer) => native.cryptoMd5(buf(buffer))

/** PBKDF2-SHA256(code, salt, 2^17 rounds) -> 32 bytes, off the main thread */
const derivePairingCodeKey = async (pairingCode, salt) => {
  return await native.cryptoDerivePairingCodeKey(String(pairingCode), buf(salt))
}

const bytesToCrockford = (buffer) => native.cryptoPairingCode(buf(buffer))

const hkdfInfoKey = (type) => mediaInfo(type)

/** expands a media key into iv, cipherKey, macKey (and refKey) */
const getMediaKeys = async (buffer, mediaType) => {
  if (!buffer) {
    throw codedError('ERR_WA_CRYPTO_MEDIA_KEY', 'Cannot derive from empty media key')
  }
  if (typeof buffer === 'string') {
    buffer = Buffer.from(buffer.replace('data:;base64,', ''), 'base64')
  }
  return mediaKeys(buf(buffer), mediaType)
}

const encryptMedia = (plaintext, mediaKey, mediaType) => encryptMediaNative(buf(plaintext), buf(mediaKey), mediaType)
const decryptMedia = (data, mediaKey, mediaType) => decryptMediaNative(buf(data), buf(mediaKey), mediaType)

/** app-state LTHash, as Baileys' LT_HASH_ANTI_TAMPERING */
const LT_HASH_ANTI_TAMPERING = Object.freeze({
  subtractThenAdd: (base, subtract, add) => ltHash(buf(base), subtract.map(buf), add.map(buf)),
})

module.exports = {
  Curve,
  signedKeyPair,
  generateSignalPubKey,
  hkdf,
  aesEncryptGCM,
  aesDecryptGCM,
  aesEncryptCTR,
  aesDecryptCTR,
  aesEncrypt,
  aesEncrypWithIV,
  aesDecrypt,
  aesDecryptWithIV,
  hmacSign,
  sha256,
  sha512,
  md5,
  derivePairingCodeKey,
  bytesToCrockford,
  hkdfInfoKey,
  getMediaKeys,
  encryptMedia,
  decryptMedia,
  MediaEncryptor: native.MediaEncryptor,
  MediaDecryptor: native.MediaDecryptor,
  LT_HASH_ANTI_TAMPERING,
}
