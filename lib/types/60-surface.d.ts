
/* ---- Baileys' export surface (lib/defaults.js, generics.js, messages.js, event-buffer.js,
   auth-utils.js, usync.js, wam.js, proto.js) ---- */

/** Every message and enum of WhatsApp's schema, as Baileys' `proto` has them (lib/proto/types.d.ts). */
export { proto, WAProto, ProtoLong, ProtoConversionOptions, ProtoWriter } from './lib/proto/types.js'

export declare function getPlatformId(browser: string): string
export declare const CompanionWebClientType: { readonly [name: string]: number | string }
export declare function getCompanionWebClientType(browser: [string, string, ...string[]]): number
export declare function getCompanionPlatformId(browser: [string, string, ...string[]]): string
export declare function buildPairingQRData(ref: string, noiseKeyB64: string, identityKeyB64: string, advB64: string, browser: [string, string, ...string[]]): string

export declare const UNAUTHORIZED_CODES: number[]
export declare const DEFAULT_ORIGIN: string
export declare const CALL_VIDEO_PREFIX: string
export declare const CALL_AUDIO_PREFIX: string
export declare const DEF_CALLBACK_PREFIX: string
export declare const DEF_TAG_PREFIX: string
export declare const PHONE_CONNECTION_CB: string
export declare const WA_ADV_ACCOUNT_SIG_PREFIX: Buffer
export declare const WA_ADV_DEVICE_SIG_PREFIX: Buffer
export declare const WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX: Buffer
export declare const WA_ADV_HOSTED_DEVICE_SIG_PREFIX: Buffer
export declare const WA_DEFAULT_EPHEMERAL: number
export declare const STATUS_EXPIRY_SECONDS: number
export declare const PLACEHOLDER_MAX_AGE_SECONDS: number
export declare const NOISE_MODE: string
export declare const DICT_VERSION: number
export declare const KEY_BUNDLE_TYPE: Buffer
export declare const NOISE_WA_HEADER: Buffer
export declare const URL_REGEX: RegExp
export declare const WA_CERT_DETAILS: { SERIAL: number; ISSUER: string; PUBLIC_KEY: Buffer }
export declare const PROCESSABLE_HISTORY_TYPES: number[]
export declare const DEFAULT_CACHE_TTLS: { SIGNAL_STORE: number; MSG_RETRY: number; CALL_OFFER: number; USER_DEVICES: number }
export type MediaType = 'image' | 'video' | 'document' | 'audio' | 'sticker' | 'thumbnail-link' | 'product-catalog-image' | 'md-app-state' | 'md-msg-hist' | 'biz-cover-photo'
export declare const MEDIA_PATH_MAP: { [T in MediaType]: string }
export declare const MEDIA_HKDF_KEY_MAPPING: { [type: string]: string }
export declare const MEDIA_KEYS: MediaType[]
export declare const DEF_MEDIA_HOST: string
export declare const HISTORY_SYNC_PAUSED_TIMEOUT_MS: number
export declare const MIN_PREKEY_COUNT: number
export declare const INITIAL_PREKEY_COUNT: number
export declare const UPLOAD_TIMEOUT: number
export declare const TimeMs: { Minute: number; Hour: number; Day: number; Week: number }
export declare const MAX_SYNC_ATTEMPTS: number
export declare const NO_MESSAGE_FOUND_ERROR_TEXT: string
export declare const MISSING_KEYS_ERROR_TEXT: string
export declare const ACCOUNT_RESTRICTED_TEXT: string
export declare const DECRYPTION_RETRY_CONFIG: { maxRetries: number; baseDelayMs: number; sessionRecordErrors: string[] }
/** proto.WebMessageInfo.StubType */
export declare const WAMessageStubType: { readonly [name: string]: number }
/** proto.WebMessageInfo.Status */
export declare const WAMessageStatus: { readonly ERROR: 0; readonly PENDING: 1; readonly SERVER_ACK: 2; readonly DELIVERY_ACK: 3; readonly READ: 4; readonly PLAYED: 5 }
export declare const WAMessageAddressingMode: { readonly PN: 'pn'; readonly LID: 'lid' }
export declare const SyncState: { readonly Connecting: 0; readonly AwaitingInitialSync: 1; readonly Syncing: 2; readonly Online: 3; readonly [n: number]: string }
export declare const ReachoutTimelockEnforcementType: { readonly [name: string]: string }
export declare const NewChatMessageCappingStatusType: { readonly [name: string]: string }
export declare const NewChatMessageCappingMVStatusType: { readonly [name: string]: string }
export declare const NewChatMessageCappingOTEStatusType: { readonly [name: string]: string }
export declare const QueryIds: { readonly [name: string]: string }
export declare const XWAPaths: { readonly [name: string]: string }
export declare const NACK_REASONS: { readonly [name: string]: number }
export declare const SERVER_ERROR_CODES: { readonly [name: string]: string }
export declare const RetryReason: { readonly [name: string]: number | string }
export declare const ALL_WA_PATCH_NAMES: string[]

