// The connection, pairing and receive/send pipeline utilities side by side with Baileys 7's
// (7.0.0-rc14): login and registration payloads, signed device identities, pair-success,
// stanza addressing and decoding, decryption through Signal repositories, retry bookkeeping,
// identity changes, retry-receipt key bundles and session injection, the Noise handler.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import * as B from '@whiskeysockets/baileys/lib/Utils/validate-connection.js'
import * as BDecode from '@whiskeysockets/baileys/lib/Utils/decode-wa-message.js'
import { MessageRetryManager as BRetryManager } from '@whiskeysockets/baileys/lib/Utils/message-retry-manager.js'
import { handleIdentityChange as bHandleIdentityChange } from '@whiskeysockets/baileys/lib/Utils/identity-change-handler.js'
import { extractE2ESessionFromRetryReceipt as bExtract, parseAndInjectE2ESessions as bParseInject } from '@whiskeysockets/baileys/lib/Utils/signal.js'
import { makeNoiseHandler as bMakeNoiseHandler } from '@whiskeysockets/baileys/lib/Utils/noise-handler.js'
import { Curve as BCurve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { WA_CERT_DETAILS as B_CERT } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { proto as bproto } from '@whiskeysockets/baileys/WAProto/index.js'
import {
  ours, libsignal, baileys, silent, makeAuth, jsonKeyStore, bundleOf, repoOf, canonical,
} from './signal-util.mjs'

const {
  proto, Curve, generateLoginNode, generateRegistrationNode, configureSuccessfulPairing, encodeSignedDeviceIdentity,
  getDecryptionJid, extractAddressingContext, decodeMessageNode, decryptMessageNode, MessageRetryManager,
  handleIdentityChange, extractE2ESessionFromRetryReceipt, parseAndInjectE2ESessions, makeNoiseHandler,
  encodeBigEndian, writeRandomPadMax16, NoiseResponder, mintNoiseCertChain, encodeBinaryNode, decodeBinaryNode,
  NOISE_WA_HEADER, WA_CERT_DETAILS, generateSignalPubKey,
} = ours
const { initAuthCreds } = baileys

const rejectsWith = async (p, re) => assert.rejects(p, (e) => re.test(e.message))
const throwsWith = (fn, re) => assert.throws(fn, (e) => re.test(e.message))
const bytes = (x) => Buffer.from(x).toString('hex')

// ---- login and registration -------------------------------------------------------------

const configs = [
  { version: [2, 3000, 1027934701], browser: ['Mac OS', 'Desktop', '14.4.1'], countryCode: 'US', syncFullHistory: true },
  { version: [2, 3000, 1027934701], browser: ['Mac OS', 'Desktop', '14.4.1'], countryCode: 'US', syncFullHistory: false },
  { version: [2, 2413, 1], browser: ['Windows', 'Desktop', '10'], countryCode: 'BR', syncFullHistory: true, pushName: 'Ana' },
  { version: [2, 2413, 1], browser: ['Ubuntu', 'Chrome', '22.04.4'], countryCode: 'DE', syncFullHistory: false },
  { version: [2, 24, 6], browser: ['Baileys', 'Android', '4.0'], countryCode: 'IN', syncFullHistory: true },
  { version: [2, 24, 6], browser: ['Linux', 'Firefox', '1'], countryCode: 'FR' },
]

test('generateLoginNode: the same ClientPayload bytes as Baileys for every config and JID', () => {
  for (const config of configs) {
    for (const jid of ['15551234567:2@s.whatsapp.net', '447700900123@s.whatsapp.net', '5511987654321:17@s.whatsapp.net']) {
      const mine = generateLoginNode(jid, config)
      const theirs = B.generateLoginNode(jid, config)
      assert.ok(mine instanceof proto.ClientPayload)
      assert.equal(bytes(proto.ClientPayload.encode(mine).finish()), bytes(bproto.ClientPayload.encode(theirs).finish()), `${jid} ${config.browser}`)
      assert.equal(mine.passive, true)
      assert.equal(mine.pull, true)
    }
  }
})

test('generateRegistrationNode: the same ClientPayload bytes as Baileys (Baileys creds)', () => {
  for (const config of configs) {
    const creds = initAuthCreds()
    const mine = generateRegistrationNode(creds, config)
    const theirs = B.generateRegistrationNode(creds, config)
    assert.equal(bytes(proto.ClientPayload.encode(mine).finish()), bytes(bproto.ClientPayload.encode(theirs).finish()), String(config.browser))
    assert.equal(bytes(mine.devicePairingData.eIdent), bytes(creds.signedIdentityKey.public))
    assert.equal(mine.passive, false)
  }
})

test('login and registration: bad JIDs, configs and creds give Boom errors', () => {
  throwsWith(() => generateLoginNode('not a jid', configs[0]), /not a JID/)
  throwsWith(() => generateLoginNode(undefined, configs[0]), /not a JID/)
  throwsWith(() => generateLoginNode('1@s.whatsapp.net', {}), /config needs version/)
  throwsWith(() => generateRegistrationNode({}, configs[0]), /creds need registrationId/)
  throwsWith(() => generateRegistrationNode(null, configs[0]), /creds need registrationId/)
})

// ---- signed device identity and pair-success ---------------------------------------------

test('encodeSignedDeviceIdentity: byte-equal with and without the account signature key', () => {
  const accounts = [
    { details: randomBytes(40), accountSignatureKey: randomBytes(32), accountSignature: randomBytes(64), deviceSignature: randomBytes(64) },
    { details: randomBytes(12), accountSignatureKey: Buffer.alloc(0), accountSignature: randomBytes(64) },
    { details: randomBytes(12), accountSignature: randomBytes(64), deviceSignature: randomBytes(64) },
  ]
  for (const account of accounts) {
    for (const include of [true, false]) {
      assert.equal(bytes(encodeSignedDeviceIdentity(account, include)), bytes(B.encodeSignedDeviceIdentity(account, include)))
    }
  }
  const withKey = proto.ADVSignedDeviceIdentity.decode(encodeSignedDeviceIdentity(accounts[0], true))
  assert.equal(bytes(withKey.accountSignatureKey), bytes(accounts[0].accountSignatureKey))
  assert.ok(!proto.ADVSignedDeviceIdentity.decode(encodeSignedDeviceIdentity(accounts[0], false)).accountSignatureKey?.length)
  assert.equal(accounts[0].accountSignatureKey.length, 32, 'the input is not modified')
})

// The phone's side of pairing: signs our identity with its account key, HMACs with our ADV secret.
function pairSuccess(creds, { forge = false, hmacKey, hosted = false, biz } = {}) {
  const phone = libsignal.keyhelper.generateIdentityKeyPair()
  const details = proto.ADVDeviceIdentity.encode({ rawId: 9, timestamp: 1700000000, keyIndex: 3, ...(hosted ? { deviceType: proto.ADVEncryptionType.HOSTED } : {}) }).finish()
  const prefix = Buffer.from(hosted ? [6, 5] : [6, 0])
  let accountSignature = libsignal.curve.calculateSignature(phone.privKey, Buffer.concat([prefix, details, creds.signedIdentityKey.public]))
  if (forge) accountSignature = Buffer.from(accountSignature.map((b, i) => (i === 7 ? b ^ 1 : b)))
  const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: phone.pubKey.subarray(1), accountSignature }).finish()
  const hmac = createHmac('sha256', hmacKey ?? Buffer.from(creds.advSecretKey, 'base64')).update(signed).digest()
  const content = [
    { tag: 'device-identity', attrs: {}, content: proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish() },
    { tag: 'platform', attrs: { name: 'smba' } },
    { tag: 'device', attrs: { jid: '15550001111:5@s.whatsapp.net', lid: '777000111:5@lid' } },
  ]
  if (biz) content.push({ tag: 'biz', attrs: { name: biz } })
  return { tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'result', id: 'ps-1' }, content: [{ tag: 'pair-success', attrs: {}, content }] }
}

