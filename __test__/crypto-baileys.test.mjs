// wa-crypto against the real Baileys 7.0.0-rc14 (and libsignal-node / curve25519-js as the
// honest signature verifier): same inputs, same outputs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto'
import { readFile, unlink } from 'node:fs/promises'
import * as B from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { LT_HASH_ANTI_TAMPERING as B_LTHASH } from '@whiskeysockets/baileys/lib/Utils/lt-hash.js'
import {
  encryptedStream,
  getMediaKeys as bGetMediaKeys,
  hkdfInfoKey as bHkdfInfoKey,
} from '@whiskeysockets/baileys/lib/Utils/messages-media.js'
import { bytesToCrockford as bBytesToCrockford } from '@whiskeysockets/baileys/lib/Utils/generics.js'
import { MEDIA_HKDF_KEY_MAPPING } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import * as N from '../index.mjs'

const require = createRequire(import.meta.url)
const libsignalCurve = require('libsignal/src/curve.js')
const curveJs = require('curve25519-js')

const prefixed = (pub) => Buffer.concat([Buffer.from([5]), pub])
/** The honest verifier: libsignal's boolean (Baileys' wrapper throws it away). */
const honestVerify = (pub, msg, sig) =>
  libsignalCurve.verifySignature(prefixed(pub), msg, sig) === true && curveJs.verify(pub, msg, sig) === true

test('Baileys 7.0.0-rc14 Curve.verify accepts any 64-byte signature (why it is no oracle)', () => {
  const k = B.Curve.generateKeyPair()
  assert.equal(B.Curve.verify(k.public, Buffer.from('m'), randomBytes(64)), true)
  assert.equal(honestVerify(k.public, Buffer.from('m'), randomBytes(64)), false)
})

test('signatures: Baileys signs, we verify; we sign, libsignal and curve25519-js verify; byte-equal', () => {
  // Baileys signs and libsignal verifies in pure JS (~10 ms each), so the count stays modest.
  for (let i = 0; i < 24; i++) {
    const bk = B.Curve.generateKeyPair()
    const nk = N.Curve.generateKeyPair()
    const msg = randomBytes(randomInt(0, 300) + 1)
    const bSig = B.Curve.sign(bk.private, msg)
    assert.equal(N.Curve.verify(bk.public, msg, bSig), true, 'ours verifies Baileys')
    assert.equal(N.Curve.verify(prefixed(bk.public), msg, bSig), true, 'with the 05 prefix too')
    const nSig = N.Curve.sign(nk.private, msg)
    assert.equal(nSig.length, 64)
    assert.equal(honestVerify(nk.public, msg, nSig), true, 'honest verifier accepts ours')
    assert.deepEqual(N.Curve.sign(bk.private, msg), bSig, 'deterministic, same bytes as libsignal-node')
  }
})

test('signatures: a wrong signature, message or key fails ours (and the honest verifier)', () => {
  for (let i = 0; i < 16; i++) {
    const k = B.Curve.generateKeyPair()
    const msg = randomBytes(40)
    const sig = B.Curve.sign(k.private, msg)
    const bad = Buffer.from(sig)
    bad[randomInt(0, 64)] ^= 1 << randomInt(0, 8)
    assert.equal(N.Curve.verify(k.public, msg, bad), false)
    assert.equal(honestVerify(k.public, msg, bad), false)
    const other = Buffer.from(msg)
    other[0] ^= 1
    assert.equal(N.Curve.verify(k.public, other, sig), false)
    assert.equal(N.Curve.verify(B.Curve.generateKeyPair().public, msg, sig), false)
    assert.equal(N.Curve.verify(k.public, msg, sig.subarray(0, 63)), false)
    assert.equal(N.Curve.verify(k.public, msg, randomBytes(64)), false)
  }
})

test('X25519 agreement equals Baileys across implementations', () => {
  for (let i = 0; i < 32; i++) {
    const a = B.Curve.generateKeyPair()
    const b = N.Curve.generateKeyPair()
    const s1 = B.Curve.sharedKey(a.private, b.public)
    assert.deepEqual(N.Curve.sharedKey(a.private, b.public), s1)
    assert.deepEqual(N.Curve.sharedKey(b.private, a.public), s1)
    assert.deepEqual(N.Curve.sharedKey(b.private, prefixed(a.public)), s1)
  }
  const kp = N.signedKeyPair(B.Curve.generateKeyPair(), 7)
  assert.equal(kp.keyId, 7)
  assert.equal(N.generateSignalPubKey(kp.keyPair.public).length, 33)
})

test('hkdf equals Baileys (whatsapp-rust-bridge), with and without salt', () => {
  for (let i = 0; i < 100; i++) {
    const ikm = randomBytes(randomInt(1, 100))
    const len = randomInt(1, 255 * 32)
    const info = i % 3 === 0 ? undefined : 'WhatsApp ' + randomBytes(4).toString('hex')
    const salt = i % 2 === 0 ? undefined : randomBytes(randomInt(1, 64))
    const opts = {}
    if (salt) opts.salt = salt
    if (info) opts.info = info
    assert.deepEqual(N.hkdf(ikm, len, opts), Buffer.from(B.hkdf(ikm, len, opts)), `case ${i}`)
  }
  assert.throws(() => N.hkdf(Buffer.alloc(1), 255 * 32 + 1, {}), { code: 'ERR_WA_CRYPTO_HKDF_LENGTH' })
})

