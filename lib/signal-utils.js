'use strict'
// Baileys' Signal and stanza helpers that need no socket: the signal identity of an account,
// pre-key ranges and their upload <iq>, the XMPP forms of (signed) pre-keys, device JIDs from a
// usync result, and the <ack> of a stanza. Same arguments and results as Baileys 7's
// (__test__/utils-baileys.test.mjs).
const { Curve, generateSignalPubKey } = require('./crypto.js')
const { encodeBigEndian } = require('./generics.js')
const { KEY_BUNDLE_TYPE } = require('./defaults.js')
const { jidDecode, getServerFromDomainType, WAJIDDomains, S_WHATSAPP_NET } = require('./jid.js')

const createSignalIdentity = (wid, accountSignatureKey) => ({
  identifier: { name: wid, deviceId: 0 },
  identifierKey: generateSignalPubKey(accountSignatureKey),
})

/** The pre-keys with ids min..limit-1 from a key store. */
function getPreKeys({ get }, min, limit) {
  const ids = []
  for (let id = min; id < limit; id++) ids.push(String(id))
  return get('pre-key', ids)
}

/** New key pairs to bring the not-yet-uploaded pre-keys up to `range`. */
function generateOrGetPreKeys(creds, range) {
  const available = creds.nextPreKeyId - creds.firstUnuploadedPreKeyId
  const remaining = range - available
  const lastPreKeyId = creds.nextPreKeyId + remaining - 1
  const newPreKeys = {}
  if (remaining > 0) {
    for (let i = creds.nextPreKeyId; i <= lastPreKeyId; i++) newPreKeys[i] = Curve.generateKeyPair()
  }
  return { newPreKeys, lastPreKeyId, preKeysRange: [creds.firstUnuploadedPreKeyId, range] }
}

const xmppSignedPreKey = (key) => ({
  tag: 'skey',
  attrs: {},
  content: [
    { tag: 'id', attrs: {}, content: encodeBigEndian(key.keyId, 3) },
    { tag: 'value', attrs: {}, content: key.keyPair.public },
    { tag: 'signature', attrs: {}, content: key.signature },
  ],
})

const xmppPreKey = (pair, id) => ({
  tag: 'key',
  attrs: {},
  content: [
    { tag: 'id', attrs: {}, content: encodeBigEndian(id, 3) },
    { tag: 'value', attrs: {}, content: pair.public },
  ],
})

/** Generates and stores what is missing of `count` pre-keys; the creds update and the keys. */
async function getNextPreKeys({ creds, keys }, count) {
  const { newPreKeys, lastPreKeyId, preKeysRange } = generateOrGetPreKeys(creds, count)
  const update = {
    nextPreKeyId: Math.max(lastPreKeyId + 1, creds.nextPreKeyId),
    firstUnuploadedPreKeyId: Math.max(creds.firstUnuploadedPreKeyId, lastPreKeyId + 1),
  }
  await keys.set({ 'pre-key': newPreKeys })
  const preKeys = await getPreKeys(keys, preKeysRange[0], preKeysRange[0] + preKeysRange[1])
  return { update, preKeys }
}

/** The `<iq xmlns=encrypt type=set>` that uploads `count` pre-keys, and the creds update. */
async function getNextPreKeysNode(state, count) {
  const { creds } = state
  const { update, preKeys } = await getNextPreKeys(state, count)
  const node = {
    tag: 'iq',
    attrs: { xmlns: 'encrypt', type: 'set', to: S_WHATSAPP_NET },
    content: [
      { tag: 'registration', attrs: {}, content: encodeBigEndian(creds.registrationId) },
      { tag: 'type', attrs: {}, content: KEY_BUNDLE_TYPE },
      { tag: 'identity', attrs: {}, content: creds.signedIdentityKey.public },
      { tag: 'list', attrs: {}, content: Object.keys(preKeys).map((k) => xmppPreKey(preKeys[+k], +k)) },
      xmppSignedPreKey(creds.signedPreKey),
    ],
  }
  return { update, node }
}

/** The devices to encrypt for from a usync devices result (not this device; key index required). */
function extractDeviceJids(result, myJid, myLid, excludeZeroDevices) {
  const { user: myUser, device: myDevice } = jidDecode(myJid)
  const out = []
  for (const { devices, id } of result) {
    const { user, server, domainType: base } = jidDecode(id)
    let domainType = base
    const list = devices?.deviceList
    if (!Array.isArray(list)) continue
    for (const { id: device, keyIndex, isHosted } of list) {
      const wanted = (!excludeZeroDevices || device !== 0) && ((myUser !== user && myLid !== user) || myDevice !== device) && (device === 0 || !!keyIndex)
      if (!wanted) continue
      if (isHosted) domainType = domainType === WAJIDDomains.LID ? WAJIDDomains.HOSTED_LID : WAJIDDomains.HOSTED
      out.push({ user, device, domainType, server: getServerFromDomainType(server, domainType) })
    }
  }
  return out
}

/** The `<ack>` of a received stanza (with `error` for a nack; `from` for messages). */
function buildAckStanza(node, errorCode, meId) {
  const { tag, attrs } = node
  const stanza = { tag: 'ack', attrs: { id: attrs.id, to: attrs.from, class: tag } }
  if (errorCode) stanza.attrs.error = errorCode.toString()
  if (attrs.participant) stanza.attrs.participant = attrs.participant
  if (attrs.recipient) stanza.attrs.recipient = attrs.recipient
  if (attrs.type) stanza.attrs.type = attrs.type
  if (tag === 'message' && meId) stanza.attrs.from = meId
  return stanza
}

module.exports = {
  createSignalIdentity,
  getPreKeys,
  generateOrGetPreKeys,
  xmppSignedPreKey,
  xmppPreKey,
  getNextPreKeys,
  getNextPreKeysNode,
  extractDeviceJids,
  buildAckStanza,
}
