// Our makeWASocket against the local test server (wa-testserver) and, through it, against the
// real Baileys 7 (the independent oracle): QR and code pairing, the 515 restart, reconnecting
// with the stored auth, texts with the simulated phone and with a Baileys socket both ways,
// offline delivery, logout.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { useMultiFileAuthState } from '@whiskeysockets/baileys'
import { startTestServer } from '../lib/testing.mjs'
import { makeWASocket, initAuthCreds, KeyStore, MemoryEngine, DisconnectReason, proto } from '../index.mjs'
import { BaileysClient, trustServer, text, exitWhenDone } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client e2e' })
const restore = trustServer(server)
after(async () => {
  restore()
  await server.stop()
  exitWhenDone()
})

/** One of our accounts: an auth state kept across sockets, like a bot's folder. */
class OurClient {
  constructor(name) {
    this.name = name
    this.auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }
    this.upserts = []
    this.updates = []
    this.sock = null
  }

  connect() {
    const sock = makeWASocket({
      auth: this.auth,
      waWebSocketUrl: server.url,
      waCertPublicKey: server.rootPublicKey,
      connectTimeoutMs: 10_000,
      defaultQueryTimeoutMs: 10_000,
    })
    this.sock = sock
    sock.ev.on('messages.upsert', ({ messages, type }) => {
      for (const m of messages) this.upserts.push({ ...m, upsertType: type })
    })
    sock.ev.on('messages.update', (u) => this.updates.push(...u))
    return sock
  }

  waitUpdate(pred, ms = 15_000) {
    const sock = this.sock
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: connection.update timed out`)), ms)
      const on = (u) => {
        if (pred(u)) {
          clearTimeout(t)
          sock.ev.off('connection.update', on)
          resolve(u)
        }
      }
      sock.ev.on('connection.update', on)
    })
  }

  waitMessage(pred, ms = 15_000) {
    const found = this.upserts.find(pred)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const started = Date.now()
      const tick = setInterval(() => {
        const m = this.upserts.find(pred)
        if (m) {
          clearInterval(tick)
          resolve(m)
        } else if (Date.now() - started > ms) {
          clearInterval(tick)
          reject(new Error(`${this.name}: no matching message`))
        }
      }, 5)
    })
  }

  async restartAfter(closeUpdate) {
    assert.equal(closeUpdate.lastDisconnect.error.output.statusCode, DisconnectReason.restartRequired)
    this.connect()
    await this.waitUpdate((u) => u.connection === 'open')
  }

  async end() {
    if (!this.sock || this.sock.ws.isClosed) return
    const closed = this.waitUpdate((u) => u.connection === 'close')
    this.sock.end()
    await closed
  }
}

const ours = new OurClient('ours')
const baileys = new BaileysClient(server, 'baileys')
const OUR_NUMBER = '15550200'
const BAILEYS_NUMBER = '15550300'
let ourJid
let baileysJid

test('our socket pairs by QR, restarts on 515, and opens with the stored auth', async () => {
  const started = Date.now()
  ours.connect()
  const { qr } = await ours.waitUpdate((u) => !!u.qr)
  assert.match(qr, /^https:\/\/wa\.me\/settings\/linked_devices#/)
  const closed = ours.waitUpdate((u) => u.connection === 'close')
  ourJid = await server.scanQR(qr, { phoneNumber: OUR_NUMBER, pushName: 'Ours' })
  assert.equal(ourJid.split(':')[0], OUR_NUMBER)
  await ours.restartAfter(await closed)
  console.log(`# ours: QR shown -> paired -> open in ${Date.now() - started} ms`)
  assert.equal(ours.sock.user.id, ourJid)
  assert.ok(ours.sock.user.lid?.endsWith('@lid'))
  assert.equal(ours.auth.creds.nextPreKeyId, 813)
  await server.waitForOnline(ourJid)
  assert.ok(server.isOnline(ourJid))
})

