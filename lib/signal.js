'use strict'
// makeLibSignalRepository: Baileys 7's SignalRepository on the Rust Signal layer. The Signal
// work runs in Rust (crates/wa-client/src/repository/): the same Signal adapter and LID
// mapping store the socket uses, one lock per Signal address, one read and one atomic write
// per operation. Records stay in libsignal-node's formats, so the same auth state works with
// Baileys' own repository before and after. Over one of our native key stores Rust does the
// store I/O too; over a JavaScript store (`{ get, set }`) the hot operations are driven from
// here (`drive`): Rust names the keys, this thread calls `get` and `set`, Rust runs the Signal
// step in between as a plain call, so no operation pays a thread round trip per read or write.
// This file shapes Baileys' arguments and results and drives those operations.
const native = require('../native.js')
const { codedError } = require('./errors.js')
const { BufferJSON, KeyStore } = require('./store.js')
const { reviveBuffers } = require('./buffer-json.js')

const kNative = Symbol.for('baileys-native.store.native')

// Byte strings come back from stores as Buffers, Uint8Arrays, or, from a store that
// JSON-encodes without Baileys' reviver, as Node's `{ type: 'Buffer', data }`.
function bytes(v) {
  if (v == null) return undefined
  if (Buffer.isBuffer(v)) return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (typeof v === 'object' && v.type === 'Buffer') {
    return typeof v.data === 'string' ? Buffer.from(v.data, 'base64') : Buffer.from(v.data)
  }
  if (Array.isArray(v)) return Buffer.from(v)
  if (typeof v === 'string') return Buffer.from(v, 'base64')
  return undefined
}

function required(v, what) {
  const b = bytes(v)
  if (!b) throw codedError('ERR_WA_SIGNAL_ARGUMENT', `${what} must be bytes`)
  return b
}

// A failure of the app's key store, coded as the store bridge codes it.
function storeFailure(op, err) {
  if (typeof err?.code === 'string' && err.code.startsWith('ERR_WA_')) return err
  const e = codedError('ERR_WA_STORE_ENGINE', `${op} failed in the JavaScript engine: ${err?.message ?? err}`)
  e.cause = err
  return e
}

// A stored value as JSON text for the native side: bytes as BufferJSON (base64, without
// Buffer#toJSON's array of numbers); a session object (libsignal-node's record, no bytes
// inside) as plain JSON; anything else through BufferJSON's replacer.
function valueText(type, v) {
  if (v === undefined || v === null) return null
  if (v instanceof Uint8Array) {
    return `{"type":"Buffer","data":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"}`
  }
  return type === 'session' ? JSON.stringify(v) : JSON.stringify(v, BufferJSON.replacer)
}

// Reads `[type, id, type, id, ...]` with one keys.get per type (together): one JSON text or
// null per pair, in order.
async function readKeys(keys, pairs) {
  const byType = new Map()
  for (let i = 0; i < pairs.length; i += 2) {
    let ids = byType.get(pairs[i])
    if (!ids) byType.set(pairs[i], (ids = []))
    ids.push(pairs[i + 1])
  }
  const types = [...byType.keys()]
  let maps
  try {
    maps = types.length === 1 ? [await keys.get(types[0], byType.get(types[0]))] : await Promise.all(types.map((t) => keys.get(t, byType.get(t))))
  } catch (err) {
    throw storeFailure('get', err)
  }
  const found = new Map()
  for (let i = 0; i < types.length; i++) {
    const m = maps[i]
    if (!m || typeof m !== 'object') {
      throw codedError('ERR_WA_STORE_ENGINE_RESULT', 'keys.get must return an object of id -> value')
    }
    found.set(types[i], m)
  }
  const out = new Array(pairs.length / 2)
  for (let i = 0; i < pairs.length; i += 2) out[i / 2] = valueText(pairs[i], found.get(pairs[i])[pairs[i + 1]])
  return out
}

// `[type, id, json, ...]` as Baileys' SignalDataSet (null deletes).
function dataSet(flat) {
  const data = {}
  for (let i = 0; i < flat.length; i += 3) {
    const type = flat[i]
    const text = flat[i + 2]
    const slot = data[type] || (data[type] = {})
    slot[flat[i + 1]] = text == null ? null : type === 'session' ? JSON.parse(text) : reviveBuffers(JSON.parse(text))
  }
  return data
}

