// Binary node codec: baileys-native vs Baileys 7 on the same realistic corpus, same run.
// Ours includes the JS<->Rust crossing and building Baileys-shaped node objects. Prints ns per
// node (nodes = every node in the corpus, children included) and the ratio (Baileys / ours, so
// > 1 means we are faster). Also times the alternative crossing (Rust building the JS objects
// through napi one property at a time), which is why the compact form was chosen.
// Pure-Rust numbers: `cargo bench -p wa-binary` (its first lines print ns per node).
import { createRequire } from 'node:module'
import { deflateSync } from 'node:zlib'
import * as baileys from '@whiskeysockets/baileys'
import * as constants from '@whiskeysockets/baileys/lib/WABinary/constants.js'
import { corpus, COMPRESSED, countNodes } from '../__test__/fixtures/binary-corpus.mjs'

const require = createRequire(import.meta.url)
const ours = require('../index.js')
const native = require('../native.js')

const nodes = Object.entries(corpus())
const total = nodes.reduce((n, [, node]) => n + countNodes(node), 0)
const frames = nodes.map(([, node]) => baileys.encodeBinaryNode(node))
const asSent = nodes.map(([name], i) =>
  COMPRESSED.includes(name) ? Buffer.concat([Buffer.from([2]), deflateSync(frames[i].subarray(1))]) : frames[i])
const groupNode = nodes.find(([n]) => n === 'iq-group-metadata-500')[1]
const groupFrame = baileys.encodeBinaryNode(groupNode)
const groupNodes = countNodes(groupNode)
const smallNode = nodes.find(([n]) => n === 'message-in')[1]
const smallFrame = baileys.encodeBinaryNode(smallNode)
const smallNodes = countNodes(smallNode)

// Baileys' synchronous decoder (decodeBinaryNode is async and defers the work to a microtask).
const baileysDecodeSync = (frame) => baileys.decodeDecompressedBinaryNode(frame.subarray(1), constants)

function time(fn, nodeCount, budgetMs = 600) {
  for (let i = 0; i < 50; i++) fn() // warm up
  let rounds = 0
  const start = process.hrtime.bigint()
  let elapsed = 0n
  while (elapsed < BigInt(budgetMs) * 1_000_000n) {
    for (let i = 0; i < 10; i++) fn()
    rounds += 10
    elapsed = process.hrtime.bigint() - start
  }
  return Number(elapsed) / rounds / nodeCount
}

async function timeAsync(fn, nodeCount, budgetMs = 600) {
  for (let i = 0; i < 50; i++) await fn()
  let rounds = 0
  const start = process.hrtime.bigint()
  let elapsed = 0n
  while (elapsed < BigInt(budgetMs) * 1_000_000n) {
    for (let i = 0; i < 10; i++) await fn()
    rounds += 10
    elapsed = process.hrtime.bigint() - start
  }
  return Number(elapsed) / rounds / nodeCount
}

const rows = []
function row(what, theirs, mine) {
  rows.push({ what, 'Baileys ns/node': theirs.toFixed(0), 'ours ns/node': mine.toFixed(0), ratio: `${(theirs / mine).toFixed(2)}x` })
}

row('decode corpus (sync)', time(() => frames.forEach(baileysDecodeSync), total), time(() => frames.forEach(ours.decodeBinaryNodeSync), total))
row('decode corpus as sent (async, 2 compressed)',
  await timeAsync(async () => { for (const f of asSent) await baileys.decodeBinaryNode(f) }, total),
  await timeAsync(async () => { for (const f of asSent) await ours.decodeBinaryNode(f) }, total))
row('encode corpus', time(() => nodes.forEach(([, n]) => baileys.encodeBinaryNode(n)), total), time(() => nodes.forEach(([, n]) => ours.encodeBinaryNode(n)), total))
row('decode group metadata (501 nodes)', time(() => baileysDecodeSync(groupFrame), groupNodes), time(() => ours.decodeBinaryNodeSync(groupFrame), groupNodes))
row('encode group metadata (501 nodes)', time(() => baileys.encodeBinaryNode(groupNode), groupNodes), time(() => ours.encodeBinaryNode(groupNode), groupNodes))
row('decode one message (2 nodes)', time(() => baileysDecodeSync(smallFrame), smallNodes), time(() => ours.decodeBinaryNodeSync(smallFrame), smallNodes))
row('encode one message (2 nodes)', time(() => baileys.encodeBinaryNode(smallNode), smallNodes), time(() => ours.encodeBinaryNode(smallNode), smallNodes))

console.log(`corpus: ${nodes.length} stanzas, ${total} nodes; ratio = Baileys time / ours (> 1: ours is faster)`)
console.table(rows)

// The crossing alternatives, same corpus: compact tape + JS-built objects (what we ship) vs Rust
// building every JS object through napi calls.
const compact = time(() => frames.forEach(ours.decodeBinaryNodeSync), total)
const direct = time(() => frames.forEach(native.decodeBinaryFrameObjects), total)
console.log(`decode crossing: compact tape ${compact.toFixed(0)} ns/node, napi objects ${direct.toFixed(0)} ns/node (${(direct / compact).toFixed(2)}x slower)`)

// JID helpers stay in JS: compare with one trivial native call.
const jids = nodes.flatMap(([, n]) => Object.values(n.attrs)).filter((v) => v.includes('@'))
const jidNs = time(() => jids.forEach(ours.jidDecode), jids.length)
const hs = Buffer.concat([Buffer.from([0x12, 34, 0x0a, 32]), Buffer.alloc(32, 7)])
const callNs = time(() => native.describeHandshakeMessage(hs), 1)
console.log(`jidDecode in JS: ${jidNs.toFixed(0)} ns per JID; one trivial native call: ${callNs.toFixed(0)} ns`)
