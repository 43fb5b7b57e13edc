// The addon's hot code lies together (build.rs hands the linker build/code-order.txt): the
// functions a running host executes, as scripts/code-order.mjs profiled them, must still exist
// under those names and sit side by side at the start of the code, not spread over its 18 MB.
// A host's resident code depends on it (docs/performance.md, "Stop 39"). When a compiler or
// dependency update renames them, this fails: rerun `node scripts/code-order.mjs`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const addon = `${root}baileys-native.linux-x64-gnu.node`
const why =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? 'the order is applied to x86-64 Linux builds only'
    : !existsSync(addon)
      ? 'no linux-x64-gnu addon built here'
      : false

test('the functions a host runs are laid out together', { skip: why }, () => {
  const listed = readFileSync(`${root}build/code-order.txt`, 'utf8').split('\n').filter(Boolean)
  const nm = spawnSync('nm', ['--defined-only', '-S', addon], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 })
  assert.equal(nm.status, 0, `nm: ${nm.stderr}`)
  const syms = new Map()
  for (const l of nm.stdout.split('\n')) {
    const [addr, size, kind, name] = l.split(' ')
    if (name && /^[tTwW]$/.test(kind)) syms.set(name, { addr: parseInt(addr, 16), size: parseInt(size, 16) })
  }
  // The names the profile saw (the plain-name twins of `.llvm.` names exist only in one-unit builds).
  const seen = listed.filter((n, i) => !(i > 0 && listed[i - 1].startsWith(`${n}.llvm.`)))
  const found = seen.map((n) => syms.get(n)).filter(Boolean)
  const share = found.length / seen.length
  console.log(`code order: ${found.length} of ${seen.length} listed functions in this build`)
  assert.ok(share > 0.9, `only ${(share * 100).toFixed(0)}% of the listed functions exist: rerun node scripts/code-order.mjs`)
  const start = Math.min(...found.map((s) => s.addr))
  const end = Math.max(...found.map((s) => s.addr + s.size))
  const bytes = found.reduce((a, s) => a + s.size, 0)
  // Alignment padding only: unordered, the same functions spread over most of the code.
  assert.ok(end - start < bytes * 1.5, `the listed ${(bytes / 1024).toFixed(0)} KB span ${((end - start) / 1024).toFixed(0)} KB`)
  const text = [...syms.values()].reduce((a, s) => Math.min(a, s.addr), Infinity)
  assert.ok(start - text < 64 * 1024, 'they start the code')
})
