// makeWASocket end to end against a small server written in this test: a real websocket on
// loopback, our Noise responder with its own root, stanzas encoded and decoded by Baileys'
// codec, payloads decoded by Baileys' WAProto, signatures made and checked by libsignal.
// Covers: QR in Baileys' format, honest pair-success, pair-device-sign, the 515 restart,
// reconnect with the stored auth (a new socket, as Baileys does), prekey upload (812), open,
// logout; and a server whose chain another root signed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { encodeBinaryNode, decodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/index.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import makeWASocketDefault, {
  makeWASocket,
  DisconnectReason,
  Browsers,
  NoiseResponder,
  mintNoiseCertChain,
  Curve,
  useMultiFileAuthState,
} from '../index.mjs'

const require = createRequire(import.meta.url)
const libsignal = require('libsignal/src/curve.js')
const strip = (k) => (k.length === 33 ? k.subarray(1) : k)

class MiniServer {
  constructor({ root = Curve.generateKeyPair() } = {}) {
    this.root = root
    this.static = Curve.generateKeyPair()
    this.chain = mintNoiseCertChain({ rootPrivateKey: root.private, serverPublicKey: this.static.public })
    this.phone = libsignal.generateKeyPair()
    this.received = []
    this.payloads = []
    this.uploaded = 0
    this.conns = []
    this.onNode = null
  }

  async start() {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws/chat' })
    await new Promise((r) => this.wss.once('listening', r))
    this.url = `ws://127.0.0.1:${this.wss.address().port}/ws/chat`
    this.wss.on('connection', (ws, req) => this.accept(ws, req))
    return this
  }

  stop() {
    for (const c of this.wss.clients) c.terminate()
    return new Promise((r) => this.wss.close(r))
  }

  accept(ws, req) {
    this.origin = req.headers.origin
    const noise = new NoiseResponder({ staticPrivateKey: this.static.private, certChain: this.chain })
    const conn = {
      ws,
      noise,
      send: (node) => ws.send(noise.send(encodeBinaryNode(node))),
    }
    this.conns.push(conn)
    ws.on('message', async (data) => {
      let frames
      try {
        frames = noise.receive(Buffer.from(data))
      } catch {
        ws.close()
        return
      }
      for (let t = noise.takeTransmit(); t; t = noise.takeTransmit()) ws.send(t)
      if (noise.established && !conn.payload) {
        conn.payload = proto.ClientPayload.decode(noise.clientPayload)
        this.payloads.push(conn.payload)
        this.onLogin(conn)
      }
      for (const f of frames) {
        const node = await decodeBinaryNode(f)
        this.received.push(node)
        await this.handle(conn, node)
      }
    })
  }

  onLogin(conn) {
    if (conn.payload.devicePairingData) {
      conn.registration = conn.payload.devicePairingData
      conn.send({
        tag: 'iq',
        attrs: { from: 's.whatsapp.net', type: 'set', id: 'pd-1', xmlns: 'md' },
        content: [{ tag: 'pair-device', attrs: {}, content: ['ref-A', 'ref-B'].map((r) => ({ tag: 'ref', attrs: {}, content: Buffer.from(r) })) }],
      })
    } else {
      conn.send({ tag: 'success', attrs: { t: String(Math.floor(Date.now() / 1000)), lid: '777000111:5@lid' } })
    }
  }

  // The phone "scans" the QR: the ADV identity signed by the phone's key, HMAC'd with the
  // companion's ADV secret from the QR.
  scan(conn, qr, { forge = false } = {}) {
    const [, advB64] = qr.split('#')[1].split(',').slice(2, 4)
    const identity = Buffer.from(conn.registration.eIdent)
    const details = proto.ADVDeviceIdentity.encode({ rawId: 9, timestamp: Math.floor(Date.now() / 1000), keyIndex: 2 }).finish()
    const msg = Buffer.concat([Buffer.from([6, 0]), details, identity])
    let accountSignature = libsignal.calculateSignature(this.phone.privKey, msg)
    if (forge) accountSignature = Buffer.from(accountSignature.map((b, i) => (i === 5 ? b ^ 1 : b)))
    const signed = proto.ADVSignedDeviceIdentity.encode({
      details,
      accountSignatureKey: strip(this.phone.pubKey),
      accountSignature,
    }).finish()
    const hmac = createHmac('sha256', Buffer.from(advB64, 'base64')).update(signed).digest()
    conn.send({
      tag: 'iq',
      attrs: { from: 's.whatsapp.net', type: 'result', id: 'ps-1' },
      content: [{
        tag: 'pair-success',
        attrs: {},
        content: [
          { tag: 'device-identity', attrs: {}, content: proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish() },
          { tag: 'platform', attrs: { name: 'smba' } },
          { tag: 'device', attrs: { jid: '15550001111:5@s.whatsapp.net', lid: '777000111:5@lid' } },
        ],
      }],
    })
  }

