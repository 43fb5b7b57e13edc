// The socket-free utilities against Baileys 7 on the same inputs: message content helpers,
// receipts/reactions/polls/events, keys, forwarding, media helpers on bytes, generic helpers,
// and the auth helpers over the same scripted key-store operations.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto'
import * as B from '@whiskeysockets/baileys'
import * as O from '../index.mjs'

const clone = (x) => structuredClone(x)
const same = (name, ...args) => {
  const ours = O[name](...clone(args))
  const theirs = B[name](...clone(args))
  assert.deepEqual(ours, theirs, `${name}(${JSON.stringify(args).slice(0, 120)})`)
  return ours
}
const plain = (x) => JSON.parse(JSON.stringify(x))

const MESSAGES = [
  { conversation: 'hi' },
  { senderKeyDistributionMessage: { groupId: 'g' }, imageMessage: { mimetype: 'image/jpeg', caption: 'c' } },
  { ephemeralMessage: { message: { viewOnceMessageV2: { message: { videoMessage: { mimetype: 'video/mp4' } } } } } },
  { documentWithCaptionMessage: { message: { documentMessage: { mimetype: 'application/pdf; x=y' } } } },
  { editedMessage: { message: { protocolMessage: { type: 14 } } } },
  { buttonsMessage: { contentText: 'pick', imageMessage: { mimetype: 'image/png' } } },
  { buttonsMessage: { contentText: 'pick' } },
  { templateMessage: { hydratedTemplate: { hydratedContentText: 'tpl' } } },
  { templateMessage: { hydratedFourRowTemplate: { locationMessage: { degreesLatitude: 1 } } } },
  { templateMessage: { fourRowTemplate: { documentMessage: { mimetype: 'text/plain' } } } },
  { reactionMessage: { text: 'x', key: { id: 'A', fromMe: false, remoteJid: '1@s.whatsapp.net' } } },
  { pollUpdateMessage: { pollCreationMessageKey: { id: 'P', fromMe: true, remoteJid: '1@s.whatsapp.net' } } },
  { locationMessage: { degreesLatitude: 1 } },
  { associatedChildMessage: { message: { groupStatusMessageV2: { message: { audioMessage: { mimetype: 'audio/ogg; codecs=opus' } } } } } },
  {},
  undefined,
]

test('content type, normalisation and extraction as Baileys does them', () => {
  for (const m of MESSAGES) {
    same('getContentType', m)
    same('normalizeMessageContent', m)
    same('extractMessageContent', m)
    for (const stub of [undefined, 27, 1]) {
      for (const fromMe of [true, false]) {
        const wm = { key: { remoteJid: '1@s.whatsapp.net', fromMe, id: 'X' }, message: m, messageStubType: stub }
        same('isRealMessage', wm)
        same('shouldIncrementChatUnread', wm)
      }
    }
    const c = O.extractMessageContent(clone(m))
    if (c && Object.keys(c).length && c[Object.keys(c)[0]]?.mimetype) same('extensionForMediaMessage', c)
    try {
      same('assertMediaContent', m)
    } catch (e) {
      assert.throws(() => B.assertMediaContent(clone(m)))
      assert.throws(() => O.assertMediaContent(clone(m)), (err) => err.isBoom && err.output.statusCode === 400)
    }
  }
  same('extensionForMediaMessage', { locationMessage: {} })
})

