// Interop with the real Baileys 7.0.0-rc14 codec: a seeded property test over random nodes that
// cover every token kind, asserting both ways that our bytes are Baileys' bytes and that each
// side decodes the other's bytes to the same node. Plus a differential test on mutated frames.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { deflateSync } from 'node:zlib'
import * as B from '@whiskeysockets/baileys'
import { SINGLE_BYTE_TOKENS, DOUBLE_BYTE_TOKENS } from '@whiskeysockets/baileys/lib/WABinary/constants.js'
import * as ours from '../index.mjs'
import { rng } from './fixtures/binary-corpus.mjs'

const CASES = 10_000
const SINGLE = SINGLE_BYTE_TOKENS.slice(1)
const DOUBLE = DOUBLE_BYTE_TOKENS.flat()

function generator(seed) {
  const r = rng(seed)
  const int = (n) => Math.floor(r() * n)
  const pick = (a) => a[int(a.length)]
  const chars = (alphabet, n) => {
    let s = ''
    for (let i = 0; i < n; i++) s += alphabet[int(alphabet.length)]
    return s
  }
  const digits = (n) => chars('0123456789', n)
  const user = () => String(1 + int(9)) + digits(int(15))
  const seen = new Map()
  const mark = (kind) => seen.set(kind, (seen.get(kind) || 0) + 1)

  const UNICODE = ['a', 'z', 'Q', ' ', 'ç', 'ã', 'ß', '€', '中', '文', '😀', '🎉', '\n', '"', "'", '<', ':', '_', '-', '.', '0', '9', 'A', 'F']
  const CLEAN_JID_FORMS = 17 // the first 17 forms below Baileys carries intact
  const JID_FORMS = [
    () => ['jid-pn', `${user()}@s.whatsapp.net`],
    () => ['jid-ad-pn', `${user()}:${1 + int(99)}@s.whatsapp.net`],
    () => ['jid-lid', `${user()}@lid`],
    () => ['jid-ad-lid', `${user()}:${1 + int(255)}@lid`],
    () => ['jid-hosted', `${user()}:${int(100)}@hosted`],
    () => ['jid-hosted-lid', `${user()}:${int(100)}@hosted.lid`],
    () => ['jid-group', `120363${digits(12)}@g.us`],
    () => ['jid-broadcast', `${int(1e10)}@broadcast`],
    () => ['jid-status', 'status@broadcast'],
    () => ['jid-newsletter', `120363${digits(12)}@newsletter`],
    () => ['jid-call', `${chars('0123456789ABCDEF', 32)}@call`],
    () => ['jid-cus', `${user()}@c.us`],
    () => ['jid-bot', `${pick(['1313555', '131655500'])}${digits(4)}@bot`],
    () => ['jid-server', pick(['@s.whatsapp.net', '@g.us', '@lid', 's.whatsapp.net@c.us'])],
    () => ['jid-device0', `${user()}:0@${pick(['s.whatsapp.net', 'lid'])}`],
    () => ['jid-nested', `${pick(['a', 'status', user()])}@${user()}@${pick(['lid', 'g.us', 'x'])}`],
    () => ['jid-chain', `${'a@'.repeat(17 + int(30))}b`],
    // Forms Baileys' encoder garbles; ours writes them intact (FB_JID, INTEROP_JID or raw).
    () => ['jid-fb', `${user()}:${int(65536)}@msgr`],
    () => ['jid-interop', `${int(65536)}-${user()}:${int(65536)}@interop`],
    () => ['jid-agent', `${user()}_${1 + int(200)}:${1 + int(9)}@s.whatsapp.net`],
    () => ['jid-big-device', `${user()}:${256 + int(1000)}@s.whatsapp.net`],
    () => ['jid-device-other-server', `${user()}:${1 + int(9)}@g.us`],
  ]

  // `dirty` adds the strings Baileys' encoder garbles (see crates/wa-binary/src/encode.rs);
  // a node is generated clean or dirty as a whole, so most cases test byte identity.
  function string(dirty) {
    const k = int(dirty ? 100 : 84)
    let kind, s
    if (k < 14) [kind, s] = ['token-single', pick(SINGLE)]
    else if (k < 26) [kind, s] = ['token-double', pick(DOUBLE)]
    else if (k < 34) [kind, s] = ['nibble', chars('0123456789-.', 1 + int(127))]
    else if (k < 40) [kind, s] = ['hex', chars('0123456789ABCDEF', 1 + int(127))]
    else if (k < 42) [kind, s] = ['packable-too-long', chars('0123456789', 128 + int(30))]
    else if (k < 60) [kind, s] = pick(JID_FORMS.slice(0, dirty ? JID_FORMS.length : CLEAN_JID_FORMS))()
    else if (k < 76) [kind, s] = ['raw-8', chars(UNICODE, 1 + int(60))]
    else if (k < 79) [kind, s] = ['raw-20', chars(UNICODE, 256 + int(600))]
    else if (k < 81) [kind, s] = ['raw-empty', '']
    else if (k < 84) [kind, s] = ['lone-surrogate', `a${'\ud800'}b${'\udc00'}`]
    else if (k < 96) [kind, s] = ['shaped', chars('0123456789abcAF@:_.-', int(24))]
    else [kind, s] = ['prototype-name', pick(['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'])]
    mark(kind)
    return s
  }

  let bigBytes = 0
  function bytes() {
    const k = int(100)
    let n
    if (k < 90) [n] = [int(256)], mark('bytes-8')
    else if (k < 99 || bigBytes >= 3) [n] = [256 + int(k === 99 ? 70_000 : 3000)], mark('bytes-20')
    else [n] = [(1 << 20) + int(1000)], mark('bytes-32'), bigBytes++
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < Math.min(n, 64); i++) b[i] = int(256)
    b.fill(int(256), Math.min(n, 64))
    return b
  }

  function node(depth, dirty) {
    let tag = string(dirty)
    if (!tag) tag = pick(SINGLE)
    const attrs = {}
    for (let i = int(7); i > 0; i--) attrs[string(dirty)] = string(dirty)
    let content
    const k = int(100)
    if (k < 25) content = undefined
    else if (k < 45) content = bytes()
    else if (k < 60) content = string(dirty)
    else if (depth < 4) {
      const n = int(100) < 2 ? 256 + int(300) : int(6)
      mark(n === 0 ? 'list-empty' : n < 256 ? 'list-8' : 'list-16')
      content = Array.from({ length: n }, () => (n >= 256 ? { tag: pick(SINGLE), attrs: {} } : node(depth + 1, dirty)))
    } else content = bytes()
    return { tag, attrs, content }
  }
  return { node, seen, r }
}

