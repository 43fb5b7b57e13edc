/* ---- Storage (lib/store.js) ---------------------------------------------------------- */

/** Baileys' encoding of bytes inside JSON: `{"type":"Buffer","data":"<base64>"}`. */
export declare const BufferJSON: {
  replacer: (key: string, value: any) => any
  reviver: (key: string, value: any) => any
}

/** A value an engine keeps: JSON values as themselves, Buffers as Buffers (also nested). */
export type StoreValue = any

/**
 * The storage contract (the seed's Engine). Paths: `session/creds`,
 * `session/signal/{type}/{id}`, `contact/{jid}`, `chat/{jid}`, `chat/{jid}/message/{id}`,
 * `chat/{jid}/message/{id}/content` (bytes), `chat/{jid}/timestamp/{inverted}_{id}`.
 * `get` gives back what `set` stored; `set(path, null)` deletes and resolves `true`;
 * `list` returns the whole paths directly below `prefix`, in key order (byte order).
 * Optional `getMany(paths)` / `setMany(writes)` (all or nothing) save round trips. A
 * JavaScript engine of yours is handed JSON objects only (see docs/storage.md).
 */
export declare class Engine {
  get(path: string): Promise<StoreValue | null | undefined>
  set(path: string, value: StoreValue | null): Promise<boolean | void>
  list(prefix: string, offset?: number, limit?: number): Promise<string[]>
  getMany?(paths: string[]): Promise<Array<StoreValue | null | undefined>>
  setMany?(writes: Array<{ path: string; value: StoreValue | null }>): Promise<boolean | void>
}

declare class NativeBackedEngine extends Engine {
  get(path: string): Promise<StoreValue | null>
  getMany(paths: string[]): Promise<Array<StoreValue | null>>
  set(path: string, value: StoreValue | null): Promise<true>
  setMany(writes: Array<{ path: string; value: StoreValue | null }>): Promise<true>
  /** Default offset 0, limit 50. */
  list(prefix?: string, offset?: number, limit?: number): Promise<string[]>
  /** The stored bytes at `path` (JSON text, or a content's bytes). */
  getRaw(path: string): Promise<Buffer | null>
}

/** Everything in memory. */
export declare class MemoryEngine extends NativeBackedEngine {
  constructor()
}
/**
 * When a write to a file-backed store resolves. `'full'` (default): once its batch is on
 * disk (survives power loss). `'process'`: once it is in the OS cache (survives a crash of
 * the process, not of the machine; synced at the next checkpoint). See docs/storage.md.
 */
export type Durability = 'full' | 'process'
export interface FileStoreOptions {
  durability?: Durability
}
/** One directory per entry (default base `.baileys/default`); atomic writes, files 0600. */
export declare class FileEngine extends NativeBackedEngine {
  constructor(base?: string, options?: FileStoreOptions)
}
/** One SQLite file: WAL, one transaction per batch, schema migrations. */
export declare class SqliteEngine extends NativeBackedEngine {
  constructor(path?: string)
}
export interface PostgresEngineOptions {
  /** This account's key space in the table (default `.baileys/default`). */
  prefix?: string
  pool?: { max?: number }
  /** How long an operation is retried across outages (default 15000 ms). */
  retryMs?: number
  connectTimeoutMs?: number
}
/** PostgreSQL, native (tokio-postgres, pooled; schema migrated on first use). */
export declare class PostgresEngine extends NativeBackedEngine {
  constructor(connectionString: string, options?: PostgresEngineOptions)
}
export interface S3EngineOptions {
  bucket: string
  /** Key prefix of this account (default `.baileys/default`). */
  prefix?: string
  /** Else the AWS environment variables, else the instance role. */
  credentials?: { region?: string; accessKeyId?: string; secretAccessKey?: string; sessionToken?: string }
  /** An S3-compatible endpoint; else `AWS_ENDPOINT_URL_S3`. */
  endpoint?: string
  forcePathStyle?: boolean
  /** How long an operation is retried across outages (default 30000 ms). */
  retryMs?: number
  requestTimeoutMs?: number
}
/** S3 or an S3-compatible server, native (object_store). */
export declare class S3Engine extends NativeBackedEngine {
  constructor(options: S3EngineOptions)
}
/** A Baileys auth folder as an engine (creds and keys in Baileys' files, the rest beside them). */
export declare class BaileysFolderEngine extends NativeBackedEngine {
  constructor(folder: string)
}

/** True for a path whose last segment is `content` (it holds raw bytes). */
export declare function isContentPath(path: string): boolean

export interface CopyReport {
  copied: number
  resumed: boolean
  sourceCount: number
  destinationCount: number
  sourceChecksum: string
  destinationChecksum: string
}
/** Copies every entry of one engine into another: resumable (`state` file), verified by count and checksum. */
export declare function migrate(from: Engine, to: Engine, options?: { state?: string; batch?: number; timeoutMs?: number }): Promise<CopyReport>
/** Count and checksum of every entry of an engine. */
export declare function engineChecksum(engine: Engine, options?: BridgeOptions): Promise<{ count: number; checksum: string }>

