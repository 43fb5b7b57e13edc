'use strict'
// Message generation: Baileys' `AnyMessageContent` (what a bot passes to `sendMessage`) turned
// into a `proto.Message`, and the `WAMessage` around it (`generateWAMessageContent`,
// `generateWAMessageFromContent`, `generateWAMessage`). The kinds and field mappings are
// Baileys 7's facts; the checks are ours: an ill-formed content object is a Boom 400 with code
// ERR_WA_MESSAGE_CONTENT naming the field, before anything is sent.
const { randomBytes } = require('node:crypto')
const { Boom } = require('@hapi/boom')
const { proto, protoEnum } = require('./proto.js')
const { WA_DEFAULT_EPHEMERAL } = require('./defaults.js')
const { unixTimestampSeconds, generateMessageIDV2 } = require('./generics.js')
const {
  getContentType,
  normalizeMessageContent,
  generateForwardMessageContent,
  prepareDisappearingMessageSettingContent,
  hasNonNullishProperty,
  extractUrlFromText,
} = require('./messages.js')
const { isJidGroup, isJidNewsletter, isJidStatusBroadcast, jidNormalizedUser } = require('./jid.js')
const { prepareWAMessageMedia } = require('./media.js')

// Call-link prefixes of an event's join link (WhatsApp's URLs).
const CALL_VIDEO_PREFIX = 'https://call.whatsapp.com/video/'
const CALL_AUDIO_PREFIX = 'https://call.whatsapp.com/voice/'

/** The media kinds, which need the media layer (upload, encryption, thumbnails). */
const MEDIA_KINDS = ['image', 'video', 'audio', 'sticker', 'document']

function contentError(field, why) {
  const err = new Boom(`content.${field}: ${why}`, { statusCode: 400, data: { field } })
  err.code = 'ERR_WA_MESSAGE_CONTENT'
  return err
}

function needsUpload(what) {
  const err = new Boom(`${what}: sending media needs options.upload (sendMessage passes the socket's)`, { statusCode: 400, data: { kind: what } })
  err.code = 'ERR_WA_MEDIA_ARGUMENT'
  return err
}

function prepareMedia(message, options, what) {
  if (typeof options.upload !== 'function') throw needsUpload(what)
  return prepareWAMessageMedia(message, options)
}

const isObject = (v) => typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v)

function assertKey(field, key) {
  if (!isObject(key)) throw contentError(field, 'must be a message key { remoteJid, fromMe, id }')
  if (typeof key.id !== 'string' || !key.id) throw contentError(`${field}.id`, 'must be a non-empty string')
  if (typeof key.remoteJid !== 'string' || !key.remoteJid) throw contentError(`${field}.remoteJid`, 'must be a JID string')
}

/**
 * An ARGB colour from '#RRGGBB', 'RRGGBB', 'AARRGGBB' or a number. Baileys returns nothing for a
 * number (its `assertColor` only returns in the string branch), dropping the colour; we keep it.
 */
function assertColor(color) {
  if (typeof color === 'number') return color > 0 ? color : 0xffffffff + Number(color) + 1
  if (typeof color !== 'string') throw contentError('backgroundColor', 'must be a number or a hex string')
  let hex = color.trim().replace('#', '')
  if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw contentError('backgroundColor', `not a hex colour: ${JSON.stringify(color)}`)
  if (hex.length <= 6) hex = `FF${hex.padStart(6, '0')}`
  return parseInt(hex, 16)
}

async function textContent(message, options) {
  if (typeof message.text !== 'string') throw contentError('text', 'must be a string')
  const ext = { text: message.text }
  let info = message.linkPreview
  if (info !== undefined && info !== null && !isObject(info)) throw contentError('linkPreview', 'must be a WAUrlInfo object or null')
  if (info === undefined) info = await generateLinkPreviewIfRequired(message.text, options.getUrlInfo, options.logger)
  if (info) {
    ext.matchedText = info['matched-text']
    ext.jpegThumbnail = info.jpegThumbnail
    ext.description = info.description
    ext.title = info.title
    ext.previewType = 0
    const img = info.highQualityThumbnail
    if (img) {
      ext.thumbnailDirectPath = img.directPath
      ext.mediaKey = img.mediaKey
      ext.mediaKeyTimestamp = img.mediaKeyTimestamp
      ext.thumbnailWidth = img.width
      ext.thumbnailHeight = img.height
      ext.thumbnailSha256 = img.fileSha256
      ext.thumbnailEncSha256 = img.fileEncSha256
    }
  }
  if (options.backgroundColor) ext.backgroundArgb = assertColor(options.backgroundColor)
  if (options.font) ext.font = options.font
  return { extendedTextMessage: ext }
}

