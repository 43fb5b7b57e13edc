// `proto` / `WAProto` against Baileys 7.0.0-rc14's generated module: the same types and enums at
// the same paths, the same fields (number, label, type, oneof), the same enum values; every field
// of every type encodes to the same bytes on both sides and decodes across; sample messages
// round-trip byte-identically both ways; toObject's options (Long handling included) agree.
// Also: our schema files are what scripts/gen-proto.mjs makes (drift check).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { proto as B } from '@whiskeysockets/baileys'
import * as esm from '../index.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const protobuf = require('protobufjs')
const cjs = require('../index.js')
const O = cjs.proto
const Long = protobuf.util.Long

const isEnum = (v) => v !== null && typeof v === 'object'
const isClass = (v) => typeof v === 'function' && typeof v.encode === 'function'

/** Every class and enum under a `proto` object, by dotted path. */
function walk(ns, prefix = '', out = new Map()) {
  for (const [name, v] of Object.entries(ns)) {
    if (isClass(v)) {
      out.set(prefix + name, v)
      walk(v, `${prefix}${name}.`, out)
    } else if (isEnum(v) && /^[A-Z]/.test(name)) {
      out.set(prefix + name, v)
    }
  }
  return out
}

const baileysPaths = walk(B)
const ourPaths = walk(O)

// Baileys' schema read from its .proto text: the reference for field numbers and types, which
// its generated module does not expose.
const pkgDir = dirname(require.resolve('@whiskeysockets/baileys/package.json'))
const baileysRoot = protobuf.parse(readFileSync(join(pkgDir, 'WAProto', 'WAProto.proto'), 'utf8')).root
baileysRoot.resolveAll()
const ourRoot = protobuf.Root.fromJSON(require('../lib/proto/whatsapp.js').descriptor())
ourRoot.resolveAll()

test('proto and WAProto are one object, the same in ESM and CommonJS', () => {
  assert.equal(cjs.WAProto, O)
  assert.equal(esm.proto, O)
  assert.equal(esm.WAProto, O)
})

test('the same classes and enums at the same paths as Baileys', () => {
  const missing = [...baileysPaths.keys()].filter((p) => !ourPaths.has(p))
  const extra = [...ourPaths.keys()].filter((p) => !baileysPaths.has(p))
  assert.deepEqual(missing, [])
  assert.deepEqual(extra, [])
  let classes = 0
  let enums = 0
  for (const [path, b] of baileysPaths) {
    const o = ourPaths.get(path)
    if (isClass(b)) {
      classes++
      assert.ok(isClass(o), `${path} is a class`)
      assert.equal(o.name, b.name, path)
      for (const m of ['create', 'encode', 'decode', 'fromObject', 'toObject', 'getTypeUrl']) {
        assert.equal(typeof o[m], 'function', `${path}.${m}`)
      }
      assert.equal(typeof o.verify, 'function', `${path}.verify`)
      assert.equal(o.getTypeUrl(), b.getTypeUrl(), path)
      assert.equal(o.getTypeUrl('x.y'), b.getTypeUrl('x.y'), path)
      assert.equal(typeof o.prototype.toJSON, 'function')
    } else {
      enums++
      assert.ok(isEnum(o) && !isClass(o), `${path} is an enum`)
      assert.deepEqual({ ...o }, { ...b }, path) // names -> numbers
      for (const n of Object.values(b)) assert.equal(o[n], b[n], `${path}[${n}]`) // numbers -> names
      assert.deepEqual(Object.keys(o), Object.keys(b), `${path}: declaration order`)
    }
  }
  assert.ok(classes > 450, `${classes} classes`)
  assert.ok(enums > 150, `${enums} enums`)
  console.log(`proto agreement: ${classes} classes, ${enums} enums at identical paths`)
})

const label = (f) => (f.map ? `map<${f.keyType}>` : f.repeated ? 'repeated' : f.options?.proto3_optional ? 'optional' : f.partOf ? `oneof ${f.partOf.name}` : 'implicit')
const typeName = (f) => (f.resolvedType ? f.resolvedType.fullName.replace(/^\.proto\./, '') : f.type)

