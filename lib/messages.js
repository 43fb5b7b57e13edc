'use strict'
// Baileys' message utilities that need no socket: content type and unwrapping, receipts,
// reactions, poll votes and event responses (decrypt and tally), keys, forwarding content,
// media helpers that work on bytes already at hand. Same names, arguments and results as
// Baileys 7's (compared in __test__/utils-baileys.test.mjs).
const { createHash, createHmac, createDecipheriv } = require('node:crypto')
const { Readable } = require('node:stream')
const { Boom } = require('@hapi/boom')
const { proto, protoEnum } = require('./proto.js')
const { getKeyAuthor } = require('./generics.js')
const { URL_REGEX } = require('./defaults.js')
const jid = require('./jid.js')

/** The first key of a Message that is content ('conversation' or '*Message', not a sender key). */
function getContentType(content) {
  if (!content) return undefined
  return Object.keys(content).find(
    (k) => (k === 'conversation' || k.includes('Message')) && k !== 'senderKeyDistributionMessage',
  )
}

const WRAPPERS = [
  'ephemeralMessage',
  'viewOnceMessage',
  'documentWithCaptionMessage',
  'viewOnceMessageV2',
  'viewOnceMessageV2Extension',
  'editedMessage',
  'associatedChildMessage',
  'groupStatusMessage',
  'groupStatusMessageV2',
]

/** The content inside ephemeral, view-once, edited, ... wrappers (at most 5 levels deep). */
function normalizeMessageContent(content) {
  if (!content) return undefined
  for (let depth = 0; depth < 5; depth++) {
    let inner
    for (const w of WRAPPERS) {
      if (content?.[w]) {
        inner = content[w]
        break
      }
    }
    if (!inner) break
    content = inner.message
  }
  return content
}

function fromTemplate(msg) {
  for (const k of ['imageMessage', 'documentMessage', 'videoMessage', 'locationMessage']) {
    if (msg[k]) return { [k]: msg[k] }
  }
  const text = 'contentText' in msg ? msg.contentText : 'hydratedContentText' in msg ? msg.hydratedContentText : ''
  return { conversation: text }
}

/** The message's real content: unwrapped, and buttons/templates reduced to their media or text. */
function extractMessageContent(content) {
  content = normalizeMessageContent(content)
  if (content?.buttonsMessage) return fromTemplate(content.buttonsMessage)
  const t = content?.templateMessage
  if (t?.hydratedFourRowTemplate) return fromTemplate(t.hydratedFourRowTemplate)
  if (t?.hydratedTemplate) return fromTemplate(t.hydratedTemplate)
  if (t?.fourRowTemplate) return fromTemplate(t.fourRowTemplate)
  return content
}

/** The sending platform a message id suggests. */
function getDevice(id) {
  if (/^3A.{18}$/.test(id)) return 'ios'
  if (/^3E.{20}$/.test(id)) return 'web'
  if (/^(.{21}|.{32})$/.test(id)) return 'android'
  if (/^(3F|.{18}$)/.test(id)) return 'desktop'
  return 'unknown'
}

function updateMessageWithReceipt(msg, receipt) {
  msg.userReceipt = msg.userReceipt || []
  const existing = msg.userReceipt.find((r) => r.userJid === receipt.userJid)
  if (existing) Object.assign(existing, receipt)
  else msg.userReceipt.push(receipt)
}

/** One reaction per author: the new one replaces the author's previous one. */
function updateMessageWithReaction(msg, reaction) {
  const author = getKeyAuthor(reaction.key)
  const reactions = (msg.reactions || []).filter((r) => getKeyAuthor(r.key) !== author)
  reaction.text = reaction.text || ''
  reactions.push(reaction)
  msg.reactions = reactions
}

/** One vote per voter; a vote with no option selected removes the voter's vote. */
function updateMessageWithPollUpdate(msg, update) {
  const author = getKeyAuthor(update.pollUpdateMessageKey)
  const updates = (msg.pollUpdates || []).filter((r) => getKeyAuthor(r.pollUpdateMessageKey) !== author)
  if (update.vote?.selectedOptions?.length) updates.push(update)
  msg.pollUpdates = updates
}

