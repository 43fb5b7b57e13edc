'use strict'
// baileys-native-testing (reached as `baileys-native/testing`): a local WhatsApp-protocol
// server (wa-testserver) for tests and bot CI. Everything runs in Rust on this package's own
// addon (crates/baileys-native-testing); this file shapes the JS API.
const native = require('./native.js')

// Errors of the addon carry our stable code as `err.code` (set by the addon); these two
// wrappers are where native calls pass through.
const call = (promise) => promise
const sync = (fn) => fn()

const DEFAULT_WAIT_MS = 10_000

/** An inbox entry from JSON: `messageBytes` becomes a Buffer. */
function reviveInbox(json) {
  return JSON.parse(json).map((m) => ({ ...m, messageBytes: Buffer.from(m.messageBytes, 'base64') }))
}

function seedBytes(seed) {
  if (seed === undefined || seed === null) return undefined
  if (Buffer.isBuffer(seed) || seed instanceof Uint8Array) return Buffer.from(seed)
  return Buffer.from(String(seed), 'utf8')
}

function ms(v, name, unit = 'milliseconds') {
  if (v === undefined || v === null) return undefined
  if (!Number.isFinite(v) || v < 0 || v > 0xffffffff) {
    const e = new TypeError(`${name} must be a number of ${unit}`)
    e.code = 'ERR_WA_TESTSERVER_BAD_OPTION'
    throw e
  }
  return Math.floor(v)
}

/**
 * Starts a test server on 127.0.0.1.
 * @param {{ port?: number, seed?: string|number|Uint8Array, handshakeTimeoutMs?: number,
 *   qrFirstTtlMs?: number, qrNextTtlMs?: number, pairingTimeoutMs?: number,
 *   mediaMaxBytes?: number, mediaAuthTtlMs?: number }} [options]
 */
