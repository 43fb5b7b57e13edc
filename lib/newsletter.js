'use strict'
// Newsletters (channels) on our socket: Baileys 7's newsletter surface (`newsletterCreate`,
// `newsletterFollow`, ...), each a typed operation in Rust (crates/wa-client/src/newsletter)
// reached through `handle.newsletterOp`. Posts are sent with `sendMessage` like any message
// (plaintext on the wire); the four newsletter events come from the Rust client.
const { codedError } = require('./errors.js')
const { makeBoom } = require('./boom.js')
const { decodeBinaryNodeSync } = require('./binary.js')
const { generateProfilePicture } = require('./media.js')

/**
 * A refused query becomes Baileys' Boom: a GraphQL error keeps its `error_code` as the
 * status, a refused IQ its code; anything else is as thrown.
 */
function asBoom(e) {
  if (e && e.status !== undefined && e.text !== undefined) {
    const status = Number(e.status)
    const boom = makeBoom(e.text || 'Unknown error', { statusCode: status, data: { error_code: status } })
    boom.code = e.code
    return boom
  }
  return e
}

function jidArg(v, what) {
  if (typeof v !== 'string' || !v) throw codedError('ERR_WA_CLIENT_ARGUMENT', `${what} must be a non-empty string`)
  return v
}

/** Adds Baileys' newsletter methods to `sock`. */
function addNewsletters(sock, handle) {
  async function op(name, ...args) {
    let out
    try {
      out = await handle.newsletterOp(name, JSON.stringify(args))
    } catch (e) {
      throw asBoom(e)
    }
    const v = JSON.parse(out)
    return v === null ? undefined : v
  }
  const newsletterUpdate = async (jid, updates) => {
    if (!updates || typeof updates !== 'object') throw codedError('ERR_WA_CLIENT_ARGUMENT', 'updates must be an object')
    return op('newsletterUpdate', jidArg(jid, 'jid'), updates)
  }
  Object.assign(sock, {
    newsletterCreate: async (name, description) =>
      op('newsletterCreate', String(name ?? ''), description === undefined || description === null ? null : String(description)),
    newsletterUpdate,
    newsletterSubscribers: async (jid) => op('newsletterSubscribers', jidArg(jid, 'jid')),
    newsletterMetadata: async (type, key) => (await op('newsletterMetadata', String(type), jidArg(key, 'key'))) ?? null,
    newsletterFollow: async (jid) => op('newsletterFollow', jidArg(jid, 'jid')),
    newsletterUnfollow: async (jid) => op('newsletterUnfollow', jidArg(jid, 'jid')),
    newsletterMute: async (jid) => op('newsletterMute', jidArg(jid, 'jid')),
    newsletterUnmute: async (jid) => op('newsletterUnmute', jidArg(jid, 'jid')),
    newsletterUpdateName: async (jid, name) => newsletterUpdate(jid, { name: String(name ?? '') }),
    newsletterUpdateDescription: async (jid, description) => newsletterUpdate(jid, { description: String(description ?? '') }),
    newsletterUpdatePicture: async (jid, content) => {
      const { img } = await generateProfilePicture(content)
      return newsletterUpdate(jid, { picture: img.toString('base64') })
    },
    newsletterRemovePicture: async (jid) => newsletterUpdate(jid, { picture: '' }),
    newsletterReactMessage: async (jid, serverId, reaction) => {
      await op('newsletterReactMessage', jidArg(jid, 'jid'), String(serverId ?? ''), reaction ? String(reaction) : null)
    },
    newsletterFetchMessages: async (jid, count, since, after) => {
      if (!Number.isInteger(count) || count < 1) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'count must be a positive integer')
      let frame
      try {
        frame = await handle.newsletterFetchMessages(
          jidArg(jid, 'jid'),
          count,
          typeof since === 'number' ? since : undefined,
          after ? Number(after) : undefined,
        )
      } catch (e) {
        throw asBoom(e)
      }
      return decodeBinaryNodeSync(frame)
    },
    subscribeNewsletterUpdates: async (jid) => (await op('subscribeNewsletterUpdates', jidArg(jid, 'jid'))) ?? null,
    newsletterAdminCount: async (jid) => op('newsletterAdminCount', jidArg(jid, 'jid')),
    newsletterChangeOwner: async (jid, newOwnerJid) => {
      await op('newsletterChangeOwner', jidArg(jid, 'jid'), jidArg(newOwnerJid, 'newOwnerJid'))
    },
    newsletterDemote: async (jid, userJid) => {
      await op('newsletterDemote', jidArg(jid, 'jid'), jidArg(userJid, 'userJid'))
    },
    newsletterDelete: async (jid) => {
      await op('newsletterDelete', jidArg(jid, 'jid'))
    },
  })
}

module.exports = { addNewsletters }
