'use strict'
// Storage: engines (native and JavaScript), the typed Store, Signal key stores, Baileys'
// auth folders (useMultiFileAuthState), BufferJSON, initAuthCreds and migrations.
// The design and the path convention are in docs/storage.md.
const native = require('../native.js')

const kNative = Symbol.for('baileys-native.store.native')
const kEngine = Symbol('engine')
const DEFAULT_TIMEOUT_MS = 30_000

// ------------------------------------------------------------------------- BufferJSON
// Baileys' encoding of bytes inside JSON: {"type":"Buffer","data":"<base64>"}.
const BufferJSON = {
  replacer(_key, value) {
    if (Buffer.isBuffer(value) || value instanceof Uint8Array || value?.type === 'Buffer') {
      return { type: 'Buffer', data: Buffer.from(value?.data || value).toString('base64') }
    }
    return value
  },
  reviver(_key, value) {
    if (typeof value === 'object' && value !== null && value.type === 'Buffer' && typeof value.data === 'string') {
      return Buffer.from(value.data, 'base64')
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const keys = Object.keys(value)
      if (keys.length > 0 && keys.every((k) => !isNaN(parseInt(k, 10)))) {
        const values = Object.values(value)
        if (values.every((v) => typeof v === 'number')) return Buffer.from(values)
      }
    }
    return value
  },
}

const encode = (value) => JSON.stringify(value, BufferJSON.replacer)
const decode = (text) => (text == null ? null : JSON.parse(text, BufferJSON.reviver))