test('every field has Baileys\' number, label, type and oneof, every enum its values', () => {
  let fields = 0
  let values = 0
  function cmp(bNs, oNs) {
    for (const b of bNs.nestedArray) {
      const o = oNs.get(b.name)
      assert.ok(o, `${b.fullName} exists`)
      if (b instanceof protobuf.Enum) {
        assert.deepEqual({ ...o.values }, { ...b.values }, b.fullName)
        values += Object.keys(b.values).length
        continue
      }
      assert.deepEqual(Object.keys(o.fields).sort(), Object.keys(b.fields).sort(), `${b.fullName}: field names`)
      for (const bf of b.fieldsArray) {
        const of = o.fields[bf.name]
        const where = bf.fullName
        assert.equal(of.id, bf.id, `${where} number`)
        assert.equal(label(of), label(bf), `${where} label`)
        assert.equal(typeName(of), typeName(bf), `${where} type`)
        assert.equal(Boolean(of.packed), Boolean(bf.packed), `${where} packing`)
        fields++
      }
      assert.deepEqual(Object.keys(o.oneofs || {}).sort(), Object.keys(b.oneofs || {}).sort(), `${b.fullName}: oneofs`)
      cmp(b, o)
    }
  }
  cmp(baileysRoot.lookup('proto'), ourRoot.lookup('proto'))
  assert.ok(fields > 2000, `${fields} fields`)
  console.log(`proto agreement: ${fields} fields, ${values} enum values identical`)
})

test('instances: the same prototype defaults as Baileys', () => {
  let checked = 0
  for (const [path, b] of baileysPaths) {
    if (!isClass(b)) continue
    const o = ourPaths.get(path)
    const bi = b.create()
    const oi = o.create()
    for (const key of Object.keys(b.prototype)) {
      if (key === 'toJSON') continue
      const bv = bi[key]
      const ov = oi[key]
      if (Long.isLong(bv)) assert.ok(Long.isLong(ov) && ov.equals(bv) && ov.unsigned === bv.unsigned, `${path}.${key}`)
      else assert.deepEqual(ov, bv, `${path}.${key}`)
      checked++
    }
  }
  assert.ok(checked > 2000, `${checked} defaults`)
  console.log(`proto agreement: ${checked} prototype defaults identical`)
})

/** A sample value for a field (the same plain value is given to both sides' fromObject). */
function sample(field, depth) {
  field.resolve()
  const t = field.resolvedType
  if (t instanceof protobuf.Enum) {
    const vals = Object.values(t.values)
    return vals[vals.length - 1]
  }
  if (t instanceof protobuf.Type) return depth > 0 ? sampleObject(t, depth - 1) : {}
  switch (field.type) {
    case 'string': return `s-${field.name}-ção`
    case 'bytes': return Buffer.from([field.id & 0xff, 0, 0xff, 7])
    case 'bool': return true
    case 'double': return 1.25
    case 'float': return 0.5
    case 'int32': case 'sint32': case 'sfixed32': return -field.id
    case 'uint32': case 'fixed32': return 4_000_000_000 - field.id
    case 'int64': case 'sint64': case 'sfixed64': return Long.fromString('-9007199254740993')
    case 'uint64': return Long.fromString('18446744073709551557', true)
    // below 2^63: Baileys reads fixed64 as signed (see the test of its own below)
    case 'fixed64': return Long.fromString('9223372036854775000', true)
    default: throw new Error(`no sample for ${field.type}`)
  }
}

function sampleValue(field, depth) {
  if (field.map) return { 7: sample(field, depth), 9: sample(field, depth) }
  if (field.repeated) return [sample(field, depth), sample(field, depth)]
  return sample(field, depth)
}

/** Every field set, the first member of each oneof only. */
function sampleObject(type, depth) {
  const obj = {}
  const taken = new Set()
  for (const f of type.fieldsArray) {
    if (f.partOf && !f.options?.proto3_optional) {
      if (taken.has(f.partOf)) continue
      taken.add(f.partOf)
    }
    obj[f.name] = sampleValue(f, depth)
  }
  return obj
}

const TO_OBJECT = { longs: String, enums: String, bytes: String, defaults: false, oneofs: true }
const hex = (u8) => Buffer.from(u8).toString('hex')

