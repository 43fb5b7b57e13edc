// Newsletters (channels) between our socket and a real Baileys 7 socket through the test
// server: each side creates a channel the other finds (by JID and by invite), follows it,
// reads its posts (text and raw media) and reacts to them; settings, roles, mute, counts,
// message history, live updates, deletion, and bad input.
//
// One difference from Baileys, shown below: for a reaction taken back Baileys' parser reports
// the old code with `count: 1`, as if it were added; ours adds `removed: true`.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent as HttpsAgent } from 'node:https'
import { startTestServer } from '../lib/testing.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, pairOurSocket, until, mediaDispatcher } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client newsletters' })
const restore = trustServer(server)
const dir = mkdtempSync(join(tmpdir(), 'bn-newsletters-'))
const caFile = join(dir, 'ca.pem')
writeFileSync(caFile, server.media.caPem)
process.env.NODE_EXTRA_CA_CERTS = caFile
const dispatcher = await mediaDispatcher(server.media.caPem)

const OURS = '15550400'
const THEIRS = '15550401'
const ours = { upserts: [], events: [] }
const NEWSLETTER_EVENTS = ['newsletter.reaction', 'newsletter.view', 'newsletter-participants.update', 'newsletter-settings.update']
const { sock } = await pairOurSocket(server, OURS, {
  onSocket: (s) => {
    s.ev.on('messages.upsert', ({ messages, type }) => ours.upserts.push(...messages.map((m) => ({ ...m, upsertType: type }))))
    for (const name of NEWSLETTER_EVENTS) s.ev.on(name, (data) => ours.events.push({ name, data }))
  },
})
const b = new BaileysClient(server, 'b', { fetchAgent: new HttpsAgent({ ca: server.media.caPem }) })
const theirs = { events: [] }
await b.pairByQR(THEIRS, 'B')
for (const name of NEWSLETTER_EVENTS) b.sock.ev.on(name, (data) => theirs.events.push({ name, data }))

after(async () => {
  sock.end()
  await b.end()
  restore()
  await server.stop()
  exitWhenDone()
})

const pn = (n) => `${n}@s.whatsapp.net`
const event = (side, name, pred = () => true) => side.events.find((e) => e.name === name && pred(e.data))?.data
let ourChannel
let theirChannel

test('ours creates a channel; Baileys finds it by JID and by invite and follows it', async () => {
  const created = await sock.newsletterCreate('Our news', 'what we say')
  assert.match(created.id, /^\d+@newsletter$/)
  assert.equal(created.name, 'Our news')
  assert.equal(created.description, 'what we say')
  assert.equal(typeof created.creation_time, 'number')
  assert.equal(created.subscribers, 0)
  assert.equal(created.mute_state, 'OFF')
  ourChannel = created.id

  const byJid = await b.sock.newsletterMetadata('jid', ourChannel)
  assert.equal(byJid.id, ourChannel)
  assert.equal(byJid.thread_metadata.name.text, 'Our news')
  assert.equal(byJid.viewer_metadata.role, 'GUEST')
  const byInvite = await b.sock.newsletterMetadata('invite', created.invite)
  assert.equal(byInvite.id, ourChannel)
  const mine = await sock.newsletterMetadata('jid', ourChannel)
  assert.equal(mine.viewer_metadata.role, 'OWNER')

  await b.sock.newsletterFollow(ourChannel)
  assert.deepEqual(await sock.newsletterSubscribers(ourChannel), { id: ourChannel, subscribers: 1 })
  assert.equal(await sock.newsletterAdminCount(ourChannel), 1)
  assert.equal((await b.sock.newsletterMetadata('jid', ourChannel)).viewer_metadata.role, 'SUBSCRIBER')
})

test('our posts reach the Baileys follower with their server ids; Baileys reacts, ours sees it', async () => {
  const sent = await sock.sendMessage(ourChannel, { text: 'first post' })
  assert.ok(sent.key.server_id, 'the server numbered our post')
  const got = await b.waitMessage((m) => m.key.remoteJid === ourChannel && text(m) === 'first post')
  assert.equal(got.key.server_id, sent.key.server_id)
  assert.equal(got.key.fromMe, false)
  const post = server.newsletter(ourChannel).messages.find((m) => m.serverId === Number(sent.key.server_id) || String(m.serverId) === sent.key.server_id)
  assert.ok(post, 'the server keeps the post')

  await b.sock.newsletterReactMessage(ourChannel, sent.key.server_id, '🔥')
  await until(() => event(ours, 'newsletter.reaction', (d) => d.server_id === sent.key.server_id), 'ours sees the reaction')
  const r = event(ours, 'newsletter.reaction', (d) => d.server_id === sent.key.server_id)
  assert.deepEqual(r, { id: ourChannel, server_id: sent.key.server_id, reaction: { code: '🔥', count: 1 } })
  // Taken back: ours says so; Baileys' own parser would report the same code with count 1.
  await b.sock.newsletterReactMessage(ourChannel, sent.key.server_id)
  await until(() => event(ours, 'newsletter.reaction', (d) => d.reaction.removed), 'ours sees the removal')
})

