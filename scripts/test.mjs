#!/usr/bin/env node
// `npm test`: the whole suite. Rust tests (every workspace crate) then the JS tests over the
// freshly built addon. Runs both halves and fails if either fails.
//
// The Rust tests use the release profile on purpose: the addon is built in release, so the
// dependency tree is compiled once, not twice (debug + release), which keeps CI short.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const failures = []

function step(name, cmd, args, env = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (r.error || r.status !== 0) failures.push(name)
  return !r.error && r.status === 0
}

const built = step('build addon', process.execPath, ['scripts/build.mjs'])

// napi builds the addon for the host triple named explicitly (target/<triple>/release); naming
// it here too lets the test binaries reuse those compiled dependencies instead of building the
// tree a second time under target/release (about a third of the Rust test build).
const host = /^host: (\S+)$/m.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout || '')?.[1]
const targetArgs = host ? ['--target', host] : []
const hasNextest = spawnSync('cargo', ['nextest', '--version'], { stdio: 'ignore' }).status === 0
if (hasNextest) {
  step('rust tests', 'cargo', ['nextest', 'run', '--workspace', '--cargo-profile', 'release', ...targetArgs, '--no-fail-fast'])
} else {
  step('rust tests', 'cargo', ['test', '--workspace', '--release', ...targetArgs, '--no-fail-fast'])
}

if (built) {
  const files = readdirSync(join(root, '__test__'))
    .filter((f) => /\.test\.(m?js|cjs)$/.test(f))
    .sort()
    .map((f) => join('__test__', f))
  step('js tests', process.execPath, ['--test', '--test-concurrency=1', ...files])
} else {
  console.log('\n=== js tests skipped: the addon did not build (counted as a failure above)')
}

if (failures.length) {
  console.error(`\nnpm test FAILED: ${failures.join(', ')}`)
  process.exit(1)
}
console.log('\nnpm test passed: rust tests and js tests')
