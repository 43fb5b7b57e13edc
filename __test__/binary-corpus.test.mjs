// The realistic stanza corpus against the real Baileys 7: byte-identical encoding, identical
// decoding (plain and compressed frames), and the committed Rust corpus files are current.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { inflateSync } from 'node:zlib'
import { createRequire } from 'node:module'
import * as B from '@whiskeysockets/baileys'
import * as ours from '../index.mjs'
import { corpus, countNodes, rng } from './fixtures/binary-corpus.mjs'
import { corpusFrames } from '../scripts/gen-binary-corpus.mjs'

const stanzas = corpus()
const dir = new URL('../crates/wa-binary/tests/corpus/', import.meta.url)

test('every corpus stanza encodes to Baileys\' bytes and decodes as Baileys decodes it', async () => {
  let nodes = 0
  for (const [name, node] of Object.entries(stanzas)) {
    const theirs = B.encodeBinaryNode(node)
    const mine = ours.encodeBinaryNode(node)
    assert.ok(mine.equals(theirs), name)
    assert.deepStrictEqual(await ours.decodeBinaryNode(theirs), await B.decodeBinaryNode(theirs), name)
    assert.deepStrictEqual(await B.decodeBinaryNode(mine), await ours.decodeBinaryNode(mine), name)
    nodes += countNodes(node)
  }
  assert.ok(Object.keys(stanzas).length >= 15 && nodes > 700, `${nodes} nodes`)
})

test('compressed frames (flag bit 2) decode as Baileys decodes them', async () => {
  const frames = corpusFrames()
  let compressed = 0
  for (const [name, frame] of Object.entries(frames)) {
    if (frame[0] & 2) compressed++
    assert.deepStrictEqual(await ours.decodeBinaryNode(frame), await B.decodeBinaryNode(frame), name)
  }
  assert.ok(compressed >= 2)
})

test('the Rust corpus files are what Baileys writes for the corpus today', () => {
  const frames = corpusFrames()
  const files = readdirSync(dir).filter((f) => f.endsWith('.bin')).sort()
  assert.deepEqual(files, Object.keys(frames).map((n) => `${n}.bin`).sort())
  for (const [name, frame] of Object.entries(frames)) {
    const file = readFileSync(new URL(`${name}.bin`, dir))
    assert.equal(file[0], frame[0], name)
    // Compare compressed frames by content: zlib's bytes may differ between zlib versions.
    const body = (f) => (f[0] & 2 ? inflateSync(f.subarray(1)) : f.subarray(1))
    assert.ok(body(file).equals(body(frame)), `${name}.bin is stale: run node scripts/gen-binary-corpus.mjs`)
  }
})

test('group metadata with 500 participants reads through the helpers as in Baileys', async () => {
  const frame = B.encodeBinaryNode(stanzas['iq-group-metadata-500'])
  const mine = await ours.decodeBinaryNode(frame)
  const theirs = await B.decodeBinaryNode(frame)
  const group = ours.getBinaryNodeChild(mine, 'group')
  assert.deepStrictEqual(group, B.getBinaryNodeChild(theirs, 'group'))
  const participants = ours.getBinaryNodeChildren(group, 'participant')
  assert.equal(participants.length, 500)
  assert.deepStrictEqual(participants, B.getBinaryNodeChildren(B.getBinaryNodeChild(theirs, 'group'), 'participant'))
  assert.ok(participants.every((p) => ours.isLidUser(p.attrs.jid) && ours.isPnUser(p.attrs.phone_number)))
  assert.equal(participants.filter((p) => p.attrs.type).length, 3)
  assert.equal(group.attrs.subject, 'Família & amigos 🎉')
  assert.equal(ours.getBinaryNodeChildString(ours.getBinaryNodeChild(group, 'description'), 'body'),
    B.getBinaryNodeChildString(B.getBinaryNodeChild(B.getBinaryNodeChild(theirs, 'group'), 'description'), 'body'))
  assert.equal(ours.binaryNodeToString(mine), B.binaryNodeToString(theirs))
})

