#!/usr/bin/env node
// Regenerates our copy of WhatsApp's wire schema and the JS module data made from it.
//
//   node scripts/gen-proto.mjs          write proto/whatsapp.proto and lib/proto/whatsapp.js
//   node scripts/gen-proto.mjs --check  exit 1 when either file differs from what it would write
//
// The schema is a fact of WhatsApp's wire format (message and enum names, nesting, field
// numbers, labels, types, enum values). Its published form is the WAProto.proto that ships in
// the `@whiskeysockets/baileys` development dependency; this script reads those facts with
// protobufjs' parser and writes them in our own canonical layout:
//
// - package `wa` (the Rust crate's `wa_proto::*` names), one file;
// - declarations, fields and enum values in the published order (the order protobufjs gives
//   enum objects' keys and prototypes' fields, which bots can observe), two-space indents;
// - every type reference written as the shortest name that resolves to the same type from the
//   place it is used (fully qualified `.wa.X` only when a nearer declaration shadows it).
//
// Then the JS data: our proto file parsed back with protobufjs (field names camelCased, as
// protobufjs and Baileys present them) and stored as protobufjs' JSON descriptor under the
// namespace `proto`, which `lib/proto.js` turns into the `proto` / `WAProto` objects. The module
// holds the descriptor as a string parsed on first use, and the top-level names, so that loading
// the package costs nothing until a bot touches `proto`.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const protobuf = require('protobufjs')

const OUR_PACKAGE = 'wa'
const JS_NAMESPACE = 'proto'
const PROTO_OUT = join(root, 'proto', 'whatsapp.proto')
const JS_OUT = join(root, 'lib', 'proto', 'whatsapp.js')
// Its own module (index.d.ts re-exports it): too large for the generated header.
const DTS_OUT = join(root, 'lib', 'proto', 'types.d.ts')

/** The published schema text and the Baileys version it came with. */
function source() {
  const pkgDir = dirname(require.resolve('@whiskeysockets/baileys/package.json'))
  const text = readFileSync(join(pkgDir, 'WAProto', 'WAProto.proto'), 'utf8')
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
  const wa = /WhatsApp Version:\s*([0-9.]+)/.exec(text)
  return { text, baileys: version, whatsapp: wa ? wa[1] : 'unknown' }
}

/** Nested types and enums of a namespace, in declaration order. */
function nestedOf(ns) {
  return (ns.nestedArray || []).filter((n) => n instanceof protobuf.Type || n instanceof protobuf.Enum)
}

/** The chain of namespaces from the package down to `ns` (package first). */
function scopeChain(ns, pkg) {
  const chain = []
  for (let s = ns; s && s !== pkg.parent; s = s.parent) chain.unshift(s)
  return chain
}

/**
 * The shortest name for `target` as seen from inside `from` (a message), by protobuf's scoping
 * rule: the first component is looked up from the innermost scope outwards, and the first scope
 * declaring it wins.
 */
function refName(target, from, pkg) {
  const path = scopeChain(target, pkg).slice(1).map((n) => n.name) // without the package
  const fromChain = scopeChain(from, pkg)
  for (let k = path.length - 1; k >= 0; k--) {
    const owner = k === 0 ? pkg : scopeChain(target, pkg)[k] // the scope that declares path[k]
    let found = null
    for (let i = fromChain.length - 1; i >= 0; i--) {
      const s = fromChain[i]
      if (s.nested && s.nested[path[k]] && (s.nested[path[k]] instanceof protobuf.Type || s.nested[path[k]] instanceof protobuf.Enum)) {
        found = s
        break
      }
    }
    if (found === owner) return path.slice(k).join('.')
  }
  return `.${OUR_PACKAGE}.${path.join('.')}`
}

function fieldType(field, from, pkg) {
  field.resolve()
  return field.resolvedType ? refName(field.resolvedType, from, pkg) : field.type
}

function fieldOptions(field) {
  const opts = Object.entries(field.options || {}).filter(([k]) => k !== 'proto3_optional')
  if (!opts.length) return ''
  return ` [${opts.map(([k, v]) => `${k}=${v}`).join(', ')}]`
}

function emitEnum(e, indent, out) {
  const entries = Object.entries(e.values)
  const aliased = new Set(entries.map(([, v]) => v)).size !== entries.length
  out.push(`${indent}enum ${e.name} {`)
  if (aliased) out.push(`${indent}  option allow_alias = true;`)
  for (const [name, value] of entries) out.push(`${indent}  ${name} = ${value};`)
  out.push(`${indent}}`)
}

