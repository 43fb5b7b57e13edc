'use strict'
// Baileys' generic utilities: message ids, timers and timeouts, padding, version look-ups,
// receipt and stream-error mapping. Same names, arguments and results as Baileys 7's.
const { createHash, randomBytes } = require('node:crypto')
const { Boom } = require('@hapi/boom')
const { proto, protoEnum } = require('./proto.js')
const { jidDecode } = require('./jid.js')
const { getAllBinaryNodeChildren } = require('./binary.js')

const BUNDLED_VERSION = [2, 3000, 1043857760]
const TIMED_OUT = 408
const CONNECTION_CLOSED = 428
const CONNECTION_REPLACED = 440
const BAD_SESSION = 500
const RESTART_REQUIRED = 515

/** The author of a message: `meId` when from us, else the sender (alternate address first). */
const getKeyAuthor = (key, meId = 'me') =>
  (key?.fromMe ? meId : key?.participantAlt || key?.remoteJidAlt || key?.participant || key?.remoteJid) || ''

const isStringNullOrEmpty = (value) => value === null || value === undefined || value === ''

/** Appends 1-16 bytes of random-length PKCS#7-style padding (what WhatsApp puts after a Message). */
function writeRandomPadMax16(msg) {
  const n = (randomBytes(1)[0] & 0x0f) + 1
  return Buffer.concat([msg, Buffer.alloc(n, n)])
}

/** Removes the padding `writeRandomPadMax16` adds (a view over the same bytes). */
function unpadRandomMax16(e) {
  const bytes = new Uint8Array(e)
  if (bytes.length === 0) throw new Error('unpadPkcs7 given empty bytes')
  const n = bytes[bytes.length - 1]
  if (n > bytes.length) throw new Error(`unpad given ${bytes.length} bytes, but pad is ${n}`)
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length - n)
}

/** `2:` + the first 6 base64 chars of SHA-256 over the sorted participant list (sorts in place). */
function generateParticipantHashV2(participants) {
  participants.sort()
  const digest = createHash('sha256').update(Buffer.from(participants.join(''))).digest('base64')
  return `2:${digest.slice(0, 6)}`
}

const encodeWAMessage = (message) => writeRandomPadMax16(proto.Message.encode(message).finish())
const encodeNewsletterMessage = (message) => proto.Message.encode(message).finish()

const generateRegistrationId = () => Uint16Array.from(randomBytes(2))[0] & 16383

/** `t` bytes, big-endian, of the low 32 bits of `e`. */
function encodeBigEndian(e, t = 4) {
  let rest = e
  const out = new Uint8Array(t)
  for (let i = t - 1; i >= 0; i--) {
    out[i] = rest & 0xff
    rest >>>= 8
  }
  return out
}

/** A number from a number, a Long (`toNumber()`) or a `{ low }` object; 0 for nullish. */
const toNumber = (t) => (typeof t === 'object' && t ? ('toNumber' in t ? t.toNumber() : t.low) : t || 0)

const unixTimestampSeconds = (date = new Date()) => Math.floor(date.getTime() / 1000)

function debouncedTimeout(intervalMs = 1000, task) {
  let timer
  return {
    start(newIntervalMs, newTask) {
      task = newTask || task
      intervalMs = newIntervalMs || intervalMs
      if (timer) clearTimeout(timer)
      timer = setTimeout(() => task?.(), intervalMs)
    },
    cancel() {
      if (timer) clearTimeout(timer)
      timer = undefined
    },
    setTask: (newTask) => (task = newTask),
    setInterval: (newInterval) => (intervalMs = newInterval),
  }
}

/** A delay whose `cancel()` rejects it with a Boom 'Cancelled' (500). */
function delayCancellable(ms) {
  const stack = new Error().stack
  let timer
  let rejectDelay
  const delay = new Promise((resolve, reject) => {
    timer = setTimeout(resolve, ms)
    rejectDelay = reject
  })
  const cancel = () => {
    clearTimeout(timer)
    rejectDelay(new Boom('Cancelled', { statusCode: 500, data: { stack } }))
  }
  return { delay, cancel }
}

