'use strict'
// Bytes in the JSON the native side hands over ({"type":"Buffer","data":"<base64>"}) turned
// into Buffers after JSON.parse, by a walk rather than a reviver: with a reviver V8 calls
// back into JavaScript for every value of the tree. Same rules and result as
// `JSON.parse(text, BufferJSON.reviver)` (__test__/revive.test.mjs checks it against Baileys').
const { BufferJSON } = require('./store.js')

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

module.exports = { reviveBuffers }
