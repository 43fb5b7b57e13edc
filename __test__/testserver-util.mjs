// The real Baileys 7.0.0-rc14 as a client of our test server: an in-memory auth state, the
// trust root swapped for the server's, and Baileys' Curve.verify (which accepts any
// signature in rc14) replaced by libsignal's honest check, so the server's certificate chain
// and the phone's ADV signature are really verified.
import { createRequire } from 'node:module'
import { once } from 'node:events'
import makeWASocket, { initAuthCreds, BufferJSON, proto, Browsers } from '@whiskeysockets/baileys'
import { Curve as BCurve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'

const require = createRequire(import.meta.url)
const libsignalCurve = require('libsignal/src/curve.js')

export const honestVerify = (pub, msg, sig) => {
  const key = Buffer.from(pub)
  const prefixed = key.length === 33 ? key : Buffer.concat([Buffer.from([5]), key])
  try {
    return libsignalCurve.verifySignature(prefixed, Buffer.from(msg), Buffer.from(sig)) === true
  } catch {
    return false
  }
}

const stock = { key: WA_CERT_DETAILS.PUBLIC_KEY, verify: BCurve.verify }
let verifyCalls = 0

/** Polls `cond` (sync or async) every 20 ms until it gives a truthy value, which it returns; throws naming `what` after `ms`. */
export async function until(cond, what, ms = 15_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Points Baileys at `server`'s trust root with an honest verifier. Returns a restore function. */
export function trustServer(server) {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(server.rootPublicKey)
  BCurve.verify = (pub, msg, sig) => {
    verifyCalls++
    return honestVerify(pub, msg, sig)
  }
  return () => {
    WA_CERT_DETAILS.PUBLIC_KEY = stock.key
    BCurve.verify = stock.verify
  }
}

export const verifyCount = () => verifyCalls

export const logger = {
  level: process.env.BAILEYS_LOG ? 'debug' : 'silent',
  child() {
    return this
  },
  trace() {},
  debug(...a) {
    if (process.env.BAILEYS_LOG) console.log('[debug]', ...a.map((x) => (typeof x === 'object' ? JSON.stringify(x)?.slice(0, 400) : x)))
  },
  info(...a) {
    if (process.env.BAILEYS_LOG) console.log('[info]', ...a.map((x) => (typeof x === 'object' ? JSON.stringify(x)?.slice(0, 400) : x)))
  },
  warn(...a) {
    if (process.env.BAILEYS_LOG) console.log('[warn]', ...a.map((x) => (typeof x === 'object' ? JSON.stringify(x)?.slice(0, 400) : x)))
  },
  error(...a) {
    if (process.env.BAILEYS_LOG) console.log('[error]', ...a.map((x) => (typeof x === 'object' ? JSON.stringify(x)?.slice(0, 600) : x)))
  },
}

/** Baileys' auth state kept in memory (values round-trip through BufferJSON as on disk). */
export function memoryAuth() {
  const creds = initAuthCreds()
  const data = new Map()
  const keys = {
    async get(type, ids) {
      const out = {}
      for (const id of ids) {
        const raw = data.get(`${type}-${id}`)
        if (raw === undefined) continue
        let v = JSON.parse(raw, BufferJSON.reviver)
        if (type === 'app-state-sync-key' && v) v = proto.Message.AppStateSyncKeyData.fromObject(v)
        out[id] = v
      }
      return out
    },
    async set(update) {
      for (const type of Object.keys(update)) {
        for (const id of Object.keys(update[type])) {
          const v = update[type][id]
          if (v === null || v === undefined) data.delete(`${type}-${id}`)
          else data.set(`${type}-${id}`, JSON.stringify(v, BufferJSON.replacer))
        }
      }
    },
  }
  return { creds, keys, data }
}

/**
 * One Baileys client (auth state + the current socket). `connect()` makes a new socket as an
 * app does after each close; events of every socket are recorded.
 */
export class BaileysClient {
  constructor(server, name, config = {}) {
    this.server = server
    this.name = name
    this.auth = memoryAuth()
    this.config = config
    this.upserts = []
    this.updates = []
    this.closes = []
    this.sock = null
  }

  connect() {
    const sock = makeWASocket({
      waWebSocketUrl: this.server.url,
      auth: this.auth,
      logger,
      browser: Browsers.macOS('Chrome'),
      shouldSyncHistoryMessage: () => false,
      syncFullHistory: false,
      markOnlineOnConnect: false,
      connectTimeoutMs: 10_000,
      defaultQueryTimeoutMs: 10_000,
      keepAliveIntervalMs: 30_000,
      retryRequestDelayMs: 10,
      ...this.config,
    })
    this.sock = sock
    sock.ev.on('creds.update', (u) => Object.assign(this.auth.creds, u))
    sock.ev.on('messages.upsert', (u) => {
      for (const m of u.messages) this.upserts.push({ ...m, upsertType: u.type })
    })
    sock.ev.on('messages.update', (u) => this.updates.push(...u))
    sock.ev.on('connection.update', (u) => {
      if (u.connection === 'close') this.closes.push(u.lastDisconnect?.error?.output?.statusCode)
    })
    return sock
  }

  /** Resolves with the first `connection.update` of the current socket for which `pred` holds. */
  waitUpdate(pred, timeoutMs = 15_000) {
    const sock = this.sock
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        sock.ev.off('connection.update', on)
        reject(new Error(`${this.name}: connection.update timed out`))
      }, timeoutMs)
      const on = (u) => {
        if (pred(u)) {
          clearTimeout(t)
          sock.ev.off('connection.update', on)
          resolve(u)
        }
      }
      sock.ev.on('connection.update', on)
    })
  }

  waitOpen(timeoutMs) {
    return this.waitUpdate((u) => u.connection === 'open', timeoutMs)
  }

  waitClose(timeoutMs) {
    return this.waitUpdate((u) => u.connection === 'close', timeoutMs)
  }

  /** Resolves with the first upserted message (already recorded or later) matching `pred`. */
  waitMessage(pred, timeoutMs = 15_000) {
    const found = this.upserts.find(pred)
    if (found) return Promise.resolve(found)
    const sock = this.sock
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        sock.ev.off('messages.upsert', on)
        reject(new Error(`${this.name}: no matching message`))
      }, timeoutMs)
      const on = (u) => {
        const m = u.messages.find(pred)
        if (m) {
          clearTimeout(t)
          sock.ev.off('messages.upsert', on)
          resolve({ ...m, upsertType: u.type })
        }
      }
      sock.ev.on('messages.upsert', on)
    })
  }

  /** Resolves once a `messages.update` for message `id` carries `status` (recorded or later). */
  waitStatus(id, status, timeoutMs = 15_000) {
    const match = (u) => u.key.id === id && u.update?.status === status
    const found = this.updates.find(match)
    if (found) return Promise.resolve(found)
    const sock = this.sock
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        sock.ev.off('messages.update', on)
        reject(new Error(`${this.name}: no status ${status} for ${id}`))
      }, timeoutMs)
      const on = (list) => {
        const u = list.find(match)
        if (u) {
          clearTimeout(t)
          sock.ev.off('messages.update', on)
          resolve(u)
        }
      }
      sock.ev.on('messages.update', on)
    })
  }

  /** Pairs through a QR scan by the simulated phone, then logs in after the 515 restart. */
  async pairByQR(phoneNumber, pushName) {
    this.connect()
    const { qr } = await this.waitUpdate((u) => !!u.qr)
    const closed = this.waitClose()
    const jid = await this.server.scanQR(qr, { phoneNumber, pushName })
    const close = await closed
    const restart = close.lastDisconnect?.error?.output?.statusCode
    this.connect()
    await this.waitOpen()
    return { jid, qr, restart }
  }

  async end() {
    if (!this.sock) return
    const sock = this.sock
    const closed = once(sock.ev, 'connection.update').catch(() => {})
    sock.end(undefined)
    await Promise.race([closed, new Promise((r) => setTimeout(r, 500))])
  }
}

