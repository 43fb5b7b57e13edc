'use strict'
// Baileys 7's makeNoiseHandler (Utils/noise-handler.js): the step-by-step Noise XX handler its
// socket drives (encrypt/decrypt/authenticate/mixIntoKey during the handshake, processHandshake
// on the ServerHello, finishInit, then framed transport), built on our crypto layer
// (lib/crypto.js: SHA-256, HKDF, AES-GCM, X25519) and binary decoder. The all-in-one session
// of our own client is NoiseClient (lib/noise.js).
// Deliberate differences from Baileys 7.0.0-rc14: certificate signatures are really verified
// (its Curve.verify accepts any 64-byte signature), the leaf certificate must carry the
// server's static key (Baileys never compares them), and a frame that fails to decrypt or
// decode rejects decodeFrame with a clear error.
const { proto } = require('./proto.js')
const { makeBoom } = require('./boom.js')
const { aesEncryptGCM, aesDecryptGCM, Curve, hkdf, sha256 } = require('./crypto.js')
const { decodeBinaryNode } = require('./binary.js')
const defaults = require('./defaults.js')

const EMPTY = Buffer.alloc(0)
const silent = { level: 'silent', trace() {}, debug() {}, info() {}, warn() {}, error() {} }

// The 12-byte GCM nonce: eight zero bytes, then the counter big-endian.
function nonce(counter) {
  const iv = Buffer.alloc(12)
  iv.writeUInt32BE(counter >>> 0, 8)
  return iv
}

class Transport {
  constructor(encKey, decKey) {
    this.encKey = encKey
    this.decKey = decKey
    this.readCounter = 0
    this.writeCounter = 0
  }

  encrypt(plaintext) {
    return aesEncryptGCM(plaintext, this.encKey, nonce(this.writeCounter++), EMPTY)
  }

  decrypt(ciphertext) {
    return aesDecryptGCM(ciphertext, this.decKey, nonce(this.readCounter++), EMPTY)
  }
}

// What precedes the first frame: the Noise header, or with edge routing info the ED preface
// ('ED', 0, 1, the 24-bit length, the routing info) and then the header.
function introOf(NOISE_HEADER, routingInfo) {
  if (!routingInfo) return Buffer.from(NOISE_HEADER)
  const len = routingInfo.byteLength
  const preface = Buffer.from([0x45, 0x44, 0, 1, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff])
  return Buffer.concat([preface, Buffer.from(routingInfo), Buffer.from(NOISE_HEADER)])
}

function verifyChain(certBytes, serverStatic) {
  const { WA_CERT_DETAILS } = defaults
  let chain
  try {
    chain = proto.CertChain.decode(certBytes)
  } catch (err) {
    throw makeBoom(`invalid noise certificate chain: ${err.message}`, { statusCode: 400 })
  }
  const { leaf, intermediate } = chain
  if (!leaf?.details || !leaf?.signature) throw makeBoom('invalid noise leaf certificate', { statusCode: 400 })
  if (!intermediate?.details || !intermediate?.signature) {
    throw makeBoom('invalid noise intermediate certificate', { statusCode: 400 })
  }
  const Details = proto.CertChain.NoiseCertificate.Details
  const inter = Details.decode(intermediate.details)
  const verifies = (key, msg, sig) => key?.length === 32 && sig.length === 64 && Curve.verify(key, msg, sig)
  if (!verifies(inter.key, leaf.details, leaf.signature)) {
    throw makeBoom('noise certificate signature invalid', { statusCode: 400 })
  }
  if (!verifies(WA_CERT_DETAILS.PUBLIC_KEY, intermediate.details, intermediate.signature)) {
    throw makeBoom('noise intermediate certificate signature invalid', { statusCode: 400 })
  }
  if (inter.issuerSerial !== WA_CERT_DETAILS.SERIAL) throw makeBoom('certification match failed', { statusCode: 400 })
  const leafKey = Details.decode(leaf.details).key
  if (!leafKey || Buffer.compare(Buffer.from(leafKey), Buffer.from(serverStatic)) !== 0) {
    throw makeBoom('noise leaf certificate is not for the server static key', { statusCode: 400 })
  }
}

