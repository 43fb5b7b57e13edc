'use strict'
// Media with Baileys' names: `prepareWAMessageMedia` (encrypt, upload, describe),
// `encryptedStream`, `downloadContentFromMessage` / `downloadMediaMessage`, `getStream`,
// `getHttpStream`. Encryption, HTTPS and decryption are native (src/media.rs, wa-client's
// media module); a download's MAC is checked over the whole file before any byte is handed
// out (Baileys 7 checks none), and a `'stream'` download is served from a verified temporary
// file, so memory stays bounded whatever the file's size.
const fs = require('node:fs')
const fsp = require('node:fs/promises')
const os = require('node:os')
const path = require('node:path')
const { Readable, Transform } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { randomBytes, createHash, createDecipheriv } = require('node:crypto')
const { Boom } = require('@hapi/boom')
const native = require('../native.js')
const { proto } = require('./proto.js')
const { MEDIA_KEYS, MEDIA_PATH_MAP, DEFAULT_ORIGIN } = require('./defaults.js')
const { unixTimestampSeconds } = require('./generics.js')
const { extractMessageContent, getContentType, encodeBase64EncodedStringForUpload, getStatusCodeForMediaRetry } = require('./messages.js')
const { isJidNewsletter, jidNormalizedUser } = require('./jid.js')
const { hkdf, aesEncryptGCM, aesDecryptGCM } = require('./crypto.js')
const { getBinaryNodeChild, getBinaryNodeChildBuffer } = require('./binary.js')

const MIMETYPE_MAP = {
  image: 'image/jpeg',
  video: 'video/mp4',
  document: 'application/pdf',
  audio: 'audio/ogg; codecs=opus',
  sticker: 'image/webp',
  'product-catalog-image': 'image/jpeg',
}
const MESSAGE_TYPES = {
  image: 'ImageMessage',
  video: 'VideoMessage',
  audio: 'AudioMessage',
  sticker: 'StickerMessage',
  document: 'DocumentMessage',
}
const REUPLOAD_REQUIRED_STATUS = [410, 404]
const DEF_MEDIA_HOST = 'mmg.whatsapp.net'

function mediaError(code, message, statusCode = 400) {
  const err = new Boom(message, { statusCode })
  err.code = code
  return err
}

/** Native failures as Boom errors with Baileys' `status` (404/410 drive media re-upload). */
function asBoom(err) {
  if (err?.isBoom) return err
  const status = err?.status !== undefined ? Number(err.status) : undefined
  const boom = new Boom(err?.message || String(err), { statusCode: status && status >= 400 ? status : 500 })
  boom.code = err?.code
  if (status !== undefined) boom.status = status
  return boom
}

const tmpPath = (what) => path.join(os.tmpdir(), `baileys-native-${what}-${randomBytes(8).toString('hex')}`)

async function toTempFile(readable, what) {
  const file = tmpPath(what)
  await pipeline(readable, fs.createWriteStream(file, { mode: 0o600 }))
  return file
}

function urlKind(url) {
  const s = url.toString()
  if (s.startsWith('https://')) return 'remote'
  if (s.startsWith('data:')) return 'data'
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !s.startsWith('file://')) return 'bad'
  return 'file'
}

function dataUrlBuffer(s) {
  const comma = s.indexOf(',')
  if (comma < 0) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'media: a data: URL without a comma')
  const meta = s.slice(5, comma)
  const body = s.slice(comma + 1)
  return meta.endsWith(';base64') ? Buffer.from(body, 'base64') : Buffer.from(decodeURIComponent(body))
}

function filePathOf(url) {
  const s = url.toString()
  return s.startsWith('file://') ? new URL(s).pathname : s
}