test('the phone and our socket exchange texts', async () => {
  const phone = server.phone(OUR_NUMBER)
  const other = server.phone('15550999')
  const id = await other.sendText(`${OUR_NUMBER}@s.whatsapp.net`, 'hello from a phone')
  const got = await ours.waitMessage((m) => text(m) === 'hello from a phone')
  assert.equal(got.key.id, id)
  assert.equal(got.key.fromMe, false)
  assert.equal(got.upsertType, 'notify')
  const sent = await ours.sock.sendMessage('15550999@s.whatsapp.net', { text: 'hi phone' })
  assert.equal(sent.key.fromMe, true)
  assert.equal(sent.message.extendedTextMessage.text, 'hi phone')
  const inbox = await other.waitForInbox(1)
  assert.ok(inbox.some((m) => text(m) === 'hi phone'), JSON.stringify(inbox.map(text)))
  // Our own phone sees what its companion sent (a DeviceSentMessage).
  const own = await phone.waitForInbox(1)
  assert.ok(own.some((m) => text(m) === 'hi phone'), JSON.stringify(own.map(text)))
})

// A 1:1 text's WAMessage is made in JavaScript from the parts the native send returns; a text
// that cannot cross intact (a lone surrogate) comes back as the native side's JSON. Both must
// be one object: same keys in the same order, same types, and Baileys' own fields.
test('a sent text resolves with the same WAMessage whichever way it was made', async () => {
  const other = server.phone('15550999')
  const shape = (v) =>
    Buffer.isBuffer(v)
      ? `Buffer(${v.length})`
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]))
        : typeof v
  const made = await ours.sock.sendMessage(other.jid, { text: 'made in js' })
  const parsed = await ours.sock.sendMessage(other.jid, { text: 'lone \ud800 surrogate' })
  assert.equal(JSON.stringify(shape(made)), JSON.stringify(shape(parsed)))
  assert.deepEqual(Object.keys(made), ['key', 'message', 'messageTimestamp', 'status'])
  assert.deepEqual(made.key, { remoteJid: other.jid, fromMe: true, id: made.key.id })
  assert.equal(made.message.extendedTextMessage.text, 'made in js')
  assert.equal(parsed.message.extendedTextMessage.text, 'lone \ufffd surrogate')
  assert.equal(made.status, parsed.status)
  assert.ok(Math.abs(made.messageTimestamp - Date.now() / 1000) < 60)
  assert.notDeepEqual(made.message.messageContextInfo.messageSecret, parsed.message.messageContextInfo.messageSecret)
  // The phone decrypted what was sent, with the text and secret the object holds.
  const inbox = await other.waitForInbox(3)
  const got = inbox.find((m) => m.key.id === made.key.id)
  assert.equal(text(got), 'made in js')
  const atPhone = proto.Message.decode(Buffer.from(got.messageBytes, 'base64'))
  assert.deepEqual(Buffer.from(atPhone.messageContextInfo.messageSecret), made.message.messageContextInfo.messageSecret)
})

test('our socket and the real Baileys 7 exchange texts both ways', async () => {
  ;({ jid: baileysJid } = await baileys.pairByQR(BAILEYS_NUMBER, 'Baileys'))
  const toBaileys = await ours.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: 'from native' })
  const atBaileys = await baileys.waitMessage((m) => text(m) === 'from native')
  assert.equal(atBaileys.key.id, toBaileys.key.id)
  const fromBaileys = await baileys.sock.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, { text: 'from baileys' })
  const atOurs = await ours.waitMessage((m) => text(m) === 'from baileys')
  assert.equal(atOurs.key.fromMe, false)
  // The key as Baileys 7 writes a 1:1 message's, field by field and in its order.
  const lid = baileys.sock.user.lid.replace(/:\d+@/, '@')
  assert.deepEqual(Object.entries(atOurs.key), [
    ['remoteJid', `${BAILEYS_NUMBER}@s.whatsapp.net`],
    ['fromMe', false],
    ['id', fromBaileys.key.id],
    ['remoteJidAlt', lid],
    ['addressingMode', 'pn'],
  ])
  // A few more rounds each way (ratchet steps).
  for (let i = 0; i < 5; i++) {
    await ours.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: `n${i}` })
    await baileys.waitMessage((m) => text(m) === `n${i}`)
    await baileys.sock.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, { text: `b${i}` })
    await ours.waitMessage((m) => text(m) === `b${i}`)
  }
  // Throughput: a burst from ours to Baileys, each send resolving on the server's ack.
  const n = 50
  const t0 = Date.now()
  for (let i = 0; i < n; i++) await ours.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: `burst ${i}` })
  await baileys.waitMessage((m) => text(m) === `burst ${n - 1}`, 30_000)
  const ms = Date.now() - t0
  console.log(`# ours -> server -> Baileys: ${n} texts in ${ms} ms (${Math.round((n * 1000) / ms)} msg/s)`)
})

