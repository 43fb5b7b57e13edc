'use strict'
// makeLibSignalRepository: Baileys 7's SignalRepository, backed by the Rust Signal layer.
//
// Each operation reads what it needs from the caller's `auth.keys` (one `get` per key type,
// in parallel), runs the Rust operation in one synchronous native call, and writes everything
// that changed with one `keys.set`. Records stay in libsignal-node's formats, so the same
// auth state works with Baileys' own repository before and after. Operations on one address
// (or one sender key) run one at a time; with a transaction-capable store (Baileys'
// addTransactionCapability) each runs in a transaction under the same key Baileys uses, and the
// per-address queue inside it, in Baileys' order (the transaction's mutex outside, the queue
// inside), so a caller already inside a transaction cannot deadlock with us.
const native = require('../native.js')
const { coded, withCode } = require('./errors.js')
const {
  DOMAIN,
  LIDMappingStore,
  TtlCache,
  jidDecode,
  transferDevice,
  isPnUser,
  isLidUser,
  isHostedPnUser,
  isHostedLidUser,
} = require('./signal-lid.js')

// Texts Baileys' socket compares error messages with (Utils/decode-wa-message.js).
const MISSING_KEYS_ERROR_TEXT = 'Key used already or never filled'

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error']
function loggerOf(logger) {
  const out = {}
  for (const l of LEVELS) {
    out[l] = logger && typeof logger[l] === 'function' ? logger[l].bind(logger) : () => {}
  }
  return out
}

// Runs jobs one at a time per key; different keys run concurrently.
class KeyedQueue {
  constructor() {
    this.tails = new Map()
  }

  run(key, job) {
    const prev = this.tails.get(key) || Promise.resolve()
    const result = prev.then(() => job())
    const tail = result.then(
      () => {},
      () => {},
    )
    this.tails.set(key, tail)
    tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return result
  }

  // Holds several keys at once, taken in sorted order so two holders never wait on each other.
  runAll(keys, job) {
    const sorted = [...new Set(keys)].sort()
    const step = (i) => (i === sorted.length ? job() : this.run(sorted[i], () => step(i + 1)))
    return step(0)
  }

  get size() {
    return this.tails.size
  }
}

// Byte strings come back from stores as Buffers, Uint8Arrays, or, from a store that
// JSON-encodes without Baileys' reviver, as Node's `{ type: 'Buffer', data }`.
function bytes(v) {
  if (v == null) return undefined
  if (v instanceof Uint8Array) return v
  if (typeof v === 'object' && v.type === 'Buffer') {
    return typeof v.data === 'string' ? Buffer.from(v.data, 'base64') : Buffer.from(v.data)
  }
  if (Array.isArray(v)) return Buffer.from(v)
  if (typeof v === 'string') return Buffer.from(v, 'base64')
  return undefined
}

function keyPair(kp) {
  if (!kp) return undefined
  return { public: bytes(kp.public), private: bytes(kp.private) }
}

// A stored session as the native side takes it: libsignal-node's JSON text, or stored bytes.
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

// Turns a native error into a coded one naming the Signal address it concerns.
function signalError(err, address) {
  withCode(err)
  if (err && typeof err === 'object' && err.code && err.code.startsWith('ERR_WA_SIGNAL')) {
    err.address = address
  }
  return err
}

function call(fn, address, arg) {
  try {
    return fn(arg)
  } catch (err) {
    throw signalError(err, address)
  }
}