/** Baileys' `getHttpStream(url, options)`: a GET as a Node stream (https only). */
async function getHttpStream(url, options = {}) {
  if (urlKind(url) !== 'remote') throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${url} is not an https URL`)
  const res = await fetch(url.toString(), { dispatcher: options.dispatcher, method: 'GET', headers: options.headers })
  if (!res.ok) throw new Boom(`Failed to fetch stream from ${url}`, { statusCode: res.status, data: { url } })
  return Readable.fromWeb(res.body)
}

/** Baileys' `getStream(item, opts)`: a Buffer, `{ url }` (file, https, data:) or `{ stream }` as a stream. */
async function getStream(item, opts) {
  if (Buffer.isBuffer(item) || item instanceof Uint8Array) return { stream: Readable.from([Buffer.from(item)]), type: 'buffer' }
  if (item && typeof item === 'object' && 'stream' in item) return { stream: item.stream, type: 'readable' }
  if (item && typeof item === 'object' && item.url) {
    const kind = urlKind(item.url)
    if (kind === 'data') return { stream: Readable.from([dataUrlBuffer(item.url.toString())]), type: 'buffer' }
    if (kind === 'remote') return { stream: await getHttpStream(item.url, opts), type: 'remote' }
    if (kind === 'file') return { stream: fs.createReadStream(filePathOf(item.url)), type: 'file' }
    throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${item.url} is not a file, https or data: URL`)
  }
  throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'media must be a Buffer, { url: file path | https URL | data: URL } or { stream }')
}

/**
 * Baileys' `encryptedStream(media, mediaType, { saveOriginalFileIfRequired, opts })`: the media
 * encrypted under a fresh key into a temporary file (0600) the caller removes after upload.
 */
