'use strict'
// `proto` (alias `WAProto`): every message and enum of WhatsApp's schema as Baileys presents
// them. Built from our schema (proto/whatsapp.proto, turned into protobufjs' JSON descriptor
// lib/proto/whatsapp.json by scripts/gen-proto.mjs) with protobufjs' reflection, which compiles
// each type's encoder, decoder and converters the first time the type is used.
//
// Shape, as in Baileys' generated module: `proto.Message` is a constructor with static
// `create`, `encode`, `decode`, `fromObject`, `toObject`, `verify`, `getTypeUrl` (the statics
// need no `this`), instances have default values on the prototype and `toJSON()`; nested types
// and enums hang off their parent (`proto.Message.ImageMessage`, `proto.WebMessageInfo.Status`);
// an enum is an object of name -> number whose prototype maps number -> name.
//
// 64-bit integers decode to `Long` (protobufjs' `long`), and `toObject(m, { longs: String |
// Number })` converts a scalar 64-bit field the way Baileys' patched module does: from a Long,
// a plain `{ low, high }`, a number or a numeric string alike.
const native = require('../native.js')

const PACKAGE = 'proto'
let protobuf = null // protobufjs/light, loaded with the schema

function longToString(value, unsigned) {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return String(value)
  if (value && typeof value.low === 'number' && typeof value.high === 'number') {
    const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0)
    return (!unsigned && value.high < 0 ? bits - (1n << 64n) : bits).toString()
  }
  return String(value)
}

function longToNumber(value, unsigned) {
  if (typeof value === 'number') return value
  if (typeof value === 'string') return Number(value)
  if (value && typeof value.low === 'number' && typeof value.high === 'number') {
    const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0)
    return Number(!unsigned && value.high < 0 ? bits - (1n << 64n) : bits)
  }
  return Number(value)
}

// A scalar (not repeated, not map) 64-bit field's conversion in protobufjs' generated toObject:
//   d.x=o.longs===String?util.Long.prototype.toString.call(m.x):o.longs===Number?
//       new util.LongBits(m.x.low>>>0,m.x.high>>>0).toNumber(true):m.x
const LONG_CONVERSION =
  /d(\.\w+|\["\w+"\])=o\.longs===String\?util\.Long\.prototype\.toString\.call\(m\1\):o\.longs===Number\?new util\.LongBits\(m\1\.low>>>0,m\1\.high>>>0\)\.toNumber\((true)?\):m\1/g

/** protobufjs' toObject for `type`, with Baileys' conversion of scalar 64-bit fields. */
function toObjectFor(type, types) {
  const source = protobuf.converter.toObject(type).toString()
  const patched = source.replace(
    LONG_CONVERSION,
    (_, prop, unsigned) =>
      `d${prop}=o.longs===String?longToString(m${prop}${unsigned ? ',true' : ''}):o.longs===Number?longToNumber(m${prop}${unsigned ? ',true' : ''}):m${prop}`,
  )
  // eslint-disable-next-line no-new-func
  return new Function('types', 'util', 'longToString', 'longToNumber', `return ${patched}`)(
    types,
    protobuf.util,
    longToString,
    longToNumber,
  )
}

function setupType(type) {
  const setup = protobuf.Type.prototype.setup
  type.setup = function setupWithBaileysLongs() {
    setup.call(this)
    const types = this.fieldsArray.map((f) => f.resolve().resolvedType)
    this.toObject = toObjectFor(this, types)
    return this
  }
}

/** An enum object as Baileys' module makes it: names -> numbers, numbers -> names beneath. */
function enumObject(valuesByName) {
  const byId = {}
  const values = Object.create(byId)
  for (const [name, id] of Object.entries(valuesByName)) {
    byId[id] = name
    values[name] = id
  }
  return values
}

// Enum objects by dotted path, shared by `protoEnum` (before the schema is compiled) and
// `proto` (so `WAMessageStatus === proto.WebMessageInfo.Status`, as in Baileys).
const enums = new Map()
let enumValues = null

/**
 * The enum object at `path` ('WebMessageInfo.Status'), without compiling the schema or parsing
 * its descriptor: the package's constants are enums, read when it loads.
 */
function protoEnum(path) {
  let e = enums.get(path)
  if (!e) {
    enumValues ??= schema.enums()
    const values = Object.hasOwn(enumValues, path) ? enumValues[path] : null
    if (!values) throw new Error(`no enum ${path} in the schema`)
    e = enumObject(values)
    enums.set(path, e)
  }
  return e
}

function classFor(type) {
  setupType(type)
  const ctor = type.ctor
  // protobufjs' reflection puts the type's default (Long(0), false, 0) on the prototype of a
  // field that belongs to a oneof (`optional` fields are one-member oneofs); Baileys' generated
  // classes have null there.
  for (const field of type.fieldsArray) {
    if (field.partOf) ctor.prototype[field.name] = null
  }
  const typeUrl = `/${type.fullName.slice(1)}`
  Object.assign(ctor, {
    create(properties) {
      return new ctor(properties)
    },
    encode(message, writer) {
      return type.encode(message, writer)
    },
    decode(reader, length, end) {
      return type.decode(reader, length, end)
    },
    fromObject(object) {
      return type.fromObject(object)
    },
    toObject(message, options) {
      return type.toObject(message, options)
    },
    verify(message) {
      return type.verify(message)
    },
    getTypeUrl(typeUrlPrefix = 'type.googleapis.com') {
      return typeUrlPrefix + typeUrl
    },
  })
  return ctor
}

/** Attaches the nested types and enums of `ns` to `target`, recursively. */
function attachNested(ns, target, prefix = '') {
  for (const child of ns.nestedArray) {
    const path = prefix + child.name
    if (child instanceof protobuf.Type) {
      const ctor = classFor(child)
      attachNested(child, ctor, `${path}.`)
      target[child.name] = ctor
    } else if (child instanceof protobuf.Enum) {
      if (!enums.has(path)) enums.set(path, enumObject(child.values))
      target[child.name] = enums.get(path)
    }
  }
}

// The schema is compiled on the first access to any of `proto`'s names (a few hundred
// milliseconds for ~700 types): a bot that never touches `proto` does not pay for it. Each name
// then becomes a plain data property.
const schema = require('./proto/whatsapp.js')
const proto = {}
let built = false

function build() {
  if (built) return
  built = true
  protobuf = require('protobufjs/light.js')
  const root = protobuf.Root.fromJSON(schema.descriptor())
  enumValues = null // the compiled schema has them now
  const all = {}
  attachNested(root.lookup(PACKAGE), all)
  for (const name of schema.names) {
    Object.defineProperty(proto, name, { value: all[name], writable: true, enumerable: true, configurable: true })
  }
}

for (const name of schema.names) {
  Object.defineProperty(proto, name, {
    get() {
      build()
      return proto[name]
    },
    set(value) {
      build()
      proto[name] = value
    },
    enumerable: true,
    configurable: true,
  })
}

module.exports = {
  proto,
  WAProto: proto,
  describeHandshakeMessage: native.describeHandshakeMessage,
}
// For the other modules of lib/, not a package export (index.js spreads enumerable names only).
Object.defineProperty(module.exports, 'protoEnum', { value: protoEnum, enumerable: false })