function storeError(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

function toBuffer(value, what) {
  if (value === null || value === undefined) return null
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  throw storeError('ERR_WA_STORE_ENGINE_RESULT', `${what}: expected a Buffer, Uint8Array, string or null, got ${typeof value}`)
}

function failure(err) {
  return { error: String(err?.message ?? err), errorCode: typeof err?.code === 'string' ? err.code : undefined }
}

// The `durability` option of the file-backed stores: 'full' (default) or 'process'.
function durabilityOf(options) {
  const d = options?.durability
  if (d === undefined || d === null) return undefined
  if (d !== 'full' && d !== 'process') {
    throw storeError('ERR_WA_STORE_BAD_VALUE', `durability must be 'full' or 'process', not ${JSON.stringify(d)}`)
  }
  return d
}

// ---------------------------------------------------------------------------- Engines

/**
 * The storage contract. Extend it (or pass any object with the same methods):
 * get(path) -> Buffer | null, set(path, Buffer | null), list(prefix, offset, limit) ->
 * full paths of the entries directly below prefix, newest created first.
 * Optional: getMany(paths), setMany([{ path, value }]) when the backend can do them in one
 * round trip; setMany must apply all writes or none.
 */
class Engine {
  async get(_path) {
    throw storeError('ERR_WA_STORE_NOT_IMPLEMENTED', `${this.constructor.name}.get is not implemented`)
  }

  async set(_path, _value) {
    throw storeError('ERR_WA_STORE_NOT_IMPLEMENTED', `${this.constructor.name}.set is not implemented`)
  }

  async list(_prefix, _offset, _limit) {
    throw storeError('ERR_WA_STORE_NOT_IMPLEMENTED', `${this.constructor.name}.list is not implemented`)
  }
}

// An Engine whose work is done in Rust.
class NativeBackedEngine extends Engine {
  constructor(handle) {
    super()
    Object.defineProperty(this, kNative, { value: handle })
  }

  get(path) {
    return this[kNative].get(path)
  }

  getMany(paths) {
    return this[kNative].getMany(paths)
  }

  set(path, value) {
    return this[kNative].set(path, toBuffer(value, 'set'))
  }

  setMany(writes) {
    return this[kNative].setMany(writes.map((w) => w.path), writes.map((w) => toBuffer(w.value, 'setMany')))
  }

  list(prefix = '', offset = 0, limit = 100) {
    return this[kNative].list(prefix, offset, limit)
  }
}

/** Everything in memory. */
class MemoryEngine extends NativeBackedEngine {
  constructor() {
    super(native.NativeEngine.memory())
  }
}

/**
 * One directory per entry under `base` (default `.baileys/default`); atomic writes, 0600
 * files. options.durability: 'full' (default) or 'process' (see docs/storage.md).
 */
class FileEngine extends NativeBackedEngine {
  constructor(base = '.baileys/default', options = {}) {
    let handle
    handle = native.NativeEngine.file(base, durabilityOf(options))
    super(handle)
  }
}

/** One SQLite database file (WAL, one transaction per batch). */
class SqliteEngine extends NativeBackedEngine {
  constructor(path = '.baileys/default.db') {
    let handle
    handle = native.NativeEngine.sqlite(path)
    super(handle)
  }
}

// Applies a batch on an engine without setMany: in order, undoing what was done when a
// write fails or the deadline passes (Rust gave up waiting), so nothing stays half-written.
async function applyBatch(engine, paths, values, deadline) {
  if (typeof engine.setMany === 'function') {
    await engine.setMany(paths.map((path, i) => ({ path, value: values[i] })))
    return
  }
  if (paths.length === 1) {
    await engine.set(paths[0], values[0])
    return
  }
  const previous = await Promise.all(paths.map((p) => engine.get(p)))
  const done = []
  try {
    for (let i = 0; i < paths.length; i++) {
      if (Date.now() > deadline) throw storeError('ERR_WA_STORE_TIMEOUT', 'batch passed its deadline')
      await engine.set(paths[i], values[i])
      done.push(i)
    }
    if (Date.now() > deadline) throw storeError('ERR_WA_STORE_TIMEOUT', 'batch finished after its deadline')
  } catch (err) {
    for (const i of done.reverse()) {
      try {
        await engine.set(paths[i], previous[i] ?? null)
      } catch {
        // The engine fails its own undo: nothing more can be done here; the error below
        // tells the caller the batch failed.
      }
    }
    throw err
  }
}

function engineDispatcher(engine) {
  return async function dispatch(req) {
    try {
      if (req.op === 'get') {
        const values =
          typeof engine.getMany === 'function'
            ? await engine.getMany(req.paths)
            : await Promise.all(req.paths.map((p) => engine.get(p)))
        if (!Array.isArray(values) || values.length !== req.paths.length) {
          throw storeError('ERR_WA_STORE_ENGINE_RESULT', 'getMany must return one value per path')
        }
        return { values: values.map((v, i) => toBuffer(v, `get(${JSON.stringify(req.paths[i])})`)) }
      }
      if (req.op === 'set') {
        await applyBatch(engine, req.paths, req.values, req.deadline)
        return {}
      }
      if (req.op === 'list') {
        const paths = await engine.list(req.prefix, req.offset, req.limit)
        if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
          throw storeError('ERR_WA_STORE_ENGINE_RESULT', 'list must return an array of path strings')
        }
        return { paths }
      }
      throw new Error(`unknown operation ${req.op}`)
    } catch (err) {
      return failure(err)
    }
  }
}

// The native handle for any engine: ours directly, a JavaScript one through the bridge.
function nativeEngine(engine, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  if (engine?.[kNative]) return engine[kNative]
  for (const m of ['get', 'set', 'list']) {
    if (typeof engine?.[m] !== 'function') {
      throw storeError('ERR_WA_STORE_BAD_ENGINE', `an engine needs get/set/list methods (missing ${m})`)
    }
  }
  return native.NativeEngine.fromJs(engineDispatcher(engine), timeoutMs)
}

/**
 * Wraps any engine (ours or a JavaScript object) so Rust does the work: a JavaScript engine
 * is then called back from Rust with a timeout, and batches are applied with rollback.
 */
function bridgeEngine(engine, options) {
  return new NativeBackedEngine(nativeEngine(engine, options))
}

