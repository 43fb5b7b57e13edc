// Versions in step: the main package, the testing package, every platform package of both,
// the optionalDependencies that name them, the peer range of the testing package and the
// Cargo workspace all carry one version, and each package.json's napi targets have exactly
// one platform package. `npm run pack` refuses to pack when this finds a problem.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

// napi-rs' platform package names for the Rust target triples we list.
const PLATFORM = {
  'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
  'x86_64-unknown-linux-musl': 'linux-x64-musl',
  'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
  'aarch64-unknown-linux-musl': 'linux-arm64-musl',
  'x86_64-apple-darwin': 'darwin-x64',
  'aarch64-apple-darwin': 'darwin-arm64',
  'x86_64-pc-windows-msvc': 'win32-x64-msvc',
  'aarch64-pc-windows-msvc': 'win32-arm64-msvc',
}

export function platformOf(triple) {
  const p = PLATFORM[triple]
  if (!p) throw new Error(`no napi-rs platform name known for ${triple}`)
  return p
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))

/** The `[workspace.package]` version of a Cargo.toml. */
export function cargoVersion(text) {
  const section = /^\[workspace\.package\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)
  const v = section && /^version\s*=\s*"([^"]+)"/m.exec(section[1])
  return v ? v[1] : null
}

/**
 * The packages of the repository at `root`: the main one (the root) and testing/, each with
 * its platform packages under npm/.
 */
export function packages(root) {
  return [
    { dir: root, npmDir: join(root, 'npm') },
    { dir: join(root, 'testing'), npmDir: join(root, 'testing', 'npm') },
  ].map(({ dir, npmDir }) => {
    const pkg = readJson(join(dir, 'package.json'))
    const platforms = (pkg.napi?.targets ?? []).map((t) => ({ triple: t, platform: platformOf(t) }))
    return { dir, npmDir, pkg, platforms }
  })
}

/** Every way the versions or the platform packages are out of step, as sentences; [] if none. */
export function versionProblems(root) {
  const problems = []
  const [main, testing] = packages(root)
  const version = main.pkg.version
  const expect = (what, v) => {
    if (v !== version) problems.push(`${what} is ${v ?? 'missing'}, not ${version}`)
  }
  expect('Cargo.toml [workspace.package] version', cargoVersion(readFileSync(join(root, 'Cargo.toml'), 'utf8')))
  expect(`${testing.pkg.name} version`, testing.pkg.version)
  expect(`${main.pkg.name}'s peerDependencies["${testing.pkg.name}"]`, main.pkg.peerDependencies?.[testing.pkg.name])
  for (const { npmDir, pkg, platforms } of [main, testing]) {
    const wanted = new Set(platforms.map(({ platform }) => `${pkg.name}-${platform}`))
    const optional = pkg.optionalDependencies ?? {}
    for (const name of wanted) {
      if (!(name in optional)) problems.push(`${pkg.name}'s optionalDependencies lack ${name}`)
    }
    for (const [name, v] of Object.entries(optional)) {
      if (!wanted.has(name)) problems.push(`${pkg.name}'s optionalDependencies name ${name}, which is no napi target`)
      else expect(`${pkg.name}'s optionalDependencies["${name}"]`, v)
    }
    const dirs = existsSync(npmDir) ? readdirSync(npmDir) : []
    for (const { triple, platform } of platforms) {
      const file = join(npmDir, platform, 'package.json')
      if (!existsSync(file)) {
        problems.push(`${pkg.name} has no platform package for ${triple} (${file})`)
        continue
      }
      const p = readJson(file)
      if (p.name !== `${pkg.name}-${platform}`) problems.push(`${file} is named ${p.name}, not ${pkg.name}-${platform}`)
      expect(`${p.name} version`, p.version)
      const node = `${pkg.napi.binaryName}.${platform}.node`
      if (p.main !== node || !(p.files ?? []).includes(node)) problems.push(`${p.name} does not ship ${node}`)
    }
    for (const d of dirs) {
      if (!platforms.some(({ platform }) => platform === d)) problems.push(`${npmDir}/${d} is no napi target of ${pkg.name}`)
    }
  }
  return problems
}
