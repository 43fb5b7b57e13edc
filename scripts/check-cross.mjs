#!/usr/bin/env node
// Checks the cross-compiled platform packages (issue 17): it packs linux-arm64-gnu and
// linux-x64-musl (scripts/pack.mjs builds them when they are not fresh), then
//   - each addon of both packages is an ELF shared object of the right machine, linked
//     against the right C library (glibc's libc.so.6, or musl without any GLIBC_ symbol
//     version), and musl's own loader resolves it (only Node's napi_* symbols stay open);
//   - the arm64 addons load in an arm64 Node under qemu-user, and the codec round-trips a
//     real frame there while the test server serves, all from the installed packages.
// Needs the Debian packages listed in docs/packaging.md; fails, naming what is missing,
// rather than skip anything.
//
//   node scripts/check-cross.mjs [--dist DIR]   check the tarballs already in DIR instead
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const TARGETS = {
  'linux-arm64-gnu': { triple: 'aarch64-unknown-linux-gnu', machine: 'AArch64', libc: 'glibc' },
  'linux-x64-musl': { triple: 'x86_64-unknown-linux-musl', machine: 'Advanced Micro Devices X86-64', libc: 'musl' },
}
const failures = []
let checks = 0

function check(name, ok, detail = '') {
  checks++
  console.log(`${ok ? 'ok' : 'FAILED'}: ${name}${ok || !detail ? '' : `\n  ${detail.trim().split('\n').join('\n  ')}`}`)
  if (!ok) failures.push(name)
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`)
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

function need(cmd, debian) {
  if (sh('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} is missing (Debian: ${debian})`)
}

// Unpacks a tarball as npm would place it: node_modules/<name>.
function unpack(tgz, nm, name) {
  const dir = join(nm, name)
  mkdirSync(dir, { recursive: true })
  const r = sh('tar', ['-xzf', tgz, '-C', dir, '--strip-components=1'])
  if (r.status !== 0) throw new Error(`tar ${tgz}: ${r.out}`)
  return dir
}

function checkElf(file, { machine, libc }, label) {
  const header = sh('readelf', ['-h', file]).out
  check(`${label}: ELF64 shared object`, /Class:\s+ELF64/.test(header) && /Type:\s+DYN/.test(header), header)
  check(`${label}: machine ${machine}`, new RegExp(`Machine:\\s+${machine}`).test(header), header)
  const dynamic = sh('readelf', ['-d', file]).out
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
  const versions = sh('readelf', ['-V', file]).out
  if (libc === 'glibc') {
    check(`${label}: links glibc (${needed.join(', ')})`, needed.includes('libc.so.6') && !needed.some((n) => n.includes('musl')), dynamic)
  } else {
    check(`${label}: links musl, not glibc (${needed.join(', ')})`, needed.includes('libc.so') && !needed.includes('libc.so.6'), dynamic)
    check(`${label}: no GLIBC_ symbol versions`, !/GLIBC_/.test(versions), versions.split('\n').filter((l) => l.includes('GLIBC_')).slice(0, 5).join('\n'))
    // musl's loader as ldd: every library found and every symbol bound, except Node's napi_*.
    // libgcc_s.so.1 is the target's (Alpine's libgcc, which its Node needs too); this machine
    // has no musl build of it, so its _Unwind_* symbols stay open here as well.
    check(`${label}: needs nothing but musl and libgcc_s`, needed.every((n) => n === 'libc.so' || n === 'libgcc_s.so.1'), needed.join(', '))
    const ldd = sh('/lib/ld-musl-x86_64.so.1', ['--list', file]).out
    const unresolved = [...ldd.matchAll(/Error relocating [^:]+: (\S+): symbol not found/g)].map((m) => m[1])
    const other = unresolved.filter((s) => !/^(napi_|_Unwind_)/.test(s))
    const rest = ldd.replace(/Error relocating [^\n]+symbol not found/g, '').replace(/Error loading shared library libgcc_s\.so\.1[^\n]*/, '')
    check(`${label}: musl's loader binds every other symbol (${unresolved.length} napi_*/_Unwind_* left to Node and libgcc_s)`,
      other.length === 0 && !/not found|Error loading/.test(rest), `${other.join(', ')}\n${ldd.slice(0, 2000)}`)
  }
}

