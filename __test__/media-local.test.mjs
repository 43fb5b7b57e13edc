// Media without a network. Encryption against Baileys 7's definition: what our
// `encryptedStream` writes is decrypted with Baileys' own `getMediaKeys` (AES-256-CBC + the
// truncated HMAC), for every input kind Baileys takes (Buffer, file path, `file://`, `data:`,
// stream); temporary files are 0600; bad inputs are coded errors. Thumbnails of a real PNG and
// Ogg durations, checked against the files' own headers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, statSync, unlinkSync, mkdtempSync, readdirSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import * as B from '@whiskeysockets/baileys'
import * as O from '../index.mjs'

const dir = mkdtempSync(join(tmpdir(), 'bn-media-'))
const plain = randomBytes(300_001)
const file = join(dir, 'in.bin')
writeFileSync(file, plain)

async function openWithBaileys(enc, type) {
  const { cipherKey, iv, macKey } = await B.getMediaKeys(enc.mediaKey, type)
  const bytes = readFileSync(enc.encFilePath)
  const body = bytes.subarray(0, -10)
  const mac = createHmac('sha256', macKey).update(iv).update(body).digest().subarray(0, 10)
  assert.deepEqual(bytes.subarray(-10), mac, 'the MAC is HMAC-SHA256(macKey, iv || ciphertext)[..10]')
  assert.deepEqual(enc.mac, mac)
  assert.deepEqual(enc.fileEncSha256, createHash('sha256').update(bytes).digest())
  const d = createDecipheriv('aes-256-cbc', cipherKey, iv)
  return Buffer.concat([d.update(body), d.final()])
}

test('encryptedStream: every input kind opens with Baileys keys and hashes to the message fields', async () => {
  const inputs = [
    ['buffer', () => plain],
    ['path', () => ({ url: file })],
    ['file url', () => ({ url: new URL(`file://${file}`) })],
    ['data url', () => ({ url: `data:application/octet-stream;base64,${plain.toString('base64')}` })],
    ['stream', () => ({ stream: Readable.from([plain.subarray(0, 1000), plain.subarray(1000)]) })],
  ]
  for (const [name, input] of inputs) {
    for (const type of ['image', 'audio', 'document']) {
      const enc = await O.encryptedStream(input(), type, {})
      try {
        assert.equal(statSync(enc.encFilePath).mode & 0o777, 0o600, `${name}: the encrypted file is 0600`)
        assert.equal(enc.mediaKey.length, 32)
        assert.equal(enc.fileLength, plain.length)
        assert.deepEqual(enc.fileSha256, createHash('sha256').update(plain).digest())
        assert.deepEqual(await openWithBaileys(enc, type), plain, `${name} as ${type}`)
      } finally {
        unlinkSync(enc.encFilePath)
      }
    }
  }
})

test('encryptedStream keeps the original when asked, and each call has its own key', async () => {
  const a = await O.encryptedStream(plain, 'video', { saveOriginalFileIfRequired: true })
  const b = await O.encryptedStream(plain, 'video', {})
  assert.notDeepEqual(a.mediaKey, b.mediaKey)
  assert.deepEqual(readFileSync(a.originalFilePath), plain)
  assert.equal(b.originalFilePath, undefined)
  for (const f of [a.encFilePath, a.originalFilePath, b.encFilePath]) unlinkSync(f)
})

test('bad media inputs are coded errors and leave no file behind', async () => {
  const before = new Set(readdir())
  const cases = [
    [{ url: 'http://example.com/x.jpg' }, 'ERR_WA_MEDIA_ARGUMENT'],
    [{ url: 'ftp://example.com/x.jpg' }, 'ERR_WA_MEDIA_ARGUMENT'],
    [{ url: join(dir, 'missing.bin') }, 'ERR_WA_MEDIA_IO'],
    [{ url: dir }, 'ERR_WA_MEDIA_ARGUMENT'],
    [42, 'ERR_WA_MEDIA_ARGUMENT'],
  ]
  for (const [input, code] of cases) {
    await assert.rejects(O.encryptedStream(input, 'image', {}), (e) => {
      assert.equal(e.code, code, `${JSON.stringify(input)}: ${e.message}`)
      return true
    })
  }
  await assert.rejects(O.encryptedStream(plain, 'not-a-type', {}), { code: 'ERR_WA_MEDIA_ARGUMENT' })
  await assert.rejects(O.encryptedStream(plain, 'image', { maxLength: 1000 }), { code: 'ERR_WA_MEDIA_TOO_LARGE' })
  assert.deepEqual(readdir().filter((f) => !before.has(f)), [], 'no temporary file left')
})