function emitType(t, indent, pkg, out) {
  out.push(`${indent}message ${t.name} {`)
  const inner = `${indent}  `
  for (const n of nestedOf(t)) {
    if (n instanceof protobuf.Enum) emitEnum(n, inner, out)
    else emitType(n, inner, pkg, out)
  }
  const realOneofs = t.oneofsArray.filter((o) => !(o.fieldsArray.length === 1 && o.fieldsArray[0].options?.proto3_optional))
  const inOneof = new Set(realOneofs.flatMap((o) => o.fieldsArray))
  const line = (f, label) => {
    if (f.map) return `map<${f.keyType}, ${fieldType(f, t, pkg)}> ${f.name} = ${f.id}${fieldOptions(f)};`
    return `${label}${fieldType(f, t, pkg)} ${f.name} = ${f.id}${fieldOptions(f)};`
  }
  // Fields in declaration order; a oneof where its first member is declared.
  const items = []
  for (const f of t.fieldsArray) {
    if (!inOneof.has(f)) items.push({ field: f })
    else if (f.partOf.fieldsArray[0] === f) items.push({ oneof: f.partOf })
  }
  for (const item of items) {
    if (item.field) {
      const f = item.field
      const label = f.repeated ? 'repeated ' : f.options?.proto3_optional ? 'optional ' : ''
      out.push(inner + line(f, label))
    } else {
      out.push(`${inner}oneof ${item.oneof.name} {`)
      for (const f of item.oneof.fieldsArray) out.push(`${inner}  ${line(f, '')}`)
      out.push(`${inner}}`)
    }
  }
  out.push(`${indent}}`)
}

/** Our proto file's text from the published schema's text. */
export function schemaText(src = source()) {
  const parsed = protobuf.parse(src.text, { keepCase: true })
  if (parsed.syntax && parsed.syntax !== 'proto3') throw new Error(`unexpected syntax ${parsed.syntax}`)
  const pkg = parsed.root.lookup(parsed.package)
  pkg.resolveAll()
  const out = [
    `// WhatsApp's wire schema (WhatsApp Web ${src.whatsapp}): every message and enum, with their`,
    '// nesting, field numbers, labels, types and enum values.',
    '//',
    `// Generated by scripts/gen-proto.mjs from the schema published with @whiskeysockets/baileys`,
    `// ${src.baileys} (WAProto/WAProto.proto); regenerate it with that script, never edit it by hand.`,
    '// Declarations, fields and enum values keep the published order. Enums are open (proto3): a',
    '// value not listed here still decodes, as its number.',
    'syntax = "proto3";',
    `package ${OUR_PACKAGE};`,
    '',
  ]
  for (const n of nestedOf(pkg)) {
    if (n instanceof protobuf.Enum) emitEnum(n, '', out)
    else emitType(n, '', pkg, out)
    out.push('')
  }
  return out.join('\n')
}

/** The JS module with protobufjs' JSON descriptor of our schema, under the namespace `proto`. */
export function jsText(protoText) {
  const parsed = protobuf.parse(protoText, { keepCase: false })
  const json = parsed.root.toJSON()
  const ours = json.nested[OUR_PACKAGE]
  if (!ours || Object.keys(json.nested).length !== 1) throw new Error(`expected one package ${OUR_PACKAGE}`)
  const descriptor = JSON.stringify({ nested: { [JS_NAMESPACE]: ours } })
  // Every enum's values by dotted path: the package's constants (WAMessageStubType, ...) are
  // enums, and reading them must not parse the whole descriptor (~4 MB of heap).
  const enums = {}
  const walk = (node, path) => {
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const at = path ? `${path}.${name}` : name
      if (child.values) enums[at] = child.values
      walk(child, at)
    }
  }
  walk(ours, '')
  return [
    "'use strict'",
    '// Generated by scripts/gen-proto.mjs from proto/whatsapp.proto; regenerate, never edit.',
    "// protobufjs' JSON descriptor of WhatsApp's schema under the namespace `proto`, its",
    '// top-level names, and every enum by dotted path.',
    `exports.names = ${JSON.stringify(Object.keys(ours.nested))}`,
    `exports.descriptor = () => JSON.parse(${JSON.stringify(descriptor)})`,
    `exports.enums = () => JSON.parse(${JSON.stringify(JSON.stringify(enums))})`,
    '',
  ].join('\n')
}

const SCALAR_TS = {
  double: 'number', float: 'number', int32: 'number', uint32: 'number', sint32: 'number', fixed32: 'number',
  sfixed32: 'number', int64: '(number|ProtoLong)', uint64: '(number|ProtoLong)', sint64: '(number|ProtoLong)',
  fixed64: '(number|ProtoLong)', sfixed64: '(number|ProtoLong)', bool: 'boolean', string: 'string', bytes: 'Uint8Array',
}