  async handle(conn, node) {
    if (this.onNode && (await this.onNode(conn, node))) return
    const { tag, attrs } = node
    const first = Array.isArray(node.content) ? node.content[0] : undefined
    const result = (content) =>
      conn.send({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'result', id: attrs.id }, content })
    if (tag !== 'iq') return
    if (first?.tag === 'pair-device-sign') {
      const di = first.content[0]
      const account = proto.ADVSignedDeviceIdentity.decode(di.content)
      this.pairSign = { keyIndex: di.attrs['key-index'], account }
      const msg = Buffer.concat([
        Buffer.from([6, 1]),
        account.details,
        Buffer.from(conn.registration.eIdent),
        strip(this.phone.pubKey),
      ])
      this.pairSign.valid = libsignal.verifySignature(
        Buffer.concat([Buffer.from([5]), Buffer.from(conn.registration.eIdent)]),
        msg,
        Buffer.from(account.deviceSignature),
      )
      conn.send({ tag: 'stream:error', attrs: { code: '515' } })
      return
    }
    if (attrs.xmlns === 'encrypt' && first?.tag === 'count') return result([{ tag: 'count', attrs: { value: String(this.uploaded) } }])
    if (attrs.xmlns === 'encrypt' && attrs.type === 'set') {
      const list = node.content.find((c) => c.tag === 'list')
      this.uploaded += list.content.length
      this.uploadNode = node
      return result()
    }
    if (attrs.xmlns === 'encrypt' && first?.tag === 'digest') return result([{ tag: 'digest', attrs: {} }])
    if (attrs.xmlns === 'passive') {
      this.active = true
      return result()
    }
    if (attrs.xmlns === 'md' && first?.tag === 'remove-companion-device') {
      this.removed = first.attrs
      return result()
    }
    if (attrs.xmlns === 'w:p') return result()
    return result()
  }
}

async function until(pred, ms = 5000) {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 5))
  }
}

function nextUpdate(sock, pred, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for connection.update')), ms)
    const l = (u) => {
      if (pred(u)) {
        clearTimeout(timer)
        sock.ev.off('connection.update', l)
        resolve(u)
      }
    }
    sock.ev.on('connection.update', l)
  })
}

test('exports Baileys\' names and default', () => {
  assert.equal(makeWASocketDefault, makeWASocket)
  assert.equal(DisconnectReason.restartRequired, 515)
  assert.equal(DisconnectReason.loggedOut, 401)
  assert.deepEqual(Browsers.ubuntu('Chrome'), ['Ubuntu', 'Chrome', '22.04.4'])
})

