
/* ---- Socket (lib/socket.js): Baileys 7's makeWASocket on the Rust client ---- */

/** Baileys' DisconnectReason (status codes in `lastDisconnect.error.output.statusCode`). */
export declare const DisconnectReason: {
  readonly connectionClosed: 428
  readonly connectionLost: 408
  readonly connectionReplaced: 440
  readonly timedOut: 408
  readonly loggedOut: 401
  readonly badSession: 500
  readonly restartRequired: 515
  readonly multideviceMismatch: 411
  readonly forbidden: 403
  readonly unavailableService: 503
  readonly [code: number]: string
}

/** `[os, browser, version]`. */
export type WABrowserDescription = [string, string, string]

/** Baileys' Browsers helpers. */
export declare const Browsers: {
  ubuntu(browser: string): WABrowserDescription
  macOS(browser: string): WABrowserDescription
  baileys(browser: string): WABrowserDescription
  windows(browser: string): WABrowserDescription
  android(browser: string): WABrowserDescription
  appropriate(browser: string): WABrowserDescription
}

/** A pino-like logger. */
export interface WALogger {
  level?: string
  trace?(obj: unknown, msg?: string): void
  debug?(obj: unknown, msg?: string): void
  info?(obj: unknown, msg?: string): void
  warn?(obj: unknown, msg?: string): void
  error?(obj: unknown, msg?: string): void
  child?(bindings: Record<string, unknown>): WALogger
}

/** Baileys' `SocketConfig`, the fields this socket reads. */
export interface WASocketConfig {
  /** `{ creds, keys }` from `useMultiFileAuthState`, `useStoreAuthState` or any Baileys store. */
  auth: { creds: Record<string, any>; keys: SignalKeyStoreLike }
  waWebSocketUrl?: string | URL
  /** The root key the server's intermediate certificate must be signed by (WhatsApp's by default). */
  waCertPublicKey?: Uint8Array
  logger?: WALogger
  browser?: WABrowserDescription
  version?: [number, number, number]
  countryCode?: string
  syncFullHistory?: boolean
  connectTimeoutMs?: number
  keepAliveIntervalMs?: number
  defaultQueryTimeoutMs?: number
  qrTimeout?: number
  emitOwnEvents?: boolean
  /** On open, tell the server we are online (`available`), else `unavailable`; needs `creds.me.name`. Default true. */
  markOnlineOnConnect?: boolean
  /** Ignored with a warning, as in Baileys. */
  printQRInTerminal?: boolean
  shouldSyncHistoryMessage?: (msg: { syncType?: number | null }) => boolean
  /**
   * Keeps every message, chat and contact the socket sees, written before the events reach the
   * app, and answers retries from it: a `Store`, or an engine (ours or `{ get, set, list }`).
   */
  store?: Store | Engine
  /** With `store`: also download each message's media and keep it raw at `chat/{jid}/message/{id}/content`. */
  storeContent?: boolean
  /** Baileys' `cachedGroupMetadata`: the app's copy of a group's metadata, read before each group send (else the socket's own cache, else the server). */
  cachedGroupMetadata?: (jid: string) => Promise<GroupMetadata | undefined>
  /** Baileys' `getMessage`: the content of a message we sent, for retries and poll votes (the store's when absent). */
  getMessage?: (key: { remoteJid?: string | null; fromMe?: boolean | null; id?: string | null }) => Promise<Record<string, any> | undefined>
  [key: string]: unknown
}

/** A Baileys-style error (`output.statusCode`, `data`, `isBoom`) with our `code`. */
export interface WABoomError extends Error {
  isBoom: true
  output: { statusCode: number; payload: Record<string, unknown>; headers: Record<string, unknown> }
  data: any
  code?: string
}

export interface WAConnectionUpdate {
  connection?: 'connecting' | 'open' | 'close'
  lastDisconnect?: { error: WABoomError; date: Date }
  qr?: string
  isNewLogin?: boolean
  receivedPendingNotifications?: boolean
  /** Set when `sendPresenceUpdate('available' | 'unavailable')` went out. */
  isOnline?: boolean
}

/** Baileys' `WAPresence`. */
export type WAPresence = 'unavailable' | 'available' | 'composing' | 'recording' | 'paused'

/** Baileys' `PresenceData`. */
export interface WAPresenceData {
  lastKnownPresence: WAPresence | (string & {})
  /** Seconds since the Unix epoch. */
  lastSeen?: number
  groupOnlineCount?: number
}

