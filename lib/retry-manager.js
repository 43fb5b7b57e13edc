'use strict'
// Baileys 7's MessageRetryManager (Utils/message-retry-manager.js): the recently sent messages
// kept for retry receipts, per-message retry counters, when to recreate a Signal session,
// delayed placeholder requests to the phone, base keys seen per retry, and statistics. Same
// constructor, methods and results (__test__/pipeline-utils-baileys.test.mjs). Differences,
// both deliberate: without `maxMsgRetryCount` the limit is 5 (Baileys sets it to undefined,
// so hasExceededMaxRetries is never true), and evicting a cached message only drops the id's
// index entry if it still points at that message.
const { RetryReason } = require('./defaults.js')

const RECENT_MESSAGES_SIZE = 512
const SEPARATOR = '\u0000'
const RECREATE_SESSION_TIMEOUT = 60 * 60 * 1000
const PHONE_REQUEST_DELAY = 3000
const MAC_ERROR_CODES = new Set([RetryReason.SignalErrorInvalidMessage, RetryReason.SignalErrorBadMac])
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

/** A small LRU map with a time to live (entries expire on access), lru-cache's get/set/delete/clear. */
class TtlCache {
  constructor({ max = Infinity, ttl, updateAgeOnGet = false, dispose } = {}) {
    this.max = max
    this.ttl = ttl
    this.updateAgeOnGet = updateAgeOnGet
    this.dispose = dispose
    this.map = new Map() // key -> { value, expires }; insertion order is recency
  }

  get size() {
    this.purgeStale()
    return this.map.size
  }

  purgeStale() {
    const now = Date.now()
    for (const [key, entry] of this.map) if (entry.expires <= now) this.remove(key, entry)
  }

  remove(key, entry) {
    this.map.delete(key)
    this.dispose?.(entry.value, key)
  }

  has(key) {
    const entry = this.map.get(key)
    if (!entry) return false
    if (entry.expires <= Date.now()) {
      this.remove(key, entry)
      return false
    }
    return true
  }

  get(key) {
    if (!this.has(key)) return undefined
    const entry = this.map.get(key)
    this.map.delete(key)
    this.map.set(key, entry)
    if (this.updateAgeOnGet) entry.expires = Date.now() + this.ttl
    return entry.value
  }

  set(key, value) {
    const old = this.map.get(key)
    if (old) this.remove(key, old)
    this.map.set(key, { value, expires: Date.now() + this.ttl })
    while (this.map.size > this.max) {
      const [oldest, entry] = this.map.entries().next().value
      this.remove(oldest, entry)
    }
    return this
  }

  delete(key) {
    const entry = this.map.get(key)
    if (!entry) return false
    this.remove(key, entry)
    return true
  }

  clear() {
    for (const [key, entry] of [...this.map]) this.remove(key, entry)
  }
}

const freshStatistics = () => ({
  totalRetries: 0,
  successfulRetries: 0,
  failedRetries: 0,
  mediaRetries: 0,
  sessionRecreations: 0,
  phoneRequests: 0,
})

class MessageRetryManager {
  constructor(logger, maxMsgRetryCount) {
    this.logger = logger || silent
    this.messageKeyIndex = new Map()
    this.recentMessagesMap = new TtlCache({
      max: RECENT_MESSAGES_SIZE,
      ttl: 5 * 60 * 1000,
      dispose: (_value, keyStr) => {
        const id = keyStr.slice(keyStr.lastIndexOf(SEPARATOR) + 1)
        if (this.messageKeyIndex.get(id) === keyStr) this.messageKeyIndex.delete(id)
      },
    })
    this.sessionRecreateHistory = new TtlCache({ ttl: RECREATE_SESSION_TIMEOUT * 2 })
    this.retryCounters = new TtlCache({ ttl: 15 * 60 * 1000, updateAgeOnGet: true })
    this.baseKeys = new TtlCache({ max: 1024, ttl: 15 * 60 * 1000 })
    this.pendingPhoneRequests = {}
    this.maxMsgRetryCount = maxMsgRetryCount ?? 5
    this.statistics = freshStatistics()
  }

  /** Keeps a sent message (for `to`, with `id`) to answer retry receipts. */
  addRecentMessage(to, id, message) {
    const keyStr = this.keyToString({ to, id })
    this.recentMessagesMap.set(keyStr, { message, timestamp: Date.now() })
    this.messageKeyIndex.set(id, keyStr)
    this.logger.debug(`Added message to retry cache: ${to}/${id}`)
  }

  /** `{ message, timestamp }` of a kept message, or undefined. */
  getRecentMessage(to, id) {
    return this.recentMessagesMap.get(this.keyToString({ to, id }))
  }

