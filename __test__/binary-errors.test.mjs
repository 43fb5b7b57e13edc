// Bad input to the codec: each case is an Error with a stable code and a message, never a
// crash or a hang (decodeBinaryNode rejects, encodeBinaryNode throws).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { deflateSync } from 'node:zlib'
import * as B from '@whiskeysockets/baileys'
import * as ours from '../index.mjs'
import { rng } from './fixtures/binary-corpus.mjs'

const LIST_8 = 248
const LIST_16 = 249
const JID_PAIR = 250
const BINARY_20 = 253
const BINARY_32 = 254
const NIBBLE_8 = 255

async function rejects(frame, code, what) {
  await assert.rejects(ours.decodeBinaryNode(Buffer.from(frame)), (err) => {
    assert.ok(err instanceof Error, what)
    assert.equal(err.code, code, `${what}: ${err.message}`)
    assert.ok(err.message.length > 0)
    assert.doesNotMatch(err.message, /^\[ERR_/)
    return true
  }, what)
  assert.throws(() => ours.decodeBinaryNodeSync(Buffer.from(frame)), { code }, what)
}

function throwsOnEncode(node, code, what) {
  assert.throws(() => ours.encodeBinaryNode(node), (err) => {
    assert.ok(err instanceof Error)
    assert.equal(err.code, code, `${what}: ${err.message}`)
    return true
  }, what)
}

test('truncated frames: ERR_WA_BINARY_EOF at every cut', async () => {
  const frame = B.encodeBinaryNode({ tag: 'message', attrs: { id: 'ABC', to: '123@s.whatsapp.net' }, content: [{ tag: 'enc', attrs: { v: '2' }, content: Buffer.alloc(300, 1) }] })
  for (let cut = 0; cut < frame.length; cut++) await rejects(frame.subarray(0, cut), 'ERR_WA_BINARY_EOF', `cut at ${cut}`)
})

test('length fields beyond the buffer: ERR_WA_BINARY_EOF, nothing allocated from them', async () => {
  await rejects([0, LIST_8, 2, 3, BINARY_32, 0xff, 0xff, 0xff, 0xff, 1, 2], 'ERR_WA_BINARY_EOF', 'BINARY_32 of 4 GiB')
  await rejects([0, LIST_8, 2, 3, BINARY_32, 0x80, 0, 0, 0], 'ERR_WA_BINARY_EOF', 'BINARY_32 of 2 GiB')
  await rejects([0, LIST_8, 2, 3, BINARY_20, 0x0f, 0xff, 0xff], 'ERR_WA_BINARY_EOF', 'BINARY_20 of 1 MiB')
  await rejects([0, LIST_8, 2, 3, LIST_16, 0xff, 0xff], 'ERR_WA_BINARY_EOF', 'LIST_16 of 65535 children')
  await rejects([0, LIST_8, 0xff, 3], 'ERR_WA_BINARY_EOF', 'LIST_8 of 255 items')
  await rejects([0, LIST_8, 1, NIBBLE_8, 0x7f, 0x12], 'ERR_WA_BINARY_EOF', 'packed string of 127 bytes')
})

test('unknown tags and token bytes: ERR_WA_BINARY_INVALID_TOKEN / ERR_WA_BINARY_INVALID_TAG', async () => {
  for (const b of [240, 241, 242, 243, 244]) await rejects([0, LIST_8, 1, b], 'ERR_WA_BINARY_INVALID_TOKEN', `token byte ${b}`)
  await rejects([0, LIST_8, 3, 3, 240, 3], 'ERR_WA_BINARY_INVALID_TOKEN', 'unassigned token as attribute key')
  await rejects([0, LIST_8, 1, LIST_8], 'ERR_WA_BINARY_INVALID_TAG', 'list tag as tag')
  await rejects([0, 3, 1], 'ERR_WA_BINARY_INVALID_TAG', 'string where a list must start')
  await rejects([0, LIST_8, 1, NIBBLE_8, 1, 0xc0], 'ERR_WA_BINARY_INVALID_PACKED', 'nibble 12')
})

test('invalid nodes and JIDs: ERR_WA_BINARY_INVALID_NODE / ERR_WA_BINARY_INVALID_JID', async () => {
  await rejects([0, 0, 3], 'ERR_WA_BINARY_INVALID_NODE', 'list size 0')
  await rejects([0, LIST_8, 1, 252, 0], 'ERR_WA_BINARY_INVALID_NODE', 'empty tag')
  await rejects([0, LIST_8, 1, JID_PAIR, 3, 0], 'ERR_WA_BINARY_INVALID_JID', 'jid pair without server')
})

test('bad zlib and zip bombs: ERR_WA_BINARY_INFLATE / ERR_WA_BINARY_TOO_LARGE', async () => {
  const good = deflateSync(B.encodeBinaryNode({ tag: 'iq', attrs: { id: '1' } }).subarray(1))
  assert.equal((await ours.decodeBinaryNode(Buffer.concat([Buffer.from([2]), good]))).tag, 'iq')
  await rejects([2], 'ERR_WA_BINARY_INFLATE', 'no zlib stream')
  await rejects([2, 1, 2, 3, 4, 5], 'ERR_WA_BINARY_INFLATE', 'not zlib')
  await rejects(Buffer.concat([Buffer.from([2]), good.subarray(0, good.length - 3)]), 'ERR_WA_BINARY_INFLATE', 'truncated zlib')
  const corrupt = Buffer.concat([Buffer.from([2]), good])
  corrupt[corrupt.length - 1] ^= 0xff
  await rejects(corrupt, 'ERR_WA_BINARY_INFLATE', 'bad checksum')
  // 64 MiB of zeros in ~64 KiB: refused at the 32 MiB cap.
  const bomb = Buffer.concat([Buffer.from([2]), deflateSync(Buffer.alloc(64 << 20))])
  await rejects(bomb, 'ERR_WA_BINARY_TOO_LARGE', 'zip bomb')
})

test('deep nesting: ERR_WA_BINARY_TOO_DEEP both ways, no stack overflow', async () => {
  const deep = []
  for (let i = 0; i < 100_000; i++) deep.push(LIST_8, 2, 3, LIST_8, 1)
  await rejects([0, ...deep], 'ERR_WA_BINARY_TOO_DEEP', '100,000 nested lists')
  await rejects([0, LIST_8, 1, ...Array(10_000).fill(JID_PAIR)], 'ERR_WA_BINARY_TOO_DEEP', 'nested jids in user position')
  let node = { tag: 'leaf', attrs: {} }
  for (let i = 0; i < 100; i++) node = { tag: 'x', attrs: {}, content: [node] }
  throwsOnEncode(node, 'ERR_WA_BINARY_TOO_DEEP', '100 levels')
  const cyclic = { tag: 'a', attrs: {}, content: [] }
  cyclic.content.push(cyclic)
  throwsOnEncode(cyclic, 'ERR_WA_BINARY_TOO_DEEP', 'cycle')
})

test('bad nodes to encode: coded errors', async () => {
  throwsOnEncode({ attrs: {} }, 'ERR_WA_BINARY_INVALID_NODE', 'no tag')
  throwsOnEncode({ tag: '', attrs: {} }, 'ERR_WA_BINARY_INVALID_NODE', 'empty tag')
  throwsOnEncode({ tag: 5, attrs: {} }, 'ERR_WA_BINARY_INVALID_NODE', 'number tag')
  throwsOnEncode(null, 'ERR_WA_BINARY_INVALID_NODE', 'null node')
  throwsOnEncode({ tag: 'iq', attrs: { id: 5 } }, 'ERR_WA_BINARY_INVALID_ATTR', 'number attribute')
  throwsOnEncode({ tag: 'iq', attrs: {}, content: 5 }, 'ERR_WA_BINARY_INVALID_CONTENT', 'number content')
  throwsOnEncode({ tag: 'iq', attrs: {}, content: null }, 'ERR_WA_BINARY_INVALID_CONTENT', 'null content')
  throwsOnEncode({ tag: 'iq', attrs: {}, content: ['text'] }, 'ERR_WA_BINARY_INVALID_NODE', 'string child')
  throwsOnEncode({ tag: 'iq', attrs: {}, content: Array.from({ length: 70_000 }, () => ({ tag: 'a', attrs: {} })) }, 'ERR_WA_BINARY_TOO_LARGE', '70,000 children')
  await assert.rejects(ours.decodeBinaryNode('not a buffer'), { code: 'ERR_WA_BINARY_INVALID_INPUT' })
  // Undefined and null attributes are skipped, as in Baileys.
  assert.ok(ours.encodeBinaryNode({ tag: 'iq', attrs: { a: undefined, b: null, c: 'x' } }).equals(B.encodeBinaryNode({ tag: 'iq', attrs: { a: undefined, b: null, c: 'x' } })))
})

test('20,000 random and mutated frames: only coded errors, never a crash', async () => {
  const r = rng(42)
  const seed = B.encodeBinaryNode({ tag: 'message', attrs: { id: 'X1', from: '1:2@lid', t: '1700000000' }, content: [{ tag: 'enc', attrs: { v: '2', type: 'msg' }, content: Buffer.alloc(40, 9) }] })
  const codes = new Map()
  for (let i = 0; i < 20_000; i++) {
    let frame
    if (i % 2) {
      frame = Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)))
    } else {
      frame = Buffer.from(seed)
      for (let e = 0; e < 3; e++) frame[Math.floor(r() * frame.length)] = Math.floor(r() * 256)
    }
    try {
      ours.decodeBinaryNodeSync(frame)
      codes.set('ok', (codes.get('ok') || 0) + 1)
    } catch (err) {
      assert.match(err.code, /^ERR_WA_BINARY_[A-Z_]+$/, err.message)
      codes.set(err.code, (codes.get(err.code) || 0) + 1)
    }
  }
  assert.ok(codes.size >= 5, JSON.stringify([...codes]))
})
