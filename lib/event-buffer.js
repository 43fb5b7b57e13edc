'use strict'
// makeEventBuffer: Baileys' event emitter with its consolidation. While buffering, the data
// events (history, chats, contacts, messages, receipts, reactions, group updates) are merged
// into one state (an upsert absorbs later updates, a delete cancels earlier upserts, reactions
// and receipts attach to a buffered message, unread counters add up) and released as one
// `{ [event]: data }` map on flush. Compared with Baileys' own buffer on the same sequences in
// __test__/event-buffer-baileys.test.mjs.
const { EventEmitter } = require('node:events')
const { updateMessageWithReaction, updateMessageWithReceipt, isRealMessage, shouldIncrementChatUnread } = require('./messages.js')
const { trimUndefined } = require('./generics.js')

const BUFFERABLE = new Set([
  'messaging-history.set',
  'chats.upsert',
  'chats.update',
  'chats.delete',
  'contacts.upsert',
  'contacts.update',
  'messages.upsert',
  'messages.update',
  'messages.delete',
  'messages.reaction',
  'message-receipt.update',
  'groups.update',
])
const BUFFER_TIMEOUT_MS = 30_000
const HISTORY_CACHE_LIMIT = 10_000
const READ = 4 // proto.WebMessageInfo.Status.READ

const noop = () => {}
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop }

const keyId = (key) => `${key.remoteJid},${key.id},${key.fromMe ? '1' : '0'}`

function emptyState() {
  return {
    history: { chats: {}, messages: {}, contacts: {}, isLatest: false, empty: true },
    chatUpserts: {},
    chatUpdates: {},
    chatDeletes: new Set(),
    contactUpserts: {},
    contactUpdates: {},
    messageUpserts: {},
    messageUpdates: {},
    messageReactions: {},
    messageDeletes: {},
    messageReceipts: {},
    groupUpdates: {},
  }
}

/** Merges chat `b` into `a` (unread counts add up; a null count clears a negative one). */
function mergeChats(a, b) {
  if (b.unreadCount === null && a.unreadCount < 0) {
    a.unreadCount = undefined
    b.unreadCount = undefined
  }
  if (typeof a.unreadCount === 'number' && typeof b.unreadCount === 'number') {
    b = { ...b }
    if (b.unreadCount >= 0) b.unreadCount = Math.max(b.unreadCount, 0) + Math.max(a.unreadCount, 0)
  }
  return Object.assign(a, b)
}

