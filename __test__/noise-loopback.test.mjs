// Our Noise client against our responder over a real TCP loopback connection, and every
// refusal the client and responder make, each with its own error code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect } from 'node:net'
import { once } from 'node:events'
import { randomBytes, randomInt } from 'node:crypto'
import { proto } from '@whiskeysockets/baileys/WAProto/index.js'
import {
  Curve,
  NoiseClient,
  NoiseResponder,
  mintNoiseCertChain,
  verifyNoiseCertChain,
  noiseWaCertRoot,
} from '../index.mjs'

const payload = Buffer.from(proto.ClientPayload.encode({ username: 15551234567, device: 1, passive: true, pull: true }).finish())

function setup({ chainRoot, mint = {} } = {}) {
  const root = Curve.generateKeyPair()
  const server = Curve.generateKeyPair()
  const intermediate = Curve.generateKeyPair()
  const certChain = mintNoiseCertChain({
    rootPrivateKey: (chainRoot ?? root).private,
    serverPublicKey: server.public,
    intermediatePrivateKey: intermediate.private,
    ...mint,
  })
  const noiseKey = Curve.generateKeyPair()
  return { root, server, intermediate, certChain, noiseKey }
}

const clientFor = (s, extra = {}) =>
  new NoiseClient({ noisePrivateKey: s.noiseKey.private, payload, trustRoot: s.root.public, ...extra })
const responderFor = (s, certChain = s.certChain, extra = {}) =>
  new NoiseResponder({ staticPrivateKey: s.server.private, certChain, ...extra })

test('our client and responder over TCP loopback: handshake and 200 frames each way', async () => {
  const s = setup()
  const tcp = createServer()
  tcp.listen(0, '127.0.0.1')
  await once(tcp, 'listening')
  const N = 200
  const toClient = Array.from({ length: N }, () => randomBytes(randomInt(1, 200_000)))
  const serverDone = new Promise((resolve, reject) => {
    tcp.once('connection', (sock) => {
      const r = responderFor(s)
      const got = []
      sock.on('data', (chunk) => {
        try {
          const wasEstablished = r.established
          got.push(...r.receive(chunk))
          const out = r.takeTransmit()
          if (out) sock.write(out)
          if (!wasEstablished && r.established) {
            for (const p of toClient) sock.write(r.send(p))
          }
          if (got.length === N) resolve({ got, r })
        } catch (e) {
          reject(e)
        }
      })
    })
  })
  const c = clientFor(s)
  const sock = connect(tcp.address().port, '127.0.0.1')
  await once(sock, 'connect')
  sock.write(c.takeTransmit())
  const toServer = Array.from({ length: N }, () => randomBytes(randomInt(1, 200_000)))
  const clientGot = []
  const clientDone = new Promise((resolve, reject) => {
    sock.on('data', (chunk) => {
      try {
        const was = c.established
        clientGot.push(...c.receive(chunk))
        const out = c.takeTransmit()
        if (out) sock.write(out)
        if (!was && c.established) for (const p of toServer) sock.write(c.send(p))
        if (clientGot.length === N) resolve()
      } catch (e) {
        reject(e)
      }
    })
  })
  const [{ got, r }] = await Promise.all([serverDone, clientDone])
  assert.deepEqual(c.serverStatic, s.server.public)
  assert.deepEqual(r.clientStatic, s.noiseKey.public)
  assert.deepEqual(r.clientPayload, payload)
  for (let i = 0; i < N; i++) {
    assert.ok(got[i].equals(toServer[i]), `to server ${i}`)
    assert.ok(clientGot[i].equals(toClient[i]), `to client ${i}`)
  }
  sock.destroy()
  tcp.close()
})

/** Runs the handshake in memory until the client judges the server's chain. */
function clientVerdict(s, certChain, now) {
  const c = clientFor(s)
  const r = responderFor(s, certChain)
  r.receive(c.takeTransmit())
  const reply = r.takeTransmit()
  try {
    c.receive(reply, now)
  } catch (err) {
    assert.throws(() => c.receive(Buffer.alloc(0)), { code: err.code }, 'sticky')
    assert.equal(c.takeTransmit(), null, 'no ClientFinish after a refusal')
    return err.code
  }
  return c.established ? 'established' : 'pending'
}

/** Re-signs the leaf of a minted chain with new details (as a misbehaving server would). */
function withLeaf(s, details) {
  const chain = proto.CertChain.decode(s.certChain)
  const raw = proto.CertChain.NoiseCertificate.Details.encode(details).finish()
  chain.leaf = { details: raw, signature: Curve.sign(s.intermediate.private, raw) }
  return Buffer.from(proto.CertChain.encode(chain).finish())
}