/** Baileys' `MessageReceiptType` (`undefined`: a delivery receipt). */
export type WAMessageReceiptType = 'read' | 'read-self' | 'hist_sync' | 'peer_msg' | 'sender' | 'inactive' | 'played' | undefined

/** A WAMessage as Baileys emits it (protobufjs field names). */
export interface WAMessageLike {
  key: { remoteJid?: string; fromMe?: boolean; id?: string; participant?: string; remoteJidAlt?: string; participantAlt?: string; addressingMode?: string }
  message?: Record<string, any>
  messageTimestamp?: number
  status?: number
  pushName?: string
  messageStubType?: number
  messageStubParameters?: string[]
  [key: string]: any
}

/** One member of a group (Baileys' `GroupParticipant`). */
export interface GroupParticipant {
  id: string
  phoneNumber?: string
  lid?: string
  username?: string
  admin: 'admin' | 'superadmin' | null
}

/** Baileys' `GroupMetadata`. */
export interface GroupMetadata {
  id: string
  notify?: string
  addressingMode: 'pn' | 'lid'
  subject: string
  subjectOwner?: string
  subjectOwnerPn?: string
  subjectTime?: number
  size?: number
  creation?: number
  owner?: string
  ownerPn?: string
  owner_country_code?: string
  desc?: string
  descId?: string
  descOwner?: string
  descOwnerPn?: string
  descTime?: number
  linkedParent?: string
  restrict?: boolean
  announce?: boolean
  isCommunity?: boolean
  isCommunityAnnounce?: boolean
  joinApprovalMode?: boolean
  memberAddMode?: boolean
  participants: GroupParticipant[]
  ephemeralDuration?: number
  author?: string
  authorPn?: string
}

export type ParticipantAction = 'add' | 'remove' | 'promote' | 'demote' | 'modify'

export interface WAEventMap {
  'connection.update': WAConnectionUpdate
  'creds.update': Record<string, any>
  'messages.upsert': { messages: WAMessageLike[]; type: 'notify' | 'append'; requestId?: string }
  'messages.update': Array<{ key: WAMessageLike['key']; update: Record<string, any> }>
  'messages.reaction': Array<{ key: WAMessageKeyInput; reaction: { text?: string | null; key: WAMessageLike['key']; senderTimestampMs?: number | null } }>
  'presence.update': { id: string; presences: { [participant: string]: WAPresenceData } }
  /** Receipts per participant in groups and status broadcasts (`proto.IUserReceipt`). */
  'message-receipt.update': Array<{ key: WAMessageLike['key']; receipt: { userJid: string; receiptTimestamp?: number; readTimestamp?: number; playedTimestamp?: number } }>
  /** The phone's answers to media retry requests (`updateMediaMessage`): encrypted `media`, or an `error` (a Boom). */
  'messages.media-update': Array<{ key: WAMessageLike['key']; media?: { ciphertext: Uint8Array; iv: Uint8Array }; error?: WABoomError }>
  /** Groups we were put in. */
  'groups.upsert': GroupMetadata[]
  'groups.update': Array<Partial<GroupMetadata> & { id: string; inviteCode?: string }>
  'group-participants.update': { id: string; author?: string; authorPn?: string; participants: GroupParticipant[]; action: ParticipantAction }
  'group.join-request': { id: string; author?: string; authorPn?: string; participant?: string; participantPn?: string; action: string; method?: string }
  /** A reaction to a newsletter post (or one taken back: `removed`). */
  'newsletter.reaction': { id: string; server_id: string; reaction: { code?: string; count?: number; removed?: boolean } }
  /** A newsletter post's view count. */
  'newsletter.view': { id: string; server_id: string; count: number }
  'newsletter-participants.update': { id: string; author: string; user: string; new_role: string; action: string }
  'newsletter-settings.update': { id: string; update: any }
  [event: string]: any
}

export interface WAEventEmitter {
  on<K extends keyof WAEventMap>(event: K, listener: (data: WAEventMap[K]) => void): this
  off<K extends keyof WAEventMap>(event: K, listener: (data: WAEventMap[K]) => void): this
  once<K extends keyof WAEventMap>(event: K, listener: (data: WAEventMap[K]) => void): this
  removeAllListeners(event?: keyof WAEventMap): this
  emit<K extends keyof WAEventMap>(event: K, data: WAEventMap[K]): boolean
  /** Receives each batch of events as one `{ [event]: data }` map. Returns an unsubscribe function. */
  process(handler: (events: Partial<WAEventMap>) => void | Promise<void>): () => void
  buffer(): void
  flush(): boolean
  isBuffering(): boolean
}

