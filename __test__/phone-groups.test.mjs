// The test server's simulated phones as group members, against our socket and the real Baileys
// 7 (the oracle): a phone makes a group with both and sends to it with its own sender key (both
// decrypt it and name the phone as the author); our socket and Baileys send to the group with
// theirs, and the phone's inbox has both messages, decrypted, in the group; the phone hears the
// members' receipts. Run with `node --test __test__/phone-groups.test.mjs`.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, pairOurSocket, until } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'phone groups' })
const restore = trustServer(server)

const OURS = '15550300'
const BAIL = '15550301'
const PHONE = '15550302'

const ourMessages = []
let ourSock
const ours = await pairOurSocket(server, OURS, {
  pushName: 'Ours',
  onSocket: (s) => {
    ourSock = s
    s.ev.on('messages.upsert', (u) => ourMessages.push(...u.messages))
  },
})
const sock = ours.sock
const bail = new BaileysClient(server, 'bail')
await bail.pairByQR(BAIL, 'Bail')
const phone = server.phone(PHONE)

after(async () => {
  ourSock?.end()
  await bail.end()
  restore()
  await server.stop()
  exitWhenDone()
})

const userOf = (jid) => jid?.split('@')[0].split(':')[0]

let group
test('a phone makes a group with ours and Baileys and sends to it: both decrypt it, from the phone', async () => {
  group = server.phoneCreateGroup(PHONE, 'The phone group', [OURS, `${BAIL}@s.whatsapp.net`])
  assert.match(group, /^\d+@g\.us$/)
  const meta = await sock.groupMetadata(group)
  assert.equal(meta.subject, 'The phone group')
  assert.equal(meta.participants.length, 3)

  const id = await phone.sendText(group, 'hello from the phone')
  const theirs = await bail.waitMessage((m) => m.key.remoteJid === group && text(m) === 'hello from the phone')
  assert.equal(theirs.key.id, id)
  assert.equal(theirs.key.fromMe, false)
  // A LID group names its members by LID.
  assert.equal(userOf(theirs.key.participant), userOf(phone.lid))
  const mine = await until(
    () => ourMessages.find((m) => m.key.remoteJid === group && text(m) === 'hello from the phone'),
    'ours got the phone message',
  )
  assert.equal(mine.key.id, id)
  assert.equal(mine.key.fromMe, false)
  assert.equal(userOf(mine.key.participant), userOf(phone.lid))

  // A second one: both hold the phone's key already (the skmsg alone).
  await phone.sendText(group, 'and again')
  await bail.waitMessage((m) => m.key.remoteJid === group && text(m) === 'and again')
  await until(() => ourMessages.some((m) => m.key.remoteJid === group && text(m) === 'and again'), 'ours got the second')

  // Both members' devices confirmed delivery to the phone.
  const receipts = await phone.waitForReceipts(2)
  const from = new Set(receipts.filter((r) => r.id === id).map((r) => userOf(r.from)))
  assert.ok(from.has(userOf(server.phone(OURS).lid)), `ours confirmed: ${JSON.stringify(receipts)}`)
  assert.ok(from.has(userOf(server.phone(BAIL).lid)), `Baileys confirmed: ${JSON.stringify(receipts)}`)
})

test('ours and Baileys send to the group with their sender keys: the phone decrypts both', async () => {
  const before = phone.inbox().length
  const a = await sock.sendMessage(group, { text: 'ours to the group' })
  const b = await bail.sock.sendMessage(group, { text: 'Baileys to the group' })
  const inbox = await phone.waitForInbox(before + 2)
  const got = inbox.slice(before)
  const byText = new Map(got.map((m) => [m.message.conversation ?? m.message.extendedTextMessage?.text, m]))
  const fromOurs = byText.get('ours to the group')
  const fromBail = byText.get('Baileys to the group')
  assert.ok(fromOurs, `ours' message in the inbox: ${JSON.stringify(got.map((m) => m.message))}`)
  assert.ok(fromBail, `Baileys' message in the inbox: ${JSON.stringify(got.map((m) => m.message))}`)
  for (const [m, sent, number] of [
    [fromOurs, a, OURS],
    [fromBail, b, BAIL],
  ]) {
    assert.equal(m.key.remoteJid, group)
    assert.equal(m.key.id, sent.key.id)
    assert.equal(m.key.fromMe, false)
    assert.equal(userOf(m.key.participant), userOf(server.phone(number).lid))
  }
  // The members see each other's messages too (the phones did not disturb the fan-out).
  await bail.waitMessage((m) => m.key.remoteJid === group && text(m) === 'ours to the group')
  await until(() => ourMessages.some((m) => m.key.remoteJid === group && text(m) === 'Baileys to the group'), 'ours got Baileys')
  assert.equal(server.stats().phoneDecryptFailures, 0)
})

test('phoneUpdateGroup: a member removed by the phone gets nothing more; bad input throws', async () => {
  server.phoneUpdateGroup(group, PHONE, 'remove', [BAIL])
  await until(async () => (await sock.groupMetadata(group)).participants.length === 2, 'Baileys removed')
  await phone.sendText(group, 'without Baileys')
  await until(() => ourMessages.some((m) => m.key.remoteJid === group && text(m) === 'without Baileys'), 'ours got it')
  assert.equal(bail.upserts.filter((m) => text(m) === 'without Baileys').length, 0)
  assert.throws(() => server.phoneUpdateGroup(group, PHONE, 'promote', [BAIL]), { code: 'ERR_WA_TESTSERVER_BAD_OPTION' })
  await assert.rejects(server.phone(BAIL).sendText(group, 'let me back'), { code: 'ERR_WA_TESTSERVER_BAD_JID' })
})