async function encryptedStream(media, mediaType, { saveOriginalFileIfRequired, opts, maxLength } = {}) {
  let input
  let scratch
  if (Buffer.isBuffer(media) || media instanceof Uint8Array) {
    input = Buffer.from(media)
  } else if (media && typeof media === 'object' && media.url && urlKind(media.url) === 'file') {
    input = filePathOf(media.url)
  } else if (media && typeof media === 'object' && media.url && urlKind(media.url) === 'data') {
    input = dataUrlBuffer(media.url.toString())
  } else {
    const { stream } = await getStream(media, opts)
    scratch = await toTempFile(stream, 'in')
    input = scratch
  }
  if (typeof input === 'string') {
    const st = await fsp.stat(input).catch((e) => {
      throw mediaError('ERR_WA_MEDIA_IO', `media: ${input}: ${e.code || e.message}`)
    })
    if (!st.isFile()) throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${input} is not a regular file`)
  }
  try {
    const enc = await native.encryptMediaFile(input, mediaType, maxLength).catch((e) => {
      throw asBoom(e)
    })
    let originalFilePath
    if (saveOriginalFileIfRequired) {
      originalFilePath = tmpPath('original')
      if (typeof input === 'string') await fsp.copyFile(input, originalFilePath)
      else await fsp.writeFile(originalFilePath, input, { mode: 0o600 })
    }
    const fd = await fsp.open(enc.encFilePath, 'r')
    const mac = Buffer.alloc(10)
    try {
      const { size } = await fd.stat()
      await fd.read(mac, 0, 10, size - 10)
    } finally {
      await fd.close()
    }
    return {
      mediaKey: enc.mediaKey,
      originalFilePath,
      encFilePath: enc.encFilePath,
      mac,
      fileEncSha256: enc.fileEncSha256,
      fileSha256: enc.fileSha256,
      fileLength: enc.fileLength,
    }
  } finally {
    if (scratch) await fsp.unlink(scratch).catch(() => {})
  }
}

async function bytesOrPath(input) {
  if (input instanceof Readable) return toBufferFromStream(input)
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) return Buffer.from(input)
  if (typeof input === 'string') return input
  if (input && typeof input === 'object' && input.url && urlKind(input.url) === 'file') return filePathOf(input.url)
  throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'expected a Buffer, a file path or a readable stream')
}

async function toBufferFromStream(stream) {
  const chunks = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
}

/**
 * Baileys' `extractImageThumb(bufferOrFilePath, width = 32)`: a JPEG preview (quality 50) and
 * the original's size, made natively from JPEG, PNG or WebP (Baileys needs sharp or jimp).
 */
async function extractImageThumb(bufferOrFilePath, width = 32) {
  const t = await native.imageThumbnail(await bytesOrPath(bufferOrFilePath), width).catch((e) => {
    throw asBoom(e)
  })
  return { buffer: t.jpeg, original: { width: t.width, height: t.height } }
}

/**
 * Baileys' `getAudioWaveform(buffer | path | stream, logger)`: the 64 bars (0-100) WhatsApp
 * draws under a voice note, decoded natively from Ogg Opus or PCM WAV (Baileys needs the
 * optional audio-decode). Undefined for other formats or a file that does not decode (logged
 * at debug, as Baileys does).
 */
async function getAudioWaveform(buffer, logger) {
  try {
    const bars = await native.audioWaveform(await bytesOrPath(buffer))
    return bars ? new Uint8Array(bars) : undefined
  } catch (e) {
    logger?.debug?.('Failed to generate waveform: ' + e.message)
    return undefined
  }
}

/**
 * A video's first frame, `size.width` pixels wide, written as a JPEG to `destPath` by the
 * ffmpeg on the PATH (as Baileys does it; no video decoder is bundled). The file path goes to
 * ffmpeg as an argument, never through a shell (Baileys builds a shell command from it).
 */
function extractVideoThumb(file, destPath, time, size) {
  const { execFile } = require('node:child_process')
  const args = ['-ss', time, '-i', file, '-y', '-vf', `scale=${Number(size.width) || 32}:-1`, '-vframes', '1', '-f', 'image2', destPath]
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', args, { timeout: 30_000, windowsHide: true }, (err) => (err ? reject(err) : resolve()))
  })
}

/**
 * Baileys' `generateThumbnail(file, mediaType, options)`: `{ thumbnail (base64),
 * originalImageDimensions }`. An image's is made natively; a video's first frame comes from
 * an installed ffmpeg, as in Baileys, and without one there is none (logged at debug).
 */
async function generateThumbnail(file, mediaType, options = {}) {
  if (mediaType === 'video') {
    const frame = tmpPath('video-thumb') + '.jpg'
    try {
      await extractVideoThumb(file, frame, '00:00:00', { width: 32, height: 32 })
      return { thumbnail: (await fsp.readFile(frame)).toString('base64'), originalImageDimensions: undefined }
    } catch (err) {
      options.logger?.debug?.('could not generate video thumb: ' + err.message)
      return { thumbnail: undefined, originalImageDimensions: undefined }
    } finally {
      await fsp.unlink(frame).catch(() => {})
    }
  }
  if (mediaType !== 'image') {
    options.logger?.debug?.(`no thumbnail for ${mediaType}`)
    return { thumbnail: undefined, originalImageDimensions: undefined }
  }
  const { buffer, original } = await extractImageThumb(file)
  return {
    thumbnail: buffer.toString('base64'),
    originalImageDimensions: original.width && original.height ? { width: original.width, height: original.height } : undefined,
  }
}

/** Baileys' `getAudioDuration(buffer | path | stream)`: seconds, read from an Ogg (Opus/Vorbis) file; `undefined` for other formats. */
async function getAudioDuration(buffer) {
  const seconds = await native.audioDuration(await bytesOrPath(buffer)).catch((e) => {
    throw asBoom(e)
  })
  return seconds ?? undefined
}

/**
 * Baileys' `prepareWAMessageMedia(message, options)`: encrypts and uploads (`options.upload`,
 * e.g. `sock.waUploadToServer`) the media of `{ image | video | audio | sticker | document, ... }`
 * and returns the `proto.Message` describing it. An image without `jpegThumbnail` gets one
 * (and its `width`/`height`), an Ogg audio without `seconds` its duration, as Baileys computes
 * them; a failure there is logged and the media sent without them, as in Baileys.
 */
async function prepareWAMessageMedia(message, options = {}) {
  let mediaType
  for (const key of MEDIA_KEYS) if (key in message) mediaType = key
  if (!mediaType) throw new Boom('Invalid media type', { statusCode: 400 })
  if (!MESSAGE_TYPES[mediaType]) throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${mediaType} cannot be sent as a message`)
  if (typeof options.upload !== 'function') throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'options.upload is required to send media')
  const uploadData = { ...message, media: message[mediaType] }
  delete uploadData[mediaType]
  const cacheableKey =
    typeof uploadData.media === 'object' && uploadData.media && 'url' in uploadData.media && !!uploadData.media.url && !!options.mediaCache
      ? `${mediaType}:${uploadData.media.url.toString()}`
      : undefined
  if (mediaType === 'document' && !uploadData.fileName) uploadData.fileName = 'file'
  if (!uploadData.mimetype) uploadData.mimetype = MIMETYPE_MAP[mediaType]
  const messageKey = `${mediaType}Message`
  if (cacheableKey) {
    const cached = await options.mediaCache.get(cacheableKey)
    if (cached) {
      const obj = proto.Message.decode(cached)
      Object.assign(obj[messageKey], { ...uploadData, media: undefined })
      return obj
    }
  }
  if (options.jid && isJidNewsletter(options.jid)) return newsletterMedia(uploadData, mediaType, messageKey, cacheableKey, options)
  const needsThumb = (mediaType === 'image' || mediaType === 'video') && uploadData.jpegThumbnail === undefined
  const needsSeconds = mediaType === 'audio' && uploadData.seconds === undefined
  // A voice note gets its waveform (Baileys computes it for every ptt, over a given one too).
  const needsWaveform = mediaType === 'audio' && uploadData.ptt === true && uploadData.waveform === undefined
  const enc = await encryptedStream(uploadData.media, options.mediaTypeOverride || mediaType, {
    opts: options.options,
    saveOriginalFileIfRequired: needsThumb || needsSeconds || needsWaveform,
  })
  let uploaded
  try {
    ;[uploaded] = await Promise.all([
      options.upload(enc.encFilePath, {
        fileEncSha256B64: enc.fileEncSha256.toString('base64'),
        mediaType,
        timeoutMs: options.mediaUploadTimeoutMs,
      }),
      (async () => {
        try {
          if (needsThumb) {
            const { thumbnail, originalImageDimensions } = await generateThumbnail(enc.originalFilePath, mediaType, options)
            uploadData.jpegThumbnail = thumbnail
            if (!uploadData.width && originalImageDimensions) {
              uploadData.width = originalImageDimensions.width
              uploadData.height = originalImageDimensions.height
            }
          }
          if (needsSeconds) uploadData.seconds = await getAudioDuration(enc.originalFilePath)
          if (needsWaveform) uploadData.waveform = await getAudioWaveform(enc.originalFilePath, options.logger)
        } catch (error) {
          options.logger?.warn?.({ err: error }, 'failed to obtain extra info')
        }
      })(),
    ])
  } finally {
    await fsp.unlink(enc.encFilePath).catch(() => {})
    if (enc.originalFilePath) await fsp.unlink(enc.originalFilePath).catch(() => {})
  }
  const obj = proto.Message.fromObject({
    [messageKey]: proto.Message[MESSAGE_TYPES[mediaType]].fromObject({
      url: uploaded.mediaUrl,
      directPath: uploaded.directPath,
      mediaKey: enc.mediaKey,
      fileEncSha256: enc.fileEncSha256,
      fileSha256: enc.fileSha256,
      fileLength: enc.fileLength,
      mediaKeyTimestamp: unixTimestampSeconds(),
      ...uploadData,
      media: undefined,
    }),
  })
  if (uploadData.ptv) {
    obj.ptvMessage = obj.videoMessage
    delete obj.videoMessage
  }
  if (cacheableKey) await options.mediaCache.set(cacheableKey, proto.Message.encode(obj).finish())
  return obj
}