function pollContent(poll) {
  if (!isObject(poll)) throw contentError('poll', 'must be an object { name, values, selectableCount? }')
  if (typeof poll.name !== 'string') throw contentError('poll.name', 'must be a string')
  if (!Array.isArray(poll.values)) throw new Boom('Invalid poll values', { statusCode: 400 })
  poll.values.forEach((v, i) => {
    if (typeof v !== 'string') throw contentError(`poll.values[${i}]`, 'must be a string')
  })
  const selectableCount = poll.selectableCount || 0
  if (!Number.isInteger(selectableCount) || selectableCount < 0 || selectableCount > poll.values.length) {
    throw new Boom(`poll.selectableCount in poll should be >= 0 and <= ${poll.values.length}`, { statusCode: 400 })
  }
  const creation = {
    name: poll.name,
    selectableOptionsCount: selectableCount,
    options: poll.values.map((optionName) => ({ optionName })),
  }
  const m = { messageContextInfo: { messageSecret: poll.messageSecret || randomBytes(32) } }
  // v2 is for community announcement groups, v3 for single choice, the first for the rest.
  if (poll.toAnnouncementGroup) m.pollCreationMessageV2 = creation
  else if (selectableCount === 1) m.pollCreationMessageV3 = creation
  else m.pollCreationMessage = creation
  return m
}

async function eventContent(event, options) {
  if (!isObject(event)) throw contentError('event', 'must be an object { name, startDate, ... }')
  if (typeof event.name !== 'string') throw contentError('event.name', 'must be a string')
  if (!(event.startDate instanceof Date) || Number.isNaN(event.startDate.getTime())) {
    throw contentError('event.startDate', 'must be a valid Date')
  }
  if (event.endDate !== undefined && !(event.endDate instanceof Date)) throw contentError('event.endDate', 'must be a Date')
  const startTime = Math.floor(event.startDate.getTime() / 1000)
  const eventMessage = {}
  if (event.call) {
    if (!options.getCallLink) throw contentError('event.call', 'needs a call link, which this socket cannot create yet')
    const token = await options.getCallLink(event.call, { startTime })
    eventMessage.joinLink = (event.call === 'audio' ? CALL_AUDIO_PREFIX : CALL_VIDEO_PREFIX) + token
  }
  Object.assign(eventMessage, {
    name: event.name,
    description: event.description,
    startTime,
    endTime: event.endDate ? event.endDate.getTime() / 1000 : undefined,
    isCanceled: event.isCancelled ?? false,
    extraGuestsAllowed: event.extraGuestsAllowed,
    isScheduleCall: event.isScheduleCall ?? false,
    location: event.location,
  })
  return { eventMessage, messageContextInfo: { messageSecret: event.messageSecret || randomBytes(32) } }
}

/**
 * Baileys' `generateLinkPreviewIfRequired(text, getUrlInfo, logger)`: the preview of the first
 * https URL in `text`, or undefined (no URL, no `getUrlInfo`, or it failed: a preview is never
 * worth failing a send for).
 */
async function generateLinkPreviewIfRequired(text, getUrlInfo, logger) {
  const url = extractUrlFromText(text)
  if (!getUrlInfo || !url) return undefined
  try {
    return await getUrlInfo(url)
  } catch (err) {
    logger?.warn?.({ trace: err.stack }, 'url generation failed')
    return undefined
  }
}