// -------------------------------------------------------------------------- The Store

/**
 * Typed access to an account's data on an engine. `contact(jid)` reads, `contact(jid, v)`
 * writes, `contact(jid, null)` deletes; the same for chat and message; content() holds a
 * message's raw bytes next to its JSON. contacts()/chats()/messages() list newest first.
 */
class Store {
  constructor(engine = new FileEngine(), options) {
    this.engine = engine
    const handle = nativeEngine(engine, options)
    Object.defineProperty(this, kEngine, { value: handle })
    Object.defineProperty(this, kNative, { value: new native.NativeStore(handle) })
  }

  async #get(kind, jid, id) {
    return decode(await this[kNative].getJson(kind, jid, id))
  }

  async #set(kind, jid, id, value) {
    await this[kNative].setJson(kind, jid, id, value == null ? null : encode(value))
  }

  async #list(kind, jid, { offset = 0, limit = 100 } = {}) {
    const rows = await this[kNative].listJson(kind, jid, offset, limit)
    return rows.map((r) => ({ id: r.id, value: decode(r.json) }))
  }

  creds(...value) {
    return value.length ? this.#set('creds', '', null, value[0]) : this.#get('creds', '', null)
  }

  contact(jid, ...value) {
    return value.length ? this.#set('contact', jid, null, value[0]) : this.#get('contact', jid, null)
  }

  chat(jid, ...value) {
    return value.length ? this.#set('chat', jid, null, value[0]) : this.#get('chat', jid, null)
  }

  message(jid, id, ...value) {
    return value.length ? this.#set('message', jid, id, value[0]) : this.#get('message', jid, id)
  }

  content(jid, id, ...value) {
    if (!value.length) return this[kNative].content(jid, id)
    return this[kNative].setContent(jid, id, toBuffer(value[0], 'content'))
  }

  contacts(page) {
    return this.#list('contact', null, page)
  }

  chats(page) {
    return this.#list('chat', null, page)
  }

  messages(jid, page) {
    return this.#list('message', jid, page)
  }

  /** The Signal key store of this account (cached, transactional). */
  keys() {
    return new KeyStore(native.NativeKeys.fromEngine(this[kEngine]))
  }
}

// ---------------------------------------------------------------------- Signal keys

/**
 * Baileys' SignalKeyStore over a Rust key store: get(type, ids), set(data), plus
 * transaction() for work that should read once and write once.
 */
class KeyStore {
  constructor(handle, { nullForMissing = false } = {}) {
    Object.defineProperty(this, kNative, { value: handle })
    this.nullForMissing = nullForMissing
  }

  static fromEngine(engine, options) {
    return new KeyStore(native.NativeKeys.fromEngine(nativeEngine(engine, options)))
  }

  /**
   * A Baileys-style `keys` object ({ get(type, ids), set(data) }) as a Rust key store.
   * `cache: false` leaves out the read cache, for a store that others write to as well.
   */
  static fromAuthState(keys, { timeoutMs = DEFAULT_TIMEOUT_MS, cache = true } = {}) {
    if (keys?.[kNative]) return new KeyStore(keys[kNative])
    if (typeof keys?.get !== 'function' || typeof keys?.set !== 'function') {
      throw storeError('ERR_WA_STORE_BAD_ENGINE', 'an auth state needs keys.get(type, ids) and keys.set(data)')
    }
    return new KeyStore(native.NativeKeys.fromJs(keysDispatcher(keys), timeoutMs, cache))
  }

  async get(type, ids) {
    const found = decode(await this[kNative].get(type, ids))
    if (this.nullForMissing) for (const id of ids) if (!(id in found)) found[id] = null
    return found
  }

  async set(data) {
    await this[kNative].set(encode(data))
  }

  transaction() {
    return new KeyTransaction(this[kNative].transaction())
  }
}

