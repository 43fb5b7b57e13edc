'use strict'
// The receive pipeline's stanza helpers, as Baileys 7 has them (Utils/decode-wa-message.js):
// the addressing of a <message> (PN or LID, and the other form of the sender), the JID its
// Signal session is kept under, the WebMessageInfo skeleton of a stanza, and its decryption
// with a Baileys-shaped Signal repository (ours from makeLibSignalRepository, or Baileys').
// Same arguments and results as Baileys' (__test__/pipeline-utils-baileys.test.mjs).
const { proto } = require('./proto.js')
const { makeBoom } = require('./boom.js')
const { unpadRandomMax16 } = require('./generics.js')
const { NO_MESSAGE_FOUND_ERROR_TEXT, DECRYPTION_RETRY_CONFIG } = require('./defaults.js')
const {
  areJidsSameUser,
  isHostedLidUser,
  isHostedPnUser,
  isJidBroadcast,
  isJidGroup,
  isJidMetaAI,
  isJidNewsletter,
  isJidStatusBroadcast,
  isLidUser,
  isPnUser,
} = require('./jid.js')

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

function checkStanza(stanza, fn) {
  if (!stanza || typeof stanza !== 'object' || !stanza.attrs || typeof stanza.attrs !== 'object') {
    throw makeBoom(`${fn}: not a binary node (no attrs)`, { statusCode: 400, data: stanza })
  }
}

/** The JID a sender's Signal session lives under: its LID when one is known. */
async function getDecryptionJid(sender, repository) {
  if (isLidUser(sender) || isHostedLidUser(sender)) return sender
  if (!repository?.lidMapping || typeof repository.lidMapping.getLIDForPN !== 'function') {
    throw makeBoom('getDecryptionJid: the repository has no lidMapping.getLIDForPN', { statusCode: 400 })
  }
  return (await repository.lidMapping.getLIDForPN(sender)) || sender
}

/**
 * A stanza's addressing: `addressingMode` ('lid' or 'pn', from the attribute or the sender's
 * server) and the other form of the sender and of the recipient, as the server attached them.
 */
function extractAddressingContext(stanza) {
  checkStanza(stanza, 'extractAddressingContext')
  const a = stanza.attrs
  const sender = a.participant || a.from
  const addressingMode = a.addressing_mode || (typeof sender === 'string' && sender.endsWith('lid') ? 'lid' : 'pn')
  // A LID-addressed stanza carries the PN forms, a PN-addressed one the LID forms.
  const lid = addressingMode === 'lid'
  const senderAlt = lid
    ? a.participant_pn || a.sender_pn || a.peer_recipient_pn
    : a.participant_lid || a.sender_lid || a.peer_recipient_lid
  const recipientAlt = lid ? a.recipient_pn : a.recipient_lid
  return { addressingMode, senderAlt, recipientAlt }
}

// A PN-addressed envelope that names the sender's LID: remember the pair and move the session.
async function learnMappingFromEnvelope(stanza, sender, repository, decryptionJid, logger) {
  const { senderAlt } = extractAddressingContext(stanza)
  if (!senderAlt || !isLidUser(senderAlt) || !isPnUser(sender) || decryptionJid !== sender) return
  try {
    await repository.lidMapping.storeLIDPNMappings([{ lid: senderAlt, pn: sender }])
    await repository.migrateSession(sender, senderAlt)
    logger.debug({ sender, senderAlt }, 'Stored LID mapping from envelope')
  } catch (error) {
    logger.warn({ sender, senderAlt, error }, 'Failed to store LID mapping')
  }
}

/**
 * Reads a received <message> stanza (without decrypting): `{ fullMessage, author, sender }`,
 * where fullMessage is the WebMessageInfo skeleton (key, category, timestamp, push name...).
 */
function decodeMessageNode(stanza, meId, meLid) {
  checkStanza(stanza, 'decodeMessageNode')
  const { id, from, participant, recipient } = stanza.attrs
  if (!id) throw makeBoom('Invalid message stanza: missing id attribute', { data: stanza })
  if (!from) throw makeBoom('Invalid message stanza: missing from attribute', { data: stanza })
  const addressing = extractAddressingContext(stanza)
  const mine = (jid) => areJidsSameUser(jid, meId) || areJidsSameUser(jid, meLid)

  let msgType
  let chatId
  let author
  let fromMe = false
  if (isPnUser(from) || isLidUser(from) || isHostedLidUser(from) || isHostedPnUser(from)) {
    // 1:1. A `recipient` (other than Meta AI) means one of our devices sent it to that chat.
    if (recipient && !isJidMetaAI(recipient)) {
      if (!mine(from)) throw makeBoom('receipient present, but msg not from me', { data: stanza })
      fromMe = true
      chatId = recipient
    } else {
      fromMe = mine(from)
      chatId = from
    }
    msgType = 'chat'
    author = from
  } else if (isJidGroup(from)) {
    if (!participant) throw makeBoom('No participant in group message')
    fromMe = mine(participant)
    msgType = 'group'
    author = participant
    chatId = from
  } else if (isJidBroadcast(from)) {
    if (!participant) throw makeBoom('No participant in group message')
    // only the PN form counts here, as in Baileys
    const byMe = areJidsSameUser(participant, meId)
    if (isJidStatusBroadcast(from)) msgType = byMe ? 'direct_peer_status' : 'other_status'
    else msgType = byMe ? 'peer_broadcast' : 'other_broadcast'
    fromMe = byMe
    chatId = from
    author = participant
  } else if (isJidNewsletter(from)) {
    msgType = 'newsletter'
    chatId = from
    author = from
    fromMe = mine(from)
  } else {
    throw makeBoom('Unknown message type', { data: stanza })
  }

  const group = isJidGroup(chatId)
  const a = stanza.attrs
  const key = {
    remoteJid: chatId,
    remoteJidAlt: group ? undefined : addressing.senderAlt,
    remoteJidUsername: group ? undefined : a.peer_recipient_username || a.recipient_username,
    fromMe,
    id,
    participant,
    participantAlt: group ? addressing.senderAlt : undefined,
    participantUsername: a.participant ? a.participant_username : undefined,
    addressingMode: addressing.addressingMode,
  }
  if (msgType === 'newsletter' && a.server_id) key.server_id = a.server_id
  const fullMessage = {
    key,
    category: a.category,
    messageTimestamp: +a.t,
    pushName: a.notify,
    broadcast: isJidBroadcast(from),
  }
  if (fromMe) fullMessage.status = proto.WebMessageInfo.Status.SERVER_ACK
  return { fullMessage, author, sender: msgType === 'chat' ? author : chatId }
}

