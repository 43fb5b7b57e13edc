'use strict'
// The events Baileys derives from a message's content when it is upserted (its
// `processMessage`): a reaction becomes `messages.reaction`, a revoke and an edit become
// `messages.update` of the message they target. Reaction and poll-vote keys are turned to our
// side first (Baileys' `cleanMessage`), so `fromMe` says whether the target was ours.
// Poll votes and event responses are decrypted into `messages.update` of the poll or event
// they answer (`pollUpdates` / `eventResponses`) by an add-on decryptor (below).
const { protoEnum } = require('./proto.js')
const { WAMessageStubType } = require('./defaults.js')
const { normalizeMessageContent, decryptPollVote, decryptEventResponse } = require('./messages.js')
const { areJidsSameUser, jidNormalizedUser } = require('./jid.js')
const { groupStubEvents } = require('./groups.js')

function toOurSide(target, message, meId, meLid) {
  if (!target || message.key.fromMe) return
  const author = target.participant || target.remoteJid
  target.fromMe = !target.fromMe ? areJidsSameUser(author, meId) || (!!meLid && areJidsSameUser(author, meLid)) : false
  target.remoteJid = message.key.remoteJid
  target.participant = target.participant || message.key.participant
}

const longToNumber = (v) => (typeof v === 'object' && v !== null && 'low' in v ? Number(BigInt.asIntN(64, (BigInt(v.high) << 32n) | BigInt(v.low >>> 0))) : Number(v))

/**
 * The events that follow `messages.upsert` of `messages` (received or our own), in Baileys'
 * names and shapes, appended to `out` (the batch being emitted; a new array by default).
 * Cheap for plain texts: one property test per message, nothing allocated.
 */
function derivedEvents(messages, meId, meLid, out = []) {
  for (const message of messages) {
    if (message.messageStubType) out.push(...groupStubEvents(message))
    const content = normalizeMessageContent(message.message)
    if (!content) continue
    if (content.reactionMessage) {
      toOurSide(content.reactionMessage.key, message, meId, meLid)
      out.push({
        name: 'messages.reaction',
        data: [{ reaction: { ...content.reactionMessage, key: message.key }, key: content.reactionMessage.key }],
      })
    } else if (content.pollUpdateMessage) {
      toOurSide(content.pollUpdateMessage.pollCreationMessageKey, message, meId, meLid)
    } else if (content.protocolMessage) {
      const pm = content.protocolMessage
      const Type = protoEnum('Message.ProtocolMessage.Type')
      if (pm.type === Type.REVOKE && pm.key?.id) {
        out.push({
          name: 'messages.update',
          data: [
            {
              key: { ...message.key, id: pm.key.id },
              update: { message: null, messageStubType: WAMessageStubType.REVOKE, key: message.key },
            },
          ],
        })
      } else if (pm.type === Type.MESSAGE_EDIT && pm.key?.id) {
        out.push({
          name: 'messages.update',
          data: [
            {
              key: { ...message.key, id: pm.key.id },
              update: {
                message: { editedMessage: { message: pm.editedMessage } },
                messageTimestamp: pm.timestampMs ? Math.floor(longToNumber(pm.timestampMs) / 1000) : message.messageTimestamp,
              },
            },
          ],
        })
      } else if (pm.type === Type.GROUP_MEMBER_LABEL_CHANGE && pm.memberLabel?.label) {
        out.push({
          name: 'group.member-tag.update',
          data: {
            groupId: jidNormalizedUser(message.key.remoteJid),
            label: pm.memberLabel.label,
            participant: message.key.participant,
            participantAlt: message.key.participantAlt,
            messageTimestamp: Number(message.messageTimestamp),
          },
        })
      }
    }
  }
  return out
}

// Secrets of the polls and events this socket saw (sent or received), so a bot that runs a
// poll gets its votes decrypted without keeping a message store. Bounded: the oldest go first
// and `getMessage` answers for those.
const SECRET_CACHE = 1024

/**
 * Decrypts poll votes and event responses as they are upserted and emits them as
 * `messages.update` of the poll / event: `{ pollUpdates: [{ pollUpdateMessageKey, vote,
 * senderTimestampMs }] }` and `{ eventResponses: [{ eventResponseMessageKey, response,
 * senderTimestampMs }] }`. Baileys 7.0.0-rc14 does the latter but left the former commented
 * out, so its bots see raw `pollUpdateMessage`s only (they still arrive in `messages.upsert`
 * here too). The creation message's `messageSecret` comes from what this socket saw, else
 * from the app's `getMessage`.
 */