/** A message key as content kinds take it (`react.key`, `delete`, `edit`, `pin`). */
export interface WAMessageKeyInput {
  remoteJid?: string | null
  fromMe?: boolean | null
  id?: string | null
  participant?: string | null
}

interface ContentCommon {
  mentions?: string[]
  mentionAll?: boolean
  contextInfo?: Record<string, any>
  viewOnce?: boolean
  edit?: WAMessageKeyInput
}

/** Baileys' `AnyMessageContent` (the kinds a bot passes to `sendMessage`). */
export type AnyMessageContent = ContentCommon &
  (
    | { text: string; linkPreview?: Record<string, any> | null }
    | { contacts: { displayName?: string; contacts: Array<{ displayName?: string; vcard?: string }> } }
    | { location: { degreesLatitude: number; degreesLongitude: number; name?: string; address?: string; [k: string]: any } }
    | { react: { text: string; key: WAMessageKeyInput; senderTimestampMs?: number } }
    | { delete: WAMessageKeyInput }
    | { forward: WAMessageLike; force?: boolean }
    | { disappearingMessagesInChat: boolean | number }
    | { groupInvite: { inviteCode: string; inviteExpiration: number; text: string; jid: string; subject: string } }
    | { pin: WAMessageKeyInput; type: 1 | 2; time?: 86400 | 604800 | 2592000 }
    | { buttonReply: { displayText: string; id: string; index: number }; type: 'template' | 'plain' }
    | { listReply: Record<string, any> }
    | { poll: { name: string; values: string[]; selectableCount?: number; toAnnouncementGroup?: boolean; messageSecret?: Uint8Array } }
    | { event: { name: string; description?: string; startDate: Date; endDate?: Date; location?: Record<string, any>; call?: 'audio' | 'video'; isCancelled?: boolean; isScheduleCall?: boolean; extraGuestsAllowed?: boolean; messageSecret?: Uint8Array } }
    | { album: { expectedImageCount?: number; expectedVideoCount?: number } }
    | { sharePhoneNumber: boolean }
    | { requestPhoneNumber: boolean }
    | { limitSharing: boolean }
    | { image: unknown; caption?: string; [k: string]: any }
    | { video: unknown; caption?: string; [k: string]: any }
    | { audio: unknown; [k: string]: any }
    | { sticker: unknown; [k: string]: any }
    | { document: unknown; mimetype: string; [k: string]: any }
  )

/** Baileys' `MiscMessageGenerationOptions` (statusJidList is refused until status broadcasts land). */
export interface MiscMessageGenerationOptions {
  timestamp?: Date
  quoted?: WAMessageLike
  ephemeralExpiration?: number | string
  mediaUploadTimeoutMs?: number
  statusJidList?: string[]
  backgroundColor?: string | number
  font?: number
  broadcast?: boolean
  messageId?: string
  additionalAttributes?: Record<string, string>
  additionalNodes?: BinaryNode[]
  useCachedGroupMetadata?: boolean
}

/** `relayMessage`'s options. */
export interface MessageRelayOptions {
  messageId?: string
  additionalAttributes?: Record<string, string>
  additionalNodes?: BinaryNode[]
  useUserDevicesCache?: boolean
  useCachedGroupMetadata?: boolean
}

