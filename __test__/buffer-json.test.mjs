// The walk that turns the native side's {"type":"Buffer","data":"<base64>"} values into Buffers
// (lib/buffer-json.js, used for every event batch and send result that carries bytes, and a store's values) gives what
// `JSON.parse(text, BufferJSON.reviver)` gives with the real Baileys 7's BufferJSON.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { BufferJSON } from '@whiskeysockets/baileys'

const require = createRequire(import.meta.url)
const { reviveBuffers } = require('../lib/buffer-json.js')

const b64 = (s) => Buffer.from(s).toString('base64')
const cases = {
  'a sent WAMessage': JSON.stringify({
    key: { remoteJid: '15550001@s.whatsapp.net', fromMe: true, id: '3EB0AA' },
    message: {
      extendedTextMessage: { text: 'hi' },
      messageContextInfo: { messageSecret: { type: 'Buffer', data: b64('0123456789abcdef0123456789abcdef') } },
    },
    messageTimestamp: 1733356800,
    status: 1,
  }),
  'an event batch with bytes in arrays and nested objects': JSON.stringify({
    events: [
      { name: 'messages.upsert', data: { messages: [{ message: { imageMessage: { mediaKey: { type: 'Buffer', data: b64('k') }, fileSha256: { type: 'Buffer', data: '' } } } }], type: 'notify' } },
      { name: 'creds.update', data: { noiseKey: { private: { type: 'Buffer', data: b64('p') }, public: { type: 'Buffer', data: b64('q') } } } },
    ],
    ack: 7,
  }),
  'objects with numeric keys (BufferJSON reads them as bytes)': JSON.stringify({ a: { 0: 1, 1: 2, 2: 255 }, b: { 0: 1, x: 2 }, c: { 0: 'x' }, d: {}, e: [] }),
  'type "Buffer" without string data stays an object': JSON.stringify({ a: { type: 'Buffer', data: [1, 2] }, b: { type: 'Buffer' }, c: { type: 'Other', data: 'AA==' } }),
  'a "__proto__" key stays data': '{"__proto__":{"type":"Buffer","data":"AQI="},"x":{"__proto__":{"polluted":true}}}',
  'primitives and null': JSON.stringify([null, 1, 'Buffer', true, { v: null }]),
}

for (const [name, text] of Object.entries(cases)) {
  test(`reviveBuffers = JSON.parse with Baileys' BufferJSON.reviver: ${name}`, () => {
    const ours = reviveBuffers(JSON.parse(text))
    const baileys = JSON.parse(text, BufferJSON.reviver)
    assert.deepStrictEqual(ours, baileys)
    // deepStrictEqual compares prototypes too; spell out that bytes came out as Buffers.
    assert.equal(JSON.stringify(ours), JSON.stringify(baileys))
  })
}

test('reviveBuffers never sets a prototype from the data', () => {
  const out = reviveBuffers(JSON.parse('{"x":{"__proto__":{"polluted":true}}}'))
  assert.equal(Object.getPrototypeOf(out.x), Object.prototype)
  assert.equal({}.polluted, undefined)
  assert.deepEqual(Object.keys(out.x), ['__proto__'])
})
