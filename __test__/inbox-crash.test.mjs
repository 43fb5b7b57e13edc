// Nothing lost across crashes (issue 15): a real Baileys 7 sends texts to a bot on our socket
// while the bot's process is killed again and again, by SIGKILL at random moments and by the
// client's own kill points inside the receive path (after decrypt, after the store write,
// after the event left Rust, after the receipt reached the socket), and restarted from its
// store each time. Every text the server took must reach the bot's `messages.upsert`
// listener at least once; a duplicate only for a message whose first delivery was cut by a
// kill, with the same id; no undecryptable stubs; and the sessions still work both ways.
// Run on each kind of auth store: our FileEngine, Baileys' folder format, SQLite, and a
// user's own JavaScript key store.
//
// INBOX_CRASH_SEEDS (default 5), INBOX_CRASH_TEXTS (300), INBOX_CRASH_KILLS (20) and
// INBOX_CRASH_STORES (all four) change the run.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestServer } from '../lib/testing.mjs'
import { BaileysClient, trustServer, text, exitWhenDone } from './testserver-util.mjs'
import { Incarnation } from './bot-process.mjs'

const SEEDS = Number(process.env.INBOX_CRASH_SEEDS ?? 5)
const TEXTS = Number(process.env.INBOX_CRASH_TEXTS ?? 300)
const KILLS = Number(process.env.INBOX_CRASH_KILLS ?? 20)
const STORES = (process.env.INBOX_CRASH_STORES ?? 'file,baileys-folder,sqlite,js').split(',')
const POINTS = ['after_decrypt', 'after_commit', 'after_emit', 'after_receipt']

const server = await startTestServer({ seed: 'inbox crash' })
const restore = trustServer(server)
const rootHex = Buffer.from(server.rootPublicKey).toString('hex')
const scratch = mkdtempSync(join(tmpdir(), 'bn-inbox-crash-'))
const sender = new BaileysClient(server, 'sender')
after(async () => {
  await sender.end()
  restore()
  await server.stop()
  rmSync(scratch, { recursive: true, force: true })
  exitWhenDone()
})

/** A deterministic generator per seed (mulberry32). */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls `cond` for up to 10 s. */
async function until(cond) {
  const deadline = Date.now() + 10_000
  while (!cond() && Date.now() < deadline) await sleep(25)
}

/** One bot account under one store kind and one seed. */
class Run {
  constructor(kind, seed, number) {
    this.kind = kind
    this.seed = seed
    this.number = number
    this.jid = `${number}@s.whatsapp.net`
    this.dir = join(scratch, `${kind}-${seed}`)
    this.server = server
    this.rootHex = rootHex
    this.random = rng(seed * 7919 + kind.length)
    this.incarnations = []
    this.got = []
    this.sent = []
    this.kills = { sigkill: 0 }
    for (const p of POINTS) this.kills[p] = 0
  }

  async pair() {
    const bot = new Incarnation(this)
    const { qr } = await bot.wait((l) => l.qr, 15_000)
    await server.scanQR(qr, { phoneNumber: this.number, pushName: `bot ${this.kind}` })
    assert.ok(await bot.wait((l) => l.open, 15_000), `${this.kind}: the bot opened after pairing`)
    return bot
  }

  /** Sends TEXTS texts from the Baileys peer, paced so that kills fall among them. */
  async sendAll() {
    for (let i = 0; i < TEXTS; i++) {
      const m = await sender.sock.sendMessage(this.jid, { text: `${this.kind} s${this.seed} #${i}` })
      this.sent.push(m.key.id)
      await sleep(Math.floor(this.random() * 50))
    }
  }

  /** KILLS incarnations, each ended by a kill; returns when the last one is dead. */
  async killAll(first) {
    let bot = first
    for (let k = 0; k < KILLS; k++) {
      if (!bot) {
        const r = this.random()
        const point = r < 0.4 ? null : POINTS[Math.floor(this.random() * POINTS.length)]
        bot = new Incarnation(this, point ? `${point}:${1 + Math.floor(this.random() * 12)}` : null)
      }
      if (bot.crashAt) {
        // It kills itself when the receive path reaches the point; if no traffic takes it
        // there in time, a SIGKILL ends it instead.
        const ended = await Promise.race([bot.exited.then(() => true), sleep(2500).then(() => false)])
        if (ended) this.kills[bot.crashAt.split(':')[0]]++
        else {
          await bot.kill()
          this.kills.sigkill++
        }
      } else {
        await bot.wait((l) => l.open, 5000)
        await sleep(Math.floor(this.random() * 400))
        await bot.kill()
        this.kills.sigkill++
      }
      bot = null
    }
  }

