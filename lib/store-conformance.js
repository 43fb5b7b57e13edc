'use strict'
// The engine conformance suite, for our engines and for users' own (docs/storage.md):
//
//   const { testEngine } = require('baileys-native')
//   const report = await testEngine(() => new MyEngine(), { pair: () => [engineA, engineB] })
//   // report: { passed, failed, cases: [{ name, ok, error? }] }
//
// `make` returns a fresh, empty engine for each case. A JavaScript engine is tested as the
// socket uses it: through our bridge (Rust calls it back; paths are checked before your
// code runs; values reach it JSON-safe). `pair` (optional) returns two engines over one
// backend under different prefixes (two accounts in one database or bucket).
const assert = require('node:assert/strict')
const store = require('./store.js')

const kNative = Symbol.for('baileys-native.store.native')

function asTested(engine, options) {
  return engine?.[kNative] ? engine : store.bridgeEngine(engine, options)
}

async function codeOf(promise) {
  try {
    await promise
  } catch (err) {
    return err.code
  }
  return 'resolved'
}

const CASES = [
  ['get of a missing path is null', async (e) => {
    assert.equal(await e.get('contact/nobody@s.whatsapp.net'), null)
  }],
  ['JSON values round-trip as themselves', async (e) => {
    const values = {
      'contact/1@s.whatsapp.net': { id: '1@s.whatsapp.net', name: 'Zoë 🦊 中文', n: 3, ok: true, none: null, list: [1, 'two', [3]] },
      'x/string': 'plain text ✓',
      'x/number': 1234567.25,
      'x/zero': 0,
      'x/false': false,
      'x/array': [1, { a: [] }, 'x'],
      'x/numeric-keys': { 0: 1, 1: 2 },
    }
    for (const [p, v] of Object.entries(values)) assert.equal(await e.set(p, v), true, `set ${p} resolves true`)
    for (const [p, v] of Object.entries(values)) assert.deepEqual(await e.get(p), v, p)
  }],
  ['Buffers round-trip as Buffers, also nested', async (e) => {
    const creds = { noiseKey: { public: Buffer.alloc(32, 5), private: Buffer.from([0, 255, 7]) }, list: [Buffer.from('x')], u8: new Uint8Array([9, 8]) }
    await e.set('session/creds', creds)
    const got = await e.get('session/creds')
    assert.ok(Buffer.isBuffer(got.noiseKey.public))
    assert.deepEqual(got.noiseKey.public, Buffer.alloc(32, 5))
    assert.deepEqual(got.noiseKey.private, Buffer.from([0, 255, 7]))
    assert.deepEqual(got.list[0], Buffer.from('x'))
    assert.deepEqual(got.u8, Buffer.from([9, 8]))
    await e.set('x/buffer', Buffer.from([0, 1, 2, 254]))
    assert.deepEqual(await e.get('x/buffer'), Buffer.from([0, 1, 2, 254]))
    const content = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    await e.set('chat/c@g.us/message/M/content', content)
    assert.deepEqual(await e.get('chat/c@g.us/message/M/content'), content)
    assert.equal(await codeOf(e.set('chat/c@g.us/message/M/content', { not: 'bytes' })), 'ERR_WA_STORE_BAD_VALUE')
  }],
  ['5 MB content round-trips', async (e) => {
    const big = Buffer.alloc(5 * 1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251
    await e.set('chat/big@g.us/message/BIG/content', big)
    assert.ok(big.equals(await e.get('chat/big@g.us/message/BIG/content')))
  }],
  ['set(path, null) deletes; deleting nothing is fine', async (e) => {
    await e.set('contact/a@s.whatsapp.net', { id: 'a' })
    assert.equal(await e.set('contact/a@s.whatsapp.net', null), true)
    assert.equal(await e.get('contact/a@s.whatsapp.net'), null)
    assert.equal(await e.set('contact/a@s.whatsapp.net', null), true)
    assert.deepEqual(await e.list('contact'), [])
  }],
  ['list: whole paths directly below the prefix, key order', async (e) => {
    for (const n of ['b', 'B', 'a~', 'a', 'ä']) await e.set(`o/${n}`, 1)
    await e.set('o/a/deeper', 2)
    assert.deepEqual(await e.list('o'), ['o/B', 'o/a', 'o/a~', 'o/b', 'o/ä'])
    assert.deepEqual(await e.list('o/'), ['o/B', 'o/a', 'o/a~', 'o/b', 'o/ä'])
    assert.deepEqual(await e.list('o/a'), ['o/a/deeper'])
    assert.deepEqual(await e.list('nothing/here'), [])
  }],
  ['list: paging and bounds (default limit 50)', async (e) => {
    for (let i = 0; i < 60; i++) await e.set(`p/${String(i).padStart(2, '0')}`, i)
    const all = []
    for (let off = 0; ; off += 7) {
      const page = await e.list('p', off, 7)
      assert.ok(page.length <= 7)
      all.push(...page)
      if (page.length < 7) break
    }
    assert.deepEqual(all, Array.from({ length: 60 }, (_, i) => `p/${String(i).padStart(2, '0')}`))
    assert.equal((await e.list('p')).length, 50)
    assert.deepEqual(await e.list('p', 59, 10), ['p/59'])
    assert.deepEqual(await e.list('p', 60, 10), [])
    assert.deepEqual(await e.list('p', 0, 0), [])
    assert.equal(await codeOf(e.list('p', -1, 10)), 'ERR_WA_STORE_BAD_VALUE')
  }],
  ['concurrent writers', async (e) => {
    await Promise.all(Array.from({ length: 8 }, (_, w) => (async () => {
      for (let i = 0; i < 10; i++) await e.set(`w/${w}-${String(i).padStart(2, '0')}`, { w, i })
    })()))
    const all = await e.list('w', 0, 1000)
    assert.equal(all.length, 80)
    for (let w = 0; w < 8; w++) for (let i = 0; i < 10; i++) assert.deepEqual(await e.get(`w/${w}-${String(i).padStart(2, '0')}`), { w, i })
    const vals = Array.from({ length: 16 }, (_, i) => ({ writer: i, pad: 'x'.repeat(1000 + i) }))
    await Promise.all(vals.map((v) => e.set('chat/race@g.us', v)))
    const got = await e.get('chat/race@g.us')
    assert.ok(vals.some((v) => v.writer === got.writer && v.pad === got.pad), 'one writer\'s whole value')
  }],
  ['hostile paths are refused with a coded error', async (e) => {
    const hostile = ['../x', 'a/../../x', '/abs', '/etc/passwd', 'a//b', 'a/./b', '..', 'a/\0b', 'trailing/', '', 'a/'.repeat(5 * 1024) + 'z', 'a/' + 'x'.repeat(10 * 1024)]
    for (const p of hostile) {
      assert.equal(await codeOf(e.get(p)), 'ERR_WA_STORE_BAD_PATH', `get ${JSON.stringify(p.slice(0, 20))}`)
      assert.equal(await codeOf(e.set(p, { v: 1 })), 'ERR_WA_STORE_BAD_PATH', `set ${JSON.stringify(p.slice(0, 20))}`)
    }
    assert.equal(await codeOf(e.list('../x')), 'ERR_WA_STORE_BAD_PATH')
    assert.deepEqual(await e.list(''), [])
  }],
  ['a batch is all or nothing', async (e) => {
    await e.setMany([{ path: 'b/1', value: 1 }, { path: 'b/2', value: { two: Buffer.from([2]) } }])
    assert.deepEqual(await e.get('b/2'), { two: Buffer.from([2]) })
    assert.equal(await codeOf(e.setMany([{ path: 'b/3', value: 3 }, { path: 'b/../x', value: 4 }])), 'ERR_WA_STORE_BAD_PATH')
    assert.equal(await e.get('b/3'), null)
  }],
]

async function prefixIsolation(a, b) {
  await a.set('session/creds', { me: 'a' })
  await a.set('session/signal/session/x.0', { k: 'a' })
  assert.equal(await b.get('session/creds'), null, 'b reads a\'s creds')
  assert.deepEqual(await b.list('session/signal/session'), [], 'b lists a\'s keys')
  await b.set('session/creds', { me: 'b' })
  assert.deepEqual(await a.get('session/creds'), { me: 'a' })
  await b.set('session/signal/session/x.0', null)
  assert.deepEqual(await a.get('session/signal/session/x.0'), { k: 'a' }, 'b deleted a\'s key')
}

/**
 * Runs every case on fresh engines from `make`; never throws for a failing case (each is
 * reported). options.pair: () => [engineA, engineB] over one backend, different prefixes.
 */
async function testEngine(make, options = {}) {
  const cases = []
  const run = async (name, fn) => {
    try {
      await fn()
      cases.push({ name, ok: true })
    } catch (err) {
      cases.push({ name, ok: false, error: err })
    }
  }
  for (const [name, fn] of CASES) {
    await run(name, async () => fn(asTested(await make(), options)))
  }
  if (options.pair) {
    await run('prefix isolation', async () => {
      const [a, b] = await options.pair()
      await prefixIsolation(asTested(a, options), asTested(b, options))
    })
  }
  const failed = cases.filter((c) => !c.ok).length
  return { passed: cases.length - failed, failed, cases }
}

module.exports = { testEngine, ENGINE_CASES: CASES.length }
