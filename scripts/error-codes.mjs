#!/usr/bin/env node
// Every stable error code baileys-native can give out, collected from the sources that raise
// them (the Rust crates and binding, and lib/ for the few raised in JavaScript), written as the
// `ErrorCode` union of the typings (lib/types/01-error-codes.d.ts). scripts/build.mjs runs it, so
// a code added in Rust reaches the typings with the next build, and CI's drift check on
// index.d.ts fails when the committed typings lag behind.
//
//   node scripts/error-codes.mjs          rewrite lib/types/01-error-codes.d.ts
//   node scripts/error-codes.mjs --list   print the codes, one per line
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const CODE = /["'`](ERR_WA_[A-Z0-9_]+)["'`]/g

function walk(dir, ext, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'target' || name === 'node_modules' || name === 'tests' || name === 'benches') continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, ext, out)
    else if (ext.some((e) => name.endsWith(e))) out.push(p)
  }
  return out
}

export function collectCodes() {
  const files = [...walk(join(root, 'crates'), ['.rs']), ...walk(join(root, 'src'), ['.rs']), ...walk(join(root, 'lib'), ['.js'])]
  const codes = new Set()
  for (const f of files) {
    const text = readFileSync(f, 'utf8')
    // Unit tests may name codes that only they construct; they sit after `#[cfg(test)]`.
    const shipped = f.endsWith('.rs') ? text.split('#[cfg(test)]')[0] : text
    for (const m of shipped.matchAll(CODE)) codes.add(m[1])
  }
  return [...codes].sort()
}

export function renderTypings(codes) {
  return [
    '/** Every stable `code` a baileys-native error can carry (generated from the sources by',
    ' * scripts/error-codes.mjs; do not edit). */',
    'export type ErrorCode =',
    ...codes.map((c) => `  | '${c}'`),
    '',
    '/** An error raised by baileys-native: a JS `Error` whose `code` is one of ours. */',
    'export interface BaileysNativeError extends Error {',
    '  code: ErrorCode',
    '  /** The Signal address a Signal error concerns. */',
    '  address?: string',
    '}',
    '',
  ].join('\n')
}

export const TYPINGS = join(root, 'lib', 'types', '01-error-codes.d.ts')

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const codes = collectCodes()
  if (process.argv.includes('--list')) console.log(codes.join('\n'))
  else writeFileSync(TYPINGS, renderTypings(codes))
}
