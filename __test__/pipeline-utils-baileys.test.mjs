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
  // (the Noise tests below make Baileys' Curve.verify honest; its stock one is used here)
  const honest = BCurve.verify
  BCurve.verify = stockCert.verify
  try {
    assert.equal(B.configureSuccessfulPairing(forged, creds).creds.me.id, '15550001111:5@s.whatsapp.net')
  } finally {
    BCurve.verify = honest
  }
  throwsWith(() => B.configureSuccessfulPairing(forged, creds), /^Failed to verify account signature$/)
  const noDevice = pairSuccess(creds)
  noDevice.content[0].content = noDevice.content[0].content.filter((n) => n.tag !== 'device')
  throwsWith(() => configureSuccessfulPairing(noDevice, creds), /Missing device-identity or device in pair success node/)
  throwsWith(() => B.configureSuccessfulPairing(noDevice, creds), /Missing device-identity or device in pair success node/)
  throwsWith(() => configureSuccessfulPairing({ tag: 'iq', attrs: {} }, creds), /Missing device-identity/)
  const garbage = pairSuccess(creds)
  garbage.content[0].content[0].content = Buffer.from([0xff, 0xff, 0xff])
  throwsWith(() => configureSuccessfulPairing(garbage, creds), /Invalid device-identity/)
})

// ---- addressing and decoding -------------------------------------------------------------

const ME = '15550009999:3@s.whatsapp.net'
const ME_LID = '888000999:3@lid'
const msg = (attrs, content) => ({ tag: 'message', attrs: { id: '3EB0ABCDEF', t: '1700000123', ...attrs }, content })
const stanzas = [
  msg({ from: '15551112222@s.whatsapp.net', notify: 'Bob', type: 'text' }),
  msg({ from: '15551112222:4@s.whatsapp.net', sender_lid: '111222333:4@lid' }),
  msg({ from: '111222333@lid', addressing_mode: 'lid', sender_pn: '15551112222@s.whatsapp.net', peer_recipient_username: 'bob' }),
  msg({ from: '111222333@lid', participant_pn: '15551112222@s.whatsapp.net', recipient_pn: '15550009999@s.whatsapp.net' }),
  msg({ from: '15550009999@s.whatsapp.net', recipient: '15551112222@s.whatsapp.net', recipient_lid: '111222333@lid' }),
  msg({ from: '888000999@lid', recipient: '111222333@lid', recipient_username: 'b' }),
  msg({ from: '15550009999:7@s.whatsapp.net' }),
  msg({ from: '15550009999@s.whatsapp.net', recipient: '867051314767696@bot' }),
  msg({ from: '120363040000000000@g.us', participant: '15551112222:2@s.whatsapp.net', participant_lid: '111222333:2@lid', participant_username: 'bobby' }),
  msg({ from: '120363040000000000@g.us', participant: '111222333@lid', addressing_mode: 'lid', participant_pn: '15551112222@s.whatsapp.net' }),
  msg({ from: '120363040000000000@g.us', participant: '888000999:2@lid', addressing_mode: 'lid' }),
  msg({ from: '120363040000000000@g.us', participant: '15550009999@s.whatsapp.net', category: 'peer' }),
  msg({ from: 'status@broadcast', participant: '15551112222@s.whatsapp.net' }),
  msg({ from: 'status@broadcast', participant: '15550009999@s.whatsapp.net' }),
  msg({ from: '1234567890@broadcast', participant: '15551112222@s.whatsapp.net' }),
  msg({ from: '1234567890@broadcast', participant: '15550009999:3@s.whatsapp.net' }),
  msg({ from: '1234567890@broadcast', participant: '888000999@lid' }),
  msg({ from: '120363100000000000@newsletter', server_id: '171' }),
  msg({ from: '120363100000000000@newsletter' }),
  msg({ from: '111222333@hosted.lid' }),
  msg({ from: '15551112222@hosted' }),
]

test('extractAddressingContext and decodeMessageNode: equal to Baileys on 1:1, LID, group, broadcast, newsletter and own stanzas', () => {
  for (const stanza of stanzas) {
    assert.deepStrictEqual(extractAddressingContext(stanza), BDecode.extractAddressingContext(stanza), JSON.stringify(stanza.attrs))
    const mine = decodeMessageNode(stanza, ME, ME_LID)
    const theirs = BDecode.decodeMessageNode(stanza, ME, ME_LID)
    assert.deepStrictEqual(mine, theirs, JSON.stringify(stanza.attrs))
  }
  // spot checks that the cases differ as intended
  assert.equal(decodeMessageNode(stanzas[4], ME, ME_LID).fullMessage.key.fromMe, true)
  assert.equal(decodeMessageNode(stanzas[4], ME, ME_LID).fullMessage.status, 2)
  assert.equal(decodeMessageNode(stanzas[8], ME, ME_LID).fullMessage.key.participantAlt, '111222333:2@lid')
  assert.equal(decodeMessageNode(stanzas[13], ME, ME_LID).sender, 'status@broadcast')
  assert.equal(decodeMessageNode(stanzas[17], ME, ME_LID).fullMessage.key.server_id, '171')
  assert.equal(decodeMessageNode(stanzas[2], ME, ME_LID).fullMessage.key.remoteJidAlt, '15551112222@s.whatsapp.net')
})

