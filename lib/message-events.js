'use strict'
// The events Baileys derives from a message's content when it is upserted (its
// `processMessage`): a reaction becomes `messages.reaction`, a revoke and an edit become
// `messages.update` of the message they target. Reaction and poll-vote keys are turned to our
// side first (Baileys' `cleanMessage`), so `fromMe` says whether the target was ours.
const { protoEnum } = require('./proto.js')
const { WAMessageStubType } = require('./defaults.js')
const { normalizeMessageContent } = require('./messages.js')
const { areJidsSameUser } = require('./jid.js')

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
 * names and shapes. Cheap for plain texts: one property test per message.
 */
function derivedEvents(messages, meId, meLid) {
  const out = []
  for (const message of messages) {
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
      }
    }
  }
  return out
}

module.exports = { derivedEvents }