test('a sent text comes back as our own messages.upsert (append), the object the send resolved with, as in Baileys', async () => {
  const seen = (sock) => {
    const got = []
    const on = ({ messages, type }) => got.push(...messages.map((m) => ({ m, type })))
    sock.ev.on('messages.upsert', on)
    return { got, off: () => sock.ev.off('messages.upsert', on) }
  }
  const atOurs = seen(ours.sock)
  const atBaileys = seen(baileys.sock)
  const mine = await ours.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: 'own event' })
  const theirs = await baileys.sock.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, { text: 'own event too' })
  await ours.waitMessage((m) => text(m) === 'own event too')
  await baileys.waitMessage((m) => text(m) === 'own event')
  await new Promise((r) => setTimeout(r, 50))
  atOurs.off()
  atBaileys.off()
  const own = (got, id) => got.filter(({ m }) => m.key.fromMe && m.key.id === id)
  const ourOwn = own(atOurs.got, mine.key.id)
  const baileysOwn = own(atBaileys.got, theirs.key.id)
  assert.equal(baileysOwn.length, 1, 'Baileys emits its own text once')
  assert.equal(baileysOwn[0].type, 'append')
  assert.equal(ourOwn.length, 1, 'so do we')
  assert.equal(ourOwn[0].type, 'append')
  assert.equal(ourOwn[0].m, mine, 'the same object the send resolved with')
  assert.equal(text(ourOwn[0].m), 'own event')
})

