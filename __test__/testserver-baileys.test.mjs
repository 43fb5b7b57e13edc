// The real Baileys 7.0.0-rc14 against our test server: QR pairing by the simulated phone, the
// 515 restart and login, prekey upload, messages both ways between two Baileys sockets, offline
// delivery, the phone's sendText and inbox, and pairing by code.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from 'baileys-native/testing'
import { BaileysClient, trustServer, verifyCount, text, exitWhenDone } from './testserver-util.mjs'

let server
let restore
before(async () => {
  server = await startTestServer({ seed: 'baileys interop' })
  restore = trustServer(server)
})
after(async () => {
  restore?.()
  await server?.stop()
  exitWhenDone()
})

const A = '15551230001'
const B = '15551230002'
const clients = []
after(async () => {
  for (const c of clients) await c.end()
})

test('QR pairing: the QR arrives, the phone scans it, 515, then open with prekeys uploaded', async () => {
  const a = new BaileysClient(server, 'a')
  clients.push(a)
  const verifiesBefore = verifyCount()
  const { jid, qr, restart } = await a.pairByQR(A, 'Alice')
  assert.match(qr, /^https:\/\/wa\.me\/settings\/linked_devices#2@/)
  assert.equal(jid, `${A}:1@s.whatsapp.net`)
  assert.equal(restart, 515, 'the server asked for a restart')
  assert.equal(a.auth.creds.me.id, jid)
  assert.match(a.auth.creds.me.lid, /^\d+:1@lid$/)
  assert.ok(verifyCount() > verifiesBefore, 'Baileys verified signatures honestly')
  assert.ok(server.isOnline(jid))
  const s = server.stats()
  assert.ok(s.preKeysUploaded >= 812, `uploaded ${s.preKeysUploaded} prekeys`)
})

test('two Baileys accounts exchange text both ways, decrypted in messages.upsert', async () => {
  const a = clients[0]
  const b = new BaileysClient(server, 'b')
  clients.push(b)
  await b.pairByQR(B, 'Bob')
  const sent = await a.sock.sendMessage(`${B}@s.whatsapp.net`, { text: 'hello bob' })
  const got = await b.waitMessage((m) => text(m) === 'hello bob')
  assert.equal(got.key.id, sent.key.id)
  assert.equal(got.key.fromMe, false)
  assert.equal(got.pushName, 'Alice')
  const back = await b.sock.sendMessage(`${A}@s.whatsapp.net`, { text: 'hello alice' })
  const got2 = await a.waitMessage((m) => text(m) === 'hello alice')
  assert.equal(got2.key.id, back.key.id)
  // a second message each way rides the established sessions
  await a.sock.sendMessage(`${B}@s.whatsapp.net`, { text: 'again' })
  await b.waitMessage((m) => text(m) === 'again')
})

test('a message sent while the receiver is offline arrives when it reconnects', async () => {
  const [a, b] = clients
  const bJid = b.auth.creds.me.id
  await b.end()
  await server.waitForOnline(bJid, { online: false })
  const sent = await a.sock.sendMessage(`${B}@s.whatsapp.net`, { text: 'while you were away' })
  await server.waitForQueued(bJid, 1)
  b.connect()
  await b.waitOpen()
  const got = await b.waitMessage((m) => m.key.id === sent.key.id)
  assert.equal(text(got), 'while you were away')
  assert.equal(got.upsertType, 'append', 'delivered from the offline queue')
  await server.waitForQueued(bJid, 0).catch(() => {})
})

test("the phone's sendText reaches a Baileys socket, and Baileys' message reaches the phone's inbox", async () => {
  const [a] = clients
  const phoneB = server.phone(B)
  const id = await phoneB.sendText(`${A}@s.whatsapp.net`, 'from bob\'s phone')
  const got = await a.waitMessage((m) => m.key.id === id)
  assert.equal(text(got), "from bob's phone")
  const before = phoneB.inbox().length
  const sent = await a.sock.sendMessage(`${B}@s.whatsapp.net`, { text: 'to the phone too' })
  const inbox = await phoneB.waitForInbox(before + 1)
  const m = inbox.find((x) => x.key.id === sent.key.id)
  assert.ok(m, 'the phone decrypted it')
  assert.equal(text(m), 'to the phone too')
  assert.equal(m.key.fromMe, false)
  assert.equal(m.key.remoteJid, `${A}@s.whatsapp.net`)
  // and A's own phone got the copy for its own devices
  const phoneA = server.phone(A)
  const own = (await phoneA.waitForInbox(1)).find((x) => x.key.id === sent.key.id)
  assert.ok(own, "A's phone got the DeviceSentMessage")
  assert.equal(own.key.fromMe, true)
  assert.equal(own.key.remoteJid, `${B}@s.whatsapp.net`)
})

test("pairing by code with Baileys' requestPairingCode", async () => {
  const c = new BaileysClient(server, 'c')
  clients.push(c)
  const C = '15551230003'
  c.connect()
  await c.waitUpdate((u) => !!u.qr)
  const code = await c.sock.requestPairingCode(C)
  assert.match(code, /^[1-9A-HJ-NP-TV-Z]{8}$/)
  const closed = c.waitClose()
  const jid = await server.enterPairingCode(C, code)
  assert.equal(jid, `${C}:1@s.whatsapp.net`)
  await closed
  c.connect()
  await c.waitOpen()
  assert.equal(c.auth.creds.me.id, jid)
  const sent = await c.sock.sendMessage(`${A}@s.whatsapp.net`, { text: 'paired by code' })
  const got = await clients[0].waitMessage((m) => m.key.id === sent.key.id)
  assert.equal(text(got), 'paired by code')
})
