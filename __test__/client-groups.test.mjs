// Groups between our socket and real Baileys 7 sockets (the oracle, honest Curve.verify),
// through the local test server: groups created by either side, sender-key messages both
// ways (texts, reactions, polls, mentions, contacts, locations, events, edits, revokes), members added later (they get new messages, not old ones), members removed (they get
// nothing after, and everyone left still decrypts: our sender key is rotated), subject,
// description and settings changes as Baileys' events on both sides, invites, join requests
// (approved and rejected), members offline who get everything on reconnect (ours and a Baileys
// one), and bad input.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { proto } from '../index.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, pairOurSocket, until } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client groups' })
const restore = trustServer(server)

/** Everything one socket's `ev` emits, in order. */
function recorder(sock) {
  const seen = []
  for (const name of ['messages.upsert', 'groups.upsert', 'groups.update', 'group-participants.update', 'group.join-request']) {
    sock.ev.on(name, (data) => seen.push({ name, data }))
  }
  return seen
}

const ourEvents = []
/** What the socket made by the reconnect test emits. */
const lateEvents = []
let ourSock
const ours = await pairOurSocket(server, '15550100', {
  pushName: 'Ours',
  onSocket: (s) => {
    ourSock = s
    for (const name of ['messages.upsert', 'groups.upsert', 'groups.update', 'group-participants.update']) {
      s.ev.on(name, (data) => ourEvents.push({ name, data }))
    }
  },
})
const sock = ours.sock
const b1 = new BaileysClient(server, 'b1')
const b2 = new BaileysClient(server, 'b2')
const b3 = new BaileysClient(server, 'b3')
await b1.pairByQR('15550101', 'B One')
await b2.pairByQR('15550102', 'B Two')
await b3.pairByQR('15550103', 'B Three')
const bEvents = new Map([b1, b2, b3].map((b) => [b, recorder(b.sock)]))

after(async () => {
  ourSock?.end()
  for (const b of [b1, b2, b3]) await b.end()
  restore()
  await server.stop()
  exitWhenDone()
})

const pn = (n) => `${n}@s.whatsapp.net`
const textsIn = (events, group) =>
  events
    .filter((e) => e.name === 'messages.upsert')
    .flatMap((e) => e.data.messages)
    .filter((m) => m.key.remoteJid === group && text(m))
    .map((m) => text(m))
const ourTexts = (group) => textsIn(ourEvents, group)
const bTexts = (b, group) => textsIn(bEvents.get(b), group)
const sameUser = (a, b) => a && b && a.split('@')[0].split(':')[0] === b.split('@')[0].split(':')[0]

/** The parts of a GroupMetadata both sides must agree on. */
function essentials(m) {
  return {
    id: m.id,
    subject: m.subject,
    addressingMode: m.addressingMode,
    size: m.size,
    announce: !!m.announce,
    restrict: !!m.restrict,
    desc: m.desc,
    participants: m.participants.map((p) => ({ id: p.id, phoneNumber: p.phoneNumber, lid: p.lid, admin: p.admin })).sort((a, b) => a.id.localeCompare(b.id)),
  }
}

let group
test('our socket creates a group; Baileys members see it and agree on its metadata', async () => {
  const meta = await sock.groupCreate('Ours and friends', [pn('15550101'), pn('15550102')])
  group = meta.id
  assert.match(group, /@g\.us$/)
  assert.equal(meta.subject, 'Ours and friends')
  assert.equal(meta.participants.length, 3)
  const me = meta.participants.find((p) => p.admin === 'superadmin')
  assert.ok(me, 'the creator is the superadmin')
  for (const b of [b1, b2]) {
    await until(() => bEvents.get(b).some((e) => e.name === 'groups.upsert' && e.data.some((g) => g.id === group)), `${b.name} groups.upsert`)
    const theirs = await b.sock.groupMetadata(group)
    assert.deepEqual(essentials(await sock.groupMetadata(group)), essentials(theirs))
  }
  const all = await sock.groupFetchAllParticipating()
  assert.equal(all[group]?.subject, 'Ours and friends')
})

