// Typings of baileys-native-testing, reached as `baileys-native/testing`: a local WhatsApp-protocol server for tests and bot CI.

/// <reference types="node" />

export interface TestServerOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number
  /** Derives every key (root, server, each phone's identity and LID) so runs are reproducible. */
  seed?: string | number | Uint8Array
  /** A connection that has not finished the Noise handshake by then is closed (20 000). */
  handshakeTimeoutMs?: number
  /** Life of the first pairing ref (60 000, WhatsApp's). */
  qrFirstTtlMs?: number
  /** Life of each later ref (20 000). */
  qrNextTtlMs?: number
  /** How long `pair-success` waits for the companion's signature (30 000). */
  pairingTimeoutMs?: number
  /** The largest upload the media host takes (`maxContentLengthBytes`, 104 857 600); larger gets 413. */
  mediaMaxBytes?: number
  /** How long an upload `auth` from `media_conn` is accepted (21 600 000, WhatsApp's 6 h). */
  mediaAuthTtlMs?: number
}

/** The test server's HTTPS media host on 127.0.0.1 (what `media_conn` names) and its controls. */
export interface TestMediaHost {
  /** `127.0.0.1:PORT` */
  host: string
  /** The CA certificate (PEM) the host's certificate chains to: trust it to upload and download. */
  caPem: string
  /** Downloads of the file at this direct path get 410 from now on (the query string is ignored). */
  expire(directPath: string): void
  /** Flips the bits of the stored byte at `offset` (to test MAC checks). */
  corrupt(directPath: string, offset: number): void
  /** The stored (encrypted) bytes of a file. */
  file(directPath: string): Buffer
  /** How many files the host stores. */
  count(): number
  /** Puts an encrypted file on the host (as a phone's upload, no auth needed); returns its direct path. */
  put(encrypted: Uint8Array): string
}

/** How a phone answers a media retry request for a message it sent. */
export type TestMediaRetryAnswer = 'reupload' | 'not_found' | 'general_error' | 'decryption_error' | 'error' | 'forged' | 'garbled'

export interface WaitOptions {
  timeoutMs?: number
}

/** A message the simulated phone decrypted, shaped like Baileys' `WAMessage`. */
export interface TestInboxMessage {
  key: { remoteJid: string; fromMe: boolean; id: string; participant: string }
  /** The common content fields (`conversation`, `extendedTextMessage`, ...). */
  message: {
    conversation?: string
    extendedTextMessage?: { text?: string | null }
    reactionMessage?: { key?: unknown; text?: string | null }
    protocolMessage?: { type?: number | null; key?: unknown }
    imageMessage?: { caption?: string | null; mimetype?: string | null }
    videoMessage?: { caption?: string | null; mimetype?: string | null }
    documentMessage?: { fileName?: string | null; mimetype?: string | null }
    audioMessage?: { mimetype?: string | null }
    stickerMessage?: Record<string, never>
    [field: string]: unknown
  }
  /** Unix seconds (server time). */
  messageTimestamp: number
  pushName?: string
  /** The whole `wa.Message` protobuf, for anything `message` leaves out. */
  messageBytes: Buffer
}

export interface TestPhoneReceipt {
  id: string
  /** The device that confirmed. */
  from: string
  /** `delivery`, `read`, `played`, `retry`, `sender`. */
  type: string
}

/** The simulated primary phone (device 0) of one account. */
export interface TestPhone {
  /** `NUMBER@s.whatsapp.net` */
  jid: string
  /** `LID@lid` */
  lid: string
  number: string
  /** Sends an encrypted text to every device of `toJid` (and a copy to this account's companions). Resolves to the message id. */
  sendText(toJid: string, text: string): Promise<string>
  /** Sends any message (encoded `proto.Message` bytes, e.g. `proto.Message.encode(m).finish()`) the same way. Resolves to the message id. */
  sendMessage(toJid: string, messageBytes: Uint8Array): Promise<string>
  /**
   * How the phone answers media retry requests (`updateMediaMessage`) for what it sent: `reupload` (the default:
   * the file becomes downloadable under a new direct path, SUCCESS), a failure result (`not_found`, `general_error`,
   * `decryption_error`), an `<error code>` node (`error`, code 2 by default), an answer that does not decrypt
   * (`forged`) or a notification without `<encrypt>` and `<rmr>` (`garbled`).
   */
  setMediaRetryAnswer(answer: TestMediaRetryAnswer, options?: { code?: number }): void
  /** What the phone received and decrypted. */
  inbox(): TestInboxMessage[]
  /** Resolves with the inbox once it holds at least `count` messages. */
  waitForInbox(count?: number, options?: WaitOptions): Promise<TestInboxMessage[]>
  receipts(): TestPhoneReceipt[]
  /** Resolves once the phone holds at least `count` receipts: all of them, or those after the first `skip`. */
  waitForReceipts(count?: number, options?: WaitOptions & { skip?: number }): Promise<TestPhoneReceipt[]>
}

export interface TestServerStats {
  connectionsOpened: number
  connectionsOpen: number
  handshakesCompleted: number
  handshakeFailures: number
  badFrames: number
  registrations: number
  pairings: number
  logins: number
  loginsRefused: number
  preKeysUploaded: number
  messagesReceived: number
  messagesRouted: number
  duplicates: number
  offlineDelivered: number
  queuedNow: number
  receiptsRelayed: number
  unknownIqs: number
  phoneReceived: number
  phoneSent: number
  phoneDecryptFailures: number
  /** Media retry requests the phones answered. */
  phoneMediaRetries: number
  faultsInjected: number
  framesDropped: number
  framesCorrupted: number
}

