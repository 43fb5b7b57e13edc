// Every content kind but media, sent by our socket and by the real Baileys 7 to each other
// through the test server: the receiver's WAMessage carries the content the sender generated
// (both sides' `sendMessage` return it), the simulated phone decrypts what we send, quoted
// replies, mentions, reactions, edits and revokes are seen as such on both sides (Baileys'
// `messages.reaction` / `messages.update`), and bad content is refused before anything is sent.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto'
import { proto, WAMessageStubType, getAggregateVotesInPollMessage, getAggregateResponsesInEventMessage, updateMessageWithPollUpdate, decryptPollVote } from '../index.mjs'
import * as B from '@whiskeysockets/baileys'
const { generateWAMessage } = B
import { BaileysClient, trustServer, text, exitWhenDone, logger as silent, pairOurSocket } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client content' })
const restore = trustServer(server)
after(async () => {
  restore()
  await baileys.end()
  ours.sock?.end()
  await server.stop()
  exitWhenDone()
})

const OUR_NUMBER = '15550610001'
const BAILEYS_NUMBER = '15550610002'
const PHONE_NUMBER = '15550610003'
const ourChat = `${OUR_NUMBER}@s.whatsapp.net`
const baileysChat = `${BAILEYS_NUMBER}@s.whatsapp.net`

/** Our socket and what it emitted. */
const ours = {
  upserts: [],
  updates: [],
  reactions: [],
  async pair() {
    await pairOurSocket(server, OUR_NUMBER, {
      onSocket: (sock) => {
        sock.ev.on('messages.upsert', ({ messages }) => this.upserts.push(...messages))
        sock.ev.on('messages.update', (u) => this.updates.push(...u))
        sock.ev.on('messages.reaction', (r) => this.reactions.push(...r))
        this.sock = sock
      },
    })
  },
}
// Baileys decrypts event responses with the creation message its getMessage returns.
const baileys = new BaileysClient(server, 'baileys', { getMessage: async (key) => baileys.upserts.find((m) => m.key.id === key.id)?.message })
const baileysReactions = []

/** Resolves with the first element of `list()` matching `pred`, now or within `ms`. */
function waitIn(list, pred, what, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = () => {
      const found = list().find(pred)
      if (found) return resolve(found)
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, 5)
    }
    tick()
  })
}

/** A message's content as plain data both protos agree on: bytes base64, 64-bit as strings. */
function plain(message) {
  const m = proto.Message.fromObject(JSON.parse(JSON.stringify(message, (k, v) => (v?.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('base64') : v))))
  return proto.Message.toObject(m, { longs: String, bytes: String, enums: Number })
}

const quotedSource = { key: null, message: null }

await ours.pair()
await baileys.pairByQR(BAILEYS_NUMBER, 'Baileys')
baileys.sock.ev.on('messages.reaction', (r) => baileysReactions.push(...r))

