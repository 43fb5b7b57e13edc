'use strict'
// Errors raised in JavaScript carry a stable `code` like the native ones (whose `code` the
// addon sets when it creates them, see src/errors.rs).

/** An `Error` (or `TypeError`, ...) with our stable code. */
function codedError(code, message, Kind = Error) {
  const err = new Kind(message)
  err.code = code
  return err
}

module.exports = { codedError }
