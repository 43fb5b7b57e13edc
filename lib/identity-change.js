'use strict'
// Baileys 7's handleIdentityChange (Utils/identity-change-handler.js): what to do with an
// <notification type=encrypt><identity/> (a contact's identity key changed): refresh the
// Signal session of a primary device we have one with, unless offline, debounced or our own.
// Takes Baileys' context object `{ meId, meLid, validateSession, assertSessions,
// debounceCache, logger, onBeforeSessionRefresh? }` and resolves `{ action, ... }` as Baileys'.
const { makeBoom } = require('./boom.js')
const { getBinaryNodeChild } = require('./binary.js')
const { areJidsSameUser, jidDecode } = require('./jid.js')
const { isStringNullOrEmpty } = require('./generics.js')

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

async function handleIdentityChange(node, ctx) {
  if (!node || typeof node !== 'object' || !node.attrs) {
    throw makeBoom('handleIdentityChange: not a binary node (no attrs)', { statusCode: 400, data: node })
  }
  if (!ctx || typeof ctx.validateSession !== 'function' || typeof ctx.assertSessions !== 'function' || !ctx.debounceCache) {
    throw makeBoom('handleIdentityChange: the context needs validateSession, assertSessions and debounceCache', { statusCode: 400 })
  }
  const logger = ctx.logger || silent
  const from = node.attrs.from
  if (!from) return { action: 'invalid_notification' }
  if (!getBinaryNodeChild(node, 'identity')) return { action: 'no_identity_node' }
  logger.info({ jid: from }, 'identity changed')

  const device = jidDecode(from)?.device
  if (device) {
    logger.debug({ jid: from, device }, 'ignoring identity change from companion device')
    return { action: 'skipped_companion_device', device }
  }
  if (ctx.meId && (areJidsSameUser(from, ctx.meId) || (ctx.meLid && areJidsSameUser(from, ctx.meLid)))) {
    logger.info({ jid: from }, 'self primary identity changed')
    return { action: 'skipped_self_primary' }
  }
  if (ctx.debounceCache.get(from)) {
    logger.debug({ jid: from }, 'skipping identity assert (debounced)')
    return { action: 'debounced' }
  }
  ctx.debounceCache.set(from, true)

  const offline = !isStringNullOrEmpty(node.attrs.offline)
  const session = await ctx.validateSession(from)
  if (!session?.exists) {
    logger.debug({ jid: from }, 'no old session, skipping session refresh')
    return { action: 'skipped_no_session' }
  }
  logger.debug({ jid: from }, 'old session exists, will refresh session')
  if (offline) {
    logger.debug({ jid: from }, 'skipping session refresh during offline processing')
    return { action: 'skipped_offline' }
  }
  ctx.onBeforeSessionRefresh?.(from)
  try {
    await ctx.assertSessions([from], true)
    return { action: 'session_refreshed' }
  } catch (error) {
    logger.warn({ error, jid: from }, 'failed to assert sessions after identity change')
    return { action: 'session_refresh_failed', error }
  }
}

module.exports = { handleIdentityChange }
