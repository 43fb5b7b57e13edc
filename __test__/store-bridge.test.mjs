// Rust calling JavaScript: errors and rejections become coded errors, an engine that never
// answers times out, a failed or late batch leaves nothing half-written, and one message's
// key work costs one read and one write round trip into a Baileys auth state.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { useMultiFileAuthState as baileysAuthState } from '@whiskeysockets/baileys'
import { Engine, MemoryEngine, KeyStore, Store, bridgeEngine } from '../index.js'

const tmp = mkdtempSync(join(tmpdir(), 'wa-store-bridge-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
const B = (s) => Buffer.from(s)

class Faulty extends Engine {
  constructor(mode) {
    super()
    this.mode = mode
    this.data = new Map()
  }
  async get(p) {
    if (this.mode === 'throw') throw Object.assign(new Error('db down'), { code: 'ECONNREFUSED' })
    if (this.mode === 'reject') return Promise.reject(new Error('rejected read'))
    if (this.mode === 'number') return 42
    if (this.mode === 'hang') return new Promise(() => {})
    return this.data.get(p) ?? null
  }
  async set(p, v) {
    if (this.mode === 'fail-third' && ++this.sets === 3) throw new Error('disk full')
    if (this.mode === 'slow-set') await new Promise((r) => setTimeout(r, 150))
    if (v === null) this.data.delete(p)
    else this.data.set(p, v)
  }
  async list() {
    if (this.mode === 'number') return [1, 2]
    return [...this.data.keys()]
  }
}

test('a throw, a rejection and a wrong type become coded errors', async () => {
  await assert.rejects(bridgeEngine(new Faulty('throw')).get('a/b'), (err) => {
    assert.equal(err.code, 'ERR_WA_STORE_ENGINE')
    assert.match(err.message, /db down/)
    assert.match(err.message, /ECONNREFUSED/)
    return true
  })
  await assert.rejects(bridgeEngine(new Faulty('reject')).get('a/b'), { code: 'ERR_WA_STORE_ENGINE', message: /rejected read/ })
  // A number is a JSON value; at a content path only bytes are.
  assert.equal(await bridgeEngine(new Faulty('number')).get('a/b'), 42)
  await assert.rejects(bridgeEngine(new Faulty('number')).get('a/content'), { code: 'ERR_WA_STORE_ENGINE_RESULT' })
  await assert.rejects(bridgeEngine(new Faulty('number')).list('a', 0, 10), { code: 'ERR_WA_STORE_ENGINE_RESULT' })
  assert.throws(() => bridgeEngine({ get() {} }), { code: 'ERR_WA_STORE_BAD_ENGINE' })
  // The abstract class says what is missing.
  await assert.rejects(bridgeEngine(new Engine()).get('a'), { code: 'ERR_WA_STORE_ENGINE', message: /not implemented/ })
})

test('an engine that never answers times out', async () => {
  const t0 = Date.now()
  await assert.rejects(bridgeEngine(new Faulty('hang'), { timeoutMs: 200 }).get('a/b'), { code: 'ERR_WA_STORE_TIMEOUT' })
  assert.ok(Date.now() - t0 >= 200)
})

test('a batch that fails half-way is undone', async () => {
  const inner = new Faulty('fail-third')
  inner.sets = 0
  inner.data.set('k/a', B('old-a'))
  const e = bridgeEngine(inner)
  await assert.rejects(
    e.setMany([
      { path: 'k/a', value: B('new-a') },
      { path: 'k/b', value: B('new-b') },
      { path: 'k/c', value: B('new-c') },
    ]),
    { code: 'ERR_WA_STORE_ENGINE', message: /disk full/ },
  )
  assert.deepEqual(inner.data.get('k/a'), B('old-a'))
  assert.equal(inner.data.has('k/b'), false)
  assert.equal(inner.data.has('k/c'), false)
})

test('a batch still running at its deadline is undone, not left half-written', async () => {
  const inner = new Faulty('slow-set')
  const e = bridgeEngine(inner, { timeoutMs: 200 })
  await assert.rejects(
    e.setMany([
      { path: 'k/a', value: B('1') },
      { path: 'k/b', value: B('2') },
      { path: 'k/c', value: B('3') },
    ]),
    { code: 'ERR_WA_STORE_TIMEOUT' },
  )
  await new Promise((r) => setTimeout(r, 700))
  assert.equal(inner.data.size, 0, 'the writes made before the deadline were rolled back')
})

test('the Store works over a JavaScript engine and validates JIDs', async () => {
  const store = new Store(bridgeEngine(new Faulty('ok')))
  await store.contact('5511999999999@s.whatsapp.net', { notify: 'A', img: B('x') })
  assert.deepEqual(await store.contact('5511999999999@s.whatsapp.net'), { notify: 'A', img: B('x') })
  await assert.rejects(store.contact('a/b@s.whatsapp.net', {}), { code: 'ERR_WA_STORE_BAD_JID' })
  await assert.rejects(store.message('x@g.us', '../../etc', {}), { code: 'ERR_WA_STORE_BAD_ID' })
  const native = new Store(new MemoryEngine())
  // Newest first by messageTimestamp, whatever the order of the writes.
  for (const i of [2, 0, 3, 1]) await native.message('x@g.us', `M${i}`, { i, messageTimestamp: 1700000000 + i })
  await native.content('x@g.us', 'M2', B('raw'))
  assert.deepEqual((await native.messages('x@g.us', { offset: 1, limit: 2 })).map((m) => m.id), ['M2', 'M1'])
  assert.deepEqual(await native.content('x@g.us', 'M2'), B('raw'))
  await native.message('x@g.us', 'M2', null)
  assert.equal(await native.content('x@g.us', 'M2'), null)
})

// Counts bursts of calls into an auth state: calls made in one synchronous stretch (one
// crossing from Rust, all issued before any of them resolves) are one round trip.
function counted(keys) {
  const rounds = { get: 0, set: 0, getCalls: 0, setCalls: 0 }
  let open = { get: false, set: false }
  const mark = (kind) => {
    rounds[`${kind}Calls`]++
    if (!open[kind]) {
      open[kind] = true
      rounds[kind]++
      process.nextTick(() => (open[kind] = false))
    }
  }
  return {
    rounds,
    keys: {
      get: (type, ids) => (mark('get'), keys.get(type, ids)),
      set: (data) => (mark('set'), keys.set(data)),
    },
  }
}

test('one incoming message costs one get and one set round trip into a Baileys auth state', async () => {
  const { state } = await baileysAuthState(join(tmp, 'baileys-rt'))
  const addr = '5511999999999.0'
  await state.keys.set({
    session: { [addr]: { _sessions: {}, version: 'v1' } },
    'pre-key': { 7: { public: B('p'), private: B('q') } },
  })
  const { rounds, keys } = counted(state.keys)
  const ks = KeyStore.fromAuthState(keys)

  // A pkmsg: session, identity and pre-key read; session and identity written, pre-key used up.
  const tx = ks.transaction()
  await tx.prefetch({ session: [addr], 'identity-key': [addr], 'pre-key': ['7'] })
  const { [addr]: session } = await tx.get('session', [addr])
  assert.deepEqual(session, { _sessions: {}, version: 'v1' })
  assert.deepEqual(await tx.get('identity-key', [addr]), {})
  assert.deepEqual((await tx.get('pre-key', ['7']))['7'], { public: B('p'), private: B('q') })
  await tx.set({ session: { [addr]: { _sessions: { a: 1 }, version: 'v1' } }, 'identity-key': { [addr]: B('I') } })
  await tx.set({ 'pre-key': { 7: null } })
  await tx.commit()
  assert.equal(rounds.get, 1, 'one read round trip')
  assert.equal(rounds.set, 1, 'one write round trip')
  assert.equal(rounds.getCalls, 3, 'Baileys get() is per type: three calls in that one round trip')
  assert.equal(rounds.setCalls, 1)
  assert.deepEqual(await state.keys.get('pre-key', ['7']), { 7: null }, 'the used pre-key is gone')
  assert.deepEqual((await state.keys.get('identity-key', [addr]))[addr], B('I'))

  // The next message from the same sender is served from the Rust cache: no read at all.
  const tx2 = ks.transaction()
  await tx2.prefetch({ session: [addr], 'identity-key': [addr] })
  await tx2.set({ session: { [addr]: { _sessions: { a: 2 }, version: 'v1' } } })
  await tx2.commit()
  assert.deepEqual(rounds, { get: 1, set: 2, getCalls: 3, setCalls: 2 })
  assert.deepEqual((await state.keys.get('session', [addr]))[addr], { _sessions: { a: 2 }, version: 'v1' })
})

test('an auth state that throws or hangs gives coded errors', async () => {
  const bad = KeyStore.fromAuthState({
    get: async () => {
      throw new Error('redis gone')
    },
    set: async () => {},
  })
  await assert.rejects(bad.get('session', ['a.0']), { code: 'ERR_WA_STORE_ENGINE', message: /redis gone/ })
  await assert.rejects(bad.get('not-a-type', ['a']), { code: 'ERR_WA_STORE_BAD_KEY_TYPE' })
  const hung = KeyStore.fromAuthState({ get: () => new Promise(() => {}), set: async () => {} }, { timeoutMs: 150 })
  await assert.rejects(hung.get('session', ['a.0']), { code: 'ERR_WA_STORE_TIMEOUT' })
  await assert.rejects(KeyStore.fromEngine(new MemoryEngine()).set({ session: 5 }), { code: 'ERR_WA_STORE_BAD_VALUE' })
  const tx = KeyStore.fromEngine(new MemoryEngine()).transaction()
  await tx.commit()
  await assert.rejects(tx.commit(), { code: 'ERR_WA_STORE_TX_DONE' })
})