  /** Whether to recreate the session with `jid`: `{ reason, recreate }`. */
  shouldRecreateSession(jid, hasSession, errorCode) {
    const recreate = (reason) => {
      this.sessionRecreateHistory.set(jid, Date.now())
      this.statistics.sessionRecreations++
      return { reason, recreate: true }
    }
    if (!hasSession) return recreate("we don't have a Signal session with them")
    if (this.isMacError(errorCode)) {
      this.logger.warn({ jid, errorCode: RetryReason[errorCode] }, 'MAC error detected, forcing immediate session recreation')
      return recreate(`MAC error (code ${errorCode}: ${RetryReason[errorCode]}), immediate session recreation`)
    }
    const last = this.sessionRecreateHistory.get(jid)
    if (!last || Date.now() - last > RECREATE_SESSION_TIMEOUT) {
      return recreate('retry count > 1 and over an hour since last recreation')
    }
    return { reason: '', recreate: false }
  }

  /** The RetryReason of a retry node's `error` attribute (unknown numbers: UnknownError). */
  parseRetryErrorCode(errorAttr) {
    if (errorAttr === undefined || errorAttr === '') return undefined
    const code = parseInt(errorAttr, 10)
    if (Number.isNaN(code)) return undefined
    return code >= RetryReason.UnknownError && code <= RetryReason.StatusRevokeDelay ? code : RetryReason.UnknownError
  }

  isMacError(errorCode) {
    return errorCode !== undefined && MAC_ERROR_CODES.has(errorCode)
  }

  incrementRetryCount(messageId) {
    const count = (this.retryCounters.get(messageId) || 0) + 1
    this.retryCounters.set(messageId, count)
    this.statistics.totalRetries++
    return count
  }

  getRetryCount(messageId) {
    return this.retryCounters.get(messageId) || 0
  }

  hasExceededMaxRetries(messageId) {
    return this.getRetryCount(messageId) >= this.maxMsgRetryCount
  }

  markRetrySuccess(messageId) {
    this.statistics.successfulRetries++
    this.forget(messageId)
  }

  markRetryFailed(messageId) {
    this.statistics.failedRetries++
    this.forget(messageId)
  }

  forget(messageId) {
    this.retryCounters.delete(messageId)
    this.cancelPendingPhoneRequest(messageId)
    this.removeRecentMessage(messageId)
  }

  /** Runs `callback` after `delay` ms unless cancelled (replacing one already scheduled). */
  schedulePhoneRequest(messageId, callback, delay = PHONE_REQUEST_DELAY) {
    this.cancelPendingPhoneRequest(messageId)
    this.pendingPhoneRequests[messageId] = setTimeout(() => {
      delete this.pendingPhoneRequests[messageId]
      this.statistics.phoneRequests++
      callback()
    }, delay)
    this.logger.debug(`Scheduled phone request for message ${messageId} with ${delay}ms delay`)
  }

  cancelPendingPhoneRequest(messageId) {
    const timer = this.pendingPhoneRequests[messageId]
    if (!timer) return
    clearTimeout(timer)
    delete this.pendingPhoneRequests[messageId]
    this.logger.debug(`Cancelled pending phone request for message ${messageId}`)
  }

  clear() {
    this.recentMessagesMap.clear()
    this.messageKeyIndex.clear()
    this.sessionRecreateHistory.clear()
    this.retryCounters.clear()
    this.baseKeys.clear()
    for (const id of Object.keys(this.pendingPhoneRequests)) this.cancelPendingPhoneRequest(id)
    this.statistics = freshStatistics()
  }

  saveBaseKey(addr, msgId, baseKey) {
    this.baseKeys.set(`${addr}:${msgId}`, baseKey)
  }

  hasSameBaseKey(addr, msgId, baseKey) {
    const stored = this.baseKeys.get(`${addr}:${msgId}`)
    if (!stored || !baseKey || stored.length !== baseKey.length) return false
    for (let i = 0; i < stored.length; i++) if (stored[i] !== baseKey[i]) return false
    return true
  }

  deleteBaseKey(addr, msgId) {
    this.baseKeys.delete(`${addr}:${msgId}`)
  }

  keyToString(key) {
    return `${key.to}${SEPARATOR}${key.id}`
  }

  removeRecentMessage(messageId) {
    const keyStr = this.messageKeyIndex.get(messageId)
    if (!keyStr) return
    this.recentMessagesMap.delete(keyStr)
    this.messageKeyIndex.delete(messageId)
  }
}

module.exports = { MessageRetryManager }