test('decodeMessageNode: malformed stanzas fail with the same errors as Baileys; non-nodes with a clear one', () => {
  const bad = [
    [msg({ id: undefined, from: '1@s.whatsapp.net' }), /missing id attribute/],
    [msg({ from: undefined }), /missing from attribute/],
    [msg({ from: '15551112222@s.whatsapp.net', recipient: '15553334444@s.whatsapp.net' }), /receipient present, but msg not from me/],
    [msg({ from: '120363040000000000@g.us' }), /No participant in group message/],
    [msg({ from: 'status@broadcast' }), /No participant in group message/],
    [msg({ from: 'server@call' }), /Unknown message type/],
  ]
  for (const [stanza, re] of bad) {
    throwsWith(() => decodeMessageNode(stanza, ME, ME_LID), re)
    throwsWith(() => BDecode.decodeMessageNode(stanza, ME, ME_LID), re)
  }
  for (const junk of [null, 42, 'message', { tag: 'message' }]) {
    throwsWith(() => decodeMessageNode(junk, ME, ME_LID), /not a binary node/)
    throwsWith(() => extractAddressingContext(junk), /not a binary node/)
  }
})

test('getDecryptionJid: the LID of a mapped PN, the PN otherwise, a LID as is; as Baileys, with our repository', async () => {
  const map = new Map([['15551112222@s.whatsapp.net', '111222333@lid']])
  const repo = { lidMapping: { getLIDForPN: async (pn) => map.get(pn) ?? null } }
  for (const jid of ['15551112222@s.whatsapp.net', '15553334444@s.whatsapp.net', '111222333:2@lid', '5@hosted.lid']) {
    assert.equal(await getDecryptionJid(jid, repo), await BDecode.getDecryptionJid(jid, repo))
  }
  assert.equal(await getDecryptionJid('15551112222@s.whatsapp.net', repo), '111222333@lid')
  const auth = await makeAuth()
  const real = repoOf('ours', auth)
  await real.lidMapping.storeLIDPNMappings([{ lid: '444555666@lid', pn: '15557778888@s.whatsapp.net' }])
  assert.equal(await getDecryptionJid('15557778888:2@s.whatsapp.net', real), await BDecode.getDecryptionJid('15557778888:2@s.whatsapp.net', real))
  assert.equal(await getDecryptionJid('15557778888:2@s.whatsapp.net', real), '444555666:2@lid')
  await rejectsWith(getDecryptionJid('15557778888@s.whatsapp.net', {}), /no lidMapping/)
})

// ---- decryption --------------------------------------------------------------------------

// The same receiver twice: two key stores with the same content, so ours and Baileys' each
// decrypt the very same ciphertext from a fresh state.
function cloneAuth(auth) {
  const store = jsonKeyStore()
  for (const [k, v] of auth.store.data) store.data.set(k, v)
  const keys = baileys.addTransactionCapability(store, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 })
  return { creds: auth.creds, keys, store }
}

const ALICE = '15551112222@s.whatsapp.net'
const BOB = '15550009999@s.whatsapp.net'

async function pkmsgStanza(message, extra = {}) {
  const bob = await makeAuth()
  const alice = repoOf('baileys', await makeAuth())
  await alice.injectE2ESession({ jid: BOB, session: await bundleOf(bob, 1) })
  const { type, ciphertext } = await alice.encryptMessage({ jid: BOB, data: writeRandomPadMax16(proto.Message.encode(message).finish()) })
  const stanza = msg({ from: ALICE, notify: 'Alice', type: 'text', ...extra }, [
    { tag: 'enc', attrs: { v: '2', type }, content: Buffer.from(ciphertext) },
  ])
  return { bob, stanza, alice }
}

const plainOf = (m) => JSON.parse(canonical(m))

test('decryptMessageNode: a pkmsg from another repository, decrypted by ours and Baileys\' alike (each repository either way)', async () => {
  const { bob, stanza } = await pkmsgStanza({ conversation: 'hello from alice' })
  const results = []
  for (const [fn, kind] of [[decryptMessageNode, 'ours'], [BDecode.decryptMessageNode, 'baileys'], [decryptMessageNode, 'baileys'], [BDecode.decryptMessageNode, 'ours']]) {
    const repo = repoOf(kind, cloneAuth(bob))
    const r = fn(stanza, BOB, '888000999@lid', repo, silent)
    assert.equal(r.author, ALICE)
    await r.decrypt()
    assert.equal(r.fullMessage.messageStubParameters, undefined, `${kind}: ${r.fullMessage.messageStubParameters}`)
    results.push(r)
  }
  for (const r of results) {
    assert.equal(r.fullMessage.message.conversation, 'hello from alice')
    assert.equal(r.fullMessage.messageStubType, undefined)
    assert.deepEqual(plainOf({ ...r.fullMessage, message: r.fullMessage.message.toJSON() }), plainOf({ ...results[1].fullMessage, message: results[1].fullMessage.message.toJSON() }))
  }
})

test('decryptMessageNode: the sender\'s LID from a PN envelope is stored and the session moved, as Baileys does', async () => {
  const { bob, stanza } = await pkmsgStanza({ conversation: 'with lid' }, { sender_lid: '111222333@lid' })
  for (const [fn, kind] of [[decryptMessageNode, 'ours'], [BDecode.decryptMessageNode, 'baileys']]) {
    const repo = repoOf(kind, cloneAuth(bob))
    const r = fn(stanza, BOB, '888000999@lid', repo, silent)
    await r.decrypt()
    assert.equal(r.fullMessage.message.conversation, 'with lid', kind)
    assert.equal(await repo.lidMapping.getLIDForPN(ALICE), '111222333@lid', kind)
    assert.equal((await repo.validateSession('111222333@lid')).exists, true, `${kind}: session under the LID`)
  }
})