/**
 * Media for a newsletter: channels are not end-to-end encrypted, so the file goes up as it is
 * (its SHA-256 where the encrypted file's would be) and the message has no media key, as in
 * Baileys.
 */
async function newsletterMedia(uploadData, mediaType, messageKey, cacheableKey, options) {
  const { filePath, fileSha256, fileLength } = await getRawMediaUploadData(uploadData.media, options.mediaTypeOverride || mediaType, options.logger)
  let uploaded
  try {
    uploaded = await options.upload(filePath, {
      fileEncSha256B64: fileSha256.toString('base64'),
      mediaType,
      timeoutMs: options.mediaUploadTimeoutMs,
    })
  } finally {
    await fsp.unlink(filePath).catch(() => {})
  }
  const obj = proto.Message.fromObject({
    [messageKey]: proto.Message[MESSAGE_TYPES[mediaType]].fromObject({
      url: uploaded.mediaUrl,
      directPath: uploaded.directPath,
      fileSha256,
      fileLength,
      ...uploadData,
      media: undefined,
    }),
  })
  if (uploadData.ptv) {
    obj.ptvMessage = obj.videoMessage
    delete obj.videoMessage
  }
  if (obj.stickerMessage) obj.stickerMessage.stickerSentTs = Date.now()
  if (cacheableKey) await options.mediaCache.set(cacheableKey, proto.Message.encode(obj).finish())
  return obj
}

function hostOf(url) {
  try {
    return url ? new URL(url).host : undefined
  } catch {
    return undefined
  }
}

