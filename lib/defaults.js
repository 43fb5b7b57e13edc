'use strict'
// Baileys' constants and defaults: the socket's default config, browsers and platform ids,
// protocol constants, media tables, message stub and status enums. Values equal Baileys 7's
// (checked by __test__/exports-baileys.test.mjs); the protocol tables that are pure data come
// from lib/facts.js (generated).
const os = require('node:os')
const { protoEnum } = require('./proto.js')
const facts = require('./facts.js')

const WA_VERSION = [2, 3000, 1043857760]

/** Baileys' Browsers: [os, browser, version] as WhatsApp shows the linked device. */
const PLATFORM_NAMES = {
  aix: 'AIX',
  darwin: 'Mac OS',
  win32: 'Windows',
  android: 'Android',
  freebsd: 'FreeBSD',
  openbsd: 'OpenBSD',
  sunos: 'Solaris',
}
const Browsers = {
  ubuntu: (browser) => ['Ubuntu', browser, '22.04.4'],
  macOS: (browser) => ['Mac OS', browser, '14.4.1'],
  baileys: (browser) => ['Baileys', browser, '6.5.0'],
  windows: (browser) => ['Windows', browser, '10.0.22631'],
  android: (browser) => [browser, 'Android', ''],
  /** The browser for the OS this runs on. */
  appropriate: (browser) => [PLATFORM_NAMES[os.platform()] || 'Ubuntu', browser, os.release()],
}

/** The DeviceProps.PlatformType number of a browser name, as a string ('1', Chrome, if unknown). */
function getPlatformId(browser) {
  const id = protoEnum('DeviceProps.PlatformType')[String(browser).toUpperCase()]
  return id ? String(id) : '1'
}

const { CompanionWebClientType } = facts
const COMPANION_BY_BROWSER = { Chrome: 1, Edge: 2, Firefox: 3, IE: 4, Opera: 5, Safari: 6 }

/** The companion web client type of a `[os, browser]` pair (Desktop: UWP on Windows, else Electron). */
function getCompanionWebClientType([osName, browserName]) {
  if (browserName === 'Desktop') return osName === 'Windows' ? CompanionWebClientType.UWP : CompanionWebClientType.ELECTRON
  return COMPANION_BY_BROWSER[browserName] || CompanionWebClientType.OTHER_WEB_CLIENT
}

function getCompanionPlatformId(browser) {
  return String(getCompanionWebClientType(browser))
}

/** The link a QR code carries: ref, noise key, identity key, ADV secret, platform id. */
function buildPairingQRData(ref, noiseKeyB64, identityKeyB64, advB64, browser) {
  return `https://wa.me/settings/linked_devices#${[ref, noiseKeyB64, identityKeyB64, advB64, getCompanionPlatformId(browser)].join(',')}`
}

let defaultLogger = null
/** Baileys' default logger: pino at info, with an ISO `time`, its `{ class: 'baileys' }` child. */
function baileysLogger() {
  if (!defaultLogger) {
    const pino = require('pino')
    defaultLogger = pino({ timestamp: () => `,"time":"${new Date().toJSON()}"` }).child({ class: 'baileys' })
  }
  return defaultLogger
}

const HistorySyncType = protoEnum('HistorySync.HistorySyncType')

const DEFAULT_CONNECTION_CONFIG = {
  version: WA_VERSION,
  browser: Browsers.macOS('Chrome'),
  waWebSocketUrl: 'wss://web.whatsapp.com/ws/chat',
  connectTimeoutMs: 20_000,
  keepAliveIntervalMs: 30_000,
  // Made when first read: pino brings its worker-thread transport, sonic-boom, assert and
  // worker_threads (~4 MB of a process's RSS), which a bot that passes its own logger never uses.
  get logger() {
    return baileysLogger()
  },
  emitOwnEvents: true,
  defaultQueryTimeoutMs: 60_000,
  customUploadHosts: [],
  retryRequestDelayMs: 250,
  maxMsgRetryCount: 5,
  fireInitQueries: true,
  auth: undefined,
  markOnlineOnConnect: true,
  syncFullHistory: true,
  patchMessageBeforeSending: (msg) => msg,
  shouldSyncHistoryMessage: ({ syncType }) => syncType !== HistorySyncType.FULL,
  shouldIgnoreJid: () => false,
  linkPreviewImageThumbnailWidth: 192,
  transactionOpts: { maxCommitRetries: 10, delayBetweenTriesMs: 3000 },
  generateHighQualityLinkPreview: false,
  enableAutoSessionRecreation: true,
  enableRecentMessageCache: true,
  options: {},
  appStateMacVerification: { patch: false, snapshot: false },
  countryCode: 'US',
  getMessage: async () => undefined,
  cachedGroupMetadata: async () => undefined,
  makeSignalRepository: require('./signal.js').makeLibSignalRepository,
}

const MEDIA_PATH_MAP = {
  image: '/mms/image',
  video: '/mms/video',
  document: '/mms/document',
  audio: '/mms/audio',
  sticker: '/mms/image',
  'thumbnail-link': '/mms/image',
  'product-catalog-image': '/product/image',
  'md-app-state': '',
  'md-msg-hist': '/mms/md-app-state',
  'biz-cover-photo': '/pps/biz-cover-photo',
}