function makeLibSignalRepository(auth, logger, pnToLIDFunc) {
  if (!auth || !auth.keys || typeof auth.keys.get !== 'function' || typeof auth.keys.set !== 'function') {
    throw withCode(new Error('[ERR_WA_SIGNAL_ARGUMENT] auth.keys must have get(type, ids) and set(data)'))
  }
  const keys = auth.keys
  const log = loggerOf(logger)
  const lidMapping = new LIDMappingStore(keys, log, pnToLIDFunc)
  const queue = new KeyedQueue()
  const migrated = new TtlCache(3 * 24 * 60 * 60 * 1000, 100_000)

  const transaction = (key, work) =>
    typeof keys.transaction === 'function' ? keys.transaction(work, key) : work()

  async function getOne(type, id) {
    const found = await keys.get(type, [id])
    return found ? found[id] : undefined
  }

  function local() {
    const creds = auth.creds || {}
    if (!creds.signedIdentityKey) {
      throw withCode(new Error('[ERR_WA_SIGNAL_ARGUMENT] auth.creds has no signedIdentityKey'))
    }
    return { identity: keyPair(creds.signedIdentityKey), registrationId: creds.registrationId >>> 0 }
  }

  function toAddress(jid) {
    return call(native.signalJidToAddress, jid, jid)
  }

  function senderKeyName(group, jid) {
    try {
      return native.signalSenderKeyName(group, jid)
    } catch (err) {
      throw signalError(err, jid)
    }
  }

  // Baileys keeps a phone-number device's session under its LID address once the mapping is
  // known (its storage resolves every address this way).
  async function resolve(address) {
    if (!address.includes('.')) return address
    const [name, device] = address.split('.')
    const [user, domain] = name.split('_')
    const domainType = parseInt(domain || '0')
    if (domainType === DOMAIN.LID || domainType === DOMAIN.HOSTED_LID) return address
    const server = domainType === DOMAIN.HOSTED ? 'hosted' : 's.whatsapp.net'
    const pnJid = `${user}${device !== '0' ? `:${device}` : ''}@${server}`
    const lid = await lidMapping.getLIDForPN(pnJid)
    return lid ? toAddress(lid) : address
  }

  const repository = {
    async decryptMessage({ jid, type, ciphertext }) {
      const address = await resolve(toAddress(jid))
      return transaction(jid, () =>
        queue.run(address, async () => {
          const preKeyId =
            type === 'pkmsg' ? call((c) => native.signalPreKeyId(address, c), address, ciphertext) : null
          const [session, remoteIdentity, preKey] = await Promise.all([
            getOne('session', address),
            type === 'pkmsg' ? getOne('identity-key', address) : undefined,
            preKeyId != null ? getOne('pre-key', String(preKeyId)) : undefined,
          ])
          const { identity, registrationId } = local()
          const signed = auth.creds.signedPreKey
          let out
          try {
            out = native.signalDecrypt({
              address,
              type,
              ciphertext,
              session: sessionIn(session),
              remoteIdentity: bytes(remoteIdentity),
              preKeyId: preKey ? preKeyId : undefined,
              preKey: keyPair(preKey),
              signedPreKey: type === 'pkmsg' && signed ? keyPair(signed.keyPair) : undefined,
              identity,
              registrationId,
              now: Date.now(),
            })
          } catch (err) {
            signalError(err, address)
            // Baileys acknowledges a duplicate by this exact text instead of asking for a retry.
            if (err.code === 'ERR_WA_SIGNAL_DUPLICATE') {
              err.detail = err.message
              err.message = MISSING_KEYS_ERROR_TEXT
            }
            throw err
          }
          const update = { session: { [address]: JSON.parse(out.session) } }
          if (out.identity) update['identity-key'] = { [address]: out.identity }
          if (out.removedPreKey != null) update['pre-key'] = { [out.removedPreKey]: null }
          await keys.set(update)
          if (out.identityChanged) {
            log.info({ jid, addr: address }, 'identity key changed or new contact, session will be re-established')
          }
          return out.plaintext
        }),
      )
    },

    async encryptMessage({ jid, data }) {
      const address = await resolve(toAddress(jid))
      return transaction(jid, () =>
        queue.run(address, async () => {
          const session = await getOne('session', address)
          const { identity, registrationId } = local()
          const out = call(native.signalEncrypt, address, {
            address,
            session: sessionIn(session),
            identity,
            registrationId,
            plaintext: data,
          })
          await keys.set({ session: { [address]: JSON.parse(out.session) } })
          return { type: out.type, ciphertext: out.ciphertext }
        }),
      )
    },

    async injectE2ESession({ jid, session: bundle }) {
      const address = await resolve(toAddress(jid))
      return transaction(jid, () =>
        queue.run(address, async () => {
          const [session, remoteIdentity] = await Promise.all([
            getOne('session', address),
            getOne('identity-key', address),
          ])
          const { identity, registrationId } = local()
          const spk = bundle.signedPreKey
          const out = call(native.signalInjectSession, address, {
            address,
            session: sessionIn(session),
            remoteIdentity: bytes(remoteIdentity),
            bundle: {
              registrationId: bundle.registrationId >>> 0,
              identityKey: bytes(bundle.identityKey),
              signedPreKey: {
                keyId: spk.keyId >>> 0,
                publicKey: bytes(spk.publicKey),
                signature: bytes(spk.signature),
              },
              preKey: bundle.preKey
                ? { keyId: bundle.preKey.keyId >>> 0, publicKey: bytes(bundle.preKey.publicKey) }
                : undefined,
            },
            identity,
            registrationId,
            now: Date.now(),
          })
          const update = { session: { [address]: JSON.parse(out.session) } }
          if (out.identity) update['identity-key'] = { [address]: out.identity }
          await keys.set(update)
        }),
      )
    },

    async encryptGroupMessage({ group, meId, data }) {
      const name = senderKeyName(group, meId)
      return transaction(group, () =>
        queue.run(name, async () => {
          const record = await getOne('sender-key', name)
          const out = call(native.signalGroupEncrypt, name, { name, record: senderKeyIn(record), data })
          await keys.set({ 'sender-key': { [name]: out.record } })
          return { ciphertext: out.data, senderKeyDistributionMessage: out.distribution }
        }),
      )
    },

    async decryptGroupMessage({ group, authorJid, msg }) {
      const name = senderKeyName(group, authorJid)
      return transaction(group, () =>
        queue.run(name, async () => {
          const record = await getOne('sender-key', name)
          const out = call(native.signalGroupDecrypt, name, { name, record: senderKeyIn(record), data: msg })
          await keys.set({ 'sender-key': { [name]: out.record } })
          return out.data
        }),
      )
    },

    async processSenderKeyDistributionMessage({ item, authorJid }) {
      if (!item || !item.groupId) {
        throw withCode(new Error('[ERR_WA_SIGNAL_ARGUMENT] Group ID is required for sender key distribution message'))
      }
      const name = senderKeyName(item.groupId, authorJid)
      return transaction(item.groupId, () =>
        queue.run(name, async () => {
          const record = await getOne('sender-key', name)
          const out = call(native.signalGroupProcessDistribution, name, {
            name,
            record: senderKeyIn(record),
            data: bytes(item.axolotlSenderKeyDistributionMessage),
          })
          await keys.set({ 'sender-key': { [name]: out.record } })
        }),
      )
    },

    async getSenderKeyDistributionMessage({ group, meId }) {
      const name = senderKeyName(group, meId)
      return transaction(group, () =>
        queue.run(name, async () => {
          const record = await getOne('sender-key', name)
          const out = call(native.signalGroupDistribution, name, { name, record: senderKeyIn(record) })
          if (out.record) await keys.set({ 'sender-key': { [name]: out.record } })
          return out.distribution
        }),
      )
    },

    async hasSenderKey({ group, meId }) {
      const name = senderKeyName(group, meId)
      return !!(await getOne('sender-key', name))
    },

    async getSessionInfo(jid) {
      const address = await resolve(toAddress(jid))
      const info = await sessionInfo(address)
      if (!info || !info.baseKey || typeof info.registrationId !== 'number') return null
      return { baseKey: new Uint8Array(info.baseKey), registrationId: info.registrationId }
    },

    async validateSession(jid) {
      try {
        const address = await resolve(toAddress(jid))
        const info = await sessionInfo(address)
        if (!info) return { exists: false, reason: 'no session' }
        if (!info.hasOpenSession) return { exists: false, reason: 'no open session' }
        return { exists: true }
      } catch {
        return { exists: false, reason: 'validation error' }
      }
    },

    async deleteSession(jids) {
      if (!jids.length) return
      const updates = {}
      for (const jid of jids) updates[toAddress(jid)] = null
      return transaction(`delete-${jids.length}-sessions`, () =>
        queue.runAll(Object.keys(updates), () => keys.set({ session: updates })),
      )
    },

    jidToSignalProtocolAddress(jid) {
      return toAddress(jid)
    },

    lidMapping,

    async migrateSession(fromJid, toJid) {
      if (!fromJid || (!isLidUser(toJid) && !isHostedLidUser(toJid))) return { migrated: 0, skipped: 0, total: 0 }
      if (!isPnUser(fromJid) && !isHostedPnUser(fromJid)) return { migrated: 0, skipped: 0, total: 1 }
      const { user, device: fromDevice } = jidDecode(fromJid)
      const stored = (await keys.get('device-list', [user]))?.[user]
      if (!stored) return { migrated: 0, skipped: 0, total: 0 }
      const devices = [...stored]
      const fromDeviceStr = fromDevice?.toString() || '0'
      if (!devices.includes(fromDeviceStr)) devices.push(fromDeviceStr)
      const unchecked = devices.filter((d) => !migrated.has(`${user}.${d}`))
      const existing = (await keys.get('session', unchecked.map((d) => `${user}.${d}`))) || {}
      const deviceJids = []
      for (const [key, value] of Object.entries(existing)) {
        if (!value) continue
        const deviceStr = key.split('.')[1]
        if (!deviceStr) continue
        const n = parseInt(deviceStr)
        deviceJids.push(n === 99 ? `${user}:99@hosted` : n === 0 ? `${user}@s.whatsapp.net` : `${user}:${n}@s.whatsapp.net`)
      }
      const ops = deviceJids.map((jid) => {
        const lidJid = transferDevice(jid, toJid)
        return {
          from: toAddress(jid),
          to: toAddress(lidJid),
          cacheKey: `${user}.${jidDecode(jid).device || 0}`,
        }
      })
      const lidUser = jidDecode(toJid)?.user
      return transaction(`migrate-${deviceJids.length}-sessions-${lidUser}`, () =>
        queue.runAll(
          ops.flatMap((o) => [o.from, o.to]),
          async () => {
            const sessions = (await keys.get('session', [...new Set(ops.map((o) => o.from))])) || {}
            const updates = {}
            let count = 0
            for (const op of ops) {
              const value = sessions[op.from]
              if (!value) continue
              let record
              try {
                record = native.signalSessionRecordToJson(sessionIn(value))
                if (!native.signalSessionInfo(record).hasOpenSession) continue
              } catch {
                log.warn({ addr: op.from }, 'skipping an unreadable session record in migration')
                continue
              }
              updates[op.to] = JSON.parse(record)
              updates[op.from] = null
              count++
            }
            if (count) {
              await keys.set({ session: updates })
              for (const op of ops) if (updates[op.to]) migrated.set(op.cacheKey, true)
            }
            return { migrated: count, skipped: ops.length - count, total: ops.length }
          }),
      )
    },

    close() {
      migrated.clear()
      lidMapping.close()
    },
  }

  // The open session's base key and registration id; null when there is no readable record
  // (Baileys' storage treats an unreadable record as none).
  async function sessionInfo(address) {
    const value = await getOne('session', address)
    if (value == null) return null
    try {
      return native.signalSessionInfo(sessionIn(value))
    } catch {
      return null
    }
  }

  return repository
}

const toJson = coded(native.signalSessionRecordToJson)
const toBinary = coded(native.signalSessionRecordToBinary)
const senderToJson = coded(native.signalSenderKeyRecordToJson)
const senderToBinary = coded(native.signalSenderKeyRecordToBinary)

module.exports = {
  makeLibSignalRepository,
  // Record forms, for stores and migrations: a session record (libsignal-node's object, its
  // JSON text, or the binary form) as libsignal-node's object or as binary; a sender-key
  // record (Baileys' JSON bytes or binary) as Baileys' JSON bytes or as binary.
  sessionRecordToJson: (record) => JSON.parse(toJson(sessionIn(record))),
  sessionRecordToBinary: (record) => toBinary(sessionIn(record)),
  senderKeyRecordToJson: (record) => senderToJson(senderKeyIn(record)),
  senderKeyRecordToBinary: (record) => senderToBinary(senderKeyIn(record)),
}