test('decryptMessageNode: garbage ciphertext, unknown types and empty stanzas become CIPHERTEXT stubs as in Baileys', async () => {
  const auth = await makeAuth()
  const cases = [
    [[{ tag: 'enc', attrs: { v: '2', type: 'msg' }, content: randomBytes(60) }], null],
    [[{ tag: 'enc', attrs: { v: '2', type: 'frob' }, content: randomBytes(8) }], /Unknown e2e type: frob/],
    [[{ tag: 'enc', attrs: { v: '2', type: 'pkmsg', count: '2' }, content: randomBytes(70) }], null],
    [[{ tag: 'plaintext', attrs: {}, content: Buffer.from([0xff, 0xff, 0xff]) }], null],
    [[{ tag: 'unavailable', attrs: { type: 'view_once' } }], 'view-once'],
    [[{ tag: 'enc', attrs: { type: 'msg' }, content: 'not bytes' }, null, 7], /Message absent from node/],
    [undefined, /Message absent from node/],
  ]
  for (const [content, expect] of cases) {
    const out = []
    for (const [fn, kind] of [[decryptMessageNode, 'ours'], [BDecode.decryptMessageNode, 'baileys']]) {
      const stanza = msg({ from: ALICE }, content && kind === 'baileys' ? content.filter((c) => c && typeof c === 'object') : content)
      const r = fn(stanza, BOB, '888000999@lid', repoOf(kind, cloneAuth(auth)), silent)
      await r.decrypt()
      out.push(r.fullMessage)
    }
    const [mine, theirs] = out
    assert.equal(mine.messageStubType, theirs.messageStubType)
    assert.equal(mine.retryCount, theirs.retryCount)
    assert.equal(mine.key.isViewOnce, theirs.key.isViewOnce)
    if (expect === 'view-once') {
      assert.equal(mine.messageStubType, undefined)
      assert.equal(mine.key.isViewOnce, true)
    } else {
      assert.equal(mine.messageStubType, proto.WebMessageInfo.StubType.CIPHERTEXT)
      if (expect) assert.match(mine.messageStubParameters[0], expect)
      if (expect) assert.equal(mine.messageStubParameters[0], theirs.messageStubParameters[0])
    }
  }
  throwsWith(() => decryptMessageNode(msg({ from: ALICE }), BOB, ME_LID, undefined), /Signal repository/)
})

test('decryptMessageNode: plaintext (newsletter) and a device-sent copy of our own message', async () => {
  const plain = msg({ from: '120363100000000000@newsletter', server_id: '9' }, [
    { tag: 'plaintext', attrs: {}, content: proto.Message.encode({ conversation: 'news' }).finish() },
  ])
  const auth = await makeAuth()
  const mine = decryptMessageNode(plain, BOB, ME_LID, repoOf('ours', auth), silent)
  const theirs = BDecode.decryptMessageNode(plain, BOB, ME_LID, repoOf('baileys', cloneAuth(auth)), silent)
  await mine.decrypt()
  await theirs.decrypt()
  assert.equal(mine.fullMessage.message.conversation, 'news')
  assert.deepEqual(plainOf(mine.fullMessage.key), plainOf(theirs.fullMessage.key))

  const { bob, stanza } = await pkmsgStanza({ deviceSentMessage: { destinationJid: ALICE, message: { conversation: 'sent from my phone' } } })
  for (const [fn, kind] of [[decryptMessageNode, 'ours'], [BDecode.decryptMessageNode, 'baileys']]) {
    const r = fn(stanza, BOB, ME_LID, repoOf(kind, cloneAuth(bob)), silent)
    await r.decrypt()
    assert.equal(r.fullMessage.message.conversation, 'sent from my phone', kind)
  }
})

// ---- MessageRetryManager -----------------------------------------------------------------