test('message with enc children: content types are Baileys\' (Buffer bytes, node arrays)', async () => {
  const frame = B.encodeBinaryNode(stanzas['message-out-fanout'])
  const msg = await ours.decodeBinaryNode(frame)
  const tos = ours.getBinaryNodeChildren(ours.getBinaryNodeChild(msg, 'participants'), 'to')
  assert.equal(tos.length, 4)
  for (const to of tos) {
    const enc = ours.getBinaryNodeChild(to, 'enc')
    assert.ok(Buffer.isBuffer(enc.content))
    assert.equal(enc.attrs.v, '2')
    assert.ok(Array.isArray(to.content))
  }
  assert.equal(ours.getBinaryNodeChildBuffer(msg, 'device-identity').length, 140)
  assert.equal(msg.attrs.phash, stanzas['message-out-fanout'].attrs.phash)
})

test('frames larger than the initial tape (5,000 children) decode as in Baileys, repeatedly', async () => {
  const big = { tag: 'iq', attrs: { id: 'x' }, content: Array.from({ length: 5000 }, (_, i) => ({ tag: 'item', attrs: { id: String(i), jid: `${i}:1@lid` } })) }
  const frame = B.encodeBinaryNode(big)
  assert.ok(ours.encodeBinaryNode(big).equals(frame))
  for (let i = 0; i < 3; i++) assert.deepStrictEqual(await ours.decodeBinaryNode(frame), await B.decodeBinaryNode(frame))
  // A small frame after the big one still decodes (the tape was grown, then reused).
  const small = B.encodeBinaryNode({ tag: 'ack', attrs: { id: '1' } })
  assert.deepStrictEqual(await ours.decodeBinaryNode(small), await B.decodeBinaryNode(small))
})

test('large compressed frames inflate off the event loop and decode as in Baileys', async () => {
  const { deflateSync } = await import('node:zlib')
  const noise = Buffer.alloc(300_000)
  const r = rng(3)
  for (let i = 0; i < noise.length; i++) noise[i] = r() * 256
  const node = { tag: 'iq', attrs: { id: '1', type: 'result' }, content: [{ tag: 'blob', attrs: {}, content: noise }, { tag: 'x', attrs: { jid: '1:2@lid' } }] }
  const frame = Buffer.concat([Buffer.from([2]), deflateSync(B.encodeBinaryNode(node).subarray(1))])
  assert.ok(frame.length > 64 * 1024, `${frame.length} bytes compressed`)
  // Count calls into the thread-pool inflate to show this path is the one taken.
  const native = createRequire(import.meta.url)('../native.js')
  const offThread = native.inflateBinaryPayloadAsync
  let calls = 0
  native.inflateBinaryPayloadAsync = (...args) => { calls++; return offThread(...args) }
  try {
    assert.deepStrictEqual(await ours.decodeBinaryNode(frame), await B.decodeBinaryNode(frame))
    await ours.decodeBinaryNode(B.encodeBinaryNode(node)) // uncompressed: stays on the loop
  } finally {
    native.inflateBinaryPayloadAsync = offThread
  }
  assert.equal(calls, 1)
  assert.deepStrictEqual(ours.decodeBinaryNodeSync(frame), await B.decodeBinaryNode(frame))
  const corrupt = Buffer.from(frame)
  corrupt[corrupt.length >> 1] ^= 0xff
  await assert.rejects(ours.decodeBinaryNode(corrupt), (err) => err instanceof Error && err.code === 'ERR_WA_BINARY_INFLATE' && !/^\[/.test(err.message))
  const bomb = Buffer.concat([Buffer.from([2]), deflateSync(Buffer.alloc(200 << 20))])
  assert.ok(bomb.length > 64 * 1024)
  await assert.rejects(ours.decodeBinaryNode(bomb), { code: 'ERR_WA_BINARY_TOO_LARGE' })
})