function downloadPlan({ mediaKey, directPath, url, fileEncSha256, fileSha256 }, opts) {
  const host = opts.host ?? hostOf(url)
  const downloadUrl = directPath ? `https://${host || DEF_MEDIA_HOST}${directPath}` : url
  if (!downloadUrl) throw new Boom('No valid media URL or directPath present in message', { statusCode: 400 })
  if (!mediaKey || Buffer.from(mediaKey).length !== 32) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'mediaKey must be 32 bytes')
  const check = {}
  if (fileEncSha256?.length) check.fileEncSha256 = Buffer.from(fileEncSha256)
  if (fileSha256?.length) check.fileSha256 = Buffer.from(fileSha256)
  if (opts.startByte !== undefined) check.startByte = Number(opts.startByte)
  if (opts.endByte !== undefined) check.endByte = Number(opts.endByte)
  if (opts.maxLength !== undefined) check.maxLength = Number(opts.maxLength)
  return { downloadUrl, key: Buffer.from(mediaKey), check }
}

/**
 * Baileys' `downloadContentFromMessage({ mediaKey, directPath, url }, type, opts)`: a stream of
 * the decrypted file. The file is fetched and its MAC (and `fileEncSha256` when the message
 * carries it) checked before the stream is returned; `startByte`/`endByte` cut the plaintext.
 */
async function downloadContentFromMessage(media, type, opts = {}) {
  const { downloadUrl, key, check } = downloadPlan(media, opts)
  const dl = await native.openMediaDownload(downloadUrl, key, type, check).catch((e) => {
    throw asBoom(e)
  })
  async function* chunks() {
    try {
      for (;;) {
        const chunk = await dl.read().catch((e) => {
          throw asBoom(e)
        })
        if (chunk === null) return
        // Copied into memory V8 accounts for: a native chunk is invisible to the garbage
        // collector's sizing, so without the copy finished chunks pile up until some other
        // allocation triggers a collection.
        yield Buffer.from(chunk)
      }
    } finally {
      dl.close()
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}

/** Baileys' `downloadMediaMessage(message, 'buffer' | 'stream', options, ctx)`, with re-upload on 404/410. */
async function downloadMediaMessage(message, type, options = {}, ctx) {
  if (type !== 'buffer' && type !== 'stream') throw mediaError('ERR_WA_MEDIA_ARGUMENT', "type must be 'buffer' or 'stream'")
  const once = async (msg) => {
    const content = extractMessageContent(msg.message)
    if (!content) throw new Boom('No message present', { statusCode: 400, data: msg })
    const contentType = getContentType(content)
    let mediaType = contentType?.replace('Message', '')
    const media = content[contentType]
    if (!media || typeof media !== 'object' || (!('url' in media) && !('thumbnailDirectPath' in media))) {
      throw new Boom(`"${contentType}" message is not a media message`)
    }
    let download = media
    if ('thumbnailDirectPath' in media && !('url' in media)) {
      download = { directPath: media.thumbnailDirectPath, mediaKey: media.mediaKey }
      mediaType = 'thumbnail-link'
    }
    if (type === 'buffer') {
      const { downloadUrl, key, check } = downloadPlan(download, options)
      return native.downloadMedia(downloadUrl, key, mediaType, check).catch((e) => {
        throw asBoom(e)
      })
    }
    return downloadContentFromMessage(download, mediaType, options)
  }
  try {
    return await once(message)
  } catch (error) {
    if (ctx && typeof error?.status === 'number' && REUPLOAD_REQUIRED_STATUS.includes(error.status)) {
      ctx.logger?.info?.({ key: message.key }, 'sending reupload media request...')
      return once(await ctx.reuploadRequest(message))
    }
    throw error
  }
}

const AES_BLOCK = 16
const toBlock = (n) => Math.floor(n / AES_BLOCK) * AES_BLOCK

/**
 * Baileys' `downloadEncryptedContent(downloadUrl, { cipherKey, iv }, { startByte, endByte,
 * options })`: the decrypted bytes `[startByte, endByte)` of an encrypted media file as a
 * stream, fetching only the blocks needed (a range starts one block early: that block is the
 * IV). It is the raw primitive: it has no MAC key, so it cannot check one;
 * `downloadContentFromMessage` does.
 */
async function downloadEncryptedContent(downloadUrl, { cipherKey, iv } = {}, { startByte, endByte, options } = {}) {
  if (!cipherKey || Buffer.from(cipherKey).length !== 32) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'cipherKey must be 32 bytes')
  if (!iv || Buffer.from(iv).length !== 16) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'iv must be 16 bytes')
  for (const [name, v] of [['startByte', startByte], ['endByte', endByte]]) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw mediaError('ERR_WA_MEDIA_ARGUMENT', `${name} must be a byte offset`)
  }
  const start = startByte || 0
  // The block before the first one wanted is the IV of the rest.
  const fetchFrom = start >= AES_BLOCK ? toBlock(start) - AES_BLOCK : 0
  const fetchTo = endByte !== undefined ? toBlock(endByte) + AES_BLOCK : undefined
  const given = options?.headers ? (Array.isArray(options.headers) ? Object.fromEntries(options.headers) : options.headers) : {}
  const headers = { ...given, Origin: DEFAULT_ORIGIN }
  if (fetchFrom || fetchTo !== undefined) headers.Range = `bytes=${fetchFrom}-${fetchTo !== undefined ? fetchTo - 1 : ''}`
  const body = await getHttpStream(downloadUrl, { ...(options || {}), headers })

  let pending = Buffer.alloc(0)
  let decipher = null
  let at = fetchFrom ? fetchFrom + AES_BLOCK : 0
  const emit = (out, push) => {
    if (!out.length) return
    const from = Math.max(start - at, 0)
    const to = endByte !== undefined ? Math.min(endByte - at, out.length) : out.length
    if (to > from) push(out.subarray(from, to))
    at += out.length
  }
  const output = new Transform({
    transform(chunk, _enc, done) {
      try {
        let data = pending.length ? Buffer.concat([pending, chunk]) : chunk
        const usable = toBlock(data.length)
        pending = data.subarray(usable)
        data = data.subarray(0, usable)
        if (!decipher) {
          let blockIv = Buffer.from(iv)
          if (fetchFrom) {
            if (data.length < AES_BLOCK) {
              pending = Buffer.concat([data, pending])
              return done()
            }
            blockIv = data.subarray(0, AES_BLOCK)
            data = data.subarray(AES_BLOCK)
          }
          decipher = createDecipheriv('aes-256-cbc', Buffer.from(cipherKey), blockIv)
          // A range that stops before the end has no padding to strip.
          if (endByte !== undefined) decipher.setAutoPadding(false)
        }
        emit(decipher.update(data), (b) => this.push(b))
        done()
      } catch (err) {
        done(asBoom(err))
      }
    },
    flush(done) {
      try {
        if (!decipher) return done(new Boom('downloadEncryptedContent: no ciphertext', { statusCode: 400 }))
        emit(decipher.final(), (b) => this.push(b))
        done()
      } catch (err) {
        done(new Boom(`downloadEncryptedContent: ${err.message}`, { statusCode: 400 }))
      }
    },
  })
  body.on('error', (err) => output.destroy(err))
  return body.pipe(output)
}

