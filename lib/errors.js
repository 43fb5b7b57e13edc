'use strict'
// Errors from the native layer carry a stable code. napi attaches only its own status to
// errors raised by async functions, so Rust puts the code first in the message as
// "[ERR_WA_...] text"; withCode() lifts it into err.code, as Node does for its own errors.

const CODED = /^\[(ERR_[A-Z0-9_]+)\] /

function withCode(err) {
  if (err && typeof err.message === 'string') {
    const m = CODED.exec(err.message)
    if (m) {
      err.code = m[1]
      err.message = err.message.slice(m[0].length)
    }
  }
  return err
}

// Wraps a native function so a thrown native error gets its code.
function coded(fn) {
  return function codedNative(...args) {
    try {
      return fn.apply(this, args)
    } catch (err) {
      throw withCode(err)
    }
  }
}

// Gives a native class's methods and constructor the same treatment: returns a subclass of
// the same name whose constructor and prototype methods rethrow with codes.
function codedClass(NativeClass) {
  for (const name of Object.getOwnPropertyNames(NativeClass.prototype)) {
    const d = Object.getOwnPropertyDescriptor(NativeClass.prototype, name)
    if (name !== 'constructor' && typeof d.value === 'function') {
      Object.defineProperty(NativeClass.prototype, name, { ...d, value: coded(d.value) })
    }
  }
  const Coded = class extends NativeClass {
    constructor(...args) {
      try {
        super(...args)
      } catch (err) {
        throw withCode(err)
      }
    }
  }
  Object.defineProperty(Coded, 'name', { value: NativeClass.name })
  return Coded
}

module.exports = { withCode, coded, codedClass }