/** Content kinds (name, content maker). A maker gets the chat it sends to. */
const KINDS = [
  ['text with mentions', () => ({ text: 'hi @15550610003', mentions: ['15550610003@s.whatsapp.net'] })],
  ['text with contextInfo', () => ({ text: 'ctx', contextInfo: { isForwarded: true, forwardingScore: 2 } })],
  ['one contact', () => ({ contacts: { displayName: 'Ann', contacts: [{ displayName: 'Ann', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nTEL;type=CELL:+1 555 0100\nEND:VCARD' }] } })],
  [
    'two contacts',
    () => ({
      contacts: {
        displayName: '2 contacts',
        contacts: [
          { displayName: 'A', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:A\nEND:VCARD' },
          { displayName: 'B', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:B\nEND:VCARD' },
        ],
      },
    }),
  ],
  ['location', () => ({ location: { degreesLatitude: 52.52, degreesLongitude: 13.405, name: 'Berlin', address: 'Mitte' } })],
  ['view-once location', () => ({ location: { degreesLatitude: 1.5, degreesLongitude: 2.5 }, viewOnce: true })],
  ['single-select poll', () => ({ poll: { name: 'Lunch?', values: ['pizza', 'salad'], selectableCount: 1 } })],
  ['multi-select poll', () => ({ poll: { name: 'Toppings', values: ['a', 'b', 'c'], selectableCount: 2 } })],
  ['event', () => ({ event: { name: 'Standup', description: 'daily', startDate: new Date(1767258000000), endDate: new Date(1767259800000), location: { name: 'Room 1' } } })],
  // Baileys' sendMessage fetches the group's picture for an invite and fails when the group
  // has none (the server's item-not-found is thrown, not treated as "no picture"), so its side
  // generates and relays the invite itself (see baileysSends).
  ['group invite', () => ({ groupInvite: { inviteCode: 'AbCdEf123', inviteExpiration: 1767258000, text: 'join us', jid: '120363000000000001@g.us', subject: 'Friends' } })],
  ['template button reply', () => ({ buttonReply: { displayText: 'Yes', id: 'yes-1', index: 0 }, type: 'template' })],
  ['plain button reply', () => ({ buttonReply: { displayText: 'No', id: 'no-1', index: 1 }, type: 'plain' })],
  ['list reply', () => ({ listReply: { title: 'Option 2', listType: 1, singleSelectReply: { selectedRowId: 'row-2' } } })],
  ['album header', () => ({ album: { expectedImageCount: 2, expectedVideoCount: 1 } })],
  ['share phone number', () => ({ sharePhoneNumber: true })],
  ['request phone number', () => ({ requestPhoneNumber: true })],
  ['limit sharing', () => ({ limitSharing: true })],
  ['disappearing messages on', () => ({ disappearingMessagesInChat: true })],
]

async function baileysSends(name, content) {
  if (name !== 'group invite') return baileys.sock.sendMessage(ourChat, content)
  await assert.rejects(baileys.sock.sendMessage(ourChat, content), /item-not-found/)
  const full = await generateWAMessage(ourChat, content, { userJid: baileys.sock.user.id, logger: silent })
  await baileys.sock.relayMessage(ourChat, full.message, { messageId: full.key.id })
  return full
}

for (const [name, make] of KINDS) {
  test(`${name}: ours -> Baileys and Baileys -> ours carry the same content`, async () => {
    const sent = await ours.sock.sendMessage(baileysChat, make(baileysChat))
    assert.equal(sent.key.fromMe, true)
    const atBaileys = await baileys.waitMessage((m) => m.key.id === sent.key.id)
    assert.deepEqual(plain(atBaileys.message), plain(sent.message))
    assert.equal(atBaileys.key.remoteJid, ourChat)

    const back = await baileysSends(name, make(ourChat))
    const atOurs = await waitIn(() => ours.upserts, (m) => m.key.id === back.key.id, `${name} at ours`)
    assert.deepEqual(plain(atOurs.message), plain(back.message))
    assert.equal(atOurs.key.remoteJid, baileysChat)
    assert.equal(atOurs.key.fromMe, false)
  })
}

test('the phone decrypts every kind we send, in call order (sends not awaited)', async () => {
  const phone = server.phone(PHONE_NUMBER)
  const chat = phone.jid
  // Warm the chat (device list and session) so the sends below only queue.
  await ours.sock.sendMessage(chat, { text: 'warm' })
  await phone.waitForInbox(1, { timeoutMs: 30_000 })
  const sends = KINDS.map(([, make]) => ours.sock.sendMessage(chat, make(chat)))
  const sent = await Promise.all(sends)
  const inbox = await phone.waitForInbox(1 + KINDS.length, { timeoutMs: 30_000 })
  assert.deepEqual(
    inbox.slice(1).map((m) => m.key.id),
    sent.map((m) => m.key.id),
    'the phone got the kinds in call order',
  )
  for (let i = 0; i < sent.length; i++) {
    const got = proto.Message.decode(Buffer.from(inbox[1 + i].messageBytes, 'base64'))
    assert.deepEqual(plain(got), plain(sent[i].message), KINDS[i][0])
  }
})

test('a quoted reply carries the quoted id, author and message, both ways', async () => {
  const original = await baileys.sock.sendMessage(ourChat, { text: 'quote me' })
  const received = await waitIn(() => ours.upserts, (m) => m.key.id === original.key.id, 'the original at ours')
  const reply = await ours.sock.sendMessage(baileysChat, { text: 'quoting you' }, { quoted: received })
  const ctx = reply.message.extendedTextMessage.contextInfo
  assert.equal(ctx.stanzaId, original.key.id)
  assert.equal(ctx.participant, baileysChat)
  assert.equal(ctx.quotedMessage.extendedTextMessage.text, 'quote me')
  // The quoted message given by the app is left as it was.
  assert.equal(received.message.extendedTextMessage.text, 'quote me')
  const atBaileys = await baileys.waitMessage((m) => m.key.id === reply.key.id)
  const got = atBaileys.message.extendedTextMessage.contextInfo
  assert.equal(got.stanzaId, original.key.id)
  assert.equal(got.quotedMessage.extendedTextMessage.text, 'quote me')

  // Baileys quotes our message: we see the id and the text.
  const mine = await ours.sock.sendMessage(baileysChat, { text: 'our original' })
  const mineAtBaileys = await baileys.waitMessage((m) => m.key.id === mine.key.id)
  const theirs = await baileys.sock.sendMessage(ourChat, { text: 'quoting ours' }, { quoted: mineAtBaileys })
  const atOurs = await waitIn(() => ours.upserts, (m) => m.key.id === theirs.key.id, 'the reply at ours')
  const c = atOurs.message.extendedTextMessage.contextInfo
  assert.equal(c.stanzaId, mine.key.id)
  assert.equal(c.participant, ourChat)
  assert.equal(c.quotedMessage.extendedTextMessage.text, 'our original')
})

test('reactions arrive as messages.reaction on both sides, and removing one too', async () => {
  const target = await baileys.sock.sendMessage(ourChat, { text: 'react to me' })
  const atOurs = await waitIn(() => ours.upserts, (m) => m.key.id === target.key.id, 'the target at ours')
  await ours.sock.sendMessage(baileysChat, { react: { text: '👍', key: atOurs.key } })
  const seen = await waitIn(() => baileysReactions, (r) => r.key.id === target.key.id && r.reaction.text === '👍', 'the reaction at Baileys')
  // From Baileys' side the reacted message is its own.
  assert.equal(seen.key.fromMe, true)
  await ours.sock.sendMessage(baileysChat, { react: { text: '', key: atOurs.key } })
  await waitIn(() => baileysReactions, (r) => r.key.id === target.key.id && r.reaction.text === '', 'the removal at Baileys')
  // Our own reaction is also ours to see, as Baileys emits its own.
  const own = await waitIn(() => ours.reactions, (r) => r.key.id === target.key.id && r.reaction.text === '👍', 'our own reaction')
  assert.equal(own.reaction.key.fromMe, true)

  const mine = await ours.sock.sendMessage(baileysChat, { text: 'react to ours' })
  const mineAtBaileys = await baileys.waitMessage((m) => m.key.id === mine.key.id)
  await baileys.sock.sendMessage(ourChat, { react: { text: '❤️', key: mineAtBaileys.key } })
  const r = await waitIn(() => ours.reactions, (x) => x.key.id === mine.key.id && x.reaction.text === '❤️', 'the reaction at ours')
  // Turned to our side: the reacted message is ours, in Baileys' chat.
  assert.equal(r.key.fromMe, true)
  assert.equal(r.key.remoteJid, baileysChat)
  assert.equal(r.reaction.key.remoteJid, baileysChat)
  assert.equal(r.reaction.key.fromMe, false)
})

test('an edit and a revoke from either side are seen as such by the other', async () => {
  const mine = await ours.sock.sendMessage(baileysChat, { text: 'typo' })
  await baileys.waitMessage((m) => m.key.id === mine.key.id)
  await ours.sock.sendMessage(baileysChat, { text: 'fixed', edit: mine.key })
  const edit = await waitIn(() => baileys.updates, (u) => u.key.id === mine.key.id && u.update.message?.editedMessage, 'the edit at Baileys')
  assert.equal(text(edit.update.message.editedMessage), 'fixed')
  await ours.sock.sendMessage(baileysChat, { delete: mine.key })
  const revoke = await waitIn(() => baileys.updates, (u) => u.key.id === mine.key.id && u.update.messageStubType === WAMessageStubType.REVOKE, 'the revoke at Baileys')
  assert.equal(revoke.update.message, null)

  const theirs = await baileys.sock.sendMessage(ourChat, { text: 'their typo' })
  await waitIn(() => ours.upserts, (m) => m.key.id === theirs.key.id, 'their message at ours')
  await baileys.sock.sendMessage(ourChat, { text: 'their fix', edit: theirs.key })
  const e = await waitIn(() => ours.updates, (u) => u.key.id === theirs.key.id && u.update.message?.editedMessage, 'the edit at ours')
  assert.equal(text(e.update.message.editedMessage), 'their fix')
  assert.equal(e.key.remoteJid, baileysChat)
  assert.equal(typeof e.update.messageTimestamp, 'number')
  await baileys.sock.sendMessage(ourChat, { delete: theirs.key })
  const d = await waitIn(() => ours.updates, (u) => u.key.id === theirs.key.id && u.update.messageStubType === WAMessageStubType.REVOKE, 'the revoke at ours')
  assert.equal(d.update.message, null)
})

test('pin, forward, messageId, ephemeralExpiration and relayMessage', async () => {
  const target = await ours.sock.sendMessage(baileysChat, { text: 'pin me' })
  await baileys.waitMessage((m) => m.key.id === target.key.id)
  const pin = await ours.sock.sendMessage(baileysChat, { pin: target.key, type: 1 })
  const pinAt = await baileys.waitMessage((m) => m.key.id === pin.key.id)
  assert.equal(pinAt.message.pinInChatMessage.key.id, target.key.id)

  const fwdSource = await baileys.sock.sendMessage(ourChat, { text: 'forward me' })
  const src = await waitIn(() => ours.upserts, (m) => m.key.id === fwdSource.key.id, 'the source at ours')
  const fwd = await ours.sock.sendMessage(baileysChat, { forward: src })
  const fwdAt = await baileys.waitMessage((m) => m.key.id === fwd.key.id)
  assert.equal(fwdAt.message.extendedTextMessage.text, 'forward me')
  assert.equal(fwdAt.message.extendedTextMessage.contextInfo.isForwarded, true)
  assert.equal(fwdAt.message.extendedTextMessage.contextInfo.forwardingScore, 1)

  const id = '3EB0C0FFEE0000000000AA'
  const withId = await ours.sock.sendMessage(baileysChat, { text: 'my id' }, { messageId: id, ephemeralExpiration: 86400 })
  assert.equal(withId.key.id, id)
  const withIdAt = await baileys.waitMessage((m) => m.key.id === id)
  assert.equal(withIdAt.message.extendedTextMessage.contextInfo.expiration, 86400)

  const relayed = await ours.sock.relayMessage(baileysChat, { conversation: 'relayed as is' }, { messageId: '3EB0AA11BB22CC33DD44EE' })
  assert.equal(relayed, '3EB0AA11BB22CC33DD44EE')
  const relayedAt = await baileys.waitMessage((m) => m.key.id === relayed)
  assert.equal(relayedAt.message.conversation, 'relayed as is')
})

test('live location (Baileys has no content kind for it: relayMessage) both ways, and the phone decrypts it', async () => {
  const live = (caption) => ({
    liveLocationMessage: { degreesLatitude: 48.8566, degreesLongitude: 2.3522, accuracyInMeters: 12, speedInMps: 1.5, sequenceNumber: 3, caption },
  })
  const id = await ours.sock.relayMessage(baileysChat, live('from ours'), { messageId: B.generateMessageIDV2() })
  const at = await baileys.waitMessage((m) => m.key.id === id)
  assert.deepEqual(plain(at.message), plain(live('from ours')))
  const back = await baileys.sock.relayMessage(ourChat, live('from Baileys'), { messageId: B.generateMessageIDV2() })
  const atOurs = await waitIn(() => ours.upserts, (m) => m.key.id === back, 'the live location at ours')
  assert.deepEqual(plain(atOurs.message), plain(live('from Baileys')))
  const phone = server.phone('15550610008')
  await ours.sock.relayMessage(phone.jid, live('to the phone'), { messageId: B.generateMessageIDV2() })
  const [got] = await phone.waitForInbox(1, { timeoutMs: 30_000 })
  assert.deepEqual(plain(proto.Message.decode(Buffer.from(got.messageBytes, 'base64'))), plain(live('to the phone')))
})

test('bad content is a coded error naming the field, and nothing is sent', async () => {
  const phone = server.phone('15550610009')
  const cases = [
    [{ react: { text: 'x' } }, 'ERR_WA_MESSAGE_CONTENT', /react\.key/],
    [{ react: { text: 5, key: { remoteJid: baileysChat, id: 'X', fromMe: false } } }, 'ERR_WA_MESSAGE_CONTENT', /react\.text/],
    [{ delete: { id: 'X' } }, 'ERR_WA_MESSAGE_CONTENT', /delete\.remoteJid/],
    [{ text: 'x', edit: 'nope' }, 'ERR_WA_MESSAGE_CONTENT', /edit/],
    [{ poll: { name: 'p', values: 'ab' } }, undefined, /Invalid poll values/],
    [{ poll: { name: 'p', values: ['a'], selectableCount: 3 } }, undefined, /selectableCount/],
    [{ location: { degreesLatitude: 'north', degreesLongitude: 1 } }, 'ERR_WA_MESSAGE_CONTENT', /degreesLatitude/],
    [{ contacts: { contacts: [] } }, undefined, /atleast 1 contact/],
    [{ event: { name: 'e', startDate: 'tomorrow' } }, 'ERR_WA_MESSAGE_CONTENT', /event\.startDate/],
    [{ text: 'x', mentions: 'all' }, 'ERR_WA_MESSAGE_CONTENT', /mentions/],
    [{ nothing: true }, 'ERR_WA_MESSAGE_CONTENT', /no content kind/],
    [{ image: { url: 'http://example.com/a.jpg' } }, 'ERR_WA_MEDIA_ARGUMENT', /not a file, https or data: URL/],
    [{ buttonReply: { displayText: 'a', id: 'b', index: 0 }, type: 'fancy' }, 'ERR_WA_MESSAGE_CONTENT', /content\.type/],
  ]
  for (const [content, code, message] of cases) {
    await assert.rejects(ours.sock.sendMessage(phone.jid, content), (err) => {
      if (code) assert.equal(err.code, code, `${JSON.stringify(content)}: ${err.message}`)
      assert.match(err.message, message)
      assert.equal(err.isBoom, true)
      return true
    })
  }
  await assert.rejects(ours.sock.sendMessage(phone.jid, { text: 'x' }, { statusJidList: ['a@s.whatsapp.net'] }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
  // Content that is no object rejects as Baileys' async sendMessage does: a returned
  // promise, never a throw from the call itself.
  for (const content of [null, 'text', 42]) {
    let sent
    assert.doesNotThrow(() => {
      sent = ours.sock.sendMessage(phone.jid, content)
    })
    assert.ok(sent instanceof Promise)
    await assert.rejects(sent, { code: 'ERR_WA_CLIENT_ARGUMENT' })
  }
  await assert.rejects(ours.sock.relayMessage(phone.jid, { conversation: 'x' }, { additionalAttributes: { to: 'a@s.whatsapp.net' } }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
  await assert.rejects(ours.sock.relayMessage(phone.jid, { conversation: 'x' }, { messageId: 'has space' }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
  // A good send after the refusals is the first thing the phone got.
  const ok = await ours.sock.sendMessage(phone.jid, { text: 'only this' })
  const inbox = await phone.waitForInbox(1, { timeoutMs: 30_000 })
  await new Promise((r) => setTimeout(r, 200))
  assert.deepEqual((await phone.inbox()).map((m) => m.key.id), [ok.key.id])
  assert.equal(text(inbox[0]), 'only this')
})

// Neither Baileys nor WhatsApp Web's API has a "vote" content: a vote is a pollUpdateMessage
// whose payload the voter encrypts. This is the test's own encryption (node:crypto), written
// from the protocol, so both libraries' decryption is checked against a third implementation.
function encryptAddOn(label, { msgId, creatorJid, actorJid, secret }, plaintext) {
  const root = createHmac('sha256', Buffer.alloc(32)).update(secret).digest()
  const sign = Buffer.concat([Buffer.from(msgId), Buffer.from(creatorJid), Buffer.from(actorJid), Buffer.from(label), Buffer.from([1])])
  const key = createHmac('sha256', root).update(sign).digest()
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(`${msgId}\u0000${actorJid}`))
  return { encPayload: Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]), encIv: iv }
}
const optionHash = (name) => createHash('sha256').update(name).digest()

/** The vote message `voter` (a jid) sends for the poll it knows as `pollKey`. */
function voteMessage(poll, pollKey, creatorJid, voterJid, choices) {
  const secret = poll.message.messageContextInfo.messageSecret
  const plain = proto.Message.PollVoteMessage.encode({ selectedOptions: choices.map(optionHash) }).finish()
  const vote = encryptAddOn('Poll Vote', { msgId: pollKey.id, creatorJid, actorJid: voterJid, secret }, plain)
  return { pollUpdateMessage: { pollCreationMessageKey: pollKey, vote, senderTimestampMs: Date.now() } }
}

/** A tally as `{ option: sorted voters }`, the same whichever library made it. */
const tallyOf = (agg) => Object.fromEntries(agg.map((o) => [o.name, [...o.voters].sort()]))

test('a poll created by one side and voted by the other is tallied the same by both, votes decrypted on ours without a store', async () => {
  // Ours creates, Baileys votes (and changes its vote): ours decrypts each vote into
  // messages.update { pollUpdates }, from the poll's secret it kept.
  const poll = await ours.sock.sendMessage(baileysChat, { poll: { name: 'Which?', values: ['a', 'b', 'c'], selectableCount: 2 } })
  const atBaileys = await baileys.waitMessage((m) => m.key.id === poll.key.id)
  const first = voteMessage(atBaileys, atBaileys.key, ourChat, baileysChat, ['a', 'c'])
  await baileys.sock.relayMessage(ourChat, first, { messageId: B.generateMessageIDV2() })
  const u1 = await waitIn(() => ours.updates, (u) => u.key.id === poll.key.id && u.update.pollUpdates, 'the first vote at ours')
  assert.equal(u1.key.fromMe, true, 'the poll is ours')
  const pollState = { ...poll }
  for (const pu of u1.update.pollUpdates) updateMessageWithPollUpdate(pollState, pu)
  // The voter as Baileys' getKeyAuthor names it (the key's LID alternative when it has one).
  const voterKey = u1.update.pollUpdates[0].pollUpdateMessageKey
  const who = B.getKeyAuthor(voterKey)
  const baileysLid = B.jidNormalizedUser(baileys.sock.user.lid)
  assert.ok([baileysChat, baileysLid].includes(who), who)
  assert.deepEqual(tallyOf(getAggregateVotesInPollMessage(pollState, ourChat)), { a: [who], b: [], c: [who] })
  // The same vote decrypted by Baileys' own decryptPollVote and tallied by Baileys.
  const bVote = B.decryptPollVote(first.pollUpdateMessage.vote, { pollCreatorJid: ourChat, pollMsgId: poll.key.id, pollEncKey: atBaileys.message.messageContextInfo.messageSecret, voterJid: baileysChat })
  const bState = { message: atBaileys.message, pollUpdates: [{ pollUpdateMessageKey: voterKey, vote: bVote }] }
  assert.deepEqual(tallyOf(B.getAggregateVotesInPollMessage(bState, baileysChat)), tallyOf(getAggregateVotesInPollMessage(pollState, ourChat)))

  // The changed vote keyed by the voter's LID, as WhatsApp's own clients now do: the JIDs
  // are not on the wire, ours finds the pair that authenticates.
  assert.match(baileysLid, /@lid$/)
  const second = voteMessage(atBaileys, atBaileys.key, ourChat, baileysLid, ['b'])
  await baileys.sock.relayMessage(ourChat, second, { messageId: B.generateMessageIDV2() })
  const u2 = await waitIn(() => ours.updates, (u) => u !== u1 && u.key.id === poll.key.id && u.update.pollUpdates, 'the changed vote at ours')
  for (const pu of u2.update.pollUpdates) updateMessageWithPollUpdate(pollState, pu)
  assert.deepEqual(tallyOf(getAggregateVotesInPollMessage(pollState, ourChat)), { a: [], b: [who], c: [] }, 'a new vote replaces the voter\'s old one')

  // Baileys creates, ours votes: Baileys 7.0.0-rc14 leaves votes encrypted in messages.upsert
  // (its auto-decryption is commented out), so its side decrypts with its decryptPollVote.
  const theirPoll = await baileys.sock.sendMessage(ourChat, { poll: { name: 'Yes?', values: ['yes', 'no'], selectableCount: 1 } })
  const atOurs = await waitIn(() => ours.upserts, (m) => m.key.id === theirPoll.key.id, 'their poll at ours')
  const ourVote = voteMessage(atOurs, atOurs.key, baileysChat, ourChat, ['no'])
  const voteId = await ours.sock.relayMessage(baileysChat, ourVote, { messageId: B.generateMessageIDV2() })
  const raw = await baileys.waitMessage((m) => m.key.id === voteId)
  assert.ok(raw.message.pollUpdateMessage, 'the vote reached Baileys as a pollUpdateMessage')
  assert.equal(baileys.updates.some((u) => u.key.id === theirPoll.key.id && u.update.pollUpdates), false, 'Baileys emits no decrypted vote')
  const decrypted = B.decryptPollVote(raw.message.pollUpdateMessage.vote, {
    pollCreatorJid: baileysChat,
    pollMsgId: theirPoll.key.id,
    pollEncKey: theirPoll.message.messageContextInfo.messageSecret,
    voterJid: ourChat,
  })
  const theirState = { message: theirPoll.message, pollUpdates: [{ pollUpdateMessageKey: raw.key, vote: decrypted }] }
  const ourState = { message: atOurs.message, pollUpdates: [{ pollUpdateMessageKey: raw.key, vote: decryptPollVote(ourVote.pollUpdateMessage.vote, { pollCreatorJid: baileysChat, pollMsgId: theirPoll.key.id, pollEncKey: atOurs.message.messageContextInfo.messageSecret, voterJid: ourChat }) }] }
  const us = B.getKeyAuthor(raw.key)
  assert.ok([ourChat, B.jidNormalizedUser(ours.sock.user.lid)].includes(us), us)
  assert.deepEqual(tallyOf(B.getAggregateVotesInPollMessage(theirState, baileysChat)), { yes: [], no: [us] })
  assert.deepEqual(tallyOf(getAggregateVotesInPollMessage(ourState, ourChat)), { yes: [], no: [us] })
})

test('event responses are decrypted on both sides; our tally counts them, Baileys\' own tally of its own update counts none', async () => {
  const event = await ours.sock.sendMessage(baileysChat, { event: { name: 'Party', startDate: new Date(1767258000000) } })
  const atBaileys = await baileys.waitMessage((m) => m.key.id === event.key.id)
  const plain = proto.Message.EventResponseMessage.encode({ response: 1, timestampMs: Date.now() }).finish()
  const enc = encryptAddOn('Event Response', { msgId: event.key.id, creatorJid: ourChat, actorJid: baileysChat, secret: atBaileys.message.messageContextInfo.messageSecret }, plain)
  await baileys.sock.relayMessage(ourChat, { encEventResponseMessage: { eventCreationMessageKey: atBaileys.key, ...enc } }, { messageId: B.generateMessageIDV2() })
  const u = await waitIn(() => ours.updates, (x) => x.key.id === event.key.id && x.update.eventResponses, 'the response at ours')
  const [r] = u.update.eventResponses
  assert.equal(r.response.response, 1)
  const ourTally = getAggregateResponsesInEventMessage({ eventResponses: u.update.eventResponses }, ourChat)
  const who = B.getKeyAuthor(r.eventResponseMessageKey)
  assert.ok([baileysChat, B.jidNormalizedUser(baileys.sock.user.lid)].includes(who), who)
  assert.deepEqual(ourTally.find((t) => t.response === 'GOING').responders, [who])

  // Baileys decrypts a response to its own event (with its getMessage) into the same shape...
  const theirs = await baileys.sock.sendMessage(ourChat, { event: { name: 'Dinner', startDate: new Date(1767258000000) } })
  const theirsAtOurs = await waitIn(() => ours.upserts, (m) => m.key.id === theirs.key.id, 'their event at ours')
  // Keyed by our LID, as WhatsApp's clients do now (and as Baileys' getKeyAuthor expects of a
  // PN-addressed chat whose key carries the LID as its alternative).
  const ourLid = B.jidNormalizedUser(ours.sock.user.lid)
  assert.match(ourLid, /@lid$/)
  const enc2 = encryptAddOn('Event Response', { msgId: theirs.key.id, creatorJid: baileysChat, actorJid: ourLid, secret: theirsAtOurs.message.messageContextInfo.messageSecret }, proto.Message.EventResponseMessage.encode({ response: 3, timestampMs: Date.now() }).finish())
  await ours.sock.relayMessage(baileysChat, { encEventResponseMessage: { eventCreationMessageKey: theirsAtOurs.key, ...enc2 } }, { messageId: B.generateMessageIDV2() })
  const bu = await waitIn(() => baileys.updates, (x) => x.key.id === theirs.key.id && x.update.eventResponses, 'the response at Baileys')
  assert.equal(bu.update.eventResponses[0].response.response, 3)
  // ...which its getAggregateResponsesInEventMessage then ignores (it reads `eventResponse`);
  // ours tallies the very same update.
  const bTally = B.getAggregateResponsesInEventMessage({ eventResponses: bu.update.eventResponses }, baileysChat)
  assert.equal(bTally.reduce((n, t) => n + t.responders.length, 0), 0, 'Baileys counts nothing')
  const same = getAggregateResponsesInEventMessage({ eventResponses: bu.update.eventResponses }, baileysChat)
  assert.deepEqual(same.find((t) => t.response === 'MAYBE').responders, [B.getKeyAuthor(bu.update.eventResponses[0].eventResponseMessageKey)])
})