export interface WAMessageKeyLike { remoteJid?: string | null; fromMe?: boolean | null; id?: string | null; participant?: string | null; participantAlt?: string | null; remoteJidAlt?: string | null }
export declare function getKeyAuthor(key: WAMessageKeyLike | undefined | null, meId?: string): string
export declare function isStringNullOrEmpty(value: string | null | undefined): boolean
export declare function writeRandomPadMax16(msg: Uint8Array): Buffer
export declare function unpadRandomMax16(e: Uint8Array | Buffer): Uint8Array
export declare function generateParticipantHashV2(participants: string[]): string
export declare function encodeWAMessage(message: any): Buffer
export declare function encodeNewsletterMessage(message: any): Uint8Array
export declare function generateRegistrationId(): number
export declare function encodeBigEndian(e: number, t?: number): Uint8Array
export declare function toNumber(t: number | { toNumber(): number } | { low: number } | null | undefined): number
export declare function unixTimestampSeconds(date?: Date): number
export declare function debouncedTimeout(intervalMs?: number, task?: () => void): { start(newIntervalMs?: number, newTask?: () => void): void; cancel(): void; setTask(task: () => void): void; setInterval(ms: number): void }
export declare function delay(ms: number): Promise<void>
export declare function delayCancellable(ms: number): { delay: Promise<void>; cancel(): void }
export declare function promiseTimeout<T>(ms: number | undefined, promise: (resolve: (v: T) => void, reject: (error: any) => void) => void): Promise<T>
export declare function generateMessageIDV2(userId?: string): string
export declare function generateMessageID(): string
export declare function bindWaitForEvent(ev: any, event: string): (check: (u: any) => Promise<boolean | undefined> | boolean | undefined, timeoutMs?: number) => Promise<void>
export declare function bindWaitForConnectionUpdate(ev: any): (check: (u: any) => Promise<boolean | undefined> | boolean | undefined, timeoutMs?: number) => Promise<void>
export interface WAVersionResult { version: [number, number, number]; isLatest: boolean; error?: any }
export declare function fetchLatestBaileysVersion(options?: { dispatcher?: any; headers?: Record<string, string> }): Promise<WAVersionResult>
export declare function fetchLatestWaWebVersion(options?: RequestInit & { headers?: Record<string, string> }): Promise<WAVersionResult>
export declare function generateMdTagPrefix(): string
export declare function getStatusFromReceiptType(type: string | undefined): number | undefined
export declare function getErrorCodeFromStreamError(node: any): { reason: string; statusCode: number }
export declare function getCallStatusFromNode(node: { tag: string; attrs: { [k: string]: string } }): string
export declare function getCodeFromWSError(error: any): number
export declare function isWABusinessPlatform(platform: string): boolean
export declare function trimUndefined<T extends object>(obj: T): T

