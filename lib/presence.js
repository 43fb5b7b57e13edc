'use strict'
// Presence and receipts on our socket (Baileys 7's `sendPresenceUpdate`, `presenceSubscribe`,
// `sendReceipt`, `sendReceipts`, `readMessages`). The stanzas are built in Rust
// (crates/wa-client/src/presence.rs); incoming presence and chat states arrive as
// `presence.update` events. Each method takes its place in the send order when called.
const { codedError } = require('./errors.js')

const PRESENCES = ['available', 'unavailable', 'composing', 'recording', 'paused']

function checkKeys(keys) {
  if (!Array.isArray(keys)) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'keys must be an array of message keys')
  return keys.map((k, i) => {
    if (!k || typeof k !== 'object') throw codedError('ERR_WA_CLIENT_ARGUMENT', `keys[${i}] must be a message key`)
    return {
      remoteJid: k.remoteJid ?? undefined,
      id: k.id ?? undefined,
      participant: k.participant ?? undefined,
      fromMe: !!k.fromMe,
    }
  })
}

function optionalString(v, what) {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw codedError('ERR_WA_CLIENT_ARGUMENT', `${what} must be a string`)
  return v
}

/** Adds the presence and receipt methods to `sock`, over its native `handle`. */
function addPresence(sock, handle, creds) {
  Object.assign(sock, {
    async sendPresenceUpdate(type, toJid) {
      if (!PRESENCES.includes(type)) {
        throw codedError('ERR_WA_CLIENT_ARGUMENT', `presence type must be one of ${PRESENCES.join(', ')}`)
      }
      const name = typeof creds.me?.name === 'string' ? creds.me.name : undefined
      return handle.sendPresenceUpdate(type, optionalString(toJid, 'toJid'), name)
    },
    async presenceSubscribe(toJid, tcToken) {
      if (typeof toJid !== 'string') throw codedError('ERR_WA_CLIENT_ARGUMENT', 'toJid must be a string')
      if (tcToken !== undefined && tcToken !== null && !(tcToken instanceof Uint8Array)) {
        throw codedError('ERR_WA_CLIENT_ARGUMENT', 'tcToken must be a Buffer')
      }
      return handle.presenceSubscribe(toJid, tcToken ? Buffer.from(tcToken) : undefined)
    },
    async sendReceipt(jid, participant, messageIds, type) {
      if (typeof jid !== 'string') throw codedError('ERR_WA_CLIENT_ARGUMENT', 'jid must be a string')
      if (!Array.isArray(messageIds) || messageIds.some((id) => typeof id !== 'string')) {
        throw codedError('ERR_WA_CLIENT_ARGUMENT', 'messageIds must be an array of strings')
      }
      return handle.sendReceipt(jid, optionalString(participant, 'participant'), messageIds, optionalString(type, 'type'))
    },
    async sendReceipts(keys, type) {
      return handle.sendReceipts(checkKeys(keys), optionalString(type, 'type'))
    },
    async readMessages(keys) {
      return handle.readMessages(checkKeys(keys))
    },
  })
  return sock
}

module.exports = { addPresence }