/** The TypeScript declarations of the `proto` namespace (Baileys' shapes: IX interfaces, X classes, enums). */
export function dtsText(protoText) {
  const parsed = protobuf.parse(protoText, { keepCase: false })
  const pkg = parsed.root.lookup(OUR_PACKAGE)
  pkg.resolveAll()
  const tsPath = (t, iface) => {
    const parts = t.fullName.split('.').slice(2) // drop '' and the package
    if (iface) parts[parts.length - 1] = `I${parts[parts.length - 1]}`
    return `${JS_NAMESPACE}.${parts.join('.')}`
  }
  const fieldTs = (f) => {
    const t = f.resolvedType
    const base = t instanceof protobuf.Type ? tsPath(t, true) : t instanceof protobuf.Enum ? tsPath(t, false) : SCALAR_TS[f.type]
    if (f.map) return `{ [k: string]: ${base} }`
    return f.repeated ? `${base}[]` : base
  }
  const prop = (name) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name))
  const out = [
    "// proto / WAProto: WhatsApp's schema. Generated by scripts/gen-proto.mjs; do not edit.",
    '// The declarations of `proto` / `WAProto`, re-exported by index.d.ts.',
    '/** A 64-bit integer as protobufjs decodes it (the `long` package). */',
    'export interface ProtoLong { low: number; high: number; unsigned: boolean; toNumber(): number; toString(radix?: number): string }',
    '/** Options of `toObject`. */',
    'export interface ProtoConversionOptions { longs?: Function; enums?: Function; bytes?: Function; defaults?: boolean; arrays?: boolean; objects?: boolean; oneofs?: boolean; json?: boolean }',
    '/** What `encode` returns. */',
    'export interface ProtoWriter { finish(): Uint8Array }',
    '',
  ]
  const emit = (ns, indent) => {
    for (const n of nestedOf(ns)) {
      if (n instanceof protobuf.Enum) {
        out.push(`${indent}enum ${n.name} {`)
        for (const [k, v] of Object.entries(n.values)) out.push(`${indent}  ${k} = ${v},`)
        out.push(`${indent}}`)
        continue
      }
      const fields = n.fieldsArray
      out.push(`${indent}interface I${n.name} {`)
      for (const f of fields) out.push(`${indent}  ${prop(f.name)}?: (${fieldTs(f)}|null)`)
      out.push(`${indent}}`)
      out.push(`${indent}class ${n.name} implements I${n.name} {`)
      out.push(`${indent}  constructor(properties?: ${tsPath(n, true)})`)
      for (const f of fields) out.push(`${indent}  public ${prop(f.name)}${f.repeated || f.map ? '' : '?'}: ${f.repeated || f.map ? fieldTs(f) : `(${fieldTs(f)}|null)`}`)
      out.push(`${indent}  static create(properties?: ${tsPath(n, true)}): ${tsPath(n, false)}`)
      out.push(`${indent}  static encode(message: ${tsPath(n, true)}, writer?: any): ProtoWriter`)
      out.push(`${indent}  static decode(reader: Uint8Array | any, length?: number): ${tsPath(n, false)}`)
      out.push(`${indent}  static fromObject(object: { [k: string]: any }): ${tsPath(n, false)}`)
      out.push(`${indent}  static toObject(message: ${tsPath(n, false)}, options?: ProtoConversionOptions): { [k: string]: any }`)
      out.push(`${indent}  static verify(message: { [k: string]: any }): (string|null)`)
      out.push(`${indent}  static getTypeUrl(typeUrlPrefix?: string): string`)
      out.push(`${indent}  toJSON(): { [k: string]: any }`)
      out.push(`${indent}}`)
      if (nestedOf(n).length) {
        out.push(`${indent}namespace ${n.name} {`)
        emit(n, `${indent}  `)
        out.push(`${indent}}`)
      }
    }
  }
  out.push(`export declare namespace ${JS_NAMESPACE} {`)
  emit(pkg, '  ')
  out.push('}')
  out.push(`export { ${JS_NAMESPACE} as WAProto }`)
  out.push('')
  return out.join('\n')
}

function main() {
  const check = process.argv.includes('--check')
  const protoText = schemaText()
  const outputs = [
    [PROTO_OUT, protoText],
    [JS_OUT, jsText(protoText)],
    [DTS_OUT, dtsText(protoText)],
  ]
  let stale = 0
  for (const [file, text] of outputs) {
    let current = null
    try {
      current = readFileSync(file, 'utf8')
    } catch {}
    if (current === text) continue
    if (check) {
      console.error(`[gen-proto] ${file} is out of date: run node scripts/gen-proto.mjs`)
      stale++
    } else {
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, text)
      console.log(`[gen-proto] wrote ${file}`)
    }
  }
  if (stale) process.exit(1)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main()
