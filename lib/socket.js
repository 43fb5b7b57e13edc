'use strict'
// makeWASocket: Baileys 7's socket over the Rust client (crates/wa-client). Same config
// names, same `sock.ev` events and payloads, same auth state; see docs/client.md.
const { EventEmitter } = require('node:events')
const native = require('../native.js')
const { codedError } = require('./errors.js')
const { makeBoom } = require('./boom.js')
const { BufferJSON, KeyStore } = require('./store.js')
const { reviveBuffers } = require('./buffer-json.js')
const { encodeBinaryNode, decodeBinaryNodeSync } = require('./binary.js')
const { addPresence } = require('./presence.js')
const { addGroups } = require('./groups.js')
const { addNewsletters } = require('./newsletter.js')

const kNative = Symbol.for('baileys-native.store.native')

/** Baileys' DisconnectReason. */
const DisconnectReason = Object.freeze({
  connectionClosed: 428,
  connectionLost: 408,
  connectionReplaced: 440,
  timedOut: 408,
  loggedOut: 401,
  badSession: 500,
  restartRequired: 515,
  multideviceMismatch: 411,
  forbidden: 403,
  unavailableService: 503,
  428: 'connectionClosed',
  408: 'timedOut',
  440: 'connectionReplaced',
  401: 'loggedOut',
  500: 'badSession',
  515: 'restartRequired',
  411: 'multideviceMismatch',
  403: 'forbidden',
  503: 'unavailableService',
})

const { DEFAULT_CONNECTION_CONFIG, WA_DEFAULT_EPHEMERAL } = require('./defaults.js')
const { makeEventBuffer: makeConsolidatingEventBuffer } = require('./event-buffer.js')
const { generateWAMessage, stanzaExtras } = require('./generate.js')
const { derivedEvents, makeAddOnDecryptor } = require('./message-events.js')
const { getUrlInfo } = require('./link-preview.js')
const { proto } = require('./proto.js')
const { generateMessageIDV2 } = require('./generics.js')
const { isJidGroup, jidNormalizedUser } = require('./jid.js')
const { assertMediaContent, getStatusCodeForMediaRetry, getUrlFromDirectPath } = require('./messages.js')
const { encryptMediaRetryRequest, decryptMediaRetryData, downloadMediaMessage } = require('./media.js')
const { makeSocketStore, nativeGetMessage } = require('./socket-store.js')

const kAfterDelivery = Symbol.for('baileys-native.ev.afterDelivery')


const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
const silentLogger = {
  level: 'silent',
  child() {
    return silentLogger
  },
}
for (const l of LEVELS) silentLogger[l] = () => {}

// What the native side hands over is JSON with bytes as {"type":"Buffer","data":"<base64>"}.
// Most batches (a text, a receipt, presence) hold no bytes and are parsed as they are; a batch
// that does names "Buffer" and is revived by a walk over the parsed tree with BufferJSON's
// rules. Passing the reviver to JSON.parse instead made V8 call back into JavaScript for every
// value (4% of the client's CPU per text sent, whose WAMessage carries its messageSecret).
const parseNative = (text) => (text.includes('"Buffer"') ? reviveBuffers(JSON.parse(text)) : JSON.parse(text))

// What `sendText` resolves with: the WAMessage as JSON, or, for a 1:1 text with nothing else
// in it, its parts one per line (remoteJid, id, messageTimestamp, status, messageSecret in
// base64), made here into the object the JSON would give, key for key in the same order.
// Printing and parsing that JSON and reviving its secret were about 7% of a text sent's CPU.
function sentText(answer, text) {
  if (answer.charCodeAt(0) === 123 /* { */) return parseNative(answer)
  const [remoteJid, id, timestamp, status, secret] = answer.split('\n')
  return {
    key: { remoteJid, fromMe: true, id },
    message: {
      extendedTextMessage: { text },
      messageContextInfo: { messageSecret: Buffer.from(secret, 'base64') },
    },
    messageTimestamp: Number(timestamp),
    status: Number(status),
  }
}

