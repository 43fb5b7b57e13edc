// The alias install: the packed package installed as `@whiskeysockets/baileys` (and as `baileys`)
// into a fresh project, its addon pointed at this checkout's built binary (nothing compiles),
// runs an unchanged-style Baileys bot (importing pino and @hapi/boom, undeclared) against the
// test server: it pairs, answers a command, and restarts from its auth folder without a QR.
// The bot loads its auth folder once per process: one that reloads it in the 515 handler was
// seen (once in a full-suite run) to read it before the pairing's creds.update was written,
// and to show a new QR; that ordering belongs to the socket (creds.update saved before the
// restart close is delivered) and is reported to its owner.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { startTestServer } from '../lib/testing.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const work = mkdtempSync(join(tmpdir(), 'bn-alias-'))
const server = await startTestServer({ seed: 'alias install' })
const children = new Set()
after(async () => {
  for (const c of children) c.kill('SIGKILL')
  await server.stop()
  rmSync(work, { recursive: true, force: true })
})

/** npm as the running `npm test` uses it, else the one on PATH. */
function npm(args, cwd) {
  const [cmd, pre] = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []]
  const r = spawnSync(cmd, [...pre, ...args], { cwd, encoding: 'utf8', timeout: 180_000 })
  assert.equal(r.status, 0, `npm ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

function startBot(project, authDir) {
  const child = spawn(process.execPath, ['bot.mjs', server.url, Buffer.from(server.rootPublicKey).toString('hex'), authDir], { cwd: project, stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  const lines = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (l) => {
    let msg
    try {
      msg = JSON.parse(l)
    } catch {
      return
    }
    lines.push(msg)
    for (const w of [...waiters]) if (w.pred(msg)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(msg)
    }
  })
  const next = (pred, ms = 20_000) => {
    const have = lines.find(pred)
    if (have) return Promise.resolve(have)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`bot: nothing matched in ${ms} ms; saw ${JSON.stringify(lines)}`)), ms)
      waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) })
    })
  }
  const stop = () => new Promise((r) => {
    child.once('exit', r)
    child.kill('SIGTERM')
  }).then(() => children.delete(child))
  return { lines, next, stop }
}

test('npm pack, install under Baileys\' names, and run a Baileys bot: pair, answer, restart without a QR', { timeout: 300_000 }, async () => {
  const binary = readdirSync(root).find((f) => /^baileys-native\..+\.node$/.test(f))
  assert.ok(binary, 'the addon is built in the checkout')
  const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], root))[0]
  const tarball = join(work, packed.filename)
  assert.ok(!packed.files.some((f) => f.path.endsWith('.node')), 'the tarball carries no binary')

  const project = join(work, 'bot')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({
    name: 'a-baileys-bot', private: true, type: 'module',
    dependencies: { '@whiskeysockets/baileys': `file:${tarball}`, baileys: `file:${tarball}` },
  }, null, 2))
  copyFileSync(join(root, '__test__/fixtures/alias-bot/bot.mjs'), join(project, 'bot.mjs'))
  // scripts off: the addon comes from this checkout instead of being compiled
  npm(['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], project)
  for (const name of ['@whiskeysockets/baileys', 'baileys']) {
    copyFileSync(join(root, binary), join(project, 'node_modules', name, binary))
  }
  // what bots use without declaring it came with the package, at Baileys' major versions
  const { createRequire } = await import('node:module')
  const req = createRequire(join(project, 'bot.mjs'))
  assert.match(req('pino/package.json').version, /^9\./)
  assert.match(req('@hapi/boom/package.json').version, /^9\./)
  assert.ok(existsSync(join(project, 'node_modules/protobufjs')))

  const authDir = join(work, 'auth')
  const phone = server.phone('15550001111')
  let bot = startBot(project, authDir)
  const first = await bot.next((m) => m.imported)
  assert.deepEqual(Object.values(first.imported).every(Boolean), true, JSON.stringify(first.imported))
  assert.equal(first.isLatest, false, 'no network here: the bundled version') // offline in tests
  const { qr } = await bot.next((m) => m.qr)
  await server.scanQR(qr, { phoneNumber: '15550001111', pushName: 'Bot' })
  await bot.next((m) => m.close === 515) // Baileys' restart after pairing, handled by the bot
  const opened = await bot.next((m) => m.open)
  assert.equal(opened.open, jidNormalizedUser(phone.jid))

  await phone.sendText(opened.open, '!ping')
  await bot.next((m) => m.got === '!ping' && m.kind)
  await bot.next((m) => m.replied)
  const inbox = await phone.waitForInbox(1)
  assert.equal(inbox.at(-1).message.conversation ?? inbox.at(-1).message.extendedTextMessage?.text, 'pong')
  await bot.stop()

  bot = startBot(project, authDir)
  await bot.next((m) => m.open)
  assert.equal(bot.lines.some((m) => m.qr), false, 'restarted without a QR')
  await phone.sendText(opened.open, '!ping')
  await bot.next((m) => m.replied)
  await phone.waitForInbox(2)
  await bot.stop()
})

function jidNormalizedUser(jid) {
  const [user, server] = jid.split('@')
  return `${user.split(':')[0]}@${server === 'c.us' ? 's.whatsapp.net' : server}`
}
