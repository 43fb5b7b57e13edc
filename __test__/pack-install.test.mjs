// A user's install: `npm run pack` writes the tarballs, npm installs them into a fresh project
// with cargo gone from PATH, and a bot there pairs, sends and receives against the test
// server. Nothing may be compiled; node_modules must stay small. Then a production install
// (no testing package) carries no test server and says how to get one.
//
// The tarballs hold the addons `npm run build` made (pack --dev-build: release profile, this
// platform), so the test runs in seconds; the `dist` profile and the cross targets are built
// by `npm run pack` itself (docs/packaging.md).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const platform = 'linux-x64-gnu'
const supported = process.platform === 'linux' && process.arch === 'x64' && !!process.report.getReport().header.glibcVersionRuntime

// PATH without cargo: rustup's directory dropped, and shims that record any call put first,
// so a cargo or rustc elsewhere on PATH (a distribution's /usr/bin/cargo) is shadowed too.
function pathWithoutCargo(dir) {
  const shims = join(dir, 'shims')
  mkdirSync(shims)
  for (const tool of ['cargo', 'rustc', 'rustup']) {
    const f = join(shims, tool)
    writeFileSync(f, `#!/bin/sh\necho "${tool} $*" >> "${join(dir, 'compiler-calls.log')}"\nexit 127\n`)
    chmodSync(f, 0o755)
  }
  const rest = process.env.PATH.split(delimiter).filter((d) => !/[\/]\.(cargo|rustup)[\/]/.test(d))
  const env = { ...process.env, PATH: [shims, ...rest].join(delimiter) }
  for (const k of ['CARGO', 'RUSTC', 'RUSTUP_TOOLCHAIN', 'CARGO_TARGET_DIR']) delete env[k]
  return env
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.error?.message ?? r.status}):\n${out}`)
  return out
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else if (e.isFile()) out.push(p)
  }
  return out
}

const size = (dir) => walk(dir).reduce((n, f) => n + statSync(f).size, 0)
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`

function npmInstall(project, env, tarballs) {
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bot', version: '1.0.0', private: true }))
  // --offline: nothing comes from a registry. Our packages come from the tarballs; the few
  // runtime dependencies (pino, @hapi/boom, protobufjs) from the npm cache the checkout's own
  // `npm install` filled; the platform packages of other platforms (optional, never cached)
  // are skipped.
  const t0 = Date.now()
  const out = run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs], {
    cwd: project,
    env,
  })
  return { out, ms: Date.now() - t0 }
}

const BOT = `
import makeWASocket, { initAuthCreds, KeyStore, MemoryEngine } from 'baileys-native'
import { startTestServer } from 'baileys-native/testing'

const text = (m) => m.message?.conversation ?? m.message?.extendedTextMessage?.text
const server = await startTestServer({ seed: 'pack-test' })
const friend = server.phone('15550199')
const auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }
const connect = () => makeWASocket({ auth, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey })
const timer = setTimeout(() => { console.log('timed out'); process.exit(2) }, 60_000)
await new Promise((resolve, reject) => {
  const start = (sock) => {
    sock.ev.on('connection.update', async ({ qr, connection, lastDisconnect }) => {
      try {
        if (qr) console.log('paired ' + await server.scanQR(qr, { phoneNumber: '15550100' }))
        if (connection === 'open') {
          const sent = await sock.sendMessage('15550199@s.whatsapp.net', { text: 'ping from a packed bot' })
          console.log('sent ' + sent.key.id)
          console.log('friend got ' + text((await friend.waitForInbox(1))[0]))
          await friend.sendText('15550100@s.whatsapp.net', 'pong')
        }
        if (connection === 'close') {
          if (lastDisconnect?.error?.output?.statusCode === 515) start(connect())
          else resolve()
        }
      } catch (err) { reject(err) }
    })
    sock.ev.on('messages.upsert', async ({ messages }) => {
      for (const m of messages) {
        if (m.key.fromMe || !text(m)) continue
        console.log('bot got ' + text(m))
        await sock.logout()
      }
    })
  }
  start(connect())
})
clearTimeout(timer)
await server.stop()
`

