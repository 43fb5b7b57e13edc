// Every runtime export of Baileys 7.0.0-rc14 (ESM and CommonJS) against ours: the same kind and,
// for constants, deep-equal values; pending names printed and matched against docs/exports.md
// and the README; every runtime export of ours declared in index.d.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import * as B from '@whiskeysockets/baileys'
import * as esm from '../index.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../index.js')
const root = new URL('..', import.meta.url)

const kind = (v) =>
  typeof v === 'function'
    ? /^class[\s{]/.test(Function.prototype.toString.call(v)) ? 'class' : 'function'
    : v === null ? 'null' : Buffer.isBuffer(v) ? 'buffer' : v instanceof RegExp ? 'regexp' : Array.isArray(v) ? 'array' : typeof v

const baileysNames = Object.keys(B).filter((n) => n !== 'default').sort()
const pendingDoc = [...readFileSync(new URL('docs/exports.md', root), 'utf8').matchAll(/^\| `([A-Za-z0-9_]+)` \|/gm)].map((m) => m[1]).sort()
const readme = readFileSync(new URL('README.md', root), 'utf8')

// Baileys is ESM only: a CommonJS `require` of it (Node >= 20.19) returns this same namespace,
// so its ESM names are the reference for both of our entries.
test('the reference: Baileys 7.0.0-rc14 has 262 runtime exports', () => {
  assert.equal(baileysNames.length, 262)
})

test('every Baileys export exists with the same kind, or is listed as pending', () => {
  const missing = baileysNames.filter((n) => !(n in cjs))
  console.log(`exports: ${baileysNames.length - missing.length} of ${baileysNames.length} present; pending (${missing.length}): ${missing.join(', ')}`)
  assert.deepEqual(missing, pendingDoc, 'the pending names are exactly those of docs/exports.md')
  for (const n of missing) assert.ok(readme.includes(`\`${n}\``), `${n} is in the README's pending list`)
  for (const n of baileysNames) {
    if (!(n in cjs)) continue
    assert.equal(kind(cjs[n]), kind(B[n]), `${n}: ${kind(B[n])} in Baileys`)
    assert.equal(esm[n], cjs[n], `${n}: ESM and CommonJS agree`)
  }
  assert.equal(typeof esm.default, 'function')
})

// Values that differ by nature (loggers, functions inside objects) are compared by shape.
const SKIP_VALUE = new Set(['proto', 'WAProto', 'DEFAULT_CONNECTION_CONFIG', 'Curve', 'BufferJSON', 'Browsers', 'LT_HASH_ANTI_TAMPERING'])

test('every constant equals Baileys\' value', () => {
  let compared = 0
  for (const n of baileysNames) {
    if (!(n in cjs) || typeof B[n] === 'function' || SKIP_VALUE.has(n)) continue
    if (B[n] instanceof RegExp) assert.equal(String(cjs[n]), String(B[n]), n)
    else assert.deepStrictEqual(JSON.parse(JSON.stringify(cjs[n])), JSON.parse(JSON.stringify(B[n])), n)
    compared++
  }
  // numeric enums keep their reverse mapping; proto enums are the proto's own objects
  assert.equal(cjs.WAMessageStatus, cjs.proto.WebMessageInfo.Status)
  assert.equal(cjs.WAMessageStubType, cjs.proto.WebMessageInfo.StubType)
  assert.deepEqual({ ...cjs.WAMessageStubType }, { ...B.WAMessageStubType })
  console.log(`exports: ${compared} constants deep-equal`)
  assert.ok(compared > 60)
})

test('DEFAULT_CONNECTION_CONFIG has all of Baileys\' keys, with Baileys\' values where they are data', () => {
  const b = B.DEFAULT_CONNECTION_CONFIG
  const o = cjs.DEFAULT_CONNECTION_CONFIG
  assert.deepEqual(Object.keys(o).sort(), Object.keys(b).sort())
  for (const k of Object.keys(b)) {
    assert.equal(kind(o[k]), kind(b[k]), k)
    if (typeof b[k] !== 'function' && k !== 'logger') assert.deepEqual(o[k], b[k], k)
  }
  for (const syncType of [0, 1, 2, 3, 4, 5, 6]) {
    assert.equal(o.shouldSyncHistoryMessage({ syncType }), b.shouldSyncHistoryMessage({ syncType }))
  }
  assert.equal(typeof o.logger.info, 'function')
  assert.equal(o.logger.level, b.logger.level)
  assert.equal(o.makeSignalRepository, cjs.makeLibSignalRepository)
})

test('the default logger (pino) is loaded only when read, and is one logger like Baileys\'', () => {
  // In a fresh process: a bot that passes its own logger never loads pino.
  const script = `
    const bn = require(${JSON.stringify(new URL('index.js', root).pathname)})
    const pino = () => Object.keys(require.cache).some((f) => f.includes('/node_modules/pino/'))
    const atLoad = pino()
    const logger = bn.DEFAULT_CONNECTION_CONFIG.logger
    console.log(JSON.stringify({ atLoad, read: pino(), same: logger === bn.DEFAULT_CONNECTION_CONFIG.logger,
      spread: { ...bn.DEFAULT_CONNECTION_CONFIG }.logger === logger, bindings: logger.bindings(), level: logger.level }))`
  const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
  assert.deepEqual(r, { atLoad: false, read: true, same: true, spread: true, bindings: B.DEFAULT_CONNECTION_CONFIG.logger.bindings(), level: B.DEFAULT_CONNECTION_CONFIG.logger.level })
})

test('Browsers, getPlatformId and the companion ids agree with Baileys', () => {
  for (const k of Object.keys(B.Browsers)) assert.deepEqual(cjs.Browsers[k]('Chrome'), B.Browsers[k]('Chrome'), k)
  for (const b of ['chrome', 'Firefox', 'safari', 'edge', 'opera', 'desktop', 'ipad', 'nope', 'UWP']) {
    assert.equal(cjs.getPlatformId(b), B.getPlatformId(b), b)
  }
  for (const b of [['Mac OS', 'Chrome'], ['Windows', 'Desktop'], ['Ubuntu', 'Desktop'], ['x', 'Safari'], ['x', 'Brave']]) {
    assert.equal(cjs.getCompanionWebClientType(b), B.getCompanionWebClientType(b))
    assert.equal(cjs.getCompanionPlatformId(b), B.getCompanionPlatformId(b))
    assert.equal(cjs.buildPairingQRData('r', 'n', 'i', 'a', b), B.buildPairingQRData('r', 'n', 'i', 'a', b))
  }
})

test('every runtime export of ours has a declaration in index.d.ts', () => {
  const dts = readFileSync(new URL('index.d.ts', root), 'utf8')
  const declared = new Set()
  for (const m of dts.matchAll(/export\s+(?:declare\s+)?(?:const|function|class|let|var|enum|namespace|abstract class)\s+([A-Za-z0-9_$]+)/g)) declared.add(m[1])
  for (const m of dts.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of m[1].split(',')) {
      const name = part.trim().split(/\s+as\s+/).pop()
      if (name) declared.add(name)
    }
  }
  const undeclared = Object.keys(cjs).filter((n) => n !== 'default' && !declared.has(n))
  assert.deepEqual(undeclared, [], 'runtime exports without typings')
})