test('Baileys creates a channel; ours follows, reads its posts and reacts; Baileys sees the reaction', async () => {
  theirChannel = (await b.sock.newsletterCreate('Their news', 'what they say')).id
  await sock.newsletterFollow(theirChannel)
  const meta = await sock.newsletterMetadata('jid', theirChannel)
  assert.equal(meta.viewer_metadata.role, 'SUBSCRIBER')
  await b.sock.sendMessage(theirChannel, { text: 'hello followers' })
  await until(() => ours.upserts.some((m) => m.key.remoteJid === theirChannel && text(m) === 'hello followers'), 'ours gets the post')
  const got = ours.upserts.find((m) => m.key.remoteJid === theirChannel)
  assert.ok(got.key.server_id)
  assert.equal(got.key.fromMe, false)
  assert.equal(got.upsertType, 'notify')

  await sock.newsletterReactMessage(theirChannel, got.key.server_id, '👍')
  await until(() => event(theirs, 'newsletter.reaction', (d) => d.id === theirChannel), 'Baileys sees our reaction')
  const r = event(theirs, 'newsletter.reaction', (d) => d.id === theirChannel)
  assert.equal(r.server_id, got.key.server_id)
  assert.equal(r.reaction.code, '👍')
  const stored = server.newsletter(theirChannel).messages.find((m) => String(m.serverId) === got.key.server_id)
  assert.deepEqual(stored.reactions, { '👍': 1 })
})

test('settings: name and description changes reach the other side as newsletter-settings.update', async () => {
  await sock.newsletterUpdateName(ourChannel, 'Our news, daily')
  await until(() => event(theirs, 'newsletter-settings.update', (d) => d.id === ourChannel), 'Baileys sees our new name')
  assert.deepEqual(event(theirs, 'newsletter-settings.update', (d) => d.id === ourChannel).update, { name: 'Our news, daily' })
  await b.sock.newsletterUpdateDescription(theirChannel, 'now weekly')
  await until(() => event(ours, 'newsletter-settings.update', (d) => d.id === theirChannel), 'ours sees their description')
  assert.deepEqual(event(ours, 'newsletter-settings.update', (d) => d.id === theirChannel).update, { description: 'now weekly' })
  assert.equal((await b.sock.newsletterMetadata('jid', ourChannel)).thread_metadata.name.text, 'Our news, daily')

  const png = readFileSync(new URL('../node_modules/pino/pino-banner.png', import.meta.url))
  await sock.newsletterUpdatePicture(ourChannel, png)
  const pic = (await b.sock.newsletterMetadata('jid', ourChannel)).thread_metadata.picture
  assert.ok(pic.id, 'the picture has an id')
  await sock.newsletterRemovePicture(ourChannel)
  assert.equal((await b.sock.newsletterMetadata('jid', ourChannel)).thread_metadata.picture.id, '')
})

test('mute, unmute and unfollow as the viewer sees them', async () => {
  await sock.newsletterMute(theirChannel)
  assert.equal((await sock.newsletterMetadata('jid', theirChannel)).viewer_metadata.mute, 'ON')
  await sock.newsletterUnmute(theirChannel)
  assert.equal((await sock.newsletterMetadata('jid', theirChannel)).viewer_metadata.mute, 'OFF')
  await sock.newsletterUnfollow(theirChannel)
  assert.equal((await sock.newsletterMetadata('jid', theirChannel)).viewer_metadata.role, 'GUEST')
  assert.deepEqual(await b.sock.newsletterSubscribers(theirChannel), { id: theirChannel, subscribers: 0 })
  // The owner cannot leave: a GraphQL error, a Boom with its code on both sides.
  await assert.rejects(sock.newsletterUnfollow(ourChannel), (e) => e.isBoom && e.output.statusCode === 403)
  await assert.rejects(b.sock.newsletterUnfollow(theirChannel), (e) => e.isBoom && e.output.statusCode === 403)
})