function makeAddOnDecryptor({ getMessage, logger, emit }) {
  const secrets = new Map()

  function remember(id, content) {
    const secret = content?.messageContextInfo?.messageSecret
    if (!id || !secret) return
    secrets.delete(id)
    secrets.set(id, Buffer.from(secret))
    if (secrets.size > SECRET_CACHE) secrets.delete(secrets.keys().next().value)
  }

  async function secretOf(key) {
    const known = secrets.get(key.id)
    if (known) return known
    if (typeof getMessage !== 'function') return null
    const m = await getMessage(key)
    const secret = normalizeMessageContent(m)?.messageContextInfo?.messageSecret || m?.messageContextInfo?.messageSecret
    return secret ? Buffer.from(secret) : null
  }

  // Which JIDs the two parties used for the key is not on the wire: WhatsApp clients now
  // use their LID, older ones (and Baileys' getKeyAuthor, for PN-addressed chats) the phone
  // number. Each pair is tried; the GCM tag tells the right one.
  function candidates(key, fromMe, mine) {
    if (fromMe) return mine
    const theirs = [key.participant, key.participantAlt, key.remoteJid, key.remoteJidAlt]
    const group = !!key.participant
    const list = group ? theirs.slice(0, 2) : theirs.slice(2)
    return [...new Set(list.filter(Boolean).map(jidNormalizedUser))]
  }

  function tryAll(creators, actors, decrypt) {
    let last
    for (const creator of creators) {
      for (const actor of actors) {
        try {
          return decrypt(creator, actor)
        } catch (err) {
          last = err
        }
      }
    }
    throw last || new Error('no JIDs to try')
  }

  async function decryptOne(message, content, meId, meLid) {
    const mine = [...new Set([meId, meLid].filter(Boolean).map(jidNormalizedUser))]
    const actors = candidates(message.key, message.key.fromMe, mine)
    const creatorsOf = (target) => candidates({ ...target, remoteJidAlt: message.key.remoteJidAlt, participantAlt: target.participant ? message.key.participantAlt : undefined }, target.fromMe, mine)
    if (content.pollUpdateMessage) {
      const upd = content.pollUpdateMessage
      const target = upd.pollCreationMessageKey
      const secret = await secretOf(target)
      if (!secret) return logger.warn?.({ key: target }, 'poll vote: the poll and its secret are unknown (no getMessage answer)')
      const vote = tryAll(creatorsOf(target), actors, (pollCreatorJid, voterJid) =>
        decryptPollVote(upd.vote || {}, { pollCreatorJid, pollMsgId: target.id, pollEncKey: secret, voterJid }),
      )
      emit('messages.update', [
        {
          key: target,
          update: {
            pollUpdates: [{ pollUpdateMessageKey: message.key, vote, senderTimestampMs: longToNumber(upd.senderTimestampMs ?? 0) }],
          },
        },
      ])
    } else if (content.encEventResponseMessage) {
      const enc = content.encEventResponseMessage
      const target = enc.eventCreationMessageKey
      const secret = await secretOf(target)
      if (!secret) return logger.warn?.({ key: target }, 'event response: the event and its secret are unknown (no getMessage answer)')
      const response = tryAll(creatorsOf(target), actors, (eventCreatorJid, responderJid) =>
        decryptEventResponse(enc, { eventCreatorJid, eventMsgId: target.id, eventEncKey: secret, responderJid }),
      )
      emit('messages.update', [
        {
          key: target,
          update: {
            eventResponses: [{ eventResponseMessageKey: message.key, senderTimestampMs: longToNumber(response.timestampMs ?? 0), response }],
          },
        },
      ])
    }
  }

  /** Called with each upserted batch, after it was emitted. Never throws. */
  function handle(messages, meId, meLid) {
    for (const message of messages) {
      const content = normalizeMessageContent(message.message)
      if (!content) continue
      if (content.pollCreationMessage || content.pollCreationMessageV2 || content.pollCreationMessageV3 || content.eventMessage) {
        remember(message.key?.id, content.messageContextInfo ? content : message.message)
      } else if (content.pollUpdateMessage || content.encEventResponseMessage) {
        decryptOne(message, content, meId, meLid).catch((err) =>
          logger.warn?.({ err: { message: err.message }, key: message.key }, 'could not decrypt a poll vote or event response'),
        )
      }
    }
  }

  return { handle }
}

module.exports = { derivedEvents, makeAddOnDecryptor }
