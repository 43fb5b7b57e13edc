#!/usr/bin/env node
// The npm `install` hook of baileys-native and of baileys-native-testing (`npm run pack` puts a
// copy in the testing package).
//
// - Installed from a tarball or the registry: when a prebuilt binary fits this platform (the
//   platform package npm picked from optionalDependencies, or a `.node` beside the package)
//   it does nothing. Otherwise it says so in one line and builds the addon from the Rust
//   sources shipped in the package, with cargo, in a temporary directory that it removes
//   afterwards: only the addon is left in node_modules.
// - In a development checkout of the repository it builds both addons (scripts/build.mjs).
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const binaryName = pkg.napi.binaryName // also the cargo package's name
const tag = `[${pkg.name}]`

/** napi-rs' platform names: `linux-x64-gnu`, `linux-x64-musl`, `darwin-arm64`, `win32-x64-msvc`... */
export function platformTriple(platform = process.platform, arch = process.arch) {
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

// As napi-rs' generated loader decides: the text of /usr/bin/ldd first, then whether Node
// reports a glibc runtime.
function isMusl() {
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    return !process.report?.getReport?.().header?.glibcVersionRuntime
  }
}

function prebuiltFits(triple) {
  if (existsSync(join(root, `${binaryName}.${triple}.node`))) return true
  try {
    createRequire(join(root, 'package.json')).resolve(`${pkg.name}-${triple}/package.json`)
    return true
  } catch {
    return false
  }
}

// Where the package keeps its Rust workspace: the main package at its root, the testing
// package under rust/.
function sourceTree() {
  for (const dir of [root, join(root, 'rust')]) {
    if (existsSync(join(dir, 'Cargo.toml'))) return dir
  }
  return null
}

const WORKSPACE = ['Cargo.toml', 'Cargo.lock', 'build.rs', 'src', 'crates', 'proto']

function buildFromSource(triple) {
  const sources = sourceTree()
  if (!sources) {
    console.error(`${tag} no prebuilt binary for ${triple} and no Rust sources in the package`)
    process.exit(1)
  }
  console.log(`${tag} no prebuilt binary for ${triple}: building it from source with cargo (a few minutes)`)
  const tmp = mkdtempSync(join(tmpdir(), `${pkg.name}-build-`))
  try {
    // The sources are copied, so cargo writes nothing (lock file, target/) into node_modules.
    for (const entry of WORKSPACE) {
      if (existsSync(join(sources, entry))) cpSync(join(sources, entry), join(tmp, 'src', entry), { recursive: true })
    }
    const r = spawnSync(
      'cargo',
      ['build', '--quiet', '--profile', 'dist', '--lib', '-p', binaryName,
        '--manifest-path', join(tmp, 'src', 'Cargo.toml'), '--target-dir', join(tmp, 'target')],
      { stdio: 'inherit' },
    )
    if (r.error?.code === 'ENOENT') {
      console.error(`${tag} cargo is not installed: install Rust (rustup) or use a platform with a prebuilt binary`)
      process.exit(1)
    }
    if (r.status !== 0) process.exit(r.status ?? 1)
    const lib = binaryName.replaceAll('-', '_')
    const built = process.platform === 'win32' ? `${lib}.dll` : process.platform === 'darwin' ? `lib${lib}.dylib` : `lib${lib}.so`
    copyFileSync(join(tmp, 'target', 'dist', built), join(root, `${binaryName}.${triple}.node`))
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

function main() {
  const devCheckout = existsSync(join(root, '.git')) && existsSync(join(root, 'scripts', 'build.mjs'))
  if (devCheckout) {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' })
    process.exit(r.status ?? 1)
  }
  const triple = platformTriple()
  if (prebuiltFits(triple)) return
  buildFromSource(triple)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main()