test('getDevice, keys, chat ids and cleaning as Baileys does them', () => {
  for (const id of ['3A' + 'x'.repeat(18), '3EB0' + 'A'.repeat(18), 'A'.repeat(21), 'B'.repeat(32), '3F12', 'C'.repeat(18), 'short']) same('getDevice', id)
  const keys = [
    { remoteJid: '1@s.whatsapp.net', id: 'a', fromMe: false },
    { remoteJid: '1@s.whatsapp.net', id: 'b', fromMe: false },
    { remoteJid: '2@g.us', id: 'c', fromMe: false, participant: '3@s.whatsapp.net' },
    { remoteJid: '2@g.us', id: 'd', fromMe: true },
    { remoteJid: '123@broadcast', id: 'e', fromMe: false, participant: '4@s.whatsapp.net' },
    { remoteJid: 'status@broadcast', id: 'f', fromMe: false, participant: '4@s.whatsapp.net' },
  ]
  same('aggregateMessageKeysNotFromMe', keys)
  for (const k of keys) {
    same('getChatId', k)
    same('getKeyAuthor', k)
    same('getKeyAuthor', k, 'me@s.whatsapp.net')
  }
  same('getKeyAuthor', { remoteJid: '1@s.whatsapp.net', remoteJidAlt: '9@lid' })
  same('getKeyAuthor', undefined)
  assert.throws(() => O.getChatId({}), (e) => e.isBoom)
  assert.throws(() => O.getChatId({ remoteJid: '1@broadcast' }), (e) => e.isBoom)
  for (const m of [
    { key: { remoteJid: '1:3@s.whatsapp.net', fromMe: false, id: 'x', participant: '5:2@hosted' }, message: { reactionMessage: { key: { remoteJid: 'z@s.whatsapp.net', fromMe: false, id: 'q', participant: 'me@s.whatsapp.net' } } } },
    { key: { remoteJid: '2@g.us', fromMe: false, id: 'y', participant: '7:1@lid' }, message: { ephemeralMessage: { message: { pollUpdateMessage: { pollCreationMessageKey: { remoteJid: '2@g.us', fromMe: true, id: 'p' } } } } } },
    { key: { remoteJid: '8@hosted.lid', fromMe: true, id: 'z' }, message: { reactionMessage: { key: { remoteJid: 'a@s.whatsapp.net', fromMe: false, id: 'r' } } } },
  ]) {
    const a = clone(m)
    const b = clone(m)
    O.cleanMessage(a, 'me:4@s.whatsapp.net', '77@lid')
    B.cleanMessage(b, 'me:4@s.whatsapp.net', '77@lid')
    assert.deepEqual(a, b)
  }
})

test('receipts, reactions, poll updates and event responses update messages as Baileys does', () => {
  const steps = (lib) => {
    const msg = {}
    lib.updateMessageWithReceipt(msg, { userJid: 'a', receiptTimestamp: 1 })
    lib.updateMessageWithReceipt(msg, { userJid: 'b', readTimestamp: 2 })
    lib.updateMessageWithReceipt(msg, { userJid: 'a', readTimestamp: 3 })
    lib.updateMessageWithReaction(msg, { key: { remoteJid: 'x', participant: 'p1' }, text: '👍' })
    lib.updateMessageWithReaction(msg, { key: { remoteJid: 'x', participant: 'p2' }, text: '❤️' })
    lib.updateMessageWithReaction(msg, { key: { remoteJid: 'x', participant: 'p1' }, text: null })
    lib.updateMessageWithReaction(msg, { key: { fromMe: true }, text: '😀' })
    lib.updateMessageWithPollUpdate(msg, { pollUpdateMessageKey: { participant: 'p1' }, vote: { selectedOptions: [Buffer.from('a')] } })
    lib.updateMessageWithPollUpdate(msg, { pollUpdateMessageKey: { participant: 'p2' }, vote: { selectedOptions: [] } })
    lib.updateMessageWithPollUpdate(msg, { pollUpdateMessageKey: { participant: 'p1' }, vote: { selectedOptions: [Buffer.from('b')] } })
    lib.updateMessageWithEventResponse(msg, { eventResponseMessageKey: { participant: 'p1' }, eventResponse: 'GOING' })
    lib.updateMessageWithEventResponse(msg, { eventResponseMessageKey: { participant: 'p2' }, eventResponse: 'MAYBE' })
    lib.updateMessageWithEventResponse(msg, { eventResponseMessageKey: { participant: 'p1' }, eventResponse: 'NOT_GOING' })
    return msg
  }
  assert.deepEqual(steps(O), steps(B))
  const msg = steps(O)
  same('getAggregateResponsesInEventMessage', msg, 'me')
  same('getAggregateResponsesInEventMessage', { eventResponses: [{ eventResponseMessageKey: { fromMe: true }, eventResponse: 'GOING' }, { eventResponse: 'UNKNOWN' }, { eventResponse: 'OTHER' }] }, 'me')
  // Baileys looks response kinds up on a plain object: 'constructor' reaches Object's and throws
  const odd = { eventResponses: [{ eventResponseMessageKey: { participant: 'p' }, eventResponse: 'constructor' }] }
  assert.throws(() => B.getAggregateResponsesInEventMessage(odd, 'me'), TypeError)
  assert.deepEqual(O.getAggregateResponsesInEventMessage(odd, 'me').map((r) => r.responders.length), [0, 0, 0])
})