function makeNoiseHandler({ keyPair, NOISE_HEADER, logger, routingInfo }) {
  if (!keyPair?.private || !keyPair?.public) throw makeBoom('makeNoiseHandler: keyPair { private, public } is required', { statusCode: 400 })
  if (!NOISE_HEADER) throw makeBoom('makeNoiseHandler: NOISE_HEADER is required', { statusCode: 400 })
  const { private: privateKey, public: publicKey } = keyPair
  logger = typeof logger?.child === 'function' ? logger.child({ class: 'ns' }) : logger || silent

  const mode = Buffer.from(defaults.NOISE_MODE)
  let hash = mode.byteLength === 32 ? mode : sha256(mode)
  let salt = hash
  let encKey = hash
  let decKey = hash
  let counter = 0
  let transport = null
  let sentIntro = false
  let inBytes = EMPTY
  let waitingForTransport = false
  let pendingOnFrame = null
  const intro = introOf(NOISE_HEADER, routingInfo)

  const authenticate = (data) => {
    if (!transport) hash = sha256(Buffer.concat([hash, Buffer.from(data)]))
  }

  const encrypt = (plaintext) => {
    if (transport) return transport.encrypt(plaintext)
    const out = aesEncryptGCM(plaintext, encKey, nonce(counter++), hash)
    authenticate(out)
    return out
  }

  const decrypt = (ciphertext) => {
    if (transport) return transport.decrypt(ciphertext)
    const out = aesDecryptGCM(ciphertext, decKey, nonce(counter++), hash)
    authenticate(ciphertext)
    return out
  }

  const split = (data) => {
    const key = hkdf(Buffer.from(data), 64, { salt, info: '' })
    return [key.subarray(0, 32), key.subarray(32)]
  }

  const mixIntoKey = (data) => {
    const [write, read] = split(data)
    salt = write
    encKey = read
    decKey = read
    counter = 0
  }

  const processData = async (onFrame) => {
    for (;;) {
      if (inBytes.length < 3) return
      const size = (inBytes[0] << 16) | (inBytes[1] << 8) | inBytes[2]
      if (inBytes.length < size + 3) return
      let frame = inBytes.subarray(3, size + 3)
      inBytes = inBytes.subarray(size + 3)
      if (transport) {
        let plain
        try {
          plain = transport.decrypt(frame)
        } catch (err) {
          throw makeBoom(`noise frame failed to decrypt: ${err.message}`, { statusCode: 400 })
        }
        frame = await decodeBinaryNode(plain)
      }
      if (logger.level === 'trace') logger.trace({ msg: frame?.attrs?.id }, 'recv frame')
      onFrame(frame)
    }
  }

  const finishInit = async () => {
    waitingForTransport = true
    const [write, read] = split(new Uint8Array(0))
    transport = new Transport(write, read)
    waitingForTransport = false
    logger.trace('Noise handler transitioned to Transport state')
    if (pendingOnFrame) {
      const onFrame = pendingOnFrame
      pendingOnFrame = null
      await processData(onFrame)
    }
  }

  authenticate(NOISE_HEADER)
  authenticate(publicKey)

  return {
    encrypt,
    decrypt,
    authenticate,
    mixIntoKey,
    finishInit,
    /** Reads the ServerHello and checks the certificates; returns our encrypted static key. */
    processHandshake({ serverHello }, noiseKey) {
      if (!serverHello?.ephemeral || !serverHello.static || !serverHello.payload) {
        throw makeBoom('invalid ServerHello: ephemeral, static and payload are required', { statusCode: 400 })
      }
      authenticate(serverHello.ephemeral)
      mixIntoKey(Curve.sharedKey(privateKey, serverHello.ephemeral))
      const serverStatic = decrypt(serverHello.static)
      mixIntoKey(Curve.sharedKey(privateKey, serverStatic))
      verifyChain(decrypt(serverHello.payload), serverStatic)
      const keyEnc = encrypt(noiseKey.public)
      mixIntoKey(Curve.sharedKey(noiseKey.private, serverHello.ephemeral))
      return keyEnc
    },
    /** One frame to send: the intro before the first, a 24-bit length, the (encrypted) data. */
    encodeFrame(data) {
      if (transport) data = transport.encrypt(data)
      const len = data.byteLength
      if (len > 0xffffff) throw makeBoom(`noise frame too large: ${len} bytes`, { statusCode: 400 })
      const head = sentIntro ? EMPTY : intro
      sentIntro = true
      return Buffer.concat([head, Buffer.from([(len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff]), Buffer.from(data)])
    },
    /** Buffers received bytes and calls onFrame with each complete frame (a node after the handshake). */
    async decodeFrame(newData, onFrame) {
      inBytes = inBytes.length ? Buffer.concat([inBytes, Buffer.from(newData)]) : Buffer.from(newData)
      if (waitingForTransport) {
        pendingOnFrame = onFrame
        return
      }
      await processData(onFrame)
    },
  }
}

module.exports = { makeNoiseHandler }
