#!/usr/bin/env node
// `npm run bench [name...]`: runs benchmark/*.bench.mjs (or the named ones) one after another.
// Each compares baileys-native with Baileys on the same input in the same run and prints ratios.
// Benchmarks are measurements, never pass/fail tests.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort()
if (files.length === 0) {
  console.error(`no benchmark matches ${wanted.join(', ') || '(any)'}`)
  process.exit(1)
}
let failed = false
for (const f of files) {
  console.log(`\n## ${f}`)
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, f)], { stdio: 'inherit' })
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