test('AES-GCM, CTR, CBC, HMAC and digests equal Baileys', () => {
  for (let i = 0; i < 50; i++) {
    const key = randomBytes(32)
    const plain = randomBytes(randomInt(0, 5000))
    const iv12 = randomBytes(12)
    const iv16 = randomBytes(16)
    const aad = randomBytes(randomInt(0, 40))
    const g = B.aesEncryptGCM(plain, key, iv12, aad)
    assert.deepEqual(N.aesEncryptGCM(plain, key, iv12, aad), g)
    assert.deepEqual(N.aesDecryptGCM(g, key, iv12, aad), plain)
    assert.deepEqual(B.aesDecryptGCM(N.aesEncryptGCM(plain, key, iv12, aad), key, iv12, aad), plain)
    assert.deepEqual(N.aesEncryptCTR(plain, key, iv16), B.aesEncryptCTR(plain, key, iv16))
    assert.deepEqual(N.aesDecryptCTR(B.aesEncryptCTR(plain, key, iv16), key, iv16), plain)
    assert.deepEqual(N.aesEncrypWithIV(plain, key, iv16), B.aesEncrypWithIV(plain, key, iv16))
    assert.deepEqual(N.aesDecrypt(B.aesEncrypt(plain, key), key), plain)
    assert.deepEqual(B.aesDecrypt(N.aesEncrypt(plain, key), key), plain)
    assert.deepEqual(N.aesDecryptWithIV(B.aesEncrypWithIV(plain, key, iv16), key, iv16), plain)
    assert.deepEqual(N.hmacSign(plain, key), B.hmacSign(plain, key))
    assert.deepEqual(N.hmacSign(plain, key, 'sha512'), B.hmacSign(plain, key, 'sha512'))
    assert.deepEqual(N.sha256(plain), B.sha256(plain))
    assert.deepEqual(N.md5(plain), Buffer.from(B.md5(plain)))
  }
  const key = randomBytes(32)
  const iv = randomBytes(12)
  const sealed = N.aesEncryptGCM(Buffer.from('x'), key, iv, Buffer.alloc(0))
  sealed[0] ^= 1
  assert.throws(() => N.aesDecryptGCM(sealed, key, iv, Buffer.alloc(0)), { code: 'ERR_WA_CRYPTO_GCM_AUTH' })
  assert.throws(() => N.aesEncryptGCM(Buffer.from('x'), key.subarray(1), iv, Buffer.alloc(0)), {
    code: 'ERR_WA_CRYPTO_KEY_LENGTH',
  })
  // A block whose plaintext ends in 0x00 is never valid PKCS#7 (random bytes are, one time in ~256).
  const cbcIv = randomBytes(16)
  const unpadded = createCipheriv('aes-256-cbc', key, cbcIv).setAutoPadding(false)
  const badPadding = Buffer.concat([unpadded.update(Buffer.alloc(32)), unpadded.final()])
  assert.throws(() => N.aesDecryptWithIV(badPadding, key, cbcIv), { code: 'ERR_WA_CRYPTO_CBC_PADDING' })
  assert.throws(() => N.hmacSign(Buffer.alloc(1), key, 'md5'), { code: 'ERR_WA_CRYPTO_HMAC_VARIANT' })
})

test('media keys equal Baileys for every media type', async () => {
  const types = Object.keys(MEDIA_HKDF_KEY_MAPPING)
  assert.ok(types.length >= 19)
  for (const type of types) {
    const mediaKey = randomBytes(32)
    const b = await bGetMediaKeys(mediaKey, type)
    const n = await N.getMediaKeys(mediaKey, type)
    assert.deepEqual(n.iv, Buffer.from(b.iv), type)
    assert.deepEqual(n.cipherKey, Buffer.from(b.cipherKey), type)
    assert.deepEqual(n.macKey, Buffer.from(b.macKey), type)
    assert.deepEqual(n.refKey, Buffer.from(B.hkdf(mediaKey, 112, { info: bHkdfInfoKey(type) })).subarray(80), type)
    assert.equal(N.hkdfInfoKey(type), bHkdfInfoKey(type))
    const b64 = await N.getMediaKeys(mediaKey.toString('base64'), type)
    assert.deepEqual(b64.cipherKey, n.cipherKey)
  }
  assert.throws(() => N.hkdfInfoKey('nonsense'), { code: 'ERR_WA_CRYPTO_MEDIA_TYPE' })
  await assert.rejects(N.getMediaKeys(undefined, 'image'), { code: 'ERR_WA_CRYPTO_MEDIA_KEY' })
})

