// One conformance suite, run against every engine: the three native ones, a JavaScript
// engine written here (bridged through Rust), and a JavaScript engine wrapping a native one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Engine, MemoryEngine, FileEngine, SqliteEngine, bridgeEngine } from '../index.js'

const tmp = mkdtempSync(join(tmpdir(), 'wa-store-conf-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
let n = 0

// A plain JavaScript engine: a Map (insertion order = creation order) and a parent index.
class MapEngine extends Engine {
  constructor() {
    super()
    this.map = new Map()
  }
  async get(path) {
    return this.map.get(path) ?? null
  }
  async set(path, value) {
    if (value === null) this.map.delete(path)
    else if (this.map.has(path)) this.map.set(path, Buffer.from(value))
    else this.map.set(path, Buffer.from(value))
  }
  async list(prefix, offset, limit) {
    const p = prefix.replace(/\/$/, '')
    const kids = [...this.map.keys()].filter((k) => {
      if (p === '') return !k.includes('/')
      return k.startsWith(p + '/') && !k.slice(p.length + 1).includes('/')
    })
    return kids.reverse().slice(offset, offset + limit)
  }
}

// A JavaScript engine that wraps a native one through its public methods only.
class WrappingEngine extends Engine {
  constructor(inner) {
    super()
    this.inner = inner
  }
  get(p) {
    return this.inner.get(p)
  }
  set(p, v) {
    return this.inner.set(p, v)
  }
  list(p, o, l) {
    return this.inner.list(p, o, l)
  }
}

const engines = {
  memory: () => new MemoryEngine(),
  file: () => new FileEngine(join(tmp, `f${n++}`)),
  'file, process durability': () => new FileEngine(join(tmp, `f${n++}`), { durability: 'process' }),
  sqlite: () => new SqliteEngine(join(tmp, `s${n++}.db`)),
  'js (written in the test)': () => bridgeEngine(new MapEngine()),
  'js wrapping native': () => bridgeEngine(new WrappingEngine(new SqliteEngine(join(tmp, `w${n++}.db`)))),
}

const B = (s) => Buffer.from(s)
const cases = {
  async 'get of a missing path'(e) {
    assert.equal(await e.get('contact/nobody@s.whatsapp.net'), null)
  },
  async 'set, get, overwrite, delete'(e) {
    await e.set('session/creds', B('one'))
    assert.deepEqual(await e.get('session/creds'), B('one'))
    await e.set('session/creds', B('two'))
    assert.deepEqual(await e.get('session/creds'), B('two'))
    await e.set('session/creds', null)
    assert.equal(await e.get('session/creds'), null)
    await e.set('session/creds', null)
  },
  async 'list newest first; overwrite keeps place; re-create moves to front'(e) {
    for (let i = 0; i < 5; i++) await e.set(`chat/c@g.us/message/M${i}`, B(String(i)))
    const want = (ids) => ids.map((i) => `chat/c@g.us/message/M${i}`)
    assert.deepEqual(await e.list('chat/c@g.us/message', 0, 100), want([4, 3, 2, 1, 0]))
    await e.set('chat/c@g.us/message/M1', B('x'))
    assert.deepEqual(await e.list('chat/c@g.us/message', 0, 100), want([4, 3, 2, 1, 0]))
    await e.set('chat/c@g.us/message/M1', null)
    await e.set('chat/c@g.us/message/M1', B('y'))
    assert.deepEqual(await e.list('chat/c@g.us/message', 0, 100), want([1, 4, 3, 2, 0]))
  },
  async 'list paging'(e) {
    for (let i = 0; i < 25; i++) await e.set(`contact/${String(i).padStart(2, '0')}@s.whatsapp.net`, B('x'))
    const all = []
    for (let off = 0; ; ) {
      const page = await e.list('contact', off, 7)
      all.push(...page)
      off += page.length
      if (page.length < 7) break
    }
    assert.deepEqual(all, [...Array(25).keys()].reverse().map((i) => `contact/${String(i).padStart(2, '0')}@s.whatsapp.net`))
  },
  async 'list direct children with a value only'(e) {
    await e.set('chat/a@s.whatsapp.net', B('{}'))
    await e.set('chat/b@s.whatsapp.net/message/X', B('{}'))
    await e.set('chat/a@s.whatsapp.net/message/Y/content', B('raw'))
    assert.deepEqual(await e.list('chat/', 0, 10), ['chat/a@s.whatsapp.net'])
    assert.deepEqual(await e.list('chat/a@s.whatsapp.net/message/Y', 0, 10), ['chat/a@s.whatsapp.net/message/Y/content'])
  },
  async 'batch: in order, last write wins, deletes'(e) {
    await e.set('x/gone', B('old'))
    await e.set('x/re', B('old'))
    await e.setMany([
      { path: 'x/re', value: null },
      { path: 'x/re', value: B('new') },
      { path: 'x/a', value: B('1') },
      { path: 'x/b', value: B('2') },
      { path: 'x/a', value: B('3') },
      { path: 'x/gone', value: null },
    ])
    assert.deepEqual(await e.getMany(['x/a', 'x/b', 'x/gone', 'x/re']), [B('3'), B('2'), null, B('new')])
  },
  async 'a batch with a bad path writes nothing'(e) {
    await assert.rejects(e.setMany([{ path: 'y/a', value: B('1') }, { path: '../escape', value: B('2') }]), {
      code: 'ERR_WA_STORE_BAD_PATH',
    })
    assert.equal(await e.get('y/a'), null)
  },
  async 'bad paths are refused'(e) {
    for (const p of ['', '../x', 'a/../../x', '/abs', 'a//b', 'trailing/']) {
      await assert.rejects(e.get(p), { code: 'ERR_WA_STORE_BAD_PATH' }, p)
      await assert.rejects(e.set(p, B('1')), { code: 'ERR_WA_STORE_BAD_PATH' }, p)
    }
  },
  async 'concurrent writers on one path'(e) {
    const vals = [...Array(16).keys()].map((i) => Buffer.alloc(1000 + i, i))
    await Promise.all(vals.map((v) => e.set('chat/race@g.us', v)))
    const got = await e.get('chat/race@g.us')
    assert.ok(vals.some((v) => v.equals(got)))
  },
  async 'large value (10 MB)'(e) {
    const big = Buffer.alloc(10 * 1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251
    await e.set('chat/big@g.us/message/BIG/content', big)
    assert.ok(big.equals(await e.get('chat/big@g.us/message/BIG/content')))
  },
  async 'odd JIDs, path characters, unicode'(e) {
    const segs = ['123:12@s.whatsapp.net', '100000000000001:3@lid', 'ñandú😀 中文', 'index', 'content', '.hidden', '100%25 ~!*()', 'a\\b', 'CON']
    for (const [i, s] of segs.entries()) await e.set(`contact/${s}`, B(String(i)))
    for (const [i, s] of segs.entries()) assert.deepEqual(await e.get(`contact/${s}`), B(String(i)), s)
    assert.deepEqual(await e.list('contact', 0, 100), segs.map((s) => `contact/${s}`).reverse())
  },
  async 'strings and Uint8Arrays are stored as bytes'(e) {
    await e.set('t/s', 'héllo')
    await e.set('t/u', new Uint8Array([1, 2, 3]))
    assert.deepEqual(await e.get('t/s'), B('héllo'))
    assert.deepEqual(await e.get('t/u'), Buffer.from([1, 2, 3]))
  },
}

let ran = 0
for (const [engineName, make] of Object.entries(engines)) {
  for (const [caseName, run] of Object.entries(cases)) {
    test(`${engineName}: ${caseName}`, async () => {
      await run(make())
      ran++
    })
  }
}

test('every case ran against every engine', () => {
  assert.equal(ran, Object.keys(engines).length * Object.keys(cases).length)
  console.log(`# conformance: ${Object.keys(cases).length} cases x ${Object.keys(engines).length} engines = ${ran}`)
})
