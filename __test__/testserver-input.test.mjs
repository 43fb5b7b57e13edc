// Bad input answered as WhatsApp would while other connections keep working, the CLI that
// users run in CI (driven here with the real Baileys), and the server's life inside Node.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { startTestServer } from 'baileys-native/testing'
import { BaileysClient, trustServer, text, exitWhenDone } from './testserver-util.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
let server
let restore
let a
const A = '15553450001'
const PING = { tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }

before(async () => {
  server = await startTestServer({ seed: 'bad input', handshakeTimeoutMs: 300 })
  restore = trustServer(server)
  a = new BaileysClient(server, 'a')
  await a.pairByQR(A, 'Ada')
})
after(async () => {
  await a?.end()
  restore?.()
  await server?.stop()
  exitWhenDone()
})

function raw(url) {
  const ws = new WebSocket(url, { origin: 'https://web.whatsapp.com' })
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)))
  const errored = new Promise((resolve) => ws.on('error', resolve))
  return { ws, opened: once(ws, 'open'), closed, errored }
}

test('garbage instead of a handshake is dropped; everyone else keeps being served', async () => {
  const before = server.stats().handshakeFailures
  const c = raw(server.url)
  await c.opened
  c.ws.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
  await c.closed
  assert.equal(server.stats().handshakeFailures, before + 1)
  const res = await a.sock.query(PING)
  assert.equal(res.attrs.type, 'result')
})

test('a client that never finishes the handshake is closed after the timeout', async () => {
  const before = server.stats().handshakeFailures
  const c = raw(server.url)
  await c.opened
  c.ws.send(Buffer.from([0x57, 0x41, 6, 3])) // the header, then silence
  await c.closed
  assert.equal(server.stats().handshakeFailures, before + 1)
  assert.equal((await a.sock.query(PING)).attrs.type, 'result')
})

test('a websocket to another path is refused with 404', async () => {
  const c = raw(server.url.replace('/ws/chat', '/other'))
  const resp = await new Promise((resolve) => c.ws.on('unexpected-response', (_req, res) => resolve(res.statusCode)))
  assert.equal(resp, 404)
})

test('an unknown IQ gets an error IQ and the connection stays up', async () => {
  await assert.rejects(
    a.sock.query({ tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:g2' }, content: [{ tag: 'query', attrs: {} }] }),
    (err) => err.message === 'feature-not-implemented' && err.data === 501,
  )
  assert.equal((await a.sock.query(PING)).attrs.type, 'result')
  assert.ok(server.stats().unknownIqs >= 1)
})

test('a message to a user who is not on WhatsApp is refused in the ack', async () => {
  const [exists] = await a.sock.onWhatsApp('19990000001')
  assert.equal(exists, undefined, 'onWhatsApp finds nobody')
  const [me] = await a.sock.onWhatsApp(A)
  assert.deepEqual(me, { jid: `${A}@s.whatsapp.net`, exists: true })
  const sent = await a.sock.sendMessage('19990000001@s.whatsapp.net', { text: 'anyone?' })
  // Baileys reports the negative ack as status ERROR: a messages.update, or folded into the
  // upsert of its own message when that event is still buffered.
  const refused = await Promise.any([
    a.waitStatus(sent.key.id, 0).then((u) => u.update),
    a.waitMessage((m) => m.key.id === sent.key.id && m.status === 0),
  ])
  assert.deepEqual(refused.messageStubParameters, ['479'])
})

test('a Node process that exits while the server runs ends cleanly', () => {
  const script = `require(${JSON.stringify(join(root, 'lib/testing.js'))}).startTestServer().then((s) => { console.log(s.url); process.exit(0) })`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat/)
  assert.equal(r.stderr, '')
})

test('stop() lets Node exit; a forgotten server does not hold it either', () => {
  const script = `const { startTestServer } = require(${JSON.stringify(join(root, 'lib/testing.js'))});
    (async () => { const s = await startTestServer(); await s.stop(); await startTestServer(); console.log('done') })()`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.signal, null, 'not killed by the timeout: nothing kept Node alive')
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'done')
})

