// Noise transport and handshake: baileys-native (through the addon) next to Baileys 7.0.0-rc14's
// makeNoiseHandler, same payloads, same run. A measurement, never a pass/fail test.
//
// Transport: one client-side "round" = encrypt+frame one payload and decrypt one frame the
// server sent (pre-made, so only the client's work is timed). Baileys' side uses its
// handler's encodeFrame and decrypt (its decodeFrame would also parse a binary node, which
// would not be a fair comparison); ours uses NoiseClient.send and NoiseClient.receive, which
// include reassembly of the 3-byte framing.
import { randomBytes } from 'node:crypto'
import { makeNoiseHandler } from '@whiskeysockets/baileys/lib/Utils/noise-handler.js'
import { Curve as BCurve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { NOISE_WA_HEADER } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import { Curve, NoiseClient, NoiseResponder, mintNoiseCertChain } from '../index.mjs'

const logger = { level: 'silent', child() { return this }, trace() {}, debug() {}, info() {}, warn() {}, error() {} }
const payload = Buffer.from(proto.ClientPayload.encode({ username: 15551234567, device: 1, passive: true, pull: true }).finish())
const root = Curve.generateKeyPair()
const server = Curve.generateKeyPair()
// Stock Baileys accepts any chain (its Curve.verify ignores the result) but still runs the
// verification math, so it pays the same work a checking client would.
const certChain = mintNoiseCertChain({ rootPrivateKey: root.private, serverPublicKey: server.public })
const newResponder = () => new NoiseResponder({ staticPrivateKey: server.private, certChain })

/** Seconds per call of `fn`, over `seconds` or at most `maxOps` calls (warm-up included). */
function timeIt(fn, maxOps, seconds = 1.5) {
  for (let i = 0; i < 50; i++) fn()
  globalThis.gc?.()
  let n = 0
  const start = process.hrtime.bigint()
  const budget = BigInt(Math.round(seconds * 1e9))
  let elapsed = 0n
  while (elapsed < budget && n + 70 < maxOps) {
    for (let i = 0; i < 20; i++) fn()
    n += 20
    elapsed = process.hrtime.bigint() - start
  }
  return Number(elapsed) / 1e9 / n // seconds per op
}

async function timeAsync(fn, seconds = 1.5) {
  for (let i = 0; i < 10; i++) await fn()
  globalThis.gc?.()
  let n = 0
  let busy = 0
  const start = process.hrtime.bigint()
  while (process.hrtime.bigint() - start < BigInt(seconds * 1e9)) {
    busy += await fn()
    n++
  }
  return { total: Number(process.hrtime.bigint() - start) / 1e9 / n, client: busy / n }
}

function now() {
  return Number(process.hrtime.bigint()) / 1e9
}

async function baileysHandshake(r) {
  let client = 0
  let t = now()
  const ephemeral = BCurve.generateKeyPair()
  const noiseKey = BCurve.generateKeyPair()
  const h = makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger })
  const hello = h.encodeFrame(proto.HandshakeMessage.encode({ clientHello: { ephemeral: ephemeral.public } }).finish())
  client += now() - t
  r.receive(hello)
  const reply = r.takeTransmit()
  t = now()
  let sh
  await h.decodeFrame(reply, (f) => (sh = f))
  const keyEnc = h.processHandshake(proto.HandshakeMessage.decode(sh), noiseKey)
  const fin = h.encodeFrame(
    proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: h.encrypt(payload) } }).finish(),
  )
  await h.finishInit()
  client += now() - t
  r.receive(fin)
  if (!r.established) throw new Error('baileys handshake did not complete')
  return { h, client }
}

function oursHandshake(r) {
  let client = 0
  let t = now()
  const c = new NoiseClient({ noisePrivateKey: server.private, payload, trustRoot: root.public })
  const hello = c.takeTransmit()
  client += now() - t
  r.receive(hello)
  const reply = r.takeTransmit()
  t = now()
  c.receive(reply)
  const fin = c.takeTransmit()
  client += now() - t
  r.receive(fin)
  if (!r.established) throw new Error('our handshake did not complete')
  return { c, client }
}

const rows = []
const fmt = (x, d = 0) => x.toFixed(d).padStart(9)

for (const size of [1024, 64 * 1024]) {
  const p = randomBytes(size)
  // frames must be decrypted in order, so each run has a fixed supply of server frames
  const n = size === 1024 ? 150_000 : 6_000
  // Baileys client
  const rb = newResponder()
  const { h } = await baileysHandshake(rb)
  const fromServerB = Array.from({ length: n }, () => rb.send(p).subarray(3))
  let i = 0
  const tb = timeIt(() => {
    h.encodeFrame(p)
    h.decrypt(fromServerB[i++])
  }, n)
  const ro = newResponder()
  const { c } = oursHandshake(ro)
  const fromServerO = Array.from({ length: n }, () => ro.send(p))
  let j = 0
  const to = timeIt(() => {
    c.send(p)
    c.receive(fromServerO[j++])
  }, n)
  const mbB = (2 * size) / tb / 1e6
  const mbO = (2 * size) / to / 1e6
  rows.push([`transport ${size / 1024} KiB frames (MB/s, enc+dec)`, mbB, mbO, mbO / mbB])
}

{
  const b = await timeAsync(async () => (await baileysHandshake(newResponder())).client)
  const o = await timeAsync(async () => oursHandshake(newResponder()).client)
  rows.push(['handshakes/s, client side only', 1 / b.client, 1 / o.client, b.client / o.client])
  rows.push(['handshakes/s, incl. our responder', 1 / b.total, 1 / o.total, b.total / o.total])
}

console.log(`node ${process.version}, ${(await import('node:os')).cpus()[0].model}, load ${(await import('node:os')).loadavg()[0].toFixed(2)}`)
console.log('case'.padEnd(42), 'Baileys'.padStart(9), 'ours'.padStart(9), 'ours/Baileys'.padStart(13))
for (const [name, b, o, ratio] of rows) console.log(name.padEnd(42), fmt(b), fmt(o), fmt(ratio, 2).padStart(13) + 'x')