// Runs one native operation (NativeSignalOp) over a JavaScript key store: the reads it names
// (one keys.get per type, together), the Signal step (a plain call on this thread), its one
// keys.set, its result. The operation holds its locks from its first step (taken in call
// order) until finish or release; a failed read or write releases them with nothing applied.
async function drive(op, keys) {
  let found
  try {
    for (;;) {
      const step = op.step(found)
      found = undefined
      if (step === 0) {
        await op.wait()
      } else if (typeof step !== 'number') {
        found = await readKeys(keys, step)
      } else {
        if (step === 2) {
          const data = dataSet(op.writes())
          try {
            await keys.set(data)
          } catch (err) {
            throw storeFailure('set', err)
          }
        }
        return op.finish()
      }
    }
  } finally {
    op.release()
  }
}

/** Baileys' `LIDMappingStore`, answered by the Rust store of the repository. */
class LIDMappingStore {
  constructor(handle) {
    Object.defineProperty(this, kNative, { value: handle })
  }

  storeLIDPNMappings(pairs) {
    if (!pairs?.length) return Promise.resolve()
    return this[kNative].storeLIDPNMappings(pairs.map(({ lid, pn }) => ({ lid: String(lid), pn: String(pn) })))
  }

  async getLIDForPN(pn) {
    return (await this.getLIDsForPNs([pn]))?.[0]?.lid || null
  }

  async getLIDsForPNs(pns) {
    if (!pns?.length) return null
    return (await this[kNative].getLIDsForPNs(pns.map(String))) ?? null
  }

  async getPNForLID(lid) {
    return (await this.getPNsForLIDs([lid]))?.[0]?.pn || null
  }

  async getPNsForLIDs(lids) {
    if (!lids?.length) return null
    return (await this[kNative].getPNsForLIDs(lids.map(String))) ?? null
  }

  /** Forgets the cached mappings (the stored ones stay). */
  close() {
    this[kNative].close()
  }
}

