// Versions in step (scripts/versions.mjs, which `npm run pack` runs before packing): the
// repository is in step, and each kind of drift is caught in a copy of it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cargoVersion, packages, versionProblems } from '../scripts/versions.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

test('the repository is in step', () => {
  assert.deepEqual(versionProblems(root), [])
  const [main, testing] = packages(root)
  assert.equal(main.pkg.name, 'baileys-native')
  assert.equal(testing.pkg.name, 'baileys-native-testing')
  // napi-rs' expected platforms are all listed, for both packages
  for (const p of [main, testing]) {
    assert.deepEqual(p.platforms.map((x) => x.platform).sort(),
      ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'linux-x64-musl', 'win32-x64-msvc'])
  }
})

test('cargoVersion reads the workspace version, not a dependency\'s', () => {
  const text = '[workspace.dependencies]\nfoo = { version = "9" }\n\n[workspace.package]\nedition = "2024"\nversion = "1.2.3"\n\n[package]\nversion = "7.7.7"\n'
  assert.equal(cargoVersion(text), '1.2.3')
  assert.equal(cargoVersion('[package]\nversion = "1.0.0"\n'), null)
})

// A copy of just the manifests versions.mjs reads.
function copy() {
  const dir = mkdtempSync(join(tmpdir(), 'bn-versions-'))
  for (const f of ['package.json', 'Cargo.toml', 'npm', 'testing/package.json', 'testing/npm']) {
    cpSync(join(root, f), join(dir, f), { recursive: true })
  }
  return dir
}

function edit(dir, file, fn) {
  const p = join(dir, file)
  const text = readFileSync(p, 'utf8')
  writeFileSync(p, file.endsWith('.json') ? JSON.stringify(fn(JSON.parse(text)), null, 2) : fn(text))
}

const DRIFTS = [
  ['a platform package', (d) => edit(d, 'npm/linux-arm64-gnu/package.json', (p) => ({ ...p, version: '0.0.9' })), /baileys-native-linux-arm64-gnu version is 0\.0\.9/],
  ['a testing platform package', (d) => edit(d, 'testing/npm/linux-x64-musl/package.json', (p) => ({ ...p, version: '9.9.9' })), /baileys-native-testing-linux-x64-musl version is 9\.9\.9/],
  ['the testing package', (d) => edit(d, 'testing/package.json', (p) => ({ ...p, version: '0.2.0' })), /baileys-native-testing version is 0\.2\.0/],
  ['an optionalDependency', (d) => edit(d, 'package.json', (p) => ({ ...p, optionalDependencies: { ...p.optionalDependencies, 'baileys-native-darwin-x64': '^0.1.0' } })), /optionalDependencies\["baileys-native-darwin-x64"\] is \^0\.1\.0/],
  ['the peer range', (d) => edit(d, 'package.json', (p) => ({ ...p, peerDependencies: { 'baileys-native-testing': '0.0.1' } })), /peerDependencies\["baileys-native-testing"\] is 0\.0\.1/],
  ['the Cargo workspace', (d) => edit(d, 'Cargo.toml', (t) => t.replace(/^version = "[^"]+"/m, 'version = "0.3.0"')), /Cargo\.toml \[workspace\.package\] version is 0\.3\.0/],
  ['a target without a package', (d) => edit(d, 'package.json', (p) => ({ ...p, napi: { ...p.napi, targets: [...p.napi.targets, 'aarch64-unknown-linux-musl'] } })), /has no platform package for aarch64-unknown-linux-musl/],
  ['a missing optionalDependency', (d) => edit(d, 'testing/package.json', (p) => { const o = { ...p.optionalDependencies }; delete o['baileys-native-testing-win32-x64-msvc']; return { ...p, optionalDependencies: o } }), /optionalDependencies lack baileys-native-testing-win32-x64-msvc/],
  ['a platform package of the wrong name', (d) => edit(d, 'npm/darwin-arm64/package.json', (p) => ({ ...p, name: 'baileys-native-darwin-universal' })), /is named baileys-native-darwin-universal/],
]

for (const [what, drift, message] of DRIFTS) {
  test(`drift is caught: ${what}`, () => {
    const dir = copy()
    try {
      assert.deepEqual(versionProblems(dir), [], 'the copy starts in step')
      drift(dir)
      const problems = versionProblems(dir)
      assert.ok(problems.some((p) => message.test(p)), problems.join('\n'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