test('MessageRetryManager: the same results and statistics as Baileys through its public methods', async () => {
  const mine = new MessageRetryManager(silent, 3)
  const theirs = new BRetryManager(silent, 3)
  const both = (f) => {
    const a = f(mine)
    const b = f(theirs)
    assert.deepStrictEqual(a, b)
    return a
  }
  both((m) => m.addRecentMessage('a@s.whatsapp.net', 'M1', { conversation: 'one' }))
  both((m) => m.addRecentMessage('b@s.whatsapp.net', 'M2', { conversation: 'two' }))
  assert.deepEqual(both((m) => m.getRecentMessage('a@s.whatsapp.net', 'M1')?.message), { conversation: 'one' })
  assert.equal(both((m) => m.getRecentMessage('b@s.whatsapp.net', 'M1')), undefined)
  assert.deepEqual([1, 2, 3, 4].map(() => both((m) => m.incrementRetryCount('M1'))), [1, 2, 3, 4])
  assert.equal(both((m) => m.getRetryCount('M1')), 4)
  assert.equal(both((m) => m.hasExceededMaxRetries('M1')), true)
  assert.equal(both((m) => m.hasExceededMaxRetries('M2')), false)
  for (const attr of [undefined, '', 'x', '0', '4', '7', '13', '14', '-1', '3abc']) both((m) => m.parseRetryErrorCode(attr))
  assert.equal(mine.parseRetryErrorCode('14'), 0)
  for (const code of [undefined, 0, 4, 7, 9]) both((m) => m.isMacError(code))
  assert.equal(both((m) => m.shouldRecreateSession('c@s.whatsapp.net', false).recreate), true)
  assert.deepEqual(both((m) => m.shouldRecreateSession('c@s.whatsapp.net', true)), { reason: '', recreate: false })
  assert.equal(both((m) => m.shouldRecreateSession('c@s.whatsapp.net', true, 7)).recreate, true)
  assert.match(both((m) => m.shouldRecreateSession('c@s.whatsapp.net', true, 4)).reason, /SignalErrorInvalidMessage/)
  assert.equal(both((m) => m.shouldRecreateSession('d@s.whatsapp.net', true, 2)).recreate, true)
  both((m) => m.saveBaseKey('a.0', 'M1', Buffer.from([1, 2, 3])))
  assert.equal(both((m) => m.hasSameBaseKey('a.0', 'M1', new Uint8Array([1, 2, 3]))), true)
  assert.equal(both((m) => m.hasSameBaseKey('a.0', 'M1', Buffer.from([1, 2, 4]))), false)
  assert.equal(both((m) => m.hasSameBaseKey('a.0', 'M2', Buffer.from([1, 2, 3]))), false)
  both((m) => m.deleteBaseKey('a.0', 'M1'))
  assert.equal(both((m) => m.hasSameBaseKey('a.0', 'M1', Buffer.from([1, 2, 3]))), false)
  both((m) => m.markRetrySuccess('M1'))
  assert.equal(both((m) => m.getRecentMessage('a@s.whatsapp.net', 'M1')), undefined)
  assert.equal(both((m) => m.getRetryCount('M1')), 0)
  both((m) => m.incrementRetryCount('M2'))
  both((m) => m.markRetryFailed('M2'))
  assert.equal(both((m) => m.getRecentMessage('b@s.whatsapp.net', 'M2')), undefined)
  // phone requests: one fires, one is cancelled, one is replaced
  const fired = { mine: [], theirs: [] }
  for (const [m, log] of [[mine, fired.mine], [theirs, fired.theirs]]) {
    m.schedulePhoneRequest('P1', () => log.push('P1'), 5)
    m.schedulePhoneRequest('P2', () => log.push('P2'), 5)
    m.cancelPendingPhoneRequest('P2')
    m.schedulePhoneRequest('P3', () => log.push('P3-old'), 5)
    m.schedulePhoneRequest('P3', () => log.push('P3'), 10)
  }
  await new Promise((r) => setTimeout(r, 40))
  assert.deepEqual(fired.mine, ['P1', 'P3'])
  assert.deepEqual(fired.mine, fired.theirs)
  assert.deepEqual(mine.statistics, theirs.statistics)
  assert.deepEqual(mine.statistics, { totalRetries: 5, successfulRetries: 1, failedRetries: 1, mediaRetries: 0, sessionRecreations: 4, phoneRequests: 2 })
  both((m) => m.clear())
  assert.deepEqual(mine.statistics, theirs.statistics)
  assert.equal(both((m) => m.getRetryCount('M1')), 0)
})

test('MessageRetryManager: 512 recent messages at most, the oldest evicted, as Baileys', () => {
  const mine = new MessageRetryManager(silent, 5)
  const theirs = new BRetryManager(silent, 5)
  for (let i = 0; i < 600; i++) {
    mine.addRecentMessage('x@s.whatsapp.net', `I${i}`, i)
    theirs.addRecentMessage('x@s.whatsapp.net', `I${i}`, i)
  }
  for (const i of [0, 87, 88, 599]) {
    assert.equal(mine.getRecentMessage('x@s.whatsapp.net', `I${i}`)?.message, theirs.getRecentMessage('x@s.whatsapp.net', `I${i}`)?.message)
  }
  assert.equal(mine.getRecentMessage('x@s.whatsapp.net', 'I87'), undefined)
  assert.equal(mine.getRecentMessage('x@s.whatsapp.net', 'I88').message, 88)
})

test('MessageRetryManager without maxMsgRetryCount stops at 5 (Baileys rc14 never does: its default is overwritten with undefined)', () => {
  const mine = new MessageRetryManager(silent)
  const theirs = new BRetryManager(silent)
  for (let i = 0; i < 10; i++) {
    mine.incrementRetryCount('Z')
    theirs.incrementRetryCount('Z')
  }
  assert.equal(mine.hasExceededMaxRetries('Z'), true)
  assert.equal(theirs.hasExceededMaxRetries('Z'), false)
  assert.equal(new MessageRetryManager().getRetryCount('none'), 0, 'no logger needed')
})

// ---- identity changes --------------------------------------------------------------------

function identityCtx(overrides = {}) {
  const calls = []
  const cache = new Map()
  const ctx = {
    meId: '15550009999:3@s.whatsapp.net',
    meLid: '888000999:3@lid',
    logger: silent,
    debounceCache: { get: (k) => cache.get(k), set: (k, v) => cache.set(k, v) },
    validateSession: async (jid) => (calls.push(['validate', jid]), { exists: !jid.startsWith('1555000') }),
    assertSessions: async (jids, force) => {
      calls.push(['assert', jids, force])
      if (jids[0].startsWith('1666')) throw new Error('usync failed')
    },
    onBeforeSessionRefresh: (jid) => calls.push(['before', jid]),
    ...overrides,
  }
  return { ctx, calls }
}

