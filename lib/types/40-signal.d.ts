
/* ---- Signal (lib/signal.js): Baileys 7's SignalRepository on the Rust Signal layer ---- */

/** Baileys' key store: `get(type, ids)` / `set({ type: { id: value | null } })`, sync or async. */
export interface SignalKeyStoreLike {
  get(type: string, ids: string[]): Record<string, any> | Promise<Record<string, any>>
  set(data: Record<string, Record<string, any>>): void | Promise<void>
  /** Baileys' addTransactionCapability: when present, each operation runs inside it. */
  transaction?<T>(exec: () => Promise<T>, key: string): Promise<T>
  isInTransaction?(): boolean
}

/** Baileys' `{ creds, keys }` auth state (the creds fields the Signal layer reads). */
export interface SignalAuthStateLike {
  creds: {
    signedIdentityKey: { public: Uint8Array; private: Uint8Array }
    signedPreKey?: { keyId: number; keyPair: { public: Uint8Array; private: Uint8Array }; signature: Uint8Array }
    registrationId: number
    [k: string]: any
  }
  keys: SignalKeyStoreLike
}

/** A pino-like logger; any missing level is ignored. */
export interface SignalLogger {
  trace?(...args: any[]): void
  debug?(...args: any[]): void
  info?(...args: any[]): void
  warn?(...args: any[]): void
  error?(...args: any[]): void
}

export interface LIDMapping {
  lid: string
  pn: string
}

/** Baileys 7's LIDMappingStore, kept in the same `lid-mapping` entries. */
export interface LIDMappingStoreLike {
  storeLIDPNMappings(pairs: LIDMapping[]): Promise<void>
  getLIDForPN(pn: string): Promise<string | null>
  getLIDsForPNs(pns: string[]): Promise<LIDMapping[] | null>
  getPNForLID(lid: string): Promise<string | null>
  getPNsForLIDs(lids: string[]): Promise<LIDMapping[] | null>
  close(): void
}

/** Baileys' `E2ESession`: a device's prekey bundle. */
export interface E2ESession {
  registrationId: number
  identityKey: Uint8Array
  signedPreKey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array }
  preKey?: { keyId: number; publicKey: Uint8Array }
}

/** Baileys 7's `SignalRepositoryWithLIDStore`. Errors carry `code` (`ERR_WA_SIGNAL_*`) and
 * `address` (the Signal address or sender key name). */
export interface SignalRepository {
  decryptGroupMessage(opts: { group: string; authorJid: string; msg: Uint8Array }): Promise<Uint8Array>
  processSenderKeyDistributionMessage(opts: {
    item: { groupId?: string | null; axolotlSenderKeyDistributionMessage?: Uint8Array | null }
    authorJid: string
  }): Promise<void>
  decryptMessage(opts: { jid: string; type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }): Promise<Uint8Array>
  encryptMessage(opts: { jid: string; data: Uint8Array }): Promise<{ type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }>
  encryptGroupMessage(opts: { group: string; data: Uint8Array; meId: string }): Promise<{
    senderKeyDistributionMessage: Uint8Array
    ciphertext: Uint8Array
  }>
  getSenderKeyDistributionMessage(opts: { group: string; meId: string }): Promise<Uint8Array>
  hasSenderKey(opts: { group: string; meId: string }): Promise<boolean>
  getSessionInfo(jid: string): Promise<{ baseKey: Uint8Array; registrationId: number } | null>
  injectE2ESession(opts: { jid: string; session: E2ESession }): Promise<void>
  validateSession(jid: string): Promise<{ exists: boolean; reason?: string }>
  jidToSignalProtocolAddress(jid: string): string
  migrateSession(fromJid: string, toJid: string): Promise<{ migrated: number; skipped: number; total: number }>
  deleteSession(jids: string[]): Promise<void>
  lidMapping: LIDMappingStoreLike
  close(): void
}

/** Baileys 7's `makeLibSignalRepository`, on the Rust Signal layer; records stay in
 * libsignal-node's formats in `auth.keys`. */
export declare function makeLibSignalRepository(
  auth: SignalAuthStateLike,
  logger?: SignalLogger,
  pnToLIDFunc?: (jids: string[]) => Promise<LIDMapping[] | undefined>,
): SignalRepository

/** A session record (libsignal-node's object, its JSON text, or binary) as libsignal-node's object. */
export declare function sessionRecordToJson(record: object | string | Uint8Array): object
/** A session record in the compact binary form. */
export declare function sessionRecordToBinary(record: object | string | Uint8Array): Buffer
/** A sender-key record (Baileys' JSON bytes or binary) as Baileys' JSON bytes. */
export declare function senderKeyRecordToJson(record: Uint8Array | string): Buffer
/** A sender-key record in the compact binary form. */
export declare function senderKeyRecordToBinary(record: Uint8Array | string): Buffer