export declare function getContentType(content: any): string | undefined
export declare function normalizeMessageContent(content: any): any
export declare function extractMessageContent(content: any): any
export declare function getDevice(id: string): 'ios' | 'web' | 'android' | 'desktop' | 'unknown'
export declare function updateMessageWithReceipt(msg: any, receipt: any): void
export declare function updateMessageWithReaction(msg: any, reaction: any): void
export declare function updateMessageWithPollUpdate(msg: any, update: any): void
export declare function updateMessageWithEventResponse(msg: any, update: any): void
export declare function getAggregateVotesInPollMessage(msg: { message?: any; pollUpdates?: any[] | null }, meId?: string): { name: string; voters: string[] }[]
export declare function getAggregateResponsesInEventMessage(msg: { eventResponses?: any[] | null }, meId?: string): { response: string; responders: string[] }[]
export declare function aggregateMessageKeysNotFromMe(keys: WAMessageKeyLike[]): { jid: string; participant: string | undefined; messageIds: string[] }[]
export declare function decryptPollVote(vote: { encPayload: Uint8Array; encIv: Uint8Array }, ctx: { pollCreatorJid: string; pollMsgId: string; pollEncKey: Uint8Array; voterJid: string }): any
export declare function decryptEventResponse(response: { encPayload: Uint8Array; encIv: Uint8Array }, ctx: { eventCreatorJid: string; eventMsgId: string; eventEncKey: Uint8Array; responderJid: string }): any
export declare function isRealMessage(message: any): boolean
export declare function shouldIncrementChatUnread(message: any): boolean
export declare function getChatId(key: WAMessageKeyLike): string
export declare function cleanMessage(message: any, meId: string, meLid?: string): void
export declare function generateForwardMessageContent(message: any, forceForward?: boolean): any
/** The `proto.Message` for a content object (media kinds need `options.upload`, e.g. `sock.waUploadToServer`). */
export declare function generateWAMessageContent(content: AnyMessageContent, options?: Record<string, any>): Promise<any>
export declare function generateWAMessageFromContent(jid: string, message: Record<string, any>, options: { userJid?: string; quoted?: WAMessageLike; timestamp?: Date; messageId?: string; ephemeralExpiration?: number | string }): any
export declare function generateWAMessage(jid: string, content: AnyMessageContent, options: Record<string, any>): Promise<any>
export declare function prepareDisappearingMessageSettingContent(ephemeralExpiration?: number): any
export declare function hasNonNullishProperty(message: any, key: string): boolean
export declare function assertMediaContent(content: any): any
export declare function extractUrlFromText(text: string): string | undefined
/** The decrypted bytes [startByte, endByte) of an encrypted media file (no MAC check: it has no MAC key). */
export declare function downloadEncryptedContent(downloadUrl: string, keys: { cipherKey: Uint8Array; iv: Uint8Array }, opts?: { startByte?: number; endByte?: number; options?: { headers?: Record<string, string>; dispatcher?: any; [k: string]: any } }): Promise<import('node:stream').Transform>
/** The media copied to a temporary file (0600) with its SHA-256 and length. */
export declare function getRawMediaUploadData(media: any, mediaType: string, logger?: any): Promise<{ filePath: string; fileSha256: Buffer; fileLength: number }>
/** A JPEG of the image cut to width x height (640 x 640 by default) around its centre. */
export declare function generateProfilePicture(mediaUpload: any, dimensions?: { width?: number; height?: number }): Promise<{ img: Buffer }>
/** POSTs a file with node:https (streamed, up to five redirects); the JSON answer. */
export declare function uploadWithNodeHttp(params: { url: string; filePath: string; headers?: Record<string, any>; timeoutMs?: number; agent?: any }, redirectCount?: number): Promise<any>
/** An upload function over the given hosts and `refreshMediaConn` (e.g. `sock.refreshMediaConn`). */
export declare function getWAUploadToServer(
  config: { customUploadHosts?: { hostname: string; maxContentLengthBytes?: number }[]; fetchAgent?: any; logger?: any; options?: { headers?: Record<string, string> } },
  refreshMediaConn: (force: boolean) => Promise<{ hosts: { hostname: string }[]; auth: string }>,
): (filePath: string, opts: { mediaType: string; fileEncSha256B64: string; timeoutMs?: number }) => Promise<{ mediaUrl?: string; directPath?: string; meta_hmac?: string; fbid?: unknown; ts?: unknown }>
/** The 64 bars (0-100) of a voice note's waveform, from Ogg Opus or PCM WAV; undefined for other formats. */
export declare function getAudioWaveform(buffer: Buffer | string | import('node:stream').Readable, logger?: any): Promise<Uint8Array | undefined>
/** What a link preview shows (Baileys' `WAUrlInfo`). */
export interface WAUrlInfo {
  'canonical-url': string
  'matched-text': string
  title: string
  description?: string
  jpegThumbnail?: Buffer
  highQualityThumbnail?: any
  originalThumbnailUrl?: string
}
/** The preview of a URL's page: title, description, thumbnail (inline, or uploaded with `uploadImage`). */
export declare function getUrlInfo(
  text: string,
  opts?: { thumbnailWidth?: number; fetchOpts?: { timeout?: number; headers?: Record<string, string>; dispatcher?: any; [k: string]: any }; uploadImage?: (filePath: string, opts: any) => Promise<{ mediaUrl: string; directPath: string }>; logger?: any },
): Promise<WAUrlInfo | undefined>
/** The preview of the first https URL in `text`, or undefined (no URL, or the fetch failed). */
export declare function generateLinkPreviewIfRequired(text: string, getUrlInfo: ((url: string) => Promise<WAUrlInfo | undefined>) | undefined, logger?: any): Promise<WAUrlInfo | undefined>
export declare function extensionForMediaMessage(message: any): string
export declare function mediaMessageSHA256B64(message: any): string | undefined
export declare function toReadable(buffer: Buffer): import('node:stream').Readable
export declare function toBuffer(stream: AsyncIterable<any> & { destroy(): void }): Promise<Buffer>
export declare function getUrlFromDirectPath(directPath: string, host?: string): string
export declare function encodeBase64EncodedStringForUpload(b64: string): string
export declare function getStatusCodeForMediaRetry(code: number): number | undefined