test('handleIdentityChange: the same actions and calls as Baileys for every kind of notification', async () => {
  const note = (attrs, identity = true) => ({ tag: 'notification', attrs: { type: 'encrypt', id: 'N', ...attrs }, content: identity ? [{ tag: 'identity', attrs: {}, content: randomBytes(4) }] : [] })
  const cases = [
    [note({}), 'invalid_notification'],
    [note({ from: '15551112222@s.whatsapp.net' }, false), 'no_identity_node'],
    [note({ from: '15551112222:4@s.whatsapp.net' }), 'skipped_companion_device'],
    [note({ from: '15550009999@s.whatsapp.net' }), 'skipped_self_primary'],
    [note({ from: '888000999@lid' }), 'skipped_self_primary'],
    [note({ from: '15550001234@s.whatsapp.net' }), 'skipped_no_session'],
    [note({ from: '15551112222@s.whatsapp.net', offline: '1' }), 'skipped_offline'],
    [note({ from: '15553334444@s.whatsapp.net' }), 'session_refreshed'],
    [note({ from: '111222333@lid' }), 'session_refreshed'],
    [note({ from: '16660001111@s.whatsapp.net' }), 'session_refresh_failed'],
  ]
  for (const [node, action] of cases) {
    const a = identityCtx()
    const b = identityCtx()
    const mine = await handleIdentityChange(node, a.ctx)
    const theirs = await bHandleIdentityChange(node, b.ctx)
    assert.equal(mine.action, action, JSON.stringify(node.attrs))
    assert.deepStrictEqual({ ...mine, error: mine.error?.message }, { ...theirs, error: theirs.error?.message })
    assert.deepEqual(a.calls, b.calls)
    // the same notification again within the debounce window
    if (action === 'session_refreshed') {
      assert.deepEqual(await handleIdentityChange(node, a.ctx), await bHandleIdentityChange(node, b.ctx))
      assert.equal((await handleIdentityChange(node, a.ctx)).action, 'debounced')
    }
  }
  assert.equal((await handleIdentityChange(note({ from: '15551112222:4@s.whatsapp.net' }), identityCtx().ctx)).device, 4)
})

test('handleIdentityChange: a missing node or context is a clear error (Baileys: TypeError)', async () => {
  await rejectsWith(handleIdentityChange(null, identityCtx().ctx), /not a binary node/)
  await rejectsWith(handleIdentityChange({ tag: 'notification', attrs: { from: '1@s.whatsapp.net' } }, {}), /validateSession, assertSessions and debounceCache/)
  await assert.rejects(bHandleIdentityChange(null, identityCtx().ctx), TypeError)
})

// ---- retry-receipt key bundles and session injection -------------------------------------

const node = (tag, content, attrs = {}) => ({ tag, attrs, content })

// The key bundle of an auth state as the server (or a retry receipt) carries it.
function keyBundleChildren(auth, preKeyId) {
  const { creds } = auth
  const children = [
    node('type', Buffer.from([5])),
    node('identity', Buffer.from(creds.signedIdentityKey.public)),
    node('skey', [
      node('id', encodeBigEndian(creds.signedPreKey.keyId, 3)),
      node('value', Buffer.from(creds.signedPreKey.keyPair.public)),
      node('signature', Buffer.from(creds.signedPreKey.signature)),
    ]),
  ]
  if (preKeyId != null) {
    children.push(node('key', [node('id', encodeBigEndian(preKeyId, 3)), node('value', Buffer.from(auth.store.raw('pre-key', String(preKeyId)).public))]))
  }
  return children
}

function retryReceipt(auth, preKeyId) {
  return node('receipt', [
    node('retry', undefined, { count: '1', id: 'M1', t: '1700000000', v: '1' }),
    node('registration', encodeBigEndian(auth.creds.registrationId)),
    node('keys', keyBundleChildren(auth, preKeyId)),
  ], { id: 'M1', from: BOB, type: 'retry' })
}

// `from` (a repository with an injected session) sends to `to`, which decrypts.
async function roundTrip(fromRepo, toRepo, text) {
  const { type, ciphertext } = await fromRepo.encryptMessage({ jid: BOB, data: Buffer.from(text) })
  assert.equal(type, 'pkmsg')
  return Buffer.from(await toRepo.decryptMessage({ jid: ALICE, type, ciphertext })).toString()
}

test('extractE2ESessionFromRetryReceipt: the same bundle as Baileys; the injected session carries a message', async () => {
  const bob = await makeAuth()
  for (const preKeyId of [2, undefined]) {
    const receipt = retryReceipt(bob, preKeyId)
    const mine = extractE2ESessionFromRetryReceipt(receipt)
    assert.equal(canonical(mine), canonical(bExtract(receipt)))
    assert.equal(mine.registrationId, bob.creds.registrationId)
    assert.equal(mine.preKey?.keyId, preKeyId)
    for (const kind of ['ours', 'baileys']) {
      const alice = repoOf(kind, await makeAuth())
      await alice.injectE2ESession({ jid: BOB, session: mine })
      const bobRepo = repoOf(kind === 'ours' ? 'baileys' : 'ours', cloneAuth(bob))
      assert.equal(await roundTrip(alice, bobRepo, `retry ${kind} ${preKeyId}`), `retry ${kind} ${preKeyId}`)
    }
  }
})