// A batch of one received text with nothing else in it comes as its parts, one per line
// (src/compat/received.rs says which): `R` and the ack, the upsert type, the key's remoteJid,
// fromMe, id, participant, remoteJidAlt, participantAlt and addressingMode, then
// messageTimestamp, broadcast, pushName, messageContextInfo as JSON, and the text (which may
// hold line breaks) last; an empty line is a field that is not there. Made here into the
// object the JSON would give, key for key in the same order: V8's JSON.parse of that batch was
// about 5% of a received text's CPU.
function receivedBatch(text) {
  const p = text.split('\n')
  const conversation = p.length > 14 ? p.slice(13).join('\n') : p[13]
  const message = p[12] ? { conversation, messageContextInfo: parseNative(p[12]) } : { conversation }
  const key = receivedKey(p[2], p[3] === '1', p[4], p[5], p[6], p[7], p[8])
  // Object literals for the usual shapes: V8 keeps a literal's map alive, where a map reached
  // by adding properties one by one dies with the last object of its shape, and with it the
  // optimized code of every function that saw it (deoptimized at the next full GC, compiled
  // again after: milliseconds of CPU each time).
  const m =
    p[9] && p[10] && p[11]
      ? { key, message, messageTimestamp: Number(p[9]), broadcast: p[10] === '1', pushName: p[11] }
      : { key, message }
  if (m.pushName === undefined) {
    if (p[9]) m.messageTimestamp = Number(p[9])
    if (p[10]) m.broadcast = p[10] === '1'
    if (p[11]) m.pushName = p[11]
  }
  return {
    ack: p[0].length > 1 ? Number(p[0].slice(1)) : null,
    events: [{ name: 'messages.upsert', data: { messages: [m], type: p[1] } }],
  }
}

// A batch of one message's status update (a receipt of a message we sent) comes as its parts,
// one per line (src/compat/status.rs): `S` and the ack, the key's remoteJid, fromMe, id,
// participant, remoteJidAlt, participantAlt and addressingMode, then messageTimestamp and
// status; an empty line is a field that is not there. Made here into the object the JSON would
// give, key for key in the same order (its JSON.parse was about 2% of a sent text's CPU).
function statusBatch(text) {
  const p = text.split('\n')
  const key = receivedKey(p[1], p[2] === '1', p[3], p[4], p[5], p[6], p[7])
  const update = p[8] ? { messageTimestamp: Number(p[8]), status: Number(p[9]) } : { status: Number(p[9]) }
  return {
    ack: p[0].length > 1 ? Number(p[0].slice(1)) : null,
    events: [{ name: 'messages.update', data: [{ key, update }] }],
  }
}

// A message key in the order the JSON gives: a literal for each usual shape (see
// receivedBatch), otherwise field by field.
function receivedKey(remoteJid, fromMe, id, participant, remoteJidAlt, participantAlt, addressingMode) {
  if (!participant && !participantAlt) {
    if (remoteJidAlt && addressingMode) return { remoteJid, fromMe, id, remoteJidAlt, addressingMode }
    if (!remoteJidAlt && !addressingMode) return { remoteJid, fromMe, id }
  } else if (participant && !remoteJidAlt && addressingMode) {
    if (participantAlt) return { remoteJid, fromMe, id, participant, participantAlt, addressingMode }
    return { remoteJid, fromMe, id, participant, addressingMode }
  }
  const key = { remoteJid, fromMe, id }
  if (participant) key.participant = participant
  if (remoteJidAlt) key.remoteJidAlt = remoteJidAlt
  if (participantAlt) key.participantAlt = participantAlt
  if (addressingMode) key.addressingMode = addressingMode
  return key
}

