'use strict'
// Login and pairing, as Baileys 7 does them (Utils/validate-connection.js): the ClientPayload
// of a login or of a registration (sent in the Noise ClientFinish), the creds update and
// reply <iq> of a <pair-success>, and the wire form of a signed device identity.
// Same arguments and results as Baileys' (__test__/pipeline-utils-baileys.test.mjs). One
// deliberate difference: the account signature of a pair-success is really verified
// (Baileys 7.0.0-rc14's Curve.verify accepts any 64-byte signature).
const { createHash } = require('node:crypto')
const { proto } = require('./proto.js')
const { makeBoom } = require('./boom.js')
const { Curve, hmacSign } = require('./crypto.js')
const { encodeBigEndian } = require('./generics.js')
const { getBinaryNodeChild } = require('./binary.js')
const { jidDecode, S_WHATSAPP_NET } = require('./jid.js')
const { createSignalIdentity } = require('./signal-utils.js')
const {
  KEY_BUNDLE_TYPE,
  WA_ADV_ACCOUNT_SIG_PREFIX,
  WA_ADV_DEVICE_SIG_PREFIX,
  WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX,
} = require('./defaults.js')

const isAndroid = (config) => String(config.browser[1]).toLocaleLowerCase().includes('android')

function userAgentOf(config) {
  const { Platform, ReleaseChannel } = proto.ClientPayload.UserAgent
  const [primary, secondary, tertiary] = config.version
  return {
    appVersion: { primary, secondary, tertiary },
    platform: isAndroid(config) ? Platform.ANDROID : Platform.WEB,
    releaseChannel: ReleaseChannel.RELEASE,
    osVersion: '0.1',
    device: 'Desktop',
    osBuildNumber: '0.1',
    localeLanguageIso6391: 'en',
    mnc: '000',
    mcc: '000',
    localeCountryIso31661Alpha2: config.countryCode,
  }
}

// Desktop sub-platforms are announced only when the full history is wanted from a desktop.
function webInfoOf(config) {
  const { WebSubPlatform } = proto.ClientPayload.WebInfo
  const desktop = { 'Mac OS': WebSubPlatform.DARWIN, Windows: WebSubPlatform.WIN32 }
  const [os, kind] = config.browser
  const special = config.syncFullHistory && kind === 'Desktop' && Object.hasOwn(desktop, os)
  return { webSubPlatform: special ? desktop[os] : WebSubPlatform.WEB_BROWSER }
}

function checkConfig(config, fn) {
  if (!config || !Array.isArray(config.version) || !Array.isArray(config.browser) || config.browser.length < 2) {
    throw makeBoom(`${fn}: config needs version [a, b, c] and browser [os, kind, version]`, { statusCode: 400 })
  }
}

function clientPayloadOf(config) {
  const payload = {
    connectType: proto.ClientPayload.ConnectType.WIFI_UNKNOWN,
    connectReason: proto.ClientPayload.ConnectReason.USER_ACTIVATED,
    userAgent: userAgentOf(config),
  }
  if (!isAndroid(config)) payload.webInfo = webInfoOf(config)
  if (config.pushName) payload.pushName = config.pushName
  return payload
}

/** The ClientPayload (proto instance) of a login as `userJid`. */
function generateLoginNode(userJid, config) {
  checkConfig(config, 'generateLoginNode')
  const decoded = typeof userJid === 'string' ? jidDecode(userJid) : undefined
  if (!decoded) throw makeBoom(`generateLoginNode: not a JID: ${userJid}`, { statusCode: 400 })
  return proto.ClientPayload.fromObject({
    ...clientPayloadOf(config),
    passive: true,
    pull: true,
    username: +decoded.user,
    device: decoded.device,
    lidDbMigrated: false,
  })
}

function platformTypeOf(kind) {
  const { PlatformType } = proto.DeviceProps
  const name = String(kind).toUpperCase()
  if (name === 'ANDROID') return PlatformType.ANDROID_PHONE
  return PlatformType[name] || PlatformType.CHROME
}

/** The ClientPayload (proto instance) that registers a new companion (QR or code pairing). */
function generateRegistrationNode(creds, config) {
  checkConfig(config, 'generateRegistrationNode')
  const { registrationId, signedPreKey, signedIdentityKey } = creds || {}
  if (registrationId == null || !signedPreKey?.keyPair || !signedIdentityKey?.public) {
    throw makeBoom('generateRegistrationNode: creds need registrationId, signedPreKey and signedIdentityKey', { statusCode: 400 })
  }
  const deviceProps = proto.DeviceProps.encode({
    os: config.browser[0],
    platformType: platformTypeOf(config.browser[1]),
    requireFullSync: config.syncFullHistory,
    historySyncConfig: {
      storageQuotaMb: 10240,
      inlineInitialPayloadInE2EeMsg: true,
      supportCallLogHistory: false,
      supportBotUserAgentChatHistory: true,
      supportCagReactionsAndPolls: true,
      supportBizHostedMsg: true,
      supportRecentSyncChunkMessageCountTuning: true,
      supportHostedGroupMsg: true,
      supportFbidBotChatHistory: true,
      supportMessageAssociation: true,
      supportGroupHistory: false,
    },
    version: { primary: 10, secondary: 15, tertiary: 7 },
  }).finish()
  return proto.ClientPayload.fromObject({
    ...clientPayloadOf(config),
    passive: false,
    pull: false,
    devicePairingData: {
      // the MD5 of the version text, e.g. "2.3000.1"
      buildHash: createHash('md5').update(config.version.join('.')).digest(),
      deviceProps,
      eRegid: encodeBigEndian(registrationId),
      eKeytype: KEY_BUNDLE_TYPE,
      eIdent: signedIdentityKey.public,
      eSkeyId: encodeBigEndian(signedPreKey.keyId, 3),
      eSkeyVal: signedPreKey.keyPair.public,
      eSkeySig: signedPreKey.signature,
    },
  })
}