test('extractE2ESessionFromRetryReceipt: null for missing or malformed parts, as Baileys', async () => {
  const bob = await makeAuth()
  const variants = [
    (r) => (r.content = r.content.filter((n) => n.tag !== 'keys')),
    (r) => (r.content[2].content[0].content = Buffer.from([6])),
    (r) => (r.content[2].content[0].content = Buffer.from([5, 5])),
    (r) => (r.content[2].content[1].content = randomBytes(33)),
    (r) => (r.content[2].content = r.content[2].content.filter((n) => n.tag !== 'skey')),
    (r) => (r.content = r.content.filter((n) => n.tag !== 'registration')),
    (r) => (r.content[1].content = Buffer.from([1, 2])),
    (r) => (r.content[2].content[2].content[1].content = randomBytes(31)),
    (r) => (r.content[2].content[2].content = r.content[2].content[2].content.filter((n) => n.tag !== 'signature')),
    (r) => (r.content[2].content[3].content[1].content = 'text'),
    (r) => (r.content[2].content[3].content = [r.content[2].content[3].content[1]]),
    (r) => (r.content = 'garbage'),
  ]
  for (const [i, change] of variants.entries()) {
    const receipt = retryReceipt(bob, 1)
    change(receipt)
    assert.equal(extractE2ESessionFromRetryReceipt(receipt), null, `variant ${i}`)
    assert.equal(bExtract(receipt), null, `variant ${i} (Baileys)`)
  }
  assert.equal(extractE2ESessionFromRetryReceipt(null), null)
  assert.equal(extractE2ESessionFromRetryReceipt({ tag: 'receipt' }), null)
})

function keyBundleResult(users) {
  return node('iq', [node('list', users.map(([jid, auth, preKeyId]) => node('user', [
    node('registration', encodeBigEndian(auth.creds.registrationId)),
    ...keyBundleChildren(auth, preKeyId),
  ], { jid })))], { type: 'result', from: 's.whatsapp.net' })
}

test('parseAndInjectE2ESessions: ours and Baileys\' inject the same bundles into either repository; the sessions work', async () => {
  const bob = await makeAuth()
  const carol = await makeAuth()
  const CAROL = '15554445555@s.whatsapp.net'
  const result = keyBundleResult([[BOB, bob, 3], [CAROL, carol, undefined]])
  for (const [fn, kind] of [[parseAndInjectE2ESessions, 'ours'], [bParseInject, 'baileys'], [parseAndInjectE2ESessions, 'baileys'], [bParseInject, 'ours']]) {
    const alice = repoOf(kind, await makeAuth())
    const seen = []
    const spy = { injectE2ESession: (arg) => (seen.push(arg), alice.injectE2ESession(arg)) }
    await fn(result, spy)
    assert.deepEqual(seen.map((s) => s.jid), [BOB, CAROL])
    assert.equal(seen[1].session.preKey, undefined)
    assert.equal(await roundTrip(alice, repoOf('baileys', cloneAuth(bob)), 'via key bundle'), 'via key bundle')
    assert.equal((await alice.validateSession(CAROL)).exists, true)
  }
  // the same session objects from both parsers
  const a = []
  const b = []
  await parseAndInjectE2ESessions(result, { injectE2ESession: async (x) => a.push(x) })
  await bParseInject(result, { injectE2ESession: async (x) => b.push(x) })
  assert.equal(canonical(a), canonical(b))
})

test('parseAndInjectE2ESessions: a <user> with an <error> fails as in Baileys; missing parts are clear errors', async () => {
  const bob = await makeAuth()
  const withError = keyBundleResult([[BOB, bob, 1]])
  withError.content[0].content.push(node('user', [node('error', undefined, { code: '404', text: 'item-not-found' })], { jid: '15550000000@s.whatsapp.net' }))
  const injected = []
  const spy = { injectE2ESession: async (x) => injected.push(x) }
  await rejectsWith(parseAndInjectE2ESessions(withError, spy), /^item-not-found$/)
  await rejectsWith(bParseInject(withError, spy), /^item-not-found$/)
  assert.equal(injected.length, 0, 'nothing injected before the error check')
  const noIdentity = keyBundleResult([[BOB, bob, 1]])
  noIdentity.content[0].content[0].content = noIdentity.content[0].content[0].content.filter((n) => n.tag !== 'identity')
  await rejectsWith(parseAndInjectE2ESessions(noIdentity, spy), /no <identity>/)
  await assert.rejects(bParseInject(noIdentity, spy), TypeError, 'Baileys fails on a TypeError')
  const noJid = keyBundleResult([[undefined, bob, 1]])
  await rejectsWith(parseAndInjectE2ESessions(noJid, spy), /without jid/)
  await rejectsWith(parseAndInjectE2ESessions(withError, {}), /no injectE2ESession/)
  await parseAndInjectE2ESessions(node('iq', []), spy)
  assert.equal(injected.length, 0, 'no list: nothing to do')
})

// ---- the Noise handler -------------------------------------------------------------------

// Both handlers trust a test root for these tests; Baileys' Curve.verify is made honest (its
// own accepts any 64-byte signature), so its handshake is a real check too. Restored after.
const certRoot = Curve.generateKeyPair()
const stockCert = { ours: WA_CERT_DETAILS.PUBLIC_KEY, theirs: B_CERT.PUBLIC_KEY, verify: BCurve.verify }
WA_CERT_DETAILS.PUBLIC_KEY = certRoot.public
B_CERT.PUBLIC_KEY = certRoot.public
BCurve.verify = honestVerify
after(() => {
  WA_CERT_DETAILS.PUBLIC_KEY = stockCert.ours
  B_CERT.PUBLIC_KEY = stockCert.theirs
  BCurve.verify = stockCert.verify
})

function noiseServer({ chainRoot = certRoot, leafKey } = {}) {
  const server = Curve.generateKeyPair()
  const certChain = mintNoiseCertChain({ rootPrivateKey: chainRoot.private, serverPublicKey: leafKey ?? server.public })
  return new NoiseResponder({ staticPrivateKey: server.private, certChain })
}