/** One post of a newsletter, as the server keeps it. */
export interface TestNewsletterPost {
  serverId: number
  /** The message id its sender gave it. */
  id: string
  /** Seconds. */
  t: number
  /** The stanza type: `text`, `media`, ... */
  type: string
  /** Base64 of the encoded `proto.Message`. */
  plaintext: string
  /** Reaction code -> how many accounts chose it. */
  reactions: Record<string, number>
  /** Accounts that viewed it. */
  views: number
}

/** A newsletter (WhatsApp channel) as the server keeps it. Accounts are phone-number JIDs. */
export interface TestNewsletter {
  /** `…@newsletter` */
  id: string
  name: string
  description: string
  /** 22 URL-safe characters (`https://whatsapp.com/channel/<invite>`). */
  invite: string
  owner: string
  /** Admins, the owner excluded. */
  admins: string[]
  /** Every follower, admins included, the owner excluded. */
  followers: string[]
  muted: string[]
  pictureId: string | null
  deleted: boolean
  messages: TestNewsletterPost[]
}

export interface TestServer {
  /** `ws://127.0.0.1:PORT/ws/chat`: give it to the socket as `waWebSocketUrl`. */
  url: string
  port: number
  /** The key that signs the server's certificate chain; trust it instead of WhatsApp's. */
  rootPublicKey: Buffer
  /** The HTTPS media host (`media_conn` names it): uploads need its `auth`, downloads take `Range`. */
  media: TestMediaHost
  /** The phone of `phoneNumber` scans the QR a companion shows; resolves to the companion's JID once paired. */
  scanQR(qr: string, options: { phoneNumber: string; pushName?: string }): Promise<string>
  /** The user types the companion's pairing code on the phone; resolves to the companion's JID once paired. */
  enterPairingCode(phoneNumber: string, code: string): Promise<string>
  /** The simulated phone of a number (the account is created on first use). */
  phone(phoneNumber: string): TestPhone
  /** Companion JIDs linked to a number. */
  devices(phoneNumber: string): string[]
  /** Stanzas waiting for a device until it acknowledges them. */
  queued(jid: string): number
  waitForQueued(jid: string, count?: number, options?: WaitOptions): Promise<void>
  isOnline(jid: string): boolean
  waitForOnline(jid: string, options?: WaitOptions & { online?: boolean }): Promise<void>
  stats(): TestServerStats

  // Fault controls. `jid` names a logged-in companion; null/undefined means every connection.
  // Each returns how many connections it hit.
  /** Cuts connections without a close frame. */
  dropConnection(jid?: string | null): number
  /** Delays every frame sent to the connections (0 ends it). */
  delayFrames(jid: string | null | undefined, delayMs: number): number
  /** Sends nothing for `stallMs`, then everything held back, in order. */
  stall(jid: string | null | undefined, stallMs: number): number
  /** Sends a frame the client cannot authenticate. */
  corruptFrame(jid?: string | null): number
  /** Loses the next `count` stanzas (they stay queued until acknowledged). */
  dropFrames(jid: string | null | undefined, count?: number): number
  /** Sends a stream error and closes: 440 (replaced), 401 (device removed), 500, 503, 515, ... */
  streamError(jid: string | null | undefined, code: number): number
  /** Refuses logins for a while: a stream error (503 by default) or `<failure reason=code>`. */
  refuseLogins(durationMs: number, options?: { code?: number; failure?: boolean }): void
  /** The phone unlinks a companion: 401 now, refused logins afterwards. */
  removeDevice(jid: string): void
  /** A newsletter as the server keeps it (deleted ones too); throws `ERR_WA_TESTSERVER_BAD_JID` for one it never had. */
  newsletter(jid: string): TestNewsletter
  /** Makes an account (number, or PN/LID JID) an admin or a subscriber of a newsletter, silently (Baileys has no promote). */
  newsletterSetRole(jid: string, user: string, role: 'ADMIN' | 'SUBSCRIBER'): void
  /** The newsletter owner's phone posts a text (a `conversation`) to every follower, admin and owner companion; returns its server id. */
  phonePostNewsletter(jid: string, text: string): number
  /**
   * The phone of `phoneNumber` makes a group with `members` (numbers or user JIDs; unknown ones are left out) and
   * returns its JID. Phones are full group members: `phone(n).sendText(groupJid, text)` sends with a sender key, and
   * what members send to the group lands in `phone(n).inbox()` (`key.remoteJid` the group, `key.participant` the author).
   */
  phoneCreateGroup(phoneNumber: string, subject: string, members?: string[]): string
  /** The phone of `phoneNumber` adds or removes members of a group, with the notifications a companion's change sends. */
  phoneUpdateGroup(groupJid: string, phoneNumber: string, action: 'add' | 'remove', members: string[]): void
  /** Accounts made in bulk (`{prefix}{index:06}`), each with `devices` devices (the phone and silent companions): members for big-group benchmarks. */
  seedAccounts(opts: { prefix: string; count: number; devices?: number }): string[]
  /** Closes every connection and the listener. Node is not kept alive by the server. */
  stop(): Promise<void>
}

export function startTestServer(options?: TestServerOptions): Promise<TestServer>