test('the packed tarballs install without cargo, compile nothing, and a bot runs there', { skip: !supported && 'the dev build packs linux-x64-gnu only', timeout: 300_000 }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'baileys-native-pack-'))
  try {
    const dist = join(tmp, 'dist')
    run(process.execPath, [join(root, 'scripts', 'pack.mjs'), '--dev-build', '--out', dist], { cwd: root })
    const names = [`baileys-native-${version}.tgz`, `baileys-native-${platform}-${version}.tgz`,
      `baileys-native-testing-${version}.tgz`, `baileys-native-testing-${platform}-${version}.tgz`]
    assert.deepEqual(readdirSync(dist).sort(), [...names].sort())

    // The main tarball: JS, typings, the install hook, the Rust sources of the fallback
    // build, and neither an addon nor the test server.
    const listing = run('tar', ['-tzf', join(dist, names[0])]).split('\n').filter(Boolean)
    for (const f of ['package/index.js', 'package/native.js', 'package/scripts/install.mjs', 'package/Cargo.toml', 'package/src/lib.rs', 'package/crates/wa-client/Cargo.toml']) {
      assert.ok(listing.includes(f), `${f} is in the main tarball`)
    }
    assert.deepEqual(listing.filter((f) => /\.node$|testserver|baileys-native-testing|target\//.test(f)), [])

    const env = pathWithoutCargo(tmp)
    assert.notEqual(spawnSync('sh', ['-c', 'cargo --version'], { env }).status, 0, 'cargo still runs on this PATH')
    assert.equal(readFileSync(join(tmp, 'compiler-calls.log'), 'utf8'), 'cargo --version\n', 'the shim records calls')
    rmSync(join(tmp, 'compiler-calls.log'))
    const project = join(tmp, 'bot')
    mkdirSync(project)
    const { out, ms } = npmInstall(project, env, names.map((n) => join(dist, n)))
    assert.doesNotMatch(out, /building it from source/)
    assert.ok(!existsSync(join(tmp, 'compiler-calls.log')), `the install ran a compiler:\n${existsSync(join(tmp, 'compiler-calls.log')) && readFileSync(join(tmp, 'compiler-calls.log'), 'utf8')}`)

    // Nothing compiled, nothing left behind: the two prebuilt addons are the only binaries.
    const nm = join(project, 'node_modules')
    const binaries = walk(nm).filter((f) => /\.(node|so|dylib|dll|rlib|rmeta|o|a|d)$/.test(f) || f.includes('/target/'))
    assert.deepEqual(binaries.map((f) => f.slice(nm.length + 1)).sort(), [
      `baileys-native-${platform}/baileys-native.${platform}.node`,
      `baileys-native-testing-${platform}/baileys-native-testing.${platform}.node`,
    ])
    const sizes = Object.fromEntries(readdirSync(nm).filter((d) => !d.startsWith('.')).map((d) => [d, mb(size(join(nm, d)))]))
    const total = size(nm)
    t.diagnostic(`install took ${ms} ms; node_modules ${mb(total)}: ${JSON.stringify(sizes)}`)
    // Besides the two addons (release profile here; `npm run pack` ships the smaller `dist`
    // ones), only JS, the Rust sources of the fallback build and the runtime dependencies;
    // before the split, an install left 486 MB of target/ behind.
    const addons = binaries.reduce((n, f) => n + statSync(f).size, 0)
    t.diagnostic(`addons ${mb(addons)}, everything else ${mb(total - addons)}`)
    assert.ok(total - addons < 20 * 1024 * 1024, `node_modules holds ${mb(total - addons)} besides the addons`)

    writeFileSync(join(project, 'bot.mjs'), BOT)
    const bot = run(process.execPath, ['bot.mjs'], { cwd: project, env, timeout: 90_000 })
    assert.match(bot, /^paired 15550100:\d+@s\.whatsapp\.net$/m)
    assert.match(bot, /^sent \S+$/m)
    assert.match(bot, /^friend got ping from a packed bot$/m)
    assert.match(bot, /^bot got pong$/m)
    assert.ok(!existsSync(join(tmp, 'compiler-calls.log')), 'the bot ran a compiler')

    // A production install: no testing package, so no test server anywhere.
    const prod = join(tmp, 'prod')
    mkdirSync(prod)
    npmInstall(prod, env, names.slice(0, 2).map((n) => join(dist, n)))
    // Ours are the package and its platform addon; the rest are Baileys' runtime dependencies
    // that bots use undeclared (pino, @hapi/boom) and protobufjs, with theirs.
    const ours = readdirSync(join(prod, 'node_modules')).filter((d) => d.startsWith('baileys-native')).sort()
    assert.deepEqual(ours, ['baileys-native', `baileys-native-${platform}`])
    for (const dep of ['pino', '@hapi', 'protobufjs']) assert.ok(existsSync(join(prod, 'node_modules', dep)), dep)
    const addon = readFileSync(join(prod, 'node_modules', `baileys-native-${platform}`, `baileys-native.${platform}.node`))
    assert.equal(addon.indexOf('testServerStart'), -1, 'the production addon exports the test server')
    assert.ok(addon.indexOf('describeHandshakeMessage') >= 0, 'the production addon is the real one')
    const probe = `try { require('baileys-native/testing'); console.log('loaded') } catch (e) { console.log(e.code + ' ' + e.message) }`
    assert.match(run(process.execPath, ['-e', probe], { cwd: prod, env }), /^ERR_WA_TESTING_NOT_INSTALLED .*npm install --save-dev baileys-native-testing@/m)
    // The testing package of another version is refused by name, not used half-matched.
    const other = join(prod, 'node_modules', 'baileys-native-testing')
    mkdirSync(other)
    writeFileSync(join(other, 'package.json'), JSON.stringify({ name: 'baileys-native-testing', version: '0.0.1', main: 'index.js' }))
    writeFileSync(join(other, 'index.js'), 'module.exports = { startTestServer() {} }')
    assert.match(run(process.execPath, ['-e', probe], { cwd: prod, env }), /^ERR_WA_TESTING_VERSION baileys-native-testing 0\.0\.1 does not match/m)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
})