function updateMessageWithEventResponse(msg, update) {
  const author = getKeyAuthor(update.eventResponseMessageKey)
  const responses = (msg.eventResponses || []).filter((r) => getKeyAuthor(r.eventResponseMessageKey) !== author)
  responses.push(update)
  msg.eventResponses = responses
}

// Baileys keys options by the SHA-256 digest read as a UTF-8 string; votes carry digests as
// bytes and are keyed the same way (`option.toString()`), so equal digests meet.
const digestKey = (name) => createHash('sha256').update(Buffer.from(name)).digest().toString()

/** `[{ name, voters }]` for each option of the poll, then 'Unknown' for votes of no option. */
function getAggregateVotesInPollMessage({ message, pollUpdates }, meId) {
  const options =
    message?.pollCreationMessage?.options ||
    message?.pollCreationMessageV2?.options ||
    message?.pollCreationMessageV3?.options ||
    []
  const tally = {}
  for (const opt of options) tally[digestKey(opt.optionName || '')] = { name: opt.optionName || '', voters: [] }
  for (const update of pollUpdates || []) {
    if (!update.vote) continue
    for (const option of update.vote.selectedOptions || []) {
      const key = option.toString()
      tally[key] ??= { name: 'Unknown', voters: [] }
      tally[key].voters.push(getKeyAuthor(update.pollUpdateMessageKey, meId))
    }
  }
  return Object.values(tally)
}

/** `[{ response, responders }]` for GOING, NOT_GOING, MAYBE. */
function getAggregateResponsesInEventMessage({ eventResponses }, meId) {
  const tally = {}
  for (const response of ['GOING', 'NOT_GOING', 'MAYBE']) tally[response] = { response, responders: [] }
  const names = protoEnum('Message.EventResponseMessage.EventResponseType')
  for (const update of eventResponses || []) {
    // Baileys tallies `update.eventResponse` but emits `{ response: EventResponseMessage }`,
    // so its own updates count for nothing there; both shapes count here.
    const r = update.response?.response
    const kind = update.eventResponse || (typeof r === 'number' ? Object.keys(names).find((k) => names[k] === r) : r) || 'UNKNOWN'
    if (kind !== 'UNKNOWN' && Object.hasOwn(tally, kind)) {
      tally[kind].responders.push(getKeyAuthor(update.eventResponseMessageKey, meId))
    }
  }
  return Object.values(tally)
}

/** Keys not from us, grouped by chat and participant: `[{ jid, participant, messageIds }]`. */
function aggregateMessageKeysNotFromMe(keys) {
  const groups = {}
  for (const { remoteJid, id, participant, fromMe } of keys) {
    if (fromMe) continue
    const k = `${remoteJid}:${participant || ''}`
    groups[k] ??= { jid: remoteJid, participant, messageIds: [] }
    groups[k].messageIds.push(id)
  }
  return Object.values(groups)
}

const hmacSha256 = (data, key) => createHmac('sha256', key).update(data).digest()

function gcmDecrypt(ciphertext, key, iv, aad) {
  const data = Buffer.from(ciphertext)
  const decipher = createDecipheriv('aes-256-gcm', key, iv)
  decipher.setAAD(aad)
  decipher.setAuthTag(data.subarray(data.length - 16))
  return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()])
}

/** The key a poll vote or event response is encrypted with (HMAC chain over ids and a label). */
function addOnKey(msgId, creatorJid, actorJid, label, secret) {
  const sign = Buffer.concat([Buffer.from(msgId), Buffer.from(creatorJid), Buffer.from(actorJid), Buffer.from(label), Buffer.from([1])])
  return hmacSha256(sign, hmacSha256(secret, Buffer.alloc(32)))
}

/** Decrypts a poll vote: a `proto.Message.PollVoteMessage` with the SHA-256 of each option chosen. */
function decryptPollVote({ encPayload, encIv }, { pollCreatorJid, pollMsgId, pollEncKey, voterJid }) {
  const key = addOnKey(pollMsgId, pollCreatorJid, voterJid, 'Poll Vote', pollEncKey)
  const plain = gcmDecrypt(encPayload, key, encIv, Buffer.from(`${pollMsgId}\u0000${voterJid}`))
  return proto.Message.PollVoteMessage.decode(plain)
}