test('QR pairing, 515 restart, login with the stored auth, prekeys, open, logout', async () => {
  const server = await new MiniServer().start()
  const dir = mkdtempSync(join(tmpdir(), 'bn-client-'))
  const logs = []
  const logger = { level: 'info', trace() {}, debug() {}, info: (o, m) => logs.push(['info', m]), warn: (o, m) => logs.push(['warn', m]), error: (o, m) => logs.push(['error', m]) }
  try {
    const { state, saveCreds } = await useMultiFileAuthState(dir)
    const sock = makeWASocket({ auth: state, waWebSocketUrl: server.url, waCertPublicKey: server.root.public, logger, printQRInTerminal: true })
    assert.ok(logs.some(([l, m]) => l === 'warn' && /printQRInTerminal/.test(m)))
    // Saves in order; the restart below waits for the last one, as a bot's reconnect should.
    let saving = Promise.resolve()
    sock.ev.on('creds.update', () => {
      saving = saving.then(saveCreds)
    })
    const seen = []
    sock.ev.on('connection.update', (u) => seen.push(u))
    const qr = (await nextUpdate(sock, (u) => !!u.qr)).qr
    assert.equal(seen[0].connection, 'connecting')
    assert.equal(server.origin, 'https://web.whatsapp.com')
    // Baileys' QR: ref, noise key, identity key, ADV secret, platform id (Chrome = 1).
    const [prefix, rest] = qr.split('#')
    assert.equal(prefix, 'https://wa.me/settings/linked_devices')
    const parts = rest.split(',')
    assert.deepEqual(parts, [
      'ref-A',
      Buffer.from(state.creds.noiseKey.public).toString('base64'),
      Buffer.from(state.creds.signedIdentityKey.public).toString('base64'),
      state.creds.advSecretKey,
      '1',
    ])
    // The registration payload, decoded by Baileys' own protobuf schema.
    const reg = server.payloads[0]
    assert.equal(reg.passive, false)
    assert.deepEqual(Buffer.from(reg.devicePairingData.eIdent), Buffer.from(state.creds.signedIdentityKey.public))
    assert.equal(Buffer.from(reg.devicePairingData.eRegid).readUInt32BE(), state.creds.registrationId)
    // The QR ack went back with the IQ's id.
    await until(() => server.received.some((n) => n.tag === 'iq' && n.attrs.id === 'pd-1' && n.attrs.type === 'result'))

    const closed = nextUpdate(sock, (u) => u.connection === 'close')
    const newLogin = nextUpdate(sock, (u) => u.isNewLogin)
    server.scan(server.conns[0], qr)
    await newLogin
    const close = await closed
    assert.equal(close.lastDisconnect.error.output.statusCode, DisconnectReason.restartRequired)
    assert.ok(close.lastDisconnect.error.isBoom)
    assert.equal(server.pairSign.valid, true, 'pair-device-sign verifies under our identity (libsignal)')
    assert.equal(server.pairSign.keyIndex, '2')
    assert.equal(server.pairSign.account.accountSignatureKey?.length ?? 0, 0)
    assert.equal(state.creds.me.id, '15550001111:5@s.whatsapp.net')
    assert.equal(state.creds.me.lid, '777000111:5@lid')
    assert.equal(state.creds.platform, 'smba')
    assert.ok(Buffer.isBuffer(state.creds.account.accountSignatureKey))

    // Baileys-style restart: a new socket over the same (saved) auth state.
    await saving
    const again = await useMultiFileAuthState(dir)
    assert.equal(again.state.creds.me.id, '15550001111:5@s.whatsapp.net', 'creds.update was saved')
    const sock2 = makeWASocket({ auth: again.state, waWebSocketUrl: server.url, waCertPublicKey: server.root.public, logger })
    sock2.ev.on('creds.update', again.saveCreds)
    await nextUpdate(sock2, (u) => u.connection === 'open')
    const login = server.payloads[1]
    assert.equal(login.passive, true)
    assert.equal(String(login.username), '15550001111')
    assert.equal(login.device, 5)
    assert.equal(server.uploaded, 812, 'a fresh device uploads 812 prekeys')
    assert.ok(server.active, 'passive -> active before open')
    const list = server.uploadNode.content.find((c) => c.tag === 'list').content
    const ids = list.map((k) => k.content.find((c) => c.tag === 'id').content.readUIntBE(0, 3))
    assert.deepEqual(ids.slice(0, 3), [1, 2, 3])
    assert.equal(again.state.creds.nextPreKeyId, 813)
    assert.equal(again.state.creds.firstUnuploadedPreKeyId, 813)
    const stored = await again.state.keys.get('pre-key', ['1', '812', '813'])
    assert.ok(stored['1'] && stored['812'])
    assert.equal(stored['813'], null)
    assert.deepEqual(sock2.user.id, '15550001111:5@s.whatsapp.net')
    // query() goes through the Rust IQ table and comes back as a Baileys node.
    const pong = await sock2.query({ tag: 'iq', attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] })
    assert.equal(pong.attrs.type, 'result')

    const loggedOut = nextUpdate(sock2, (u) => u.connection === 'close')
    await sock2.logout()
    const out = await loggedOut
    assert.equal(out.lastDisconnect.error.output.statusCode, DisconnectReason.loggedOut)
    // Written before the close, as Baileys does (the server decodes it asynchronously).
    await until(() => server.removed)
    assert.deepEqual(server.removed, { jid: '15550001111:5@s.whatsapp.net', reason: 'user_initiated' })
  } finally {
    await server.stop()
    await new Promise((r) => setTimeout(r, 50))
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // A save still landing; the OS cleans tmp.
    }
  }
})

test('a forged account signature in pair-success is refused (Baileys rc14 would accept it)', async () => {
  const server = await new MiniServer().start()
  try {
    const { state } = await useMultiFileAuthState(mkdtempSync(join(tmpdir(), 'bn-forge-')))
    const sock = makeWASocket({ auth: state, waWebSocketUrl: server.url, waCertPublicKey: server.root.public })
    const qr = (await nextUpdate(sock, (u) => !!u.qr)).qr
    const closed = nextUpdate(sock, (u) => u.connection === 'close')
    server.scan(server.conns[0], qr, { forge: true })
    const close = await closed
    assert.equal(close.lastDisconnect.error.code, 'ERR_WA_CLIENT_PAIRING')
    assert.equal(state.creds.me, undefined)
    assert.ok(!server.received.some((n) => n.content?.[0]?.tag === 'pair-device-sign'))
  } finally {
    await server.stop()
  }
})

test('a server whose chain another root signed is refused (waCertPublicKey)', async () => {
  const server = await new MiniServer().start()
  try {
    const { state } = await useMultiFileAuthState(mkdtempSync(join(tmpdir(), 'bn-root-')))
    for (const key of [Curve.generateKeyPair().public, undefined]) {
      const sock = makeWASocket({ auth: state, waWebSocketUrl: server.url, waCertPublicKey: key })
      const close = await nextUpdate(sock, (u) => u.connection === 'close')
      assert.equal(close.lastDisconnect.error.code, 'ERR_WA_NOISE_CERT_UNTRUSTED_ROOT')
    }
    assert.equal(server.payloads.length, 0, 'no ClientFinish reached the untrusted server')
    assert.throws(() => makeWASocket({ auth: state, waWebSocketUrl: server.url, waCertPublicKey: Buffer.alloc(5) }), { code: 'ERR_WA_CLIENT_ARGUMENT' })
  } finally {
    await server.stop()
  }
})