const framesOf = async (handler, data, pieces = 1) => {
  const out = []
  const step = Math.ceil(data.length / pieces)
  for (let i = 0; i < data.length; i += step) await handler.decodeFrame(data.subarray(i, i + step), (f) => out.push(f))
  return out
}

// Our handler and Baileys', with the same keys, through one handshake with our responder:
// every byte they produce must match, and the responder must accept ours.
async function twinHandshake(routingInfo) {
  const responder = noiseServer()
  const ephemeral = Curve.generateKeyPair()
  const noiseKey = Curve.generateKeyPair()
  const opts = { keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger: silent, routingInfo }
  const mine = makeNoiseHandler(opts)
  const theirs = bMakeNoiseHandler(opts)
  const hello = proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()
  const first = mine.encodeFrame(hello)
  assert.equal(bytes(first), bytes(theirs.encodeFrame(hello)))
  assert.equal(responder.receive(first).length, 0)
  const reply = responder.takeTransmit()
  const [serverHello] = await framesOf(mine, reply, 3)
  const [bServerHello] = await framesOf(theirs, reply)
  assert.equal(bytes(serverHello), bytes(bServerHello))
  const keyEnc = mine.processHandshake(proto.HandshakeMessage.decode(serverHello), noiseKey)
  assert.equal(bytes(keyEnc), bytes(theirs.processHandshake(bproto.HandshakeMessage.decode(bServerHello), noiseKey)))
  const payload = proto.ClientPayload.encode(generateLoginNode('15551234567:2@s.whatsapp.net', configs[0])).finish()
  const encPayload = mine.encrypt(payload)
  assert.equal(bytes(encPayload), bytes(theirs.encrypt(payload)))
  const finish = proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: encPayload } }).finish()
  const finishFrame = mine.encodeFrame(finish)
  assert.equal(bytes(finishFrame), bytes(theirs.encodeFrame(finish)))
  assert.equal(responder.receive(finishFrame).length, 0)
  await mine.finishInit()
  await theirs.finishInit()
  assert.equal(responder.established, true)
  assert.equal(bytes(responder.clientStatic), bytes(noiseKey.public))
  assert.equal(bytes(responder.clientPayload), bytes(payload))
  return { responder, mine, theirs, first }
}

test('makeNoiseHandler: the same handshake bytes as Baileys\' handler with the same keys; our responder accepts it', async () => {
  const { first } = await twinHandshake()
  assert.deepEqual([...first.subarray(0, 4)], [...NOISE_WA_HEADER])
  const routingInfo = randomBytes(23)
  const routed = await twinHandshake(routingInfo)
  assert.equal(routed.first.subarray(0, 2).toString(), 'ED')
  assert.equal(bytes(routed.responder.routingInfo), bytes(routingInfo))
})

test('makeNoiseHandler: transport frames byte-equal with Baileys\'; nodes from the responder decode alike in any chunking', async () => {
  const { responder, mine, theirs } = await twinHandshake()
  for (const size of [0, 1, 100, 70000]) {
    const data = randomBytes(size)
    const frame = mine.encodeFrame(data)
    assert.equal(bytes(frame), bytes(theirs.encodeFrame(data)))
    assert.deepEqual(responder.receive(frame).map(bytes), [bytes(data)])
  }
  const nodes = [
    { tag: 'iq', attrs: { id: '1', type: 'result', from: 's.whatsapp.net' } },
    { tag: 'message', attrs: { id: '2', from: ALICE }, content: [{ tag: 'enc', attrs: { type: 'msg' }, content: randomBytes(300) }] },
    { tag: 'ib', attrs: {}, content: [{ tag: 'offline', attrs: { count: '0' } }] },
  ]
  const wire = responder.sendMany(nodes.map((n) => encodeBinaryNode(n)))
  const a = await framesOf(mine, wire, 7)
  const b = await framesOf(theirs, wire, 2)
  assert.equal(a.length, 3)
  assert.deepEqual(JSON.parse(canonical(a)), JSON.parse(canonical(b)))
  assert.deepEqual(JSON.parse(canonical(a)), JSON.parse(canonical(nodes)))
})

test('makeNoiseHandler: untrusted or mismatched certificates are refused (the mismatched leaf only by ours); bad frames reject', async () => {
  const attempt = async (make, responder) => {
    const ephemeral = Curve.generateKeyPair()
    const h = make({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger: silent })
    responder.receive(h.encodeFrame(proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()))
    const [hello] = await framesOf(h, responder.takeTransmit())
    return () => h.processHandshake(proto.HandshakeMessage.decode(hello), Curve.generateKeyPair())
  }
  const otherRoot = Curve.generateKeyPair()
  throwsWith(await attempt(makeNoiseHandler, noiseServer({ chainRoot: otherRoot })), /noise intermediate certificate signature invalid/)
  throwsWith(await attempt(bMakeNoiseHandler, noiseServer({ chainRoot: otherRoot })), /noise intermediate certificate signature invalid/)
  // a valid chain for some other server key: Baileys never compares the leaf with the server's static key
  const stranger = Curve.generateKeyPair().public
  throwsWith(await attempt(makeNoiseHandler, noiseServer({ leafKey: stranger })), /not for the server static key/)
  assert.equal((await attempt(bMakeNoiseHandler, noiseServer({ leafKey: stranger })))().length, 48)
  throwsWith(() => makeNoiseHandler({ keyPair: Curve.generateKeyPair() }).processHandshake({}, Curve.generateKeyPair()), /NOISE_HEADER is required/)
  throwsWith(() => makeNoiseHandler({ keyPair: Curve.generateKeyPair(), NOISE_HEADER: NOISE_WA_HEADER }).processHandshake({ serverHello: {} }, Curve.generateKeyPair()), /invalid ServerHello/)
  throwsWith(() => makeNoiseHandler({ NOISE_HEADER: NOISE_WA_HEADER }), /keyPair/)
  // a corrupted transport frame
  const { mine } = await twinHandshake()
  const junk = Buffer.concat([Buffer.from([0, 0, 20]), randomBytes(20)])
  await rejectsWith(mine.decodeFrame(junk, () => assert.fail('no frame')), /noise frame failed to decrypt/)
})

