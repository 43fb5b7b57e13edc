// Fault controls and receipts with the real Baileys 7 as the client: each fault shows up in
// Baileys as the disconnect reason WhatsApp's own faults produce, queued messages survive,
// receipts reach the sender as message status updates, and a retry receipt makes the phone
// encrypt again.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from 'baileys-native/testing'
import { BaileysClient, trustServer, text, exitWhenDone } from './testserver-util.mjs'

let server
let restore
let a
let b
const A = '15552340001'
const B = '15552340002'

before(async () => {
  server = await startTestServer({ seed: 'baileys faults' })
  restore = trustServer(server)
  a = new BaileysClient(server, 'a')
  b = new BaileysClient(server, 'b')
  await a.pairByQR(A, 'Ann')
  await b.pairByQR(B, 'Ben')
})
after(async () => {
  await a?.end()
  await b?.end()
  restore?.()
  await server?.stop()
  exitWhenDone()
})

const status = (u) => u.lastDisconnect?.error?.output?.statusCode

async function faultThenReconnect(client, fault) {
  const closed = client.waitClose()
  assert.equal(fault(), 1, 'the fault hit the connection')
  const code = status(await closed)
  client.connect()
  await client.waitOpen()
  return code
}

test('each stream error reaches Baileys as its disconnect reason', async () => {
  const jid = a.auth.creds.me.id
  assert.equal(await faultThenReconnect(a, () => server.dropConnection(jid)), 428, 'connection closed')
  for (const code of [440, 500, 503, 515]) {
    assert.equal(await faultThenReconnect(a, () => server.streamError(jid, code)), code)
  }
  // As a fault, 401 does not unlink: the same credentials log in again.
  assert.equal(await faultThenReconnect(a, () => server.streamError(jid, 401)), 401)
  assert.ok(server.stats().faultsInjected >= 6)
})

test('refused logins, then logins again', async () => {
  const jid = a.auth.creds.me.id
  const closed = a.waitClose()
  server.refuseLogins(60_000)
  server.dropConnection(jid)
  await closed
  a.connect()
  assert.equal(status(await a.waitClose()), 503, 'refused with 503')
  server.refuseLogins(60_000, { code: 403, failure: true })
  a.connect()
  assert.equal(status(await a.waitClose()), 403, 'refused with <failure reason=403>')
  server.refuseLogins(0)
  a.connect()
  await a.waitOpen()
  assert.ok(server.stats().loginsRefused >= 2)
})

test('lost frames stay queued and arrive after a reconnect', async () => {
  const bJid = b.auth.creds.me.id
  assert.equal(server.dropFrames(bJid, 1), 1)
  const sent = await a.sock.sendMessage(`${B}@s.whatsapp.net`, { text: 'lost on the wire' })
  await server.waitForQueued(bJid, 1)
  assert.equal(b.upserts.some((m) => m.key.id === sent.key.id), false)
  const closed = b.waitClose()
  server.dropConnection(bJid)
  await closed
  b.connect()
  const got = await b.waitMessage((m) => m.key.id === sent.key.id)
  assert.equal(text(got), 'lost on the wire')
})

test('a stall holds frames back until it ends', async () => {
  const jid = a.auth.creds.me.id
  const ping = { tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }
  const t0 = Date.now()
  assert.equal(server.stall(jid, 400), 1)
  const res = await a.sock.query(ping)
  assert.equal(res.attrs.type, 'result')
  assert.ok(Date.now() - t0 >= 390, 'the answer waited for the stall')
  server.delayFrames(jid, 0)
})

test('delivery and read receipts reach the sender as status updates', async () => {
  const sent = await a.sock.sendMessage(`${B}@s.whatsapp.net`, { text: 'tick tick' })
  const got = await b.waitMessage((m) => m.key.id === sent.key.id)
  await a.waitStatus(sent.key.id, 3) // DELIVERY_ACK
  await b.sock.readMessages([got.key])
  await a.waitStatus(sent.key.id, 4) // READ
})

test("a device that cannot decrypt the phone's message gets it again through retry receipts", async () => {
  const phoneB = server.phone(B)
  await phoneB.sendText(`${A}@s.whatsapp.net`, 'first, sets up the session')
  await a.waitMessage((m) => text(m) === 'first, sets up the session')
  // A loses every Signal session (a corrupted store): the phone's next message cannot be read.
  for (const k of [...a.auth.data.keys()]) if (k.startsWith('session-')) a.auth.data.delete(k)
  const id = await phoneB.sendText(`${A}@s.whatsapp.net`, 'second, after the loss')
  const got = await a.waitMessage((m) => m.key.id === id && text(m) === 'second, after the loss', 20_000)
  assert.equal(got.key.remoteJid.split('@')[0], B)
  const retries = phoneB.receipts().filter((r) => r.id === id && r.type === 'retry')
  assert.ok(retries.length >= 1, 'Baileys asked with a retry receipt')
})

test('delayed frames arrive late and in order', async () => {
  const jid = a.auth.creds.me.id
  const ping = { tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }
  assert.equal(server.delayFrames(jid, 300), 1)
  try {
    const t0 = Date.now()
    const sent = await Promise.all([1, 2, 3].map(() => a.sock.query(ping)))
    assert.ok(sent.every((r) => r.attrs.type === 'result'))
    assert.ok(Date.now() - t0 >= 290, 'the answers waited for the delay')
    // From B's phone: B's Baileys socket could not answer A's retry receipts after the test
    // above wiped A's sessions (it has no getMessage), the phone can.
    const id = await server.phone(B).sendText(`${A}@s.whatsapp.net`, 'late but whole')
    const got = await a.waitMessage((m) => m.key.id === id && text(m) === 'late but whole')
    assert.equal(got.key.remoteJid.split('@')[0], B)
  } finally {
    server.delayFrames(jid, 0)
  }
})

test('Baileys with an honest verifier refuses the server when it trusts another root', async () => {
  const { WA_CERT_DETAILS } = await import('@whiskeysockets/baileys/lib/Defaults/index.js')
  const { randomBytes } = await import('node:crypto')
  const trusted = WA_CERT_DETAILS.PUBLIC_KEY
  WA_CERT_DETAILS.PUBLIC_KEY = randomBytes(32)
  const stranger = new BaileysClient(server, 'stranger')
  const qrs = []
  try {
    stranger.connect()
    stranger.sock.ev.on('connection.update', (u) => u.qr && qrs.push(u.qr))
    await stranger.waitClose()
    assert.deepEqual(qrs, [], 'no QR from a server whose certificate is not trusted')
  } finally {
    stranger.sock?.end(undefined)
    WA_CERT_DETAILS.PUBLIC_KEY = trusted
  }
})
