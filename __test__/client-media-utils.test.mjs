// Baileys' lower-level media utilities, ours and Baileys 7's side by side on the same inputs
// against the test server's HTTPS media host: `sock.refreshMediaConn`, `getWAUploadToServer`
// and `uploadWithNodeHttp` (uploads land byte for byte), `downloadEncryptedContent` with and
// without byte ranges (the plaintext slice, whichever library), `getRawMediaUploadData`, and
// `generateProfilePicture` (native here; Baileys needs sharp or jimp installed). Baileys'
// `downloadEncryptedContent` with a `startByte` and no `endByte` yields nothing (shown below).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent as HttpsAgent } from 'node:https'
import { mkdtempSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { startTestServer } from '../lib/testing.mjs'
import * as B from '@whiskeysockets/baileys'
import * as O from '../index.mjs'
import { exitWhenDone, mediaDispatcher, pairOurSocket, logger } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'client media utils' })
const dir = mkdtempSync(join(tmpdir(), 'bn-media-utils-'))
const caFile = join(dir, 'ca.pem')
writeFileSync(caFile, server.media.caPem)
process.env.NODE_EXTRA_CA_CERTS = caFile
const dispatcher = await mediaDispatcher(server.media.caPem)
const agent = new HttpsAgent({ ca: server.media.caPem })
const sha = (b) => createHash('sha256').update(b).digest()

const { sock } = await pairOurSocket(server, '15550910001')
after(async () => {
  sock.end()
  await server.stop()
  exitWhenDone()
})

async function collect(stream) {
  const parts = []
  for await (const p of stream) parts.push(p)
  return Buffer.concat(parts)
}

const plain = randomBytes(100_003)
const enc = await O.encryptedStream(plain, 'document')
after(() => unlinkSync(enc.encFilePath))
const encBytes = readFileSync(enc.encFilePath)

test('refreshMediaConn: the host and auth of media_conn, cached until forced', async () => {
  const a = await sock.refreshMediaConn()
  assert.deepEqual(a.hosts.map((h) => h.hostname), [server.media.host])
  assert.ok(a.hosts[0].maxContentLengthBytes > 0)
  assert.equal(typeof a.auth, 'string')
  assert.ok(a.ttl > 0)
  assert.ok(a.fetchDate instanceof Date)
  const b = await sock.refreshMediaConn(false)
  assert.equal(b.fetchDate.getTime(), a.fetchDate.getTime(), 'cached')
  await new Promise((r) => setTimeout(r, 5))
  const c = await sock.refreshMediaConn(true)
  assert.ok(c.fetchDate.getTime() > a.fetchDate.getTime(), 'fetched again')
})

let directPath
test("getWAUploadToServer: ours and Baileys' upload the same file through our media_conn", async () => {
  const opts = { mediaType: 'document', fileEncSha256B64: enc.fileEncSha256.toString('base64') }
  const ours = O.getWAUploadToServer({ customUploadHosts: [], fetchAgent: agent, logger }, sock.refreshMediaConn)
  const theirs = B.getWAUploadToServer({ customUploadHosts: [], fetchAgent: agent, logger }, sock.refreshMediaConn)
  const a = await ours(enc.encFilePath, opts)
  const b = await theirs(enc.encFilePath, opts)
  assert.ok(a.directPath && b.directPath)
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort())
  assert.deepEqual(server.media.file(a.directPath), encBytes)
  assert.deepEqual(server.media.file(b.directPath), encBytes)
  directPath = a.directPath
  // A host that refuses everything is skipped for the next.
  const withBad = O.getWAUploadToServer({ customUploadHosts: [{ hostname: '127.0.0.1:1' }], fetchAgent: agent, logger }, sock.refreshMediaConn)
  assert.ok((await withBad(enc.encFilePath, opts)).directPath)
  const allBad = O.getWAUploadToServer({ fetchAgent: agent, logger }, async () => ({ hosts: [{ hostname: '127.0.0.1:1' }], auth: 'x' }))
  await assert.rejects(allBad(enc.encFilePath, opts), (e) => e.isBoom && /failed on all hosts/.test(e.message))
  await assert.rejects(ours(enc.encFilePath, { ...opts, mediaType: 'nope' }), { code: 'ERR_WA_MEDIA_ARGUMENT' })
})