test('roles: ours hands its channel to Baileys, which demotes ours; both see the changes', async () => {
  server.newsletterSetRole(ourChannel, pn(THEIRS), 'ADMIN')
  assert.equal(await sock.newsletterAdminCount(ourChannel), 2)
  await sock.newsletterChangeOwner(ourChannel, pn(THEIRS))
  await until(
    () => event(theirs, 'newsletter-participants.update', (d) => d.id === ourChannel && d.new_role === 'OWNER'),
    'Baileys is told it owns the channel',
  )
  assert.equal((await b.sock.newsletterMetadata('jid', ourChannel)).viewer_metadata.role, 'OWNER')
  await b.sock.newsletterDemote(ourChannel, pn(OURS))
  await until(
    () => event(ours, 'newsletter-participants.update', (d) => d.id === ourChannel && d.action === 'demote'),
    'ours is told it was demoted',
  )
  const d = event(ours, 'newsletter-participants.update', (d) => d.id === ourChannel && d.action === 'demote')
  assert.equal(d.new_role, 'SUBSCRIBER')
  assert.equal(await b.sock.newsletterAdminCount(ourChannel), 1)
  // A subscriber may not post: the server's refusal rejects our send.
  await assert.rejects(sock.sendMessage(ourChannel, { text: 'not mine any more' }), (e) => e.code === 'ERR_WA_CLIENT_SERVER' && /403/.test(e.message))
  await assert.rejects(sock.newsletterDemote(ourChannel, pn(THEIRS)), (e) => e.isBoom && e.output.statusCode === 403)
})

test('message history and live updates: the same answers to both; views reach the owner', async () => {
  for (const t of ['two', 'three']) await b.sock.sendMessage(theirChannel, { text: t })
  // Baileys' send resolves when the bytes are written: the history is asked once the server has both.
  await until(() => server.newsletter(theirChannel).messages.length === 3, 'the server has the posts')
  const mine = await sock.newsletterFetchMessages(theirChannel, 10, 0, 0)
  const baileys = await b.sock.newsletterFetchMessages(theirChannel, 10, 0, 0)
  const posts = (node) => node.content[0].content.find((c) => c.tag === 'messages').content.map((m) => m.attrs.server_id)
  assert.equal(mine.tag, 'iq')
  assert.deepEqual(posts(mine), posts(baileys))
  assert.equal(posts(mine).length, 3)
  const last = Number(posts(mine)[1])
  assert.deepEqual(posts(await sock.newsletterFetchMessages(theirChannel, 10, 0, last)), posts(mine).slice(2))

  const live = await sock.subscribeNewsletterUpdates(theirChannel)
  assert.ok(Number(live.duration) > 0)
  const server_id = posts(mine)[0]
  // Neither library has a method to mark a post seen; the receipt a phone sends is sent by hand.
  await sock.sendNode({ tag: 'receipt', attrs: { to: theirChannel, id: 'view-1', type: 'view' }, content: [{ tag: 'list', attrs: {}, content: [{ tag: 'item', attrs: { server_id } }] }] })
  await until(() => event(theirs, 'newsletter.view', (d) => d.server_id === server_id), 'the owner sees the view')
  assert.equal(event(theirs, 'newsletter.view', (d) => d.server_id === server_id).count, 1)
})

test('media posts go up unencrypted: the follower gets the file as it is', async () => {
  // Baileys owns ourChannel now; ours made a new one for this.
  const ch = (await sock.newsletterCreate('Our pictures')).id
  await b.sock.newsletterFollow(ch)
  const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256))
  const sent = await sock.sendMessage(ch, { document: bytes, mimetype: 'application/octet-stream', fileName: 'raw.bin' })
  const got = await b.waitMessage((m) => m.key.remoteJid === ch && m.message?.documentMessage)
  const doc = got.message.documentMessage
  assert.equal(doc.mediaKey?.length ?? 0, 0, 'no media key: the file is not encrypted')
  assert.deepEqual(Buffer.from(doc.fileSha256), createHash('sha256').update(bytes).digest())
  assert.equal(got.key.server_id, sent.key.server_id)
  const res = await fetch(`https://${server.media.host}${doc.directPath}`, { dispatcher })
  assert.equal(res.status, 200)
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes)
})

test('deleting a channel; bad input is refused before anything is sent', async () => {
  const ch = (await sock.newsletterCreate('Short lived')).id
  await sock.newsletterDelete(ch)
  await assert.rejects(sock.newsletterMetadata('jid', ch), (e) => e.isBoom && e.output.statusCode === 404)
  await assert.rejects(b.sock.newsletterMetadata('jid', ch), (e) => e.isBoom && e.output.statusCode === 404)

  const bad = (e) => e.code === 'ERR_WA_CLIENT_ARGUMENT'
  await assert.rejects(sock.newsletterMetadata('id', ourChannel), bad)
  await assert.rejects(sock.newsletterFollow('123@g.us'), bad)
  await assert.rejects(sock.newsletterCreate('  '), bad)
  await assert.rejects(sock.newsletterReactMessage(theirChannel, 'abc', '👍'), bad)
  await assert.rejects(sock.newsletterChangeOwner(theirChannel, 'x@newsletter'), bad)
  await assert.rejects(sock.newsletterUpdate(theirChannel, { name: 5 }), bad)
  await assert.rejects(sock.newsletterFetchMessages(theirChannel, 0), bad)
  await assert.rejects(sock.newsletterFollow('999@newsletter'), (e) => e.isBoom && e.output.statusCode === 404)
})