const isSessionRecordError = (err) => {
  const text = String(err?.message || err || '')
  return DECRYPTION_RETRY_CONFIG.sessionRecordErrors.some((p) => text.includes(p))
}

/**
 * decodeMessageNode plus `decrypt()`: decrypts every <enc> (pkmsg, msg, skmsg) and <plaintext>
 * child with `repository` into `fullMessage.message`; a failure becomes a CIPHERTEXT stub
 * whose parameter is the error text, as in Baileys.
 */
function decryptMessageNode(stanza, meId, meLid, repository, logger) {
  const { fullMessage, author, sender } = decodeMessageNode(stanza, meId, meLid)
  if (!repository || typeof repository.decryptMessage !== 'function') {
    throw makeBoom('decryptMessageNode: a Signal repository (decryptMessage, decryptGroupMessage...) is required', { statusCode: 400 })
  }
  const log = logger || silent
  const stub = (text) => {
    fullMessage.messageStubType = proto.WebMessageInfo.StubType.CIPHERTEXT
    fullMessage.messageStubParameters = [text]
  }

  async function decryptOne(tag, attrs, content) {
    const decryptionJid = await getDecryptionJid(author, repository)
    if (tag !== 'plaintext') await learnMappingFromEnvelope(stanza, author, repository, decryptionJid, log)
    const e2eType = tag === 'plaintext' ? 'plaintext' : attrs.type
    try {
      let bytes
      if (e2eType === 'skmsg') {
        bytes = await repository.decryptGroupMessage({ group: sender, authorJid: author, msg: content })
      } else if (e2eType === 'pkmsg' || e2eType === 'msg') {
        bytes = await repository.decryptMessage({ jid: decryptionJid, type: e2eType, ciphertext: content })
      } else if (e2eType === 'plaintext') {
        bytes = content
      } else {
        throw new Error(`Unknown e2e type: ${e2eType}`)
      }
      let msg = proto.Message.decode(e2eType === 'plaintext' ? bytes : unpadRandomMax16(bytes))
      msg = msg.deviceSentMessage?.message || msg
      if (msg.senderKeyDistributionMessage) {
        try {
          await repository.processSenderKeyDistributionMessage({ authorJid: author, item: msg.senderKeyDistributionMessage })
        } catch (err) {
          log.error({ key: fullMessage.key, err }, 'failed to process sender key distribution message')
        }
      }
      if (fullMessage.message) Object.assign(fullMessage.message, msg)
      else fullMessage.message = msg
    } catch (err) {
      log.error(
        { key: fullMessage.key, err, messageType: e2eType, sender, author, isSessionRecordError: isSessionRecordError(err) },
        'failed to decrypt message',
      )
      stub(String(err?.message ?? err))
    }
  }

  return {
    fullMessage,
    category: stanza.attrs.category,
    author,
    async decrypt() {
      let decryptables = 0
      const children = Array.isArray(stanza.content) ? stanza.content : []
      for (const child of children) {
        if (!child || typeof child !== 'object') continue
        const { tag, content } = child
        const attrs = child.attrs || {}
        if (tag === 'verified_name' && content instanceof Uint8Array) {
          const cert = proto.VerifiedNameCertificate.decode(content)
          fullMessage.verifiedBizName = proto.VerifiedNameCertificate.Details.decode(cert.details).verifiedName
        }
        if (tag === 'unavailable' && attrs.type === 'view_once') fullMessage.key.isViewOnce = true
        if (tag === 'enc' && attrs.count) fullMessage.retryCount = Number(attrs.count)
        if ((tag !== 'enc' && tag !== 'plaintext') || !(content instanceof Uint8Array)) continue
        decryptables++
        await decryptOne(tag, attrs, content)
      }
      if (!decryptables && !fullMessage.key?.isViewOnce) stub(NO_MESSAGE_FOUND_ERROR_TEXT)
    },
  }
}

module.exports = {
  getDecryptionJid,
  extractAddressingContext,
  decodeMessageNode,
  decryptMessageNode,
}
