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

// The machine may be shared: each figure is the median of several short samples, and the two
// sides of a comparison are sampled alternately so load changes hit both alike.
const SAMPLES = 7
const SAMPLE_MS = 120

function sample(fn, nodeCount) {
  let rounds = 0
  const start = process.hrtime.bigint()
  let elapsed = 0n
  while (elapsed < BigInt(SAMPLE_MS) * 1_000_000n) {
    for (let i = 0; i < 5; i++) fn()
    rounds += 5
    elapsed = process.hrtime.bigint() - start
  }
  return Number(elapsed) / rounds / nodeCount
}

async function sampleAsync(fn, nodeCount) {
  let rounds = 0
  const start = process.hrtime.bigint()
  let elapsed = 0n
  while (elapsed < BigInt(SAMPLE_MS) * 1_000_000n) {
    for (let i = 0; i < 5; i++) await fn()
    rounds += 5
    elapsed = process.hrtime.bigint() - start
  }
  return Number(elapsed) / rounds / nodeCount
}

const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1]

// Returns [median ns/node of a, median ns/node of b], sampled alternately.
async function compare(a, b, nodeCount, isAsync = false) {
  const run = isAsync ? sampleAsync : sample
  for (let i = 0; i < 30; i++) { await a(); await b() } // warm up
  const as = []
  const bs = []
  for (let i = 0; i < SAMPLES; i++) {
    as.push(await run(a, nodeCount))
    bs.push(await run(b, nodeCount))
  }
  return [median(as), median(bs)]
}

const rows = []
function row(what, theirs, mine) {
  rows.push({ what, 'Baileys ns/node': theirs.toFixed(0), 'ours ns/node': mine.toFixed(0), ratio: `${(theirs / mine).toFixed(2)}x` })
}

row('decode corpus (sync)', ...await compare(() => frames.forEach(baileysDecodeSync), () => frames.forEach(ours.decodeBinaryNodeSync), total))
row('decode corpus as sent (async, 2 compressed)', ...await compare(
  async () => { for (const f of asSent) await baileys.decodeBinaryNode(f) },
  async () => { for (const f of asSent) await ours.decodeBinaryNode(f) }, total, true))
row('encode corpus', ...await compare(() => nodes.forEach(([, n]) => baileys.encodeBinaryNode(n)), () => nodes.forEach(([, n]) => ours.encodeBinaryNode(n)), total))
row('decode group metadata (501 nodes)', ...await compare(() => baileysDecodeSync(groupFrame), () => ours.decodeBinaryNodeSync(groupFrame), groupNodes))
row('encode group metadata (501 nodes)', ...await compare(() => baileys.encodeBinaryNode(groupNode), () => ours.encodeBinaryNode(groupNode), groupNodes))
row('decode one message (2 nodes)', ...await compare(() => baileysDecodeSync(smallFrame), () => ours.decodeBinaryNodeSync(smallFrame), smallNodes))
row('encode one message (2 nodes)', ...await compare(() => baileys.encodeBinaryNode(smallNode), () => ours.encodeBinaryNode(smallNode), smallNodes))

console.log(`corpus: ${nodes.length} stanzas, ${total} nodes; ratio = Baileys time / ours (> 1: ours is faster)`)
console.table(rows)

// The crossing alternatives, same corpus: compact tape + JS-built objects (what we ship) vs Rust
// building every JS object through napi calls.
const [compact, direct] = await compare(() => frames.forEach(ours.decodeBinaryNodeSync), () => frames.forEach(native.decodeBinaryFrameObjects), total)
console.log(`decode crossing: compact tape ${compact.toFixed(0)} ns/node, napi objects ${direct.toFixed(0)} ns/node (${(direct / compact).toFixed(2)}x slower)`)

// JID helpers stay in JS: compare with one trivial native call.
const jids = nodes.flatMap(([, n]) => Object.values(n.attrs)).filter((v) => v.includes('@'))
const hs = Buffer.concat([Buffer.from([0x12, 34, 0x0a, 32]), Buffer.alloc(32, 7)])
const [jidNs, callNs] = await compare(() => jids.forEach(ours.jidDecode), () => native.describeHandshakeMessage(hs), 1)
console.log(`jidDecode in JS: ${(jidNs / jids.length).toFixed(0)} ns per JID; one trivial native call: ${callNs.toFixed(0)} ns`)
