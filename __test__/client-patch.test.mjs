// `patchMessageBeforeSending(message, recipientJids)` from the socket config is honoured: what
// reaches the phone is the patched message, for sendMessage and relayMessage alike; the plain
// text fast path goes through it too once a patch is configured; a patch that throws sends
// nothing.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { proto } from '../index.mjs'
import { trustServer, text, exitWhenDone, pairOurSocket } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client patch' })
const restore = trustServer(server)
after(async () => {
  restore()
  sock?.end()
  await server.stop()
  exitWhenDone()
})

const calls = []
let explode = false
function patchMessageBeforeSending(message, jids) {
  calls.push(jids)
  if (explode) throw new Error('patch refused')
  const t = message.extendedTextMessage?.text ?? message.conversation
  if (t === undefined) return message
  return { ...message, extendedTextMessage: { ...message.extendedTextMessage, text: `${t} [patched]` }, conversation: undefined }
}

const { sock } = await pairOurSocket(server, '15550910001', { config: { patchMessageBeforeSending }, pushName: 'Patch' })

test('the patched message is what the phone decrypts', async () => {
  const phone = server.phone('15550910002')
  await sock.sendMessage(phone.jid, { text: 'plain' })
  await sock.sendMessage(phone.jid, { text: 'mentioning', mentions: [phone.jid] })
  await sock.relayMessage(phone.jid, { conversation: 'relayed' }, {})
  await sock.sendMessage(phone.jid, { location: { degreesLatitude: 1, degreesLongitude: 2 } })
  const inbox = await phone.waitForInbox(4, { timeoutMs: 30_000 })
  assert.deepEqual(inbox.slice(0, 3).map(text), ['plain [patched]', 'mentioning [patched]', 'relayed [patched]'])
  const loc = proto.Message.decode(Buffer.from(inbox[3].messageBytes, 'base64'))
  assert.equal(loc.locationMessage.degreesLatitude, 1, 'a message the patch leaves alone goes as it was')
  assert.ok(calls.every((jids) => Array.isArray(jids) && jids[0] === phone.jid), JSON.stringify(calls))
  assert.equal(calls.length, 4)
})

test('a patch that throws rejects the send and sends nothing', async () => {
  const phone = server.phone('15550910003')
  explode = true
  await assert.rejects(sock.sendMessage(phone.jid, { text: 'never' }), /patch refused/)
  explode = false
  await sock.sendMessage(phone.jid, { text: 'after' })
  const inbox = await phone.waitForInbox(1, { timeoutMs: 30_000 })
  await new Promise((r) => setTimeout(r, 200))
  assert.deepEqual((await phone.inbox()).map(text), ['after [patched]'])
  assert.equal(text(inbox[0]), 'after [patched]')
})
