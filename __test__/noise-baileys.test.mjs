// Baileys' real Noise client (makeNoiseHandler from 7.0.0-rc14, driven as its socket.js
// drives it) against our responder through the addon, over an in-memory pipe.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { randomBytes, randomInt } from 'node:crypto'
import { makeNoiseHandler } from '@whiskeysockets/baileys/lib/Utils/noise-handler.js'
import { Curve as BCurve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { generateLoginNode, generateRegistrationNode } from '@whiskeysockets/baileys/lib/Utils/validate-connection.js'
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/index.js'
import { DEFAULT_CONNECTION_CONFIG, NOISE_WA_HEADER, WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import { NoiseResponder, mintNoiseCertChain, Curve } from '../index.mjs'

const require = createRequire(import.meta.url)
const libsignalCurve = require('libsignal/src/curve.js')
const honestVerify = (pub, msg, sig) =>
  libsignalCurve.verifySignature(Buffer.concat([Buffer.from([5]), Buffer.from(pub)]), Buffer.from(msg), Buffer.from(sig)) === true

const logger = { level: 'silent', child() { return this }, trace() {}, debug() {}, info() {}, warn() {}, error() {} }

// Baileys trusts only WhatsApp's root, and its Curve.verify accepts any 64-byte signature.
// For these tests it trusts our test root and verifies honestly (libsignal's boolean), so a
// completed handshake means Baileys really checked our chain. Restored afterwards.
const root = Curve.generateKeyPair()
const stock = { key: WA_CERT_DETAILS.PUBLIC_KEY, verify: BCurve.verify }
WA_CERT_DETAILS.PUBLIC_KEY = root.public
BCurve.verify = honestVerify
after(() => {
  WA_CERT_DETAILS.PUBLIC_KEY = stock.key
  BCurve.verify = stock.verify
})

function makeServer(chainRoot = root) {
  const server = Curve.generateKeyPair()
  const certChain = mintNoiseCertChain({ rootPrivateKey: chainRoot.private, serverPublicKey: server.public })
  return { server, certChain, responder: new NoiseResponder({ staticPrivateKey: server.private, certChain }) }
}

/** The handshake exactly as Baileys' socket.js validateConnection runs it. */
async function baileysHandshake(responder, { payload, routingInfo } = {}) {
  const ephemeral = BCurve.generateKeyPair()
  const noiseKey = BCurve.generateKeyPair()
  const handler = makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger, routingInfo })
  const hello = proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish()
  const first = handler.encodeFrame(hello)
  assert.equal(responder.receive(first).length, 0)
  const reply = responder.takeTransmit()
  assert.ok(reply, 'ServerHello sent')
  let serverHello
  await handler.decodeFrame(reply, (f) => (serverHello = f))
  const keyEnc = handler.processHandshake(proto.HandshakeMessage.decode(serverHello), noiseKey)
  payload ??= proto.ClientPayload.encode(generateLoginNode('15551234567:2@s.whatsapp.net', DEFAULT_CONNECTION_CONFIG)).finish()
  const finish = proto.HandshakeMessage.encode({
    clientFinish: { static: keyEnc, payload: handler.encrypt(payload) },
  }).finish()
  assert.equal(responder.receive(handler.encodeFrame(finish)).length, 0)
  await handler.finishInit()
  return { handler, noiseKey, payload, first }
}

test('Baileys completes the handshake with our responder; payload and keys arrive', async () => {
  const { responder } = makeServer()
  const { noiseKey, payload, first } = await baileysHandshake(responder)
  assert.deepEqual([...first.subarray(0, 4)], [0x57, 0x41, 6, 3])
  assert.equal(responder.established, true)
  assert.deepEqual(responder.clientStatic, Buffer.from(noiseKey.public))
  assert.deepEqual(responder.clientPayload, Buffer.from(payload))
  assert.equal(responder.routingInfo, null)
})

test('registration payload and the ED routing preface from Baileys', async () => {
  const { responder } = makeServer()
  const creds = {
    registrationId: 4321,
    signedIdentityKey: BCurve.generateKeyPair(),
    signedPreKey: { keyId: 1, keyPair: BCurve.generateKeyPair(), signature: randomBytes(64) },
  }
  const payload = proto.ClientPayload.encode(generateRegistrationNode(creds, DEFAULT_CONNECTION_CONFIG)).finish()
  const routingInfo = randomBytes(23)
  const { first } = await baileysHandshake(responder, { payload, routingInfo })
  assert.equal(first.subarray(0, 2).toString(), 'ED')
  assert.deepEqual(responder.routingInfo, routingInfo)
  assert.deepEqual(responder.clientPayload, Buffer.from(payload))
})

test('the chain we serve verifies under an honest verifier, link by link', async () => {
  const { server, certChain } = makeServer()
  const chain = proto.CertChain.decode(certChain)
  const inter = proto.CertChain.NoiseCertificate.Details.decode(chain.intermediate.details)
  const leaf = proto.CertChain.NoiseCertificate.Details.decode(chain.leaf.details)
  assert.equal(honestVerify(root.public, chain.intermediate.details, chain.intermediate.signature), true)
  assert.equal(honestVerify(inter.key, chain.leaf.details, chain.leaf.signature), true)
  assert.equal(inter.issuerSerial, 0, 'explicit 0, not null')
  assert.equal(leaf.issuerSerial, inter.serial)
  assert.deepEqual(Buffer.from(leaf.key), server.public)
  // and the checks bite: a flipped bit fails
  const bad = Buffer.from(chain.leaf.signature)
  bad[10] ^= 1
  assert.equal(honestVerify(inter.key, chain.leaf.details, bad), false)
})

