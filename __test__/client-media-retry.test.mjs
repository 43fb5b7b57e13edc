// Media retry end to end: the test server's phone sends an image to our socket and to the real
// Baileys 7; the file expires on the media host; `downloadMediaMessage` with
// `reuploadRequest: sock.updateMediaMessage` asks the phone (a `<receipt type="server-error">`),
// the phone uploads the file again and answers with `<notification type="mediaretry">`, and
// the download returns the original bytes from the new direct path. Failures (NOT_FOUND, an
// `<error>` node, an answer that does not decrypt, a garbled notification) are Boom errors on
// ours and events, never crashes. The utilities (`encryptMediaRetryRequest`,
// `decodeMediaRetryNode`, `decryptMediaRetryData`) are compared with Baileys' on the same inputs.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent as HttpsAgent } from 'node:https'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import * as B from '@whiskeysockets/baileys'
import { startTestServer } from '../lib/testing.mjs'
import {
  downloadMediaMessage,
  encryptMediaRetryRequest,
  decodeMediaRetryNode,
  decryptMediaRetryData,
  encryptMedia,
  aesEncryptGCM,
  hkdf,
  proto,
} from '../index.mjs'
import { BaileysClient, trustServer, exitWhenDone, mediaDispatcher, pairOurSocket, logger } from './testserver-util.mjs'

const RETRY_INFO = 'WhatsApp Media Retry Notification'

// ---- the utilities against Baileys' ------------------------------------------------------

const child = (node, tag) => node.content.find((c) => c.tag === tag)

test("encryptMediaRetryRequest builds Baileys' node; each side opens the other's request", () => {
  for (const key of [
    { remoteJid: '15550100@s.whatsapp.net', fromMe: false, id: '3EB0AAAA' },
    { remoteJid: '1203634@g.us', fromMe: false, id: '3EB0BBBB', participant: '15550101@s.whatsapp.net' },
    { remoteJid: '15550102@s.whatsapp.net', fromMe: true, id: 'ABCDEF0123' },
  ]) {
    const mediaKey = randomBytes(32)
    const meId = '15550199:7@s.whatsapp.net'
    const ours = encryptMediaRetryRequest(key, mediaKey, meId)
    const theirs = B.encryptMediaRetryRequest(key, mediaKey, meId)
    assert.deepEqual(ours.tag, theirs.tag)
    assert.deepEqual(ours.attrs, theirs.attrs)
    assert.deepEqual(ours.content.map((c) => c.tag), theirs.content.map((c) => c.tag))
    assert.deepEqual(child(ours, 'rmr'), child(theirs, 'rmr'))
    const parts = (n) => {
      const enc = child(n, 'encrypt')
      return { ciphertext: child(enc, 'enc_p').content, iv: child(enc, 'enc_iv').content }
    }
    const o = parts(ours)
    const t = parts(theirs)
    assert.equal(o.iv.length, 12)
    assert.notDeepEqual(Buffer.from(o.iv), Buffer.from(t.iv), 'a fresh IV each time')
    // The request is a ServerErrorReceipt { stanzaId }; field 1 is stanzaId in
    // MediaRetryNotification too, so each side's decryptMediaRetryData opens the other's.
    assert.equal(B.decryptMediaRetryData(o, mediaKey, key.id).stanzaId, key.id)
    assert.equal(decryptMediaRetryData(t, mediaKey, key.id).stanzaId, key.id)
    const plain = B.aesDecryptGCM(o.ciphertext, B.hkdf(mediaKey, 32, { info: RETRY_INFO }), o.iv, Buffer.from(key.id))
    assert.equal(proto.ServerErrorReceipt.decode(plain).stanzaId, key.id)
    assert.throws(() => decryptMediaRetryData(t, randomBytes(32), key.id), { code: 'ERR_WA_CRYPTO_GCM_AUTH' })
    assert.throws(() => decryptMediaRetryData(t, mediaKey, 'another id'), { code: 'ERR_WA_CRYPTO_GCM_AUTH' })
  }
})

test("decryptMediaRetryData opens the phone's answer as Baileys does, both ways", () => {
  const mediaKey = randomBytes(32)
  const id = '3EB0CCCC'
  const note = { stanzaId: id, directPath: '/v/t62.7118-24/x.enc?oh=1', result: proto.MediaRetryNotification.ResultType.SUCCESS }
  const plain = proto.MediaRetryNotification.encode(note).finish()
  const iv = randomBytes(12)
  const sealedByBaileys = { ciphertext: B.aesEncryptGCM(plain, B.hkdf(mediaKey, 32, { info: RETRY_INFO }), iv, Buffer.from(id)), iv }
  const sealedByUs = { ciphertext: aesEncryptGCM(plain, hkdf(mediaKey, 32, { info: RETRY_INFO }), iv, Buffer.from(id)), iv }
  assert.deepEqual(Buffer.from(sealedByUs.ciphertext), Buffer.from(sealedByBaileys.ciphertext), 'same key, IV and data: same bytes')
  const ours = decryptMediaRetryData(sealedByBaileys, mediaKey, id)
  const theirs = B.decryptMediaRetryData(sealedByUs, mediaKey, id)
  assert.deepEqual(ours.toJSON(), theirs.toJSON())
  assert.equal(ours.directPath, note.directPath)
  assert.equal(ours.result, proto.MediaRetryNotification.ResultType.SUCCESS)
})