const honestVerify = (pub, msg, sig) =>
  libsignal.curve.verifySignature(Buffer.concat([Buffer.from([5]), Buffer.from(pub)]), Buffer.from(msg), Buffer.from(sig)) === true

test('configureSuccessfulPairing: the same creds update and reply as Baileys', () => {
  for (const biz of [undefined, 'Shop']) {
    const creds = initAuthCreds()
    creds.signalIdentities = [{ identifier: { name: 'old@lid', deviceId: 0 }, identifierKey: Buffer.alloc(33, 5) }]
    const stanza = pairSuccess(creds, { biz })
    const mine = configureSuccessfulPairing(stanza, creds)
    const theirs = B.configureSuccessfulPairing(stanza, creds)
    assert.deepEqual(mine.creds.me, theirs.creds.me)
    assert.deepEqual(mine.creds.me, { id: '15550001111:5@s.whatsapp.net', name: biz, lid: '777000111:5@lid' })
    assert.equal(mine.creds.platform, 'smba')
    assert.equal(canonical(mine.creds.signalIdentities), canonical(theirs.creds.signalIdentities))
    assert.equal(mine.creds.signalIdentities.length, 2)
    // the device signature is randomised (XEdDSA): equal fields, and both signatures verify
    const fields = (a) => canonical({ details: a.details, accountSignatureKey: a.accountSignatureKey, accountSignature: a.accountSignature })
    assert.equal(fields(mine.creds.account), fields(theirs.creds.account))
    for (const { account } of [mine.creds, theirs.creds]) {
      const msg = Buffer.concat([Buffer.from([6, 1]), account.details, creds.signedIdentityKey.public, account.accountSignatureKey])
      assert.ok(honestVerify(creds.signedIdentityKey.public, msg, account.deviceSignature))
    }
    const strip = (r) => JSON.parse(canonical({ ...r, content: [{ ...r.content[0], content: [{ ...r.content[0].content[0], content: null }] }] }))
    assert.deepEqual(strip(mine.reply), strip(theirs.reply))
    assert.deepEqual(mine.reply.content[0].content[0].attrs, { 'key-index': '3' })
    const sent = proto.ADVSignedDeviceIdentity.decode(mine.reply.content[0].content[0].content)
    assert.ok(!sent.accountSignatureKey?.length, 'the reply leaves the account signature key out')
    assert.equal(bytes(sent.deviceSignature), bytes(mine.creds.account.deviceSignature))
    assert.equal(mine.reply.attrs.id, 'ps-1')
  }
})