function logAt(logger, level, fields, msg) {
  const fn = logger && typeof logger[level] === 'function' ? logger[level] : null
  if (fn) fn.call(logger, fields || {}, msg)
}

// One native bridge per JavaScript key store, kept across the sockets an app makes with it
// (reconnects): its cache stays warm and the socket's inbox (one per account and store) is
// shared by them.
const bridges = new WeakMap()
function keysHandle(keys) {
  if (keys?.[kNative]) return keys[kNative]
  let handle = bridges.get(keys)
  if (!handle) {
    handle = KeyStore.fromAuthState(keys)[kNative]
    bridges.set(keys, handle)
  }
  return handle
}

function closeError(err) {
  if (!err) return makeBoom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
  const boom = makeBoom(err.message, { statusCode: err.statusCode, data: err.data })
  boom.code = err.code
  return boom
}

const PLAIN_TEXT_KEYS = new Set(['text'])

function isPlainText(content, options) {
  if (typeof content.text !== 'string') return false
  for (const k in content) if (!PLAIN_TEXT_KEYS.has(k) && content[k] !== undefined) return false
  for (const k in options) if (options[k] !== undefined) return false
  // A text with a link gets a preview (Baileys' getUrlInfo), built in JS.
  return !content.text.includes('https://')
}

/** `statusJidList` only means something for a status; elsewhere it is refused, not ignored. */
function checkStatusList(jid, list) {
  if (list === undefined || list === null) return undefined
  if (jid !== 'status@broadcast') throw codedError('ERR_WA_CLIENT_ARGUMENT', 'statusJidList is for status@broadcast only')
  if (!Array.isArray(list) || list.some((j) => typeof j !== 'string')) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'statusJidList must be an array of JIDs')
  return list
}

/** Options that need a layer not built yet: refused, never ignored. */
function refuseUnsupported(options) {
  if (options.participant) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'participant: resending to one device is done by the socket itself')
}

/** `{ ...DEFAULT_CONNECTION_CONFIG, ...userConfig }` without reading the default logger (and so
 * loading pino) when the app gives its own. */
function withDefaults(userConfig) {
  const config = {}
  for (const key of Object.keys(DEFAULT_CONNECTION_CONFIG)) {
    if (key !== 'logger') config[key] = DEFAULT_CONNECTION_CONFIG[key]
  }
  Object.assign(config, userConfig)
  if (config.logger === undefined) config.logger = DEFAULT_CONNECTION_CONFIG.logger
  return config
}

/**
 * Baileys' `makeWASocket(config)`: the same config (`auth`, `waWebSocketUrl`, `browser`,
 * `logger`, timeouts, ...), plus `waCertPublicKey` (the root key the server's certificate
 * chain must be signed by; WhatsApp's by default). Returns `sock` with `ev`, `user`,
 * `authState`, `sendMessage`, `requestPairingCode`, `logout`, `end`, `sendNode`, `query`.
 */
