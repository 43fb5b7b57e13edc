// Media between our socket and the real Baileys 7 through the test server's HTTPS media host,
// both directions: images, documents, voice notes, videos and stickers arrive and download to
// the same bytes on either side; bad files (a flipped byte, a wrong fileSha256, an expired
// URL) are coded errors on ours and never bytes (Baileys hands the flipped byte back
// silently); an expired file is fetched again through ctx.reuploadRequest; uploads over the
// host's limit are refused; a 'stream' download of a large file keeps memory bounded.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent as HttpsAgent } from 'node:https'
import { writeFileSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, createHash } from 'node:crypto'
import { startTestServer } from '../lib/testing.mjs'
import * as B from '@whiskeysockets/baileys'
import { downloadMediaMessage, downloadContentFromMessage } from '../index.mjs'
import { BaileysClient, trustServer, exitWhenDone, mediaDispatcher, pairOurSocket } from './testserver-util.mjs'

const MAX = 24 * 1024 * 1024
const server = await startTestServer({ seed: 'client media', mediaMaxBytes: MAX })
const restore = trustServer(server)
// Our HTTPS client trusts NODE_EXTRA_CA_CERTS as Node does; it is read on first use.
const dir = mkdtempSync(join(tmpdir(), 'bn-client-media-'))
const caFile = join(dir, 'ca.pem')
writeFileSync(caFile, server.media.caPem)
process.env.NODE_EXTRA_CA_CERTS = caFile

const dispatcher = await mediaDispatcher(server.media.caPem)
const baileys = new BaileysClient(server, 'baileys', { fetchAgent: new HttpsAgent({ ca: server.media.caPem }) })
const OUR_NUMBER = '15550710001'
const BAILEYS_NUMBER = '15550710002'
const ourChat = `${OUR_NUMBER}@s.whatsapp.net`
const baileysChat = `${BAILEYS_NUMBER}@s.whatsapp.net`

const ours = { upserts: [] }
await pairOurSocket(server, OUR_NUMBER, {
  onSocket: (sock) => {
    sock.ev.on('messages.upsert', ({ messages }) => ours.upserts.push(...messages))
    ours.sock = sock
  },
})
await baileys.pairByQR(BAILEYS_NUMBER, 'Baileys')

after(async () => {
  restore()
  await baileys.end()
  ours.sock?.end()
  await server.stop()
  exitWhenDone()
})

function waitOurs(id, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = () => {
      const m = ours.upserts.find((x) => x.key.id === id)
      if (m) return resolve(m)
      if (Date.now() - started > ms) return reject(new Error(`no message ${id} at ours`))
      setTimeout(tick, 5)
    }
    tick()
  })
}

async function collect(stream) {
  const parts = []
  for await (const p of stream) parts.push(p)
  return Buffer.concat(parts)
}

const sha = (b) => createHash('sha256').update(b).digest()
const banner = new URL('../node_modules/pino/pino-banner.png', import.meta.url)
const docPath = join(dir, 'report.pdf')
writeFileSync(docPath, randomBytes(150_000))

const KINDS = [
  ['image', () => ({ image: { url: banner.pathname }, caption: 'a picture' }), 'imageMessage'],
  ['document', () => ({ document: { url: docPath }, mimetype: 'application/pdf', fileName: 'report.pdf' }), 'documentMessage'],
  ['voice note', () => ({ audio: randomBytes(40_000), ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 4 }), 'audioMessage'],
  ['video', () => ({ video: randomBytes(90_000), caption: 'clip', gifPlayback: true, jpegThumbnail: Buffer.alloc(0) }), 'videoMessage'],
  ['sticker', () => ({ sticker: randomBytes(9_000) }), 'stickerMessage'],
  ['round video (ptv)', () => ({ video: randomBytes(50_000), ptv: true }), 'ptvMessage'],
  ['audio file', () => ({ audio: randomBytes(30_000), mimetype: 'audio/mpeg' }), 'audioMessage'],
]

