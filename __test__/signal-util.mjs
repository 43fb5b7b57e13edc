// Shared setup of the Signal tests: auth states as Baileys keeps them, our repository and
// Baileys 7's own (libsignal-node underneath), and prekey bundles between them.
import { createRequire } from 'node:module'
import * as baileys from '@whiskeysockets/baileys'
import { makeLibSignalRepository as makeBaileysRepository } from '@whiskeysockets/baileys/lib/Signal/libsignal.js'

const require = createRequire(import.meta.url)
export const ours = require('../index.js')
export const libsignal = require('libsignal')
export { baileys, makeBaileysRepository }

const { BufferJSON, Curve, addTransactionCapability, generateSignalPubKey, initAuthCreds } = baileys

// libsignal-node narrates sessions on the console; the tests check behaviour, not logs.
for (const m of ['info', 'warn', 'error', 'log']) console[m] = () => {}

export const silent = {
  level: 'silent',
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silent
  },
}

// A key store that keeps every value as JSON text with Baileys' BufferJSON, as
// useMultiFileAuthState does: what survives this survives a real auth folder.
export function jsonKeyStore({ delay = 0 } = {}) {
  const data = new Map()
  const wait = () => (delay ? new Promise((r) => setTimeout(r, Math.random() * delay)) : undefined)
  const store = {
    data,
    async get(type, ids) {
      await wait()
      const out = {}
      for (const id of ids) {
        const v = data.get(`${type}/${id}`)
        if (v !== undefined) out[id] = JSON.parse(v, BufferJSON.reviver)
      }
      return out
    },
    async set(batch) {
      await wait()
      for (const [type, values] of Object.entries(batch)) {
        for (const [id, v] of Object.entries(values)) {
          if (v === null || v === undefined) data.delete(`${type}/${id}`)
          else data.set(`${type}/${id}`, JSON.stringify(v, BufferJSON.replacer))
        }
      }
    },
    raw(type, id) {
      const v = data.get(`${type}/${id}`)
      return v === undefined ? undefined : JSON.parse(v, BufferJSON.reviver)
    },
    snapshot() {
      return new Map(data)
    },
  }
  return store
}

// Baileys' auth state: fresh creds, prekeys 1..n in the store, transaction capability on top.
export async function makeAuth({ preKeys = 5, delay = 0 } = {}) {
  const creds = initAuthCreds()
  const store = jsonKeyStore({ delay })
  const pre = {}
  for (let i = 1; i <= preKeys; i++) pre[i] = Curve.generateKeyPair()
  await store.set({ 'pre-key': pre })
  const keys = addTransactionCapability(store, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 })
  return { creds, keys, store }
}

// The prekey bundle a usync key fetch would give for this auth state (Baileys' E2ESession).
export async function bundleOf(auth, preKeyId) {
  const { creds } = auth
  const bundle = {
    registrationId: creds.registrationId,
    identityKey: generateSignalPubKey(creds.signedIdentityKey.public),
    signedPreKey: {
      keyId: creds.signedPreKey.keyId,
      publicKey: generateSignalPubKey(creds.signedPreKey.keyPair.public),
      signature: creds.signedPreKey.signature,
    },
  }
  if (preKeyId != null) {
    const key = auth.store.raw('pre-key', String(preKeyId))
    bundle.preKey = { keyId: preKeyId, publicKey: generateSignalPubKey(key.public) }
  }
  return bundle
}

// A party: a JID, an auth state and a repository (ours or Baileys') over it.
export async function party(kind, jid, opts) {
  const auth = await makeAuth(opts)
  return { kind, jid, auth, repo: repoOf(kind, auth) }
}

export function repoOf(kind, auth, pnToLID) {
  return kind === 'ours'
    ? ours.makeLibSignalRepository(auth, silent, pnToLID)
    : makeBaileysRepository(auth, silent, pnToLID)
}

// `from` builds a session to `to` from `to`'s bundle.
export async function connect(from, to, preKeyId = 1) {
  await from.repo.injectE2ESession({ jid: to.jid, session: await bundleOf(to.auth, preKeyId) })
}

export async function send(from, to, text) {
  const { type, ciphertext } = await from.repo.encryptMessage({ jid: to.jid, data: Buffer.from(text) })
  return { type, ciphertext: Buffer.from(ciphertext), text, from, to }
}

export async function receive(m) {
  const plain = await m.to.repo.decryptMessage({ jid: m.from.jid, type: m.type, ciphertext: m.ciphertext })
  return Buffer.from(plain).toString()
}

// A small seeded PRNG so failures reproduce.
export function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffle(list, rand) {
  const a = [...list]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

// A value as comparable JSON text: Buffers and Uint8Arrays as hex, whatever their spelling.
export function canonical(v) {
  return JSON.stringify(v, (k, x) => {
    if (x && typeof x === 'object' && x.type === 'Buffer' && Array.isArray(x.data)) return Buffer.from(x.data).toString('hex')
    if (x instanceof Uint8Array) return Buffer.from(x).toString('hex')
    return x
  })
}
