'use strict'
// What the socket keeps of what it sees (`makeWASocket({ auth, store })`, docs/client.md "The
// socket's store"): every message received or sent, its chat and its sender's contact, and the
// later changes to a message (status, edits, revokes, reactions, receipts, votes), written to
// a `Store` in the seed's layout before the events reach the app. A message whose receipt the
// server has is therefore in the store: the receipt goes only after the app had the event.
//
// Events wait in one queue per socket; while a write is in flight the next batches gather, so a
// burst of 1,000 messages is a few engine writes (the Store merges concurrent writes too).
const { Store } = require('./store.js')
const { codedError } = require('./errors.js')
const { proto } = require('./proto.js')
const { jidNormalizedUser } = require('./jid.js')
const {
  assertMediaContent,
  getChatId,
  updateMessageWithReceipt,
  updateMessageWithReaction,
  updateMessageWithPollUpdate,
  updateMessageWithEventResponse,
} = require('./messages.js')

/** Chats and contacts remembered per socket, so an unchanged one is not written again. */
const REMEMBERED = 1024

/** `config.store`: a Store, or any engine (ours or the app's `{ get, set, list }`) to make one on. */
function asStore(store) {
  if (store instanceof Store) return store
  if (store && typeof store.get === 'function' && typeof store.set === 'function' && typeof store.list === 'function') {
    return new Store(store)
  }
  throw codedError('ERR_WA_CLIENT_ARGUMENT', 'config.store must be a Store or an engine with get, set and list')
}

/** A bounded map: the oldest entry goes first. */
class Remembered extends Map {
  set(k, v) {
    this.delete(k)
    super.set(k, v)
    if (this.size > REMEMBERED) this.delete(this.keys().next().value)
    return this
  }
}

const toNumber = (v) => (typeof v === 'object' && v !== null && 'low' in v ? Number(BigInt.asIntN(64, (BigInt(v.high) << 32n) | BigInt(v.low >>> 0))) : Number(v ?? 0))
const keyOf = (jid, id) => `${jid}\u0000${id}`

function chatOf(key) {
  try {
    return jidNormalizedUser(getChatId(key)) || key.remoteJid
  } catch {
    return null
  }
}

/** Baileys' in-memory store's update rule: status only forward, votes and responses merged. */
function applyUpdate(msg, update) {
  for (const [k, v] of Object.entries(update)) {
    if (k === 'key') continue
    if (k === 'status') {
      if (!(toNumber(msg.status) >= toNumber(v))) msg.status = v
    } else if (k === 'pollUpdates') {
      for (const u of v || []) updateMessageWithPollUpdate(msg, u)
    } else if (k === 'eventResponses') {
      for (const u of v || []) updateMessageWithEventResponse(msg, u)
    } else {
      msg[k] = v
    }
  }
}