/** Baileys' event emitter with buffering and consolidation. */
export interface BaileysEventBuffer {
  process(handler: (events: { [event: string]: any }) => void | Promise<void>): () => void
  emit(event: string, data: any): boolean
  isBuffering(): boolean
  buffer(): void
  flush(): boolean
  createBufferedFunction<A extends any[], T>(work: (...args: A) => Promise<T>): (...args: A) => Promise<T>
  on(event: string, listener: (arg: any) => void): any
  off(event: string, listener: (arg: any) => void): any
  removeAllListeners(event?: string): any
  destroy(): void
}
export declare function makeEventBuffer(logger?: any): BaileysEventBuffer

export interface SignalKeyStoreLike {
  get(type: string, ids: string[]): Promise<{ [id: string]: any }>
  set(data: { [type: string]: { [id: string]: any } }): Promise<void>
  clear?(): Promise<void>
}
export declare function makeCacheableSignalKeyStore(store: SignalKeyStoreLike, logger?: any, cache?: { get(key: string): any; set(key: string, value: any): any; flushAll(): any }): SignalKeyStoreLike
export declare function addTransactionCapability(state: SignalKeyStoreLike, logger: any, options: { maxCommitRetries: number; delayBetweenTriesMs: number }): SignalKeyStoreLike & { isInTransaction(): boolean; transaction<T>(work: () => Promise<T>, key: string): Promise<T> }
export declare function assertMeId(creds: { me?: { id?: string } | null }): string

export interface USyncQueryProtocol { name: string; getQueryElement(): any; getUserElement(user: USyncUser): any | null; parser(node: any): any }
export declare class USyncUser {
  id?: string; lid?: string; phone?: string; username?: string; usernameKey?: string; type?: string; personaId?: string
  withId(id: string): this
  withLid(lid: string): this
  withPhone(phone: string): this
  withUsername(username: string): this
  withUsernameKey(key: string): this
  withType(type: string): this
  withPersonaId(personaId: string): this
}
export declare class USyncQuery {
  protocols: USyncQueryProtocol[]
  users: USyncUser[]
  context: string
  mode: string
  withMode(mode: string): this
  withContext(context: string): this
  withUser(user: USyncUser): this
  withDeviceProtocol(): this
  withContactProtocol(): this
  withStatusProtocol(): this
  withDisappearingModeProtocol(): this
  withBotProfileProtocol(): this
  withLIDProtocol(): this
  withUsernameProtocol(): this
  parseUSyncQueryResult(result: any): { list: any[]; sideList: any[] } | undefined
}
export declare class USyncDeviceProtocol implements USyncQueryProtocol { name: 'devices'; getQueryElement(): any; getUserElement(): null; parser(node: any): any }
export declare class USyncContactProtocol implements USyncQueryProtocol { name: 'contact'; getQueryElement(): any; getUserElement(user: USyncUser): any; parser(node: any): boolean }
export declare class USyncStatusProtocol implements USyncQueryProtocol { name: 'status'; getQueryElement(): any; getUserElement(): null; parser(node: any): any }
export declare class USyncDisappearingModeProtocol implements USyncQueryProtocol { name: 'disappearing_mode'; getQueryElement(): any; getUserElement(): null; parser(node: any): any }
export declare class USyncUsernameProtocol implements USyncQueryProtocol { name: 'username'; getQueryElement(): any; getUserElement(): null; parser(node: any): string | null }