export interface EngineTestReport {
  passed: number
  failed: number
  cases: Array<{ name: string; ok: boolean; error?: unknown }>
}
/** The engine conformance suite: runs every case on fresh engines from `make`. */
export declare function testEngine(
  make: () => Engine | Promise<Engine>,
  options?: BridgeOptions & { pair?: () => [Engine, Engine] | Promise<[Engine, Engine]> },
): Promise<EngineTestReport>

export interface BridgeOptions {
  /** How long Rust waits for a JavaScript engine or auth state (default 30000 ms). */
  timeoutMs?: number
}

/** Runs any engine through Rust (a JavaScript engine is then called back with a timeout and batch rollback). */
export declare function bridgeEngine(engine: Engine, options?: BridgeOptions): NativeBackedEngine

export interface Page {
  offset?: number
  limit?: number
}

/** Typed access: `contact(jid)` reads, `contact(jid, value)` writes, `contact(jid, null)` deletes. */
export declare class Store {
  constructor(engine?: Engine, options?: BridgeOptions)
  readonly engine: Engine
  creds(): Promise<any | null>
  creds(value: any): Promise<boolean>
  contact(jid: string): Promise<any | null>
  contact(jid: string, value: any | null): Promise<boolean>
  chat(jid: string): Promise<any | null>
  chat(jid: string, value: any | null): Promise<boolean>
  message(jid: string, id: string): Promise<any | null>
  message(jid: string, id: string, value: any | null): Promise<boolean>
  content(jid: string, id: string): Promise<Buffer | null>
  content(jid: string, id: string, value: Buffer | Uint8Array | string | null): Promise<void>
  contacts(page?: Page): Promise<Array<{ id: string; value: any }>>
  chats(page?: Page): Promise<Array<{ id: string; value: any }>>
  /** Newest first (by messageTimestamp). */
  messages(jid: string, page?: Page): Promise<Array<{ id: string; value: any }>>
  /** Contacts, chats and messages in one batched write (merged with concurrent writes). */
  write(batch: {
    contacts?: Array<{ id: string; [k: string]: any }>
    chats?: Array<{ id: string; [k: string]: any }>
    messages?: Array<{ message: any; content?: Uint8Array; jid?: string; id?: string }>
  }): Promise<void>
  keys(): KeyStore
}

export type SignalDataType =
  | 'pre-key' | 'session' | 'sender-key' | 'sender-key-memory' | 'app-state-sync-key'
  | 'app-state-sync-version' | 'lid-mapping' | 'device-list' | 'tctoken' | 'identity-key' | 'inbox'
export type SignalDataSet = { [T in SignalDataType]?: { [id: string]: any | null } }

/** One unit of key work: `prefetch` reads once, `commit` writes once. */
export declare class KeyTransaction {
  prefetch(wanted: { [T in SignalDataType]?: string[] }): Promise<void>
  get(type: SignalDataType, ids: string[]): Promise<{ [id: string]: any }>
  set(data: SignalDataSet): Promise<void>
  commit(): Promise<void>
}

/** Baileys' SignalKeyStore kept by Rust (cached, pre-keys bounded, atomic set). */
export declare class KeyStore {
  static fromEngine(engine: Engine, options?: BridgeOptions): KeyStore
  static fromAuthState(keys: { get(type: string, ids: string[]): any; set(data: any): any }, options?: BridgeOptions): KeyStore
  get(type: SignalDataType, ids: string[]): Promise<{ [id: string]: any }>
  set(data: SignalDataSet): Promise<void>
  transaction(): KeyTransaction
}

export interface AuthState {
  state: {
    creds: any
    keys: {
      get(type: SignalDataType, ids: string[]): Promise<{ [id: string]: any }>
      set(data: SignalDataSet): Promise<void>
    }
  }
  saveCreds(): Promise<void>
}

/** Fresh credentials with every field of Baileys' `AuthenticationCreds`. */
export declare function initAuthCreds(): any
/** Baileys' `useMultiFileAuthState`, same files, atomic writes. */
export declare function useMultiFileAuthState(folder: string, options?: FileStoreOptions): Promise<AuthState>
/** One account's auth state in any engine: creds at `session/creds`, keys at `session/signal/...`. */
export declare function useEngineAuthState(engine: Engine | Store, options?: BridgeOptions): Promise<AuthState>
/** The earlier name of {@link useEngineAuthState}. */
export declare function useStoreAuthState(engine: Engine | Store, options?: BridgeOptions): Promise<AuthState>

export interface MigrationResult {
  creds: boolean
  keys: number
  byType: { [type: string]: number }
  skipped: string[]
}
/** Copies a Baileys auth folder into an engine in one atomic batch. */
export declare function migrateAuthFolderToEngine(folder: string, engine: Engine, options?: BridgeOptions): Promise<MigrationResult>
/** Writes the account in an engine out as a Baileys auth folder. */
export declare function migrateEngineToAuthFolder(engine: Engine, folder: string, options?: BridgeOptions): Promise<MigrationResult>