test("uploadWithNodeHttp: the host's JSON answer, the same for ours and Baileys'", async () => {
  const conn = await sock.refreshMediaConn()
  const token = O.encodeBase64EncodedStringForUpload(enc.fileEncSha256.toString('base64'))
  const url = `https://${server.media.host}/mms/document/${token}?auth=${encodeURIComponent(conn.auth)}&token=${token}`
  const headers = { 'Content-Type': 'application/octet-stream', Origin: O.DEFAULT_ORIGIN }
  const a = await O.uploadWithNodeHttp({ url, filePath: enc.encFilePath, headers, agent })
  const b = await B.uploadWithNodeHttp({ url, filePath: enc.encFilePath, headers, agent })
  assert.ok(a.direct_path && b.direct_path)
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort())
  const refused = await O.uploadWithNodeHttp({ url: url.replace(/auth=[^&]*/, 'auth=wrong'), filePath: enc.encFilePath, headers, agent })
  const refusedB = await B.uploadWithNodeHttp({ url: url.replace(/auth=[^&]*/, 'auth=wrong'), filePath: enc.encFilePath, headers, agent })
  assert.deepEqual(refused, refusedB, 'the refusal as the host said it')
  assert.equal(refused?.direct_path, undefined)
  await assert.rejects(O.uploadWithNodeHttp({ url: 'ftp://x/y', filePath: enc.encFilePath }), { code: 'ERR_WA_MEDIA_ARGUMENT' })
})

test("downloadEncryptedContent: whole and in ranges, the plaintext slice; Baileys' agrees", async () => {
  const url = `https://${server.media.host}${directPath}`
  const keys = await B.getMediaKeys(enc.mediaKey, 'document')
  const ranges = [{}, { startByte: 5, endByte: 20 }, { startByte: 17, endByte: 1000 }, { startByte: 4096, endByte: 8193 }, { startByte: 99_000 }, { endByte: 64 }]
  for (const r of ranges) {
    const want = plain.subarray(r.startByte || 0, r.endByte ?? plain.length)
    const ours = await collect(await O.downloadEncryptedContent(url, keys, { ...r, options: { dispatcher } }))
    assert.deepEqual(sha(ours), sha(want), `ours ${JSON.stringify(r)}`)
    const theirs = await collect(await B.downloadEncryptedContent(url, keys, { ...r, options: { dispatcher } }))
    if (r.startByte && r.endByte === undefined) {
      // Baileys cuts each piece at `endByte - fetched`, NaN without an endByte: nothing at all.
      assert.equal(theirs.length, 0, `Baileys ${JSON.stringify(r)} gives nothing`)
    } else {
      assert.deepEqual(sha(theirs), sha(want), `Baileys ${JSON.stringify(r)}`)
    }
  }
  await assert.rejects(O.downloadEncryptedContent(url, { cipherKey: Buffer.alloc(3), iv: keys.iv }), { code: 'ERR_WA_MEDIA_ARGUMENT' })
  // The wrong key: the padding check fails, an error, never the garbage.
  // One random key in ~256 decrypts to valid PKCS#7 padding: take one whose last block ends in 0.
  const cipherText = encBytes.subarray(0, encBytes.length - 10)
  const lastByteUnder = (k) => {
    const d = createDecipheriv('aes-256-cbc', k, cipherText.subarray(-32, -16)).setAutoPadding(false)
    return d.update(cipherText.subarray(-16)).at(-1)
  }
  let wrongKey = randomBytes(32)
  while (lastByteUnder(wrongKey) !== 0) wrongKey = randomBytes(32)
  const wrong = { cipherKey: wrongKey, iv: keys.iv }
  await assert.rejects(collect(await O.downloadEncryptedContent(url, wrong, { options: { dispatcher } })), /downloadEncryptedContent/)
})

test("getRawMediaUploadData: the bytes in a 0600 file with their SHA-256 and length, as Baileys'", async () => {
  const a = await O.getRawMediaUploadData(plain, 'document')
  const b = await B.getRawMediaUploadData(plain, 'document')
  try {
    assert.deepEqual(a.fileSha256, b.fileSha256)
    assert.equal(a.fileLength, b.fileLength)
    assert.deepEqual(readFileSync(a.filePath), plain)
    assert.equal(statSync(a.filePath).mode & 0o777, 0o600)
  } finally {
    unlinkSync(a.filePath)
    unlinkSync(b.filePath)
  }
  await assert.rejects(O.getRawMediaUploadData({ url: 'gopher://x' }, 'document'), { code: 'ERR_WA_MEDIA_ARGUMENT' })
})

test('generateProfilePicture: a JPEG of the asked size, natively; Baileys needs an image library', async () => {
  const banner = readFileSync(new URL('../node_modules/pino/pino-banner.png', import.meta.url))
  const { img } = await O.generateProfilePicture(banner)
  assert.equal(img.subarray(0, 2).toString('hex'), 'ffd8')
  const size = await O.extractImageThumb(img, 8)
  assert.deepEqual(size.original, { width: 640, height: 640 })
  const small = await O.generateProfilePicture({ url: new URL('../node_modules/pino/pino-banner.png', import.meta.url).pathname }, { width: 96, height: 64 })
  assert.deepEqual((await O.extractImageThumb(small.img, 8)).original, { width: 96, height: 64 })
  await assert.rejects(O.generateProfilePicture(Buffer.from('not an image')), { code: 'ERR_WA_MEDIA_DECODE' })
  // Baileys needs sharp or jimp (sharp is in this tree's dev dependencies): the same size.
  const theirs = await B.generateProfilePicture(banner)
  assert.deepEqual((await O.extractImageThumb(theirs.img, 8)).original, { width: 640, height: 640 })
})