test('prepareWAMessageMedia without an upload function is refused before anything is read', async () => {
  await assert.rejects(O.prepareWAMessageMedia({ image: plain }, {}), { code: 'ERR_WA_MEDIA_ARGUMENT' })
  await assert.rejects(O.generateWAMessageContent({ image: plain }, {}), { code: 'ERR_WA_MEDIA_ARGUMENT' })
})

test('prepareWAMessageMedia fills the message as Baileys does, with an upload function given', async () => {
  const seen = []
  const upload = async (encFilePath, opts) => {
    seen.push({ bytes: readFileSync(encFilePath), ...opts })
    return { mediaUrl: 'https://mmg.example/x', directPath: '/v/t62/x' }
  }
  for (const [content, type] of [
    [{ image: plain, caption: 'c' }, 'image'],
    [{ document: plain }, 'document'],
    [{ audio: { url: file }, ptt: true, seconds: 3 }, 'audio'],
    [{ sticker: plain }, 'sticker'],
    [{ video: plain, gifPlayback: true }, 'video'],
  ]) {
    const ours = await O.prepareWAMessageMedia(content, { upload })
    const theirs = await B.prepareWAMessageMedia(content, { upload, logger: undefined })
    const a = ours[`${type}Message`]
    const b = theirs[`${type}Message`]
    for (const k of ['url', 'directPath', 'mimetype', 'fileName', 'caption', 'ptt', 'seconds', 'gifPlayback']) {
      assert.deepEqual(a[k], b[k], `${type}.${k}`)
    }
    assert.equal(Number(a.fileLength), plain.length)
    assert.deepEqual(Buffer.from(a.fileSha256), createHash('sha256').update(plain).digest())
    const up = seen.at(-2)
    assert.equal(up.mediaType, type)
    assert.equal(up.fileEncSha256B64, Buffer.from(a.fileEncSha256).toString('base64'))
    assert.ok(Number(a.mediaKeyTimestamp) > 1_700_000_000)
  }
  const ptv = await O.generateWAMessageContent({ video: plain, ptv: true }, { upload })
  assert.ok(ptv.ptvMessage?.url, 'ptv becomes ptvMessage')
})

/** Our temporary files: `baileys-native-*` (JS) and `.tmp*` (native). */
function readdir() {
  return readdirSync(tmpdir()).filter((f) => f.startsWith('baileys-native-') || f.startsWith('.tmp'))
}

/** Width and height from a JPEG's start-of-frame marker. */
function jpegSize(buf) {
  assert.deepEqual([...buf.subarray(0, 2)], [0xff, 0xd8], 'a JPEG')
  let i = 2
  while (i < buf.length) {
    const marker = buf[i + 1]
    const len = buf.readUInt16BE(i + 2)
    if (marker >= 0xc0 && marker <= 0xc3) return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) }
    i += 2 + len
  }
  throw new Error('no SOF marker')
}

const banner = new URL('../node_modules/pino/pino-banner.png', import.meta.url)

