'use strict'
// makeLibSignalRepository: Baileys 7's SignalRepository on the Rust Signal layer. Everything
// runs in Rust (crates/wa-client/src/repository.rs): the same Signal adapter and LID mapping
// store the socket uses, over the caller's `auth.keys` through the key-store bridge, one lock
// per Signal address, one read and one atomic write per operation. Records stay in
// libsignal-node's formats, so the same auth state works with Baileys' own repository before
// and after. This file only shapes Baileys' arguments and results.
const native = require('../native.js')
const { codedError } = require('./errors.js')
const { BufferJSON, KeyStore } = require('./store.js')

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
      return handle.decryptMessage(jid, type, required(ciphertext, 'ciphertext'))
    },

    async encryptMessage({ jid, data }) {
      syncCreds()
      return handle.encryptMessage(jid, required(data, 'data'))
    },

    async injectE2ESession({ jid, session }) {
      syncCreds()
      const spk = session?.signedPreKey
      if (!spk) throw codedError('ERR_WA_SIGNAL_ARGUMENT', 'session.signedPreKey is required')
      return handle.injectE2ESession(jid, {
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
      })
    },

    encryptGroupMessage: ({ group, meId, data }) => handle.encryptGroupMessage(group, meId, required(data, 'data')),

    decryptGroupMessage: ({ group, authorJid, msg }) => handle.decryptGroupMessage(group, authorJid, required(msg, 'msg')),

    async processSenderKeyDistributionMessage({ item, authorJid }) {
      if (!item || !item.groupId) {
        throw codedError('ERR_WA_SIGNAL_ARGUMENT', 'Group ID is required for sender key distribution message')
      }
      return handle.processSenderKeyDistributionMessage(
        item.groupId,
        authorJid,
        required(item.axolotlSenderKeyDistributionMessage, 'item.axolotlSenderKeyDistributionMessage'),
      )
    },

    getSenderKeyDistributionMessage: ({ group, meId }) => handle.getSenderKeyDistributionMessage(group, meId),

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
