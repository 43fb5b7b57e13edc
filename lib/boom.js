'use strict'
// Boom errors as Baileys throws them: real @hapi/boom errors (`err.isBoom`,
// `err.output.statusCode`, `err.data`), so `instanceof Boom` and `Boom.isBoom` hold for bots
// that check them.
const { Boom } = require('@hapi/boom')

function makeBoom(message, { statusCode = 500, data } = {}) {
  return new Boom(message, { statusCode, data })
}

module.exports = { makeBoom }