// A vote encrypted as WhatsApp encrypts it (the key derivation both sides implement).
function encryptVote(selected, { pollCreatorJid, pollMsgId, pollEncKey, voterJid }) {
  const sign = Buffer.concat([Buffer.from(pollMsgId), Buffer.from(pollCreatorJid), Buffer.from(voterJid), Buffer.from('Poll Vote'), Buffer.from([1])])
  const key0 = createHmac('sha256', Buffer.alloc(32)).update(pollEncKey).digest()
  const key = createHmac('sha256', key0).update(sign).digest()
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(`${pollMsgId}\u0000${voterJid}`))
  const plain = B.proto.Message.PollVoteMessage.encode({ selectedOptions: selected }).finish()
  return { encPayload: Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]), encIv: iv }
}

test('poll votes decrypt and tally as in Baileys', () => {
  const options = ['red', 'green', 'blue']
  const ctx = { pollCreatorJid: '1@s.whatsapp.net', pollMsgId: 'POLL1', pollEncKey: randomBytes(32) }
  const pollUpdates = []
  for (const [i, voter] of ['2@s.whatsapp.net', '3@s.whatsapp.net', '4@s.whatsapp.net'].entries()) {
    const selected = [createHash('sha256').update(options[i % 2]).digest()]
    if (i === 2) selected.push(Buffer.from('not an option hash'))
    const enc = encryptVote(selected, { ...ctx, voterJid: voter })
    const ours = O.decryptPollVote(enc, { ...ctx, voterJid: voter })
    const theirs = B.decryptPollVote(enc, { ...ctx, voterJid: voter })
    assert.deepEqual(plain(ours), plain(theirs))
    assert.throws(() => O.decryptPollVote(enc, { ...ctx, voterJid: '9@s.whatsapp.net' }))
    pollUpdates.push({ pollUpdateMessageKey: { participant: voter }, vote: ours })
  }
  pollUpdates.push({ pollUpdateMessageKey: { fromMe: true }, vote: null })
  for (const kind of ['pollCreationMessage', 'pollCreationMessageV2', 'pollCreationMessageV3']) {
    const poll = { message: { [kind]: { name: 'p', options: options.map((optionName) => ({ optionName })) } }, pollUpdates }
    // not cloned: a structured clone turns the Buffers of the votes into plain Uint8Arrays
    const tally = O.getAggregateVotesInPollMessage(poll, 'me')
    assert.deepEqual(tally, B.getAggregateVotesInPollMessage(poll, 'me'))
    assert.deepEqual(tally.map((t) => [t.name, t.voters.length]), [['red', 2], ['green', 1], ['blue', 0], ['Unknown', 1]])
  }
  same('getAggregateVotesInPollMessage', { message: {}, pollUpdates: [] })
})

test('event responses decrypt as in Baileys', () => {
  const ctx = { eventCreatorJid: '1@s.whatsapp.net', eventMsgId: 'EV1', eventEncKey: randomBytes(32), responderJid: '2@lid' }
  const sign = Buffer.concat([Buffer.from(ctx.eventMsgId), Buffer.from(ctx.eventCreatorJid), Buffer.from(ctx.responderJid), Buffer.from('Event Response'), Buffer.from([1])])
  const key = createHmac('sha256', createHmac('sha256', Buffer.alloc(32)).update(ctx.eventEncKey).digest()).update(sign).digest()
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(`${ctx.eventMsgId}\u0000${ctx.responderJid}`))
  const plainBytes = B.proto.Message.EventResponseMessage.encode({ response: 1, timestampMs: 1700000000000 }).finish()
  const enc = { encPayload: Buffer.concat([c.update(plainBytes), c.final(), c.getAuthTag()]), encIv: iv }
  assert.deepEqual(plain(O.decryptEventResponse(enc, ctx)), plain(B.decryptEventResponse(enc, ctx)))
})

