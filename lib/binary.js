'use strict'
// The binary node codec with Baileys' names and semantics. Encoding and decoding run in Rust
// (crates/wa-binary); nodes cross the boundary in a compact form (a Uint32Array tape plus one
// string pool, see src/binary.rs) that this module builds and reads, because building the
// objects here costs less than a dozen napi calls per node. The small helpers that only look at
// node objects (getBinaryNodeChild, binaryNodeToString, ...) are plain JS: calling into Rust
// would cost more than the work. docs/binary.md has the measurements.
const native = require('../native.js')
const { makeBoom } = require('./boom.js')

const TOKENS = native.binaryTokens()
// Same limit as the Rust decoder: a node nested deeper than this is refused both ways.
const MAX_DEPTH = 64

function fail(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

const isBytes = (v) => v instanceof Uint8Array // Buffer is a Uint8Array too

// ---- decode: compact form -> node objects ----

let T = null // tape
let P = '' // string pool
let B = null // payload the byte contents are sliced from
let ti = 0
let pi = 0

function readString() {
  const r = T[ti++]
  if (r & 1) return TOKENS[r >>> 1]
  const end = pi + (r >>> 1)
  const s = P.slice(pi, end)
  pi = end
  return s
}

function readNode() {
  const attrCount = T[ti++]
  const tag = readString()
  const attrs = {}
  for (let i = 0; i < attrCount; i++) {
    const key = readString()
    attrs[key] = readString()
  }
  let content
  switch (T[ti++]) {
    case 1: {
      const n = T[ti++]
      content = []
      for (let i = 0; i < n; i++) content.push(readNode())
      break
    }
    case 2: {
      const offset = T[ti++]
      content = B.subarray(offset, offset + T[ti++])
      break
    }
    case 3:
      content = readString()
      break
  }
  return { tag, attrs, content }
}

function asBuffer(buf) {
  if (Buffer.isBuffer(buf)) return buf
  if (buf instanceof Uint8Array) return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  throw fail('ERR_WA_BINARY_INVALID_INPUT', `expected a Buffer or Uint8Array, got ${buf === null ? 'null' : typeof buf}`)
}

let decodeTape = new Uint32Array(4096)
const TAPE_KEEP = 1 << 20

// Compressed payloads above this size are inflated on the thread pool by decodeBinaryNode (as
// Baileys' zlib.inflate is); smaller ones inflate in microseconds, less than the hop costs.
const INFLATE_OFF_THREAD = 64 * 1024

function payloadOf(frame) {
  if (frame.length === 0) throw fail('ERR_WA_BINARY_EOF', 'end of stream: empty frame')
  return frame[0] & 2 ? native.inflateBinaryPayload(frame.subarray(1)) : frame.subarray(1)
}

function decodePayload(payload) {
  let pool = native.decodeBinaryPayload(payload, decodeTape)
  if (decodeTape[0] >= decodeTape.length) {
    decodeTape = new Uint32Array(decodeTape[0] + 1)
    pool = native.decodeBinaryPayload(payload, decodeTape)
  }
  T = decodeTape
  P = pool
  B = payload
  ti = 1
  pi = 0
  try {
    return readNode()
  } finally {
    T = null
    P = ''
    B = null
    // Do not keep a tape grown for one huge frame.
    if (decodeTape.length > TAPE_KEEP) decodeTape = new Uint32Array(4096)
  }
}

/** Decodes a frame (flag byte first; zlib-compressed when bit 2 is set) synchronously. */
function decodeBinaryNodeSync(buf) {
  const frame = asBuffer(buf)
  let payload
  payload = payloadOf(frame)
  return decodePayload(payload)
}

/** Baileys' decodeBinaryNode: a Promise of the node; rejects with a coded Error. */
async function decodeBinaryNode(buf) {
  const frame = asBuffer(buf)
  if (frame.length > INFLATE_OFF_THREAD && frame[0] & 2) {
    let payload
    payload = await native.inflateBinaryPayloadAsync(frame.subarray(1))
    return decodePayload(payload)
  }
  return decodeBinaryNodeSync(frame)
}

// ---- encode: node objects -> compact form ----

let tape = new Uint32Array(4096)
let tn = 0
let pool = ''
let bins = []

function put(v) {
  if (tn === tape.length) {
    const bigger = new Uint32Array(tape.length * 2)
    bigger.set(tape)
    tape = bigger
  }
  tape[tn++] = v
}

function putString(s) {
  put(s.length)
  pool += s
}

function writeNode(node, depth) {
  if (depth >= MAX_DEPTH) throw fail('ERR_WA_BINARY_TOO_DEEP', `nodes nested deeper than ${MAX_DEPTH} levels (or a cycle)`)
  if (node === null || typeof node !== 'object') throw fail('ERR_WA_BINARY_INVALID_NODE', 'Invalid node: not an object')
  const { tag, attrs, content } = node
  if (!tag) throw fail('ERR_WA_BINARY_INVALID_NODE', 'Invalid node: tag cannot be undefined')
  if (typeof tag !== 'string') throw fail('ERR_WA_BINARY_INVALID_NODE', `Invalid node: tag must be a string, got ${typeof tag}`)
  const head = tn
  put(0) // attribute count, patched below
  put(0) // content kind, patched below
  putString(tag)
  let count = 0
  if (attrs) {
    for (const key of Object.keys(attrs)) {
      const value = attrs[key]
      if (value === undefined || value === null) continue
      if (typeof value !== 'string') {
        // Baileys counts such a value but writes nothing for it: a corrupt frame.
        throw fail('ERR_WA_BINARY_INVALID_ATTR', `attribute "${key}" of <${tag}> must be a string, got ${typeof value}`)
      }
      putString(key)
      putString(value)
      count++
    }
  }
  tape[head] = count
  if (content === undefined) return
  if (typeof content === 'string') {
    tape[head + 1] = 3
    putString(content)
  } else if (isBytes(content)) {
    tape[head + 1] = 2
    put(bins.length)
    bins.push(content)
  } else if (Array.isArray(content)) {
    tape[head + 1] = 1
    // Baileys drops falsy items and objects without a tag; a Buffer or string item is an error.
    const at = tn
    put(0)
    let n = 0
    for (const item of content) {
      if (!item) continue
      if (!item.tag) {
        if (isBytes(item) || typeof item === 'string') {
          throw fail('ERR_WA_BINARY_INVALID_NODE', 'Invalid node: tag cannot be undefined')
        }
        continue
      }
      writeNode(item, depth + 1)
      n++
    }
    tape[at] = n
  } else {
    throw fail('ERR_WA_BINARY_INVALID_CONTENT', `invalid children for header "${tag}": ${content} (${typeof content})`)
  }
}

/** Baileys' encodeBinaryNode: the node as a frame (flag byte 0, then the node). */
function encodeBinaryNode(node) {
  tn = 0
  pool = ''
  bins = []
  try {
    writeNode(node, 0)
    return native.encodeBinaryFrame(tape, tn, pool, bins)
  } finally {
    pool = ''
    bins = []
    if (tape.length > TAPE_KEEP) tape = new Uint32Array(4096)
  }
}

// ---- helpers over node objects (Baileys' generic-utils) ----

function getBinaryNodeChildren(node, childTag) {
  const out = []
  if (node && Array.isArray(node.content)) {
    for (const child of node.content) if (child.tag === childTag) out.push(child)
  }
  return out
}

function getBinaryNodeChild(node, childTag) {
  if (node && Array.isArray(node.content)) {
    for (const child of node.content) if (child.tag === childTag) return child
  }
  return undefined
}

function getAllBinaryNodeChildren({ content }) {
  return Array.isArray(content) ? content : []
}

function getBinaryNodeChildBuffer(node, childTag) {
  const content = getBinaryNodeChild(node, childTag)?.content
  return isBytes(content) ? content : undefined
}

function getBinaryNodeChildString(node, childTag) {
  const content = getBinaryNodeChild(node, childTag)?.content
  if (isBytes(content)) return Buffer.from(content).toString('utf-8')
  if (typeof content === 'string') return content
  return undefined
}

function getBinaryNodeChildUInt(node, childTag, length) {
  const buf = getBinaryNodeChildBuffer(node, childTag)
  if (!buf) return undefined
  let value = 0
  for (let i = 0; i < length; i++) value = 256 * value + buf[i]
  return value
}

function assertNodeErrorFree(node) {
  const error = getBinaryNodeChild(node, 'error')
  if (error) throw makeBoom(error.attrs.text || 'Unknown error', { data: +error.attrs.code })
}

function reduceBinaryNodeToDictionary(node, tag) {
  const dict = {}
  for (const { attrs } of getBinaryNodeChildren(node, tag)) {
    const key = typeof attrs.name === 'string' ? attrs.name : attrs.config_code
    dict[key] = attrs.value || attrs.config_value
  }
  return dict
}

function binaryNodeToString(node, level = 0) {
  if (!node) return node
  const indent = '\t'.repeat(level)
  if (typeof node === 'string') return indent + node
  if (node instanceof Uint8Array) return indent + Buffer.from(node).toString('hex')
  if (Array.isArray(node)) {
    return node.map((child) => '\t'.repeat(level + 1) + binaryNodeToString(child, level + 1)).join('\n')
  }
  const children = binaryNodeToString(node.content, level + 1)
  const attrs = Object.entries(node.attrs || {})
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}='${v}'`)
    .join(' ')
  const open = `<${node.tag} ${attrs}`
  return children ? `${open}>\n${children}\n${indent}</${node.tag}>` : `${open}/>`
}

/** Baileys' decompressingIfRequired: a frame's payload, inflated when its flag byte says so. */
async function decompressingIfRequired(buffer) {
  const frame = asBuffer(buffer)
  if (frame.length === 0) throw fail('ERR_WA_BINARY_EOF', 'end of stream: empty frame')
  if (!(frame[0] & 2)) return frame.subarray(1)
  return native.inflateBinaryPayloadAsync(frame.subarray(1))
}

/** Whether `opts` (Baileys' WABinary constants) is the dictionary our codec speaks (v3). */
function isOurDictionary(opts) {
  const single = opts?.SINGLE_BYTE_TOKENS
  const double = opts?.DOUBLE_BYTE_TOKENS
  if (!Array.isArray(single) || !Array.isArray(double)) return false
  const all = [...single, ...double.flat()]
  return all.length === TOKENS.length && all.every((t, i) => t === TOKENS[i])
}

/**
 * Baileys' decodeDecompressedBinaryNode(payload, opts, indexRef): decodes a payload (no flag
 * byte) from `indexRef.index` and moves the index past it. `opts` is Baileys' dictionary
 * (`{ SINGLE_BYTE_TOKENS, DOUBLE_BYTE_TOKENS, ... }`); only WhatsApp's dictionary v3 is spoken,
 * another one is refused (ERR_WA_BINARY_DICTIONARY).
 */
function decodeDecompressedBinaryNode(buffer, opts, indexRef = { index: 0 }) {
  if (opts !== undefined && !isOurDictionary(opts)) {
    throw fail('ERR_WA_BINARY_DICTIONARY', 'only WhatsApp\'s dictionary v3 (the tokens of Baileys\' WABinary constants) is supported')
  }
  const payload = asBuffer(buffer)
  const node = decodePayload(payload.subarray(indexRef.index))
  indexRef.index = payload.length
  return node
}

module.exports = {
  encodeBinaryNode,
  decompressingIfRequired,
  decodeDecompressedBinaryNode,
  decodeBinaryNode,
  decodeBinaryNodeSync,
  binaryNodeToString,
  getBinaryNodeChild,
  getBinaryNodeChildren,
  getAllBinaryNodeChildren,
  getBinaryNodeChildString,
  getBinaryNodeChildBuffer,
  getBinaryNodeChildUInt,
  reduceBinaryNodeToDictionary,
  assertNodeErrorFree,
}