  async finish() {
    const bot = new Incarnation(this)
    assert.ok(await bot.wait((l) => l.open, 15_000), `${this.kind}: the last incarnation opened`)
    const want = new Set(this.sent)
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && [...want].some((id) => !this.got.some((g) => g.got === id))) await sleep(100)
    return bot
  }

  check(bot) {
    const gotIds = new Set(this.got.map((g) => g.got))
    const lost = this.sent.filter((id) => !gotIds.has(id))
    assert.deepEqual(lost, [], `${this.kind} seed ${this.seed}: ${lost.length} of ${this.sent.length} texts never reached the app`)
    const stubs = this.got.filter((g) => g.stub !== null)
    assert.deepEqual(stubs, [], `${this.kind} seed ${this.seed}: undecryptable stubs`)
    const first = new Map()
    let duplicates = 0
    for (const g of this.got) {
      if (!first.has(g.got)) {
        first.set(g.got, g)
        continue
      }
      duplicates++
      const f = first.get(g.got)
      assert.equal(g.text, f.text, 'a duplicate carries the same content')
      // Only a delivery cut by a kill is repeated: the first one was in a killed process.
      assert.ok(
        f.incarnation < bot.index && f.incarnation < g.incarnation,
        `${this.kind}: ${g.got} repeated in incarnation ${g.incarnation} after ${f.incarnation}`,
      )
    }
    return { duplicates }
  }
}

async function exerciseStore(kind, seed, number) {
  const run = new Run(kind, seed, number)
  const started = Date.now()
  const first = await run.pair()
  await Promise.all([run.sendAll(), run.killAll(first)])
  const bot = await run.finish()
  const { duplicates } = run.check(bot)

  // The sessions still work both ways.
  const back = await sender.sock.sendMessage(run.jid, { text: `${kind} after the storm` })
  assert.ok(await bot.wait((l) => l.got === back.key.id, 15_000), `${kind}: the bot reads Baileys after the kills`)
  bot.send({ send: sender.auth.creds.me.id.replace(/:\d+@/, '@'), text: `${kind} ${seed} still here` })
  const reply = await sender.waitMessage((m) => text(m) === `${kind} ${seed} still here`, 15_000)
  assert.ok(reply, `${kind}: Baileys reads the bot after the kills`)
  await bot.kill()
  console.log(
    `# ${kind} seed ${seed}: ${run.sent.length} texts, ${run.incarnations.length} processes, kills ${JSON.stringify(run.kills)}, ` +
      `${run.got.length} deliveries (${duplicates} repeated), 0 lost, ${Date.now() - started} ms`,
  )
  return run
}

test('pairing the Baileys peer', async () => {
  await sender.pairByQR('15557770000', 'Sender')
})

