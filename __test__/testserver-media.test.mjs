// The test server's HTTPS media host with the real Baileys 7.0.0-rc14: Baileys' own
// `encryptedStream` + `waUploadToServer` upload an image through the `media_conn` of a logged-in
// Baileys socket, and `downloadContentFromMessage` gets the same bytes back. Then the host's
// controls: expiry (410) and a corrupted byte, as Baileys sees them.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { readFile, rm } from 'node:fs/promises'
import { createHash, randomBytes } from 'node:crypto'
import { startTestServer } from 'baileys-native/testing'
import { encryptedStream, downloadContentFromMessage, downloadMediaMessage } from '@whiskeysockets/baileys'
import { BaileysClient, trustServer, exitWhenDone, mediaDispatcher } from './testserver-util.mjs'

let server
let restore
let client
let dispatcher
before(async () => {
  server = await startTestServer({ seed: 'baileys media', mediaMaxBytes: 64 * 1024 })
  restore = trustServer(server)
  dispatcher = await mediaDispatcher(server.media.caPem)
  // Uploads: Baileys posts with node:https and `fetchAgent` (uploadWithNodeHttp).
  client = new BaileysClient(server, 'media', { fetchAgent: new HttpsAgent({ ca: server.media.caPem }) })
  await client.pairByQR('15551240001', 'Media')
})
after(async () => {
  await client?.end()
  restore?.()
  await server?.stop()
  exitWhenDone()
})

const image = randomBytes(20_000)

async function collect(stream) {
  const parts = []
  for await (const p of stream) parts.push(p)
  return Buffer.concat(parts)
}

/** Encrypts and uploads as Baileys' prepareWAMessageMedia does. */
async function uploadImage(bytes) {
  const enc = await encryptedStream(bytes, 'image')
  try {
    const up = await client.sock.waUploadToServer(enc.encFilePath, {
      mediaType: 'image',
      fileEncSha256B64: enc.fileEncSha256.toString('base64'),
      timeoutMs: 10_000,
    })
    return { ...enc, ...up, encBytes: await readFile(enc.encFilePath) }
  } finally {
    await rm(enc.encFilePath, { force: true })
  }
}

test('Baileys uploads through media_conn and downloads the same bytes', async () => {
  assert.match(server.media.host, /^127\.0\.0\.1:\d+$/)
  assert.match(server.media.caPem, /^-----BEGIN CERTIFICATE-----/)
  const before = server.media.count()
  const up = await uploadImage(image)
  assert.equal(server.media.count(), before + 1)
  assert.match(up.directPath, /^\/v\/t62\.7118-24\/[0-9a-f]+\.enc\?/)
  assert.equal(up.mediaUrl, `https://${server.media.host}${up.directPath}`)
  // The host keeps what Baileys sent: the encrypted file, whose SHA-256 was the upload token.
  const stored = server.media.file(up.directPath)
  assert.deepEqual(stored, up.encBytes)
  assert.deepEqual(createHash('sha256').update(stored).digest(), up.fileEncSha256)

  const got = await collect(
    await downloadContentFromMessage({ mediaKey: up.mediaKey, directPath: up.directPath, url: up.mediaUrl }, 'image', {
      options: { dispatcher },
    }),
  )
  assert.deepEqual(got, image)
  // A byte range, as Baileys asks it (it fetches from the AES block before the start byte).
  const part = await collect(
    await downloadContentFromMessage({ mediaKey: up.mediaKey, directPath: up.directPath, url: up.mediaUrl }, 'image', {
      startByte: 1000,
      endByte: 3000,
      options: { dispatcher },
    }),
  )
  assert.deepEqual(part, image.subarray(1000, 3000))
})

