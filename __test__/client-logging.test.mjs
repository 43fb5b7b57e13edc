// One log channel: every Rust crate logs with `tracing`, and each record reaches the pino-style
// `logger` of the socket it belongs to, with the socket's id, at the logger's level. A storage
// warning from wa-store (a key store whose writes fail) is the probe.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { startTestServer } from '../lib/testing.mjs'
import { makeWASocket, initAuthCreds, KeyStore, MemoryEngine } from '../index.mjs'
import { trustServer, exitWhenDone } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client logging' })
const restore = trustServer(server)
after(async () => {
  restore()
  await server.stop()
  exitWhenDone()
})

/** A pino-shaped logger that keeps what it is given at or above its level, as pino does. */
function recorder(level) {
  const records = []
  const names = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
  const floor = level === 'silent' ? Infinity : names.indexOf(level)
  const logger = { level, child: () => logger }
  for (const [i, l] of names.entries()) {
    logger[l] = (fields, msg) => {
      if (i >= floor) records.push({ level: l, fields, msg })
    }
  }
  return { logger, records }
}

/** Baileys' `{ get, set }` key store over our memory store, whose writes can be made to fail. */
function flakyKeys() {
  const inner = KeyStore.fromEngine(new MemoryEngine())
  const keys = {
    failWrites: false,
    get: (type, ids) => inner.get(type, ids),
    async set(data) {
      if (keys.failWrites) throw new Error('disk full (test)')
      return inner.set(data)
    },
  }
  return keys
}

function open(auth, logger) {
  return makeWASocket({ auth, logger, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey, connectTimeoutMs: 10_000 })
}

function once(sock, pred, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connection.update timed out')), ms)
    const on = (u) => {
      if (pred(u)) {
        clearTimeout(t)
        sock.ev.off('connection.update', on)
        resolve(u)
      }
    }
    sock.ev.on('connection.update', on)
  })
}

async function paired(number, keys) {
  const auth = { creds: initAuthCreds(), keys }
  const sock = open(auth, recorder('silent').logger)
  const { qr } = await once(sock, (u) => !!u.qr)
  const closed = once(sock, (u) => u.connection === 'close')
  await server.scanQR(qr, { phoneNumber: number })
  await closed
  return auth
}

const waitFor = async (pred, ms = 15_000) => {
  const started = Date.now()
  while (!pred()) {
    if (Date.now() - started > ms) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

test("a wa-store warning reaches the logger of the socket it happened in, with that socket's id", async () => {
  const keysA = flakyKeys()
  const authA = await paired('15550700', keysA)
  const authB = await paired('15550701', KeyStore.fromEngine(new MemoryEngine()))
  const a = recorder('info')
  const b = recorder('info')
  // A's store refuses every write from now on: the 812 pre-keys of the first login fail.
  keysA.failWrites = true
  const sockA = open(authA, a.logger)
  const sockB = open(authB, b.logger)
  await once(sockB, (u) => u.connection === 'open')
  await waitFor(() => a.records.some((r) => r.fields.target === 'wa_store::keys'))

  const storeWarn = a.records.find((r) => r.fields.target === 'wa_store::keys')
  assert.equal(storeWarn.level, 'warn')
  assert.match(storeWarn.msg, /key store write failed/)
  assert.equal(typeof storeWarn.fields.code, 'string')
  assert.ok(storeWarn.fields.keys >= 812, `the pre-key batch: ${storeWarn.fields.keys}`)
  const idA = storeWarn.fields.socket
  assert.equal(typeof idA, 'number')
  // The client's own account of the failure went to the same logger, same socket.
  await waitFor(() => a.records.some((r) => /post-login steps failed/.test(r.msg)))
  assert.ok(a.records.every((r) => r.fields.socket === idA), `every record of A names A: ${JSON.stringify(a.records.filter((r) => r.fields.socket !== idA))}`)
  // B heard only of B: its records carry another id, none of A's reached it.
  await waitFor(() => b.records.length > 0)
  assert.ok(b.records.every((r) => r.fields.socket !== idA))
  assert.ok(!b.records.some((r) => r.fields.target === 'wa_store::keys'))
  // Levels are honoured: nothing below info reached either logger.
  assert.ok([...a.records, ...b.records].every((r) => ['info', 'warn', 'error'].includes(r.level)))
  // No key material in any field.
  const text = JSON.stringify([...a.records, ...b.records])
  assert.ok(!text.includes('private'), text)
  sockA.end()
  sockB.end()
})

test("a call's records reach its socket's logger: the presence sent on connect, without a push name", async () => {
  // Baileys warns through the socket's logger when markOnlineOnConnect finds no name; ours
  // once wrote it to stderr, the JavaScript call's work running outside the socket's span.
  const w = recorder('warn')
  const auth = await paired('15550703', KeyStore.fromEngine(new MemoryEngine()))
  const sock = open(auth, w.logger)
  await once(sock, (u) => u.connection === 'open')
  await waitFor(() => w.records.some((r) => /no name present/.test(r.msg)))
  const rec = w.records.find((r) => /no name present/.test(r.msg))
  assert.equal(rec.level, 'warn')
  assert.equal(typeof rec.fields.socket, 'number')
  sock.end()
})

test('a silent logger gets nothing and costs nothing', async () => {
  const quiet = recorder('silent')
  const auth = await paired('15550702', KeyStore.fromEngine(new MemoryEngine()))
  const sock = open(auth, quiet.logger)
  await once(sock, (u) => u.connection === 'open')
  sock.end()
  assert.deepEqual(quiet.records, [])
})

test("a silent logger's socket writes nothing to stderr either (its warnings once went there)", async () => {
  // In a child process, whose stderr is the probe: a socket whose account has no push name
  // warns on connect (markOnlineOnConnect), and its logger is silent.
  const script = `
    import { startTestServer } from ${JSON.stringify(new URL('../lib/testing.mjs', import.meta.url).href)}
    import { makeWASocket, initAuthCreds, KeyStore, MemoryEngine } from ${JSON.stringify(new URL('../index.mjs', import.meta.url).href)}
    const server = await startTestServer({ seed: 'silent stderr' })
    const logger = { level: 'silent', child: () => logger, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} }
    const auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }
    const open = () => makeWASocket({ auth, logger, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey })
    const update = (sock, pred) => new Promise((r) => sock.ev.on('connection.update', (u) => pred(u) && r(u)))
    const first = open()
    const { qr } = await update(first, (u) => !!u.qr)
    const closed = update(first, (u) => u.connection === 'close')
    await server.scanQR(qr, { phoneNumber: '15550704' })
    await closed
    const sock = open()
    await update(sock, (u) => u.connection === 'open')
    await new Promise((r) => setTimeout(r, 500))
    sock.end()
    await server.stop()
    console.log('done')
    process.exit(0)`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.stdout.trim(), 'done', r.stderr)
  assert.ok(!r.stderr.includes('[baileys-native]'), r.stderr)
})
