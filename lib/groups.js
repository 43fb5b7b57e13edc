'use strict'
// Groups on our socket: Baileys 7's groups and communities surfaces (`groupMetadata`,
// `groupCreate`, `communityCreate`, ...), each
// a typed operation in Rust (crates/wa-client/src/groups) reached through `handle.groupOp`, and
// the events Baileys derives from group stub messages (its `processMessage`):
// `groups.update`, `group-participants.update`, `group.join-request`.
const { codedError } = require('./errors.js')
const { makeBoom } = require('./boom.js')
const { WAMessageStubType } = require('./defaults.js')
const { generateMessageIDV2, unixTimestampSeconds } = require('./generics.js')
const { proto } = require('./proto.js')

/** A refused IQ becomes Baileys' Boom (`data` = the server's code); anything else is as thrown. */
function asBoom(e) {
  if (e && e.status !== undefined && e.text !== undefined) {
    const boom = makeBoom(e.text || 'Unknown error', { data: Number(e.status) })
    boom.code = e.code
    return boom
  }
  return e
}

/**
 * The events Baileys emits for a group stub message (its `processMessage`), or none.
 */
function groupStubEvents(message) {
  const type = message.messageStubType
  if (!type || !message.key?.remoteJid) return []
  const id = message.key.remoteJid
  const params = message.messageStubParameters || []
  const by = {
    author: message.key.participant ?? undefined,
    authorPn: message.key.participantAlt ?? undefined,
    authorUsername: message.key.participantUsername ?? undefined,
  }
  const parsed = () => params.map((p) => JSON.parse(p))
  const participants = (action) => ({ name: 'group-participants.update', data: { id, ...by, participants: parsed(), action } })
  const update = (u) => ({ name: 'groups.update', data: [{ id, ...u, ...by }] })
  const on = (v) => v === 'true' || v === 'on'
  const T = WAMessageStubType
  switch (type) {
    case T.GROUP_PARTICIPANT_CHANGE_NUMBER:
      return [participants('modify')]
    case T.GROUP_PARTICIPANT_LEAVE:
    case T.GROUP_PARTICIPANT_REMOVE:
      return [participants('remove')]
    case T.GROUP_PARTICIPANT_ADD:
    case T.GROUP_PARTICIPANT_INVITE:
    case T.GROUP_PARTICIPANT_ADD_REQUEST_JOIN:
      return [participants('add')]
    case T.GROUP_PARTICIPANT_DEMOTE:
      return [participants('demote')]
    case T.GROUP_PARTICIPANT_PROMOTE:
      return [participants('promote')]
    case T.GROUP_CHANGE_ANNOUNCE:
      return [update({ announce: on(params[0]) })]
    case T.GROUP_CHANGE_RESTRICT:
      return [update({ restrict: on(params[0]) })]
    case T.GROUP_CHANGE_SUBJECT:
      return [update({ subject: params[0] })]
    case T.GROUP_CHANGE_DESCRIPTION:
      return [update({ desc: params[0] })]
    case T.GROUP_CHANGE_INVITE_LINK:
      return [update({ inviteCode: params[0] })]
    case T.GROUP_MEMBER_ADD_MODE:
      return [update({ memberAddMode: params[0] === 'all_member_add' })]
    case T.GROUP_MEMBERSHIP_JOIN_APPROVAL_MODE:
      return [update({ joinApprovalMode: params[0] === 'on' })]
    case T.GROUP_MEMBERSHIP_JOIN_APPROVAL_REQUEST_NON_ADMIN_ADD: {
      const who = JSON.parse(params[0] || '{}')
      return [
        {
          name: 'group.join-request',
          data: { id, ...by, participant: who.lid, participantPn: who.pn, action: params[1], method: params[2] },
        },
      ]
    }
    default:
      return []
  }
}

function str(v, what) {
  if (typeof v !== 'string' || !v) throw codedError('ERR_WA_CLIENT_ARGUMENT', `${what} must be a non-empty string`)
  return v
}