test('every field of every type: the same bytes from both encoders, decoded alike across', () => {
  let cases = 0
  for (const [path, b] of baileysPaths) {
    if (!isClass(b)) continue
    const o = ourPaths.get(path)
    const type = ourRoot.lookupType(`proto.${path}`)
    const objects = type.fieldsArray.map((f) => ({ [f.name]: sampleValue(f, 1) }))
    objects.push(sampleObject(type, 1))
    for (const obj of objects) {
      const bBytes = b.encode(b.fromObject(obj)).finish()
      const oBytes = o.encode(o.fromObject(obj)).finish()
      assert.equal(hex(oBytes), hex(bBytes), `${path} ${Object.keys(obj).join(',')}`)
      assert.deepEqual(o.toObject(o.decode(bBytes), TO_OBJECT), b.toObject(b.decode(oBytes), TO_OBJECT), path)
      cases++
    }
  }
  console.log(`proto agreement: ${cases} encodings byte-identical`)
})

// Sample messages as bots meet them, each written by one side and read by the other.
const SAMPLES = [
  ['WebMessageInfo', {
    key: { remoteJid: '120363025246125486@g.us', fromMe: false, id: '3EB0A1B2C3D4E5F6', participant: '123456789012345@lid' },
    message: {
      extendedTextMessage: {
        text: 'olá @5511', contextInfo: { stanzaId: 'ABC', participant: '5511@s.whatsapp.net', quotedMessage: { conversation: 'hi' }, mentionedJid: ['5511@s.whatsapp.net'], expiration: 604800 },
      },
      messageContextInfo: { deviceListMetadataVersion: 2, messageSecret: Buffer.alloc(32, 3) },
    },
    messageTimestamp: 1760000000, status: 3, pushName: 'Ana', messageStubType: 27, messageStubParameters: ['a', 'b'],
    userReceipt: [{ userJid: '5511@s.whatsapp.net', readTimestamp: 1760000001 }],
    reactions: [{ key: { id: 'X' }, text: '👍', senderTimestampMs: 1760000000123 }],
  }],
  ['Message', {
    imageMessage: { url: 'https://mmg.whatsapp.net/x', mimetype: 'image/jpeg', caption: 'cap', fileSha256: Buffer.alloc(32, 5), fileLength: 12345, height: 640, width: 480, mediaKey: Buffer.alloc(32, 6), jpegThumbnail: Buffer.from([1, 2, 3]), mediaKeyTimestamp: 1760000000 },
    pollCreationMessageV3: { name: 'poll', options: [{ optionName: 'a' }, { optionName: 'b' }], selectableOptionsCount: 1 },
    protocolMessage: { key: { remoteJid: '5511@s.whatsapp.net', fromMe: true, id: 'Y' }, type: 14, editedMessage: { conversation: 'edited' }, timestampMs: 1760000000999 },
    reactionMessage: { key: { id: 'Z' }, text: '❤️', senderTimestampMs: 1760000000000 },
    ephemeralMessage: { message: { viewOnceMessageV2: { message: { videoMessage: { seconds: 12, gifPlayback: true, ptv: false } } } } },
    senderKeyDistributionMessage: { groupId: '1@g.us', axolotlSenderKeyDistributionMessage: Buffer.from([4, 4, 4]) },
  }],
  ['HistorySync', {
    syncType: 2, chunkOrder: 1, progress: 50,
    conversations: [{ id: '5511@s.whatsapp.net', name: 'Ana', unreadCount: 2, messages: [{ message: { key: { id: 'M1' }, messageTimestamp: 1760000000 } }] }],
    pushnames: [{ id: '5511@s.whatsapp.net', pushname: 'Ana' }],
  }],
  ['SyncActionValue', { timestamp: 1760000000000, muteAction: { muted: true, muteEndTimestamp: 1760003600000 }, contactAction: { fullName: 'Ana Maria', lidJid: '1@lid' } }],
  ['ClientPayload', {
    username: 5511999999999, passive: false, userAgent: { platform: 14, appVersion: { primary: 2, secondary: 3000, tertiary: 1029496320 }, mcc: '000', mnc: '000', osVersion: '0.1', manufacturer: '', device: 'Desktop', osBuildNumber: '0.1', releaseChannel: 0, localeLanguageIso6391: 'en', localeCountryIso31661Alpha2: 'US' },
    webInfo: { webSubPlatform: 0 }, connectType: 1, connectReason: 1, device: 3, pull: true, lidDbMigrated: false,
  }],
  ['HandshakeMessage', { clientHello: { ephemeral: Buffer.alloc(32, 7) }, serverHello: { ephemeral: Buffer.alloc(32, 8), static: Buffer.alloc(48, 9), payload: Buffer.alloc(20, 1) } }],
  ['ADVSignedDeviceIdentity', { details: Buffer.from([1, 2]), accountSignatureKey: Buffer.alloc(32, 1), accountSignature: Buffer.alloc(64, 2), deviceSignature: Buffer.alloc(64, 3) }],
  ['ADVKeyIndexList', { rawId: 7, timestamp: 1760000000, currentIndex: 3, validIndexes: [0, 1, 3, 300], accountType: 1 }],
]