test('image thumbnails: 32 px wide JPEG of a real PNG, with the original size', async () => {
  const png = readFileSync(banner)
  const original = { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
  for (const input of [png, banner.pathname]) {
    const t = await O.extractImageThumb(input)
    assert.deepEqual(t.original, original)
    assert.deepEqual(jpegSize(t.buffer), { width: 32, height: Math.round((original.height * 32) / original.width) })
  }
  const wide = await O.extractImageThumb(png, 100)
  assert.equal(jpegSize(wide.buffer).width, 100)
  await assert.rejects(O.extractImageThumb(Buffer.from('not an image')), { code: 'ERR_WA_MEDIA_DECODE' })
  const g = await O.generateThumbnail(banner.pathname, 'image', {})
  assert.deepEqual(g.originalImageDimensions, original)
  assert.deepEqual(jpegSize(Buffer.from(g.thumbnail, 'base64')).width, 32)
  // An image message gets its thumbnail and size (Baileys needs sharp or jimp for that).
  const upload = async () => ({ mediaUrl: 'https://mmg.example/x', directPath: '/v/x' })
  const m = await O.prepareWAMessageMedia({ image: { url: banner.pathname }, caption: 'pino' }, { upload })
  assert.equal(m.imageMessage.width, original.width)
  assert.equal(m.imageMessage.height, original.height)
  assert.equal(jpegSize(Buffer.from(m.imageMessage.jpegThumbnail)).width, 32)
})

/** An Ogg page (RFC 3533) with one packet. */
function oggPage(granule, packet) {
  const h = Buffer.alloc(27 + 1)
  h.write('OggS', 0)
  h.writeBigUInt64LE(BigInt(granule), 6)
  h[26] = 1
  h[27] = packet.length
  return Buffer.concat([h, packet])
}

test('audio durations from Ogg Opus and Vorbis files; other formats have none', async () => {
  const opusHead = Buffer.concat([Buffer.from('OpusHead'), Buffer.from([1, 1]), Buffer.from([0x38, 0x01])]) // pre-skip 312
  const opus = Buffer.concat([oggPage(0, opusHead), oggPage(48_000 * 7 + 312, Buffer.from('x'))])
  assert.equal(await O.getAudioDuration(opus), 7)
  const ident = Buffer.alloc(16)
  Buffer.from('\x01vorbis', 'latin1').copy(ident)
  ident.writeUInt32LE(44_100, 12)
  const vorbis = Buffer.concat([oggPage(0, ident), oggPage(44_100 * 2.5, Buffer.from('x'))])
  assert.equal(await O.getAudioDuration(vorbis), 2.5)
  assert.equal(await O.getAudioDuration(Buffer.from('ID3\x04 an mp3')), undefined)
  const upload = async () => ({ mediaUrl: 'https://mmg.example/a', directPath: '/v/a' })
  const m = await O.prepareWAMessageMedia({ audio: opus, ptt: true }, { upload })
  assert.equal(m.audioMessage.seconds, 7)
  assert.equal(m.audioMessage.mimetype, 'audio/ogg; codecs=opus')
})

test('voice-note waveforms: 64 bars from PCM WAV as Baileys computes them; ptt media gets one; Baileys has none without audio-decode', async () => {
  // One second at 8 kHz, 16-bit mono: a tone whose loudness follows a known envelope.
  const rate = 8000
  const samples = new Int16Array(rate)
  for (let n = 0; n < rate; n++) {
    const env = 0.1 + 0.9 * Math.abs(Math.sin((Math.PI * n) / rate))
    samples[n] = Math.round(20_000 * env * Math.sin((2 * Math.PI * 300 * n) / rate))
  }
  const data = Buffer.from(samples.buffer)
  const fmt = Buffer.alloc(16)
  fmt.writeUInt16LE(1, 0)
  fmt.writeUInt16LE(1, 2)
  fmt.writeUInt32LE(rate, 4)
  fmt.writeUInt32LE(rate * 2, 8)
  fmt.writeUInt16LE(2, 12)
  fmt.writeUInt16LE(16, 14)
  const wav = Buffer.concat([
    Buffer.from('RIFF'), Buffer.from(Uint32Array.of(36 + data.length).buffer), Buffer.from('WAVEfmt '),
    Buffer.from(Uint32Array.of(16).buffer), fmt, Buffer.from('data'), Buffer.from(Uint32Array.of(data.length).buffer), data,
  ])
  // The expected bars, computed here from the samples: mean |x| per 64th, scaled to 100.
  const block = Math.floor(rate / 64)
  const means = Array.from({ length: 64 }, (_, i) => {
    let sum = 0
    for (let j = 0; j < block; j++) sum += Math.abs(samples[i * block + j] / 32768)
    return sum / block
  })
  const max = Math.max(...means)
  const expected = means.map((m) => Math.floor((100 * m) / max))
  const bars = await O.getAudioWaveform(wav)
  assert.ok(bars instanceof Uint8Array)
  assert.equal(bars.length, 64)
  bars.forEach((b, i) => assert.ok(Math.abs(b - expected[i]) <= 1, `bar ${i}: ${b} vs ${expected[i]}`))
  assert.ok(Math.max(...bars) === 100 && bars[31] > 90 && bars[0] < 30 && bars[63] < 30, 'loud in the middle, quiet at the ends')
  const path = join(dir, 'note.wav')
  writeFileSync(path, wav)
  assert.deepEqual(await O.getAudioWaveform(path), bars, 'from a file path too')
  assert.equal(await O.getAudioWaveform(Buffer.from('ID3\x04 an mp3')), undefined)
  const logged = []
  assert.equal(await O.getAudioWaveform(wav.subarray(0, 30), { debug: (m) => logged.push(m) }), undefined)
  assert.match(logged[0], /Failed to generate waveform/)
  const upload = async () => ({ mediaUrl: 'https://mmg.example/a', directPath: '/v/a' })
  const m = await O.prepareWAMessageMedia({ audio: wav, ptt: true, mimetype: 'audio/wav' }, { upload })
  assert.deepEqual(Buffer.from(m.audioMessage.waveform), Buffer.from(bars))
  const plainAudio = await O.prepareWAMessageMedia({ audio: wav, mimetype: 'audio/wav' }, { upload })
  assert.equal(plainAudio.audioMessage.waveform?.length ?? 0, 0, 'only voice notes get one')
  assert.equal(await B.getAudioWaveform(wav), undefined, 'Baileys without audio-decode gives none')
})

test("video thumbnails come from the ffmpeg on the PATH, called without a shell; none without one", async () => {
  const upload = async () => ({ mediaUrl: 'https://mmg.example/a', directPath: '/v/a' })
  const video = randomBytes(5000)
  const debug = []
  const logger = { debug: (m) => debug.push(String(m)), warn() {} }
  const saved = process.env.PATH
  try {
    // No ffmpeg: no thumbnail, a debug line, the video still goes.
    process.env.PATH = join(dir, 'empty-bin')
    const bare = await O.prepareWAMessageMedia({ video }, { upload, logger })
    assert.equal(bare.videoMessage.jpegThumbnail?.length ?? 0, 0)
    assert.ok(debug.some((m) => /could not generate video thumb/.test(m)))

    // A stand-in ffmpeg that records its arguments and writes a "frame" where it is told to.
    const bin = join(dir, 'bin')
    mkdirSync(bin, { recursive: true })
    const argsFile = join(dir, 'ffmpeg-args.json')
    writeFileSync(
      join(bin, 'ffmpeg'),
      `#!${process.execPath}\nconst fs = require('fs')\nconst a = process.argv.slice(2)\nfs.writeFileSync(${JSON.stringify(argsFile)}, JSON.stringify(a))\nfs.writeFileSync(a[a.length - 1], Buffer.from('ffd8ffe0 frame', 'latin1'))\n`,
      { mode: 0o755 },
    )
    process.env.PATH = `${bin}:${saved}`
    // A file name a shell would run as two commands stays one argument.
    const tricky = join(dir, 'clip; touch pwned.mp4')
    writeFileSync(tricky, video)
    const m = await O.prepareWAMessageMedia({ video: { url: tricky }, caption: 'c' }, { upload, logger })
    assert.deepEqual(Buffer.from(m.videoMessage.jpegThumbnail), Buffer.from('ffd8ffe0 frame', 'latin1'))
    const args = JSON.parse(readFileSync(argsFile, 'utf8'))
    assert.deepEqual(args.slice(0, 2), ['-ss', '00:00:00'])
    assert.equal(args[2], '-i')
    assert.ok(args.includes('scale=32:-1') && args.includes('-vframes'))
    assert.equal(readdirSync(dir).includes('pwned.mp4'), false)
    // A given thumbnail is kept and ffmpeg is not asked.
    unlinkSync(argsFile)
    const given = await O.prepareWAMessageMedia({ video, jpegThumbnail: Buffer.from('mine') }, { upload, logger })
    assert.equal(Buffer.from(given.videoMessage.jpegThumbnail).toString(), 'mine')
    assert.throws(() => readFileSync(argsFile))
  } finally {
    process.env.PATH = saved
  }
})