test('the CLI serves a bot in CI: URL and root key out, pairing through stdin commands', async () => {
  const cli = spawn(process.execPath, [join(root, 'bin/baileys-native.js'), 'test-server', '--port', '0', '--json', '--stdin-control', '--seed', 'ci'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: cli.stdout })
  const next = () => new Promise((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))))
  const info = await next()
  assert.match(info.url, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/)
  assert.equal(Buffer.from(info.rootPublicKey, 'base64').length, 32)
  const command = async (msg) => {
    const reply = next()
    cli.stdin.write(JSON.stringify(msg) + '\n')
    return reply
  }
  // A bot (the real Baileys) pointed at the CLI's server, trusting its root key.
  const cliServer = { url: info.url, rootPublicKey: Buffer.from(info.rootPublicKey, 'base64') }
  const undo = trustServer(cliServer)
  const bot = new BaileysClient({ ...cliServer, scanQR: (qr, { phoneNumber }) => command({ id: 1, cmd: 'scanQR', qr, phoneNumber }).then((r) => r.result) }, 'bot')
  try {
    const { jid } = await bot.pairByQR('15559990001', 'Bot')
    assert.equal(jid, '15559990001:1@s.whatsapp.net')
    const sent = await command({ id: 2, cmd: 'sendText', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', text: 'hi bot' })
    assert.equal(sent.ok, true)
    const got = await bot.waitMessage((m) => m.key.id === sent.result)
    assert.equal(text(got), 'hi bot')
    // Frames to the bot held back (a server one network hop away): the text waits in the
    // server for the delay, then arrives; bad arguments are refused with codes.
    assert.deepEqual(await command({ id: 23, cmd: 'delayFrames', jid, delayMs: 1500 }), { id: 23, ok: true, result: 1 })
    const held = (await command({ id: 24, cmd: 'sendText', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', text: 'held' })).result
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(bot.upserts.some((m) => m.key.id === held), false, 'held back while delayed')
    assert.equal(text(await bot.waitMessage((m) => m.key.id === held)), 'held')
    assert.equal((await command({ id: 25, cmd: 'delayFrames', jid, delayMs: 0 })).result, 1)
    assert.equal((await command({ id: 26, cmd: 'delayFrames', delayMs: 5 })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    assert.equal((await command({ id: 27, cmd: 'delayFrames', jid, delayMs: -1 })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    assert.equal((await command({ id: 28, cmd: 'delayFrames', jid, delayMs: 'soon' })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    // A burst driven in the server's process: ids in send order, the texts in that order.
    const burst = await command({ id: 12, cmd: 'sendTexts', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', prefix: 'b', count: 6, inFlight: 3 })
    assert.equal(burst.ok, true)
    assert.equal(burst.result.length, 6)
    assert.equal(new Set(burst.result).size, 6)
    for (const [i, id] of burst.result.entries()) assert.equal(text(await bot.waitMessage((m) => m.key.id === id)), `b${i}`)
    // Paced by the bot's delivery receipts: each text confirmed by the bot's device before the
    // next goes; the phone holds that device's receipt for every one.
    const paced = await command({ id: 19, cmd: 'sendTexts', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', prefix: 'p', count: 3, inFlight: 1, receiptFrom: jid })
    assert.equal(paced.ok, true)
    const receipts = (await command({ id: 20, cmd: 'receipts', phoneNumber: '15559990002' })).result
    for (const id of paced.result) assert.ok(receipts.some((r) => r.id === id && r.from === jid && r.type === 'delivery'), `a delivery receipt from ${jid} for ${id}`)
    // A device that never confirms: the burst fails with a timeout instead of hanging.
    const unpaced = await command({ id: 21, cmd: 'sendTexts', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', count: 1, receiptFrom: '15559990001:9@s.whatsapp.net', timeoutMs: 300 })
    assert.equal(unpaced.error.code, 'ERR_WA_TESTSERVER_TIMEOUT')
    assert.equal((await command({ id: 22, cmd: 'sendTexts', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', count: 1, timeoutMs: 'soon' })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    assert.equal((await command({ id: 13, cmd: 'sendTexts', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', count: 2, inFlight: 0 })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    assert.equal((await command({ id: 14, cmd: 'sendTexts', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', count: -1 })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    // The phone's inbox waited for in the server: what the bot sends, counted once there.
    const before = (await command({ id: 15, cmd: 'inbox', phoneNumber: '15559990002' })).result.length
    await bot.sock.sendMessage('15559990002@s.whatsapp.net', { text: 'to the phone' })
    assert.deepEqual(await command({ id: 16, cmd: 'waitForInbox', phoneNumber: '15559990002', count: before + 1, timeoutMs: 20_000 }), { id: 16, ok: true, result: before + 1 })
    const late = await command({ id: 17, cmd: 'waitForInbox', phoneNumber: '15559990002', count: before + 5, timeoutMs: 100 })
    assert.equal(late.error.code, 'ERR_WA_TESTSERVER_TIMEOUT')
    assert.equal((await command({ id: 18, cmd: 'waitForInbox', phoneNumber: '15559990002', count: 'x' })).error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    const bad = await command({ id: 3, cmd: 'scanQR', qr: 'nonsense', phoneNumber: '1' })
    assert.equal(bad.ok, false)
    assert.equal(bad.error.code, 'ERR_WA_TESTSERVER_BAD_QR')
    // The media host's address and CA come out with the URL; its controls are commands.
    assert.match(info.mediaHost, /^127\.0\.0\.1:\d+$/)
    assert.match(info.mediaCaPem, /^-----BEGIN CERTIFICATE-----/)
    assert.deepEqual(await command({ id: 5, cmd: 'mediaCount' }), { id: 5, ok: true, result: 0 })
    const gone = await command({ id: 6, cmd: 'mediaExpire', directPath: '/v/t62.7118-24/none.enc' })
    assert.equal(gone.error.code, 'ERR_WA_TESTSERVER_UNKNOWN_MEDIA')
    // A file put as a phone's upload, and the media retry answer of a phone.
    const put = await command({ id: 7, cmd: 'mediaPut', file: Buffer.from('encrypted bytes').toString('base64') })
    assert.match(put.result, /^\/v\/t62\.7118-24\/[0-9a-f]+\.enc\?/)
    assert.equal((await command({ id: 8, cmd: 'mediaFile', directPath: put.result })).result, Buffer.from('encrypted bytes').toString('base64'))
    assert.equal((await command({ id: 9, cmd: 'setMediaRetryAnswer', phoneNumber: '15559990002', answer: 'not_found' })).ok, true)
    const badAnswer = await command({ id: 10, cmd: 'setMediaRetryAnswer', phoneNumber: '15559990002', answer: 'maybe' })
    assert.equal(badAnswer.error.code, 'ERR_WA_TESTSERVER_BAD_OPTION')
    const badMessage = await command({ id: 11, cmd: 'sendMessage', phoneNumber: '15559990002', to: '15559990001@s.whatsapp.net', message: 'AAAA' })
    assert.equal(badMessage.error.code, 'ERR_WA_TESTSERVER_BAD_MESSAGE')
  } finally {
    await bot.end()
    undo()
    trustServer(server)
  }
  const exited = once(cli, 'exit')
  await command({ id: 4, cmd: 'stop' })
  const [code] = await exited
  assert.equal(code, 0)
})

test('the CLI stops on SIGTERM', async () => {
  const cli = spawn(process.execPath, [join(root, 'bin/baileys-native.js'), 'test-server'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: cli.stdout })
  const [first] = await once(lines, 'line')
  assert.match(first, /^url: ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/)
  const exited = once(cli, 'exit')
  cli.kill('SIGTERM')
  const [code] = await exited
  assert.equal(code, 0)
})

test('bad options are refused with codes', async () => {
  await assert.rejects(startTestServer({ port: 70000 }), { code: 'ERR_WA_TESTSERVER_BAD_OPTION' })
  await assert.rejects(startTestServer({ handshakeTimeoutMs: -1 }), { code: 'ERR_WA_TESTSERVER_BAD_OPTION' })
  await assert.rejects(startTestServer({ mediaMaxBytes: -1 }), { code: 'ERR_WA_TESTSERVER_BAD_OPTION', message: /bytes/ })
  await assert.rejects(startTestServer({ mediaAuthTtlMs: 2 ** 33 }), { code: 'ERR_WA_TESTSERVER_BAD_OPTION' })
  assert.throws(() => server.media.corrupt('/v/t62.7118-24/none.enc', 0), { code: 'ERR_WA_TESTSERVER_UNKNOWN_MEDIA' })
  assert.throws(() => server.media.file('/v/t62.7118-24/none.enc'), { code: 'ERR_WA_TESTSERVER_UNKNOWN_MEDIA' })
  await assert.rejects(server.scanQR('2@x,AAAA,AAAA,AAAA', { phoneNumber: A }), { code: 'ERR_WA_TESTSERVER_BAD_QR' })
  await assert.rejects(server.enterPairingCode(A, 'ABCD1234'), { code: 'ERR_WA_TESTSERVER_NO_PAIRING_CODE_REQUEST' })
  assert.throws(() => server.phone('not a number'), { code: 'ERR_WA_TESTSERVER_BAD_PHONE_NUMBER' })
  await assert.rejects(server.phone(A).sendText('19990000009@s.whatsapp.net', 'x'), { code: 'ERR_WA_TESTSERVER_UNKNOWN_ACCOUNT' })
  assert.throws(() => server.removeDevice(`${A}:9@s.whatsapp.net`), { code: 'ERR_WA_TESTSERVER_UNKNOWN_DEVICE' })
})
