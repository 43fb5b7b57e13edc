'use strict'
// WhatsApp's Noise session (wa-noise): client, responder, and the certificate helpers of a
// test server.
const native = require('../native.js')

module.exports = {
  NoiseClient: native.NoiseClient,
  NoiseResponder: native.NoiseResponder,
  mintNoiseCertChain: native.mintNoiseCertChain,
  verifyNoiseCertChain: native.verifyNoiseCertChain,
  noiseWaCertRoot: native.noiseWaCertRoot,
}
