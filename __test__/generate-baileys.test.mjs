// Message generation against Baileys 7 on the same inputs: `generateWAMessageContent` for every
// content kind but media, `generateWAMessageFromContent` with a quoted message and a
// disappearing timer, `generateWAMessage`. Random secrets and clock readings are the only
// parts allowed to differ (they are taken out before comparing; their presence is checked).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as B from '@whiskeysockets/baileys'
import * as O from '../index.mjs'

const ME = '15550001111:3@s.whatsapp.net'
const CHAT = '15550002222@s.whatsapp.net'
const KEY = { remoteJid: CHAT, fromMe: false, id: '3EB0AABBCCDDEEFF001122' }
const secret = Buffer.alloc(32, 7)

const CONTENTS = [
  { text: 'plain' },
  { text: 'hello @1', mentions: ['15550003333@s.whatsapp.net'] },
  { text: 'all', mentionAll: true },
  { text: 'ctx', contextInfo: { isForwarded: true, forwardingScore: 3 } },
  { text: 'coloured', linkPreview: { 'matched-text': 'https://x.test', title: 'X', description: 'd' } },
  { contacts: { displayName: 'A', contacts: [{ displayName: 'A', vcard: 'BEGIN:VCARD\nEND:VCARD' }] } },
  { contacts: { displayName: '2', contacts: [{ vcard: 'a' }, { vcard: 'b' }] } },
  { location: { degreesLatitude: 1.25, degreesLongitude: -2.5, name: 'n' } },
  { location: { degreesLatitude: 3, degreesLongitude: 4 }, viewOnce: true },
  { react: { text: '👍', key: KEY, senderTimestampMs: 1700000000000 } },
  { react: { text: '', key: KEY, senderTimestampMs: 1700000000001 } },
  { delete: KEY },
  { text: 'edited', edit: KEY },
  { disappearingMessagesInChat: true },
  { disappearingMessagesInChat: false },
  { disappearingMessagesInChat: 86400 },
  { groupInvite: { inviteCode: 'code', inviteExpiration: 99, text: 'come', jid: '1203630001@g.us', subject: 'S' } },
  { pin: KEY, type: 1 },
  { pin: KEY, type: 2 },
  { pin: KEY, type: 1, time: 604800 },
  { buttonReply: { displayText: 'Yes', id: 'y', index: 2 }, type: 'template' },
  { buttonReply: { displayText: 'No', id: 'n', index: 1 }, type: 'plain' },
  { listReply: { title: 't', singleSelectReply: { selectedRowId: 'r' } } },
  { poll: { name: 'one', values: ['a', 'b'], selectableCount: 1, messageSecret: secret } },
  { poll: { name: 'many', values: ['a', 'b', 'c'], selectableCount: 2, messageSecret: secret } },
  { poll: { name: 'any', values: ['a', 'b'], messageSecret: secret } },
  { poll: { name: 'ann', values: ['a'], selectableCount: 1, toAnnouncementGroup: true, messageSecret: secret } },
  { event: { name: 'E', description: 'd', startDate: new Date(1767258000000), endDate: new Date(1767261600000), location: { name: 'L' }, messageSecret: secret } },
  { album: { expectedImageCount: 3, expectedVideoCount: 0 } },
  { sharePhoneNumber: true },
  { requestPhoneNumber: true },
  { limitSharing: true },
  { limitSharing: false },
  { text: 'album child', albumParentKey: KEY },
]

/** Plain data with the random secret and the clock readings taken out (their presence kept). */
function comparable(message) {
  const out = JSON.parse(
    JSON.stringify(O.proto.Message.toObject(O.proto.Message.fromObject(message), { longs: String, bytes: String })),
  )
  const walk = (o) => {
    if (!o || typeof o !== 'object') return
    for (const k of ['timestampMs', 'senderTimestampMs', 'limitSharingSettingTimestamp']) {
      if (k in o && !(o === out.reactionMessage && k === 'senderTimestampMs')) o[k] = 'clock'
    }
    if (o.messageSecret && o.messageSecret !== Buffer.from(secret).toString('base64')) o.messageSecret = 'random'
    Object.values(o).forEach(walk)
  }
  walk(out)
  return out
}

test('generateWAMessageContent: every non-media kind as Baileys makes it', async () => {
  for (const content of CONTENTS) {
    const ours = await O.generateWAMessageContent(structuredClone(content), {})
    const theirs = await B.generateWAMessageContent(structuredClone(content), {})
    assert.deepEqual(comparable(ours), comparable(theirs), JSON.stringify(content).slice(0, 100))
  }
})