test('client refusals: other root, swapped leaf, wrong issuer serial, validity, garbage', () => {
  const s = setup()
  assert.equal(clientVerdict(s, s.certChain), 'established')
  assert.equal(clientVerdict(s, setup({ chainRoot: Curve.generateKeyPair() }).certChain), 'ERR_WA_NOISE_CERT_UNTRUSTED_ROOT')
  // chain signed by another root, even with the right leaf key
  const other = Curve.generateKeyPair()
  const foreign = mintNoiseCertChain({ rootPrivateKey: other.private, serverPublicKey: s.server.public })
  assert.equal(clientVerdict(s, foreign), 'ERR_WA_NOISE_CERT_UNTRUSTED_ROOT')
  // swapped leaf: properly signed, but for another server key
  assert.equal(
    clientVerdict(s, withLeaf(s, { serial: 2, issuerSerial: 1, key: Curve.generateKeyPair().public })),
    'ERR_WA_NOISE_CERT_LEAF_KEY',
  )
  // swapped leaf: another chain's leaf (another intermediate signed it)
  const chain = proto.CertChain.decode(s.certChain)
  chain.leaf = proto.CertChain.decode(mintNoiseCertChain({ rootPrivateKey: s.root.private, serverPublicKey: s.server.public })).leaf
  assert.equal(clientVerdict(s, Buffer.from(proto.CertChain.encode(chain).finish())), 'ERR_WA_NOISE_CERT_LEAF_SIGNATURE')
  // wrong issuer serial
  assert.equal(
    clientVerdict(s, withLeaf(s, { serial: 2, issuerSerial: 9, key: s.server.public })),
    'ERR_WA_NOISE_CERT_ISSUER_SERIAL',
  )
  // validity window
  const now = Math.floor(Date.now() / 1000)
  const timed = setup({ mint: { notBefore: now - 60, notAfter: now + 60 } })
  assert.equal(clientVerdict(timed, timed.certChain, now), 'established')
  assert.equal(clientVerdict(timed, timed.certChain, now + 61), 'ERR_WA_NOISE_CERT_EXPIRED')
  assert.equal(clientVerdict(timed, timed.certChain, now - 61), 'ERR_WA_NOISE_CERT_NOT_YET_VALID')
  assert.equal(clientVerdict(s, Buffer.from([0xff, 0xff])), 'ERR_WA_NOISE_CERT_DECODE')
})

test('verifyNoiseCertChain runs the same checks; the default root is WhatsApp\'s', () => {
  const s = setup()
  const v = verifyNoiseCertChain(s.certChain, s.server.public, s.root.public)
  assert.deepEqual([v.intermediateSerial, v.leafSerial], [1, 2])
  assert.deepEqual(v.intermediateKey, s.intermediate.public)
  assert.throws(() => verifyNoiseCertChain(s.certChain, s.server.public), { code: 'ERR_WA_NOISE_CERT_UNTRUSTED_ROOT' })
  assert.equal(noiseWaCertRoot().toString('hex'), '142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b')
})

function established(s, extra) {
  const c = clientFor(s, extra)
  const r = responderFor(s, s.certChain, extra)
  r.receive(c.takeTransmit())
  c.receive(r.takeTransmit())
  r.receive(c.takeTransmit())
  assert.ok(c.established && r.established)
  return { c, r }
}

test('transport refusals: tampered, replayed, oversized; errors are sticky; local misuse is not', () => {
  const s = setup()
  let { c, r } = established(s)
  const m = c.send(Buffer.from('hello'))
  m[4] ^= 1
  assert.throws(() => r.receive(m), { code: 'ERR_WA_NOISE_DECRYPT' })
  assert.throws(() => r.send(Buffer.from('x')), { code: 'ERR_WA_NOISE_DECRYPT' })
  ;({ c, r } = established(s))
  const first = c.send(Buffer.from('once'))
  assert.deepEqual(r.receive(first).map(String), ['once'])
  assert.throws(() => r.receive(first), { code: 'ERR_WA_NOISE_REPLAY' })
  ;({ c, r } = established(s, { maxFrameLen: 1024 }))
  assert.throws(() => r.receive(Buffer.from([0, 4, 1])), { code: 'ERR_WA_NOISE_FRAME_TOO_LARGE' })
  assert.throws(() => c.send(Buffer.alloc(1024)), { code: 'ERR_WA_NOISE_PAYLOAD_TOO_LARGE' })
  assert.equal(c.send(Buffer.alloc(1008)).length, 3 + 1008 + 16, 'still usable after local misuse')
  const early = clientFor(s)
  assert.throws(() => early.send(Buffer.from('x')), { code: 'ERR_WA_NOISE_NOT_ESTABLISHED' })
  const rr = responderFor(s)
  assert.throws(() => rr.receive(Buffer.from('GET / HTTP/1.1')), { code: 'ERR_WA_NOISE_BAD_INTRO' })
  assert.throws(() => new NoiseResponder({ staticPrivateKey: Buffer.alloc(5), certChain: s.certChain }), {
    code: 'ERR_WA_NOISE_KEY_LENGTH',
  })
})

test('random bytes into every state never crash the process', () => {
  const s = setup()
  let errors = 0
  for (let i = 0; i < 300; i++) {
    const targets = [responderFor(s), clientFor(s), ...Object.values(established(s))]
    for (const t of targets) {
      for (let k = 0; k < 4; k++) {
        try {
          t.receive(randomBytes(randomInt(0, 2000)))
        } catch (e) {
          assert.match(e.code, /^ERR_WA_NOISE_/)
          errors++
          break
        }
      }
    }
  }
  assert.ok(errors > 0)
})