test('forwarding and disappearing-message content as Baileys makes them', () => {
  for (const m of [
    { key: { fromMe: false }, message: { conversation: 'fwd me' } },
    { key: { fromMe: true }, message: { conversation: 'mine' } },
    { key: { fromMe: true }, message: { imageMessage: { caption: 'x', contextInfo: { forwardingScore: 3 } } } },
    { key: { fromMe: false }, message: { ephemeralMessage: { message: { extendedTextMessage: { text: 't' } } } } },
  ]) {
    for (const force of [false, true]) {
      assert.deepEqual(plain(O.proto.Message.fromObject(O.generateForwardMessageContent(clone(m), force))), plain(B.proto.Message.fromObject(B.generateForwardMessageContent(clone(m), force))))
    }
  }
  assert.throws(() => O.generateForwardMessageContent({ key: {} }), (e) => e.isBoom && e.output.statusCode === 400)
  for (const exp of [undefined, 0, 86400, 604800]) {
    const a = O.prepareDisappearingMessageSettingContent(exp)
    const b = B.prepareDisappearingMessageSettingContent(exp)
    assert.equal(Buffer.from(O.proto.Message.encode(a).finish()).toString('hex'), Buffer.from(B.proto.Message.encode(b).finish()).toString('hex'))
  }
})

test('generic helpers as Baileys has them', async () => {
  for (const v of [5, 0, null, undefined, { low: 7, high: 0 }, B.proto.WebMessageInfo.decode(B.proto.WebMessageInfo.encode({ messageTimestamp: 1700000000 }).finish()).messageTimestamp]) same('toNumber', v)
  for (const [e, t] of [[1, 4], [0x01020304, 4], [65535, 2], [2 ** 33 + 5, 8], [-1, 4]]) assert.deepEqual(O.encodeBigEndian(e, t), B.encodeBigEndian(e, t))
  same('generateParticipantHashV2', ['b@s.whatsapp.net', 'a@s.whatsapp.net', 'c:1@s.whatsapp.net'])
  for (const t of [undefined, 'sender', 'played', 'read', 'read-self', 'inactive', 'other']) same('getStatusFromReceiptType', t)
  for (const node of [
    { tag: 'stream:error', attrs: { code: '515' }, content: [] },
    { tag: 'stream:error', attrs: {}, content: [{ tag: 'conflict', attrs: {} }] },
    { tag: 'stream:error', attrs: {}, content: [{ tag: 'xml-not-well-formed', attrs: {} }] },
    { tag: 'stream:error', attrs: { code: '401' }, content: [{ tag: 'conflict', attrs: {} }] },
  ]) same('getErrorCodeFromStreamError', node)
  for (const tag of ['offer', 'offer_notice', 'terminate', 'preaccept', 'transport', 'relaylatency', 'reject', 'accept', 'other', 'constructor']) {
    same('getCallStatusFromNode', { tag, attrs: {} })
    same('getCallStatusFromNode', { tag, attrs: { reason: 'timeout' } })
  }
  for (const e of [new Error('Unexpected server response: 429'), new Error('Unexpected server response: abc'), Object.assign(new Error('x'), { code: 'ENOTFOUND' }), new Error('socket timed out'), new Error('other'), undefined]) {
    assert.equal(O.getCodeFromWSError(e), B.getCodeFromWSError(e))
  }
  for (const p of ['smbi', 'smba', 'android', undefined]) same('isWABusinessPlatform', p)
  for (const v of ['', null, undefined, 'x']) same('isStringNullOrEmpty', v)
  same('trimUndefined', { a: 1, b: undefined, c: null })
  same('unixTimestampSeconds', new Date(1700000000123))
  same('extractUrlFromText', 'see https://example.com/a?b=1 and https://x.io')
  same('getUrlFromDirectPath', '/v/t62/abc')
  same('getUrlFromDirectPath', '/v/t62/abc', 'media.example')
  same('encodeBase64EncodedStringForUpload', 'ab+/cd==')
  same('mediaMessageSHA256B64', { imageMessage: { fileSha256: Buffer.alloc(32, 7) } })
  for (const code of [0, 1, 2, 3, 9]) same('getStatusCodeForMediaRetry', code)
  for (const msg of [Buffer.from('hello'), Buffer.alloc(0)]) {
    const padded = O.writeRandomPadMax16(msg)
    assert.ok(padded.length > msg.length && padded.length <= msg.length + 16)
    assert.deepEqual(Buffer.from(O.unpadRandomMax16(padded)), Buffer.from(B.unpadRandomMax16(padded)))
  }
  assert.throws(() => O.unpadRandomMax16(Buffer.alloc(0)), /empty bytes/)
  assert.throws(() => O.unpadRandomMax16(Buffer.from([9])), /pad is 9/)
  const enc = O.encodeWAMessage({ conversation: 'x' })
  assert.deepEqual(B.proto.Message.decode(B.unpadRandomMax16(enc)).conversation, 'x')
  assert.deepEqual(Buffer.from(O.encodeNewsletterMessage({ conversation: 'y' })), Buffer.from(B.encodeNewsletterMessage({ conversation: 'y' })))
  // ids: Baileys' formats
  assert.match(O.generateMessageID(), /^3EB0[0-9A-F]{36}$/)
  assert.equal(O.generateMessageID().length, B.generateMessageID().length)
  assert.match(O.generateMessageIDV2('5511@s.whatsapp.net'), /^3EB0[0-9A-F]{18}$/)
  assert.equal(O.generateMessageIDV2().length, B.generateMessageIDV2().length)
  assert.match(O.generateMdTagPrefix(), /^\d+\.\d+-$/)
  assert.ok(O.generateRegistrationId() < 16384)
  assert.equal(O.getDevice(O.generateMessageIDV2()), B.getDevice(B.generateMessageIDV2()))
  // streams
  const buf = await O.toBuffer(O.toReadable(Buffer.from('stream me')))
  assert.equal(buf.toString(), 'stream me')
  assert.equal((await B.toBuffer(O.toReadable(Buffer.from('x')))).toString(), 'x')
  // timers
  const t0 = Date.now()
  await O.delay(20)
  assert.ok(Date.now() - t0 >= 15)
  assert.equal(await O.promiseTimeout(0, (res) => res(5)), 5)
  assert.equal(await O.promiseTimeout(1000, (res) => res(6)), 6)
  let fired = 0
  const d = O.debouncedTimeout(10, () => fired++)
  d.start()
  d.start()
  await O.delay(40)
  d.start()
  d.cancel()
  await O.delay(20)
  assert.equal(fired, 1)
})