export declare class BinaryInfo {
  protocolVersion: number
  sequence: number
  events: { [event: string]: { props: { [k: string]: any }; globals: { [k: string]: any } } }[]
  buffer: Buffer[]
  constructor(options?: Partial<BinaryInfo>)
}
export declare function encodeWAM(binaryInfo: BinaryInfo): Buffer
export declare const WEB_EVENTS: { name: string; id: number; props: { [k: string]: [number, any] }; wamChannel: string; weight: number; privateStatsIdInt?: number }[]
export declare const WEB_GLOBALS: { name: string; id: number; type: any; validator?: string; channels: string[] }[]
export declare const FLAG_BYTE: number
export declare const FLAG_GLOBAL: number
export declare const FLAG_EVENT: number
export declare const FLAG_FIELD: number
export declare const FLAG_EXTENDED: number

/** Baileys' default socket config (every key Baileys has; `makeWASocket` merges yours over it). */
export declare const DEFAULT_CONNECTION_CONFIG: {
  version: [number, number, number]
  browser: WABrowserDescription
  waWebSocketUrl: string
  connectTimeoutMs: number
  keepAliveIntervalMs: number
  logger: WALogger
  emitOwnEvents: boolean
  defaultQueryTimeoutMs: number
  customUploadHosts: any[]
  retryRequestDelayMs: number
  maxMsgRetryCount: number
  fireInitQueries: boolean
  auth: undefined
  markOnlineOnConnect: boolean
  syncFullHistory: boolean
  patchMessageBeforeSending: (msg: any, recipientJids?: string[]) => any
  shouldSyncHistoryMessage: (msg: { syncType?: number | null }) => boolean
  shouldIgnoreJid: (jid: string) => boolean | undefined
  linkPreviewImageThumbnailWidth: number
  transactionOpts: { maxCommitRetries: number; delayBetweenTriesMs: number }
  generateHighQualityLinkPreview: boolean
  enableAutoSessionRecreation: boolean
  enableRecentMessageCache: boolean
  options: { [k: string]: any }
  appStateMacVerification: { patch: boolean; snapshot: boolean }
  countryCode: string
  getMessage: (key: any) => Promise<any>
  cachedGroupMetadata: (jid: string) => Promise<any>
  makeSignalRepository: (...args: any[]) => any
}

/* ---- Signal and stanza helpers (lib/signal-utils.js) ---- */
export interface KeyPairLike { public: Uint8Array; private: Uint8Array }
export declare function createSignalIdentity(wid: string, accountSignatureKey: Uint8Array): { identifier: { name: string; deviceId: number }; identifierKey: Uint8Array }
export declare function getPreKeys(store: { get(type: 'pre-key', ids: string[]): Promise<{ [id: string]: KeyPairLike }> }, min: number, limit: number): Promise<{ [id: string]: KeyPairLike }>
export declare function generateOrGetPreKeys(creds: { nextPreKeyId: number; firstUnuploadedPreKeyId: number }, range: number): { newPreKeys: { [id: number]: KeyPairLike }; lastPreKeyId: number; preKeysRange: [number, number] }
export declare function xmppSignedPreKey(key: { keyId: number; keyPair: KeyPairLike; signature: Uint8Array }): any
export declare function xmppPreKey(pair: KeyPairLike, id: number): any
export declare function getNextPreKeys(state: { creds: any; keys: SignalKeyStoreLike }, count: number): Promise<{ update: { nextPreKeyId: number; firstUnuploadedPreKeyId: number }; preKeys: { [id: string]: KeyPairLike } }>
export declare function getNextPreKeysNode(state: { creds: any; keys: SignalKeyStoreLike }, count: number): Promise<{ update: { nextPreKeyId: number; firstUnuploadedPreKeyId: number }; node: any }>
export declare function extractDeviceJids(result: { id: string; devices?: { deviceList?: { id: number; keyIndex?: number; isHosted?: boolean }[] } }[], myJid: string, myLid: string, excludeZeroDevices: boolean): { user: string; device: number; domainType: number; server: string }[]
export declare function buildAckStanza(node: { tag: string; attrs: { [k: string]: string } }, errorCode?: number | string, meId?: string): { tag: 'ack'; attrs: { [k: string]: string } }