/** Folds one event into the buffered state. */
function fold(state, seen, event, payload, log) {
  const s = state

  const absorbChatUpdate = (chat) => {
    const id = chat.id || ''
    const update = s.chatUpdates[id]
    if (!update) return
    const ok = update.conditional ? update.conditional(s) : true
    if (ok) {
      delete update.conditional
      log.debug({ chatId: id }, 'absorbed chat update in existing chat')
      Object.assign(chat, mergeChats(update, chat))
      delete s.chatUpdates[id]
    } else if (ok === false) {
      log.debug({ chatId: id }, 'chat update condition fail, removing')
      delete s.chatUpdates[id]
    }
  }

  const unreadBackDown = (message) => {
    const chatId = message.key.remoteJid
    const chat = s.chatUpdates[chatId] || s.chatUpserts[chatId]
    if (isRealMessage(message) && shouldIncrementChatUnread(message) && typeof chat?.unreadCount === 'number' && chat.unreadCount > 0) {
      log.debug({ chatId: chat.id }, 'decrementing chat counter')
      chat.unreadCount -= 1
      if (chat.unreadCount === 0) delete chat.unreadCount
    }
  }

  switch (event) {
    case 'messaging-history.set': {
      const h = s.history
      for (const chat of payload.chats) {
        const id = chat.id || ''
        const known = h.chats[id]
        if (known) known.endOfHistoryTransferType = chat.endOfHistoryTransferType
        if (!known && !seen.has(id)) {
          h.chats[id] = chat
          seen.add(id)
          absorbChatUpdate(chat)
        }
      }
      for (const contact of payload.contacts) {
        const known = h.contacts[contact.id]
        if (known) {
          Object.assign(known, trimUndefined(contact))
        } else {
          const seenId = `c:${contact.id}`
          if (!seen.has(seenId) || contact.notify || contact.name || contact.verifiedName) {
            h.contacts[contact.id] = contact
            seen.add(seenId)
          }
        }
      }
      for (const message of payload.messages) {
        const k = keyId(message.key)
        if (!h.messages[k] && !seen.has(k)) {
          h.messages[k] = message
          seen.add(k)
        }
      }
      h.empty = false
      h.syncType = payload.syncType
      if (payload.pastParticipants?.length) {
        const byGroup = new Map()
        const sig = (p) => `${p.userJid || ''}:${p.leaveTs || ''}:${p.leaveReason || ''}`
        const add = (entry) => {
          const k = entry.groupJid ?? JSON.stringify(entry)
          const have = byGroup.get(k)
          if (!have) {
            byGroup.set(k, { ...entry, pastParticipants: [...(entry.pastParticipants || [])] })
            return
          }
          const sigs = new Set((have.pastParticipants || []).map(sig))
          for (const p of entry.pastParticipants || []) {
            if (!sigs.has(sig(p))) {
              have.pastParticipants.push(p)
              sigs.add(sig(p))
            }
          }
        }
        for (const entry of h.pastParticipants || []) add(entry)
        for (const entry of payload.pastParticipants) add(entry)
        h.pastParticipants = [...byGroup.values()]
      }
      h.progress = payload.progress
      h.chunkOrder = payload.chunkOrder
      h.peerDataRequestSessionId = payload.peerDataRequestSessionId
      h.isLatest = payload.isLatest || h.isLatest
      break
    }
    case 'chats.upsert':
      for (const chat of payload) {
        const id = chat.id || ''
        let target = s.chatUpserts[id]
        if (id && !target) {
          target = s.history.chats[id]
          if (target) log.debug({ chatId: id }, 'absorbed chat upsert in chat set')
        }
        if (target) {
          target = mergeChats(target, chat)
        } else {
          target = chat
          s.chatUpserts[id] = target
        }
        absorbChatUpdate(target)
        s.chatDeletes.delete(id)
      }
      break
    case 'chats.update':
      for (const update of payload) {
        const id = update.id
        const ok = update.conditional ? update.conditional(s) : true
        if (ok) {
          delete update.conditional
          const target = s.history.chats[id] || s.chatUpserts[id]
          if (target) mergeChats(target, update)
          else s.chatUpdates[id] = mergeChats(s.chatUpdates[id] || {}, update)
        } else if (ok === undefined) {
          s.chatUpdates[id] = update // decided later
        }
        s.chatDeletes.delete(id)
      }
      break
    case 'chats.delete':
      for (const id of payload) {
        s.chatDeletes.add(id)
        delete s.chatUpdates[id]
        delete s.chatUpserts[id]
        delete s.history.chats[id]
      }
      break
    case 'contacts.upsert':
      for (const contact of payload) {
        let target = s.contactUpserts[contact.id]
        if (!target) {
          target = s.history.contacts[contact.id]
          if (target) log.debug({ contactId: contact.id }, 'absorbed contact upsert in contact set')
        }
        if (target) {
          Object.assign(target, trimUndefined(contact))
        } else {
          s.contactUpserts[contact.id] = contact
        }
        if (s.contactUpdates[contact.id]) {
          Object.assign(s.contactUpdates[contact.id], trimUndefined(contact))
          delete s.contactUpdates[contact.id]
        }
      }
      break
    case 'contacts.update':
      for (const update of payload) {
        const target = s.history.contacts[update.id] || s.contactUpserts[update.id]
        if (target) Object.assign(target, update)
        else s.contactUpdates[update.id] = Object.assign(s.contactUpdates[update.id] || {}, update)
      }
      break
    case 'messages.upsert': {
      const { messages, type } = payload
      for (const message of messages) {
        const k = keyId(message.key)
        let known = s.messageUpserts[k]?.message
        if (!known) {
          known = s.history.messages[k]
          if (known) log.debug({ messageId: k }, 'absorbed message upsert in message set')
        }
        if (known) message.messageTimestamp = known.messageTimestamp
        if (s.messageUpdates[k]) {
          log.debug('absorbed prior message update in message upsert')
          Object.assign(message, s.messageUpdates[k].update)
          delete s.messageUpdates[k]
        }
        if (s.history.messages[k]) {
          s.history.messages[k] = message
        } else {
          const notify = type === 'notify' || s.messageUpserts[k]?.type === 'notify'
          s.messageUpserts[k] = { message, type: notify ? 'notify' : type }
        }
      }
      break
    }
    case 'messages.update':
      for (const { key, update } of payload) {
        const k = keyId(key)
        const known = s.history.messages[k] || s.messageUpserts[k]?.message
        if (known) {
          Object.assign(known, update)
          if (update.status === READ && !key.fromMe) unreadBackDown(known)
        } else {
          const pending = s.messageUpdates[k] || { key, update: {} }
          Object.assign(pending.update, update)
          s.messageUpdates[k] = pending
        }
      }
      break
    case 'messages.delete':
      if ('keys' in payload) {
        for (const key of payload.keys) {
          const k = keyId(key)
          if (!s.messageDeletes[k]) s.messageDeletes[k] = key
          delete s.messageUpserts[k]
          delete s.messageUpdates[k]
        }
      }
      // `{ jid, all: true }` is not held by Baileys' buffer either: it is dropped while buffering
      break
    case 'messages.reaction':
      for (const { key, reaction } of payload) {
        const k = keyId(key)
        const known = s.messageUpserts[k]
        if (known) {
          updateMessageWithReaction(known.message, reaction)
        } else {
          s.messageReactions[k] = s.messageReactions[k] || { key, reactions: [] }
          updateMessageWithReaction(s.messageReactions[k], reaction)
        }
      }
      break
    case 'message-receipt.update':
      for (const { key, receipt } of payload) {
        const k = keyId(key)
        const known = s.messageUpserts[k]
        if (known) {
          updateMessageWithReceipt(known.message, receipt)
        } else {
          s.messageReceipts[k] = s.messageReceipts[k] || { key, userReceipt: [] }
          updateMessageWithReceipt(s.messageReceipts[k], receipt)
        }
      }
      break
    case 'groups.update':
      for (const update of payload) {
        if (!s.groupUpdates[update.id]) s.groupUpdates[update.id] = Object.assign({}, update)
      }
      break
    default:
      throw new Error(`"${event}" cannot be buffered`)
  }
}