// The inbox costs no extra write: each received message is one `keys.set` (Signal state and
// inbox entry together), seen here through a user's JavaScript key store.
test('one keys.set per received message, with the session and the entry together', async () => {
  const { makeWASocket, initAuthCreds, BufferJSON } = await import('../index.mjs')
  const data = new Map()
  const sets = []
  const keys = {
    async get(type, ids) {
      const out = {}
      for (const id of ids) if (data.has(`${type}/${id}`)) out[id] = JSON.parse(data.get(`${type}/${id}`), BufferJSON.reviver)
      return out
    },
    async set(update) {
      sets.push(update)
      for (const type of Object.keys(update))
        for (const [id, v] of Object.entries(update[type])) {
          if (v == null) data.delete(`${type}/${id}`)
          else data.set(`${type}/${id}`, JSON.stringify(v, BufferJSON.replacer))
        }
    },
  }
  const auth = { creds: initAuthCreds(), keys }
  const connect = () =>
    makeWASocket({ auth, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey })
  let sock = connect()
  const qr = await new Promise((resolve) => sock.ev.on('connection.update', (u) => u.qr && resolve(u.qr)))
  const restarted = new Promise((resolve) => sock.ev.on('connection.update', (u) => u.connection === 'close' && resolve()))
  await server.scanQR(qr, { phoneNumber: '15557769990' })
  await restarted
  sock = connect()
  const got = []
  sock.ev.on('messages.upsert', ({ messages }) => got.push(...messages.filter((m) => !m.key.fromMe).map((m) => m.key.id)))
  await new Promise((resolve) => sock.ev.on('connection.update', (u) => u.connection === 'open' && resolve()))
  const jid = '15557769990@s.whatsapp.net'
  const warm = await sender.sock.sendMessage(jid, { text: 'first contact' })
  while (!got.includes(warm.key.id)) await sleep(20)
  await sleep(400) // the warm-up's own writes (LID mapping, the entry's delete) land
  sets.length = 0
  const ids = []
  for (let i = 0; i < 50; i++) ids.push((await sender.sock.sendMessage(jid, { text: `n${i}` })).key.id)
  const deadline = Date.now() + 15_000
  while (ids.some((id) => !got.includes(id)) && Date.now() < deadline) await sleep(20)
  assert.deepEqual(ids.filter((id) => !got.includes(id)), [])
  await sleep(400)
  const withEntry = sets.filter((u) => Object.keys(u.inbox ?? {}).some((id) => id.startsWith('e') && u.inbox[id]))
  assert.equal(withEntry.length, 50, 'one write with an entry per message')
  assert.ok(withEntry.every((u) => u.session && Object.keys(u.session).length === 1), 'the session goes in the same write')
  // Besides those, at most the idle flush of the last deletes.
  assert.ok(sets.length <= 52, `${sets.length} writes for 50 messages`)
  const stored = [...data.keys()].filter((k) => k.startsWith('inbox/e'))
  assert.deepEqual(stored, [], 'confirmed entries are pruned')
  sock.end(undefined)
})

// One kill at each point of the receive path, deterministically: the message the kill cut
// off reaches the app after the restart, from the server's redelivery or, once its receipt
// went, from the inbox alone.
for (const [i, point] of POINTS.entries()) {
  test(`a kill ${point.replace('_', ' ')} loses nothing`, async () => {
    const run = new Run('file', 100 + i, `155577690${i}0`)
    const first = await run.pair()
    const warm = await sender.sock.sendMessage(run.jid, { text: 'warm up' })
    assert.ok(await first.wait((l) => l.got === warm.key.id, 15_000))
    // Nothing of the warm-up left to answer or replay when the doomed process starts.
    const { me } = await first.wait((l) => l.open, 15_000)
    await until(() => server.queued(me) === 0)
    await sleep(400)
    await first.kill()
    const doomed = new Incarnation(run, `${point}:1`)
    assert.ok(await doomed.wait((l) => l.open, 15_000))
    const m = await sender.sock.sendMessage(run.jid, { text: `cut at ${point}` })
    const { signal } = await doomed.exited
    assert.equal(signal, 'SIGABRT', `the bot died at ${point}: ${doomed.stderr}`)
    const seenBefore = doomed.lines.some((l) => l.got === m.key.id)
    // Before the event left Rust the app cannot have it (after it, either can be).
    if (point === 'after_decrypt' || point === 'after_commit') assert.equal(seenBefore, false)
    // After the receipt the server has forgotten the message: only the inbox brings it back.
    if (point === 'after_receipt') {
      await until(() => server.queued(me) === 0)
      assert.equal(server.queued(me), 0, 'the server took the receipt')
    }

    const bot = new Incarnation(run)
    assert.ok(await bot.wait((l) => l.got === m.key.id, 15_000), `the message cut at ${point} arrives after the restart`)
    const got = run.got.filter((g) => g.got === m.key.id)
    assert.ok(got.every((g) => g.text === `cut at ${point}` && g.stub === null))
    // At most the one cut delivery is repeated.
    assert.ok(got.length <= 2, `${got.length} deliveries of one message`)
    // Its receipt went out: the server holds nothing more for the bot.
    await until(() => server.queued(me) === 0)
    assert.equal(server.queued(me), 0, 'nothing left queued for the bot')
    await bot.kill()
  })
}

for (let seed = 1; seed <= SEEDS; seed++) {
  test(`seed ${seed}: ${TEXTS} texts, ${KILLS} kills, on ${STORES.join(', ')}: nothing lost`, async () => {
    // The store kinds run side by side (each its own bot account and process).
    await Promise.all(STORES.map((kind, i) => exerciseStore(kind, seed, `1555778${seed}${i}00`)))
  })
}