/** HKDF info label (without " Keys") of each media type. */
const MEDIA_HKDF_KEY_MAPPING = {
  audio: 'Audio',
  document: 'Document',
  gif: 'Video',
  image: 'Image',
  ppic: '',
  product: 'Image',
  ptt: 'Audio',
  sticker: 'Image',
  video: 'Video',
  'thumbnail-document': 'Document Thumbnail',
  'thumbnail-image': 'Image Thumbnail',
  'thumbnail-video': 'Video Thumbnail',
  'thumbnail-link': 'Link Thumbnail',
  'md-msg-hist': 'History',
  'md-app-state': 'App State',
  'product-catalog-image': '',
  'payment-bg-image': 'Payment Background',
  ptv: 'Video',
  'biz-cover-photo': 'Image',
}

const DICT_VERSION = 3

module.exports = {
  Browsers,
  getPlatformId,
  CompanionWebClientType,
  getCompanionWebClientType,
  getCompanionPlatformId,
  buildPairingQRData,
  DEFAULT_CONNECTION_CONFIG,
  UNAUTHORIZED_CODES: [401, 403, 419],
  DEFAULT_ORIGIN: 'https://web.whatsapp.com',
  CALL_VIDEO_PREFIX: 'https://call.whatsapp.com/video/',
  CALL_AUDIO_PREFIX: 'https://call.whatsapp.com/voice/',
  DEF_CALLBACK_PREFIX: 'CB:',
  DEF_TAG_PREFIX: 'TAG:',
  PHONE_CONNECTION_CB: 'CB:Pong',
  WA_ADV_ACCOUNT_SIG_PREFIX: Buffer.from([6, 0]),
  WA_ADV_DEVICE_SIG_PREFIX: Buffer.from([6, 1]),
  WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX: Buffer.from([6, 5]),
  WA_ADV_HOSTED_DEVICE_SIG_PREFIX: Buffer.from([6, 6]),
  WA_DEFAULT_EPHEMERAL: 7 * 24 * 60 * 60,
  STATUS_EXPIRY_SECONDS: 24 * 60 * 60,
  PLACEHOLDER_MAX_AGE_SECONDS: 14 * 24 * 60 * 60,
  NOISE_MODE: 'Noise_XX_25519_AESGCM_SHA256\0\0\0\0',
  DICT_VERSION,
  KEY_BUNDLE_TYPE: Buffer.from([5]),
  NOISE_WA_HEADER: Buffer.from([87, 65, 6, DICT_VERSION]),
  URL_REGEX: /https:\/\/(?![^:@\/\s]+:[^:@\/\s]+@)[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}(:\d+)?(\/[^\s]*)?/g,
  WA_CERT_DETAILS: {
    SERIAL: 0,
    ISSUER: 'WhatsAppLongTerm1',
    PUBLIC_KEY: Buffer.from('142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b', 'hex'),
  },
  PROCESSABLE_HISTORY_TYPES: [
    HistorySyncType.INITIAL_BOOTSTRAP,
    HistorySyncType.PUSH_NAME,
    HistorySyncType.RECENT,
    HistorySyncType.FULL,
    HistorySyncType.ON_DEMAND,
    HistorySyncType.NON_BLOCKING_DATA,
    HistorySyncType.INITIAL_STATUS_V3,
  ],
  DEFAULT_CACHE_TTLS: { SIGNAL_STORE: 5 * 60, MSG_RETRY: 60 * 60, CALL_OFFER: 5 * 60, USER_DEVICES: 5 * 60 },
  MEDIA_PATH_MAP,
  MEDIA_HKDF_KEY_MAPPING,
  MEDIA_KEYS: Object.keys(MEDIA_PATH_MAP),
  DEF_MEDIA_HOST: 'mmg.whatsapp.net',
  HISTORY_SYNC_PAUSED_TIMEOUT_MS: 120_000,
  MIN_PREKEY_COUNT: 5,
  INITIAL_PREKEY_COUNT: 812,
  UPLOAD_TIMEOUT: 30_000,
  TimeMs: { Minute: 60_000, Hour: 3_600_000, Day: 86_400_000, Week: 604_800_000 },
  MAX_SYNC_ATTEMPTS: 2,
  NO_MESSAGE_FOUND_ERROR_TEXT: 'Message absent from node',
  MISSING_KEYS_ERROR_TEXT: 'Key used already or never filled',
  ACCOUNT_RESTRICTED_TEXT: 'Your account has been restricted',
  DECRYPTION_RETRY_CONFIG: {
    maxRetries: 3,
    baseDelayMs: 100,
    sessionRecordErrors: ['No session record', 'SessionError: No session record'],
  },
  WAMessageStubType: protoEnum('WebMessageInfo.StubType'),
  WAMessageStatus: protoEnum('WebMessageInfo.Status'),
  WAMessageAddressingMode: facts.WAMessageAddressingMode,
  SyncState: facts.SyncState,
  ReachoutTimelockEnforcementType: facts.ReachoutTimelockEnforcementType,
  NewChatMessageCappingStatusType: facts.NewChatMessageCappingStatusType,
  NewChatMessageCappingMVStatusType: facts.NewChatMessageCappingMVStatusType,
  NewChatMessageCappingOTEStatusType: facts.NewChatMessageCappingOTEStatusType,
  QueryIds: facts.QueryIds,
  XWAPaths: facts.XWAPaths,
  NACK_REASONS: facts.NACK_REASONS,
  SERVER_ERROR_CODES: facts.SERVER_ERROR_CODES,
  RetryReason: facts.RetryReason,
  ALL_WA_PATCH_NAMES: facts.ALL_WA_PATCH_NAMES,
}
