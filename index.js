'use strict'
// baileys-native: the CommonJS entry. One line per layer module in lib/; the ESM entry
// (index.mjs) is generated from these exports by scripts/build.mjs.

module.exports = {
  ...require('./lib/proto.js'),
  ...require('./lib/binary.js'),
  ...require('./lib/jid.js'),
  ...require('./lib/store.js'),
  ...require('./lib/crypto.js'),
  ...require('./lib/noise.js'),
  ...require('./lib/signal.js'),
  ...require('./lib/socket.js'),
  ...require('./lib/defaults.js'),
  ...require('./lib/generics.js'),
  ...require('./lib/messages.js'),
  ...require('./lib/generate.js'),
  ...require('./lib/media.js'),
  ...require('./lib/link-preview.js'),
  ...require('./lib/event-buffer.js'),
  ...require('./lib/auth-utils.js'),
  ...require('./lib/usync.js'),
  ...require('./lib/wam.js'),
  ...require('./lib/signal-utils.js'),
  ...require('./lib/validate-connection.js'),
  ...require('./lib/noise-handler.js'),
  ...require('./lib/decode-message.js'),
  ...require('./lib/retry-manager.js'),
  ...require('./lib/identity-change.js'),
}