function list(v, what) {
  if (!Array.isArray(v) || v.some((j) => typeof j !== 'string')) throw codedError('ERR_WA_CLIENT_ARGUMENT', `${what} must be an array of JIDs`)
  return v
}

/**
 * Adds Baileys' group methods to `sock`. `emitLocal(events)` emits events the socket makes
 * itself (through the store when there is one); `me()` is `creds.me`.
 */
function addGroups(sock, handle, { emitLocal, me }) {
  async function op(name, ...args) {
    let out
    try {
      out = await handle.groupOp(name, JSON.stringify(args))
    } catch (e) {
      throw asBoom(e)
    }
    return JSON.parse(out)
  }
  const groupFetchAllParticipating = async () => {
    const data = await op('groupFetchAllParticipating')
    emitLocal([{ name: 'groups.update', data: Object.values(data) }])
    return data
  }
  Object.assign(sock, {
    groupMetadata: async (jid) => op('groupMetadata', str(jid, 'jid')),
    groupCreate: async (subject, participants) => op('groupCreate', String(subject ?? ''), list(participants, 'participants')),
    groupLeave: async (id) => op('groupLeave', str(id, 'id')).then(() => undefined),
    groupUpdateSubject: async (jid, subject) => op('groupUpdateSubject', str(jid, 'jid'), String(subject ?? '')).then(() => undefined),
    groupUpdateDescription: async (jid, description) =>
      op('groupUpdateDescription', str(jid, 'jid'), description ? String(description) : null).then(() => undefined),
    groupParticipantsUpdate: async (jid, participants, action) => op('groupParticipantsUpdate', str(jid, 'jid'), list(participants, 'participants'), String(action)),
    groupRequestParticipantsList: async (jid) => op('groupRequestParticipantsList', str(jid, 'jid')),
    groupRequestParticipantsUpdate: async (jid, participants, action) =>
      op('groupRequestParticipantsUpdate', str(jid, 'jid'), list(participants, 'participants'), String(action)),
    groupInviteCode: async (jid) => (await op('groupInviteCode', str(jid, 'jid'))) ?? undefined,
    groupRevokeInvite: async (jid) => (await op('groupRevokeInvite', str(jid, 'jid'))) ?? undefined,
    groupAcceptInvite: async (code) => (await op('groupAcceptInvite', str(code, 'code'))) ?? undefined,
    groupGetInviteInfo: async (code) => op('groupGetInviteInfo', str(code, 'code')),
    groupRevokeInviteV4: async (groupJid, invitedJid) => op('groupRevokeInviteV4', str(groupJid, 'groupJid'), str(invitedJid, 'invitedJid')),
    /**
     * Baileys' `groupAcceptInviteV4(key, inviteMessage)`: accepts, marks the invite message
     * expired (`messages.update`, when the whole key is given) and upserts the "added" stub.
     */
    async groupAcceptInviteV4(key, inviteMessage) {
      key = typeof key === 'string' ? { remoteJid: key } : key
      if (!key?.remoteJid) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'key must be the inviter JID or a message key')
      if (!inviteMessage?.groupJid || !inviteMessage.inviteCode) throw codedError('ERR_WA_CLIENT_ARGUMENT', 'inviteMessage needs groupJid and inviteCode')
      const from = await op('groupAcceptInviteV4', inviteMessage.groupJid, inviteMessage.inviteCode, Number(inviteMessage.inviteExpiration ?? 0), key.remoteJid)
      const events = []
      if (key.id) {
        const expired = proto.Message.GroupInviteMessage.fromObject(inviteMessage)
        expired.inviteExpiration = 0
        expired.inviteCode = ''
        events.push({ name: 'messages.update', data: [{ key, update: { message: { groupInviteMessage: expired } } }] })
      }
      const stub = {
        key: { remoteJid: inviteMessage.groupJid, id: generateMessageIDV2(me()?.id), fromMe: false, participant: key.remoteJid },
        messageStubType: WAMessageStubType.GROUP_PARTICIPANT_ADD,
        messageStubParameters: [JSON.stringify(me())],
        participant: key.remoteJid,
        messageTimestamp: unixTimestampSeconds(),
      }
      events.push({ name: 'messages.upsert', data: { messages: [stub], type: 'notify' } })
      emitLocal(events)
      return from ?? undefined
    },
    groupToggleEphemeral: async (jid, ephemeralExpiration) =>
      op('groupToggleEphemeral', str(jid, 'jid'), ephemeralExpiration ? Number(ephemeralExpiration) : 0).then(() => undefined),
    groupSettingUpdate: async (jid, setting) => op('groupSettingUpdate', str(jid, 'jid'), String(setting)).then(() => undefined),
    groupMemberAddMode: async (jid, mode) => op('groupMemberAddMode', str(jid, 'jid'), String(mode)).then(() => undefined),
    groupJoinApprovalMode: async (jid, mode) => op('groupJoinApprovalMode', str(jid, 'jid'), String(mode)).then(() => undefined),
    groupFetchAllParticipating,
  })
  // Communities: the IQs that differ have their own operations; the rest are the group ones.
  Object.assign(sock, {
    communityMetadata: async (jid) => op('communityMetadata', str(jid, 'jid')),
    communityCreate: async (subject, body) => op('communityCreate', String(subject ?? ''), body ? String(body) : ''),
    communityCreateGroup: async (subject, participants, parentCommunityJid) =>
      op('communityCreateGroup', String(subject ?? ''), list(participants, 'participants'), str(parentCommunityJid, 'parentCommunityJid')),
    communityLeave: async (id) => op('communityLeave', str(id, 'id')).then(() => undefined),
    communityUpdateSubject: sock.groupUpdateSubject,
    communityLinkGroup: async (groupJid, parentCommunityJid) =>
      op('communityLinkGroup', str(groupJid, 'groupJid'), str(parentCommunityJid, 'parentCommunityJid')).then(() => undefined),
    communityUnlinkGroup: async (groupJid, parentCommunityJid) =>
      op('communityUnlinkGroup', str(groupJid, 'groupJid'), str(parentCommunityJid, 'parentCommunityJid')).then(() => undefined),
    communityFetchLinkedGroups: async (jid) => op('communityFetchLinkedGroups', str(jid, 'jid')),
    communityRequestParticipantsList: sock.groupRequestParticipantsList,
    communityRequestParticipantsUpdate: sock.groupRequestParticipantsUpdate,
    communityParticipantsUpdate: async (jid, participants, action) =>
      op('communityParticipantsUpdate', str(jid, 'jid'), list(participants, 'participants'), String(action)),
    communityUpdateDescription: sock.groupUpdateDescription,
    communityInviteCode: sock.groupInviteCode,
    communityRevokeInvite: sock.groupRevokeInvite,
    communityAcceptInvite: async (code) => (await op('communityAcceptInvite', str(code, 'code'))) ?? undefined,
    communityRevokeInviteV4: sock.groupRevokeInviteV4,
    communityAcceptInviteV4: sock.groupAcceptInviteV4,
    communityGetInviteInfo: async (code) => op('communityGetInviteInfo', str(code, 'code')),
    communityToggleEphemeral: sock.groupToggleEphemeral,
    communitySettingUpdate: sock.groupSettingUpdate,
    communityMemberAddMode: sock.groupMemberAddMode,
    communityJoinApprovalMode: async (jid, mode) => op('communityJoinApprovalMode', str(jid, 'jid'), String(mode)).then(() => undefined),
    async communityFetchAllParticipating() {
      const data = await op('communityFetchAllParticipating')
      emitLocal([{ name: 'groups.update', data: Object.values(data) }])
      return data
    },
  })
  return sock
}

module.exports = { addGroups, groupStubEvents }