/** POSTs `body` as Baileys' uploadWithNodeHttp does; resolves to { status, json }. */
function post(path, body) {
  return new Promise((resolve, reject) => {
    const [hostname, port] = server.media.host.split(':')
    const req = httpsRequest(
      {
        hostname,
        port,
        path,
        method: 'POST',
        ca: server.media.caPem,
        headers: { 'Content-Type': 'application/octet-stream', Origin: 'https://web.whatsapp.com', 'Content-Length': body.length },
      },
      (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode, json: text ? JSON.parse(text) : null }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

test("the host's answers to the media_conn of a Baileys socket: 200, 401, 400, 413", async () => {
  const mc = await client.sock.query({
    tag: 'iq',
    attrs: { type: 'set', xmlns: 'w:m', to: '@s.whatsapp.net' },
    content: [{ tag: 'media_conn', attrs: {} }],
  })
  const node = mc.content.find((n) => n.tag === 'media_conn')
  const host = node.content.find((n) => n.tag === 'host')
  assert.equal(host.attrs.hostname, server.media.host)
  assert.equal(host.attrs.maxContentLengthBytes, String(64 * 1024))
  assert.equal(node.attrs.auth_ttl, '21600')
  const auth = encodeURIComponent(node.attrs.auth)
  const body = randomBytes(1000)
  const token = createHash('sha256').update(body).digest('base64url')
  const before = server.media.count()
  assert.equal((await post(`/mms/image/${token}?token=${token}`, body)).status, 401)
  assert.equal((await post(`/mms/image/${token}?auth=nope&token=${token}`, body)).status, 401)
  const other = createHash('sha256').update('other').digest('base64url')
  assert.equal((await post(`/mms/image/${other}?auth=${auth}&token=${other}`, body)).status, 400)
  const big = randomBytes(64 * 1024 + 1)
  const bigToken = createHash('sha256').update(big).digest('base64url')
  assert.equal((await post(`/mms/image/${bigToken}?auth=${auth}&token=${bigToken}`, big)).status, 413)
  assert.equal(server.media.count(), before, 'nothing stored')
  const ok = await post(`/mms/image/${token}?auth=${auth}&token=${token}`, body)
  assert.equal(ok.status, 200)
  assert.deepEqual(server.media.file(ok.json.direct_path), body)
})

test('uploads over maxContentLengthBytes fail in Baileys (the host answers 413)', async () => {
  const before = server.media.count()
  await assert.rejects(uploadImage(randomBytes(80 * 1024)), (e) => e?.output?.statusCode === 500 && /all hosts/.test(e.message))
  assert.equal(server.media.count(), before)
})

test('a corrupted byte: garbled ciphertext breaks the download; Baileys rc14 never checks the MAC', async () => {
  const up = await uploadImage(image)
  const msg = { mediaKey: up.mediaKey, directPath: up.directPath, url: up.mediaUrl }
  const len = up.encBytes.length
  // The last 10 bytes are the MAC: Baileys does not verify it, so a corrupted MAC goes unseen.
  server.media.corrupt(up.directPath, len - 1)
  assert.equal(server.media.file(up.directPath)[len - 1], up.encBytes[len - 1] ^ 0xff)
  const got = await collect(await downloadContentFromMessage(msg, 'image', { options: { dispatcher } }))
  assert.deepEqual(got, image, 'Baileys rc14 ignores the MAC')
  // A byte of the first ciphertext block garbles the plaintext.
  server.media.corrupt(up.directPath, 5)
  const garbled = await collect(await downloadContentFromMessage(msg, 'image', { options: { dispatcher } }))
  assert.notDeepEqual(garbled.subarray(0, 32), image.subarray(0, 32))
  assert.deepEqual(garbled.subarray(32), image.subarray(32), 'CBC: only that block and the next change')
  assert.throws(() => server.media.corrupt(up.directPath, len), { code: 'ERR_WA_TESTSERVER_UNKNOWN_MEDIA' })
})

test('an expired file is 410 to Baileys; rc14 then never asks for a reupload (it reads error.status, Boom has none)', async () => {
  const up = await uploadImage(image)
  server.media.expire(up.directPath)
  const msg = { mediaKey: up.mediaKey, directPath: up.directPath, url: up.mediaUrl }
  await assert.rejects(downloadContentFromMessage(msg, 'image', { options: { dispatcher } }), (e) => e?.output?.statusCode === 410)
  let reuploads = 0
  const waMessage = {
    key: { remoteJid: '15551240002@s.whatsapp.net', fromMe: false, id: 'MEDIA1' },
    message: { imageMessage: { ...msg, mimetype: 'image/jpeg' } },
  }
  const ctx = {
    logger: client.sock.logger ?? { info() {} },
    reuploadRequest: async (m) => {
      reuploads++
      return m
    },
  }
  await assert.rejects(downloadMediaMessage(waMessage, 'buffer', { options: { dispatcher } }, ctx), (e) => e?.output?.statusCode === 410)
  assert.equal(reuploads, 0, 'Baileys checks error.status, which its Boom errors do not set')
  // An unknown path is 404.
  await assert.rejects(
    downloadContentFromMessage({ ...msg, directPath: '/v/t62.7118-24/none.enc' }, 'image', { options: { dispatcher } }),
    (e) => e?.output?.statusCode === 404,
  )
  assert.throws(() => server.media.expire('/v/t62.7118-24/none.enc'), { code: 'ERR_WA_TESTSERVER_UNKNOWN_MEDIA' })
})

test('a client that does not trust the host CA cannot download', async () => {
  const up = await uploadImage(image)
  await assert.rejects(
    downloadContentFromMessage({ mediaKey: up.mediaKey, directPath: up.directPath, url: up.mediaUrl }, 'image'),
    /fetch failed|certificate/i,
  )
})
