'use strict'
// Errors shaped like @hapi/boom's, which Baileys throws and bots inspect
// (`err.output.statusCode`, `err.data`, `err.isBoom`), without the dependency.

const REASONS = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Time-out', 409: 'Conflict',
  410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 428: 'Precondition Required',
  429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Time-out',
}

function makeBoom(message, { statusCode = 500, data } = {}) {
  const err = new Error(message)
  err.data = data ?? null
  err.isBoom = true
  err.isServer = statusCode >= 500
  err.output = {
    statusCode,
    payload: {
      statusCode,
      error: REASONS[statusCode] || 'Unknown',
      message: statusCode >= 500 ? 'An internal server error occurred' : message,
    },
    headers: {},
  }
  return err
}

module.exports = { makeBoom }