/** The content kind of `message` and its `proto.Message` fields, before the common options. */
async function kindContent(message, options) {
  const has = (k) => hasNonNullishProperty(message, k)
  if (has('text')) return textContent(message, options)
  if (has('contacts')) {
    const list = message.contacts?.contacts
    if (!Array.isArray(list)) throw contentError('contacts.contacts', 'must be an array of { displayName, vcard }')
    if (!list.length) throw new Boom('require atleast 1 contact', { statusCode: 400 })
    return list.length === 1
      ? { contactMessage: proto.Message.ContactMessage.create(list[0]) }
      : { contactsArrayMessage: proto.Message.ContactsArrayMessage.create(message.contacts) }
  }
  if (has('location')) {
    const loc = message.location
    if (!isObject(loc)) throw contentError('location', 'must be an object { degreesLatitude, degreesLongitude }')
    for (const f of ['degreesLatitude', 'degreesLongitude']) {
      if (loc[f] !== undefined && typeof loc[f] !== 'number') throw contentError(`location.${f}`, 'must be a number')
    }
    return { locationMessage: proto.Message.LocationMessage.create(loc) }
  }
  if (has('react')) {
    if (!isObject(message.react)) throw contentError('react', 'must be an object { text, key }')
    assertKey('react.key', message.react.key)
    if (typeof message.react.text !== 'string') throw contentError('react.text', 'must be a string (empty removes the reaction)')
    const react = { ...message.react, senderTimestampMs: message.react.senderTimestampMs || Date.now() }
    return { reactionMessage: proto.Message.ReactionMessage.create(react) }
  }
  if (has('delete')) {
    assertKey('delete', message.delete)
    return { protocolMessage: { key: message.delete, type: protoEnum('Message.ProtocolMessage.Type').REVOKE } }
  }
  if (has('forward')) {
    if (!isObject(message.forward) || !message.forward.key) throw contentError('forward', 'must be a WAMessage')
    return generateForwardMessageContent(message.forward, message.force)
  }
  if (has('disappearingMessagesInChat')) {
    const v = message.disappearingMessagesInChat
    if (typeof v !== 'boolean' && !Number.isInteger(v)) {
      throw contentError('disappearingMessagesInChat', 'must be a boolean or a number of seconds')
    }
    return prepareDisappearingMessageSettingContent(typeof v === 'boolean' ? (v ? WA_DEFAULT_EPHEMERAL : 0) : v)
  }
  if (has('groupInvite')) {
    const g = message.groupInvite
    if (!isObject(g)) throw contentError('groupInvite', 'must be an object { inviteCode, jid, subject, ... }')
    if (typeof g.inviteCode !== 'string') throw contentError('groupInvite.inviteCode', 'must be a string')
    if (typeof g.jid !== 'string' || !isJidGroup(g.jid)) throw contentError('groupInvite.jid', 'must be a group JID')
    const invite = {
      inviteCode: g.inviteCode,
      inviteExpiration: g.inviteExpiration,
      caption: g.text,
      groupJid: g.jid,
      groupName: g.subject,
    }
    return { groupInviteMessage: invite }
  }
  if (has('pin')) {
    assertKey('pin', message.pin)
    if (message.type !== 1 && message.type !== 2) throw contentError('type', 'must be 1 (pin for all) or 2 (unpin for all)')
    return {
      pinInChatMessage: { key: message.pin, type: message.type, senderTimestampMs: Date.now() },
      messageContextInfo: { messageAddOnDurationInSecs: message.type === 1 ? message.time || 86400 : 0 },
    }
  }
  if (has('buttonReply')) {
    const r = message.buttonReply
    if (message.type === 'template') {
      return { templateButtonReplyMessage: { selectedDisplayText: r.displayText, selectedId: r.id, selectedIndex: r.index } }
    }
    if (message.type === 'plain') {
      return {
        buttonsResponseMessage: {
          selectedButtonId: r.id,
          selectedDisplayText: r.displayText,
          type: protoEnum('Message.ButtonsResponseMessage.Type').DISPLAY_TEXT,
        },
      }
    }
    throw contentError('type', "must be 'template' or 'plain' for a buttonReply")
  }
  if (message.ptv) {
    const { videoMessage } = await prepareMedia({ video: message.video }, options, 'ptv')
    return { ptvMessage: videoMessage }
  }
  if (has('product')) {
    if (!isObject(message.product)) throw contentError('product', 'must be an object with productImage')
    const { imageMessage } = await prepareMedia({ image: message.product.productImage }, options, 'product')
    return {
      productMessage: proto.Message.ProductMessage.create({ ...message, product: { ...message.product, productImage: imageMessage } }),
    }
  }
  if (has('listReply')) {
    if (!isObject(message.listReply)) throw contentError('listReply', 'must be an object')
    return { listResponseMessage: { ...message.listReply } }
  }
  if (has('event')) return eventContent(message.event, options)
  if (has('poll')) return pollContent(message.poll)
  if (has('album')) {
    return { albumMessage: { expectedImageCount: message.album.expectedImageCount, expectedVideoCount: message.album.expectedVideoCount } }
  }
  if (has('sharePhoneNumber')) return { protocolMessage: { type: protoEnum('Message.ProtocolMessage.Type').SHARE_PHONE_NUMBER } }
  if (has('requestPhoneNumber')) return { requestPhoneNumberMessage: {} }
  if (has('limitSharing')) {
    return {
      protocolMessage: {
        type: protoEnum('Message.ProtocolMessage.Type').LIMIT_SHARING,
        limitSharing: {
          sharingLimited: message.limitSharing === true,
          trigger: 1,
          limitSharingSettingTimestamp: Date.now(),
          initiatedByMe: true,
        },
      },
    }
  }
  const media = MEDIA_KINDS.find((k) => has(k))
  if (media) return prepareMedia(message, options, media)
  throw contentError('(kind)', `no content kind found among ${JSON.stringify(Object.keys(message))}`)
}