test('texts to the group both ways: ours -> Baileys, Baileys -> ours and the other Baileys', async () => {
  await sock.sendMessage(group, { text: 'hello group' })
  for (const b of [b1, b2]) {
    const m = await b.waitMessage((m) => m.key.remoteJid === group && text(m) === 'hello group')
    assert.ok(m.key.participant, 'a group message names its author')
    assert.equal(m.key.fromMe, false)
  }
  // A second message: the members already hold our sender key (no distribution again).
  await sock.sendMessage(group, { text: 'second' })
  await b1.waitMessage((m) => text(m) === 'second')
  await b2.waitMessage((m) => text(m) === 'second')

  await b1.sock.sendMessage(group, { text: 'from b1' })
  await until(() => ourTexts(group).includes('from b1'), 'ours got b1 message')
  const got = ourEvents.flatMap((e) => (e.name === 'messages.upsert' ? e.data.messages : [])).find((m) => text(m) === 'from b1')
  assert.equal(got.key.remoteJid, group)
  assert.ok(got.key.participant)
  await b2.waitMessage((m) => text(m) === 'from b1')
  // Messages of one sender arrive in order.
  for (let i = 0; i < 5; i++) sock.sendMessage(group, { text: `burst ${i}` })
  await until(() => bTexts(b1, group).filter((t) => t.startsWith('burst')).length === 5, 'burst at b1')
  assert.deepEqual(bTexts(b1, group).filter((t) => t.startsWith('burst')), [0, 1, 2, 3, 4].map((i) => `burst ${i}`))
})

test('other content kinds in the group: a reaction and a poll, both ways', async () => {
  const sent = await sock.sendMessage(group, { text: 'react to me' })
  await b1.waitMessage((m) => text(m) === 'react to me')
  await b1.sock.sendMessage(group, { react: { text: '👍', key: sent.key } })
  await until(
    () => ourEvents.some((e) => e.name === 'messages.upsert' && e.data.messages.some((m) => m.message?.reactionMessage?.text === '👍')),
    'ours got the reaction',
  )
  await sock.sendMessage(group, { poll: { name: 'Lunch?', values: ['yes', 'no'], selectableCount: 1 } })
  const poll = await b2.waitMessage((m) => m.key.remoteJid === group && !!(m.message?.pollCreationMessage || m.message?.pollCreationMessageV3))
  assert.equal((poll.message.pollCreationMessage || poll.message.pollCreationMessageV3).name, 'Lunch?')
})

test('a member added later receives new messages and not old ones', async () => {
  const res = await sock.groupParticipantsUpdate(group, [pn('15550103')], 'add')
  assert.deepEqual(
    res.map((r) => r.status),
    ['200'],
  )
  await until(
    () => ourEvents.some((e) => e.name === 'group-participants.update' && e.data.action === 'add' && e.data.id === group),
    'ours sees the add',
  )
  await until(
    () => bEvents.get(b1).some((e) => e.name === 'group-participants.update' && e.data.action === 'add'),
    'b1 sees the add',
  )
  await sock.sendMessage(group, { text: 'welcome b3' })
  await b3.waitMessage((m) => text(m) === 'welcome b3')
  assert.ok(!bTexts(b3, group).includes('hello group'), 'no old messages for the new member')
  await b3.sock.sendMessage(group, { text: 'thanks from b3' })
  await until(() => ourTexts(group).includes('thanks from b3'), 'ours got b3 message')
})

test('a removed member receives nothing after removal; everyone left still decrypts', async () => {
  await sock.groupParticipantsUpdate(group, [pn('15550102')], 'remove')
  await until(
    () => bEvents.get(b2).some((e) => e.name === 'group-participants.update' && e.data.action === 'remove'),
    'b2 sees its removal',
  )
  await until(
    () => ourEvents.some((e) => e.name === 'group-participants.update' && e.data.action === 'remove'),
    'ours sees the removal',
  )
  await sock.sendMessage(group, { text: 'after removal' })
  await b1.waitMessage((m) => text(m) === 'after removal')
  await b3.waitMessage((m) => text(m) === 'after removal')
  await b1.sock.sendMessage(group, { text: 'b1 after removal' })
  await until(() => ourTexts(group).includes('b1 after removal'), 'ours decrypts b1 after removal')
  await b3.waitMessage((m) => text(m) === 'b1 after removal')
  await new Promise((r) => setTimeout(r, 300))
  assert.ok(!bTexts(b2, group).includes('after removal'), 'the removed member got nothing')
  assert.ok(!bTexts(b2, group).includes('b1 after removal'))
})