// A batch of one plain received text crosses to JavaScript as lines, not JSON
// (src/compat/received.rs), and lib/socket.js makes the WAMessage from them; anything more
// (here a reply) keeps the JSON. A phone sends the same messages to our socket and to the real
// Baileys: both must read the same object, ours with the JSON's order of keys either way.
test('a received text reads as Baileys reads it, whether it crossed as lines or as JSON', async () => {
  const phone = server.phone('15550997')
  const hash = (b) => Buffer.alloc(10, b)
  const messages = [
    { conversation: 'as lines' },
    { conversation: 'line one\nline two\n\n\u{1F389} \u00fcn\u00ef \\n "quoted"' },
    {
      conversation: 'from a phone',
      messageContextInfo: {
        deviceListMetadata: { senderKeyHash: hash(1), recipientKeyHash: hash(2) },
        deviceListMetadataVersion: 2,
        messageSecret: Buffer.alloc(32, 7),
      },
    },
    {
      extendedTextMessage: {
        text: 'a reply',
        contextInfo: { stanzaId: '3EB0QUOTED', participant: '15550997@s.whatsapp.net', quotedMessage: { conversation: 'as lines' } },
      },
    },
  ]
  for (const message of messages) {
    const bytes = proto.Message.encode(message).finish()
    const toOurs = await phone.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, bytes)
    const toBaileys = await phone.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, bytes)
    const mine = await ours.waitMessage((m) => m.key.id === toOurs)
    const theirs = await baileys.waitMessage((m) => m.key.id === toBaileys)
    const { upsertType, ...got } = mine
    assert.equal(upsertType, 'notify')
    const label = JSON.stringify(message).slice(0, 60)
    // Baileys' message is a protobufjs instance: bytes as Uint8Arrays, repeated fields as
    // (empty) arrays that the wire did not carry.
    const plain = (v) =>
      v instanceof Uint8Array
        ? Buffer.from(v)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, plain(x)]))
          : v
    assert.deepEqual(plain(got.message), plain(theirs.message), `${label}: the message`)
    assert.deepEqual(plain(got.message), got.message, 'ours holds nothing the wire did not carry')
    // Baileys' key also names empty and undefined fields (participant '', usernames).
    const named = (k) => Object.fromEntries(Object.entries(k).filter(([n, v]) => v !== undefined && v !== '' && n !== 'id'))
    assert.deepEqual(named(got.key), named(theirs.key), `${label}: the key`)
    assert.equal(got.pushName, theirs.pushName)
    assert.equal(got.broadcast, theirs.broadcast)
    assert.equal(typeof got.messageTimestamp, 'number')
    assert.ok(Math.abs(got.messageTimestamp - Number(theirs.messageTimestamp)) <= 1)
    // The order the JSON gives (WebMessageInfo's and MessageKey's fields in field order).
    assert.deepEqual(Object.keys(got), ['key', 'message', 'messageTimestamp', 'broadcast', 'pushName'], label)
    assert.deepEqual(Object.keys(got.key), ['remoteJid', 'fromMe', 'id', ...Object.keys(got.key).slice(3)])
    assert.deepEqual(Object.keys(got.message), Object.keys(message), label)
    if (message.messageContextInfo) {
      assert.ok(Buffer.isBuffer(got.message.messageContextInfo.messageSecret), 'bytes arrive as Buffers')
      assert.deepEqual(got.message.messageContextInfo.messageSecret, message.messageContextInfo.messageSecret)
    }
  }
})

// A batch of one status update (the receipt of a message we sent) crosses as lines too
// (src/compat/status.rs, `statusBatch` in lib/socket.js). Each side sends the other a text and
// sees its delivery: the update must read as Baileys' does, in the JSON's order of keys.
test('a delivery status reads as Baileys reads it, crossing as lines', async () => {
  const statusOf = (client, id) =>
    new Promise((resolve, reject) => {
      const match = (u) => u.key.id === id && u.update?.status === 3 // DELIVERY_ACK
      const found = client.updates.find(match)
      if (found) return resolve(found)
      const t = setTimeout(() => reject(new Error(`${client.name}: no delivery of ${id}`)), 15_000)
      const on = (list) => {
        const u = list.find(match)
        if (!u) return
        clearTimeout(t)
        client.sock.ev.off('messages.update', on)
        resolve(u)
      }
      client.sock.ev.on('messages.update', on)
    })
  const mine = await ours.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: 'deliver me' })
  const theirs = await baileys.sock.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, { text: 'deliver me too' })
  const atOurs = await statusOf(ours, mine.key.id)
  const atBaileys = await baileys.waitStatus(theirs.key.id, 3)
  const swap = (x) => JSON.parse(JSON.stringify(x).replaceAll(BAILEYS_NUMBER, 'N').replaceAll(OUR_NUMBER, 'N'))
  const norm = (x) => ({ ...swap(x), key: { ...swap(x).key, id: '-' }, update: { ...x.update, messageTimestamp: typeof x.update.messageTimestamp } })
  // The first delivery may come from either of the peer's devices (its phone, device 0, or
  // its socket): the key names the device the receipt came from, as Baileys keeps it.
  const anyDevice = (x) => ({ ...x, key: { ...x.key, remoteJid: x.key.remoteJid.replace(/:\d+@/, '@') } })
  assert.deepEqual(anyDevice(norm(atOurs)), anyDevice(norm(atBaileys)))
  assert.equal(atOurs.key.id, mine.key.id)
  assert.ok(Math.abs(atOurs.update.messageTimestamp - Date.now() / 1000) < 60, 'the receipt time, in seconds')
  // The order the JSON gives: MessageKey's and WebMessageInfo's fields in field order.
  assert.deepEqual(Object.keys(atOurs), ['key', 'update'])
  assert.deepEqual(Object.keys(atOurs.key), ['remoteJid', 'fromMe', 'id', ...Object.keys(atOurs.key).slice(3)])
  assert.deepEqual(Object.keys(atOurs.update), ['messageTimestamp', 'status'])
})

