'use strict'
// WAM, WhatsApp's telemetry buffer: BinaryInfo and encodeWAM with Baileys 7's byte layout
// (an 8-byte header, then per event its globals, the event header and its fields, each a
// key/flag header and a value sized by its type), and the event and global tables
// (lib/facts.js). Buffers equal Baileys' (__test__/usync-wam-baileys.test.mjs).
const { WEB_EVENTS, WEB_GLOBALS } = require('./facts.js')

const FLAG_BYTE = 8
const FLAG_GLOBAL = 0
const FLAG_EVENT = 1
const FLAG_FIELD = 2
const FLAG_EXTENDED = 4

class BinaryInfo {
  constructor(options = {}) {
    this.protocolVersion = 5
    this.sequence = 0
    this.events = []
    this.buffer = []
    Object.assign(this, options)
  }
}

const eventsByName = new Map()
const globalsByName = new Map()

function header(key, flag, valueBytes) {
  const wide = !(key < 256)
  const out = Buffer.alloc((wide ? 3 : 2) + valueBytes)
  if (wide) {
    out.writeUInt8(flag | FLAG_BYTE, 0)
    out.writeUInt16LE(key, 1)
  } else {
    out.writeUInt8(flag, 0)
    out.writeUInt8(key, 1)
  }
  return [out, wide ? 3 : 2]
}

/** One key/value record: the value type goes in the flag's high nibble. */
function record(key, value, flag) {
  if (value === null) {
    // only globals may be null (a key alone); anything else is refused like Baileys does
    if (flag === FLAG_GLOBAL) return header(key, flag, 0)[0]
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    if (value === 0 || value === 1) return header(key, flag | ((value + 1) << 4), 0)[0]
    if (value >= -128 && value < 128) {
      const [out, at] = header(key, flag | (3 << 4), 1)
      out.writeInt8(value, at)
      return out
    }
    if (value >= -32768 && value < 32768) {
      const [out, at] = header(key, flag | (4 << 4), 2)
      out.writeInt16LE(value, at)
      return out
    }
    if (value >= -2147483648 && value < 2147483648) {
      const [out, at] = header(key, flag | (5 << 4), 4)
      out.writeInt32LE(value, at)
      return out
    }
    const [out, at] = header(key, flag | (7 << 4), 8)
    out.writeDoubleLE(value, at)
    return out
  } else if (typeof value === 'number') {
    const [out, at] = header(key, flag | (7 << 4), 8)
    out.writeDoubleLE(value, at)
    return out
  } else if (typeof value === 'string') {
    const len = Buffer.byteLength(value, 'utf8')
    const sizeBytes = len < 256 ? 1 : len < 65536 ? 2 : 4
    const [out, at] = header(key, flag | ((sizeBytes === 1 ? 8 : sizeBytes === 2 ? 9 : 10) << 4), sizeBytes + len)
    if (sizeBytes === 1) out.writeUInt8(len, at)
    else if (sizeBytes === 2) out.writeUInt16LE(len, at)
    else out.writeUInt32LE(len, at)
    out.write(value, at + sizeBytes, 'utf8')
    return out
  }
  // Baileys throws the string 'missing' for a value it cannot encode; so do we
  throw 'missing'
}

const asValue = (v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)

/** The WAM buffer of `binaryInfo` (its `buffer` is rebuilt as the list of records). */
function encodeWAM(binaryInfo) {
  binaryInfo.buffer = []
  const head = Buffer.alloc(8)
  head.write('WAM', 0, 'utf8')
  head.writeUInt8(binaryInfo.protocolVersion, 3)
  head.writeUInt8(1, 4)
  head.writeUInt16BE(binaryInfo.sequence, 5)
  head.writeUInt8(0, 7) // regular channel
  binaryInfo.buffer.push(head)

  if (!eventsByName.size) {
    // the first definition of a name wins, as in a linear search
    for (const e of WEB_EVENTS) if (!eventsByName.has(e.name)) eventsByName.set(e.name, e)
    for (const g of WEB_GLOBALS) if (g?.name && !globalsByName.has(g.name)) globalsByName.set(g.name, g)
  }
  for (const entry of binaryInfo.events) {
    const [name, { props, globals }] = Object.entries(entry)[0]
    for (const [key, value] of Object.entries(globals)) {
      binaryInfo.buffer.push(record(globalsByName.get(key).id, asValue(value), FLAG_GLOBAL))
    }
    const event = eventsByName.get(name)
    const fields = Object.entries(props)
    // Baileys' flags, as it writes them: the event is "extended" when no field has a value
    const anyValue = fields.some(([, v]) => v !== null)
    binaryInfo.buffer.push(record(event.id, -event.weight, anyValue ? FLAG_EVENT : FLAG_EVENT | FLAG_EXTENDED))
    fields.forEach(([key, value], i) => {
      const more = i < fields.length - 1
      binaryInfo.buffer.push(record(event.props[key]?.[0], asValue(value), more ? FLAG_EVENT : FLAG_FIELD | FLAG_EXTENDED))
    })
  }
  return Buffer.concat(binaryInfo.buffer)
}

module.exports = {
  BinaryInfo,
  encodeWAM,
  WEB_EVENTS,
  WEB_GLOBALS,
  FLAG_BYTE,
  FLAG_GLOBAL,
  FLAG_EVENT,
  FLAG_FIELD,
  FLAG_EXTENDED,
}