/** A frame's payload, inflated when its flag byte says so. */
export declare function decompressingIfRequired(buffer: Uint8Array): Promise<Buffer>
/** Decodes a payload (no flag byte) with WhatsApp's dictionary v3; moves `indexRef.index` past it. */
export declare function decodeDecompressedBinaryNode(buffer: Uint8Array, opts?: { SINGLE_BYTE_TOKENS: string[]; DOUBLE_BYTE_TOKENS: string[][]; [k: string]: any }, indexRef?: { index: number }): BinaryNode
/** The WebMessageInfo objects (toJSON form) of a node's `<message>` children. */
export declare function getBinaryNodeMessages(node: { content?: any }): { [k: string]: any }[]

/** A media input as Baileys takes it. */
export type WAMediaUpload = Buffer | { url: string | URL } | { stream: import('node:stream').Readable }
export declare function getStream(item: WAMediaUpload, opts?: Record<string, any>): Promise<{ stream: import('node:stream').Readable; type: 'buffer' | 'readable' | 'file' | 'remote' }>
export declare function getHttpStream(url: string | URL, options?: { dispatcher?: unknown; headers?: Record<string, string> }): Promise<import('node:stream').Readable>
export declare function encryptedStream(media: WAMediaUpload, mediaType: string, opts?: { saveOriginalFileIfRequired?: boolean; opts?: Record<string, any>; maxLength?: number; logger?: unknown }): Promise<{ mediaKey: Buffer; originalFilePath?: string; encFilePath: string; mac: Buffer; fileEncSha256: Buffer; fileSha256: Buffer; fileLength: number }>
export declare function prepareWAMessageMedia(message: Record<string, any>, options: { upload: WASocket['waUploadToServer']; mediaCache?: { get(k: string): any; set(k: string, v: Uint8Array): any }; mediaTypeOverride?: string; mediaUploadTimeoutMs?: number; jid?: string; options?: Record<string, any> }): Promise<any>
export interface MediaDownloadOptions {
  startByte?: number
  endByte?: number
  host?: string
  maxLength?: number
  options?: Record<string, any>
}
export declare function downloadContentFromMessage(media: { mediaKey?: Uint8Array | null; directPath?: string | null; url?: string | null; fileEncSha256?: Uint8Array | null; fileSha256?: Uint8Array | null }, type: string, opts?: MediaDownloadOptions): Promise<import('node:stream').Readable>
export declare function downloadMediaMessage(message: WAMessageLike, type: 'buffer', options?: MediaDownloadOptions, ctx?: { logger?: any; reuploadRequest(m: WAMessageLike): Promise<WAMessageLike> }): Promise<Buffer>
export declare function downloadMediaMessage(message: WAMessageLike, type: 'stream', options?: MediaDownloadOptions, ctx?: { logger?: any; reuploadRequest(m: WAMessageLike): Promise<WAMessageLike> }): Promise<import('node:stream').Readable>
export declare function extractImageThumb(bufferOrFilePath: Buffer | string | import('node:stream').Readable, width?: number): Promise<{ buffer: Buffer; original: { width?: number; height?: number } }>
export declare function generateThumbnail(file: string | Buffer, mediaType: 'image' | 'video', options?: { logger?: any }): Promise<{ thumbnail?: string; originalImageDimensions?: { width: number; height: number } }>
export declare function getAudioDuration(buffer: Buffer | string | import('node:stream').Readable): Promise<number | undefined>
/** One entry of `messages.media-update`: the phone's (encrypted) answer to a media retry request, or why there is none. */
export interface WAMediaUpdate {
  key: WAMessageLike['key']
  media?: { ciphertext: Uint8Array; iv: Uint8Array }
  error?: WABoomError
}
/** The `<receipt type="server-error">` asking the phone to upload the media of `key` again (send it with `sock.sendNode`). */
export declare function encryptMediaRetryRequest(key: WAMessageLike['key'], mediaKey: Uint8Array, meId: string): BinaryNode
/** `{ key, media?, error? }` of a `<notification type="mediaretry">`. */
export declare function decodeMediaRetryNode(node: BinaryNode): WAMediaUpdate
/** The phone's `proto.MediaRetryNotification` (`result`, new `directPath`), opened with the message's media key. */
export declare function decryptMediaRetryData(media: { ciphertext: Uint8Array; iv: Uint8Array }, mediaKey: Uint8Array, msgId: string): import('./lib/proto/types.js').proto.MediaRetryNotification