// Our socket keeps a session record as itself in its key cache and writes it as text: over a
// Baileys folder that text must be libsignal-node's record, which Baileys goes on from.
test('over a Baileys auth folder our sessions are libsignal-node records: the real Baileys takes the folder over and the conversation goes on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bn-folder-'))
  try {
    const folder = await useMultiFileAuthState(dir)
    const mine = new OurClient('folder')
    mine.auth = folder.state
    mine.connect = function () {
      const sock = OurClient.prototype.connect.call(this)
      sock.ev.on('creds.update', folder.saveCreds)
      return sock
    }
    mine.connect()
    const { qr } = await mine.waitUpdate((u) => !!u.qr)
    const closed = mine.waitUpdate((u) => u.connection === 'close')
    const number = '15550400'
    await server.scanQR(qr, { phoneNumber: number, pushName: 'Folder' })
    await mine.restartAfter(await closed)
    const me = `${number}@s.whatsapp.net`
    for (let i = 0; i < 3; i++) {
      await mine.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: `folder n${i}` })
      await baileys.waitMessage((m) => text(m) === `folder n${i}`)
      await baileys.sock.sendMessage(me, { text: `folder b${i}` })
      await mine.waitMessage((m) => text(m) === `folder b${i}`)
    }
    await mine.end()
    await folder.saveCreds()

    const sessions = readdirSync(dir).filter((f) => f.startsWith('session-'))
    assert.ok(sessions.length >= 2, `sessions written: ${sessions}`)
    for (const f of sessions) {
      const rec = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      assert.equal(rec.version, 'v1', f)
      assert.ok(Object.keys(rec._sessions).length >= 1, f)
    }

    const heir = new BaileysClient(server, 'heir')
    heir.auth = (await useMultiFileAuthState(dir)).state
    heir.connect()
    await heir.waitOpen()
    for (let i = 0; i < 2; i++) {
      await baileys.sock.sendMessage(me, { text: `to the heir ${i}` })
      await heir.waitMessage((m) => text(m) === `to the heir ${i}`)
      await heir.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: `from the heir ${i}` })
      await baileys.waitMessage((m) => text(m) === `from the heir ${i}`)
    }
    // Decrypted with the sessions we wrote: no message failed and came again by a retry.
    assert.deepEqual(
      heir.upserts.filter((m) => m.messageStubType != null).map((m) => m.messageStubParameters),
      [],
    )
    await heir.end()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// lib/socket.js parses a batch without BufferJSON's reviver unless its text names "Buffer":
// texts that look like BufferJSON must arrive as written either way, and bytes as Buffers.
test('texts shaped like BufferJSON arrive as written; bytes in the same batch arrive as Buffers', async () => {
  const shapes = ['{"type":"Buffer","data":"AAAA"}', '{"0":1,"1":2}', 'a "Buffer" in quotes', 'plain']
  const phone = server.phone('15550998')
  for (const t of shapes) {
    await baileys.sock.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, { text: t })
    const fromBaileys = await ours.waitMessage((m) => text(m) === t)
    // Baileys 7 adds a 32-byte messageSecret to a text: the batch carries bytes.
    const secret = fromBaileys.message.messageContextInfo?.messageSecret
    assert.ok(Buffer.isBuffer(secret) && secret.length === 32, `messageSecret: ${JSON.stringify(secret)}`)
    // The phone adds no bytes: its batch is parsed without the reviver.
    await phone.sendText(`${OUR_NUMBER}@s.whatsapp.net`, `${t} (phone)`)
    const fromPhone = await ours.waitMessage((m) => text(m) === `${t} (phone)`)
    assert.equal(fromPhone.message.messageContextInfo?.messageSecret, undefined)
    const sent = await ours.sock.sendMessage(`${BAILEYS_NUMBER}@s.whatsapp.net`, { text: t })
    assert.equal(sent.message.extendedTextMessage.text, t)
    await baileys.waitMessage((m) => text(m) === t)
  }
})