export function text(m) {
  return m?.message?.conversation ?? m?.message?.extendedTextMessage?.text
}

/**
 * Baileys rc14 leaves a 30 s timer behind after every prekey upload (the `UPLOAD_TIMEOUT` race
 * in socket.js is never cleared), which would hold each test file open for 30 s after its
 * last test. Call from the last `after` hook: the process ends once the runner has reported
 * (exit code as the runner set it).
 */
export function exitWhenDone() {
  setTimeout(() => process.exit(), 100)
}

/**
 * An undici dispatcher for `fetch` that trusts the test server's media host CA (`caPem`), for
 * Baileys' downloads (`downloadContentFromMessage(..., { options: { dispatcher } })`). Node 20
 * ships undici as fetch's engine but does not export it; its `Agent` class is the constructor
 * of the global dispatcher, which exists once fetch has been used. A bot can `npm install
 * undici` and use `new Agent({ connect: { ca } })` from it the same way.
 */
export async function mediaDispatcher(caPem) {
  const key = Symbol.for('undici.globalDispatcher.1')
  if (!globalThis[key]) await fetch('http://127.0.0.1:0/').catch(() => {})
  const Agent = globalThis[key]?.constructor
  if (typeof Agent !== 'function') throw new Error("no undici Agent behind this Node's fetch")
  return new Agent({ connect: { ca: caPem } })
}

/**
 * Pairs one of our sockets (fresh in-memory auth) by QR through `server`, restarts after the 515
 * and resolves with `{ sock, auth }` once it is open. `onSocket(sock)` runs for each socket made
 * (the pairing one and the logged-in one) before it connects, so listeners miss nothing.
 */
export async function pairOurSocket(server, phoneNumber, { config = {}, pushName = 'Ours', onSocket } = {}) {
  const O = await import('../index.mjs')
  const auth = { creds: O.initAuthCreds(), keys: O.KeyStore.fromEngine(new O.MemoryEngine()) }
  const open = () => {
    const sock = O.makeWASocket({ auth, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey, ...config })
    onSocket?.(sock)
    return sock
  }
  const update = (sock, pred) =>
    new Promise((resolve) => {
      const on = (u) => {
        if (pred(u)) {
          sock.ev.off('connection.update', on)
          resolve(u)
        }
      }
      sock.ev.on('connection.update', on)
    })
  let sock = open()
  const { qr } = await update(sock, (u) => !!u.qr)
  const closed = update(sock, (u) => u.connection === 'close')
  await server.scanQR(qr, { phoneNumber, pushName })
  await closed
  sock = open()
  await update(sock, (u) => u.connection === 'open')
  return { sock, auth }
}