test('subject, description and settings: changes by either side arrive as Baileys events', async () => {
  await sock.groupUpdateSubject(group, 'Renamed by ours')
  for (const b of [b1, b3]) {
    await until(() => bEvents.get(b).some((e) => e.name === 'groups.update' && e.data.some((u) => u.subject === 'Renamed by ours')), `${b.name} sees the subject`)
  }
  await sock.groupUpdateDescription(group, 'our rules')
  await until(() => bEvents.get(b1).some((e) => e.name === 'groups.update' && e.data.some((u) => u.desc === 'our rules')), 'b1 sees the description')
  await sock.groupSettingUpdate(group, 'announcement')
  await until(() => bEvents.get(b1).some((e) => e.name === 'groups.update' && e.data.some((u) => u.announce === true)), 'b1 sees announce')
  await sock.groupSettingUpdate(group, 'not_announcement')
  // Baileys members change it back; ours sees Baileys' changes.
  await sock.groupParticipantsUpdate(group, [pn('15550101')], 'promote')
  await until(() => bEvents.get(b1).some((e) => e.name === 'group-participants.update' && e.data.action === 'promote'), 'b1 promoted')
  await b1.sock.groupUpdateSubject(group, 'Renamed by b1')
  await until(() => ourEvents.some((e) => e.name === 'groups.update' && e.data.some((u) => u.subject === 'Renamed by b1')), 'ours sees b1 subject')
  await b1.sock.groupSettingUpdate(group, 'locked')
  await until(() => ourEvents.some((e) => e.name === 'groups.update' && e.data.some((u) => u.restrict === true)), 'ours sees locked')
  const meta = await sock.groupMetadata(group)
  assert.equal(meta.subject, 'Renamed by b1')
  assert.equal(meta.desc, 'our rules')
  assert.equal(meta.restrict, true)
  const stub = ourEvents.flatMap((e) => (e.name === 'messages.upsert' ? e.data.messages : [])).find((m) => m.messageStubParameters?.[0] === 'Renamed by b1')
  assert.ok(stub, 'the change also arrives as a stub message')
  assert.equal(stub.key.remoteJid, group)
})

test('a group created by Baileys reaches ours (groups.upsert) and ours sends in it', async () => {
  const meta = await b1.sock.groupCreate('Baileys made this', [pn('15550100'), pn('15550103')])
  await until(() => ourEvents.some((e) => e.name === 'groups.upsert' && e.data.some((g) => g.id === meta.id)), 'ours groups.upsert')
  const up = ourEvents.find((e) => e.name === 'groups.upsert' && e.data.some((g) => g.id === meta.id)).data[0]
  assert.equal(up.subject, 'Baileys made this')
  assert.deepEqual(essentials(await sock.groupMetadata(meta.id)), essentials(await b1.sock.groupMetadata(meta.id)))
  await sock.sendMessage(meta.id, { text: 'ours in baileys group' })
  await b1.waitMessage((m) => text(m) === 'ours in baileys group')
  await b3.waitMessage((m) => text(m) === 'ours in baileys group')
  await b1.sock.sendMessage(meta.id, { text: 'b1 in own group' })
  await until(() => ourTexts(meta.id).includes('b1 in own group'), 'ours got it')
  // A Baileys admin removes someone: ours rotates its key, the rest still read ours.
  await b1.sock.groupParticipantsUpdate(meta.id, [pn('15550103')], 'remove')
  await until(() => ourEvents.some((e) => e.name === 'group-participants.update' && e.data.id === meta.id && e.data.action === 'remove'), 'ours sees remove')
  await sock.sendMessage(meta.id, { text: 'after b3 left' })
  await b1.waitMessage((m) => text(m) === 'after b3 left')
  await new Promise((r) => setTimeout(r, 300))
  assert.ok(!bTexts(b3, meta.id).includes('after b3 left'))
  // We leave.
  await sock.groupLeave(meta.id)
  await until(() => bEvents.get(b1).some((e) => e.name === 'group-participants.update' && e.data.id === meta.id && e.data.action === 'remove' && e.data.participants.some((p) => sameUser(p.phoneNumber, pn('15550100')) || sameUser(p.id, pn('15550100')) || sameUser(p.id, sock.user.lid))), 'b1 sees ours leave')
})

