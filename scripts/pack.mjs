#!/usr/bin/env node
// `npm run pack`: the tarballs a release publishes, written to dist/:
//   baileys-native-<v>.tgz                    JS, typings, the install hook, the Rust sources
//                                             for the fallback build (no test server)
//   baileys-native-<platform>-<v>.tgz         the prebuilt addon, one per platform built here
//   baileys-native-testing-<v>.tgz            the test server's JS (+ its sources, for the fallback)
//   baileys-native-testing-<platform>-<v>.tgz its prebuilt addon, one per platform built here
//
//   node scripts/pack.mjs                     every target this machine can build (profile dist)
//   node scripts/pack.mjs --targets a,b       exactly these Rust target triples; fails when one
//                                             cannot be built here
//   node scripts/pack.mjs --dev-build         pack the addons `npm run build` left in the checkout
//                                             (release profile, host only; no cargo run)
//   --out DIR                                 instead of dist/
//
// Refuses to pack when versions are out of step (scripts/versions.mjs). How each target is
// built here, and how darwin and win32 are built on their own platforms, is in
// docs/packaging.md.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { packages, versionProblems } from './versions.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const CRATES = ['baileys-native', 'baileys-native-testing'] // cargo package = napi binaryName

function parseArgs(argv) {
  const opts = { targets: null, devBuild: false, out: join(root, 'dist') }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--targets') opts.targets = argv[++i].split(',').filter(Boolean)
    else if (a.startsWith('--targets=')) opts.targets = a.slice(10).split(',').filter(Boolean)
    else if (a === '--out') opts.out = resolve(argv[++i])
    else if (a.startsWith('--out=')) opts.out = resolve(a.slice(6))
    else if (a === '--dev-build') opts.devBuild = true
    else throw new Error(`unknown option ${a}`)
  }
  return opts
}

