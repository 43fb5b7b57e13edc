'use strict'
// Protobuf helpers exposed for tests and tooling.
const native = require('../native.js')
const { coded } = require('./errors.js')

module.exports = {
  describeHandshakeMessage: coded(native.describeHandshakeMessage),
}
