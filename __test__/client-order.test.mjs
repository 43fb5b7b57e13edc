// Sends keep call order: texts to one chat reach the receiver in the order sendMessage was
// called, with many calls in flight; two chats progress side by side. The receivers are the
// test server's phone (which decrypts what it gets in arrival order) and the real Baileys 7.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, pairOurSocket } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client order' })
const restore = trustServer(server)
after(async () => {
  restore()
  await server.stop()
  exitWhenDone()
})

/** Calls `send(i)` for i in 0..n keeping `window` calls unresolved at a time. */
async function inFlight(n, window, send) {
  const pending = []
  for (let i = 0; i < n; i++) {
    pending.push(send(i))
    if (pending.length >= window) await pending.shift()
  }
  await Promise.all(pending)
}

const { sock } = await pairOurSocket(server, '15550810001')

test('500 texts to one chat with 50 calls in flight arrive in call order', async () => {
  const phone = server.phone('15550810002')
  await inFlight(500, 50, (i) => sock.sendMessage(phone.jid, { text: `m${i}` }))
  const inbox = await phone.waitForInbox(500, { timeoutMs: 60_000 })
  assert.deepEqual(
    inbox.map(text),
    Array.from({ length: 500 }, (_, i) => `m${i}`),
  )
})

test('sent all at once without awaiting, the real Baileys reads them in call order', async () => {
  const baileys = new BaileysClient(server, 'baileys')
  await baileys.pairByQR('15550810003', 'B')
  const sends = Array.from({ length: 100 }, (_, i) => sock.sendMessage('15550810003@s.whatsapp.net', { text: `b${i}` }))
  await Promise.all(sends)
  const texts = () => baileys.upserts.map(text).filter((t) => t?.startsWith('b'))
  const started = Date.now()
  while (texts().length < 100) {
    assert.ok(Date.now() - started < 60_000, `only ${texts().length} of 100 arrived`)
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.deepEqual(texts(), Array.from({ length: 100 }, (_, i) => `b${i}`))
  await baileys.end?.()
})

test('two chats progress side by side, each in its own call order', async () => {
  const x = server.phone('15550810004')
  const y = server.phone('15550810005')
  // y already has a session and a device list; x is a new chat, so its first send waits for a
  // device query and a pre-key fetch. The server holds every frame to us back for a while, so
  // x's whole queue waits on those answers; y0 needs none of them and must not wait behind x:
  // it reaches y while x has received nothing. (Which promise settles first is not the check:
  // after the ack each also waits for its store write, which can finish in either order.)
  await sock.sendMessage(y.jid, { text: 'y-warm' })
  await y.waitForInbox(1, { timeoutMs: 60_000 })
  server.stall(sock.user.id, 5_000)
  const xs = Array.from({ length: 100 }, (_, i) => sock.sendMessage(x.jid, { text: `x${i}` }))
  const ys = sock.sendMessage(y.jid, { text: 'y0' })
  await y.waitForInbox(2, { timeoutMs: 4_500 })
  assert.equal(x.inbox().length, 0, 'x got messages while the server held its answers back')
  await Promise.all([...xs, ys])
  // Call order is the order on the wire (the inbox below); promises may settle in any order.
  const [ix, iy] = await Promise.all([x.waitForInbox(100, { timeoutMs: 60_000 }), y.waitForInbox(2, { timeoutMs: 60_000 })])
  assert.deepEqual(ix.map(text), Array.from({ length: 100 }, (_, i) => `x${i}`))
  assert.deepEqual(iy.map(text), ['y-warm', 'y0'])
})
