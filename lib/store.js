'use strict'
// Storage: engines (native and JavaScript), the typed Store, Signal key stores, Baileys'
// auth folders (useMultiFileAuthState), BufferJSON, initAuthCreds and migrations.
// The design and the path convention are in docs/storage.md.
const native = require('../native.js')

const kNative = Symbol.for('baileys-native.store.native')
const kEngine = Symbol('engine')
const DEFAULT_TIMEOUT_MS = 30_000

// ------------------------------------------------------------------------- BufferJSON
const { BufferJSON, reviveBuffers } = require('./buffer-json.js')

const encode = (value) => JSON.stringify(value, BufferJSON.replacer)
const decode = (text) => (text == null ? null : reviveBuffers(JSON.parse(text)))

function storeError(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

// Native rejections already carry our code (the addon sets it); kept as the one place
// native promises pass through.
const call = (promise) => promise

function toBuffer(value, what) {
  if (value === null || value === undefined) return null
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  throw storeError('ERR_WA_STORE_ENGINE_RESULT', `${what}: expected a Buffer, Uint8Array, string or null, got ${typeof value}`)
}

// ------------------------------------------------------------------------- Values
// The seed's value contract: get(path) gives back what set(path, value) stored: JSON values
// as themselves, Buffers as Buffers (also inside objects). Engines keep bytes: at a content
// path (last segment `content`) the raw bytes of a Buffer; anywhere else JSON text, bytes
// inside it as {"type":"Buffer","data":"<base64>"} (what Baileys' BufferJSON writes).
const CONTENT_SEGMENT = 'content'

function isContentPath(path) {
  return typeof path === 'string' && (path === CONTENT_SEGMENT || path.endsWith('/' + CONTENT_SEGMENT))
}

function asBuffer(v) {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}

// JSON.stringify replacer: bytes (a Buffer, any Uint8Array, Node's {type:'Buffer',data:[..]})
// become {type:'Buffer',data:'<base64>'}; an object already in that form is kept as it is.
// `this[key]` is the value before Buffer#toJSON turned it into an array of numbers.
function valueReplacer(key, value) {
  const original = this[key]
  if (original instanceof Uint8Array) return { type: 'Buffer', data: asBuffer(original).toString('base64') }
  if (value !== null && typeof value === 'object' && value.type === 'Buffer') {
    if (typeof value.data === 'string') return { type: 'Buffer', data: value.data }
    if (Array.isArray(value.data)) return { type: 'Buffer', data: Buffer.from(value.data).toString('base64') }
  }
  if (typeof value === 'bigint') throw storeError('ERR_WA_STORE_BAD_VALUE', `a BigInt (at ${JSON.stringify(key)}) is not a JSON value`)
  return value
}

// Only the {type:'Buffer', data} form is bytes: a plain object with numeric keys stays an
// object (unlike Baileys' reviver), so JSON values come back as themselves.
function valueReviver(_key, value) {
  if (value !== null && typeof value === 'object' && value.type === 'Buffer') {
    if (typeof value.data === 'string') return Buffer.from(value.data, 'base64')
    if (Array.isArray(value.data)) return Buffer.from(value.data)
  }
  return value
}

function bytesOf(value) {
  if (value instanceof Uint8Array) return asBuffer(value)
  if (value !== null && typeof value === 'object' && value.type === 'Buffer') {
    if (typeof value.data === 'string') return Buffer.from(value.data, 'base64')
    if (Array.isArray(value.data)) return Buffer.from(value.data)
  }
  return null
}

/** The bytes an engine stores for `value` at `path` (null deletes). */
function encodeValue(path, value, what = 'set') {
  if (value === null) return null
  if (isContentPath(path)) {
    const bytes = bytesOf(value)
    if (!bytes) {
      throw storeError('ERR_WA_STORE_BAD_VALUE', `${what}(${JSON.stringify(path)}): a content path holds a Buffer, not ${typeof value}`)
    }
    return bytes
  }
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw storeError('ERR_WA_STORE_BAD_VALUE', `${what}(${JSON.stringify(path)}): ${typeof value} is not a value (null deletes)`)
  }
  return Buffer.from(JSON.stringify(value, valueReplacer), 'utf8')
}

/** The value stored as `bytes` at `path`. */
function decodeValue(path, bytes) {
  if (bytes === null || bytes === undefined) return null
  if (isContentPath(path)) return bytes
  try {
    return JSON.parse(bytes.toString('utf8'), valueReviver)
  } catch (err) {
    throw storeError('ERR_WA_STORE_CORRUPT', `value at ${JSON.stringify(path)} is not JSON: ${err.message}`)
  }
}