// Equality of a decoded node with the node that was encoded: raw string content comes back as
// bytes (Baileys' model), `user:0@server` as `user@server`, lone surrogates as U+FFFD.
const norm = (s) => Buffer.from(s, 'utf-8').toString('utf-8').replace(/(^|@)([^@:_]*):0@(s\.whatsapp\.net|lid|hosted|hosted\.lid)$/, '$1$2@$3')
const sameString = (decoded, input) => decoded === input || decoded === norm(input)
function sameNode(decoded, input) {
  if (!sameString(decoded.tag, input.tag)) return false
  const keys = Object.keys(input.attrs)
  if (Object.keys(decoded.attrs).length !== keys.length) return false
  for (const k of keys) {
    const dk = Object.prototype.hasOwnProperty.call(decoded.attrs, k) ? k : norm(k)
    if (!sameString(decoded.attrs[dk], input.attrs[k])) return false
  }
  const a = decoded.content
  const b = input.content
  if (b === undefined) return a === undefined
  if (typeof b === 'string') return typeof a === 'string' ? sameString(a, b) : Buffer.isBuffer(a) && a.equals(Buffer.from(b))
  if (b instanceof Uint8Array) return Buffer.isBuffer(a) && a.equals(b)
  return Array.isArray(a) && a.length === b.length && a.every((c, i) => sameNode(c, b[i]))
}

async function settle(promise) {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    return { ok: false, error }
  }
}