/* ---- connection and pairing (lib/validate-connection.js, lib/noise-handler.js) ---- */
/** What the login and registration payloads read from Baileys' socket config. */
export interface ClientPayloadConfig { version: number[]; browser: [string, string, string] | string[]; countryCode?: string; syncFullHistory?: boolean; pushName?: string; [k: string]: any }
/** The ClientPayload of a login as `userJid` (Baileys' `generateLoginNode`). */
export declare function generateLoginNode(userJid: string, config: ClientPayloadConfig): import('./lib/proto/types.js').proto.ClientPayload
/** The ClientPayload that registers a new companion device. */
export declare function generateRegistrationNode(creds: { registrationId: number; signedPreKey: { keyId: number; keyPair: KeyPairLike; signature: Uint8Array }; signedIdentityKey: KeyPairLike }, config: ClientPayloadConfig): import('./lib/proto/types.js').proto.ClientPayload
/** Verifies a `<pair-success>` and signs the device identity: the creds update and the reply `<iq>`. */
export declare function configureSuccessfulPairing(stanza: BinaryNode, creds: { advSecretKey: string; signedIdentityKey: KeyPairLike; signalIdentities?: { identifier: { name: string; deviceId: number }; identifierKey: Uint8Array }[] }): { creds: { account: import('./lib/proto/types.js').proto.ADVSignedDeviceIdentity; me: { id: string; name?: string; lid?: string }; signalIdentities: { identifier: { name: string; deviceId: number }; identifierKey: Uint8Array }[]; platform?: string }; reply: BinaryNode }
/** An ADVSignedDeviceIdentity's bytes, with its account signature key only if asked and set. */
export declare function encodeSignedDeviceIdentity(account: import('./lib/proto/types.js').proto.IADVSignedDeviceIdentity, includeSignatureKey: boolean): Uint8Array
/** Baileys' step-wise Noise XX handler, driven as Baileys' socket drives it. */
export interface NoiseHandler {
  encrypt(plaintext: Uint8Array): Uint8Array
  decrypt(ciphertext: Uint8Array): Uint8Array
  authenticate(data: Uint8Array): void
  mixIntoKey(data: Uint8Array): void
  finishInit(): Promise<void>
  processHandshake(message: { serverHello?: { ephemeral?: Uint8Array | null; static?: Uint8Array | null; payload?: Uint8Array | null } | null }, noiseKey: KeyPairLike): Uint8Array
  encodeFrame(data: Uint8Array): Buffer
  decodeFrame(newData: Uint8Array, onFrame: (frame: BinaryNode | Uint8Array) => void): Promise<void>
}
export declare function makeNoiseHandler(options: { keyPair: KeyPairLike; NOISE_HEADER: Uint8Array; logger?: any; routingInfo?: Uint8Array }): NoiseHandler