/** Decrypts an event response: a `proto.Message.EventResponseMessage`. */
function decryptEventResponse({ encPayload, encIv }, { eventCreatorJid, eventMsgId, eventEncKey, responderJid }) {
  const key = addOnKey(eventMsgId, eventCreatorJid, responderJid, 'Event Response', eventEncKey)
  const plain = gcmDecrypt(encPayload, key, encIv, Buffer.from(`${eventMsgId}\u0000${responderJid}`))
  return proto.Message.EventResponseMessage.decode(plain)
}

const REAL_STUBS = () => {
  const S = protoEnum('WebMessageInfo.StubType')
  return new Set([S.CALL_MISSED_GROUP_VIDEO, S.CALL_MISSED_GROUP_VOICE, S.CALL_MISSED_VIDEO, S.CALL_MISSED_VOICE, S.GROUP_PARTICIPANT_ADD])
}
let realStubs = null

/** Whether a message is one a user sees (not a protocol message, reaction or poll vote). */
function isRealMessage(message) {
  realStubs ??= REAL_STUBS()
  const content = normalizeMessageContent(message.message)
  const hasContent = !!getContentType(content)
  return (
    (!!content || realStubs.has(message.messageStubType)) &&
    hasContent &&
    !content?.protocolMessage &&
    !content?.reactionMessage &&
    !content?.pollUpdateMessage
  )
}

const shouldIncrementChatUnread = (message) => !message.key.fromMe && !message.messageStubType

/** The chat of a key: the remote JID, or the sender for a broadcast list message from others. */
function getChatId({ remoteJid, participant, fromMe }) {
  if (!remoteJid) {
    throw new Boom('Cannot derive chat id: message key is missing remoteJid', { data: { remoteJid, participant, fromMe } })
  }
  if (jid.isJidBroadcast(remoteJid) && !jid.isJidStatusBroadcast(remoteJid) && !fromMe) {
    if (!participant) {
      throw new Boom('Cannot derive chat id: broadcast message key is missing participant', { data: { remoteJid, fromMe } })
    }
    return participant
  }
  return remoteJid
}

function plainUser(j) {
  if (jid.isHostedPnUser(j) || jid.isHostedLidUser(j)) {
    return jid.jidEncode(jid.jidDecode(j)?.user, jid.isHostedPnUser(j) ? 's.whatsapp.net' : 'lid')
  }
  return jid.jidNormalizedUser(j)
}

/** Normalises a received message in place: user JIDs without devices; reaction and vote keys
 * seen from our side. */
function cleanMessage(message, meId, meLid) {
  message.key.remoteJid = plainUser(message.key.remoteJid)
  message.key.participant = plainUser(message.key.participant)
  const content = normalizeMessageContent(message.message)
  const fromOurSide = (k) => {
    if (message.key.fromMe) return
    k.fromMe = !k.fromMe
      ? jid.areJidsSameUser(k.participant || k.remoteJid, meId) || jid.areJidsSameUser(k.participant || k.remoteJid, meLid)
      : false
    k.remoteJid = message.key.remoteJid
    k.participant = k.participant || message.key.participant
  }
  if (content?.reactionMessage) fromOurSide(content.reactionMessage.key)
  if (content?.pollUpdateMessage) fromOurSide(content.pollUpdateMessage.pollCreationMessageKey)
}

/** The content to send to forward `message` (forwarding score counted, as WhatsApp shows it). */
function generateForwardMessageContent(message, forceForward) {
  let content = message.message
  if (!content) throw new Boom('no content in message', { statusCode: 400 })
  content = normalizeMessageContent(content)
  content = proto.Message.decode(proto.Message.encode(content).finish())
  let key = Object.keys(content)[0]
  let score = content?.[key]?.contextInfo?.forwardingScore || 0
  score += message.key.fromMe && !forceForward ? 0 : 1
  if (key === 'conversation') {
    content.extendedTextMessage = { text: content[key] }
    delete content.conversation
    key = 'extendedTextMessage'
  }
  content[key].contextInfo = score > 0 ? { forwardingScore: score, isForwarded: true } : {}
  return content
}