function hostTriple() {
  const r = spawnSync('rustc', ['-vV'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error('rustc -vV failed: is Rust installed?')
  return /^host: (\S+)/m.exec(r.stdout)[1]
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
const envKey = (triple) => triple.toUpperCase().replaceAll('-', '_')

// A Rust standard library for `triple`: rustup's (`rustup target add`), else Debian's
// rustc-web with its multiarch std (libstd-rust-web-dev:arm64), else Debian's rustc with the
// std sources (rust-web-src) for -Zbuild-std. Returns how to run cargo, or why not.
function toolchainFor(triple, host) {
  const base = { triple, env: {}, extra: [], targetDir: join(root, 'target') }
  if (triple === host) return { ...base, native: true }
  const linux = {
    'aarch64-unknown-linux-gnu': { cc: 'aarch64-linux-gnu-gcc', ar: 'aarch64-linux-gnu-ar', pkg: 'gcc-aarch64-linux-gnu' },
    'x86_64-unknown-linux-musl': { cc: 'musl-gcc', ar: 'ar', pkg: 'musl-tools', musl: true },
  }[triple]
  if (!linux || !host.startsWith('x86_64-unknown-linux')) {
    return { ...base, missing: `built on its own platform by the release workflow (.github/workflows/release.yml)` }
  }
  if (!has(linux.cc)) return { ...base, missing: `no C cross compiler ${linux.cc} (Debian: ${linux.pkg})` }
  const k = envKey(triple)
  const env = {
    [`CARGO_TARGET_${k}_LINKER`]: linux.cc,
    [`CC_${triple.replaceAll('-', '_')}`]: linux.cc,
    [`AR_${triple.replaceAll('-', '_')}`]: linux.ar,
  }
  if (linux.musl) {
    // A musl addon links musl dynamically (napi-rs does the same): Node on Alpine loads it.
    env[`CARGO_TARGET_${k}_RUSTFLAGS`] = '-C target-feature=-crt-static'
    env[`CARGO_TARGET_${k}_LINKER`] = muslLinker()
  }
  const libdir = spawnSync('rustc', ['--print', 'target-libdir', '--target', triple], { encoding: 'utf8' }).stdout?.trim()
  if (libdir && existsSync(libdir)) return { ...base, env }
  // Debian's toolchain (another rustc than rustup's: its own target dir).
  // Its own target directory per triple too: the host build scripts of one cross build would
  // otherwise be rebuilt by the other, whose environment differs.
  const debian = { ...base, targetDir: join(root, 'target', 'cross', triple), env: { ...env, CARGO: '/usr/bin/cargo', RUSTC: '/usr/bin/rustc' } }
  if (!existsSync('/usr/bin/rustc') || !existsSync('/usr/bin/cargo')) {
    return { ...base, missing: `no Rust std for ${triple} (rustup target add ${triple}, or Debian: rustc-web cargo-web ${linux.musl ? 'rust-web-src' : 'libstd-rust-web-dev:arm64'})` }
  }
  if (existsSync(`/usr/lib/rustlib/${triple}/lib`)) return debian
  if (existsSync('/usr/lib/rustlib/src/rust/library/Cargo.lock')) {
    return { ...debian, env: { ...debian.env, RUSTC_BOOTSTRAP: '1' }, extra: ['-Zbuild-std=std,panic_unwind'] }
  }
  return { ...base, missing: `no Rust std for ${triple} (rustup target add ${triple}, or Debian: rust-web-src for -Zbuild-std)` }
}

// Dynamically linked, Rust's musl std needs libgcc_s for unwinding (Alpine's Node has it).
// musl-gcc's specs search only musl's directory, where Debian has no libgcc_s.so.1, so the
// link goes through a wrapper that adds a directory holding just that library (its symbols
// are the same GCC_* versions as Alpine's; the addon only records the name).
function muslLinker() {
  const dir = join(root, 'target', 'cross', 'musl-link')
  mkdirSync(dir, { recursive: true })
  const gccS = spawnSync('gcc', ['-print-file-name=libgcc_s.so.1'], { encoding: 'utf8' }).stdout.trim()
  if (!existsSync(gccS)) throw new Error('gcc -print-file-name=libgcc_s.so.1 found nothing (Debian: gcc)')
  const lib = join(dir, 'libgcc_s.so.1')
  if (!existsSync(lib) || realpathSync(lib) !== realpathSync(gccS)) {
    rmSync(lib, { force: true })
    symlinkSync(realpathSync(gccS), lib)
  }
  // Written once: the linker is part of cargo's fingerprints.
  const wrapper = join(dir, 'musl-gcc-link')
  const script = `#!/bin/sh\nexec musl-gcc -L'${dir}' "$@"\n`
  if (!existsSync(wrapper) || readFileSync(wrapper, 'utf8') !== script) writeFileSync(wrapper, script, { mode: 0o755 })
  return wrapper
}

function cargoBuild(tc) {
  const cargo = tc.env.CARGO ?? 'cargo'
  const args = ['build', '--profile', 'dist', '--lib', ...CRATES.flatMap((c) => ['-p', c]), '--target-dir', tc.targetDir]
  if (!tc.native) args.push('--target', tc.triple)
  args.push(...tc.extra)
  console.log(`[pack] ${tc.triple}: ${cargo} ${args.join(' ')}`)
  const t0 = Date.now()
  const r = spawnSync(cargo, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...tc.env } })
  if (r.status !== 0) throw new Error(`cargo build for ${tc.triple} failed`)
  console.log(`[pack] ${tc.triple}: built in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  const dir = tc.native ? join(tc.targetDir, 'dist') : join(tc.targetDir, tc.triple, 'dist')
  return Object.fromEntries(CRATES.map((c) => [c, join(dir, libFile(c, tc.triple))]))
}

// What cargo names a cdylib on each platform.
function libFile(crate, triple) {
  const lib = crate.replaceAll('-', '_')
  if (triple.includes('windows')) return `${lib}.dll`
  if (triple.includes('apple')) return `lib${lib}.dylib`
  return `lib${lib}.so`
}

function npmPack(dir, out) {
  const r = spawnSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8', shell: process.platform === 'win32' })
  if (r.status !== 0) throw new Error(`npm pack in ${dir} failed:\n${r.stderr}`)
  const [info] = JSON.parse(r.stdout)
  return join(out, info.filename)
}

// The testing package as published: its JS plus the install hook and a copy of the Rust
// workspace, so the fallback build works where no prebuilt binary fits.
function stageTesting(stage, testing) {
  const dir = join(stage, 'testing')
  mkdirSync(dir, { recursive: true })
  const pkg = structuredClone(testing.pkg)
  pkg.scripts = { install: 'node scripts/install.mjs' }
  pkg.files = [...pkg.files, 'scripts/install.mjs', 'rust/']
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  for (const f of testing.pkg.files.concat(['README.md'])) copyFileSync(join(testing.dir, f), join(dir, f))
  mkdirSync(join(dir, 'scripts'))
  copyFileSync(join(root, 'scripts', 'install.mjs'), join(dir, 'scripts', 'install.mjs'))
  const skip = (src) => !/[\\/](target|fuzz)([\\/]|$)/.test(src.slice(root.length))
  for (const f of ['Cargo.toml', 'Cargo.lock', 'build.rs', 'src', 'crates', 'proto']) {
    cpSync(join(root, f), join(dir, 'rust', f), { recursive: true, filter: skip })
  }
  return dir
}

function main() {
  const opts = parseArgs(process.argv.slice(2))
  const problems = versionProblems(root)
  if (problems.length) {
    console.error(`[pack] versions out of step:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }
  const [main, testing] = packages(root)
  const host = hostTriple()
  const listed = main.pkg.napi.targets

  // Which addons to pack, per target: { triple, platform, files: { crate: path } }
  const built = []
  if (opts.devBuild) {
    const platform = main.platforms.find((p) => p.triple === host)?.platform
    if (!platform) throw new Error(`${host} is not a napi target of ${main.pkg.name}`)
    const files = { [CRATES[0]]: join(root, `${CRATES[0]}.${platform}.node`), [CRATES[1]]: join(testing.dir, `${CRATES[1]}.${platform}.node`) }
    for (const f of Object.values(files)) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`)
    }
    built.push({ triple: host, platform, files })
  } else {
    const wanted = opts.targets ?? listed
    for (const t of wanted) {
      if (!listed.includes(t)) throw new Error(`${t} is not in package.json napi.targets`)
      const tc = toolchainFor(t, host)
      if (tc.missing) {
        if (opts.targets) throw new Error(`cannot build ${t} here: ${tc.missing}`)
        console.log(`[pack] ${t}: not built here: ${tc.missing}`)
        continue
      }
      built.push({ triple: t, platform: main.platforms.find((p) => p.triple === t).platform, files: cargoBuild(tc) })
    }
  }

  const stage = join(root, 'target', 'pack')
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(opts.out, { recursive: true })
  const tarballs = [npmPack(root, opts.out), npmPack(stageTesting(stage, testing), opts.out)]
  for (const { platform, files } of built) {
    for (const [pkgInfo, crate] of [[main, CRATES[0]], [testing, CRATES[1]]]) {
      const dir = join(stage, `${pkgInfo.pkg.name}-${platform}`)
      cpSync(join(pkgInfo.npmDir, platform), dir, { recursive: true })
      copyFileSync(files[crate], join(dir, `${crate}.${platform}.node`))
      tarballs.push(npmPack(dir, opts.out))
    }
  }
  rmSync(stage, { recursive: true, force: true })
  for (const t of tarballs) console.log(`[pack] ${t} (${(statSync(t).size / 1024).toFixed(0)} KiB)`)
}

main()
