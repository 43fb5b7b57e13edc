// The package's two entry points and its error convention.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as esm from '../index.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../index.js')

test('ESM and CommonJS entries export the same names', () => {
  const esmNames = Object.keys(esm).filter((n) => n !== 'default').sort()
  const cjsNames = Object.keys(cjs).filter((n) => n !== 'default').sort()
  assert.deepEqual(esmNames, cjsNames)
  assert.ok(cjsNames.length > 0)
  for (const n of cjsNames) assert.equal(esm[n], cjs[n], n)
})

test('native errors carry a stable code', () => {
  assert.throws(() => cjs.describeHandshakeMessage(Buffer.from([0x12, 0xff])), (err) => {
    assert.equal(err.code, 'ERR_WA_PROTO_DECODE')
    assert.match(err.message, /HandshakeMessage/)
    return true
  })
})

test('no layer module silently overrides another one\'s export', async () => {
  const { readFileSync } = await import('node:fs')
  const src = readFileSync(new URL('../index.js', import.meta.url), 'utf8')
  const mods = [...src.matchAll(/\.\.\.require\('(\.\/lib\/[^']+)'\)/g)].map((m) => m[1])
  assert.ok(mods.length >= 5, 'index.js spreads the layer modules')
  const owner = new Map()
  for (const m of mods) {
    for (const name of Object.keys(require(`../${m.slice(2)}`))) {
      assert.ok(!owner.has(name), `${name} is exported by both ${owner.get(name)} and ${m}`)
      owner.set(name, m)
    }
  }
})
