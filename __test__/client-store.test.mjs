// The socket keeps what it sees (issue 14): `makeWASocket({ auth, store })` writes every
// message received and sent, its chat and its sender's contact, and the changes to a message
// (status, reactions, edits), in the seed's layout, before the event reaches the app. Checked
// with the real Baileys 7 on the other side, through the test server, on a user's own
// JavaScript engine (the seed's Engine contract: get/set/list with JSON values) and on ours;
// retry receipts for messages sent before a restart are answered from the store, or from the
// app's `getMessage`.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent as HttpsAgent } from 'node:https'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { startTestServer } from '../lib/testing.mjs'
import * as O from '../index.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, until } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client store' })
const restore = trustServer(server)
// The test server's media host is trusted by both sides.
const caDir = mkdtempSync(join(tmpdir(), 'bn-client-store-'))
writeFileSync(join(caDir, 'ca.pem'), server.media.caPem)
process.env.NODE_EXTRA_CA_CERTS = join(caDir, 'ca.pem')
const sockets = []
after(async () => {
  restore()
  for (const s of sockets) s.end()
  await baileys.end()
  await server.stop()
  rmSync(caDir, { recursive: true, force: true })
  exitWhenDone()
})

const OUR_NUMBER = '15550620001'
const BAILEYS_NUMBER = '15550620002'
const baileysChat = `${BAILEYS_NUMBER}@s.whatsapp.net`
const ourChat = `${OUR_NUMBER}@s.whatsapp.net`

/**
 * A user's engine written to the seed's contract: values are JSON (objects as themselves),
 * `set(path, null)` deletes, `list(prefix, offset, limit)` gives whole paths of the direct
 * children in key order. It counts its writes (`setMany` is one round trip per batch).
 */
function mapEngine() {
  const data = new Map()
  const engine = {
    data,
    batches: 0,
    failWrites: null,
    async get(path) {
      return data.has(path) ? structuredClone(data.get(path)) : null
    },
    async set(path, value) {
      if (value === null) data.delete(path)
      else data.set(path, structuredClone(value))
      return true
    },
    async setMany(writes) {
      if (engine.failWrites) throw engine.failWrites
      engine.batches++
      for (const { path, value } of writes) await engine.set(path, value)
    },
    async list(prefix, offset = 0, limit = 50) {
      const depth = prefix.split('/').length + 1
      return [...data.keys()]
        .filter((p) => p.startsWith(prefix + '/') && p.split('/').length === depth)
        .sort()
        .slice(offset, offset + limit)
    },
  }
  return engine
}

const engine = mapEngine()
const store = new O.Store(engine)
const auth = { creds: O.initAuthCreds(), keys: O.KeyStore.fromEngine(new O.MemoryEngine()) }
const errors = []
const logger = {
  level: 'error',
  child: () => logger,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: (fields, msg) => errors.push({ fields, msg }),
  fatal() {},
}

/** Our socket on `auth`, with `config`; records what the app saw. */
function connect(config = {}) {
  const sock = O.makeWASocket({ auth, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey, logger, ...config })
  sockets.push(sock)
  sock.seen = []
  sock.storedAtEvent = []
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      sock.seen.push(m)
      // Synchronously, in the listener: the record is already in the engine.
      sock.storedAtEvent.push(engine.data.has(`chat/${m.key.remoteJid}/message/${m.key.id}`))
    }
  })
  sock.opened = new Promise((resolve) => sock.ev.on('connection.update', (u) => u.connection === 'open' && resolve()))
  sock.closed = new Promise((resolve) => sock.ev.on('connection.update', (u) => u.connection === 'close' && resolve()))
  return sock
}

let sock = connect({ store })
{
  const qr = await new Promise((resolve) => sock.ev.on('connection.update', (u) => u.qr && resolve(u.qr)))
  await server.scanQR(qr, { phoneNumber: OUR_NUMBER, pushName: 'Ours' })
  await sock.closed
  sock = connect({ store })
  await sock.opened
}
const baileys = new BaileysClient(server, 'baileys', { fetchAgent: new HttpsAgent({ ca: server.media.caPem }) })
await baileys.pairByQR(BAILEYS_NUMBER, 'Baileys Bot')