test('configureSuccessfulPairing: wrong HMAC and missing nodes fail alike; a forged account signature only fails ours (Baileys rc14 bug)', () => {
  const creds = initAuthCreds()
  const badHmac = pairSuccess(creds, { hmacKey: randomBytes(32) })
  throwsWith(() => configureSuccessfulPairing(badHmac, creds), /^Invalid account signature$/)
  throwsWith(() => B.configureSuccessfulPairing(badHmac, creds), /^Invalid account signature$/)
  const forged = pairSuccess(creds, { forge: true })
  throwsWith(() => configureSuccessfulPairing(forged, creds), /^Failed to verify account signature$/)
  // Baileys' Curve.verify accepts any signature: it pairs with a forged account signature
  assert.equal(B.configureSuccessfulPairing(forged, creds).creds.me.id, '15550001111:5@s.whatsapp.net')
  const noDevice = pairSuccess(creds)
  noDevice.content[0].content = noDevice.content[0].content.filter((n) => n.tag !== 'device')
  throwsWith(() => configureSuccessfulPairing(noDevice, creds), /Missing device-identity or device in pair success node/)
  throwsWith(() => B.configureSuccessfulPairing(noDevice, creds), /Missing device-identity or device in pair success node/)
  throwsWith(() => configureSuccessfulPairing({ tag: 'iq', attrs: {} }, creds), /Missing device-identity/)
  const garbage = pairSuccess(creds)
  garbage.content[0].content[0].content = Buffer.from([0xff, 0xff, 0xff])
  throwsWith(() => configureSuccessfulPairing(garbage, creds), /Invalid device-identity/)
})
