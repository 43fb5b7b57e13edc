// Errors JavaScript can switch on: every error raised by the addon is a JS Error whose `code`
// property (set when the binding creates it, never parsed from the message) is one of the
// stable codes, and the typings' `ErrorCode` union is exactly the set of codes in the sources.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { collectCodes, renderTypings, TYPINGS } from '../scripts/error-codes.mjs'
import * as ours from '../index.mjs'

const codes = new Set(collectCodes())

function coded(err, code) {
  assert.ok(err instanceof Error, 'an Error')
  assert.equal(err.code, code)
  assert.ok(codes.has(err.code), `${err.code} is in the ErrorCode union`)
  assert.doesNotMatch(err.message, /^\[ERR_/, 'the message carries no code prefix')
  return true
}

test('the typings list every code of the sources, and only those', () => {
  assert.equal(readFileSync(TYPINGS, 'utf8'), renderTypings([...codes]), 'run node scripts/build.mjs')
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8')
  for (const c of codes) assert.ok(dts.includes(`'${c}'`), c)
  assert.ok(codes.size > 100)
  for (const c of codes) assert.match(c, /^ERR_WA_[A-Z0-9_]+$/)
})

test('synchronous errors of every layer carry their code as a property', () => {
  assert.throws(() => ours.decodeBinaryNodeSync(Buffer.from([0, 0xf8])), (e) => coded(e, e.code) && e.code.startsWith('ERR_WA_BINARY_'))
  assert.throws(() => ours.Curve.sign(Buffer.alloc(3), Buffer.from('x')), (e) => coded(e, 'ERR_WA_CRYPTO_KEY_LENGTH'))
  assert.throws(() => ours.jidDecode && ours.makeLibSignalRepository({ creds: {}, keys: {} }), (e) => coded(e, 'ERR_WA_SIGNAL_ARGUMENT'))
  assert.throws(() => ours.makeWASocket({}), (e) => coded(e, 'ERR_WA_CLIENT_ARGUMENT'))
  assert.throws(() => ours.makeLibSignalRepository({ creds: ours.initAuthCreds(), keys: { get() {}, set() {} } }).jidToSignalProtocolAddress('@nobody'), (e) => {
    coded(e, 'ERR_WA_SIGNAL_ADDRESS')
    assert.equal(e.address, '@nobody')
    return true
  })
})

test('asynchronous rejections carry their code (and extra properties) too', async () => {
  const engine = new ours.MemoryEngine()
  await assert.rejects(engine.get('../escape'), (e) => coded(e, e.code) && e.code.startsWith('ERR_WA_STORE_'))
  const repo = ours.makeLibSignalRepository({ creds: ours.initAuthCreds(), keys: { get: async () => ({}), set: async () => {} } })
  await assert.rejects(repo.encryptMessage({ jid: '15550001@s.whatsapp.net', data: Buffer.from('x') }), (e) => {
    coded(e, 'ERR_WA_SIGNAL_NO_SESSION')
    assert.equal(e.address, '15550001.0')
    return true
  })
  await assert.rejects(ours.derivePairingCodeKey('ABCD1234', Buffer.alloc(32)).then(() => ours.decryptMedia(Buffer.alloc(5), Buffer.alloc(32), 'image')), (e) => coded(e, e.code) && e.code.startsWith('ERR_WA_CRYPTO_'))
})