test('fetchLatest*Version never throw: offline they give the bundled version, isLatest false and the error', async () => {
  const offline = async () => {
    throw new TypeError('fetch failed')
  }
  const realFetch = globalThis.fetch
  globalThis.fetch = offline
  try {
    for (const f of ['fetchLatestBaileysVersion', 'fetchLatestWaWebVersion']) {
      const ours = await cjs[f]()
      const theirs = await B[f]()
      assert.deepEqual(ours.version, theirs.version, f)
      assert.equal(ours.isLatest, false)
      assert.equal(theirs.isLatest, false)
      assert.match(String(ours.error?.message), /fetch failed/)
    }
  } finally {
    globalThis.fetch = realFetch
  }
})

test('Boom errors are real @hapi/boom errors', async () => {
  const { Boom } = require('@hapi/boom')
  const { cancel, delay } = cjs.delayCancellable(10_000)
  cancel()
  await assert.rejects(delay, (err) => err instanceof Boom && err.output.statusCode === 500 && err.message === 'Cancelled')
  await assert.rejects(cjs.promiseTimeout(5, () => {}), (err) => err instanceof Boom && err.output.statusCode === 408)
  assert.throws(() => cjs.assertMeId({}), (err) => err instanceof Boom && err.output.statusCode === 401)
})

test('Baileys-style uses of the utilities and proto type-check against index.d.ts', async () => {
  const { spawnSync } = await import('node:child_process')
  const { dirname, join } = await import('node:path')
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', new URL('fixtures/typings-surface', import.meta.url).pathname], { encoding: 'utf8' })
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`)
})

test('the proto typings really check: a number is not a conversation', async () => {
  const { spawnSync } = await import('node:child_process')
  const { mkdtempSync, writeFileSync, rmSync, readFileSync: read } = await import('node:fs')
  const { dirname, join } = await import('node:path')
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc')
  const base = new URL('fixtures/typings-surface/', import.meta.url).pathname
  const dir = mkdtempSync(join(base, '.neg-'))
  try {
    writeFileSync(join(dir, 'surface.mts'), "import { proto } from 'baileys-native'\nconst m: proto.IMessage = { conversation: 5 }\nconsole.log(m)\n")
    writeFileSync(join(dir, 'tsconfig.json'), read(join(base, 'tsconfig.json'), 'utf8').replace('../../../node_modules', '../../../../node_modules'))
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
    assert.notEqual(r.status, 0)
    assert.match(r.stdout + r.stderr, /TS2322/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('lib/facts.js is what scripts/gen-facts.mjs makes', async () => {
  const { spawnSync } = await import('node:child_process')
  const r = spawnSync(process.execPath, [new URL('../scripts/gen-facts.mjs', import.meta.url).pathname, '--check'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
})