test('invite codes: the removed member joins again by code and reads new messages', async () => {
  const code = await sock.groupInviteCode(group)
  assert.equal(typeof code, 'string')
  const info = await b2.sock.groupGetInviteInfo(code)
  assert.equal(info.id, group)
  const joined = await b2.sock.groupAcceptInvite(code)
  assert.equal(joined, group)
  await until(() => ourEvents.some((e) => e.name === 'group-participants.update' && e.data.id === group && e.data.action === 'add' && e.data.participants.length === 1), 'ours sees the join')
  await sock.sendMessage(group, { text: 'welcome back b2' })
  await b2.waitMessage((m) => text(m) === 'welcome back b2')
  const revoked = await sock.groupRevokeInvite(group)
  assert.notEqual(revoked, code)
})

test('a member that lost our sender key asks again (retry receipt) and gets it with the message', async () => {
  const users = [sock.user.id, sock.user.lid].filter(Boolean).map((j) => j.split('@')[0].split(':')[0])
  let forgotten = 0
  for (const k of [...b1.auth.data.keys()]) {
    if (k.startsWith(`sender-key-${group}::`) && users.some((u) => k.includes(`::${u}`))) {
      b1.auth.data.delete(k)
      forgotten++
    }
  }
  assert.ok(forgotten > 0, 'b1 held our sender key')
  await sock.sendMessage(group, { text: 'after b1 forgot' })
  // b1 cannot decrypt, asks for a retry; ours answers with the message and its key.
  await b1.waitMessage((m) => text(m) === 'after b1 forgot', 20_000)
  await b3.waitMessage((m) => text(m) === 'after b1 forgot')
  await sock.sendMessage(group, { text: 'and the next one' })
  await b1.waitMessage((m) => text(m) === 'and the next one')
})

test("the app's cachedGroupMetadata is what a send reads", async () => {
  const events = []
  const asked = []
  const other = await pairOurSocket(server, '15550104', {
    pushName: 'Cached',
    config: {
      // The app's copy leaves b3 out: the first stanza carries no key for b3's devices, which
      // then ask for it (a retry receipt) and still read the message.
      cachedGroupMetadata: async (jid) => {
        asked.push(jid)
        if (jid !== group) return undefined
        const m = await sock.groupMetadata(group)
        return { ...m, participants: m.participants.filter((p) => !sameUser(p.phoneNumber, pn('15550103')) && !sameUser(p.id, pn('15550103')) && !sameUser(p.id, b3.sock.user.lid)) }
      },
    },
    onSocket: (s) => s.ev.on('messages.upsert', (u) => events.push(...u.messages)),
  })
  try {
    await sock.groupParticipantsUpdate(group, [pn('15550104')], 'add')
    await until(() => events.some((m) => m.messageStubType && m.key.remoteJid === group), 'the new member sees its add')
    await other.sock.sendMessage(group, { text: 'from the cache' })
    assert.ok(asked.includes(group), 'cachedGroupMetadata was asked')
    await b1.waitMessage((m) => text(m) === 'from the cache')
    await b3.waitMessage((m) => text(m) === 'from the cache', 20_000)
    // Sends that opt out ask the server instead.
    const before = asked.length
    await other.sock.sendMessage(group, { text: 'no cache' }, { useCachedGroupMetadata: false })
    assert.equal(asked.length, before)
    await b3.waitMessage((m) => text(m) === 'no cache')
  } finally {
    other.sock.end()
  }
})

