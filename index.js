'use strict'
// baileys-native: CommonJS entry. The ESM entry (index.mjs) is generated from these exports.
const native = require('./native.js')
const { coded } = require('./lib/errors.js')

module.exports = {
  describeHandshakeMessage: coded(native.describeHandshakeMessage),
}