/**
 * Baileys' `getRawMediaUploadData(media, mediaType, logger)`: the media copied to a
 * temporary file (0600) with its SHA-256 and length, for uploads that are not encrypted
 * (newsletters). The caller removes the file.
 */
async function getRawMediaUploadData(media, mediaType, logger) {
  const { stream } = await getStream(media)
  const filePath = tmpPath(`raw-${String(mediaType)}`)
  const hash = createHash('sha256')
  let fileLength = 0
  try {
    await pipeline(
      stream,
      new Transform({
        transform(chunk, _enc, done) {
          hash.update(chunk)
          fileLength += chunk.length
          done(null, chunk)
        },
      }),
      fs.createWriteStream(filePath, { mode: 0o600 }),
    )
  } catch (err) {
    await fsp.unlink(filePath).catch(() => {})
    throw err
  }
  logger?.debug?.('hashed data for raw upload')
  return { filePath, fileSha256: hash.digest(), fileLength }
}

/**
 * Baileys' `generateProfilePicture(media, { width = 640, height = 640 })`: `{ img }`, a JPEG
 * of the image cut to the size around its centre (as Baileys' sharp path does). Native: no
 * image library to install (Baileys throws without sharp or jimp).
 */
async function generateProfilePicture(mediaUpload, dimensions) {
  const { width = 640, height = 640 } = dimensions || {}
  let input
  if (Buffer.isBuffer(mediaUpload) || mediaUpload instanceof Uint8Array) input = Buffer.from(mediaUpload)
  else if (mediaUpload && typeof mediaUpload === 'object' && mediaUpload.url && urlKind(mediaUpload.url) === 'file') input = filePathOf(mediaUpload.url)
  else input = await toBufferFromStream((await getStream(mediaUpload)).stream)
  const img = await native.profilePicture(input, width, height).catch((e) => {
    throw asBoom(e)
  })
  return { img }
}