// What a JavaScript engine of the user is handed, and may give back: a JSON object, always
// (so a Postgres jsonb column, a document store, a JSON file, a Map or a Redis string all
// hold it as it is). Bytes are Baileys' {type:'Buffer',data:'<base64>'}, also at content
// paths; any other value that is not an object (a string, number, boolean or array, as
// Baileys' lid-mapping and device-list keys are) travels as {type:'Value',value:<it>}.
function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function storedToEngine(path, bytes) {
  if (bytes === null || bytes === undefined) return null
  if (isContentPath(path)) return { type: 'Buffer', data: bytes.toString('base64') }
  const v = JSON.parse(bytes.toString('utf8'))
  return isPlainObject(v) ? v : { type: 'Value', value: v }
}

function engineToStored(path, value, what) {
  if (value === null || value === undefined) return null
  if (isContentPath(path)) {
    const bytes = bytesOf(value)
    if (!bytes) {
      throw storeError('ERR_WA_STORE_ENGINE_RESULT', `${what}: a content path must hold bytes, got ${typeof value}`)
    }
    return bytes
  }
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw storeError('ERR_WA_STORE_ENGINE_RESULT', `${what}: ${typeof value} is not a value`)
  }
  if (isPlainObject(value) && value.type === 'Value' && 'value' in value && Object.keys(value).length === 2) {
    return Buffer.from(JSON.stringify(value.value, valueReplacer), 'utf8')
  }
  return Buffer.from(JSON.stringify(value, valueReplacer), 'utf8')
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
 * The storage contract (the seed's Engine). Extend it, or pass any object with the same
 * methods:
 *   get(path) -> the value set there, or null
 *   set(path, value | null) -> true (null deletes)
 *   list(prefix, offset = 0, limit = 50) -> full paths of the entries directly below
 *     prefix, in key order (byte order of the paths)
 * Optional: getMany(paths), setMany([{ path, value }]) (all writes or none) when the
 * backend can do them in one round trip. Our engines hand yours JSON-safe values (bytes
 * as {type:'Buffer',data:'<base64>'}); see docs/storage.md.
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

const DEFAULT_LIST_LIMIT = 50

function pageArg(n, name, dflt) {
  if (n === undefined || n === null) return dflt
  if (!Number.isInteger(n) || n < 0) throw storeError('ERR_WA_STORE_BAD_VALUE', `${name} must be a whole number >= 0, not ${n}`)
  return Math.min(n, 0xffffffff)
}

// An Engine whose work is done in Rust. Values cross as bytes: content as the Buffer
// itself, everything else as JSON text (parsed and built here, by V8).
class NativeBackedEngine extends Engine {
  constructor(handle) {
    super()
    Object.defineProperty(this, kNative, { value: handle })
  }

  async get(path) {
    return decodeValue(path, await call(this[kNative].get(path)))
  }

  async getMany(paths) {
    const got = await call(this[kNative].getMany(paths))
    return got.map((b, i) => decodeValue(paths[i], b))
  }

  async set(path, value) {
    await call(this[kNative].set(path, encodeValue(path, value)))
    return true
  }

  async setMany(writes) {
    const values = writes.map((w) => encodeValue(w.path, w.value, 'setMany'))
    await call(this[kNative].setMany(writes.map((w) => w.path), values))
    return true
  }

  async list(prefix = '', offset = 0, limit = DEFAULT_LIST_LIMIT) {
    return call(this[kNative].list(prefix, pageArg(offset, 'offset', 0), pageArg(limit, 'limit', DEFAULT_LIST_LIMIT)))
  }

  /** The stored bytes at `path` (JSON text or content), for copies and checksums. */
  getRaw(path) {
    return call(this[kNative].get(path))
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

function nativeFactory(make) {
  return make()
}

const POSTGRES_OPTIONS = new Set(['prefix', 'pool', 'retryMs', 'connectTimeoutMs'])
const S3_OPTIONS = new Set(['bucket', 'prefix', 'credentials', 'endpoint', 'forcePathStyle', 'retryMs', 'requestTimeoutMs'])
const S3_CREDENTIALS = new Set(['region', 'accessKeyId', 'secretAccessKey', 'sessionToken'])

function refuseUnknown(options, known, what) {
  for (const k of Object.keys(options ?? {})) {
    if (!known.has(k)) throw storeError('ERR_WA_STORE_BAD_OPTION', `${what}: unknown option ${JSON.stringify(k)}`)
  }
}

/**
 * PostgreSQL, native (tokio-postgres with a pool): new PostgresEngine(connectionString,
 * { prefix = '.baileys/default', pool: { max = 8 }, retryMs = 15000, connectTimeoutMs = 5000 }).
 * The schema is created and migrated on first use; accounts sharing a database are
 * separated by `prefix`. See docs/storage.md.
 */
class PostgresEngine extends NativeBackedEngine {
  constructor(connectionString, options = {}) {
    if (typeof connectionString !== 'string') throw storeError('ERR_WA_STORE_BAD_OPTION', 'PostgresEngine needs a connection string')
    refuseUnknown(options, POSTGRES_OPTIONS, 'PostgresEngine')
    const pool = options.pool ?? {}
    refuseUnknown(pool, new Set(['max']), 'PostgresEngine pool')
    super(nativeFactory(() => native.NativeEngine.postgres(connectionString, {
      prefix: options.prefix,
      poolMax: pool.max,
      retryMs: options.retryMs,
      connectTimeoutMs: options.connectTimeoutMs,
    })))
  }
}

/**
 * S3 or an S3-compatible server, native: new S3Engine({ bucket, prefix = '.baileys/default',
 * credentials?: { region, accessKeyId, secretAccessKey, sessionToken }, endpoint?,
 * forcePathStyle?, retryMs = 30000, requestTimeoutMs = 10000 }). Without credentials: the
 * AWS environment variables, then the instance role. AWS_ENDPOINT_URL_S3 is honoured.
 */
class S3Engine extends NativeBackedEngine {
  constructor(options = {}) {
    refuseUnknown(options, S3_OPTIONS, 'S3Engine')
    refuseUnknown(options.credentials, S3_CREDENTIALS, 'S3Engine credentials')
    if (typeof options.bucket !== 'string' || !options.bucket) throw storeError('ERR_WA_STORE_BAD_OPTION', 'S3Engine needs a bucket')
    super(nativeFactory(() => native.NativeEngine.s3(options)))
  }
}

/**
 * A Baileys auth folder as an engine: creds and keys in Baileys' own files (Baileys reads
 * them), contacts/chats/messages beside them in `.baileys-native/store`.
 */
class BaileysFolderEngine extends NativeBackedEngine {
  constructor(folder) {
    super(nativeFactory(() => native.NativeEngine.baileysFolder(folder)))
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
        return { values: values.map((v, i) => engineToStored(req.paths[i], v, `get(${JSON.stringify(req.paths[i])})`)) }
      }
      if (req.op === 'set') {
        const values = req.values.map((b, i) => storedToEngine(req.paths[i], b))
        await applyBatch(engine, req.paths, values, req.deadline)
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
    const text = await call(this[kNative].getJson(kind, jid, id))
    return text == null ? null : JSON.parse(text, valueReviver)
  }

  async #set(kind, jid, id, value) {
    await call(this[kNative].setJson(kind, jid, id, value == null ? null : JSON.stringify(value, valueReplacer)))
    return true
  }

  async #list(kind, jid, { offset = 0, limit = DEFAULT_LIST_LIMIT } = {}) {
    const rows = await call(this[kNative].listJson(kind, jid, pageArg(offset, 'offset', 0), pageArg(limit, 'limit', DEFAULT_LIST_LIMIT)))
    return rows.map((r) => ({ id: r.id, value: JSON.parse(r.json, valueReviver) }))
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
    if (!value.length) return call(this[kNative].content(jid, id))
    return call(this[kNative].setContent(jid, id, toBuffer(value[0], 'content')))
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

  /**
   * Writes contacts, chats and messages together, merged with concurrent writes into few
   * engine round trips: { contacts: [{ id, ...contact }], chats: [{ id, ...chat }],
   * messages: [{ message: WAMessage, content?: Buffer, fresh?: boolean }] }. A message's
   * chat is its key.remoteJid and its id key.id; `fresh: true` says no earlier version is
   * stored (saves reading it). Resolves once stored.
   */
  async write({ contacts = [], chats = [], messages = [] } = {}) {
    const contents = []
    const body = {
      contacts: contacts.map((c) => (Array.isArray(c) ? c : [c.id, c])),
      chats: chats.map((c) => (Array.isArray(c) ? c : [c.id, c])),
      messages: messages.map(({ message, content, jid, id, fresh }) => {
        const m = {
          jid: jid ?? message?.key?.remoteJid,
          id: id ?? message?.key?.id,
          message,
        }
        if (fresh === true) m.fresh = true
        if (content != null) {
          m.content = contents.length
          contents.push(asBuffer(content))
        }
        return m
      }),
    }
    await call(this[kNative].write(JSON.stringify(body, valueReplacer), contents))
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

  /** A Baileys-style `keys` object ({ get(type, ids), set(data) }) as a Rust key store. */
  static fromAuthState(keys, { timeoutMs = DEFAULT_TIMEOUT_MS, cache = true } = {}) {
    if (keys?.[kNative]) return new KeyStore(keys[kNative])
    if (typeof keys?.get !== 'function' || typeof keys?.set !== 'function') {
      throw storeError('ERR_WA_STORE_BAD_ENGINE', 'an auth state needs keys.get(type, ids) and keys.set(data)')
    }
    return new KeyStore(native.NativeKeys.fromJs(keysDispatcher(keys), timeoutMs, cache))
  }

  async get(type, ids) {
    const found = decode(await call(this[kNative].get(type, ids)))
    if (this.nullForMissing) for (const id of ids) if (!(id in found)) found[id] = null
    return found
  }

  async set(data) {
    await call(this[kNative].set(encode(data)))
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
    return call(this.handle.prefetch(JSON.stringify(Object.entries(wanted))))
  }

  async get(type, ids) {
    return decode(await call(this.handle.get(type, ids)))
  }

  set(data) {
    return call(this.handle.set(encode(data)))
  }

  commit() {
    return call(this.handle.commit())
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
  const creds = decode(await call(handle.readCreds())) || initAuthCreds()
  const keys = new KeyStore(handle.keys(), { nullForMissing: true })
  return {
    state: { creds, keys: authKeys(keys) },
    saveCreds: () => call(handle.writeCreds(encode(creds))),
  }
}

/**
 * One account's auth state ({ state, saveCreds }) in any engine: creds at session/creds,
 * Signal keys at session/signal/{type}/{id}. Two accounts in one database or bucket are
 * two engines with different prefixes. (useStoreAuthState is the same function.)
 */
async function useEngineAuthState(engine, options) {
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

const useStoreAuthState = useEngineAuthState

// ---------------------------------------------------------------------- Migrations

/**
 * Copies every entry of one engine into another (any two: a Baileys folder through
 * BaileysFolderEngine, FileEngine, SqliteEngine, PostgresEngine, S3Engine, your own
 * engine), reading the source only. options.state: a file recording progress, so an
 * interrupted migration resumes; options.batch: entries per batch (500). Verified by count
 * and checksum (ERR_WA_STORE_MIGRATION_MISMATCH otherwise).
 */
async function migrate(from, to, { state, batch, timeoutMs } = {}) {
  const src = nativeEngine(from, { timeoutMs })
  const dst = nativeEngine(to, { timeoutMs })
  return call(src.copyTo(dst).run(batch, state))
}

/** Count and SHA-256 checksum of every entry of an engine (what migrate verifies). */
function engineChecksum(engine, options) {
  return call(nativeEngine(engine, options).checksum())
}

/** Copies a Baileys auth folder into an engine (one atomic batch; a corrupt file fails it). */
async function migrateAuthFolderToEngine(folder, engine, options) {
  const r = await call(nativeEngine(engine, options).importAuthFolder(folder))
  return { ...r, byType: JSON.parse(r.byType) }
}

/** Writes the account kept in an engine out as a Baileys auth folder. */
async function migrateEngineToAuthFolder(engine, folder, options) {
  const r = await call(nativeEngine(engine, options).exportAuthFolder(folder))
  return { ...r, byType: JSON.parse(r.byType) }
}

/**
 * The engine conformance suite (lib/store-conformance.js): runs every case on fresh
 * engines from `make` and reports { passed, failed, cases }.
 */
function testEngine(make, options) {
  return require('./store-conformance.js').testEngine(make, options)
}

module.exports = {
  BufferJSON,
  Engine,
  MemoryEngine,
  FileEngine,
  SqliteEngine,
  PostgresEngine,
  S3Engine,
  BaileysFolderEngine,
  migrate,
  engineChecksum,
  useEngineAuthState,
  isContentPath,
  testEngine,
  Store,
  KeyStore,
  bridgeEngine,
  initAuthCreds,
  useMultiFileAuthState,
  useStoreAuthState,
  migrateAuthFolderToEngine,
  migrateEngineToAuthFolder,
}