test('received messages, their chat and their sender are stored before the app sees them', async () => {
  const sent = []
  for (const t of ['one', 'two', 'three']) sent.push(await baileys.sock.sendMessage(ourChat, { text: t }))
  await until(() => sent.every((s) => sock.seen.some((m) => m.key.id === s.key.id)), 'the three texts')
  const flags = sock.seen.map((m, i) => [m.key.id, sock.storedAtEvent[i]]).filter(([id]) => sent.some((s) => s.key.id === id))
  assert.deepEqual(flags.map(([, f]) => f), [true, true, true], 'each was in the engine when its event ran')

  const stored = await store.message(baileysChat, sent[1].key.id)
  assert.equal(text(stored), 'two')
  assert.equal(stored.key.fromMe, false)
  assert.equal(stored.pushName, 'Baileys Bot')
  // As the seed lays it out, values as JSON objects.
  const raw = engine.data.get(`chat/${baileysChat}/message/${sent[1].key.id}`)
  assert.equal(typeof raw, 'object')
  assert.equal(raw.key.id, sent[1].key.id)
  assert.deepEqual(await store.contact(baileysChat), { id: baileysChat, notify: 'Baileys Bot' })
  const chat = await store.chat(baileysChat)
  assert.equal(chat.id, baileysChat)
  assert.equal(chat.conversationTimestamp, Number(sock.seen.find((m) => m.key.id === sent[2].key.id).messageTimestamp))
})

test('sent messages are stored, and their status, reactions and edits follow', async () => {
  const mine = await sock.sendMessage(baileysChat, { text: 'stored when sent' })
  const got = await baileys.waitMessage((m) => m.key.id === mine.key.id)
  await until(async () => (await store.message(baileysChat, mine.key.id))?.key?.fromMe === true, 'our message in the store')
  await baileys.sock.readMessages([got.key])
  await until(async () => (await store.message(baileysChat, mine.key.id))?.status >= 4, 'READ on the stored message')

  await baileys.sock.sendMessage(ourChat, { react: { text: '👍', key: got.key } })
  const reacted = await until(async () => {
    const m = await store.message(baileysChat, mine.key.id)
    return m?.reactions?.length ? m : null
  }, 'the reaction on the stored message')
  assert.equal(reacted.reactions[0].text, '👍')
  assert.equal(text(reacted), 'stored when sent', 'the content is kept')

  const theirs = await baileys.sock.sendMessage(ourChat, { text: 'typo' })
  await until(() => sock.seen.some((m) => m.key.id === theirs.key.id), 'the text to edit')
  await baileys.sock.sendMessage(ourChat, { text: 'fixed', edit: theirs.key })
  const edited = await until(async () => {
    const m = await store.message(baileysChat, theirs.key.id)
    return m?.message?.editedMessage ? m : null
  }, 'the edit on the stored message')
  assert.equal(edited.message.editedMessage.message.conversation ?? edited.message.editedMessage.message.extendedTextMessage?.text, 'fixed')
})

test('store.messages(jid) pages a chat newest first, each message once', async () => {
  const page = await store.messages(baileysChat, { limit: 100 })
  const ids = page.map((r) => r.id)
  assert.equal(new Set(ids).size, ids.length, 'no message twice')
  const ts = page.map((r) => Number(r.value.messageTimestamp))
  assert.deepEqual(ts, [...ts].sort((a, b) => b - a), 'newest first')
  // Within one second, by id (the timeline key `{inverted time}_{id}`): a total order, so
  // pages never overlap.
  for (let i = 1; i < page.length; i++) {
    if (ts[i] === ts[i - 1]) assert.ok(ids[i] > ids[i - 1], 'same second: by id')
  }
  const second = await store.messages(baileysChat, { offset: 1, limit: 2 })
  assert.deepEqual(second.map((r) => r.id), ids.slice(1, 3))
})

test('a burst of 300 messages is a few engine writes, every one stored', async () => {
  const before = engine.batches
  const sent = await Promise.all(Array.from({ length: 300 }, (_, i) => baileys.sock.sendMessage(ourChat, { text: `burst ${i}` })))
  await until(() => sent.every((s) => sock.seen.some((m) => m.key.id === s.key.id)), 'the burst', 60_000)
  for (const s of sent) assert.ok(engine.data.has(`chat/${baileysChat}/message/${s.key.id}`), `${s.key.id} stored`)
  const writes = engine.batches - before
  console.log(`# 300 received messages: ${writes} engine writes`)
  assert.ok(writes <= 100, `${writes} engine writes for 300 messages`)
})

/** Baileys asks our device to send message `id` again, as a device that failed to decrypt it does. */
async function askRetry(id) {
  const reg = Buffer.alloc(4)
  reg.writeUInt32BE(baileys.auth.creds.registrationId)
  await baileys.sock.sendNode({
    tag: 'receipt',
    attrs: { id, type: 'retry', to: auth.creds.me.id },
    content: [
      { tag: 'retry', attrs: { count: '1', id, t: String(Math.floor(Date.now() / 1000)), v: '1' } },
      { tag: 'registration', attrs: {}, content: reg },
    ],
  })
}

