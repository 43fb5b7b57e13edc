'use strict'
// Baileys' Signal and stanza helpers that need no socket: the signal identity of an account,
// pre-key ranges and their upload <iq>, the XMPP forms of (signed) pre-keys, device JIDs from a
// usync result, the <ack> of a stanza, the key bundle of a retry receipt and the injection of
// fetched key bundles. Same arguments and results as Baileys 7's (__test__/utils-baileys.test.mjs,
// __test__/pipeline-utils-baileys.test.mjs).
const { Curve, generateSignalPubKey } = require('./crypto.js')
const { encodeBigEndian } = require('./generics.js')
const { KEY_BUNDLE_TYPE } = require('./defaults.js')
const { jidDecode, getServerFromDomainType, WAJIDDomains, S_WHATSAPP_NET } = require('./jid.js')
const { getBinaryNodeChild, getBinaryNodeChildren, getBinaryNodeChildBuffer, getBinaryNodeChildUInt, assertNodeErrorFree } = require('./binary.js')
const { makeBoom } = require('./boom.js')

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

const isUInt = (n) => typeof n === 'number' && Number.isInteger(n)
const sized = (b, n) => b instanceof Uint8Array && b.length === n

/**
 * The key bundle a retry receipt carries (`<keys>`: type 5, identity, skey, optional key;
 * `<registration>` beside it) as the `session` injectE2ESession takes, or null when absent or
 * malformed.
 */
function extractE2ESessionFromRetryReceipt(receipt) {
  const keys = getBinaryNodeChild(receipt, 'keys')
  if (!keys) return null
  const type = getBinaryNodeChildBuffer(keys, 'type')
  if (!sized(type, 1) || type[0] !== KEY_BUNDLE_TYPE[0]) return null
  const identity = getBinaryNodeChildBuffer(keys, 'identity')
  const skey = getBinaryNodeChild(keys, 'skey')
  if (!sized(identity, 32) || !skey) return null
  const registrationId = getBinaryNodeChildUInt(receipt, 'registration', 4)
  if (!isUInt(registrationId)) return null
  const signedPub = getBinaryNodeChildBuffer(skey, 'value')
  const signature = getBinaryNodeChildBuffer(skey, 'signature')
  const signedId = getBinaryNodeChildUInt(skey, 'id', 3)
  if (!sized(signedPub, 32) || !signature || !isUInt(signedId)) return null
  let preKey
  const keyNode = getBinaryNodeChild(keys, 'key')
  if (keyNode) {
    const pub = getBinaryNodeChildBuffer(keyNode, 'value')
    const keyId = getBinaryNodeChildUInt(keyNode, 'id', 3)
    if (!sized(pub, 32) || !isUInt(keyId)) return null
    preKey = { keyId, publicKey: generateSignalPubKey(pub) }
  }
  return {
    registrationId,
    identityKey: generateSignalPubKey(identity),
    signedPreKey: { keyId: signedId, publicKey: generateSignalPubKey(signedPub), signature },
    preKey,
  }
}

/**
 * Starts a Signal session with every device of a key-bundle result (`<list><user jid>` with
 * registration, identity, skey and optional key) through `repository.injectE2ESession`.
 * A `<user>` with an `<error>` fails the whole call first, as in Baileys.
 */
async function parseAndInjectE2ESessions(node, repository) {
  if (!repository || typeof repository.injectE2ESession !== 'function') {
    throw makeBoom('parseAndInjectE2ESessions: the repository has no injectE2ESession', { statusCode: 400 })
  }
  const users = getBinaryNodeChildren(getBinaryNodeChild(node, 'list'), 'user')
  for (const user of users) assertNodeErrorFree(user)
  const keyOf = (key) =>
    key
      ? {
          keyId: getBinaryNodeChildUInt(key, 'id', 3),
          publicKey: generateSignalPubKey(needBytes(key, 'value')),
          signature: getBinaryNodeChildBuffer(key, 'signature'),
        }
      : undefined
  const needBytes = (parent, tag) => {
    const b = getBinaryNodeChildBuffer(parent, tag)
    if (!b) throw makeBoom(`key bundle of ${parent.attrs?.jid ?? 'a user'}: no <${tag}>`, { statusCode: 400 })
    return b
  }
  // Injecting is CPU-bound; let the event loop breathe between batches of 100.
  for (let i = 0; i < users.length; i++) {
    if (i && i % 100 === 0) await new Promise((resolve) => setImmediate(resolve))
    const user = users[i]
    const jid = user.attrs?.jid
    if (!jid) throw makeBoom('key bundle: a <user> without jid', { statusCode: 400 })
    const identity = needBytes(user, 'identity')
    if (!getBinaryNodeChild(user, 'registration')) throw makeBoom(`key bundle of ${jid}: no <registration>`, { statusCode: 400 })
    await repository.injectE2ESession({
      jid,
      session: {
        registrationId: getBinaryNodeChildUInt(user, 'registration', 4),
        identityKey: generateSignalPubKey(identity),
        signedPreKey: keyOf(getBinaryNodeChild(user, 'skey')),
        preKey: keyOf(getBinaryNodeChild(user, 'key')),
      },
    })
  }
}

module.exports = {
  createSignalIdentity,
  extractE2ESessionFromRetryReceipt,
  parseAndInjectE2ESessions,
  getPreKeys,
  generateOrGetPreKeys,
  xmppSignedPreKey,
  xmppPreKey,
  getNextPreKeys,
  getNextPreKeysNode,
  extractDeviceJids,
  buildAckStanza,
}
