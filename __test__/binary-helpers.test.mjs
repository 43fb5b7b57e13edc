// Node helpers (Baileys' generic-utils) against Baileys' own on the same nodes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as B from '@whiskeysockets/baileys'
import * as ours from '../index.mjs'
import { corpus } from './fixtures/binary-corpus.mjs'

const iq = {
  tag: 'iq',
  attrs: { id: '1', type: 'result' },
  content: [
    { tag: 'props', attrs: { protocol: '1', hash: 'abc' } },
    { tag: 'prop', attrs: { name: 'a', value: '1' } },
    { tag: 'prop', attrs: { config_code: '77', config_value: 'x' } },
    { tag: 'prop', attrs: { name: 'b', config_value: 'y' } },
    { tag: 'count', attrs: {}, content: Buffer.from([0, 0, 1, 2]) },
    { tag: 'text', attrs: {}, content: 'hello' },
    { tag: 'bytes', attrs: {}, content: new Uint8Array([104, 105]) },
    { tag: 'empty', attrs: {}, content: [] },
    { tag: 'blank', attrs: {}, content: '' },
    { tag: 'nothing', attrs: {}, content: Buffer.alloc(0) },
  ],
}

test('child lookups match Baileys', () => {
  const nodes = [iq, ...Object.values(corpus()), { tag: 'x', attrs: {} }, { tag: 'x', attrs: {}, content: 'str' }]
  for (const node of nodes) {
    const tags = new Set(['missing', ...(Array.isArray(node.content) ? node.content.map((c) => c.tag) : [])])
    for (const tag of tags) {
      assert.deepStrictEqual(ours.getBinaryNodeChildren(node, tag), B.getBinaryNodeChildren(node, tag), tag)
      assert.deepStrictEqual(ours.getBinaryNodeChild(node, tag), B.getBinaryNodeChild(node, tag), tag)
      assert.deepStrictEqual(ours.getBinaryNodeChildBuffer(node, tag), B.getBinaryNodeChildBuffer(node, tag), tag)
      assert.deepStrictEqual(ours.getBinaryNodeChildString(node, tag), B.getBinaryNodeChildString(node, tag), tag)
      for (const len of [1, 2, 4, 6]) assert.deepStrictEqual(ours.getBinaryNodeChildUInt(node, tag, len), B.getBinaryNodeChildUInt(node, tag, len), `${tag} ${len}`)
    }
    assert.deepStrictEqual(ours.getAllBinaryNodeChildren(node), B.getAllBinaryNodeChildren(node))
  }
  assert.deepStrictEqual(ours.getBinaryNodeChildren(undefined, 'x'), B.getBinaryNodeChildren(undefined, 'x'))
  assert.equal(ours.getBinaryNodeChildUInt(iq, 'count', 4), 258)
})

test('reduceBinaryNodeToDictionary matches Baileys', () => {
  assert.deepStrictEqual(ours.reduceBinaryNodeToDictionary(iq, 'prop'), B.reduceBinaryNodeToDictionary(iq, 'prop'))
  assert.deepStrictEqual(ours.reduceBinaryNodeToDictionary(iq, 'prop'), { a: '1', 77: 'x', b: 'y' })
})

test('binaryNodeToString prints what Baileys prints', async () => {
  for (const node of [iq, ...Object.values(corpus()), { tag: 'a', attrs: { x: undefined, y: 'z' } }]) {
    assert.equal(ours.binaryNodeToString(node), B.binaryNodeToString(node))
  }
  for (const v of [undefined, '', 'text', Buffer.from('hi'), []]) assert.equal(ours.binaryNodeToString(v), B.binaryNodeToString(v))
  assert.equal(ours.binaryNodeToString(iq, 2), B.binaryNodeToString(iq, 2))
})

test('assertNodeErrorFree throws a Boom-shaped error like Baileys', () => {
  assert.doesNotThrow(() => ours.assertNodeErrorFree(iq))
  for (const error of [{ code: '401', text: 'not-authorized' }, { code: '503' }, {}]) {
    const node = { tag: 'iq', attrs: { type: 'error' }, content: [{ tag: 'error', attrs: error }] }
    let theirs, mine
    try { B.assertNodeErrorFree(node) } catch (e) { theirs = e }
    try { ours.assertNodeErrorFree(node) } catch (e) { mine = e }
    assert.ok(mine instanceof Error && theirs instanceof Error)
    assert.equal(mine.message, theirs.message)
    assert.deepStrictEqual(mine.data, theirs.data)
    assert.equal(mine.isBoom, true)
    assert.equal(mine.isServer, theirs.isServer)
    assert.deepStrictEqual(mine.output, theirs.output)
  }
})
