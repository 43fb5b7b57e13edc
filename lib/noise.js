'use strict'
// WhatsApp's Noise session (wa-noise): client, responder, and the certificate helpers of a
// test server.
const native = require('../native.js')
const { coded, codedClass } = require('./errors.js')

module.exports = {
  NoiseClient: codedClass(native.NoiseClient),
  NoiseResponder: codedClass(native.NoiseResponder),
  mintNoiseCertChain: coded(native.mintNoiseCertChain),
  verifyNoiseCertChain: coded(native.verifyNoiseCertChain),
  noiseWaCertRoot: native.noiseWaCertRoot,
}