const delay = (ms) => delayCancellable(ms).delay

/** Runs `promise(resolve, reject)`; rejects with a Boom 'Timed Out' (408) after `ms` (none if 0). */
async function promiseTimeout(ms, promise) {
  if (!ms) return new Promise(promise)
  const stack = new Error().stack
  const { delay: timeout, cancel } = delayCancellable(ms)
  return new Promise((resolve, reject) => {
    timeout
      .then(() => reject(new Boom('Timed Out', { statusCode: TIMED_OUT, data: { stack } })))
      .catch((err) => reject(err))
    promise(resolve, reject)
  }).finally(cancel)
}

/** A message id as WhatsApp Web makes them: 3EB0 + 18 hex of SHA-256(time, user, random). */
function generateMessageIDV2(userId) {
  const data = Buffer.alloc(8 + 20 + 16)
  data.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)))
  if (userId) {
    const user = jidDecode(userId)?.user
    if (user) {
      data.write(user, 8)
      data.write('@c.us', 8 + user.length)
    }
  }
  randomBytes(16).copy(data, 28)
  const hash = createHash('sha256').update(data).digest('hex').toUpperCase()
  return `3EB0${hash.substring(0, 18)}`
}

const generateMessageID = () => `3EB0${randomBytes(18).toString('hex').toUpperCase()}`

/** `(check, timeoutMs) => Promise` resolving once `check(update)` of `event` is true. */
function bindWaitForEvent(ev, event) {
  return async (check, timeoutMs) => {
    let listener
    let closeListener
    await promiseTimeout(timeoutMs, (resolve, reject) => {
      closeListener = ({ connection, lastDisconnect }) => {
        if (connection === 'close') {
          reject(lastDisconnect?.error || new Boom('Connection Closed', { statusCode: CONNECTION_CLOSED }))
        }
      }
      ev.on('connection.update', closeListener)
      listener = async (update) => {
        if (await check(update)) resolve()
      }
      ev.on(event, listener)
    }).finally(() => {
      ev.off(event, listener)
      ev.off('connection.update', closeListener)
    })
  }
}

const bindWaitForConnectionUpdate = (ev) => bindWaitForEvent(ev, 'connection.update')

const VERSION_FETCH_TIMEOUT_MS = 15_000

/** Never throws: `{ version, isLatest: true }`, or the bundled version, `isLatest: false`, `error`. */
async function fetchVersion(url, init, parse) {
  try {
    const signal = init.signal ?? AbortSignal.timeout(VERSION_FETCH_TIMEOUT_MS)
    const response = await fetch(url, { ...init, signal })
    if (!response.ok) {
      throw new Boom(`Failed to fetch ${url}: ${response.statusText}`, { statusCode: response.status })
    }
    return parse(await response.text())
  } catch (error) {
    return { version: [...BUNDLED_VERSION], isLatest: false, error }
  }
}

/** The WhatsApp Web version Baileys' master branch uses (bundled one when offline). */
function fetchLatestBaileysVersion(options = {}) {
  const url = 'https://raw.githubusercontent.com/WhiskeySockets/Baileys/master/src/Defaults/index.ts'
  return fetchVersion(url, { dispatcher: options.dispatcher, method: 'GET', headers: options.headers }, (text) => {
    const m = /const version = \[(\d+),\s*(\d+),\s*(\d+)\]/.exec(text.split('\n')[6] || '')
    if (!m) throw new Error('Could not parse version from Defaults/index.ts')
    return { version: [Number(m[1]), Number(m[2]), Number(m[3])], isLatest: true }
  })
}