test("decodeMediaRetryNode reads every shape as Baileys' does; a node without rmr is an error, not a throw", () => {
  const rmr = (attrs = {}) => ({ tag: 'rmr', attrs: { jid: '15550100@s.whatsapp.net', from_me: 'false', ...attrs } })
  const enc = (parts) => ({ tag: 'encrypt', attrs: {}, content: parts })
  const nodes = [
    [enc([{ tag: 'enc_p', attrs: {}, content: Buffer.from([1, 2, 3]) }, { tag: 'enc_iv', attrs: {}, content: Buffer.alloc(12, 4) }]), rmr()],
    [enc([{ tag: 'enc_p', attrs: {}, content: Buffer.from([1]) }]), rmr({ from_me: 'true' })],
    [{ tag: 'error', attrs: { code: '2' } }, rmr({ participant: '15550101@s.whatsapp.net' })],
    [{ tag: 'error', attrs: { code: '3', text: 'x' } }, rmr()],
    [{ tag: 'error', attrs: { code: '9' } }, rmr()],
    [rmr()],
  ]
  for (const content of nodes) {
    const node = { tag: 'notification', attrs: { id: 'MSG1', type: 'mediaretry', from: 's.whatsapp.net' }, content }
    const ours = decodeMediaRetryNode(node)
    const theirs = B.decodeMediaRetryNode(node)
    assert.deepEqual(ours.key, theirs.key)
    assert.deepEqual(ours.media, theirs.media)
    assert.equal(!!ours.error, !!theirs.error)
    if (theirs.error) {
      assert.ok(ours.error.isBoom)
      assert.equal(ours.error.message, theirs.error.message)
      assert.equal(ours.error.output.statusCode, theirs.error.output.statusCode)
      assert.deepEqual(ours.error.data, theirs.error.data)
    }
  }
  const garbled = { tag: 'notification', attrs: { id: 'MSG2', type: 'mediaretry' }, content: [] }
  assert.throws(() => B.decodeMediaRetryNode(garbled), TypeError, 'Baileys throws on a node without rmr')
  const ours = decodeMediaRetryNode(garbled)
  assert.equal(ours.key.id, 'MSG2')
  assert.equal(ours.error.output.statusCode, 400)
})

// ---- end to end through the test server ---------------------------------------------------

const server = await startTestServer({ seed: 'client media retry' })
const restore = trustServer(server)
const dir = mkdtempSync(join(tmpdir(), 'bn-media-retry-'))
const caFile = join(dir, 'ca.pem')
writeFileSync(caFile, server.media.caPem)
process.env.NODE_EXTRA_CA_CERTS = caFile
const dispatcher = await mediaDispatcher(server.media.caPem)

const OUR_NUMBER = '15550730001'
const BAILEYS_NUMBER = '15550730002'
const PHONE = '15550730003'
const ourChat = `${OUR_NUMBER}@s.whatsapp.net`
const baileysChat = `${BAILEYS_NUMBER}@s.whatsapp.net`
const phone = server.phone(PHONE)

const ours = { upserts: [], mediaUpdates: [], updates: [] }
await pairOurSocket(server, OUR_NUMBER, {
  onSocket: (sock) => {
    sock.ev.on('messages.upsert', ({ messages }) => ours.upserts.push(...messages))
    sock.ev.on('messages.media-update', (u) => ours.mediaUpdates.push(...u))
    sock.ev.on('messages.update', (u) => ours.updates.push(...u))
    ours.sock = sock
  },
})
const baileys = new BaileysClient(server, 'baileys', { fetchAgent: new HttpsAgent({ ca: server.media.caPem }) })
await baileys.pairByQR(BAILEYS_NUMBER, 'Baileys')
const baileysMediaUpdates = []
baileys.sock.ev.on('messages.media-update', (u) => baileysMediaUpdates.push(...u))

after(async () => {
  restore()
  await baileys.end()
  ours.sock?.end()
  await server.stop()
  exitWhenDone()
})

function waitFor(list, pred, what, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = () => {
      const m = list.find(pred)
      if (m) return resolve(m)
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, 5)
    }
    tick()
  })
}