test('media encryption equals Baileys encryptedStream (one-shot and streaming) and decrypts', async () => {
  for (const [type, size] of [['image', 0], ['video', 1], ['audio', 15], ['document', 16], ['ptt', 1000], ['md-app-state', 70_001], ['sticker', 1 << 20]]) {
    const plain = randomBytes(size)
    const b = await encryptedStream(plain, type)
    try {
      const file = await readFile(b.encFilePath)
      const n = N.encryptMedia(plain, b.mediaKey, type)
      assert.deepEqual(n.data, file, `${type} bytes`)
      assert.deepEqual(n.mac, Buffer.from(b.mac))
      assert.deepEqual(n.fileSha256, Buffer.from(b.fileSha256))
      assert.deepEqual(n.fileEncSha256, Buffer.from(b.fileEncSha256))
      assert.equal(n.fileLength, b.fileLength)

      // streaming, random chunk sizes
      const enc = new N.MediaEncryptor(b.mediaKey, type)
      const parts = []
      for (let at = 0; at < plain.length; ) {
        const n = randomInt(1, 70_000)
        parts.push(enc.update(plain.subarray(at, at + n)))
        at += n
      }
      const fin = enc.finish()
      parts.push(fin.data)
      assert.deepEqual(Buffer.concat(parts), file, `${type} streamed`)
      assert.deepEqual(fin.fileEncSha256, Buffer.from(b.fileEncSha256))
      assert.throws(() => enc.update(Buffer.alloc(1)), { code: 'ERR_WA_CRYPTO_FINISHED' })

      // decrypt Baileys' file: ours one-shot and streamed; Node's CBC with Baileys' keys on ours
      assert.deepEqual(N.decryptMedia(file, b.mediaKey, type), plain)
      const dec = new N.MediaDecryptor(b.mediaKey, type)
      const out = []
      for (let at = 0; at < file.length; ) {
        const n = randomInt(1, 70_000)
        out.push(dec.update(file.subarray(at, at + n)))
        at += n
      }
      out.push(dec.finish())
      assert.deepEqual(Buffer.concat(out), plain)
      const keys = await bGetMediaKeys(b.mediaKey, type)
      const d = createDecipheriv('aes-256-cbc', keys.cipherKey, keys.iv)
      const ct = n.data.subarray(0, n.data.length - 10)
      assert.deepEqual(Buffer.concat([d.update(ct), d.final()]), plain)

      const bad = Buffer.from(file)
      bad[bad.length - 1] ^= 1
      assert.throws(() => N.decryptMedia(bad, b.mediaKey, type), { code: 'ERR_WA_CRYPTO_BAD_MAC' })
      const dec2 = new N.MediaDecryptor(b.mediaKey, type)
      dec2.update(bad)
      assert.throws(() => dec2.finish(), { code: 'ERR_WA_CRYPTO_BAD_MAC' })
    } finally {
      await unlink(b.encFilePath)
    }
  }
})

test('pairing code key and code alphabet equal Baileys', async () => {
  for (let i = 0; i < 4; i++) {
    const code = N.bytesToCrockford(randomBytes(5))
    const salt = randomBytes(32)
    assert.deepEqual(await N.derivePairingCodeKey(code, salt), await B.derivePairingCodeKey(code, salt))
  }
  for (let i = 0; i < 200; i++) {
    const bytes = randomBytes(randomInt(0, 12))
    assert.equal(N.bytesToCrockford(bytes), bBytesToCrockford(bytes))
  }
  // the key unwraps what Baileys wraps (salt || iv || AES-CTR(key, iv, ephemeral public))
  const code = 'ABCD2345'
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const pub = randomBytes(32)
  const wrapped = B.aesEncryptCTR(pub, await B.derivePairingCodeKey(code, salt), iv)
  assert.deepEqual(N.aesDecryptCTR(wrapped, await N.derivePairingCodeKey(code, salt), iv), pub)
})

test('LTHash subtractThenAdd equals Baileys (whatsapp-rust-bridge) on random sets', () => {
  for (let i = 0; i < 100; i++) {
    const base = i % 4 === 0 ? Buffer.alloc(128) : randomBytes(128)
    const sub = Array.from({ length: randomInt(0, 12) }, () => randomBytes(32))
    const add = Array.from({ length: randomInt(0, 12) }, () => randomBytes(i % 5 === 0 ? randomInt(1, 80) : 32))
    const expected = Buffer.from(B_LTHASH.subtractThenAdd(base, sub, add))
    assert.deepEqual(N.LT_HASH_ANTI_TAMPERING.subtractThenAdd(base, sub, add), expected, `case ${i}`)
  }
  // adding then removing the same set returns to the start
  const base = randomBytes(128)
  const set = Array.from({ length: 9 }, () => randomBytes(32))
  const added = N.LT_HASH_ANTI_TAMPERING.subtractThenAdd(base, [], set)
  assert.deepEqual(N.LT_HASH_ANTI_TAMPERING.subtractThenAdd(added, set.reverse(), []), base)
  assert.throws(() => N.LT_HASH_ANTI_TAMPERING.subtractThenAdd(Buffer.alloc(127), [], []), {
    code: 'ERR_WA_CRYPTO_LTHASH_LENGTH',
  })
})