/** The content that turns disappearing messages on (`ephemeralExpiration` seconds) or off (0). */
function prepareDisappearingMessageSettingContent(ephemeralExpiration) {
  return proto.Message.fromObject({
    ephemeralMessage: {
      message: {
        protocolMessage: {
          type: protoEnum('Message.ProtocolMessage.Type').EPHEMERAL_SETTING,
          ephemeralExpiration: ephemeralExpiration || 0,
        },
      },
    },
  })
}

const hasNonNullishProperty = (message, key) =>
  typeof message === 'object' && message !== null && key in message && message[key] !== null && message[key] !== undefined

/** The media content of a message (document, image, video, audio or sticker), or a Boom 400. */
function assertMediaContent(content) {
  content = extractMessageContent(content)
  const media =
    content?.documentMessage || content?.imageMessage || content?.videoMessage || content?.audioMessage || content?.stickerMessage
  if (!media) throw new Boom('given message is not a media message', { statusCode: 400, data: content })
  return media
}

/** The first URL in a text (https only, no credentials), as Baileys finds link previews. */
const extractUrlFromText = (text) => text.match(URL_REGEX)?.[0]

/** File extension of a media message's mimetype ('.jpeg' for location and product messages). */
function extensionForMediaMessage(message) {
  const type = Object.keys(message)[0]
  if (type === 'locationMessage' || type === 'liveLocationMessage' || type === 'productMessage') return '.jpeg'
  return message[type].mimetype.split(';')[0]?.split('/')[1]
}

/** Base64 of the first content's `fileSha256`. */
function mediaMessageSHA256B64(message) {
  const media = Object.values(message)[0]
  return media?.fileSha256 && Buffer.from(media.fileSha256).toString('base64')
}

function toReadable(buffer) {
  const readable = new Readable({ read() {} })
  readable.push(buffer)
  readable.push(null)
  return readable
}

async function toBuffer(stream) {
  const chunks = []
  for await (const chunk of stream) chunks.push(chunk)
  stream.destroy()
  return Buffer.concat(chunks)
}

const getUrlFromDirectPath = (directPath, host = 'mmg.whatsapp.net') => `https://${host}${directPath}`

const encodeBase64EncodedStringForUpload = (b64) =>
  encodeURIComponent(b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))

let retryStatus = null
/** The HTTP-like status of a media retry result (200, 412, 404, 418). */
function getStatusCodeForMediaRetry(code) {
  if (!retryStatus) {
    const R = protoEnum('MediaRetryNotification.ResultType')
    retryStatus = { [R.SUCCESS]: 200, [R.DECRYPTION_ERROR]: 412, [R.NOT_FOUND]: 404, [R.GENERAL_ERROR]: 418 }
  }
  return retryStatus[code]
}

/** The WebMessageInfo objects (toJSON form) of the `<message>` children of a node. */
function getBinaryNodeMessages({ content }) {
  const out = []
  if (Array.isArray(content)) {
    for (const item of content) {
      if (item.tag === 'message') out.push(proto.WebMessageInfo.decode(item.content).toJSON())
    }
  }
  return out
}

module.exports = {
  getBinaryNodeMessages,
  getContentType,
  normalizeMessageContent,
  extractMessageContent,
  getDevice,
  updateMessageWithReceipt,
  updateMessageWithReaction,
  updateMessageWithPollUpdate,
  updateMessageWithEventResponse,
  getAggregateVotesInPollMessage,
  getAggregateResponsesInEventMessage,
  aggregateMessageKeysNotFromMe,
  decryptPollVote,
  decryptEventResponse,
  isRealMessage,
  shouldIncrementChatUnread,
  getChatId,
  cleanMessage,
  generateForwardMessageContent,
  prepareDisappearingMessageSettingContent,
  hasNonNullishProperty,
  assertMediaContent,
  extractUrlFromText,
  extensionForMediaMessage,
  mediaMessageSHA256B64,
  toReadable,
  toBuffer,
  getUrlFromDirectPath,
  encodeBase64EncodedStringForUpload,
  getStatusCodeForMediaRetry,
}