function makeLibSignalRepository(auth, _logger, pnToLIDFunc) {
  if (!auth || !auth.keys || typeof auth.keys.get !== 'function' || typeof auth.keys.set !== 'function') {
    throw codedError('ERR_WA_SIGNAL_ARGUMENT', 'auth.keys must have get(type, ids) and set(data)')
  }
  if (!auth.creds?.signedIdentityKey) {
    throw codedError('ERR_WA_SIGNAL_ARGUMENT', 'auth.creds has no signedIdentityKey')
  }
  // Others (Baileys' socket, the app) may write to these keys too: no read cache in front.
  const keys = KeyStore.fromAuthState(auth.keys, { cache: false })
  // A JavaScript store: the hot operations run their store I/O here (see `drive`); the rare
  // ones (session info, migrations, LID mappings) go through the key-store bridge.
  const jsKeys = auth.keys[kNative] ? null : auth.keys
  const lookup =
    typeof pnToLIDFunc === 'function'
      ? async (jids) => JSON.stringify((await pnToLIDFunc(jids)) || [])
      : undefined
  const handle = native.NativeSignalRepository.create(keys[kNative], JSON.stringify(auth.creds, BufferJSON.replacer), lookup)

  // Baileys reads `auth.creds` live; ours takes them in again when the parts Signal uses change.
  let seen = credsMark(auth.creds)
  function syncCreds() {
    const mark = credsMark(auth.creds)
    if (mark !== seen) {
      handle.setCreds(JSON.stringify(auth.creds, BufferJSON.replacer))
      seen = mark
    }
  }

  return {
    async decryptMessage({ jid, type, ciphertext }) {
      syncCreds()
      ciphertext = required(ciphertext, 'ciphertext')
      if (!jsKeys) return handle.decryptMessage(jid, type, ciphertext)
      return (await drive(handle.decryptOp(jid, type, ciphertext), jsKeys)).plaintext
    },

    async encryptMessage({ jid, data }) {
      syncCreds()
      data = required(data, 'data')
      if (!jsKeys) return handle.encryptMessage(jid, data)
      const r = await drive(handle.encryptOp(jid, data), jsKeys)
      return { type: r.type, ciphertext: r.ciphertext }
    },

    async injectE2ESession({ jid, session }) {
      syncCreds()
      const spk = session?.signedPreKey
      if (!spk) throw codedError('ERR_WA_SIGNAL_ARGUMENT', 'session.signedPreKey is required')
      const bundle = {
        registrationId: session.registrationId >>> 0,
        identityKey: required(session.identityKey, 'session.identityKey'),
        signedPreKey: {
          keyId: spk.keyId >>> 0,
          publicKey: required(spk.publicKey, 'session.signedPreKey.publicKey'),
          signature: required(spk.signature, 'session.signedPreKey.signature'),
        },
        preKey: session.preKey
          ? { keyId: session.preKey.keyId >>> 0, publicKey: required(session.preKey.publicKey, 'session.preKey.publicKey') }
          : undefined,
      }
      if (!jsKeys) return handle.injectE2ESession(jid, bundle)
      await drive(handle.injectE2ESessionOp(jid, bundle), jsKeys)
    },

    async encryptGroupMessage({ group, meId, data }) {
      data = required(data, 'data')
      if (!jsKeys) return handle.encryptGroupMessage(group, meId, data)
      const r = await drive(handle.encryptGroupOp(group, meId, data), jsKeys)
      return { ciphertext: r.ciphertext, senderKeyDistributionMessage: r.senderKeyDistributionMessage }
    },

    async decryptGroupMessage({ group, authorJid, msg }) {
      msg = required(msg, 'msg')
      if (!jsKeys) return handle.decryptGroupMessage(group, authorJid, msg)
      return (await drive(handle.decryptGroupOp(group, authorJid, msg), jsKeys)).plaintext
    },

    async processSenderKeyDistributionMessage({ item, authorJid }) {
      if (!item || !item.groupId) {
        throw codedError('ERR_WA_SIGNAL_ARGUMENT', 'Group ID is required for sender key distribution message')
      }
      const skdm = required(item.axolotlSenderKeyDistributionMessage, 'item.axolotlSenderKeyDistributionMessage')
      if (!jsKeys) return handle.processSenderKeyDistributionMessage(item.groupId, authorJid, skdm)
      await drive(handle.processSenderKeyDistributionOp(item.groupId, authorJid, skdm), jsKeys)
    },

    async getSenderKeyDistributionMessage({ group, meId }) {
      if (!jsKeys) return handle.getSenderKeyDistributionMessage(group, meId)
      return (await drive(handle.senderKeyDistributionOp(group, meId), jsKeys)).senderKeyDistributionMessage
    },

    hasSenderKey: ({ group, meId }) => handle.hasSenderKey(group, meId),

    async getSessionInfo(jid) {
      const info = await handle.getSessionInfo(jid)
      return info ? { baseKey: new Uint8Array(info.baseKey), registrationId: info.registrationId } : null
    },

    async validateSession(jid) {
      const v = await handle.validateSession(jid)
      return v.exists ? { exists: true } : { exists: false, reason: v.reason }
    },

    async deleteSession(jids) {
      if (!jids?.length) return
      return handle.deleteSession(jids)
    },

    jidToSignalProtocolAddress: (jid) => native.signalJidToAddress(jid),

    lidMapping: new LIDMappingStore(handle),

    migrateSession: (fromJid, toJid) => handle.migrateSession(fromJid ?? '', toJid ?? ''),

    close() {
      this.lidMapping.close()
    },
  }
}

function credsMark(creds) {
  const spk = creds?.signedPreKey
  return `${creds?.registrationId}|${spk?.keyId}|${bytes(spk?.keyPair?.public)?.toString('base64')}|${bytes(creds?.signedIdentityKey?.public)?.toString('base64')}`
}

// A stored session record as the native side takes it: libsignal-node's JSON text, or bytes.
function sessionIn(v) {
  if (v == null) return undefined
  if (typeof v === 'string' || v instanceof Uint8Array) return v
  return JSON.stringify(v)
}

// A stored sender key: Baileys keeps the JSON text's bytes.
function senderKeyIn(v) {
  if (v == null) return undefined
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  return bytes(v)
}

module.exports = {
  makeLibSignalRepository,
  // Record forms, for stores and migrations: a session record (libsignal-node's object, its
  // JSON text, or the binary form) as libsignal-node's object or as binary; a sender-key
  // record (Baileys' JSON bytes or binary) as Baileys' JSON bytes or as binary.
  sessionRecordToJson: (record) => JSON.parse(native.signalSessionRecordToJson(sessionIn(record))),
  sessionRecordToBinary: (record) => native.signalSessionRecordToBinary(sessionIn(record)),
  senderKeyRecordToJson: (record) => native.signalSenderKeyRecordToJson(senderKeyIn(record)),
  senderKeyRecordToBinary: (record) => native.signalSenderKeyRecordToBinary(senderKeyIn(record)),
}
