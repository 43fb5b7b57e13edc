// Presence, chat states and receipts between our socket and the real Baileys 7 (the oracle),
// through the local test server, both directions: `sendPresenceUpdate` (availability with the
// push name, composing / recording / paused), `presenceSubscribe`, `markOnlineOnConnect`,
// `readMessages` / `sendReceipt(s)` seen as `messages.update` status, and bad input refused
// with coded errors. Where both sides see the same thing, their `presence.update` payloads
// must be the same.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { makeWASocket, initAuthCreds, KeyStore, MemoryEngine, DisconnectReason } from '../index.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, until } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client presence' })
const restore = trustServer(server)
after(async () => {
  await ours.end()
  await baileys.end()
  restore()
  await server.stop()
  exitWhenDone()
})

const READ = 4
const PLAYED = 5

/** Records every `presence.update` and `connection.update` of a socket's `ev`. */
function record(client, sock) {
  sock.ev.on('presence.update', (p) => client.presences.push(p))
  sock.ev.on('connection.update', (u) => client.connUpdates.push(u))
}

/** Resolves with the first recorded `presence.update` (from index `from` on) matching `pred`. */
async function waitPresence(client, pred, from = 0, ms = 10_000) {
  const started = Date.now()
  for (;;) {
    const found = client.presences.slice(from).find(pred)
    if (found) return found
    if (Date.now() - started > ms) {
      throw new Error(`${client.name}: no matching presence.update in ${JSON.stringify(client.presences.slice(from))}`)
    }
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A payload as JSON carries it (Baileys sets absent fields to `undefined`). */
const plain = (v) => JSON.parse(JSON.stringify(v))

/** The payload with `lastSeen` (a time) replaced by its type, to compare two sides. */
function shape(p) {
  const out = plain(p)
  for (const d of Object.values(out.presences)) if ('lastSeen' in d) d.lastSeen = typeof d.lastSeen
  return out
}

/** One of our accounts: an auth state kept across sockets. */
class OurClient {
  constructor(name) {
    this.name = name
    this.auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }
    this.upserts = []
    this.updates = []
    this.presences = []
    this.connUpdates = []
    this.sock = null
  }

  connect(config = {}) {
    const sock = makeWASocket({
      auth: this.auth,
      waWebSocketUrl: server.url,
      waCertPublicKey: server.rootPublicKey,
      connectTimeoutMs: 10_000,
      defaultQueryTimeoutMs: 10_000,
      ...config,
    })
    this.sock = sock
    sock.ev.on('messages.upsert', ({ messages }) => this.upserts.push(...messages))
    sock.ev.on('messages.update', (u) => this.updates.push(...u))
    record(this, sock)
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

  async waitMessage(pred, ms = 15_000) {
    const started = Date.now()
    for (;;) {
      const m = this.upserts.find(pred)
      if (m) return m
      if (Date.now() - started > ms) throw new Error(`${this.name}: no matching message`)
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  async waitStatus(id, status, ms = 10_000) {
    const started = Date.now()
    for (;;) {
      const u = this.updates.find((x) => x.key.id === id && x.update?.status === status)
      if (u) return u
      if (Date.now() - started > ms) throw new Error(`${this.name}: no status ${status} for ${id}`)
      await new Promise((r) => setTimeout(r, 5))
    }
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
baileys.presences = []
baileys.connUpdates = []
const OUR_NUMBER = '15550700'
const BAILEYS_NUMBER = '15550800'
const OUR_USER = `${OUR_NUMBER}@s.whatsapp.net`
const BAILEYS_USER = `${BAILEYS_NUMBER}@s.whatsapp.net`

/** (Re)connects Baileys with `config`, recording its presence events. */
async function connectBaileys(config = {}) {
  baileys.config = { ...baileys.config, ...config }
  const sock = baileys.connect()
  record(baileys, sock)
  await baileys.waitOpen()
}

test('setup: our socket and Baileys paired, each with a session to the other', async () => {
  ours.connect()
  const { qr } = await ours.waitUpdate((u) => !!u.qr)
  const closed = ours.waitUpdate((u) => u.connection === 'close')
  await server.scanQR(qr, { phoneNumber: OUR_NUMBER, pushName: 'Ours' })
  assert.equal((await closed).lastDisconnect.error.output.statusCode, DisconnectReason.restartRequired)
  ours.connect()
  await ours.waitUpdate((u) => u.connection === 'open')
  await baileys.pairByQR(BAILEYS_NUMBER, 'Baileys')
  record(baileys, baileys.sock)
  // A text each way so both sides have sessions (and chats) with each other.
  await ours.sock.sendMessage(BAILEYS_USER, { text: 'hello baileys' })
  await baileys.waitMessage((m) => text(m) === 'hello baileys')
  await baileys.sock.sendMessage(OUR_USER, { text: 'hello ours' })
  await ours.waitMessage((m) => text(m) === 'hello ours')
})

test('availability needs a push name: without one nothing is sent, as in Baileys', async () => {
  assert.equal(ours.auth.creds.me.name, undefined)
  const from = baileys.presences.length
  await baileys.sock.presenceSubscribe(OUR_USER)
  const first = await waitPresence(baileys, (p) => p.id === OUR_USER, from)
  assert.deepEqual(plain(first), { id: OUR_USER, presences: { [OUR_USER]: { lastKnownPresence: 'unavailable' } } })
  const seen = baileys.presences.length
  await ours.sock.sendPresenceUpdate('available')
  // Baileys (subscribed) would hear an `available` within a few ms; it hears nothing.
  await new Promise((r) => setTimeout(r, 300))
  assert.equal(baileys.presences.length, seen, JSON.stringify(baileys.presences.slice(seen)))
  assert.ok(!ours.connUpdates.some((u) => 'isOnline' in u))
})

test('available / unavailable after presenceSubscribe, both ways, same payloads', async () => {
  ours.auth.creds.me.name = 'Ours'
  baileys.auth.creds.me.name = 'Baileys'

  // Baileys watches ours.
  let from = baileys.presences.length
  await ours.sock.sendPresenceUpdate('available')
  const atBaileys = await waitPresence(baileys, (p) => p.presences[OUR_USER]?.lastKnownPresence === 'available', from)
  assert.deepEqual(plain(atBaileys), { id: OUR_USER, presences: { [OUR_USER]: { lastKnownPresence: 'available' } } })
  // Ours' own event comes through its event queue, not in step with what Baileys saw.
  await until(() => ours.connUpdates.some((u) => u.isOnline === true), 'ours emitted connection.update { isOnline: true }')
  from = baileys.presences.length
  await ours.sock.sendPresenceUpdate('unavailable')
  const goneAtBaileys = await waitPresence(baileys, (p) => p.presences[OUR_USER]?.lastKnownPresence === 'unavailable', from)
  const lastSeen = goneAtBaileys.presences[OUR_USER].lastSeen
  assert.ok(Math.abs(lastSeen - Date.now() / 1000) < 60, `lastSeen ${lastSeen} is about now`)
  await until(() => ours.connUpdates.some((u) => u.isOnline === false), 'ours emitted connection.update { isOnline: false }')

  // Ours watches Baileys.
  from = ours.presences.length
  await ours.sock.presenceSubscribe(BAILEYS_USER)
  const first = await waitPresence(ours, (p) => p.id === BAILEYS_USER, from)
  assert.equal(first.presences[BAILEYS_USER].lastKnownPresence, 'unavailable')
  from = ours.presences.length
  await baileys.sock.sendPresenceUpdate('available')
  const atOurs = await waitPresence(ours, (p) => p.presences[BAILEYS_USER]?.lastKnownPresence === 'available', from)
  from = ours.presences.length
  await baileys.sock.sendPresenceUpdate('unavailable')
  const goneAtOurs = await waitPresence(ours, (p) => p.presences[BAILEYS_USER]?.lastKnownPresence === 'unavailable', from)
  assert.equal(typeof goneAtOurs.presences[BAILEYS_USER].lastSeen, 'number')

  // What each side saw of the other has the same shape, field for field.
  const swap = (p) => JSON.parse(JSON.stringify(p).replaceAll(BAILEYS_USER, OUR_USER))
  assert.deepEqual(shape(swap(atOurs)), shape(atBaileys))
  assert.deepEqual(shape(swap(goneAtOurs)), shape(goneAtBaileys))
})

test('composing, recording and paused reach the other side as presence.update, both ways', async () => {
  const cases = [
    ['composing', 'composing'],
    ['recording', 'recording'],
    ['paused', 'available'],
  ]
  for (const [sent, seen] of cases) {
    let from = baileys.presences.length
    await ours.sock.sendPresenceUpdate(sent, BAILEYS_USER)
    const atBaileys = await waitPresence(baileys, (p) => p.id === OUR_USER, from)
    assert.deepEqual(plain(atBaileys), { id: OUR_USER, presences: { [OUR_USER]: { lastKnownPresence: seen } } }, sent)

    from = ours.presences.length
    await baileys.sock.sendPresenceUpdate(sent, OUR_USER)
    const atOurs = await waitPresence(ours, (p) => p.id === BAILEYS_USER, from)
    assert.deepEqual(plain(atOurs), { id: BAILEYS_USER, presences: { [BAILEYS_USER]: { lastKnownPresence: seen } } }, sent)
  }
  // Called one after another without awaiting, chat states keep their order.
  const from = baileys.presences.length
  const sends = [
    ours.sock.sendPresenceUpdate('composing', BAILEYS_USER),
    ours.sock.sendPresenceUpdate('recording', BAILEYS_USER),
    ours.sock.sendPresenceUpdate('paused', BAILEYS_USER),
  ]
  await Promise.all(sends)
  await waitPresence(baileys, (p) => p.id === OUR_USER && p.presences[OUR_USER].lastKnownPresence === 'available', from)
  assert.deepEqual(
    baileys.presences.slice(from).filter((p) => p.id === OUR_USER).map((p) => p.presences[OUR_USER].lastKnownPresence),
    ['composing', 'recording', 'available'],
  )
})

test('markOnlineOnConnect: available on open (default), unavailable when false, as Baileys does', async () => {
  // Ours reconnects with the push name in its stored creds and the default (true).
  let from = baileys.presences.length
  await ours.end()
  ours.connect()
  await ours.waitUpdate((u) => u.connection === 'open')
  await waitPresence(baileys, (p) => p.presences[OUR_USER]?.lastKnownPresence === 'available', from)
  // With false, ours says unavailable on open.
  from = baileys.presences.length
  await ours.end()
  // Ours went offline: subscribers hear unavailable.
  await waitPresence(baileys, (p) => p.presences[OUR_USER]?.lastKnownPresence === 'unavailable', from)
  from = baileys.presences.length
  ours.connect({ markOnlineOnConnect: false })
  await ours.waitUpdate((u) => u.connection === 'open')
  await ours.sock.sendPresenceUpdate('available')
  // Only the explicit `available` was published: unavailable on open changed nothing.
  const after = await waitPresence(baileys, (p) => p.presences[OUR_USER]?.lastKnownPresence === 'available', from)
  assert.ok(after)
  assert.deepEqual(
    baileys.presences.slice(from).filter((p) => p.id === OUR_USER).map((p) => p.presences[OUR_USER].lastKnownPresence),
    ['available'],
  )
  assert.deepEqual(
    ours.connUpdates.filter((u) => 'isOnline' in u).slice(-2).map((u) => u.isOnline),
    [false, true],
    'ours reported unavailable on open, then available',
  )

  // The oracle: Baileys with markOnlineOnConnect true does the same to our subscription.
  from = ours.presences.length
  await baileys.end()
  await connectBaileys({ markOnlineOnConnect: true })
  await waitPresence(ours, (p) => p.presences[BAILEYS_USER]?.lastKnownPresence === 'available', from)
})

test('readMessages: read receipts seen as messages.update READ on the other side, both ways', async () => {
  // Baileys reads three texts from ours: one receipt with a <list>.
  const sent = []
  for (const t of ['r1', 'r2', 'r3']) sent.push(await ours.sock.sendMessage(BAILEYS_USER, { text: t }))
  const got = []
  for (const t of ['r1', 'r2', 'r3']) got.push(await baileys.waitMessage((m) => text(m) === t))
  await baileys.sock.readMessages(got.map((m) => m.key))
  const atOurs = []
  for (const s of sent) {
    const u = await ours.waitStatus(s.key.id, READ)
    assert.equal(u.key.fromMe, true)
    atOurs.push(u)
  }

  // Ours reads three texts from Baileys.
  const theirs = []
  for (const t of ['q1', 'q2', 'q3']) theirs.push(await baileys.sock.sendMessage(OUR_USER, { text: t }))
  const mine = []
  for (const t of ['q1', 'q2', 'q3']) mine.push(await ours.waitMessage((m) => text(m) === t))
  await ours.sock.readMessages(mine.map((m) => m.key))
  for (const [i, s] of theirs.entries()) {
    const u = await baileys.waitStatus(s.key.id, READ)
    assert.equal(u.key.fromMe, true)
    // The same update on both sides: the key names the reader's device as the receipt's
    // `from` did (Baileys keeps it as is), the status is READ with the receipt's time.
    const swap = (x) => JSON.parse(JSON.stringify(x).replaceAll(BAILEYS_NUMBER, 'N').replaceAll(OUR_NUMBER, 'N'))
    const norm = (x) => ({ ...swap(x), key: { ...swap(x).key, id: '-' }, update: { ...x.update, messageTimestamp: typeof x.update.messageTimestamp } })
    assert.deepEqual(norm(atOurs[i]), norm(u))
  }
  // Our own message in the keys is skipped (Baileys' aggregateMessageKeysNotFromMe).
  await ours.sock.readMessages([sent[0].key])
})

test('sendReceipt and sendReceipts: played, with the type Baileys gives it', async () => {
  const s = await baileys.sock.sendMessage(OUR_USER, { text: 'voice, say' })
  const m = await ours.waitMessage((x) => text(x) === 'voice, say')
  await ours.sock.sendReceipt(m.key.remoteJid, undefined, [m.key.id], 'played')
  await baileys.waitStatus(s.key.id, PLAYED)

  const s2 = await baileys.sock.sendMessage(OUR_USER, { text: 'another' })
  const m2 = await ours.waitMessage((x) => text(x) === 'another')
  await ours.sock.sendReceipts([m2.key], 'read')
  await baileys.waitStatus(s2.key.id, READ)

  // And the other way: Baileys' sendReceipt reaches ours.
  const o = await ours.sock.sendMessage(BAILEYS_USER, { text: 'play me' })
  const b = await baileys.waitMessage((x) => text(x) === 'play me')
  await baileys.sock.sendReceipt(b.key.remoteJid, undefined, [b.key.id], 'played')
  await ours.waitStatus(o.key.id, PLAYED)
})

test('bad input is refused with coded errors, and nothing is sent', async () => {
  const refuses = async (p, what) => {
    await assert.rejects(p, (e) => {
      assert.equal(e.code, 'ERR_WA_CLIENT_ARGUMENT', `${what}: ${e.code} ${e.message}`)
      return true
    }, what)
  }
  const from = baileys.presences.length
  await refuses(ours.sock.sendPresenceUpdate('typing', BAILEYS_USER), 'unknown presence type')
  await refuses(ours.sock.sendPresenceUpdate(undefined, BAILEYS_USER), 'no presence type')
  await refuses(ours.sock.sendPresenceUpdate('composing'), 'chat state without a jid')
  await refuses(ours.sock.sendPresenceUpdate('composing', 'not a jid'), 'chat state to a bad jid')
  await refuses(ours.sock.sendPresenceUpdate('composing', 42), 'chat state to a number')
  await refuses(ours.sock.presenceSubscribe(undefined), 'subscribe without a jid')
  await refuses(ours.sock.presenceSubscribe('not a jid'), 'subscribe to a bad jid')
  await refuses(ours.sock.presenceSubscribe(BAILEYS_USER, 'token'), 'a token that is not bytes')
  await refuses(ours.sock.sendReceipt(BAILEYS_USER, undefined, [], 'read'), 'a receipt without ids')
  await refuses(ours.sock.sendReceipt(BAILEYS_USER, undefined, ['X'], 'seen'), 'an unknown receipt type')
  await refuses(ours.sock.sendReceipt('not a jid', undefined, ['X'], 'read'), 'a receipt to a bad jid')
  await refuses(ours.sock.sendReceipt(BAILEYS_USER, undefined, 'X', 'read'), 'ids that are not an array')
  await refuses(ours.sock.readMessages('X'), 'keys that are not an array')
  await refuses(ours.sock.readMessages([{ id: 'X' }]), 'a key without remoteJid')
  // One bad key among good ones: nothing goes out at all.
  const s = await baileys.sock.sendMessage(OUR_USER, { text: 'unread' })
  const m = await ours.waitMessage((x) => text(x) === 'unread')
  await refuses(ours.sock.sendReceipts([m.key, { remoteJid: 'not a jid', id: 'Y' }], 'read'), 'one bad key among good ones')
  await new Promise((r) => setTimeout(r, 300))
  assert.ok(!baileys.updates.some((u) => u.key.id === s.key.id && u.update?.status === READ), 'the good key was not read')
  assert.equal(baileys.presences.length, from, 'no presence went out')
  // The socket is still fine.
  await ours.sock.readMessages([m.key])
  await baileys.waitStatus(s.key.id, READ)
})
