'use strict'
// Protobuf helpers exposed for tests and tooling.
const native = require('../native.js')

module.exports = {
  describeHandshakeMessage: native.describeHandshakeMessage,
}