test('sample messages round-trip byte-identically between Baileys and ours', () => {
  for (const [name, obj] of SAMPLES) {
    const b = B[name]
    const o = O[name]
    const bBytes = b.encode(b.fromObject(obj)).finish()
    const oBytes = o.encode(o.fromObject(obj)).finish()
    assert.equal(hex(oBytes), hex(bBytes), `${name}: same bytes from the same object`)
    // Baileys' bytes -> ours -> bytes, and the other way round.
    assert.equal(hex(o.encode(o.decode(bBytes)).finish()), hex(bBytes), `${name}: Baileys -> ours -> bytes`)
    assert.equal(hex(b.encode(b.decode(oBytes)).finish()), hex(oBytes), `${name}: ours -> Baileys -> bytes`)
    for (const opts of [{}, { longs: Number }, { longs: String, enums: String, bytes: String }, { defaults: true }, { arrays: true, objects: true, oneofs: true }]) {
      assert.deepEqual(o.toObject(o.decode(bBytes), opts), b.toObject(b.decode(bBytes), opts), `${name} toObject ${JSON.stringify(Object.keys(opts))}`)
    }
    assert.deepEqual(JSON.parse(JSON.stringify(o.decode(bBytes))), JSON.parse(JSON.stringify(b.decode(bBytes))), `${name}: toJSON`)
  }
})

test('toObject converts 64-bit fields as Baileys does, from any Long-like value', () => {
  const inputs = [
    Long.fromString('1760000000123', true), { low: 5, high: 1 }, { low: -1, high: -1 }, 77, '1234567890123',
  ]
  for (const v of inputs) {
    for (const longs of [String, Number, undefined]) {
      const msg = { messageTimestamp: v, ephemeralStartTimestamp: v } // uint64 and uint64
      const sync = { timestamp: v } // int64
      assert.deepEqual(O.WebMessageInfo.toObject(msg, { longs }), B.WebMessageInfo.toObject(msg, { longs }), `${JSON.stringify(v)} ${longs?.name}`)
      assert.deepEqual(O.SyncActionValue.toObject(sync, { longs }), B.SyncActionValue.toObject(sync, { longs }), `${JSON.stringify(v)} ${longs?.name}`)
    }
  }
})

test('fixed64 is unsigned: Baileys reads 2^64 - 59 as -59, ours as 18446744073709551557', () => {
  const big = Long.fromString('18446744073709551557', true)
  const bytes = B.SignedPreKeyRecordStructure.encode({ timestamp: big }).finish()
  assert.equal(hex(O.SignedPreKeyRecordStructure.encode({ timestamp: big }).finish()), hex(bytes))
  const opts = { longs: String }
  assert.equal(B.SignedPreKeyRecordStructure.toObject(B.SignedPreKeyRecordStructure.decode(bytes), opts).timestamp, '-59')
  assert.equal(O.SignedPreKeyRecordStructure.toObject(O.SignedPreKeyRecordStructure.decode(bytes), opts).timestamp, '18446744073709551557')
})

test('create, fromObject, verify, decode errors behave as protobufjs does', () => {
  const m = O.Message.create({ conversation: 'x' })
  assert.ok(m instanceof O.Message)
  assert.equal(O.Message.fromObject(m), m)
  assert.equal(O.Message.verify({ conversation: 'x' }), null)
  assert.match(O.Message.verify({ conversation: 5 }), /conversation: string expected/)
  assert.throws(() => O.Message.decode(Buffer.from([0x12, 0x05, 0x61])), /index out of range/)
  assert.throws(() => B.Message.decode(Buffer.from([0x12, 0x05, 0x61])), /index out of range/)
  // statics need no `this`, as in Baileys' generated module
  const { encode, decode } = O.Message
  assert.equal(decode(encode({ conversation: 'y' }).finish()).conversation, 'y')
})

test('proto/whatsapp.proto and lib/proto/whatsapp.js are what scripts/gen-proto.mjs makes', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts/gen-proto.mjs'), '--check'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
})