/** The phone sends an image (a file it put on the host) to `to`; resolves with its id, bytes and path. */
async function phoneSendsImage(to) {
  const bytes = randomBytes(30_000)
  const mediaKey = randomBytes(32)
  const enc = encryptMedia(bytes, mediaKey, 'image')
  const directPath = server.media.put(enc.data)
  const message = proto.Message.fromObject({
    imageMessage: {
      url: `https://${server.media.host}${directPath}`,
      directPath,
      mediaKey,
      mimetype: 'image/jpeg',
      fileSha256: enc.fileSha256,
      fileEncSha256: enc.fileEncSha256,
      fileLength: enc.fileLength,
      mediaKeyTimestamp: Math.floor(Date.now() / 1000),
      caption: 'from the phone',
    },
  })
  const id = await phone.sendMessage(to, proto.Message.encode(message).finish())
  return { id, bytes, directPath }
}

const ctxOf = (sock) => ({ logger, reuploadRequest: (m) => sock.updateMediaMessage(m) })

test('ours: an expired image is asked for again, the phone uploads it again, the download returns the original bytes', async () => {
  const { id, bytes, directPath } = await phoneSendsImage(ourChat)
  const msg = await waitFor(ours.upserts, (m) => m.key.id === id, 'the image at ours')
  assert.equal(msg.message.imageMessage.directPath, directPath)
  assert.deepEqual(await downloadMediaMessage(msg, 'buffer', {}), bytes, 'downloadable before it expires')
  server.media.expire(directPath)
  await assert.rejects(downloadMediaMessage(msg, 'buffer', {}), (e) => e.status === 410)
  const retriesBefore = server.stats().phoneMediaRetries
  const got = await downloadMediaMessage(msg, 'buffer', {}, ctxOf(ours.sock))
  assert.deepEqual(got, bytes)
  const content = msg.message.imageMessage
  assert.notEqual(content.directPath, directPath, 'the message points at the new file')
  assert.equal(content.url, `https://${server.media.host}${content.directPath}`)
  assert.equal(server.stats().phoneMediaRetries, retriesBefore + 1)
  // The receipt reached the phone; the answer came back as messages.media-update.
  assert.ok(phone.receipts().some((r) => r.id === id && r.type === 'server-error'))
  const ev = ours.mediaUpdates.find((u) => u.key.id === id)
  assert.ok(ev, 'messages.media-update was emitted')
  assert.equal(ev.key.remoteJid, msg.key.remoteJid)
  assert.equal(ev.key.fromMe, false)
  assert.equal(ev.error, undefined)
  assert.ok(Buffer.isBuffer(ev.media.ciphertext) && ev.media.iv.length === 12)
  const note = decryptMediaRetryData(ev.media, content.mediaKey, id)
  assert.equal(note.stanzaId, id)
  assert.equal(note.directPath, content.directPath)
  const upd = await waitFor(ours.updates, (u) => u.key.id === id && u.update.message, 'messages.update with the message')
  assert.equal(upd.update.message.imageMessage.directPath, content.directPath)
  // The new file is the same encrypted file (a stream download works too).
  const chunks = []
  for await (const c of await downloadMediaMessage(msg, 'stream', {})) chunks.push(c)
  assert.deepEqual(Buffer.concat(chunks), bytes)
})

test("Baileys: the same request and answer work; its downloadMediaMessage does not call reuploadRequest (its Boom has no .status)", async () => {
  await baileys.sock.refreshMediaConn(true) // Baileys names the media_conn host in the new url once it knows it
  const { id, bytes, directPath } = await phoneSendsImage(baileysChat)
  const msg = await baileys.waitMessage((m) => m.key.id === id)
  const opts = { options: { dispatcher } }
  assert.deepEqual(await B.downloadMediaMessage(msg, 'buffer', opts), bytes)
  server.media.expire(directPath)
  let asked = 0
  const ctx = {
    logger,
    reuploadRequest: (m) => {
      asked++
      return baileys.sock.updateMediaMessage(m)
    },
  }
  // rc14 checks `error.status`, which @hapi/boom never sets: the 410 comes back as it is.
  await assert.rejects(B.downloadMediaMessage(msg, 'buffer', opts, ctx), (e) => e.output?.statusCode === 410)
  assert.equal(asked, 0)
  const updated = await baileys.sock.updateMediaMessage(msg)
  assert.notEqual(updated.message.imageMessage.directPath, directPath)
  assert.deepEqual(await B.downloadMediaMessage(updated, 'buffer', opts), bytes, 'Baileys downloads the file the phone uploaded again')
  assert.ok(baileysMediaUpdates.some((u) => u.key.id === id && u.media))
})