test('Baileys (verifying honestly) refuses a chain from another root; stock rc14 accepts it', async () => {
  const other = Curve.generateKeyPair()
  await assert.rejects(baileysHandshake(makeServer(other).responder), /intermediate certificate signature invalid/)
  BCurve.verify = stock.verify
  try {
    // The trap in PROTOCOL-NOTES: stock Baileys does not check signatures at all.
    const { responder } = makeServer(other)
    await baileysHandshake(responder)
    assert.equal(responder.established, true)
  } finally {
    BCurve.verify = honestVerify
  }
})

/** Log-uniform sizes in [1, max] so small and large frames both occur; both ends included. */
function sizes(n, max) {
  const out = [1, max]
  while (out.length < n) {
    const bits = randomInt(1, Math.log2(max) + 1)
    out.push(Math.min(max, randomInt(1, 2 ** bits + 1)))
  }
  return out.sort(() => Math.random() - 0.5)
}

/**
 * Cuts a stream of frames (given by their encoded lengths) into websocket messages of random
 * length: slivers, medium and huge pieces. Reports how many frames were split across messages
 * and how many messages carried more than one whole frame.
 */
function cut(stream, frameLens) {
  const ends = []
  let acc = 0
  for (const n of frameLens) ends.push((acc += n))
  assert.equal(acc, stream.length)
  const messages = []
  for (let at = 0; at < stream.length; ) {
    const kind = randomInt(0, 4)
    const n = kind === 0 ? randomInt(1, 6) : kind === 1 ? randomInt(1, 4096) : kind === 2 ? randomInt(1, 1 << 20) : randomInt(1, 4 << 20)
    messages.push([at, Math.min(at + n, stream.length)])
    at += n
  }
  let split = 0
  let packed = 0
  let f = 0
  for (const [a, b] of messages) {
    let whole = 0
    while (f < ends.length && ends[f] <= b) {
      if (ends[f] - frameLens[f] >= a) whole++
      else split++
      f++
    }
    if (whole > 1) packed++
  }
  return { pieces: messages.map(([a, b]) => stream.subarray(a, b)), split, packed }
}

test('1,000 frames each way (1 B .. 1 MiB), coalesced and split, decrypt on both sides', async (t) => {
  const MiB = 1 << 20
  const { responder } = makeServer()
  const { handler } = await baileysHandshake(responder)

  // Baileys -> ours. Each encodeFrame is one websocket message in Baileys; here the messages
  // are joined into one stream and re-cut, so frames arrive packed together and in pieces.
  const up = sizes(1000, MiB).map((n) => randomBytes(n))
  const upFrames = up.map((p) => handler.encodeFrame(p))
  const upCut = cut(Buffer.concat(upFrames), upFrames.map((f) => f.length))
  assert.ok(upCut.split > 20 && upCut.packed > 20, `split ${upCut.split}, packed ${upCut.packed}`)
  const got = []
  for (const msg of upCut.pieces) got.push(...responder.receive(msg))
  assert.equal(got.length, up.length)
  for (let i = 0; i < up.length; i++) assert.ok(got[i].equals(up[i]), `upstream frame ${i} (${up[i].length} B)`)
  t.diagnostic(`up: ${up.length} frames, ${upCut.pieces.length} messages, ${upCut.split} split, ${upCut.packed} packed`)

  // Ours -> Baileys. Baileys decodes every transport frame as a binary node, so each payload
  // is a node (made by Baileys' own encoder) carrying random bytes of the chosen size.
  const down = sizes(1000, MiB).map((n, i) => ({ tag: 'f', attrs: { i: String(i) }, content: randomBytes(n) }))
  const wire = []
  const lens = []
  for (let i = 0; i < down.length; ) {
    // sometimes several frames in one send (coalesced by us), sometimes one
    const k = randomInt(1, 4)
    const batch = down.slice(i, i + k).map((node) => encodeBinaryNode(node))
    wire.push(batch.length === 1 ? responder.send(batch[0]) : responder.sendMany(batch))
    for (const b of batch) lens.push(3 + b.length + 16)
    i += k
  }
  const downCut = cut(Buffer.concat(wire), lens)
  assert.ok(downCut.split > 20 && downCut.packed > 20, `split ${downCut.split}, packed ${downCut.packed}`)
  t.diagnostic(`down: ${down.length} frames, ${downCut.pieces.length} messages, ${downCut.split} split, ${downCut.packed} packed`)
  const received = []
  for (const msg of downCut.pieces) {
    await handler.decodeFrame(msg, (node) => received.push(node))
  }
  assert.equal(received.length, down.length)
  for (let i = 0; i < down.length; i++) {
    assert.equal(received[i].tag, 'f')
    assert.equal(received[i].attrs.i, String(i))
    assert.ok(Buffer.from(received[i].content).equals(down[i].content), `downstream frame ${i}`)
  }
})

test('our responder rejects what Baileys sends after tampering and replay', async () => {
  const { responder } = makeServer()
  const { handler } = await baileysHandshake(responder)
  const a = handler.encodeFrame(Buffer.from('first'))
  assert.deepEqual(responder.receive(a).map(String), ['first'])
  assert.throws(() => responder.receive(a), { code: 'ERR_WA_NOISE_REPLAY' })
  assert.throws(() => responder.receive(handler.encodeFrame(Buffer.from('later'))), { code: 'ERR_WA_NOISE_REPLAY' }, 'sticky')

  const s2 = makeServer()
  const { handler: h2 } = await baileysHandshake(s2.responder)
  const t = h2.encodeFrame(Buffer.from('tamper me'))
  t[6] ^= 0x20
  assert.throws(() => s2.responder.receive(t), { code: 'ERR_WA_NOISE_DECRYPT' })
})
