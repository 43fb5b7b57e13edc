// Storage throughput: get / set / batch per engine, and one incoming message's key work
// (read session + identity, write session) through each auth state, next to Baileys'
// useMultiFileAuthState on the same data in the same run. A measurement, not a test.
//
// Note: our file and SQLite engines make every acknowledged write durable (the file
// stores: one fdatasync of their write-ahead log per group of concurrent batches);
// Baileys' useMultiFileAuthState writes in place without fsync. Rows marked "process"
// use durability 'process' (survives a process crash, not a power loss; no fsync on the
// write path). Memory and the bridged JS engine show the cost of the engines and of the
// Rust -> JS round trip without the disk. The last table runs 16 chats at once.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import * as baileys from '@whiskeysockets/baileys'
import * as ours from '../index.js'

const tmp = mkdtempSync(join(tmpdir(), 'wa-store-bench-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
let dirN = 0
const dir = (name) => join(tmp, `${name}-${dirN++}`)

class MapEngine extends ours.Engine {
  map = new Map()
  async get(p) {
    return this.map.get(p) ?? null
  }
  async set(p, v) {
    if (v === null) this.map.delete(p)
    else this.map.set(p, v)
  }
  async list(prefix, offset, limit) {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix + '/')).reverse().slice(offset, offset + limit)
  }
}

async function rate(n, fn) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await fn(i)
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  return n / s
}

const fmt = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)).padStart(8)

// A libsignal-node session record of realistic size (~3 KB as JSON).
function sessionRecord() {
  const b64 = (n) => randomBytes(n).toString('base64')
  const chain = () => ({ chainKey: { counter: 12, key: b64(32) }, chainType: 1, messageKeys: Object.fromEntries([...Array(10).keys()].map((i) => [i, b64(32)])) })
  return {
    _sessions: {
      [b64(33)]: {
        registrationId: 1234,
        currentRatchet: { ephemeralKeyPair: { pubKey: b64(33), privKey: b64(32) }, lastRemoteEphemeralKey: b64(33), previousCounter: 3, rootKey: b64(32) },
        indexInfo: { baseKey: b64(33), baseKeyType: 1, closed: -1, used: Date.now(), created: Date.now(), remoteIdentityKey: b64(33) },
        _chains: { [b64(33)]: chain(), [b64(33)]: chain() },
      },
    },
    version: 'v1',
  }
}

console.log('\n### Engine operations (1 KB values; ops/s, awaited one after another)')
console.log(`${'engine'.padEnd(30)}${'set'.padStart(8)}${'get'.padStart(8)}${'batch50'.padStart(9)}  (batch50 = writes/s in batches of 50)`)
const value = randomBytes(1024)
const engines = {
  memory: () => new ours.MemoryEngine(),
  file: () => new ours.FileEngine(dir('file')),
  'file (process)': () => new ours.FileEngine(dir('file-p'), { durability: 'process' }),
  sqlite: () => new ours.SqliteEngine(dir('sqlite') + '.db'),
  'js Map engine via bridge': () => ours.bridgeEngine(new MapEngine()),
}
for (const [name, make] of Object.entries(engines)) {
  const e = make()
  const N = name.startsWith('file') || name === 'sqlite' ? 400 : 5000
  const set = await rate(N, (i) => e.set(`contact/${i}@s.whatsapp.net`, value))
  const get = await rate(N, (i) => e.get(`contact/${i}@s.whatsapp.net`))
  const B = 50
  const batches = Math.max(4, Math.floor(N / B / 2))
  const batch = (await rate(batches, (i) => e.setMany([...Array(B).keys()].map((j) => ({ path: `b/${i}.${j}`, value }))))) * B
  console.log(`${name.padEnd(30)}${fmt(set)}${fmt(get)}${fmt(batch)} `)
}

console.log('\n### One message\'s key work: get session + identity-key, set session (messages/s)')
const contacts = 50
const ids = [...Array(contacts).keys()].map((i) => `55119000${String(i).padStart(5, '0')}.0`)
const seed = Object.fromEntries(ids.map((id) => [id, sessionRecord()]))
const idKeys = Object.fromEntries(ids.map((id) => [id, randomBytes(33)]))

// Plain Baileys-style calls, as libsignal.js makes them.
async function viaBaileysApi(keys, i) {
  const id = ids[i % contacts]
  const { [id]: s } = await keys.get('session', [id])
  await keys.get('identity-key', [id])
  s.version = 'v1'
  await keys.set({ session: { [id]: s } })
}
// Our transaction: one read round, one write.
async function viaTransaction(ks, i) {
  const id = ids[i % contacts]
  const tx = ks.transaction()
  await tx.prefetch({ session: [id], 'identity-key': [id] })
  const { [id]: s } = await tx.get('session', [id])
  await tx.set({ session: { [id]: s } })
  await tx.commit()
}