test('decryptMessageNode: a group stanza (pkmsg with the sender key, then skmsg) decrypted by ours and Baileys\' alike', async () => {
  const GROUP = '120363040000000000@g.us'
  const bob = await makeAuth()
  const alice = repoOf('baileys', await makeAuth())
  await alice.injectE2ESession({ jid: BOB, session: await bundleOf(bob, 1) })
  const group = await alice.encryptGroupMessage({ group: GROUP, meId: ALICE, data: writeRandomPadMax16(proto.Message.encode({ conversation: 'hello group' }).finish()) })
  const skdm = { senderKeyDistributionMessage: { groupId: GROUP, axolotlSenderKeyDistributionMessage: group.senderKeyDistributionMessage } }
  const direct = await alice.encryptMessage({ jid: BOB, data: writeRandomPadMax16(proto.Message.encode(skdm).finish()) })
  const stanza = msg({ from: GROUP, participant: ALICE, participant_lid: '111222333@lid', addressing_mode: 'pn' }, [
    { tag: 'enc', attrs: { v: '2', type: direct.type }, content: Buffer.from(direct.ciphertext) },
    { tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: Buffer.from(group.ciphertext) },
  ])
  const out = []
  for (const [fn, kind] of [[decryptMessageNode, 'ours'], [BDecode.decryptMessageNode, 'baileys']]) {
    const r = fn(stanza, BOB, ME_LID, repoOf(kind, cloneAuth(bob)), silent)
    await r.decrypt()
    assert.equal(r.fullMessage.messageStubType, undefined, `${kind}: ${r.fullMessage.messageStubParameters}`)
    assert.equal(r.fullMessage.message.conversation, 'hello group', kind)
    assert.equal(r.fullMessage.key.participantAlt, '111222333@lid')
    out.push(plainOf({ ...r.fullMessage, message: r.fullMessage.message.toJSON() }))
  }
  assert.deepEqual(out[0], out[1])
})

test('decryptMessageNode: non-node children are skipped by ours (Baileys\' decrypt throws a TypeError on them)', async () => {
  const auth = await makeAuth()
  const stanza = msg({ from: ALICE }, [null, 5, { tag: 'plaintext', attrs: {}, content: proto.Message.encode({ conversation: 'still here' }).finish() }])
  const mine = decryptMessageNode(stanza, BOB, ME_LID, repoOf('ours', auth), silent)
  await mine.decrypt()
  assert.equal(mine.fullMessage.message.conversation, 'still here')
  await assert.rejects(BDecode.decryptMessageNode(stanza, BOB, ME_LID, repoOf('baileys', cloneAuth(auth)), silent).decrypt(), TypeError)
})

test('configureSuccessfulPairing: a hosted account (HMAC and signature prefixed with 6,5) pairs alike', () => {
  const creds = initAuthCreds()
  const phone = libsignal.keyhelper.generateIdentityKeyPair()
  const details = proto.ADVDeviceIdentity.encode({ rawId: 4, timestamp: 1700000000, keyIndex: 1, deviceType: proto.ADVEncryptionType.HOSTED }).finish()
  const accountSignature = libsignal.curve.calculateSignature(phone.privKey, Buffer.concat([Buffer.from([6, 5]), details, creds.signedIdentityKey.public]))
  const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: phone.pubKey.subarray(1), accountSignature }).finish()
  const hmacFor = (prefix) => createHmac('sha256', Buffer.from(creds.advSecretKey, 'base64')).update(Buffer.concat([prefix, signed])).digest()
  const stanzaWith = (hmac) => ({
    tag: 'iq', attrs: { id: 'h-1' }, content: [{ tag: 'pair-success', attrs: {}, content: [
      { tag: 'device-identity', attrs: {}, content: proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac, accountType: proto.ADVEncryptionType.HOSTED }).finish() },
      { tag: 'device', attrs: { jid: '15550001111:9@s.whatsapp.net', lid: '777000111:9@lid' } },
    ] }],
  })
  const good = stanzaWith(hmacFor(Buffer.from([6, 5])))
  const mine = configureSuccessfulPairing(good, creds)
  const theirs = B.configureSuccessfulPairing(good, creds)
  assert.deepEqual(mine.creds.me, theirs.creds.me)
  assert.equal(mine.creds.platform, undefined)
  assert.equal(bytes(mine.creds.account.accountSignature), bytes(theirs.creds.account.accountSignature))
  const unprefixed = stanzaWith(hmacFor(Buffer.alloc(0)))
  throwsWith(() => configureSuccessfulPairing(unprefixed, creds), /^Invalid account signature$/)
  throwsWith(() => B.configureSuccessfulPairing(unprefixed, creds), /^Invalid account signature$/)
})