/**
 * Baileys' `uploadWithNodeHttp({ url, filePath, headers, timeoutMs, agent })`: POSTs a file
 * with node:https, streamed, following up to five redirects; resolves with the JSON answer
 * (undefined when the body is not JSON).
 */
function uploadWithNodeHttp({ url, filePath, headers, timeoutMs, agent }, redirectCount = 0) {
  if (redirectCount > 5) return Promise.reject(new Boom('Too many redirects', { statusCode: 508 }))
  const target = new URL(url)
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return Promise.reject(mediaError('ERR_WA_MEDIA_ARGUMENT', `upload: ${url} is not an http(s) URL`))
  const mod = target.protocol === 'https:' ? require('node:https') : require('node:http')
  return fsp.stat(filePath).then(
    (st) =>
      new Promise((resolve, reject) => {
        const req = mod.request(
          target,
          { method: 'POST', headers: { ...headers, 'Content-Length': st.size }, agent, timeout: timeoutMs },
          (res) => {
            if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
              res.resume()
              const next = new URL(res.headers.location, url).toString()
              resolve(uploadWithNodeHttp({ url: next, filePath, headers, timeoutMs, agent }, redirectCount + 1))
              return
            }
            const parts = []
            res.on('data', (c) => parts.push(c))
            res.on('error', reject)
            res.on('end', () => {
              try {
                resolve(JSON.parse(Buffer.concat(parts).toString('utf8')))
              } catch {
                resolve(undefined)
              }
            })
          },
        )
        req.on('error', reject)
        req.on('timeout', () => req.destroy(new Boom('Upload timeout', { statusCode: 408 })))
        const file = fs.createReadStream(filePath)
        file.on('error', (err) => {
          req.destroy()
          reject(err)
        })
        file.pipe(req)
      }),
  )
}

/**
 * Baileys' `getWAUploadToServer({ customUploadHosts, fetchAgent, logger, options },
 * refreshMediaConn)`: an upload function `(filePath, { mediaType, fileEncSha256B64,
 * timeoutMs })` that tries the custom hosts, then the `media_conn` hosts, in order, and
 * resolves with `{ mediaUrl, directPath, meta_hmac, fbid, ts }`. A socket's own
 * `waUploadToServer` does the same natively; this one is for apps that bring their own.
 */
function getWAUploadToServer({ customUploadHosts = [], fetchAgent, logger, options } = {}, refreshMediaConn) {
  if (typeof refreshMediaConn !== 'function') throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'getWAUploadToServer needs refreshMediaConn (e.g. sock.refreshMediaConn)')
  return async (filePath, { mediaType, fileEncSha256B64, timeoutMs } = {}) => {
    const path = MEDIA_PATH_MAP[mediaType]
    if (!path) throw mediaError('ERR_WA_MEDIA_ARGUMENT', `unknown media type ${JSON.stringify(mediaType)}`)
    let conn = await refreshMediaConn(false)
    const token = encodeBase64EncodedStringForUpload(String(fileEncSha256B64))
    const given = options?.headers ? (Array.isArray(options.headers) ? Object.fromEntries(options.headers) : options.headers) : {}
    const headers = { ...given, 'Content-Type': 'application/octet-stream', Origin: DEFAULT_ORIGIN }
    for (const { hostname } of [...customUploadHosts, ...conn.hosts]) {
      const url = `https://${hostname}${path}/${token}?auth=${encodeURIComponent(conn.auth)}&token=${token}`
      let result
      try {
        result = await uploadWithNodeHttp({ url, filePath, headers, timeoutMs, agent: fetchAgent })
        if (result?.url || result?.direct_path) {
          return { mediaUrl: result.url, directPath: result.direct_path, meta_hmac: result.meta_hmac, fbid: result.fbid, ts: result.ts }
        }
        conn = await refreshMediaConn(true)
        throw new Error(`upload failed, reason: ${JSON.stringify(result)}`)
      } catch (err) {
        logger?.warn?.({ trace: err?.stack, uploadResult: result }, `Error in uploading to ${hostname}`)
      }
    }
    throw new Boom('Media upload failed on all hosts', { statusCode: 500 })
  }
}