class KeyTransaction {
  constructor(handle) {
    this.handle = handle
  }

  /** Fetches { type: ids } in one read of the underlying store. */
  prefetch(wanted) {
    return this.handle.prefetch(JSON.stringify(Object.entries(wanted)))
  }

  async get(type, ids) {
    return decode(await this.handle.get(type, ids))
  }

  set(data) {
    return this.handle.set(encode(data))
  }

  commit() {
    return this.handle.commit()
  }
}

function keysDispatcher(keys) {
  return async function dispatch(req) {
    try {
      if (req.op === 'get') {
        const wanted = JSON.parse(req.json)
        const found = await Promise.all(wanted.map(([type, ids]) => keys.get(type, ids)))
        if (!found.every((m) => m && typeof m === 'object')) {
          throw storeError('ERR_WA_STORE_ENGINE_RESULT', 'keys.get must return an object of id -> value')
        }
        return { json: encode(found) }
      }
      if (req.op === 'set') {
        await keys.set(decode(req.json))
        return {}
      }
      throw new Error(`unknown operation ${req.op}`)
    } catch (err) {
      return failure(err)
    }
  }
}

// ------------------------------------------------------------------ Auth states

/** Fresh credentials with Baileys' fields and semantics (keys made in Rust). */
function initAuthCreds() {
  return decode(native.initAuthCredsJson())
}

/**
 * Baileys' useMultiFileAuthState, same files and encoding (a folder from Baileys opens
 * here and the other way round), with atomic writes and all-or-nothing key batches.
 * options.durability: 'full' (default) or 'process' (see docs/storage.md).
 */
async function useMultiFileAuthState(folder, options = {}) {
  let handle
  handle = new native.NativeAuthFolder(folder, durabilityOf(options))
  const creds = decode(await handle.readCreds()) || initAuthCreds()
  const keys = new KeyStore(handle.keys(), { nullForMissing: true })
  return {
    state: { creds, keys: authKeys(keys) },
    saveCreds: () => handle.writeCreds(encode(creds)),
  }
}

/** An auth state ({ state, saveCreds }) kept in any engine (SQLite, files, your own). */
async function useStoreAuthState(engine, options) {
  const store = engine instanceof Store ? engine : new Store(engine, options)
  const creds = (await store.creds()) || initAuthCreds()
  const keys = store.keys()
  return {
    state: { creds, keys: authKeys(keys) },
    saveCreds: () => store.creds(creds),
  }
}

// The plain { get, set } object Baileys expects, still recognisable as ours. No
// `transaction` here: Baileys' callers treat `keys.transaction(work, key)` as "run work in a
// transaction"; ours is KeyStore#transaction() and stays on the KeyStore.
function authKeys(keyStore) {
  const keys = {
    get: (type, ids) => keyStore.get(type, ids),
    set: (data) => keyStore.set(data),
  }
  Object.defineProperty(keys, kNative, { value: keyStore[kNative] })
  return keys
}

// ---------------------------------------------------------------------- Migrations

/** Copies a Baileys auth folder into an engine (one atomic batch; a corrupt file fails it). */
async function migrateAuthFolderToEngine(folder, engine, options) {
  const r = await nativeEngine(engine, options).importAuthFolder(folder)
  return { ...r, byType: JSON.parse(r.byType) }
}

/** Writes the account kept in an engine out as a Baileys auth folder. */
async function migrateEngineToAuthFolder(engine, folder, options) {
  const r = await nativeEngine(engine, options).exportAuthFolder(folder)
  return { ...r, byType: JSON.parse(r.byType) }
}

module.exports = {
  BufferJSON,
  Engine,
  MemoryEngine,
  FileEngine,
  SqliteEngine,
  Store,
  KeyStore,
  bridgeEngine,
  initAuthCreds,
  useMultiFileAuthState,
  useStoreAuthState,
  migrateAuthFolderToEngine,
  migrateEngineToAuthFolder,
}