test('bindWaitForConnectionUpdate resolves on the check and rejects on close, as Baileys', async () => {
  const ev = O.makeEventBuffer()
  const wait = O.bindWaitForConnectionUpdate(ev)
  const p = wait((u) => u.connection === 'open', 1000)
  ev.emit('connection.update', { connection: 'connecting' })
  ev.emit('connection.update', { connection: 'open' })
  await p
  const q = wait((u) => u.connection === 'open', 1000)
  ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: new Error('gone') } })
  await assert.rejects(q, /gone/)
  await assert.rejects(wait(() => false, 20), (e) => e.isBoom && e.output.statusCode === 408)
  assert.equal(ev.listenerCount('connection.update'), 0)
})

function scriptedStore(log) {
  const data = {}
  return {
    async get(type, ids) {
      log.push(['get', type, [...ids]])
      const out = {}
      for (const id of ids) if (data[`${type}/${id}`] !== undefined) out[id] = data[`${type}/${id}`]
      return out
    },
    async set(batch) {
      log.push(['set', plain(batch)])
      for (const type in batch) for (const id in batch[type]) {
        if (batch[type][id] === null) delete data[`${type}/${id}`]
        else data[`${type}/${id}`] = batch[type][id]
      }
    },
  }
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

test('makeCacheableSignalKeyStore and addTransactionCapability hit the store as Baileys\' do', async () => {
  const script = async (lib) => {
    const log = []
    const store = scriptedStore(log)
    const cached = lib.makeCacheableSignalKeyStore(store, quiet)
    await cached.set({ session: { a: { v: 1 }, b: { v: 2 } } })
    const r1 = await cached.get('session', ['a', 'b', 'c'])
    const r2 = await cached.get('session', ['a', 'c'])
    const tx = lib.addTransactionCapability(cached, quiet, { maxCommitRetries: 2, delayBetweenTriesMs: 1 })
    const r3 = await tx.transaction(async () => {
      await tx.set({ 'pre-key': { 1: { k: 1 }, 2: { k: 2 } } })
      await tx.set({ 'pre-key': { 1: null, 9: null } })
      const inner = await tx.transaction(async () => tx.get('pre-key', ['1', '2']), 'other')
      return [inner, tx.isInTransaction()]
    }, 'k')
    await tx.set({ 'pre-key': { 2: null, 3: null } })
    const r4 = await tx.get('pre-key', ['1', '2', '3'])
    return { log, r1, r2, r3, r4, outside: tx.isInTransaction() }
  }
  assert.deepEqual(await script(O), await script(B))
  // a commit that fails is retried, then the error surfaces
  for (const lib of [O, B]) {
    let calls = 0
    const failing = { get: async () => ({}), set: async () => { calls++; throw new Error('disk full') } }
    const tx = lib.addTransactionCapability(failing, quiet, { maxCommitRetries: 3, delayBetweenTriesMs: 1 })
    await assert.rejects(tx.transaction(async () => tx.set({ session: { a: 1 } }), 'k'), /disk full/)
    assert.equal(calls, 3)
  }
})

test('makeCacheableSignalKeyStore keeps a baileys-native key store as it is (its cache is native)', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'bn-cache-'))
  try {
    const { state } = await O.useMultiFileAuthState(dir)
    assert.equal(O.makeCacheableSignalKeyStore(state.keys, quiet), state.keys)
    const custom = new Map()
    const wrapped = O.makeCacheableSignalKeyStore(state.keys, quiet, { get: (k) => custom.get(k), set: (k, v) => custom.set(k, v), flushAll: () => custom.clear() })
    assert.notEqual(wrapped, state.keys)
    await wrapped.set({ session: { x: Buffer.from([1]) } })
    assert.ok(custom.has('session.x'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Signal and stanza helpers build what Baileys builds', async () => {
  const key = Buffer.alloc(32, 9)
  assert.deepEqual(plain(O.createSignalIdentity('1@s.whatsapp.net', key)), plain(B.createSignalIdentity('1@s.whatsapp.net', key)))
  const pair = { public: Buffer.alloc(32, 1), private: Buffer.alloc(32, 2) }
  const signed = { keyId: 300, keyPair: pair, signature: Buffer.alloc(64, 3) }
  const hex = (n) => Buffer.from(O.encodeBinaryNode(n)).toString('hex')
  assert.equal(hex(O.xmppPreKey(pair, 70000)), hex(B.xmppPreKey(pair, 70000)))
  assert.equal(hex(O.xmppSignedPreKey(signed)), hex(B.xmppSignedPreKey(signed)))
  for (const creds of [{ nextPreKeyId: 1, firstUnuploadedPreKeyId: 1 }, { nextPreKeyId: 31, firstUnuploadedPreKeyId: 1 }, { nextPreKeyId: 50, firstUnuploadedPreKeyId: 10 }]) {
    const a = O.generateOrGetPreKeys(creds, 30)
    const b = B.generateOrGetPreKeys(creds, 30)
    assert.deepEqual({ ...a, newPreKeys: Object.keys(a.newPreKeys) }, { ...b, newPreKeys: Object.keys(b.newPreKeys) })
  }
  // the upload <iq> over the same stored keys (the generated ones are random: stored first)
  const stored = {}
  for (let i = 1; i <= 5; i++) stored[i] = { public: Buffer.alloc(32, i), private: Buffer.alloc(32, i + 10) }
  const creds = { nextPreKeyId: 6, firstUnuploadedPreKeyId: 1, registrationId: 4321, signedIdentityKey: pair, signedPreKey: signed }
  const store = () => ({ get: async (type, ids) => Object.fromEntries(ids.filter((i) => stored[i]).map((i) => [i, stored[i]])), set: async () => {} })
  const ours = await O.getNextPreKeysNode({ creds, keys: store() }, 5)
  const theirs = await B.getNextPreKeysNode({ creds, keys: store() }, 5)
  assert.deepEqual(ours.update, theirs.update)
  assert.equal(hex(ours.node), hex(theirs.node))
  const result = [
    { id: '1@s.whatsapp.net', devices: { deviceList: [{ id: 0 }, { id: 2, keyIndex: 1 }, { id: 3 }, { id: 4, keyIndex: 2, isHosted: true }] } },
    { id: '9@lid', devices: { deviceList: [{ id: 0 }, { id: 5, keyIndex: 1, isHosted: true }] } },
    { id: '2@s.whatsapp.net' },
  ]
  for (const [me, lid, ex] of [['1:2@s.whatsapp.net', '9', false], ['1:2@s.whatsapp.net', '9', true], ['7@s.whatsapp.net', '8', false]]) {
    assert.deepEqual(O.extractDeviceJids(clone(result), me, lid, ex), B.extractDeviceJids(clone(result), me, lid, ex))
  }
  for (const [node, err, me] of [
    [{ tag: 'message', attrs: { id: 'X', from: '1@s.whatsapp.net', participant: '2@lid', type: 'text' } }, undefined, 'me@s.whatsapp.net'],
    [{ tag: 'receipt', attrs: { id: 'Y', from: '1@g.us', recipient: '3@s.whatsapp.net' } }, 487, undefined],
    [{ tag: 'notification', attrs: { id: 'Z', from: 's.whatsapp.net', type: 'server_sync' } }, undefined, 'me@s.whatsapp.net'],
  ]) {
    assert.deepEqual(O.buildAckStanza(node, err, me), B.buildAckStanza(node, err, me))
  }
})

test('decompressingIfRequired, decodeDecompressedBinaryNode and getBinaryNodeMessages as in Baileys', async () => {
  const constants = await import('@whiskeysockets/baileys/lib/WABinary/constants.js')
  const { deflateSync } = await import('node:zlib')
  const msg = B.proto.WebMessageInfo.encode({ key: { id: 'M', remoteJid: '1@s.whatsapp.net' }, message: { conversation: 'hi' }, messageTimestamp: 1700000000 }).finish()
  const node = { tag: 'iq', attrs: { id: '1', type: 'result' }, content: [{ tag: 'message', attrs: {}, content: Buffer.from(msg) }, { tag: 'other', attrs: { a: 'b' } }] }
  const plainFrame = Buffer.from(B.encodeBinaryNode(node))
  const packed = Buffer.concat([Buffer.from([2]), deflateSync(plainFrame.subarray(1))])
  for (const frame of [plainFrame, packed]) {
    const a = await O.decompressingIfRequired(frame)
    const b = await B.decompressingIfRequired(frame)
    assert.deepEqual(Buffer.from(a), Buffer.from(b))
    const ia = { index: 0 }
    const ib = { index: 0 }
    const na = O.decodeDecompressedBinaryNode(a, constants, ia)
    const nb = B.decodeDecompressedBinaryNode(b, constants, ib)
    assert.deepEqual(plain(na), plain(nb))
    assert.equal(ia.index, ib.index)
    assert.deepEqual(plain(O.decodeDecompressedBinaryNode(a)), plain(nb))
    assert.deepEqual(O.getBinaryNodeMessages(na), B.getBinaryNodeMessages(nb))
  }
  assert.throws(() => O.decodeDecompressedBinaryNode(plainFrame.subarray(1), { SINGLE_BYTE_TOKENS: ['x'], DOUBLE_BYTE_TOKENS: [] }), (e) => e.code === 'ERR_WA_BINARY_DICTIONARY')
  await assert.rejects(O.decompressingIfRequired(Buffer.alloc(0)), (e) => e.code === 'ERR_WA_BINARY_EOF')
  await assert.rejects(O.decompressingIfRequired(Buffer.from([2, 1, 2, 3])), (e) => e.code === 'ERR_WA_BINARY_INFLATE')
})