for (const [name, make, key] of KINDS) {
  test(`${name}: ours -> Baileys and Baileys -> ours download to the same bytes`, async () => {
    const content = make()
    const fromFile = content.image?.url || content.document?.url
    const original = fromFile ? readFileSync(fromFile) : content.audio || content.video || content.sticker
    const sent = await ours.sock.sendMessage(baileysChat, content)
    const m = sent.message[key]
    assert.equal(Number(m.fileLength), original.length)
    assert.deepEqual(Buffer.from(m.fileSha256), sha(original))
    const atBaileys = await baileys.waitMessage((x) => x.key.id === sent.key.id)
    assert.equal(atBaileys.message[key].directPath, m.directPath)
    const got = await B.downloadMediaMessage(atBaileys, 'buffer', { options: { dispatcher } })
    assert.deepEqual(sha(got), sha(original), 'Baileys downloads what we sent')
    if (name === 'image') {
      assert.ok(atBaileys.message.imageMessage.jpegThumbnail?.length > 100, 'the thumbnail made natively reached Baileys')
      assert.equal(atBaileys.message.imageMessage.width, 3694)
    }

    const back = await baileys.sock.sendMessage(ourChat, make())
    const atOurs = await waitOurs(back.key.id)
    const buf = await downloadMediaMessage(atOurs, 'buffer', {})
    const stream = await collect(await downloadMediaMessage(atOurs, 'stream', {}))
    assert.deepEqual(sha(buf), sha(stream))
    assert.deepEqual(sha(buf), Buffer.from(back.message[key].fileSha256), 'we download what Baileys sent')
    if (fromFile) assert.deepEqual(sha(buf), sha(original), 'the same file both ways')
  })
}

test('a product (its image uploaded) both ways: the receiver downloads the same image', async () => {
  const product = (owner) => ({
    product: {
      productImage: { url: banner.pathname },
      productId: 'p-1',
      title: 'A banner',
      description: 'pino',
      currencyCode: 'EUR',
      priceAmount1000: 12_500,
      retailerId: 'r-1',
      productImageCount: 1,
    },
    businessOwnerJid: owner,
  })
  const original = readFileSync(banner)
  const sent = await ours.sock.sendMessage(baileysChat, product(ourChat))
  const atBaileys = await baileys.waitMessage((x) => x.key.id === sent.key.id)
  const p = atBaileys.message.productMessage
  assert.equal(p.product.title, 'A banner')
  assert.equal(Number(p.product.priceAmount1000), 12_500)
  assert.equal(p.businessOwnerJid, ourChat)
  const img = await collect(await B.downloadContentFromMessage(p.product.productImage, 'image', { options: { dispatcher } }))
  assert.deepEqual(sha(img), sha(original), 'Baileys downloads our product image')

  const back = await baileys.sock.sendMessage(ourChat, product(baileysChat))
  const atOurs = await waitOurs(back.key.id)
  const mine = await collect(await downloadContentFromMessage(atOurs.message.productMessage.product.productImage, 'image'))
  assert.deepEqual(sha(mine), sha(original), "we download Baileys' product image")
})

test('an album: the header, then images carrying its key, both ways', async () => {
  const header = await ours.sock.sendMessage(baileysChat, { album: { expectedImageCount: 2, expectedVideoCount: 0 } })
  const kids = []
  for (const caption of ['one', 'two']) kids.push(await ours.sock.sendMessage(baileysChat, { image: randomBytes(4000), caption, albumParentKey: header.key }))
  for (const kid of kids) {
    const at = await baileys.waitMessage((x) => x.key.id === kid.key.id)
    assert.equal(at.message.messageContextInfo.messageAssociation.parentMessageKey.id, header.key.id)
    assert.ok(at.message.imageMessage.directPath)
  }
  const bHeader = await baileys.sock.sendMessage(ourChat, { album: { expectedImageCount: 1, expectedVideoCount: 0 } })
  const bKid = await baileys.sock.sendMessage(ourChat, { image: randomBytes(4000), caption: 'three', albumParentKey: bHeader.key })
  const atOurs = await waitOurs(bKid.key.id)
  assert.equal(atOurs.message.messageContextInfo.messageAssociation.parentMessageKey.id, bHeader.key.id)
  assert.equal((await waitOurs(bHeader.key.id)).message.albumMessage.expectedImageCount, 1)
})