export interface WASocket {
  type: 'md'
  ev: WAEventEmitter
  ws: { readonly isOpen: boolean; readonly isClosed: boolean; close(): Promise<void>; on(event: 'close', l: () => void): unknown }
  authState: WASocketConfig['auth']
  readonly user: { id: string; lid?: string; name?: string } | undefined
  /** Every content kind of Baileys 7 (media is encrypted and uploaded to the `media_conn` hosts). */
  sendMessage(jid: string, content: AnyMessageContent, options?: MiscMessageGenerationOptions): Promise<WAMessageLike>
  /**
   * Asks the phone to upload the media of `message` again (its file is gone: 404/410); resolves with the message
   * pointing at the new file (`directPath`, `url`), or rejects with a Boom (404 not found, 412, 418). Pass it to
   * `downloadMediaMessage` as `{ reuploadRequest: sock.updateMediaMessage }`.
   */
  updateMediaMessage(message: WAMessageLike): Promise<WAMessageLike>
  /** Sends a `proto.IMessage` as it is; resolves with the message id. */
  relayMessage(jid: string, message: Record<string, any>, opts?: MessageRelayOptions): Promise<string>
  /** Uploads an encrypted file (from `encryptedStream`) to the `media_conn` hosts. */
  /** The upload hosts and auth token (Baileys' `refreshMediaConn`), cached until its ttl passes. */
  refreshMediaConn(forceGet?: boolean): Promise<{ hosts: { hostname: string; maxContentLengthBytes: number }[]; auth: string; ttl: number; fetchDate: Date }>
  waUploadToServer(filePath: string, opts: { mediaType: string; fileEncSha256B64: string; timeoutMs?: number }): Promise<{ mediaUrl?: string; directPath?: string; meta_hmac?: string; fbid?: unknown; ts?: unknown }>
  requestPairingCode(phoneNumber: string, customPairingCode?: string): Promise<string>
  logout(msg?: string): Promise<void>
  end(error?: Error | WABoomError): void
  sendNode(node: BinaryNode): Promise<void>
  query(node: BinaryNode, timeoutMs?: number): Promise<BinaryNode>
  /** Availability (with `creds.me.name`; nothing is sent without one, as in Baileys) or a chat state in `toJid`. */
  sendPresenceUpdate(type: WAPresence, toJid?: string): Promise<void>
  /** Asks for `toJid`'s availability (`presence.update` events); `tcToken`: their privacy token. */
  presenceSubscribe(toJid: string, tcToken?: Uint8Array): Promise<void>
  sendReceipt(jid: string, participant: string | undefined, messageIds: string[], type: WAMessageReceiptType): Promise<void>
  sendReceipts(keys: WAMessageLike['key'][], type: WAMessageReceiptType): Promise<void>
  /** `read` receipts (`read-self` when the account's read-receipts privacy setting is off). */
  readMessages(keys: WAMessageLike['key'][]): Promise<void>
  waitForConnectionUpdate(check: (u: WAConnectionUpdate) => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>
  groupMetadata(jid: string): Promise<GroupMetadata>
  groupCreate(subject: string, participants: string[]): Promise<GroupMetadata>
  groupLeave(id: string): Promise<void>
  groupUpdateSubject(jid: string, subject: string): Promise<void>
  groupUpdateDescription(jid: string, description?: string): Promise<void>
  groupParticipantsUpdate(jid: string, participants: string[], action: 'add' | 'remove' | 'promote' | 'demote'): Promise<Array<{ status: string; jid: string; content: BinaryNode }>>
  groupRequestParticipantsList(jid: string): Promise<Array<Record<string, string>>>
  groupRequestParticipantsUpdate(jid: string, participants: string[], action: 'approve' | 'reject'): Promise<Array<{ status: string; jid: string }>>
  groupInviteCode(jid: string): Promise<string | undefined>
  groupRevokeInvite(jid: string): Promise<string | undefined>
  groupAcceptInvite(code: string): Promise<string | undefined>
  groupGetInviteInfo(code: string): Promise<GroupMetadata>
  groupRevokeInviteV4(groupJid: string, invitedJid: string): Promise<boolean>
  groupAcceptInviteV4(key: string | WAMessageKeyInput, inviteMessage: { groupJid: string; inviteCode: string; inviteExpiration: number | { low: number; high: number }; [k: string]: any }): Promise<string | undefined>
  groupToggleEphemeral(jid: string, ephemeralExpiration: number): Promise<void>
  groupSettingUpdate(jid: string, setting: 'announcement' | 'not_announcement' | 'locked' | 'unlocked'): Promise<void>
  groupMemberAddMode(jid: string, mode: 'admin_add' | 'all_member_add'): Promise<void>
  groupJoinApprovalMode(jid: string, mode: 'on' | 'off'): Promise<void>
  groupFetchAllParticipating(): Promise<{ [jid: string]: GroupMetadata }>
  communityMetadata(jid: string): Promise<GroupMetadata>
  communityCreate(subject: string, body: string): Promise<GroupMetadata | null>
  communityCreateGroup(subject: string, participants: string[], parentCommunityJid: string): Promise<GroupMetadata | null>
  communityLeave(id: string): Promise<void>
  communityUpdateSubject(jid: string, subject: string): Promise<void>
  communityLinkGroup(groupJid: string, parentCommunityJid: string): Promise<void>
  communityUnlinkGroup(groupJid: string, parentCommunityJid: string): Promise<void>
  communityFetchLinkedGroups(jid: string): Promise<{ communityJid: string; isCommunity: boolean; linkedGroups: Array<{ id?: string; subject: string; creation?: number; owner?: string; size?: number }> }>
  communityRequestParticipantsList(jid: string): Promise<Array<Record<string, string>>>
  communityRequestParticipantsUpdate(jid: string, participants: string[], action: 'approve' | 'reject'): Promise<Array<{ status: string; jid: string }>>
  communityParticipantsUpdate(jid: string, participants: string[], action: 'add' | 'remove' | 'promote' | 'demote'): Promise<Array<{ status: string; jid: string; content: BinaryNode }>>
  communityUpdateDescription(jid: string, description?: string): Promise<void>
  communityInviteCode(jid: string): Promise<string | undefined>
  communityRevokeInvite(jid: string): Promise<string | undefined>
  communityAcceptInvite(code: string): Promise<string | undefined>
  communityRevokeInviteV4(communityJid: string, invitedJid: string): Promise<boolean>
  communityAcceptInviteV4(key: string | WAMessageKeyInput, inviteMessage: { groupJid: string; inviteCode: string; inviteExpiration: number | { low: number; high: number }; [k: string]: any }): Promise<string | undefined>
  communityGetInviteInfo(code: string): Promise<GroupMetadata>
  communityToggleEphemeral(jid: string, ephemeralExpiration: number): Promise<void>
  communitySettingUpdate(jid: string, setting: 'announcement' | 'not_announcement' | 'locked' | 'unlocked'): Promise<void>
  communityMemberAddMode(jid: string, mode: 'admin_add' | 'all_member_add'): Promise<void>
  communityJoinApprovalMode(jid: string, mode: 'on' | 'off'): Promise<void>
  communityFetchAllParticipating(): Promise<{ [jid: string]: GroupMetadata }>
  newsletterCreate(name: string, description?: string): Promise<NewsletterMetadata>
  newsletterUpdate(jid: string, updates: NewsletterUpdate): Promise<unknown>
  newsletterSubscribers(jid: string): Promise<{ subscribers: number }>
  newsletterMetadata(type: 'invite' | 'jid', key: string): Promise<NewsletterMetadata | null>
  newsletterFollow(jid: string): Promise<unknown>
  newsletterUnfollow(jid: string): Promise<unknown>
  newsletterMute(jid: string): Promise<unknown>
  newsletterUnmute(jid: string): Promise<unknown>
  newsletterUpdateName(jid: string, name: string): Promise<unknown>
  newsletterUpdateDescription(jid: string, description: string): Promise<unknown>
  newsletterUpdatePicture(jid: string, content: WAMediaUpload): Promise<unknown>
  newsletterRemovePicture(jid: string): Promise<unknown>
  newsletterReactMessage(jid: string, serverId: string, reaction?: string): Promise<void>
  /** The server's `<iq>` answer as it is (a BinaryNode), as in Baileys. */
  newsletterFetchMessages(jid: string, count: number, since: number, after: number): Promise<any>
  subscribeNewsletterUpdates(jid: string): Promise<{ duration: string } | null>
  newsletterAdminCount(jid: string): Promise<number>
  newsletterChangeOwner(jid: string, newOwnerJid: string): Promise<void>
  newsletterDemote(jid: string, userJid: string): Promise<void>
  newsletterDelete(jid: string): Promise<void>
}

/** Baileys' `NewsletterMetadata` (WhatsApp's GraphQL fields, as WhatsApp names them). */
export interface NewsletterMetadata {
  id: string
  owner?: string
  name: string
  description?: string
  invite?: string
  creation_time?: number
  subscribers?: number
  picture?: { url?: string; directPath?: string; mediaKey?: string; id?: string }
  verification?: 'VERIFIED' | 'UNVERIFIED'
  mute_state?: 'ON' | 'OFF' | 'UNDEFINED'
  [field: string]: any
}

/** Baileys' `NewsletterUpdate`: what `newsletterUpdate` may change. */
export interface NewsletterUpdate {
  name?: string
  description?: string
  /** A base64 JPEG, or `''` to remove the picture. */
  picture?: string
}


/** Baileys' `makeWASocket(config)`. */
export declare function makeWASocket(config: WASocketConfig): WASocket
export default makeWASocket