const N = 300
const results = []
async function run(name, setup, work) {
  const target = await setup()
  await target.seed({ session: seed, 'identity-key': idKeys })
  const r = await rate(N, (i) => work(target.keys, i))
  results.push([name, r])
}
const baileysFolder = async () => {
  const { state } = await baileys.useMultiFileAuthState(dir('baileys'))
  return { keys: state.keys, seed: (d) => state.keys.set(d) }
}
await run("Baileys useMultiFileAuthState", baileysFolder, viaBaileysApi)
await run('Baileys + makeCacheableSignalKeyStore', async () => {
  const { state } = await baileys.useMultiFileAuthState(dir('baileys-cached'))
  const keys = baileys.makeCacheableSignalKeyStore(state.keys)
  return { keys, seed: (d) => keys.set(d) }
}, viaBaileysApi)
await run('ours useMultiFileAuthState', async () => {
  const { state } = await ours.useMultiFileAuthState(dir('ours'))
  return { keys: state.keys, seed: (d) => state.keys.set(d) }
}, viaBaileysApi)
await run('ours useMultiFileAuthState (process)', async () => {
  const { state } = await ours.useMultiFileAuthState(dir('ours-p'), { durability: 'process' })
  return { keys: state.keys, seed: (d) => state.keys.set(d) }
}, viaBaileysApi)
for (const [name, make] of Object.entries({ memory: engines.memory, file: engines.file, sqlite: engines.sqlite })) {
  await run(`ours KeyStore tx on ${name}`, async () => {
    const ks = ours.KeyStore.fromEngine(make())
    return { keys: ks, seed: (d) => ks.set(d) }
  }, viaTransaction)
}
await run('ours KeyStore tx on ours folder', async () => {
  const { state } = await ours.useMultiFileAuthState(dir('ours-tx'))
  const ks = ours.KeyStore.fromAuthState(state.keys)
  return { keys: ks, seed: (d) => ks.set(d) }
}, viaTransaction)
await run('bridge: Rust tx -> Baileys folder (JS)', async () => {
  const { state } = await baileys.useMultiFileAuthState(dir('bridge'))
  const ks = ours.KeyStore.fromAuthState(state.keys)
  return { keys: ks, seed: (d) => state.keys.set(d) }
}, viaTransaction)
await run('bridge: Rust tx -> in-memory JS auth state', async () => {
  const m = new Map()
  const keys = {
    async get(type, list) {
      return Object.fromEntries(list.map((id) => [id, m.get(`${type}/${id}`) ?? null]))
    },
    async set(data) {
      for (const t in data) for (const id in data[t]) m.set(`${t}/${id}`, data[t][id])
    },
  }
  const ks = ours.KeyStore.fromAuthState(keys)
  return { keys: ks, seed: (d) => keys.set(d) }
}, viaTransaction)

const base = results[0][1]
console.log(`${'auth state'.padEnd(44)}${'msg/s'.padStart(8)}  vs Baileys useMultiFileAuthState`)
for (const [name, r] of results) console.log(`${name.padEnd(44)}${fmt(r)}  ${(r / base).toFixed(2)}x`)

// Many chats at once: each worker does one message's key work for its own contact, all
// workers concurrently (as a bot handling several chats). Our file stores share one log
// sync among the writes that arrive together.
const WORKERS = 16
const PER_WORKER = 40
async function concurrent(target, work) {
  const t0 = process.hrtime.bigint()
  await Promise.all([...Array(WORKERS).keys()].map(async (w) => {
    for (let k = 0; k < PER_WORKER; k++) await work(target.keys, w + WORKERS * (k % 3))
  }))
  return (WORKERS * PER_WORKER) / (Number(process.hrtime.bigint() - t0) / 1e9)
}
const conc = []
const setups = {
  'Baileys useMultiFileAuthState': [baileysFolder, viaBaileysApi],
  'ours useMultiFileAuthState': [async () => {
    const { state } = await ours.useMultiFileAuthState(dir('c-ours'))
    return { keys: state.keys, seed: (d) => state.keys.set(d) }
  }, viaBaileysApi],
  'ours useMultiFileAuthState (process)': [async () => {
    const { state } = await ours.useMultiFileAuthState(dir('c-ours-p'), { durability: 'process' })
    return { keys: state.keys, seed: (d) => state.keys.set(d) }
  }, viaBaileysApi],
  'ours KeyStore tx on file': [async () => {
    const ks = ours.KeyStore.fromEngine(engines.file())
    return { keys: ks, seed: (d) => ks.set(d) }
  }, viaTransaction],
  'ours KeyStore tx on sqlite': [async () => {
    const ks = ours.KeyStore.fromEngine(engines.sqlite())
    return { keys: ks, seed: (d) => ks.set(d) }
  }, viaTransaction],
}
for (const [name, [setup, work]] of Object.entries(setups)) {
  const target = await setup()
  await target.seed({ session: seed, 'identity-key': idKeys })
  conc.push([name, await concurrent(target, work)])
}
const cbase = conc[0][1]
console.log(`\n### ${WORKERS} chats at once: the same key work, ${WORKERS} workers concurrently (messages/s)`)
console.log(`${'auth state'.padEnd(44)}${'msg/s'.padStart(8)}  vs Baileys useMultiFileAuthState`)
for (const [name, r] of conc) console.log(`${name.padEnd(44)}${fmt(r)}  ${(r / cbase).toFixed(2)}x`)