test('a flipped byte is a MAC error on ours, never bytes; Baileys returns the corrupted bytes', async () => {
  const bytes = randomBytes(100_000)
  const sent = await baileys.sock.sendMessage(ourChat, { document: bytes, mimetype: 'application/octet-stream', fileName: 'x.bin' })
  const atOurs = await waitOurs(sent.key.id)
  const directPath = atOurs.message.documentMessage.directPath
  server.media.corrupt(directPath, 50_000)
  await assert.rejects(downloadMediaMessage(atOurs, 'buffer', {}), { code: 'ERR_WA_MEDIA_BAD_MAC' })
  // The stream fails before it exists: no byte of the file is handed out.
  await assert.rejects(downloadMediaMessage(atOurs, 'stream', {}), { code: 'ERR_WA_MEDIA_BAD_MAC' })
  const theirs = await B.downloadMediaMessage(sent, 'buffer', { options: { dispatcher } })
  assert.equal(theirs.length, bytes.length, 'Baileys hands back a file of the same length')
  assert.notDeepEqual(theirs, bytes, 'with corrupted bytes in it, and no error')
})

test('a wrong fileSha256 is a hash error; an unknown directPath an HTTP 404', async () => {
  const bytes = randomBytes(30_000)
  const sent = await ours.sock.sendMessage(baileysChat, { document: bytes, mimetype: 'application/octet-stream' })
  const msg = { key: sent.key, message: { documentMessage: { ...sent.message.documentMessage } } }
  msg.message.documentMessage.fileSha256 = Buffer.alloc(32, 1)
  await assert.rejects(downloadMediaMessage(msg, 'buffer', {}), { code: 'ERR_WA_MEDIA_HASH_MISMATCH' })
  msg.message.documentMessage.fileSha256 = sha(bytes)
  msg.message.documentMessage.fileEncSha256 = Buffer.alloc(32, 2)
  await assert.rejects(downloadMediaMessage(msg, 'buffer', {}), { code: 'ERR_WA_MEDIA_HASH_MISMATCH' })
  delete msg.message.documentMessage.fileEncSha256
  // A path the host does not have (its query string does not name the file).
  const dp = msg.message.documentMessage.directPath
  msg.message.documentMessage.directPath = dp.includes('?') ? dp.replace('?', 'x?') : `${dp}x`
  await assert.rejects(downloadMediaMessage(msg, 'buffer', {}), (e) => e.code === 'ERR_WA_MEDIA_HTTP' && e.status === 404)
})

test('an expired file is fetched again through ctx.reuploadRequest (404/410), once', async () => {
  const bytes = randomBytes(20_000)
  const sent = await ours.sock.sendMessage(baileysChat, { document: bytes, mimetype: 'application/octet-stream' })
  server.media.expire(sent.message.documentMessage.directPath)
  await assert.rejects(downloadMediaMessage(sent, 'buffer', {}), (e) => e.status === 410 || e.status === 404)
  let asked = 0
  const ctx = {
    logger: undefined,
    async reuploadRequest(m) {
      asked++
      // The sender uploads the same file again: a new location for the same key.
      const again = await ours.sock.sendMessage(baileysChat, { document: bytes, mimetype: 'application/octet-stream' })
      return again
    },
  }
  const got = await downloadMediaMessage(sent, 'buffer', {}, ctx)
  assert.equal(asked, 1)
  assert.deepEqual(got, bytes)
})

test('uploads over the host limit are refused with a coded error, nothing sent', async () => {
  const before = ours.upserts.length
  const big = randomBytes(MAX + 1024)
  await assert.rejects(ours.sock.sendMessage(baileysChat, { document: big, mimetype: 'application/octet-stream' }), (e) => {
    assert.ok(['ERR_WA_MEDIA_TOO_LARGE', 'ERR_WA_MEDIA_UPLOAD_FAILED'].includes(e.code), `${e.code}: ${e.message}`)
    return true
  })
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(ours.upserts.length, before, 'no message was sent')
})

test("a 'stream' download of a large file holds a bounded part of it in memory", async () => {
  const size = 20 * 1024 * 1024
  const bytes = randomBytes(size)
  const sent = await ours.sock.sendMessage(baileysChat, { document: bytes, mimetype: 'application/octet-stream' })
  global.gc?.()
  const stream = await downloadContentFromMessage(sent.message.documentMessage, 'document')
  let peak = 0
  let total = 0
  const h = createHash('sha256')
  for await (const chunk of stream) {
    total += chunk.length
    h.update(chunk)
    peak = Math.max(peak, chunk.length)
  }
  assert.equal(total, size)
  assert.deepEqual(h.digest(), sha(bytes))
  assert.ok(peak <= 512 * 1024, `chunks stay small (largest ${peak} bytes)`)
})
