// Communities between our socket and a real Baileys 7 socket through the test server: a
// community and a linked subgroup made by ours, seen by Baileys where Baileys can see them;
// linking, unlinking, members, settings and leaving. Baileys' own `communityMetadata` reads a
// `<community>` child that the server does not send (a community is a `<group>` with
// `<parent>`): shown below, and ours reads the server's answer.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, pairOurSocket, until } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client communities' })
const restore = trustServer(server)
const ourEvents = []
const { sock } = await pairOurSocket(server, '15550200', {
  onSocket: (s) => s.ev.on('groups.update', (u) => ourEvents.push(...u)),
})
const b = new BaileysClient(server, 'b')
await b.pairByQR('15550201', 'B')
const bUpserts = []
b.sock.ev.on('groups.upsert', (g) => bUpserts.push(...g))

after(async () => {
  sock.end()
  await b.end()
  restore()
  await server.stop()
  exitWhenDone()
})

const pn = (n) => `${n}@s.whatsapp.net`
let community
let sub

test('ours creates a community and a linked subgroup; both sides read them', async () => {
  const c = await sock.communityCreate('Neighbours', 'street news')
  assert.ok(c, 'the community metadata')
  community = c.id
  assert.equal(c.isCommunity, true)
  assert.equal(c.subject, 'Neighbours')
  assert.equal(c.desc, 'street news')
  const meta = await sock.communityMetadata(community)
  assert.equal(meta.id, community)
  assert.equal(meta.isCommunity, true)

  const g = await sock.communityCreateGroup('Street party', [pn('15550201')], community)
  sub = g.id
  assert.equal(g.linkedParent, community)
  await until(() => bUpserts.some((u) => u.id === sub), 'b sees the subgroup')
  const theirs = await b.sock.groupMetadata(sub)
  assert.equal(theirs.linkedParent, community)
  const linked = await sock.communityFetchLinkedGroups(community)
  assert.equal(linked.isCommunity, true)
  assert.deepEqual(linked.linkedGroups.map((l) => l.id), [sub])
  const fromSub = await sock.communityFetchLinkedGroups(sub)
  assert.equal(fromSub.communityJid, community)
  assert.equal(fromSub.isCommunity, false)
  const all = await sock.communityFetchAllParticipating()
  assert.ok(all[community], 'our community is listed')
})

test('messages in the subgroup, unlink and link again, settings, members', async () => {
  await sock.sendMessage(sub, { text: 'party at 8' })
  await b.waitMessage((m) => m.key.remoteJid === sub && text(m) === 'party at 8')
  await sock.communityUnlinkGroup(sub, community)
  assert.deepEqual((await sock.communityFetchLinkedGroups(community)).linkedGroups, [])
  assert.equal((await b.sock.groupMetadata(sub)).linkedParent, undefined)
  await sock.communityLinkGroup(sub, community)
  assert.deepEqual((await sock.communityFetchLinkedGroups(community)).linkedGroups.map((l) => l.id), [sub])
  await sock.communityUpdateSubject(community, 'Neighbours 2')
  assert.equal((await sock.communityMetadata(community)).subject, 'Neighbours 2')
  const added = await sock.communityParticipantsUpdate(community, [pn('15550201')], 'add')
  assert.deepEqual(added.map((r) => r.status), ['200'])
  assert.equal((await b.sock.groupMetadata(community)).participants.length, 2)
  // Baileys' communityMetadata expects a <community> child, which the server does not send
  // (a community is a <group> with <parent>): it fails on a member's own community. Ours reads it.
  await assert.rejects(b.sock.communityMetadata(community), TypeError)
  assert.equal((await sock.communityMetadata(community)).participants.length, 2)
  await sock.communitySettingUpdate(community, 'announcement')
  assert.equal((await sock.communityMetadata(community)).announce, true)
  const code = await sock.communityInviteCode(community)
  assert.equal(typeof code, 'string')
  const removed = await sock.communityParticipantsUpdate(community, [pn('15550201')], 'remove')
  assert.deepEqual(removed.map((r) => r.status), ['200'])
  await assert.rejects(sock.communityParticipantsUpdate(community, [pn('15550201')], 'kick'), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
  await assert.rejects(sock.communityLinkGroup('nope', community), (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT')
})

test('Baileys leaves the subgroup; ours leaves the community', async () => {
  await b.sock.groupLeave(sub)
  await until(async () => (await sock.groupMetadata(sub)).participants.length === 1, 'b left')
  await sock.communityLeave(community)
  await assert.rejects(sock.communityMetadata(community), (e) => e.isBoom)
})