/** The consolidated `{ [event]: data }` map of a buffered state (events with data only). */
function consolidate(s) {
  const map = {}
  const h = s.history
  if (!h.empty) {
    map['messaging-history.set'] = {
      chats: Object.values(h.chats),
      messages: Object.values(h.messages),
      contacts: Object.values(h.contacts),
      pastParticipants: h.pastParticipants,
      syncType: h.syncType,
      progress: h.progress,
      isLatest: h.isLatest,
      chunkOrder: h.chunkOrder,
      peerDataRequestSessionId: h.peerDataRequestSessionId,
    }
  }
  const put = (name, list) => {
    if (list.length) map[name] = list
  }
  put('chats.upsert', Object.values(s.chatUpserts))
  put('chats.update', Object.values(s.chatUpdates))
  put('chats.delete', [...s.chatDeletes])
  const upserts = Object.values(s.messageUpserts)
  if (upserts.length) map['messages.upsert'] = { messages: upserts.map((u) => u.message), type: upserts[0].type }
  put('messages.update', Object.values(s.messageUpdates))
  const deletes = Object.values(s.messageDeletes)
  if (deletes.length) map['messages.delete'] = { keys: deletes }
  put('messages.reaction', Object.values(s.messageReactions).flatMap(({ key, reactions }) => reactions.map((reaction) => ({ key, reaction }))))
  put('message-receipt.update', Object.values(s.messageReceipts).flatMap(({ key, userReceipt }) => userReceipt.map((receipt) => ({ key, receipt }))))
  put('contacts.upsert', Object.values(s.contactUpserts))
  put('contacts.update', Object.values(s.contactUpdates))
  put('groups.update', Object.values(s.groupUpdates))
  return map
}

// Internal hook of lib/socket.js (a registered symbol: no export of ours to type or document).
const kAfterDelivery = Symbol.for('baileys-native.ev.afterDelivery')

/**
 * Baileys' `makeEventBuffer(logger)`: `on/off/removeAllListeners`, `emit(event, data)`,
 * `process(handler)` (one map per batch), `buffer()`, `flush()`, `isBuffering()`,
 * `createBufferedFunction(work)`, `destroy()`.
 */
