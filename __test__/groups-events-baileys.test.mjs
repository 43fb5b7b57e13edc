// The events a group stub message becomes (`groups.update`, `group-participants.update`,
// `group.join-request`, `group.member-tag.update`): ours (lib/message-events.js,
// lib/groups.js) next to Baileys' own `processMessage` on the same message.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import processMessage from '@whiskeysockets/baileys/lib/Utils/process-message.js'
import { proto } from '@whiskeysockets/baileys'
import { WAMessageStubType as T } from '../index.mjs'
import messageEvents from '../lib/message-events.js'
const { derivedEvents } = messageEvents

const GROUP_EVENTS = new Set(['groups.update', 'group-participants.update', 'group.join-request', 'group.member-tag.update'])
const me = { id: '100:2@s.whatsapp.net', lid: '900:2@lid' }

async function baileysEvents(message) {
  const out = []
  const ev = { emit: (name, data) => out.push({ name, data }) }
  await processMessage(structuredClone(message), {
    shouldProcessHistoryMsg: false,
    placeholderResendCache: undefined,
    ev,
    creds: { me, accountSettings: {} },
    signalRepository: {},
    keyStore: {},
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    options: {},
    getMessage: async () => undefined,
  })
  return out.filter((e) => GROUP_EVENTS.has(e.name))
}

const plain = (v) => JSON.parse(JSON.stringify(v))

const key = { remoteJid: '120363000000000001@g.us', fromMe: false, id: 'N1', participant: '11@lid', participantAlt: '5511@s.whatsapp.net' }
const person = (id, pn, admin = null) => JSON.stringify({ id, phoneNumber: pn, admin })
const cases = [
  ['add', { messageStubType: T.GROUP_PARTICIPANT_ADD, messageStubParameters: [person('12@lid', '5512@s.whatsapp.net')] }],
  ['remove', { messageStubType: T.GROUP_PARTICIPANT_REMOVE, messageStubParameters: [person('13@lid', '5513@s.whatsapp.net')] }],
  ['leave', { messageStubType: T.GROUP_PARTICIPANT_LEAVE, messageStubParameters: [person('11@lid', '5511@s.whatsapp.net')] }],
  ['promote', { messageStubType: T.GROUP_PARTICIPANT_PROMOTE, messageStubParameters: [person('12@lid', '5512@s.whatsapp.net', 'admin')] }],
  ['demote', { messageStubType: T.GROUP_PARTICIPANT_DEMOTE, messageStubParameters: [person('12@lid', '5512@s.whatsapp.net')] }],
  ['modify', { messageStubType: T.GROUP_PARTICIPANT_CHANGE_NUMBER, messageStubParameters: [person('12@lid', '5599@s.whatsapp.net')] }],
  ['subject', { messageStubType: T.GROUP_CHANGE_SUBJECT, messageStubParameters: ['New name'] }],
  ['description', { messageStubType: T.GROUP_CHANGE_DESCRIPTION, messageStubParameters: ['rules'] }],
  ['announce', { messageStubType: T.GROUP_CHANGE_ANNOUNCE, messageStubParameters: ['on'] }],
  ['restrict', { messageStubType: T.GROUP_CHANGE_RESTRICT, messageStubParameters: ['off'] }],
  ['invite link', { messageStubType: T.GROUP_CHANGE_INVITE_LINK, messageStubParameters: ['AbCd'] }],
  ['member add mode', { messageStubType: T.GROUP_MEMBER_ADD_MODE, messageStubParameters: ['all_member_add'] }],
  ['join approval', { messageStubType: T.GROUP_MEMBERSHIP_JOIN_APPROVAL_MODE, messageStubParameters: ['on'] }],
  [
    'join request',
    { messageStubType: T.GROUP_MEMBERSHIP_JOIN_APPROVAL_REQUEST_NON_ADMIN_ADD, messageStubParameters: [JSON.stringify({ lid: '14@lid', pn: '5514@s.whatsapp.net' }), 'created', 'invite_link'] },
  ],
  ['create (no group event)', { messageStubType: T.GROUP_CREATE, messageStubParameters: ['Team'] }],
  [
    'member label',
    { message: { protocolMessage: { type: proto.Message.ProtocolMessage.Type.GROUP_MEMBER_LABEL_CHANGE, memberLabel: { label: 'Boss' } } } },
  ],
]

for (const [name, body] of cases) {
  test(`group stub events like Baileys' processMessage: ${name}`, async () => {
    const message = { key, messageTimestamp: 1700000000, participant: key.participant, ...body }
    const theirs = await baileysEvents(message)
    const ours = derivedEvents([structuredClone(message)], me.id, me.lid).filter((e) => GROUP_EVENTS.has(e.name))
    assert.deepEqual(plain(ours), plain(theirs))
    if (name !== 'create (no group event)') assert.ok(ours.length > 0, 'an event is emitted')
  })
}