/** The current WhatsApp Web client revision, from web.whatsapp.com (bundled one when offline). */
function fetchLatestWaWebVersion(options = {}) {
  const headers = {
    'sec-fetch-site': 'none',
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    ...options.headers,
  }
  return fetchVersion('https://web.whatsapp.com/sw.js', { ...options, method: 'GET', headers }, (text) => {
    const m = /\\?"client_revision\\?":\s*(\d+)/.exec(text)
    if (!m?.[1]) {
      return {
        version: [...BUNDLED_VERSION],
        isLatest: false,
        error: { message: 'Could not find client revision in the fetched content' },
      }
    }
    return { version: [2, 3000, Number(m[1])], isLatest: true }
  })
}

function generateMdTagPrefix() {
  const bytes = randomBytes(4)
  return `${bytes.readUInt16BE()}.${bytes.readUInt16BE(2)}-`
}

/** The message status a receipt type means (DELIVERY_ACK for a plain receipt). */
function getStatusFromReceiptType(type) {
  const Status = protoEnum('WebMessageInfo.Status')
  if (type === undefined) return Status.DELIVERY_ACK
  return { sender: Status.SERVER_ACK, played: Status.PLAYED, read: Status.READ, 'read-self': Status.READ }[type]
}

/** `{ reason, statusCode }` of a `<stream:error>` node, as a DisconnectReason. */
function getErrorCodeFromStreamError(node) {
  const [reasonNode] = getAllBinaryNodeChildren(node)
  let reason = reasonNode?.tag || 'unknown'
  const statusCode = +(node.attrs.code || (reason === 'conflict' ? CONNECTION_REPLACED : 0) || BAD_SESSION)
  if (statusCode === RESTART_REQUIRED) reason = 'restart required'
  return { reason, statusCode }
}

const CALL_STATUS = {
  offer: 'offer',
  offer_notice: 'offer',
  preaccept: 'preaccept',
  transport: 'transport',
  relaylatency: 'relaylatency',
  reject: 'reject',
  accept: 'accept',
}

function getCallStatusFromNode({ tag, attrs }) {
  if (tag === 'terminate') return attrs.reason === 'timeout' ? 'timeout' : 'terminate'
  return Object.hasOwn(CALL_STATUS, tag) ? CALL_STATUS[tag] : 'ringing'
}

const UNEXPECTED_SERVER_CODE_TEXT = 'Unexpected server response: '

/** The HTTP-like status of a websocket error (the server's code, 408 for network errors, else 500). */
function getCodeFromWSError(error) {
  let statusCode = 500
  if (error?.message?.includes(UNEXPECTED_SERVER_CODE_TEXT)) {
    const code = +error.message.slice(UNEXPECTED_SERVER_CODE_TEXT.length)
    if (!Number.isNaN(code) && code >= 400) statusCode = code
  } else if (error?.code?.startsWith('E') || error?.message?.includes('timed out')) {
    statusCode = 408
  }
  return statusCode
}

const isWABusinessPlatform = (platform) => platform === 'smbi' || platform === 'smba'

/** Deletes the keys whose value is undefined; returns the same object. */
function trimUndefined(obj) {
  for (const key in obj) {
    if (obj[key] === undefined) delete obj[key]
  }
  return obj
}

module.exports = {
  getKeyAuthor,
  isStringNullOrEmpty,
  writeRandomPadMax16,
  unpadRandomMax16,
  generateParticipantHashV2,
  encodeWAMessage,
  encodeNewsletterMessage,
  generateRegistrationId,
  encodeBigEndian,
  toNumber,
  unixTimestampSeconds,
  debouncedTimeout,
  delay,
  delayCancellable,
  promiseTimeout,
  generateMessageIDV2,
  generateMessageID,
  bindWaitForEvent,
  bindWaitForConnectionUpdate,
  fetchLatestBaileysVersion,
  fetchLatestWaWebVersion,
  generateMdTagPrefix,
  getStatusFromReceiptType,
  getErrorCodeFromStreamError,
  getCallStatusFromNode,
  getCodeFromWSError,
  isWABusinessPlatform,
  trimUndefined,
}