// ---- media retry -------------------------------------------------------------------------
// A device that finds a file gone asks the phone that sent it to upload it again: a
// `<receipt type="server-error">` with a `ServerErrorReceipt` sealed (AES-256-GCM, the
// message id as additional data) under a key derived from the message's mediaKey; the phone
// answers with `<notification type="mediaretry">` carrying a `MediaRetryNotification` sealed
// the same way (the socket emits it as `messages.media-update`). The crypto is native
// (wa-crypto's HKDF and AES-GCM; the phone of the test server uses wa-crypto's media_retry).

const MEDIA_RETRY_INFO = 'WhatsApp Media Retry Notification'
const mediaRetryKey = (mediaKey) => hkdf(mediaKey, 32, { info: MEDIA_RETRY_INFO })

/**
 * Baileys' `encryptMediaRetryRequest(key, mediaKey, meId)`: the `<receipt type="server-error">`
 * node asking the phone to upload the media of message `key` again.
 */
function encryptMediaRetryRequest(key, mediaKey, meId) {
  const request = proto.ServerErrorReceipt.encode({ stanzaId: key.id }).finish()
  const iv = randomBytes(12)
  const ciphertext = aesEncryptGCM(request, mediaRetryKey(mediaKey), iv, Buffer.from(key.id))
  return {
    tag: 'receipt',
    attrs: { id: key.id, to: jidNormalizedUser(meId), type: 'server-error' },
    content: [
      // WhatsApp Web sends the encrypted request; the phone answers without it as well.
      {
        tag: 'encrypt',
        attrs: {},
        content: [
          { tag: 'enc_p', attrs: {}, content: ciphertext },
          { tag: 'enc_iv', attrs: {}, content: iv },
        ],
      },
      {
        tag: 'rmr',
        attrs: { jid: key.remoteJid, from_me: String(!!key.fromMe), participant: key.participant || undefined },
      },
    ],
  }
}

/**
 * Baileys' `decodeMediaRetryNode(node)`: `{ key, media?: { ciphertext, iv }, error? }` of a
 * `<notification type="mediaretry">`. Where Baileys throws on a notification without `<rmr>`,
 * this reports it as `error` (a Boom, 400) against the message id.
 */
function decodeMediaRetryNode(node) {
  const rmrNode = getBinaryNodeChild(node, 'rmr')
  if (!rmrNode) {
    return {
      key: { id: node.attrs.id, remoteJid: node.attrs.from, fromMe: false, participant: undefined },
      error: new Boom('Failed to re-upload media (malformed notification: no rmr)', { statusCode: 400 }),
    }
  }
  const event = {
    key: {
      id: node.attrs.id,
      remoteJid: rmrNode.attrs.jid,
      fromMe: rmrNode.attrs.from_me === 'true',
      participant: rmrNode.attrs.participant,
    },
  }
  const errorNode = getBinaryNodeChild(node, 'error')
  if (errorNode) {
    const errorCode = +errorNode.attrs.code
    event.error = new Boom(`Failed to re-upload media (${errorCode})`, {
      data: errorNode.attrs,
      statusCode: getStatusCodeForMediaRetry(errorCode),
    })
    return event
  }
  const encrypted = getBinaryNodeChild(node, 'encrypt')
  const ciphertext = encrypted && getBinaryNodeChildBuffer(encrypted, 'enc_p')
  const iv = encrypted && getBinaryNodeChildBuffer(encrypted, 'enc_iv')
  if (ciphertext && iv) event.media = { ciphertext, iv }
  else event.error = new Boom('Failed to re-upload media (missing ciphertext)', { statusCode: 404 })
  return event
}

/**
 * Baileys' `decryptMediaRetryData({ ciphertext, iv }, mediaKey, msgId)`: the phone's
 * `proto.MediaRetryNotification` (throws when it does not open under this key and id).
 */
function decryptMediaRetryData({ ciphertext, iv }, mediaKey, msgId) {
  const plaintext = aesDecryptGCM(ciphertext, mediaRetryKey(mediaKey), iv, Buffer.from(msgId))
  return proto.MediaRetryNotification.decode(plaintext)
}

module.exports = {
  downloadEncryptedContent,
  getRawMediaUploadData,
  generateProfilePicture,
  uploadWithNodeHttp,
  getWAUploadToServer,
  encryptMediaRetryRequest,
  decodeMediaRetryNode,
  decryptMediaRetryData,
  extractImageThumb,
  generateThumbnail,
  getAudioDuration,
  getAudioWaveform,
  getStream,
  getHttpStream,
  encryptedStream,
  prepareWAMessageMedia,
  downloadContentFromMessage,
  downloadMediaMessage,
}