/* ---- receive and send pipelines (lib/decode-message.js, lib/retry-manager.js, lib/identity-change.js, lib/signal-utils.js) ---- */
/** The parts of a Signal repository the pipeline helpers use (ours from makeLibSignalRepository, or Baileys'). */
export interface PipelineRepositoryLike {
  decryptMessage(opts: { jid: string; type: 'pkmsg' | 'msg'; ciphertext: Uint8Array }): Promise<Uint8Array>
  decryptGroupMessage(opts: { group: string; authorJid: string; msg: Uint8Array }): Promise<Uint8Array>
  processSenderKeyDistributionMessage(opts: { item: any; authorJid: string }): Promise<void>
  migrateSession(fromJid: string, toJid: string): Promise<any>
  lidMapping: { getLIDForPN(pn: string): Promise<string | null | undefined>; storeLIDPNMappings(pairs: { lid: string; pn: string }[]): Promise<any> }
  [k: string]: any
}
/** A key bundle as injectE2ESession takes it. */
export interface E2ESessionLike { registrationId: number; identityKey: Uint8Array; signedPreKey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array }; preKey?: { keyId: number; publicKey: Uint8Array } }
export declare function getDecryptionJid(sender: string, repository: { lidMapping: { getLIDForPN(pn: string): Promise<string | null | undefined> } }): Promise<string>
export declare function extractAddressingContext(stanza: BinaryNode): { addressingMode: 'lid' | 'pn' | string; senderAlt?: string; recipientAlt?: string }
export declare function decodeMessageNode(stanza: BinaryNode, meId: string, meLid: string): { fullMessage: import('./lib/proto/types.js').proto.IWebMessageInfo & { key: WAMessageKeyLike & { [k: string]: any }; [k: string]: any }; author: string; sender: string }
export declare function decryptMessageNode(stanza: BinaryNode, meId: string, meLid: string, repository: PipelineRepositoryLike, logger?: any): { fullMessage: import('./lib/proto/types.js').proto.IWebMessageInfo & { key: WAMessageKeyLike & { [k: string]: any }; [k: string]: any }; category?: string; author: string; decrypt(): Promise<void> }
/** Baileys' retry bookkeeping: recent messages, retry counters, session recreation, phone requests. */
export declare class MessageRetryManager {
  constructor(logger?: any, maxMsgRetryCount?: number)
  maxMsgRetryCount: number
  statistics: { totalRetries: number; successfulRetries: number; failedRetries: number; mediaRetries: number; sessionRecreations: number; phoneRequests: number }
  addRecentMessage(to: string, id: string, message: any): void
  getRecentMessage(to: string, id: string): { message: any; timestamp: number } | undefined
  shouldRecreateSession(jid: string, hasSession: boolean, errorCode?: number): { reason: string; recreate: boolean }
  parseRetryErrorCode(errorAttr: string | undefined): number | undefined
  isMacError(errorCode: number | undefined): boolean
  incrementRetryCount(messageId: string): number
  getRetryCount(messageId: string): number
  hasExceededMaxRetries(messageId: string): boolean
  markRetrySuccess(messageId: string): void
  markRetryFailed(messageId: string): void
  schedulePhoneRequest(messageId: string, callback: () => void, delay?: number): void
  cancelPendingPhoneRequest(messageId: string): void
  clear(): void
  saveBaseKey(addr: string, msgId: string, baseKey: Uint8Array): void
  hasSameBaseKey(addr: string, msgId: string, baseKey: Uint8Array): boolean
  deleteBaseKey(addr: string, msgId: string): void
}
export type IdentityChangeResult =
  | { action: 'invalid_notification' | 'no_identity_node' | 'skipped_self_primary' | 'debounced' | 'skipped_no_session' | 'skipped_offline' | 'session_refreshed' }
  | { action: 'skipped_companion_device'; device: number }
  | { action: 'session_refresh_failed'; error: unknown }
export declare function handleIdentityChange(node: BinaryNode, ctx: { meId?: string; meLid?: string; validateSession(jid: string): Promise<{ exists: boolean; reason?: string }>; assertSessions(jids: string[], force?: boolean): Promise<any>; debounceCache: { get(k: string): any; set(k: string, v: any): any }; logger?: any; onBeforeSessionRefresh?: (jid: string) => void }): Promise<IdentityChangeResult>
export declare function extractE2ESessionFromRetryReceipt(receipt: BinaryNode): E2ESessionLike | null
export declare function parseAndInjectE2ESessions(node: BinaryNode, repository: { injectE2ESession(opts: { jid: string; session: E2ESessionLike }): Promise<void> }): Promise<void>
