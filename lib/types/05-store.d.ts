/* ---- Storage (lib/store.js) ---------------------------------------------------------- */

/** Baileys' encoding of bytes inside JSON: `{"type":"Buffer","data":"<base64>"}`. */
export declare const BufferJSON: {
  replacer: (key: string, value: any) => any
  reviver: (key: string, value: any) => any
}

/**
 * The storage contract. Paths: `session/creds`, `session/signal/{type}/{id}`,
 * `contact/{jid}`, `chat/{jid}`, `chat/{jid}/message/{id}`, `chat/{jid}/message/{id}/content`.
 * `list` returns the full paths directly below `prefix`, newest created first.
 * Optional `getMany(paths)` / `setMany(writes)` (all or nothing) save round trips.
 */
export declare class Engine {
  get(path: string): Promise<Buffer | Uint8Array | string | null | undefined>
  set(path: string, value: Buffer | Uint8Array | string | null): Promise<void>
  list(prefix: string, offset: number, limit: number): Promise<string[]>
  getMany?(paths: string[]): Promise<Array<Buffer | Uint8Array | string | null | undefined>>
  setMany?(writes: Array<{ path: string; value: Buffer | Uint8Array | string | null }>): Promise<void>
}

declare class NativeBackedEngine extends Engine {
  get(path: string): Promise<Buffer | null>
  getMany(paths: string[]): Promise<Array<Buffer | null>>
  set(path: string, value: Buffer | Uint8Array | string | null): Promise<void>
  setMany(writes: Array<{ path: string; value: Buffer | Uint8Array | string | null }>): Promise<void>
  list(prefix?: string, offset?: number, limit?: number): Promise<string[]>
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
  creds(value: any): Promise<void>
  contact(jid: string): Promise<any | null>
  contact(jid: string, value: any | null): Promise<void>
  chat(jid: string): Promise<any | null>
  chat(jid: string, value: any | null): Promise<void>
  message(jid: string, id: string): Promise<any | null>
  message(jid: string, id: string, value: any | null): Promise<void>
  content(jid: string, id: string): Promise<Buffer | null>
  content(jid: string, id: string, value: Buffer | Uint8Array | string | null): Promise<void>
  contacts(page?: Page): Promise<Array<{ id: string; value: any }>>
  chats(page?: Page): Promise<Array<{ id: string; value: any }>>
  messages(jid: string, page?: Page): Promise<Array<{ id: string; value: any }>>
  keys(): KeyStore
}

export type SignalDataType =
  | 'pre-key' | 'session' | 'sender-key' | 'sender-key-memory' | 'app-state-sync-key'
  | 'app-state-sync-version' | 'lid-mapping' | 'device-list' | 'tctoken' | 'identity-key'
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
/** An auth state kept in any engine or Store. */
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