test('a message sent while our socket is offline arrives when it reconnects', async () => {
  await ours.end()
  await baileys.sock.sendMessage(`${OUR_NUMBER}@s.whatsapp.net`, { text: 'while offline' })
  await server.waitForQueued(ourJid, 1)
  const sock = ours.connect()
  // A logged-in socket holds message events until the offline queue is drained (Baileys'
  // buffer); `ev.process` gets them as one map.
  assert.equal(sock.ev.isBuffering(), true)
  const maps = []
  sock.ev.process((events) => maps.push(events))
  const got = await ours.waitMessage((m) => text(m) === 'while offline')
  assert.equal(got.upsertType, 'append')
  assert.equal(sock.ev.isBuffering(), false)
  assert.ok(maps.some((m) => m['messages.upsert']?.messages.some((x) => text(x) === 'while offline')))
})

test('a frame our socket cannot authenticate closes it with a clear reason; nothing queued is lost', async () => {
  const ourJid = ours.auth.creds.me.id
  const closed = ours.waitUpdate((u) => u.connection === 'close')
  assert.equal(server.corruptFrame(ourJid), 1)
  const err = (await closed).lastDisconnect.error
  assert.equal(err.output.statusCode, DisconnectReason.badSession)
  assert.match(err.code, /^ERR_WA_NOISE_/)
  const id = await server.phone('15550211').sendText(`${OUR_NUMBER}@s.whatsapp.net`, 'after the bad frame')
  ours.connect()
  await ours.waitUpdate((u) => u.connection === 'open')
  const got = await ours.waitMessage((m) => m.key.id === id)
  assert.equal(text(got), 'after the bad frame')
})

test('delayed frames: our socket waits them out, in order', async () => {
  const ourJid = ours.auth.creds.me.id
  assert.equal(server.delayFrames(ourJid, 300), 1)
  try {
    const phone = server.phone('15550212')
    const ids = []
    for (const t of ['one', 'two', 'three']) ids.push(await phone.sendText(`${OUR_NUMBER}@s.whatsapp.net`, t))
    const got = await Promise.all(ids.map((id) => ours.waitMessage((m) => m.key.id === id)))
    assert.deepEqual(got.map(text), ['one', 'two', 'three'])
    const order = ids.map((id) => ours.upserts.findIndex((m) => m.key.id === id))
    assert.deepEqual([...order].sort((x, y) => x - y), order, 'upserted in the order sent')
  } finally {
    server.delayFrames(ourJid, 0)
  }
})

test('pairing by code, then logout', async () => {
  const byCode = new OurClient('by-code')
  byCode.connect()
  await byCode.waitUpdate((u) => !!u.qr)
  const code = await byCode.sock.requestPairingCode('15550400')
  assert.equal(code.length, 8)
  const closed = byCode.waitUpdate((u) => u.connection === 'close')
  const jid = await server.enterPairingCode('15550400', code)
  assert.equal(jid.split(':')[0], '15550400')
  await byCode.restartAfter(await closed)
  assert.equal(byCode.sock.user.id, jid)

  const out = byCode.waitUpdate((u) => u.connection === 'close')
  await byCode.sock.logout()
  const close = await out
  assert.equal(close.lastDisconnect.error.output.statusCode, DisconnectReason.loggedOut)
  // Written before the close, as Baileys does; the server handles it on its own time.
  for (let i = 0; i < 200 && server.devices('15550400').includes(jid); i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(!server.devices('15550400').includes(jid), 'the server removed the companion')
  await ours.end()
  await baileys.end()
})