/** Baileys' `generateWAMessageContent(content, options)`: the `proto.Message` to send. */
async function generateWAMessageContent(message, options = {}) {
  if (!isObject(message)) throw contentError('(content)', 'must be an object')
  let m = await kindContent(message, options)
  if (message.viewOnce) m = { viewOnceMessage: { message: m } }
  if (message.mentions !== undefined && !Array.isArray(message.mentions)) throw contentError('mentions', 'must be an array of JIDs')
  if (message.mentions?.length || message.mentionAll) {
    const type = Object.keys(m)[0]
    const inner = m[type]
    if (inner && 'contextInfo' in inner) {
      inner.contextInfo = inner.contextInfo || {}
      if (message.mentions?.length) inner.contextInfo.mentionedJid = message.mentions
      if (message.mentionAll) inner.contextInfo.nonJidMentions = 1
    } else if (inner) {
      inner.contextInfo = { mentionedJid: message.mentions, nonJidMentions: message.mentionAll ? 1 : 0 }
    }
  }
  if (message.edit !== undefined) {
    assertKey('edit', message.edit)
    m = {
      protocolMessage: {
        key: message.edit,
        editedMessage: m,
        timestampMs: Date.now(),
        type: protoEnum('Message.ProtocolMessage.Type').MESSAGE_EDIT,
      },
    }
  }
  if (message.contextInfo) {
    const inner = m[Object.keys(m)[0]]
    if (inner && inner.contextInfo) inner.contextInfo = { ...inner.contextInfo, ...message.contextInfo }
    else if (inner) inner.contextInfo = message.contextInfo
  }
  if (message.albumParentKey) {
    m.messageContextInfo = {
      ...m.messageContextInfo,
      messageAssociation: {
        associationType: protoEnum('MessageAssociation.AssociationType').MEDIA_ALBUM,
        parentMessageKey: message.albumParentKey,
      },
    }
  }
  // WhatsApp gives every message but reactions and votes a secret (report tokens, add-ons).
  if (!m.reactionMessage && !m.encReactionMessage && !m.encEventResponseMessage && !m.pollUpdateMessage) {
    m.messageContextInfo = m.messageContextInfo || {}
    if (!m.messageContextInfo.messageSecret) m.messageContextInfo.messageSecret = randomBytes(32)
  }
  return proto.Message.create(m)
}