// An arm64 Node from Debian's packages, unpacked into a private root that qemu-user uses
// as its prefix (-L): nothing arm64 is installed on the system for it.
function arm64Node(cacheDir) {
  const sysroot = join(cacheDir, 'sysroot')
  const node = join(sysroot, 'usr', 'bin', 'node')
  if (existsSync(node)) return { sysroot, node }
  const debs = join(cacheDir, 'debs')
  mkdirSync(debs, { recursive: true })
  // Debian's Node and its libraries; its externalized builtins (acorn, cjs-module-lexer,
  // undici) are architecture-independent packages.
  const pkgs = ['nodejs', 'libnode108', 'libc6', 'libgcc-s1', 'libstdc++6', 'libuv1', 'libc-ares2', 'libbrotli1',
    'libnghttp2-14', 'libicu72', 'libssl3', 'zlib1g'].map((p) => `${p}:arm64`)
  const r = sh('apt-get', ['download', ...pkgs, 'node-acorn', 'node-cjs-module-lexer', 'node-undici'], { cwd: debs })
  if (r.status !== 0) {
    throw new Error(`apt-get download of arm64 Node failed (needs \`dpkg --add-architecture arm64 && apt-get update\`):\n${r.out}`)
  }
  for (const deb of readdirSync(debs).filter((f) => f.endsWith('.deb'))) {
    const x = sh('dpkg-deb', ['-x', join(debs, deb), sysroot])
    if (x.status !== 0) throw new Error(`dpkg-deb ${deb}: ${x.out}`)
  }
  return { sysroot, node }
}

// Runs in the arm64 Node: the codec on a captured frame, and the test server answering on
// loopback through the arm64 testing addon.
const ARM64_PROBE = `
const { readFileSync } = require('node:fs')
const wa = require('baileys-native')
const { startTestServer } = require('baileys-native/testing')
;(async () => {
  const frame = readFileSync(require.resolve('baileys-native/package.json').replace('package.json', 'crates/wa-binary/tests/corpus/message-out-fanout.bin'))
  const node = await wa.decodeBinaryNode(frame)
  const server = await startTestServer({ seed: 'qemu' })
  const out = { arch: process.arch, node: process.version, tag: node.tag, roundTrip: wa.encodeBinaryNode(node).equals(frame),
    serverUrl: server.url, rootKeyBytes: server.rootPublicKey.length }
  await server.stop()
  console.log(JSON.stringify(out))
})().catch((e) => { console.error(e); process.exit(1) })
`

function main() {
  const argv = process.argv.slice(2)
  let dist = argv.includes('--dist') ? argv[argv.indexOf('--dist') + 1] : null
  // --only PLATFORM: that platform's checks alone (for tarballs of one target)
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null
  if (only && !TARGETS[only]) throw new Error(`--only takes one of ${Object.keys(TARGETS).join(', ')}`)
  for (const p of Object.keys(TARGETS)) if (only && p !== only) delete TARGETS[p]
  need('readelf', 'binutils')
  need('qemu-aarch64', 'qemu-user')
  need('tar', 'tar')
  const work = mkdtempSync(join(tmpdir(), 'baileys-native-cross-'))
  try {
    if (!dist) {
      dist = join(work, 'dist')
      const r = spawnSync(process.execPath, [join(root, 'scripts', 'pack.mjs'), '--targets', Object.values(TARGETS).map((t) => t.triple).join(','), '--out', dist], { stdio: 'inherit' })
      if (r.status !== 0) throw new Error('scripts/pack.mjs failed')
    }
    for (const [platform, t] of Object.entries(TARGETS)) {
      for (const pkg of ['baileys-native', 'baileys-native-testing']) {
        const nm = join(work, platform, 'node_modules')
        const dir = unpack(join(dist, `${pkg}-${platform}-${version}.tgz`), nm, `${pkg}-${platform}`)
        checkElf(join(dir, `${pkg}.${platform}.node`), t, `${pkg}.${platform}.node`)
      }
    }

    if (TARGETS['linux-arm64-gnu']) qemuArm64(work, dist)
    else console.log('arm64 under qemu: not run (--only)')
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  console.log(`\ncross check: ${checks - failures.length} passed, ${failures.length} failed`)
  if (failures.length) process.exit(1)
}

// The arm64 packages installed, then loaded and used in an arm64 Node under qemu-user.
function qemuArm64(work, dist) {
  const nm = join(work, 'linux-arm64-gnu', 'node_modules')
  unpack(join(dist, `baileys-native-${version}.tgz`), nm, 'baileys-native')
  unpack(join(dist, `baileys-native-testing-${version}.tgz`), nm, 'baileys-native-testing')
  const { sysroot, node } = arm64Node(join(root, 'target', 'qemu-arm64'))
  const r = sh('qemu-aarch64', ['-L', sysroot, node, '-e', ARM64_PROBE], { cwd: join(work, 'linux-arm64-gnu'), timeout: 300_000 })
  let probe = null
  try {
    probe = JSON.parse(r.out.trim().split('\n').pop())
  } catch {}
  check(`arm64 under qemu: the addons load in ${probe?.node ?? 'an arm64 Node'} (${probe?.arch})`, r.status === 0 && probe?.arch === 'arm64', r.out)
  check('arm64 under qemu: the codec round-trips a captured <message> frame', probe?.tag === 'message' && probe?.roundTrip === true, r.out)
  check('arm64 under qemu: the test server starts and stops', /^ws:\/\/127\.0\.0\.1:\d+/.test(probe?.serverUrl ?? '') && probe?.rootKeyBytes === 32, r.out)
}

main()