test('NOT_FOUND from the phone: a Boom 404 on ours, as on Baileys', async () => {
  phone.setMediaRetryAnswer('not_found')
  try {
    const a = await phoneSendsImage(ourChat)
    const b = await phoneSendsImage(baileysChat)
    const atOurs = await waitFor(ours.upserts, (m) => m.key.id === a.id, 'the image at ours')
    const atBaileys = await baileys.waitMessage((m) => m.key.id === b.id)
    server.media.expire(a.directPath)
    server.media.expire(b.directPath)
    const ourErr = await downloadMediaMessage(atOurs, 'buffer', {}, ctxOf(ours.sock)).then(
      () => assert.fail('resolved'),
      (e) => e,
    )
    assert.ok(ourErr.isBoom)
    assert.equal(ourErr.output.statusCode, 404)
    assert.equal(ourErr.message, 'Media re-upload failed by device (NOT_FOUND)')
    assert.equal(ourErr.data.result, proto.MediaRetryNotification.ResultType.NOT_FOUND)
    assert.equal(atOurs.message.imageMessage.directPath, a.directPath, 'the message is unchanged')
    const theirErr = await baileys.sock.updateMediaMessage(atBaileys).then(
      () => assert.fail('resolved'),
      (e) => e,
    )
    assert.equal(theirErr.output.statusCode, ourErr.output.statusCode)
    assert.equal(theirErr.message, ourErr.message)
  } finally {
    phone.setMediaRetryAnswer('reupload')
  }
})

test('an <error code> answer: the event carries the Boom, updateMediaMessage rejects with it (as Baileys)', async () => {
  phone.setMediaRetryAnswer('error', { code: 2 })
  try {
    const a = await phoneSendsImage(ourChat)
    const b = await phoneSendsImage(baileysChat)
    const atOurs = await waitFor(ours.upserts, (m) => m.key.id === a.id, 'the image at ours')
    const atBaileys = await baileys.waitMessage((m) => m.key.id === b.id)
    const ourErr = await ours.sock.updateMediaMessage(atOurs).then(() => assert.fail('resolved'), (e) => e)
    const theirErr = await baileys.sock.updateMediaMessage(atBaileys).then(() => assert.fail('resolved'), (e) => e)
    for (const e of [ourErr, theirErr]) {
      assert.equal(e.message, 'Failed to re-upload media (2)')
      assert.equal(e.output.statusCode, 404)
      assert.deepEqual(e.data, { code: '2' })
    }
    const ev = ours.mediaUpdates.find((u) => u.key.id === a.id)
    assert.ok(ev.error?.isBoom && ev.media === undefined)
  } finally {
    phone.setMediaRetryAnswer('reupload')
  }
})

test('a forged answer (does not decrypt) and a garbled notification are errors, not crashes', async () => {
  try {
    phone.setMediaRetryAnswer('forged')
    const a = await phoneSendsImage(ourChat)
    const atOurs = await waitFor(ours.upserts, (m) => m.key.id === a.id, 'the image at ours')
    await assert.rejects(ours.sock.updateMediaMessage(atOurs), { code: 'ERR_WA_CRYPTO_GCM_AUTH' })
    assert.ok(ours.mediaUpdates.find((u) => u.key.id === a.id)?.media, 'the event carried the (forged) media')

    phone.setMediaRetryAnswer('garbled')
    const b = await phoneSendsImage(ourChat)
    const atOurs2 = await waitFor(ours.upserts, (m) => m.key.id === b.id, 'the image at ours')
    const err = await ours.sock.updateMediaMessage(atOurs2).then(() => assert.fail('resolved'), (e) => e)
    assert.ok(err.isBoom)
    assert.equal(err.output.statusCode, 400)
    const ev = ours.mediaUpdates.find((u) => u.key.id === b.id)
    assert.ok(ev.error?.isBoom, 'the garbled notification is an error on the event')

    // Baileys throws inside its notification handler: its request never settles.
    const c = await phoneSendsImage(baileysChat)
    const atBaileys = await baileys.waitMessage((m) => m.key.id === c.id)
    const pending = await Promise.race([
      baileys.sock.updateMediaMessage(atBaileys).then(() => 'resolved', () => 'rejected'),
      new Promise((r) => setTimeout(() => r('pending'), 1_500)),
    ])
    assert.equal(pending, 'pending')
  } finally {
    phone.setMediaRetryAnswer('reupload')
  }
  // Our socket is still up: a message goes through, and a retry works again.
  const sent = await ours.sock.sendMessage(phone.jid, { text: 'still here' })
  await phone.waitForInbox(1)
  assert.ok(phone.inbox().some((m) => m.key.id === sent.key.id))
  const { id, bytes, directPath } = await phoneSendsImage(ourChat)
  const msg = await waitFor(ours.upserts, (m) => m.key.id === id, 'the image at ours')
  server.media.expire(directPath)
  assert.deepEqual(await downloadMediaMessage(msg, 'buffer', {}, ctxOf(ours.sock)), bytes)
})