async function startTestServer(options = {}) {
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    const e = new TypeError('port must be an integer 0..65535')
    e.code = 'ERR_WA_TESTSERVER_BAD_OPTION'
    throw e
  }
  const h = await call(
    native.testServerStart(
      port,
      seedBytes(options.seed),
      ms(options.handshakeTimeoutMs, 'handshakeTimeoutMs'),
      ms(options.qrFirstTtlMs, 'qrFirstTtlMs'),
      ms(options.qrNextTtlMs, 'qrNextTtlMs'),
      ms(options.pairingTimeoutMs, 'pairingTimeoutMs'),
      ms(options.mediaMaxBytes, 'mediaMaxBytes', 'bytes'),
      ms(options.mediaAuthTtlMs, 'mediaAuthTtlMs'),
    ),
  )
  let stopped = null
  const target = (jid) => (jid === undefined || jid === null ? null : String(jid))

  function phone(phoneNumber) {
    const number = String(phoneNumber)
    const info = JSON.parse(sync(() => native.testServerPhoneInfo(h, number)))
    return {
      jid: info.jid,
      lid: info.lid,
      number: info.number,
      /** Sends a text as this phone; resolves to the message id. */
      sendText: async (toJid, text) => sync(() => native.testServerPhoneSendText(h, number, String(toJid), String(text))),
      /** Sends any message (encoded `proto.Message` bytes) as this phone; resolves to the message id. */
      sendMessage: async (toJid, messageBytes) =>
        sync(() => native.testServerPhoneSendMessage(h, number, String(toJid), Buffer.from(messageBytes))),
      /**
       * How this phone answers media retry requests for what it sent: `'reupload'` (default:
       * upload again under a new direct path, SUCCESS), `'not_found'`, `'general_error'`,
       * `'decryption_error'` (that result, encrypted), `'error'` (an `<error code>` node, `code`
       * 2 by default), `'forged'` (an answer that does not decrypt), `'garbled'` (no `<encrypt>`,
       * no `<rmr>`).
       */
      setMediaRetryAnswer: (answer, { code } = {}) =>
        sync(() => native.testServerPhoneSetMediaRetry(h, number, String(answer), code ?? undefined)),
      /** The decrypted messages this phone received, as WAMessage-shaped objects. */
      inbox: () => reviveInbox(sync(() => native.testServerPhoneInbox(h, number))),
      /** Resolves with the inbox once it holds at least `count` messages. */
      waitForInbox: async (count = 1, { timeoutMs = DEFAULT_WAIT_MS } = {}) =>
        reviveInbox(await call(native.testServerPhoneWaitForInbox(h, number, count, timeoutMs))),
      /** Receipts for this phone's own messages: `{ id, from, type }`. */
      receipts: () => JSON.parse(sync(() => native.testServerPhoneReceipts(h, number))),
      /** Resolves once the phone holds at least `count` receipts: those after the first `skip`. */
      waitForReceipts: async (count = 1, { timeoutMs = DEFAULT_WAIT_MS, skip = 0 } = {}) =>
        JSON.parse(await call(native.testServerPhoneWaitForReceipts(h, number, count, timeoutMs, skip))),
    }
  }

  return {
    url: sync(() => native.testServerUrl(h)),
    port: sync(() => native.testServerPort(h)),
    rootPublicKey: sync(() => native.testServerRootPublicKey(h)),
    /** The HTTPS media host `media_conn` names, and its controls. */
    media: {
      /** `127.0.0.1:PORT` */
      host: sync(() => native.testServerMediaHost(h)),
      /** The CA certificate (PEM) to trust for the media host. */
      caPem: sync(() => native.testServerMediaCaPem(h)),
      /** Downloads of this file get 410 from now on (its query string is ignored). */
      expire: (directPath) => sync(() => native.testServerMediaExpire(h, String(directPath))),
      /** Flips the bits of one stored byte (to test MAC checks). */
      corrupt: (directPath, offset) => sync(() => native.testServerMediaCorrupt(h, String(directPath), offset)),
      /** The stored (encrypted) bytes of a file. */
      file: (directPath) => sync(() => native.testServerMediaFile(h, String(directPath))),
      /** How many files are stored. */
      count: () => sync(() => native.testServerMediaFileCount(h)),
      /** Puts an encrypted file on the host (as a phone's upload); returns its direct path. */
      put: (encrypted) => sync(() => native.testServerMediaPut(h, Buffer.from(encrypted))),
    },
    /** The phone of `phoneNumber` scans `qr`; resolves to the companion's JID once paired. */
    scanQR: (qr, { phoneNumber, pushName } = {}) =>
      call(native.testServerScanQr(h, String(qr), String(phoneNumber), pushName ?? undefined)),
    /** The user types `code` on the phone; resolves to the companion's JID once paired. */
    enterPairingCode: (phoneNumber, code) => call(native.testServerEnterPairingCode(h, String(phoneNumber), String(code))),
    phone,
    /**
     * Makes `count` accounts numbered `{prefix}{index:06}`, each with `devices` devices (its
     * phone and silent companions with real keys; what they are sent is dropped): members for
     * benchmarks of big groups. Resolves to their phone-number JIDs.
     */
    seedAccounts: ({ prefix, count, devices = 1 }) => sync(() => native.testServerSeedAccounts(h, String(prefix), count, devices)),
    /**
     * A newsletter (channel) as the server keeps it: `{ id, name, description, invite, owner,
     * admins, followers, muted, pictureId, deleted, messages: [{ serverId, id, t, type,
     * plaintext, reactions, views }] }`; accounts as phone-number JIDs, `plaintext` the
     * base64 of the encoded proto.Message, `reactions` `{ code: count }`. Deleted ones too.
     */
    newsletter: (jid) => JSON.parse(sync(() => native.testServerNewsletter(h, String(jid)))),
    /** Makes an account (number or JID) an `'ADMIN'` or a `'SUBSCRIBER'` of a newsletter, silently. */
    newsletterSetRole: (jid, user, role) =>
      sync(() => native.testServerNewsletterSetRole(h, String(jid), String(user), String(role))),
    /** The owner's phone posts a text to a newsletter; returns its server id. */
    phonePostNewsletter: (jid, text) => sync(() => native.testServerPhonePostNewsletter(h, String(jid), String(text))),
    /**
     * The phone of `phoneNumber` makes a group with `members` (numbers or user JIDs; unknown
     * ones are left out); the members' companions get the `create` notification. Returns the
     * group's JID. Phones are full members: `phone(n).sendText(groupJid, text)` sends with the
     * phone's sender key, and what members send lands in `phone(n).inbox()`.
     */
    phoneCreateGroup: (phoneNumber, subject, members = []) =>
      sync(() => native.testServerPhoneCreateGroup(h, String(phoneNumber), String(subject), members.map(String))),
    /** The phone of `phoneNumber` adds (`'add'`) or removes (`'remove'`) members of a group, with the notifications. */
    phoneUpdateGroup: (groupJid, phoneNumber, action, members = []) =>
      sync(() =>
        native.testServerPhoneUpdateGroup(h, String(groupJid), String(phoneNumber), String(action), members.map(String)),
      ),
    /** Companion JIDs linked to a number. */
    devices: (phoneNumber) => sync(() => native.testServerDevices(h, String(phoneNumber))),
    /** Stanzas waiting for a device (not yet acknowledged by it). */
    queued: (jid) => sync(() => native.testServerQueued(h, String(jid))),
    waitForQueued: (jid, count = 1, { timeoutMs = DEFAULT_WAIT_MS } = {}) =>
      call(native.testServerWaitForQueued(h, String(jid), count, timeoutMs)),
    isOnline: (jid) => sync(() => native.testServerIsOnline(h, String(jid))),
    waitForOnline: (jid, { online = true, timeoutMs = DEFAULT_WAIT_MS } = {}) =>
      call(native.testServerWaitForOnline(h, String(jid), online, timeoutMs)),
    stats: () => JSON.parse(sync(() => native.testServerStats(h))),
    // fault controls: `jid` names a logged-in companion; omitted, every connection
    dropConnection: (jid) => sync(() => native.testServerDropConnections(h, target(jid))),
    delayFrames: (jid, delayMs) => sync(() => native.testServerDelayFrames(h, target(jid), ms(delayMs, 'delayMs'))),
    stall: (jid, stallMs) => sync(() => native.testServerStall(h, target(jid), ms(stallMs, 'stallMs'))),
    corruptFrame: (jid) => sync(() => native.testServerCorruptFrame(h, target(jid))),
    dropFrames: (jid, count = 1) => sync(() => native.testServerDropFrames(h, target(jid), count)),
    streamError: (jid, code) => sync(() => native.testServerStreamError(h, target(jid), code)),
    refuseLogins: (durationMs, { code, failure } = {}) =>
      sync(() => native.testServerRefuseLogins(h, ms(durationMs, 'durationMs'), code ?? undefined, failure ?? undefined)),
    /** The phone unlinks a companion: it gets 401 and cannot log in again. */
    removeDevice: (jid) => sync(() => native.testServerRemoveDevice(h, String(jid))),
    /** Closes every connection and the listener. */
    stop: () => (stopped ??= call(native.testServerStop(h))),
  }
}

module.exports = { startTestServer }
