#!/usr/bin/env node
// Writes the realistic stanza corpus (__test__/fixtures/binary-corpus.mjs) as frames encoded by
// the real Baileys 7 to crates/wa-binary/tests/corpus/<name>.bin, so the Rust tests and benches
// check against bytes no one here produced. Frames listed in COMPRESSED are zlib-compressed with
// flag 2, as the server sends large stanzas. __test__/binary-corpus.test.mjs fails if the files
// drift from what this script writes.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'
import { encodeBinaryNode } from '@whiskeysockets/baileys'
import { corpus, COMPRESSED } from '../__test__/fixtures/binary-corpus.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, 'crates', 'wa-binary', 'tests', 'corpus')

export function corpusFrames() {
  const out = {}
  for (const [name, node] of Object.entries(corpus())) {
    const plain = encodeBinaryNode(node)
    out[name] = COMPRESSED.includes(name)
      ? Buffer.concat([Buffer.from([2]), deflateSync(plain.subarray(1))])
      : plain
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(dir, { recursive: true })
  for (const [name, frame] of Object.entries(corpusFrames())) {
    writeFileSync(join(dir, `${name}.bin`), frame)
    console.log(`${name}.bin  ${frame.length} bytes`)
  }
}