function makeWASocket(userConfig = {}) {
  const config = withDefaults(userConfig)
  const logger = config.logger || silentLogger
  if (config.printQRInTerminal) {
    logger.warn?.(
      {},
      '⚠️ The printQRInTerminal option has been deprecated. You will no longer receive QR codes in the terminal automatically. Please listen to the connection.update event yourself and handle the QR your way.',
    )
  }
  if (!config.auth || !config.auth.creds || !config.auth.keys) {
    throw codedError('ERR_WA_CLIENT_ARGUMENT', 'config.auth must be { creds, keys }')
  }
  if (config.mobile) {
    throw makeBoom('Mobile API is not supported anymore', { statusCode: DisconnectReason.loggedOut })
  }
  const { creds, keys } = config.auth
  const ev = makeConsolidatingEventBuffer(logger)
  let closed = false
  let open = false
  const wsEvents = new EventEmitter()
  const customGetMessage = config.getMessage !== DEFAULT_CONNECTION_CONFIG.getMessage
  const addOns = makeAddOnDecryptor({ getMessage: (key) => getMessage?.(key), logger, emit: (name, data) => emitAddOn(name, data) })

  const url = config.waWebSocketUrl instanceof URL ? config.waWebSocketUrl.toString() : String(config.waWebSocketUrl)
  const options = {
    url,
    waCertPublicKey: config.waCertPublicKey ? Buffer.from(config.waCertPublicKey) : undefined,
    browser: config.browser.map(String),
    version: config.version.map(Number),
    countryCode: config.countryCode,
    syncFullHistory: !!config.syncFullHistory,
    connectTimeoutMs: config.connectTimeoutMs,
    keepAliveIntervalMs: config.keepAliveIntervalMs,
    defaultQueryTimeoutMs: config.defaultQueryTimeoutMs,
    qrTimeoutMs: config.qrTimeout,
    emitOwnEvents: config.emitOwnEvents !== false,
    markOnlineOnConnect: config.markOnlineOnConnect !== false,
    logLevel: typeof logger.level === 'string' || typeof logger.level === 'number' ? String(logger.level) : undefined,
  }

  // Every Rust record of this socket (client, Signal, storage), already filtered by level.
  const onLog = (err, json) => {
    const text = typeof err === 'string' ? err : json
    let rec
    try {
      rec = JSON.parse(text)
    } catch {
      return
    }
    logAt(logger, rec.level, { ...rec.fields, target: rec.target }, rec.msg)
  }

  // The socket's store (config.store): what arrives is written before the app sees it.
  const kept = config.store != null ? makeSocketStore(config, logger) : null
  if (config.storeContent && !kept) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'storeContent needs a store')
  const getMessage = customGetMessage ? config.getMessage : kept ? kept.getMessage : null

  // On Node's loop the native side calls this directly with `answer` true: returning true
  // then confirms the batch's delivery, without a call back into the addon.
  const onEvents = (text, answer) => {
    let batch
    try {
      const mark = text.charCodeAt(0)
      batch = mark === 82 /* R */ ? receivedBatch(text) : mark === 83 /* S */ ? statusBatch(text) : parseNative(text)
    } catch (e) {
      logAt(logger, 'error', { err: e }, 'unreadable event batch')
      return
    }
    const out = []
    let upserts = null
    for (const e of batch.events) {
      const { name, data } = e
      if (name === 'creds.update') {
        Object.assign(creds, data)
      }
      if (name === 'connection.update') {
        if (data.connection === 'open') open = true
        if (data.connection === 'close') {
          open = false
          closed = true
          data.lastDisconnect = {
            error: closeError(data.lastDisconnect?.error),
            date: new Date(data.lastDisconnect?.date ?? Date.now()),
          }
        }
        if ('qr' in data && data.qr === null) data.qr = undefined
      }
      if (name === 'messages.media-update') {
        for (const u of data) {
          if (u.error) u.error = makeBoom(u.error.message, { statusCode: u.error.statusCode, data: u.error.data })
        }
      }
      out.push(e)
      if (name === 'messages.upsert') {
        derivedEvents(data.messages, creds.me?.id, creds.me?.lid, out)
        ;(upserts ??= []).push(e)
      }
    }
    const item = { out, upserts, ack: batch.ack }
    if (kept) keep(item)
    else return deliver(item, answer === true)
    return false
  }

  // Returns whether the delivery was confirmed by the caller of `onEvents` (see there).
  function deliver({ out, upserts, ack }, answer = false) {
    // Baileys delivers the close last and then stops emitting; buffered events go first.
    const closing = out.find((e) => e.name === 'connection.update' && e.data.connection === 'close')
    if (closing) ev.flush()
    ev.emitBatch(out)
    if (upserts) for (const { data } of upserts) addOns.handle(data.messages, creds.me?.id, creds.me?.lid)
    // The batch's inbox entries are closed (and acks of receipts in it sent) once the
    // listeners had it: now, or when the buffer holding it is flushed. A crash before that
    // leaves the messages in the inbox, emitted again at the next start.
    let confirmed = false
    if (ack != null) {
      if (answer && !ev.isBuffering()) confirmed = true
      else ev[kAfterDelivery](() => handle.delivered(ack))
    }
    if (closing) {
      wsEvents.emit('close')
      ev.removeAllListeners('connection.update')
    }
    return confirmed
  }

  // With a store, batches queue here: each round writes everything queued in one go, then
  // hands the batches on in order.
  const queue = []
  let writing = false
  function keep(item) {
    queue.push(item)
    if (!writing) drain()
  }
  async function drain() {
    writing = true
    while (queue.length) {
      const items = queue.splice(0, queue.length)
      const events = items.flatMap((i) => i.out)
      await kept.record(events)
      for (const i of items) deliver(i)
      if (config.storeContent) kept.keepContent(events, (m) => downloadMediaMessage(m, 'buffer', {}, { reuploadRequest: sock.updateMediaMessage, logger }))
    }
    writing = false
  }
  // Our own messages reach the store through their upsert; without own events, here.
  async function keepSent(msg) {
    if (kept && !options.emitOwnEvents) await kept.record([{ name: 'messages.upsert', data: { messages: [msg], type: 'append' } }])
    return msg
  }
  // A text sent natively comes back without its own-message event (see NativeSocket.sendText):
  // emitted here, the object the send resolves with, as Baileys emits its fullMsg.
  function ownText(msg) {
    if (options.emitOwnEvents) emitLocal([{ name: 'messages.upsert', data: { messages: [msg], type: 'append' } }])
    return keepSent(msg)
  }
  // Events the socket makes itself (group methods), with what Baileys derives from them.
  function emitLocal(events) {
    const out = []
    for (const e of events) {
      out.push(e)
      if (e.name === 'messages.upsert') derivedEvents(e.data.messages, creds.me?.id, creds.me?.lid, out)
    }
    if (kept) keep({ out, upserts: [], ack: null })
    else ev.emitBatch(out)
  }
  // Votes and event responses decrypted after the upsert change the stored poll or event too.
  function emitAddOn(name, data) {
    if (kept) keep({ out: [{ name, data }], upserts: [], ack: null })
    else ev.emit(name, data)
  }

  // Sends keep call order per chat. The native send takes its place in the chat's order when
  // it is called; a send that first builds its message in JS (async: patch hooks, events with
  // call links) holds the chat's place here until it has called the native send, and later
  // sends to that chat wait for it. With none pending, a send goes straight through.
  const preludes = new Map()
  const customPatch = config.patchMessageBeforeSending !== DEFAULT_CONNECTION_CONFIG.patchMessageBeforeSending
  const customGroupCache = typeof config.cachedGroupMetadata === 'function' && config.cachedGroupMetadata !== DEFAULT_CONNECTION_CONFIG.cachedGroupMetadata
  async function ordered(jid, build, read = parseNative) {
    const chat = jidNormalizedUser(jid) || jid
    const prev = preludes.get(chat)
    let done
    const mine = new Promise((resolve) => {
      done = resolve
    })
    preludes.set(chat, mine)
    let sent
    try {
      if (prev) await prev
      const start = await build()
      sent = start()
    } finally {
      done()
      if (preludes.get(chat) === mine) preludes.delete(chat)
    }
    return read(await sent)
  }
  const pendingFor = (jid) => preludes.size > 0 && preludes.has(jidNormalizedUser(jid) || jid)

  // The message as sent (after the app's patchMessageBeforeSending), encoded for the native send.
  async function prepareRelay(jid, message, { messageId, additionalAttributes, additionalNodes, useCachedGroupMetadata, statusJidList } = {}) {
    if (!message || typeof message !== 'object') throw codedError('ERR_WA_CLIENT_ARGUMENT', 'message must be a proto.IMessage')
    let patched = config.patchMessageBeforeSending ? await config.patchMessageBeforeSending(message, [jid]) : message
    if (Array.isArray(patched)) patched = patched.find((p) => p.recipientJid === jid) || patched[0]
    if (patched && patched.recipientJid !== undefined) {
      patched = { ...patched }
      delete patched.recipientJid
    }
    const bytes = Buffer.from(proto.Message.encode(proto.Message.fromObject(patched)).finish())
    const attrs = {}
    for (const [k, v] of Object.entries(additionalAttributes || {})) {
      if (v !== undefined) attrs[k] = String(v)
    }
    const nodes = (additionalNodes || []).map((n) => encodeBinaryNode(n))
    // Baileys reads the app's cachedGroupMetadata first (unless the send says not to); without
    // a participant list it asks the server, as the socket's own cache does.
    let groupMetadata
    if (customGroupCache && isJidGroup(jid) && useCachedGroupMetadata !== false) {
      const cached = await config.cachedGroupMetadata(jid)
      if (cached && Array.isArray(cached.participants)) groupMetadata = JSON.stringify(cached)
    }
    return () => handle.relayMessage(jid, bytes, { messageId: messageId ?? undefined, additionalAttributes: attrs, additionalNodes: nodes, groupMetadata, statusJidList: checkStatusList(jid, statusJidList) })
  }

  let handle
  handle = native.NativeSocket.connect(
    options,
    JSON.stringify(creds, BufferJSON.replacer),
    keysHandle(keys),
    onEvents,
    onLog,
    getMessage ? nativeGetMessage(getMessage) : undefined,
  )

  const ws = Object.assign(wsEvents, {
    get isOpen() {
      return !closed
    },
    get isClosed() {
      return closed
    },
    get isClosing() {
      return false
    },
    get isConnecting() {
      return !open && !closed
    },
    close: async () => handle.end(DisconnectReason.connectionClosed, 'Connection Closed'),
  })

  async function sendPlainText(jid, text) {
    // A text with lone surrogates reaches the native side changed: only a text that crossed
    // intact is made into the message here (see sentText).
    const brief = text.isWellFormed()
    if (!pendingFor(jid)) return ownText(sentText(await handle.sendText(jid, text, brief), text))
    return ownText(await ordered(jid, async () => () => handle.sendText(jid, text, brief), (answer) => sentText(answer, text)))
  }

  // Every other content: made in JavaScript as Baileys makes it, then relayed natively.
  async function sendContent(jid, content, options) {
    if (content.disappearingMessagesInChat !== undefined && isJidGroup(jid)) {
      // Baileys sets a group's timer with an IQ, not a message (and returns nothing).
      const v = content.disappearingMessagesInChat
      await sock.groupToggleEphemeral(jid, typeof v === 'boolean' ? (v ? WA_DEFAULT_EPHEMERAL : 0) : v)
      return undefined
    }
    refuseUnsupported(options)
    let fullMsg
    const sent = await ordered(jid, async () => {
      fullMsg = await generateWAMessage(jid, content, {
        logger,
        userJid: creds.me?.id,
        getUrlInfo: (text) =>
          getUrlInfo(text, {
            thumbnailWidth: config.linkPreviewImageThumbnailWidth,
            fetchOpts: { timeout: 3000, ...(config.options || {}) },
            logger,
            uploadImage: config.generateHighQualityLinkPreview ? sock.waUploadToServer : undefined,
          }),
        upload: sock.waUploadToServer,
        mediaCache: config.mediaCache,
        options: config.options,
        messageId: generateMessageIDV2(creds.me?.id),
        ...options,
      })
      const extras = stanzaExtras(content)
      return prepareRelay(jid, fullMsg.message, {
        messageId: fullMsg.key.id,
        additionalAttributes: { ...extras.additionalAttributes, ...options.additionalAttributes },
        additionalNodes: [...extras.additionalNodes, ...(options.additionalNodes || [])],
        useCachedGroupMetadata: options.useCachedGroupMetadata,
        statusJidList: options.statusJidList,
      })
    })
    // A newsletter numbers each post: its server id, as the native send learnt it from the ack.
    if (sent?.key?.server_id) fullMsg.key.server_id = sent.key.server_id
    return keepSent(fullMsg)
  }

  const sock = {
    type: 'md',
    ws,
    ev,
    authState: { creds, keys },
    get user() {
      return creds.me
    },
    // Kept small: V8 optimizes a hot function whole, and with every kind of content inline
    // this one cost its optimizing compiler 14 ms in a bot that only sends texts.
    sendMessage(jid, content, options = {}) {
      // Async as Baileys' is: whatever is wrong with the arguments rejects, never throws.
      try {
        if (!content || typeof content !== 'object') {
          throw codedError('ERR_WA_CLIENT_ARGUMENT', 'content must be an object')
        }
        // A bare text with no options is the hot path: built and sent natively (unless the
        // app patches messages before sending: then it goes through the patch like any other).
        if (!customPatch && !(customGroupCache && isJidGroup(jid)) && isPlainText(content, options)) {
          return sendPlainText(jid, content.text)
        }
        return sendContent(jid, content, options)
      } catch (e) {
        return Promise.reject(e)
      }
    },
    /**
     * Baileys' `waUploadToServer(encFilePath, { mediaType, fileEncSha256B64, timeoutMs })`:
     * uploads an encrypted file to the `media_conn` hosts in order; `{ mediaUrl, directPath }`.
     */
    async waUploadToServer(filePath, { mediaType, fileEncSha256B64, timeoutMs } = {}) {
      if (typeof filePath !== 'string') throw codedError('ERR_WA_MEDIA_ARGUMENT', 'filePath must be the path of an encrypted file')
      const sha = Buffer.from(String(fileEncSha256B64 ?? ''), 'base64')
      if (sha.length !== 32) throw codedError('ERR_WA_MEDIA_ARGUMENT', 'fileEncSha256B64 must be the base64 SHA-256 of the file')
      try {
        return JSON.parse(await handle.uploadMedia(filePath, String(mediaType), sha, timeoutMs ?? config.mediaUploadTimeoutMs ?? undefined))
      } catch (e) {
        const status = Number(e.status)
        const boom = makeBoom(e.message, { statusCode: status >= 400 ? status : 500 })
        boom.code = e.code
        throw boom
      }
    },
    /**
     * Baileys' `refreshMediaConn(forceGet)`: `{ hosts: [{ hostname, maxContentLengthBytes }],
     * auth, ttl, fetchDate }`, cached until its ttl passes.
     */
    async refreshMediaConn(forceGet = false) {
      const c = JSON.parse(await handle.refreshMediaConn(!!forceGet))
      return { ...c, fetchDate: new Date(c.fetchDate) }
    },
    /**
     * Baileys' `updateMediaMessage(message)`: asks the phone that sent `message` to upload its
     * media again (media retry), waits for its answer (`messages.media-update`), and on success
     * points the message at the new file (`directPath`, `url`), emits `messages.update` and
     * returns the message. A failure is a Boom with Baileys' status (404 not found, 412
     * decryption error, 418 general error).
     */
    async updateMediaMessage(message) {
      const content = assertMediaContent(message.message)
      const mediaKey = content.mediaKey
      const node = encryptMediaRetryRequest(message.key, mediaKey, creds.me?.id)
      let error
      const answered = waitForEvent('messages.media-update', (updates) => {
        const result = updates.find((u) => u.key.id === message.key.id)
        if (!result) return false
        if (result.error) {
          error = result.error
          return true
        }
        try {
          const media = decryptMediaRetryData(result.media, mediaKey, result.key.id)
          if (media.result !== proto.MediaRetryNotification.ResultType.SUCCESS) {
            const resultStr = proto.MediaRetryNotification.ResultType[media.result]
            throw makeBoom(`Media re-upload failed by device (${resultStr})`, {
              data: media,
              statusCode: getStatusCodeForMediaRetry(media.result) || 404,
            })
          }
          content.directPath = media.directPath
        } catch (err) {
          // A notification that does not open under the message's key (forged, or another
          // key): the decryption error, as Baileys throws it.
          error = err
        }
        return true
      })
      await Promise.all([sock.sendNode(node), answered])
      if (error) throw error
      // Where the new file is fetched from: the media_conn host (fetched now if this socket has
      // none; Baileys keeps WhatsApp's default host until it has one).
      content.url = getUrlFromDirectPath(content.directPath, await handle.mediaHost(true))
      logAt(logger, 'debug', { directPath: content.directPath, key: message.key }, 'media update successful')
      ev.emit('messages.update', [{ key: message.key, update: { message: message.message } }])
      return message
    },
    /** Baileys' `relayMessage(jid, message, opts)`: sends a `proto.IMessage` as it is; resolves with its id. */
    async relayMessage(jid, message, opts = {}) {
      refuseUnsupported(opts)
      const sent = await keepSent(await ordered(jid, () => prepareRelay(jid, message, opts)))
      return sent.key.id
    },
    requestPairingCode: (phoneNumber, customPairingCode) =>
      handle.requestPairingCode(String(phoneNumber), customPairingCode ?? undefined),
    logout: async (_msg) => handle.logout(),
    end(error) {
      const status = error?.output?.statusCode
      handle.end(status ?? undefined, error?.message ?? undefined)
    },
    sendNode: (node) => handle.sendNode(encodeBinaryNode(node)),
    async query(node, timeoutMs) {
      const frame = await handle.query(encodeBinaryNode(node), timeoutMs ?? undefined)
      return decodeBinaryNodeSync(frame)
    },
    waitForConnectionUpdate(check, timeoutMs) {
      return new Promise((resolve, reject) => {
        let timer
        const listener = async (update) => {
          if (update.connection === 'close' && !(await check(update))) {
            done()
            reject(update.lastDisconnect?.error || makeBoom('Connection Closed', { statusCode: 428 }))
          } else if (await check(update)) {
            done()
            resolve()
          }
        }
        const done = () => {
          clearTimeout(timer)
          ev.off('connection.update', listener)
        }
        if (timeoutMs) {
          timer = setTimeout(() => {
            done()
            reject(makeBoom('Timed Out', { statusCode: DisconnectReason.timedOut }))
          }, timeoutMs)
        }
        ev.on('connection.update', listener)
      })
    },
  }

  addPresence(sock, handle, creds)
  addGroups(sock, handle, { emitLocal, me: () => creds.me })
  addNewsletters(sock, handle)

  /** Resolves once `check(data)` holds for an `event`; rejects when the connection closes (Baileys' bindWaitForEvent). */
  function waitForEvent(event, check) {
    return new Promise((resolve, reject) => {
      const done = () => {
        ev.off(event, listener)
        ev.off('connection.update', onClose)
      }
      const listener = (data) => {
        if (check(data)) {
          done()
          resolve()
        }
      }
      const onClose = ({ connection, lastDisconnect }) => {
        if (connection === 'close') {
          done()
          reject(lastDisconnect?.error || makeBoom('Connection Closed', { statusCode: DisconnectReason.connectionClosed }))
        }
      }
      ev.on(event, listener)
      ev.on('connection.update', onClose)
    })
  }

  // Baileys buffers events of a logged-in account until the offline queue is drained.
  if (creds.me?.id) ev.buffer()
  ev.on('connection.update', (u) => {
    if (u.receivedPendingNotifications) ev.flush()
  })
  return sock
}

module.exports = {
  default: makeWASocket,
  makeWASocket,
  DisconnectReason,
}
