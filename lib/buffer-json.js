'use strict'
// Baileys' encoding of bytes inside JSON, {"type":"Buffer","data":"<base64>"}: BufferJSON (as
// Baileys exports it), and the same revival as a walk after JSON.parse. With a reviver V8 calls
// back into JavaScript for every value of the tree; the walk visits each once, with the same
// rules and result as `JSON.parse(text, BufferJSON.reviver)` (__test__/buffer-json.test.mjs
// checks it against Baileys'). Every parse of JSON that may carry bytes goes through the walk:
// event batches and send results from the native side, a store's values.
const BufferJSON = {
  replacer(_key, value) {
    if (Buffer.isBuffer(value) || value instanceof Uint8Array || value?.type === 'Buffer') {
      return { type: 'Buffer', data: Buffer.from(value?.data || value).toString('base64') }
    }
    return value
  },
  reviver(_key, value) {
    if (typeof value === 'object' && value !== null && value.type === 'Buffer' && typeof value.data === 'string') {
      return Buffer.from(value.data, 'base64')
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const keys = Object.keys(value)
      if (keys.length > 0 && keys.every((k) => !isNaN(parseInt(k, 10)))) {
        const values = Object.values(value)
        if (values.every((v) => typeof v === 'number')) return Buffer.from(values)
      }
    }
    return value
  },
}

/** BufferJSON.reviver's result for a parsed tree, children before parents as JSON.parse does. */
function reviveBuffers(value) {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveBuffers(value[i])
    return value
  }
  let numericKeys = true
  let any = false
  for (const k of Object.keys(value)) {
    const v = value[k]
    const r = reviveBuffers(v)
    // A data property, as JSON.parse makes it (a "__proto__" key must not become a prototype).
    if (r !== v) Object.defineProperty(value, k, { value: r, writable: true, enumerable: true, configurable: true })
    any = true
    if (numericKeys && isNaN(parseInt(k, 10))) numericKeys = false
  }
  return (any && numericKeys) || value.type === 'Buffer' ? BufferJSON.reviver('', value) : value
}

module.exports = { BufferJSON, reviveBuffers }
