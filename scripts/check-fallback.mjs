#!/usr/bin/env node
// Checks the fallback build (issue 17): the main and testing tarballs installed WITHOUT their
// platform packages, so no prebuilt binary fits and the install hook builds each addon from
// the Rust sources in the package. It must say so in one line, build in a temporary
// directory and remove it, and leave nothing but the addon in node_modules; the addons it
// built must work (the codec and the test server). Prints the install time.
//
// Takes minutes (two `dist` builds from a cold target directory, as a user's would be), so
// it is not part of `npm test`; `.ci/run` runs it with CI_RELEASE_CHECKS=1 (docs/packaging.md).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const failures = []
let checks = 0
function check(name, ok, detail = '') {
  checks++
  console.log(`${ok ? 'ok' : 'FAILED'}: ${name}${ok || !detail ? '' : `\n  ${String(detail).trim().split('\n').join('\n  ')}`}`)
  if (!ok) failures.push(name)
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else out.push(p)
  }
  return out
}

const leftovers = () => readdirSync(tmpdir()).filter((d) => /^baileys-native(-testing)?-build-/.test(d))

const PROBE = `
const { readFileSync } = require('node:fs')
const wa = require('baileys-native')
const { startTestServer } = require('baileys-native/testing')
;(async () => {
  const frame = readFileSync(require.resolve('baileys-native/package.json').replace('package.json', 'crates/wa-binary/tests/corpus/message-out-fanout.bin'))
  const node = await wa.decodeBinaryNode(frame)
  const server = await startTestServer()
  console.log(JSON.stringify({ roundTrip: wa.encodeBinaryNode(node).equals(frame), url: server.url }))
  await server.stop()
})().catch((e) => { console.error(e); process.exit(1) })
`

function main() {
  const work = mkdtempSync(join(tmpdir(), 'baileys-native-fallback-'))
  const before = new Set(leftovers())
  try {
    const dist = join(work, 'dist')
    const p = spawnSync(process.execPath, [join(root, 'scripts', 'pack.mjs'), '--dev-build', '--out', dist], { stdio: 'inherit' })
    if (p.status !== 0) throw new Error('scripts/pack.mjs failed')
    const project = join(work, 'bot')
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bot', version: '1.0.0', private: true }))
    const t0 = Date.now()
    const r = spawnSync('npm', ['install', '--offline', '--cache', join(work, 'npm-cache'), '--no-audit', '--no-fund', '--foreground-scripts',
      join(dist, `baileys-native-${version}.tgz`), join(dist, `baileys-native-testing-${version}.tgz`)],
    { cwd: project, encoding: 'utf8', maxBuffer: 64 << 20 })
    const seconds = ((Date.now() - t0) / 1000).toFixed(0)
    const out = `${r.stdout}${r.stderr}`
    check(`npm install without a prebuilt binary succeeds (${seconds} s)`, r.status === 0, out.slice(-4000))
    const said = out.split('\n').filter((l) => /no prebuilt binary/.test(l))
    check('each package says so in one line', said.length === 2 && said.every((l) => /building it from source with cargo/.test(l)), said.join('\n') || out.slice(-2000))

    const nm = join(project, 'node_modules')
    const binaries = walk(nm).filter((f) => /\.(node|so|rlib|rmeta|o|a)$/.test(f) || /[\\/]target[\\/]/.test(f)).map((f) => f.slice(nm.length + 1)).sort()
    const triple = 'linux-x64-gnu'
    check('only the two addons are left (no target/, no objects)', JSON.stringify(binaries) === JSON.stringify([
      `baileys-native-testing/baileys-native-testing.${triple}.node`, `baileys-native/baileys-native.${triple}.node`].sort()), binaries.join('\n'))
    check('the temporary build directories are removed', leftovers().filter((d) => !before.has(d)).length === 0, leftovers().join('\n'))
    const lock = join(nm, 'baileys-native', 'Cargo.lock')
    check('the package\'s own sources are untouched (Cargo.lock as packed)', spawnSync('tar', ['-xzOf', join(dist, `baileys-native-${version}.tgz`), 'package/Cargo.lock'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout === readFileSync(lock, 'utf8'))

    const probe = spawnSync(process.execPath, ['-e', PROBE], { cwd: project, encoding: 'utf8', timeout: 60_000 })
    let res = null
    try {
      res = JSON.parse(probe.stdout.trim().split('\n').pop())
    } catch {}
    check('the built addons work: the codec round-trips a frame, the test server starts', res?.roundTrip === true && /^ws:\/\//.test(res?.url ?? ''), `${probe.stdout}${probe.stderr}`)
    const size = walk(nm).reduce((n, f) => n + readFileSync(f).length, 0)
    console.log(`node_modules: ${(size / 1024 / 1024).toFixed(1)} MB; install took ${seconds} s`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  console.log(`\nfallback check: ${checks - failures.length} passed, ${failures.length} failed`)
  if (failures.length) process.exit(1)
}

main()