/**
 * Baileys' `generateWAMessageFromContent(jid, message, options)`: the `WAMessage` (a
 * `proto.WebMessageInfo`) holding `message`, with the quoted message and disappearing timer
 * applied. Unlike Baileys, the quoted message the caller passes is not modified.
 */
function generateWAMessageFromContent(jid, message, options = {}) {
  if (!options.timestamp) options.timestamp = new Date()
  const inner = normalizeMessageContent(message)
  const key = getContentType(inner)
  const { quoted, userJid } = options
  if (quoted && !isJidNewsletter(jid)) {
    if (!quoted.key || !quoted.message) throw contentError('quoted', 'must be a WAMessage with key and message')
    const participant = quoted.key.fromMe ? userJid : quoted.participant || quoted.key.participant || quoted.key.remoteJid
    const quotedInner = normalizeMessageContent(quoted.message)
    const quotedType = getContentType(quotedInner)
    let quotedContent = quotedInner[quotedType]
    if (isObject(quotedContent) && 'contextInfo' in quotedContent) {
      quotedContent = { ...quotedContent }
      delete quotedContent.contextInfo
    }
    const contextInfo = (inner[key] && inner[key].contextInfo) || {}
    contextInfo.participant = jidNormalizedUser(participant)
    contextInfo.stanzaId = quoted.key.id
    contextInfo.quotedMessage = proto.Message.create({ [quotedType]: quotedContent })
    // Quoting from another chat (a group's participant in private) names that chat.
    if (jid !== quoted.key.remoteJid) contextInfo.remoteJid = quoted.key.remoteJid
    if (inner[key] && typeof inner[key] === 'object') inner[key].contextInfo = contextInfo
  }
  if (
    options.ephemeralExpiration &&
    key !== 'protocolMessage' &&
    key !== 'ephemeralMessage' &&
    !isJidNewsletter(jid) &&
    inner[key] &&
    typeof inner[key] === 'object'
  ) {
    inner[key].contextInfo = { ...(inner[key].contextInfo || {}), expiration: options.ephemeralExpiration || WA_DEFAULT_EPHEMERAL }
  }
  return proto.WebMessageInfo.fromObject({
    key: { remoteJid: jid, fromMe: true, id: options.messageId || generateMessageIDV2() },
    message: proto.Message.create(message),
    messageTimestamp: unixTimestampSeconds(options.timestamp),
    messageStubParameters: [],
    participant: isJidGroup(jid) || isJidStatusBroadcast(jid) ? userJid : undefined,
    status: protoEnum('WebMessageInfo.Status').PENDING,
  })
}

/** Baileys' `generateWAMessage(jid, content, options)`. */
async function generateWAMessage(jid, content, options = {}) {
  const logger = options.logger?.child ? options.logger.child({ msgId: options.messageId }) : options.logger
  const message = await generateWAMessageContent(content, { ...options, logger, jid })
  return generateWAMessageFromContent(jid, message, { ...options, logger })
}

/** The `<message>` attributes and nodes Baileys' `sendMessage` adds for a content kind. */
function stanzaExtras(content) {
  const additionalAttributes = {}
  const additionalNodes = []
  if (content.delete) {
    // Deleting someone else's message in a group is an admin revoke.
    additionalAttributes.edit = isJidGroup(content.delete.remoteJid) && !content.delete.fromMe ? '8' : '7'
  } else if (content.edit) {
    additionalAttributes.edit = '1'
  } else if (content.pin) {
    additionalAttributes.edit = '2'
  } else if (content.poll) {
    additionalNodes.push({ tag: 'meta', attrs: { polltype: 'creation' } })
  } else if (content.event) {
    additionalNodes.push({ tag: 'meta', attrs: { event_type: 'creation' } })
  }
  return { additionalAttributes, additionalNodes }
}

module.exports = {
  generateLinkPreviewIfRequired,
  generateWAMessageContent,
  generateWAMessageFromContent,
  generateWAMessage,
}
// For lib/socket.js only; not one of Baileys' exports.
Object.defineProperty(module.exports, 'stanzaExtras', { value: stanzaExtras, enumerable: false })