function makeSocketStore(config, logger) {
  const store = asStore(config.store)
  const chats = new Remembered()
  const contacts = new Remembered()

  async function known(cache, jids, read) {
    const missing = [...new Set(jids)].filter((j) => !cache.has(j))
    const found = await Promise.all(missing.map((j) => read(j)))
    missing.forEach((j, i) => cache.set(j, found[i] || null))
  }

  /** Writes what `events` tell of messages, chats and contacts; never throws (logs instead). */
  async function record(events) {
    const messages = new Map()
    const changes = []
    for (const { name, data } of events) {
      if (name === 'messages.upsert') {
        // A `notify` is a message's first delivery to the app (the inbox replays as `append`
        // and drops the server's duplicates), so nothing of it is stored yet.
        const fresh = data.type === 'notify'
        for (const m of data.messages) {
          const jid = chatOf(m.key || {})
          if (jid && m.key.id) messages.set(keyOf(jid, m.key.id), { jid, message: m, fresh })
        }
      } else if (name === 'messages.update') {
        for (const { key, update } of data) changes.push([key, (msg) => applyUpdate(msg, update)])
      } else if (name === 'message-receipt.update') {
        for (const { key, receipt } of data) changes.push([key, (msg) => updateMessageWithReceipt(msg, receipt)])
      } else if (name === 'messages.reaction') {
        for (const { key, reaction } of data) changes.push([key, (msg) => updateMessageWithReaction(msg, { ...reaction })])
      }
    }
    if (!messages.size && !changes.length) return
    try {
      // The messages the changes are for: from this write, else from the store.
      const wanted = changes.map(([key]) => [chatOf(key || {}), key?.id]).filter(([jid, id]) => jid && id && !messages.has(keyOf(jid, id)))
      const stored = await Promise.all(wanted.map(([jid, id]) => store.message(jid, id)))
      wanted.forEach(([jid, id], i) => {
        if (stored[i]) messages.set(keyOf(jid, id), { jid, message: stored[i] })
      })
      for (const [key, change] of changes) {
        const hit = messages.get(keyOf(chatOf(key || {}), key?.id))
        if (hit) change(hit.message)
      }

      const chatWrites = new Map()
      const contactWrites = new Map()
      const upserted = [...messages.values()].filter(({ message }) => message.messageTimestamp != null)
      await known(chats, upserted.map((u) => u.jid), (j) => store.chat(j))
      for (const { jid, message } of upserted) {
        const ts = toNumber(message.messageTimestamp)
        const chat = chatWrites.get(jid) || chats.get(jid) || { id: jid }
        if (!(toNumber(chat.conversationTimestamp) >= ts)) chatWrites.set(jid, { ...chat, id: jid, conversationTimestamp: ts })
      }
      const senders = upserted.filter(({ message }) => !message.key.fromMe && message.pushName)
      const senderOf = ({ message }) => jidNormalizedUser(message.key.participant || message.key.remoteJid)
      await known(contacts, senders.map(senderOf), (j) => store.contact(j))
      for (const s of senders) {
        const id = senderOf(s)
        const contact = contactWrites.get(id) || contacts.get(id) || { id }
        if (contact.notify !== s.message.pushName) contactWrites.set(id, { ...contact, id, notify: s.message.pushName })
      }

      await store.write({
        messages: [...messages.values()].map(({ jid, message, fresh }) => ({ jid, id: message.key.id, message, fresh })),
        chats: [...chatWrites.values()],
        contacts: [...contactWrites.values()],
      })
      for (const c of chatWrites.values()) chats.set(c.id, c)
      for (const c of contactWrites.values()) contacts.set(c.id, c)
    } catch (err) {
      // The app still gets its events; what was not stored is named in the log.
      chats.clear()
      contacts.clear()
      logger.error?.({ err, code: err?.code, messages: messages.size }, 'store: writing received or sent messages failed')
    }
  }

  /** Baileys' `getMessage(key)` from the store: the message content, or undefined. */
  async function getMessage(key) {
    const jid = chatOf(key || {})
    if (!jid || !key.id) return undefined
    const m = await store.message(jid, key.id)
    return m?.message ?? undefined
  }

  // With `storeContent`, each received or sent message's media is downloaded (MAC checked)
  // after its event and kept raw at chat/{jid}/message/{id}/content, one download at a time.
  const downloads = []
  let downloading = false
  function keepContent(events, download) {
    for (const { name, data } of events) {
      if (name !== 'messages.upsert') continue
      for (const m of data.messages) {
        try {
          const media = assertMediaContent(m.message)
          if (media.mediaKey && (media.directPath || media.url)) downloads.push(m)
        } catch {
          // Not a media message.
        }
      }
    }
    if (!downloading && downloads.length) drainDownloads(download)
  }
  async function drainDownloads(download) {
    downloading = true
    while (downloads.length) {
      const m = downloads.shift()
      try {
        await store.content(chatOf(m.key), m.key.id, await download(m))
      } catch (err) {
        logger.warn?.({ err, code: err?.code, key: m.key }, 'store: the media of a message was not kept')
      }
    }
    downloading = false
  }

  return { store, record, getMessage, keepContent }
}

/**
 * The function the native client calls for a retry receipt of a message this process no
 * longer holds: the key as JSON text in, the message as `proto.Message` bytes (or null) out.
 */
function nativeGetMessage(getMessage) {
  return async (keyJson) => {
    const { remoteJid, remoteJidAlt, id } = JSON.parse(keyJson)
    let m = await getMessage({ remoteJid, fromMe: true, id })
    if (!m && remoteJidAlt) m = await getMessage({ remoteJid: remoteJidAlt, fromMe: true, id })
    return m ? Buffer.from(proto.Message.encode(proto.Message.fromObject(m)).finish()) : null
  }
}

module.exports = { makeSocketStore, nativeGetMessage, applyUpdate }