test(`property: ${CASES} random nodes, byte-identical with Baileys and decoded alike both ways`, async () => {
  const g = generator(0xba11e75)
  let identical = 0
  let baileysGarbles = 0
  let compressed = 0
  for (let i = 0; i < CASES; i++) {
    const node = g.node(0, i % 5 === 4)
    const where = `case ${i} (regenerate it with the seed to inspect)`
    const mine = ours.encodeBinaryNode(node)
    const theirs = B.encodeBinaryNode(node)
    const theirsBack = await settle(B.decodeBinaryNode(theirs))
    const baileysIntact = theirsBack.ok && sameNode(theirsBack.value, node)

    if (baileysIntact) {
      assert.ok(mine.equals(theirs), `bytes differ from Baileys', ${where}`)
      identical++
    } else {
      baileysGarbles++
    }
    // Ours always carries the node intact, and Baileys reads our bytes as we do.
    const mineBack = ours.decodeBinaryNodeSync(mine)
    assert.ok(sameNode(mineBack, node), `our round trip, ${where}`)
    assert.deepStrictEqual(await B.decodeBinaryNode(mine), mineBack, `Baileys reads ours, ${where}`)
    // We read Baileys' bytes as Baileys does (including refusing what it refuses).
    const oursOfTheirs = await settle(ours.decodeBinaryNode(theirs))
    assert.equal(oursOfTheirs.ok, theirsBack.ok, `same verdict on Baileys' bytes, ${where}`)
    if (theirsBack.ok) assert.deepStrictEqual(oursOfTheirs.value, theirsBack.value, `we read Baileys' bytes, ${where}`)
    else assert.match(oursOfTheirs.error.code, /^ERR_WA_BINARY_/)

    if (i % 10 === 0) {
      const frame = Buffer.concat([Buffer.from([2]), deflateSync(theirs.subarray(1))])
      const a = await settle(ours.decodeBinaryNode(frame))
      const b = await settle(B.decodeBinaryNode(frame))
      assert.equal(a.ok, b.ok, `compressed verdict, ${where}`)
      if (a.ok) assert.deepStrictEqual(a.value, b.value, `compressed, ${where}`)
      compressed++
    }
  }
  // Every kind of string, length class and list size was exercised.
  const kinds = [
    'token-single', 'token-double', 'nibble', 'hex', 'packable-too-long', 'raw-8', 'raw-20', 'raw-empty', 'shaped',
    'lone-surrogate', 'prototype-name', 'bytes-8', 'bytes-20', 'bytes-32', 'list-empty', 'list-8', 'list-16',
    'jid-pn', 'jid-ad-pn', 'jid-lid', 'jid-ad-lid', 'jid-hosted', 'jid-hosted-lid', 'jid-group', 'jid-broadcast',
    'jid-status', 'jid-newsletter', 'jid-call', 'jid-cus', 'jid-bot', 'jid-server', 'jid-device0', 'jid-nested', 'jid-chain',
    'jid-fb', 'jid-interop', 'jid-agent', 'jid-big-device', 'jid-device-other-server',
  ]
  for (const k of kinds) assert.ok(g.seen.get(k) > 0, `generator produced ${k}`)
  assert.ok(identical > CASES * 0.5, `most cases are ones Baileys carries intact (${identical})`)
  assert.ok(baileysGarbles > 0, 'cases Baileys garbles were generated too')
  assert.ok(compressed >= CASES / 10)
  console.log(`# ${CASES} nodes: ${identical} byte-identical with Baileys, ${baileysGarbles} that Baileys garbles (ours intact), ${compressed} compressed frames; strings by kind: ${JSON.stringify(Object.fromEntries(g.seen))}`)
})

test('differential: mutated frames decode the same in both, or fail in both', async () => {
  const g = generator(0x5eed)
  const r = g.r
  let bothOk = 0
  let bothFail = 0
  const MUTANTS = 5000
  for (let i = 0; i < MUTANTS; i++) {
    const base = B.encodeBinaryNode(g.node(2, i % 5 === 4))
    const frame = Buffer.from(base.subarray(0, Math.min(base.length, 2000)))
    const edits = 1 + Math.floor(r() * 4)
    for (let e = 0; e < edits; e++) frame[1 + Math.floor(r() * (frame.length - 1))] = Math.floor(r() * 256)
    const a = await settle(ours.decodeBinaryNode(frame))
    const b = await settle(B.decodeBinaryNode(frame))
    if (a.ok && b.ok) {
      assert.deepStrictEqual(a.value, b.value, `mutant ${i}: ${frame.toString('hex').slice(0, 200)}`)
      bothOk++
    } else if (!a.ok && !b.ok) {
      assert.match(a.error.code, /^ERR_WA_BINARY_/)
      bothFail++
    } else {
      assert.fail(`mutant ${i}: ours ${a.ok ? 'ok' : a.error.code}, Baileys ${b.ok ? 'ok' : b.error.message}: ${frame.toString('hex').slice(0, 200)}`)
    }
  }
  assert.ok(bothOk > 100 && bothFail > 100, `${bothOk} decoded, ${bothFail} refused`)
  console.log(`# ${MUTANTS} mutated frames: ${bothOk} decoded identically, ${bothFail} refused by both`)
})

test('every dictionary token (235 single-byte, 4 x 256 double-byte) encodes and decodes as in Baileys', async () => {
  const tokens = [...SINGLE, ...DOUBLE]
  assert.equal(tokens.length, 235 + 1024)
  // Each token as an attribute value, and as a tag.
  const attrs = {}
  tokens.forEach((t, i) => { attrs[`k${i}`] = t })
  const node = { tag: 'x', attrs, content: tokens.map((t) => ({ tag: t, attrs: {} })) }
  const mine = ours.encodeBinaryNode(node)
  assert.ok(mine.equals(B.encodeBinaryNode(node)))
  const back = await ours.decodeBinaryNode(mine)
  assert.deepStrictEqual(back, await B.decodeBinaryNode(mine))
  tokens.forEach((t, i) => assert.equal(back.attrs[`k${i}`], t))
  assert.deepStrictEqual(back.content.map((c) => c.tag), tokens)
  // Every token is one or two bytes on the wire.
  for (const t of tokens) {
    const bytes = ours.encodeBinaryNode({ tag: t, attrs: {} })
    assert.equal(bytes.length, 3 + (DOUBLE.includes(t) ? 2 : 1), t)
  }
})