test('bad input: coded errors and Booms, never a crash', async () => {
  await assert.rejects(sock.groupMetadata('not-a-group@s.whatsapp.net'), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
  await assert.rejects(sock.groupParticipantsUpdate(group, [pn('15550101')], 'kick'), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
  await assert.rejects(sock.groupParticipantsUpdate(group, 'nope', 'add'), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
  await assert.rejects(sock.groupSettingUpdate(group, 'open'), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
  await assert.rejects(sock.groupMetadata('999999999-1@g.us'), (e) => e.isBoom && typeof e.data === 'number' && e.data >= 400)
  // Still connected and working.
  await sock.sendMessage(group, { text: 'still fine' })
  await b1.waitMessage((m) => text(m) === 'still fine')
})

test('status: ours posts to a statusJidList, Baileys posts one ours may see', async () => {
  await sock.sendMessage('status@broadcast', { text: 'our status' }, { statusJidList: [pn('15550101'), pn('15550103')] })
  const seen = await b1.waitMessage((m) => m.key.remoteJid === 'status@broadcast' && text(m) === 'our status')
  assert.ok(seen.key.participant, 'a status names its author')
  await b3.waitMessage((m) => m.key.remoteJid === 'status@broadcast' && text(m) === 'our status')
  await b1.sock.sendMessage('status@broadcast', { text: 'b1 status' }, { statusJidList: [pn('15550100'), pn('15550102')] })
  await until(() => ourEvents.some((e) => e.name === 'messages.upsert' && e.data.messages.some((m) => m.key.remoteJid === 'status@broadcast' && text(m) === 'b1 status')), 'ours sees b1 status')
  await new Promise((r) => setTimeout(r, 300))
  assert.ok(!bTexts(b2, 'status@broadcast').includes('our status'), 'not listed, not delivered')
  await assert.rejects(sock.sendMessage('status@broadcast', { text: 'nobody' }), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
  await assert.rejects(sock.sendMessage(group, { text: 'x' }, { statusJidList: [pn('15550101')] }), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
})

test('an offline member gets everything on reconnect: ours while away, then a Baileys member', async () => {
  const ourJid = ours.auth.creds.me.id
  ourSock.end()
  await until(() => !server.isOnline(ourJid), 'ours is offline')
  await b1.sock.sendMessage(group, { text: 'while ours was away 1' })
  await b1.sock.sendMessage(group, { text: 'while ours was away 2' })
  await b1.sock.groupUpdateSubject(group, 'renamed while away')
  await server.waitForQueued(ourJid, 3)
  const O = await import('../index.mjs')
  const back = O.makeWASocket({ auth: ours.auth, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey })
  ourSock = back
  const seen = lateEvents
  for (const name of ['messages.upsert', 'groups.update']) back.ev.on(name, (data) => seen.push({ name, data }))
  await until(() => textsIn(seen, group).includes('while ours was away 2'), 'ours gets the backlog')
  assert.deepEqual(
    textsIn(seen, group).filter((t) => t.startsWith('while ours')),
    ['while ours was away 1', 'while ours was away 2'],
  )
  await until(() => seen.some((e) => e.name === 'groups.update' && e.data.some((u) => u.id === group && u.subject === 'renamed while away')), 'ours sees the rename')

  // A Baileys member away: what ours sends meanwhile reaches it when it is back.
  const b3Jid = b3.auth.creds.me.id
  await b3.end()
  await until(() => !server.isOnline(b3Jid), 'b3 is offline')
  await back.sendMessage(group, { text: 'while b3 was away' })
  await server.waitForQueued(b3Jid, 1)
  b3.connect()
  await b3.waitOpen()
  await b3.waitMessage((m) => m.key.remoteJid === group && text(m) === 'while b3 was away', 30_000)
})

test('join requests: with approval on, invite-link joins wait for an admin, who approves one and rejects one', async () => {
  const seen = []
  ourSock.ev.on('group.join-request', (r) => seen.push(r))
  const g = (await ourSock.groupCreate('Approval needed', [pn('15550101')])).id
  await ourSock.groupJoinApprovalMode(g, 'on')
  assert.equal((await ourSock.groupMetadata(g)).joinApprovalMode, true)
  const code = await ourSock.groupInviteCode(g)

  assert.equal(await b2.sock.groupAcceptInvite(code), undefined, 'no group yet: a request')
  await b3.sock.groupAcceptInvite(code)
  await until(() => seen.filter((r) => r.id === g && r.action === 'created').length === 2, 'ours hears of both requests')
  const asked = await ourSock.groupRequestParticipantsList(g)
  assert.equal(asked.length, 2)
  assert.equal((await ourSock.groupMetadata(g)).participants.length, 2, 'nobody added yet')

  const who = (n) => asked.find((r) => sameUser(r.phone_number, pn(n)) || sameUser(r.jid, pn(n))).jid
  const approved = await ourSock.groupRequestParticipantsUpdate(g, [who('15550102')], 'approve')
  assert.deepEqual(approved.map((r) => r.status), ['200'])
  const rejected = await ourSock.groupRequestParticipantsUpdate(g, [who('15550103')], 'reject')
  assert.deepEqual(rejected.map((r) => r.status), ['200'])
  assert.deepEqual(await ourSock.groupRequestParticipantsList(g), [])
  assert.equal((await ourSock.groupMetadata(g)).participants.length, 3)

  await ourSock.sendMessage(g, { text: 'welcome, approved' })
  await b2.waitMessage((m) => m.key.remoteJid === g && text(m) === 'welcome, approved')
  await assert.rejects(b3.sock.groupMetadata(g), (e) => e.isBoom)
  await assert.rejects(ourSock.groupJoinApprovalMode(g, 'maybe'), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
})

/** A message's content as plain JSON, without the sender-key distribution that rides along. */
function content(message) {
  const m = proto.Message.toObject(proto.Message.fromObject(message), { longs: String, bytes: String, enums: Number })
  delete m.senderKeyDistributionMessage
  return m
}

test('more content kinds in the group, both ways: mentions, contact, location, event, multi-select poll, edit, revoke', async () => {
  const kinds = [
    { text: 'hi @15550101', mentions: [pn('15550101')] },
    { contacts: { displayName: 'Ann', contacts: [{ displayName: 'Ann', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nEND:VCARD' }] } },
    { location: { degreesLatitude: 52.52, degreesLongitude: 13.405, name: 'Berlin' } },
    { event: { name: 'Standup', description: 'daily', startDate: new Date(1767258000000), location: { name: 'Room 1' } } },
    { poll: { name: 'Toppings', values: ['a', 'b', 'c'], selectableCount: 2 } },
  ]
  for (const c of kinds) {
    const ourMsg = await ourSock.sendMessage(group, c)
    const atB = await b1.waitMessage((m) => m.key.id === ourMsg.key.id)
    assert.deepEqual(content(atB.message), content(ourMsg.message))
    const theirs = await b1.sock.sendMessage(group, c)
    await until(() => ourEvents.concat(lateEvents).some((e) => e.name === 'messages.upsert' && e.data.messages.some((m) => m.key.id === theirs.key.id)), 'ours got it')
    const atOurs = ourEvents.concat(lateEvents).flatMap((e) => (e.name === 'messages.upsert' ? e.data.messages : [])).find((m) => m.key.id === theirs.key.id)
    assert.deepEqual(content(atOurs.message), content(theirs.message))
    assert.ok(sameUser(atOurs.key.participant, b1.sock.user.lid) || sameUser(atOurs.key.participant, b1.sock.user.id))
  }
  const orig = await ourSock.sendMessage(group, { text: 'typo' })
  await b1.waitMessage((m) => m.key.id === orig.key.id)
  const edit = await ourSock.sendMessage(group, { text: 'fixed', edit: orig.key })
  const atB = await b1.waitMessage((m) => m.key.id === edit.key.id)
  assert.equal(atB.message.protocolMessage?.editedMessage?.conversation ?? atB.message.protocolMessage?.editedMessage?.extendedTextMessage?.text, 'fixed')
  const del = await b1.sock.sendMessage(group, { delete: (await b1.sock.sendMessage(group, { text: 'oops' })).key })
  await until(() => lateEvents.some((e) => e.name === 'messages.upsert' && e.data.messages.some((m) => m.key.id === del.key.id && m.message?.protocolMessage?.type === 0)), 'ours got the revoke')
})