/**
 * Checks a `<iq><pair-success>` against our ADV secret and identity key and signs the device
 * identity. Returns `{ creds, reply }`: the creds update (account, me, signalIdentities,
 * platform) and the `<iq type=result><pair-device-sign>` to send.
 */
function configureSuccessfulPairing(stanza, { advSecretKey, signedIdentityKey, signalIdentities }) {
  const pairSuccess = getBinaryNodeChild(stanza, 'pair-success')
  const identityNode = getBinaryNodeChild(pairSuccess, 'device-identity')
  const deviceNode = getBinaryNodeChild(pairSuccess, 'device')
  if (!identityNode || !deviceNode) {
    throw makeBoom('Missing device-identity or device in pair success node', { data: stanza })
  }
  if (!(identityNode.content instanceof Uint8Array)) {
    throw makeBoom('device-identity in pair success node has no bytes', { statusCode: 400, data: stanza })
  }
  const { jid, lid } = deviceNode.attrs
  const bizName = getBinaryNodeChild(pairSuccess, 'biz')?.attrs.name
  const platform = getBinaryNodeChild(pairSuccess, 'platform')?.attrs.name

  let signed
  try {
    signed = proto.ADVSignedDeviceIdentityHMAC.decode(identityNode.content)
  } catch (err) {
    throw makeBoom(`Invalid device-identity in pair success node: ${err.message}`, { statusCode: 400, data: stanza })
  }
  const hosted = signed.accountType != null && signed.accountType === proto.ADVEncryptionType.HOSTED
  const hmacInput = Buffer.concat([hosted ? WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX : Buffer.alloc(0), signed.details || Buffer.alloc(0)])
  const expected = hmacSign(hmacInput, Buffer.from(advSecretKey, 'base64'))
  if (!signed.hmac || Buffer.compare(Buffer.from(signed.hmac), Buffer.from(expected)) !== 0) {
    throw makeBoom('Invalid account signature')
  }

  const account = proto.ADVSignedDeviceIdentity.decode(signed.details)
  const { accountSignatureKey, accountSignature, details } = account
  const deviceIdentity = proto.ADVDeviceIdentity.decode(details)
  const accountPrefix = deviceIdentity.deviceType === proto.ADVEncryptionType.HOSTED ? WA_ADV_HOSTED_ACCOUNT_SIG_PREFIX : WA_ADV_ACCOUNT_SIG_PREFIX
  const ourPublic = Buffer.from(signedIdentityKey.public)
  let verified = false
  if (accountSignatureKey?.length === 32 && accountSignature?.length === 64) {
    verified = Curve.verify(accountSignatureKey, Buffer.concat([accountPrefix, details, ourPublic]), accountSignature)
  }
  if (!verified) throw makeBoom('Failed to verify account signature')

  account.deviceSignature = Curve.sign(
    signedIdentityKey.private,
    Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, details, ourPublic, accountSignatureKey]),
  )

  const reply = {
    tag: 'iq',
    attrs: { to: S_WHATSAPP_NET, type: 'result', id: stanza.attrs.id },
    content: [
      {
        tag: 'pair-device-sign',
        attrs: {},
        content: [
          {
            tag: 'device-identity',
            attrs: { 'key-index': String(deviceIdentity.keyIndex) },
            content: encodeSignedDeviceIdentity(account, false),
          },
        ],
      },
    ],
  }
  const creds = {
    account,
    me: { id: jid, name: bizName, lid },
    signalIdentities: [...(signalIdentities || []), createSignalIdentity(lid, accountSignatureKey)],
    platform,
  }
  return { creds, reply }
}

/** An ADVSignedDeviceIdentity's bytes, with the account signature key only if asked and set. */
function encodeSignedDeviceIdentity(account, includeSignatureKey) {
  const copy = { ...account }
  if (!includeSignatureKey || !copy.accountSignatureKey?.length) copy.accountSignatureKey = null
  return proto.ADVSignedDeviceIdentity.encode(copy).finish()
}

module.exports = {
  generateLoginNode,
  generateRegistrationNode,
  configureSuccessfulPairing,
  encodeSignedDeviceIdentity,
}