const copies = (id) => baileys.upserts.filter((m) => m.key.id === id)

test('a retry receipt for a message sent before a restart is answered from the store', async () => {
  const m = await sock.sendMessage(baileysChat, { text: 'sent by the first socket' })
  await baileys.waitMessage((x) => x.key.id === m.key.id)
  await until(() => engine.data.has(`chat/${baileysChat}/message/${m.key.id}`), 'stored')
  sock.end()
  await sock.closed
  // A new socket (a restarted process holds nothing in memory) on the same auth and store.
  sock = connect({ store })
  await sock.opened
  await askRetry(m.key.id)
  await until(() => copies(m.key.id).length === 2, 'the message sent again')
  assert.equal(text(copies(m.key.id)[1]), 'sent by the first socket')
})

test("the app's getMessage answers retries when it gives one (Baileys' contract)", async () => {
  const m = await sock.sendMessage(baileysChat, { text: 'the original' })
  await baileys.waitMessage((x) => x.key.id === m.key.id)
  sock.end()
  await sock.closed
  const asked = []
  sock = connect({
    store,
    getMessage: async (key) => {
      asked.push(key)
      return { conversation: 'from the app' }
    },
  })
  await sock.opened
  await askRetry(m.key.id)
  await until(() => copies(m.key.id).length === 2, 'the message sent again')
  assert.deepEqual(asked, [{ remoteJid: baileysChat, fromMe: true, id: m.key.id }])
  assert.equal(text(copies(m.key.id)[1]), 'from the app')
})

test('an engine that fails: the app still gets its messages, the log names the coded error', async () => {
  sock.end()
  await sock.closed
  sock = connect({ store })
  await sock.opened
  const err = Object.assign(new Error('disk on fire'), { code: 'EIO' })
  engine.failWrites = err
  try {
    errors.length = 0
    const m = await baileys.sock.sendMessage(ourChat, { text: 'while the engine fails' })
    await until(() => sock.seen.some((x) => x.key.id === m.key.id), 'the message reached the app')
    assert.ok(!engine.data.has(`chat/${baileysChat}/message/${m.key.id}`))
    const logged = errors.find((e) => /store/.test(e.msg))
    assert.ok(logged, 'an error was logged')
    assert.match(String(logged.fields.code), /^ERR_WA_STORE_/)
  } finally {
    engine.failWrites = null
  }
  const after = await baileys.sock.sendMessage(ourChat, { text: 'engine back' })
  await until(() => engine.data.has(`chat/${baileysChat}/message/${after.key.id}`), 'stored again once the engine works')
})

test('storeContent: the media of received and sent messages is kept as raw bytes', async () => {
  sock.end()
  await sock.closed
  sock = connect({ store, storeContent: true })
  await sock.opened
  const bytes = randomBytes(50_000)
  const theirs = await baileys.sock.sendMessage(ourChat, { document: bytes, mimetype: 'application/octet-stream', fileName: 'in.bin' })
  const kept = await until(() => engine.data.get(`chat/${baileysChat}/message/${theirs.key.id}/content`), 'the received file kept')
  // A JavaScript engine is handed JSON only: bytes as Baileys' BufferJSON form.
  assert.equal(kept.type, 'Buffer')
  assert.ok(Buffer.from(kept.data, 'base64').equals(bytes))
  assert.ok((await store.content(baileysChat, theirs.key.id)).equals(bytes))
  const image = randomBytes(20_000)
  const mine = await sock.sendMessage(baileysChat, { document: image, mimetype: 'application/pdf', fileName: 'out.pdf' })
  await until(async () => (await store.content(baileysChat, mine.key.id))?.equals(image), 'the sent file kept')
  assert.throws(() => O.makeWASocket({ auth, storeContent: true }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
})

test('without own events, sent messages are stored by sendMessage; bad store options are refused', async () => {
  sock.end()
  await sock.closed
  const file = new O.Store(new O.MemoryEngine())
  sock = connect({ store: file, emitOwnEvents: false })
  await sock.opened
  const m = await sock.sendMessage(baileysChat, { text: 'no own events' })
  assert.equal(text(await file.message(baileysChat, m.key.id)), 'no own events')
  const relayed = await sock.relayMessage(baileysChat, { conversation: 'relayed, no own events' }, {})
  assert.equal(text(await file.message(baileysChat, relayed)), 'relayed, no own events')
  assert.throws(() => O.makeWASocket({ auth, store: 'postgres://nowhere' }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
  assert.throws(() => O.makeWASocket({ auth, store: { get() {} } }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
})