function makeEventBuffer(logger) {
  const log = logger || quietLogger
  const debug = (...a) => log.debug?.(...a)
  const safeLog = { debug, trace: (...a) => log.trace?.(...a), warn: (...a) => log.warn?.(...a) }
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  const seen = new Set()
  let state = emptyState()
  let buffering = false
  let depth = 0
  let timeout = null
  let pendingFlush = null
  // run once what is buffered now has reached the listeners (the socket's delivery confirmations)
  let afterFlush = []

  emitter.on('event', (map) => {
    for (const name in map) emitter.emit(name, map[name])
  })

  function buffer() {
    if (!buffering) {
      debug('Event buffer activated')
      buffering = true
      depth = 0
      if (timeout) clearTimeout(timeout)
      timeout = setTimeout(() => {
        if (buffering) {
          safeLog.warn('Buffer timeout reached, auto-flushing')
          flush()
        }
      }, BUFFER_TIMEOUT_MS)
      timeout.unref?.() // unlike Baileys', a held buffer does not keep the process alive
    }
    depth++
  }

  function flush() {
    if (!buffering) return false
    debug({ bufferCount: depth }, 'Flushing event buffer')
    buffering = false
    depth = 0
    if (timeout) clearTimeout(timeout)
    timeout = null
    if (pendingFlush) clearTimeout(pendingFlush)
    pendingFlush = null
    if (seen.size > HISTORY_CACHE_LIMIT) {
      debug({ cacheSize: seen.size }, 'Clearing history cache')
      seen.clear()
    }
    // chat updates still waiting on their condition stay for the next round
    const next = emptyState()
    let waiting = 0
    for (const update of Object.values(state.chatUpdates)) {
      if (update.conditional) {
        waiting++
        next.chatUpdates[update.id] = update
        delete state.chatUpdates[update.id]
      }
    }
    const map = consolidate(state)
    const delivered = afterFlush
    afterFlush = []
    try {
      if (Object.keys(map).length) emitter.emit('event', map)
    } finally {
      // a throwing listener still had the events: they are delivered
      for (const fn of delivered) fn()
    }
    state = next
    safeLog.trace({ conditionalChatUpdatesLeft: waiting }, 'released buffered events')
    return true
  }

  function emit(event, data) {
    // an upsert of another type releases the held upserts first, so neither type is mislabelled
    // (upserts are held only while buffering: a flush empties the state)
    if (buffering && event === 'messages.upsert') {
      const held = Object.values(state.messageUpserts)
      if (held.length && held[0].type !== data.type) {
        debug({ bufferedType: held[0].type, newType: data.type }, 'messages.upsert type mismatch, emitting buffered messages')
        emitter.emit('event', { 'messages.upsert': { messages: held.map((m) => m.message), type: held[0].type } })
        state.messageUpserts = {}
      }
    }
    if (buffering && BUFFERABLE.has(event)) {
      fold(state, seen, event, data, safeLog)
      return true
    }
    // With no `process` handler the map would only be taken apart again by the listener above:
    // emitted by name directly (building `{ [event]: data }` was 2% of a received text's CPU).
    if (emitter.listenerCount('event') === 1) {
      emitter.emit(event, data)
      return true
    }
    return emitter.emit('event', { [event]: data })
  }

  const ev = {
    process(handler) {
      const listener = async (map) => {
        await handler(map)
      }
      emitter.on('event', listener)
      return () => emitter.off('event', listener)
    },
    emit,
    /** Emits several events in order (the socket's native batches). */
    emitBatch(events) {
      for (const { name, data } of events) emit(name, data)
    },
    isBuffering: () => buffering,
    /** Runs `fn` once every event emitted so far has reached the listeners. */
    [kAfterDelivery](fn) {
      if (buffering) afterFlush.push(fn)
      else fn()
    },
    buffer,
    flush,
    createBufferedFunction(work) {
      return async (...args) => {
        buffer()
        try {
          const result = await work(...args)
          if (depth === 1) {
            setTimeout(() => {
              if (buffering && depth === 1) flush()
            }, 100)
          }
          return result
        } finally {
          depth = Math.max(0, depth - 1)
          if (depth === 0 && !pendingFlush) pendingFlush = setTimeout(flush, 100)
        }
      }
    },
    on: (...args) => emitter.on(...args),
    off: (...args) => emitter.off(...args),
    once: (...args) => emitter.once(...args),
    listenerCount: (name) => emitter.listenerCount(name),
    removeAllListeners: (...args) => emitter.removeAllListeners(...args),
    destroy() {
      if (timeout) clearTimeout(timeout)
      timeout = null
      if (pendingFlush) clearTimeout(pendingFlush)
      pendingFlush = null
      seen.clear()
      state = emptyState()
      afterFlush = [] // never delivered: the socket's inbox emits them again at the next start
      buffering = false
      depth = 0
      emitter.removeAllListeners()
      debug('Event buffer destroyed')
    },
  }
  return ev
}

module.exports = { makeEventBuffer }