test('generateWAMessageContent: a secret on all but reactions; styling options', async () => {
  const t = await O.generateWAMessageContent({ text: 'x' }, {})
  assert.equal(t.messageContextInfo.messageSecret.length, 32)
  const r = await O.generateWAMessageContent({ react: { text: 'x', key: KEY } }, {})
  assert.equal(r.messageContextInfo, null)
  assert.ok(r.reactionMessage.senderTimestampMs > 1_700_000_000_000)
  const styled = await O.generateWAMessageContent({ text: 'x' }, { backgroundColor: '#ff0000', font: 2 })
  const styledB = await B.generateWAMessageContent({ text: 'x' }, { backgroundColor: '#ff0000', font: 2 })
  assert.equal(styled.extendedTextMessage.backgroundArgb, styledB.extendedTextMessage.backgroundArgb)
  assert.equal(styled.extendedTextMessage.font, 2)
  // A numeric colour: Baileys' assertColor returns nothing for numbers and drops it; we keep it.
  const num = await O.generateWAMessageContent({ text: 'x' }, { backgroundColor: 0xff00ff00 })
  const numB = await B.generateWAMessageContent({ text: 'x' }, { backgroundColor: 0xff00ff00 })
  assert.equal(num.extendedTextMessage.backgroundArgb, 0xff00ff00)
  assert.ok(!numB.extendedTextMessage.backgroundArgb, 'Baileys loses a numeric backgroundColor')
})

test('generateWAMessageFromContent: quoted, ephemeral, ids and shape as Baileys', async () => {
  const quoted = {
    key: { remoteJid: CHAT, fromMe: false, id: 'QUOTED1' },
    message: { extendedTextMessage: { text: 'original', contextInfo: { mentionedJid: ['x@s.whatsapp.net'] } } },
  }
  const mine = { key: { remoteJid: CHAT, fromMe: true, id: 'MINE1' }, message: { conversation: 'mine' } }
  const elsewhere = { key: { remoteJid: '1203630001@g.us', fromMe: false, id: 'G1', participant: '15550004444@s.whatsapp.net' }, message: { conversation: 'in a group' } }
  const timestamp = new Date(1767258000000)
  for (const options of [
    { quoted },
    { quoted: mine },
    { quoted: elsewhere },
    { ephemeralExpiration: 604800 },
    { quoted, ephemeralExpiration: 86400 },
    {},
  ]) {
    const make = (G) =>
      G.generateWAMessageFromContent(CHAT, { extendedTextMessage: { text: 'reply' } }, { userJid: ME, timestamp, messageId: 'FIXEDID', ...structuredClone(options) })
    const ours = make(O)
    const theirs = make(B)
    assert.deepEqual(
      O.proto.WebMessageInfo.toObject(ours, { longs: String, bytes: String }),
      JSON.parse(JSON.stringify(B.proto.WebMessageInfo.toObject(theirs, { longs: String, bytes: String }))),
      JSON.stringify(options).slice(0, 80),
    )
  }
  // Ours leaves the caller's quoted message alone (Baileys deletes its contextInfo).
  O.generateWAMessageFromContent(CHAT, { extendedTextMessage: { text: 'r' } }, { userJid: ME, quoted })
  assert.deepEqual(quoted.message.extendedTextMessage.contextInfo, { mentionedJid: ['x@s.whatsapp.net'] })
  const gen = await O.generateWAMessage(CHAT, { text: 'hi' }, { userJid: ME })
  assert.match(gen.key.id, /^3EB0[0-9A-F]{18}$/)
  assert.equal(gen.status, O.proto.WebMessageInfo.Status.PENDING)
})

test('ill-formed content: Boom 400 with ERR_WA_MESSAGE_CONTENT naming the field', async () => {
  const bad = [
    [{ react: { text: 'x', key: { id: 'a' } } }, /react\.key\.remoteJid/],
    [{ pin: KEY, type: 3 }, /content\.type/],
    [{ groupInvite: { inviteCode: 'c', jid: '1@s.whatsapp.net' } }, /groupInvite\.jid/],
    [{ disappearingMessagesInChat: 'yes' }, /disappearingMessagesInChat/],
    [{ poll: { name: 'p', values: ['a', 3] } }, /poll\.values\[1\]/],
    [{ event: { name: 'e', startDate: new Date(0), call: 'video' } }, /event\.call/],
    [{ forward: { message: {} } }, /content\.forward/],
    [null, /content/],
  ]
  for (const [content, re] of bad) {
    await assert.rejects(O.generateWAMessageContent(content, {}), (err) => {
      assert.equal(err.code, 'ERR_WA_MESSAGE_CONTENT', err.message)
      assert.equal(err.output.statusCode, 400)
      assert.match(err.message, re)
      return true
    })
  }
  // Media needs an upload function (sendMessage passes the socket's).
  for (const media of [{ image: Buffer.alloc(1) }, { video: Buffer.alloc(1), ptv: true }, { document: Buffer.alloc(1), mimetype: 'a/b' }]) {
    await assert.rejects(O.generateWAMessageContent(media, {}), { code: 'ERR_WA_MEDIA_ARGUMENT' })
  }
})
